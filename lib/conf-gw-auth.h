/* conf-gw-auth: the compiled forms of consumers' keys and basic-auth
 * users, shared by the config (lib/conf_gw_auth.c) and the worker's auth
 * module (worker/gw_auth.c). */
#ifndef CERB_CONF_GW_AUTH_H
#define CERB_CONF_GW_AUTH_H

#include <stddef.h>

#include "conf-gw.h"
#include "jwt.h"

#define GW_KEY_DIGEST 32        /* SHA-256 */

/* Every consumer's keys, by SHA-256 digest: the table hangs from each
 * consumer's compiled pointer (the same table for all). */
struct gw_key {
    unsigned char digest[GW_KEY_DIGEST];
    const struct conf_consumer *consumer;
};
struct gw_keys {
    struct gw_key *k;
    size_t n;
};

/* An htpasswd file (conf_basic.compiled). */
struct gw_user {
    char *name;
    char *hash;                 /* crypt(3) form: $2y$, $5$, $6$, $y$ */
};
struct gw_users {
    struct gw_user *u;
    size_t n;
};

/* auth.jwt (conf_jwt.compiled). */
struct jwt_cache;
struct gw_jwt {
    struct jwt_keyset ks;
    struct jwt_rules rules;
    /* The worker's cache of verified tokens (auth.jwt.cache): made by the
     * worker on first use after the fork, freed by gw_free; always NULL
     * in the master. */
    struct jwt_cache *cache;
    bool cache_failed;          /* could not be made: verify every time */
};

/* The SHA-256 of key[0..len) into digest; 0 or -1. */
int gw_key_digest(const char *key, size_t len,
                  unsigned char digest[GW_KEY_DIGEST]);

#endif
