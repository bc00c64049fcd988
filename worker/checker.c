/* checker: the one process that runs active health checks for all pools
 * (and serves the admin API).  Every check is a non-blocking socket in
 * one epoll loop, bounded by the pool's timeout; the verdicts go to
 * shared memory through srv_check_result. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "event.h"
#include "http_chunk.h"
#include "http_resp.h"
#include "log.h"
#include "rx.h"
#include "tls.h"
#include "tlsio.h"
#include "srv.h"
#include "worker.h"

#define CHECK_READ_MAX  (64 * 1024)     /* response bytes read at most */

enum { PR_IDLE, PR_CONNECTING, PR_HANDSHAKE, PR_SENDING, PR_READING };
enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

struct checker;

/* One server of a pool with a health block: its next check, or the
 * check in progress. */
struct probe {
    struct checker *ck;
    const struct conf_pool *pool;
    const struct conf_server *srv;
    struct shm_server *ss;
    struct ev_io io;
    struct ev_timer timer;      /* idle: next check; running: its timeout */
    int state;
    uint64_t started_ms;        /* loop time at the start of the check */
    uint64_t t0_us;
    char *req;                  /* the HTTP request, built once */
    size_t req_len, sent;
    char *buf;                  /* the response, CHECK_READ_MAX at most */
    size_t len;
    bool head_done;
    struct http_response resp;
    int body_mode;
    struct chunk_dec dec;
    size_t scanned;             /* chunked: bytes of buf scanned */
    char *body;                 /* chunked: the decoded body */
    size_t body_len;
    SSL *ssl;                   /* the pool's TLS, or NULL */
    bool readable;              /* (tlsio's edge flag; unused: level-triggered) */
};

struct checker {
    struct worker_args *args;
    struct ev_loop *loop;
    struct probe *probes;
    size_t nprobes;
    uint64_t rng;
    pcre2_match_data *md;
    struct admin *admin;
    struct ev_io sig;
    bool draining;
};

static uint64_t
rnd(struct checker *ck)
{
    /* xorshift64*: spreading checks in time needs nothing better. */
    ck->rng ^= ck->rng >> 12;
    ck->rng ^= ck->rng << 25;
    ck->rng ^= ck->rng >> 27;
    return ck->rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The interval with +-10% jitter, so checks that started together drift
 * apart. */
static uint64_t
jittered(struct checker *ck, int64_t interval)
{
    uint64_t i = (uint64_t)interval, j = i / 10;

    return i - j + rnd(ck) % (2 * j + 1);
}

static void probe_timer(struct ev_loop *loop, struct ev_timer *t);
static void probe_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);

static void
probe_release(struct probe *pr)
{
    struct ev_loop *loop = pr->ck->loop;

    if (pr->ssl != NULL) {
        tlsio_free(pr->ssl);
        pr->ssl = NULL;
    }
    if (pr->io.fd >= 0) {
        ev_io_stop(loop, &pr->io);
        ev_io_forget(loop, &pr->io);
        close(pr->io.fd);
        pr->io.fd = -1;
    }
    free(pr->buf);
    free(pr->body);
    pr->buf = pr->body = NULL;
    pr->len = pr->body_len = 0;
    pr->state = PR_IDLE;
}

/* The check is over: report it and schedule the next one an interval
 * (with jitter) after this one started.  A check that outlasted its
 * interval (timeout may exceed interval) was never started a second time:
 * the probe's one timer was its timeout.  The rounds that came due while
 * it ran are skipped, as HAProxy does, so the next check keeps to the
 * interval's grid instead of starting the moment the slow one ended. */
