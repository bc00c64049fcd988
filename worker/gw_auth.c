/* gw_auth: consumers and authentication (api_key, jwt, basic). */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "conf-gw-auth.h"
#include "conf.h"
#include "gateway.h"
#include "http.h"
#include "jwt_cache.h"
#include "log.h"

enum { AUTH_OK, AUTH_NONE, AUTH_BAD, AUTH_FORBIDDEN };

/* The consumer whose key has digest d: every entry is compared, in
 * constant time, whatever matches. */
static const struct conf_consumer *
key_lookup(const struct gw_keys *t, const unsigned char *d)
{
    const struct conf_consumer *found = NULL;

    for (size_t i = 0; t != NULL && i < t->n; i++) {
        int eq = CRYPTO_memcmp(t->k[i].digest, d, GW_KEY_DIGEST) == 0;
        if (eq && found == NULL)
            found = t->k[i].consumer;
    }
    return found;
}

static void
identified(struct gw *g, const struct conf_consumer *cs, const char *name)
{
    g->consumer = cs;
    size_t n = strnlen(name, sizeof(g->consumer_name) - 1);
    memcpy(g->consumer_name, name, n);
    g->consumer_name[n] = '\0';
    gw_edit_add(&g->up, "X-Consumer", g->consumer_name,
                strlen(g->consumer_name));
}

static int
api_key(struct gw *g, const struct conf_api_key *k, const char **why)
{
    const struct conf *conf = g->w->conf;
    const struct http_header *h = http_header_find(g->req, k->header);
    struct http_str v = { NULL, 0 };

    /* The key never reaches the server, whether it is good or not. */
    if (k->strip)
        gw_edit_drop(&g->up, k->header, strlen(k->header));
    if (h != NULL)
        v = h->value;
    else if (k->query == NULL || !http_query_get(g->req->query, k->query, &v))
        v.p = NULL;
    if (v.p == NULL) {
        *why = "no API key";
        return AUTH_NONE;
    }
    unsigned char d[GW_KEY_DIGEST];
    if (v.len == 0 || gw_key_digest(v.p, v.len, d) < 0) {
        *why = "unknown API key";
        return AUTH_BAD;
    }
    const struct conf_consumer *cs =
        key_lookup(conf->nconsumers ? conf->consumers[0].compiled : NULL, d);
    if (cs == NULL) {
        *why = "unknown API key";
        return AUTH_BAD;
    }
    identified(g, cs, cs->name);
    return AUTH_OK;
}

/* Does pass match the crypt(3) hash? */
static bool
crypt_ok(const char *pass, const char *hash)
{
    struct crypt_data cd;

    memset(&cd, 0, sizeof(cd));
    const char *r = crypt_r(pass, hash, &cd);
    size_t hl = strlen(hash);
    return r != NULL && r[0] != '*' && strlen(r) == hl &&
           CRYPTO_memcmp(r, hash, hl) == 0;
}

