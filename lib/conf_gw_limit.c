/* conf_gw_limit: rate limits (GCRA) and quotas. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    { "name", CK_STR, OFF(struct conf_quota, name), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
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


/* FNV-1a, for the limits' ids. */
static uint32_t
fnv32(const char *a, const char *b)
{
    uint32_t h = 0x811c9dc5u;

    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x01000193u;
    h = (h ^ 0xff) * 0x01000193u;
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x01000193u;
    return h;
}

/* key = ip | consumer | header:NAME | jwt:CLAIM, for limits and quotas. */
static bool
key_check(struct conf_ctx *ctx, struct conf *c, const struct conf_src *src,
          const char *where, const char *k, int *claim)
{
    *claim = -1;
    if (strcmp(k, "ip") == 0 || strcmp(k, "consumer") == 0)
        return true;
    if (strncmp(k, "header:", 7) == 0 && k[7] != '\0') {
        for (const char *p = k + 7; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p))) {
                conf_error(ctx, src, "%s: key: \"%s\" is not a header name",
                           where, k + 7);
                return false;
            }
        return true;
    }
    if (strncmp(k, "jwt:", 4) == 0 && k[4] != '\0') {
        if (strcmp(k + 4, "sub") == 0)
            return true;        /* the subject: always handed over */
        for (size_t i = 0; i < c->nkey_claims; i++)
            if (strcmp(c->key_claims[i], k + 4) == 0) {
                *claim = (int)i;
                return true;
            }
        if (c->nkey_claims == GW_KEY_CLAIMS) {
            conf_error(ctx, src, "%s: key: jwt:%s: rate limits and quotas "
                       "may count by %d claims besides sub at most", where,
                       k + 4, GW_KEY_CLAIMS);
            return false;
        }
        *claim = (int)c->nkey_claims;
        c->key_claims[c->nkey_claims++] = (char *)(k + 4);
        return true;
    }
    static const char *const kinds[] = { "ip", "consumer", NULL };
    const char *near = conf_nearest(k, kinds, sizeof(*kinds));
    conf_error(ctx, src, "%s: key: \"%s\" is not ip, consumer, "
               "header:NAME or jwt:CLAIM%s%s%s", where, k,
               near ? " (did you mean \"" : "", near ? near : "",
               near ? "\"?)" : "");
    return false;
}

/* rate = "N/s", "N/m", "N/h" or "N/d"; key as the man page lists. */
static void
rate_limit_compile(struct conf_ctx *ctx, struct conf *c,
                   struct conf_rate_limit *rl, const char *where)
{
    const struct conf_src *src = &rl->src;
    char *end;
    long long n;

    errno = 0;
    n = strtoll(rl->rate, &end, 10);
    if (end == rl->rate || errno != 0 || n < 1 || n > 1000000000 ||
        end[0] != '/' || end[1] == '\0' || end[2] != '\0' ||
        strchr("smhd", end[1]) == NULL) {
        conf_error(ctx, src, "%s: rate: \"%s\" is not a rate (N/s, N/m, "
                   "N/h or N/d, N from 1 to 1000000000)", where, rl->rate);
        return;
    }
    int64_t per = end[1] == 's' ? 1 : end[1] == 'm' ? 60 :
                  end[1] == 'h' ? 3600 : 86400;
    rl->count = n;
    rl->per_ns = per * INT64_C(1000000000);
    rl->period_ns = rl->per_ns / n;
    /* The TAT may run (burst + 1) periods ahead: keep that far from
     * overflowing (burst 1000000 of 1/d does not fit). */
    if (rl->period_ns < 1 ||
        (rl->burst + 1) > (INT64_C(1) << 61) / rl->period_ns) {
        conf_error(ctx, src, "%s: burst: %lld at %s spans more than 73 "
                   "years", where, (long long)rl->burst, rl->rate);
        return;
    }
    if (!key_check(ctx, c, src, where, rl->key, &rl->claim))
        return;
    /* A named limit is one bucket wherever it is used; an unnamed one
     * belongs to its place in the file. */
    rl->id = rl->name != NULL ? fnv32("name", rl->name) : fnv32("at", where);
}

/* 64-bit FNV-1a: a quota's id must be the same in every run, since
 * the state file holds its keys' hashes. */
static uint64_t
fnv64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void
quota_compile(struct conf_ctx *ctx, struct conf *c, struct conf_quota *q,
              const char *where, const char *place)
{
    if (!key_check(ctx, c, &q->src, where, q->key, &q->claim))
        return;
    /* Its usage belongs to its name, else to its place: a named quota is
     * one count wherever it is used, and survives edits of the file. */
    snprintf(q->ident, sizeof(q->ident), "%s",
             q->name != NULL ? q->name : place);
    if (q->name != NULL && strlen(q->name) >= sizeof(q->ident))
        conf_error(ctx, &q->src, "%s: name: longer than %zu characters",
                   where, sizeof(q->ident) - 1);
    for (const char *p = q->ident; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            conf_error(ctx, &q->src, "%s: name: \"%s\" has a space or a "
                       "control character", where, q->ident);
            break;
        }
    q->id = fnv64(q->ident);
}

