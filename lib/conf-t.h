/* conf-t.h: the immutable configuration model (types only). */
#ifndef CERB_CONF_T_H
#define CERB_CONF_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define CERB_MAX_WORKERS   64
#define CERB_MAX_LISTENERS 256

struct arena;
struct rx;                      /* rx.h */

/* Where a section was written: every section struct starts with one. */
struct conf_src {
    const char *file;
    int line;
};

struct conf_kv {
    char *name;
    char *value;
};

enum { PROTO_HTTP, PROTO_TCP };
enum { BAL_ROUND_ROBIN, BAL_LEAST_CONN, BAL_IP_HASH, BAL_HASH, BAL_RANDOM };
enum { SRV_UP, SRV_DRAIN, SRV_DISABLED };
enum { HC_HTTP, HC_TCP };
enum { SAMESITE_LAX, SAMESITE_STRICT, SAMESITE_NONE };
enum { SLASHES_REJECT, SLASHES_KEEP, SLASHES_DECODE };

struct conf_return {
    struct conf_src src;
    int64_t status;
    char *body;
    size_t body_len;
    struct conf_kv *headers;
    size_t nheaders;
    char *location;
};

enum { ALOG_COMBINED, ALOG_JSON };

struct conf_access_log {
    struct conf_src src;
    char *path;
    int format;
    int64_t buffer;             /* bytes kept before a write */
    int64_t flush;              /* ms: the longest a line waits */
};

struct conf_admin {
    struct conf_src src;
    struct addr addr;
    char *address;
    char *token;
};

/* The API-gateway parts (their types: conf-gw.h). */
struct conf_auth;
struct conf_rate_limit;
struct conf_quota;
struct conf_deny_rule;
struct conf_cors;
struct conf_headers;
struct conf_rewrite;
struct conf_query;
struct conf_consumer;

/* The policies of a listener (defaults) or a route: each unset one of a
 * route is taken from its listener. */
struct conf_policies {
    struct conf_auth *auth;
    struct conf_rate_limit *rate_limit;     /* rate_limit = { ... } */
    struct conf_rate_limit *rate_limits;    /* rate_limits = ( ... ) */
    size_t nrate_limits;
    struct conf_quota *quota;               /* quota = { ... } */
    struct conf_quota *quotas;              /* quotas = ( ... ) */
    size_t nquotas;
    char **allow, **deny;       /* CIDRs */
    size_t nallow, ndeny;
    void *access;               /* compiled allow/deny */
    struct conf_deny_rule *deny_rules;
    size_t ndeny_rules;
    struct conf_cors *cors;
    struct conf_headers *request_headers, *response_headers;
    struct conf_rewrite *rewrite;           /* routes only */
    struct conf_query *query;               /* routes only */
};

struct conf_cert {
    struct conf_src src;
    char *cert, *key;           /* PEM files (cert: with its chain) */
    char *ocsp;                 /* DER OCSP response to staple, or NULL */
    bool is_default;
};

enum { VERIFY_NONE, VERIFY_OPTIONAL, VERIFY_REQUIRED };

struct conf_tls {
    struct conf_src src;
    struct conf_cert *certificates;
    size_t ncertificates;
    bool strict_sni;
    char **protocols;
    size_t nprotocols;
    char *ciphers, *ciphersuites, *curves;
    bool prefer_server_ciphers;
    char **alpn;
    size_t nalpn;
    bool session_tickets;
    int64_t ticket_key_lifetime;    /* ms */
    int64_t handshake_timeout;      /* ms */
    int verify_client;
    char *client_ca;
    char *client_subject_header, *client_fingerprint_header;
    char *hsts;
    bool ktls;
    void *ctx;                  /* struct tls_server (lib/tls.c), built at load */
};

/* TLS to a pool's servers. */
struct conf_upstream_tls {
    struct conf_src src;
    bool verify;
    char *ca;                   /* NULL: the system's trust store */
    char *sni;                  /* NULL: the host of each server's address */
    char *cert, *key;           /* client certificate (mTLS), or NULL */
    char **protocols;
    size_t nprotocols;
    char *ciphers;
    void *ctx;                  /* SSL_CTX, built at load */
};

struct conf_listener {
    struct conf_src src;
    char *name;
    struct addr addr;
    char *address;
    int protocol;
    char *pool_name;
    int64_t header_timeout;     /* ms */
    int64_t body_timeout;
    int64_t keepalive_timeout;
    int64_t send_timeout;
    int64_t max_header_size;    /* bytes */
    int64_t max_connections;    /* per worker; 0 (auto) until the master
                                 * sizes it to the open-files limit */
    int64_t backlog;
    char *server_header;        /* replaces a response's Server; "" drops it */
    struct conf_access_log *access_log;   /* or the global one */
    int64_t max_request_line;
    int64_t max_headers;
    bool trust_request_id;      /* keep a valid X-Request-ID from clients */
    bool trust_forwarded;       /* keep (and append to) a client's
                                 * X-Forwarded-For */
    bool underscores_in_headers;    /* false: names with '_' are dropped */
    struct conf_tls *tls;       /* TLS termination, or NULL */
    struct conf_policies pol;   /* gateway defaults for its routes */
    bool redirect_https;        /* plain listener: 301 to the TLS listener */
    bool merge_slashes;         /* "//" in a path is "/" */
    int escaped_slashes;        /* %2F, %5C, "\" in a path: SLASHES_* */
    const struct conf_listener *https;  /* ... that one (resolved) */
    struct conf_pool *pool;     /* resolved from pool_name */
    unsigned index;
};

