/* proxy: forward a request to a pool server and stream the answer back. */
#include "proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http_fwd.h"
#include "log.h"
#include "srv.h"
#include "tls.h"
#include "tlsio.h"

#define UP_BUF        16384
#define CLIENT_BODY_BUF 16384
#define HEAD_MIN      BLOCK_SIZE
#define CHUNK_EXT_MAX 4096
#define TRAILERS_MAX  16384

static const struct chunk_limits chunk_lim = { CHUNK_EXT_MAX, TRAILERS_MAX };

static void up_event(struct ev_loop *loop, struct ev_io *io, uint32_t ev);
static void up_idle_timeout(struct ev_loop *loop, struct ev_timer *t);
static void proxy_connect(struct conn *c);

/* ---- small helpers ---------------------------------------------------- */

static int
buf_reserve(struct worker *w, char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    if (*buf == NULL && need <= BLOCK_SIZE) {
        *buf = http_block_get(w);
        *cap = *buf ? BLOCK_SIZE : 0;
        return *buf ? 0 : -1;
    }
    size_t n = *cap ? *cap : HEAD_MIN;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int
buf_add(struct worker *w, char **buf, size_t *len, size_t *cap, const char *s,
        size_t n)
{
    if (buf_reserve(w, buf, cap, *len + n + 1) < 0)
        return -1;
    memcpy(*buf + *len, s, n);
    *len += n;
    return 0;
}

#define ADD(p, s, n) buf_add(c->w, &(p)->head, &(p)->head_len, &(p)->head_cap, \
                             s, n)
#define ADDS(p, s)   ADD(p, s, strlen(s))
#define RADD(p, s, n) buf_add(c->w, &(p)->rhead, &(p)->rhead_len, \
                              &(p)->rhead_cap, s, n)
#define RADDS(p, s)  RADD(p, s, strlen(s))

static bool
request_id_valid(struct http_str v)
{
    if (v.len == 0 || v.len > 128)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.' || ch == ':'))
            return false;
    }
    return true;
}

/* ---- upstream connections -------------------------------------------- */

static ssize_t
up_read(struct upstream *u, void *buf, size_t len)
{
    if (u->ssl != NULL) {
        ssize_t n = tlsio_read(u->ssl, buf, len);
        if (u->hup)
            u->readable = true;
        return n;
    }
    return read(u->io.fd, buf, len);
}

static ssize_t
up_write(struct upstream *u, const void *buf, size_t len)
{
    if (u->ssl != NULL) {
        struct iovec iov = { (void *)buf, len };
        return tlsio_writev(u->ssl, &iov, 1, NULL, 0);
    }
    return write(u->io.fd, buf, len);
}

/* TLS to the server: its name for SNI and verification, and the session
 * of the last connection to it, resumed. */
static int
up_tls_start(struct upstream *u)
{
    const struct conf_upstream_tls *t = u->pool->tls;
    struct worker *w = u->w;

    u->ssl = tlsio_new(t->ctx, u->io.fd, &u->readable, false);
    if (u->ssl == NULL)
        return -1;
    tls_client_names(u->ssl, t, u->srv->address);
    if (w->up_sess != NULL) {
        /* the server's last session is resumed; a new one is kept when
         * OpenSSL has it (TLS 1.3: after the handshake, with a ticket) */
        SSL_SESSION **slot = &w->up_sess[u->srv->slot];
        if (*slot != NULL)
            SSL_set_session(u->ssl, *slot);
        SSL_set_app_data(u->ssl, slot);
    }
    return 0;
}

/* A handshake step with the server: 1 done, 0 waiting, -1 failed (why). */
static int
up_tls_handshake(struct upstream *u, char *why, size_t len)
{
    bool plain;
    int r = tlsio_handshake(u->ssl, why, len, &plain);

    if (r != TLSIO_DONE)
        return r == TLSIO_AGAIN ? 0 : -1;
    u->tls_done = true;
    return 1;
}

static void
up_close(struct upstream *u)
{
    struct worker *w = u->w;

    ev_timer_stop(w->loop, &u->timer);
    ev_io_forget(w->loop, &u->io);
    if (u->ssl != NULL) {
        tlsio_shutdown(u->ssl);     /* else its session is not resumable */
        tlsio_free(u->ssl);
    }
    close(u->io.fd);
    free(u->in);
    free(u);
}

static void
idle_remove(struct upstream *u)
{
    struct worker *w = u->w;
    unsigned slot = u->srv->slot;

    if (u->prev)
        u->prev->next = u->next;
    else
        w->idle[slot] = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
    w->idle_count[u->pool - w->conf->pools]--;
    ev_timer_stop(w->loop, &u->timer);
}

/* Back to the server's idle list, or closed if the pool has enough. */
static void
up_release(struct upstream *u, bool keep)
{
    struct worker *w = u->w;
    size_t pi = (size_t)(u->pool - w->conf->pools);

    u->c = NULL;
    u->in_len = u->ready = 0;
    if (!keep || u->hup || w->draining ||
        w->idle_count[pi] >= (size_t)u->pool->keepalive) {
        up_close(u);
        return;
    }
    u->next = w->idle[u->srv->slot];
    u->prev = NULL;
    if (u->next)
        u->next->prev = u;
    w->idle[u->srv->slot] = u;
    w->idle_count[pi]++;
    ev_timer_init(&u->timer, up_idle_timeout, u);
    ev_timer_start(w->loop, &u->timer, (uint64_t)u->pool->keepalive_timeout);
}

static void
up_idle_timeout(struct ev_loop *loop, struct ev_timer *t)
{
    struct upstream *u = t->data;

    (void)loop;
    idle_remove(u);
    up_close(u);
}

/* Idle connections to a server that stopped taking requests (drained,
 * disabled, down) are closed within a second, as a drain promises. */
void
proxy_idle_check(struct ev_loop *loop, struct ev_timer *t)
{
    struct worker *w = t->data;
    unsigned hwm = w->args->shm->hdr->hwm;
    uint64_t now = ev_now(loop);

    for (unsigned s = 0; s < hwm && s < w->nidle; s++) {
        if (w->idle[s] == NULL ||
            srv_selectable(shm_server(w->args->shm, s), now))
            continue;
        while (w->idle[s] != NULL) {
            struct upstream *u = w->idle[s];
            idle_remove(u);
            up_close(u);
        }
    }
    ev_timer_start(loop, t, IDLE_CHECK_MS);
}

