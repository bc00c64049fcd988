/* listen: the master's listening sockets, one SO_REUSEPORT socket per slot. */
#include "master.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int
open_socket(const struct addr *a, int backlog, bool reuseport,
            char *err, size_t len)
{
    int one = 1;
    int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
        snprintf(err, len, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        snprintf(err, len, "SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return -1;
    }
    /* Accepted sockets inherit it (Linux): no Nagle delay on the tail of
     * a response, and no setsockopt per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* [::]:port is IPv6 only, so 0.0.0.0:port can be a listener too. */
    if (a->sa.sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, &a->sa, a->len) < 0) {
        snprintf(err, len, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        snprintf(err, len, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

struct lsock *
listen_find(struct master *m, const struct addr *a)
{
    for (size_t i = 0; i < m->nlsocks; i++)
        if (addr_equal(&m->lsocks[i].addr, a))
            return &m->lsocks[i];
    return NULL;
}

/* The admin API's one socket (the checker accepts on it, no
 * SO_REUSEPORT): kept while its address stays the same, so a reload
 * loses no queued admin request; a new address is bound before the old
 * socket is closed at commit. */
static int
admin_prepare(struct master *m, const struct conf *c, char *err, size_t len)
{
    char why[256];

    m->admin_new = -1;
    m->admin_drop = false;
    if (c->admin == NULL) {
        m->admin_drop = m->admin_fd >= 0;
        return 0;
    }
    if (m->admin_fd >= 0 && addr_equal(&m->admin_addr, &c->admin->addr))
        return 0;
    int fd = open_socket(&c->admin->addr, 128, false, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, len, "%s:%d: admin: cannot listen on %s: %s",
                 c->admin->src.file, c->admin->src.line, c->admin->address,
                 why);
        listen_rollback(m);
        return -1;
    }
    m->admin_new = fd;
    m->admin_new_addr = c->admin->addr;
    m->admin_drop = m->admin_fd >= 0;
    return 0;
}

/* The admin socket a checker running config c serves (-1: none). */
int
listen_admin_fd(const struct master *m, const struct conf *c)
{
    if (c->admin == NULL)
        return -1;
    return m->admin_new >= 0 ? m->admin_new : m->admin_fd;
}

/* Binds what the config c needs that is not open yet. Sockets already
 * open for an address are kept (their queued connections with them), and
 * never closed when the number of workers shrinks: the remaining workers
 * adopt them (slot i accepts on every socket j with j % workers == i),
 * because closing a SO_REUSEPORT socket resets the connections queued on
 * it. New sockets are marked unused until listen_commit. */
int
listen_prepare(struct master *m, struct conf *c, char *err, size_t len)
{
    char why[256];

    for (size_t i = 0; i < m->nlsocks; i++) {
        m->lsocks[i].used = false;
        m->lsocks[i].fresh = false;
        m->lsocks[i].prev_nfds = m->lsocks[i].nfds;
    }
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct conf_listener *l = &c->listeners[i];
        struct lsock *ls = listen_find(m, &l->addr);
        bool fresh = ls == NULL;

        if (fresh) {
            /* A socket without SO_REUSEPORT first: it fails if anyone, even
             * another cerberus of the same user, already has the port. */
            int probe = open_socket(&l->addr, 1, false, why, sizeof(why));
            if (probe < 0)
                goto fail_bind;
            close(probe);
            struct lsock *n = realloc(m->lsocks,
                                      (m->nlsocks + 1) * sizeof(*n));
            if (n == NULL) {
                snprintf(why, sizeof(why), "out of memory");
                goto fail_bind;
            }
            m->lsocks = n;
            ls = &m->lsocks[m->nlsocks++];
            memset(ls, 0, sizeof(*ls));
            ls->addr = l->addr;
            ls->fresh = true;
            addr_format(&l->addr, ls->address, sizeof(ls->address));
        } else {
            /* Same address, maybe a new backlog: listen() again sets it. */
            for (int j = 0; j < ls->nfds; j++)
                listen(ls->fds[j], (int)l->backlog);
        }
        ls->used = true;
        while (ls->nfds < c->workers) {
            int fd = open_socket(&l->addr, (int)l->backlog, true, why,
                                 sizeof(why));
            if (fd < 0)
                goto fail_bind;
            ls->fds[ls->nfds++] = fd;
        }
        continue;
fail_bind:
        snprintf(err, len, "%s:%d: listener \"%s\": cannot listen on %s: %s",
                 l->src.file, l->src.line, l->name, l->address, why);
        listen_rollback(m);
        return -1;
    }
    return admin_prepare(m, c, err, len);
}

/* After a generation started: the master's copies of sockets no listener
 * uses any more are closed (old workers close theirs when they stop). */
void
listen_commit(struct master *m)
{
    size_t j = 0;

    for (size_t i = 0; i < m->nlsocks; i++) {
        struct lsock *ls = &m->lsocks[i];
        if (!ls->used) {
            log_notice("closing listener %s", ls->address);
            for (int k = 0; k < ls->nfds; k++)
                close(ls->fds[k]);
            continue;
        }
        m->lsocks[j++] = *ls;
    }
    m->nlsocks = j;
    if (m->admin_drop) {
        char a[ADDR_TEXT_MAX];
        addr_format(&m->admin_addr, a, sizeof(a));
        log_notice("closing admin listener %s", a);
        close(m->admin_fd);
        m->admin_fd = -1;
    }
    if (m->admin_new >= 0) {
        char a[ADDR_TEXT_MAX];
        addr_format(&m->admin_new_addr, a, sizeof(a));
        log_notice("admin API on http://%s/", a);
        m->admin_fd = m->admin_new;
        m->admin_addr = m->admin_new_addr;
    }
    m->admin_new = -1;
    m->admin_drop = false;
}

/* A failed reload: close what listen_prepare opened (a socket in the
 * SO_REUSEPORT group that nobody accepts on would strand connections). */
void
listen_rollback(struct master *m)
{
    size_t j = 0;

    for (size_t i = 0; i < m->nlsocks; i++) {
        struct lsock *ls = &m->lsocks[i];
        int keep = ls->fresh ? 0 : ls->prev_nfds;
        for (int k = keep; k < ls->nfds; k++)
            close(ls->fds[k]);
        ls->nfds = keep;
        ls->used = true;
        ls->fresh = false;
        if (keep > 0)
            m->lsocks[j++] = *ls;
    }
    m->nlsocks = j;
    if (m->admin_new >= 0)
        close(m->admin_new);
    m->admin_new = -1;
    m->admin_drop = false;
}

void
listen_close_all(struct master *m)
{
    for (size_t i = 0; i < m->nlsocks; i++)
        for (int k = 0; k < m->lsocks[i].nfds; k++)
            close(m->lsocks[i].fds[k]);
    free(m->lsocks);
    m->lsocks = NULL;
    m->nlsocks = 0;
    if (m->admin_fd >= 0)
        close(m->admin_fd);
    if (m->admin_new >= 0)
        close(m->admin_new);
    m->admin_fd = m->admin_new = -1;
}
