/* master: start, supervise children, reload and stop (never touches traffic). */
#include "master.h"
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"
#include "tls_cache.h"
#include "units.h"

#define READY_TIMEOUT_MS 10000
#define FAST_STOP_MS     5000
#define QUICK_DEATH_MS   2000
#define BACKOFF_MAX_MS   30000

struct master *cerb_master;

/* Signal flags: with the runtime pointer, the only globals. */
static volatile sig_atomic_t sig_hup, sig_term, sig_quit, sig_usr1, sig_usr2,
                             sig_chld, sig_alrm;

static void
on_signal(int s)
{
    switch (s) {
    case SIGHUP:  sig_hup = 1; break;
    case SIGTERM: case SIGINT: sig_term = 1; break;
    case SIGQUIT: sig_quit = 1; break;
    case SIGUSR1: sig_usr1 = 1; break;
    case SIGUSR2: sig_usr2 = 1; break;
    case SIGCHLD: sig_chld = 1; break;
    case SIGALRM: sig_alrm = 1; break;
    }
}

static const int handled[] = {
    SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM
};

uint64_t
master_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

static void
signals_setup(sigset_t *wait_mask)
{
    sigset_t block;
    struct sigaction sa = { .sa_handler = on_signal };

    sigemptyset(&block);
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
        sigaction(handled[i], &sa, NULL);
        sigaddset(&block, handled[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigdelset(wait_mask, handled[i]);
}

/* Reports a start-up failure to whoever waits: the `start` parent through
 * the pipe, or the terminal for `run`; and to the log file if there is one. */
static void
report(struct master *m, const char *msg)
{
    char line[512];

    notify_send("STATUS=start failed: %s", notify_line(msg, line,
                                                        sizeof(line)));
    if (m->notify_fd >= 0) {
        ssize_t w = write(m->notify_fd, msg, strlen(msg));
        (void)w;
    } else {
        fprintf(stderr, "cerberus: %s\n", msg);
    }
    if (log_path() != NULL || m->notify_fd >= 0)
        log_error("%s", msg);
}

static void
errors_join(const struct conf_errors *e, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < e->n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "\n" : "",
                                e->msg[i]);
}

static int
root_check(const struct conf *c, bool dry, char *err, size_t len)
{
    if (geteuid() == 0 && c->user == NULL && !c->allow_root) {
        snprintf(err, len, "%s: refusing to run workers as root: set user "
                 "(and group), or allow_root = true", c->path);
        return -1;
    }
    if (!dry && geteuid() != 0 && c->user != NULL)
        log_info("not running as root: user \"%s\" is ignored", c->user);
    return 0;
}

/* The owner and group of the log files: the workers' user and group when
 * the master runs as root and drops them (false otherwise). */
static bool
log_owner(const struct conf *c, uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0 || c->user == NULL)
        return false;
    struct passwd *pw = getpwnam(c->user);
    if (pw == NULL)
        return false;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (c->group != NULL) {
        struct group *gr = getgrnam(c->group);
        if (gr != NULL)
            *gid = gr->gr_gid;
    }
    return true;
}

/* Gives the open file fd to the workers' user and group, by descriptor
 * (never by name: the name may have been replaced since it was opened). */
static void
log_give(const struct conf *c, int fd, const char *path)
{
    uid_t uid;
    gid_t gid;

    if (log_owner(c, &uid, &gid) && fchown(fd, uid, gid) < 0)
        log_warn("cannot chown %s to %s: %s", path, c->user, strerror(errno));
}

/* Workers that dropped privileges reopen the log by name (SIGUSR1): the
 * file must be theirs to open. */
static void
log_chown(const struct conf *c)
{
    if (log_path() != NULL)
        log_give(c, log_fd(), log_path());
}

/* Every access log exists and belongs to the workers' user before they
 * start (or reopen), so they can open it by name without privileges. */