void
proxy_close_idle(struct worker *w)
{
    for (unsigned s = 0; s < w->nidle; s++)
        while (w->idle[s] != NULL) {
            struct upstream *u = w->idle[s];
            idle_remove(u);
            up_close(u);
        }
}

/* The place taken on the chosen server is given back. */
static void
unpick(struct conn *c)
{
    struct proxy *p = c->px;

    if (p->srv != NULL) {
        pick_put(c->w, p->srv);
        p->srv = NULL;
    }
}

/* The chosen server failed this request: it counts against the server
 * (passive health, breaker), and the request will not go back to it
 * while another can take it. */
static void
server_failed(struct conn *c, const struct conf_server *s, const char *why)
{
    struct proxy *p = c->px;

    pick_failed(c->w, p->pool, s, &p->pick, why);
    p->failed = s;
    if (p->srv == s)
        unpick(c);
}

/* ---- building the heads ---------------------------------------------- */

/* A header named as some TLS listener's client-certificate headers: a
 * client's is dropped on every listener, so that a server behind several
 * listeners can trust it. */
static bool
cert_header(const struct conf *conf, struct http_str name)
{
    for (size_t i = 0; i < conf->ncert_headers; i++)
        if (http_str_ieq(name, conf->cert_headers[i]))
            return true;
    return false;
}

/* Is the header one the gateway drops? */
static bool
edit_drops(const struct gw_edit *e, struct http_str name)
{
    for (size_t i = 0; i < e->ndrop; i++)
        if (name.len == e->drop[i].len &&
            strncasecmp(name.p, e->drop[i].p, name.len) == 0)
            return true;
    return false;
}

/* The names build_request_head drops besides the rules of http_fwd. */
struct head_drop {
    const struct conf *conf;
    const struct gw *g;
};

static bool
head_drops(void *ctx, struct http_str name)
{
    const struct head_drop *d = ctx;

    /* (client-cert headers come from us only) */
    return cert_header(d->conf, name) ||
           (d->g != NULL && edit_drops(&d->g->up, name));
}

static int
head_emit(void *ctx, const char *s, size_t n)
{
    struct conn *c = ctx;

    return ADD(c->px, s, n);
}

static int
build_request_head(struct conn *c, const struct http_request *req)
{
    struct proxy *p = c->px;
    char ip[ADDR_TEXT_MAX];
    const struct conf_tls *tls = c->ssl != NULL ? c->l->tls : NULL;

    p->head_len = p->head_off = 0;
    addr_format_host(&c->peer, ip, sizeof(ip));
    const struct gw *g = p->gw.on ? c->w->gw : NULL;
    ADD(p, req->method.p, req->method.len);
    ADDS(p, " ");
    if (g != NULL && g->target_set) {
        ADD(p, g->target, g->target_len);      /* rewritten by the gateway */
    } else if (req->path.len > 0 && req->path.p[0] == '/' &&
               req->method_id != HTTP_CONNECT) {
        /* The normalised path that was matched (absolute-form becomes
         * origin-form), and the query as received. */
        ADD(p, req->path.p, req->path.len);
        if (req->query.p != NULL) {
            ADDS(p, "?");
            ADD(p, req->query.p, req->query.len);
        }
    } else {
        ADD(p, req->target.p, req->target.len);     /* "*", authority */
    }
    ADDS(p, " HTTP/1.1\r\n");
    struct head_drop hd = { c->w->conf, g };
    struct http_fwd_seen seen;
    if (http_fwd_request_headers(req, head_drops, &hd, head_emit, c,
                                 &seen) < 0)
        return -1;
    const struct http_header *rid = seen.rid;
    if (rid != NULL && c->l->trust_request_id && request_id_valid(rid->value))
        snprintf(p->reqid, sizeof(p->reqid), "%.*s", (int)rid->value.len,
                 rid->value.p);
    else if (c->rl != NULL && c->rl->reqid[0])
        memcpy(p->reqid, c->rl->reqid, sizeof(p->reqid));
    else if (g != NULL && g->reqid[0])
        memcpy(p->reqid, g->reqid, sizeof(p->reqid));
    else
        http_request_id(c->w, p->reqid);
    if (c->rl != NULL)
        memcpy(c->rl->reqid, p->reqid, sizeof(c->rl->reqid));
    /* HTTP/1.1 to the server needs a Host: the authority of an
     * absolute-form target, else the server's address. */
    if (!seen.host) {
        ADDS(p, "Host: ");
        if (req->host.len > 0)
            ADD(p, req->host.p, req->host.len);
        else
            ADDS(p, p->u ? p->u->srv->address : p->pool->servers[0].address);
        ADDS(p, "\r\n");
    }
    ADDS(p, "X-Forwarded-For: ");
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!http_str_ieq(h->name, "x-forwarded-for") || h->value.len == 0)
            continue;
        ADD(p, h->value.p, h->value.len);
        ADDS(p, ", ");
    }
    ADDS(p, ip);
    ADDS(p, c->ssl != NULL ? "\r\nX-Forwarded-Proto: https\r\n"
                           : "\r\nX-Forwarded-Proto: http\r\n");
    if (tls != NULL && tls->verify_client != VERIFY_NONE) {
        char subject[512], fp[2 * EVP_MAX_MD_SIZE + 1];
        if (tls_peer_identity(c->ssl, subject, sizeof(subject), fp,
                              sizeof(fp))) {
            ADDS(p, tls->client_subject_header);
            ADDS(p, ": ");
            ADDS(p, subject);
            ADDS(p, "\r\n");
            ADDS(p, tls->client_fingerprint_header);
            ADDS(p, ": ");
            ADDS(p, fp);
            ADDS(p, "\r\n");
        }
    }
    if (req->host.len > 0) {
        ADDS(p, "X-Forwarded-Host: ");
        ADD(p, req->host.p, req->host.len);
        ADDS(p, "\r\n");
    }
    ADDS(p, "X-Request-ID: ");
    ADDS(p, p->reqid);
    ADDS(p, "\r\n");
    for (size_t i = 0; g != NULL && i < g->up.nadd; i++) {
        ADD(p, g->up.add[i].name.p, g->up.add[i].name.len);
        ADDS(p, ": ");
        ADD(p, g->up.add[i].value.p, g->up.add[i].value.len);
        ADDS(p, "\r\n");
    }
    /* The framing from the parsed length, never the client's lines. */
    char framing[HTTP_FWD_FRAMING_MAX];
    ADD(p, framing, http_fwd_framing(req->content_length, req->chunked,
                                     framing));
    if (seen.upgrade)
        ADDS(p, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    return ADDS(p, "\r\n");
}

