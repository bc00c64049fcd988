/* access_log: one line per request, buffered per worker, whole lines. */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf-gw.h"
#include "http.h"
#include "log.h"
#include "uri.h"

struct alog {
    const struct conf_access_log *conf;
    int fd;
    char *buf;
    size_t len, cap;
    const char **mask;          /* query parameters whose value is a secret */
    size_t nmask;
    struct alog *next;
};

static void
mask_add(struct alog *a, const struct conf_policies *p)
{
    if (p->auth == NULL || p->auth->api_key == NULL ||
        p->auth->api_key->query == NULL)
        return;
    const char *q = p->auth->api_key->query;
    for (size_t i = 0; i < a->nmask; i++)
        if (strcmp(a->mask[i], q) == 0)
            return;
    a->mask[a->nmask++] = q;
}

/* The API-key query parameters of every listener and route: an access
 * log line is written before (or without) knowing the route, and a key
 * sent to another route than its own is a secret all the same. */
static int
mask_setup(struct alog *a, const struct conf *c)
{
    a->mask = calloc(c->nlisteners + c->nroutes + 1, sizeof(*a->mask));
    if (a->mask == NULL)
        return -1;
    for (size_t i = 0; i < c->nlisteners; i++)
        mask_add(a, &c->listeners[i].pol);
    for (size_t i = 0; i < c->nroutes; i++)
        mask_add(a, &c->routes[i].pol);
    return 0;
}

/* Does the query parameter name n[0..len) read as name, raw or once its
 * %XX escapes are decoded? (A gateway that decodes names would take
 * "api%5Fkey" for "api_key".) */
static bool
mask_match(const char *n, size_t len, const char *name)
{
    size_t k = 0;

    for (size_t i = 0; i < len; i++, k++) {
        int ch = (unsigned char)n[i];
        if (ch == '%' && i + 2 < len && uri_hexval(n[i + 1]) >= 0 &&
            uri_hexval(n[i + 2]) >= 0) {
            ch = uri_hexval(n[i + 1]) * 16 + uri_hexval(n[i + 2]);
            i += 2;
        }
        if (name[k] == '\0' || (unsigned char)name[k] != ch)
            return false;
    }
    return name[k] == '\0';
}

/* Copies the request target t[0..tl) to out (at most cap - 1 bytes, NUL
 * terminated), with the value of every masked query parameter written
 * as "***". */
static size_t
mask_target(const struct alog *a, const char *t, size_t tl, char *out,
            size_t cap)
{
    const char *q = a->nmask ? memchr(t, '?', tl) : NULL;
    size_t o = 0;

#define PUT(p, n) do { size_t n_ = (n) < cap - 1 - o ? (n) : cap - 1 - o; \
                       memcpy(out + o, (p), n_); o += n_; } while (0)
    if (q == NULL) {
        PUT(t, tl);
        out[o] = '\0';
        return o;
    }
    const char *p = q + 1, *end = t + tl;
    PUT(t, (size_t)(p - t));
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (amp == NULL)
            amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        bool secret = false;
        for (size_t i = 0; eq != NULL && i < a->nmask && !secret; i++)
            secret = mask_match(p, (size_t)(eq - p), a->mask[i]);
        if (secret) {
            PUT(p, (size_t)(eq + 1 - p));
            PUT("***", 3);
        } else {
            PUT(p, (size_t)(amp - p));
        }
        if (amp < end)
            PUT("&", 1);
        p = amp + 1;
    }
#undef PUT
    out[o] = '\0';
    return o;
}

static struct alog *
alog_find(struct worker *w, const char *path)
{
    for (struct alog *a = w->alogs; a != NULL; a = a->next)
        if (strcmp(a->conf->path, path) == 0)
            return a;
    return NULL;
}

static void
alog_write_out(struct alog *a)
{
    size_t off = 0;

    while (off < a->len) {
        ssize_t n = write(a->fd, a->buf + off, a->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("access log %s: %s; %zu bytes of lines lost",
                      a->conf->path, strerror(errno), a->len - off);
            break;
        }
        off += (size_t)n;
    }
    a->len = 0;
}