static void
probe_done(struct probe *pr, bool ok, const char *why)
{
    struct checker *ck = pr->ck;
    uint64_t lat = now_us() - pr->t0_us;
    const struct conf_health *h = pr->pool->health;

    probe_release(pr);
    if (!ok)
        log_debug("health check %s/%s failed: %s", pr->pool->name,
                  pr->srv->address, why);
    srv_check_result(pr->ss, pr->pool, pr->srv, ok, srv_now(),
                     lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat,
                     ok ? "" : why);
    uint64_t next = pr->started_ms + jittered(ck, h->interval);
    uint64_t now = ev_now(ck->loop);
    if (next <= now) {
        uint64_t skip = (now - next) / (uint64_t)h->interval + 1;
        next += skip * (uint64_t)h->interval;
        log_debug("health check %s/%s took %llu ms, over its interval: "
                  "%llu round(s) skipped", pr->pool->name, pr->srv->address,
                  (unsigned long long)(now - pr->started_ms),
                  (unsigned long long)skip);
    }
    ev_timer_start(ck->loop, &pr->timer, next > now ? next - now : 0);
}

static bool
status_expected(const struct conf_health *h, int status)
{
    if (h->nexpect == 0)
        return status >= 200 && status < 400;
    for (size_t i = 0; i < h->nexpect; i++)
        if (h->expect[i] == status)
            return true;
    return false;
}

static void
body_append(void *ctx, const char *p, size_t n)
{
    struct probe *pr = ctx;

    if (n > CHECK_READ_MAX - pr->body_len)
        n = CHECK_READ_MAX - pr->body_len;
    memcpy(pr->body + pr->body_len, p, n);
    pr->body_len += n;
}

static void
body_judge(struct probe *pr, const char *body, size_t len)
{
    int r = rx_match(pr->pool->health->body_re, body, len, pr->ck->md,
                     "a failed check");
    if (r > 0)
        probe_done(pr, true, NULL);
    else
        probe_done(pr, false, r < 0 ? "body pattern hit the regex limits"
                                    : "body does not match");
}

/* What was read so far: judged when enough is there.  eof: the server
 * closed its side; full: nothing more will be read. */
static void
probe_parse(struct probe *pr, bool eof)
{
    const struct conf_health *h = pr->pool->health;
    bool full = pr->len == CHECK_READ_MAX;

    while (!pr->head_done) {
        const char *why = NULL;
        int r = http_parse_response(pr->buf, pr->len, CHECK_READ_MAX,
                                    &pr->resp, &why);
        if (r < 0) {
            probe_done(pr, false, "invalid response");
            return;
        }
        if (r == 0) {
            if (full)
                probe_done(pr, false, "invalid response");
            else if (eof)
                probe_done(pr, false, "connection closed");
            return;
        }
        if (pr->resp.status >= 100 && pr->resp.status < 200 &&
            pr->resp.status != 101) {
            /* An interim response: the final one follows. */
            memmove(pr->buf, pr->buf + r, pr->len - (size_t)r);
            pr->len -= (size_t)r;
            continue;
        }
        pr->head_done = true;
        if (!status_expected(h, pr->resp.status)) {
            char why_s[32];
            snprintf(why_s, sizeof(why_s), "status %d", pr->resp.status);
            probe_done(pr, false, why_s);
            return;
        }
        if (h->body_re == NULL) {
            probe_done(pr, true, NULL);
            return;
        }
        bool bodiless = strcmp(h->method, "HEAD") == 0 ||
                        pr->resp.status == 204 || pr->resp.status == 304 ||
                        pr->resp.status == 101;
        if (bodiless) {
            body_judge(pr, "", 0);
            return;
        }
        if (pr->resp.chunked) {
            pr->body_mode = BODY_CHUNKED;
            chunk_init(&pr->dec);
            pr->scanned = pr->resp.head_len;
            pr->body = malloc(CHECK_READ_MAX);
            if (pr->body == NULL) {
                probe_done(pr, false, "out of memory");
                return;
            }
        } else if (pr->resp.content_length >= 0) {
            pr->body_mode = BODY_LENGTH;
        } else {
            pr->body_mode = BODY_EOF;
        }
    }

    const char *body = pr->buf + pr->resp.head_len;
    size_t have = pr->len - pr->resp.head_len;
    switch (pr->body_mode) {
    case BODY_LENGTH:
        if (have >= (uint64_t)pr->resp.content_length) {
            body_judge(pr, body, (size_t)pr->resp.content_length);
        } else if (full) {
            body_judge(pr, body, have);     /* the first 64 KiB */
        } else if (eof) {
            probe_done(pr, false, "connection closed");
        }
        return;
    case BODY_CHUNKED: {
        static const struct chunk_limits lim = { 4096, 16384 };
        size_t used = 0;
        const char *why = NULL;
        int r = chunk_scan(&pr->dec, &lim, pr->buf + pr->scanned,
                           pr->len - pr->scanned, &used, body_append, pr,
                           &why);
        pr->scanned += used;
        if (r == CHUNK_ERROR)
            probe_done(pr, false, "invalid response");
        else if (r == CHUNK_DONE || full)
            body_judge(pr, pr->body, pr->body_len);
        else if (eof)
            probe_done(pr, false, "connection closed");
        return;
    }
    default:
        if (eof || full)
            body_judge(pr, body, have);
        return;
    }
}