static int
access_logs_prepare(const struct conf *c, bool dry, char *err, size_t len)
{
    const struct conf_access_log *seen[CERB_MAX_LISTENERS + 1];
    size_t nseen = 0;

    for (size_t i = 0; i <= c->nlisteners; i++) {
        const struct conf_access_log *a = i < c->nlisteners
                                        ? c->listeners[i].access_log
                                        : c->access_log;
        bool dup = a == NULL;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = strcmp(seen[k]->path, a->path) == 0;
        if (dup)
            continue;
        seen[nseen++] = a;
        int e = dry ? log_file_probe(a->path) : 0;
        int fd = dry ? -1 : log_file_open(a->path);
        if (e != 0 || (!dry && fd < 0)) {
            snprintf(err, len, "%s:%d: cannot open access log %s: %s",
                     a->src.file, a->src.line, a->path,
                     log_file_error(e ? e : errno));
            return -1;
        }
        if (dry)
            continue;
        log_give(c, fd, a->path);
        close(fd);
    }
    return 0;
}

static const char *
default_error_log(bool daemon)
{
    return daemon ? CERB_LOCALSTATEDIR "/log/cerberus/error.log" : NULL;
}

/* Opens the error log c names (or the default), unless it is open already. */
static int
log_setup(const struct conf *c, bool daemon, char *err, size_t len)
{
    const char *want = c->error_log ? c->error_log : default_error_log(daemon);
    const char *have = log_path();

    if (want == NULL) {
        if (have != NULL)
            log_to_stderr();
        return 0;
    }
    if (have != NULL && strcmp(have, want) == 0)
        return 0;
    if (log_open(want, err, (unsigned)len) < 0)
        return -1;
    log_chown(c);
    return 0;
}

/* The schema's default of a top-level key. */
static const char *
root_default(const char *key)
{
    for (const struct conf_key *k = conf_root_section()->keys; k->name; k++)
        if (strcmp(k->name, key) == 0)
            return k->def;
    return NULL;
}

/* `check`: a default path that would fail is worth a warning, not a
 * refusal (nginx -t does the same for its compiled-in error log): the
 * operator may start with -p, run in the foreground, or as root. */
static int
dry_path(const char *what, const char *path, bool is_default, const char *fix,
         char *err, size_t len)
{
    int e = log_file_probe(path);

    if (e == 0)
        return 0;
    if (is_default) {
        fprintf(stderr, "cerberus: warning: cannot open %s %s: %s (the "
                "default: %s)\n", what, path, log_file_error(e), fix);
        return 0;
    }
    /* As the opener would say it: log_file_error for a log (a symbolic
     * link is refused), strerror for the pid file (pidfile_create). */
    snprintf(err, len, "cannot open %s %s: %s", what, path,
             strcmp(what, "pid file") == 0 ? strerror(e) : log_file_error(e));
    return -1;
}

int
master_prepare(const struct conf *c, bool daemon, const char *pid_path,
               bool dry, char *err, size_t len)
{
    if (root_check(c, dry, err, len) < 0)
        return -1;
    if (!dry) {
        if (log_setup(c, daemon, err, len) < 0)
            return -1;
    } else if (c->error_log != NULL || default_error_log(daemon) != NULL) {
        const char *el = c->error_log ? c->error_log
                                      : default_error_log(daemon);
        if (dry_path("error log", el, c->error_log == NULL, "set error_log, "
                     "or use run, which logs to stderr", err, len) < 0)
            return -1;
    }
    if (access_logs_prepare(c, dry, err, len) < 0 ||
        state_prepare(c, dry, err, len) < 0)
        return -1;
    if (dry) {
        const char *pf = pid_path ? pid_path : c->pid_file;
        const char *def = root_default("pid_file");
        bool is_def = pid_path == NULL && def != NULL &&
                      strcmp(pf, def) == 0;
        if (dry_path("pid file", pf, is_def, "set pid_file, or pass -p",
                     err, len) < 0)
            return -1;
    }
    return 0;
}

/* max_connections = "auto" (the default): as many as the open-files
 * limit holds, up to this. */
#define AUTO_MAX_CONNECTIONS 10000

/* Every connection may hold two descriptors (client and upstream), each
 * listener a few more, the process some of its own. The master asks for
 * what the listeners need (a root master may raise the hard limit), else
 * for the hard limit, then sizes the "auto" listeners to what it got. A
 * warning only when a configured max_connections cannot be met. */
