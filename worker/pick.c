/* pick: choosing a pool's server. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "addr.h"
#include "http.h"
#include "log.h"
#include "pick.h"
#include "shm.h"
#include "srv.h"
#include "worker.h"

static void
b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tab[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

static int
group_init(struct worker *w, const struct conf_pool *pool,
           struct pick_group *g, bool backup, bool ring)
{
    size_t n = 0;

    for (size_t i = 0; i < pool->nservers; i++)
        n += pool->servers[i].backup == backup;
    g->n = n;
    if (n == 0)
        return 0;
    g->idx = calloc(n, sizeof(*g->idx));
    g->weight = calloc(n, sizeof(*g->weight));
    uint64_t *ids = calloc(n, sizeof(*ids));
    if (g->idx == NULL || g->weight == NULL || ids == NULL) {
        free(ids);
        return -1;
    }
    for (size_t i = 0, k = 0; i < pool->nservers; i++) {
        const struct conf_server *s = &pool->servers[i];
        if (s->backup != backup)
            continue;
        g->idx[k] = (uint32_t)i;
        g->weight[k] = (unsigned)s->weight;
        ids[k] = bal_hash(s->address, strlen(s->address));
        k++;
    }
    size_t total = bal_weight_sum(g->weight, n);
    g->sched = calloc(total, sizeof(*g->sched));
    if (g->sched == NULL) {
        free(ids);
        return -1;
    }
    g->sched_len = bal_wrr_schedule(g->weight, n, g->sched);
    /* The pool's shared round-robin position lives in its first
     * server's slot (the first backup's, for the backups). */
    g->rr = &shm_server(w->args->shm, pool->servers[g->idx[0]].slot)->rr_next;
    int rc = ring ? bal_ring_build(&g->ring, ids, g->weight, n) : 0;
    free(ids);
    return rc;
}

int
pick_init(struct worker *w)
{
    const struct conf *c = w->conf;
    size_t most = 1;

    w->pick = calloc(c->npools ? c->npools : 1, sizeof(*w->pick));
    if (w->pick == NULL)
        return -1;
    for (size_t p = 0; p < c->npools; p++) {
        const struct conf_pool *pool = &c->pools[p];
        struct pick_pool *pp = &w->pick[p];
        pp->ring = pool->balance == BAL_HASH || pool->balance == BAL_IP_HASH ||
                   (pool->sticky != NULL && pool->sticky->source != NULL);
        if (group_init(w, pool, &pp->g[0], false, pp->ring) < 0 ||
            group_init(w, pool, &pp->g[1], true, pp->ring) < 0)
            return -1;
        if (pool->nservers > most)
            most = pool->nservers;
        if (pool->sticky != NULL && pool->sticky->cookie != NULL) {
            pp->token = calloc(pool->nservers, sizeof(*pp->token));
            if (pp->token == NULL)
                return -1;
            const struct shm_header *h = w->args->shm->hdr;
            for (size_t i = 0; i < pool->nservers; i++) {
                /* Opaque: an HMAC of pool and address under the pool's
                 * secret or a key the master drew at start, so the
                 * cookie names the server to cerberus alone (and cannot
                 * be forged to name another). */
                char msg[SHM_KEY_MAX + ADDR_TEXT_MAX];
                int l = snprintf(msg, sizeof(msg), "%s\n%s", pool->name,
                                 pool->servers[i].address);
                unsigned char mac[EVP_MAX_MD_SIZE];
                unsigned ml = 0;
                const void *key = h->sticky_key;
                int kl = (int)sizeof(h->sticky_key);
                if (pool->sticky->secret != NULL) {
                    key = pool->sticky->secret;
                    kl = (int)strlen(pool->sticky->secret);
                }
                if (HMAC(EVP_sha256(), key, kl, (const unsigned char *)msg,
                         (size_t)l, mac, &ml) == NULL)
                    return -1;
                b64url(mac, 16, pp->token[i]);
            }
        }
    }
    w->pick_ok = calloc(most, sizeof(*w->pick_ok));
    w->pick_active = calloc(most, sizeof(*w->pick_active));
    w->pick_weight = calloc(most, sizeof(*w->pick_weight));
    if (w->pick_ok == NULL || w->pick_active == NULL || w->pick_weight == NULL)
        return -1;
    return 0;
}

void
pick_free(struct worker *w)
{
    if (w->pick != NULL)
        for (size_t p = 0; p < w->conf->npools; p++)
            for (int k = 0; k < 2; k++) {
                struct pick_group *g = &w->pick[p].g[k];
                free(g->idx);
                free(g->weight);
                free(g->sched);
                bal_ring_free(&g->ring);
                if (k == 0)
                    free(w->pick[p].token);
            }
    free(w->pick);
    free(w->pick_ok);
    free(w->pick_active);
    free(w->pick_weight);
    w->pick = NULL;
    w->pick_ok = NULL;
    w->pick_active = NULL;
    w->pick_weight = NULL;
}

