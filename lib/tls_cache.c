/* tls_cache: the TLS session-ID cache every worker shares.
 *
 * Fixed-size slots, each a session serialized by i2d_SSL_SESSION under its
 * session ID. A session's home slot is its ID's first bytes (IDs are random,
 * drawn by OpenSSL) modulo the slot count; it is stored in the first free,
 * expired or soonest-expiring (of equals, the oldest) slot of the
 * TLS_CACHE_PROBE that follow.
 *
 * Each slot is a seqlock: a writer makes seq odd with a CAS (or gives up:
 * the cache is best-effort), writes, and makes it even again; a reader
 * copies the slot and keeps the copy only if seq was even and unchanged
 * around it. No process ever waits for another. A worker killed in the
 * middle of a write leaves that one slot odd: it stays a miss until the
 * next start. */
#include "tls_cache.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define ID_MAX 32                       /* SSL_MAX_SSL_SESSION_ID_LENGTH */
#define DER_MAX (TLS_CACHE_SLOT - 64)

struct slot {
    _Atomic uint64_t seq;
    int64_t expires;                    /* time(2) seconds */
    uint64_t born;                      /* CLOCK_REALTIME ns, stored at */
    uint32_t len;                       /* of der; 0: empty */
    uint32_t idlen;
    unsigned char id[ID_MAX];
    unsigned char der[DER_MAX];
};

_Static_assert(sizeof(struct slot) == TLS_CACHE_SLOT, "slot size");

static struct slot *zone;
static uint64_t nslots;
static size_t zone_size;

int
tls_cache_create(uint64_t bytes)
{
    tls_cache_destroy();
    uint64_t n = tls_cache_slots_for(bytes);
    if (n == 0)
        return 0;
    size_t size = (size_t)n * TLS_CACHE_SLOT;
    /* Untouched pages cost nothing until sessions fill them. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    zone = p;
    nslots = n;
    zone_size = size;
    return 0;
}

void
tls_cache_destroy(void)
{
    if (zone != NULL)
        munmap(zone, zone_size);
    zone = NULL;
    nslots = 0;
    zone_size = 0;
}

uint64_t
tls_cache_slots_for(uint64_t bytes)
{
    uint64_t n = bytes / TLS_CACHE_SLOT;

    if (bytes == 0)
        return 0;
    return n < TLS_CACHE_PROBE ? TLS_CACHE_PROBE : n;
}

uint64_t
tls_cache_slots(void)
{
    return nslots;
}

static uint64_t
home(const unsigned char *id, unsigned idlen)
{
    uint64_t h = 0;

    memcpy(&h, id, idlen < sizeof(h) ? idlen : sizeof(h));
    return h % nslots;
}

static bool
slot_lock(struct slot *s, uint64_t *seq)
{
    uint64_t v = atomic_load_explicit(&s->seq, memory_order_relaxed);

    if ((v & 1) != 0 ||
        !atomic_compare_exchange_strong_explicit(&s->seq, &v, v + 1,
                                                 memory_order_acquire,
                                                 memory_order_relaxed))
        return false;
    atomic_thread_fence(memory_order_release);
    *seq = v;
    return true;
}

static void
slot_unlock(struct slot *s, uint64_t seq)
{
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

static int
new_cb(SSL *ssl, SSL_SESSION *sess)
{
    unsigned idlen = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);

    /* TLS 1.3 resumes by tickets; its session IDs are only for show. */
    if (zone == NULL || SSL_version(ssl) >= TLS1_3_VERSION || idlen == 0 ||
        idlen > ID_MAX)
        return 0;
    int len = i2d_SSL_SESSION(sess, NULL);
    if (len <= 0 || len > DER_MAX)
        return 0;
    unsigned char der[DER_MAX];
    unsigned char *p = der;
    if (i2d_SSL_SESSION(sess, &p) != len)
        return 0;
    int64_t expires = (int64_t)SSL_SESSION_get_time(sess) +
                      (int64_t)SSL_SESSION_get_timeout(sess);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec;
    uint64_t born = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;

    /* The victim: a free or expired slot, else the one expiring first
     * (of those, the oldest). */
    uint64_t h = home(id, idlen);
    struct slot *best = NULL;
    int64_t best_exp = INT64_MAX;
    uint64_t best_born = UINT64_MAX;
    for (unsigned i = 0; i < TLS_CACHE_PROBE; i++) {
        struct slot *s = &zone[(h + i) % nslots];
        if (s->len == 0 || s->expires <= now) {
            best = s;
            break;
        }
        if (s->expires < best_exp ||
            (s->expires == best_exp && s->born < best_born)) {
            best = s;
            best_exp = s->expires;
            best_born = s->born;
        }
    }
    uint64_t seq;
    if (best == NULL || !slot_lock(best, &seq))
        return 0;               /* another worker is writing it: skip */
    best->len = 0;
    best->expires = expires;
    best->born = born;
    best->idlen = idlen;
    memcpy(best->id, id, idlen);
    memcpy(best->der, der, (size_t)len);
    best->len = (uint32_t)len;
    slot_unlock(best, seq);
    return 0;                   /* no reference kept */
}

static SSL_SESSION *
get_cb(SSL *ssl, const unsigned char *id, int idlen, int *copy)
{
    (void)ssl;
    *copy = 0;
    if (zone == NULL || idlen <= 0 || idlen > ID_MAX)
        return NULL;
    int64_t now = (int64_t)time(NULL);
    uint64_t h = home(id, (unsigned)idlen);
    for (unsigned i = 0; i < TLS_CACHE_PROBE; i++) {
        struct slot *s = &zone[(h + i) % nslots];
        uint64_t v = atomic_load_explicit(&s->seq, memory_order_acquire);
        if ((v & 1) != 0)
            continue;
        uint32_t len = s->len;
        if (len == 0 || len > DER_MAX || s->idlen != (uint32_t)idlen ||
            memcmp(s->id, id, (size_t)idlen) != 0)
            continue;
        unsigned char der[DER_MAX];
        int64_t expires = s->expires;
        memcpy(der, s->der, len);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) != v)
            continue;           /* rewritten under us: a miss */
        if (expires <= now)
            return NULL;
        const unsigned char *p = der;
        return d2i_SSL_SESSION(NULL, &p, (long)len);
    }
    return NULL;
}

static void
remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    unsigned idlen = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);

    (void)ctx;
    if (zone == NULL || idlen == 0 || idlen > ID_MAX)
        return;
    uint64_t h = home(id, idlen);
    for (unsigned i = 0; i < TLS_CACHE_PROBE; i++) {
        struct slot *s = &zone[(h + i) % nslots];
        uint64_t seq;
        if (s->len == 0 || s->idlen != idlen ||
            memcmp(s->id, id, idlen) != 0 || !slot_lock(s, &seq))
            continue;
        if (s->idlen == idlen && memcmp(s->id, id, idlen) == 0)
            s->len = 0;
        slot_unlock(s, seq);
    }
}

void
tls_cache_use(SSL_CTX *ctx)
{
    if (zone == NULL)
        return;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER |
                                        SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, new_cb);
    SSL_CTX_sess_set_get_cb(ctx, get_cb);
    SSL_CTX_sess_set_remove_cb(ctx, remove_cb);
}