static void
nofile_setup(struct conf *c)
{
    struct rlimit rl;
    rlim_t fixed = 64, nauto = 0;

    for (size_t i = 0; i < c->nlisteners; i++) {
        int64_t mc = c->listeners[i].max_connections;
        fixed += 8 + (mc > 0 ? (rlim_t)mc * 2 : 0);
        nauto += mc == 0;
    }
    rlim_t need = fixed + nauto * 2 * AUTO_MAX_CONNECTIONS;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        rl.rlim_cur = rl.rlim_max = 1024;
    rlim_t have = rl.rlim_cur;
    int e = 0;
    if (have < need) {
        struct rlimit want = { need, rl.rlim_max };
        if (want.rlim_max != RLIM_INFINITY && want.rlim_max < need)
            want.rlim_max = need;   /* works as root */
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            have = need;
        } else {
            e = errno;
            want.rlim_cur = want.rlim_max = rl.rlim_max;
            if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max &&
                setrlimit(RLIMIT_NOFILE, &want) == 0)
                have = rl.rlim_max;
        }
    }
    if (have < fixed)
        log_warn("open files limit is %llu but max_connections needs %llu: "
                 "%s", (unsigned long long)have, (unsigned long long)fixed,
                 strerror(e ? e : EPERM));
    for (size_t i = 0; i < c->nlisteners && nauto > 0; i++) {
        struct conf_listener *l = &c->listeners[i];
        if (l->max_connections != 0)
            continue;
        rlim_t per = have > fixed ? (have - fixed) / (2 * nauto) : 0;
        if (per > AUTO_MAX_CONNECTIONS)
            per = AUTO_MAX_CONNECTIONS;
        if (per < 1)
            per = 1;
        l->max_connections = (int64_t)per;
        if (per < AUTO_MAX_CONNECTIONS)
            log_info("listener \"%s\": max_connections %llu (auto: the open "
                     "files limit is %llu)", l->name,
                     (unsigned long long)per, (unsigned long long)have);
    }
}

static unsigned
oldest_live_gen(const struct master *m)
{
    unsigned g = m->gen;

    for (size_t i = 0; i < m->nchildren; i++)
        if (m->children[i].gen < g)
            g = m->children[i].gen;
    return g;
}

static int
bind_server_slots(struct master *m, struct conf *c, unsigned gen,
                  char *err, size_t len)
{
    unsigned oldest = oldest_live_gen(m);

    /* Each generation starts on fresh session-ticket keys (the previous
     * ones still decrypt, so sessions resume across the reload). */
    tls_tickets_rotate(&m->shm.hdr->tickets);

    for (size_t p = 0; p < c->npools; p++)
        for (size_t s = 0; s < c->pools[p].nservers; s++) {
            struct conf_server *sv = &c->pools[p].servers[s];
            char a[ADDR_TEXT_MAX];
            addr_format(&sv->addr, a, sizeof(a));
            int slot = shm_server_bind(&m->shm, c->pools[p].name, a, gen,
                                       oldest);
            if (slot < 0) {
                snprintf(err, len, "%s:%d: too many servers: shared memory "
                         "holds %u", sv->src.file, sv->src.line,
                         SHM_MAX_SERVERS);
                return -1;
            }
            sv->slot = (uint32_t)slot;
            struct shm_server *ss = shm_server(&m->shm, (unsigned)slot);
            /* The config's state applies to a new server and when the
             * config changes it; otherwise a state set at run time (the
             * admin API) survives the reload. */
            bool fresh = ss->conf_state == SHM_CONF_STATE_NONE;
            if (ss->conf_state != (uint32_t)sv->state) {
                atomic_store(&ss->admin_state, (uint32_t)sv->state);
                ss->conf_state = (uint32_t)sv->state;
            }
            if (fresh && c->pools[p].health && c->pools[p].health->initial == 1)
                atomic_store(&ss->health, SHM_HEALTH_DOWN);
            else if (c->pools[p].health == NULL)
                atomic_store(&ss->health, SHM_HEALTH_UP);  /* no checks: no verdict */
        }
    return 0;
}

