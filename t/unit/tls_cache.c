/* tls_cache: TLS 1.2 sessions kept in the shared zone resume in another
 * process; removed, expired and evicted sessions do not; without a zone
 * nothing is kept. In-memory handshakes (BIO pairs), no sockets. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_cache.h"
#include "tap.h"

static EVP_PKEY *key;
static X509 *cert;

static void
make_cert(void)
{
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *n = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)"cache.test", -1, -1, 0);
    X509_set_issuer_name(cert, n);
    X509_sign(cert, key, EVP_sha256());
}

static SSL_CTX *
server_ctx(long timeout)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(c, cert);
    SSL_CTX_use_PrivateKey(c, key);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    tls_cache_use(c);
    if (timeout > 0)
        SSL_CTX_set_timeout(c, timeout);
    return c;
}

static SSL_CTX *client;

/* One TLS 1.2 handshake offering sess (or none); the client's session
 * after it, and whether it resumed. */
static SSL_SESSION *
handshake(SSL_CTX *sctx, SSL_SESSION *sess, bool *reused)
{
    SSL *c = SSL_new(client), *s = SSL_new(sctx);
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (sess != NULL)
        SSL_set_session(c, sess);
    bool done = false;
    for (int i = 0; i < 50 && !done; i++) {
        int rc = SSL_do_handshake(c);
        int rs = SSL_do_handshake(s);
        done = rc == 1 && rs == 1;
    }
    *reused = done && SSL_session_reused(c);
    SSL_SESSION *out = done ? SSL_get1_session(c) : NULL;
    /* Closed cleanly: OpenSSL drops (remove_cb) the session of a
     * connection freed without a close_notify. */
    SSL_shutdown(c);
    SSL_shutdown(s);
    SSL_free(c);
    SSL_free(s);
    return out;
}

static void
test_no_zone(void)
{
    SSL_CTX *s = server_ctx(0);
    bool r;
    SSL_SESSION *a = handshake(s, NULL, &r);
    ok(a != NULL && !r, "no zone: a full handshake");
    SSL_SESSION *b = a ? handshake(s, a, &r) : NULL;
    ok(b != NULL && !r, "no zone: the session does not resume");
    SSL_SESSION_free(a);
    SSL_SESSION_free(b);
    SSL_CTX_free(s);
}

/* A child process makes the session; the parent (another worker, say)
 * resumes it from the zone. */
static void
test_across_processes(void)
{
    SSL_CTX *s = server_ctx(0);
    int fd[2];
    if (pipe(fd) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        bool r;
        SSL_SESSION *a = handshake(s, NULL, &r);
        unsigned char der[4096], *p = der;
        int n = a ? i2d_SSL_SESSION(a, &p) : 0;
        if (write(fd[1], der, (size_t)(n > 0 ? n : 0)) < 0)
            _exit(1);
        _exit(a != NULL && !r ? 0 : 1);
    }
    close(fd[1]);
    unsigned char der[4096];
    ssize_t n = read(fd[0], der, sizeof(der));
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n > 0,
       "a child process made a session (%zd bytes of DER)", n);
    const unsigned char *p = der;
    SSL_SESSION *a = n > 0 ? d2i_SSL_SESSION(NULL, &p, n) : NULL;
    bool r = false;
    SSL_SESSION *b = a ? handshake(s, a, &r) : NULL;
    ok(b != NULL && r, "the parent resumes it from the shared zone");
    SSL_SESSION *c = a ? handshake(s, a, &r) : NULL;
    ok(c != NULL && r, "and again");

    /* Removed (as OpenSSL does after a fatal alert): gone for everyone. */
    SSL_CTX_remove_session(s, a);
    SSL_SESSION *d = a ? handshake(s, a, &r) : NULL;
    ok(d != NULL && !r, "a removed session does not resume");
    SSL_SESSION_free(a);
    SSL_SESSION_free(b);
    SSL_SESSION_free(c);
    SSL_SESSION_free(d);
    SSL_CTX_free(s);
}

static void
test_expiry(void)
{
    SSL_CTX *s = server_ctx(1);
    bool r;
    SSL_SESSION *a = handshake(s, NULL, &r);
    SSL_SESSION *b = a ? handshake(s, a, &r) : NULL;
    ok(b != NULL && r, "timeout 1 s: resumes at once");
    sleep(2);
    SSL_SESSION *c = a ? handshake(s, a, &r) : NULL;
    ok(c != NULL && !r, "... not after 2 s");
    SSL_SESSION_free(a);
    SSL_SESSION_free(b);
    SSL_SESSION_free(c);
    SSL_CTX_free(s);
}

/* The smallest zone (TLS_CACHE_PROBE slots): the newest sessions stay,
 * the oldest make room. */
static void
test_eviction(void)
{
    tls_cache_destroy();
    ok(tls_cache_create(1) == 0 && tls_cache_slots() == TLS_CACHE_PROBE,
       "a 1-byte zone has %d slots", TLS_CACHE_PROBE);
    SSL_CTX *s = server_ctx(0);
    SSL_SESSION *sess[40];
    bool r;
    for (int i = 0; i < 40; i++)
        sess[i] = handshake(s, NULL, &r);
    /* Newest first: a miss stores a new session, which would evict. */
    int old = 0, recent = 0;
    for (int i = 39; i >= 0; i--) {
        SSL_SESSION *x = sess[i] ? handshake(s, sess[i], &r) : NULL;
        if (r && i < 32)
            old++;
        else if (r)
            recent++;
        SSL_SESSION_free(x);
    }
    is_int(recent, TLS_CACHE_PROBE, "the last 8 sessions resume");
    is_int(old, 0, "the 32 before them were evicted");
    for (int i = 0; i < 40; i++)
        SSL_SESSION_free(sess[i]);
    SSL_CTX_free(s);
}

int
main(void)
{
    make_cert();
    client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(client, TLS1_2_VERSION);
    SSL_CTX_set_options(client, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_CLIENT |
                                           SSL_SESS_CACHE_NO_INTERNAL);

    is_int(tls_cache_slots_for(0), 0, "0 bytes: no cache");
    is_int(tls_cache_slots_for(4 << 20), 4096, "4m: 4096 sessions");
    test_no_zone();
    ok(tls_cache_create(64 * 1024) == 0, "a 64k zone");
    is_int(tls_cache_slots(), 64, "of 64 slots");
    test_across_processes();
    test_expiry();
    test_eviction();
    tls_cache_destroy();
    is_int(tls_cache_slots(), 0, "destroyed");
    SSL_CTX_free(client);
    X509_free(cert);
    EVP_PKEY_free(key);
    return done_testing();
}