const char *
pick_token(struct worker *w, const struct conf_pool *pool, size_t i)
{
    struct pick_pool *pp = &w->pick[pool - w->conf->pools];
    return pp->token ? pp->token[i] : NULL;
}

/* ---- what the request brings -------------------------------------------- */

static uint64_t
addr_hash(const struct addr *a)
{
    if (a->sa.sa_family == AF_INET)
        return bal_hash(&a->sin.sin_addr, sizeof(a->sin.sin_addr));
    return bal_hash(&a->sin6.sin6_addr, sizeof(a->sin6.sin6_addr));
}

void
pick_prepare(struct worker *w, const struct conf_pool *pool,
             const struct http_request *req, const struct addr *peer,
             struct pick_req *rq)
{
    const struct conf_sticky *st = pool->sticky;

    rq->has_hash = false;
    rq->sticky = -1;
    rq->tried = 0;
    if (pool->balance == BAL_IP_HASH || (st != NULL && st->source != NULL) ||
        (pool->balance == BAL_HASH && req == NULL)) {
        rq->hash = addr_hash(peer);
        rq->has_hash = true;
    } else if (pool->balance == BAL_HASH) {
        const char *k = pool->key, *arg = strchr(k, ':');
        struct http_str v = { NULL, 0 };
        bool found = false;
        if (strcmp(k, "uri") == 0) {
            v = req->target;
            found = true;
        } else if (strncmp(k, "header:", 7) == 0) {
            const struct http_header *h = http_header_find(req, arg + 1);
            if (h != NULL) {
                v = h->value;
                found = true;
            }
        } else if (strncmp(k, "cookie:", 7) == 0) {
            found = http_cookie_get(req, arg + 1, &v);
        } else if (strncmp(k, "query:", 6) == 0) {
            found = http_query_get(req->query, arg + 1, &v);
        }
        if (found) {
            rq->hash = bal_hash(v.p, v.len);
            rq->has_hash = true;
        }
    }
    if (st != NULL && st->cookie != NULL && req != NULL) {
        struct http_str v;
        struct pick_pool *pp = &w->pick[pool - w->conf->pools];
        if (http_cookie_get(req, st->cookie, &v) && v.len == STICKY_TOKEN_LEN)
            for (size_t i = 0; i < pool->nservers; i++)
                if (memcmp(pp->token[i], v.p, STICKY_TOKEN_LEN) == 0) {
                    rq->sticky = (int)i;
                    break;
                }
    }
}

/* ---- the choice -------------------------------------------------------- */

static bool
tried(const struct pick_req *rq, size_t i)
{
    return i < 64 && (rq->tried >> i) & 1;
}

/* The group member for this request, from the algorithm alone; -1 when
 * no member is ok.  ok[], active[] and weight[] describe the members. */
static int
algorithm(struct worker *w, const struct conf_pool *pool,
          struct pick_group *g, const struct pick_req *rq, uint64_t now)
{
    bool *ok = w->pick_ok;
    size_t pi = (size_t)(pool - w->conf->pools);

    if (w->pick[pi].ring && rq->has_hash)
        return bal_ring_find(&g->ring, rq->hash, ok);
    switch (pool->balance) {
    case BAL_LEAST_CONN: {
        int best = bal_least(w->pick_active, w->pick_weight, ok, g->n,
                             w->rr[pi]++ % g->n);
        if (best < 0 || g->sched_len == 0)
            return best;
        /* Ties go by the pool's smooth weighted round robin (as nginx
         * does), so weights count when the servers are equally busy. */
        for (size_t k = 0; k < g->sched_len; k++) {
            uint64_t pos = atomic_fetch_add_explicit(g->rr, 1,
                                                     memory_order_relaxed);
            unsigned m = g->sched[pos % g->sched_len];
            if (ok[m] && bal_same_load(w->pick_active[m], w->pick_weight[m],
                                       w->pick_active[best],
                                       w->pick_weight[best]))
                return (int)m;
        }
        return best;
    }
    case BAL_RANDOM:
        return bal_p2c(w->pick_active, w->pick_weight, ok, g->n,
                       bal_rand(&w->rng), bal_rand(&w->rng));
    default:
        break;
    }
    /* Smooth weighted round robin, one shared position for the pool in
     * every worker: each pick takes the next entry of the cycle, and an
     * entry whose server may not take it is passed over, so the servers
     * that can keep the proportions of their weights.  A server in slow
     * start takes its entry only with the probability of its ramp. */
    for (size_t k = 0; k < 2 * g->sched_len; k++) {
        uint64_t pos = atomic_fetch_add_explicit(g->rr, 1,
                                                 memory_order_relaxed);
        unsigned m = g->sched[pos % g->sched_len];
        if (!ok[m])
            continue;
        if (pool->slow_start > 0) {
            struct shm_server *ss = shm_server(w->args->shm,
                                  pool->servers[g->idx[m]].slot);
            unsigned r = srv_ramp(ss, pool, now);
            if (r < 1000 && bal_rand(&w->rng) % 1000 >= r)
                continue;
        }
        return (int)m;
    }
    /* every entry passed over (slow start's dice, or a race): the first ok */
    for (size_t m = 0; m < g->n; m++)
        if (ok[m])
            return (int)m;
    return -1;
}

