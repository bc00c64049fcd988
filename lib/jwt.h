/* jwt: JSON Web Token (JWS compact) verification: signature by OpenSSL
 * EVP (HS256/384/512, RS256/384/512, PS256, ES256/384, EdDSA), JSON by
 * jansson, then the registered and configured claims. */
#ifndef CERB_JWT_H
#define CERB_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "conf-t.h"

enum jwt_alg {
    JWT_HS256, JWT_HS384, JWT_HS512, JWT_RS256, JWT_RS384, JWT_RS512,
    JWT_PS256, JWT_ES256, JWT_ES384, JWT_EDDSA, JWT_NALG
};

/* A verification key: an HMAC secret or a public key, with its kid. */
struct jwt_key {
    char *kid;                  /* NULL: matches a token without kid too */
    unsigned char *secret;      /* HS*, or NULL */
    size_t slen;
    EVP_PKEY *pkey;             /* RS*, PS*, ES*, EdDSA, or NULL */
    int alg;                    /* a JWK's own alg, or -1 for any */
};

struct jwt_keyset {
    struct jwt_key *k;
    size_t n;
    unsigned algs;              /* allowed: bit (1u << enum jwt_alg) */
};

enum { JWT_OK = 0, JWT_BAD = 401, JWT_FORBIDDEN = 403 };

/* The alg of a name ("RS256"), or -1 ("none" too). */
int jwt_alg_parse(const char *name);
const char *jwt_alg_name(int alg);
/* Can key verify alg (type, curve)? */
bool jwt_key_fits(const struct jwt_key *k, int alg);

/* Verifies the compact token tok[0..len) with a key of ks; JWT_OK with
 * *claims (the payload object, json_decref it) or JWT_BAD with *why. */
int jwt_verify(const struct jwt_keyset *ks, const char *tok, size_t len,
               json_t **claims, const char **why);

/* The claim checks of a route. */
struct jwt_rules {
    const char *issuer;
    char **audience;
    size_t naudience;
    int64_t leeway;             /* s */
    char **required;
    size_t nrequired;
    const struct conf_kv *claims;       /* claim = value */
    size_t nclaims;
};

/* Checks exp and nbf against now (s since the epoch), then iss and aud
 * (JWT_BAD), then the required claims and claim values (JWT_FORBIDDEN);
 * why holds the reason, naming the claim, in whybuf. */
int jwt_check(const json_t *claims, const struct jwt_rules *r, int64_t now,
              char *whybuf, size_t cap);

/* The keys of a JWKS document (RFC 7517: RSA n/e, EC P-256/P-384 x/y,
 * OKP Ed25519 x, oct k of 32 bytes or more; "use": "enc" keys skipped)
 * appended to *keys (realloc'd); 0, or -1 with the reason in err. */
int jwt_jwks_load(const char *text, size_t len, struct jwt_key **keys,
                  size_t *n, char *err, size_t cap);
void jwt_key_free(struct jwt_key *k);

/* base64url without padding; the decoded length or -1. */
long jwt_b64url_decode(const char *s, size_t len, unsigned char *out,
                       size_t cap);

#endif
