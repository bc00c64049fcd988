/* jwt_cache: a bounded, per-process cache of verified JWTs, keyed by the
 * SHA-256 of the token's bytes, so that a token a client repeats skips
 * the signature check until its expiry.
 *
 * Each entry holds the full 32-byte digest (a lookup compares all of it),
 * the instant it expires (s since the epoch; never returned at or after
 * it) and an opaque blob of at most JWT_CACHE_BLOB bytes: what a
 * successful verification produced, for the caller to replay.
 *
 * Memory: every array is allocated once by jwt_cache_new (about
 * sizeof(entry) ~ 820 bytes per entry, touched only as entries are used)
 * and nothing is allocated per lookup or insertion.  The index is a
 * chained hash on the digest's first 8 bytes, one bucket per entry or
 * more.
 *
 * Replacement when full: CLOCK (second chance).  An entry found expired
 * by a lookup is freed at once and reused first.  Otherwise a hand sweeps
 * the entries in slot order: it takes the first one that has expired or
 * was not looked up since the hand last passed it, clearing the
 * looked-up mark of those it skips; without lookups this is insertion
 * order (the oldest goes first).  The sweep is amortised O(1). */
#ifndef CERB_JWT_CACHE_H
#define CERB_JWT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define JWT_CACHE_DIGEST 32             /* SHA-256 */
#define JWT_CACHE_BLOB   768            /* the largest blob kept */
#define JWT_CACHE_MAX    10000000       /* the largest capacity */

struct jwt_cache;

/* A cache of cap entries (1 .. JWT_CACHE_MAX); NULL when cap is 0 (no
 * cache) or out of range, or, with errno set, when memory or the digest
 * cannot be had.  Every function below takes NULL as a cache that keeps
 * nothing. */
struct jwt_cache *jwt_cache_new(size_t cap);
void jwt_cache_free(struct jwt_cache *c);

/* The SHA-256 of tok[0..len) into d (with c's own digest context, so no
 * allocation); 0, or -1 when c is NULL or OpenSSL fails. */
int jwt_cache_digest(struct jwt_cache *c, const void *tok, size_t len,
                     unsigned char d[JWT_CACHE_DIGEST]);

/* The entry of digest d if now < its expiry: 0 with *blob and *len (valid
 * until the next jwt_cache_put), else -1. */
int jwt_cache_get(struct jwt_cache *c, const unsigned char d[JWT_CACHE_DIGEST],
                  int64_t now, const void **blob, size_t *len);

/* Keeps blob[0..len) for digest d until expires, replacing d's entry if
 * there is one, else taking a free slot or evicting one (see above);
 * 0, or -1 (nothing changed) when len > JWT_CACHE_BLOB or
 * expires <= now. */
int jwt_cache_put(struct jwt_cache *c, const unsigned char d[JWT_CACHE_DIGEST],
                  int64_t now, int64_t expires, const void *blob, size_t len);

/* Entries held (expired ones not yet found included). */
size_t jwt_cache_count(const struct jwt_cache *c);

#endif
