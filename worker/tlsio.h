/* tlsio: a non-blocking connection's bytes through OpenSSL, with the same
 * conventions as read(2) and writev(2), for clients and servers alike. */
#ifndef CERB_TLSIO_H
#define CERB_TLSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

/* A TLS connection over fd.  *readable (the connection's edge flag) is
 * cleared by every socket read that drains the socket, exactly as the
 * plain read path does, so no read is made that cannot find bytes. */
SSL *tlsio_new(SSL_CTX *ctx, int fd, bool *readable, bool server);
void tlsio_free(SSL *ssl);

enum { TLSIO_DONE = 1, TLSIO_AGAIN = 0, TLSIO_FAILED = -1 };
/* One step of the handshake.  On failure, why says what went wrong and
 * *plain tells a plain-HTTP request sent to the TLS port. */
int tlsio_handshake(SSL *ssl, char *why, size_t len, bool *plain);

/* Is there decrypted or undecrypted input in OpenSSL's buffers? */
bool tlsio_pending(SSL *ssl);

/* As read(2): bytes, 0 at the peer's close, -1 with errno (EAGAIN: wait
 * for the socket; ECONNRESET and EPROTO: broken). */
ssize_t tlsio_read(SSL *ssl, void *buf, size_t len);

/* As writev(2).  Small pieces are gathered into scratch (cap bytes) so a
 * head and a small body go out as one record; a retry after EAGAIN must
 * pass the same bytes again, as OpenSSL requires. */
ssize_t tlsio_writev(SSL *ssl, const struct iovec *iov, int n, char *scratch,
                     size_t cap);

/* Sends close_notify (best effort, never waits). */
void tlsio_shutdown(SSL *ssl);

#endif
