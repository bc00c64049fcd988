/* jwt_cache: hits, misses, expiry, CLOCK eviction, overwrite, limits. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt_cache.h"
#include "tap.h"

#define NOW 1700000000LL

/* A digest made up for entry k: distinct in its first bytes. */
static void
dig(unsigned k, unsigned char d[JWT_CACHE_DIGEST])
{
    memset(d, 0xa5, JWT_CACHE_DIGEST);
    memcpy(d, &k, sizeof(k));
}

/* Is k held with the blob "v<k>"? */
static bool
holds(struct jwt_cache *c, unsigned k, int64_t now)
{
    unsigned char d[JWT_CACHE_DIGEST];
    char want[32];
    const void *b;
    size_t n;

    dig(k, d);
    snprintf(want, sizeof(want), "v%u", k);
    return jwt_cache_get(c, d, now, &b, &n) == 0 && n == strlen(want) &&
           memcmp(b, want, n) == 0;
}

static int
put(struct jwt_cache *c, unsigned k, int64_t now, int64_t exp)
{
    unsigned char d[JWT_CACHE_DIGEST];
    char v[32];

    dig(k, d);
    snprintf(v, sizeof(v), "v%u", k);
    return jwt_cache_put(c, d, now, exp, v, strlen(v));
}

static void
test_digest(void)
{
    struct jwt_cache *c = jwt_cache_new(4);
    unsigned char d[JWT_CACHE_DIGEST], d2[JWT_CACHE_DIGEST];
    static const unsigned char abc[JWT_CACHE_DIGEST] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
    };

    ok(c != NULL, "a cache of 4");
    ok(jwt_cache_digest(c, "abc", 3, d) == 0 &&
       memcmp(d, abc, sizeof(abc)) == 0, "digest: SHA-256(\"abc\")");
    ok(jwt_cache_digest(c, "abd", 3, d2) == 0 &&
       memcmp(d, d2, sizeof(d)) != 0, "digest: another token, another key");
    ok(jwt_cache_digest(c, "abc", 3, d2) == 0 &&
       memcmp(d, abc, sizeof(abc)) == 0, "digest: the context is reused");
    ok(jwt_cache_digest(NULL, "abc", 3, d) < 0, "digest: no cache, -1");
    jwt_cache_free(c);
}

static void
test_hit_miss_expiry(void)
{
    struct jwt_cache *c = jwt_cache_new(8);
    unsigned char d[JWT_CACHE_DIGEST];
    const void *b = NULL;
    size_t n = 0;

    ok(!holds(c, 1, NOW), "an empty cache misses");
    is_int(put(c, 1, NOW, NOW + 10), 0, "put");
    ok(holds(c, 1, NOW), "hit: the blob comes back");
    ok(!holds(c, 2, NOW), "another digest misses");
    ok(holds(c, 1, NOW + 9), "a second before expiry: still a hit");
    is_int(jwt_cache_count(c), 1, "one entry");
    ok(!holds(c, 1, NOW + 10), "at expiry: a miss");
    is_int(jwt_cache_count(c), 0, "the expired entry is freed");
    ok(!holds(c, 1, NOW + 9), "and stays gone");
    is_int(put(c, 3, NOW, NOW), -1, "an entry expiring now is refused");
    is_int(put(c, 3, NOW, NOW - 5), -1, "an entry expired is refused");
    ok(!holds(c, 3, NOW - 10), "neither is kept");

    /* Two digests alike in the bytes the index uses: the whole is
     * compared. */
    unsigned char d2[JWT_CACHE_DIGEST];
    dig(7, d);
    dig(7, d2);
    d2[JWT_CACHE_DIGEST - 1] ^= 1;
    ok(jwt_cache_put(c, d, NOW, NOW + 5, "seven", 5) == 0, "put 7");
    ok(jwt_cache_get(c, d2, NOW, &b, &n) < 0,
       "a digest differing in its last bit misses");
    ok(jwt_cache_put(c, d2, NOW, NOW + 5, "other", 5) == 0 &&
       jwt_cache_get(c, d, NOW, &b, &n) == 0 && n == 5 &&
       memcmp(b, "seven", 5) == 0 &&
       jwt_cache_get(c, d2, NOW, &b, &n) == 0 && memcmp(b, "other", 5) == 0,
       "both kept apart in one chain");
    ok(jwt_cache_put(c, d, NOW, NOW + 5, NULL, 0) == 0 &&
       jwt_cache_get(c, d, NOW, &b, &n) == 0 && n == 0, "an empty blob");
    jwt_cache_free(c);
}

