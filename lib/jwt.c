/* jwt: JSON Web Token verification (RFC 7515, 7518, 7519, 8037). */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
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
