/* gw_http: access control, deny rules, CORS and transformations. */
#include "gateway.h"

int
gw_access(struct gw *g)
{
    (void)g;
    return 0;
}

int
gw_cors_preflight(struct gw *g)
{
    (void)g;
    return 0;
}

int
gw_transform(struct gw *g)
{
    (void)g;
    return 0;
}

void
gw_response(const struct gw_keep *k, struct gw_edit *e)
{
    (void)k;
    (void)e;
}
