/* balance: the balancing algorithms, as pure functions over arrays of
 * servers (their weights, active counts and whether each may be picked
 * now).  The worker feeds them the shared-memory state. */
#ifndef CERB_BALANCE_H
#define CERB_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A 64-bit hash with good avalanche (FNV-1a, then a murmur3 finaliser). */
uint64_t bal_hash(const void *p, size_t n);
uint64_t bal_mix(uint64_t h);

/* Smooth weighted round robin (as nginx's): the order in which servers of
 * these weights are picked over one cycle of sum(weights) picks — 5:1:1
 * gives a a b a c a a, never a burst of five.  out holds sum(weights)
 * entries; returns that length, 0 if n is 0 or a weight is 0. */
size_t bal_wrr_schedule(const unsigned *weights, size_t n, uint16_t *out);
size_t bal_weight_sum(const unsigned *weights, size_t n);

/* Least connections: the server with the fewest active requests per unit
 * of weight, among those with ok[i]; ties go to the first one at or after
 * `start` (round robin among equals).  -1 when none is ok. */
int bal_least(const int64_t *active, const unsigned *weight, const bool *ok,
              size_t n, size_t start);

/* Power of two random choices: two distinct ok servers drawn in
 * proportion to their weights with the random numbers r1 and r2, the less
 * loaded (active per weight) wins.  -1 when none is ok. */
int bal_p2c(const int64_t *active, const unsigned *weight, const bool *ok,
            size_t n, uint64_t r1, uint64_t r2);

/* a/wa == b/wb */
bool bal_same_load(int64_t a, unsigned wa, int64_t b, unsigned wb);

/* Consistent hashing (a ketama-style ring): every server owns points in
 * proportion to its weight, a key goes to the owner of the first point at
 * or after its hash.  Removing one of N servers moves only its own keys,
 * about 1/N of them. */
struct bal_ring {
    size_t npoints;
    struct bal_point { uint64_t h; uint32_t server; } *points;
};
/* ids: what names each server (a hash of its address), so that its
 * points stay where they are whatever else the pool holds. */
int bal_ring_build(struct bal_ring *r, const uint64_t *ids,
                   const unsigned *weights, size_t n);
void bal_ring_free(struct bal_ring *r);
/* The server for hash h, walking on past servers that are not ok (their
 * keys spread over the others, the rest keep theirs).  -1 when none. */
int bal_ring_find(const struct bal_ring *r, uint64_t h, const bool *ok);

/* xorshift64*: the workers' cheap random numbers. */
uint64_t bal_rand(uint64_t *state);

#endif
