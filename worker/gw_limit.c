/* gw_limit: rate limits (GCRA in shared memory) and quotas. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "gateway.h"
#include "gcra.h"
#include "http.h"
#include "quota.h"
#include "shm.h"
#include "siphash.h"

#define NS 1000000000ULL

/* What a limit or quota counts by (key = ip | consumer | header:X |
 * jwt:CLAIM): the kind and bytes of the value, the client's address when
 * the request lacks it, and the hash of (id, kind, value), so that an
 * address and a header holding the same text never meet.  The hash is
 * SipHash-2-4 under the table's secret key (drawn by the master at the
 * start): clients choose header values, and must not be able to compute
 * which ones share a slot, or a whole hash, with someone else's. */
struct key {
    char kind;                  /* 'i', 'c', 'h', 'j' */
    const char *v;
    size_t vl;
    char ip[ADDR_TEXT_MAX];
    uint64_t hash;
};

static void
key_of(struct gw *g, const char *k, int claim, const void *id, size_t idlen,
       const unsigned char *hkey, struct key *out)
{
    const char *v = NULL;
    size_t vl = 0;
    char kind = 'i';

    if (strcmp(k, "consumer") == 0 && g->consumer_name[0]) {
        kind = 'c';
        v = g->consumer_name;
    } else if (claim >= 0 && g->claims[claim][0]) {
        kind = 'j';
        v = g->claims[claim];
    } else if (claim < 0 && strncmp(k, "jwt:", 4) == 0 && g->jwt_sub[0]) {
        kind = 'j';
        v = g->jwt_sub;
    } else if (strncmp(k, "header:", 7) == 0) {
        const struct http_header *hd = http_header_find(g->req, k + 7);
        if (hd != NULL) {
            kind = 'h';
            v = hd->value.p;
            vl = hd->value.len;
        }
    }
    if (v == NULL) {
        addr_format_host(&g->c->peer, out->ip, sizeof(out->ip));
        v = out->ip;
    }
    out->kind = kind;
    out->v = v;
    out->vl = kind == 'h' ? vl : strlen(v);
    struct siphash sh;
    siphash_init(&sh, hkey);
    siphash_update(&sh, id, idlen);
    siphash_update(&sh, &kind, 1);
    siphash_update(&sh, out->v, out->vl);
    out->hash = siphash_final(&sh);
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

    struct key key;
    struct shm *shm = g->w->args->shm;
    key_of(g, rl->key, rl->claim, &rl->id, sizeof(rl->id),
           shm->hdr->rl_hash_key, &key);
    int r = shm_rl_take(shm, key.hash, now, (uint64_t)rl->period_ns,
                        (uint64_t)rl->burst, &o);
    if (r != SHM_RL_OK) {
        struct shm_limit_stat *ls = shm_limit_stat(shm, SHM_LIMIT_RL | rl->id);
        if (ls != NULL)
            atomic_fetch_add_explicit(r == SHM_RL_FULL ? &ls->full
                                                       : &ls->evictions,
                                      1, memory_order_relaxed);
    }
    if (r == SHM_RL_FULL) {
        /* every entry this key may use counts a live key: refused rather
         * than let through uncounted (fail closed) */
        gw_header(g, "Retry-After: 1");
        return gw_refuse(g, 429, "rate_limit", "rate limited",
                         "rate limit %s (%s, key %s): table full",
                         rl->name ? rl->name : "", rl->rate, rl->key);
    }
    if (o.allowed) {
        /* the tightest limit's state goes on the proxied response too */
        if (o.remaining < g->rl_remaining) {
            g->rl_remaining = o.remaining;
            g->keep.rl_set = true;
            g->keep.rl_limit = rl->burst + 1;
            g->keep.rl_left = o.remaining > 0 ? o.remaining : 0;
            g->keep.rl_reset = (int64_t)secs_up(o.reset_ns);
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

/* Is a limit or quota with this key decided before authentication?
 * Those by the consumer or a claim need the identity auth finds; every
 * other one (ip, header:NAME) counts the failed attempts too. */
static bool
before_auth(const char *key)
{
    return strcmp(key, "consumer") != 0 && strncmp(key, "jwt:", 4) != 0;
}

/* The rate limits of the phase (before auth, or after it). */
static int
rate_limits(struct gw *g, bool pre)
{
    const struct conf_policies *p = &g->route->pol;

    if (p->rate_limit == NULL && p->nrate_limits == 0)
        p = &g->l->pol;         /* the route's limits replace the listener's */
    uint64_t now = 0;           /* shm_rl_take reads the clock itself */
    int st;
    if (p->rate_limit != NULL && before_auth(p->rate_limit->key) == pre &&
        (st = one_limit(g, p->rate_limit, now)) != 0)
        return st;
    for (size_t i = 0; i < p->nrate_limits; i++)
        if (before_auth(p->rate_limits[i].key) == pre &&
            (st = one_limit(g, &p->rate_limits[i], now)) != 0)
            return st;
    return 0;
}

/* One quota: the key's hash (stable from run to run: it is in the state
 * file) and its label "ident kind:value". */
static int
one_quota(struct gw *g, const struct conf_quota *qc, const struct quota_now *q)
{
    struct key key;
    char label[SHM_QUOTA_LABEL];

    struct shm *shm = g->w->args->shm;
    key_of(g, qc->key, qc->claim, &qc->id, sizeof(qc->id),
           shm->hdr->quota_hash_key, &key);
    const char *kn = key.kind == 'c' ? "consumer" : key.kind == 'h' ? "header" :
                     key.kind == 'j' ? "jwt" : "ip";
    snprintf(label, sizeof(label), "%s %s:%.*s", qc->ident, kn,
             (int)(key.vl < sizeof(label) ? key.vl : sizeof(label)), key.v);
    uint32_t period = quota_period(q, qc->per == QUOTA_MONTH);
    struct quota_out o;
    int r = quota_take(shm, key.hash, label, q, period, (uint64_t)qc->limit,
                       &o);
    if (r != QUOTA_OK) {
        struct shm_limit_stat *ls =
            shm_limit_stat(shm, SHM_LIMIT_QUOTA |
                           (qc->id & ~(SHM_LIMIT_RL | SHM_LIMIT_QUOTA)));
        if (ls != NULL)
            atomic_fetch_add_explicit(r == QUOTA_FULL ? &ls->full
                                                      : &ls->evictions,
                                      1, memory_order_relaxed);
    }
    if (r == QUOTA_FULL) {
        /* no entry free for the key: refused (fail closed), not counted */
        gw_header(g, "Retry-After: 1");
        return gw_refuse(g, 429, "quota", "quota exceeded",
                         "quota %s (key %s): table full", qc->ident, qc->key);
    }
    if (o.allowed)
        return 0;
    int64_t left = quota_seconds_left(q, period);
    gw_header(g, "Retry-After: %lld", (long long)left);
    gw_header(g, "X-Quota-Limit: %lld", (long long)qc->limit);
    gw_header(g, "X-Quota-Remaining: 0");
    gw_header(g, "X-Quota-Reset: %lld", (long long)left);
    return gw_refuse(g, 429, "quota", "quota exceeded",
                     "quota %s (%lld per %s, key %s) exhausted", qc->ident,
                     (long long)qc->limit,
                     qc->per == QUOTA_MONTH ? "month" : "day", qc->key);
}

/* The quotas of the phase. */
static int
quotas(struct gw *g, bool pre)
{
    const struct conf_policies *p = &g->route->pol;

    if (p->quota == NULL && p->nquotas == 0)
        p = &g->l->pol;         /* the route's quotas replace the listener's */
    if (p->quota == NULL && p->nquotas == 0)
        return 0;
    struct quota_now q;
    quota_now_at(&q, time(NULL));
    int st;
    if (p->quota != NULL && before_auth(p->quota->key) == pre &&
        (st = one_quota(g, p->quota, &q)) != 0)
        return st;
    for (size_t i = 0; i < p->nquotas; i++)
        if (before_auth(p->quotas[i].key) == pre &&
            (st = one_quota(g, &p->quotas[i], &q)) != 0)
            return st;
    return 0;
}

int
gw_limit_before_auth(struct gw *g)
{
    int st = rate_limits(g, true);
    return st != 0 ? st : quotas(g, true);
}

int
gw_rate_limit(struct gw *g)
{
    return rate_limits(g, false);
}

int
gw_quota(struct gw *g)
{
    return quotas(g, false);
}
