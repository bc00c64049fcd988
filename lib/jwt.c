/* jwt: JSON Web Token verification (RFC 7515, 7518, 7519, 8037). */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "jwt.h"

#define JWT_MAX_PART 16384      /* decoded header or payload */
#define JWT_MAX_SIG 1024        /* RSA 8192 */

static const char *const alg_names[JWT_NALG] = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256",
    "ES384", "EdDSA"
};

int
jwt_alg_parse(const char *name)
{
    for (int i = 0; i < JWT_NALG; i++)
        if (strcmp(name, alg_names[i]) == 0)
            return i;
    return -1;
}

const char *
jwt_alg_name(int alg)
{
    return alg >= 0 && alg < JWT_NALG ? alg_names[alg] : "?";
}

static const EVP_MD *
alg_md(int alg)
{
    switch (alg) {
    case JWT_HS256: case JWT_RS256: case JWT_PS256: case JWT_ES256:
        return EVP_sha256();
    case JWT_HS384: case JWT_RS384: case JWT_ES384:
        return EVP_sha384();
    case JWT_HS512: case JWT_RS512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static bool
ec_curve_is(EVP_PKEY *p, const char *group)
{
    char name[64];
    size_t len = 0;

    return EVP_PKEY_is_a(p, "EC") &&
           EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, name,
                                          sizeof(name), &len) == 1 &&
           strcmp(name, group) == 0;
}

bool
jwt_key_fits(const struct jwt_key *k, int alg)
{
    if (k->alg >= 0 && k->alg != alg)
        return false;
    switch (alg) {
    case JWT_HS256: case JWT_HS384: case JWT_HS512:
        return k->secret != NULL;
    case JWT_RS256: case JWT_RS384: case JWT_RS512: case JWT_PS256:
        return k->pkey != NULL && EVP_PKEY_is_a(k->pkey, "RSA");
    case JWT_ES256:
        return k->pkey != NULL && ec_curve_is(k->pkey, "prime256v1");
    case JWT_ES384:
        return k->pkey != NULL && ec_curve_is(k->pkey, "secp384r1");
    case JWT_EDDSA:
        return k->pkey != NULL && EVP_PKEY_is_a(k->pkey, "ED25519");
    default:
        return false;
    }
}

long
jwt_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;

    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v;
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '-')
            v = 62;
        else if (ch == '_')
            v = 63;
        else
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* the bits left over must be zero (a canonical encoding) */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

static json_t *
json_part(const char *s, size_t len)
{
    unsigned char buf[JWT_MAX_PART];
    long n = jwt_b64url_decode(s, len, buf, sizeof(buf));

    if (n < 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)n,
                           JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool
verify_hmac(int alg, const struct jwt_key *k, const char *data, size_t dlen,
            const unsigned char *sig, size_t slen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;

    if (HMAC(alg_md(alg), k->secret, (int)k->slen,
             (const unsigned char *)data, dlen, mac, &mlen) == NULL)
        return false;
    return slen == mlen && CRYPTO_memcmp(mac, sig, mlen) == 0;
}

/* JWS ECDSA signatures are r || s, each as long as the curve's order;
 * OpenSSL wants DER. */
static int
ecdsa_der(const unsigned char *sig, size_t slen, size_t half,
          unsigned char *der, size_t cap)
{
    if (slen != 2 * half)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return -1;
    }
    int n = i2d_ECDSA_SIG(es, NULL);
    unsigned char *p = der;
    if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(es, &p) != n)
        n = -1;
    ECDSA_SIG_free(es);
    return n;
}

static bool
verify_pkey(int alg, const struct jwt_key *k, const char *data, size_t dlen,
            const unsigned char *sig, size_t slen)
{
    unsigned char der[256];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = false;

    if (ctx == NULL)
        return false;
    if (alg == JWT_ES256 || alg == JWT_ES384) {
        int n = ecdsa_der(sig, slen, alg == JWT_ES256 ? 32 : 48, der,
                          sizeof(der));
        if (n < 0)
            goto out;
        sig = der;
        slen = (size_t)n;
    }
    if (EVP_DigestVerifyInit(ctx, &pctx, alg == JWT_EDDSA ? NULL : alg_md(alg),
                             NULL, k->pkey) != 1)
        goto out;
    if (alg == JWT_RS256 || alg == JWT_RS384 || alg == JWT_RS512) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto out;
    } else if (alg == JWT_PS256) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            goto out;
    }
    ok = EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)data,
                          dlen) == 1;
out:
    EVP_MD_CTX_free(ctx);
    return ok;
}

