/* gcra: the decision over one TAT, and the shared table's keys. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcra.h"
#include "shm.h"
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
    /* Fill every probe sequence with live keys: takeovers are counted. */
    for (uint64_t k = 1000; k < 1200; k++)
        shm_rl_take(&s, k, now, S, 5, &o);
    ok(atomic_load(&s.hdr->rl_evictions) > 0,
       "a full table evicts (%llu)",
       (unsigned long long)atomic_load(&s.hdr->rl_evictions));
    shm_rl_take(&s, 999999, now, S, 5, &o);
    ok(o.allowed && o.remaining == 5, "a new key still gets a full burst");
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

int
main(void)
{
    test_burst();
    test_no_burst();
    test_table();
    return done_testing();
}
