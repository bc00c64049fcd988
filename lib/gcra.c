/* gcra: the generic cell rate algorithm over one theoretical arrival time. */
#include "gcra.h"

void
gcra_decide(uint64_t tat, uint64_t now, uint64_t period, uint64_t burst,
            struct gcra_out *o)
{
    /* A TAT in the past is a key with its whole burst available. */
    uint64_t base = tat > now ? tat : now;
    uint64_t tau = burst * period;      /* how far ahead the TAT may run */
    uint64_t ahead = base - now;

    if (ahead > tau) {
        o->allowed = false;
        o->tat = tat;
        o->remaining = 0;
        o->retry_ns = ahead - tau;
        o->reset_ns = ahead;
        return;
    }
    o->allowed = true;
    o->tat = base + period;
    ahead += period;
    /* (burst + 1) * period - ahead, counted in whole periods */
    o->remaining = (int64_t)((tau + period - ahead) / period);
    o->retry_ns = 0;
    o->reset_ns = ahead;
}
