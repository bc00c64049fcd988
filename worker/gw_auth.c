/* gw_auth: consumers and authentication (api_key, basic; jwt is refused
 * by the config in this release). */
#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "conf-gw-auth.h"
#include "conf.h"
#include "gateway.h"
#include "http.h"

enum { AUTH_OK, AUTH_NONE, AUTH_BAD };

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
    snprintf(g->consumer_name, sizeof(g->consumer_name), "%s", name);
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

int
gw_auth(struct gw *g)
{
    const struct conf_auth *au = GW_POL(g, auth);
    const char *why[2] = { NULL, NULL };
    const char *what[2] = { "api_key", "basic" };
    size_t tried = 0;

    if (au == NULL)
        return 0;
    /* Only cerberus says who the client is. */
    gw_edit_drop(&g->up, "X-Consumer", 10);
    /* In order api_key, jwt (refused by the config in this release),
     * basic: the first that succeeds wins. */
    if (au->api_key != NULL) {
        tried |= 1;
        if (api_key(g, au->api_key, &why[0]) == AUTH_OK)
            return 0;
    }
    if (au->basic != NULL) {
        tried |= 2;
        if (basic(g, au->basic, &why[1]) == AUTH_OK)
            return 0;
    }
    if (tried & 1)
        gw_header(g, "WWW-Authenticate: ApiKey");
    if (tried & 2)
        gw_header(g, "WWW-Authenticate: Basic realm=\"%s\"", au->basic->realm);
    if (tried == 1 || tried == 2)
        return gw_refuse(g, 401, "auth", "unauthorized", "%s",
                         why[tried - 1]);
    return gw_refuse(g, 401, "auth", "unauthorized",
                     "no valid credentials: %s: %s; %s: %s", what[0], why[0],
                     what[1], why[1]);
}