static int
spawn_generation(struct master *m, struct conf *c, unsigned gen,
                 char *err, size_t len)
{
    for (int i = 0; i < c->workers; i++)
        if (process_spawn(m, CHILD_WORKER, i, c, gen) < 0) {
            snprintf(err, len, "cannot start worker %d (see the error log)", i);
            return -1;
        }
    if (process_spawn(m, CHILD_CHECKER, 0, c, gen) < 0) {
        snprintf(err, len, "cannot start the checker (see the error log)");
        return -1;
    }
    return process_wait_ready(m, gen, READY_TIMEOUT_MS, err, len);
}

/* Kills a generation that failed to start, and waits for it. */
static void
abort_generation(struct master *m, unsigned gen)
{
    process_signal_gen(m, gen, SIGKILL, true);
    for (size_t i = 0; i < m->nchildren;) {
        struct child *c = &m->children[i];
        if (c->gen != gen) {
            i++;
            continue;
        }
        int st;
        pid_t pid = c->pid;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        process_reap(m, pid, st);
    }
}

/* The routes whose gateway counters a worker may write: rows are zeroed
 * up to there. */
static void
routes_mark(struct master *m, const struct conf *c)
{
    uint32_t n = c->nroutes < m->shm.hdr->max_routes ?
                 (uint32_t)c->nroutes : m->shm.hdr->max_routes;

    if (n > atomic_load(&m->shm.hdr->routes_hwm))
        atomic_store(&m->shm.hdr->routes_hwm, n);
}

static void
log_listeners(const struct conf *c)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct conf_listener *l = &c->listeners[i];
        if (l->protocol == PROTO_HTTP)
            log_notice("listener \"%s\" on %s://%s/", l->name,
                       l->tls ? "https" : "http", l->address);
        else
            log_notice("listener \"%s\" on tcp %s -> pool %s", l->name,
                       l->address, l->pool_name);
    }
}

static void
reload(struct master *m)
{
    struct conf_errors errs = { 0 };
    char err[sizeof(m->reload_error)];
    unsigned gen = m->gen + 1;

    char prev_log[4096];

    log_notice("reloading configuration %s", m->conf_path);
    notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
                (unsigned long long)notify_monotonic_usec(), m->conf_path);
    m->reloads++;
    snprintf(prev_log, sizeof(prev_log), "%s", log_path() ? log_path() : "");
    struct conf *c = NULL;
    if (m->nold >= MAX_GENERATIONS) {
        snprintf(err, sizeof(err), "%u generations are still draining; try "
                 "again when they are done", m->nold);
        goto fail;
    }
    c = conf_load(m->conf_path, &errs);
    if (c == NULL) {
        errors_join(&errs, err, sizeof(err));
        conf_errors_free(&errs);
        goto fail;
    }
    if (master_prepare(c, m->daemon, NULL, false, err, sizeof(err)) < 0 ||
        bind_server_slots(m, c, gen, err, sizeof(err)) < 0)
        goto fail_conf;
    if ((uint64_t)c->rate_limit_table != m->shm.hdr->rl_entries ||
        (uint64_t)c->quota_table != m->shm.hdr->quota_entries)
        log_warn("rate_limit_table and quota_table take effect at the next "
                 "start (the tables keep %llu and %llu entries)",
                 (unsigned long long)m->shm.hdr->rl_entries,
                 (unsigned long long)m->shm.hdr->quota_entries);
    if (tls_cache_slots_for((uint64_t)c->tls_session_cache) !=
        tls_cache_slots())
        log_warn("tls_session_cache takes effect at the next start (the "
                 "cache keeps %llu sessions)",
                 (unsigned long long)tls_cache_slots());
    routes_mark(m, c);
    if (listen_prepare(m, c, err, sizeof(err)) < 0)
        goto fail_conf;
    nofile_setup(c);
    if (spawn_generation(m, c, gen, err, sizeof(err)) < 0) {
        abort_generation(m, gen);
        listen_rollback(m);
        goto fail_conf;
    }
    /* The new generation accepts on the same sockets: the old one may now
     * stop accepting and drain. */
    m->old[m->nold].id = m->gen;
    m->old[m->nold].deadline = master_now() + (uint64_t)c->drain_timeout;
    m->nold++;
    process_signal_gen(m, m->gen, SIGQUIT, true);
    listen_commit(m);
    conf_free(m->conf);
    m->conf = c;
    m->gen = gen;
    for (int i = 0; i <= CERB_MAX_WORKERS; i++) {
        m->respawn_due[i] = 0;
        m->quick_deaths[i] = 0;
    }
    log_set_level(c->log_level);
    m->reload_ok = true;
    m->reload_error[0] = '\0';
    m->state_saved = false;     /* state_dir may have moved: write anew */
    log_notice("configuration reloaded: generation %u, %lld workers", gen,
               (long long)c->workers);
    log_listeners(c);
    status_write(m);
    notify_send("READY=1\nSTATUS=serving: generation %u, %lld workers", gen,
                (long long)c->workers);
    return;

