/* conf_gw_http: access control, deny rules, transformations and CORS. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "arena.h"
#include "cidr.h"

#include "conf-gw.h"
#include "conf.h"

#define OFF(t, f) offsetof(t, f)
#define MS_DAY (24LL * 3600 * 1000)

static const struct conf_key deny_rule_keys[] = {
    { "name", CK_STR, OFF(struct conf_deny_rule, name), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "path", CK_STR, OFF(struct conf_deny_rule, path), 0, NULL, CF_NONEMPTY,
      0, 0, NULL, NULL },
    { "query", CK_STR, OFF(struct conf_deny_rule, query), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "header", CK_STR, OFF(struct conf_deny_rule, header), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { "value", CK_STR, OFF(struct conf_deny_rule, value), 0, NULL,
      CF_NONEMPTY, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_deny_rule_section = {
    "deny rule", sizeof(struct conf_deny_rule), deny_rule_keys, NULL
};

static const struct conf_key headers_keys[] = {
    { "set", CK_STRMAP, OFF(struct conf_headers, set),
      OFF(struct conf_headers, nset), NULL, 0, 0, 0, NULL, NULL },
    { "add", CK_STRMAP, OFF(struct conf_headers, add),
      OFF(struct conf_headers, nadd), NULL, 0, 0, 0, NULL, NULL },
    { "remove", CK_STRLIST, OFF(struct conf_headers, remove),
      OFF(struct conf_headers, nremove), NULL, 0, 0, 0, NULL, NULL },
    { "rename", CK_STRMAP, OFF(struct conf_headers, rename),
      OFF(struct conf_headers, nrename), NULL, 0, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_headers_section = {
    "headers", sizeof(struct conf_headers), headers_keys, NULL
};

static const struct conf_key rewrite_keys[] = {
    { "pattern", CK_STR, OFF(struct conf_rewrite, pattern), 0, NULL,
      CF_REQUIRED | CF_NONEMPTY, 0, 0, NULL, NULL },
    { "replace", CK_STR, OFF(struct conf_rewrite, replace), 0, NULL,
      CF_REQUIRED, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_rewrite_section = {
    "rewrite", sizeof(struct conf_rewrite), rewrite_keys, NULL
};

static const struct conf_key query_keys[] = {
    { "set", CK_STRMAP, OFF(struct conf_query, set),
      OFF(struct conf_query, nset), NULL, 0, 0, 0, NULL, NULL },
    { "remove", CK_STRLIST, OFF(struct conf_query, remove),
      OFF(struct conf_query, nremove), NULL, 0, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_query_section = {
    "query", sizeof(struct conf_query), query_keys, NULL
};

static const struct conf_key cors_keys[] = {
    { "origins", CK_STRLIST, OFF(struct conf_cors, origins),
      OFF(struct conf_cors, norigins), NULL, CF_REQUIRED | CF_NONEMPTY, 0, 0,
      NULL, NULL },
    { "methods", CK_STRLIST, OFF(struct conf_cors, methods),
      OFF(struct conf_cors, nmethods), NULL, 0, 0, 0, NULL, NULL },
    { "headers", CK_STRLIST, OFF(struct conf_cors, headers),
      OFF(struct conf_cors, nheaders), NULL, 0, 0, 0, NULL, NULL },
    { "expose", CK_STRLIST, OFF(struct conf_cors, expose),
      OFF(struct conf_cors, nexpose), NULL, 0, 0, 0, NULL, NULL },
    { "credentials", CK_BOOL, OFF(struct conf_cors, credentials), 0, "false",
      0, 0, 0, NULL, NULL },
    { "max_age", CK_DURATION, OFF(struct conf_cors, max_age), 0, "10m", 0, 0,
      MS_DAY, NULL, NULL },
    { NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL }
};
const struct conf_section gw_cors_section = {
    "cors", sizeof(struct conf_cors), cors_keys, NULL
};


/* allow/deny: each list compiled into a struct cidr_acl; "all" stands for
 * both 0.0.0.0/0 and ::/0. */
static struct cidr *
cidr_list(struct conf_ctx *ctx, const struct conf_src *src, const char *where,
          const char *key, char **list, size_t n, size_t *count)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        cap += strcmp(list[i], "all") == 0 ? 2 : 1;
    struct cidr *v = arena_calloc(conf_ctx_arena(ctx), cap ? cap : 1,
                                  sizeof(*v));
    if (v == NULL) {
        conf_error(ctx, src, "out of memory");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char err[160];
        if (strcmp(list[i], "all") == 0) {
            cidr_parse("0.0.0.0/0", &v[k++], err, sizeof(err));
            cidr_parse("::/0", &v[k++], err, sizeof(err));
        } else if (cidr_parse(list[i], &v[k], err, sizeof(err)) == 0) {
            k++;
        } else {
            conf_error(ctx, src, "%s: %s[%zu]: %s", where, key, i, err);
        }
    }
    *count = k;
    return v;
}

