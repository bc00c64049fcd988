/* tls: OpenSSL contexts built from the configuration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "arena.h"
#include "conf.h"
#include "tls.h"
#include "tls_cache.h"

/* ---- errors ----------------------------------------------------------- */

const char *
tls_error_text(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    buf[0] = '\0';
    if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        if (r != NULL)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
    return buf;
}

/* ---- ticket keys -------------------------------------------------------- */

static struct shm_tickets *tickets;
static int64_t ticket_lifetime;

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
tls_tickets_attach(struct shm_tickets *store, int64_t lifetime_ms)
{
    tickets = store;
    ticket_lifetime = lifetime_ms;
}

/* Rotation: current becomes previous, a new current is drawn.  Whoever
 * wins the CAS writes; a loser leaves it to the winner. */
static void
rotate(struct shm_tickets *t, uint64_t expect_created)
{
    uint64_t seq = atomic_load(&t->seq);

    if (seq & 1)
        return;
    if (expect_created != UINT64_MAX &&
        atomic_load(&t->created_ms) != expect_created)
        return;                 /* someone rotated already */
    if (!atomic_compare_exchange_strong(&t->seq, &seq, seq + 1))
        return;
    struct shm_ticket_key k;
    /* The first time, both keys are drawn: an all-zero "previous" key
     * would let anyone forge a ticket. */
    bool first = atomic_load(&t->created_ms) == 0;
    if (RAND_bytes((unsigned char *)&k, sizeof(k)) == 1 &&
        (!first || RAND_bytes((unsigned char *)&t->keys[0], sizeof(k)) == 1)) {
        memcpy(&t->keys[1], &t->keys[0], sizeof(k));
        memcpy(&t->keys[0], &k, sizeof(k));
        uint64_t now = now_ms();
        atomic_store(&t->created_ms, now ? now : 1);
    }
    OPENSSL_cleanse(&k, sizeof(k));
    atomic_store(&t->seq, seq + 2);
}

void
tls_tickets_rotate(struct shm_tickets *store)
{
    rotate(store, UINT64_MAX);
}

/* A consistent copy of both keys; false if a writer kept it busy. */
static bool
read_keys(struct shm_ticket_key out[2], uint64_t *created)
{
    for (int tries = 0; tries < 100; tries++) {
        uint64_t s1 = atomic_load(&tickets->seq);
        if (s1 & 1)
            continue;
        memcpy(out, (const void *)tickets->keys, 2 * sizeof(*out));
        *created = atomic_load(&tickets->created_ms);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load(&tickets->seq) == s1)
            return true;
    }
    return false;
}

static int
ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
          EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct shm_ticket_key k[2];
    uint64_t created;
    int rc = -1;

    (void)s;
    if (tickets == NULL || !read_keys(k, &created))
        return enc ? -1 : 0;
    const struct shm_ticket_key *use = NULL;
    if (enc) {
        if (ticket_lifetime > 0 &&
            now_ms() - created > (uint64_t)ticket_lifetime) {
            rotate(tickets, created);
            if (!read_keys(k, &created)) {
                OPENSSL_cleanse(k, sizeof(k));
                return -1;
            }
        }
        use = &k[0];
        memcpy(key_name, use->name, 16);
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            goto out;
        rc = 1;
    } else {
        for (int i = 0; i < 2; i++)
            if (memcmp(key_name, k[i].name, 16) == 0)
                use = &k[i];
        if (use == NULL) {
            rc = 0;             /* unknown key: a full handshake */
            goto out;
        }
        rc = use == &k[0] ? 1 : 2;      /* 2: issue a ticket on the new key */
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                  (void *)use->hmac, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(hctx, params) ||
        (enc ? !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, use->aes, iv)
             : !EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, use->aes,
                                   iv)))
        rc = -1;
out:
    OPENSSL_cleanse(k, sizeof(k));
    return rc;
}

/* ---- certificates ------------------------------------------------------- */

