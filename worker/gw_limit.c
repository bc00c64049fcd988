/* gw_limit: rate limits (GCRA in shared memory) and quotas. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "balance.h"
#include "gateway.h"
#include "gcra.h"
#include "http.h"
#include "shm.h"

#define NS 1000000000ULL

static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* The key's hash: the limit's id, the kind of value and the value, so
 * that an address and a header holding the same text never meet. */
static uint64_t
limit_key(struct gw *g, const struct conf_rate_limit *rl)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *k = rl->key;
    const char *v = NULL;
    size_t vl = 0;
    char kind = 'i';
    char ip[ADDR_TEXT_MAX];

    h = mix(h, &rl->id, sizeof(rl->id));
    if (strcmp(k, "consumer") == 0 && g->consumer_name[0]) {
        kind = 'c';
        v = g->consumer_name;
        vl = strlen(v);
    } else if (strncmp(k, "jwt:", 4) == 0 && g->jwt_sub[0]) {
        kind = 'j';
        v = g->jwt_sub;
        vl = strlen(v);
    } else if (strncmp(k, "header:", 7) == 0) {
        const struct http_header *hd = http_header_find(g->req, k + 7);
        if (hd != NULL) {
            kind = 'h';
            v = hd->value.p;
            vl = hd->value.len;
        }
    }
    if (v == NULL) {            /* ip, or a value the request lacks */
        addr_format_host(&g->c->peer, ip, sizeof(ip));
        v = ip;
        vl = strlen(ip);
    }
    h = mix(h, &kind, 1);
    h = mix(h, v, vl);
    /* FNV's low bits are weak for a modulo: finish with a mixer. */
    return bal_mix(h);
}

static uint64_t
secs_up(uint64_t ns)
{
    return (ns + NS - 1) / NS;
}

static int
one_limit(struct gw *g, const struct conf_rate_limit *rl, uint64_t now)
{
    struct gcra_out o;

    shm_rl_take(g->w->args->shm, limit_key(g, rl), now,
                (uint64_t)rl->period_ns, (uint64_t)rl->burst, &o);
    if (o.allowed) {
        /* the tightest limit's state goes on the proxied response too */
        if (o.remaining < g->rl_remaining) {
            g->rl_remaining = o.remaining;
            snprintf(g->keep.ratelimit, sizeof(g->keep.ratelimit),
                     "%lld\n%lld\n%llu", (long long)rl->burst + 1,
                     (long long)(o.remaining > 0 ? o.remaining : 0),
                     (unsigned long long)secs_up(o.reset_ns));
        }
        return 0;
    }
    uint64_t retry = secs_up(o.retry_ns);
    gw_header(g, "Retry-After: %llu",
              (unsigned long long)(retry > 0 ? retry : 1));
    gw_header(g, "RateLimit-Limit: %lld", (long long)rl->burst + 1);
    gw_header(g, "RateLimit-Remaining: 0");
    gw_header(g, "RateLimit-Reset: %llu",
              (unsigned long long)secs_up(o.reset_ns));
    return gw_refuse(g, 429, "rate_limit", "rate limited",
                     "rate limit %s (%s, burst %lld, key %s) exceeded",
                     rl->name ? rl->name : "", rl->rate, (long long)rl->burst,
                     rl->key);
}

int
gw_rate_limit(struct gw *g)
{
    const struct conf_policies *p = &g->route->pol;

    if (p->rate_limit == NULL && p->nrate_limits == 0)
        p = &g->l->pol;         /* the route's limits replace the listener's */
    if (p->rate_limit == NULL && p->nrate_limits == 0)
        return 0;
    g->rl_remaining = INT64_MAX;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
    int st;
    if (p->rate_limit != NULL && (st = one_limit(g, p->rate_limit, now)) != 0)
        return st;
    for (size_t i = 0; i < p->nrate_limits; i++)
        if ((st = one_limit(g, &p->rate_limits[i], now)) != 0)
            return st;
    return 0;
}

int
gw_quota(struct gw *g)
{
    (void)g;
    return 0;
}
