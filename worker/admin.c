/* admin: the admin API (status JSON, runtime server state) on the admin
 * socket, served from the checker's event loop.  One request per
 * connection, answered with Connection: close; every connection has a
 * deadline, so a slow client holds nothing for long. */
#include "admin.h"
#include "paths.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "gateway.h"
#include "http_parse.h"
#include "log.h"
#include "srv.h"
#include "uri.h"

#define ADMIN_MAX_CONNS 64
#define ADMIN_HEAD_MAX  8192        /* request head, request line included */
#define ADMIN_TIMEOUT   10000       /* ms: the whole request, then the answer */
#define ADMIN_LINGER    2000        /* ms: reading what the client still sends */

enum { AC_READ, AC_WRITE, AC_LINGER };

struct admin_conn {
    struct admin *ad;
    struct admin_conn *prev, *next;
    struct ev_io io;
    struct ev_timer timer;
    int state;
    char peer[ADDR_TEXT_MAX];
    char in[ADMIN_HEAD_MAX];
    size_t inlen;
    char *out;
    size_t outlen, outoff;
};

struct admin {
    struct ev_loop *loop;
    struct worker_args *args;
    const struct conf *conf;
    struct ev_io lio;
    bool accepting;             /* lio is in the loop */
    bool draining;
    struct admin_conn *conns;
    size_t nconns;
    void (*on_idle)(void *);
    void *arg;
};

/* ---- a growing text buffer for responses ------------------------------- */

struct jbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void
jb_grow(struct jbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *n = realloc(b->p, cap);
    if (n == NULL) {
        b->oom = true;
        return;
    }
    b->p = n;
    b->cap = cap;
}

static void
jb_add(struct jbuf *b, const char *s, size_t n)
{
    jb_grow(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_printf(struct jbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
jb_printf(struct jbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        jb_add(b, small, (size_t)n);
        return;
    }
    jb_grow(b, (size_t)n);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    size_t l;
    unsigned min;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        l = 2; min = 0x80; cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        l = 3; min = 0x800; cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        l = 4; min = 0x10000; cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < l)
        return 0;
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return l;
}

/* A JSON string: quotes, backslashes and control characters escaped;
 * bytes that are not UTF-8 become U+FFFD, so the output is always valid
 * JSON (last_error is written by several processes without a lock). */
static void
jb_str_n(struct jbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    jb_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t run = i;
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
               u[run] != '\\')
            run++;
        if (run > i) {
            jb_add(b, s + i, run - i);
            i = run;
            continue;
        }
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            jb_add(b, e, 2);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': jb_add(b, "\\n", 2); break;
            case '\r': jb_add(b, "\\r", 2); break;
            case '\t': jb_add(b, "\\t", 2); break;
            default:   jb_printf(b, "\\u%04x", c); break;
            }
            i++;
        } else {
            size_t l = utf8_len(u + i, n - i);
            if (l == 0) {
                jb_add(b, "\\ufffd", 6);
                i++;
            } else {
                jb_add(b, s + i, l);
                i += l;
            }
        }
    }
    jb_add(b, "\"", 1);
}

static void
jb_str(struct jbuf *b, const char *s)
{
    jb_str_n(b, s, strlen(s));
}

/* ---- connections -------------------------------------------------------- */

static void conn_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);

static void
maybe_idle(struct admin *ad)
{
    if (ad->draining && ad->nconns == 0 && ad->on_idle != NULL)
        ad->on_idle(ad->arg);
}

static void
accept_resume(struct admin *ad)
{
    if (ad->accepting || ad->draining || ad->lio.fd < 0)
        return;
    if (ev_io_start(ad->loop, &ad->lio, EPOLLIN) == 0)
        ad->accepting = true;
}

