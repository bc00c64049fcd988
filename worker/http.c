/* http: client connections of a worker: read, parse, route, answer. */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "log.h"
#include "tls.h"
#include "tlsio.h"
#include "uri.h"
#include "proxy.h"

#define IN_BUF_MIN     BLOCK_SIZE
#define ACCEPT_BATCH   1     /* per readiness report; the listener is level-triggered */
#define LINGER_MS      2000
#define DRAIN_IDLE_MS  1000
#define TLS_RECORD     16384 /* bytes gathered into one TLS record */
#define DISCARD_MAX    (1 << 20)  /* larger bodies: answer, then close */

static void conn_event(struct ev_loop *loop, struct ev_io *io, uint32_t ev);
static void conn_timeout(struct ev_loop *loop, struct ev_timer *t);
static void conn_run(struct conn *c);
static void pending_remove(struct conn *c);

/* ---- connection lifetime -------------------------------------------- */

static void
listeners_resume(struct worker *w, const struct conf_listener *l)
{
    for (size_t i = 0; i < w->nlsn; i++) {
        struct wlisten *ls = &w->lsn[i];
        if (ls->conf == l && !ls->active && !w->draining &&
            ev_io_start(w->loop, &ls->io, EPOLLIN) == 0)
            ls->active = true;
    }
}

static void
listeners_stop(struct worker *w, const struct conf_listener *l)
{
    for (size_t i = 0; i < w->nlsn; i++) {
        struct wlisten *ls = &w->lsn[i];
        if (ls->conf == l && ls->active) {
            ev_io_stop(w->loop, &ls->io);
            ls->active = false;
        }
    }
}

/* Out of descriptors: stop accepting for a second, then try again (the
 * pending connections wait in the listen backlog meanwhile). */
void
http_resume_accept(struct ev_loop *loop, struct ev_timer *t)
{
    struct worker *w = t->data;

    (void)loop;
    for (size_t i = 0; i < w->conf->nlisteners; i++) {
        const struct conf_listener *l = &w->conf->listeners[i];
        if (w->lconns[i] < (size_t)l->max_connections)
            listeners_resume(w, l);
    }
}

static void
listeners_pause(struct worker *w, const struct conf_listener *l)
{
    listeners_stop(w, l);
    uint64_t now = ev_now(w->loop);
    if (now - w->paused_log_at >= 10000 || w->paused_log_at == 0) {
        w->paused_log_at = now;
        log_warn("listener \"%s\": worker %d reached max_connections %lld; "
                 "new connections wait in the listen backlog", l->name,
                 w->args->slot, (long long)l->max_connections);
    }
}

static void
conn_close(struct conn *c)
{
    struct worker *w = c->w;

    if (c->state == CS_CLOSED)
        return;
    ev_timer_stop(w->loop, &c->timer);
    if (c->pending)
        pending_remove(c);
    proxy_abort(c);
    alog_end(c, 0);
    c->state = CS_CLOSED;
    ev_io_forget(w->loop, &c->io);
    if (c->ssl != NULL) {
        tlsio_shutdown(c->ssl);
        tlsio_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->io.fd);
    free(c->body_buf);
    c->body_buf = NULL;
    http_block_put(w, &c->head_buf, c->head_big ? 0 : BLOCK_SIZE);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    http_block_put(w, &c->in, c->in_cap);
    c->in_cap = c->in_len = 0;
    c->next = w->free_conns;
    w->free_conns = c;
    http_client_gone(w, c->l);
}

/* A client connection of listener l (HTTP or TCP) ended. */
void
http_client_gone(struct worker *w, const struct conf_listener *l)
{
    w->nconns--;
    if (w->lconns[l->index]-- == (size_t)l->max_connections)
        listeners_resume(w, l);
    atomic_fetch_sub_explicit(&w->stats->client_conns, 1,
                              memory_order_relaxed);
    if (w->draining && w->nconns == 0)
        ev_break(w->loop);
}

/* Half-close and read what the client still sends, so the kernel does not
 * answer unread data with a reset that could destroy our response. */
static void
conn_linger(struct conn *c)
{
    /* Lingering is for a client that may still be sending (a body we did
     * not read, bytes after its request): closing at once could make the
     * kernel answer them with a reset that destroys our response. With
     * nothing unread and the socket drained, close now. */
    if (!c->unread && c->in_len == 0 && c->discard == 0 && !c->readable) {
        conn_close(c);
        return;
    }
    c->state = CS_LINGER;
    if (c->ssl != NULL)
        tlsio_shutdown(c->ssl);
    shutdown(c->io.fd, SHUT_WR);
    ev_timer_start(c->w->loop, &c->timer, LINGER_MS);
    conn_run(c);
}

