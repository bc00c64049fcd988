/* status: the status file next to the pid file, read by the control verbs. */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "srv.h"

static void
word(const char *s, char *out, size_t len)
{
    size_t o = 0;

    for (; *s && o + 1 < len; s++)
        if (*s != ' ')
            out[o++] = *s;
    out[o] = '\0';
}

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
    fprintf(f, "rate_limit_evictions=%llu\n",
            (unsigned long long)atomic_load(&m->shm.hdr->rl_evictions));
    fprintf(f, "rate_limit_full=%llu\n",
            (unsigned long long)atomic_load(&m->shm.hdr->rl_full));
    fprintf(f, "quota_evictions=%llu\n",
            (unsigned long long)atomic_load(&m->shm.hdr->quota_evictions));
    fprintf(f, "quota_full=%llu\n",
            (unsigned long long)atomic_load(&m->shm.hdr->quota_full));
    for (size_t i = 0; i < m->nchildren; i++) {
        struct child *c = &m->children[i];
        if (c->kind == CHILD_CHECKER) {
            fprintf(f, "checker=%ld gen=%u%s\n", (long)c->pid, c->gen,
                    c->stopping ? " draining" : "");
            continue;
        }
        struct shm_row_stats *st = &m->shm.stats[c->row];
        fprintf(f, "worker=%d pid=%ld gen=%u conns=%lld accepted=%llu "
                "requests=%llu tls_handshakes=%llu tls_failures=%llu%s\n",
                c->slot, (long)c->pid, c->gen,
                (long long)atomic_load(&st->client_conns),
                (unsigned long long)atomic_load(&st->accepted),
                (unsigned long long)atomic_load(&st->requests),
                (unsigned long long)atomic_load(&st->tls_handshakes),
                (unsigned long long)atomic_load(&st->tls_failures),
                c->stopping ? " draining" : "");
    }
    uint64_t now = srv_now();
    for (size_t p = 0; p < m->conf->npools; p++) {
        const struct conf_pool *pool = &m->conf->pools[p];
        for (size_t k = 0; k < pool->nservers; k++) {
            const struct conf_server *sv = &pool->servers[k];
            struct shm_server *ss = shm_server(&m->shm, sv->slot);
            char health[32], err[sizeof(ss->last_error)];
            /* One word per value: "down (passive)" is "down(passive)". */
            word(srv_health_name(ss, now), health, sizeof(health));
            memcpy(err, ss->last_error, sizeof(err));
            err[sizeof(err) - 1] = '\0';
            for (char *e = err; *e; e++)
                if ((unsigned char)*e < 0x20 || *e == 0x7f)
                    *e = ' ';
            /* last_error is last: the rest of the line, spaces and all. */
            fprintf(f, "server=%s %s state=%s health=%s conns=%lld "
                    "requests=%llu failures=%llu active=%lld circuit=%s "
                    "weight=%lld backup=%d last_error=%s\n", pool->name,
                    sv->address, srv_state_name(ss, now), health,
                    (long long)shm_conn_total(&m->shm, sv->slot),
                    (unsigned long long)atomic_load(&ss->requests),
                    (unsigned long long)atomic_load(&ss->failures),
                    (long long)shm_conn_total(&m->shm, sv->slot),
                    srv_breaker_name(ss),
                    (long long)sv->weight, sv->backup ? 1 : 0, err);
        }
    }
    for (size_t i = 0; i < m->conf->nlisteners; i++) {
        struct conf_listener *l = &m->conf->listeners[i];
        fprintf(f, "listener=%s %s %s\n", l->name, l->address,
                l->protocol == PROTO_TCP ? "tcp" : l->tls ? "https" : "http");
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
