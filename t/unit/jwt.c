/* jwt: the verifier on the RFC 7515 (A.1 HS256, A.3 ES256) and RFC 8037
 * (A.4 Ed25519) examples, algorithm and key checks, tampering, and the
 * claim rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "jwt.h"
#include "tap.h"

/* RFC 7515 A.1 and A.3 share the payload */
#define A1_HEAD "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
#define PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9l" \
                "eGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A1_SIG  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define A1_KEY  "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3" \
                "Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define A3_HEAD "eyJhbGciOiJFUzI1NiJ9"
#define A3_SIG  "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8I" \
                "SlSApmWQxfKTUJqPP3-Kg6NU1Q"
#define A3_X    "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y    "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define ED_X    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define ED_TOK  "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc." \
                "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylG" \
                "jg5BhVsPt9g7sVvpAr_MuM0KAg"

static unsigned char *
b64(const char *s, size_t *n)
{
    unsigned char *out = malloc(strlen(s));
    long l = jwt_b64url_decode(s, strlen(s), out, strlen(s));
    *n = l < 0 ? 0 : (size_t)l;
    return out;
}

static EVP_PKEY *
ec_key(void)
{
    size_t xl, yl;
    unsigned char *x = b64(A3_X, &xl), *y = b64(A3_Y, &yl);
    unsigned char pub[65];
    pub[0] = 4;
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    free(x);
    free(y);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
                                    "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, 65);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    return k;
}

static int
verify(const struct jwt_keyset *ks, const char *tok, const char **why)
{
    json_t *c = NULL;
    *why = NULL;
    int r = jwt_verify(ks, tok, strlen(tok), &c, why);
    json_decref(c);
    return r;
}

static int
check(const char *claims, const struct jwt_rules *r, int64_t now, char *why)
{
    json_t *c = json_loads(claims, 0, NULL);
    int st = jwt_check(c, r, now, why, 160);
    json_decref(c);
    return st;
}