void
http_accept(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct wlisten *ls = io->data;
    struct worker *w = ls->w;
    const struct conf_listener *l = ls->conf;

    (void)events;
    /* A draining worker accepts nothing, even for an event that was
     * already in this epoll batch: the connection waits in the socket's
     * queue for the new generation, which shares the socket. */
    if (w->draining)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (w->lconns[l->index] >= (size_t)l->max_connections) {
            listeners_pause(w, l);
            return;
        }
        struct addr peer;
        peer.len = sizeof(peer.sin6);
        int fd = accept4(io->fd, &peer.sa, &peer.len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE) {
                log_error("accept on %s: %s; pausing this listener for 1 s",
                          l->address, strerror(errno));
                listeners_stop(w, l);
                ev_timer_start(loop, &w->resume_timer, 1000);
                return;
            }
            log_error("accept on %s: %s", l->address, strerror(errno));
            return;
        }
        w->nconns++;
        w->lconns[l->index]++;
        atomic_fetch_add_explicit(&w->stats->client_conns, 1,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&w->stats->accepted, 1,
                                  memory_order_relaxed);
        if (l->protocol == PROTO_TCP) {
            tcp_accept(w, l, fd, &peer);
            continue;
        }
        struct conn *c = w->free_conns;
        if (c != NULL) {
            w->free_conns = c->next;
        } else if ((c = calloc(1, sizeof(*c))) == NULL) {
            log_error("out of memory: dropping a connection on %s",
                      l->address);
            close(fd);
            http_client_gone(w, l);
            continue;
        }
        c->w = w;
        c->l = l;
        c->peer = peer;
        c->in_len = 0;
        c->state = CS_HEAD;
        c->discard = 0;
        c->nreq = 0;
        c->close_after = false;
        c->idle = true;
        c->readable = true;     /* the request may be there already */
        c->rdhup = false;
        c->unread = false;
        c->body_buf = NULL;
        c->head_buf = NULL;
        c->pending = false;
        c->ssl = NULL;
        if (l->tls != NULL) {
            /* The TLS state is made when the first bytes arrive (epoll
             * reports bytes already there when the socket is added): a
             * connection that sends nothing holds none. */
            c->state = CS_TLS;
            c->readable = false;
        }
        if (c->rl != NULL)
            c->rl->active = false;
        c->prev = NULL;
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        ev_timer_init(&c->timer, conn_timeout, c);
        ev_io_init(&c->io, fd, conn_event, c);
        if (ev_io_start(loop, &c->io,
                        EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
            log_error("epoll_ctl: %s", strerror(errno));
            conn_close(c);
            continue;
        }
        ev_timer_start(loop, &c->timer, (uint64_t)(l->tls
                       ? l->tls->handshake_timeout : l->header_timeout));
        conn_run(c);
    }
}

/* ---- responses ------------------------------------------------------- */

/* The IMF-fixdate of now (RFC 9110 5.6.7), formatted once a second per
 * worker; a response copies it. Not strftime: no locale may change it. */
