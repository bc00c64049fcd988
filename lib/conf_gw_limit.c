/* conf_gw_limit: rate limits (GCRA) and quotas. */
#include <stddef.h>
#include <stdio.h>

#include "conf-gw.h"
#include "conf.h"

#define OFF(t, f) offsetof(t, f)

static const char *const quota_per_choices[] = { "day", "month", NULL };

static const struct conf_key rate_limit_keys[] = {
    { "name", CK_STR, OFF(struct conf_rate_limit, name), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "key", CK_STR, OFF(struct conf_rate_limit, key), 0, "ip", CF_NONEMPTY, 0,
      0, NULL, NULL },
    { "rate", CK_STR, OFF(struct conf_rate_limit, rate), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "burst", CK_INT, OFF(struct conf_rate_limit, burst), 0, "0", 0, 0,
      1000000, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_rate_limit_section = {
    "rate_limit", sizeof(struct conf_rate_limit), rate_limit_keys, NULL
};

static const struct conf_key quota_keys[] = {
    { "key", CK_STR, OFF(struct conf_quota, key), 0, "consumer", CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "limit", CK_INT, OFF(struct conf_quota, limit), 0, NULL, CF_REQUIRED, 1,
      INT64_C(1000000000000), NULL, NULL },
    { "per", CK_ENUM, OFF(struct conf_quota, per), 0, "day", 0, 0, 0,
      quota_per_choices, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_quota_section = {
    "quota", sizeof(struct conf_quota), quota_keys, NULL
};

/* Not in this release yet: refused rather than silently ignored. */
static void
not_yet(struct conf_ctx *ctx, const struct conf_src *src, const char *where,
        const char *what)
{
    conf_error(ctx, src, "%s: %s is not supported in this release", where,
               what);
}

void
gw_conf_limit(struct conf_ctx *ctx, struct conf *c)
{
    for (size_t i = 0; i < c->nlisteners + c->nroutes; i++) {
        bool l = i < c->nlisteners;
        const struct conf_policies *p = l ? &c->listeners[i].pol
                                          : &c->routes[i - c->nlisteners].pol;
        const struct conf_src *src = l ? &c->listeners[i].src
                                       : &c->routes[i - c->nlisteners].src;
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", l ? "listeners" : "routes",
                 l ? i : i - c->nlisteners);
        if (p->rate_limit != NULL || p->nrate_limits > 0)
            not_yet(ctx, src, where, "rate_limit");
        if (p->quota != NULL)
            not_yet(ctx, src, where, "quota");
    }
}