/* A header name: an RFC 9110 token. */
static bool
is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= ' ' || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return false;
    }
    return true;
}

/* Headers the gateway may not change: the message framing and hop-by-hop
 * headers, and (on requests) the ones the proxy writes itself. */
static bool
reserved(const char *name, bool request)
{
    static const char *const both[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive",
        "te", "trailer", "upgrade", "proxy-connection", NULL
    };
    static const char *const req[] = {
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-request-id", NULL
    };
    for (size_t i = 0; both[i]; i++)
        if (strcasecmp(name, both[i]) == 0)
            return true;
    for (size_t i = 0; request && req[i]; i++)
        if (strcasecmp(name, req[i]) == 0)
            return true;
    return false;
}

static void
check_name(struct conf_ctx *ctx, const struct conf_src *src, const char *where,
           const char *key, const char *name, bool request)
{
    if (!is_token(name))
        conf_error(ctx, src, "%s: %s: \"%s\" is not a valid header name",
                   where, key, name);
    else if (reserved(name, request))
        conf_error(ctx, src, "%s: %s: the %s header cannot be changed", where,
                   key, name);
}

static void
check_headers(struct conf_ctx *ctx, const struct conf_headers *h,
              const char *where, bool request)
{
    char key[96];
    const char *side = request ? "request_headers" : "response_headers";

    for (size_t i = 0; i < h->nset; i++) {
        snprintf(key, sizeof(key), "%s.set", side);
        check_name(ctx, &h->src, where, key, h->set[i].name, request);
    }
    for (size_t i = 0; i < h->nadd; i++) {
        snprintf(key, sizeof(key), "%s.add", side);
        check_name(ctx, &h->src, where, key, h->add[i].name, request);
    }
    for (size_t i = 0; i < h->nremove; i++) {
        snprintf(key, sizeof(key), "%s.remove", side);
        check_name(ctx, &h->src, where, key, h->remove[i], request);
    }
    for (size_t i = 0; i < h->nrename; i++) {
        snprintf(key, sizeof(key), "%s.rename", side);
        check_name(ctx, &h->src, where, key, h->rename[i].name, request);
        check_name(ctx, &h->src, where, key, h->rename[i].value, request);
    }
}

static void
check_deny_rule(struct conf_ctx *ctx, struct conf_deny_rule *d,
                const char *where, size_t i)
{
    char what[160];

    if ((d->header == NULL) != (d->value == NULL)) {
        conf_error(ctx, &d->src, "%s: deny rule \"%s\": header and value go "
                   "together", where, d->name);
        return;
    }
    if (!d->path && !d->query && !d->value) {
        conf_error(ctx, &d->src, "%s: deny rule \"%s\" needs a path, query or "
                   "header pattern", where, d->name);
        return;
    }
    if (d->header != NULL && !is_token(d->header))
        conf_error(ctx, &d->src, "%s: deny rule \"%s\": \"%s\" is not a valid "
                   "header name", where, d->name, d->header);
    snprintf(what, sizeof(what), "%s: deny_rules[%zu].path", where, i);
    if (d->path)
        d->path_re = conf_regex_compile(ctx, &d->src, what, NULL, d->path);
    snprintf(what, sizeof(what), "%s: deny_rules[%zu].query", where, i);
    if (d->query)
        d->query_re = conf_regex_compile(ctx, &d->src, what, NULL, d->query);
    snprintf(what, sizeof(what), "%s: deny_rules[%zu].value", where, i);
    if (d->value)
        d->value_re = conf_regex_compile(ctx, &d->src, what, NULL, d->value);
}

/* The replacement's $N and ${name} must name groups of the pattern. */
static void
check_rewrite(struct conf_ctx *ctx, struct conf_rewrite *rw, const char *where)
{
    char what[96];

    snprintf(what, sizeof(what), "%s: rewrite.pattern", where);
    rw->re = conf_regex_compile(ctx, &rw->src, what, NULL, rw->pattern);
    if (rw->re == NULL)
        return;
    uint32_t groups = 0;
    pcre2_pattern_info(rw->re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    for (const char *r = strchr(rw->replace, '$'); r != NULL;
         r = strchr(r + 1, '$')) {
        if (r[1] == '$') {
            r++;
        } else if (r[1] >= '0' && r[1] <= '9') {
            if (r[1] == '0' || (uint32_t)(r[1] - '0') > groups)
                conf_error(ctx, &rw->src, "%s: rewrite.replace: $%c: the "
                           "pattern has %u group%s", where, r[1], groups,
                           groups == 1 ? "" : "s");
        } else if (r[1] == '{') {
            const char *e = strchr(r, '}');
            char name[64];
            if (e == NULL || e - r - 2 <= 0 || e - r - 2 >= 64) {
                conf_error(ctx, &rw->src, "%s: rewrite.replace: a bad ${name}",
                           where);
                return;
            }
            snprintf(name, sizeof(name), "%.*s", (int)(e - r - 2), r + 2);
            if (pcre2_substring_number_from_name(rw->re->code,
                                                 (PCRE2_SPTR)name) < 0)
                conf_error(ctx, &rw->src, "%s: rewrite.replace: the pattern "
                           "has no group named \"%s\"", where, name);
        } else {
            conf_error(ctx, &rw->src, "%s: rewrite.replace: a \"$\" must be "
                       "followed by 1-9, {name} or $", where);
        }
    }
}

static bool
query_name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
            strchr("&=#?%+", *s))
            return false;
    return true;
}

