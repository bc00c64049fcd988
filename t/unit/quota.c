/* quota: calendar periods (UTC), exact counts across processes, the
 * table when full, and the state file written and read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "quota.h"
#include "shm.h"
#include "tap.h"

/* 2026-11-23 12:00:00 UTC */
#define T0 ((time_t)1795435200)

static void
test_periods(void)
{
    struct quota_now q;

    quota_now_at(&q, T0);
    is_int(q.day, 20780, "day id: days since 1970-01-01");
    is_int(q.month & ~QUOTA_MONTH_BIT, (2026 - 1970) * 12 + 10,
           "month id: months since January 1970");
    ok(q.month & QUOTA_MONTH_BIT, "a month's id is marked as one");
    is_int(quota_seconds_left(&q, q.day), 43200, "12:00: half a day left");
    is_int(quota_seconds_left(&q, q.month), 648000,
           "7.5 days left in November");
    ok(quota_current(&q, q.day) && quota_current(&q, q.month) &&
       !quota_current(&q, q.day - 1) && !quota_current(&q, q.month - 1),
       "current periods, and not the ones before");
    quota_now_at(&q, (time_t)1798761599);       /* 2026-12-31 23:59:59 */
    is_int(quota_seconds_left(&q, q.month), 1, "the year's last second");
    is_int(quota_seconds_left(&q, q.day), 1, "and the day's");
    quota_now_at(&q, (time_t)1832976000);       /* 2028-02-01 00:00:00 */
    is_int(quota_seconds_left(&q, q.month), 29 * 86400,
           "February of a leap year: 29 days");
}

/* 4 processes take 50 each of key: how many passed. */
static int
race(struct shm *s, uint64_t key, const struct quota_now *q, uint32_t period,
     uint64_t limit)
{
    for (int c = 0; c < 4; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            int n = 0;
            for (int i = 0; i < 50; i++) {
                struct quota_out o;
                quota_take(s, key, "race", q, period, limit, &o);
                n += o.allowed;
            }
            _exit(n);
        }
    }
    int total = 0, st;
    while (wait(&st) > 0)
        total += WEXITSTATUS(st);
    return total;
}

static void
test_take(void)
{
    struct shm s;
    struct shm_sizes z = { 4, 2, 4, 64, 64 };
    struct quota_now q;
    struct quota_out o;

    memset(&s, 0, sizeof(s));
    if (!ok(shm_create_sized(&s, &z) == 0, "shm with a 64-entry quota table"))
        return;
    ok(s.hdr->quota_entries == 64 && s.hdr->quota_off % 64 == 0 &&
       s.hdr->routes_off >= s.hdr->quota_off + 64 * sizeof(struct shm_quota_entry) &&
       s.hdr->size >= s.hdr->routes_off + 2 * 4 * sizeof(struct shm_route_stats),
       "the tables fit the region");
    quota_now_at(&q, T0);
    int a = 0;
    for (int i = 0; i < 5; i++) {
        quota_take(&s, 42, "q ip:a", &q, q.day, 3, &o);
        a += o.allowed;
    }
    ok(a == 3 && !o.allowed && o.used == 3, "limit 3: 3 of 5 pass (%d)", a);
    quota_take(&s, 43, "q ip:b", &q, q.day, 3, &o);
    ok(o.allowed && o.used == 1, "keys are independent");
    /* The next day starts from zero. */
    struct quota_now q2;
    quota_now_at(&q2, T0 + 86400);
    quota_take(&s, 42, "q ip:a", &q2, q2.day, 3, &o);
    ok(o.allowed && o.used == 1, "a new day starts again from zero");
    /* Across processes: 4 children take 50 each of a key, limit 120. */
    is_int(race(&s, 7, &q, q.month, 120), 120,
           "4 processes racing on a key: exactly the limit pass");
    /* Full table: a past period's entry goes first, then the smallest. */
    for (uint64_t k = 1000; k < 1200; k++)
        quota_take(&s, k, "fill", &q, q.day, 1000, &o);
    ok(atomic_load(&s.hdr->quota_evictions) > 0,
       "a full table evicts current counts (%llu)",
       (unsigned long long)atomic_load(&s.hdr->quota_evictions));
    quota_take(&s, 999999, "new", &q, q.day, 1, &o);
    ok(o.allowed && o.used == 1, "a new key still gets its quota");
    /* A new key that must evict, raced by 4 processes: one count. */
    is_int(race(&s, 555555, &q, q.day, 120), 120,
           "4 processes racing on a key that evicts: exactly the limit pass");
    shm_destroy(&s);
}