int
main(void)
{
    const char *why;
    unsigned char buf[64];

    /* base64url */
    is_int(jwt_b64url_decode("TWFu", 4, buf, sizeof(buf)), 3, "b64url: 4 chars");
    is_int(jwt_b64url_decode("TWE", 3, buf, sizeof(buf)), 2, "b64url: unpadded");
    is_int(jwt_b64url_decode("TWE=", 4, buf, sizeof(buf)), -1, "b64url: no padding");
    is_int(jwt_b64url_decode("TWF", 3, buf, sizeof(buf)), -1,
           "b64url: non-zero spare bits refused");
    is_int(jwt_b64url_decode("T", 1, buf, sizeof(buf)), -1, "b64url: 1 char");
    is_int(jwt_b64url_decode("+/", 2, buf, sizeof(buf)), -1, "b64url: no + or /");
    is_int(jwt_alg_parse("none"), -1, "alg none is not an algorithm");
    is_int(jwt_alg_parse("RS256"), JWT_RS256, "RS256 parses");

    /* RFC 7515 A.1: HS256 */
    struct jwt_key hk = { NULL, NULL, 0, NULL, -1 };
    hk.secret = b64(A1_KEY, &hk.slen);
    struct jwt_keyset ks = { &hk, 1, 1u << JWT_HS256 };
    is_int(verify(&ks, A1_HEAD "." PAYLOAD "." A1_SIG, &why), JWT_OK,
           "RFC 7515 A.1 HS256 verifies");
    is_int(verify(&ks, A1_HEAD "." PAYLOAD "x." A1_SIG, &why), JWT_BAD,
           "A.1 with the payload changed fails");
    is_int(verify(&ks, A1_HEAD "." PAYLOAD "." "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXg",
                  &why), JWT_BAD, "A.1 with the signature changed fails");
    is_str(why, "bad signature", "  as a bad signature");
    ks.algs = 1u << JWT_HS384;
    is_int(verify(&ks, A1_HEAD "." PAYLOAD "." A1_SIG, &why), JWT_BAD,
           "A.1 fails when HS256 is not allowed");
    is_str(why, "algorithm not allowed", "  as not allowed");
    is_int(verify(&ks, "eyJhbGciOiJub25lIn0." PAYLOAD ".", &why), JWT_BAD,
           "alg none fails");
    is_str(why, "algorithm not allowed", "  as not allowed");
    is_int(verify(&ks, A1_HEAD "." PAYLOAD, &why), JWT_BAD, "two parts fail");
    is_str(why, "malformed token", "  as malformed");

    /* RFC 7515 A.3: ES256 */
    struct jwt_key ek = { NULL, NULL, 0, NULL, -1 };
    ek.pkey = ec_key();
    ek.kid = "ec";              /* as a keys_pem file's name gives it */
    ok(ek.pkey != NULL, "the A.3 key loads");
    struct jwt_key both[2] = { hk, ek };
    struct jwt_keyset es = { both, 2, 1u << JWT_ES256 | 1u << JWT_HS256 };
    ok(jwt_key_fits(&ek, JWT_ES256) && !jwt_key_fits(&ek, JWT_ES384) &&
       !jwt_key_fits(&ek, JWT_RS256) && !jwt_key_fits(&ek, JWT_HS256),
       "a P-256 key fits ES256 only");
    is_int(verify(&es, A3_HEAD "." PAYLOAD "." A3_SIG, &why), JWT_OK,
           "RFC 7515 A.3 ES256 verifies");
    is_int(verify(&es, A1_HEAD "." PAYLOAD "." A1_SIG, &why), JWT_OK,
           "and A.1 with the same key set (HS256 takes the secret)");
    is_int(verify(&es, A3_HEAD "." PAYLOAD "." A1_SIG, &why), JWT_BAD,
           "ES256 with a short signature fails");
    /* an ES256 header with a kid no key has */
    is_int(verify(&es, "eyJhbGciOiJFUzI1NiIsImtpZCI6Im5vIn0." PAYLOAD "." A3_SIG,
                  &why), JWT_BAD, "an unknown kid fails");
    is_str(why, "unknown kid", "  as an unknown kid");

    /* RFC 8037 A.4: Ed25519 (its payload is not JSON: the signature is
     * good, the claims are not) */
    size_t xl;
    unsigned char *x = b64(ED_X, &xl);
    struct jwt_key dk = { NULL, NULL, 0, NULL, -1 };
    dk.pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
    free(x);
    struct jwt_keyset ds = { &dk, 1, 1u << JWT_EDDSA };
    is_int(verify(&ds, ED_TOK, &why), JWT_BAD, "RFC 8037 A.4 EdDSA");
    is_str(why, "malformed token payload", "  verifies, its payload is text");
    char edbad[] = ED_TOK;
    edbad[strlen(edbad) - 3] = 'A';
    is_int(verify(&ds, edbad, &why), JWT_BAD, "A.4 changed fails");
    is_str(why, "bad signature", "  as a bad signature");

    /* the A.3 key and the A.1 secret as a JWKS (RFC 7517) */
    const char *jwks = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\",\"use\":\"sig\"},"
        "{\"kty\":\"oct\",\"k\":\"" A1_KEY "\",\"alg\":\"HS256\"},"
        "{\"kty\":\"RSA\",\"use\":\"enc\"}]}";
    struct jwt_keyset js = { NULL, 0, 1u << JWT_ES256 | 1u << JWT_HS256 |
                                      1u << JWT_HS384 };
    char err[160];
    is_int(jwt_jwks_load(jwks, strlen(jwks), &js.k, &js.n, err, sizeof(err)),
           0, "a JWKS loads");
    is_int((int)js.n, 2, "  two keys, the enc key skipped");
    is_int(verify(&js, A3_HEAD "." PAYLOAD "." A3_SIG, &why), JWT_OK,
           "  A.3 verifies with its JWK");
    is_int(verify(&js, A1_HEAD "." PAYLOAD "." A1_SIG, &why), JWT_OK,
           "  A.1 with its oct JWK");
    ok(!jwt_key_fits(&js.k[1], JWT_HS384), "  a JWK's alg binds it");
    for (size_t i = 0; i < js.n; i++)
        jwt_key_free(&js.k[i]);
    free(js.k);
    js.k = NULL;
    js.n = 0;
    const char *bad1 = "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
    is_int(jwt_jwks_load(bad1, strlen(bad1), &js.k, &js.n, err, sizeof(err)),
           -1, "a small RSA JWK is refused");
    is_str(err, "keys[0]: an RSA key needs 2048 bits or more", "  why");
    is_int(jwt_jwks_load("{\"keys\":3}", 10, &js.k, &js.n, err, sizeof(err)),
           -1, "no keys array is refused");
    is_int(jwt_jwks_load("{", 1, &js.k, &js.n, err, sizeof(err)), -1,
           "bad JSON is refused");
    free(js.k);

    /* claims */
    char w[160];
    char *aud[] = { "api" }, *req[] = { "sub" };
    struct conf_kv kv[] = { { "scope", "orders:read" } };
    struct jwt_rules r = { "joe", aud, 1, 30, req, 1, kv, 1 };
    const char *good = "{\"iss\":\"joe\",\"aud\":\"api\",\"sub\":\"u\","
                       "\"exp\":1000,\"nbf\":900,\"scope\":\"a orders:read\"}";
    is_int(check(good, &r, 950, w), JWT_OK, "claims: good");
    is_int(check(good, &r, 1029, w), JWT_OK, "claims: exp within the leeway");
    is_int(check(good, &r, 1030, w), JWT_BAD, "claims: expired");
    is_str(w, "token expired", "  as expired");
    is_int(check(good, &r, 869, w), JWT_BAD, "claims: before nbf");
    is_str(w, "token not yet valid", "  as not yet valid");
    is_int(check("{\"iss\":\"jo\",\"aud\":\"api\"}", &r, 950, w), JWT_BAD,
           "claims: wrong iss");
    is_int(check("{\"iss\":\"joe\",\"aud\":[\"x\",\"api\"],\"sub\":\"u\","
                 "\"scope\":[\"orders:read\"]}", &r, 950, w), JWT_OK,
           "claims: aud and scope arrays");
    is_int(check("{\"iss\":\"joe\",\"aud\":\"apis\"}", &r, 950, w), JWT_BAD,
           "claims: wrong aud");
    is_int(check("{\"iss\":\"joe\",\"aud\":\"api\",\"scope\":\"orders:read\"}",
                 &r, 950, w), JWT_FORBIDDEN, "claims: missing sub");
    is_str(w, "missing claim sub", "  named");
    is_int(check("{\"iss\":\"joe\",\"aud\":\"api\",\"sub\":\"u\","
                 "\"scope\":\"orders:readx\"}", &r, 950, w), JWT_FORBIDDEN,
           "claims: scope words, not substrings");
    is_int(check("{\"exp\":\"soon\"}", &r, 950, w), JWT_BAD,
           "claims: exp not a number");
    is_int(check("{\"iss\":\"joe\",\"aud\":\"api\",\"sub\":\"u\","
                 "\"scope\":\"orders:read\",\"exp\":1e300,\"nbf\":-1e300}",
                 &r, 950, w), JWT_OK, "claims: huge exp and nbf");
    is_int(check("{\"exp\":-1e300}", &r, 950, w), JWT_BAD,
           "claims: a hugely negative exp has expired");

    EVP_PKEY_free(ek.pkey);
    EVP_PKEY_free(dk.pkey);
    free(hk.secret);
    return done_testing();
}