static void
check_query(struct conf_ctx *ctx, const struct conf_query *q, const char *where)
{
    for (size_t i = 0; i < q->nset; i++)
        if (!query_name_ok(q->set[i].name))
            conf_error(ctx, &q->src, "%s: query.set: \"%s\" is not a valid "
                       "parameter name", where, q->set[i].name);
    for (size_t i = 0; i < q->nremove; i++)
        if (!query_name_ok(q->remove[i]))
            conf_error(ctx, &q->src, "%s: query.remove: \"%s\" is not a valid "
                       "parameter name", where, q->remove[i]);
}

/* origins: "*" alone (and then without credentials), or
 * scheme://host[:port] as browsers send them; never "null", which any
 * page can send (sandboxed frames, data: and file: documents). */
static void
check_cors(struct conf_ctx *ctx, const struct conf_cors *cors,
           const char *where)
{
    for (size_t i = 0; i < cors->norigins; i++) {
        const char *o = cors->origins[i];
        if (strcmp(o, "*") == 0) {
            if (cors->norigins > 1)
                conf_error(ctx, &cors->src, "%s: cors.origins: \"*\" must be "
                           "the only origin", where);
            else if (cors->credentials)
                conf_error(ctx, &cors->src, "%s: cors: origins [\"*\"] with "
                           "credentials = true would let any site read "
                           "responses with its users' cookies; list the "
                           "origins", where);
            continue;
        }
        if (strcasecmp(o, "null") == 0) {
            conf_error(ctx, &cors->src, "%s: cors.origins[%zu]: \"null\" is "
                       "never allowed (any page can send Origin: null)",
                       where, i);
            continue;
        }
        const char *h = strstr(o, "://");
        if (h == NULL || h == o || h[3] == '\0' || strchr(h + 3, '/') ||
            strpbrk(o, " \t,*"))
            conf_error(ctx, &cors->src, "%s: cors.origins[%zu]: \"%s\" is not "
                       "an origin (scheme://host[:port])", where, i, o);
    }
    for (size_t i = 0; i < cors->nmethods; i++) {
        char hint[128];
        if (!is_token(cors->methods[i]))
            conf_error(ctx, &cors->src, "%s: cors.methods: \"%s\" is not a "
                       "method", where, cors->methods[i]);
        else if (!conf_method_known(cors->methods[i], hint, sizeof(hint)))
            conf_error(ctx, &cors->src, "%s: cors.methods: unknown method "
                       "\"%s\"%s", where, cors->methods[i], hint);
    }
    for (size_t i = 0; i < cors->nheaders; i++)
        if (!is_token(cors->headers[i]))
            conf_error(ctx, &cors->src, "%s: cors.headers: \"%s\" is not a "
                       "valid header name", where, cors->headers[i]);
    for (size_t i = 0; i < cors->nexpose; i++)
        if (!is_token(cors->expose[i]))
            conf_error(ctx, &cors->src, "%s: cors.expose: \"%s\" is not a "
                       "valid header name", where, cors->expose[i]);
}

void
gw_conf_http(struct conf_ctx *ctx, struct conf *c)
{
    for (size_t i = 0; i < gw_conf_nplaces(c); i++) {
        struct gw_place pl;
        gw_conf_place(c, i, &pl);
        struct conf_policies *p = pl.pol;
        const struct conf_src *src = pl.src;
        const char *where = pl.where;
        if (p->nallow > 0 || p->ndeny > 0) {
            struct cidr_acl *acl = arena_calloc(conf_ctx_arena(ctx), 1,
                                                sizeof(*acl));
            if (acl == NULL) {
                conf_error(ctx, src, "out of memory");
                continue;
            }
            acl->allow = cidr_list(ctx, src, where, "allow", p->allow,
                                   p->nallow, &acl->nallow);
            acl->deny = cidr_list(ctx, src, where, "deny", p->deny, p->ndeny,
                                  &acl->ndeny);
            p->access = acl;
        }
        for (size_t k = 0; k < p->ndeny_rules; k++)
            check_deny_rule(ctx, &p->deny_rules[k], where, k);
        if (p->cors != NULL)
            check_cors(ctx, p->cors, where);
        if (p->request_headers)
            check_headers(ctx, p->request_headers, where, true);
        if (p->response_headers)
            check_headers(ctx, p->response_headers, where, false);
        if (p->rewrite)
            check_rewrite(ctx, p->rewrite, where);
        if (p->query)
            check_query(ctx, p->query, where);
    }
}
