/* jwt_cache: a bounded cache of verified JWTs by SHA-256 (CLOCK). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jwt_cache.h"

#define NONE 0u                 /* the end of a chain: indices are + 1 */

struct jwt_cache_entry {
    unsigned char digest[JWT_CACHE_DIGEST];
    int64_t expires;
    uint32_t next;              /* the bucket's (or free list's) next + 1 */
    uint16_t len;
    bool ref;                   /* looked up since the hand passed */
    unsigned char blob[JWT_CACHE_BLOB];
};

struct jwt_cache {
    struct jwt_cache_entry *e;
    uint32_t *bucket;           /* first entry + 1 of each chain, or NONE */
    size_t cap;
    size_t mask;                /* buckets - 1 (a power of two) */
    size_t fill;                /* slots [0, fill) have been used */
    size_t count;
    size_t hand;
    uint32_t free;              /* slots freed by a lookup, + 1 */
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

struct jwt_cache *
jwt_cache_new(size_t cap)
{
    if (cap == 0 || cap > JWT_CACHE_MAX)
        return NULL;
    size_t nb = 1;
    while (nb < cap)
        nb <<= 1;
    struct jwt_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    /* calloc: large arrays come as fresh zero pages, touched when used */
    c->e = calloc(cap, sizeof(*c->e));
    c->bucket = calloc(nb, sizeof(*c->bucket));
    c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->ctx = EVP_MD_CTX_new();
    c->cap = cap;
    c->mask = nb - 1;
    if (c->e == NULL || c->bucket == NULL || c->md == NULL ||
        c->ctx == NULL) {
        jwt_cache_free(c);
        errno = ENOMEM;
        return NULL;
    }
    return c;
}

void
jwt_cache_free(struct jwt_cache *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->ctx);
    EVP_MD_free(c->md);
    free(c->bucket);
    free(c->e);
    free(c);
}

int
jwt_cache_digest(struct jwt_cache *c, const void *tok, size_t len,
                 unsigned char d[JWT_CACHE_DIGEST])
{
    unsigned n = 0;

    if (c == NULL || EVP_DigestInit_ex(c->ctx, c->md, NULL) != 1 ||
        EVP_DigestUpdate(c->ctx, tok, len) != 1 ||
        EVP_DigestFinal_ex(c->ctx, d, &n) != 1 || n != JWT_CACHE_DIGEST)
        return -1;
    return 0;
}

/* A digest is uniform: its first bytes are as good as any hash of it. */
static uint32_t *
bucket_of(struct jwt_cache *c, const unsigned char *d)
{
    uint64_t h;

    memcpy(&h, d, sizeof(h));
    return &c->bucket[h & c->mask];
}

/* The slot of digest d (the whole digest compared), or -1. */
static long
find(struct jwt_cache *c, const unsigned char *d)
{
    for (uint32_t i = *bucket_of(c, d); i != NONE; i = c->e[i - 1].next)
        if (memcmp(c->e[i - 1].digest, d, JWT_CACHE_DIGEST) == 0)
            return (long)(i - 1);
    return -1;
}

/* Takes slot i out of its chain. */
static void
unlink_slot(struct jwt_cache *c, size_t i)
{
    uint32_t *p = bucket_of(c, c->e[i].digest);

    while (*p != NONE && *p != i + 1)
        p = &c->e[*p - 1].next;
    if (*p != NONE)
        *p = c->e[i].next;
    c->e[i].next = NONE;
    c->count--;
}

/* A slot for a new entry: a freed one, a never used one, else CLOCK. */
static size_t
take_slot(struct jwt_cache *c, int64_t now)
{
    if (c->free != NONE) {
        size_t i = c->free - 1;
        c->free = c->e[i].next;
        return i;
    }
    if (c->fill < c->cap)
        return c->fill++;
    /* Every slot is in use here: after one turn every mark is cleared,
     * so the loop ends within cap + 1 steps. */
    for (;;) {
        size_t i = c->hand;
        struct jwt_cache_entry *e = &c->e[i];
        c->hand = i + 1 < c->cap ? i + 1 : 0;
        if (e->expires > now && e->ref) {
            e->ref = false;
            continue;
        }
        unlink_slot(c, i);
        return i;
    }
}

int
jwt_cache_get(struct jwt_cache *c, const unsigned char d[JWT_CACHE_DIGEST],
              int64_t now, const void **blob, size_t *len)
{
    long i = c != NULL ? find(c, d) : -1;

    if (i < 0)
        return -1;
    struct jwt_cache_entry *e = &c->e[i];
    if (now >= e->expires) {
        unlink_slot(c, (size_t)i);
        e->next = c->free;
        c->free = (uint32_t)i + 1;
        return -1;
    }
    e->ref = true;
    *blob = e->blob;
    *len = e->len;
    return 0;
}

int
jwt_cache_put(struct jwt_cache *c, const unsigned char d[JWT_CACHE_DIGEST],
              int64_t now, int64_t expires, const void *blob, size_t len)
{
    if (c == NULL || len > JWT_CACHE_BLOB || expires <= now)
        return -1;
    long found = find(c, d);
    struct jwt_cache_entry *e;
    if (found >= 0) {
        e = &c->e[found];
    } else {
        size_t i = take_slot(c, now);
        uint32_t *b = bucket_of(c, d);
        e = &c->e[i];
        memcpy(e->digest, d, JWT_CACHE_DIGEST);
        e->ref = false;
        e->next = *b;
        *b = (uint32_t)i + 1;
        c->count++;
    }
    e->expires = expires;
    e->len = (uint16_t)len;
    if (len > 0)
        memcpy(e->blob, blob, len);
    return 0;
}

size_t
jwt_cache_count(const struct jwt_cache *c)
{
    return c != NULL ? c->count : 0;
}