static void
flush_timer(struct ev_loop *loop, struct ev_timer *t)
{
    (void)loop;
    alog_flush_all(t->data);
}

void
alog_flush_all(struct worker *w)
{
    for (struct alog *a = w->alogs; a != NULL; a = a->next)
        if (a->len > 0)
            alog_write_out(a);
}

/* The master created every file and gave it to the workers' user, so
 * opening by name works after the privilege drop, and after rotation. */
int
alog_open_all(struct worker *w)
{
    const struct conf *c = w->conf;

    ev_timer_init(&w->alog_timer, flush_timer, w);
    w->alog_of = calloc(c->nlisteners + 1, sizeof(*w->alog_of));
    if (w->alog_of == NULL)
        return -1;
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct conf_access_log *cl = c->listeners[i].access_log;
        if (cl == NULL)
            continue;
        struct alog *a = alog_find(w, cl->path);
        if (a == NULL) {
            a = calloc(1, sizeof(*a));
            if (a == NULL)
                return -1;
            a->conf = cl;
            if (mask_setup(a, c) < 0) {
                free(a);
                return -1;
            }
            a->cap = cl->buffer > 0 ? (size_t)cl->buffer : 0;
            a->buf = a->cap ? malloc(a->cap) : NULL;
            a->fd = log_file_open(cl->path);
            if (a->fd < 0 || (a->cap && a->buf == NULL)) {
                log_error("cannot open access log %s: %s", cl->path,
                          log_file_error(errno));
                if (a->fd >= 0)
                    close(a->fd);
                free(a->buf);
                free(a->mask);
                free(a);
                return -1;
            }
            a->next = w->alogs;
            w->alogs = a;
        }
        w->alog_of[i] = a;
    }
    return 0;
}

void
alog_reopen(struct worker *w)
{
    alog_flush_all(w);
    for (struct alog *a = w->alogs; a != NULL; a = a->next) {
        int fd = log_file_open(a->conf->path);
        if (fd < 0) {
            log_error("cannot reopen access log %s: %s", a->conf->path,
                      log_file_error(errno));
            continue;
        }
        dup2(fd, a->fd);
        close(fd);
    }
}

void
alog_close_all(struct worker *w)
{
    alog_flush_all(w);
    while (w->alogs != NULL) {
        struct alog *a = w->alogs;
        w->alogs = a->next;
        close(a->fd);
        free(a->buf);
        free(a->mask);
        free(a);
    }
    free(w->alog_of);
    w->alog_of = NULL;
}