static void
probe_read(struct probe *pr)
{
    for (;;) {
        if (pr->len == CHECK_READ_MAX) {
            probe_parse(pr, false);
            return;
        }
        ssize_t n = pr->ssl != NULL
                    ? tlsio_read(pr->ssl, pr->buf + pr->len,
                                 CHECK_READ_MAX - pr->len)
                    : recv(pr->io.fd, pr->buf + pr->len,
                           CHECK_READ_MAX - pr->len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                probe_parse(pr, false);
                return;
            }
            char why[128];
            snprintf(why, sizeof(why), "read: %s", strerror(errno));
            probe_done(pr, false, why);
            return;
        }
        if (n == 0) {
            probe_parse(pr, true);
            return;
        }
        pr->len += (size_t)n;
    }
}

static void
probe_send(struct probe *pr)
{
    while (pr->sent < pr->req_len) {
        struct iovec iov = { pr->req + pr->sent, pr->req_len - pr->sent };
        ssize_t n = pr->ssl != NULL
                    ? tlsio_writev(pr->ssl, &iov, 1, NULL, 0)
                    : send(pr->io.fd, pr->req + pr->sent,
                           pr->req_len - pr->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_modify(pr->ck->loop, &pr->io, EPOLLOUT);
                return;
            }
            char why[128];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            probe_done(pr, false, why);
            return;
        }
        pr->sent += (size_t)n;
    }
    pr->state = PR_READING;
    pr->buf = malloc(CHECK_READ_MAX);
    if (pr->buf == NULL) {
        probe_done(pr, false, "out of memory");
        return;
    }
    ev_io_modify(pr->ck->loop, &pr->io, EPOLLIN | EPOLLRDHUP);
}

/* Connected (and through TLS when the pool has it): a tcp check has
 * passed, an http one sends its request. */
static void
probe_ready(struct probe *pr)
{
    if (pr->pool->health->type == HC_TCP) {
        probe_done(pr, true, NULL);
        return;
    }
    pr->state = PR_SENDING;
    pr->sent = 0;
    probe_send(pr);
}

/* The pool's TLS: the check passes through a handshake first (for a tcp
 * check, the handshake is the check). */
static void
probe_handshake(struct probe *pr)
{
    char why[300], msg[340];
    bool plain;

    int r = tlsio_handshake(pr->ssl, why, sizeof(why), &plain);
    if (r == TLSIO_AGAIN) {
        ev_io_modify(pr->ck->loop, &pr->io,
                     SSL_want_write(pr->ssl) ? EPOLLOUT : EPOLLIN);
        return;
    }
    if (r == TLSIO_FAILED) {
        snprintf(msg, sizeof(msg), "TLS handshake: %s", why);
        probe_done(pr, false, msg);
        return;
    }
    probe_ready(pr);
}