int
jwt_verify(const struct jwt_keyset *ks, const char *tok, size_t len,
           json_t **claims, const char **why)
{
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))
                        : NULL;

    *claims = NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) {
        *why = "malformed token";
        return JWT_BAD;
    }
    json_t *hdr = json_part(tok, (size_t)(d1 - tok));
    if (hdr == NULL) {
        *why = "malformed token header";
        return JWT_BAD;
    }
    const char *an = json_string_value(json_object_get(hdr, "alg"));
    int alg = an ? jwt_alg_parse(an) : -1;
    json_t *kidj = json_object_get(hdr, "kid");
    const char *kid = json_string_value(kidj);
    int st = JWT_BAD;
    if (an == NULL) {
        *why = "token without alg";
        goto out;
    }
    if (alg < 0 || !(ks->algs & (1u << alg))) {
        *why = "algorithm not allowed";
        goto out;
    }
    if (json_object_get(hdr, "crit") != NULL) {
        *why = "unsupported crit header";
        goto out;
    }
    if (kidj != NULL && kid == NULL) {
        *why = "malformed kid";
        goto out;
    }
    const struct jwt_key *key = NULL;
    for (size_t i = 0; i < ks->n && key == NULL; i++) {
        const struct jwt_key *k = &ks->k[i];
        if (!jwt_key_fits(k, alg))
            continue;
        /* an HMAC secret has no kid; a named key wants its kid (or a
         * token without one) */
        if (kid != NULL && k->kid != NULL && strcmp(kid, k->kid) != 0)
            continue;
        key = k;
    }
    if (key == NULL) {
        *why = kid != NULL ? "unknown kid" : "no key for the algorithm";
        goto out;
    }
    unsigned char sig[JWT_MAX_SIG];
    long sl = jwt_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), sig,
                                sizeof(sig));
    if (sl <= 0) {
        *why = "malformed signature";
        goto out;
    }
    size_t dlen = (size_t)(d2 - tok);
    bool good = key->secret != NULL
        ? verify_hmac(alg, key, tok, dlen, sig, (size_t)sl)
        : verify_pkey(alg, key, tok, dlen, sig, (size_t)sl);
    if (!good) {
        *why = "bad signature";
        goto out;
    }
    *claims = json_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (*claims == NULL) {
        *why = "malformed token payload";
        goto out;
    }
    st = JWT_OK;
out:
    json_decref(hdr);
    return st;
}

/* Is v (a string or an array of strings) or does it hold want? A string
 * may also be a space-separated list (as OAuth scopes are). */
static bool
claim_has(const json_t *v, const char *want)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
                return true;
        return false;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t wl = strlen(want);
    if (wl == 0)
        return *s == '\0';
    for (const char *p = s; (p = strstr(p, want)) != NULL; p++)
        if ((p == s || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' '))
            return true;
    return false;
}

static bool
time_claim(const json_t *c, const char *name, int64_t *out, bool *bad)
{
    json_t *v = json_object_get(c, name);
    if (v == NULL)
        return false;
    if (!json_is_number(v)) {
        *bad = true;
        return false;
    }
    double d = json_number_value(v);
    if (d != d) {
        *bad = true;
        return false;
    }
    /* far past or future either way; keeps the cast and sums defined */
    *out = d > 1e15 ? (int64_t)1e15 : d < -1e15 ? (int64_t)-1e15 : (int64_t)d;
    return true;
}

int
jwt_check(const json_t *c, const struct jwt_rules *r, int64_t now,
          char *why, size_t cap)
{
    int64_t t;
    bool bad = false;

    if (time_claim(c, "exp", &t, &bad) && now >= t + r->leeway) {
        snprintf(why, cap, "token expired");
        return JWT_BAD;
    }
    if (time_claim(c, "nbf", &t, &bad) && now + r->leeway < t) {
        snprintf(why, cap, "token not yet valid");
        return JWT_BAD;
    }
    if (bad) {
        snprintf(why, cap, "malformed exp or nbf");
        return JWT_BAD;
    }
    if (r->issuer != NULL) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (iss == NULL || strcmp(iss, r->issuer) != 0) {
            snprintf(why, cap, "wrong issuer");
            return JWT_BAD;
        }
    }
    if (r->naudience > 0) {
        json_t *aud = json_object_get(c, "aud");
        bool found = false;
        for (size_t i = 0; i < r->naudience && !found; i++) {
            if (json_is_string(aud))
                found = strcmp(json_string_value(aud), r->audience[i]) == 0;
            else if (json_is_array(aud))
                found = claim_has(aud, r->audience[i]);
        }
        if (!found) {
            snprintf(why, cap, "wrong audience");
            return JWT_BAD;
        }
    }
    for (size_t i = 0; i < r->nrequired; i++)
        if (json_object_get(c, r->required[i]) == NULL) {
            snprintf(why, cap, "missing claim %s", r->required[i]);
            return JWT_FORBIDDEN;
        }
    for (size_t i = 0; i < r->nclaims; i++) {
        json_t *v = json_object_get(c, r->claims[i].name);
        if (v == NULL || !claim_has(v, r->claims[i].value)) {
            snprintf(why, cap, "claim %s lacks \"%s\"", r->claims[i].name,
                     r->claims[i].value);
            return JWT_FORBIDDEN;
        }
    }
    return JWT_OK;
}

void
jwt_key_free(struct jwt_key *k)
{
    EVP_PKEY_free(k->pkey);
    if (k->secret != NULL)
        OPENSSL_cleanse(k->secret, k->slen);
    free(k->secret);
    free(k->kid);
    memset(k, 0, sizeof(*k));
}