struct conf_server {
    struct conf_src src;
    struct addr addr;
    char *address;
    int64_t weight;
    bool backup;
    int64_t max_conns;
    int state;
    uint32_t slot;              /* shm server slot, set by the master */
};

struct conf_health {
    struct conf_src src;
    int type;
    char *path;
    char *method;
    char *host;
    int64_t interval, timeout, rise, fall;
    int64_t *expect;            /* none: any 2xx or 3xx */
    size_t nexpect;
    char *body;
    struct rx *body_re;
    int initial;
};

struct conf_sticky {
    struct conf_src src;
    char *cookie;
    char *source;
    char *secret;               /* HMAC key for cookie values, or NULL */
    char *path;
    int64_t max_age;
    bool secure, httponly;
    int samesite;
};

struct conf_breaker {
    struct conf_src src;
    int64_t failures;
    int64_t open_for;
};

struct conf_pool {
    struct conf_src src;
    char *name;
    int balance;
    char *key;
    struct conf_server *servers;
    size_t nservers;
    struct conf_health *health;
    struct conf_sticky *sticky;
    struct conf_breaker *circuit_breaker;
    int64_t retries, keepalive, keepalive_timeout;
    int64_t connect_timeout, read_timeout, send_timeout;
    int64_t max_fails, fail_timeout, slow_start;
    int64_t retry_timeout, retry_buffer;
    struct conf_upstream_tls *tls;  /* TLS to the servers, or NULL */
    int64_t *fail_status;       /* response statuses counted as failures */
    size_t nfail_status;
};

struct conf_route {
    struct conf_src src;
    char *name;
    char **listeners;
    size_t nlisteners;
    char *host;
    char *path_prefix, *path_exact, *path_regex;
    struct rx *path_re;
    char **methods;
    size_t nmethods;
    struct conf_kv *headers;
    size_t nheaders;
    struct rx **header_re;      /* per header: for "~regex", else NULL */
    char *pool_name;
    struct conf_pool *pool;
    struct conf_return *ret;
    bool retry_non_idempotent;
    int64_t max_body_size;      /* 0: no limit */
    struct conf_policies pol;   /* gateway policies (unset: the listener's) */
    bool has_policies;          /* any, here or on one of its listeners */
    unsigned char *on_listener; /* [nlisteners of conf]: 1 if the route applies */
};

struct conf {
    struct conf_src src;
    char *path;                 /* the file as given */
    int64_t workers;            /* resolved: "auto" is the number of CPUs */
    char *user, *group;
    bool allow_root;
    char *pid_file;
    char *error_log;
    int log_level;
    int64_t drain_timeout;
    char *state_dir;
    struct conf_access_log *access_log;
    struct conf_admin *admin;
    struct conf_listener *listeners;
    size_t nlisteners;
    struct conf_pool *pools;
    size_t npools;
    struct conf_route *routes;
    size_t nroutes;
    struct conf_consumer *consumers;
    size_t nconsumers;
    int64_t rate_limit_table;   /* entries of the shared rate-limit table */
    int64_t tls_session_cache;  /* bytes of the shared TLS session cache */
    int64_t quota_interval;     /* ms between writes of the quota state */
    int64_t quota_table;        /* entries of the shared quota table */
    int64_t regex_match_limit;  /* PCRE2 match limit of every match */
    int64_t regex_depth_limit;  /* PCRE2 depth limit (the interpreter's) */
    bool has_quotas;            /* some place sets a quota */
    char *key_claims[8];        /* GW_KEY_CLAIMS: jwt:CLAIM keys' claims */
    size_t nkey_claims;
    char **cert_headers;        /* client-certificate headers: only cerberus
                                 * sets them, on every listener */
    size_t ncert_headers;
    char **identity_headers;    /* the names cerberus sets to say who the
                                 * client is (gw_conf_identity), folded:
                                 * lower case, '_' read as '-' */
    size_t nidentity_headers;
    struct arena *arena;
};

/* How a key's value is read (see conf.c). */
enum conf_kind {
    CK_INT, CK_BOOL, CK_STR, CK_DURATION, CK_SIZE, CK_ENUM, CK_ADDR,
    CK_STRLIST, CK_INTLIST, CK_STRMAP, CK_GROUP, CK_LIST
};

#define CF_REQUIRED 0x01    /* error when absent */
#define CF_AUTO     0x02    /* CK_INT: the string "auto" reads as 0 */
#define CF_NONEMPTY 0x04    /* CK_STR, lists: must not be empty */
#define CF_OFF      0x08    /* CK_SIZE: the string "off" reads as 0 */

struct conf_section;

/* One row of the declarative config schema. */
struct conf_key {
    const char *name;
    enum conf_kind kind;
    size_t off;                 /* value in the section struct */
    size_t off2;                /* CK_ADDR: text; lists and maps: count */
    const char *def;            /* default, as the text a user would write */
    unsigned flags;
    int64_t min, max;           /* ints; durations in ms; sizes in bytes */
    const char *const *choices; /* CK_ENUM (NULL-terminated); CK_ADDR flags in min */
    const struct conf_section *sub;
};

struct conf_ctx;

struct conf_section {
    const char *name;           /* for messages: "listener", "pool" */
    size_t size;
    const struct conf_key *keys;
    /* Cross-field checks once all keys are read; report via conf_error. */
    void (*check)(struct conf_ctx *ctx, void *obj, const char *path);
};

#endif
