/* gw_http: access control, deny rules, CORS and transformations. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "gateway.h"
#include "http.h"
#include "rx.h"

/* ---- access: allow/deny lists, then deny rules ---- */

/* A pattern of a deny rule that hits the regex limits counts as a match:
 * a deny rule fails closed. */
static bool
re_match(struct gw *g, const struct rx *re, const char *s, size_t len)
{
    return rx_match(re, s, len, g->w->match_data,
                    "a match (deny rule, 403)") != 0;
}

/* A rule matches when every pattern it has matches: the path (the
 * normalised one routes matched, so percent-encoding cannot hide it), the
 * raw query, and the value of any line of the header. */
static bool
rule_matches(struct gw *g, const struct conf_deny_rule *d)
{
    if (d->path_re != NULL &&
        !re_match(g, d->path_re, g->req->path.p, g->req->path.len))
        return false;
    if (d->query_re != NULL &&
        !re_match(g, d->query_re, g->req->query.p, g->req->query.len))
        return false;
    if (d->value_re != NULL) {
        bool any = false;
        for (size_t i = 0; i < g->req->nheaders && !any; i++) {
            const struct http_header *h = &g->req->headers[i];
            any = http_str_ieq(h->name, d->header) &&
                  re_match(g, d->value_re, h->value.p, h->value.len);
        }
        if (!any)
            return false;
    }
    return true;
}

int
gw_access(struct gw *g)
{
    const struct cidr_acl *acl = GW_POL(g, access);

    if (acl != NULL &&
        cidr_acl_check(acl, &g->c->peer.sa) == CIDR_DENY) {
        char ip[ADDR_TEXT_MAX];
        addr_format_host(&g->c->peer, ip, sizeof(ip));
        return gw_refuse(g, 403, "access", "forbidden",
                         "client address %s denied", ip);
    }
    const struct conf_deny_rule *rules = GW_POL_LIST(g, deny_rules,
                                                     ndeny_rules);
    size_t n = GW_POL_N(g, ndeny_rules);
    for (size_t i = 0; i < n; i++)
        if (rule_matches(g, &rules[i]))
            return gw_refuse(g, 403, "access", "forbidden", "deny rule \"%s\"",
                             rules[i].name);
    return 0;
}

/* ---- CORS ---- */

static const struct http_header *
header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (http_str_ieq(req->headers[i].name, name))
            return &req->headers[i];
    return NULL;
}

static bool
origin_allowed(const struct conf_cors *cors, struct http_str o)
{
    for (size_t i = 0; i < cors->norigins; i++)
        if (strcmp(cors->origins[i], "*") == 0 ||
            (strlen(cors->origins[i]) == o.len &&
             strncasecmp(cors->origins[i], o.p, o.len) == 0))
            return true;
    return false;
}

/* "*" answers any origin with "*" (the configuration refuses it with
 * credentials, which the Fetch standard refuses with "*" and which
 * would otherwise mean reflecting every origin). */
static bool
any_origin(const struct conf_cors *cors)
{
    return !cors->credentials && cors->norigins == 1 &&
           strcmp(cors->origins[0], "*") == 0;
}

static void
header_list(struct gw *g, const char *name, char *const *v, size_t n)
{
    char line[768];
    size_t o = 0;

    for (size_t i = 0; i < n && o < sizeof(line); i++)
        o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s",
                              i ? ", " : "", v[i]);
    gw_header(g, "%s: %s", name, line);
}

/* A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 * answered here, 204, and never reaches the upstream.  An origin not in
 * the list gets the answer without any Access-Control-* header, so the
 * browser refuses the request (as Kong and the usual nginx recipes do);
 * methods and headers are listed and the browser checks them.  Other
 * requests from an allowed origin get their headers on the response. */
/* The request's Origin in g->keep.origin when cors allows it. */
static bool
cors_origin(struct gw *g, const struct conf_cors *cors)
{
    const struct http_header *o = header(g->req, "origin");
    bool allowed = o != NULL && o->value.len < sizeof(g->keep.origin) &&
                   origin_allowed(cors, o->value);

    /* "null" is never reflected: any page can send it.  (Only "*" without
     * credentials answers it, with "*".) */
    if (allowed && !any_origin(cors) && http_str_ieq(o->value, "null"))
        allowed = false;

    g->keep.origin[0] = '\0';
    if (allowed) {
        memcpy(g->keep.origin, o->value.p, o->value.len);
        g->keep.origin[o->value.len] = '\0';
    }
    return allowed;
}