static void
conn_close(struct admin_conn *c)
{
    struct admin *ad = c->ad;

    ev_io_stop(ad->loop, &c->io);
    ev_io_forget(ad->loop, &c->io);
    ev_timer_stop(ad->loop, &c->timer);
    close(c->io.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        ad->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ad->nconns--;
    free(c->out);
    free(c);
    accept_resume(ad);
    maybe_idle(ad);
}

static void
conn_timeout(struct ev_loop *loop, struct ev_timer *t)
{
    struct admin_conn *c = t->data;

    (void)loop;
    if (c->state == AC_READ)
        log_info("admin: %s sent no complete request within %d ms", c->peer,
                 ADMIN_TIMEOUT);
    conn_close(c);
}

/* The response is out: stop sending and read (and drop) whatever the
 * client still sends for a moment, so that closing with unread input
 * does not reset the connection before the client read the answer. */
static void
conn_linger(struct admin_conn *c)
{
    shutdown(c->io.fd, SHUT_WR);
    c->state = AC_LINGER;
    ev_io_modify(c->ad->loop, &c->io, EPOLLIN | EPOLLRDHUP);
    ev_timer_start(c->ad->loop, &c->timer, ADMIN_LINGER);
}

static void
conn_write(struct admin_conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->io.fd, c->out + c->outoff, c->outlen - c->outoff,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_modify(c->ad->loop, &c->io, EPOLLOUT);
                return;
            }
            conn_close(c);
            return;
        }
        c->outoff += (size_t)n;
    }
    conn_linger(c);
}

/* Queues the whole response (head and body) and starts sending it. */
static void
respond(struct admin_conn *c, int status, const char *extra_headers,
        const char *body, size_t body_len, bool head_only)
{
    struct jbuf b = { 0 };

    /* RFC 9110 6.6.1: IMF-fixdate, not strftime (no locale may change it) */
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    jb_printf(&b, "HTTP/1.1 %d %s\r\nDate: %.3s, %02d %.3s %04d "
              "%02d:%02d:%02d GMT\r\n", status, http_reason(status),
              days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    jb_printf(&b, "Content-Type: application/json\r\n"
              "Content-Length: %zu\r\nCache-Control: no-store\r\n"
              "Connection: close\r\n%s\r\n", body_len,
              extra_headers ? extra_headers : "");
    if (!head_only)
        jb_add(&b, body, body_len);
    if (b.oom) {
        free(b.p);
        log_error("admin: out of memory answering %s", c->peer);
        conn_close(c);
        return;
    }
    c->out = b.p;
    c->outlen = b.len;
    c->outoff = 0;
    c->state = AC_WRITE;
    ev_timer_start(c->ad->loop, &c->timer, ADMIN_TIMEOUT);
    conn_write(c);
}

static void
respond_error(struct admin_conn *c, int status, const char *msg,
              const char *extra_headers)
{
    struct jbuf b = { 0 };

    jb_add(&b, "{\"error\":", 9);
    jb_str(&b, msg);
    jb_add(&b, "}\n", 2);
    if (b.oom) {
        free(b.p);
        conn_close(c);
        return;
    }
    respond(c, status, extra_headers, b.p, b.len, false);
    free(b.p);
}

/* ---- GET /status ---------------------------------------------------------- */

/* One rate limit or quota of the config: what it took from other keys
 * (expired entries) and what it refused for want of a free entry. */
static void
limit_json(struct jbuf *b, bool *first, const char *kind, const char *name,
           const struct conf_src *src, const char *key,
           const struct shm_limit_stat *ls)
{
    char where[300];

    snprintf(where, sizeof(where), "%s:%d", src->file ? src->file : "",
             src->line);
    jb_printf(b, "%s{\"kind\":\"%s\",\"name\":", *first ? "" : ",", kind);
    if (name != NULL)
        jb_str(b, name);
    else
        jb_printf(b, "null");
    jb_printf(b, ",\"at\":");
    jb_str(b, where);
    jb_printf(b, ",\"key\":");
    jb_str(b, key);
    jb_printf(b, ",\"evictions\":%llu,\"full\":%llu}",
              ls ? (unsigned long long)atomic_load(&ls->evictions) : 0ULL,
              ls ? (unsigned long long)atomic_load(&ls->full) : 0ULL);
    *first = false;
}

static void
limits_json(struct admin *ad, struct jbuf *b)
{
    struct conf *c = (struct conf *)ad->conf;
    const struct shm *shm = ad->args->shm;
    bool first = true;

    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        const struct conf_policies *p = pl.pol;
        for (size_t k = 0; k <= p->nrate_limits; k++) {
            const struct conf_rate_limit *rl =
                k == 0 ? p->rate_limit : &p->rate_limits[k - 1];
            if (rl != NULL)
                limit_json(b, &first, "rate_limit", rl->name, &rl->src,
                           rl->key, shm_limit_stat_find(shm,
                                                SHM_LIMIT_RL | rl->id));
        }
        for (size_t k = 0; k <= p->nquotas; k++) {
            const struct conf_quota *q = k == 0 ? p->quota : &p->quotas[k - 1];
            if (q != NULL)
                limit_json(b, &first, "quota", q->name, &q->src, q->key,
                           shm_limit_stat_find(shm, SHM_LIMIT_QUOTA |
                               (q->id & ~(SHM_LIMIT_RL | SHM_LIMIT_QUOTA))));
        }
    }
}

