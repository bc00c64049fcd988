/* conf_gw_auth: consumers and authentication (api_key, jwt, basic). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "arena.h"
#include "conf-gw-auth.h"
#include "conf-gw.h"
#include "conf.h"
#include "uri.h"

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
/* Files named in the config are relative to its directory. */
static void
consumer_paths(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_consumer *c = obj;

    (void)path;
    conf_path_resolve(ctx, &c->api_keys_file);
}

const struct conf_section gw_consumer_section = {
    "consumer", sizeof(struct conf_consumer), consumer_keys, consumer_paths
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
static void
jwt_paths(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_jwt *j = obj;

    (void)path;
    conf_path_resolve(ctx, &j->keys);
    conf_path_resolve(ctx, &j->secret_file);
    for (size_t i = 0; i < j->nkeys_pem; i++)
        conf_path_resolve(ctx, &j->keys_pem[i]);
}

static const struct conf_section jwt_section = {
    "jwt", sizeof(struct conf_jwt), jwt_keys, jwt_paths
};

static const struct conf_key basic_keys[] = {
    { "users", CK_STR, OFF(struct conf_basic, users), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "realm", CK_STR, OFF(struct conf_basic, realm), 0, "cerberus",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static void
basic_paths(struct conf_ctx *ctx, void *obj, const char *path)
{
    (void)path;
    conf_path_resolve(ctx, &((struct conf_basic *)obj)->users);
}

static const struct conf_section basic_section = {
    "basic", sizeof(struct conf_basic), basic_keys, basic_paths
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

int
gw_key_digest(const char *key, size_t len, unsigned char digest[GW_KEY_DIGEST])
{
    unsigned int n = 0;

    if (EVP_Digest(key, len, digest, &n, EVP_sha256(), NULL) != 1 ||
        n != GW_KEY_DIGEST)
        return -1;
    return 0;
}

/* Printable ASCII with no space: what may go in a header value and a log
 * line as it is. */
static bool
plain_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

struct keys_build {
    struct gw_keys *t;
    size_t cap;
};

/* Adds one key (plain or "sha256:<hex>") of consumer cs, found at src. */
static void
key_add(struct conf_ctx *ctx, struct keys_build *b, const struct conf_src *src,
        const struct conf_consumer *cs, const char *key, size_t len)
{
    unsigned char d[GW_KEY_DIGEST];

    if (len > 7 && strncmp(key, "sha256:", 7) == 0) {
        if (len != 7 + 2 * GW_KEY_DIGEST) {
            conf_error(ctx, src, "consumer \"%s\": a sha256: key needs %d "
                       "hex digits", cs->name, 2 * GW_KEY_DIGEST);
            return;
        }
        for (size_t i = 0; i < GW_KEY_DIGEST; i++) {
            int hi = uri_hexval(key[7 + 2 * i]), lo = uri_hexval(key[8 + 2 * i]);
            if (hi < 0 || lo < 0) {
                conf_error(ctx, src, "consumer \"%s\": a sha256: key needs "
                           "%d hex digits", cs->name, 2 * GW_KEY_DIGEST);
                return;
            }
            d[i] = (unsigned char)(hi << 4 | lo);
        }
    } else if (!plain_token(key, len)) {
        conf_error(ctx, src, "consumer \"%s\": an API key must be printable "
                   "ASCII with no spaces", cs->name);
        return;
    } else if (gw_key_digest(key, len, d) < 0) {
        conf_error(ctx, src, "consumer \"%s\": SHA-256 failed", cs->name);
        return;
    }
    for (size_t i = 0; i < b->t->n; i++)
        if (memcmp(b->t->k[i].digest, d, GW_KEY_DIGEST) == 0) {
            conf_error(ctx, src, "consumer \"%s\": duplicate API key (also "
                       "consumer \"%s\")", cs->name, b->t->k[i].consumer->name);
            return;
        }
    if (b->t->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct gw_key *k = realloc(b->t->k, cap * sizeof(*k));
        if (k == NULL) {
            conf_error(ctx, src, "out of memory");
            return;
        }
        b->t->k = k;
        b->cap = cap;
    }
    memcpy(b->t->k[b->t->n].digest, d, GW_KEY_DIGEST);
    b->t->k[b->t->n++].consumer = cs;
}

/* Lines of a file, each handed to fn with its line number; blank lines
 * and lines starting with '#' skipped, surrounding blanks trimmed. */
static int
read_lines(struct conf_ctx *ctx, const struct conf_src *at, const char *what,
           const char *path,
           void (*fn)(struct conf_ctx *, const struct conf_src *, char *,
                      size_t, void *), void *arg)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        conf_error(ctx, at, "%s \"%s\": %s", what, path, strerror(errno));
        return -1;
    }
    struct conf_src src = { arena_strdup(conf_ctx_arena(ctx), path), 0 };
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        src.line++;
        size_t len = (size_t)n;
        char *s = line;
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
                           s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        if (len == 0 || *s == '#')
            continue;
        s[len] = '\0';
        fn(ctx, &src, s, len, arg);
    }
    if (ferror(f))
        conf_error(ctx, at, "%s \"%s\": %s", what, path, strerror(errno));
    free(line);
    fclose(f);
    return 0;
}

struct file_key_arg {
    struct keys_build *b;
    const struct conf_consumer *cs;
};

static void
file_key(struct conf_ctx *ctx, const struct conf_src *src, char *s,
         size_t len, void *arg)
{
    struct file_key_arg *a = arg;
    key_add(ctx, a->b, src, a->cs, s, len);
}

static void
free_keys(void *p)
{
    struct gw_keys *t = p;
    free(t->k);
}

static void
consumers_compile(struct conf_ctx *ctx, struct conf *c)
{
    struct arena *a = conf_ctx_arena(ctx);
    struct gw_keys *t = arena_calloc(a, 1, sizeof(*t));
    struct keys_build b = { t, 0 };

    if (t == NULL || arena_cleanup_add(a, free_keys, t) < 0) {
        conf_error(ctx, &c->consumers[0].src, "out of memory");
        return;
    }
    for (size_t i = 0; i < c->nconsumers; i++) {
        struct conf_consumer *cs = &c->consumers[i];
        cs->compiled = t;
        if (cs->name == NULL)
            continue;
        if (!plain_token(cs->name, strlen(cs->name)) ||
            strlen(cs->name) >= 64) {
            conf_error(ctx, &cs->src, "consumers[%zu]: name must be 1 to 63 "
                       "printable ASCII characters with no spaces", i);
            continue;
        }
        for (size_t k = 0; k < i; k++)
            if (c->consumers[k].name != NULL &&
                strcmp(c->consumers[k].name, cs->name) == 0)
                conf_error(ctx, &cs->src, "consumers[%zu]: duplicate name "
                           "\"%s\"", i, cs->name);
        for (size_t k = 0; k < cs->napi_keys; k++)
            key_add(ctx, &b, &cs->src, cs, cs->api_keys[k],
                    strlen(cs->api_keys[k]));
        if (cs->api_keys_file != NULL) {
            struct file_key_arg fa = { &b, cs };
            read_lines(ctx, &cs->src, "api_keys_file", cs->api_keys_file,
                       file_key, &fa);
        }
    }
}

/* The crypt(3) hash forms libcrypt verifies and we accept. */
static bool
hash_supported(const char *h)
{
    static const char *const pfx[] = { "$2a$", "$2b$", "$2y$", "$5$", "$6$",
                                       "$y$" };
    for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++)
        if (strncmp(h, pfx[i], strlen(pfx[i])) == 0)
            return true;
    return false;
}