static void
test_overwrite_and_size(void)
{
    struct jwt_cache *c = jwt_cache_new(2);
    unsigned char d[JWT_CACHE_DIGEST], big[JWT_CACHE_BLOB + 1];
    const void *b;
    size_t n;

    dig(1, d);
    memset(big, 'x', sizeof(big));
    ok(jwt_cache_put(c, d, NOW, NOW + 5, "old", 3) == 0, "put");
    ok(jwt_cache_put(c, d, NOW, NOW + 50, "newer", 5) == 0, "overwrite");
    ok(jwt_cache_get(c, d, NOW + 20, &b, &n) == 0 && n == 5 &&
       memcmp(b, "newer", 5) == 0, "the new blob and the new expiry");
    is_int(jwt_cache_count(c), 1, "still one entry");
    ok(jwt_cache_put(c, d, NOW, NOW + 5, big, sizeof(big)) < 0,
       "a blob over JWT_CACHE_BLOB is refused");
    ok(jwt_cache_get(c, d, NOW, &b, &n) == 0 && n == 5 &&
       memcmp(b, "newer", 5) == 0 && jwt_cache_get(c, d, NOW + 20, &b, &n) == 0,
       "and the entry is as it was");
    dig(2, d);
    ok(jwt_cache_put(c, d, NOW, NOW + 5, big, JWT_CACHE_BLOB) == 0 &&
       jwt_cache_get(c, d, NOW, &b, &n) == 0 && n == JWT_CACHE_BLOB &&
       memcmp(b, big, n) == 0, "a blob of JWT_CACHE_BLOB is kept whole");
    jwt_cache_free(c);

    ok(jwt_cache_new(0) == NULL, "cap 0: no cache");
    ok(jwt_cache_new(JWT_CACHE_MAX + 1) == NULL, "cap over the maximum: none");
    ok(jwt_cache_put(NULL, d, NOW, NOW + 5, "x", 1) < 0 &&
       jwt_cache_get(NULL, d, NOW, &b, &n) < 0 && jwt_cache_count(NULL) == 0,
       "no cache keeps nothing");
    jwt_cache_free(NULL);
}

static void
test_eviction(void)
{
    struct jwt_cache *c = jwt_cache_new(4);

    for (unsigned k = 1; k <= 4; k++)
        put(c, k, NOW, NOW + 100);
    is_int(jwt_cache_count(c), 4, "full");
    put(c, 5, NOW, NOW + 100);
    is_int(jwt_cache_count(c), 4, "a fifth: still 4 entries");
    ok(!holds(c, 1, NOW) && holds(c, 5, NOW),
       "without lookups the oldest goes first");
    /* 2, 3, 4, 5 held; 5 looked up just now, 2 too */
    ok(holds(c, 2, NOW), "2 is looked up");
    put(c, 6, NOW, NOW + 100);
    ok(holds(c, 2, NOW) && !holds(c, 3, NOW) && holds(c, 6, NOW),
       "a looked-up entry gets a second chance: 3 goes, not 2");
    /* an expired entry goes before a live one the hand meets first */
    put(c, 7, NOW, NOW + 1);            /* takes 4's slot */
    ok(!holds(c, 4, NOW) && holds(c, 7, NOW), "7 in place of 4");
    put(c, 8, NOW + 2, NOW + 100);
    ok(!holds(c, 7, NOW) && holds(c, 8, NOW + 2) && holds(c, 2, NOW + 2) &&
       holds(c, 6, NOW + 2), "the expired 7 is evicted, the live ones stay");
    /* a lookup that finds an entry expired frees its slot for the next */
    put(c, 9, NOW, NOW + 3);
    ok(!holds(c, 9, NOW + 3), "9 found expired");
    is_int(jwt_cache_count(c), 3, "its slot is free");
    put(c, 10, NOW + 3, NOW + 100);
    ok(holds(c, 10, NOW + 3) && holds(c, 8, NOW + 3) && holds(c, 2, NOW + 3) &&
       holds(c, 6, NOW + 3), "the freed slot is taken, nothing evicted");
    jwt_cache_free(c);
}

/* Many random operations against a plain model: a hit always carries its
 * own blob, never an expired one, and the count stays bounded. */
static void
test_random(void)
{
    enum { CAP = 64, KEYS = 200, OPS = 20000 };
    struct jwt_cache *c = jwt_cache_new(CAP);
    int64_t exp_of[KEYS];
    bool in[KEYS];
    int wrong = 0, hits = 0;
    unsigned seed = 12345;

    memset(in, 0, sizeof(in));
    for (int op = 0; op < OPS; op++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % KEYS;
        int64_t now = NOW + op / 100;
        if ((seed >> 20) & 1) {
            int64_t e = now + 1 + (seed >> 24) % 20;
            put(c, k, now, e);
            exp_of[k] = e;
            in[k] = true;
        } else {
            unsigned char d[JWT_CACHE_DIGEST];
            char want[32];
            const void *b;
            size_t n;
            dig(k, d);
            snprintf(want, sizeof(want), "v%u", k);
            if (jwt_cache_get(c, d, now, &b, &n) == 0) {
                hits++;
                if (!in[k] || now >= exp_of[k] || n != strlen(want) ||
                    memcmp(b, want, n) != 0)
                    wrong++;
            }
        }
        if (jwt_cache_count(c) > CAP)
            wrong++;
    }
    is_int(wrong, 0, "random: every hit right and live, never over the cap");
    ok(hits > 100, "random: hits happen (%d)", hits);
    jwt_cache_free(c);
}

int
main(void)
{
    test_digest();
    test_hit_miss_expiry();
    test_overwrite_and_size();
    test_eviction();
    test_random();
    return done_testing();
}