size_t
tls_cert_names(X509 *x, char **out, size_t max)
{
    size_t n = 0;
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

    for (int i = 0; san != NULL && i < sk_GENERAL_NAME_num(san) && n < max;
         i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
        int l = ASN1_STRING_length(g->d.dNSName);
        if (l <= 0 || memchr(p, '\0', (size_t)l) != NULL)
            continue;
        out[n++] = strndup((const char *)p, (size_t)l);
    }
    if (san != NULL)
        GENERAL_NAMES_free(san);
    if (n == 0 && max > 0) {
        char cn[256];
        X509_NAME *sub = X509_get_subject_name(x);
        if (X509_NAME_get_text_by_NID(sub, NID_commonName, cn, sizeof(cn)) > 0)
            out[n++] = strdup(cn);
    }
    for (size_t i = 0; i < n; i++)
        for (char *c = out[i]; c && *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    return n;
}

static int
proto_version(const char *p)
{
    if (strcmp(p, "TLSv1.2") == 0)
        return TLS1_2_VERSION;
    if (strcmp(p, "TLSv1.3") == 0)
        return TLS1_3_VERSION;
    return 0;
}

/* The lowest and highest of the listed protocols; -1 after an error. */
static int
proto_range(struct conf_ctx *ctx, const struct conf_src *src,
            const char *path, char **list, size_t n, int *lo, int *hi)
{
    *lo = 0;
    *hi = 0;
    for (size_t i = 0; i < n; i++) {
        int v = proto_version(list[i]);
        if (v == 0) {
            conf_error(ctx, src, "%s.protocols: unsupported protocol \"%s\" "
                       "(expected \"TLSv1.2\" or \"TLSv1.3\")", path, list[i]);
            return -1;
        }
        if (*lo == 0 || v < *lo)
            *lo = v;
        if (v > *hi)
            *hi = v;
    }
    return 0;
}

static void
free_ctx(void *p)
{
    SSL_CTX_free(p);
}

static void
free_server(void *p)
{
    struct tls_server *ts = p;

    for (size_t i = 0; i < ts->nnames; i++)
        free(ts->names[i].name);
    free(ts->names);
    for (size_t i = 0; i < ts->nctx; i++)
        SSL_CTX_free(ts->ctx[i]);
    free(ts->ctx);
    for (size_t i = 0; i < ts->nocsp; i++) {
        X509_free(ts->ocsp[i].x);
        free(ts->ocsp[i].der);
    }
    free(ts->ocsp);
    free(ts->alpn);
    free(ts);
}

static int
ex_server_index(void)
{
    static int idx = -1;

    if (idx < 0)
        idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return idx;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tls_name *)a)->name,
                  ((const struct tls_name *)b)->name);
}

static SSL_CTX *
find_name_linear(const struct tls_server *ts, const char *name)
{
    for (size_t i = 0; i < ts->nnames; i++)
        if (strcmp(ts->names[i].name, name) == 0)
            return ts->names[i].ctx;
    return NULL;
}

static SSL_CTX *
find_name(const struct tls_server *ts, const char *name)
{
    struct tls_name key = { (char *)name, NULL };
    struct tls_name *hit = bsearch(&key, ts->names, ts->nnames,
                                   sizeof(key), name_cmp);
    return hit ? hit->ctx : NULL;
}

/* SNI: exact name, then the wildcard one label up, then the default (or,
 * with strict_sni, a refusal). */
