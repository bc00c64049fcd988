/* status: the status file next to the pid file, read by the control verbs. */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Written whole to a temporary name and renamed, so readers never see a
 * half-written file. One "key=value" per line. */
void
status_write(struct master *m)
{
    char tmp[sizeof(m->status_path) + 8];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", m->status_path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        log_error("cannot write status file %s: %s", tmp, strerror(errno));
        return;
    }
    m->seq++;
    fprintf(f, "seq=%u\npid=%ld\nconfig=%s\nstarted=%ld\ngeneration=%u\n"
            "state=%s\nreloads=%u\n", m->seq, (long)getpid(), m->conf_path,
            (long)m->started_at, m->gen,
            m->stopping ? "stopping" : "running", m->reloads);
    if (m->reloads > 0)
        fprintf(f, "reload_result=%s\n", m->reload_ok ? "ok" : "failed");
    if (!m->reload_ok && m->reload_error[0]) {
        /* One line per error. */
        const char *p = m->reload_error;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t l = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(f, "reload_error=%.*s\n", (int)l, p);
            p += l + (nl != NULL);
        }
    }
    fprintf(f, "workers=%lld\n", (long long)m->conf->workers);
    for (size_t i = 0; i < m->nchildren; i++) {
        struct child *c = &m->children[i];
        if (c->kind == CHILD_CHECKER) {
            fprintf(f, "checker=%ld gen=%u%s\n", (long)c->pid, c->gen,
                    c->stopping ? " draining" : "");
            continue;
        }
        struct shm_row_stats *st = &m->shm.stats[c->row];
        fprintf(f, "worker=%d pid=%ld gen=%u conns=%lld accepted=%llu "
                "requests=%llu%s\n", c->slot, (long)c->pid, c->gen,
                (long long)atomic_load(&st->client_conns),
                (unsigned long long)atomic_load(&st->accepted),
                (unsigned long long)atomic_load(&st->requests),
                c->stopping ? " draining" : "");
    }
    static const char *const state[] = { "up", "drain", "disabled" };
    for (size_t p = 0; p < m->conf->npools; p++) {
        const struct conf_pool *pool = &m->conf->pools[p];
        for (size_t k = 0; k < pool->nservers; k++) {
            const struct conf_server *sv = &pool->servers[k];
            struct shm_server *ss = shm_server(&m->shm, sv->slot);
            unsigned st = atomic_load(&ss->admin_state);
            fprintf(f, "server=%s %s state=%s health=%s conns=%lld "
                    "requests=%llu failures=%llu\n", pool->name, sv->address,
                    st < 3 ? state[st] : "?",
                    atomic_load(&ss->health) == SHM_HEALTH_UP ? "up" : "down",
                    (long long)shm_conn_total(&m->shm, sv->slot),
                    (unsigned long long)atomic_load(&ss->requests),
                    (unsigned long long)atomic_load(&ss->failures));
        }
    }
    for (size_t i = 0; i < m->conf->nlisteners; i++) {
        struct conf_listener *l = &m->conf->listeners[i];
        fprintf(f, "listener=%s %s %s\n", l->name, l->address,
                l->protocol == PROTO_TCP ? "tcp" : "http");
    }
    if (fclose(f) != 0 || rename(tmp, m->status_path) < 0) {
        log_error("cannot write status file %s: %s", m->status_path,
                  strerror(errno));
        unlink(tmp);
    }
}

void
status_remove(struct master *m)
{
    unlink(m->status_path);
}