struct users_build {
    struct gw_users *u;
    size_t cap;
};

static void
user_line(struct conf_ctx *ctx, const struct conf_src *src, char *s,
          size_t len, void *arg)
{
    struct users_build *b = arg;
    char *colon = memchr(s, ':', len);

    if (colon == NULL || colon == s) {
        conf_error(ctx, src, "expected user:hash");
        return;
    }
    *colon = '\0';
    char *hash = colon + 1;
    if (!plain_token(s, strlen(s)) || strlen(s) >= 64) {
        conf_error(ctx, src, "user name must be 1 to 63 printable ASCII "
                   "characters with no spaces");
        return;
    }
    if (!hash_supported(hash)) {
        conf_error(ctx, src, "user \"%s\": unsupported password hash (use "
                   "bcrypt $2y$, SHA-crypt $5$/$6$ or yescrypt $y$)", s);
        return;
    }
    for (size_t i = 0; i < b->u->n; i++)
        if (strcmp(b->u->u[i].name, s) == 0) {
            conf_error(ctx, src, "duplicate user \"%s\"", s);
            return;
        }
    if (b->u->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct gw_user *u = realloc(b->u->u, cap * sizeof(*u));
        if (u == NULL) {
            conf_error(ctx, src, "out of memory");
            return;
        }
        b->u->u = u;
        b->cap = cap;
    }
    struct arena *a = conf_ctx_arena(ctx);
    b->u->u[b->u->n].name = arena_strdup(a, s);
    b->u->u[b->u->n++].hash = arena_strdup(a, hash);
}

