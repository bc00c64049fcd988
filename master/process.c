/* process: fork workers and the checker, wait for readiness, reap them. */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "../worker/worker.h"

static int
row_alloc(struct master *m)
{
    for (int r = 0; r < SHM_ROWS; r++)
        if (!m->row_used[r]) {
            m->row_used[r] = 1;
            shm_row_zero(&m->shm, (unsigned)r);
            shm_row_open(&m->shm, (unsigned)r);
            return r;
        }
    return -1;
}

static int
cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Everything but stdio, the log, the readiness pipe and this child's own
 * sockets is closed, so no child keeps another's sockets or pipes alive. */
static void
close_other_fds(int *keep, int nkeep)
{
    qsort(keep, (size_t)nkeep, sizeof(int), cmp_int);
    unsigned lo = 3;
    for (int i = 0; i < nkeep; i++) {
        if (keep[i] < 3 || (unsigned)keep[i] < lo) {
            continue;
        }
        if ((unsigned)keep[i] > lo)
            close_range(lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    close_range(lo, ~0U, 0);
}

static int
drop_privileges(const struct conf *c, char *err, size_t len)
{
    if (geteuid() != 0 || c->user == NULL)
        return 0;
    struct passwd *pw = getpwnam(c->user);
    if (pw == NULL) {
        snprintf(err, len, "unknown user \"%s\"", c->user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (c->group != NULL) {
        struct group *gr = getgrnam(c->group);
        if (gr == NULL) {
            snprintf(err, len, "unknown group \"%s\"", c->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (initgroups(c->user, gid) < 0 || setgid(gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        snprintf(err, len, "cannot switch to user %s: %s", c->user,
                 strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        snprintf(err, len, "could regain root after switching to %s",
                 c->user);
        return -1;
    }
    return 0;
}

static void
child_main(struct master *m, int kind, int slot, int row, struct conf *c,
           unsigned gen, int ready_fd, pid_t master_pid)
{
    struct worker_listener *wl = calloc(c->nlisteners + 1, sizeof(*wl));
    int keep[CERB_MAX_LISTENERS * CERB_MAX_WORKERS + 4];
    int nkeep = 0;
    char err[256];
    sigset_t all;

    /* Die with the master: a child never outlives it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(1);
    /* Signals stay blocked (the loop reads them from a signalfd); only
     * the master's handlers are reset. */
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigemptyset(&dfl.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGPIPE)
            sigaction(s, &dfl, NULL);
    sigfillset(&all);
    log_set_pid();
    log_set_level(c->log_level);    /* this generation's, not the master's */
    {
        char name[16];
        if (kind == CHILD_WORKER)
            snprintf(name, sizeof(name), "cerb: worker %d", slot);
        else
            snprintf(name, sizeof(name), "cerb: checker");
        prctl(PR_SET_NAME, name);
    }
    struct worker_args a = {
        .conf = c, .shm = &m->shm, .slot = slot, .row = row,
        .generation = gen, .listeners = wl, .ready_fd = ready_fd,
        .admin_fd = -1,
    };
    if (wl == NULL) {
        child_fail(&a, "out of memory");
        _exit(1);
    }
    keep[nkeep++] = ready_fd;
    keep[nkeep++] = log_fd();
    if (kind == CHILD_CHECKER && (a.admin_fd = listen_admin_fd(m, c)) >= 0)
        keep[nkeep++] = a.admin_fd;
    for (size_t i = 0; i < c->nlisteners && kind == CHILD_WORKER; i++) {
        struct lsock *ls = listen_find(m, &c->listeners[i].addr);
        wl[i].conf = &c->listeners[i];
        for (int j = slot; ls != NULL && j < ls->nfds; j += (int)c->workers) {
            wl[i].fds[wl[i].nfds++] = ls->fds[j];
            keep[nkeep++] = ls->fds[j];
        }
    }
    close_other_fds(keep, nkeep);
    if (drop_privileges(c, err, sizeof(err)) < 0) {
        child_fail(&a, "%s", err);
        _exit(1);
    }
    /* A change of credentials clears the parent-death signal: set it again,
     * and look once more in case the master died in between. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(1);
    int rc = kind == CHILD_WORKER ? worker_main(&a) : checker_main(&a);
    free(wl);
    /* The master's state this child inherited: let leak checkers see it go. */
    if (c != m->conf)
        conf_free(m->conf);
    conf_free(c);
    m->conf = NULL;
    free(m->children);
    m->children = NULL;
    listen_close_all(m);
    exit(rc);
}

int
process_spawn(struct master *m, int kind, int slot, struct conf *c,
              unsigned gen)
{
    int p[2];
    int row = -1;

    if (m->nchildren == m->capchildren) {
        size_t cap = m->capchildren ? m->capchildren * 2 : 16;
        struct child *n = realloc(m->children, cap * sizeof(*n));
        if (n == NULL) {
            log_crit("out of memory spawning a child");
            return -1;
        }
        m->children = n;
        m->capchildren = cap;
    }
    if (kind == CHILD_WORKER && (row = row_alloc(m)) < 0) {
        log_error("no free shared-memory row for a worker: too many "
                  "generations draining at once");
        return -1;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        log_error("pipe: %s", strerror(errno));
        if (row >= 0)
            m->row_used[row] = 0;
        return -1;
    }
    pid_t master_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        if (row >= 0)
            m->row_used[row] = 0;
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        child_main(m, kind, slot, row, c, gen, p[1], master_pid);
        _exit(1);
    }
    close(p[1]);
    if (row >= 0) {
        atomic_store(&m->shm.stats[row].slot, (uint32_t)slot);
        atomic_store(&m->shm.stats[row].gen, gen);
        atomic_store(&m->shm.stats[row].pid, pid);
    }
    struct child *ch = &m->children[m->nchildren++];
    *ch = (struct child){ .pid = pid, .kind = kind, .slot = slot, .gen = gen,
                          .row = row, .ready_fd = p[0],
                          .started = master_now() };
    log_info("started %s %d (pid %ld, generation %u)",
             kind == CHILD_WORKER ? "worker" : "checker", slot, (long)pid, gen);
    return 0;
}

/* Waits until every child of generation gen said "ready" (or one failed:
 * -1 with its message in err). Blocking is fine: the master serves no
 * traffic, and signals stay pending until the main loop. */
int
process_wait_ready(struct master *m, unsigned gen, int timeout_ms,
                   char *err, size_t len)
{
    uint64_t deadline = master_now() + (uint64_t)timeout_ms;

    for (;;) {
        struct pollfd pfd[CERB_MAX_WORKERS + 2];
        size_t idx[CERB_MAX_WORKERS + 2];
        int n = 0;
        for (size_t i = 0; i < m->nchildren && n < CERB_MAX_WORKERS + 2; i++)
            if (m->children[i].gen == gen && m->children[i].ready_fd >= 0) {
                pfd[n].fd = m->children[i].ready_fd;
                pfd[n].events = POLLIN;
                idx[n++] = i;
            }
        if (n == 0)
            return 0;
        uint64_t now = master_now();
        if (now >= deadline) {
            snprintf(err, len, "a child did not become ready within %d ms",
                     timeout_ms);
            return -1;
        }
        int r = poll(pfd, (nfds_t)n, (int)(deadline - now));
        if (r < 0 && errno != EINTR) {
            snprintf(err, len, "poll: %s", strerror(errno));
            return -1;
        }
        for (int k = 0; k < n && r > 0; k++) {
            if (!pfd[k].revents)
                continue;
            struct child *c = &m->children[idx[k]];
            char buf[512];
            ssize_t got = read(c->ready_fd, buf, sizeof(buf) - 1);
            close(c->ready_fd);
            c->ready_fd = -1;
            if (got > 0 && buf[0] == 'R')
                continue;
            buf[got > 1 ? got : 1] = '\0';
            snprintf(err, len, "%s %d failed to start: %s",
                     c->kind == CHILD_WORKER ? "worker" : "checker", c->slot,
                     got > 1 ? buf + 1 : "exited");
            return -1;
        }
    }
}

void
process_signal_gen(struct master *m, unsigned gen, int sig, bool stop)
{
    for (size_t i = 0; i < m->nchildren; i++)
        if (m->children[i].gen == gen) {
            if (stop)
                m->children[i].stopping = true;
            kill(m->children[i].pid, sig);
        }
}

void
process_signal_all(struct master *m, int sig)
{
    for (size_t i = 0; i < m->nchildren; i++)
        kill(m->children[i].pid, sig);
}

size_t
process_count(const struct master *m, int kind, unsigned gen)
{
    size_t n = 0;

    for (size_t i = 0; i < m->nchildren; i++)
        if (m->children[i].kind == kind && m->children[i].gen == gen &&
            !m->children[i].stopping)
            n++;
    return n;
}

/* Forgets the child pid; returns a copy of its record in a static slot
 * (NULL if unknown). Its shm row is zeroed before anything reuses it. */
struct child *
process_reap(struct master *m, pid_t pid, int status)
{
    static struct child gone;

    (void)status;
    for (size_t i = 0; i < m->nchildren; i++) {
        struct child *c = &m->children[i];
        if (c->pid != pid)
            continue;
        gone = *c;
        if (c->ready_fd >= 0)
            close(c->ready_fd);
        if (c->row >= 0) {
            shm_row_zero(&m->shm, (unsigned)c->row);
            m->row_used[c->row] = 0;
        }
        m->children[i] = m->children[--m->nchildren];
        return &gone;
    }
    return NULL;
}
