/* tcp: L4 listeners: relay bytes between a client and a pool server. */
#include "http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "pick.h"
#include "srv.h"

#define TCP_BUF 16384

/* One direction of the relay: bytes read from `from` wait in buf for `to`. */
struct tcp_dir {
    char buf[TCP_BUF];
    size_t len, off;
    bool eof;                   /* `from` has no more to send */
    bool shut;                  /* we passed the EOF on to `to` */
};

struct tcp_conn {
    struct worker *w;
    const struct conf_listener *l;
    const struct conf_server *srv;
    struct ev_io cio, uio;      /* client and upstream sockets */
    struct ev_timer timer;
    struct tcp_dir up, down;    /* client->server, server->client */
    struct tcp_conn *prev, *next;
    struct addr peer;
    struct pick_req pick;
    unsigned tries;
    bool connected;
    bool held;                  /* srv's place is taken (pick_put owed) */
};

static void tcp_event(struct ev_loop *loop, struct ev_io *io, uint32_t ev);
static void tcp_timeout(struct ev_loop *loop, struct ev_timer *t);
static void tcp_connect_next(struct tcp_conn *t);

static void
tcp_upstream_close(struct tcp_conn *t)
{
    if (t->uio.fd < 0)
        return;
    ev_io_forget(t->w->loop, &t->uio);
    close(t->uio.fd);
    t->uio.fd = -1;
}

static void
tcp_unpick(struct tcp_conn *t)
{
    if (t->held) {
        pick_put(t->w, t->srv);
        t->held = false;
    }
}

/* The server failed this connection: it counts against it, and the next
 * try goes elsewhere while another server can take it. */
static void
tcp_failed(struct tcp_conn *t, const char *why)
{
    const struct conf_pool *p = t->l->pool;

    log_warn("pool \"%s\": connect to %s: %s", p->name, t->srv->address, why);
    pick_failed(t->w, p, t->srv, &t->pick, why);
    tcp_connect_next(t);
}

static void
tcp_close(struct tcp_conn *t)
{
    struct worker *w = t->w;

    ev_timer_stop(w->loop, &t->timer);
    tcp_upstream_close(t);
    tcp_unpick(t);
    ev_io_forget(w->loop, &t->cio);
    close(t->cio.fd);
    if (t->prev)
        t->prev->next = t->next;
    else
        w->tcp_conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
    const struct conf_listener *l = t->l;
    free(t);
    http_client_gone(w, l);
}

void
tcp_close_all(struct worker *w)
{
    while (w->tcp_conns != NULL)
        tcp_close(w->tcp_conns);
}

void
tcp_accept(struct worker *w, const struct conf_listener *l, int fd,
           const struct addr *peer)
{
    struct tcp_conn *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        log_error("out of memory: dropping a connection on %s", l->address);
        close(fd);
        http_client_gone(w, l);
        return;
    }
    t->w = w;
    t->l = l;
    t->peer = *peer;
    t->uio.fd = -1;
    pick_prepare(w, l->pool, NULL, peer, &t->pick);
    ev_io_init(&t->cio, fd, tcp_event, t);
    ev_timer_init(&t->timer, tcp_timeout, t);
    t->next = w->tcp_conns;
    if (w->tcp_conns)
        w->tcp_conns->prev = t;
    w->tcp_conns = t;
    if (ev_io_start(w->loop, &t->cio,
                    EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        log_error("epoll_ctl: %s", strerror(errno));
        tcp_close(t);
        return;
    }
    tcp_connect_next(t);
}

static void
tcp_connect_next(struct tcp_conn *t)
{
    const struct conf_pool *p = t->l->pool;
    char peer[ADDR_TEXT_MAX];

    tcp_upstream_close(t);
    for (;;) {
        bool full = false;
        tcp_unpick(t);
        const struct conf_server *s = t->tries++ <= (unsigned)p->retries
                                      ? pick_server(t->w, p, &t->pick, &full)
                                      : NULL;
        if (s == NULL) {
            addr_format(&t->peer, peer, sizeof(peer));
            log_error("listener \"%s\": client %s: no server of pool \"%s\" "
                      "%s", t->l->name, peer, p->name, t->pick.tried
                      ? "could be reached" : full ? "has room (max_conns)"
                      : "is available");
            tcp_close(t);
            return;
        }
        t->srv = s;
        t->held = true;
        int fd = socket(s->addr.sa.sa_family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            log_error("socket: %s", strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        t->uio.fd = fd;
        if (connect(fd, &s->addr.sa, s->addr.len) < 0 &&
            errno != EINPROGRESS) {
            char why[128];
            snprintf(why, sizeof(why), "%s", strerror(errno));
            tcp_upstream_close(t);
            tcp_failed(t, why);
            return;
        }
        ev_io_init(&t->uio, fd, tcp_event, t);
        if (ev_io_start(t->w->loop, &t->uio,
                        EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
            tcp_upstream_close(t);
            continue;
        }
        t->connected = false;
        ev_timer_start(t->w->loop, &t->timer, (uint64_t)p->connect_timeout);
        return;
    }
}

/* Moves bytes from one socket to the other until neither can go on.
 * 0: keep going; -1: the connection is finished or broken. */
static int
tcp_pump(struct tcp_dir *d, int from, int to)
{
    for (;;) {
        while (d->off < d->len) {
            ssize_t n = write(to, d->buf + d->off, d->len - d->off);
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            d->off += (size_t)n;
        }
        d->off = d->len = 0;
        if (d->eof) {
            if (!d->shut) {
                shutdown(to, SHUT_WR);
                d->shut = true;
            }
            return 0;
        }
        ssize_t n = read(from, d->buf, sizeof(d->buf));
        if (n == 0) {
            d->eof = true;
            continue;
        }
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        d->len = (size_t)n;
    }
}

static void
tcp_event(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
    struct tcp_conn *t = io->data;
    const struct conf_pool *p = t->l->pool;

    (void)loop;
    if (!t->connected) {
        if (io == &t->cio) {
            if (ev & (EPOLLERR | EPOLLHUP)) {
                tcp_close(t);   /* the client left before we connected */
                return;
            }
            return;             /* its bytes wait in the socket */
        }
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(t->uio.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (ev & EPOLLERR)) {
            tcp_failed(t, strerror(err ? err : ECONNREFUSED));
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        t->connected = true;
        srv_success(shm_server(t->w->args->shm, t->srv->slot), p, t->srv);
    }
    if (tcp_pump(&t->up, t->cio.fd, t->uio.fd) < 0 ||
        tcp_pump(&t->down, t->uio.fd, t->cio.fd) < 0 ||
        (t->up.shut && t->down.shut)) {
        tcp_close(t);
        return;
    }
    ev_timer_start(t->w->loop, &t->timer, (uint64_t)p->read_timeout);
}

static void
tcp_timeout(struct ev_loop *loop, struct ev_timer *tm)
{
    struct tcp_conn *t = tm->data;

    (void)loop;
    if (!t->connected) {
        tcp_failed(t, "timed out");
        return;
    }
    tcp_close(t);               /* idle for read_timeout */
}
