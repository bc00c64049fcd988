/* conf-gw.h: the API-gateway parts of the configuration — consumers,
 * authentication, rate limits, quotas, access control, transformations
 * and CORS.  Each part owns its schema sections (lib/conf_gw_*.c) and
 * checks and compiles its values once the whole file is read. */
#ifndef CERB_CONF_GW_H
#define CERB_CONF_GW_H

#include <stdbool.h>
#include <stdint.h>

#include "conf-t.h"

struct conf_ctx;

/* ---- consumers and authentication (conf_gw_auth.c) ---- */

struct conf_consumer {
    struct conf_src src;
    char *name;
    char **api_keys;            /* plain, or "sha256:<64 hex>" */
    size_t napi_keys;
    char *api_keys_file;        /* one key per line, read at load */
    void *compiled;             /* the part's own form */
};

struct conf_api_key {
    struct conf_src src;
    char *header;               /* default X-Api-Key */
    char *query;                /* query parameter, or NULL */
    bool strip;                 /* removed before proxying (default true) */
};

struct conf_jwt {
    struct conf_src src;
    char *header;               /* default Authorization (Bearer) */
    char *cookie;               /* or a cookie */
    char **algorithms;
    size_t nalgorithms;
    char *keys;                 /* JWKS file */
    char **keys_pem;            /* or PEM public keys (kid = file name) */
    size_t nkeys_pem;
    char *secret_file;          /* HMAC secret */
    char *issuer;
    char **audience;
    size_t naudience;
    int64_t leeway;             /* ms */
    char **required_claims;
    size_t nrequired_claims;
    struct conf_kv *claims;     /* claim = value (string or array member) */
    size_t nclaims;
    struct conf_kv *forward_claims;     /* claim = upstream header */
    size_t nforward_claims;
    bool strip_token;
    int64_t cache;              /* verified tokens kept per worker */
    void *compiled;
};

struct conf_basic {
    struct conf_src src;
    char *users;                /* htpasswd file */
    char *realm;
    void *compiled;
};

struct conf_auth {
    struct conf_src src;
    struct conf_api_key *api_key;
    struct conf_jwt *jwt;
    struct conf_basic *basic;
};

/* ---- rate limits and quotas (conf_gw_limit.c) ---- */

struct conf_rate_limit {
    struct conf_src src;
    char *name;
    char *key;                  /* ip | consumer | header:X | jwt:claim */
    char *rate;                 /* "100/m" */
    int64_t burst;
    /* compiled */
    int64_t period_ns;          /* emission interval T = per / count */
    int64_t count;
    int64_t per_ns;
    uint32_t id;                /* distinguishes limits in the shared table */
    int claim;                  /* jwt:CLAIM other than sub: its index in
                                 * conf->key_claims, else -1 */
};

struct conf_quota {
    struct conf_src src;
    char *name;
    char *key;                  /* as a rate limit's */
    int64_t limit;
    int per;                    /* QUOTA_DAY, QUOTA_MONTH */
    /* compiled */
    char ident[64];             /* the name, else the place's: names the
                                 * counts in the state file */
    uint64_t id;                /* hash of ident, in every key's hash */
    int claim;                  /* as a rate limit's */
};

/* Claims other than sub that rate limits and quotas count by (jwt:CLAIM):
 * the JWT module hands their values over. */
#define GW_KEY_CLAIMS 8
#define GW_CLAIM_MAX 128        /* longest value counted by, + 1 */
enum { QUOTA_DAY, QUOTA_MONTH };

/* ---- access, transformations, CORS (conf_gw_http.c) ---- */

struct conf_deny_rule {
    struct conf_src src;
    char *name;
    char *path, *query;         /* PCRE2 patterns */
    char *header, *value;       /* a header and a pattern on its value */
    struct rx *path_re, *query_re, *value_re;
};

struct conf_headers {
    struct conf_src src;
    struct conf_kv *set;
    size_t nset;
    struct conf_kv *add;
    size_t nadd;
    char **remove;
    size_t nremove;
    struct conf_kv *rename;
    size_t nrename;
};

struct conf_rewrite {
    struct conf_src src;
    char *pattern;
    char *replace;
    struct rx *re;
};

struct conf_query {
    struct conf_src src;
    struct conf_kv *set;
    size_t nset;
    char **remove;
    size_t nremove;
};

struct conf_cors {
    struct conf_src src;
    char **origins;             /* or [ "*" ] */
    size_t norigins;
    char **methods;
    size_t nmethods;
    char **headers;
    size_t nheaders;
    char **expose;
    size_t nexpose;
    bool credentials;
    int64_t max_age;            /* ms */
};

extern const struct conf_section gw_consumer_section;
extern const struct conf_section gw_auth_section;
extern const struct conf_section gw_rate_limit_section;
extern const struct conf_section gw_quota_section;
extern const struct conf_section gw_deny_rule_section;
extern const struct conf_section gw_headers_section;
extern const struct conf_section gw_rewrite_section;
extern const struct conf_section gw_query_section;
extern const struct conf_section gw_cors_section;

/* Every place policies are set: the listeners, then the routes.  For
 * i < gw_conf_nplaces(c), the policies of place i, its line, and its
 * name for messages ("listeners[2]", "routes[0]") in where. */
struct gw_place {
    struct conf_policies *pol;
    const struct conf_src *src;
    const struct conf_listener *listener;   /* NULL for a route */
    char where[32];
};
size_t gw_conf_nplaces(const struct conf *c);
void gw_conf_place(struct conf *c, size_t i, struct gw_place *out);

/* Once the whole file is read: each part checks and compiles its values
 * (reporting with conf_error). */
void gw_conf_auth(struct conf_ctx *ctx, struct conf *c);
void gw_conf_limit(struct conf_ctx *ctx, struct conf *c);
void gw_conf_http(struct conf_ctx *ctx, struct conf *c);
/* Then the identity headers (conf->identity_headers): every name cerberus
 * sets to say who the client is, over the whole file, which a client may
 * never send on any route. */
void gw_conf_identity(struct conf_ctx *ctx, struct conf *c);

#endif