static void
free_users(void *p)
{
    struct gw_users *u = p;
    free(u->u);
}

static void
basic_compile(struct conf_ctx *ctx, struct conf_basic *bs, const char *where)
{
    struct arena *a = conf_ctx_arena(ctx);
    struct gw_users *u = arena_calloc(a, 1, sizeof(*u));
    struct users_build b = { u, 0 };

    if (u == NULL || arena_cleanup_add(a, free_users, u) < 0) {
        conf_error(ctx, &bs->src, "out of memory");
        return;
    }
    bs->compiled = u;
    for (const char *r = bs->realm; r != NULL && *r; r++)
        if ((unsigned char)*r < ' ' || *r == '"' || *r == '\\' ||
            (unsigned char)*r >= 0x7f) {
            conf_error(ctx, &bs->src, "%s: auth.basic.realm: printable ASCII "
                       "with no quotes or backslashes", where);
            break;
        }
    if (bs->users == NULL)
        return;
    if (read_lines(ctx, &bs->src, "auth.basic.users", bs->users, user_line,
                   &b) == 0 && u->n == 0)
        conf_error(ctx, &bs->src, "%s: auth.basic.users \"%s\" has no users",
                   where, bs->users);
}

static void
free_jwt(void *p)
{
    struct gw_jwt *j = p;
    for (size_t i = 0; i < j->ks.n; i++)
        jwt_key_free(&j->ks.k[i]);
    free(j->ks.k);
}

/* An HMAC secret: the file's bytes, a final newline removed. */
static int
read_secret(struct conf_ctx *ctx, const struct conf_src *src,
            const char *where, const char *path, struct jwt_key *k)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        conf_error(ctx, src, "%s: auth.jwt.secret_file \"%s\": %s", where,
                   path, strerror(errno));
        return -1;
    }
    unsigned char buf[4097];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n < 32 || n > 4096) {
        conf_error(ctx, src, "%s: auth.jwt.secret_file \"%s\": a secret of "
                   "32 to 4096 bytes is needed", where, path);
        OPENSSL_cleanse(buf, sizeof(buf));
        return -1;
    }
    k->secret = malloc(n);
    if (k->secret == NULL) {
        conf_error(ctx, src, "out of memory");
        return -1;
    }
    memcpy(k->secret, buf, n);
    k->slen = n;
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

static int
read_pem(struct conf_ctx *ctx, const struct conf_src *src, const char *where,
         const char *path, struct jwt_key *k)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        conf_error(ctx, src, "%s: auth.jwt.keys_pem \"%s\": %s", where, path,
                   strerror(errno));
        return -1;
    }
    k->pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (k->pkey == NULL) {
        conf_error(ctx, src, "%s: auth.jwt.keys_pem \"%s\": not a PEM public "
                   "key", where, path);
        return -1;
    }
    if (EVP_PKEY_is_a(k->pkey, "RSA") && EVP_PKEY_get_bits(k->pkey) < 2048)
        conf_error(ctx, src, "%s: auth.jwt.keys_pem \"%s\": an RSA key needs "
                   "2048 bits or more", where, path);
    /* kid: the file's base name, less a .pem extension */
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t bl = strlen(b);
    if (bl > 4 && strcmp(b + bl - 4, ".pem") == 0)
        bl -= 4;
    k->kid = strndup(b, bl);
    if (k->kid == NULL) {
        conf_error(ctx, src, "out of memory");
        return -1;
    }
    return 0;
}