static void
compile_all(struct conf_ctx *ctx, struct conf *c, struct conf_policies *p,
            const char *where, const char *place)
{
    char w[128];

    if (p->rate_limit != NULL) {
        snprintf(w, sizeof(w), "%s.rate_limit", where);
        rate_limit_compile(ctx, c, p->rate_limit, w);
    }
    for (size_t j = 0; j < p->nrate_limits; j++) {
        snprintf(w, sizeof(w), "%s.rate_limits[%zu]", where, j);
        rate_limit_compile(ctx, c, &p->rate_limits[j], w);
    }
    if (p->quota != NULL) {
        snprintf(w, sizeof(w), "%s.quota", where);
        quota_compile(ctx, c, p->quota, w, place);
    }
    for (size_t j = 0; j < p->nquotas; j++) {
        char pl[128];
        snprintf(w, sizeof(w), "%s.quotas[%zu]", where, j);
        snprintf(pl, sizeof(pl), "%s#%zu", place, j + 1);
        quota_compile(ctx, c, &p->quotas[j], w, pl);
    }
}

static bool
same_limit(const struct conf_rate_limit *a, const struct conf_rate_limit *b)
{
    return strcmp(a->key, b->key) == 0 && a->period_ns == b->period_ns &&
           a->burst == b->burst;
}

/* Two limits of one name share their bucket: they must agree. */
static void
check_names(struct conf_ctx *ctx, struct conf *c)
{
    const struct conf_rate_limit *all[512];
    size_t n = 0;

    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        const struct conf_policies *p = pl.pol;
        if (p->rate_limit != NULL && n < 512)
            all[n++] = p->rate_limit;
        for (size_t j = 0; j < p->nrate_limits && n < 512; j++)
            all[n++] = &p->rate_limits[j];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i && all[i]->name != NULL; j++)
            if (all[j]->name != NULL &&
                strcmp(all[i]->name, all[j]->name) == 0 &&
                !same_limit(all[i], all[j])) {
                conf_error(ctx, &all[i]->src, "rate_limit \"%s\": differs "
                           "from the one of that name at %s:%d",
                           all[i]->name, all[j]->src.file, all[j]->src.line);
                break;
            }
}

static bool
same_quota(const struct conf_quota *a, const struct conf_quota *b)
{
    return strcmp(a->key, b->key) == 0 && a->per == b->per;
}

/* Two quotas of one name (or place) share their counts: they must count
 * the same key over the same period (their limits may differ). */
static void
check_quota_names(struct conf_ctx *ctx, struct conf *c)
{
    const struct conf_quota *all[512];
    size_t n = 0;

    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        const struct conf_policies *p = pl.pol;
        if (p->quota != NULL && n < 512)
            all[n++] = p->quota;
        for (size_t j = 0; j < p->nquotas && n < 512; j++)
            all[n++] = &p->quotas[j];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(all[i]->ident, all[j]->ident) == 0 &&
                !same_quota(all[i], all[j])) {
                conf_error(ctx, &all[i]->src, "quota \"%s\": differs in "
                           "key or per from the one of that name at %s:%d",
                           all[i]->ident, all[j]->src.file, all[j]->src.line);
                break;
            }
}

void
gw_conf_limit(struct conf_ctx *ctx, struct conf *c)
{
    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        struct conf_policies *p = pl.pol;
        const struct conf_src *src = pl.src;
        const char *where = pl.where;
        /* A quota's default name: its route's or listener's name, else
         * its place. */
        char place[96];
        const char *nm = pl.listener != NULL ? pl.listener->name :
                         c->routes[i - c->nlisteners].name;
        if (nm != NULL)
            snprintf(place, sizeof(place), "%s:%s",
                     pl.listener != NULL ? "listener" : "route", nm);
        else
            snprintf(place, sizeof(place), "%s", where);
        compile_all(ctx, c, p, where, place);
        if (pl.listener != NULL && pl.listener->protocol == PROTO_TCP &&
            (p->rate_limit != NULL || p->nrate_limits > 0 ||
             p->quota != NULL || p->nquotas > 0))
            conf_error(ctx, src, "%s: rate_limit and quota apply to HTTP "
                       "listeners only", where);
        if (p->quota != NULL || p->nquotas > 0)
            c->has_quotas = true;
    }
    check_names(ctx, c);
    check_quota_names(ctx, c);
}