/* The CORS headers of an actual response to an allowed origin, handed to
 * emit: on a proxied response as header edits, on a refusal as lines. */
typedef void cors_emit(void *to, const char *name, const char *value,
                       size_t vlen);

static void
cors_actual(const struct conf_cors *cors, const char *origin, cors_emit *emit,
            void *to)
{
    char v[768];
    size_t n = 0;
    const char *o = any_origin(cors) ? "*" : origin;

    emit(to, "Access-Control-Allow-Origin", o, strlen(o));
    if (cors->credentials)
        emit(to, "Access-Control-Allow-Credentials", "true", 4);
    for (size_t i = 0; i < cors->nexpose && n < sizeof(v); i++)
        n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s", i ? ", " : "",
                              cors->expose[i]);
    if (n > 0 && n < sizeof(v))
        emit(to, "Access-Control-Expose-Headers", v, n);
}

static void
emit_line(void *to, const char *name, const char *value, size_t vlen)
{
    gw_header(to, "%s: %.*s", name, (int)vlen, value);
}

static void
emit_edit(void *to, const char *name, const char *value, size_t vlen)
{
    gw_edit_add(to, name, value, vlen);
}

void
gw_cors_refusal(struct gw *g)
{
    const struct conf_cors *cors = GW_POL(g, cors);

    if (cors == NULL)
        return;
    gw_header(g, "Vary: Origin");
    if (cors_origin(g, cors))
        cors_actual(cors, g->keep.origin, emit_line, g);
}

int
gw_cors_preflight(struct gw *g)
{
    const struct conf_cors *cors = GW_POL(g, cors);
    const struct http_request *req = g->req;

    if (cors == NULL)
        return 0;
    g->keep.cors = cors;
    const struct http_header *o = header(req, "origin");
    bool allowed = cors_origin(g, cors);
    if (req->method_id != HTTP_OPTIONS || o == NULL ||
        header(req, "access-control-request-method") == NULL)
        return 0;
    g->status = 204;
    g->policy = NULL;
    gw_header(g, "Vary: Origin");
    if (!allowed)
        return 204;
    gw_header(g, "Access-Control-Allow-Origin: %s",
              any_origin(cors) ? "*" : g->keep.origin);
    if (cors->nmethods > 0) {
        header_list(g, "Access-Control-Allow-Methods", cors->methods,
                    cors->nmethods);
    } else {
        gw_header(g, "Access-Control-Allow-Methods: GET, HEAD, PUT, PATCH, "
                  "POST, DELETE");
    }
    const struct http_header *rh =
        header(req, "access-control-request-headers");
    if (cors->nheaders > 0)
        header_list(g, "Access-Control-Allow-Headers", cors->headers,
                    cors->nheaders);
    else if (rh != NULL && rh->value.len < 512)
        gw_header(g, "Access-Control-Allow-Headers: %.*s",
                  (int)rh->value.len, rh->value.p);
    if (cors->credentials)
        gw_header(g, "Access-Control-Allow-Credentials: true");
    gw_header(g, "Access-Control-Max-Age: %lld",
              (long long)(cors->max_age / 1000));
    return 204;
}

/* ---- transformations ---- */

/* Request headers: remove, rename, set, add, in that order. */
static void
request_headers(struct gw *g, const struct conf_headers *h)
{
    char v[1024];
    const struct http_request *req = g->req;

    for (size_t i = 0; i < h->nremove; i++)
        gw_edit_drop(&g->up, h->remove[i], strlen(h->remove[i]));
    for (size_t i = 0; i < h->nrename; i++) {
        const char *from = h->rename[i].name;
        for (size_t k = 0; k < req->nheaders; k++)
            if (http_str_ieq(req->headers[k].name, from))
                gw_edit_add(&g->up, h->rename[i].value,
                            req->headers[k].value.p,
                            req->headers[k].value.len);
        gw_edit_drop(&g->up, from, strlen(from));
    }
    for (size_t i = 0; i < h->nset; i++) {
        gw_edit_drop(&g->up, h->set[i].name, strlen(h->set[i].name));
        size_t n = gw_expand(g, h->set[i].value, v, sizeof(v));
        gw_edit_add(&g->up, h->set[i].name, v, n);
    }
    for (size_t i = 0; i < h->nadd; i++) {
        size_t n = gw_expand(g, h->add[i].value, v, sizeof(v));
        gw_edit_add(&g->up, h->add[i].name, v, n);
    }
}

/* Appends to a bounded buffer; false when it does not fit. */
static bool
put(char *b, size_t cap, size_t *n, const char *p, size_t len)
{
    if (len > cap - *n)
        return false;
    memcpy(b + *n, p, len);
    *n += len;
    return true;
}