/* The gateway's tables and, per route, its requests and the answers the
 * gateway gave instead of the upstream, summed over the workers of this
 * generation (route indexes are this config's). */
static void
routes_json(struct admin *ad, struct jbuf *b)
{
    const struct conf *c = ad->conf;
    const struct shm *shm = ad->args->shm;

    jb_printf(b, "],\"gateway\":{\"rate_limit_table\":%llu,"
              "\"rate_limit_evictions\":%llu,\"rate_limit_full\":%llu,"
              "\"quota_table\":%llu,\"quota_evictions\":%llu,"
              "\"quota_full\":%llu,\"limits\":[",
              (unsigned long long)shm->hdr->rl_entries,
              (unsigned long long)atomic_load(&shm->hdr->rl_evictions),
              (unsigned long long)atomic_load(&shm->hdr->rl_full),
              (unsigned long long)shm->hdr->quota_entries,
              (unsigned long long)atomic_load(&shm->hdr->quota_evictions),
              (unsigned long long)atomic_load(&shm->hdr->quota_full));
    limits_json(ad, b);
    jb_printf(b, "]},\"routes\":[");
    for (size_t i = 0; i < c->nroutes && i < shm->hdr->max_routes; i++) {
        const struct conf_route *r = &c->routes[i];
        uint64_t req = 0, by[SHM_ROUTE_REFUSALS] = { 0 };
        for (unsigned row = 0; row < shm->hdr->rows; row++) {
            const struct shm_row_stats *st = &shm->stats[row];
            if (atomic_load(&st->pid) == 0 ||
                atomic_load(&st->gen) != ad->args->generation)
                continue;
            struct shm_route_stats *rs = shm_route(shm, row, (unsigned)i);
            req += atomic_load_explicit(&rs->requests, memory_order_relaxed);
            for (int k = 0; k < SHM_ROUTE_REFUSALS; k++)
                by[k] += atomic_load_explicit(&rs->refused[k],
                                              memory_order_relaxed);
        }
        jb_printf(b, "%s{\"index\":%zu,\"name\":", i ? "," : "", i);
        if (r->name != NULL)
            jb_str(b, r->name);
        else
            jb_printf(b, "null");
        jb_printf(b, ",\"pool\":");
        if (r->pool_name != NULL)
            jb_str(b, r->pool_name);
        else
            jb_printf(b, "null");
        uint64_t refused = 0;
        for (int k = 0; k < GWP_PREFLIGHT; k++)
            refused += by[k];
        jb_printf(b, ",\"requests\":%llu,\"refused\":%llu,"
                  "\"refused_by\":{", (unsigned long long)req,
                  (unsigned long long)refused);
        for (int k = 0; k < GWP_PREFLIGHT; k++)
            jb_printf(b, "%s\"%s\":%llu", k ? "," : "", gw_policy_names[k],
                      (unsigned long long)by[k]);
        jb_printf(b, "},\"preflights\":%llu}",
                  (unsigned long long)by[GWP_PREFLIGHT]);
    }
    jb_printf(b, "]");
}

