/* conf_schema: the declared config keys (type, default, range) and checks. */
#include "conf.h"
#include "conf-gw.h"
#include "tls.h"
#include "paths.h"

#include <ctype.h>
#include <stdbool.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"

#define OFF(type, field) offsetof(type, field)
#define SEC(x) (&(x))
#define MS_DAY  86400000LL
#define MS_HOUR 3600000LL

static const char *const proto_choices[] = { "http", "tcp", NULL };
static const char *const balance_choices[] = {
    "round_robin", "least_conn", "ip_hash", "hash", "random", NULL
};
static const char *const srv_state_choices[] = { "up", "drain", "disabled", NULL };
static const char *const hc_type_choices[] = { "http", "tcp", NULL };
static const char *const hc_initial_choices[] = { "up", "down", NULL };
static const char *const verify_client_choices[] = {
    "none", "optional", "required", NULL
};
static const char *const samesite_choices[] = { "lax", "strict", "none", NULL };
static const char *const slashes_choices[] = {
    "reject", "keep", "decode", NULL
};
static const char *const alog_format_choices[] = { "combined", "json", NULL };
static const char *const log_level_choices[] = {
    "debug", "info", "notice", "warn", "error", "crit", "alert", NULL
};

/* ---- return ---------------------------------------------------------- */

static int
is_token_char(int c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* For messages about sections whose name had an error of its own. */
static const char *
nz(const char *s)
{
    return s != NULL ? s : "?";
}

static int
is_token(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!is_token_char((unsigned char)*s))
            return 0;
    return 1;
}

static int
has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return 1;
    return 0;
}

static void
check_header_values(struct conf_ctx *ctx, const struct conf_src *src,
                    const char *path, const struct conf_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_token(kv[i].name))
            conf_error(ctx, src, "%s: invalid header name \"%s\"", path,
                       kv[i].name);
        if (has_ctl(kv[i].value))
            conf_error(ctx, src, "%s: header %s: control characters are not "
                       "allowed in a value", path, kv[i].name);
    }
}

static void
return_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_return *r = obj;
    int redirect = r->status == 301 || r->status == 302 || r->status == 303 ||
                   r->status == 307 || r->status == 308;

    if (r->status == 0)
        r->status = r->location ? 302 : 200;
    else if (redirect && r->location == NULL)
        conf_error(ctx, &r->src, "%s: status %lld needs a location", path,
                   (long long)r->status);
    else if (!redirect && r->location != NULL)
        conf_error(ctx, &r->src, "%s: location needs a redirect status "
                   "(301, 302, 303, 307 or 308), not %lld", path,
                   (long long)r->status);
    if (r->location != NULL && has_ctl(r->location))
        conf_error(ctx, &r->src, "%s.location: control characters are not "
                   "allowed", path);
    r->body_len = r->body ? strlen(r->body) : 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "Content-Length") == 0 ||
            strcasecmp(r->headers[i].name, "Transfer-Encoding") == 0 ||
            strcasecmp(r->headers[i].name, "Connection") == 0)
            conf_error(ctx, &r->src, "%s.headers: %s is set by cerberus and "
                       "cannot be configured", path, r->headers[i].name);
    }
    check_header_values(ctx, &r->src, path, r->headers, r->nheaders);
}