/* The cookie that brings the client back to this server: issued when the
 * request had none, or one for a server that could not take it. */
static void
add_sticky_cookie(struct conn *c, const struct conf_sticky *st, size_t i)
{
    struct proxy *p = c->px;
    char v[64];
    static const char *const samesite[] = { "Lax", "Strict", "None" };

    RADDS(p, "Set-Cookie: ");
    RADDS(p, st->cookie);
    RADDS(p, "=");
    RADDS(p, pick_token(c->w, p->pool, i));
    RADDS(p, "; Path=");
    RADDS(p, st->path);
    if (st->max_age > 0) {
        snprintf(v, sizeof(v), "; Max-Age=%lld", (long long)(st->max_age / 1000));
        RADDS(p, v);
    }
    if (st->secure || st->samesite == SAMESITE_NONE)
        RADDS(p, "; Secure");   /* SameSite=None requires it */
    if (st->httponly)
        RADDS(p, "; HttpOnly");
    RADDS(p, "; SameSite=");
    RADDS(p, samesite[st->samesite]);
    RADDS(p, "\r\n");
}

static int
build_response_head(struct conn *c, const struct http_response *resp)
{
    struct proxy *p = c->px;
    char line[64];
    const char *server = c->l->server_header;

    /* The gateway's changes to the response (headers, CORS), in the
     * worker's work space: the head is built at once. */
    struct gw_edit *redit = NULL;
    if (p->gw.on && resp->status >= 200) {
        redit = &c->w->gw->up;
        redit->ndrop = redit->nadd = redit->slen = 0;
        redit->over = false;
        gw_response(&p->gw, resp, redit);
    }
    p->rhead_len = p->rhead_off = 0;
    snprintf(line, sizeof(line), "HTTP/1.1 %d ", resp->status);
    RADDS(p, line);
    RADD(p, resp->reason.p, resp->reason.len);
    RADDS(p, "\r\n");
    bool date = false;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct http_header *h = &resp->headers[i];
        if (!http_fwd_response_header(resp->headers, resp->nheaders, h,
                                      resp->status) ||
            http_str_ieq(h->name, "x-request-id") ||
            http_str_ieq(h->name, "server") ||
            (redit != NULL && edit_drops(redit, h->name)))
            continue;
        if (h->name.len == 4 && http_str_ieq(h->name, "date"))
            date = true;
        RADD(p, h->name.p, h->name.len);
        RADDS(p, ": ");
        RADD(p, h->value.p, h->value.len);
        RADDS(p, "\r\n");
    }
    for (size_t i = 0; redit != NULL && i < redit->nadd; i++)
        date |= http_str_ieq(redit->add[i].name, "date");
    if (!date && resp->status >= 200) {
        /* RFC 9110 6.6.1: an origin with a clock sends one; we have one. */
        RADDS(p, "Date: ");
        RADD(p, http_date(c->w), 29);
        RADDS(p, "\r\n");
    }
    if (c->ssl != NULL && c->l->tls->hsts != NULL && resp->status >= 200) {
        RADDS(p, "Strict-Transport-Security: ");
        RADDS(p, c->l->tls->hsts);
        RADDS(p, "\r\n");
    }
    if (server != NULL && server[0] != '\0') {
        RADDS(p, "Server: ");
        RADDS(p, server);
        RADDS(p, "\r\n");
    }
    RADDS(p, "X-Request-ID: ");
    RADDS(p, p->reqid);
    RADDS(p, "\r\n");
    for (size_t i = 0; redit != NULL && i < redit->nadd; i++) {
        RADD(p, redit->add[i].name.p, redit->add[i].name.len);
        RADDS(p, ": ");
        RADD(p, redit->add[i].value.p, redit->add[i].value.len);
        RADDS(p, "\r\n");
    }
    const struct conf_sticky *st = p->pool->sticky;
    if (st != NULL && st->cookie != NULL && resp->status >= 200 &&
        p->u != NULL && p->pick.sticky != (int)(p->u->srv - p->pool->servers))
        add_sticky_cookie(c, st, (size_t)(p->u->srv - p->pool->servers));
    if (resp->status >= 200 && c->rl != NULL) {
        c->rl->status = resp->status;
        c->rl->upstream_status = resp->status;
    }
    if (resp->status >= 200) {
        /* The framing from the parsed length, never the server's lines
         * (a Connection list must not leave the client unframed). A HEAD
         * or 304 answer keeps the length it describes; 1xx and 204 have
         * none (RFC 9110 8.6). */
        char framing[HTTP_FWD_FRAMING_MAX];
        if (p->resp_body == B_CHUNKED && !p->dechunk)
            RADDS(p, "Transfer-Encoding: chunked\r\n");
        else if (!resp->chunked && resp->status != 204 &&
                 resp->status != 101)
            RADD(p, framing, http_fwd_framing(resp->content_length, false,
                                              framing));
        if (c->close_after)
            RADDS(p, "Connection: close\r\n");
        else if (c->http10)
            RADDS(p, "Connection: keep-alive\r\n");
    }
    return RADDS(p, "\r\n");
}

/* ---- starting --------------------------------------------------------- */

static bool
method_idempotent(int m)
{
    return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS ||
           m == HTTP_PUT || m == HTTP_DELETE || m == HTTP_TRACE;
}

/* Answers from the proxy itself while no response byte went out yet. */
static void
proxy_fail(struct conn *c, int status, const char *why)
{
    struct proxy *p = c->px;
    char msg[512];

    snprintf(msg, sizeof(msg), "route \"%s\", pool \"%s\"%s%s: %s",
             p->route->name, p->pool->name, p->u ? ", server " : "",
             p->u ? p->u->srv->address : "", why);
    if (p->u != NULL) {
        p->u->c = NULL;
        up_close(p->u);
        p->u = NULL;
    }
    unpick(c);
    /* After an interim response (100 Continue) a final one may still
     * follow; once the final head began, closing is all that is left. */
    bool interim_only = !p->head_seen && p->rhead_off == p->rhead_len;
    if (p->client_started && !interim_only) {
        char peer[ADDR_TEXT_MAX];
        addr_format(&c->peer, peer, sizeof(peer));
        log_error("client %s: %s; closing mid-response", peer, msg);
        http_conn_close(c);     /* mid-response: all we can do */
        return;
    }
    /* The request may be partly unread: the connection cannot go on. */
    c->close_after = true;
    http_respond_error(c, status, msg);
}