static void
read_jwks(struct conf_ctx *ctx, const struct conf_src *src, const char *where,
          const char *path, struct jwt_keyset *ks)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        conf_error(ctx, src, "%s: auth.jwt.keys \"%s\": %s", where, path,
                   strerror(errno));
        return;
    }
    char *text = NULL;
    size_t cap = 0, len = 0, n;
    do {
        if (len == cap) {
            char *t = cap < (1u << 22) ? realloc(text, cap ? cap * 2 : 4096)
                                       : NULL;
            if (t == NULL)
                break;
            text = t;
            cap = cap ? cap * 2 : 4096;
        }
        n = fread(text + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    bool err = ferror(f) || !feof(f);
    fclose(f);
    char why[200];
    if (err)
        conf_error(ctx, src, "%s: auth.jwt.keys \"%s\": unreadable or over "
                   "4 MiB", where, path);
    else if (jwt_jwks_load(text, len, &ks->k, &ks->n, why, sizeof(why)) < 0)
        conf_error(ctx, src, "%s: auth.jwt.keys \"%s\": %s", where, path,
                   why);
    free(text);
}

static void
jwt_compile(struct conf_ctx *ctx, struct conf_jwt *j, const char *where)
{
    struct arena *a = conf_ctx_arena(ctx);
    struct gw_jwt *g = arena_calloc(a, 1, sizeof(*g));

    if (g == NULL || arena_cleanup_add(a, free_jwt, g) < 0) {
        conf_error(ctx, &j->src, "out of memory");
        return;
    }
    j->compiled = g;
    for (size_t i = 0; i < j->nalgorithms; i++) {
        int alg = jwt_alg_parse(j->algorithms[i]);
        if (strcasecmp(j->algorithms[i], "none") == 0)
            conf_error(ctx, &j->src, "%s: auth.jwt.algorithms: \"none\" is "
                       "never allowed", where);
        else if (alg < 0)
            conf_error(ctx, &j->src, "%s: auth.jwt.algorithms: unknown "
                       "algorithm \"%s\" (HS256, HS384, HS512, RS256, RS384, "
                       "RS512, PS256, ES256, ES384, EdDSA)", where,
                       j->algorithms[i]);
        else
            g->ks.algs |= 1u << alg;
    }
    if (j->cookie != NULL && j->strip_token)
        conf_error(ctx, &j->src, "%s: auth.jwt: a cookie token cannot be "
                   "stripped in this release; set strip_token = false",
                   where);
    size_t nk = j->nkeys_pem + (j->secret_file != NULL);
    g->ks.k = calloc(nk ? nk : 1, sizeof(*g->ks.k));
    if (g->ks.k == NULL) {
        conf_error(ctx, &j->src, "out of memory");
        return;
    }
    for (size_t i = 0; i < nk; i++)
        g->ks.k[i].alg = -1;
    if (j->secret_file != NULL &&
        read_secret(ctx, &j->src, where, j->secret_file, &g->ks.k[0]) == 0)
        g->ks.n++;
    for (size_t i = 0; i < j->nkeys_pem; i++)
        if (read_pem(ctx, &j->src, where, j->keys_pem[i],
                     &g->ks.k[g->ks.n]) == 0)
            g->ks.n++;
    if (j->keys != NULL)
        read_jwks(ctx, &j->src, where, j->keys, &g->ks);
    for (int alg = 0; alg < JWT_NALG; alg++) {
        if (!(g->ks.algs & (1u << alg)))
            continue;
        bool fits = false;
        for (size_t i = 0; i < g->ks.n && !fits; i++)
            fits = jwt_key_fits(&g->ks.k[i], alg);
        if (!fits)
            conf_error(ctx, &j->src, "%s: auth.jwt: no key for %s (%s)",
                       where, jwt_alg_name(alg),
                       alg <= JWT_HS512 ? "secret_file or keys" : "keys_pem or keys");
    }
    for (size_t i = 0; i < j->nforward_claims; i++)
        if (!plain_token(j->forward_claims[i].value,
                         strlen(j->forward_claims[i].value)) ||
            strchr(j->forward_claims[i].value, ':') != NULL)
            conf_error(ctx, &j->src, "%s: auth.jwt.forward_claims: \"%s\" is "
                       "not a header name", where,
                       j->forward_claims[i].value);
    g->rules.issuer = j->issuer;
    g->rules.audience = j->audience;
    g->rules.naudience = j->naudience;
    g->rules.leeway = j->leeway / 1000;
    g->rules.required = j->required_claims;
    g->rules.nrequired = j->nrequired_claims;
    g->rules.claims = j->claims;
    g->rules.nclaims = j->nclaims;
}

static void
auth_compile(struct conf_ctx *ctx, struct conf *c, struct conf_auth *au,
             const char *where)
{
    if (au->api_key == NULL && au->jwt == NULL && au->basic == NULL)
        conf_error(ctx, &au->src, "%s: auth: needs api_key, jwt or basic",
                   where);
    if (au->api_key != NULL) {
        struct conf_api_key *k = au->api_key;
        if (c->nconsumers == 0)
            conf_error(ctx, &k->src, "%s: auth.api_key: no consumers are "
                       "defined", where);
        if (k->query != NULL && k->strip)
            conf_error(ctx, &k->src, "%s: auth.api_key: a query key cannot "
                       "be stripped in this release; set strip = false",
                       where);
    }
    if (au->jwt != NULL)
        jwt_compile(ctx, au->jwt, where);
    if (au->basic != NULL)
        basic_compile(ctx, au->basic, where);
}

void
gw_conf_auth(struct conf_ctx *ctx, struct conf *c)
{
    if (c->nconsumers > 0)
        consumers_compile(ctx, c);
    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        if (pl.pol->auth != NULL)
            auth_compile(ctx, c, pl.pol->auth, pl.where);
    }
}

