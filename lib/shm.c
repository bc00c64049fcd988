/* shm: the shared region (server slots, per-worker counters), created once. */
#include "shm.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

static size_t
align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static void
sizes_fix(struct shm_sizes *z)
{
    if (z->rl_entries < SHM_RL_PROBE)
        z->rl_entries = SHM_RL_PROBE;
    if (z->quota_entries < SHM_QUOTA_PROBE)
        z->quota_entries = SHM_QUOTA_PROBE;
}

size_t
shm_size_sized(const struct shm_sizes *zin)
{
    struct shm_sizes z = *zin;

    sizes_fix(&z);
    return align64(sizeof(struct shm_header)) +
           align64(sizeof(struct shm_server) * z.max_servers) +
           align64(sizeof(struct shm_row_stats) * z.rows) +
           align64(sizeof(int64_t) * (size_t)z.max_servers * z.rows) +
           align64(sizeof(struct shm_rl_entry) * (size_t)z.rl_entries) +
           align64(sizeof(struct shm_quota_entry) * (size_t)z.quota_entries) +
           align64(sizeof(struct shm_route_stats) * (size_t)z.max_routes *
                   z.rows);
}

static struct shm_sizes
sizes_default(unsigned max_servers, unsigned rows, uint64_t rl_entries)
{
    struct shm_sizes z = { max_servers, rows, SHM_MAX_ROUTES, rl_entries,
                           SHM_QUOTA_DEFAULT };
    return z;
}

size_t
shm_size_rl(unsigned max_servers, unsigned rows, uint64_t rl_entries)
{
    struct shm_sizes z = sizes_default(max_servers, rows, rl_entries);
    return shm_size_sized(&z);
}

size_t
shm_size(unsigned max_servers, unsigned rows)
{
    return shm_size_rl(max_servers, rows, SHM_RL_DEFAULT);
}

int
shm_create(struct shm *s, unsigned max_servers, unsigned rows)
{
    return shm_create_rl(s, max_servers, rows, SHM_RL_DEFAULT);
}

int
shm_create_rl(struct shm *s, unsigned max_servers, unsigned rows,
              uint64_t rl_entries)
{
    struct shm_sizes z = sizes_default(max_servers, rows, rl_entries);
    return shm_create_sized(s, &z);
}

int
shm_create_sized(struct shm *s, const struct shm_sizes *zin)
{
    struct shm_sizes z = *zin;

    sizes_fix(&z);
    size_t size = shm_size_sized(&z);
    /* Untouched pages cost nothing: only used slots and rows are ever
     * written, so the generous maximums are free. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    struct shm_header *h = p;
    h->magic = SHM_MAGIC;
    h->version = SHM_VERSION;
    h->max_servers = z.max_servers;
    h->rows = z.rows;
    h->size = size;
    if (getrandom(h->sticky_key, sizeof(h->sticky_key), 0) !=
        (ssize_t)sizeof(h->sticky_key) ||
        getrandom(h->rl_hash_key, sizeof(h->rl_hash_key), 0) !=
        (ssize_t)sizeof(h->rl_hash_key) ||
        getrandom(h->quota_hash_key, sizeof(h->quota_hash_key), 0) !=
        (ssize_t)sizeof(h->quota_hash_key)) {
        munmap(p, size);
        return -1;
    }
    h->servers_off = align64(sizeof(*h));
    h->stats_off = h->servers_off + align64(sizeof(struct shm_server) *
                                            z.max_servers);
    h->conns_off = h->stats_off + align64(sizeof(struct shm_row_stats) *
                                          z.rows);
    h->rl_off = h->conns_off + align64(sizeof(int64_t) *
                                       (size_t)z.max_servers * z.rows);
    h->rl_entries = z.rl_entries;
    h->quota_off = h->rl_off + align64(sizeof(struct shm_rl_entry) *
                                       (size_t)z.rl_entries);
    h->quota_entries = z.quota_entries;
    h->routes_off = h->quota_off + align64(sizeof(struct shm_quota_entry) *
                                           (size_t)z.quota_entries);
    h->max_routes = z.max_routes;
    s->hdr = h;
    s->servers = (struct shm_server *)((char *)p + h->servers_off);
    s->stats = (struct shm_row_stats *)((char *)p + h->stats_off);
    s->conns = (_Atomic int64_t *)((char *)p + h->conns_off);
    s->rl = (struct shm_rl_entry *)((char *)p + h->rl_off);
    s->quota = (struct shm_quota_entry *)((char *)p + h->quota_off);
    s->routes = (struct shm_route_stats *)((char *)p + h->routes_off);
    return 0;
}

void
shm_destroy(struct shm *s)
{
    if (s->hdr != NULL)
        munmap(s->hdr, s->hdr->size);
    memset(s, 0, sizeof(*s));
}

static void
make_key(char *key, const char *pool, const char *addr)
{
    /* A long pool name would be cut off, and two servers of that pool
     * would share a slot: name such a pool by a hash instead (FNV-1a). */
    size_t pl = strlen(pool), al = strlen(addr);
    if (pl + 1 + al < SHM_KEY_MAX) {
        memcpy(key, pool, pl);
        key[pl] = ' ';
        memcpy(key + pl + 1, addr, al + 1);
        return;
    }
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)pool; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    snprintf(key, SHM_KEY_MAX, "#%016llx %s", (unsigned long long)h, addr);
}