static int
servername_cb(SSL *s, int *alert, void *arg)
{
    struct tls_server *ts = arg;
    const char *sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    char name[256];

    if (sni == NULL || sni[0] == '\0') {
        if (ts->conf->strict_sni) {
            SSL_set_app_data(s, (void *)"strict_sni: the client sent no "
                             "server name");
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        return SSL_TLSEXT_ERR_NOACK;
    }
    size_t l = strlen(sni);
    if (l >= sizeof(name))
        l = sizeof(name) - 1;
    for (size_t i = 0; i < l; i++)
        name[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ? sni[i] - 'A' + 'a'
                                                       : sni[i]);
    name[l] = '\0';
    if (l > 0 && name[l - 1] == '.')
        name[--l] = '\0';
    SSL_CTX *c = find_name(ts, name);
    if (c == NULL) {
        const char *dot = strchr(name, '.');
        if (dot != NULL && dot[1] != '\0') {
            char wild[258];
            snprintf(wild, sizeof(wild), "*%s", dot);
            c = find_name(ts, wild);
        }
    }
    if (c == NULL) {
        if (ts->conf->strict_sni) {
            SSL_set_app_data(s, (void *)"strict_sni: no certificate for the "
                             "server name");
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        return SSL_TLSEXT_ERR_OK;       /* the default certificate */
    }
    if (c != SSL_get_SSL_CTX(s))
        SSL_set_SSL_CTX(s, c);
    return SSL_TLSEXT_ERR_OK;
}

static int
alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
        const unsigned char *in, unsigned inlen, void *arg)
{
    struct tls_server *ts = arg;

    (void)s;
    if (SSL_select_next_proto((unsigned char **)out, outlen, ts->alpn,
                              (unsigned)ts->alpn_len, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;  /* RFC 7301: no_application_protocol */
    return SSL_TLSEXT_ERR_OK;
}

static int
ocsp_cb(SSL *s, void *arg)
{
    struct tls_server *ts = arg;
    X509 *x = SSL_get_certificate(s);

    for (size_t i = 0; i < ts->nocsp; i++)
        if (ts->ocsp[i].x == x) {
            unsigned char *copy = OPENSSL_malloc(ts->ocsp[i].len);
            if (copy == NULL)
                return SSL_TLSEXT_ERR_NOACK;
            memcpy(copy, ts->ocsp[i].der, ts->ocsp[i].len);
            SSL_set_tlsext_status_ocsp_resp(s, copy, (long)ts->ocsp[i].len);
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

static const char default_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* One context with the listener's settings and no certificate yet. */
/* The session ID context: a session (from the shared cache or a ticket,
 * whose keys every listener shares) resumes only where the certificates
 * and the client verification are the ones it was made under, so a
 * session of a listener without client certificates never resumes on one
 * that requires them. Stable across reloads: it depends on the settings,
 * not on the listener's place in the file. */
static void
set_session_context(SSL_CTX *c, const struct conf_tls *t)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    char v[16];

    snprintf(v, sizeof(v), "v%d;", t->verify_client);
    if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h);
        return;
    }
    EVP_DigestUpdate(h, v, strlen(v));
    if (t->client_ca != NULL)
        EVP_DigestUpdate(h, t->client_ca, strlen(t->client_ca) + 1);
    for (size_t i = 0; i < t->ncertificates; i++)
        if (t->certificates[i].cert != NULL)
            EVP_DigestUpdate(h, t->certificates[i].cert,
                             strlen(t->certificates[i].cert) + 1);
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h, md, &n) == 1)
        SSL_CTX_set_session_id_context(c, md, n < SSL_MAX_SID_CTX_LENGTH
                                       ? n : SSL_MAX_SID_CTX_LENGTH);
    EVP_MD_CTX_free(h);
}

static SSL_CTX *
new_server_ctx(struct conf_ctx *ctx, struct conf_tls *t, const char *path,
               struct tls_server *ts, int lo, int hi)
{
    char e[256];
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());

    if (c == NULL) {
        conf_error(ctx, &t->src, "%s: cannot create a TLS context: %s", path,
                   tls_error_text(e, sizeof(e)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, lo);
    SSL_CTX_set_max_proto_version(c, hi);
    long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION;
    /* The server's order, except that a client preferring ChaCha20 (no AES
     * hardware, as on many phones) gets it, as nginx and HAProxy do. */
    if (t->prefer_server_ciphers)
        opts |= SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;
    if (!t->session_tickets)
        opts |= SSL_OP_NO_TICKET;
#ifdef SSL_OP_ENABLE_KTLS
    if (t->ktls)
        opts |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(c, (uint64_t)opts);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
    /* Tickets carry the sessions; a worker turns the shared session-ID
     * cache on (tls_server_session_cache) when there is one. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c, t->session_tickets ? 1 : 0);
    if (t->session_tickets)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
    if (SSL_CTX_set_cipher_list(c, t->ciphers ? t->ciphers : default_ciphers)
        != 1) {
        conf_error(ctx, &t->src, "%s.ciphers: no usable cipher in \"%s\"",
                   path, t->ciphers ? t->ciphers : default_ciphers);
        ERR_clear_error();
    }
    if (t->ciphersuites != NULL &&
        SSL_CTX_set_ciphersuites(c, t->ciphersuites) != 1) {
        conf_error(ctx, &t->src, "%s.ciphersuites: no usable suite in \"%s\"",
                   path, t->ciphersuites);
        ERR_clear_error();
    }
    if (SSL_CTX_set1_groups_list(c, t->curves) != 1) {
        conf_error(ctx, &t->src, "%s.curves: invalid curve list \"%s\"", path,
                   t->curves);
        ERR_clear_error();
    }
    SSL_CTX_set_tlsext_servername_callback(c, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(c, ts);
    SSL_CTX_set_alpn_select_cb(c, alpn_cb, ts);
    SSL_CTX_set_tlsext_status_cb(c, ocsp_cb);
    SSL_CTX_set_tlsext_status_arg(c, ts);
    SSL_CTX_set_ex_data(c, ex_server_index(), ts);
    if (t->verify_client != VERIFY_NONE && t->client_ca != NULL &&
        !ts->ca_bad) {
        if (SSL_CTX_load_verify_locations(c, t->client_ca, NULL) != 1) {
            conf_error(ctx, &t->src, "%s.client_ca: cannot load %s: %s", path,
                       t->client_ca, tls_error_text(e, sizeof(e)));
            ts->ca_bad = true;  /* once, not per certificate */
        } else {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(c, names);
            SSL_CTX_set_verify(c, SSL_VERIFY_PEER |
                               (t->verify_client == VERIFY_REQUIRED
                                ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
            SSL_CTX_set_verify_depth(c, 10);
        }
    }
    set_session_context(c, t);
    return c;
}

static int
pkey_kind(EVP_PKEY *k)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:  return 0;
    case EVP_PKEY_EC:   return 1;
    default:            return 2;   /* Ed25519 and the like */
    }
}