static int
basic(struct gw *g, const struct conf_basic *b, const char **why)
{
    const struct gw_users *u = b->compiled;
    const struct http_header *h = http_header_find(g->req, "Authorization");

    if (h == NULL || h->value.len < 6 ||
        strncasecmp(h->value.p, "Basic ", 6) != 0) {
        *why = "no basic credentials";
        return AUTH_NONE;
    }
    const char *s = h->value.p + 6;
    size_t n = h->value.len - 6;
    while (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    unsigned char in[684], out[513];
    if (n == 0 || n % 4 != 0 || n >= sizeof(in)) {
        *why = "malformed basic credentials";
        return AUTH_BAD;
    }
    memcpy(in, s, n);
    int dl = EVP_DecodeBlock(out, in, (int)n);
    if (dl < 0) {
        *why = "malformed basic credentials";
        return AUTH_BAD;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    if (s[n - 1] == '=')
        dl--;
    if (s[n - 2] == '=')
        dl--;
    out[dl] = '\0';
    char *user = (char *)out, *colon = memchr(out, ':', (size_t)dl);
    if (colon == NULL || strlen(user) != (size_t)dl) {
        *why = "malformed basic credentials";
        return AUTH_BAD;
    }
    *colon = '\0';
    const char *pass = colon + 1;
    const struct gw_user *found = NULL;
    for (size_t i = 0; u != NULL && i < u->n && found == NULL; i++)
        if (strcmp(u->u[i].name, user) == 0)
            found = &u->u[i];
    if (found == NULL) {
        /* as long as a wrong password takes */
        if (u != NULL && u->n > 0)
            (void)crypt_ok(pass, u->u[0].hash);
        *why = "unknown user";
        return AUTH_BAD;
    }
    if (!crypt_ok(pass, found->hash)) {
        *why = "wrong password";
        return AUTH_BAD;
    }
    const struct conf *conf = g->w->conf;
    const struct conf_consumer *cs = NULL;
    for (size_t i = 0; i < conf->nconsumers && cs == NULL; i++)
        if (strcmp(conf->consumers[i].name, found->name) == 0)
            cs = &conf->consumers[i];
    identified(g, cs, found->name);
    return AUTH_OK;
}

/* The header value of a forwarded claim: strings as they are, numbers
 * and booleans as JSON; false when there is none or it cannot be a header
 * value. */
static bool
claim_text(const json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, cap, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
    else
        return false;
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return false;
    return true;
}

/* The client a token's sub names, when it is a plain name: $jwt_sub and
 * the consumer of that name (X-Consumer). */
static void
subject(struct gw *g, const char *sub)
{
    size_t sn = strnlen(sub, sizeof(g->jwt_sub) - 1);
    memcpy(g->jwt_sub, sub, sn);
    g->jwt_sub[sn] = '\0';
    size_t sl = strlen(sub);
    bool plain = sl > 0 && sl < sizeof(g->consumer_name);
    for (size_t i = 0; i < sl && plain; i++)
        plain = (unsigned char)sub[i] > ' ' && (unsigned char)sub[i] < 0x7f;
    if (!plain) {
        g->jwt_sub[0] = '\0';
        return;
    }
    const struct conf *conf = g->w->conf;
    const struct conf_consumer *cs = NULL;
    for (size_t i = 0; i < conf->nconsumers && cs == NULL; i++)
        if (strcmp(conf->consumers[i].name, sub) == 0)
            cs = &conf->consumers[i];
    identified(g, cs, sub);
}

/* What a verified token gave the request, kept in the worker's cache so
 * that the same token replays it without a signature check: [length of
 * the plain sub, 0 if none][sub], then for each forwarded claim in order
 * [2-byte length, or NOCLAIM][header value], then the same for each claim
 * rate limits and quotas count by (conf->key_claims). */
#define NOCLAIM 0xffff

struct jwt_out {
    unsigned char b[JWT_CACHE_BLOB];
    size_t n;
    bool fits;                  /* else the token is not cached */
};

static void
out_add(struct jwt_out *o, const void *p, size_t len)
{
    if (!o->fits || len > sizeof(o->b) - o->n) {
        o->fits = false;
        return;
    }
    memcpy(o->b + o->n, p, len);
    o->n += len;
}

static void
out_len(struct jwt_out *o, size_t len)
{
    unsigned char l[2] = { (unsigned char)(len >> 8), (unsigned char)len };
    out_add(o, l, sizeof(l));
}

/* The next [2-byte length or NOCLAIM][bytes] of b[0..n) at *at: -1 when
 * malformed, 0 for NOCLAIM, else 1 with the bytes ending at the new *at,
 * *len long. */
static int
item(const unsigned char *b, size_t n, size_t *at, size_t *len)
{
    *len = 0;
    if (n - *at < 2)
        return -1;
    size_t l = (size_t)b[*at] << 8 | b[*at + 1];
    *at += 2;
    if (l == NOCLAIM)
        return 0;
    if (n - *at < l)
        return -1;
    *at += l;
    *len = l;
    return 1;
}

/* Checks the recorded outputs b[0..n) of block j (apply false), or makes
 * the request as the verification did (apply true); false if malformed. */
static bool
replay(struct gw *g, const struct conf_jwt *j, const unsigned char *b,
       size_t n, bool apply)
{
    size_t at = 0, len;

    if (n < 1 || b[0] >= sizeof(g->consumer_name) || n - 1 < b[0])
        return false;
    if (b[0] > 0 && apply) {
        char sub[sizeof(g->consumer_name)];
        memcpy(sub, b + 1, b[0]);
        sub[b[0]] = '\0';
        subject(g, sub);
    }
    at = 1 + (size_t)b[0];
    for (size_t i = 0; i < j->nforward_claims; i++) {
        int k = item(b, n, &at, &len);
        if (k < 0)
            return false;
        if (k > 0 && apply)
            gw_edit_add(&g->up, j->forward_claims[i].value,
                        (const char *)b + at - len, len);
    }
    for (size_t i = 0; i < g->w->conf->nkey_claims; i++) {
        int k = item(b, n, &at, &len);
        if (k < 0 || len >= GW_CLAIM_MAX)
            return false;
        if (k > 0 && apply) {
            memcpy(g->claims[i], b + at - len, len);
            g->claims[i][len] = '\0';
        }
    }
    return at == n;
}

/* A time claim as jwt_check reads it (lib/jwt.c, time_claim): true with
 * *t when present; the token passed jwt_check, so it is a number. */
static bool
time_of(const json_t *claims, const char *name, int64_t *t)
{
    json_t *v = json_object_get(claims, name);
    double d = json_number_value(v);

    if (!json_is_number(v) || d != d)
        return false;
    *t = d > 1e15 ? (int64_t)1e15 : d < -1e15 ? (int64_t)-1e15 : (int64_t)d;
    return true;
}

/* Until when a token that passed jwt_check at now may come from the
 * cache: exp plus the leeway, the instant jwt_check stops accepting it
 * (now >= exp + leeway), or a minute for a token without exp; false for
 * a token whose nbf is still ahead (accepted within the leeway). */
static bool
cache_until(const json_t *claims, int64_t leeway, int64_t now,
            int64_t *until)
{
    int64_t t;

    if (time_of(claims, "nbf", &t) && t > now)
        return false;
    *until = time_of(claims, "exp", &t) ? t + leeway : now + 60;
    return true;
}

/* Block j's cache in this worker, made on first use (NULL: none). */
static struct jwt_cache *
worker_cache(const struct conf_jwt *j, struct gw_jwt *c)
{
    if (c->cache != NULL || c->cache_failed || j->cache <= 0)
        return c->cache;
    c->cache = jwt_cache_new((size_t)j->cache);
    if (c->cache == NULL) {
        c->cache_failed = true;
        log_error("%s:%d: auth.jwt: no cache of %lld tokens: %s; every "
                  "token is verified", j->src.file, j->src.line,
                  (long long)j->cache, strerror(errno));
    }
    return c->cache;
}

static int
jwt(struct gw *g, const struct conf_jwt *j, const char **why, char *whybuf,
    size_t cap)
{
    struct gw_jwt *c = j->compiled;
    const struct http_header *h = http_header_find(g->req, j->header);
    struct http_str tok = { NULL, 0 };

    if (h != NULL) {
        tok = h->value;
        bool bearer = tok.len > 7 && strncasecmp(tok.p, "Bearer ", 7) == 0;
        if (bearer) {
            tok.p += 7;
            tok.len -= 7;
            while (tok.len > 0 && *tok.p == ' ') {
                tok.p++;
                tok.len--;
            }
        } else if (strcasecmp(j->header, "Authorization") == 0) {
            tok.p = NULL;       /* another scheme (Basic) */
        }
        if (tok.p != NULL && j->strip_token)
            gw_edit_drop(&g->up, j->header, strlen(j->header));
    }
    if (tok.p == NULL && j->cookie != NULL &&
        !http_cookie_get(g->req, j->cookie, &tok))
        tok.p = NULL;
    if (tok.p == NULL || tok.len == 0) {
        *why = "no bearer token";
        return AUTH_NONE;
    }
    int64_t now = (int64_t)time(NULL);
    /* A token verified before, still in time: what it gave, again.  The
     * outputs depend only on the token's bytes, this block and now. */
    struct jwt_cache *cache = worker_cache(j, c);
    unsigned char d[JWT_CACHE_DIGEST];
    bool keyed = jwt_cache_digest(cache, tok.p, tok.len, d) == 0;
    const void *kept;
    size_t klen;
    if (keyed && jwt_cache_get(cache, d, now, &kept, &klen) == 0 &&
        replay(g, j, kept, klen, false)) {
        replay(g, j, kept, klen, true);
        return AUTH_OK;
    }
    json_t *claims = NULL;
    if (jwt_verify(&c->ks, tok.p, tok.len, &claims, why) != JWT_OK)
        return AUTH_BAD;
    int st = jwt_check(claims, &c->rules, now, whybuf, cap);
    if (st != JWT_OK) {
        json_decref(claims);
        *why = whybuf;
        return st == JWT_FORBIDDEN ? AUTH_FORBIDDEN : AUTH_BAD;
    }
    struct jwt_out out = { .n = 0, .fits = keyed };
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (sub != NULL)
        subject(g, sub);
    unsigned char sl = (unsigned char)strlen(g->jwt_sub);  /* < 64 */
    out_add(&out, &sl, 1);
    out_add(&out, g->jwt_sub, sl);
    char val[512];
    for (size_t i = 0; i < j->nforward_claims; i++) {
        json_t *v = json_object_get(claims, j->forward_claims[i].name);
        if (v != NULL && claim_text(v, val, sizeof(val))) {
            size_t vl = strlen(val);
            gw_edit_add(&g->up, j->forward_claims[i].value, val, vl);
            out_len(&out, vl);
            out_add(&out, val, vl);
        } else {
            out_len(&out, NOCLAIM);
        }
    }
    /* The claims limits and quotas count by: as header values are. */
    const struct conf *conf = g->w->conf;
    for (size_t i = 0; i < conf->nkey_claims; i++) {
        json_t *v = json_object_get(claims, conf->key_claims[i]);
        if (v != NULL && claim_text(v, val, sizeof(val)) &&
            strlen(val) < GW_CLAIM_MAX) {
            size_t vl = strlen(val);
            memcpy(g->claims[i], val, vl + 1);
            out_len(&out, vl);
            out_add(&out, val, vl);
        } else {
            out_len(&out, NOCLAIM);
        }
    }
    int64_t until;
    if (out.fits && cache_until(claims, c->rules.leeway, now, &until))
        (void)jwt_cache_put(cache, d, now, until, out.b, out.n);
    json_decref(claims);
    return AUTH_OK;
}

/* Headers of the request named name, any case, '_' read as '-'. */
static size_t
header_count(const struct http_request *req, const char *name)
{
    size_t n = 0, nl = strlen(name);

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_str *h = &req->headers[i].name;
        bool eq = h->len == nl;
        for (size_t k = 0; k < nl && eq; k++) {
            char a = h->p[k] == '_' ? '-' : h->p[k];
            char b = name[k] == '_' ? '-' : name[k];
            eq = a == b || ((a | 0x20) == (b | 0x20) && (a | 0x20) >= 'a' &&
                            (a | 0x20) <= 'z');
        }
        n += eq;
    }
    return n;
}

/* Two credentials of one kind make the client ambiguous (which one did
 * cerberus check, which one does the server read?): why, or NULL.  Two
 * Authorization headers never get this far (gw_strip_identity). */
static const char *
duplicate(struct gw *g, const struct conf_auth *au)
{
    const struct conf_api_key *k = au->api_key;
    const struct conf_jwt *j = au->jwt;

    if (k != NULL) {
        size_t nh = header_count(g->req, k->header);
        size_t nq = k->query != NULL ? http_query_find(g->req->query, k->query, NULL)
                                     : 0;
        if (nh > 1)
            return "more than one API key header";
        if (nq > 1)
            return "more than one API key query parameter";
        if (nh + nq > 1)
            return "an API key in both the header and the query";
    }
    if (j != NULL && header_count(g->req, j->header) > 1)
        return "more than one token header";
    return NULL;
}

int
gw_auth(struct gw *g)
{
    const struct conf_auth *au = GW_POL(g, auth);
    const char *why[3] = { NULL, NULL, NULL };
    static const char *const what[3] = { "api_key", "jwt", "basic" };
    int res[3] = { -1, -1, -1 };
    char jwhy[160];

    if (au == NULL)
        return 0;
    /* (Only cerberus says who the client is: X-Consumer and the forwarded
     * claims are gone from the request already, gw_strip_identity.) */
    const char *dup = duplicate(g, au);
    if (dup != NULL)
        return gw_refuse(g, 400, "auth", "bad request", "%s", dup);
    /* In order api_key, jwt, basic: the first that succeeds wins. */
    if (au->api_key != NULL &&
        (res[0] = api_key(g, au->api_key, &why[0])) == AUTH_OK)
        return 0;
    if (au->jwt != NULL &&
        (res[1] = jwt(g, au->jwt, &why[1], jwhy, sizeof(jwhy))) == AUTH_OK)
        return 0;
    if (au->basic != NULL &&
        (res[2] = basic(g, au->basic, &why[2])) == AUTH_OK)
        return 0;
    /* Valid credentials lacking a claim: 403, whatever the others said. */
    if (res[1] == AUTH_FORBIDDEN) {
        gw_header(g, "WWW-Authenticate: Bearer error=\"insufficient_scope\"");
        return gw_refuse(g, 403, "auth", "forbidden", "%s", why[1]);
    }
    if (res[0] >= 0)
        gw_header(g, "WWW-Authenticate: ApiKey");
    if (res[1] == AUTH_NONE)
        gw_header(g, "WWW-Authenticate: Bearer");
    else if (res[1] >= 0)
        gw_header(g, "WWW-Authenticate: Bearer error=\"invalid_token\"");
    if (res[2] >= 0)
        gw_header(g, "WWW-Authenticate: Basic realm=\"%s\"", au->basic->realm);
    char reason[sizeof(g->reason)];
    size_t n = 0, tried = 0, last = 0;
    for (size_t i = 0; i < 3; i++)
        if (res[i] >= 0) {
            tried++;
            last = i;
        }
    if (tried == 1)
        return gw_refuse(g, 401, "auth", "unauthorized", "%s", why[last]);
    n = (size_t)snprintf(reason, sizeof(reason), "no valid credentials:");
    for (size_t i = 0; i < 3 && n < sizeof(reason); i++)
        if (res[i] >= 0)
            n += (size_t)snprintf(reason + n, sizeof(reason) - n, "%s %s: %s",
                                  n > 21 ? ";" : "", what[i], why[i]);
    return gw_refuse(g, 401, "auth", "unauthorized", "%s", reason);
}