static const struct conf_server *
take(struct worker *w, const struct conf_pool *pool, size_t i, uint64_t now)
{
    const struct conf_server *s = &pool->servers[i];

    /* one atomic step in the worker's own row: crash-safe */
    if (srv_acquire(w->args->shm, (unsigned)w->args->row, s->slot, pool, s,
                    now) < 0)
        return NULL;
    return s;
}

const struct conf_server *
pick_server(struct worker *w, const struct conf_pool *pool,
            struct pick_req *rq, bool *full)
{
    struct pick_pool *pp = &w->pick[pool - w->conf->pools];
    uint64_t now = ev_now(w->loop);

    *full = false;
    /* The sticky cookie's server, while it takes traffic. */
    if (rq->sticky >= 0 && !tried(rq, (size_t)rq->sticky)) {
        const struct conf_server *s = &pool->servers[rq->sticky];
        if (srv_selectable(shm_server(w->args->shm, s->slot), now)) {
            const struct conf_server *got = take(w, pool, (size_t)rq->sticky,
                                                 now);
            if (got != NULL)
                return got;
            *full = true;
        }
    }
    /* Primaries, then backups only when no primary can take it.  A
     * server that failed this request is never chosen for it again (as
     * nginx's tried set): its retries go elsewhere or end in 502.
     * Servers marked down by passive failures are tried only when nothing
     * else is left (rather than a sure 503). */
    bool passive_seen = false;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !passive_seen)
            continue;
        for (int k = 0; k < 2; k++) {
            struct pick_group *g = &pp->g[k];
            size_t nok = 0;
            for (size_t m = 0; m < g->n; m++) {
                const struct conf_server *s = &pool->servers[g->idx[m]];
                struct shm_server *ss = shm_server(w->args->shm, s->slot);
                bool fresh = !tried(rq, g->idx[m]);
                bool ok = fresh && (pass == 0 ? srv_selectable(ss, now)
                                              : srv_passive_down(ss, now));
                if (pass == 0 && fresh && !ok && srv_passive_down(ss, now))
                    passive_seen = true;
                int64_t act = -1;
                if (ok && s->max_conns > 0 &&
                    (act = srv_active(w->args->shm, s->slot))
                        >= s->max_conns) {
                    ok = false;
                    *full = true;
                }
                w->pick_ok[m] = ok;
                nok += ok;
                if (pool->balance == BAL_LEAST_CONN ||
                    pool->balance == BAL_RANDOM) {
                    w->pick_active[m] = act >= 0 ? act
                                        : srv_active(w->args->shm, s->slot);
                    unsigned r = pool->slow_start > 0
                                 ? srv_ramp(ss, pool, now) : 1000;
                    w->pick_weight[m] = g->weight[m] * r;
                }
            }
            while (nok > 0) {
                int m = algorithm(w, pool, g, rq, now);
                if (m < 0)
                    break;
                const struct conf_server *s = take(w, pool, g->idx[m], now);
                if (s != NULL) {
                    *full = false;
                    return s;
                }
                w->pick_ok[m] = false;      /* lost a race for it */
                nok--;
            }
        }
    }
    return NULL;
}

void
pick_failed(struct worker *w, const struct conf_pool *pool,
            const struct conf_server *s, struct pick_req *rq, const char *why)
{
    size_t i = (size_t)(s - pool->servers);

    srv_failure(shm_server(w->args->shm, s->slot), pool, s, ev_now(w->loop),
                why);
    if (i < 64)
        rq->tried |= (uint64_t)1 << i;
}

void
pick_put(struct worker *w, const struct conf_server *s)
{
    srv_release(w->args->shm, (unsigned)w->args->row, s->slot);
}
