/* tlsio: a non-blocking connection's bytes through OpenSSL. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "tls.h"
#include "tlsio.h"

/* Watches the socket BIO's reads: one that returns less than it asked
 * for (or EAGAIN) emptied the socket, so the next edge will tell. */
static long
bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
       int ret, size_t *processed)
{
    (void)argp;
    (void)argi;
    (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        bool *readable = (bool *)BIO_get_callback_arg(b);
        if (readable != NULL && (ret <= 0 || processed == NULL ||
                                 *processed < len))
            *readable = false;
    }
    return ret;
}

SSL *
tlsio_new(SSL_CTX *ctx, int fd, bool *readable, bool server)
{
    SSL *ssl = SSL_new(ctx);
    BIO *bio = ssl ? BIO_new_socket(fd, BIO_NOCLOSE) : NULL;

    if (bio == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_callback_ex(bio, bio_cb);
    BIO_set_callback_arg(bio, (char *)readable);
    SSL_set_bio(ssl, bio, bio);
    /* Whole records per read(2), not a header and then a body. */
    SSL_set_read_ahead(ssl, 1);
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    return ssl;
}

void
tlsio_free(SSL *ssl)
{
    SSL_free(ssl);
}

bool
tlsio_pending(SSL *ssl)
{
    return SSL_has_pending(ssl);
}

int
tlsio_handshake(SSL *ssl, char *why, size_t len, bool *plain)
{
    *plain = false;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return TLSIO_DONE;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return TLSIO_AGAIN;
    unsigned long err = ERR_peek_error();
    if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
        ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST)
        *plain = true;
    long vr = SSL_get_verify_result(ssl);
    const char *note = SSL_is_server(ssl) ? SSL_get_app_data(ssl) : NULL;
    if (note != NULL) {
        snprintf(why, len, "%s", note);     /* a refusal of our own */
        ERR_clear_error();
    } else if (vr != X509_V_OK && !SSL_is_server(ssl)) {
        snprintf(why, len, "certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
    } else if (e == SSL_ERROR_SYSCALL && err == 0) {
        snprintf(why, len, "%s", errno ? strerror(errno)
                                       : "connection closed during the handshake");
    } else {
        char buf[200];
        tls_error_text(buf, sizeof(buf));
        snprintf(why, len, "%s", buf[0] ? buf : "handshake failed");
    }
    return TLSIO_FAILED;
}

ssize_t
tlsio_read(SSL *ssl, void *buf, size_t len)
{
    size_t n = 0;

    ERR_clear_error();
    if (SSL_read_ex(ssl, buf, len, &n) == 1)
        return (ssize_t)n;
    switch (SSL_get_error(ssl, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;               /* close_notify */
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && errno == 0)
            return 0;           /* EOF without close_notify */
        if (errno == 0)
            errno = EPROTO;
        ERR_clear_error();
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

ssize_t
tlsio_writev(SSL *ssl, const struct iovec *iov, int n, char *scratch,
             size_t cap)
{
    const void *p;
    size_t len;

    /* One record for what fits the scratch buffer: a head and a small
     * body, say; a large piece goes from where it is. */
    if (n == 1 || iov[0].iov_len >= cap) {
        p = iov[0].iov_base;
        len = iov[0].iov_len;
    } else {
        len = 0;
        for (int i = 0; i < n && len < cap; i++) {
            size_t k = iov[i].iov_len < cap - len ? iov[i].iov_len : cap - len;
            memcpy(scratch + len, iov[i].iov_base, k);
            len += k;
        }
        p = scratch;
    }
    if (len == 0)
        return 0;
    size_t done = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl, p, len, &done) == 1)
        return (ssize_t)done;
    switch (SSL_get_error(ssl, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        if (errno == 0 || errno == EAGAIN)
            errno = EPIPE;
        ERR_clear_error();
        return -1;
    }
}

void
tlsio_shutdown(SSL *ssl)
{
    ERR_clear_error();
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    ERR_clear_error();
}