static void
probe_connected(struct probe *pr)
{
    if (pr->pool->tls != NULL) {
        pr->ssl = tlsio_new(pr->pool->tls->ctx, pr->io.fd, &pr->readable,
                            false);
        if (pr->ssl == NULL) {
            probe_done(pr, false, "cannot start TLS");
            return;
        }
        tls_client_names(pr->ssl, pr->pool->tls, pr->srv->address);
        pr->state = PR_HANDSHAKE;
        probe_handshake(pr);
        return;
    }
    probe_ready(pr);
}

static void
probe_start(struct probe *pr)
{
    struct checker *ck = pr->ck;
    const struct conf_health *h = pr->pool->health;
    char why[128];

    /* A disabled server is not checked; its verdict stays as it was. */
    if (atomic_load(&pr->ss->admin_state) == SRV_DISABLED) {
        ev_timer_start(ck->loop, &pr->timer, jittered(ck, h->interval));
        return;
    }
    pr->started_ms = ev_now(ck->loop);
    pr->t0_us = now_us();
    pr->head_done = false;
    pr->body_mode = BODY_NONE;
    const struct addr *a = &pr->srv->addr;
    int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        probe_done(pr, false, why);
        return;
    }
    ev_io_init(&pr->io, fd, probe_io, pr);
    pr->state = PR_CONNECTING;
    ev_timer_start(ck->loop, &pr->timer, (uint64_t)h->timeout);
    int r;
    do
        r = connect(fd, &a->sa, a->len);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EINPROGRESS) {
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        probe_done(pr, false, why);
        return;
    }
    if (ev_io_start(ck->loop, &pr->io, EPOLLOUT) < 0) {
        snprintf(why, sizeof(why), "epoll: %s", strerror(errno));
        close(fd);
        pr->io.fd = -1;
        probe_done(pr, false, why);
        return;
    }
    if (r == 0)
        probe_connected(pr);
}

static void
probe_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct probe *pr = io->data;

    (void)loop;
    switch (pr->state) {
    case PR_CONNECTING: {
        int err = 0;
        socklen_t l = sizeof(err);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
            err = errno;
        if (err == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (err != 0) {
            char why[128];
            snprintf(why, sizeof(why), "connect: %s", strerror(err));
            probe_done(pr, false, why);
            return;
        }
        probe_connected(pr);
        return;
    }
    case PR_HANDSHAKE:
        probe_handshake(pr);
        return;
    case PR_SENDING:
        probe_send(pr);
        return;
    case PR_READING:
        probe_read(pr);
        return;
    default:
        return;
    }
}

static void
probe_timer(struct ev_loop *loop, struct ev_timer *t)
{
    struct probe *pr = t->data;

    (void)loop;
    if (pr->state == PR_IDLE) {
        probe_start(pr);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "timeout after %lld ms",
             (long long)pr->pool->health->timeout);
    probe_done(pr, false, why);
}

static int
build_request(struct probe *pr)
{
    const struct conf_health *h = pr->pool->health;
    const char *host = h->host ? h->host : pr->srv->address;
    const char *fmt = "%s %s HTTP/1.1\r\nHost: %s\r\n"
                      "User-Agent: cerberus-health-check\r\n"
                      "Connection: close\r\n\r\n";
    int n = snprintf(NULL, 0, fmt, h->method, h->path, host);

    pr->req = malloc((size_t)n + 1);
    if (pr->req == NULL)
        return -1;
    snprintf(pr->req, (size_t)n + 1, fmt, h->method, h->path, host);
    pr->req_len = (size_t)n;
    return 0;
}

