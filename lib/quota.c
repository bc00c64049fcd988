/* quota: usage quotas per calendar day or month, in shared memory and a
 * state file. */
#include "quota.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uri.h"

#define COUNT_MASK ((UINT64_C(1) << SHM_QUOTA_COUNT_BITS) - 1)
/* Once marked an entry being installed; no key has it (older state files
 * may, and such lines are refused). */
#define KEY_BUSY (UINT64_C(1) << 63)
#define STATE_MAGIC "# cerberus quota state 1"
/* The line after the magic: the key of the hashes in the file. */
#define STATE_KEY "# hash-key "

/* Days from 1970-01-01 to year-month-01 (proleptic Gregorian; month
 * 1..12), after H. Hinnant's days_from_civil. */
static int64_t
days_from_civil(int64_t y, unsigned m)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
quota_now_at(struct quota_now *q, time_t t)
{
    struct tm tm;

    if (t < 0)
        t = 0;
    gmtime_r(&t, &tm);
    q->t = t;
    q->day = (uint32_t)(t / 86400) & (QUOTA_MONTH_BIT - 1);
    q->month = ((uint32_t)((tm.tm_year - 70) * 12 + tm.tm_mon) &
                (QUOTA_MONTH_BIT - 1)) | QUOTA_MONTH_BIT;
}

int64_t
quota_seconds_left(const struct quota_now *q, uint32_t period)
{
    int64_t end;

    if (period & QUOTA_MONTH_BIT) {
        int64_t m = (int64_t)(period & (QUOTA_MONTH_BIT - 1)) + 1;
        end = days_from_civil(1970 + m / 12, (unsigned)(m % 12) + 1) * 86400;
    } else {
        end = ((int64_t)period + 1) * 86400;
    }
    int64_t left = end - (int64_t)q->t;
    return left > 0 ? left : 1;
}

bool
quota_current(const struct quota_now *q, uint32_t period)
{
    return period == q->day || period == q->month;
}

/* The decision over one claimed entry: CAS the word until no one
 * decided in between.  False when the entry changed hands meanwhile. */
static bool
decide(struct shm_quota_entry *e, uint64_t key, uint32_t period,
       uint64_t limit, struct quota_out *o)
{
    uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);

    for (;;) {
        if (atomic_load_explicit(&e->key, memory_order_acquire) != key)
            return false;
        uint32_t wp = (uint32_t)(w >> SHM_QUOTA_COUNT_BITS);
        uint64_t cnt = w & COUNT_MASK;
        uint32_t p = period;
        /* A new period starts from zero; a process that read the clock
         * a moment later may already have counted in the next one, which
         * then stands. */
        if (wp != period) {
            if ((wp & QUOTA_MONTH_BIT) == (period & QUOTA_MONTH_BIT) &&
                wp > period)
                p = wp;
            else
                cnt = 0;
        }
        if (cnt >= limit) {
            o->allowed = false;
            o->used = cnt;
            return true;
        }
        uint64_t nw = (uint64_t)p << SHM_QUOTA_COUNT_BITS | (cnt + 1);
        if (atomic_compare_exchange_weak_explicit(&e->word, &w, nw,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire)) {
            o->allowed = true;
            o->used = cnt + 1;
            return true;
        }
    }
}

static void
set_label(struct shm_quota_entry *e, const char *label)
{
    atomic_store_explicit(&e->ready, 0, memory_order_relaxed);
    size_t n = 0;
    for (; label[n] && n + 1 < sizeof(e->label); n++) {
        unsigned char ch = (unsigned char)label[n];
        /* one line of the state file: no control characters */
        e->label[n] = ch < ' ' || ch == 0x7f ? '?' : (char)ch;
    }
    e->label[n] = '\0';
    atomic_store_explicit(&e->ready, 1, memory_order_release);
}

/* May entry word w be given to another key?  Only when what it holds
 * reads as zero to any key: a count of 0, or a period that is over (not a
 * current one, nor a later one written by a process whose clock ran a
 * moment ahead). */
static bool
reusable(const struct quota_now *q, uint64_t w)
{
    uint32_t wp = (uint32_t)(w >> SHM_QUOTA_COUNT_BITS);
    uint32_t now = (wp & QUOTA_MONTH_BIT) ? q->month : q->day;

    return (w & COUNT_MASK) == 0 || wp < now;
}

int
quota_take(struct shm *s, uint64_t key, const char *label,
           const struct quota_now *q, uint32_t period, uint64_t limit,
           struct quota_out *o)
{
    uint64_t n = s->hdr->quota_entries;