static void
status_json(struct admin *ad, struct jbuf *b)
{
    const struct conf *c = ad->conf;
    const struct shm *shm = ad->args->shm;
    uint64_t now = srv_now();
    unsigned rows[SHM_ROWS];
    unsigned nrows = 0;

    jb_printf(b, "{\"version\":");
    jb_str(b, CERB_VERSION);
    jb_printf(b, ",\"pid\":%ld,\"generation\":%u,\"workers\":[",
              (long)getppid(), ad->args->generation);
    for (unsigned r = 0; r < shm->hdr->rows && r < SHM_ROWS; r++) {
        struct shm_row_stats *st = &shm->stats[r];
        long pid = (long)atomic_load(&st->pid);
        if (pid == 0)
            continue;
        rows[nrows] = r;
        jb_printf(b, "%s{\"slot\":%u,\"generation\":%u", nrows ? "," : "",
                  (unsigned)atomic_load(&st->slot),
                  (unsigned)atomic_load(&st->gen));
        jb_printf(b, ",\"pid\":%ld,\"conns\":%lld,\"accepted\":%llu,"
                  "\"tls_handshakes\":%llu,\"tls_failures\":%llu,"
                  "\"requests\":%llu}", pid,
                  (long long)atomic_load(&st->client_conns),
                  (unsigned long long)atomic_load(&st->accepted),
                  (unsigned long long)atomic_load(&st->tls_handshakes),
                  (unsigned long long)atomic_load(&st->tls_failures),
                  (unsigned long long)atomic_load(&st->requests));
        nrows++;
    }
    jb_printf(b, "],\"pools\":[");
    for (size_t p = 0; p < c->npools; p++) {
        const struct conf_pool *pool = &c->pools[p];
        jb_printf(b, "%s{\"name\":", p ? "," : "");
        jb_str(b, pool->name);
        jb_printf(b, ",\"balance\":");
        jb_str(b, conf_balance_name(pool->balance));
        if (pool->health != NULL)
            jb_printf(b, ",\"health_check\":{\"type\":\"%s\","
                      "\"interval_ms\":%lld,\"timeout_ms\":%lld,\"rise\":%lld,"
                      "\"fall\":%lld}",
                      pool->health->type == HC_TCP ? "tcp" : "http",
                      (long long)pool->health->interval,
                      (long long)pool->health->timeout,
                      (long long)pool->health->rise,
                      (long long)pool->health->fall);
        else
            jb_printf(b, ",\"health_check\":null");
        jb_printf(b, ",\"servers\":[");
        for (size_t k = 0; k < pool->nservers; k++) {
            const struct conf_server *sv = &pool->servers[k];
            struct shm_server *ss = shm_server(shm, sv->slot);
            jb_printf(b, "%s{\"address\":", k ? "," : "");
            jb_str(b, sv->address);
            jb_printf(b, ",\"state\":\"%s\",\"health\":\"%s\",\"active\":%lld,"
                      "\"active_per_worker\":[", srv_state_name(ss, now),
                      srv_health_name(ss, now),
                      (long long)srv_active(shm, sv->slot));
            for (unsigned i = 0; i < nrows; i++)
                jb_printf(b, "%s%lld", i ? "," : "",
                          (long long)atomic_load(
                              shm_conn_cell(shm, rows[i], sv->slot)));
            jb_printf(b, "],\"requests\":%llu,\"failures\":%llu,"
                      "\"circuit\":\"%s\",\"weight\":%lld,\"backup\":%s,"
                      "\"max_conns\":%lld,",
                      (unsigned long long)atomic_load(&ss->requests),
                      (unsigned long long)atomic_load(&ss->failures),
                      srv_breaker_name(ss), (long long)sv->weight,
                      sv->backup ? "true" : "false",
                      (long long)sv->max_conns);
            uint64_t last = atomic_load(&ss->last_check_ms);
            if (last != 0)
                jb_printf(b, "\"last_check_ms_ago\":%llu,"
                          "\"last_latency_ms\":%.3f,",
                          (unsigned long long)(now > last ? now - last : 0),
                          atomic_load(&ss->last_latency_us) / 1000.0);
            else
                jb_printf(b, "\"last_check_ms_ago\":null,"
                          "\"last_latency_ms\":null,");
            jb_printf(b, "\"checks_ok\":%u,\"checks_failed\":%u,"
                      "\"last_error\":", atomic_load(&ss->checks_ok),
                      atomic_load(&ss->checks_failed));
            char err[sizeof(ss->last_error)];
            memcpy(err, ss->last_error, sizeof(err));
            size_t el = strnlen(err, sizeof(err));
            if (el > 0)
                jb_str_n(b, err, el);
            else
                jb_printf(b, "null");
            jb_printf(b, "}");
        }
        jb_printf(b, "]}");
    }
    routes_json(ad, b);
    jb_printf(b, "}\n");
}