int
shm_server_find(const struct shm *s, const char *pool, const char *addr)
{
    char key[SHM_KEY_MAX];

    make_key(key, pool, addr);
    for (unsigned i = 0; i < s->hdr->hwm; i++)
        if (s->servers[i].in_use && strcmp(s->servers[i].key, key) == 0)
            return (int)i;
    return -1;
}

static void
slot_reset(struct shm *s, unsigned slot, const char *key)
{
    struct shm_server *sv = &s->servers[slot];

    memset(sv, 0, sizeof(*sv));
    snprintf(sv->key, sizeof(sv->key), "%s", key);
    sv->conf_state = SHM_CONF_STATE_NONE;
    for (unsigned r = 0; r < s->hdr->rows; r++)
        atomic_store(shm_conn_cell(s, r, slot), 0);
}

int
shm_server_bind(struct shm *s, const char *pool, const char *addr,
                unsigned gen, unsigned oldest_live)
{
    char key[SHM_KEY_MAX];
    int free_slot = -1;

    make_key(key, pool, addr);
    for (unsigned i = 0; i < s->hdr->hwm; i++) {
        struct shm_server *sv = &s->servers[i];
        if (sv->in_use && strcmp(sv->key, key) == 0) {
            sv->gen_last = gen;
            return (int)i;
        }
        if (free_slot < 0 && (!sv->in_use || sv->gen_last < oldest_live))
            free_slot = (int)i;
    }
    if (free_slot < 0) {
        if (s->hdr->hwm >= s->hdr->max_servers)
            return -1;
        free_slot = (int)s->hdr->hwm++;
    }
    slot_reset(s, (unsigned)free_slot, key);
    s->servers[free_slot].gen_last = gen;
    s->servers[free_slot].in_use = 1;
    return free_slot;
}

int64_t
shm_conn_total(const struct shm *s, unsigned slot)
{
    int64_t sum = 0;

    unsigned n = atomic_load(&s->hdr->rows_hwm);

    if (n > s->hdr->rows)
        n = s->hdr->rows;
    /* seq_cst, like the cells' updates: srv_acquire's check of max_conns
     * after its own increment sees every increment made before it. */
    for (unsigned r = 0; r < n; r++)
        sum += atomic_load(shm_conn_cell(s, r, slot));
    return sum;
}

void
shm_row_open(struct shm *s, unsigned row)
{
    uint32_t h = atomic_load(&s->hdr->rows_hwm);

    while (row + 1 > h && row < s->hdr->rows &&
           !atomic_compare_exchange_weak(&s->hdr->rows_hwm, &h, row + 1))
        ;
}

void
shm_row_zero(struct shm *s, unsigned row)
{
    /* The totals are sums over the rows: zeroing the cells takes the
     * row's share off them, whatever instant the worker died at. */
    for (unsigned i = 0; i < s->hdr->hwm; i++)
        atomic_store(shm_conn_cell(s, row, i), 0);
    struct shm_row_stats *st = &s->stats[row];
    atomic_store(&st->pid, 0);
    atomic_store(&st->client_conns, 0);
    atomic_store(&st->accepted, 0);
    atomic_store(&st->requests, 0);
    atomic_store(&st->tls_handshakes, 0);
    atomic_store(&st->tls_failures, 0);
    atomic_store(&st->slot, 0);
    atomic_store(&st->gen, 0);
    uint32_t nr = atomic_load(&s->hdr->routes_hwm);
    if (nr > s->hdr->max_routes)
        nr = s->hdr->max_routes;
    if (nr > 0)
        memset((void *)shm_route(s, row, 0), 0,
               sizeof(struct shm_route_stats) * nr);
}

/* The time of a decision: the caller's, or (0) the clock read after the
 * TAT was, so that it is never older than the time of whoever wrote that
 * TAT (a process paused between reading the clock and deciding would
 * otherwise judge a fresh TAT by a stale clock, and refuse wrongly when
 * the burst tolerance is short). */
