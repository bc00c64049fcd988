/* http_parse: strict incremental HTTP/1.1 request-head parser (no I/O). */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

/* tchar per RFC 9110 5.6.2 */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

bool
http_str_ieq(struct http_str s, const char *lit)
{
    size_t l = strlen(lit);
    return s.len == l && strncasecmp(s.p, lit, l) == 0;
}

size_t
http_drop_underscored(struct http_request *req)
{
    size_t k = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        struct http_str n = req->headers[i].name;
        if (memchr(n.p, '_', n.len) != NULL)
            continue;
        req->headers[k++] = req->headers[i];
    }
    size_t gone = req->nheaders - k;
    req->nheaders = k;
    return gone;
}

const struct http_header *
http_header_find(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (http_str_ieq(req->headers[i].name, name))
            return &req->headers[i];
    return NULL;
}

bool
http_cookie_get(const struct http_request *req, const char *name,
           struct http_str *out)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < req->nheaders; i++) {
        if (!http_str_ieq(req->headers[i].name, "cookie"))
            continue;
        const char *p = req->headers[i].value.p;
        const char *end = p + req->headers[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';' || *p == '\t'))
                p++;
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *semi = memchr(p, ';', (size_t)(end - p));
            if (semi == NULL)
                semi = end;
            if (eq != NULL && eq < semi && (size_t)(eq - p) == nl &&
                memcmp(p, name, nl) == 0) {
                const char *v = eq + 1, *ve = semi;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                    v++;
                    ve--;
                }
                out->p = v;
                out->len = (size_t)(ve - v);
                return true;
            }
            p = semi;
        }
    }
    return false;
}

size_t
http_query_find(struct http_str q, const char *name, struct http_str *first)
{
    size_t n = 0, nl = strlen(name);

    if (q.p == NULL)
        return 0;
    const char *p = q.p, *end = q.p + q.len;
    if (p < end && *p == '?')
        p++;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (amp == NULL)
            amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        const char *ne = eq ? eq : amp;
        if ((size_t)(ne - p) == nl && memcmp(p, name, nl) == 0 &&
            n++ == 0 && first != NULL) {
            first->p = eq ? eq + 1 : amp;
            first->len = (size_t)(amp - first->p);
        }
        if (amp == end)
            break;
        p = amp + 1;
    }
    return n;
}

bool
http_query_get(struct http_str q, const char *name, struct http_str *out)
{
    return http_query_find(q, name, out) > 0;
}

/* name equals lit (lower case, '-' for the separators) in any case, an
 * '_' of name standing for a '-'. */
static bool
twin_eq(struct http_str name, const char *lit, size_t l)
{
    if (name.len != l)
        return false;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)name.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        else if (c == '_')
            c = '-';
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

bool
http_framing_name(struct http_str name)
{
    switch (name.len) {
    case 4:  return twin_eq(name, "host", 4);
    case 14: return twin_eq(name, "content-length", 14);
    case 17: return twin_eq(name, "transfer-encoding", 17);
    default: return false;
    }
}

const struct http_method_name http_methods[] = {
    { "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
    { "PUT", HTTP_PUT }, { "DELETE", HTTP_DELETE },
    { "OPTIONS", HTTP_OPTIONS }, { "PATCH", HTTP_PATCH },
    { "CONNECT", HTTP_CONNECT }, { "TRACE", HTTP_TRACE },
    { NULL, HTTP_OTHER }
};

static int
method_id(struct http_str m)
{
    for (size_t i = 0; http_methods[i].name != NULL; i++)
        if (m.len == strlen(http_methods[i].name) &&
            memcmp(m.p, http_methods[i].name, m.len) == 0)
            return http_methods[i].id;
    return HTTP_OTHER;
}

#define FAIL(st, msg) do { *status = (st); *why = (msg); \
                           return HTTP_PARSE_ERROR; } while (0)

/* Host header or authority: reg-name / IPv4 / [IPv6] with optional port. */
static bool
host_valid(struct http_str h)
{
    for (size_t i = 0; i < h.len; i++) {
        unsigned char c = (unsigned char)h.p[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
            !(c >= '0' && c <= '9') && !strchr("-._~!$&'()*+,;=:[]%", c))
            return false;
    }
    return true;
}