fail_conf:
    conf_free(c);
    /* The error log may have been switched to the new file: switch back. */
    if (strcmp(prev_log, log_path() ? log_path() : "") != 0) {
        if (prev_log[0] == '\0')
            log_to_stderr();
        else
            log_open(prev_log, NULL, 0);
    }
fail:
    m->reload_ok = false;
    snprintf(m->reload_error, sizeof(m->reload_error), "%s", err);
    for (char *p = err, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        log_error("reload failed, keeping generation %u: %s", m->gen, p);
        if (nl == NULL)
            break;
    }
    status_write(m);
    char line[512];
    notify_send("READY=1\nSTATUS=reload failed, generation %u still serving: "
                "%s", m->gen, notify_line(m->reload_error, line,
                                          sizeof(line)));
}

static void
describe_exit(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with code %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(st),
                 strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
    else
        snprintf(buf, len, "stopped");
}

static void
reap_children(struct master *m)
{
    int st;
    pid_t pid;
    bool changed = false;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        struct child *c = process_reap(m, pid, st);
        char how[128];
        if (c == NULL)
            continue;
        changed = true;
        describe_exit(st, how, sizeof(how));
        const char *kind = c->kind == CHILD_WORKER ? "worker" : "checker";
        if (c->stopping || m->stopping || c->gen != m->gen) {
            log_info("%s %d (pid %ld, generation %u) %s", kind, c->slot,
                     (long)pid, c->gen, how);
            continue;
        }
        int idx = c->kind == CHILD_WORKER ? c->slot : CERB_MAX_WORKERS;
        uint64_t now = master_now();
        uint64_t delay = 0;
        /* The first death respawns at once; a child that keeps dying
         * young waits 100 ms, 200 ms, 400 ms ... up to 30 s. */
        if (now - c->started < QUICK_DEATH_MS) {
            int q = ++m->quick_deaths[idx];
            if (q >= 2)
                delay = q >= 11 ? BACKOFF_MAX_MS : (uint64_t)100 << (q - 2);
            if (delay > BACKOFF_MAX_MS)
                delay = BACKOFF_MAX_MS;
        } else {
            m->quick_deaths[idx] = 0;
        }
        m->respawn_due[idx] = now + delay;
        if (delay == 0)
            log_error("%s %d (pid %ld) %s; respawning", kind, c->slot,
                      (long)pid, how);
        else
            log_error("%s %d (pid %ld) %s; died %d times in a row, respawning "
                      "in %llu ms", kind, c->slot, (long)pid, how,
                      m->quick_deaths[idx], (unsigned long long)delay);
    }
    /* Generations with no child left are done draining. */
    for (unsigned i = 0; i < m->nold;) {
        bool alive = false;
        for (size_t k = 0; k < m->nchildren && !alive; k++)
            alive = m->children[k].gen == m->old[i].id;
        if (alive) {
            i++;
            continue;
        }
        log_info("generation %u finished draining", m->old[i].id);
        m->old[i] = m->old[--m->nold];
    }
    if (changed && !m->stopping)
        status_write(m);
}