static bool
same_names(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++)
            found = strcmp(a[i], b[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

#define MAX_NAMES 256

struct group {
    SSL_CTX *ctx;
    char *names[MAX_NAMES];
    size_t nnames;
    bool kinds[3];
};

/* Reads one PEM certificate file: the leaf and its chain. */
static X509 *
load_cert(struct conf_ctx *ctx, const struct conf_cert *cc, const char *path,
          STACK_OF(X509) **chain)
{
    FILE *f = fopen(cc->cert, "r");
    char e[256];

    if (f == NULL) {
        conf_error(ctx, &cc->src, "%s.cert: cannot open %s: %s", path,
                   cc->cert, strerror(errno));
        return NULL;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    if (x == NULL) {
        fclose(f);
        conf_error(ctx, &cc->src, "%s.cert: %s holds no PEM certificate: %s",
                   path, cc->cert, tls_error_text(e, sizeof(e)));
        return NULL;
    }
    *chain = sk_X509_new_null();
    X509 *extra;
    while ((extra = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        sk_X509_push(*chain, extra);
    ERR_clear_error();          /* the end of the file */
    fclose(f);
    return x;
}

static EVP_PKEY *
load_key(struct conf_ctx *ctx, const struct conf_cert *cc, const char *path)
{
    FILE *f = fopen(cc->key, "r");
    char e[256];

    if (f == NULL) {
        conf_error(ctx, &cc->src, "%s.key: cannot open %s: %s", path, cc->key,
                   strerror(errno));
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (k == NULL)
        conf_error(ctx, &cc->src, "%s.key: %s holds no usable PEM private key "
                   "(encrypted keys are not supported): %s", path, cc->key,
                   tls_error_text(e, sizeof(e)));
    return k;
}

static int
read_file(const char *file, unsigned char **out, size_t *len)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return -1;
    size_t cap = 4096, n = 0;
    unsigned char *b = malloc(cap);
    size_t k;
    while (b != NULL && (k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            if (cap >= 1 << 20)
                break;
            unsigned char *nb = realloc(b, cap *= 2);
            if (nb == NULL) {
                free(b);
                b = NULL;
            } else {
                b = nb;
            }
        }
    }
    fclose(f);
    if (b == NULL)
        return -1;
    *out = b;
    *len = n;
    return 0;
}

void
tls_conf_server(struct conf_ctx *ctx, struct conf_tls *t, const char *path)
{
    int lo, hi;
    char e[256];
    char sub[256];

    if (proto_range(ctx, &t->src, path, t->protocols, t->nprotocols, &lo,
                    &hi) < 0) {
        lo = TLS1_2_VERSION;    /* reported; the certificates are still checked */
        hi = TLS1_3_VERSION;
    }
    struct tls_server *ts = calloc(1, sizeof(*ts));
    if (ts == NULL || arena_cleanup_add(conf_ctx_arena(ctx), free_server,
                                        ts) < 0) {
        free(ts);
        conf_error(ctx, &t->src, "%s: out of memory", path);
        return;
    }
    ts->conf = t;
    if (t->verify_client != VERIFY_NONE && t->client_ca != NULL) {
        FILE *f = fopen(t->client_ca, "r");
        if (f == NULL) {
            conf_error(ctx, &t->src, "%s.client_ca: cannot open %s: %s", path,
                       t->client_ca, strerror(errno));
            ts->ca_bad = true;
        } else {
            fclose(f);
        }
    }
    /* ALPN in wire format */
    size_t al = 0;
    for (size_t i = 0; i < t->nalpn; i++)
        al += 1 + strlen(t->alpn[i]);
    ts->alpn = malloc(al ? al : 1);
    for (size_t i = 0; ts->alpn && i < t->nalpn; i++) {
        size_t l = strlen(t->alpn[i]);
        if (strcmp(t->alpn[i], "http/1.1") != 0) {
            conf_error(ctx, &t->src, "%s.alpn: unsupported protocol \"%s\" "
                       "(only \"http/1.1\" is served)", path, t->alpn[i]);
            continue;           /* the certificates are still checked */
        }
        ts->alpn[ts->alpn_len++] = (unsigned char)l;
        memcpy(ts->alpn + ts->alpn_len, t->alpn[i], l);
        ts->alpn_len += l;
    }

    struct group *groups = calloc(t->ncertificates, sizeof(*groups));
    size_t ngroups = 0;
    int def_group = -1;
    if (groups == NULL)
        return;
    for (size_t i = 0; i < t->ncertificates; i++) {
        struct conf_cert *cc = &t->certificates[i];
        snprintf(sub, sizeof(sub), "%s.certificates[%zu]", path, i);
        STACK_OF(X509) *chain = NULL;
        X509 *x = load_cert(ctx, cc, sub, &chain);
        EVP_PKEY *k = load_key(ctx, cc, sub);
        if (x == NULL || k == NULL)
            goto next;
        if (X509_check_private_key(x, k) != 1) {
            conf_error(ctx, &cc->src, "%s: the key %s does not match the "
                       "certificate %s", sub, cc->key, cc->cert);
            ERR_clear_error();
            goto next;
        }
        if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
            BIO *b = BIO_new(BIO_s_mem());
            char when[64] = "?";
            if (b != NULL) {
                ASN1_TIME_print(b, X509_get0_notAfter(x));
                int n = BIO_read(b, when, sizeof(when) - 1);
                when[n > 0 ? n : 0] = '\0';
                BIO_free(b);
            }
            conf_error(ctx, &cc->src, "%s.cert: %s expired on %s", sub,
                       cc->cert, when);
            goto next;
        }
        char *names[MAX_NAMES];
        size_t nn = tls_cert_names(x, names, MAX_NAMES);
        int kind = pkey_kind(k);
        /* A name set already seen with another key type shares its
         * context: OpenSSL then picks the certificate the client can
         * use (ECDSA or RSA). */
        struct group *g = NULL;
        for (size_t j = 0; j < ngroups && g == NULL; j++)
            if (!groups[j].kinds[kind] &&
                same_names(groups[j].names, groups[j].nnames, names, nn))
                g = &groups[j];
        if (g == NULL) {
            g = &groups[ngroups++];
            g->ctx = new_server_ctx(ctx, t, path, ts, lo, hi);
            memcpy(g->names, names, nn * sizeof(*names));
            g->nnames = nn;
        } else {
            for (size_t j = 0; j < nn; j++)
                free(names[j]);
        }
        if (g->ctx == NULL)
            goto next;
        g->kinds[kind] = true;
        if (SSL_CTX_use_certificate(g->ctx, x) != 1 ||
            SSL_CTX_use_PrivateKey(g->ctx, k) != 1) {
            conf_error(ctx, &cc->src, "%s: cannot use %s: %s", sub, cc->cert,
                       tls_error_text(e, sizeof(e)));
            goto next;
        }
        for (int j = 0; j < sk_X509_num(chain); j++) {
            X509 *cx = sk_X509_value(chain, j);
            if (SSL_CTX_add1_chain_cert(g->ctx, cx) != 1) {
                conf_error(ctx, &cc->src, "%s.cert: cannot use the chain of "
                           "%s: %s", sub, cc->cert,
                           tls_error_text(e, sizeof(e)));
                break;
            }
        }
        if (cc->ocsp != NULL) {
            unsigned char *der;
            size_t len;
            const unsigned char *p;
            OCSP_RESPONSE *resp = NULL;
            if (read_file(cc->ocsp, &der, &len) < 0) {
                conf_error(ctx, &cc->src, "%s.ocsp: cannot read %s: %s", sub,
                           cc->ocsp, strerror(errno));
            } else if (p = der,
                       (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL) {
                conf_error(ctx, &cc->src, "%s.ocsp: %s is not a DER OCSP "
                           "response", sub, cc->ocsp);
                free(der);
                ERR_clear_error();
            } else {
                struct tls_ocsp *o = realloc(ts->ocsp, (ts->nocsp + 1) *
                                             sizeof(*o));
                if (o != NULL) {
                    ts->ocsp = o;
                    X509_up_ref(x);
                    o[ts->nocsp].x = x;
                    o[ts->nocsp].der = der;
                    o[ts->nocsp].len = len;
                    ts->nocsp++;
                } else {
                    free(der);
                }
                OCSP_RESPONSE_free(resp);     /* parsed only to check it */
            }
        }
        if (cc->is_default) {
            if (def_group >= 0 && def_group != (int)(g - groups))
                conf_error(ctx, &cc->src, "%s.default: another certificate "
                           "with other names is the default already", sub);
            def_group = (int)(g - groups);
        }
next:
        X509_free(x);
        EVP_PKEY_free(k);
        sk_X509_pop_free(chain, X509_free);
    }
    /* names -> contexts, sorted for bsearch; the first certificate listed
     * for a name wins */
    size_t total = 0;
    for (size_t j = 0; j < ngroups; j++)
        total += groups[j].nnames;
    ts->names = calloc(total ? total : 1, sizeof(*ts->names));
    ts->ctx = calloc(ngroups ? ngroups : 1, sizeof(*ts->ctx));
    for (size_t j = 0; j < ngroups; j++) {
        if (ts->ctx != NULL && groups[j].ctx != NULL)
            ts->ctx[ts->nctx++] = groups[j].ctx;
        else
            SSL_CTX_free(groups[j].ctx);
        for (size_t k = 0; k < groups[j].nnames; k++) {
            if (ts->names != NULL && groups[j].ctx != NULL &&
                find_name_linear(ts, groups[j].names[k]) == NULL) {
                ts->names[ts->nnames].name = groups[j].names[k];
                ts->names[ts->nnames].ctx = groups[j].ctx;
                ts->nnames++;
            } else {
                free(groups[j].names[k]);
            }
        }
    }
    if (ts->names != NULL)
        qsort(ts->names, ts->nnames, sizeof(*ts->names), name_cmp);
    if (ngroups > 0)
        ts->def = groups[def_group >= 0 ? def_group : 0].ctx;
    free(groups);
    t->ctx = ts;
}

SSL_CTX *
tls_server_ctx(const struct conf_tls *t)
{
    const struct tls_server *ts = t->ctx;
    return ts ? ts->def : NULL;
}

void
tls_server_session_cache(const struct conf_tls *t)
{
    const struct tls_server *ts = t->ctx;

    for (size_t i = 0; ts != NULL && i < ts->nctx; i++)
        tls_cache_use(ts->ctx[i]);
}

/* ---- upstream ------------------------------------------------------------ */

static int
client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **where = SSL_get_app_data(ssl);

    if (where == NULL)
        return 0;
    SSL_SESSION_free(*where);
    *where = sess;
    return 1;                   /* the reference is ours */
}

void
tls_conf_upstream(struct conf_ctx *ctx, struct conf_upstream_tls *t,
                  const char *path)
{
    int lo, hi;
    char e[256];

    if (proto_range(ctx, &t->src, path, t->protocols, t->nprotocols, &lo,
                    &hi) < 0)
        return;
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (c == NULL || arena_cleanup_add(conf_ctx_arena(ctx), free_ctx, c) < 0) {
        SSL_CTX_free(c);
        conf_error(ctx, &t->src, "%s: cannot create a TLS context", path);
        return;
    }
    SSL_CTX_set_min_proto_version(c, lo);
    SSL_CTX_set_max_proto_version(c, hi);
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
    /* sessions are kept by the worker, one per server: where, the
     * connection's app data says */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT |
                                      SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, client_new_session);
    if (t->ciphers != NULL && SSL_CTX_set_cipher_list(c, t->ciphers) != 1) {
        conf_error(ctx, &t->src, "%s.ciphers: no usable cipher in \"%s\"",
                   path, t->ciphers);
        ERR_clear_error();
    }
    if (t->verify) {
        FILE *f = t->ca != NULL ? fopen(t->ca, "r") : NULL;
        if (t->ca != NULL && f == NULL) {
            conf_error(ctx, &t->src, "%s.ca: cannot open %s: %s", path, t->ca,
                       strerror(errno));
        }
        if (f != NULL)
            fclose(f);
        int ok = t->ca != NULL ? SSL_CTX_load_verify_locations(c, t->ca, NULL)
                               : SSL_CTX_set_default_verify_paths(c);
        if (ok != 1 && (t->ca == NULL || f != NULL))
            conf_error(ctx, &t->src, "%s.ca: cannot load %s: %s", path,
                       t->ca ? t->ca : "the system's trust store",
                       tls_error_text(e, sizeof(e)));
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(c, 10);
    }
    if ((t->cert != NULL) != (t->key != NULL)) {
        conf_error(ctx, &t->src, "%s: cert and key go together", path);
    } else if (t->cert != NULL) {
        struct conf_cert cc = { t->src, t->cert, t->key, NULL, false };
        STACK_OF(X509) *chain = NULL;
        X509 *x = load_cert(ctx, &cc, path, &chain);
        EVP_PKEY *k = load_key(ctx, &cc, path);
        if (x != NULL && k != NULL) {
            if (X509_check_private_key(x, k) != 1) {
                conf_error(ctx, &t->src, "%s: the key %s does not match the "
                           "certificate %s", path, t->key, t->cert);
                ERR_clear_error();
            } else if (SSL_CTX_use_certificate(c, x) != 1 ||
                       SSL_CTX_use_PrivateKey(c, k) != 1) {
                conf_error(ctx, &t->src, "%s: cannot use %s: %s", path,
                           t->cert, tls_error_text(e, sizeof(e)));
            }
            for (int j = 0; j < sk_X509_num(chain); j++)
                SSL_CTX_add1_chain_cert(c, sk_X509_value(chain, j));
        }
        X509_free(x);
        EVP_PKEY_free(k);
        sk_X509_pop_free(chain, X509_free);
    }
    t->ctx = c;
}

bool
tls_peer_identity(SSL *ssl, char *subject, size_t slen, char *fp, size_t flen)
{
    X509 *x = SSL_get0_peer_certificate(ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
        X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || flen < 2 * mdlen + 1)
        return false;
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(fp + 2 * i, 3, "%02x", md[i]);
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return false;
    X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    int n = BIO_read(b, subject, (int)slen - 1);
    BIO_free(b);
    subject[n > 0 ? n : 0] = '\0';
    /* a header value: no control characters */
    for (char *c = subject; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return true;
}

void
tls_client_names(SSL *ssl, const struct conf_upstream_tls *t,
                 const char *address)
{
    char host[300];

    if (t->sni != NULL) {
        snprintf(host, sizeof(host), "%s", t->sni);
    } else {
        /* the host part of the address as written: a name or a literal */
        const char *colon = strrchr(address, ':');
        size_t l = colon ? (size_t)(colon - address) : strlen(address);
        if (l >= 2 && address[0] == '[' && address[l - 1] == ']') {
            address++;
            l -= 2;
        }
        snprintf(host, sizeof(host), "%.*s", (int)l, address);
    }
    bool literal = strspn(host, "0123456789.") == strlen(host) ||
                   strchr(host, ':') != NULL;
    if (!literal)
        SSL_set_tlsext_host_name(ssl, host);
    if (t->verify) {
        if (literal)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
        else
            SSL_set1_host(ssl, host);
    }
}
