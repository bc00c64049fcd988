/* Unit tests of lib/balance.c: smooth WRR, least connections, p2c and
 * the consistent-hash ring. */
#include <stdlib.h>

#include "balance.h"
#include "tap.h"

static void
test_wrr(void)
{
    unsigned w[] = { 5, 1, 1 };
    uint16_t s[7];
    char got[8] = { 0 };

    is_int((long long)bal_wrr_schedule(w, 3, s), 7, "5:1:1: a cycle of 7");
    for (int i = 0; i < 7; i++)
        got[i] = (char)('a' + s[i]);
    is_str(got, "aabacaa", "5:1:1 interleaves (nginx's smooth order)");

    /* never a run longer than the weight ratio needs */
    unsigned w2[] = { 3, 1 };
    uint16_t s2[4];
    bal_wrr_schedule(w2, 2, s2);
    int counts[2] = { 0, 0 };
    for (int i = 0; i < 4; i++)
        counts[s2[i]]++;
    ok(counts[0] == 3 && counts[1] == 1, "3:1 gives 3 and 1 per cycle");

    unsigned w3[] = { 1, 1, 1 };
    uint16_t s3[3];
    bal_wrr_schedule(w3, 3, s3);
    ok(s3[0] == 0 && s3[1] == 1 && s3[2] == 2, "equal weights: in order");

    unsigned w4[] = { 2, 0 };
    is_int((long long)bal_wrr_schedule(w4, 2, s3), 0, "a zero weight is refused");

    /* large weights: counts exact over a cycle, spacing even */
    unsigned w5[] = { 100, 37, 1 };
    uint16_t *s5 = malloc(138 * sizeof(*s5));
    bal_wrr_schedule(w5, 3, s5);
    int c5[3] = { 0, 0, 0 }, run = 0, maxrun = 0;
    for (int i = 0; i < 138; i++) {
        c5[s5[i]]++;
        run = i > 0 && s5[i] == s5[i - 1] ? run + 1 : 1;
        if (run > maxrun)
            maxrun = run;
    }
    ok(c5[0] == 100 && c5[1] == 37 && c5[2] == 1, "100:37:1 counts exact");
    ok(maxrun <= 4, "100:37:1: no run longer than 4 (longest %d)", maxrun);
    free(s5);
}

static void
test_least(void)
{
    int64_t a[] = { 3, 1, 1, 0 };
    unsigned w[] = { 1, 1, 1, 1 };
    bool ok4[] = { true, true, true, true };

    is_int(bal_least(a, w, ok4, 4, 0), 3, "the idle one wins");
    ok4[3] = false;
    is_int(bal_least(a, w, ok4, 4, 0), 1, "ties: the first from start");
    is_int(bal_least(a, w, ok4, 4, 2), 2, "ties rotate with start");
    /* weights: 4 active on weight 4 beats 2 on weight 1 */
    int64_t b[] = { 4, 2 };
    unsigned wb[] = { 4, 1 };
    bool okb[] = { true, true };
    is_int(bal_least(b, wb, okb, 2, 1), 0, "active per weight");
    bool none[] = { false, false };
    is_int(bal_least(b, wb, none, 2, 0), -1, "none ok: -1");
}

static void
test_p2c(void)
{
    int64_t a[] = { 10, 0, 10 };
    unsigned w[] = { 1, 1, 1 };
    bool ok3[] = { true, true, true };
    uint64_t rng = 42;
    int hits[3] = { 0, 0, 0 };

    for (int i = 0; i < 3000; i++) {
        int k = bal_p2c(a, w, ok3, 3, bal_rand(&rng), bal_rand(&rng));
        if (k >= 0)
            hits[k]++;
    }
    /* the idle server is in 2 of 3 pairs and always wins them */
    ok(hits[1] > 1800 && hits[1] < 2200, "p2c favours the idle server "
       "(%d of 3000)", hits[1]);
    /* idle servers of weights 3:1: drawn in proportion */
    int64_t idle[] = { 0, 0 };
    unsigned w31[] = { 3, 1 };
    bool ok2[] = { true, true };
    int heavy = 0;
    for (int i = 0; i < 4000; i++)
        heavy += bal_p2c(idle, w31, ok2, 2, bal_rand(&rng), bal_rand(&rng)) == 0;
    ok(heavy > 2800 && heavy < 3200, "p2c over idle servers follows weights "
       "3:1 (%d of 4000)", heavy);
    bool only[] = { false, false, true };
    is_int(bal_p2c(a, w, only, 3, 5, 7), 2, "one ok server: that one");
    bool none[] = { false, false, false };
    is_int(bal_p2c(a, w, none, 3, 5, 7), -1, "none ok: -1");
}

