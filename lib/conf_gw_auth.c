/* conf_gw_auth: consumers and authentication (api_key, jwt, basic). */
#include <stddef.h>
#include <stdio.h>

#include "conf-gw.h"
#include "conf.h"

#define OFF(t, f) offsetof(t, f)
#define MS_DAY (24LL * 3600 * 1000)

static const struct conf_key consumer_keys[] = {
    { "name", CK_STR, OFF(struct conf_consumer, name), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "api_keys", CK_STRLIST, OFF(struct conf_consumer, api_keys),
      OFF(struct conf_consumer, napi_keys), NULL, 0, 0, 0, NULL, NULL },
    { "api_keys_file", CK_STR, OFF(struct conf_consumer, api_keys_file), 0,
      NULL, CF_NONEMPTY, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_consumer_section = {
    "consumer", sizeof(struct conf_consumer), consumer_keys, NULL
};

static const struct conf_key api_key_keys[] = {
    { "header", CK_STR, OFF(struct conf_api_key, header), 0, "X-Api-Key",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "query", CK_STR, OFF(struct conf_api_key, query), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "strip", CK_BOOL, OFF(struct conf_api_key, strip), 0, "true", 0, 0, 0,
      NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section api_key_section = {
    "api_key", sizeof(struct conf_api_key), api_key_keys, NULL
};

static const struct conf_key jwt_keys[] = {
    { "header", CK_STR, OFF(struct conf_jwt, header), 0, "Authorization",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "cookie", CK_STR, OFF(struct conf_jwt, cookie), 0, NULL, CF_NONEMPTY, 0,
      0, NULL, NULL },
    { "algorithms", CK_STRLIST, OFF(struct conf_jwt, algorithms),
      OFF(struct conf_jwt, nalgorithms), NULL, CF_REQUIRED | CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "keys", CK_STR, OFF(struct conf_jwt, keys), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "keys_pem", CK_STRLIST, OFF(struct conf_jwt, keys_pem),
      OFF(struct conf_jwt, nkeys_pem), NULL, 0, 0, 0, NULL, NULL },
    { "secret_file", CK_STR, OFF(struct conf_jwt, secret_file), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "issuer", CK_STR, OFF(struct conf_jwt, issuer), 0, NULL, CF_NONEMPTY, 0,
      0, NULL, NULL },
    { "audience", CK_STRLIST, OFF(struct conf_jwt, audience),
      OFF(struct conf_jwt, naudience), NULL, 0, 0, 0, NULL, NULL },
    { "leeway", CK_DURATION, OFF(struct conf_jwt, leeway), 0, "0s", 0, 0,
      MS_DAY, NULL, NULL },
    { "required_claims", CK_STRLIST, OFF(struct conf_jwt, required_claims),
      OFF(struct conf_jwt, nrequired_claims), NULL, 0, 0, 0, NULL, NULL },
    { "claims", CK_STRMAP, OFF(struct conf_jwt, claims),
      OFF(struct conf_jwt, nclaims), NULL, 0, 0, 0, NULL, NULL },
    { "forward_claims", CK_STRMAP, OFF(struct conf_jwt, forward_claims),
      OFF(struct conf_jwt, nforward_claims), NULL, 0, 0, 0, NULL, NULL },
    { "strip_token", CK_BOOL, OFF(struct conf_jwt, strip_token), 0, "false", 0,
      0, 0, NULL, NULL },
    { "cache", CK_INT, OFF(struct conf_jwt, cache), 0, "10000", 0, 0, 10000000,
      NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section jwt_section = {
    "jwt", sizeof(struct conf_jwt), jwt_keys, NULL
};

static const struct conf_key basic_keys[] = {
    { "users", CK_STR, OFF(struct conf_basic, users), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "realm", CK_STR, OFF(struct conf_basic, realm), 0, "cerberus",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section basic_section = {
    "basic", sizeof(struct conf_basic), basic_keys, NULL
};

static const struct conf_key auth_keys[] = {
    { "api_key", CK_GROUP, OFF(struct conf_auth, api_key), 0, NULL, 0, 0, 0,
      NULL, &api_key_section },
    { "jwt", CK_GROUP, OFF(struct conf_auth, jwt), 0, NULL, 0, 0, 0, NULL,
      &jwt_section },
    { "basic", CK_GROUP, OFF(struct conf_auth, basic), 0, NULL, 0, 0, 0, NULL,
      &basic_section },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_auth_section = {
    "auth", sizeof(struct conf_auth), auth_keys, NULL
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
gw_conf_auth(struct conf_ctx *ctx, struct conf *c)
{
    if (c->nconsumers > 0)
        not_yet(ctx, &c->consumers[0].src, "consumers", "consumers");
    for (size_t i = 0; i < c->nlisteners + c->nroutes; i++) {
        bool l = i < c->nlisteners;
        const struct conf_policies *p = l ? &c->listeners[i].pol
                                          : &c->routes[i - c->nlisteners].pol;
        const struct conf_src *src = l ? &c->listeners[i].src
                                       : &c->routes[i - c->nlisteners].src;
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", l ? "listeners" : "routes",
                 l ? i : i - c->nlisteners);
        if (p->auth != NULL)
            not_yet(ctx, src, where, "auth");
    }
}