static void
run_timers(struct master *m)
{
    uint64_t now = master_now();
    bool changed = false;

    for (int i = 0; i <= CERB_MAX_WORKERS && !m->stopping; i++) {
        if (m->respawn_due[i] == 0 || m->respawn_due[i] > now)
            continue;
        m->respawn_due[i] = 0;
        int kind = i == CERB_MAX_WORKERS ? CHILD_CHECKER : CHILD_WORKER;
        if (process_spawn(m, kind, kind == CHILD_WORKER ? i : 0, m->conf,
                          m->gen) < 0)
            m->respawn_due[i] = now + 1000;
        changed = true;
    }
    for (unsigned i = 0; i < m->nold; i++)
        if (m->old[i].deadline && m->old[i].deadline <= now) {
            size_t left = 0;
            for (size_t k = 0; k < m->nchildren; k++)
                left += m->children[k].gen == m->old[i].id;
            log_warn("generation %u: %zu children still draining after "
                     "drain_timeout; killing them", m->old[i].id, left);
            process_signal_gen(m, m->old[i].id, SIGKILL, true);
            m->old[i].deadline = 0;
        }
    if (m->stopping && m->stop_deadline && m->stop_deadline <= now) {
        log_warn("%zu children still running at the stop deadline; killing "
                 "them", m->nchildren);
        process_signal_all(m, SIGKILL);
        m->stop_deadline = 0;
    }
    if (!m->stopping && m->quota_due && m->quota_due <= now)
        state_save(m);
    if (changed)
        status_write(m);
}

