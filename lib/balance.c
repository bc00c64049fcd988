/* balance: the balancing algorithms over plain arrays. */
#include <stdlib.h>
#include <string.h>

#include "balance.h"

uint64_t
bal_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t
bal_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return bal_mix(h ^ n);
}

uint64_t
bal_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

size_t
bal_weight_sum(const unsigned *weights, size_t n)
{
    size_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += weights[i];
    return sum;
}

size_t
bal_wrr_schedule(const unsigned *weights, size_t n, uint16_t *out)
{
    size_t total = bal_weight_sum(weights, n);

    if (n == 0 || n > 65535)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (weights[i] == 0)
            return 0;
    int64_t *cur = calloc(n, sizeof(*cur));
    if (cur == NULL)
        return 0;
    /* Each pick: every server gains its weight, the largest current wins
     * and pays the total back (the first of equals wins). */
    for (size_t k = 0; k < total; k++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            cur[i] += weights[i];
            if (cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (int64_t)total;
        out[k] = (uint16_t)best;
    }
    free(cur);
    return total;
}

/* a/wa < b/wb, without division */
static bool
less_loaded(int64_t a, unsigned wa, int64_t b, unsigned wb)
{
    return (__int128)a * wb < (__int128)b * wa;
}

int
bal_least(const int64_t *active, const unsigned *weight, const bool *ok,
          size_t n, size_t start)
{
    int best = -1;

    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!ok[i])
            continue;
        if (best < 0 || less_loaded(active[i], weight[i], active[best],
                                    weight[best]))
            best = (int)i;
    }
    return best;
}

/* The ok server at weighted position r (weights of ok servers only). */
static int
weighted_pick(const unsigned *weight, const bool *ok, size_t n, uint64_t r,
              int skip)
{
    uint64_t total = 0;

    for (size_t i = 0; i < n; i++)
        if (ok[i] && (int)i != skip)
            total += weight[i];
    if (total == 0)
        return -1;
    r %= total;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i] || (int)i == skip)
            continue;
        if (r < weight[i])
            return (int)i;
        r -= weight[i];
    }
    return -1;
}

int
bal_p2c(const int64_t *active, const unsigned *weight, const bool *ok,
        size_t n, uint64_t r1, uint64_t r2)
{
    /* two different servers, each drawn in proportion to its weight */
    int ia = weighted_pick(weight, ok, n, r1, -1);
    if (ia < 0)
        return -1;
    int ib = weighted_pick(weight, ok, n, r2, ia);
    if (ib < 0)
        return ia;
    if (less_loaded(active[ib], weight[ib], active[ia], weight[ia]))
        return ib;
    return ia;
}

bool
bal_same_load(int64_t a, unsigned wa, int64_t b, unsigned wb)
{
    return (__int128)a * wb == (__int128)b * wa;
}

#define RING_POINTS     160     /* per unit of weight */
#define RING_MAX        65536   /* points in all, at most */

static int
point_cmp(const void *a, const void *b)
{
    const struct bal_point *x = a, *y = b;

    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

int
bal_ring_build(struct bal_ring *r, const uint64_t *ids,
               const unsigned *weights, size_t n)
{
    memset(r, 0, sizeof(*r));
    size_t total = bal_weight_sum(weights, n);
    if (n == 0 || total == 0)
        return -1;
    /* Points per server in proportion to weight, scaled to fit. */
    double scale = RING_POINTS;
    if ((double)total * scale > RING_MAX)
        scale = (double)RING_MAX / (double)total;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)((double)weights[i] * scale);
        cap += k ? k : 1;
    }
    r->points = malloc(cap * sizeof(*r->points));
    if (r->points == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)((double)weights[i] * scale);
        if (k == 0)
            k = 1;
        /* A point's place depends on its server's identity and number
         * only, so adding or removing one server leaves the others'. */
        for (size_t j = 0; j < k; j++) {
            uint64_t seed[2] = { ids[i], j };
            r->points[r->npoints].h = bal_hash(seed, sizeof(seed));
            r->points[r->npoints].server = (uint32_t)i;
            r->npoints++;
        }
    }
    qsort(r->points, r->npoints, sizeof(*r->points), point_cmp);
    return 0;
}

void
bal_ring_free(struct bal_ring *r)
{
    free(r->points);
    memset(r, 0, sizeof(*r));
}

int
bal_ring_find(const struct bal_ring *r, uint64_t h, const bool *ok)
{
    if (r->npoints == 0)
        return -1;
    size_t lo = 0, hi = r->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < r->npoints; k++) {
        const struct bal_point *p = &r->points[(lo + k) % r->npoints];
        if (ok[p->server])
            return (int)p->server;
    }
    return -1;
}
