/* tls: OpenSSL contexts built from the configuration — certificates chosen
 * by SNI (and by key type), protocols, ALPN, client certificates, OCSP
 * stapling, and session-ticket keys shared by every worker through shared
 * memory. */
#ifndef CERB_TLS_H
#define CERB_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf-t.h"
#include "shm-t.h"

struct conf_ctx;

/* The contexts of one TLS listener. */
struct tls_server {
    const struct conf_tls *conf;
    SSL_CTX *def;               /* clients without SNI or with an unknown name */
    size_t nctx;
    SSL_CTX **ctx;
    size_t nnames;
    struct tls_name { char *name; SSL_CTX *ctx; } *names;  /* sorted */
    size_t nocsp;
    struct tls_ocsp { X509 *x; unsigned char *der; size_t len; } *ocsp;
    unsigned char *alpn;        /* wire format */
    size_t alpn_len;
    bool ca_bad;                /* client_ca could not be opened (reported) */
};

/* Config time (the schema's checks): loads and checks every certificate
 * and key (missing, unreadable, mismatched, expired: errors at their
 * line), builds the contexts into t->ctx; freed with the config. */
void tls_conf_server(struct conf_ctx *ctx, struct conf_tls *t,
                     const char *path);
void tls_conf_upstream(struct conf_ctx *ctx, struct conf_upstream_tls *t,
                       const char *path);

/* The context a new connection starts on (the SNI callback may switch). */
SSL_CTX *tls_server_ctx(const struct conf_tls *t);

/* A worker, at start: the listener's contexts keep TLS 1.2 sessions in the
 * shared session-ID cache (lib/tls_cache.h), if the master made one. */
void tls_server_session_cache(const struct conf_tls *t);

/* Session-ticket keys in shared memory: the master rotates them at start
 * and at each reload, any process when the current key is older than
 * lifetime; the previous key still decrypts. */
void tls_tickets_attach(struct shm_tickets *store, int64_t lifetime_ms);
void tls_tickets_rotate(struct shm_tickets *store);

/* Names the certificate has (SAN DNS names, or the CN when there are
 * none), for logs and tests: up to max, returns how many. */
size_t tls_cert_names(X509 *x, char **out, size_t max);

/* The verified client certificate's subject (RFC 2253) and SHA-256
 * fingerprint (hex); false when the client sent none or it was not
 * verified. */
bool tls_peer_identity(SSL *ssl, char *subject, size_t slen, char *fp,
                       size_t flen);

/* A client connection to a pool's server: the name sent in SNI and
 * verified (sni, else the host of the address as written; an IP literal
 * is verified against IP SANs and sends no SNI). */
void tls_client_names(SSL *ssl, const struct conf_upstream_tls *t,
                      const char *address);

/* The handshake's failure, for a log line ("" when OpenSSL said nothing). */
const char *tls_error_text(char *buf, size_t len);

#endif