    key &= ~KEY_BUSY;
    if (key == 0)
        key = 1;                /* 0 marks a free entry */
    if (limit > COUNT_MASK)
        limit = COUNT_MASK;
    for (int tries = 0; tries < 4; tries++) {
        uint64_t home = key % n;
        struct shm_quota_entry *victim = NULL;
        uint64_t victim_key = 0;
        for (unsigned i = 0; i < SHM_QUOTA_PROBE; i++) {
            struct shm_quota_entry *e = &s->quota[(home + i) % n];
            uint64_t k = atomic_load_explicit(&e->key, memory_order_acquire);
            if (k == 0 &&
                atomic_compare_exchange_strong(&e->key, &k, key)) {
                /* Entries are never freed, so a free one was never used:
                 * its word is zero, and whoever finds the key now counts
                 * from there with us. */
                set_label(e, label);
                if (decide(e, key, period, limit, o))
                    return QUOTA_OK;
                break;
            }
            if (k == key) {
                if (decide(e, key, period, limit, o))
                    return QUOTA_OK;
                break;
            }
            if (victim == NULL &&
                reusable(q, atomic_load_explicit(&e->word,
                                                 memory_order_acquire))) {
                victim = e;
                victim_key = k;
            }
        }
        if (victim == NULL) {
            /* Every entry of the sequence counts in a current period:
             * none is taken from its key (that would give it a new
             * quota).  Refused, like a spent quota: fail closed. */
            atomic_fetch_add_explicit(&s->hdr->quota_full, 1,
                                      memory_order_relaxed);
            o->allowed = false;
            o->used = 0;
            return QUOTA_FULL;
        }
        /* Handed over in one CAS: the word stays, and reads as zero to
         * the new key (decide starts a new period from zero), so there is
         * no half-installed state for a killed process to leave behind.
         * A count the old key made in between (one request at most, by
         * a process that found its key before our CAS) stays in the
         * word: the new key counts on from it, never below zero. */
        if (!atomic_compare_exchange_strong(&victim->key, &victim_key, key))
            continue;
        atomic_fetch_add_explicit(&s->hdr->quota_evictions, 1,
                                  memory_order_relaxed);
        set_label(victim, label);
        if (decide(victim, key, period, limit, o))
            return QUOTA_EVICTED;
    }
    /* Contended beyond reason: refused, as when full. */
    atomic_fetch_add_explicit(&s->hdr->quota_full, 1, memory_order_relaxed);
    o->allowed = false;
    o->used = 0;
    return QUOTA_FULL;
}

/* Does entry e go in the state file (a key, a count of a current
 * period)?  Its key and word when it does. */
static bool
saved(const struct shm_quota_entry *e, const struct quota_now *q,
      uint64_t *k, uint64_t *w)
{
    *k = atomic_load_explicit(&e->key, memory_order_acquire);
    if (*k == 0 || (*k & KEY_BUSY))
        return false;
    *w = atomic_load_explicit(&e->word, memory_order_acquire);
    return (*w & COUNT_MASK) != 0 &&
           quota_current(q, (uint32_t)(*w >> SHM_QUOTA_COUNT_BITS));
}

uint64_t
quota_digest(const struct shm *s, time_t now)
{
    struct quota_now q;
    uint64_t d = 0x9e3779b97f4a7c15ULL;

    quota_now_at(&q, now);
    for (uint64_t i = 0; i < s->hdr->quota_entries; i++) {
        uint64_t k, w;
        if (saved(&s->quota[i], &q, &k, &w))
            d = (d ^ (k * 0xff51afd7ed558ccdULL) ^ w) * 0xc4ceb9fe1a85ec53ULL;
    }
    return d;
}

