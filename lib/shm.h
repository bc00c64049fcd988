/* shm: the shared region (server slots, per-worker counters), created once. */
#ifndef CERB_SHM_H
#define CERB_SHM_H

#include <stddef.h>

#include "gcra.h"
#include "shm-t.h"

struct shm {
    struct shm_header *hdr;
    struct shm_server *servers;
    struct shm_row_stats *stats;
    _Atomic int64_t *conns;
    struct shm_rl_entry *rl;    /* [hdr->rl_entries] */
    struct shm_quota_entry *quota;      /* [hdr->quota_entries] */
    struct shm_route_stats *routes;     /* [rows][hdr->max_routes] */
};

/* The region's dimensions. */
struct shm_sizes {
    unsigned max_servers, rows, max_routes;
    uint64_t rl_entries, quota_entries;
};

/* Maps a fresh zeroed region (MAP_SHARED|MAP_ANONYMOUS) before fork,
 * with a rate-limit table of rl_entries (shm_create: SHM_RL_DEFAULT). */
int shm_create(struct shm *s, unsigned max_servers, unsigned rows);
int shm_create_rl(struct shm *s, unsigned max_servers, unsigned rows,
                  uint64_t rl_entries);
int shm_create_sized(struct shm *s, const struct shm_sizes *z);
void shm_destroy(struct shm *s);
size_t shm_size(unsigned max_servers, unsigned rows);
size_t shm_size_rl(unsigned max_servers, unsigned rows, uint64_t rl_entries);
size_t shm_size_sized(const struct shm_sizes *z);

/* One GCRA decision for `key` (a hash that names the limit too, keyed by
 * hdr->rl_hash_key) at `now` (CLOCK_MONOTONIC ns; 0: the clock, read
 * after the key's TAT is).  The key's slot is found or claimed in its
 * probe sequence, else an entry there whose TAT has passed (its key has
 * its whole burst: forgetting it changes nothing) is taken over.  An
 * entry whose TAT is still ahead is never taken: when the whole probe
 * sequence is live, the request is refused (o->allowed false, retry in
 * a second) and SHM_RL_FULL returned -- fail closed, so that flooding
 * the table with new keys never gives a limited key a new burst.  The
 * decision itself is one CAS on the TAT, retried if another process
 * decided in between, so it is exact across workers. */
enum { SHM_RL_OK, SHM_RL_EVICTED, SHM_RL_FULL };
int shm_rl_take(struct shm *s, uint64_t key, uint64_t now, uint64_t period,
                uint64_t burst, struct gcra_out *o);

/* The counters of limit id (SHM_LIMIT_RL or SHM_LIMIT_QUOTA | its id),
 * its slot claimed on first use; NULL when every slot is taken. */
struct shm_limit_stat *shm_limit_stat(struct shm *s, uint64_t id);
const struct shm_limit_stat *shm_limit_stat_find(const struct shm *s,
                                                 uint64_t id);

/* Master only: the slot for (pool, address), kept if it exists, else a
 * free slot or one no live generation uses (gen_last < oldest_live).
 * -1 when the table is full. */
int shm_server_bind(struct shm *s, const char *pool, const char *addr,
                    unsigned gen, unsigned oldest_live);
int shm_server_find(const struct shm *s, const char *pool, const char *addr);

static inline struct shm_server *
shm_server(const struct shm *s, unsigned slot)
{
    return &s->servers[slot];
}

static inline _Atomic int64_t *
shm_conn_cell(const struct shm *s, unsigned row, unsigned slot)
{
    return &s->conns[(size_t)row * s->hdr->max_servers + slot];
}

/* A worker's count of active requests (or L4 connections) on a server:
 * its own cell, written by it alone in one atomic step, so a worker
 * killed at any instant leaves no count its row does not hold, and the
 * master's shm_row_zero forgets exactly what it held.  The server's
 * total is the sum over the rows (shm_conn_total). */
static inline void
shm_conn_add(const struct shm *s, unsigned row, unsigned slot, int64_t d)
{
    atomic_fetch_add(shm_conn_cell(s, row, slot), d);
}

/* A worker row's gateway counters of route r (r < hdr->max_routes). */
static inline struct shm_route_stats *
shm_route(const struct shm *s, unsigned row, unsigned r)
{
    return &s->routes[(size_t)row * s->hdr->max_routes + r];
}

/* Active connections to a server summed over every worker row. */
int64_t shm_conn_total(const struct shm *s, unsigned slot);

/* Master: a worker is given row `row` (rows_hwm covers it from now on). */
void shm_row_open(struct shm *s, unsigned row);
/* Master: a worker process ended; forget everything it counted (its
 * cells, hence its share of the servers' active totals). */
void shm_row_zero(struct shm *s, unsigned row);

#endif
