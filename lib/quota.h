/* quota: usage quotas per calendar day or month (UTC), counted in the
 * shared quota table (one CAS per decision, exact across workers) and
 * kept in a state file across stops, starts and reloads. */
#ifndef CERB_QUOTA_H
#define CERB_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "shm.h"

/* A period's id: days since 1970-01-01 (UTC), or months since January
 * 1970 with QUOTA_MONTH_BIT set, so the two never meet. */
#define QUOTA_MONTH_BIT (1u << 23)
#define QUOTA_PERIOD_MASK ((1u << 24) - 1)

/* The current periods at t (seconds since the epoch). */
struct quota_now {
    time_t t;
    uint32_t day, month;
};
void quota_now_at(struct quota_now *q, time_t t);
/* The id of the period of kind month (or day) that holds q. */
static inline uint32_t
quota_period(const struct quota_now *q, bool month)
{
    return month ? q->month : q->day;
}
/* Seconds from q->t until period ends (at least 1). */
int64_t quota_seconds_left(const struct quota_now *q, uint32_t period);
/* Is period (of either kind) the current one of its kind? */
bool quota_current(const struct quota_now *q, uint32_t period);

struct quota_out {
    bool allowed;
    uint64_t used;              /* requests counted in the period, this one
                                 * included when allowed */
};

/* One decision for key (a hash naming the quota too, keyed by
 * hdr->quota_hash_key) in period with limit: allowed and counted when
 * fewer than limit were counted, else refused and not counted.  label
 * names the key in the state file.  A full probe sequence takes over an
 * entry of a past period or with a count of 0 (QUOTA_EVICTED, counted in
 * hdr->quota_evictions); an entry counting in a current period is never
 * taken from its key: when there is no other, the request is refused
 * (QUOTA_FULL, o->allowed false, counted in hdr->quota_full). */
enum { QUOTA_OK, QUOTA_EVICTED, QUOTA_FULL };
int quota_take(struct shm *s, uint64_t key, const char *label,
               const struct quota_now *q, uint32_t period, uint64_t limit,
               struct quota_out *o);

/* The state file: the hash key (hdr->quota_hash_key: quota_load makes it
 * the table's again, so that hashes stay the same from run to run), then
 * every entry of a current period, one per line, written to path.tmp
 * then renamed over path.  The number of entries,
 * or -1 with the reason in err. */
long quota_save(const struct shm *s, const char *path, time_t now,
                char *err, size_t cap);
/* A digest of what quota_save would write at now: equal digests, the
 * same file (so an idle table need not be written again). */
uint64_t quota_digest(const struct shm *s, time_t now);
/* Loads path into the table (entries of past periods are dropped, and
 * so are those of a file without a hash key, made before keys were): the
 * number of entries loaded, 0 when there is no file, or -1 with the
 * reason in err (file:line: message) for a file that cannot be read or
 * is not a quota state; lines that do not parse are skipped and counted
 * in *bad. */
long quota_load(struct shm *s, const char *path, time_t now, size_t *bad,
                char *err, size_t cap);

#endif