static int
probes_init(struct checker *ck)
{
    const struct conf *c = ck->args->conf;
    size_t n = 0;

    for (size_t p = 0; p < c->npools; p++)
        if (c->pools[p].health != NULL)
            n += c->pools[p].nservers;
    ck->probes = calloc(n + 1, sizeof(*ck->probes));
    if (ck->probes == NULL)
        return -1;
    for (size_t p = 0; p < c->npools; p++) {
        const struct conf_pool *pool = &c->pools[p];
        if (pool->health == NULL)
            continue;
        for (size_t s = 0; s < pool->nservers; s++) {
            struct probe *pr = &ck->probes[ck->nprobes++];
            pr->ck = ck;
            pr->pool = pool;
            pr->srv = &pool->servers[s];
            pr->ss = shm_server(ck->args->shm, pr->srv->slot);
            pr->io.fd = -1;
            ev_timer_init(&pr->timer, probe_timer, pr);
            if (pool->health->type == HC_HTTP && build_request(pr) < 0)
                return -1;
            /* The first check somewhere in the first interval, so that
             * servers (and checkers after a reload) do not all go at once. */
            ev_timer_start(ck->loop, &pr->timer,
                           rnd(ck) % (uint64_t)pool->health->interval);
        }
    }
    return 0;
}

static void
probes_stop(struct checker *ck)
{
    for (size_t i = 0; i < ck->nprobes; i++) {
        probe_release(&ck->probes[i]);
        ev_timer_stop(ck->loop, &ck->probes[i].timer);
    }
}

static void
probes_free(struct checker *ck)
{
    if (ck->probes == NULL)
        return;
    probes_stop(ck);
    for (size_t i = 0; i < ck->nprobes; i++)
        free(ck->probes[i].req);
    free(ck->probes);
    ck->probes = NULL;
}

static void
admin_idle(void *arg)
{
    struct checker *ck = arg;

    if (ck->draining)
        ev_break(ck->loop);
}

static void
on_signal(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct checker *ck = io->data;
    struct signalfd_siginfo si;

    (void)events;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGUSR1:
            log_reopen();
            break;
        case SIGTERM:
        case SIGINT:
            ev_break(loop);
            return;
        case SIGQUIT:
            /* A new checker has taken over (or the daemon stops): no more
             * checks, no new admin connection (the next checker accepts
             * them on the same socket); those in progress are finished,
             * then admin_idle ends the loop. */
            if (!ck->draining) {
                ck->draining = true;
                probes_stop(ck);
                if (ck->admin != NULL)
                    admin_drain(ck->admin);
                else
                    ev_break(loop);
            }
            break;
        default:
            break;
        }
    }
}

int
checker_main(struct worker_args *a)
{
    struct checker ck = { .args = a };
    int sfd = child_signalfd();
    int rc = 1;

    ck.loop = ev_loop_new(256);
    ck.md = pcre2_match_data_create(1, NULL);
    int rxs = rx_setup((uint32_t)a->conf->regex_match_limit,
                       (uint32_t)a->conf->regex_depth_limit);
    if (getrandom(&ck.rng, sizeof(ck.rng), 0) != sizeof(ck.rng) ||
        ck.rng == 0)
        ck.rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL + now_us();
    if (sfd < 0 || ck.loop == NULL || ck.md == NULL || rxs < 0) {
        child_fail(a, "checker: cannot set up its event loop: %s",
                   strerror(errno));
        goto out;
    }
    if (probes_init(&ck) < 0) {
        child_fail(a, "checker: out of memory");
        goto out;
    }
    if (a->admin_fd >= 0) {
        ck.admin = admin_start(ck.loop, a, admin_idle, &ck);
        if (ck.admin == NULL) {
            child_fail(a, "checker: cannot serve the admin API");
            goto out;
        }
    }
    ev_io_init(&ck.sig, sfd, on_signal, &ck);
    ev_io_start(ck.loop, &ck.sig, EPOLLIN);
    if (ck.nprobes > 0 || ck.admin != NULL)
        log_debug("checker: %zu servers to check%s", ck.nprobes,
                  ck.admin ? ", admin API" : "");
    child_ready(a);
    ev_run(ck.loop);
    rc = 0;
out:
    admin_free(ck.admin);
    probes_free(&ck);
    if (ck.md != NULL)
        pcre2_match_data_free(ck.md);
    rx_teardown();
    ev_loop_free(ck.loop);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