void
proxy_start(struct conn *c, const struct http_request *req,
            const struct conf_route *r)
{
    struct proxy *p = c->px;

    if (p == NULL) {
        /* From the worker's free list: an idle connection holds none. */
        p = c->w->free_px;
        if (p != NULL)
            c->w->free_px = p->next_free;
        else
            p = calloc(1, sizeof(*p));
        if (p == NULL) {
            http_respond_error(c, 500, "out of memory");
            return;
        }
        c->px = p;
    }
    p->u = NULL;
    p->route = r;
    p->pool = r->pool;
    p->failed = NULL;
    p->force = NULL;
    p->srv = NULL;
    pick_prepare(c->w, r->pool, req, &c->peer, &p->pick);
    if (r->has_policies)
        p->gw = c->w->gw->keep;
    else
        p->gw.on = false;
    p->tries = 0;
    p->tunnel = false;
    p->method = req->method_id;
    p->idempotent = method_idempotent(req->method_id);
    p->fresh = false;
    p->send_broken = false;
    c->close_after_req = c->close_after;
    p->started = ev_now(c->w->loop);
    p->req_done = false;
    p->in_sent = p->in_ready = p->in_held = 0;
    p->replayable = true;
    p->body_at = p->started;
    p->expect_wait = req->expect_continue && req->version != 10;
    p->head_seen = p->resp_done = p->client_started = false;
    p->rhead_len = p->rhead_off = 0;    /* nothing left from a previous one */
    p->status = 0;
    p->up_keep = true;
    p->dechunk = req->version == 10;
    p->req_total = p->req_left = 0;
    if (req->chunked) {
        p->req_body = B_CHUNKED;
        chunk_init(&p->req_chunk);
    } else if (req->content_length > 0) {
        p->req_body = B_LENGTH;
        p->req_total = p->req_left = req->content_length;
        if (req->content_length > p->pool->retry_buffer)
            p->replayable = false;      /* too large to send again */
    } else {
        p->req_body = B_NONE;
        p->req_done = true;
    }
    c->state = CS_PROXY;
    if (r->max_body_size > 0 && req->content_length > r->max_body_size) {
        http_respond_error(c, 413, "Content-Length exceeds max_body_size");
        return;
    }
    if (build_request_head(c, req) < 0) {
        http_respond_error(c, 500, "out of memory");
        return;
    }
    /* The head is rewritten: only what follows it stays in c->in. */
    size_t rest = c->in_len - req->head_len;
    if (rest > 0)
        p->expect_wait = false;     /* it did not wait for the 100 */
    memmove(c->in, c->in + req->head_len, rest);
    c->in_len = rest;
    c->req_head_len = 0;
    /* Bodies move in larger steps than heads are read in (req points into
     * the old buffer: only now may it move). */
    if (p->req_body != B_NONE && c->in_cap < CLIENT_BODY_BUF) {
        char *n = realloc(c->in, CLIENT_BODY_BUF);
        if (n != NULL) {
            c->in = n;
            c->in_cap = CLIENT_BODY_BUF;
        }
    }
    proxy_connect(c);
}

/* A pooled connection to the chosen server if there is one, else a new
 * one; on failure the next server, within the pool's retries. */