long
quota_save(const struct shm *s, const char *path, time_t now, char *err,
           size_t cap)
{
    char tmp[4096];
    struct quota_now q;
    long count = 0;

    quota_now_at(&q, now);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, cap, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                  0640);
    if (fd < 0) {
        snprintf(err, cap, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        snprintf(err, cap, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    fprintf(f, "%s\n%s", STATE_MAGIC, STATE_KEY);
    for (size_t i = 0; i < sizeof(s->hdr->quota_hash_key); i++)
        fprintf(f, "%02x", s->hdr->quota_hash_key[i]);
    fprintf(f, "\n# key period count label\n");
    for (uint64_t i = 0; i < s->hdr->quota_entries; i++) {
        const struct shm_quota_entry *e = &s->quota[i];
        uint64_t k, w;
        if (!saved(e, &q, &k, &w))
            continue;
        uint32_t p = (uint32_t)(w >> SHM_QUOTA_COUNT_BITS);
        char label[SHM_QUOTA_LABEL] = "?";
        /* a label half written (by a process killed while writing it)
         * is not shown; the key and count are what count */
        if (atomic_load_explicit(&e->ready, memory_order_acquire))
            memcpy(label, e->label, sizeof(label));
        label[sizeof(label) - 1] = '\0';
        for (char *c = label; *c; c++)
            if ((unsigned char)*c < ' ' || *c == 0x7f)
                *c = '?';
        fprintf(f, "%016" PRIx64 " %" PRIu32 " %" PRIu64 " %s\n", k, p,
                w & COUNT_MASK, label);
        count++;
    }
    if (fflush(f) != 0 || ferror(f) || fsync(fd) != 0) {
        snprintf(err, cap, "%s: cannot write: %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        return -1;
    }
    if (fclose(f) != 0) {
        snprintf(err, cap, "%s: cannot write: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, cap, "%s: cannot rename to %s: %s", tmp, path,
                 strerror(errno));
        unlink(tmp);
        return -1;
    }
    return count;
}

/* Puts a loaded entry in the table: its key's entry, or a free one of its
 * probe sequence; false when there is none. */
static bool
load_one(struct shm *s, uint64_t key, uint32_t period, uint64_t cnt,
         const char *label)
{
    uint64_t n = s->hdr->quota_entries, home = key % n;

    for (unsigned i = 0; i < SHM_QUOTA_PROBE; i++) {
        struct shm_quota_entry *e = &s->quota[(home + i) % n];
        uint64_t k = atomic_load(&e->key);
        if (k != 0 && k != key)
            continue;
        uint64_t w = atomic_load(&e->word);
        if (k == key && (uint32_t)(w >> SHM_QUOTA_COUNT_BITS) == period &&
            (w & COUNT_MASK) > cnt)
            return true;        /* a line twice: the larger count stands */
        atomic_store(&e->key, key);
        atomic_store(&e->word, (uint64_t)period << SHM_QUOTA_COUNT_BITS | cnt);
        set_label(e, label);
        return true;
    }
    return false;
}

long
quota_load(struct shm *s, const char *path, time_t now, size_t *bad,
           char *err, size_t cap)
{
    struct quota_now q;
    char line[512];
    long count = 0;
    unsigned lineno = 0;
    bool keyed = false;

    *bad = 0;
    quota_now_at(&q, now);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, cap, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        bool whole = len > 0 && line[len - 1] == '\n';
        if (whole)
            line[--len] = '\0';
        else if (!feof(f)) {    /* longer than any line we write */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            (*bad)++;
            continue;
        }
        if (lineno == 1) {
            if (strcmp(line, STATE_MAGIC) != 0) {
                snprintf(err, cap, "%s:1: not a cerberus quota state file",
                         path);
                fclose(f);
                return -1;
            }
            continue;
        }
        if (lineno == 2 && strncmp(line, STATE_KEY, strlen(STATE_KEY)) == 0) {
            const char *hx = line + strlen(STATE_KEY);
            unsigned char k[sizeof(s->hdr->quota_hash_key)];
            size_t i = 0;
            for (; i < sizeof(k); i++) {
                int hi = uri_hexval((unsigned char)hx[2 * i]);
                int lo = hi < 0 ? -1 : uri_hexval((unsigned char)hx[2 * i + 1]);
                if (lo < 0)
                    break;
                k[i] = (unsigned char)(hi << 4 | lo);
            }
            if (i == sizeof(k) && hx[2 * i] == '\0') {
                /* the hashes below were made with it: it is ours now */
                memcpy(s->hdr->quota_hash_key, k, sizeof(k));
                keyed = true;
            } else {
                (*bad)++;
            }
            continue;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!keyed) {
            /* an older file, whose hashes no key of ours makes */
            (*bad)++;
            continue;
        }
        uint64_t key, cnt;
        uint32_t period;
        int off = 0;
        if (sscanf(line, "%16" SCNx64 " %" SCNu32 " %" SCNu64 " %n", &key,
                   &period, &cnt, &off) != 3 || off == 0 || key == 0 ||
            (key & KEY_BUSY) ||
            cnt == 0 || cnt > COUNT_MASK || period > QUOTA_PERIOD_MASK) {
            (*bad)++;
            continue;
        }
        if (!quota_current(&q, period))
            continue;           /* a past day or month: nothing to keep */
        if (load_one(s, key, period, cnt, line + off))
            count++;
        else
            (*bad)++;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, cap, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    return count;
}
