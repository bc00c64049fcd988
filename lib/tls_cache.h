/* tls_cache: the TLS session-ID cache every worker shares (for TLS 1.2
 * clients without ticket support), in a mapping of its own that the master
 * makes before forking, apart from the shm region. */
#ifndef CERB_TLS_CACHE_H
#define CERB_TLS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* Bytes per session slot; a serialized session larger than a slot holds
 * (a long client-certificate chain, say) is not cached. */
#define TLS_CACHE_SLOT  1024
/* Slots a session may sit in, from its ID's home slot on. */
#define TLS_CACHE_PROBE 8

/* Master, before fork: maps a zeroed zone of `bytes` (rounded down to whole
 * slots, at least TLS_CACHE_PROBE; 0: no cache). The processes forked after
 * share it. -1 (errno) when it cannot be mapped. */
int tls_cache_create(uint64_t bytes);
void tls_cache_destroy(void);
/* Slots of the zone; 0 when there is none. */
uint64_t tls_cache_slots(void);
/* Slots a zone of `bytes` has (what tls_cache_create would make). */
uint64_t tls_cache_slots_for(uint64_t bytes);
/* Makes ctx (a server context) keep its sessions in the zone, through
 * OpenSSL's external cache callbacks; without a zone, no-op. */
void tls_cache_use(SSL_CTX *ctx);

#endif