/* ---- POST /servers/{pool}/{address}/{action} ---------------------------- */

/* Percent-decodes s[0..n) into out (NUL-terminated); -1 if invalid or too
 * long, or if it decodes to a NUL. */
static int
pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = uri_hexval(s[i + 1])) < 0 ||
                (lo = uri_hexval(s[i + 2])) < 0)
                return -1;
            ch = hi << 4 | lo;
            i += 2;
            if (ch == 0)
                return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

static const struct conf_server *
find_server(const struct conf_pool *p, const char *address)
{
    /* As written in the config first, then as cerberus prints it (a host
     * name resolved at load time, or a differently written IPv6). */
    for (size_t i = 0; i < p->nservers; i++)
        if (strcmp(p->servers[i].address, address) == 0)
            return &p->servers[i];
    for (size_t i = 0; i < p->nservers; i++) {
        char a[ADDR_TEXT_MAX];
        addr_format(&p->servers[i].addr, a, sizeof(a));
        if (strcmp(a, address) == 0)
            return &p->servers[i];
    }
    return NULL;
}

static void
server_action(struct admin_conn *c, const struct http_request *req,
              struct http_str rest)
{
    struct admin *ad = c->ad;
    struct http_str seg[3];
    size_t nseg = 0;
    const char *p = rest.p, *end = rest.p + rest.len;

    /* rest: "{pool}/{address}/{action}", each part not empty */
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (nseg == 3 || e == p) {
            respond_error(c, 404, "not found", NULL);
            return;
        }
        seg[nseg].p = p;
        seg[nseg++].len = (size_t)(e - p);
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    if (nseg != 3) {
        respond_error(c, 404, "not found", NULL);
        return;
    }
    if (req->method_id != HTTP_POST) {
        respond_error(c, 405, "method not allowed: use POST",
                      "Allow: POST\r\n");
        return;
    }
    char pool_name[256], address[256], action[32];
    if (pct_decode(seg[0].p, seg[0].len, pool_name, sizeof(pool_name)) < 0 ||
        pct_decode(seg[1].p, seg[1].len, address, sizeof(address)) < 0 ||
        pct_decode(seg[2].p, seg[2].len, action, sizeof(action)) < 0) {
        respond_error(c, 400, "invalid percent-encoding in the path", NULL);
        return;
    }
    unsigned state;
    if (strcmp(action, "drain") == 0)
        state = SRV_DRAIN;
    else if (strcmp(action, "enable") == 0)
        state = SRV_UP;
    else if (strcmp(action, "disable") == 0)
        state = SRV_DISABLED;
    else {
        respond_error(c, 400, "unknown action: use drain, enable or disable",
                      NULL);
        return;
    }
    const struct conf_pool *pool = NULL;
    for (size_t i = 0; i < ad->conf->npools && pool == NULL; i++)
        if (strcmp(ad->conf->pools[i].name, pool_name) == 0)
            pool = &ad->conf->pools[i];
    if (pool == NULL) {
        respond_error(c, 404, "no such pool", NULL);
        return;
    }
    const struct conf_server *sv = find_server(pool, address);
    if (sv == NULL) {
        respond_error(c, 404, "no such server in this pool", NULL);
        return;
    }
    struct shm_server *ss = shm_server(ad->args->shm, sv->slot);
    uint64_t now = srv_now();
    log_notice("admin: %s: %s pool \"%s\" server %s", c->peer, action,
               pool->name, sv->address);
    srv_admin_set(ss, pool, sv, state, now);