/* The authority of an absolute-form target (RFC 3986 3.2.2): a non-empty
 * reg-name, IPv4 or [IP-literal], then an optional ":" port of digits. */
static bool
authority_valid(struct http_str a)
{
    size_t i = 0;

    if (a.len > 0 && a.p[0] == '[') {
        for (i = 1; i < a.len && a.p[i] != ']'; i++) {
            unsigned char c = (unsigned char)a.p[i];
            if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') &&
                !(c >= 'A' && c <= 'F') && c != ':' && c != '.')
                return false;
        }
        if (i >= a.len || i == 1)
            return false;
        i++;
    } else {
        for (; i < a.len && a.p[i] != ':'; i++) {
            unsigned char c = (unsigned char)a.p[i];
            if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
                !(c >= '0' && c <= '9') && !strchr("-._~!$&'()*+,;=%", c))
                return false;
        }
        if (i == 0)
            return false;
    }
    if (i == a.len)
        return true;
    if (a.p[i] != ':')
        return false;
    for (i++; i < a.len; i++)
        if (a.p[i] < '0' || a.p[i] > '9')
            return false;
    return true;
}

static int
parse_content_length(struct http_str v, int64_t *out)
{
    /* "5" or an RFC 9110 8.6 list of identical values: "5, 5". */
    int64_t val = -1;
    size_t i = 0;

    while (i < v.len) {
        int64_t n = 0;
        size_t start = i;
        while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9') {
            if (n > (INT64_MAX - 9) / 10)
                return -1;
            n = n * 10 + (v.p[i] - '0');
            i++;
        }
        if (i == start)
            return -1;
        if (val >= 0 && n != val)
            return -1;
        val = n;
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
            i++;
        if (i < v.len) {
            if (v.p[i] != ',')
                return -1;
            i++;
            while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
                i++;
            if (i == v.len)
                return -1;
        }
    }
    if (val < 0)
        return -1;
    if (*out >= 0 && *out != val)
        return -1;
    *out = val;
    return 0;
}

/* Walks comma-separated tokens of a header value (OWS trimmed). */
static bool
next_token(struct http_str v, size_t *pos, struct http_str *tok)
{
    size_t i = *pos;

    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
        i++;
    if (i >= v.len)
        return false;
    size_t start = i;
    while (i < v.len && v.p[i] != ',')
        i++;
    size_t end = i;
    while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
        end--;
    tok->p = v.p + start;
    tok->len = end - start;
    *pos = i;
    return true;
}

int
http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
                   struct http_request *req, int *status, const char **why)
{
    const char *p = buf, *end = buf + len;
    int hosts = 0, te_count = 0;
    bool te_chunked_last = false, te_bad = false, te_unknown = false;

    /* RFC 9112 2.2: ignore empty lines before the request line. */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    if (p < end && p[0] == '\n')
        FAIL(400, "bare LF");
    const char *line = p;

