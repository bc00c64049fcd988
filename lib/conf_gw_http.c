/* conf_gw_http: access control, deny rules, transformations and CORS. */
#include <stddef.h>
#include <stdio.h>

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

/* Not in this release yet: refused rather than silently ignored. */
static void
not_yet(struct conf_ctx *ctx, const struct conf_src *src, const char *where,
        const char *what)
{
    conf_error(ctx, src, "%s: %s is not supported in this release", where,
               what);
}

void
gw_conf_http(struct conf_ctx *ctx, struct conf *c)
{
    for (size_t i = 0; i < c->nlisteners + c->nroutes; i++) {
        bool l = i < c->nlisteners;
        const struct conf_policies *p = l ? &c->listeners[i].pol
                                          : &c->routes[i - c->nlisteners].pol;
        const struct conf_src *src = l ? &c->listeners[i].src
                                       : &c->routes[i - c->nlisteners].src;
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", l ? "listeners" : "routes",
                 l ? i : i - c->nlisteners);
        if (p->nallow > 0 || p->ndeny > 0 || p->ndeny_rules > 0)
            not_yet(ctx, src, where, "allow/deny");
        if (p->cors != NULL)
            not_yet(ctx, src, where, "cors");
        if (p->request_headers || p->response_headers || p->rewrite ||
            p->query)
            not_yet(ctx, src, where, "header, path and query transformation");
    }
}
