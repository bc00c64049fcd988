/* shm-t.h: layout of the shared memory region every process agrees on. */
#ifndef CERB_SHM_T_H
#define CERB_SHM_T_H

#include <stdatomic.h>
#include <stdint.h>

#define SHM_MAGIC       0x63657262657275ULL     /* "cerberu" */
#define SHM_VERSION     6
#define SHM_MAX_SERVERS 4096
/* Counter rows: one per live worker process (old generations draining
 * while new ones run included), so a crash zeroes exactly its own. */
#define SHM_ROWS        256
#define SHM_KEY_MAX     128
/* Entries of the rate-limit table when the config does not say. */
#define SHM_RL_DEFAULT  65536
/* Slots a key may sit in, from its hash's home slot on. */
#define SHM_RL_PROBE    8
/* Entries of the quota table when the config does not say. */
#define SHM_QUOTA_DEFAULT 16384
#define SHM_QUOTA_PROBE 16
/* Limits and quotas whose evictions and "table full" refusals are
 * counted one by one (more share the totals only). */
#define SHM_LIMIT_STATS 256
/* Routes whose request and refusal counters are kept. */
#define SHM_MAX_ROUTES  1024

enum { SHM_HEALTH_UP, SHM_HEALTH_DOWN };
enum { CB_CLOSED, CB_OPEN, CB_HALF_OPEN };
#define SHM_CONF_STATE_NONE 0xffffffffu   /* a slot no config has set yet */

/* One backend server, keyed by "pool address", stable across reloads.
 * Only the master writes key/in_use/gen_last/conf_state (before
 * forking); the rest are atomics written by workers, the checker and
 * the admin API.  Times are CLOCK_MONOTONIC milliseconds, the same
 * clock in every process. */
struct shm_server {
    char key[SHM_KEY_MAX];
    uint32_t in_use;
    uint32_t gen_last;          /* newest generation whose config has it */
    uint32_t conf_state;        /* the state the config last gave it */
    _Atomic uint32_t admin_state;   /* SRV_UP, SRV_DRAIN, SRV_DISABLED */
    _Atomic uint32_t health;        /* SHM_HEALTH_*: the active checks' verdict */
    _Atomic uint32_t rise_count, fall_count;
    _Atomic uint32_t passive_fails; /* within the window from passive_since */
    _Atomic uint32_t cb_state, cb_failures; /* CB_*; consecutive failures */
    _Atomic uint32_t last_latency_us;
    _Atomic uint32_t checks_ok, checks_failed;
    /* Requests in progress are not here: each worker row counts its own
     * (shm_conn_cell), in one atomic step, so that a worker killed at any
     * instant leaves nothing its row does not hold (shm_conn_total). */
    _Atomic uint64_t passive_since_ms;
    _Atomic uint64_t down_until_ms; /* passive: marked down until then */
    _Atomic uint64_t cb_open_until_ms;  /* open: until; half-open: probe deadline */
    _Atomic uint64_t up_since_ms;   /* back up at (slow start), 0: from the start */
    _Atomic uint64_t last_check_ms;
    _Atomic uint64_t rr_next;       /* pool's first server only: the shared
                                     * round-robin position of the pool */
    _Atomic uint64_t requests, failures;
    char last_error[96];
};

/* TLS session-ticket keys shared by every worker, so a session resumes
 * whichever worker the next connection lands on.  A seqlock: writers
 * make seq odd with a CAS, write, make it even; readers retry while it
 * is odd or changed under them. */
struct shm_ticket_key {
    unsigned char name[16], aes[32], hmac[32];
};
struct shm_tickets {
    _Atomic uint64_t seq;
    _Atomic uint64_t created_ms;        /* of keys[0], CLOCK_MONOTONIC */
    struct shm_ticket_key keys[2];      /* current, previous */
};

/* Per worker-process counters, in the same row as its connection counts. */
struct shm_row_stats {
    _Atomic int64_t pid;
    _Atomic int64_t client_conns;   /* open client connections */
    _Atomic uint64_t accepted;
    _Atomic uint64_t requests;
    _Atomic uint64_t tls_handshakes, tls_failures;
    _Atomic uint32_t slot, gen;     /* the worker's slot and generation */
    char pad[8];
};