static void
proxy_connect(struct conn *c)
{
    struct proxy *p = c->px;
    struct worker *w = c->w;

    for (;;) {
        /* A stale pooled connection is retried on the same server (whose
         * place this request still holds); else a new choice. */
        bool full = false;
        const struct conf_server *s = p->force;
        if (s == NULL) {
            unpick(c);
            if (p->tries++ <= (unsigned)p->pool->retries)
                s = pick_server(w, p->pool, &p->pick, &full);
            p->srv = s;
        }
        p->fresh = p->force != NULL;
        p->force = NULL;
        if (s == NULL) {
            proxy_fail(c, p->failed ? 502 : 503, p->failed
                       ? "no server of the pool could be reached"
                       : full ? "every server of the pool is at max_conns"
                       : "no server of the pool is available");
            return;
        }
        struct shm_server *ss = shm_server(w->args->shm, s->slot);
        atomic_fetch_add_explicit(&ss->requests, 1, memory_order_relaxed);
        if (c->rl != NULL) {
            /* Every server tried, in order (as nginx's $upstream_addr); a
             * stale pooled connection's retry goes to the same one. */
            char *ul = c->rl->upstream;
            size_t len = strlen(ul), need = strlen(s->address) + 1;
            if (len == 0 || (!p->fresh && len + need < sizeof(c->rl->upstream)))
                snprintf(ul + len, sizeof(c->rl->upstream) - len, "%s%s",
                         len ? "," : "", s->address);
            c->rl->upstream_start = ev_now(w->loop);
        }
        struct upstream *u = p->fresh ? NULL : w->idle[s->slot];
        p->fresh = false;
        p->up_eof = false;
        p->up_err = 0;
        if (u != NULL) {
            idle_remove(u);
            u->c = c;
            p->u = u;
            u->nreq++;
            proxy_run(c);
            return;
        }
        u = calloc(1, sizeof(*u));
        int fd = u ? socket(s->addr.sa.sa_family,
                            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
                   : -1;
        if (fd < 0) {
            free(u);
            proxy_fail(c, 500, "cannot create a socket");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        u->w = w;
        u->pool = p->pool;
        u->srv = s;
        u->c = c;
        u->nreq = 1;
        ev_io_init(&u->io, fd, up_event, u);
        ev_timer_init(&u->timer, up_idle_timeout, u);
        if (p->pool->tls != NULL && up_tls_start(u) < 0) {
            close(fd);
            free(u);
            proxy_fail(c, 500, "cannot start TLS to the server");
            return;
        }
        p->u = u;
        if (connect(fd, &s->addr.sa, s->addr.len) < 0
            && errno != EINPROGRESS) {
            char why[128];
            snprintf(why, sizeof(why), "connect: %s", strerror(errno));
            log_warn("pool \"%s\": connect to %s: %s", p->pool->name,
                     s->address, strerror(errno));
            p->u = NULL;
            u->c = NULL;
            up_close(u);
            server_failed(c, s, why);
            continue;
        }
        if (ev_io_start(w->loop, &u->io,
                        EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
            p->u = NULL;
            up_close(u);
            proxy_fail(c, 500, "epoll_ctl failed");
            return;
        }
        p->wait = W_CONNECT;
        ev_timer_start(w->loop, &c->timer, (uint64_t)p->pool->connect_timeout);
        return;
    }
}

/* The connection failed before the exchange could complete: try another
 * server when nothing of the response came and the request can be sent
 * again; else answer 502. */
static void
proxy_upstream_failed(struct conn *c, const char *what, int err)
{
    struct proxy *p = c->px;
    struct upstream *u = p->u;
    bool stale = u->nreq > 1 && !p->head_seen && u->in_len == 0;
    char why[224];

    snprintf(why, sizeof(why), "%s %s: %s", what, u->srv->address,
             err ? strerror(err) : "connection closed");
    /* Only a request that is safe to send twice is sent again, whatever
     * the reason: the server may have processed it before failing, even
     * on a pooled connection that looks stale (it may have been closing
     * at the very moment the request reached it). */
    bool replay = p->idempotent || p->route->retry_non_idempotent;
    bool may = replay;
    if (p->pool->retry_timeout > 0 &&
        ev_now(c->w->loop) - p->started > (uint64_t)p->pool->retry_timeout)
        may = false;
    if (!p->head_seen && !p->client_started && p->replayable &&
        (stale ? replay : may)) {
        /* A pooled connection the server had closed is not the server's
         * fault: same server, fresh connection, no try used. */
        if (stale) {
            p->force = u->srv;          /* same server, new connection */
        } else {
            log_warn("pool \"%s\": %s", p->pool->name, why);
            server_failed(c, u->srv, why);
        }
        u->c = NULL;
        up_close(u);
        p->u = NULL;
        p->head_off = 0;
        p->in_sent = p->in_ready = p->in_held = 0;
        p->req_left = p->req_total;
        p->req_done = p->req_body == B_NONE;
        if (p->send_broken) {
            p->send_broken = false;
            p->up_keep = true;
            c->close_after = c->close_after_req;
        }
        if (p->req_body == B_CHUNKED) {
            chunk_init(&p->req_chunk);
            p->req_total = 0;
        }
        proxy_connect(c);
        return;
    }
    if (!stale)
        server_failed(c, u->srv, why);
    else if (!replay && !p->head_seen && !p->client_started)
        snprintf(why + strlen(why), sizeof(why) - strlen(why), " (on a "
                 "reused connection; not idempotent: not sent again)");
    proxy_fail(c, 502, why);
}

/* ---- the exchange ------------------------------------------------------ */

/* Counts the data of a chunked body (its framing does not count). */
static void
count_data(void *ctx, const char *data, size_t n)
{
    (void)data;
    *(int64_t *)ctx += (int64_t)n;
}

/* Marks the request bytes after in_sent+in_ready that belong to the body. */
static int
scan_request_body(struct proxy *p, struct conn *c, const char **why)
{
    size_t from = p->in_sent + p->in_ready;
    size_t avail = c->in_len - from;

    if (p->req_done || avail == 0)
        return 0;
    if (p->req_body == B_LENGTH) {
        size_t take = avail < (uint64_t)p->req_left ? avail
                                                    : (size_t)p->req_left;
        p->in_ready += take;
        p->req_left -= (int64_t)take;
        p->req_done = p->req_left == 0;
        return 0;
    }
    /* Trailers naming the framing or Host are cut out (issue 12). */
    size_t used, left = avail;
    int r = chunk_filter(&p->req_chunk, &chunk_lim, c->in + from, &left,
                         &used, count_data, &p->req_total, why);
    if (r == CHUNK_ERROR)
        return -1;
    c->in_len = (uint32_t)(from + left);
    p->in_ready += used;
    p->in_held = left - used;
    if (p->req_total > p->pool->retry_buffer)
        p->replayable = false;
    if (p->route->max_body_size > 0 &&
        p->req_total > p->route->max_body_size) {
        *why = "chunked body exceeds max_body_size";
        return -2;
    }
    p->req_done = r == CHUNK_DONE;
    return 0;
}

struct dechunk_ctx {
    char *base;
    size_t wp;
};

static void
dechunk_data(void *ctx, const char *data, size_t n)
{
    struct dechunk_ctx *d = ctx;

    memmove(d->base + d->wp, data, n);
    d->wp += n;
}

/* Turns response bytes after u->ready into bytes ready for the client. */
static int
scan_response_body(struct proxy *p, struct upstream *u, const char **why)
{
    size_t avail = u->in_len - u->ready;

    if (p->resp_done || avail == 0)
        return 0;
    switch (p->resp_body) {
    case B_LENGTH: {
        size_t take = avail < (uint64_t)p->resp_left ? avail
                                                     : (size_t)p->resp_left;
        u->ready += take;
        p->resp_left -= (int64_t)take;
        p->resp_done = p->resp_left == 0;
        break;
    }
    case B_CLOSE:
        u->ready = u->in_len;
        return 0;
    case B_CHUNKED: {
        size_t used, left = avail;
        struct dechunk_ctx d = { u->in, u->ready };
        int r = p->dechunk
              ? chunk_scan(&p->resp_chunk, &chunk_lim, u->in + u->ready, avail,
                           &used, dechunk_data, &d, why)
              : chunk_filter(&p->resp_chunk, &chunk_lim, u->in + u->ready,
                             &left, &used, NULL, NULL, why);
        if (r == CHUNK_ERROR)
            return -1;
        if (p->dechunk) {
            size_t rest = avail - used;
            memmove(u->in + d.wp, u->in + u->ready + used, rest);
            u->in_len = d.wp + rest;
            u->ready = d.wp;
        } else {
            u->in_len = u->ready + left;    /* trailers cut, as requests' */
            u->ready += used;
        }
        p->resp_done = r == CHUNK_DONE;
        break;
    }
    default:
        p->resp_done = true;
    }
    if (p->resp_done && u->in_len > u->ready) {
        /* Bytes after the response: the server broke framing. */
        u->in_len = u->ready;
        p->up_keep = false;
    }
    return 0;
}

/* Parses a response head in u->in. 1: parsed; 0: need more; -1: invalid. */
/* A final response head came: a success for the server, unless the pool
 * counts its status as a failure. */
static void
response_outcome(struct conn *c, int status)
{
    struct proxy *p = c->px;
    const struct conf_server *s = p->u->srv;
    struct shm_server *ss = shm_server(c->w->args->shm, s->slot);

    for (size_t i = 0; i < p->pool->nfail_status; i++)
        if (p->pool->fail_status[i] == status) {
            char why[64];
            snprintf(why, sizeof(why), "status %d", status);
            srv_failure(ss, p->pool, s, ev_now(c->w->loop), why);
            return;
        }
    srv_success(ss, p->pool, s);
}

static int
parse_response(struct conn *c, const char **why)
{
    struct proxy *p = c->px;
    struct upstream *u = p->u;
    struct http_response resp;

    for (;;) {
        int r = http_parse_response(u->in, u->in_len, UP_BUF, &resp, why);
        if (r <= 0)
            return r;
        p->status = resp.status;
        if (resp.status < 200 && resp.status != 101) {
            /* 100 Continue, 103 Early Hints: forwarded as they are. */
            p->resp_body = B_NONE;
            if (p->expect_wait && resp.status == 100 && !c->http10) {
                /* the client is told to send: its body_timeout starts */
                p->expect_wait = false;
                p->body_at = ev_now(c->w->loop);
            }
            if (!c->http10 && build_response_head(c, &resp) < 0)
                return -1;
            if (c->http10)
                p->rhead_len = p->rhead_off = 0;
            memmove(u->in, u->in + r, u->in_len - (size_t)r);
            u->in_len -= (size_t)r;
            return 1;
        }
        p->head_seen = true;
        response_outcome(c, resp.status);
        bool no_body = p->method == HTTP_HEAD || resp.status == 204 ||
                       resp.status == 304 || resp.status == 101;
        p->up_keep = !resp.conn_close && resp.version == 11;
        if (no_body) {
            p->resp_body = B_NONE;
            p->resp_done = resp.status != 101;
        } else if (resp.chunked) {
            p->resp_body = B_CHUNKED;
            chunk_init(&p->resp_chunk);
            if (p->dechunk)
                c->close_after = true;  /* HTTP/1.0: the close ends it */
        } else if (resp.content_length >= 0) {
            p->resp_body = B_LENGTH;
            p->resp_left = resp.content_length;
            p->resp_done = resp.content_length == 0;
        } else {
            p->resp_body = B_CLOSE;     /* ends when the server closes */
            p->up_keep = false;
            c->close_after = true;      /* the client sees the end that way */
        }
        if (resp.status == 101) {
            p->tunnel = true;
            p->up_keep = false;
            c->close_after = true;
        }
        if (!p->req_done)
            c->close_after = c->unread = true;  /* answered mid-body */
        if (c->w->draining || c->l->keepalive_timeout == 0)
            c->close_after = true;      /* no keep-alive */
        if (build_response_head(c, &resp) < 0)
            return -1;
        memmove(u->in, u->in + r, u->in_len - (size_t)r);
        u->in_len -= (size_t)r;
        u->ready = 0;
        return 1;
    }
}

static void
proxy_finish(struct conn *c)
{
    struct proxy *p = c->px;
    struct upstream *u = p->u;
    bool keep = p->up_keep && p->req_done && p->resp_body != B_CLOSE &&
                u->in_len == 0;

    p->u = NULL;
    up_release(u, keep);
    if (c->rl != NULL)
        c->rl->upstream_ms = ev_now(c->w->loop) - c->rl->upstream_start;
    /* What follows the body in c->in is the next request. */
    size_t used = p->in_sent + p->in_ready;
    if (used > c->in_len)
        used = c->in_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->state = CS_WRITE;        /* request_done takes it from here, */
    http_request_done(c);       /* and gives p back */
}

/* The server stopped taking the request (EPIPE, a reset): it may have
 * answered already (413, say) and closed. Stop sending and read what it
 * said; the read decides between that answer and a failure. -1 when the
 * exchange was ended here. */
static int
send_broken(struct conn *c, int err)
{
    struct proxy *p = c->px;

    if (err != EPIPE && err != ECONNRESET) {
        proxy_upstream_failed(c, "send to", err);
        return -1;
    }
    p->send_broken = true;
    p->head_off = p->head_len;
    p->in_ready = 0;
    p->req_done = true;         /* nothing more goes up */
    p->up_keep = false;
    c->close_after = c->unread = true;  /* the rest of the body is not read */
    return 0;
}

/* Writes to the server; the caller advances by *sent. 1: bytes went, or
 * the server stopped reading and send_broken took over; 0: it would
 * block; -1: the exchange was ended here. */
static int
send_up(struct conn *c, const char *buf, size_t len, size_t *sent)
{
    struct proxy *p = c->px;
    ssize_t n = up_write(p->u, buf, len);

    *sent = 0;
    if (n > 0) {
        *sent = (size_t)n;
        return 1;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        return send_broken(c, errno) < 0 ? -1 : 1;
    p->wait = W_UP_WRITE;
    return 0;
}

/* Writes the pending response head and the ready body bytes to the
 * client. 1: some went; 0: it would block; -1: the client is gone. */
static int
send_to_client(struct conn *c, struct proxy *p, struct upstream *u)
{
    struct iovec iov[2];
    int n_iov = 0;
    size_t head = p->rhead_len - p->rhead_off;

    if (head > 0) {
        iov[n_iov].iov_base = p->rhead + p->rhead_off;
        iov[n_iov++].iov_len = head;
    }
    if (u->ready > 0) {
        iov[n_iov].iov_base = u->in;
        iov[n_iov++].iov_len = u->ready;
    }
    ssize_t n = http_conn_writev(c, iov, n_iov);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        p->wait = W_CLIENT_WRITE;
        return 0;
    }
    size_t k = (size_t)n;
    size_t h = k < head ? k : head;
    p->rhead_off += h;
    k -= h;
    if (k > 0) {
        memmove(u->in, u->in + k, u->in_len - k);
        u->in_len -= k;
        u->ready -= k;
    }
    p->client_started = true;
    if (c->rl != NULL)
        c->rl->bytes += (uint64_t)n;
    if (p->rhead_off < p->rhead_len || u->ready > 0)
        p->wait = W_CLIENT_WRITE;
    return n > 0;
}

/* Is the exchange waiting for more of the request body from the client
 * (all it sent went up, and the body is not complete)? */
static bool
waiting_body(const struct conn *c)
{
    const struct proxy *p = c->px;

    /* A client that sent Expect: 100-continue may wait for the 100
     * before its body: until then the server is the one awaited. */
    return p->u != NULL && p->u->connected && !p->tunnel && !p->req_done &&
           !p->expect_wait && p->head_off == p->head_len &&
           p->in_ready == 0 && p->in_sent == c->in_len;
}

/* Moves what can move, in both directions, until nothing can. */
void
proxy_run(struct conn *c)
{
    struct proxy *p = c->px;
    struct worker *w = c->w;
    const char *why = NULL;

    for (int guard = 0; guard < 256; guard++) {
        struct upstream *u = p->u;
        bool moved = false;
        ssize_t n;

        if (u == NULL || !u->connected) {
            p->wait = W_CONNECT;
            break;
        }
        /* 1. the request head, then the body, to the server */
        if (p->head_off < p->head_len) {
            size_t k;
            int r = send_up(c, p->head + p->head_off,
                            p->head_len - p->head_off, &k);
            if (r < 0)
                return;
            p->head_off += k;
            moved |= r > 0;
        }
        if (p->head_off == p->head_len && !p->tunnel) {
            int sr = scan_request_body(p, c, &why);
            if (sr < 0) {
                proxy_fail(c, sr == -2 ? 413 : 400, why);
                return;
            }
            if (p->in_ready > 0) {
                size_t k;
                int r = send_up(c, c->in + p->in_sent, p->in_ready, &k);
                if (r < 0)
                    return;
                p->in_sent += k;
                p->in_ready -= k;
                moved |= r > 0;
            }
            if (!p->req_done && p->in_ready == 0 &&
                p->in_sent + p->in_held == c->in_len) {
                /* Need more body from the client: room first. */
                if (c->in_len == c->in_cap && p->in_sent > 0) {
                    memmove(c->in, c->in + p->in_sent, c->in_len - p->in_sent);
                    c->in_len -= p->in_sent;
                    p->in_sent = 0;
                    p->replayable = false;
                }
                int r = http_conn_read(c);
                if (r < 0) {
                    proxy_fail(c, 400, "client closed before the end of the "
                               "request body");
                    return;
                }
                if (r > 0) {
                    moved = true;
                    p->body_at = ev_now(w->loop);
                    p->expect_wait = false;
                } else {
                    p->wait = W_CLIENT_READ;
                }
            }
        }
        /* 2. the response, from the server */
        if (!p->resp_done || p->tunnel) {
            if (u->in == NULL && (u->in = malloc(UP_BUF)) != NULL)
                u->in_cap = UP_BUF;
            if (u->in == NULL) {
                proxy_fail(c, 500, "out of memory");
                return;
            }
            bool can = u->readable || (u->ssl != NULL && tlsio_pending(u->ssl));
            if (!p->up_eof && can && u->in_len < u->in_cap) {
                size_t room = u->in_cap - u->in_len;
                n = up_read(u, u->in + u->in_len, room);
                if (n > 0) {
                    u->in_len += (size_t)n;
                    moved = true;
                    /* drained: wait for an edge (through TLS, a read
                     * returns one record: the BIO's reads tell instead) */
                    if ((size_t)n < room && !u->hup && u->ssl == NULL)
                        u->readable = false;
                } else if (n < 0 && errno == EAGAIN) {
                    u->readable = false;
                    if (p->wait != W_UP_WRITE)
                        p->wait = W_UP_READ;
                } else if (n == 0 || errno != EINTR) {
                    /* Judged below, once what is buffered was parsed. */
                    p->up_eof = true;
                    p->up_err = n == 0 ? 0 : errno;
                    moved = true;
                }
            } else if (!p->up_eof && !can && p->wait != W_UP_WRITE) {
                p->wait = W_UP_READ;
            }
            if (!p->head_seen && u->in_len > 0 && p->rhead_off == p->rhead_len) {
                int r = parse_response(c, &why);
                if (r < 0) {
                    proxy_fail(c, 502, why ? why : "invalid response head");
                    return;
                }
                if (r > 0) {
                    moved = true;
                } else if (u->in_len == u->in_cap) {
                    /* A full buffer and still no end of the head. */
                    proxy_fail(c, 502, "response head larger than 16 KiB");
                    return;
                }
            }
            if (p->head_seen && !p->tunnel &&
                scan_response_body(p, u, &why) < 0) {
                char msg[160];
                snprintf(msg, sizeof(msg), "invalid chunked response: %s",
                         why);
                proxy_fail(c, 502, msg);
                return;
            }
            if (p->tunnel)
                u->ready = u->in_len;
            if (p->up_eof) {
                if (!p->head_seen) {
                    /* No (final) head, and no more bytes will come; with
                     * a 1xx head still to send, decide after it went. */
                    if (p->rhead_off == p->rhead_len) {
                        proxy_upstream_failed(c, "read from", p->up_err);
                        return;
                    }
                } else if (p->tunnel || p->resp_body == B_CLOSE) {
                    p->resp_done = true;
                    p->tunnel = false;
                    p->up_keep = false;
                } else if (!p->resp_done) {
                    proxy_fail(c, 502, "server closed in the middle of the "
                               "response");
                    return;
                }
            }
        }
        /* 3. to the client: the head and what is ready of the body, in
         * one writev */
        if (p->rhead_off < p->rhead_len || u->ready > 0) {
            int r = send_to_client(c, p, u);
            if (r < 0) {
                http_conn_close(c);
                return;
            }
            moved |= r > 0;
        }
        /* 4. the tunnel's other direction: client bytes go up as they come */
        if (p->tunnel && p->head_off == p->head_len) {
            if (c->in_len == 0) {
                int r = http_conn_read(c);
                if (r < 0) {
                    http_conn_close(c);
                    return;
                }
                moved |= r > 0;
            }
            if (c->in_len > 0) {
                n = up_write(u, c->in, c->in_len);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    http_conn_close(c);
                    return;
                }
                if (n > 0) {
                    memmove(c->in, c->in + n, c->in_len - (size_t)n);
                    c->in_len -= (size_t)n;
                    moved = true;
                }
            }
        }
        if (p->resp_done && !p->tunnel && p->rhead_off == p->rhead_len &&
            u->ready == 0) {
            if (p->resp_body == B_CLOSE || p->status == 101) {
                c->close_after = true;
                p->req_done = true;
            }
            proxy_finish(c);
            return;
        }
        if (!moved)
            break;
        if (guard == 255) {
            http_yield(c);      /* more to move: after the others */
            return;
        }
    }
    /* Stalled: the timer follows what we wait for. While the rest of
     * the request body is awaited from the client, that is the client,
     * within body_timeout of its last body bytes (the server is not
     * expected to answer before the whole request). */
    if (waiting_body(c) && (p->wait == W_UP_READ || p->wait == W_CLIENT_READ))
        p->wait = W_CLIENT_READ;
    uint64_t t;
    switch (p->wait) {
    case W_CONNECT:      t = (uint64_t)p->pool->connect_timeout; break;
    case W_UP_WRITE:     t = (uint64_t)p->pool->send_timeout; break;
    case W_CLIENT_READ: {
        uint64_t end = p->body_at + (uint64_t)c->l->body_timeout;
        uint64_t now = ev_now(w->loop);
        t = end > now ? end - now : 1;
        break;
    }
    case W_CLIENT_WRITE: t = (uint64_t)c->l->send_timeout; break;
    default:             t = (uint64_t)p->pool->read_timeout; break;
    }
    ev_timer_start(w->loop, &c->timer, t);
}

void
proxy_timeout(struct conn *c)
{
    struct proxy *p = c->px;
    char why[128];

    switch (p->wait) {
    case W_CONNECT:
        log_warn("pool \"%s\": connect to %s: timed out", p->pool->name,
                 p->u ? p->u->srv->address : "?");
        if (p->u != NULL) {
            const struct conf_server *s = p->u->srv;
            p->u->c = NULL;
            up_close(p->u);
            p->u = NULL;
            server_failed(c, s, "connect: timed out");
        }
        if (p->tries <= (unsigned)p->pool->retries) {
            proxy_connect(c);
            return;
        }
        proxy_fail(c, 504, "connect timed out");
        return;
    case W_CLIENT_READ:
        /* The server's connection goes with the exchange (it holds part
         * of a request): closed, never pooled; not the server's fault. */
        proxy_fail(c, 408, "client sent no request body bytes within "
                   "body_timeout");
        return;
    case W_CLIENT_WRITE: {
        char peer[ADDR_TEXT_MAX];
        addr_format(&c->peer, peer, sizeof(peer));
        log_info("client %s on \"%s\" did not read its response in time; "
                 "closing", peer, c->l->name);
        http_conn_close(c);
        return;
    }
    default:
        snprintf(why, sizeof(why), "server did not %s in time",
                 p->wait == W_UP_WRITE ? "take the request" : "answer");
        if (p->tunnel) {
            http_conn_close(c);     /* an idle tunnel ends quietly */
            return;
        }
        if (p->u != NULL && !p->head_seen)
            server_failed(c, p->u->srv, why);
        proxy_fail(c, 504, why);    /* mid-response: logged and closed */
    }
}

/* The new connection failed before carrying anything (its connect or its
 * TLS handshake): logged, held against the server, and the request goes
 * on elsewhere. */
static void
up_setup_failed(struct conn *c, bool tls, const char *detail)
{
    struct proxy *p = c->px;
    struct upstream *u = p->u;
    const struct conf_server *s = u->srv;
    char why[320];

    log_warn("pool \"%s\": %s %s: %s", p->pool->name,
             tls ? "TLS handshake with" : "connect to", s->address, detail);
    snprintf(why, sizeof(why), "%s: %s", tls ? "TLS handshake" : "connect",
             detail);
    u->c = NULL;
    up_close(u);
    p->u = NULL;
    server_failed(c, s, why);
    proxy_connect(c);
}

static void
up_event(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
    struct upstream *u = io->data;

    (void)loop;
    if (u->c == NULL) {
        /* Idle in the pool: bytes, a hang-up or an error mean the server
         * closed it or sent junk. Room to write (the ACKs of what we sent
         * arriving) means nothing. */
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            idle_remove(u);
            up_close(u);
        }
        return;
    }
    struct conn *c = u->c;
    /* A hang-up reported with the last bytes of a response: the server
     * is closing, so the connection must not go back to the pool. */
    if (ev & (EPOLLRDHUP | EPOLLHUP))
        u->hup = true;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        u->readable = true;
    if (!u->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (ev & EPOLLERR)) {
            up_setup_failed(c, false, strerror(err ? err : ECONNREFUSED));
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        u->connected = true;
    }
    if (u->ssl != NULL && !u->tls_done) {
        char why[256];
        int r = up_tls_handshake(u, why, sizeof(why));
        if (r == 0)
            return;
        if (r < 0) {
            up_setup_failed(c, true, why);
            return;
        }
    }
    proxy_run(c);
}

/* The heads are sent (or never will be): their buffers go back for other
 * connections, so an idle connection holds none. */
void
proxy_release(struct conn *c)
{
    struct proxy *p = c->px;

    if (p == NULL || p->u != NULL)
        return;
    unpick(c);
    http_block_put(c->w, &p->head, p->head_cap);
    http_block_put(c->w, &p->rhead, p->rhead_cap);
    p->head_cap = p->rhead_cap = 0;
    p->head_len = p->head_off = p->rhead_len = p->rhead_off = 0;
    p->next_free = c->w->free_px;
    c->w->free_px = p;
    c->px = NULL;
}

void
proxy_free_all(struct worker *w)
{
    while (w->free_px != NULL) {
        struct proxy *p = w->free_px;
        w->free_px = p->next_free;
        free(p);
    }
}

void
proxy_abort(struct conn *c)
{
    struct proxy *p = c->px;

    if (p == NULL)
        return;
    if (p->u != NULL) {
        p->u->c = NULL;
        up_close(p->u);
        p->u = NULL;
    }
    proxy_release(c);
}

void
proxy_free(struct conn *c)
{
    if (c->px == NULL)
        return;
    unpick(c);
    http_block_put(c->w, &c->px->head, c->px->head_cap);
    http_block_put(c->w, &c->px->rhead, c->px->rhead_cap);
    free(c->px);
    c->px = NULL;
}

/* May the exchange be dropped because the client closed its side? Only
 * once the whole request went up and before any answer went back. */
bool
proxy_client_gone(struct conn *c)
{
    struct proxy *p = c->px;

    return p != NULL && p->req_done && !p->client_started && !p->tunnel &&
           c->in_len == p->in_sent + p->in_ready;
}
