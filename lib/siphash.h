/* siphash: SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash for
 * tables whose keys an attacker chooses: without the key, which keys
 * share a slot (or a whole hash) cannot be computed offline. */
#ifndef CERB_SIPHASH_H
#define CERB_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* An incremental hash: init with a 16-byte key, update with any number
 * of pieces (the result is the hash of their concatenation), final. */
struct siphash {
    uint64_t v0, v1, v2, v3;
    uint64_t tail;              /* bytes not yet in a whole word */
    size_t len;                 /* bytes seen */
};

void siphash_init(struct siphash *h, const unsigned char key[SIPHASH_KEY_LEN]);
void siphash_update(struct siphash *h, const void *p, size_t n);
uint64_t siphash_final(struct siphash *h);
uint64_t siphash(const unsigned char key[SIPHASH_KEY_LEN], const void *p,
                 size_t n);

#endif