const char *
http_date(struct worker *w)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != w->date_sec) {
        struct tm tm;
        w->date_sec = ts.tv_sec;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(w->date, sizeof(w->date),
                 "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
                 days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    return w->date;
}

/* Expands $host, $request_uri, $uri, $args, $scheme, $remote_addr,
 * $server_port and $request_method in a `return` body or location. */
static size_t
expand(struct conn *c, const struct http_request *req, const char *tpl,
       char *out, size_t cap)
{
    static const char *const names[] = {
        "request_uri", "request_method", "remote_addr", "server_port",
        "scheme", "host", "args", "uri", NULL
    };
    size_t o = 0;

    for (const char *p = tpl; *p && o < cap; p++) {
        if (*p != '$') {
            out[o++] = *p;
            continue;
        }
        int k = 0;
        for (; names[k] != NULL; k++)
            if (strncmp(p + 1, names[k], strlen(names[k])) == 0)
                break;
        if (names[k] == NULL) {
            out[o++] = *p;
            continue;
        }
        char tmp[ADDR_TEXT_MAX];
        const char *v = "";
        size_t vl = 0;
        switch (k) {
        case 0: v = req->target.p; vl = req->target.len; break;
        case 1: v = req->method.p; vl = req->method.len; break;
        case 2:
            addr_format_host(&c->peer, tmp, sizeof(tmp));
            v = tmp;
            vl = strlen(tmp);
            break;
        case 3:
            vl = (size_t)snprintf(tmp, sizeof(tmp), "%d",
                                  addr_port(&c->l->addr));
            v = tmp;
            break;
        case 4: v = "http"; vl = 4; break;
        case 5: {
            v = req->host.p;
            vl = req->host.len;
            /* $host is the name without the port. */
            const char *end = vl && v[0] == '[' ? memchr(v, ']', vl)
                            : vl ? memchr(v, ':', vl) : NULL;
            if (end)
                vl = (size_t)(end - v) + (v[0] == '[');
            break;
        }
        case 6: v = req->query.p; vl = req->query.len; break;
        case 7: v = req->path.p; vl = req->path.len; break;
        }
        if (vl > cap - o)
            vl = cap - o;
        if (vl)
            memcpy(out + o, v, vl);
        o += vl;
        p += strlen(names[k]);
    }
    return o;
}

/* A bounded response-head builder: once something does not fit, it only
 * remembers that. */
struct hbuf {
    char *p;
    size_t len, cap;
    bool over;
};

static void hb_add(struct hbuf *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
hb_add(struct hbuf *h, const char *fmt, ...)
{
    va_list ap;

    if (h->over)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(h->p + h->len, h->cap - h->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= h->cap - h->len)
        h->over = true;
    else
        h->len += (size_t)k;
}

static void
respond(struct conn *c, const struct http_request *req, int status,
        const struct conf_return *ret, const char *msg, const char *location,
        const char *extra, const char *ctype)
{
    struct worker *w = c->w;
    const char *body = msg;
    size_t blen = msg ? strlen(msg) : 0;
    struct hbuf h = { w->scratch, 0, WORKER_SCRATCH, false };

    if (ret != NULL) {
        body = ret->body;
        blen = ret->body_len;
        if (req != NULL && strchr(body, '$') != NULL) {
            size_t cap = blen + 4 * (req->head_len + 64);
            c->body_buf = malloc(cap);
            if (c->body_buf != NULL) {
                blen = expand(c, req, body, c->body_buf, cap);
                body = c->body_buf;
            }
        }
    }
    if (w->draining || c->l->keepalive_timeout == 0)
        c->close_after = true;
    /* RFC 9110 8.6: no Content-Length in 1xx and 204; in a 304 it would
     * describe another response, so none either. */
    bool no_length = status < 200 || status == 204 || status == 304;
    bool no_body = no_length || (req != NULL && req->method_id == HTTP_HEAD);
    hb_add(&h, "HTTP/1.1 %d %s\r\nServer: cerberus\r\nDate: %s\r\n",
           status, http_reason(status), http_date(w));
    if (!no_length)
        hb_add(&h, "Content-Length: %zu\r\n", blen);
    if (c->close_after)
        hb_add(&h, "Connection: close\r\n");
    else if (req != NULL && req->version == 10)
        hb_add(&h, "Connection: keep-alive\r\n");
    if (ret == NULL && msg != NULL && msg[0] != '\0')
        hb_add(&h, "Content-Type: %s\r\n", ctype ? ctype : "text/plain");
    if (extra != NULL && extra[0] != '\0')
        hb_add(&h, "%s", extra);
    if (location != NULL)
        hb_add(&h, "Location: %s\r\n", location);
    if (c->ssl != NULL && c->l->tls->hsts != NULL && status >= 200)
        hb_add(&h, "Strict-Transport-Security: %s\r\n", c->l->tls->hsts);
    if (ret != NULL && ret->location != NULL && req != NULL) {
        hb_add(&h, "Location: ");
        if (!h.over) {
            size_t room = h.cap - h.len;
            size_t k = expand(c, req, ret->location, h.p + h.len, room);
            if (k >= room)
                h.over = true;
            else
                h.len += k;
        }
        hb_add(&h, "\r\n");
    }
    for (size_t i = 0; ret != NULL && i < ret->nheaders; i++)
        hb_add(&h, "%s: %s\r\n", ret->headers[i].name, ret->headers[i].value);
    hb_add(&h, "\r\n");
    if (h.over) {
        log_error("listener \"%s\": the response head would exceed %d bytes; "
                  "answering 500", c->l->name, WORKER_SCRATCH);
        c->close_after = true;
        h.len = (size_t)snprintf(h.p, h.cap, "HTTP/1.1 500 Internal Server "
                                 "Error\r\nServer: cerberus\r\nDate: %s\r\n"
                                 "Content-Length: 0\r\nConnection: close"
                                 "\r\n\r\n", http_date(w));
        no_body = true;
    }
    http_block_put(w, &c->head_buf, c->head_big ? 0 : BLOCK_SIZE);
    c->head_buf = h.len <= BLOCK_SIZE ? http_block_get(w) : malloc(h.len);
    if (c->head_buf == NULL) {
        conn_close(c);
        return;
    }
    c->head_big = h.len > BLOCK_SIZE;
    memcpy(c->head_buf, h.p, h.len);
    c->iov[0].iov_base = c->head_buf;
    c->iov[0].iov_len = h.len;
    c->iovcnt = 1;
    if (ret == NULL && blen > 0 && !no_body && !c->head_big &&
        h.len + blen <= BLOCK_SIZE) {
        /* a message of our own goes out with the head: the caller's
         * text need not outlive this call */
        memcpy(c->head_buf + h.len, body, blen);
        c->iov[0].iov_len += blen;
    } else if (blen > 0 && !no_body) {
        c->iov[1].iov_base = (void *)body;
        c->iov[1].iov_len = blen;
        c->iovcnt = 2;
    }
    if (c->rl != NULL)
        c->rl->status = status;
    c->state = CS_WRITE;
    ev_timer_start(w->loop, &c->timer, (uint64_t)c->l->send_timeout);
}

static void
respond_error(struct conn *c, int status, const char *why)
{
    char peer[ADDR_TEXT_MAX];

    addr_format(&c->peer, peer, sizeof(peer));
    log_msg(status >= 500 ? LL_ERROR : LL_INFO, "client %s on \"%s\": %d %s: "
            "%s", peer, c->l->name, status, http_reason(status), why);
    c->close_after = true;
    c->unread = true;           /* what else it sends is unknown */
    char body[64];
    snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
    respond(c, NULL, status, NULL, body, NULL, NULL, NULL);
}

/* redirect_https: the same host and target on the TLS listener's port. */
static void
redirect_https(struct conn *c, const struct http_request *req)
{
    char host[ADDR_TEXT_MAX + 256], loc[8192];
    const struct conf_listener *t = c->l->https;
    size_t hl = req->host.len;

    if (hl > 0 && hl < 256) {
        /* the Host without its port ("[::1]:80" keeps its brackets) */
        const char *h = req->host.p, *colon = NULL;
        for (size_t i = hl; i > 0; i--)
            if (h[i - 1] == ':') {
                colon = h + i - 1;
                break;
            } else if (h[i - 1] == ']' || h[i - 1] < '0' || h[i - 1] > '9') {
                break;
            }
        if (colon != NULL)
            hl = (size_t)(colon - h);
        snprintf(host, sizeof(host), "%.*s", (int)hl, h);
    } else {
        addr_format_host(&t->addr, host, sizeof(host));
    }
    int port = addr_port(&t->addr);
    char ps[16] = "";
    if (port != 443)
        snprintf(ps, sizeof(ps), ":%d", port);
    if (req->target.p[0] == '/')
        snprintf(loc, sizeof(loc), "https://%s%s%.*s", host, ps,
                 (int)req->target.len, req->target.p);
    else
        snprintf(loc, sizeof(loc), "https://%s%s%.*s%s%.*s", host, ps,
                 (int)req->path.len, req->path.p, req->query.p ? "?" : "",
                 (int)req->query.len, req->query.p ? req->query.p : "");
    respond(c, req, 301, NULL, "301 Moved Permanently\n", loc, NULL, NULL);
}

/* A request answered here: its body is skipped, or if chunked or large,
 * the connection closes after the answer. */
static void
skip_body(struct conn *c, const struct http_request *req)
{
    /* A client that sent Expect: 100-continue may never send the body it
     * announced: what follows could be its next request, or the body.
     * Neither is guessed: the connection closes (RFC 9110 10.1.1). */
    if (req->chunked || req->content_length > DISCARD_MAX ||
        (req->expect_continue && req->content_length > 0))
        c->close_after = c->unread = true;  /* the body is not read */
    else if (req->content_length > 0)
        c->discard = req->content_length;
}

/* The gateway refused the request (or answered it itself, as a CORS
 * preflight): its status, headers and JSON body; the policy and reason
 * go to the logs. */
static void
gateway_answer(struct conn *c, const struct http_request *req, int status,
               struct gw *g)
{
    if (g->policy != NULL) {
        char peer[ADDR_TEXT_MAX];
        addr_format(&c->peer, peer, sizeof(peer));
        log_info("client %s on \"%s\": route \"%s\": %d by %s: %s", peer,
                 c->l->name, g->route->name, status, g->policy, g->reason);
        if (c->rl != NULL)
            c->rl->policy = g->policy;
    }
    skip_body(c, req);
    respond(c, req, status, NULL, g->blen ? g->body : "", NULL,
            g->headers, "application/json");
}

/* ---- request handling ------------------------------------------------ */

static void
handle_request(struct conn *c, struct http_request *req)
{
    struct worker *w = c->w;

    atomic_fetch_add_explicit(&w->stats->requests, 1, memory_order_relaxed);
    alog_begin(c, req, NULL);
    c->nreq++;
    c->close_after = req->conn_close;
    c->http10 = req->version == 10;
    c->discard = 0;
    c->unread = false;
    /* Only cerberus says who the client is: what it would say is gone
     * from the request before anything looks at it. */
    const char *why = NULL;
    if (!gw_strip_identity(w->conf, c->l, req, &why)) {
        respond_error(c, 400, why);
        return;
    }
    /* From here on the path is the normalised one: routes and deny rules
     * match it, rewrites read it and the server receives it, so that no
     * two of them can read one target two ways. The path buffer holds
     * any path a head within max_header_size has. */
    size_t nlen = 0;
    unsigned nflags = (c->l->merge_slashes ? URI_MERGE_SLASHES : 0) |
        (c->l->escaped_slashes == SLASHES_KEEP ? URI_SLASHES_KEEP : 0) |
        (c->l->escaped_slashes == SLASHES_DECODE ? URI_SLASHES_DECODE : 0);
    enum uri_result ur = uri_normalize(req->path.p, req->path.len, w->pathbuf,
                                       w->pathbuf_size, nflags, &nlen);
    if (ur != URI_OK) {
        respond_error(c, 400, uri_result_text(ur));
        return;
    }
    if (req->path.len > 0 && req->path.p[0] == '/') {
        req->path.p = w->pathbuf;
        req->path.len = nlen;
    }
    if (c->l->redirect_https) {
        skip_body(c, req);
        redirect_https(c, req);
        return;
    }
    bool refused;
    const struct conf_route *r = route_match(w, c->l, req, w->pathbuf, nlen,
                                             &refused);
    if (refused) {
        respond_error(c, 400, "a route's regular expression hit the regex "
                      "limits");
        return;
    }
    if (r != NULL) {
        gw_count_request(w, r);
        if (c->rl != NULL && c->rl->active)
            c->rl->route = r->name;
    }
    if (r != NULL && r->has_policies) {
        int st = gw_request(w->gw, c, req, r);
        if (st != 0) {
            gateway_answer(c, req, st, w->gw);
            return;
        }
    }
    if (r != NULL && r->pool != NULL) {
        proxy_start(c, req, r);     /* it reads the body itself */
        return;
    }
    skip_body(c, req);
    if (r == NULL && req->method_id == HTTP_CONNECT) {
        /* CONNECT goes only where a route's methods name it. */
        respond(c, req, 405, NULL, "405 Method Not Allowed\n", NULL,
                "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n",
                NULL);
        return;
    }
    if (r == NULL) {
        respond(c, req, 404, NULL, "404 Not Found\n", NULL, NULL, NULL);
        return;
    }
    respond(c, req, (int)r->ret->status, r->ret, NULL, NULL, NULL, NULL);
}


static void
parse_and_handle(struct conn *c)
{
    struct http_request req;
    struct http_limits lim = {
        .max_request_line = (size_t)c->l->max_request_line,
        .max_head = (size_t)c->l->max_header_size,
        .max_headers = (size_t)c->l->max_headers,
    };
    int status = 0;
    const char *why = NULL;

    int r = http_parse_request(c->in, c->in_len, &lim, &req, &status, &why);
    if (r == HTTP_PARSE_AGAIN)
        return;
    if (r < 0) {
        c->in_len = 0;
        alog_begin(c, NULL, NULL);
        respond_error(c, status, why);
        return;
    }
    c->req_head_len = (size_t)r;
    if (!c->l->underscores_in_headers)
        http_drop_underscored(&req);    /* before any route or policy */
    handle_request(c, &req);
    /* The head is no longer needed (the proxy takes it itself). */
    if (c->state == CS_CLOSED || c->req_head_len == 0)
        return;
    size_t rest = c->in_len - c->req_head_len;
    memmove(c->in, c->in + c->req_head_len, rest);
    c->in_len = rest;
    c->req_head_len = 0;
}

/* Between requests, with nothing buffered, the read block goes back to the
 * pool until bytes arrive: a silent or idle connection holds none (as nginx
 * does). A proxied exchange keeps its body buffer. */
static int
conn_read_none(struct conn *c)
{
    if (c->in_len == 0 && c->in != NULL &&
        (c->state == CS_HEAD || c->state == CS_BODY)) {
        http_block_put(c->w, &c->in, c->in_cap);
        c->in_cap = 0;
    }
    return 0;
}

/* Reads what the socket has into c->in. 1: got bytes; 0: would block;
 * -1: closed or failed. */
static int
conn_read(struct conn *c)
{
    /* Edge-triggered: without a new edge since the last EAGAIN there is
     * nothing to read, and the syscall can be saved. */
    if (!c->readable && !(c->ssl != NULL && tlsio_pending(c->ssl)))
        return 0;
    if (c->in == NULL) {
        c->in = http_block_get(c->w);
        if (c->in == NULL)
            return -1;
        c->in_cap = BLOCK_SIZE;
    }
    if (c->in_len == c->in_cap) {
        size_t max = (size_t)c->l->max_header_size + 1;
        if (c->in_cap >= max)
            return 1;           /* the parser reports the limit */
        size_t cap = c->in_cap * 2 > max ? max : c->in_cap * 2;
        char *n = realloc(c->in, cap);
        if (n == NULL)
            return -1;
        c->in = n;
        c->in_cap = cap;
    }
    size_t room = c->in_cap - c->in_len;
    if (c->ssl != NULL) {
        /* The socket's edge flag is kept by the BIO's reads. */
        ssize_t n = tlsio_read(c->ssl, c->in + c->in_len, room);
        if (c->rdhup)
            c->readable = true;
        if (n > 0) {
            c->in_len += (size_t)n;
            return 1;
        }
        if (n < 0 && errno == EAGAIN)
            return conn_read_none(c);
        return -1;
    }
    ssize_t n = read(c->io.fd, c->in + c->in_len, room);
    if (n > 0) {
        c->in_len += (size_t)n;
        /* A short read emptied the socket; new bytes bring a new edge. An
         * EOF that came with the last bytes brings none: keep reading. */
        if ((size_t)n < room && !c->rdhup)
            c->readable = false;
        return 1;
    }
    if (n < 0 && errno == EAGAIN) {
        c->readable = false;
        return conn_read_none(c);
    }
    if (n < 0 && errno == EINTR)
        return 0;
    return -1;
}

ssize_t
http_conn_writev(struct conn *c, const struct iovec *iov, int n)
{
    if (c->ssl != NULL)
        return tlsio_writev(c->ssl, iov, n, c->w->scratch, TLS_RECORD);
    return writev(c->io.fd, iov, n);
}

static int
conn_write(struct conn *c)
{
    while (c->iovcnt > 0) {
        ssize_t n = http_conn_writev(c, c->iov, c->iovcnt);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            return -1;
        }
        if (c->rl != NULL)
            c->rl->bytes += (uint64_t)n;
        size_t left = (size_t)n;
        while (left > 0 && c->iovcnt > 0) {
            if (left >= c->iov[0].iov_len) {
                left -= c->iov[0].iov_len;
                c->iov[0] = c->iov[1];
                c->iovcnt--;
            } else {
                c->iov[0].iov_base = (char *)c->iov[0].iov_base + left;
                c->iov[0].iov_len -= left;
                left = 0;
            }
        }
    }
    return 1;
}

static void
request_done(struct conn *c)
{
    struct worker *w = c->w;

    free(c->body_buf);
    c->body_buf = NULL;
    http_block_put(w, &c->head_buf, c->head_big ? 0 : BLOCK_SIZE);
    proxy_release(c);
    alog_end(c, 0);
    if (c->close_after) {
        conn_linger(c);
        return;
    }
    c->state = c->discard > 0 ? CS_BODY : CS_HEAD;
    c->idle = c->state == CS_HEAD && c->in_len == 0;
    if (c->idle) {
        http_block_put(w, &c->in, c->in_cap);      /* nothing to keep */
        c->in_cap = 0;
    }
    if (c->state == CS_BODY)
        ev_timer_start(w->loop, &c->timer, (uint64_t)c->l->body_timeout);
    else if (c->idle)
        ev_timer_start(w->loop, &c->timer,
                       w->draining ? DRAIN_IDLE_MS
                                   : (uint64_t)c->l->keepalive_timeout);
    else
        ev_timer_start(w->loop, &c->timer, (uint64_t)c->l->header_timeout);
}

/* One step of the TLS handshake: 1 when done (the connection reads its
 * first request next), 0 waiting for the socket, -1 closed. */
static int
tls_handshake(struct conn *c)
{
    char why[256];
    bool plain;
    struct worker *w = c->w;

    if (c->ssl == NULL) {
        if (!c->readable)
            return 0;           /* nothing sent yet */
        c->ssl = tlsio_new(tls_server_ctx(c->l->tls), c->io.fd, &c->readable,
                           true);
        if (c->ssl == NULL) {
            log_error("listener \"%s\": cannot start TLS: out of memory",
                      c->l->name);
            conn_close(c);
            return -1;
        }
    }
    int r = tlsio_handshake(c->ssl, why, sizeof(why), &plain);
    if (r == TLSIO_AGAIN)
        return 0;
    if (r == TLSIO_DONE) {
        atomic_fetch_add_explicit(&w->stats->tls_handshakes, 1,
                                  memory_order_relaxed);
        c->state = CS_HEAD;
        c->idle = true;
        ev_timer_start(w->loop, &c->timer, (uint64_t)c->l->header_timeout);
        return 1;
    }
    char peer[ADDR_TEXT_MAX];
    addr_format(&c->peer, peer, sizeof(peer));
    log_debug("client %s on \"%s\": TLS handshake: %s", peer, c->l->name,
              plain ? "a plain HTTP request on the TLS port" : why);
    atomic_fetch_add_explicit(&w->stats->tls_failures, 1,
                              memory_order_relaxed);
    if (plain) {
        /* As nginx does: say so in plain HTTP, then close. */
        char msg[256];
        int n = snprintf(msg, sizeof(msg),
            "HTTP/1.1 400 Bad Request\r\nServer: cerberus\r\nDate: %s\r\n"
            "Content-Type: text/plain\r\nContent-Length: 47\r\n"
            "Connection: close\r\n\r\n"
            "400 Bad Request: plain HTTP sent to a TLS port\n", http_date(w));
        ssize_t k = write(c->io.fd, msg, (size_t)n);
        (void)k;
        tlsio_free(c->ssl);
        c->ssl = NULL;
        c->unread = true;
        conn_linger(c);
        return -1;
    }
    tlsio_free(c->ssl);
    c->ssl = NULL;
    conn_close(c);
    return -1;
}

static void
conn_run(struct conn *c)
{
    struct worker *w = c->w;

    for (int guard = 0; guard < 1024; guard++) {
        switch (c->state) {
        case CS_CLOSED:
            return;
        case CS_TLS:
            if (tls_handshake(c) <= 0)
                return;
            continue;
        case CS_PROXY:
            proxy_run(c);
            return;
        case CS_WRITE: {
            int r = conn_write(c);
            if (r < 0) {
                conn_close(c);
                return;
            }
            if (r == 0)
                return;         /* EPOLLOUT will call again */
            request_done(c);
            if (c->state == CS_LINGER)
                return;
            continue;
        }
        case CS_BODY:
            if (c->in_len > 0) {
                size_t take = c->in_len < (size_t)c->discard
                            ? c->in_len : (size_t)c->discard;
                memmove(c->in, c->in + take, c->in_len - take);
                c->in_len -= take;
                c->discard -= (int64_t)take;
                if (c->discard == 0) {
                    request_done(c);
                    continue;
                }
            }
            break;
        case CS_HEAD:
            if (c->in_len > 0) {
                if (c->idle) {
                    c->idle = false;
                    ev_timer_start(w->loop, &c->timer,
                                   (uint64_t)c->l->header_timeout);
                }
                parse_and_handle(c);
                if (c->state == CS_CLOSED || c->state == CS_PROXY)
                    return;
                if (c->state != CS_HEAD)
                    continue;
            }
            break;
        case CS_LINGER: {
            char sink[4096];
            ssize_t n;
            while ((n = read(c->io.fd, sink, sizeof(sink))) > 0)
                ;
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                conn_close(c);
            return;
        }
        }
        /* Need input. */
        int r = conn_read(c);
        if (r < 0) {
            conn_close(c);
            return;
        }
        if (r == 0)
            return;
    }
    http_yield(c);
}

/* A connection that kept the loop busy yields to the others. Its bytes
 * wait in buffers or sockets whose edge was already reported, so no epoll
 * event will come for them: it is queued to go on next time round. */
void
http_yield(struct conn *c)
{
    struct worker *w = c->w;

    if (!c->pending) {
        c->pending = true;
        c->pending_next = w->pending;
        w->pending = c;
        ev_timer_start(w->loop, &w->pending_timer, 0);
    }
}

void
http_run_pending(struct ev_loop *loop, struct ev_timer *t)
{
    struct worker *w = t->data;
    struct conn *list = w->pending;

    (void)loop;
    w->pending = NULL;
    while (list != NULL) {
        struct conn *c = list;
        list = c->pending_next;
        c->pending = false;
        conn_run(c);
    }
}

static void
pending_remove(struct conn *c)
{
    struct conn **pp = &c->w->pending;

    while (*pp != NULL && *pp != c)
        pp = &(*pp)->pending_next;
    if (*pp == c)
        *pp = c->pending_next;
    c->pending = false;
}

static void
conn_event(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
    struct conn *c = io->data;

    (void)loop;
    if ((ev & EPOLLERR) != 0) {
        conn_close(c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        c->readable = true;
    if (ev & (EPOLLRDHUP | EPOLLHUP))
        c->rdhup = true;
    /* The client hung up while its answer is being fetched: give up the
     * exchange, as nginx does (logged as 499). */
    if ((ev & (EPOLLRDHUP | EPOLLHUP)) && c->state == CS_PROXY &&
        proxy_client_gone(c)) {
        char peer[ADDR_TEXT_MAX];
        addr_format(&c->peer, peer, sizeof(peer));
        log_info("client %s on \"%s\" closed the connection before the "
                 "response", peer, c->l->name);
        conn_close(c);
        return;
    }
    conn_run(c);
}

static void
conn_timeout(struct ev_loop *loop, struct ev_timer *t)
{
    struct conn *c = t->data;

    (void)loop;
    switch (c->state) {
    case CS_PROXY:
        proxy_timeout(c);
        return;
    case CS_CLOSED:
        return;
    case CS_TLS: {
        char peer[ADDR_TEXT_MAX];
        addr_format(&c->peer, peer, sizeof(peer));
        log_debug("client %s on \"%s\": TLS handshake timed out", peer,
                  c->l->name);
        atomic_fetch_add_explicit(&c->w->stats->tls_failures, 1,
                                  memory_order_relaxed);
        conn_close(c);
        return;
    }
    case CS_HEAD:
        if (c->idle || c->in_len == 0) {
            conn_close(c);      /* keep-alive timeout: close quietly */
            return;
        }
        c->in_len = 0;
        alog_begin(c, NULL, NULL);
        respond_error(c, 408, "client sent no complete request head in time");
        conn_run(c);
        return;
    case CS_BODY:
    case CS_WRITE:
    case CS_LINGER:
        conn_close(c);
        return;
    }
}

/* ---- buffers ---------------------------------------------------------- */

char *
http_block_get(struct worker *w)
{
    void *b = w->blocks;

    if (b == NULL)
        return malloc(BLOCK_SIZE);
    w->blocks = *(void **)b;
    w->nblocks--;
    return b;
}

void
http_block_put(struct worker *w, char **p, size_t cap)
{
    if (*p == NULL)
        return;
    if (cap == BLOCK_SIZE && w->nblocks < BLOCKS_KEPT) {
        *(void **)*p = w->blocks;
        w->blocks = *p;
        w->nblocks++;
    } else {
        free(*p);
    }
    *p = NULL;
}

void
http_blocks_free(struct worker *w)
{
    while (w->blocks != NULL) {
        void *b = w->blocks;
        w->blocks = *(void **)b;
        free(b);
    }
    w->nblocks = 0;
}

/* ---- for the proxy --------------------------------------------------- */

/* 32 hex digits from the worker's xorshift generator (seeded from the
 * kernel at start): unique enough to correlate logs, and no syscall. */
void
http_request_id(struct worker *w, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (int k = 0; k < 2; k++) {
        uint64_t x = w->rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w->rng = x;
        for (int i = 0; i < 16; i++)
            out[k * 16 + i] = hex[(x >> (i * 4)) & 15];
    }
    out[32] = '\0';
}

void
http_respond_error(struct conn *c, int status, const char *why)
{
    respond_error(c, status, why);
    conn_run(c);
}

void
http_request_done(struct conn *c)
{
    request_done(c);
    conn_run(c);
}

int
http_conn_read(struct conn *c)
{
    return conn_read(c);
}

void
http_conn_close(struct conn *c)
{
    conn_close(c);
}

/* ---- stopping --------------------------------------------------------- */

void
http_drain(struct worker *w)
{
    w->draining = true;
    for (size_t i = 0; i < w->nlsn; i++) {
        if (w->lsn[i].active)
            ev_io_stop(w->loop, &w->lsn[i].io);
        w->lsn[i].active = false;
    }
    /* Idle keep-alive connections get a short grace: a client that was
     * about to send gets its answer (with Connection: close) instead of a
     * connection closed under it. Busy ones close after their response. */
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        c->close_after = true;
        if (c->state == CS_HEAD && c->idle)
            ev_timer_start(w->loop, &c->timer, DRAIN_IDLE_MS);
    }
    if (w->nconns == 0)
        ev_break(w->loop);
}

void
http_close_all(struct worker *w)
{
    while (w->conns != NULL)
        conn_close(w->conns);
}

void
http_free_pool(struct worker *w)
{
    while (w->free_conns != NULL) {
        struct conn *c = w->free_conns;
        w->free_conns = c->next;
        proxy_free(c);
        free(c->rl);
        free(c->in);
        free(c);
    }
}