static const struct conf_key return_keys[] = {
    { "status", CK_INT, OFF(struct conf_return, status), 0, NULL, 0, 200, 599,
      NULL, NULL },
    { "body", CK_STR, OFF(struct conf_return, body), 0, "", 0, 0, 0, NULL, NULL },
    { "headers", CK_STRMAP, OFF(struct conf_return, headers),
      OFF(struct conf_return, nheaders), NULL, 0, 0, 0, NULL, NULL },
    { "location", CK_STR, OFF(struct conf_return, location), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section return_section = {
    "return", sizeof(struct conf_return), return_keys, return_check
};

/* ---- access log ------------------------------------------------------ */

static void resolve_path(struct conf_ctx *ctx, char **p);

static void
access_log_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_access_log *a = obj;

    (void)path;
    resolve_path(ctx, &a->path);
}

static const struct conf_key access_log_keys[] = {
    { "path", CK_STR, OFF(struct conf_access_log, path), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "format", CK_ENUM, OFF(struct conf_access_log, format), 0, "combined",
      0, 0, 0, alog_format_choices, NULL },
    { "buffer", CK_SIZE, OFF(struct conf_access_log, buffer), 0, "64k", 0,
      0, 1024 * 1024, NULL, NULL },
    { "flush", CK_DURATION, OFF(struct conf_access_log, flush), 0, "1s", 0, 1,
      60000, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section access_log_section = {
    "access_log", sizeof(struct conf_access_log), access_log_keys,
    access_log_check
};

/* ---- admin ----------------------------------------------------------- */

static const struct conf_key admin_keys[] = {
    { "address", CK_ADDR, OFF(struct conf_admin, addr),
      OFF(struct conf_admin, address), "127.0.0.1:9901", 0, ADDR_WILDCARD, 0,
      NULL, NULL },
    { "token", CK_STR, OFF(struct conf_admin, token), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static void
admin_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_admin *a = obj;
    bool loopback = false;

    if (a->address == NULL)
        return;
    if (a->addr.sa.sa_family == AF_INET)
        loopback = (ntohl(a->addr.sin.sin_addr.s_addr) >> 24) == 127;
    else if (a->addr.sa.sa_family == AF_INET6)
        loopback = IN6_IS_ADDR_LOOPBACK(&a->addr.sin6.sin6_addr);
    /* Anyone who reaches it can drain servers: off loopback, a token. */
    if (!loopback && a->token == NULL)
        conf_error(ctx, &a->src, "%s.address: %s is not a loopback address; "
                   "set a token to serve the admin API there", path,
                   a->address);
}

static const struct conf_section admin_section = {
    "admin", sizeof(struct conf_admin), admin_keys, admin_check
};

/* ---- TLS ---------------------------------------------------------------- */

static void
cert_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_cert *c = obj;

    (void)path;
    resolve_path(ctx, &c->cert);
    resolve_path(ctx, &c->key);
    resolve_path(ctx, &c->ocsp);
}

static const struct conf_key cert_keys[] = {
    { "cert", CK_STR, OFF(struct conf_cert, cert), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "key", CK_STR, OFF(struct conf_cert, key), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "ocsp", CK_STR, OFF(struct conf_cert, ocsp), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "default", CK_BOOL, OFF(struct conf_cert, is_default), 0, "false", 0, 0,
      0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section cert_section = {
    "certificate", sizeof(struct conf_cert), cert_keys, cert_check
};

static char *default_protocols[] = { "TLSv1.2", "TLSv1.3" };
static char *default_alpn[] = { "http/1.1" };

static void
tls_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_tls *t = obj;

    resolve_path(ctx, &t->client_ca);
    if (t->nprotocols == 0) {
        t->protocols = default_protocols;
        t->nprotocols = 2;
    }
    if (t->nalpn == 0) {
        t->alpn = default_alpn;
        t->nalpn = 1;
    }
    if (t->verify_client != VERIFY_NONE && t->client_ca == NULL)
        conf_error(ctx, &t->src, "%s: verify_client \"%s\" needs client_ca",
                   path, t->verify_client == VERIFY_REQUIRED ? "required"
                                                              : "optional");
    if (t->client_subject_header != NULL && !is_token(t->client_subject_header))
        conf_error(ctx, &t->src, "%s.client_subject_header: invalid header "
                   "name \"%s\"", path, t->client_subject_header);
    if (t->client_fingerprint_header != NULL &&
        !is_token(t->client_fingerprint_header))
        conf_error(ctx, &t->src, "%s.client_fingerprint_header: invalid "
                   "header name \"%s\"", path, t->client_fingerprint_header);
    if (t->hsts != NULL && has_ctl(t->hsts))
        conf_error(ctx, &t->src, "%s.hsts: control characters are not allowed",
                   path);
    for (size_t i = 0; i < t->ncertificates; i++)
        if (t->certificates[i].cert == NULL || t->certificates[i].key == NULL)
            return;             /* reported; nothing to load */
    if (t->ncertificates > 0)
        tls_conf_server(ctx, t, path);
}

static const struct conf_key tls_keys[] = {
    { "certificates", CK_LIST, OFF(struct conf_tls, certificates),
      OFF(struct conf_tls, ncertificates), NULL, CF_REQUIRED | CF_NONEMPTY, 0,
      0, NULL, SEC(cert_section) },
    { "strict_sni", CK_BOOL, OFF(struct conf_tls, strict_sni), 0, "false", 0,
      0, 0, NULL, NULL },
    { "protocols", CK_STRLIST, OFF(struct conf_tls, protocols),
      OFF(struct conf_tls, nprotocols), NULL, 0, 0, 0, NULL, NULL },
    { "ciphers", CK_STR, OFF(struct conf_tls, ciphers), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "ciphersuites", CK_STR, OFF(struct conf_tls, ciphersuites), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "curves", CK_STR, OFF(struct conf_tls, curves), 0, "X25519:P-256:P-384",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "prefer_server_ciphers", CK_BOOL,
      OFF(struct conf_tls, prefer_server_ciphers), 0, "true", 0, 0, 0, NULL,
      NULL },
    { "alpn", CK_STRLIST, OFF(struct conf_tls, alpn), OFF(struct conf_tls, nalpn),
      NULL, 0, 0, 0, NULL, NULL },
    { "session_tickets", CK_BOOL, OFF(struct conf_tls, session_tickets), 0,
      "true", 0, 0, 0, NULL, NULL },
    { "ticket_key_lifetime", CK_DURATION,
      OFF(struct conf_tls, ticket_key_lifetime), 0, "12h", 0, 60 * 1000,
      7 * MS_DAY, NULL, NULL },
    { "handshake_timeout", CK_DURATION, OFF(struct conf_tls, handshake_timeout),
      0, "10s", 0, 1, MS_HOUR, NULL, NULL },
    { "verify_client", CK_ENUM, OFF(struct conf_tls, verify_client), 0, "none",
      0, 0, 0, verify_client_choices, NULL },
    { "client_ca", CK_STR, OFF(struct conf_tls, client_ca), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "client_subject_header", CK_STR,
      OFF(struct conf_tls, client_subject_header), 0, "X-Client-Subject",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "client_fingerprint_header", CK_STR,
      OFF(struct conf_tls, client_fingerprint_header), 0,
      "X-Client-Fingerprint", CF_NONEMPTY, 0, 0, NULL, NULL },
    { "hsts", CK_STR, OFF(struct conf_tls, hsts), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "ktls", CK_BOOL, OFF(struct conf_tls, ktls), 0, "false", 0, 0, 0, NULL,
      NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section tls_section = {
    "tls", sizeof(struct conf_tls), tls_keys, tls_check
};

static void
upstream_tls_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_upstream_tls *t = obj;

    resolve_path(ctx, &t->ca);
    resolve_path(ctx, &t->cert);
    resolve_path(ctx, &t->key);
    if (t->nprotocols == 0) {
        t->protocols = default_protocols;
        t->nprotocols = 2;
    }
    tls_conf_upstream(ctx, t, path);
}

static const struct conf_key upstream_tls_keys[] = {
    { "verify", CK_BOOL, OFF(struct conf_upstream_tls, verify), 0, "true", 0,
      0, 0, NULL, NULL },
    { "ca", CK_STR, OFF(struct conf_upstream_tls, ca), 0, NULL, CF_NONEMPTY, 0,
      0, NULL, NULL },
    { "sni", CK_STR, OFF(struct conf_upstream_tls, sni), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "cert", CK_STR, OFF(struct conf_upstream_tls, cert), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "key", CK_STR, OFF(struct conf_upstream_tls, key), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "protocols", CK_STRLIST, OFF(struct conf_upstream_tls, protocols),
      OFF(struct conf_upstream_tls, nprotocols), NULL, 0, 0, 0, NULL, NULL },
    { "ciphers", CK_STR, OFF(struct conf_upstream_tls, ciphers), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section upstream_tls_section = {
    "tls", sizeof(struct conf_upstream_tls), upstream_tls_keys,
    upstream_tls_check
};

/* ---- listeners ------------------------------------------------------- */

static void
listener_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_listener *l = obj;

    if (l->protocol == PROTO_TCP && l->pool_name == NULL)
        conf_error(ctx, &l->src, "%s: a tcp listener needs a pool", path);
    if (l->protocol == PROTO_HTTP && l->pool_name != NULL)
        conf_error(ctx, &l->src, "%s: pool is for tcp listeners; http "
                   "listeners send traffic to pools through routes", path);
    if (l->protocol == PROTO_TCP && l->tls != NULL)
        conf_error(ctx, &l->src, "%s: tls is for http listeners (a tcp "
                   "listener relays bytes as they are)", path);
    if (l->tls != NULL && l->redirect_https)
        conf_error(ctx, &l->src, "%s: redirect_https is for plain listeners; "
                   "this one has tls", path);
}

/* The gateway's policy keys, the same on listeners and routes (in the
 * struct's member pol). */
#define POLICY_KEYS(T) \
    { "auth", CK_GROUP, OFF(T, pol.auth), 0, NULL, 0, 0, 0, NULL, \
      &gw_auth_section }, \
    { "rate_limit", CK_GROUP, OFF(T, pol.rate_limit), 0, NULL, 0, 0, 0, NULL, \
      &gw_rate_limit_section }, \
    { "rate_limits", CK_LIST, OFF(T, pol.rate_limits), \
      OFF(T, pol.nrate_limits), NULL, 0, 0, 0, NULL, &gw_rate_limit_section }, \
    { "quota", CK_GROUP, OFF(T, pol.quota), 0, NULL, 0, 0, 0, NULL, \
      &gw_quota_section }, \
    { "quotas", CK_LIST, OFF(T, pol.quotas), OFF(T, pol.nquotas), NULL, 0, 0, \
      0, NULL, &gw_quota_section }, \
    { "allow", CK_STRLIST, OFF(T, pol.allow), OFF(T, pol.nallow), NULL, 0, 0, \
      0, NULL, NULL }, \
    { "deny", CK_STRLIST, OFF(T, pol.deny), OFF(T, pol.ndeny), NULL, 0, 0, 0, \
      NULL, NULL }, \
    { "deny_rules", CK_LIST, OFF(T, pol.deny_rules), OFF(T, pol.ndeny_rules), \
      NULL, 0, 0, 0, NULL, &gw_deny_rule_section }, \
    { "cors", CK_GROUP, OFF(T, pol.cors), 0, NULL, 0, 0, 0, NULL, \
      &gw_cors_section }, \
    { "request_headers", CK_GROUP, OFF(T, pol.request_headers), 0, NULL, 0, 0, \
      0, NULL, &gw_headers_section }, \
    { "response_headers", CK_GROUP, OFF(T, pol.response_headers), 0, NULL, 0, \
      0, 0, NULL, &gw_headers_section }

static const struct conf_key listener_keys[] = {
    { "name", CK_STR, OFF(struct conf_listener, name), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "address", CK_ADDR, OFF(struct conf_listener, addr),
      OFF(struct conf_listener, address), NULL, CF_REQUIRED, ADDR_WILDCARD, 0,
      NULL, NULL },
    { "protocol", CK_ENUM, OFF(struct conf_listener, protocol), 0, "http", 0,
      0, 0, proto_choices, NULL },
    { "pool", CK_STR, OFF(struct conf_listener, pool_name), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "header_timeout", CK_DURATION, OFF(struct conf_listener, header_timeout),
      0, "10s", 0, 1, MS_HOUR, NULL, NULL },
    { "body_timeout", CK_DURATION, OFF(struct conf_listener, body_timeout), 0,
      "60s", 0, 1, MS_DAY, NULL, NULL },
    { "keepalive_timeout", CK_DURATION,
      OFF(struct conf_listener, keepalive_timeout), 0, "75s", 0, 0, MS_DAY,
      NULL, NULL },
    { "send_timeout", CK_DURATION, OFF(struct conf_listener, send_timeout), 0,
      "60s", 0, 1, MS_DAY, NULL, NULL },
    { "max_header_size", CK_SIZE, OFF(struct conf_listener, max_header_size),
      0, "32k", 0, 1024, 1024 * 1024, NULL, NULL },
    { "max_connections", CK_INT, OFF(struct conf_listener, max_connections),
      0, "auto", CF_AUTO, 1, 1000000, NULL, NULL },
    { "backlog", CK_INT, OFF(struct conf_listener, backlog), 0, "511", 0, 1,
      65535, NULL, NULL },
    { "server_header", CK_STR, OFF(struct conf_listener, server_header), 0,
      "cerberus", 0, 0, 0, NULL, NULL },
    { "access_log", CK_GROUP, OFF(struct conf_listener, access_log), 0, NULL,
      0, 0, 0, NULL, SEC(access_log_section) },
    { "max_request_line", CK_SIZE, OFF(struct conf_listener, max_request_line),
      0, "8k", 0, 256, 1024 * 1024, NULL, NULL },
    { "max_headers", CK_INT, OFF(struct conf_listener, max_headers), 0, "100",
      0, 1, 100, NULL, NULL },
    { "trust_request_id", CK_BOOL, OFF(struct conf_listener, trust_request_id),
      0, "false", 0, 0, 0, NULL, NULL },
    { "trust_forwarded", CK_BOOL, OFF(struct conf_listener, trust_forwarded),
      0, "false", 0, 0, 0, NULL, NULL },
    { "underscores_in_headers", CK_BOOL,
      OFF(struct conf_listener, underscores_in_headers), 0, "true", 0, 0, 0,
      NULL, NULL },
    { "tls", CK_GROUP, OFF(struct conf_listener, tls), 0, NULL, 0, 0, 0, NULL,
      SEC(tls_section) },
    { "redirect_https", CK_BOOL, OFF(struct conf_listener, redirect_https), 0,
      "false", 0, 0, 0, NULL, NULL },
    { "merge_slashes", CK_BOOL, OFF(struct conf_listener, merge_slashes), 0,
      "true", 0, 0, 0, NULL, NULL },
    { "escaped_slashes", CK_ENUM, OFF(struct conf_listener, escaped_slashes),
      0, "reject", 0, 0, 0, slashes_choices, NULL },
    POLICY_KEYS(struct conf_listener),
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section listener_section = {
    "listener", sizeof(struct conf_listener), listener_keys, listener_check
};

/* ---- pools ----------------------------------------------------------- */

static const struct conf_key server_keys[] = {
    { "address", CK_ADDR, OFF(struct conf_server, addr),
      OFF(struct conf_server, address), NULL, CF_REQUIRED, ADDR_HOSTNAME, 0,
      NULL, NULL },
    { "weight", CK_INT, OFF(struct conf_server, weight), 0, "1", 0, 1, 1000,
      NULL, NULL },
    { "backup", CK_BOOL, OFF(struct conf_server, backup), 0, "false", 0, 0, 0,
      NULL, NULL },
    { "max_conns", CK_INT, OFF(struct conf_server, max_conns), 0, "0", 0, 0,
      1000000, NULL, NULL },
    { "state", CK_ENUM, OFF(struct conf_server, state), 0, "up", 0, 0, 0,
      srv_state_choices, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section server_section = {
    "server", sizeof(struct conf_server), server_keys, NULL
};

static void
health_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_health *h = obj;

    /* A value of the wrong type was reported and left NULL. */
    if (h->path != NULL && h->path[0] != '/')
        conf_error(ctx, &h->src, "%s.path: must start with \"/\"", path);
    if (h->method != NULL && !is_token(h->method))
        conf_error(ctx, &h->src, "%s.method: invalid method \"%s\"", path,
                   h->method);
    if (h->body != NULL)
        h->body_re = conf_regex_compile(ctx, &h->src, "health.body", NULL,
                                       h->body);
}

static const struct conf_key health_keys[] = {
    { "type", CK_ENUM, OFF(struct conf_health, type), 0, "http", 0, 0, 0,
      hc_type_choices, NULL },
    { "path", CK_STR, OFF(struct conf_health, path), 0, "/health", 0, 0, 0,
      NULL, NULL },
    { "method", CK_STR, OFF(struct conf_health, method), 0, "GET", 0, 0, 0,
      NULL, NULL },
    { "host", CK_STR, OFF(struct conf_health, host), 0, NULL, CF_NONEMPTY, 0,
      0, NULL, NULL },
    { "interval", CK_DURATION, OFF(struct conf_health, interval), 0, "2s", 0,
      100, MS_DAY, NULL, NULL },
    { "timeout", CK_DURATION, OFF(struct conf_health, timeout), 0, "1s", 0,
      1, MS_HOUR, NULL, NULL },
    { "rise", CK_INT, OFF(struct conf_health, rise), 0, "2", 0, 1, 100, NULL,
      NULL },
    { "fall", CK_INT, OFF(struct conf_health, fall), 0, "3", 0, 1, 100, NULL,
      NULL },
    { "expect", CK_INTLIST, OFF(struct conf_health, expect),
      OFF(struct conf_health, nexpect), NULL, CF_NONEMPTY, 100, 599, NULL,
      NULL },
    { "body", CK_STR, OFF(struct conf_health, body), 0, NULL, CF_NONEMPTY, 0,
      0, NULL, NULL },
    { "initial", CK_ENUM, OFF(struct conf_health, initial), 0, "up", 0, 0, 0,
      hc_initial_choices, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section health_section = {
    "health", sizeof(struct conf_health), health_keys, health_check
};

static void
sticky_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_sticky *s = obj;

    if ((s->cookie == NULL) == (s->source == NULL))
        conf_error(ctx, &s->src, "%s: set exactly one of cookie or source",
                   path);
    if (s->secret != NULL && s->cookie == NULL)
        conf_error(ctx, &s->src, "%s.secret: only used with cookie", path);
    if (s->secret != NULL && strlen(s->secret) < 16)
        conf_error(ctx, &s->src, "%s.secret: too short (at least 16 "
                   "characters)", path);
    if (s->source != NULL && strcmp(s->source, "ip") != 0)
        conf_error(ctx, &s->src, "%s.source: invalid value \"%s\" (expected "
                   "\"ip\")", path, s->source);
    if (s->cookie != NULL && !is_token(s->cookie))
        conf_error(ctx, &s->src, "%s.cookie: invalid cookie name \"%s\"",
                   path, s->cookie);
    if (s->path != NULL && (s->path[0] != '/' || strpbrk(s->path, ";,\"\\ \t")
                            != NULL))
        conf_error(ctx, &s->src, "%s.path: invalid cookie path \"%s\" (it "
                   "starts with \"/\" and has no ';', ',', quote or space)",
                   path, s->path);
}

static const struct conf_key sticky_keys[] = {
    { "cookie", CK_STR, OFF(struct conf_sticky, cookie), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "source", CK_STR, OFF(struct conf_sticky, source), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "path", CK_STR, OFF(struct conf_sticky, path), 0, "/", 0, 0, 0, NULL,
      NULL },
    { "secret", CK_STR, OFF(struct conf_sticky, secret), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "max_age", CK_DURATION, OFF(struct conf_sticky, max_age), 0, "0s", 0, 0,
      365 * MS_DAY, NULL, NULL },
    { "secure", CK_BOOL, OFF(struct conf_sticky, secure), 0, "false", 0, 0, 0,
      NULL, NULL },
    { "httponly", CK_BOOL, OFF(struct conf_sticky, httponly), 0, "true", 0, 0,
      0, NULL, NULL },
    { "samesite", CK_ENUM, OFF(struct conf_sticky, samesite), 0, "lax", 0, 0,
      0, samesite_choices, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section sticky_section = {
    "sticky", sizeof(struct conf_sticky), sticky_keys, sticky_check
};

static const struct conf_key breaker_keys[] = {
    { "failures", CK_INT, OFF(struct conf_breaker, failures), 0, "5", 0, 1,
      10000, NULL, NULL },
    { "open_for", CK_DURATION, OFF(struct conf_breaker, open_for), 0, "30s", 0,
      1, MS_DAY, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section breaker_section = {
    "circuit_breaker", sizeof(struct conf_breaker), breaker_keys, NULL
};

static int
hash_key_valid(const char *k)
{
    if (strcmp(k, "uri") == 0)
        return 1;
    const char *colon = strchr(k, ':');
    if (colon == NULL || !is_token(colon + 1))
        return 0;
    size_t l = (size_t)(colon - k);
    return (l == 6 && strncmp(k, "header", 6) == 0) ||
           (l == 6 && strncmp(k, "cookie", 6) == 0) ||
           (l == 5 && strncmp(k, "query", 5) == 0);
}

static void
pool_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_pool *p = obj;

    if (p->balance == BAL_HASH && p->key == NULL)
        conf_error(ctx, &p->src, "%s: balance \"hash\" needs a key (\"uri\", "
                   "\"header:NAME\", \"cookie:NAME\" or \"query:NAME\")", path);
    if (p->key != NULL && p->balance != BAL_HASH)
        conf_error(ctx, &p->src, "%s: key is only used with balance \"hash\"",
                   path);
    if (p->key != NULL && !hash_key_valid(p->key))
        conf_error(ctx, &p->src, "%s.key: invalid hash key \"%s\" (expected "
                   "\"uri\", \"header:NAME\", \"cookie:NAME\" or "
                   "\"query:NAME\")", path, p->key);
    for (size_t i = 0; i < p->nservers; i++)
        for (size_t j = 0; j < i; j++)
            if (addr_equal(&p->servers[i].addr, &p->servers[j].addr))
                conf_error(ctx, &p->servers[i].src, "%s.servers[%zu]: server "
                           "%s is already in this pool (line %d)", path, i,
                           nz(p->servers[i].address), p->servers[j].src.line);
}

static const struct conf_key pool_keys[] = {
    { "name", CK_STR, OFF(struct conf_pool, name), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "balance", CK_ENUM, OFF(struct conf_pool, balance), 0, "round_robin", 0,
      0, 0, balance_choices, NULL },
    { "key", CK_STR, OFF(struct conf_pool, key), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "servers", CK_LIST, OFF(struct conf_pool, servers),
      OFF(struct conf_pool, nservers), NULL, CF_REQUIRED | CF_NONEMPTY, 0, 0,
      NULL, SEC(server_section) },
    { "health", CK_GROUP, OFF(struct conf_pool, health), 0, NULL, 0, 0, 0,
      NULL, SEC(health_section) },
    { "sticky", CK_GROUP, OFF(struct conf_pool, sticky), 0, NULL, 0, 0, 0,
      NULL, SEC(sticky_section) },
    { "circuit_breaker", CK_GROUP, OFF(struct conf_pool, circuit_breaker), 0,
      NULL, 0, 0, 0, NULL, SEC(breaker_section) },
    { "retries", CK_INT, OFF(struct conf_pool, retries), 0, "1", 0, 0, 10,
      NULL, NULL },
    { "keepalive", CK_INT, OFF(struct conf_pool, keepalive), 0, "32", 0, 0,
      100000, NULL, NULL },
    { "keepalive_timeout", CK_DURATION, OFF(struct conf_pool, keepalive_timeout),
      0, "60s", 0, 1, MS_HOUR, NULL, NULL },
    { "connect_timeout", CK_DURATION, OFF(struct conf_pool, connect_timeout),
      0, "5s", 0, 1, MS_HOUR, NULL, NULL },
    { "read_timeout", CK_DURATION, OFF(struct conf_pool, read_timeout), 0,
      "60s", 0, 1, MS_DAY, NULL, NULL },
    { "send_timeout", CK_DURATION, OFF(struct conf_pool, send_timeout), 0,
      "60s", 0, 1, MS_DAY, NULL, NULL },
    { "max_fails", CK_INT, OFF(struct conf_pool, max_fails), 0, "1", 0, 0,
      10000, NULL, NULL },
    { "fail_timeout", CK_DURATION, OFF(struct conf_pool, fail_timeout), 0,
      "10s", 0, 1, MS_DAY, NULL, NULL },
    { "slow_start", CK_DURATION, OFF(struct conf_pool, slow_start), 0, "0s",
      0, 0, MS_HOUR, NULL, NULL },
    { "retry_timeout", CK_DURATION, OFF(struct conf_pool, retry_timeout), 0,
      "0s", 0, 0, MS_HOUR, NULL, NULL },
    { "retry_buffer", CK_SIZE, OFF(struct conf_pool, retry_buffer), 0, "64k",
      0, 0, 64 * 1024 * 1024, NULL, NULL },
    { "tls", CK_GROUP, OFF(struct conf_pool, tls), 0, NULL, 0, 0, 0, NULL,
      SEC(upstream_tls_section) },
    { "fail_status", CK_INTLIST, OFF(struct conf_pool, fail_status),
      OFF(struct conf_pool, nfail_status), "500, 502, 503, 504", 0, 500, 599,
      NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section pool_section = {
    "pool", sizeof(struct conf_pool), pool_keys, pool_check
};

/* ---- routes ---------------------------------------------------------- */

static void
route_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf_route *r = obj;
    int npaths = (r->path_prefix != NULL) + (r->path_exact != NULL) +
                 (r->path_regex != NULL);

    if (npaths > 1)
        conf_error(ctx, &r->src, "%s: use only one of path_prefix, path_exact "
                   "and path_regex", path);
    if (r->path_prefix != NULL && r->path_prefix[0] != '/')
        conf_error(ctx, &r->src, "%s.path_prefix: must start with \"/\"", path);
    if (r->path_exact != NULL && r->path_exact[0] != '/')
        conf_error(ctx, &r->src, "%s.path_exact: must start with \"/\"", path);
    if (r->path_regex != NULL)
        r->path_re = conf_regex_compile(ctx, &r->src, path, "path_regex",
                                        r->path_regex);
    if ((r->pool_name != NULL) == (r->ret != NULL))
        conf_error(ctx, &r->src, "%s: a route needs exactly one action: pool "
                   "or return", path);
    if (r->host != NULL) {
        const char *h = r->host[0] == '*' && r->host[1] == '.' ? r->host + 2
                                                                : r->host;
        bool ok = h[0] != '\0';
        if (h[0] == '[') {             /* an IPv6 literal, no port */
            size_t l = strlen(h);
            ok = l > 2 && h[l - 1] == ']';
            for (size_t i = 1; ok && i + 1 < l; i++)
                ok = isxdigit((unsigned char)h[i]) || h[i] == ':' ||
                     h[i] == '.';
        } else {
            for (const char *p = h; ok && *p; p++)
                ok = isalnum((unsigned char)*p) || *p == '-' || *p == '.';
        }
        if (!ok)
            conf_error(ctx, &r->src, "%s.host: invalid host \"%s\" (a name, "
                       "*.domain or [IPv6], without a port)", path, r->host);
    }
    for (size_t i = 0; i < r->nmethods; i++) {
        char hint[128];
        if (!is_token(r->methods[i]))
            conf_error(ctx, &r->src, "%s.methods: invalid method \"%s\"", path,
                       r->methods[i]);
        else if (!conf_method_known(r->methods[i], hint, sizeof(hint)))
            conf_error(ctx, &r->src, "%s.methods: unknown method \"%s\"%s",
                       path, r->methods[i], hint);
    }
    r->header_re = arena_calloc(conf_ctx_arena(ctx), r->nheaders + 1,
                                sizeof(*r->header_re));
    for (size_t i = 0; i < r->nheaders; i++) {
        if (!is_token(r->headers[i].name))
            conf_error(ctx, &r->src, "%s.headers: invalid header name \"%s\"",
                       path, r->headers[i].name);
        if (r->headers[i].value[0] == '~') {
            char key[300];
            snprintf(key, sizeof(key), "headers.%s", r->headers[i].name);
            r->header_re[i] = conf_regex_compile(ctx, &r->src, path, key,
                                                 r->headers[i].value + 1);
        }
    }
}

static const struct conf_key route_keys[] = {
    { "name", CK_STR, OFF(struct conf_route, name), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "listeners", CK_STRLIST, OFF(struct conf_route, listeners),
      OFF(struct conf_route, nlisteners), NULL, CF_NONEMPTY, 0, 0, NULL, NULL },
    { "host", CK_STR, OFF(struct conf_route, host), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "path_prefix", CK_STR, OFF(struct conf_route, path_prefix), 0, NULL, 0,
      0, 0, NULL, NULL },
    { "path_exact", CK_STR, OFF(struct conf_route, path_exact), 0, NULL, 0, 0,
      0, NULL, NULL },
    { "path_regex", CK_STR, OFF(struct conf_route, path_regex), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "methods", CK_STRLIST, OFF(struct conf_route, methods),
      OFF(struct conf_route, nmethods), NULL, CF_NONEMPTY, 0, 0, NULL, NULL },
    { "headers", CK_STRMAP, OFF(struct conf_route, headers),
      OFF(struct conf_route, nheaders), NULL, 0, 0, 0, NULL, NULL },
    { "pool", CK_STR, OFF(struct conf_route, pool_name), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "return", CK_GROUP, OFF(struct conf_route, ret), 0, NULL, 0, 0, 0, NULL,
      SEC(return_section) },
    { "retry_non_idempotent", CK_BOOL,
      OFF(struct conf_route, retry_non_idempotent), 0, "false", 0, 0, 0, NULL,
      NULL },
    { "max_body_size", CK_SIZE, OFF(struct conf_route, max_body_size), 0, "0",
      0, 0, (int64_t)1 << 50, NULL, NULL },
    POLICY_KEYS(struct conf_route),
    { "rewrite", CK_GROUP, OFF(struct conf_route, pol.rewrite), 0, NULL, 0, 0, 0, NULL,
      &gw_rewrite_section },
    { "query", CK_GROUP, OFF(struct conf_route, pol.query), 0, NULL, 0, 0, 0, NULL,
      &gw_query_section },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section route_section = {
    "route", sizeof(struct conf_route), route_keys, route_check
};

/* ---- top level ------------------------------------------------------- */

/* A relative path in the file is relative to the file's directory, so it
 * means the same whoever starts, stops or reloads from wherever. */
static void
resolve_path(struct conf_ctx *ctx, char **p)
{
    struct conf *c = conf_ctx_conf(ctx);
    const char *slash = strrchr(c->path, '/');

    if (*p == NULL || (*p)[0] == '/' || slash == NULL)
        return;
    size_t dl = (size_t)(slash - c->path);
    size_t l = dl + 1 + strlen(*p) + 1;
    char *full = arena_alloc(conf_ctx_arena(ctx), l);
    snprintf(full, l, "%.*s/%s", (int)dl, c->path, *p);
    *p = full;
}

size_t
gw_conf_nplaces(const struct conf *c)
{
    return c->nlisteners + c->nroutes;
}

void
gw_conf_place(struct conf *c, size_t i, struct gw_place *out)
{
    bool l = i < c->nlisteners;
    size_t k = l ? i : i - c->nlisteners;

    out->pol = l ? &c->listeners[k].pol : &c->routes[k].pol;
    out->src = l ? &c->listeners[k].src : &c->routes[k].src;
    out->listener = l ? &c->listeners[k] : NULL;
    snprintf(out->where, sizeof(out->where), "%s[%zu]",
             l ? "listeners" : "routes", k);
}

static bool
policies_set(const struct conf_policies *p)
{
    return p->auth || p->rate_limit || p->nrate_limits || p->quota ||
           p->nquotas ||
           p->nallow || p->ndeny || p->ndeny_rules || p->cors ||
           p->request_headers || p->response_headers || p->rewrite ||
           p->query;
}

void
conf_unsupported(struct conf_ctx *ctx, const struct conf_src *src,
                 const char *where, const char *what)
{
    conf_error(ctx, src, "%s: %s is not supported in this release", where,
               what);
}

void
conf_path_resolve(struct conf_ctx *ctx, char **p)
{
    resolve_path(ctx, p);
}

static void
root_check(struct conf_ctx *ctx, void *obj, const char *path)
{
    struct conf *c = obj;
    struct arena *a = conf_ctx_arena(ctx);
    (void)path;

    resolve_path(ctx, &c->pid_file);
    resolve_path(ctx, &c->error_log);
    resolve_path(ctx, &c->state_dir);
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n < 1 ? 1 : n > CERB_MAX_WORKERS ? CERB_MAX_WORKERS : n;
    }
    struct conf_src us = conf_key_src(ctx, &c->src, "user");
    struct conf_src gs = conf_key_src(ctx, &c->src, "group");
    if (c->user != NULL && getpwnam(c->user) == NULL)
        conf_error(ctx, &us, "user: unknown user \"%s\"", c->user);
    if (c->group != NULL && getgrnam(c->group) == NULL)
        conf_error(ctx, &gs, "group: unknown group \"%s\"", c->group);
    if (c->group != NULL && c->user == NULL)
        conf_error(ctx, &gs, "group: needs user");
    struct conf_src ls = conf_key_src(ctx, &c->src, "listeners");
    if (c->nlisteners > CERB_MAX_LISTENERS)
        conf_error(ctx, &ls, "listeners: at most %d listeners",
                   CERB_MAX_LISTENERS);

    for (size_t i = 0; i < c->nlisteners; i++) {
        struct conf_listener *l = &c->listeners[i];
        l->index = (unsigned)i;
        for (size_t j = 0; j < i; j++) {
            if (l->name && c->listeners[j].name &&
                strcmp(l->name, c->listeners[j].name) == 0)
                conf_error(ctx, &l->src, "listeners[%zu]: duplicate listener "
                           "name \"%s\" (first at line %d)", i, l->name,
                           c->listeners[j].src.line);
            if (l->address && c->listeners[j].address &&
                addr_equal(&l->addr, &c->listeners[j].addr))
                conf_error(ctx, &l->src, "listeners[%zu]: address %s is "
                           "already used by listener \"%s\" (line %d)", i,
                           l->address, nz(c->listeners[j].name),
                           c->listeners[j].src.line);
        }
        if (c->admin && l->address && addr_equal(&l->addr, &c->admin->addr))
            conf_error(ctx, &l->src, "listeners[%zu]: address %s is already "
                       "used by admin", i, l->address);
        if (l->access_log == NULL)
            l->access_log = c->access_log;
        if (l->max_request_line > l->max_header_size)
            l->max_request_line = l->max_header_size;
        if (l->tls != NULL && l->tls->verify_client != VERIFY_NONE) {
            const char *h[2] = { l->tls->client_subject_header,
                                 l->tls->client_fingerprint_header };
            for (int k = 0; k < 2; k++) {
                if (h[k] == NULL)
                    continue;
                bool seen = false;
                for (size_t j = 0; j < c->ncert_headers && !seen; j++)
                    seen = strcasecmp(c->cert_headers[j], h[k]) == 0;
                if (seen)
                    continue;
                char **n = arena_alloc(a, (c->ncert_headers + 1) * sizeof(*n));
                if (c->ncert_headers > 0)
                    memcpy(n, c->cert_headers, c->ncert_headers * sizeof(*n));
                n[c->ncert_headers++] = (char *)h[k];
                c->cert_headers = n;
            }
        }
        if (l->redirect_https) {
            for (size_t j = 0; j < c->nlisteners && l->https == NULL; j++)
                if (c->listeners[j].tls != NULL)
                    l->https = &c->listeners[j];
            if (l->https == NULL)
                conf_error(ctx, &l->src, "listeners[%zu]: redirect_https needs "
                           "a listener with tls to redirect to", i);
        }
        if (l->pool_name != NULL) {
            l->pool = conf_pool_find(c, l->pool_name);
            if (l->pool == NULL)
                conf_error(ctx, &l->src, "listeners[%zu]: pool \"%s\" is not "
                           "defined", i, l->pool_name);
        }
    }
    for (size_t i = 0; i < c->npools; i++)
        for (size_t j = 0; j < i; j++)
            if (c->pools[i].name && c->pools[j].name &&
                strcmp(c->pools[i].name, c->pools[j].name) == 0)
                conf_error(ctx, &c->pools[i].src, "pools[%zu]: duplicate pool "
                           "name \"%s\" (first at line %d)", i,
                           c->pools[i].name, c->pools[j].src.line);
    for (size_t i = 0; i < c->nroutes; i++) {
        struct conf_route *r = &c->routes[i];
        if (r->name == NULL) {
            char buf[32];
            snprintf(buf, sizeof(buf), "route%zu", i + 1);
            r->name = arena_strdup(a, buf);
        }
        for (size_t j = 0; j < i; j++)
            if (c->routes[j].name && strcmp(r->name, c->routes[j].name) == 0)
                conf_error(ctx, &r->src, "routes[%zu]: duplicate route name "
                           "\"%s\" (first at line %d)", i, r->name,
                           c->routes[j].src.line);
        if (r->pool_name != NULL) {
            r->pool = conf_pool_find(c, r->pool_name);
            if (r->pool == NULL)
                conf_error(ctx, &r->src, "routes[%zu]: pool \"%s\" is not "
                           "defined", i, r->pool_name);
        }
        r->on_listener = arena_calloc(a, c->nlisteners + 1, 1);
        for (size_t k = 0; k < c->nlisteners; k++)
            r->on_listener[k] = r->nlisteners == 0 &&
                                c->listeners[k].protocol == PROTO_HTTP;
        for (size_t k = 0; k < r->nlisteners; k++) {
            struct conf_listener *l = conf_listener_find(c, r->listeners[k]);
            if (l == NULL)
                conf_error(ctx, &r->src, "routes[%zu]: listener \"%s\" is not "
                           "defined", i, r->listeners[k]);
            else if (l->protocol != PROTO_HTTP)
                conf_error(ctx, &r->src, "routes[%zu]: listener \"%s\" is a "
                           "tcp listener; routes apply to http listeners", i,
                           r->listeners[k]);
            else
                r->on_listener[l->index] = 1;
        }
    }
    gw_conf_auth(ctx, c);
    gw_conf_limit(ctx, c);
    gw_conf_http(ctx, c);
    gw_conf_identity(ctx, c);
    for (size_t i = 0; i < c->nroutes; i++) {
        struct conf_route *r = &c->routes[i];
        r->has_policies = policies_set(&r->pol);
        for (size_t k = 0; k < c->nlisteners && !r->has_policies; k++)
            r->has_policies = r->on_listener[k] &&
                              policies_set(&c->listeners[k].pol);
    }
}

static const struct conf_key root_keys[] = {
    { "workers", CK_INT, OFF(struct conf, workers), 0, "auto", CF_AUTO, 1,
      CERB_MAX_WORKERS, NULL, NULL },
    { "user", CK_STR, OFF(struct conf, user), 0, NULL, CF_NONEMPTY, 0, 0, NULL,
      NULL },
    { "group", CK_STR, OFF(struct conf, group), 0, NULL, CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "allow_root", CK_BOOL, OFF(struct conf, allow_root), 0, "false", 0, 0, 0,
      NULL, NULL },
    { "pid_file", CK_STR, OFF(struct conf, pid_file), 0, "/run/cerberus.pid",
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "error_log", CK_STR, OFF(struct conf, error_log), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "log_level", CK_ENUM, OFF(struct conf, log_level), 0, "notice", 0, 0, 0,
      log_level_choices, NULL },
    { "drain_timeout", CK_DURATION, OFF(struct conf, drain_timeout), 0, "30s",
      0, 0, MS_DAY, NULL, NULL },
    { "consumers", CK_LIST, OFF(struct conf, consumers),
      OFF(struct conf, nconsumers), NULL, 0, 0, 0, NULL, &gw_consumer_section },
    { "rate_limit_table", CK_INT, OFF(struct conf, rate_limit_table), 0,
      "65536", 0, 64, 16 * 1024 * 1024, NULL, NULL },
    { "tls_session_cache", CK_SIZE, OFF(struct conf, tls_session_cache), 0,
      "4m", CF_OFF, 0, (int64_t)1 << 30, NULL, NULL },
    { "quota_table", CK_INT, OFF(struct conf, quota_table), 0,
      "16384", 0, 64, 4 * 1024 * 1024, NULL, NULL },
    { "quota_interval", CK_DURATION, OFF(struct conf, quota_interval), 0,
      "10s", 0, 1000, MS_HOUR, NULL, NULL },
    { "regex_match_limit", CK_INT, OFF(struct conf, regex_match_limit), 0,
      "100000", 0, 1000, 1000000000, NULL, NULL },
    { "regex_depth_limit", CK_INT, OFF(struct conf, regex_depth_limit), 0,
      "50000", 0, 100, 1000000000, NULL, NULL },
    { "state_dir", CK_STR, OFF(struct conf, state_dir), 0,
      CERB_LOCALSTATEDIR "/lib/cerberus", CF_NONEMPTY, 0, 0, NULL, NULL },
    { "access_log", CK_GROUP, OFF(struct conf, access_log), 0, NULL, 0, 0, 0,
      NULL, SEC(access_log_section) },
    { "admin", CK_GROUP, OFF(struct conf, admin), 0, NULL, 0, 0, 0, NULL,
      SEC(admin_section) },
    { "listeners", CK_LIST, OFF(struct conf, listeners),
      OFF(struct conf, nlisteners), NULL, CF_REQUIRED | CF_NONEMPTY, 0, 0,
      NULL, SEC(listener_section) },
    { "pools", CK_LIST, OFF(struct conf, pools), OFF(struct conf, npools),
      NULL, 0, 0, 0, NULL, SEC(pool_section) },
    { "routes", CK_LIST, OFF(struct conf, routes), OFF(struct conf, nroutes),
      NULL, 0, 0, 0, NULL, SEC(route_section) },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
static const struct conf_section root_section = {
    "configuration", sizeof(struct conf), root_keys, root_check
};

const char *
conf_balance_name(int balance)
{
    return balance_choices[balance];
}

const struct conf_section *
conf_root_section(void)
{
    return &root_section;
}
