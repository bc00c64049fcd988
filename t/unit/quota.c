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
    /* Full table (issue 12): an entry counting in the current period is
     * never taken from its key; a new key is refused instead. */
    int full = 0;
    for (uint64_t k = 1000; k < 1200; k++)
        full += quota_take(&s, k, "fill", &q, q.day, 1000, &o) == QUOTA_FULL;
    ok(full > 0 && atomic_load(&s.hdr->quota_evictions) == 0 &&
       atomic_load(&s.hdr->quota_full) == (uint64_t)full,
       "a table full of current counts evicts none, refuses (%d)", full);
    int r = quota_take(&s, 999999, "new", &q, q.day, 1, &o);
    ok(r == QUOTA_FULL && !o.allowed && o.used == 0,
       "a new key is refused, not counted");
    quota_take(&s, 42, "q ip:a", &q2, q2.day, 3, &o);
    quota_take(&s, 42, "q ip:a", &q2, q2.day, 3, &o);
    quota_take(&s, 42, "q ip:a", &q2, q2.day, 3, &o);
    ok(!o.allowed && o.used == 3, "a spent key stays spent through it");
    /* The next day every entry of yesterday may be taken. */
    r = quota_take(&s, 999999, "new", &q2, q2.day, 1, &o);
    ok(r == QUOTA_EVICTED && o.allowed && o.used == 1,
       "the next day a new key takes a past period's entry, from zero");
    /* A new key that must evict, raced by 4 processes: one count. */
    is_int(race(&s, 555555, &q2, q2.day, 120), 120,
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

/* Issue 12: a quota entry changes hands in one CAS on its key, so a
 * process killed at any instant leaves no entry half-installed (before,
 * one killed between marking an entry BUSY and publishing it left it
 * busy forever).  What a kill can leave: the key published, the label
 * not (ready 0) -- the entry still counts and is still saved. */
static void
test_killed_install(void)
{
    struct shm s;
    struct shm_sizes z = { 4, 2, 4, 64, 16 };     /* one probe sequence */
    struct quota_now q, y;
    struct quota_out o;

    memset(&s, 0, sizeof(s));
    shm_create_sized(&s, &z);
    quota_now_at(&q, T0);
    quota_now_at(&y, T0 - 86400);
    for (uint64_t k = 1; k <= 16; k++)
        quota_take(&s, k, "old", &y, y.day, 10, &o);
    /* The kill: a process took entry 5's key (one CAS) and died before
     * writing the label. */
    struct shm_quota_entry *e = &s.quota[5];
    uint64_t k5 = atomic_load(&e->key);
    ok(atomic_compare_exchange_strong(&e->key, &k5, 777) , "a takeover: one CAS");
    atomic_store(&e->ready, 0);
    int r = quota_take(&s, 777, "late ip:x", &q, q.day, 10, &o);
    ok(r == QUOTA_OK && o.allowed && o.used == 1,
       "the key the killed process installed counts from zero");
    quota_take(&s, 777, "late ip:x", &q, q.day, 10, &o);
    is_int(o.used, 2, "and goes on counting in the same entry");
    int n777 = 0;
    for (int i = 0; i < 16; i++)
        n777 += atomic_load(&s.quota[i].key) == 777;
    is_int(n777, 1, "one entry for the key");
    char dir[64], path[128], err[256], text[2048] = "";
    snprintf(dir, sizeof(dir), "/tmp/cerb-quota-k%ld", (long)getpid());
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/q.state", dir);
    is_int(quota_save(&s, path, T0, err, sizeof(err)), 1,
           "the entry is saved though its label was never written");
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    ok(strstr(text, " 2 ?\n") != NULL, "with \"?\" for a label");
    /* The hash key goes with the file, so the hashes match next run. */
    struct shm s2;
    size_t bad;
    memset(&s2, 0, sizeof(s2));
    shm_create_sized(&s2, &z);
    ok(memcmp(s2.hdr->quota_hash_key, s.hdr->quota_hash_key, 16) != 0,
       "each start draws its own key");
    ok(quota_load(&s2, path, T0, &bad, err, sizeof(err)) == 1 && bad == 0 &&
       memcmp(s2.hdr->quota_hash_key, s.hdr->quota_hash_key, 16) == 0,
       "loading a state file takes its key");
    /* A file of an older version (no key line): its hashes are unkeyed,
     * its lines skipped. */
    f = fopen(path, "w");
    fputs("# cerberus quota state 1\n0000000000000309 20780 2 old\n", f);
    fclose(f);
    struct shm s3;
    memset(&s3, 0, sizeof(s3));
    shm_create_sized(&s3, &z);
    ok(quota_load(&s3, path, T0, &bad, err, sizeof(err)) == 0 && bad == 1,
       "a file without a key: its lines skipped (%zu)", bad);
    unlink(path);
    rmdir(dir);
    shm_destroy(&s);
    shm_destroy(&s2);
    shm_destroy(&s3);
}

int
main(void)
{
    test_periods();
    test_take();
    test_state();
    test_killed_install();
    return done_testing();
}
