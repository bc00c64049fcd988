/* siphash: SipHash-2-4, incremental. */
#include "siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t
le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void
rounds(struct siphash *h, int n)
{
    for (int i = 0; i < n; i++) {
        h->v0 += h->v1; h->v1 = ROTL(h->v1, 13); h->v1 ^= h->v0;
        h->v0 = ROTL(h->v0, 32);
        h->v2 += h->v3; h->v3 = ROTL(h->v3, 16); h->v3 ^= h->v2;
        h->v0 += h->v3; h->v3 = ROTL(h->v3, 21); h->v3 ^= h->v0;
        h->v2 += h->v1; h->v1 = ROTL(h->v1, 17); h->v1 ^= h->v2;
        h->v2 = ROTL(h->v2, 32);
    }
}

static void
word(struct siphash *h, uint64_t m)
{
    h->v3 ^= m;
    rounds(h, 2);
    h->v0 ^= m;
}

void
siphash_init(struct siphash *h, const unsigned char key[SIPHASH_KEY_LEN])
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);

    h->v0 = k0 ^ 0x736f6d6570736575ULL;
    h->v1 = k1 ^ 0x646f72616e646f6dULL;
    h->v2 = k0 ^ 0x6c7967656e657261ULL;
    h->v3 = k1 ^ 0x7465646279746573ULL;
    h->tail = 0;
    h->len = 0;
}

void
siphash_update(struct siphash *h, const void *p, size_t n)
{
    const unsigned char *b = p;

    /* fill the pending word first, then whole words, then a new tail */
    while (n > 0 && (h->len & 7) != 0) {
        h->tail |= (uint64_t)*b++ << (8 * (h->len & 7));
        h->len++;
        n--;
        if ((h->len & 7) == 0) {
            word(h, h->tail);
            h->tail = 0;
        }
    }
    for (; n >= 8; n -= 8, b += 8) {
        word(h, le64(b));
        h->len += 8;
    }
    for (; n > 0; n--) {
        h->tail |= (uint64_t)*b++ << (8 * (h->len & 7));
        h->len++;
    }
}

uint64_t
siphash_final(struct siphash *h)
{
    word(h, h->tail | (uint64_t)(h->len & 0xff) << 56);
    h->v2 ^= 0xff;
    rounds(h, 4);
    return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

uint64_t
siphash(const unsigned char key[SIPHASH_KEY_LEN], const void *p, size_t n)
{
    struct siphash h;

    siphash_init(&h, key);
    siphash_update(&h, p, n);
    return siphash_final(&h);
}