    /* Wait for the whole head; its size limits apply meanwhile. */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL) {
        if ((size_t)(end - p) > lim->max_request_line)
            FAIL(414, "request line too long");
        if (len > lim->max_head)
            FAIL(431, "request head too large");
        return HTTP_PARSE_AGAIN;
    }
    if ((size_t)(eol - p) > lim->max_request_line)
        FAIL(414, "request line too long");
    {
        const char *q = eol;
        bool complete = false;
        while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
            q++;
            if (q < end && *q == '\n') {
                complete = true;
                break;
            }
            if (end - q >= 2 && q[0] == '\r' && q[1] == '\n') {
                complete = true;
                break;
            }
            if (end - q < 2)
                break;
        }
        if (!complete) {
            if (len > lim->max_head)
                FAIL(431, "request head too large");
            return HTTP_PARSE_AGAIN;
        }
        /* Complete in one read, but still over the limit. */
        if ((size_t)(q - buf) + (*q == '\n' ? 1 : 2) > lim->max_head)
            FAIL(431, "request head too large");
    }

    /* Everything but the (large) header array, which fills as it goes. */
    memset(req, 0, offsetof(struct http_request, headers));
    req->nheaders = 0;
    req->content_length = -1;
    req->chunked = false;
    req->conn_close = req->conn_keepalive = req->conn_upgrade = false;
    req->expect_continue = false;
    req->head_len = 0;

    /* method SP target SP version CRLF */
    const char *s = line;
    while (s < eol && tchar[(unsigned char)*s])
        s++;
    if (s == line || s >= eol || *s != ' ')
        FAIL(400, "invalid method");
    req->method.p = line;
    req->method.len = (size_t)(s - line);
    req->method_id = method_id(req->method);
    const char *t = ++s;
    while (s < eol && (unsigned char)*s > 0x20 && *s != 0x7f)
        s++;
    if (s == t || s >= eol || *s != ' ')
        FAIL(400, "invalid request target");
    req->target.p = t;
    req->target.len = (size_t)(s - t);
    const char *v = ++s;
    if (eol[-1] != '\r')
        FAIL(400, "bare LF");
    size_t vlen = (size_t)(eol - 1 - v);
    if (vlen == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
        req->version = 11;
    else if (vlen == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
        req->version = 10;
    /* 505 for other real versions; HTTP/0.9 never had a version field. */
    else if (vlen == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '1' &&
             v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9')
        FAIL(505, "unsupported HTTP version");
    else
        FAIL(400, "invalid HTTP version");

    /* Target forms (RFC 9112 3.2). */
    struct http_str authority = { NULL, 0 };
    if (t[0] == '/') {
        req->path = req->target;
    } else if (req->target.len == 1 && t[0] == '*') {
        if (req->method_id != HTTP_OPTIONS)
            FAIL(400, "asterisk-form is only for OPTIONS");
        req->path = req->target;
    } else if (req->method_id == HTTP_CONNECT) {
        /* authority-form is host:port and nothing else (RFC 9112 3.2.3). */
        if (!host_valid(req->target) || memchr(t, ':', req->target.len) == NULL)
            FAIL(400, "invalid authority in request target");
        authority = req->target;
        req->path = req->target;
    } else {
        size_t skip = 0;
        if (req->target.len > 7 && strncasecmp(t, "http://", 7) == 0)
            skip = 7;
        else if (req->target.len > 8 && strncasecmp(t, "https://", 8) == 0)
            skip = 8;
        else
            FAIL(400, "invalid request target");
        const char *a = t + skip, *te = t + req->target.len, *ae = a;
        while (ae < te && *ae != '/' && *ae != '?' && *ae != '#')
            ae++;
        authority.p = a;
        authority.len = (size_t)(ae - a);
        if (!authority_valid(authority))
            FAIL(400, "invalid authority in request target");
        req->path.p = ae < te && *ae == '/' ? ae : "/";
        req->path.len = ae < te && *ae == '/' ? (size_t)(te - ae) : 1;
        if (ae < te && *ae == '?') {
            req->path.p = "/";
            req->path.len = 1;
            req->query.p = ae + 1;
            req->query.len = (size_t)(te - ae - 1);
        }
    }
    if (req->path.p != req->target.p || req->query.p == NULL) {
        const char *qm = memchr(req->path.p, '?', req->path.len);
        if (qm != NULL) {
            req->query.p = qm + 1;
            req->query.len = req->path.len - (size_t)(qm + 1 - req->path.p);
            req->path.len = (size_t)(qm - req->path.p);
        }
    }
    /* Anywhere: in the query or after an authority too. */
    if (memchr(req->target.p, '#', req->target.len) != NULL)
        FAIL(400, "fragment in request target");

    /* Header fields. */
    p = eol + 1;
    for (;;) {
        if (p >= end)
            FAIL(400, "truncated head");    /* cannot happen: complete */
        if (*p == '\r') {
            if (end - p < 2 || p[1] != '\n')
                FAIL(400, "bare CR");
            p += 2;
            break;
        }
        if (*p == '\n')
            FAIL(400, "bare LF");
        if (*p == ' ' || *p == '\t')
            FAIL(400, "obsolete line folding");
        const char *n = p;
        while (p < end && tchar[(unsigned char)*p])
            p++;
        if (p >= end)
            FAIL(400, "truncated header");
        if (p == n)
            FAIL(400, "invalid header name");
        if (*p != ':')
            FAIL(400, *p == ' ' || *p == '\t' ?
                 "whitespace between header name and colon" :
                 "invalid character in header name");
        struct http_str name = { n, (size_t)(p - n) };
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *vs = p;
        /* Eight bytes at a time while none is a control character (CR
         * included) or DEL; the loop below judges the rest byte by byte. */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            const uint64_t ones = 0x0101010101010101ULL;
            const uint64_t high = 0x8080808080808080ULL;
            uint64_t y = x ^ (ones * 0x7f);
            if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & high)
                break;
            p += 8;
        }
        for (;;) {
            if (p >= end)
                FAIL(400, "truncated header");
            unsigned char c = (unsigned char)*p;
            if (c == '\r') {
                if (end - p < 2 || p[1] != '\n')
                    FAIL(400, "bare CR in header value");
                break;
            }
            if (c == '\n')
                FAIL(400, "bare LF");
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                FAIL(400, "invalid character in header value");
            p++;
        }
        const char *ve = p;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        struct http_str value = { vs, (size_t)(ve - vs) };
        p += 2;
        if (req->nheaders >= lim->max_headers ||
            req->nheaders >= HTTP_MAX_HEADERS)
            FAIL(431, "too many headers");
        req->headers[req->nheaders].name = name;
        req->headers[req->nheaders].value = value;
        req->nheaders++;

        /* A twin of a framing header, '_' for '-': a backend that maps
         * one to the other would frame the body differently. */
        if ((name.len == 14 || name.len == 17) &&
            memchr(name.p, '_', name.len) != NULL && http_framing_name(name))
            FAIL(400, "'_' in the name of a framing header");
        if (http_str_ieq(name, "host")) {
            if (++hosts > 1)
                FAIL(400, "more than one Host header");
            if (!host_valid(value))
                FAIL(400, "invalid Host header");
            req->host = value;
        } else if (http_str_ieq(name, "content-length")) {
            if (parse_content_length(value, &req->content_length) < 0)
                FAIL(400, "invalid or conflicting Content-Length");
        } else if (http_str_ieq(name, "transfer-encoding")) {
            struct http_str tok;
            size_t pos = 0;
            te_count++;
            if (value.len == 0)
                te_bad = true;
            while (next_token(value, &pos, &tok)) {
                if (te_chunked_last)
                    te_bad = true;      /* anything after chunked */
                if (http_str_ieq(tok, "chunked"))
                    te_chunked_last = true;
                else if (http_str_ieq(tok, "gzip") ||
                         http_str_ieq(tok, "deflate") ||
                         http_str_ieq(tok, "compress"))
                    te_unknown = true;
                else
                    te_bad = true;
            }
        } else if (http_str_ieq(name, "connection")) {
            struct http_str tok;
            size_t pos = 0;
            while (next_token(value, &pos, &tok)) {
                if (http_str_ieq(tok, "close"))
                    req->conn_close = true;
                else if (http_str_ieq(tok, "keep-alive"))
                    req->conn_keepalive = true;
                else if (http_str_ieq(tok, "upgrade"))
                    req->conn_upgrade = true;
            }
        } else if (http_str_ieq(name, "expect")) {
            if (!http_str_ieq(value, "100-continue"))
                FAIL(417, "unsupported expectation");
            req->expect_continue = true;
        }
    }
    req->head_len = (size_t)(p - buf);

    if (te_count > 0) {
        if (req->version == 10)
            FAIL(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (req->content_length >= 0)
            FAIL(400, "both Content-Length and Transfer-Encoding");
        if (te_bad || !te_chunked_last)
            FAIL(400, "invalid Transfer-Encoding");
        if (te_unknown)
            FAIL(501, "unsupported transfer coding");
        req->chunked = true;
    }
    if (req->version == 11 && hosts == 0)
        FAIL(400, "missing Host header");
    if (authority.p != NULL && req->method_id != HTTP_CONNECT) {
        if (hosts == 1 && (req->host.len != authority.len ||
                           strncasecmp(req->host.p, authority.p,
                                       authority.len) != 0))
            FAIL(400, "request target authority does not match Host");
        if (hosts == 0)
            req->host = authority;
    }
    if (req->version == 10 && !req->conn_keepalive)
        req->conn_close = true;
    return (int)req->head_len;
}

const char *
http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
        if (status < 200) return "Informational";
        if (status < 300) return "Success";
        if (status < 400) return "Redirection";
        if (status < 500) return "Client Error";
        return "Server Error";
    }
}