    struct jbuf b = { 0 };
    jb_add(&b, "{\"pool\":", 8);
    jb_str(&b, pool->name);
    jb_add(&b, ",\"server\":", 10);
    jb_str(&b, sv->address);
    jb_printf(&b, ",\"state\":\"%s\",\"health\":\"%s\"}\n",
              srv_state_name(ss, now), srv_health_name(ss, now));
    if (b.oom) {
        free(b.p);
        conn_close(c);
        return;
    }
    respond(c, 200, NULL, b.p, b.len, false);
    free(b.p);
}

/* ---- dispatch ------------------------------------------------------------- */

/* Constant time in the length of the expected token. */
static bool
token_ok(const char *want, struct http_str got)
{
    size_t wl = strlen(want);
    unsigned char diff = got.len != wl;

    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^
                (unsigned char)(i < got.len ? got.p[i] : 0);
    return diff == 0;
}

/* 0: allowed; else 401 sent. */
static int
authorize(struct admin_conn *c, const struct http_request *req)
{
    const char *token = c->ad->conf->admin->token;

    if (token == NULL)
        return 0;
    const struct http_header *h = http_header_find(req, "Authorization");
    bool presented = false;
    if (h != NULL && h->value.len > 7 &&
        strncasecmp(h->value.p, "Bearer ", 7) == 0) {
        struct http_str t = { h->value.p + 7, h->value.len - 7 };
        while (t.len > 0 && t.p[0] == ' ') {
            t.p++;
            t.len--;
        }
        presented = true;
        if (token_ok(token, t))
            return 0;
    }
    log_notice("admin: %s: %.*s %.*s refused: %s", c->peer,
               (int)req->method.len, req->method.p,
               (int)req->target.len, req->target.p,
               presented ? "wrong bearer token" : "no bearer token");
    respond_error(c, 401, "unauthorized: send Authorization: Bearer <token>",
                  presented ? "WWW-Authenticate: Bearer realm=\"cerberus\", "
                              "error=\"invalid_token\"\r\n"
                            : "WWW-Authenticate: Bearer realm=\"cerberus\"\r\n");
    return -1;
}

static void
dispatch(struct admin_conn *c, const struct http_request *req)
{
    static const char servers[] = "/servers/";
    struct http_str path = req->path;

    if (authorize(c, req) < 0)
        return;
    if (path.len == 7 && memcmp(path.p, "/status", 7) == 0) {
        if (req->method_id != HTTP_GET && req->method_id != HTTP_HEAD) {
            respond_error(c, 405, "method not allowed: use GET",
                          "Allow: GET, HEAD\r\n");
            return;
        }
        struct jbuf b = { 0 };
        status_json(c->ad, &b);
        if (b.oom) {
            free(b.p);
            log_error("admin: out of memory answering %s", c->peer);
            conn_close(c);
            return;
        }
        respond(c, 200, NULL, b.p, b.len, req->method_id == HTTP_HEAD);
        free(b.p);
        return;
    }
    if (path.len > sizeof(servers) - 1 &&
        memcmp(path.p, servers, sizeof(servers) - 1) == 0) {
        struct http_str rest = { path.p + sizeof(servers) - 1,
                                 path.len - (sizeof(servers) - 1) };
        server_action(c, req, rest);
        return;
    }
    respond_error(c, 404, "not found", NULL);
}

static void
conn_read(struct admin_conn *c)
{
    static const struct http_limits lim = {
        .max_request_line = ADMIN_HEAD_MAX,
        .max_head = ADMIN_HEAD_MAX,
        .max_headers = 64,
    };

    for (;;) {
        if (c->inlen == sizeof(c->in)) {
            respond_error(c, 431, "request head too large", NULL);
            return;
        }
        ssize_t n = recv(c->io.fd, c->in + c->inlen, sizeof(c->in) - c->inlen,
                         0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_close(c);
            return;
        }
        if (n == 0) {
            conn_close(c);      /* gone before a whole request */
            return;
        }
        c->inlen += (size_t)n;
        struct http_request req;
        int status = 0;
        const char *why = NULL;
        int r = http_parse_request(c->in, c->inlen, &lim, &req, &status, &why);
        if (r == HTTP_PARSE_AGAIN)
            continue;
        if (r == HTTP_PARSE_ERROR) {
            log_info("admin: %s: bad request: %s", c->peer, why ? why : "?");
            respond_error(c, status ? status : 400, why ? why : "bad request",
                          NULL);
            return;
        }
        dispatch(c, &req);
        return;
    }
}

