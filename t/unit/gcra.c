/* gcra: the decision over one TAT, and the shared table's keys. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcra.h"
#include "shm.h"
#include "siphash.h"
#include "tap.h"

#define S 1000000000ULL

static void
test_burst(void)
{
    struct gcra_out o;
    uint64_t now = 1000 * S, tat = 0, T = S;    /* 1/s, burst 3 */
    int passed = 0;

    for (int i = 0; i < 10; i++) {
        gcra_decide(tat, now, T, 3, &o);
        if (o.allowed) {
            ok(o.remaining == 3 - passed, "request %d: remaining %lld", i,
               (long long)o.remaining);
            passed++;
        }
        tat = o.tat;
    }
    is_int(passed, 4, "a fresh key passes burst + 1 at once");
    gcra_decide(tat, now, T, 3, &o);
    ok(!o.allowed && o.retry_ns == S && o.reset_ns == 4 * S &&
       o.tat == tat, "refused: retry in one period, full in four, TAT kept");
    gcra_decide(tat, now + S - 1, T, 3, &o);
    ok(!o.allowed && o.retry_ns == 1, "one ns early is still refused");
    gcra_decide(tat, now + S, T, 3, &o);
    ok(o.allowed && o.remaining == 0, "one period later: one more passes");
    tat = o.tat;
    gcra_decide(tat, now + 100 * S, T, 3, &o);
    ok(o.allowed && o.remaining == 3 && o.tat == now + 101 * S,
       "long idle: a full burst again");
}

static void
test_no_burst(void)
{
    struct gcra_out o;
    uint64_t now = 5 * S, T = S / 10;           /* 10/s, burst 0 */

    gcra_decide(0, now, T, 0, &o);
    ok(o.allowed && o.remaining == 0 && o.reset_ns == T, "burst 0: one");
    gcra_decide(o.tat, now, T, 0, &o);
    ok(!o.allowed && o.retry_ns == T, "burst 0: the second waits T");
    gcra_decide(now + T, now + T / 2, T, 0, &o);
    ok(!o.allowed && o.retry_ns == T / 2, "half a period later: half left");
}

static void
test_table(void)
{
    struct shm s;
    struct gcra_out o;
    uint64_t now = 10 * S;

    memset(&s, 0, sizeof(s));
    if (!ok(shm_create_rl(&s, 4, 2, 64) == 0, "shm with a 64-entry table"))
        return;
    ok(s.hdr->rl_entries == 64 && s.hdr->rl_off % 64 == 0 &&
       s.hdr->size >= s.hdr->rl_off + 64 * sizeof(struct shm_rl_entry),
       "the table fits the region");
    int a = 0, b = 0;
    for (int i = 0; i < 5; i++) {
        shm_rl_take(&s, 42, now, S, 1, &o);
        a += o.allowed;
        shm_rl_take(&s, 43, now, S, 1, &o);
        b += o.allowed;
    }
    ok(a == 2 && b == 2, "keys are independent (%d, %d)", a, b);
    /* Across processes: 4 children take 50 each of a key, burst 99. */
    for (int c = 0; c < 4; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            int n = 0;
            for (int i = 0; i < 50; i++) {
                shm_rl_take(&s, 7, now, S, 99, &o);
                n += o.allowed;
            }
            _exit(n);
        }
    }
    int total = 0, st;
    while (wait(&st) > 0)
        total += WEXITSTATUS(st);
    is_int(total, 100, "4 processes racing on a key pass exactly burst + 1");
    /* Fill every probe sequence with live keys: no live key is taken
     * over (issue 12: that gave it a new burst); new keys are refused. */
    int full = 0;
    for (uint64_t k = 1000; k < 1200; k++)
        full += shm_rl_take(&s, k, now, S, 5, &o) == SHM_RL_FULL;
    ok(full > 0 && atomic_load(&s.hdr->rl_evictions) == 0 &&
       atomic_load(&s.hdr->rl_full) == (uint64_t)full,
       "a table full of live keys evicts none, refuses new keys (%d)", full);
    int r = shm_rl_take(&s, 999999, now, S, 5, &o);
    ok(r == SHM_RL_FULL && !o.allowed && o.retry_ns == S,
       "a new key is refused, retry in a second");
    r = shm_rl_take(&s, 999999, now + 10 * S, S, 5, &o);
    ok(r == SHM_RL_EVICTED && o.allowed && o.remaining == 5,
       "once the others' TATs passed it takes an expired entry, full burst");
    /* now = 0: the clock is read after the TAT, so processes that race on
     * a limit far above their pace (1e9/s, burst 1e6: 1 ms of tolerance)
     * are never refused, however they are scheduled. */
    for (int c = 0; c < 4; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            int refused = 0;
            for (int i = 0; i < 20000; i++) {
                shm_rl_take(&s, 77, 0, 1, 1000000, &o);
                refused += !o.allowed;
            }
            _exit(refused > 255 ? 255 : refused);
        }
    }
    int refused = 0;
    while (wait(&st) > 0)
        refused += WEXITSTATUS(st);
    is_int(refused, 0, "4 processes far under a short-tolerance limit: none refused");
    shm_destroy(&s);
}