/* ---- identity headers -------------------------------------------------- */

/* name folded into the set (lower case, '_' as '-'), once. */
static void
identity_add(struct conf_ctx *ctx, struct conf *c, const char *name)
{
    size_t n = strlen(name);
    char *f = arena_alloc(conf_ctx_arena(ctx), n + 1);

    if (f == NULL) {
        conf_error(ctx, &c->src, "out of memory");
        return;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        f[i] = ch == '_' ? '-' : ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    for (size_t i = 0; i < c->nidentity_headers; i++)
        if (strcmp(c->identity_headers[i], f) == 0)
            return;
    char **set = arena_alloc(conf_ctx_arena(ctx),
                             (c->nidentity_headers + 1) * sizeof(*set));
    if (set == NULL) {
        conf_error(ctx, &c->src, "out of memory");
        return;
    }
    if (c->nidentity_headers > 0)
        memcpy(set, c->identity_headers, c->nidentity_headers * sizeof(*set));
    set[c->nidentity_headers++] = f;
    c->identity_headers = set;
}

/* A request_headers value that says who the client is. */
static bool
identity_value(const char *v)
{
    static const char *const vars[] = { "$consumer", "$jwt_sub",
                                         "$remote_addr" };

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strstr(v, vars[i]) != NULL)
            return true;
    return false;
}

void
gw_conf_identity(struct conf_ctx *ctx, struct conf *c)
{
    /* What the proxy and the gateway always set (and the usual names of
     * the client's address and of its certificate). */
    static const char *const fixed[] = {
        "X-Consumer", "X-Forwarded-For", "X-Forwarded-Proto",
        "X-Forwarded-Host", "X-Real-IP", "Forwarded", "X-Request-ID",
        "X-Client-Subject", "X-Client-Fingerprint"
    };

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        identity_add(ctx, c, fixed[i]);
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct conf_tls *t = c->listeners[i].tls;
        if (t != NULL && t->client_subject_header != NULL)
            identity_add(ctx, c, t->client_subject_header);
        if (t != NULL && t->client_fingerprint_header != NULL)
            identity_add(ctx, c, t->client_fingerprint_header);
    }
    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        const struct conf_auth *au = pl.pol->auth;
        if (au != NULL && au->jwt != NULL)
            for (size_t k = 0; k < au->jwt->nforward_claims; k++)
                identity_add(ctx, c, au->jwt->forward_claims[k].value);
        const struct conf_headers *h = pl.pol->request_headers;
        for (size_t k = 0; h != NULL && k < h->nset; k++)
            if (identity_value(h->set[k].value))
                identity_add(ctx, c, h->set[k].name);
        for (size_t k = 0; h != NULL && k < h->nadd; k++)
            if (identity_value(h->add[k].value))
                identity_add(ctx, c, h->add[k].name);
    }
}