/* A base64url member of a JWK, decoded into out; its length or -1. */
static long
jwk_bytes(const json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    return s ? jwt_b64url_decode(s, strlen(s), out, cap) : -1;
}

static EVP_PKEY *
jwk_fromdata(const char *type, OSSL_PARAM_BLD *b)
{
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;

    if (p == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(p);
    return k;
}

static const char *
jwk_key(const json_t *jwk, struct jwt_key *k)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    unsigned char a[1024], b[1024];
    long al, bl;

    if (kty == NULL)
        return "no kty";
    if (strcmp(kty, "oct") == 0) {
        al = jwk_bytes(jwk, "k", a, sizeof(a));
        if (al < 32)
            return "an oct key needs k of 32 bytes or more";
        k->secret = malloc((size_t)al);
        if (k->secret == NULL)
            return "out of memory";
        memcpy(k->secret, a, (size_t)al);
        k->slen = (size_t)al;
        OPENSSL_cleanse(a, sizeof(a));
        return NULL;
    }
    if (strcmp(kty, "OKP") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        if (crv == NULL || strcmp(crv, "Ed25519") != 0)
            return "an OKP key must be Ed25519";
        al = jwk_bytes(jwk, "x", a, sizeof(a));
        if (al != 32)
            return "an Ed25519 key needs x of 32 bytes";
        k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, 32);
        return k->pkey ? NULL : "not a valid Ed25519 key";
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld == NULL)
        return "out of memory";
    const char *err = NULL;
    if (strcmp(kty, "RSA") == 0) {
        al = jwk_bytes(jwk, "n", a, sizeof(a));
        bl = jwk_bytes(jwk, "e", b, sizeof(b));
        BIGNUM *n = al > 0 ? BN_bin2bn(a, (int)al, NULL) : NULL;
        BIGNUM *e = bl > 0 ? BN_bin2bn(b, (int)bl, NULL) : NULL;
        if (n == NULL || e == NULL)
            err = "an RSA key needs n and e";
        else if (BN_num_bits(n) < 2048)
            err = "an RSA key needs 2048 bits or more";
        else if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
                 OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
                 (k->pkey = jwk_fromdata("RSA", bld)) == NULL)
            err = "not a valid RSA key";
        BN_free(n);
        BN_free(e);
    } else if (strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        const char *group = NULL;
        size_t len = 0;
        if (crv != NULL && strcmp(crv, "P-256") == 0) {
            group = "prime256v1";
            len = 32;
        } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
            group = "secp384r1";
            len = 48;
        }
        unsigned char pub[1 + 2 * 48];
        al = jwk_bytes(jwk, "x", a, sizeof(a));
        bl = jwk_bytes(jwk, "y", b, sizeof(b));
        if (group == NULL)
            err = "an EC key must be P-256 or P-384";
        else if (al != (long)len || bl != (long)len)
            err = "an EC key needs x and y of its curve's size";
        else {
            pub[0] = 4;
            memcpy(pub + 1, a, len);
            memcpy(pub + 1 + len, b, len);
            if (OSSL_PARAM_BLD_push_utf8_string(bld,
                    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
                OSSL_PARAM_BLD_push_octet_string(bld,
                    OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * len) != 1 ||
                (k->pkey = jwk_fromdata("EC", bld)) == NULL)
                err = "not a valid EC key";
        }
    } else {
        err = "unsupported kty";
    }
    OSSL_PARAM_BLD_free(bld);
    return err;
}

int
jwt_jwks_load(const char *text, size_t len, struct jwt_key **keys, size_t *n,
              char *err, size_t cap)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *arr = doc ? json_object_get(doc, "keys") : NULL;

    if (doc == NULL) {
        snprintf(err, cap, "line %d: %s", je.line, je.text);
        return -1;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        snprintf(err, cap, "no \"keys\" array");
        json_decref(doc);
        return -1;
    }
    size_t i;
    json_t *jwk;
    json_array_foreach(arr, i, jwk) {
        const char *use = json_string_value(json_object_get(jwk, "use"));
        if (use != NULL && strcmp(use, "sig") != 0)
            continue;
        struct jwt_key k = { NULL, NULL, 0, NULL, -1 };
        const char *alg = json_string_value(json_object_get(jwk, "alg"));
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        const char *why = NULL;
        if (!json_is_object(jwk))
            why = "not an object";
        else if (alg != NULL && (k.alg = jwt_alg_parse(alg)) < 0)
            why = "unsupported alg";
        else
            why = jwk_key(jwk, &k);
        if (why == NULL && kid != NULL && (k.kid = strdup(kid)) == NULL)
            why = "out of memory";
        struct jwt_key *nk = why ? NULL : realloc(*keys, (*n + 1) * sizeof(**keys));
        if (why == NULL && nk == NULL)
            why = "out of memory";
        if (why != NULL) {
            snprintf(err, cap, "keys[%zu]: %s", i, why);
            jwt_key_free(&k);
            json_decref(doc);
            return -1;
        }
        *keys = nk;
        (*keys)[(*n)++] = k;
    }
    json_decref(doc);
    return 0;
}