/* Issue 12: flooding the table with new keys never resets a limited
 * key.  A 64-entry table (probe 8), key L at 1 per minute, burst 1, spent;
 * 10000 new keys at 1 per second arrive; L stays refused throughout, and
 * once the flood's entries expire new keys take them over (evictions),
 * never L's. */
static void
test_flood(void)
{
    struct shm s;
    struct gcra_out o;
    uint64_t now = 100 * S, L = 0x123456789abcdefULL, M = 60 * S;

    memset(&s, 0, sizeof(s));
    if (!ok(shm_create_rl(&s, 4, 2, 64) == 0, "a 64-entry table"))
        return;
    shm_rl_take(&s, L, now, M, 1, &o);
    shm_rl_take(&s, L, now, M, 1, &o);
    shm_rl_take(&s, L, now, M, 1, &o);
    ok(!o.allowed, "L spent its burst");
    int refused_l = 0, full = 0, evicted = 0;
    for (int round = 0; round < 10; round++) {
        uint64_t t = now + (uint64_t)round * 3 * S;
        for (uint64_t k = 0; k < 1000; k++) {
            int r = shm_rl_take(&s, (uint64_t)round << 32 | (k + 1), t, S, 0,
                                &o);
            full += r == SHM_RL_FULL;
            evicted += r == SHM_RL_EVICTED;
        }
        shm_rl_take(&s, L, t, M, 1, &o);
        refused_l += !o.allowed;
    }
    is_int(refused_l, 10, "L refused after every round of the flood");
    ok(full > 0 && evicted > 0, "the flood was refused (%d) and took only "
       "expired entries (%d)", full, evicted);
    is_int((long long)atomic_load(&s.hdr->rl_evictions), evicted,
           "evictions counted");
    is_int((long long)atomic_load(&s.hdr->rl_full), full, "full counted");
    shm_rl_take(&s, L, now + 2 * M, M, 1, &o);
    ok(o.allowed, "L passes again when its own TAT allows");
    shm_destroy(&s);
}

/* The reference vector of the SipHash paper (key 00..0f, message 00..0e)
 * and the empty message; pieces hash as their concatenation. */
static void
test_siphash(void)
{
    unsigned char key[16], msg[64];

    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    ok(siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL, "siphash of \"\"");
    ok(siphash(key, msg, 15) == 0xa129ca6149be45e5ULL,
       "siphash of 00..0e (the paper's vector)");
    int same = 1;
    for (size_t n = 0; n <= 64; n++)
        for (size_t a = 0; a <= n; a++)
            for (size_t b = a; b <= n; b++) {
                struct siphash h;
                siphash_init(&h, key);
                siphash_update(&h, msg, a);
                siphash_update(&h, msg + a, b - a);
                siphash_update(&h, msg + b, n - b);
                if (siphash_final(&h) != siphash(key, msg, n))
                    same = 0;
            }
    ok(same, "any split into three pieces hashes the same");
    key[0] ^= 1;
    ok(siphash(key, msg, 15) != 0xa129ca6149be45e5ULL, "another key, another hash");
}

int
main(void)
{
    test_burst();
    test_no_burst();
    test_table();
    test_flood();
    test_siphash();
    return done_testing();
}
