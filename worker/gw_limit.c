/* gw_limit: rate limits (GCRA in shared memory) and quotas. */
#include "gateway.h"

int
gw_rate_limit(struct gw *g)
{
    (void)g;
    return 0;
}

int
gw_quota(struct gw *g)
{
    (void)g;
    return 0;
}