static void
test_ring(void)
{
    enum { N = 5, KEYS = 20000 };
    uint64_t ids[N];
    unsigned w[N];
    bool ok5[N];
    struct bal_ring full, less;

    for (int i = 0; i < N; i++) {
        char name[32];
        int l = snprintf(name, sizeof(name), "127.0.0.1:%d", 9001 + i);
        ids[i] = bal_hash(name, (size_t)l);
        w[i] = 1;
        ok5[i] = true;
    }
    ok(bal_ring_build(&full, ids, w, N) == 0, "ring of 5 built");
    /* balance: each server gets about a fifth */
    int share[N] = { 0 };
    for (int k = 0; k < KEYS; k++) {
        uint64_t h = bal_hash(&k, sizeof(k));
        share[bal_ring_find(&full, h, ok5)]++;
    }
    int lo = KEYS, hi = 0;
    for (int i = 0; i < N; i++) {
        lo = share[i] < lo ? share[i] : lo;
        hi = share[i] > hi ? share[i] : hi;
    }
    ok(lo > KEYS / N * 0.8 && hi < KEYS / N * 1.2,
       "shares within 20%% of a fifth (%d..%d of %d)", lo, hi, KEYS);

    /* remove server 2 from the config: only about 1/5 of keys move */
    uint64_t ids4[N - 1];
    unsigned w4[N - 1];
    for (int i = 0, j = 0; i < N; i++)
        if (i != 2) {
            ids4[j] = ids[i];
            w4[j++] = 1;
        }
    bal_ring_build(&less, ids4, w4, N - 1);
    bool ok4[N - 1] = { true, true, true, true };
    int moved = 0, wrongly = 0;
    for (int k = 0; k < KEYS; k++) {
        uint64_t h = bal_hash(&k, sizeof(k));
        int a = bal_ring_find(&full, h, ok5);
        int b = bal_ring_find(&less, h, ok4);
        int b_orig = b >= 2 ? b + 1 : b;     /* index in the full pool */
        if (a != b_orig) {
            moved++;
            if (a != 2)
                wrongly++;
        }
    }
    double frac = (double)moved / KEYS;
    ok(frac > 0.15 && frac < 0.25, "removing 1 of 5 remaps %.1f%% of keys "
       "(about 20%%)", frac * 100);
    is_int(wrongly, 0, "only the removed server's keys move");

    /* a down server: its keys spread, the others keep theirs */
    ok5[4] = false;
    int changed = 0;
    for (int k = 0; k < KEYS; k++) {
        uint64_t h = bal_hash(&k, sizeof(k));
        bool all[N] = { true, true, true, true, true };
        int a = bal_ring_find(&full, h, all), b = bal_ring_find(&full, h, ok5);
        if (a != 4 && a != b)
            changed++;
        if (b == 4)
            changed++;
    }
    is_int(changed, 0, "a down server's keys go elsewhere, no other moves");
    bool none[N] = { false, false, false, false, false };
    is_int(bal_ring_find(&full, 1, none), -1, "none ok: -1");

    /* weights: 3:1 gives about three quarters */
    unsigned w31[2] = { 3, 1 };
    struct bal_ring r31;
    bal_ring_build(&r31, ids, w31, 2);
    bool ok2[2] = { true, true };
    int c0 = 0;
    for (int k = 0; k < KEYS; k++) {
        uint64_t h = bal_hash(&k, sizeof(k));
        c0 += bal_ring_find(&r31, h, ok2) == 0;
    }
    ok(c0 > KEYS * 0.70 && c0 < KEYS * 0.80, "3:1 ring gives %.1f%% to the "
       "heavy server", 100.0 * c0 / KEYS);
    bal_ring_free(&r31);
    bal_ring_free(&full);
    bal_ring_free(&less);
}

int
main(void)
{
    test_wrr();
    test_least();
    test_p2c();
    test_ring();
    is_int((long long)(bal_hash("a", 1) == bal_hash("b", 1)), 0,
           "hash differs for different input");
    return done_testing();
}
