/* gcra: the generic cell rate algorithm over one theoretical arrival time
 * (TAT), as a pure function, so that the shared table can apply it with
 * one compare-and-swap. */
#ifndef CERB_GCRA_H
#define CERB_GCRA_H

#include <stdbool.h>
#include <stdint.h>

/* The decision for one request.  Times in nanoseconds. */
struct gcra_out {
    bool allowed;
    uint64_t tat;               /* the TAT to store (unchanged if refused) */
    int64_t remaining;          /* requests that would pass right now after */
    uint64_t retry_ns;          /* refused: wait this long before retrying */
    uint64_t reset_ns;          /* until the key is back to a full burst */
};

/* A request at `now` against `tat` (0: a fresh key) for a limit of one
 * request per `period` with `burst` more allowed at once (nginx's
 * burst + nodelay: a fresh key may send burst + 1 at once, then one per
 * period).  period > 0; (burst + 1) * period must fit in 62 bits. */
void gcra_decide(uint64_t tat, uint64_t now, uint64_t period, uint64_t burst,
                 struct gcra_out *o);

#endif
