/* route: pick the first route matching host, path, method and headers. */
#include "http.h"
#include "rx.h"

#include <string.h>
#include <strings.h>

static bool
host_matches(const char *pattern, struct http_str host)
{
    size_t hl = host.len;

    /* Compare without the port and without a trailing dot. */
    if (hl > 0 && host.p[0] != '[') {
        const char *colon = memchr(host.p, ':', hl);
        if (colon != NULL)
            hl = (size_t)(colon - host.p);
    } else if (hl > 0) {
        const char *rb = memchr(host.p, ']', hl);
        if (rb != NULL)
            hl = (size_t)(rb - host.p) + 1;
    }
    if (hl > 0 && host.p[hl - 1] == '.')
        hl--;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t sl = strlen(pattern + 1);          /* ".example.com" */
        return hl > sl && strncasecmp(host.p + hl - sl, pattern + 1, sl) == 0;
    }
    return strlen(pattern) == hl && strncasecmp(host.p, pattern, hl) == 0;
}

/* 1: a match, 0: none, -1: the pattern hit the regex limits. */
static int
regex_matches(struct worker *w, const struct rx *re, const char *s, size_t len)
{
    int rc = rx_match(re, s, len, w->match_data, "a refusal (400)");
    return rc > 0 ? 1 : rc;
}

const struct conf_route *
route_match(struct worker *w, const struct conf_listener *l,
            const struct http_request *req, const char *path, size_t plen,
            bool *refused)
{
    const struct conf *c = w->conf;

    *refused = false;
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct conf_route *r = &c->routes[i];
        if (!r->on_listener[l->index])
            continue;
        if (r->host != NULL && !host_matches(r->host, req->host))
            continue;
        if (r->path_prefix != NULL &&
            (plen < strlen(r->path_prefix) ||
             memcmp(path, r->path_prefix, strlen(r->path_prefix)) != 0))
            continue;
        if (r->path_exact != NULL && (plen != strlen(r->path_exact) ||
                                      memcmp(path, r->path_exact, plen) != 0))
            continue;
        if (r->path_re != NULL) {
            int m = regex_matches(w, r->path_re, path, plen);
            if (m < 0)
                goto refuse;
            if (m == 0)
                continue;
        }
        if (req->method_id == HTTP_CONNECT && r->nmethods == 0)
            continue;           /* only where the methods name it */
        if (r->nmethods > 0) {
            bool ok = false;
            for (size_t m = 0; m < r->nmethods && !ok; m++)
                ok = (req->method.len == strlen(r->methods[m]) &&
                      memcmp(req->method.p, r->methods[m],
                             req->method.len) == 0) ||
                     /* GET allows HEAD, as everywhere else. */
                     (req->method_id == HTTP_HEAD &&
                      strcmp(r->methods[m], "GET") == 0);
            if (!ok)
                continue;
        }
        bool hok = true;
        for (size_t h = 0; h < r->nheaders && hok; h++) {
            const struct http_header *hd = http_header_find(req,
                                                            r->headers[h].name);
            if (hd == NULL) {
                hok = false;
            } else if (r->header_re[h] != NULL) {
                int m = regex_matches(w, r->header_re[h], hd->value.p,
                                      hd->value.len);
                if (m < 0)
                    goto refuse;
                hok = m > 0;
            } else {
                hok = hd->value.len == strlen(r->headers[h].value) &&
                      memcmp(hd->value.p, r->headers[h].value,
                             hd->value.len) == 0;
            }
        }
        if (!hok)
            continue;
        return r;
    }
    return NULL;
refuse:
    /* Whether this route matches is unknown: a later one must not take
     * the request in its place. */
    *refused = true;
    return NULL;
}