static void
arm_timer(struct master *m)
{
    uint64_t next = 0, now = master_now();
    struct itimerval it = { 0 };

    for (int i = 0; i <= CERB_MAX_WORKERS; i++)
        if (m->respawn_due[i] && (!next || m->respawn_due[i] < next))
            next = m->respawn_due[i];
    for (unsigned i = 0; i < m->nold; i++)
        if (m->old[i].deadline && (!next || m->old[i].deadline < next))
            next = m->old[i].deadline;
    if (m->stop_deadline && (!next || m->stop_deadline < next))
        next = m->stop_deadline;
    if (m->conf->has_quotas && !m->stopping && m->quota_due &&
        (!next || m->quota_due < next))
        next = m->quota_due;
    if (next) {
        uint64_t d = next > now ? next - now : 1;
        it.it_value.tv_sec = (time_t)(d / 1000);
        it.it_value.tv_usec = (suseconds_t)(d % 1000) * 1000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

static void
begin_stop(struct master *m, int how)
{
    if (m->stopping == SIGTERM || m->stopping == how)
        return;
    m->stopping = how;
    notify_send("STOPPING=1\nSTATUS=%s", how == SIGQUIT ? "draining" :
                "stopping");
    if (how == SIGQUIT) {
        log_notice("graceful stop: draining for up to %lld ms",
                   (long long)m->conf->drain_timeout);
        m->stop_deadline = master_now() + (uint64_t)m->conf->drain_timeout;
    } else {
        log_notice("stopping");
        m->stop_deadline = master_now() + FAST_STOP_MS;
    }
    for (size_t i = 0; i < m->nchildren; i++)
        m->children[i].stopping = true;
    process_signal_all(m, how);
    for (int i = 0; i <= CERB_MAX_WORKERS; i++)
        m->respawn_due[i] = 0;
    status_write(m);
}

static void
reopen_logs(struct master *m)
{
    char err[512];

    log_reopen();
    log_chown(m->conf);
    if (access_logs_prepare(m->conf, false, err, sizeof(err)) < 0)
        log_error("%s", err);
    log_notice("reopened log files");
    process_signal_all(m, SIGUSR1);
}

static void
cleanup(struct master *m)
{
    listen_close_all(m);
    status_remove(m);
    pidfile_remove(m->pid_path, m->pid_fd);
    shm_destroy(&m->shm);
    tls_cache_destroy();
    conf_free(m->conf);
    free(m->children);
}

int
master_run(const char *conf_path, const char *pid_path, bool daemon,
           int notify_fd)
{
    static struct master M;
    struct master *m = &M;
    struct conf_errors errs = { 0 };
    char err[4096];
    sigset_t wait_mask;

    cerb_master = m;
    m->notify_fd = notify_fd;
    m->daemon = daemon;
    m->pid_fd = -1;
    m->admin_fd = m->admin_new = -1;
    if (realpath(conf_path, m->conf_path) == NULL) {
        snprintf(err, sizeof(err), "%s: cannot read: %s", conf_path,
                 strerror(errno));
        report(m, err);
        return 1;
    }
    m->conf = conf_load(m->conf_path, &errs);
    if (m->conf == NULL) {
        errors_join(&errs, err, sizeof(err));
        conf_errors_free(&errs);
        report(m, err);
        return 1;
    }
    struct conf *c = m->conf;
    snprintf(m->pid_path, sizeof(m->pid_path), "%s",
             pid_path ? pid_path : c->pid_file);
    status_path_for(m->pid_path, m->status_path, sizeof(m->status_path));
    log_set_level(c->log_level);
    if (master_prepare(c, daemon, NULL, false, err, sizeof(err)) < 0) {
        report(m, err);
        conf_free(c);
        return 1;
    }
    m->pid_fd = pidfile_create(m->pid_path, err, sizeof(err));
    if (m->pid_fd < 0) {
        report(m, err);
        conf_free(c);
        return 1;
    }
    m->started_at = time(NULL);
    m->gen = 1;
    nofile_setup(c);
    signals_setup(&wait_mask);
    struct shm_sizes z = { SHM_MAX_SERVERS, SHM_ROWS, SHM_MAX_ROUTES,
                           (uint64_t)c->rate_limit_table,
                           (uint64_t)c->quota_table };
    if (shm_create_sized(&m->shm, &z) < 0) {
        snprintf(err, sizeof(err), "cannot create shared memory: %s",
                 strerror(errno));
        goto fail;
    }
    if (tls_cache_create((uint64_t)c->tls_session_cache) < 0) {
        snprintf(err, sizeof(err), "cannot create the TLS session cache: %s",
                 strerror(errno));
        goto fail;
    }
    routes_mark(m, c);
    if (state_load(m, err, sizeof(err)) < 0 ||
        bind_server_slots(m, c, m->gen, err, sizeof(err)) < 0 ||
        listen_prepare(m, c, err, sizeof(err)) < 0)
        goto fail;
    if (spawn_generation(m, c, m->gen, err, sizeof(err)) < 0) {
        abort_generation(m, m->gen);
        goto fail;
    }
    listen_commit(m);
    log_notice("cerberus %s started: pid %ld, %lld workers, config %s",
               CERB_VERSION, (long)getpid(), (long long)c->workers,
               m->conf_path);
    log_listeners(c);
    status_write(m);
    notify_send("READY=1\nSTATUS=serving: generation %u, %lld workers\n"
                "MAINPID=%ld", m->gen, (long long)c->workers, (long)getpid());
    if (notify_fd >= 0) {
        char ok[128];
        int n = snprintf(ok, sizeof(ok), "OK pid %ld, %lld workers",
                         (long)getpid(), (long long)c->workers);
        ssize_t w = write(notify_fd, ok, (size_t)n);
        (void)w;
        close(notify_fd);
        m->notify_fd = -1;
    }

    for (;;) {
        if (m->stopping && m->nchildren == 0)
            break;
        arm_timer(m);
        if (!(sig_hup | sig_term | sig_quit | sig_usr1 | sig_usr2 | sig_chld |
              sig_alrm))
            sigsuspend(&wait_mask);
        if (sig_chld) {
            sig_chld = 0;
            reap_children(m);
        }
        if (sig_term) {
            sig_term = 0;
            begin_stop(m, SIGTERM);
        }
        if (sig_quit) {
            sig_quit = 0;
            begin_stop(m, SIGQUIT);
        }
        if (sig_hup) {
            sig_hup = 0;
            if (!m->stopping)
                reload(m);
        }
        if (sig_usr1) {
            sig_usr1 = 0;
            reopen_logs(m);
        }
        if (sig_usr2) {
            sig_usr2 = 0;
            status_write(m);
        }
        sig_alrm = 0;
        run_timers(m);
    }
    state_save(m);
    log_notice("cerberus stopped");
    cleanup(m);
    return 0;

fail:
    report(m, err);
    cleanup(m);
    return 1;
}
