/* fuzz-jwt: the JWT verifier and the JWKS loader on arbitrary bytes.
 *
 * The first byte picks what is fed: a token to jwt_verify (against an
 * HS256 secret and any algorithm, so that headers, payloads and
 * signatures of every shape reach the parser), a JWKS document to
 * jwt_jwks_load, or base64url text to jwt_b64url_decode.  Checked: no
 * crash, a verdict that is one of the documented ones, a reason with
 * every refusal, decoded lengths within their buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;

    if (mode == 0) {
        static unsigned char secret[] = "fuzz-secret-fuzz-secret-fuzz-32b";
        struct jwt_key k = { NULL, secret, sizeof(secret) - 1, NULL, -1 };
        struct jwt_keyset ks = { &k, 1, ~0u };
        json_t *claims = NULL;
        const char *why = NULL;
        int r = jwt_verify(&ks, s, n, &claims, &why);
        CHECK(r == JWT_OK || r == JWT_BAD || r == JWT_FORBIDDEN);
        CHECK(r == JWT_OK || why != NULL);
        if (r == JWT_OK) {
            char buf[256];
            static char *req[] = { "sub" };
            struct jwt_rules rules = { "iss", NULL, 0, 30, req, 1, NULL, 0 };
            int c = jwt_check(claims, &rules, 1700000000, buf, sizeof(buf));
            CHECK(c == JWT_OK || c == JWT_BAD || c == JWT_FORBIDDEN);
        }
        if (claims != NULL)
            json_decref(claims);
    } else if (mode == 1) {
        struct jwt_key *keys = NULL;
        size_t nk = 0;
        char err[256];
        int r = jwt_jwks_load(s, n, &keys, &nk, err, sizeof(err));
        CHECK(r == 0 || r == -1);
        for (size_t i = 0; i < nk; i++)
            jwt_key_free(&keys[i]);
        free(keys);
    } else {
        unsigned char out[512];
        long l = jwt_b64url_decode(s, n, out, sizeof(out));
        CHECK(l < 0 || (size_t)l <= sizeof(out));
    }
    return 0;
}