static void
copy_field(char *dst, size_t cap, struct http_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

void
alog_begin(struct conn *c, const struct http_request *req,
           const struct conf_route *r)
{
    struct worker *w = c->w;

    if (w->alog_of == NULL || w->alog_of[c->l->index] == NULL)
        return;
    if (c->rl == NULL && (c->rl = malloc(sizeof(*c->rl))) == NULL)
        return;
    struct reqlog *rl = c->rl;
    rl->active = true;
    rl->start = ev_now(w->loop);
    rl->status = 0;
    rl->bytes = 0;
    rl->route = r ? r->name : NULL;
    rl->policy = NULL;
    rl->referer[0] = rl->agent[0] = rl->reqid[0] = rl->upstream[0] = '\0';
    rl->upstream_status = 0;
    rl->upstream_ms = 0;
    if (req == NULL) {
        snprintf(rl->request, sizeof(rl->request), "-");
        return;
    }
    http_request_id(w, rl->reqid);
    char target[901];
    mask_target(w->alog_of[c->l->index], req->target.p, req->target.len,
                target, sizeof(target));
    snprintf(rl->request, sizeof(rl->request), "%.*s %s HTTP/1.%d",
             (int)req->method.len, req->method.p, target, req->version == 11);
    const struct http_header *h = http_header_find(req, "referer");
    if (h != NULL)
        copy_field(rl->referer, sizeof(rl->referer), h->value);
    h = http_header_find(req, "user-agent");
    if (h != NULL)
        copy_field(rl->agent, sizeof(rl->agent), h->value);
}

/* Appends s JSON-escaped (or, for combined, with " and \ escaped). */
static size_t
esc(char *out, size_t cap, const char *s, bool json)
{
    size_t o = 0;

    for (; *s && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f || (json && ch >= 0x80)) {
            o += (size_t)snprintf(out + o, cap - o, json ? "\\u%04x" : "\\x%02X",
                                  ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o;
}

void
alog_end(struct conn *c, int status)
{
    struct reqlog *rl = c->rl;
    struct worker *w = c->w;

    if (rl == NULL || !rl->active)
        return;
    rl->active = false;
    struct alog *a = w->alog_of ? w->alog_of[c->l->index] : NULL;
    if (a == NULL)
        return;
    if (status == 0)
        status = rl->status ? rl->status : 499;
    char line[4096], client[ADDR_TEXT_MAX], t[64];
    char req[2100], ref[520], agent[520], route[300];
    struct timespec ts;
    struct tm tm;
    uint64_t ms = ev_now(w->loop) - rl->start;
    bool json = a->conf->format == ALOG_JSON;
    int n;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    localtime_r(&ts.tv_sec, &tm);
    addr_format_host(&c->peer, client, sizeof(client));
    esc(req, sizeof(req), rl->request, json);
    esc(ref, sizeof(ref), rl->referer, json);
    esc(agent, sizeof(agent), rl->agent, json);
    esc(route, sizeof(route), rl->route ? rl->route : "", json);
    char ust[16] = "-", urt[32] = "-";
    if (rl->upstream_status)
        snprintf(ust, sizeof(ust), "%d", rl->upstream_status);
    if (rl->upstream[0])
        snprintf(urt, sizeof(urt), "%.3f", (double)rl->upstream_ms / 1000);
    if (json) {
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S%z", &tm);
        n = snprintf(line, sizeof(line),
                     "{\"time\":\"%s\",\"client\":\"%s\",\"listener\":\"%s\","
                     "\"request_id\":\"%s\",\"request\":\"%s\",\"status\":%d,"
                     "\"bytes_sent\":%llu,\"request_time\":%.3f,"
                     "\"upstream\":\"%s\",\"upstream_status\":%s,"
                     "\"upstream_time\":%s,\"route\":\"%s\",\"referer\":\"%s\","
                     "\"user_agent\":\"%s\",\"policy\":%s%s%s}\n",
                     t, client, c->l->name, rl->reqid, req, status,
                     (unsigned long long)rl->bytes, (double)ms / 1000,
                     rl->upstream, rl->upstream_status ? ust : "null",
                     rl->upstream[0] ? urt : "null", route, ref, agent,
                     rl->policy ? "\"" : "", rl->policy ? rl->policy : "null",
                     rl->policy ? "\"" : "");
    } else {
        strftime(t, sizeof(t), "%d/%b/%Y:%H:%M:%S %z", &tm);
        n = snprintf(line, sizeof(line),
                     "%s - - [%s] \"%s\" %d %llu \"%s\" \"%s\" rid=%s rt=%.3f "
                     "upstream=%s ust=%s urt=%s route=%s%s%s\n",
                     client, t, req, status, (unsigned long long)rl->bytes,
                     ref[0] ? ref : "-", agent[0] ? agent : "-",
                     rl->reqid[0] ? rl->reqid : "-", (double)ms / 1000,
                     rl->upstream[0] ? rl->upstream : "-", ust, urt,
                     route[0] ? route : "-", rl->policy ? " policy=" : "",
                     rl->policy ? rl->policy : "");
    }
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (len == sizeof(line) - 1)
        line[len - 1] = '\n';
    if (a->len + len > a->cap)
        alog_write_out(a);
    if (len > a->cap) {
        ssize_t wr = write(a->fd, line, len);   /* no buffer: at once */
        (void)wr;
        return;
    }
    memcpy(a->buf + a->len, line, len);
    a->len += len;
    if (!ev_timer_active(&w->alog_timer))
        ev_timer_start(w->loop, &w->alog_timer, (uint64_t)a->conf->flush);
}
