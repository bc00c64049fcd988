/* worker: a worker process: its event loop, signals and listening sockets. */
#include "http.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "rx.h"
#include "gateway.h"
#include "pick.h"
#include "tls.h"

#include <openssl/ssl.h>
#include "proxy.h"

static void
on_signal(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct worker *w = io->data;
    struct signalfd_siginfo si;

    (void)events;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            log_debug("worker %d: fast stop", w->args->slot);
            http_close_all(w);
            tcp_close_all(w);
            ev_break(loop);
            return;
        case SIGQUIT:
            if (!w->draining) {
                log_debug("worker %d: draining %zu connections",
                          w->args->slot, w->nconns);
                http_drain(w);
            }
            break;
        case SIGUSR1:
            log_reopen();
            alog_reopen(w);
            break;
        default:
            break;
        }
    }
    if (w->draining && w->nconns == 0)
        ev_break(loop);
}

int
worker_main(struct worker_args *a)
{
    struct worker w = { .args = a, .conf = a->conf };
    const struct conf *c = a->conf;

    w.stats = &a->shm->stats[a->row];
    w.loop = ev_loop_new(512);
    int sfd = child_signalfd();
    w.lconns = calloc(c->nlisteners + 1, sizeof(*w.lconns));
    size_t nfds = 0;
    for (size_t i = 0; i < c->nlisteners; i++)
        nfds += (size_t)a->listeners[i].nfds;
    w.lsn = calloc(nfds + 1, sizeof(*w.lsn));
    w.match_data = pcre2_match_data_create(32, NULL);
    int rxs = rx_setup((uint32_t)c->regex_match_limit,
                       (uint32_t)c->regex_depth_limit);
    w.rr = calloc(c->npools + 1, sizeof(*w.rr));
    w.scratch = malloc(WORKER_SCRATCH);
    for (size_t i = 0; i < c->nlisteners; i++)
        if ((size_t)c->listeners[i].max_header_size > w.pathbuf_size)
            w.pathbuf_size = (size_t)c->listeners[i].max_header_size;
    w.pathbuf = malloc(++w.pathbuf_size);
    w.nidle = a->shm->hdr->max_servers;
    w.idle = calloc(w.nidle, sizeof(*w.idle));
    w.idle_count = calloc(c->npools + 1, sizeof(*w.idle_count));
    if (getrandom(&w.rng, sizeof(w.rng), 0) != sizeof(w.rng) || w.rng == 0)
        w.rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL + 1;
    if (w.loop == NULL || sfd < 0 || w.lconns == NULL || w.lsn == NULL ||
        w.match_data == NULL || rxs < 0 || w.rr == NULL || w.scratch == NULL ||
        w.pathbuf == NULL || w.idle == NULL || w.idle_count == NULL) {
        child_fail(a, "worker %d: cannot set up its event loop: %s", a->slot,
                   strerror(errno));
        return 1;
    }
    if (alog_open_all(&w) < 0) {
        child_fail(a, "worker %d: cannot open its access logs (see the error "
                   "log)", a->slot);
        return 1;
    }
    int64_t lifetime = 0;
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct conf_tls *t = c->listeners[i].tls;
        if (t != NULL && (lifetime == 0 || t->ticket_key_lifetime < lifetime))
            lifetime = t->ticket_key_lifetime;
    }
    tls_tickets_attach(&a->shm->hdr->tickets, lifetime);
    for (size_t i = 0; i < c->nlisteners; i++)
        if (c->listeners[i].tls != NULL)
            tls_server_session_cache(c->listeners[i].tls);
    for (size_t i = 0; i < c->npools && w.up_sess == NULL; i++)
        if (c->pools[i].tls != NULL)
            w.up_sess = calloc(w.nidle, sizeof(*w.up_sess));
    if (gw_init(&w) < 0 || pick_init(&w) < 0) {
        child_fail(a, "worker %d: cannot set up balancing: %s", a->slot,
                   strerror(errno));
        return 1;
    }
    ev_timer_init(&w.idle_check, proxy_idle_check, &w);
    ev_timer_start(w.loop, &w.idle_check, IDLE_CHECK_MS);
    ev_timer_init(&w.pending_timer, http_run_pending, &w);
    ev_timer_init(&w.resume_timer, http_resume_accept, &w);
    ev_io_init(&w.sig_io, sfd, on_signal, &w);
    ev_io_start(w.loop, &w.sig_io, EPOLLIN);
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct worker_listener *wl = &a->listeners[i];
        for (int k = 0; k < wl->nfds; k++) {
            struct wlisten *ls = &w.lsn[w.nlsn++];
            ls->w = &w;
            ls->conf = wl->conf;
            ev_io_init(&ls->io, wl->fds[k], http_accept, ls);
            if (ev_io_start(w.loop, &ls->io, EPOLLIN) < 0) {
                child_fail(a, "worker %d: epoll: %s", a->slot,
                           strerror(errno));
                return 1;
            }
            ls->active = true;
        }
    }
    child_ready(a);
    log_debug("worker %d ready (generation %u, %zu sockets)", a->slot,
              a->generation, w.nlsn);
    if (ev_run(w.loop) < 0)
        log_alert("worker %d: epoll_wait: %s", a->slot, strerror(errno));
    http_close_all(&w);
    tcp_close_all(&w);
    proxy_close_idle(&w);
    alog_close_all(&w);
    http_free_pool(&w);
    proxy_free_all(&w);
    http_blocks_free(&w);
    pick_free(&w);
    gw_free(&w);
    for (unsigned i = 0; w.up_sess != NULL && i < w.nidle; i++)
        SSL_SESSION_free(w.up_sess[i]);
    free(w.up_sess);
    for (size_t i = 0; i < w.nlsn; i++)
        close(w.lsn[i].io.fd);
    pcre2_match_data_free(w.match_data);
    rx_teardown();
    free(w.lsn);
    free(w.lconns);
    free(w.rr);
    free(w.scratch);
    free(w.pathbuf);
    free(w.idle);
    free(w.idle_count);
    close(sfd);
    ev_loop_free(w.loop);
    return 0;
}