/* The rewrite's replacement with $1..$9, ${name} and $$ from the match of
 * the path. */
static bool
expand_replace(struct gw *g, const struct conf_rewrite *rw, int rc,
               char *b, size_t cap, size_t *n)
{
    const char *path = g->req->path.p;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(g->w->match_data);
    const char *r = rw->replace;

    while (*r) {
        int k = -1;
        if (r[0] == '$' && r[1] >= '1' && r[1] <= '9') {
            k = r[1] - '0';
            r += 2;
        } else if (r[0] == '$' && r[1] == '{' && strchr(r, '}') != NULL) {
            char name[64];
            const char *e = strchr(r, '}');
            snprintf(name, sizeof(name), "%.*s", (int)(e - r - 2), r + 2);
            k = pcre2_substring_number_from_name(rw->re->code,
                                                 (PCRE2_SPTR)name);
            r = e + 1;
        } else if (r[0] == '$' && r[1] == '$') {
            r += 2;
            if (!put(b, cap, n, "$", 1))
                return false;
            continue;
        } else {
            if (!put(b, cap, n, r++, 1))
                return false;
            continue;
        }
        /* an unset group (or one past the match) is empty */
        if (k > 0 && k < rc && ov[2 * k] != PCRE2_UNSET &&
            !put(b, cap, n, path + ov[2 * k], ov[2 * k + 1] - ov[2 * k]))
            return false;
    }
    return true;
}

/* A query value: expanded, then percent-encoded but for the unreserved
 * characters. */
static bool
put_encoded(char *b, size_t cap, size_t *n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            if (!put(b, cap, n, s, 1))
                return false;
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            if (!put(b, cap, n, e, 3))
                return false;
        }
    }
    return true;
}

static bool
query_named(const struct conf_query *q, const char *k, size_t kl)
{
    for (size_t i = 0; i < q->nremove; i++)
        if (strlen(q->remove[i]) == kl && memcmp(q->remove[i], k, kl) == 0)
            return true;
    for (size_t i = 0; i < q->nset; i++)
        if (strlen(q->set[i].name) == kl && memcmp(q->set[i].name, k, kl) == 0)
            return true;
    return false;
}

/* The query with q's parameters removed and set (set ones at the end). */
static bool
edit_query(struct gw *g, const struct conf_query *q, const char *qs,
           size_t ql, char *b, size_t cap, size_t *n)
{
    const char *p = qs, *end = qs + ql;
    bool first = true;

    while (qs != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        size_t kl = (size_t)((eq ? eq : e) - p);
        if (e > p && !query_named(q, p, kl)) {
            if ((!first && !put(b, cap, n, "&", 1)) ||
                !put(b, cap, n, p, (size_t)(e - p)))
                return false;
            first = false;
        }
        p = e + 1;
    }
    for (size_t i = 0; i < q->nset; i++) {
        char v[1024];
        gw_expand(g, q->set[i].value, v, sizeof(v));
        if ((!first && !put(b, cap, n, "&", 1)) ||
            !put(b, cap, n, q->set[i].name, strlen(q->set[i].name)) ||
            !put(b, cap, n, "=", 1) || !put_encoded(b, cap, n, v))
            return false;
        first = false;
    }
    return true;
}

/* rewrite, then query: the target sent upstream. */
static int
rewrite_target(struct gw *g, const struct conf_rewrite *rw,
               const struct conf_query *q)
{
    const struct http_request *req = g->req;
    char *t = g->target;
    const size_t cap = sizeof(g->target);
    size_t n = 0, plen;
    const char *qs = req->query.p;
    size_t ql = req->query.len;
    bool rewritten = false, fits = true;

    if (req->path.len == 0 || req->path.p[0] != '/')
        return 0;               /* "*" or an authority: nothing to rewrite */
    if (rw != NULL) {
        /* the normalised path: what was matched is what is rewritten */
        int rc = rx_match(rw->re, req->path.p, req->path.len,
                          g->w->match_data, "a refusal (400, rewrite)");
        if (rc < 0)
            return gw_refuse(g, 400, "transform", "bad request",
                             "rewrite.pattern hit the regex limits");
        if (rc > 0) {
            fits = expand_replace(g, rw, rc, t, cap, &n);
            rewritten = true;
        }
    }
    if (!rewritten && q == NULL)
        return 0;
    if (!rewritten)
        fits = put(t, cap, &n, req->path.p, req->path.len);
    plen = n;
    const char *qm = rewritten && fits ? memchr(t, '?', n) : NULL;
    if (qm != NULL) {                   /* the replacement's query wins */
        plen = (size_t)(qm - t);
        qs = qm + 1;
        ql = n - plen - 1;
    }
    if (fits && q != NULL) {
        char nq[4096];
        size_t nl = 0;
        fits = edit_query(g, q, qs, ql, nq, sizeof(nq), &nl);
        n = plen;
        if (fits && nl > 0)
            fits = put(t, cap, &n, "?", 1) && put(t, cap, &n, nq, nl);
    } else if (fits && qm == NULL && qs != NULL) {
        fits = put(t, cap, &n, "?", 1) && put(t, cap, &n, qs, ql);
    }
    if (!fits)
        return gw_refuse(g, 500, "transform", "internal",
                         "the rewritten target does not fit");
    if (n == 0 || t[0] != '/')
        return gw_refuse(g, 500, "transform", "internal",
                         "the rewritten target does not start with /");
    g->target_len = n;
    g->target_set = true;
    return 0;
}

