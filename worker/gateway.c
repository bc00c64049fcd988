/* gateway: the API-gateway policy chain of a request. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "access_log.h"
#include "addr.h"
#include "conf-gw-auth.h"
#include "gateway.h"
#include "http.h"
#include "jwt_cache.h"
#include "shm.h"

int
gw_refuse(struct gw *g, int status, const char *policy, const char *error,
          const char *fmt, ...)
{
    va_list ap;

    g->status = status;
    g->policy = policy;
    va_start(ap, fmt);
    vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
    va_end(ap);
    /* {"error":"...","policy":"..."}: the words are ours, no escaping */
    int n = snprintf(g->body, sizeof(g->body),
                     "{\"error\":\"%s\",\"policy\":\"%s\"}\n", error, policy);
    g->blen = n > 0 && (size_t)n < sizeof(g->body) ? (size_t)n : 0;
    return status;
}

void
gw_header(struct gw *g, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(g->headers) - g->hlen;

    va_start(ap, fmt);
    int n = vsnprintf(g->headers + g->hlen, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n + 2 < room) {
        g->hlen += (size_t)n;
        memcpy(g->headers + g->hlen, "\r\n", 2);
        g->hlen += 2;
    }
    g->headers[g->hlen < sizeof(g->headers) ? g->hlen : 0] = '\0';
}

static const char *
store(struct gw_edit *e, const char *p, size_t n)
{
    if (n > sizeof(e->store) - e->slen) {
        e->over = true;
        return NULL;
    }
    char *d = e->store + e->slen;
    memcpy(d, p, n);
    e->slen += n;
    return d;
}

void
gw_edit_drop(struct gw_edit *e, const char *name, size_t len)
{
    if (e->ndrop == GW_MAX_EDITS) {
        e->over = true;
        return;
    }
    const char *p = store(e, name, len);
    if (p == NULL)
        return;
    e->drop[e->ndrop].p = p;
    e->drop[e->ndrop++].len = len;
}

void
gw_edit_add(struct gw_edit *e, const char *name, const char *value,
            size_t vlen)
{
    if (e->nadd == GW_MAX_EDITS) {
        e->over = true;
        return;
    }
    size_t nl = strlen(name);
    const char *n = store(e, name, nl), *v = store(e, value, vlen);
    if (n == NULL || v == NULL)
        return;
    e->add[e->nadd].name = (struct http_str){ n, nl };
    e->add[e->nadd++].value = (struct http_str){ v, vlen };
}

size_t
gw_expand(struct gw *g, const char *s, char *out, size_t cap)
{
    size_t o = 0;
    char tmp[ADDR_TEXT_MAX];

    if (cap == 0)
        return 0;
    while (*s && o + 1 < cap) {
        const char *v = NULL;
        size_t vl = 0, skip = 0;
        if (*s == '$') {
            static const char *const names[] = {
                "remote_addr", "consumer", "request_id", "jwt_sub", "host"
            };
            for (size_t i = 0; i < 5 && v == NULL; i++) {
                size_t l = strlen(names[i]);
                if (strncmp(s + 1, names[i], l) != 0)
                    continue;
                char nx = s[1 + l];
                if ((nx >= 'a' && nx <= 'z') || nx == '_' ||
                    (nx >= '0' && nx <= '9'))
                    continue;   /* a longer name */
                skip = 1 + l;
                switch (i) {
                case 0:
                    addr_format_host(&g->c->peer, tmp, sizeof(tmp));
                    v = tmp;
                    break;
                case 1: v = g->consumer_name; break;
                case 2: v = gw_reqid(g); break;
                case 3: v = g->jwt_sub; break;
                default:
                    v = g->req->host.p ? g->req->host.p : "";
                    vl = g->req->host.len;
                    break;
                }
                if (i != 4)
                    vl = strlen(v);
            }
        }
        if (v == NULL) {
            out[o++] = *s++;
            continue;
        }
        if (vl > cap - 1 - o)
            vl = cap - 1 - o;
        memcpy(out + o, v, vl);
        o += vl;
        s += skip;
    }
    out[o] = '\0';
    return o;
}

const char *
gw_reqid(struct gw *g)
{
    struct conn *c = g->c;

    if (c->rl != NULL && c->rl->reqid[0])
        return c->rl->reqid;
    if (g->reqid[0] == '\0') {
        http_request_id(g->w, g->reqid);
        if (c->rl != NULL)
            snprintf(c->rl->reqid, sizeof(c->rl->reqid), "%s", g->reqid);
    }
    return g->reqid;
}

int
gw_init(struct worker *w)
{
    w->gw = calloc(1, sizeof(*w->gw));
    return w->gw != NULL ? 0 : -1;
}

void
gw_free(struct worker *w)
{
    /* The JWT caches this worker made (worker/gw_auth.c). */
    const struct conf *c = w->conf;
    size_t nl = c != NULL ? c->nlisteners : 0;
    for (size_t i = 0; c != NULL && i < nl + c->nroutes; i++) {
        const struct conf_policies *pol =
            i < nl ? &c->listeners[i].pol : &c->routes[i - nl].pol;
        struct gw_jwt *j = pol->auth != NULL && pol->auth->jwt != NULL
                               ? pol->auth->jwt->compiled : NULL;
        if (j != NULL) {
            jwt_cache_free(j->cache);
            j->cache = NULL;
        }
    }
    free(w->gw);
    w->gw = NULL;
}