static void
test_state(void)
{
    struct shm s, s2;
    struct shm_sizes z = { 4, 2, 4, 64, 256 };
    struct quota_now q;
    struct quota_out o;
    char dir[64], path[256], err[512];
    size_t bad;

    /* a directory of this process's own */
    snprintf(dir, sizeof(dir), "/tmp/cerb-quota-%ld", (long)getpid());
    if (!ok(mkdir(dir, 0700) == 0, "a temp dir %s", dir))
        return;
    snprintf(path, sizeof(path), "%s/quotas.state", dir);
    memset(&s, 0, sizeof(s));
    memset(&s2, 0, sizeof(s2));
    shm_create_sized(&s, &z);
    shm_create_sized(&s2, &z);
    ok(quota_load(&s2, path, T0, &bad, err, sizeof(err)) == 0,
       "no file: nothing loaded, no error");
    quota_now_at(&q, T0);
    for (int i = 0; i < 4; i++)
        quota_take(&s, 11, "day consumer:acme", &q, q.day, 10, &o);
    for (int i = 0; i < 2; i++)
        quota_take(&s, 12, "mon header:a\nb", &q, q.month, 10, &o);
    struct quota_now old;
    quota_now_at(&old, T0 - 86400);
    quota_take(&s, 13, "yesterday ip:x", &old, old.day, 10, &o);
    uint64_t d0 = quota_digest(&s, T0);
    ok(d0 == quota_digest(&s, T0), "the digest of an unchanged table stays");
    ok(d0 != quota_digest(&s, T0 + 86400), "a new day changes it (daily counts drop)");
    is_int(quota_save(&s, path, T0, err, sizeof(err)), 2,
           "saved: the two current entries, not yesterday's");
    FILE *f = fopen(path, "r");
    char text[1024] = "";
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    ok(strstr(text, "# cerberus quota state 1\n") == text,
       "the file starts with its magic line");
    if (!ok(strstr(text, " 4 day consumer:acme\n") != NULL &&
            strstr(text, " 2 mon header:a?b\n") != NULL,
            "one line per key, a newline in a label made harmless"))
        diag("%s", text);
    is_int(quota_load(&s2, path, T0, &bad, err, sizeof(err)), 2,
           "loaded back into a fresh table");
    quota_take(&s2, 11, "day consumer:acme", &q, q.day, 10, &o);
    is_int(o.used, 5, "acme goes on from 4");
    ok(quota_digest(&s2, T0) != d0, "a count changes the digest");
    quota_take(&s2, 12, "mon", &q, q.month, 10, &o);
    is_int(o.used, 3, "the monthly key from 2");
    /* A day later the daily count is gone, the monthly one stays. */
    struct shm s3;
    memset(&s3, 0, sizeof(s3));
    shm_create_sized(&s3, &z);
    is_int(quota_load(&s3, path, T0 + 86400, &bad, err, sizeof(err)), 1,
           "the next day only the month's count loads");
    /* Bad lines are skipped and counted; a wrong first line refuses. */
    f = fopen(path, "a");
    fputs("zz 1 2 x\n0000000000000001 20780 0 zero\n", f);
    fclose(f);
    struct shm s4;
    memset(&s4, 0, sizeof(s4));
    shm_create_sized(&s4, &z);
    ok(quota_load(&s4, path, T0, &bad, err, sizeof(err)) == 2 && bad == 2,
       "two bad lines skipped (%zu)", bad);
    f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    ok(quota_load(&s4, path, T0, &bad, err, sizeof(err)) == -1 &&
       strstr(err, ":1: not a cerberus quota state file") != NULL,
       "not a state file: refused (%s)", err);
    unlink(path);
    rmdir(dir);
    ok(quota_save(&s, path, T0, err, sizeof(err)) == -1 &&
       strstr(err, "cannot create") != NULL, "no directory: an error (%s)", err);
    shm_destroy(&s);
    shm_destroy(&s2);
    shm_destroy(&s3);
    shm_destroy(&s4);
}

int
main(void)
{
    test_periods();
    test_take();
    test_state();
    return done_testing();
}