static uint64_t
rl_now(uint64_t now)
{
    struct timespec ts;

    if (now != 0)
        return now;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The decision over one claimed slot: CAS the TAT until no one decided
 * in between.  False if the slot changed hands meanwhile (evicted). */
static bool
rl_decide(struct shm_rl_entry *e, uint64_t key, uint64_t now,
          uint64_t period, uint64_t burst, struct gcra_out *o)
{
    uint64_t tat = atomic_load_explicit(&e->tat, memory_order_acquire);

    for (;;) {
        if (atomic_load_explicit(&e->key, memory_order_acquire) != key)
            return false;
        gcra_decide(tat, rl_now(now), period, burst, o);
        if (!o->allowed)
            return true;
        if (atomic_compare_exchange_weak_explicit(&e->tat, &tat, o->tat,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

struct shm_limit_stat *
shm_limit_stat(struct shm *s, uint64_t id)
{
    uint64_t home = id % SHM_LIMIT_STATS;

    for (unsigned i = 0; i < SHM_LIMIT_STATS; i++) {
        struct shm_limit_stat *ls =
            &s->hdr->limit_stats[(home + i) % SHM_LIMIT_STATS];
        uint64_t k = atomic_load_explicit(&ls->id, memory_order_acquire);
        if (k == id)
            return ls;
        if (k == 0 && (atomic_compare_exchange_strong(&ls->id, &k, id) ||
                       k == id))
            return ls;
    }
    return NULL;
}

const struct shm_limit_stat *
shm_limit_stat_find(const struct shm *s, uint64_t id)
{
    uint64_t home = id % SHM_LIMIT_STATS;

    for (unsigned i = 0; i < SHM_LIMIT_STATS; i++) {
        const struct shm_limit_stat *ls =
            &s->hdr->limit_stats[(home + i) % SHM_LIMIT_STATS];
        uint64_t k = atomic_load_explicit(&ls->id, memory_order_acquire);
        if (k == id)
            return ls;
        if (k == 0)
            return NULL;
    }
    return NULL;
}

static void
rl_full(struct shm *s, uint64_t now, struct gcra_out *o)
{
    (void)now;
    atomic_fetch_add_explicit(&s->hdr->rl_full, 1, memory_order_relaxed);
    o->allowed = false;
    o->tat = 0;
    o->remaining = 0;
    o->retry_ns = 1000000000ULL;
    o->reset_ns = 1000000000ULL;
}

int
shm_rl_take(struct shm *s, uint64_t key, uint64_t now, uint64_t period,
            uint64_t burst, struct gcra_out *o)
{
    uint64_t n = s->hdr->rl_entries;

    if (key == 0)
        key = 1;                /* 0 marks a free slot */
    for (int tries = 0; tries < 4; tries++) {
        uint64_t home = key % n;
        struct shm_rl_entry *victim = NULL;
        uint64_t victim_tat = UINT64_MAX, victim_key = 0;
        for (unsigned i = 0; i < SHM_RL_PROBE; i++) {
            struct shm_rl_entry *e = &s->rl[(home + i) % n];
            uint64_t k = atomic_load_explicit(&e->key, memory_order_acquire);
            if (k == 0) {
                /* Free: claim it.  A fresh slot's TAT is 0 (or a past
                 * one's left by an earlier owner, which means the same:
                 * a full burst). */
                if (atomic_compare_exchange_strong(&e->key, &k, key)) {
                    if (rl_decide(e, key, now, period, burst, o))
                        return SHM_RL_OK;
                    break;      /* taken over already: start again */
                }
            }
            if (k == key) {
                if (rl_decide(e, key, now, period, burst, o))
                    return SHM_RL_OK;
                break;
            }
            uint64_t t = atomic_load_explicit(&e->tat, memory_order_relaxed);
            if (t < victim_tat) {
                victim = e;
                victim_tat = t;
                victim_key = k;
            }
        }
        if (victim == NULL)
            continue;
        /* Full: take over the stalest entry, only if its TAT has passed
         * (its key has its whole burst again: forgetting it changes
         * nothing).  A live entry is a key still counted: never taken,
         * the request is refused instead. */
        uint64_t t0 = rl_now(now);
        if (victim_tat > t0) {
            rl_full(s, t0, o);
            return SHM_RL_FULL;
        }
        if (!atomic_compare_exchange_strong(&victim->key, &victim_key, key))
            continue;
        atomic_fetch_add_explicit(&s->hdr->rl_evictions, 1,
                                  memory_order_relaxed);
        /* Its old TAT is past: a fresh key's.  Someone who decided on the
         * slot meanwhile (the old key, at most once) left a TAT that
         * rl_decide reads like any other. */
        if (rl_decide(victim, key, now, period, burst, o))
            return SHM_RL_EVICTED;
    }
    /* Contended beyond reason (the probe sequence changed hands four
     * times under us): refuse, as when full. */
    rl_full(s, rl_now(now), o);
    return SHM_RL_FULL;
}