const char *const gw_policy_names[SHM_ROUTE_REFUSALS] = {
    "access", "auth", "rate_limit", "quota", "transform", "preflight"
};

static struct shm_route_stats *
route_stats(struct worker *w, const struct conf_route *r)
{
    const struct shm *s = w->args->shm;
    size_t i = (size_t)(r - w->conf->routes);

    if (i >= s->hdr->max_routes || w->args->row < 0)
        return NULL;
    return shm_route(s, (unsigned)w->args->row, (unsigned)i);
}

void
gw_count_request(struct worker *w, const struct conf_route *r)
{
    struct shm_route_stats *st = route_stats(w, r);

    if (st != NULL)
        atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);
}

/* The gateway answered instead of the upstream: counted by policy. */
static void
count_answer(struct gw *g)
{
    struct shm_route_stats *st = route_stats(g->w, g->route);
    int id = -1;

    if (g->policy == NULL)
        id = g->status == 204 ? GWP_PREFLIGHT : -1;
    else
        for (int i = 0; i < SHM_ROUTE_REFUSALS && id < 0; i++)
            if (strcmp(g->policy, gw_policy_names[i]) == 0)
                id = i;
    if (st != NULL && id >= 0)
        atomic_fetch_add_explicit(&st->refused[id], 1, memory_order_relaxed);
}

int
gw_request(struct gw *g, struct conn *c, const struct http_request *req,
           const struct conf_route *r)
{
    g->c = c;
    g->w = c->w;
    g->req = req;
    g->route = r;
    g->l = c->l;
    g->now = ev_now(c->w->loop);
    g->reqid[0] = '\0';
    g->status = 0;
    g->policy = NULL;
    g->reason[0] = '\0';
    g->hlen = g->blen = 0;
    g->headers[0] = '\0';
    g->consumer = NULL;
    g->consumer_name[0] = g->jwt_sub[0] = '\0';
    for (size_t i = 0; i < g->w->conf->nkey_claims; i++)
        g->claims[i][0] = '\0';
    g->target_set = false;
    g->target_len = 0;
    g->up.ndrop = g->up.nadd = g->up.slen = 0;
    g->up.over = false;
    memset(&g->keep, 0, sizeof(g->keep));
    g->keep.on = true;
    g->keep.response_headers = GW_POL(g, response_headers);

    g->rl_remaining = INT64_MAX;
    /* Limits that need no identity come before auth, so that a client
     * guessing keys or passwords is limited too; those by consumer or
     * claim after it. */
    int (*const chain[])(struct gw *) = {
        gw_access, gw_limit_before_auth, gw_auth, gw_rate_limit, gw_quota,
        gw_cors_preflight, gw_transform
    };
    /* A CORS preflight never carries credentials (browsers send none):
     * on a route with cors it passes access control and goes straight
     * to its answer, as in Kong; authentication, limits and quotas apply
     * to the actual request (chain[1] to chain[4]). */
    bool preflight = GW_POL(g, cors) != NULL && req->method_id == HTTP_OPTIONS &&
                     http_header_find(req, "origin") != NULL &&
                     http_header_find(req, "access-control-request-method")
                         != NULL;
    for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
        if (preflight && i >= 1 && i <= 4)
            continue;
        int st = chain[i](g);
        if (st != 0) {
            if (st >= 400)
                gw_cors_refusal(g);
            count_answer(g);
            return st;
        }
    }
    if (g->up.over) {
        gw_refuse(g, 500, "transform", "internal",
                  "the request's header changes do not fit");
        count_answer(g);
        return 500;
    }
    if (!gw_response_vars(g)) {
        gw_refuse(g, 500, "transform", "internal",
                  "the response's header values do not fit");
        count_answer(g);
        return 500;
    }
    return 0;
}

/* ---- identity headers -------------------------------------------------- */

/* Does name read as the folded name f (lower case, '-'), any case, '_'
 * for '-'? */
static bool
folded_eq(struct http_str name, const char *f)
{
    size_t i = 0;

    for (; i < name.len; i++) {
        char ch = name.p[i];
        ch = ch == '_' ? '-' : ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        if (ch != f[i])         /* also at f's NUL */
            return false;
    }
    return f[i] == '\0';
}

bool
gw_strip_identity(const struct conf *conf, const struct conf_listener *l,
                  struct http_request *req, const char **why)
{
    size_t k = 0, nauth = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        struct http_str name = req->headers[i].name;
        const char *hit = NULL;
        for (size_t j = 0; j < conf->nidentity_headers && hit == NULL; j++)
            if (folded_eq(name, conf->identity_headers[j]))
                hit = conf->identity_headers[j];
        /* a trusted client's own, as spelt by the standard only */
        if (hit != NULL && memchr(name.p, '_', name.len) == NULL &&
            ((l->trust_request_id && strcmp(hit, "x-request-id") == 0) ||
             (l->trust_forwarded && strcmp(hit, "x-forwarded-for") == 0)))
            hit = NULL;
        if (hit != NULL)
            continue;
        if (http_str_ieq(name, "authorization"))
            nauth++;
        if (k != i)
            req->headers[k] = req->headers[i];
        k++;
    }
    req->nheaders = k;
    if (nauth > 1) {
        *why = "two Authorization headers";
        return false;
    }
    return true;
}