int
gw_transform(struct gw *g)
{
    const struct conf_headers *h = GW_POL(g, request_headers);

    if (h != NULL)
        request_headers(g, h);
    return rewrite_target(g, GW_POL(g, rewrite), GW_POL(g, query));
}

/* A response header value: $consumer is the only variable a response
 * knows (the config refuses the others there). */
bool
gw_response_vars(struct gw *g)
{
    const struct conf_headers *h = g->keep.response_headers;
    size_t o = 0;

    g->keep.rvals[0] = '\0';
    if (h == NULL)
        return true;
    for (size_t i = 0; i < h->nset + h->nadd; i++) {
        const char *v = i < h->nset ? h->set[i].value : h->add[i - h->nset].value;
        if (strchr(v, '$') == NULL)
            continue;
        size_t room = sizeof(g->keep.rvals) - o;
        size_t n = gw_expand(g, v, g->keep.rvals + o, room);
        if (n + 1 >= room)
            return false;
        o += n + 1;
    }
    return true;
}

void
gw_response(const struct gw_keep *k, const struct http_response *resp,
            struct gw_edit *e)
{
    const struct conf_headers *h = k->response_headers;
    char v[1024];

    if (k->rl_set) {
        static const char *const names[] = {
            "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"
        };
        static const size_t lens[] = { 15, 19, 15 };
        const int64_t vals[3] = { k->rl_limit, k->rl_left, k->rl_reset };
        for (size_t i = 0; i < 3; i++) {
            /* decimal digits, without printf on every proxied response */
            char *end = v + 24, *p = end;
            uint64_t x = vals[i] > 0 ? (uint64_t)vals[i] : 0;
            do {
                *--p = (char)('0' + x % 10);
                x /= 10;
            } while (x != 0);
            gw_edit_drop(e, names[i], lens[i]);
            gw_edit_add(e, names[i], p, (size_t)(end - p));
        }
    }

    if (k->cors != NULL) {
        static const char *const own[] = {
            "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
            "Access-Control-Expose-Headers"
        };
        for (size_t i = 0; i < 3; i++)
            gw_edit_drop(e, own[i], strlen(own[i]));
        gw_edit_add(e, "Vary", "Origin", 6);
    }
    if (k->cors != NULL && k->origin[0])
        cors_actual(k->cors, k->origin, emit_edit, e);
    if (h == NULL)
        return;
    /* remove, rename, set, add: as on the request */
    for (size_t i = 0; i < h->nremove; i++)
        gw_edit_drop(e, h->remove[i], strlen(h->remove[i]));
    for (size_t i = 0; i < h->nrename; i++) {
        const char *from = h->rename[i].name;
        for (size_t k2 = 0; k2 < resp->nheaders; k2++)
            if (http_str_ieq(resp->headers[k2].name, from))
                gw_edit_add(e, h->rename[i].value, resp->headers[k2].value.p,
                            resp->headers[k2].value.len);
        gw_edit_drop(e, from, strlen(from));
    }
    const char *rv = k->rvals;
    for (size_t i = 0; i < h->nset + h->nadd; i++) {
        const struct conf_kv *kv = i < h->nset ? &h->set[i] : &h->add[i - h->nset];
        const char *val = kv->value;
        if (strchr(val, '$') != NULL) {
            val = rv;
            rv += strlen(rv) + 1;
        }
        if (i < h->nset)
            gw_edit_drop(e, kv->name, strlen(kv->name));
        gw_edit_add(e, kv->name, val, strlen(val));
    }
}
