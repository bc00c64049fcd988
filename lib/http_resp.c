/* http_resp: strict HTTP/1.1 response-head parser (no I/O). */
#include "http_resp.h"

#include <string.h>
#include <strings.h>

#define FAIL(msg) do { *why = (msg); return -1; } while (0)

static bool
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Comma-separated tokens, OWS trimmed; false at the end. */
static bool
token_next(struct http_str v, size_t *pos, struct http_str *tok)
{
    size_t i = *pos;

    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
        i++;
    if (i >= v.len)
        return false;
    size_t s = i;
    while (i < v.len && v.p[i] != ',')
        i++;
    size_t e = i;
    while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
        e--;
    tok->p = v.p + s;
    tok->len = e - s;
    *pos = i;
    return true;
}

int
http_parse_response(const char *buf, size_t len, size_t max_head,
                    struct http_response *resp, const char **why)
{
    const char *end = buf + len, *p;
    bool complete = false;

    /* Wait for the blank line that ends the head. */
    for (p = buf; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; ) {
        p++;
        if (p < end && *p == '\n') {
            complete = true;
            break;
        }
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            complete = true;
            break;
        }
    }
    if (!complete) {
        if (len > max_head)
            FAIL("response head too large");
        return 0;
    }
    /* The blank line starts at p: a complete head is bounded too. */
    if ((size_t)(p - buf) + (*p == '\r' ? 2 : 1) > max_head)
        FAIL("response head too large");
    resp->nheaders = 0;
    resp->content_length = -1;
    resp->chunked = false;
    resp->conn_close = false;

    /* HTTP/1.x SP 3DIGIT SP reason CRLF */
    if (len < 14 || memcmp(buf, "HTTP/1.", 7) != 0 ||
        (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
        FAIL("invalid status line");
    resp->version = buf[7] == '1' ? 11 : 10;
    if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
        buf[11] < '0' || buf[11] > '9')
        FAIL("invalid status code");
    resp->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + buf[11] - '0';
    p = buf + 12;
    if (*p != ' ' && *p != '\r')
        FAIL("invalid status line");
    if (*p == ' ')
        p++;
    const char *r = p;
    while (p < end && *p != '\r' && *p != '\n') {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            FAIL("invalid character in the reason phrase");
        p++;
    }
    if (p + 1 >= end || p[0] != '\r' || p[1] != '\n')
        FAIL("bare LF or CR in the status line");
    resp->reason.p = r;
    resp->reason.len = (size_t)(p - r);
    p += 2;

    int te = 0;
    bool te_chunked_last = false;
    for (;;) {
        if (p >= end)
            FAIL("truncated response head");
        if (*p == '\r') {
            if (p + 1 >= end || p[1] != '\n')
                FAIL("bare CR");
            p += 2;
            break;
        }
        if (*p == '\n')
            FAIL("bare LF");
        if (*p == ' ' || *p == '\t')
            FAIL("obsolete line folding");
        const char *n = p;
        while (p < end && is_tchar((unsigned char)*p))
            p++;
        if (p == n || p >= end || *p != ':')
            FAIL("invalid header name");
        struct http_str name = { n, (size_t)(p - n) };
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *vs = p;
        while (p < end && *p != '\r' && *p != '\n') {
            unsigned char c = (unsigned char)*p;
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                FAIL("invalid character in a header value");
            p++;
        }
        if (p + 1 >= end || p[0] != '\r' || p[1] != '\n')
            FAIL("bare LF or CR in a header");
        const char *ve = p;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        struct http_str value = { vs, (size_t)(ve - vs) };
        p += 2;
        if (resp->nheaders >= HTTP_MAX_HEADERS)
            FAIL("too many headers");
        resp->headers[resp->nheaders].name = name;
        resp->headers[resp->nheaders].value = value;
        resp->nheaders++;
        if (http_str_ieq(name, "content-length")) {
            int64_t v = 0;
            if (value.len == 0 || value.len > 18)
                FAIL("invalid Content-Length");
            for (size_t i = 0; i < value.len; i++) {
                if (value.p[i] < '0' || value.p[i] > '9')
                    FAIL("invalid Content-Length");
                v = v * 10 + (value.p[i] - '0');
            }
            if (resp->content_length >= 0 && resp->content_length != v)
                FAIL("conflicting Content-Length");
            resp->content_length = v;
        } else if (http_str_ieq(name, "transfer-encoding")) {
            struct http_str tok;
            size_t pos = 0;
            te++;
            while (token_next(value, &pos, &tok))
                te_chunked_last = http_str_ieq(tok, "chunked");
        } else if (http_str_ieq(name, "connection")) {
            struct http_str tok;
            size_t pos = 0;
            while (token_next(value, &pos, &tok))
                if (http_str_ieq(tok, "close"))
                    resp->conn_close = true;
        }
    }
    resp->head_len = (size_t)(p - buf);
    if (te > 0) {
        if (resp->content_length >= 0)
            FAIL("both Content-Length and Transfer-Encoding");
        /* Not ending in chunked: the body runs to the close (RFC 9112 6.3). */
        resp->chunked = te_chunked_last;
    }
    if (resp->version == 10)
        resp->conn_close = true;    /* an HTTP/1.0 server: no reuse */
    return (int)resp->head_len;
}