static void
conn_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct admin_conn *c = io->data;

    (void)loop;
    switch (c->state) {
    case AC_READ:
        conn_read(c);
        break;
    case AC_WRITE:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_write(c);
        break;
    case AC_LINGER: {
        char sink[4096];
        for (;;) {
            ssize_t n = recv(c->io.fd, sink, sizeof(sink), 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            conn_close(c);
            return;
        }
    }
    }
}

static void
on_accept(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct admin *ad = io->data;

    (void)events;
    if (ad->draining)
        return;
    while (ad->nconns < ADMIN_MAX_CONNS) {
        struct addr peer;
        peer.len = sizeof(peer.sin6);
        int fd = accept4(io->fd, &peer.sa, &peer.len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_error("admin: accept: %s", strerror(errno));
            return;
        }
        struct admin_conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            log_error("admin: out of memory for a connection");
            close(fd);
            return;
        }
        c->ad = ad;
        c->state = AC_READ;
        if (peer.sa.sa_family == AF_INET || peer.sa.sa_family == AF_INET6)
            addr_format(&peer, c->peer, sizeof(c->peer));
        else
            snprintf(c->peer, sizeof(c->peer), "?");
        ev_io_init(&c->io, fd, conn_io, c);
        ev_timer_init(&c->timer, conn_timeout, c);
        if (ev_io_start(loop, &c->io, EPOLLIN | EPOLLRDHUP) < 0) {
            log_error("admin: epoll: %s", strerror(errno));
            close(fd);
            free(c);
            return;
        }
        ev_timer_start(loop, &c->timer, ADMIN_TIMEOUT);
        c->next = ad->conns;
        if (ad->conns)
            ad->conns->prev = c;
        ad->conns = c;
        ad->nconns++;
    }
    /* Full: wait for a connection to end (the kernel queues the rest). */
    ev_io_stop(loop, &ad->lio);
    ad->accepting = false;
}

struct admin *
admin_start(struct ev_loop *loop, struct worker_args *a,
            void (*on_idle)(void *), void *arg)
{
    struct admin *ad = calloc(1, sizeof(*ad));

    if (ad == NULL) {
        log_error("admin: out of memory");
        return NULL;
    }
    ad->loop = loop;
    ad->args = a;
    ad->conf = a->conf;
    ad->on_idle = on_idle;
    ad->arg = arg;
    ev_io_init(&ad->lio, a->admin_fd, on_accept, ad);
    if (ev_io_start(loop, &ad->lio, EPOLLIN) < 0) {
        log_error("admin: epoll: %s", strerror(errno));
        free(ad);
        return NULL;
    }
    ad->accepting = true;
    return ad;
}

void
admin_drain(struct admin *ad)
{
    if (ad->draining)
        return;
    ad->draining = true;
    if (ad->accepting)
        ev_io_stop(ad->loop, &ad->lio);
    ev_io_forget(ad->loop, &ad->lio);
    ad->accepting = false;
    /* The socket stays open in the master (and the next checker): only
     * this process's copy goes. */
    close(ad->lio.fd);
    ad->lio.fd = -1;
    maybe_idle(ad);
}

size_t
admin_conns(const struct admin *ad)
{
    return ad->nconns;
}

void
admin_free(struct admin *ad)
{
    if (ad == NULL)
        return;
    ad->on_idle = NULL;
    ad->draining = true;        /* no accept_resume while closing */
    while (ad->conns != NULL)
        conn_close(ad->conns);
    if (ad->lio.fd >= 0) {
        if (ad->accepting)
            ev_io_stop(ad->loop, &ad->lio);
        close(ad->lio.fd);
    }
    free(ad);
}
