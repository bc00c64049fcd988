/* gateway: the API-gateway policy chain of a request (DESIGN.md, "Request
 * path in a worker"): access -> rate limits and quotas by ip or header ->
 * auth -> rate limits and quotas by consumer or claim -> CORS preflight ->
 * transformations -> proxy.  Every policy is one module with
 * one entry point over struct gw; a route's policies, or its listener's
 * where the route sets none, decide. */
#ifndef CERB_GATEWAY_H
#define CERB_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf-gw.h"
#include "http_parse.h"
#include "http_resp.h"
#include "shm-t.h"

struct conn;
struct worker;

#define GW_MAX_EDITS    32
#define GW_STORE        8192

/* Changes to a message's headers: names to drop (case-insensitive) and
 * headers to add, their bytes in store. */
struct gw_edit {
    struct http_str drop[GW_MAX_EDITS];
    size_t ndrop;
    struct gw_hdr { struct http_str name, value; } add[GW_MAX_EDITS];
    size_t nadd;
    char store[GW_STORE];
    size_t slen;
    bool over;                  /* something did not fit: refused as 500 */
};

/* What the response to a proxied request needs from the gateway, kept in
 * the exchange (struct proxy) until the response head comes. */
struct gw_keep {
    bool on;
    const struct conf_cors *cors;
    const struct conf_headers *response_headers;
    char origin[256];           /* the request's Origin, when CORS allows it */
    char rvals[384];            /* response_headers set/add values holding a
                                 * $variable, expanded at request time, in
                                 * order, each ended by a NUL */
    bool rl_set;                /* the tightest rate limit's state: */
    int64_t rl_limit, rl_left, rl_reset;    /* RateLimit-Limit, -Remaining,
                                             * -Reset (s) */
};

struct gw {
    /* in */
    struct conn *c;
    struct worker *w;
    const struct http_request *req;
    const struct conf_route *route;
    const struct conf_listener *l;
    uint64_t now;               /* ev_now(): CLOCK_MONOTONIC ms */
    /* out: a refusal (or the gateway's own answer, as to a preflight) */
    int status;
    const char *policy;         /* "access", "auth", "rate_limit", "quota", "cors" */
    char reason[200];           /* for the logs; never a secret */
    char headers[1024];         /* extra response header lines */
    size_t hlen;
    char body[512];             /* a small JSON error (or empty) */
    size_t blen;
    /* out: who the client is */
    const struct conf_consumer *consumer;
    char consumer_name[64];
    char jwt_sub[128];
    char claims[GW_KEY_CLAIMS][GW_CLAIM_MAX];  /* conf->key_claims' values
                                                 * from the JWT, or empty */
    /* out: the request sent upstream */
    bool target_set;            /* path (and query) rewritten */
    char target[8192];
    size_t target_len;
    struct gw_edit up;          /* request headers */
    struct gw_keep keep;
    char reqid[130];            /* the request id, once $request_id asked */
    int64_t rl_remaining;       /* the tightest rate limit's room left */
};

/* The effective policies: the route's, else its listener's. */
#define GW_POL(g, f) ((g)->route->pol.f ? (g)->route->pol.f : (g)->l->pol.f)
#define GW_POL_LIST(g, f, n) \
    ((g)->route->pol.n ? (g)->route->pol.f : (g)->l->pol.f)
#define GW_POL_N(g, n) ((g)->route->pol.n ? (g)->route->pol.n : (g)->l->pol.n)

/* Before routing, on every request of every route: removes each header
 * cerberus sets to say who the client is (conf->identity_headers), its
 * name in any case and with '_' for '-', so that no policy, route or
 * server sees a client's; the client's X-Request-ID stays (as sent) on a
 * listener with trust_request_id, its X-Forwarded-For on one with
 * trust_forwarded.  Returns false with *why when the request is refused
 * (400): two Authorization headers. */
bool gw_strip_identity(const struct conf *conf, const struct conf_listener *l,
                       struct http_request *req, const char **why);

/* Runs the chain for a request on a route with policies: 0 when it goes
 * on (to the proxy or the route's return, with g's changes), else the
 * status the gateway answers with g's headers and body. */
int gw_request(struct gw *g, struct conn *c, const struct http_request *req,
               const struct conf_route *r);

/* Helpers for the modules. */
int gw_refuse(struct gw *g, int status, const char *policy, const char *error,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void gw_header(struct gw *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gw_edit_drop(struct gw_edit *e, const char *name, size_t len);
void gw_edit_add(struct gw_edit *e, const char *name, const char *value,
                 size_t vlen);
/* The request id the request will carry upstream. */
const char *gw_reqid(struct gw *g);
/* $remote_addr, $consumer, $request_id, $jwt_sub, $host expanded in s. */
size_t gw_expand(struct gw *g, const char *s, char *out, size_t cap);

/* The modules (worker/gw_*.c): each returns 0 to go on, else a status
 * (after gw_refuse, or with g->status set for an answer of its own). */
int gw_access(struct gw *g);
/* The rate limits, then the quotas, whose key needs no identity (ip,
 * header:NAME): before auth, so that failed attempts count. */
int gw_limit_before_auth(struct gw *g);
int gw_auth(struct gw *g);
/* Those by consumer or jwt:CLAIM, after auth. */
int gw_rate_limit(struct gw *g);
int gw_quota(struct gw *g);
int gw_cors_preflight(struct gw *g);
int gw_transform(struct gw *g);
/* The CORS headers of an answer of the gateway's own (a refusal), so a
 * browser's script can read it: as on a proxied response. */
void gw_cors_refusal(struct gw *g);
/* Response side, for a proxied response: header changes and CORS. */
void gw_response(const struct gw_keep *k, const struct http_response *resp,
                 struct gw_edit *e);
/* The request-time part of the response's changes (the variables):
 * false when they do not fit. */
bool gw_response_vars(struct gw *g);

/* The route counters in shared memory (shm_route_stats), summed over
 * the workers in /status: requests that matched route r, and answers of
 * the gateway by policy. */
enum gw_policy_id {
    GWP_ACCESS, GWP_AUTH, GWP_RATE_LIMIT, GWP_QUOTA, GWP_TRANSFORM,
    GWP_PREFLIGHT
};
extern const char *const gw_policy_names[SHM_ROUTE_REFUSALS];
void gw_count_request(struct worker *w, const struct conf_route *r);

/* Worker start and end: per-worker state of the modules (JWT cache,
 * shared tables). */
int gw_init(struct worker *w);
void gw_free(struct worker *w);

#endif