/* One key of the rate-limit table (GCRA): the key's 64-bit hash (0: a
 * free slot; the limit's id is hashed in, keyed by hdr->rl_hash_key) and
 * its theoretical arrival time, CLOCK_MONOTONIC nanoseconds.  Claimed
 * with a CAS on key, decided with a CAS on tat; no lock.  An entry whose
 * TAT is still ahead (a key still limited, or with less than its whole
 * burst) is never given to another key. */
struct shm_rl_entry {
    _Atomic uint64_t key;
    _Atomic uint64_t tat;
};

/* One key of the quota table: the key's hash (0: free; the quota's id is
 * hashed in, keyed by hdr->quota_hash_key) and one word holding the
 * period and the count, so that a decision is one CAS.  An entry changes
 * hands in one CAS on key too (only an entry of a past period, or with a
 * count of 0, whose word a new key reads as zero), so a process killed at
 * any instant leaves no entry half-installed.  The label ("quota
 * key:value") is written by the process that claimed the entry, then
 * ready is set; it only names the entry in the state file. */
#define SHM_QUOTA_COUNT_BITS 40
#define SHM_QUOTA_LABEL 104
struct shm_quota_entry {
    _Atomic uint64_t key;
    _Atomic uint64_t word;      /* period << 40 | count */
    _Atomic uint32_t ready;
    uint32_t pad;
    char label[SHM_QUOTA_LABEL];
};

/* Counters of one rate limit or quota (id: SHM_LIMIT_RL or _QUOTA | its
 * id; 0: a free slot): entries of other keys it took over (their TAT past,
 * their period over) and requests refused because its key's probe
 * sequence held only live entries ("table full"). */
#define SHM_LIMIT_RL    (UINT64_C(1) << 63)
#define SHM_LIMIT_QUOTA (UINT64_C(1) << 62)
struct shm_limit_stat {
    _Atomic uint64_t id;
    _Atomic uint64_t evictions, full;
    uint64_t pad;
};

/* The gateway's counters of one route in one worker row: requests that
 * reached the policy chain and refusals by policy (enum gw_policy_id). */
#define SHM_ROUTE_REFUSALS 6
struct shm_route_stats {
    _Atomic uint64_t requests;
    _Atomic uint64_t refused[SHM_ROUTE_REFUSALS];
    uint64_t pad;
};

struct shm_header {
    uint64_t magic;
    uint32_t version;
    uint32_t max_servers;
    uint32_t rows;
    uint32_t hwm;               /* slots [0, hwm) have ever been used */
    uint64_t size;
    uint64_t servers_off;       /* struct shm_server[max_servers] */
    uint64_t stats_off;         /* struct shm_row_stats[rows] */
    uint64_t conns_off;         /* _Atomic int64_t[rows][max_servers] */
    unsigned char sticky_key[32];   /* drawn at creation: sticky cookies */
    struct shm_tickets tickets;
    uint64_t rl_off;            /* struct shm_rl_entry[rl_entries] */
    uint64_t rl_entries;
    _Atomic uint64_t rl_evictions;  /* expired entries taken by new keys */
    uint64_t quota_off;         /* struct shm_quota_entry[quota_entries] */
    uint64_t quota_entries;
    _Atomic uint64_t quota_evictions;   /* past-period entries taken */
    uint64_t routes_off;        /* struct shm_route_stats[rows][max_routes] */
    uint32_t max_routes;
    _Atomic uint32_t routes_hwm;    /* routes [0, hwm) may have counts */
    _Atomic uint32_t rows_hwm;      /* rows [0, hwm) may hold counts */
    /* Drawn at creation (the master, before the first fork), kept across
     * reloads with the tables; the quota key is replaced by the state
     * file's, whose hashes were made with it. */
    unsigned char rl_hash_key[16], quota_hash_key[16];
    _Atomic uint64_t rl_full, quota_full;   /* refused: no entry free */
    struct shm_limit_stat limit_stats[SHM_LIMIT_STATS];
};

#endif
