/* http_resp: the strict response-head parser every upstream byte goes
 * through. */
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"
#include "tap.h"

#define MAX_HEAD 1024

/* A copy of exactly len bytes on the heap: ASan sees any read past it.
 * Checks that every string of a parsed head lies inside it, then rebases
 * the pointers onto s. */
static int inside_bad;

static int
inside(struct http_str v, const char *base, size_t len)
{
    return v.p != NULL && v.p >= base && v.len <= len &&
           v.p + v.len <= base + len;
}

static int
parse_n(const char *s, size_t len, size_t max_head, struct http_response *resp,
        const char **why)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    *why = NULL;
    int r = http_parse_response(copy, len, max_head, resp, why);
    inside_bad = 0;
    if (r > 0) {
        if (!inside(resp->reason, copy, (size_t)r))
            inside_bad = 1;
        else
            resp->reason.p = s + (resp->reason.p - copy);
        for (size_t i = 0; i < resp->nheaders; i++) {
            struct http_header *h = &resp->headers[i];
            if (!inside(h->name, copy, (size_t)r) ||
                !inside(h->value, copy, (size_t)r)) {
                inside_bad = 1;
                continue;
            }
            h->name.p = s + (h->name.p - copy);
            h->value.p = s + (h->value.p - copy);
        }
    }
    free(copy);
    return r;
}

static int
parse(const char *s, struct http_response *resp, const char **why)
{
    return parse_n(s, strlen(s), MAX_HEAD, resp, why);
}

static int
str_is(struct http_str s, const char *want)
{
    return s.p != NULL && s.len == strlen(want) &&
           memcmp(s.p, want, s.len) == 0;
}

/* Every proper prefix of the head is 0, the head and anything longer gives
 * want_r; for an error (want_r -1), prefixes are 0 or -1. */
static int
incremental(const char *s, size_t len, size_t max_head, int want_r)
{
    struct http_response resp;
    const char *why;

    for (size_t k = 0; k <= len; k++) {
        int r = parse_n(s, k, max_head, &resp, &why);
        if (inside_bad) {
            diag("prefix %zu of %zu: a string outside the head", k, len);
            return 0;
        }
        if (r == 0 && (want_r < 0 || k < (size_t)want_r))
            continue;
        if (r == -1 && want_r == -1 && why != NULL)
            continue;
        if (want_r > 0 && k >= (size_t)want_r && r == want_r)
            continue;
        diag("prefix %zu of %zu: returned %d (%s)", k, len, r,
             why ? why : "");
        return 0;
    }
    return 1;
}

/* A valid head, s followed by rest_len bytes that are not part of it. */
static int
accept_rest(const char *s, size_t rest_len, struct http_response *resp,
            const char *name)
{
    const char *why;
    size_t len = strlen(s);
    int want = (int)(len - rest_len);
    int r = parse(s, resp, &why);

    if (!ok(r == want && resp->head_len == (size_t)want && !inside_bad,
            "%s", name)) {
        diag("returned %d (%s), want %d", r, why ? why : "", want);
        return 0;
    }
    ok(incremental(s, len, MAX_HEAD, want),
       "  every prefix incomplete, then the same length");
    /* The pointers are rebased onto s: parse again for the caller. */
    return parse(s, resp, &why) == want;
}

static int
accept(const char *s, struct http_response *resp, const char *name)
{
    return accept_rest(s, 0, resp, name);
}

/* ---- valid heads ----------------------------------------------------- */

static void
test_valid(void)
{
    struct http_response resp;
    const char *why;

    if (accept_rest("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                    "Content-Type: text/plain\r\nX-Empty:\r\n"
                    "X-Ows: \t v \t\r\n\r\nhello", 5, &resp,
                    "200 with Content-Length, body not included")) {
        ok(resp.version == 11 && resp.status == 200 &&
           str_is(resp.reason, "OK"), "  version, status, reason");
        ok(resp.content_length == 5 && !resp.chunked && !resp.conn_close,
           "  length 5, persistent");
        is_int(resp.nheaders, 4, "  4 headers");
        ok(str_is(resp.headers[0].name, "Content-Length") &&
           str_is(resp.headers[0].value, "5") &&
           str_is(resp.headers[1].name, "Content-Type") &&
           str_is(resp.headers[1].value, "text/plain"), "  names and values");
        ok(str_is(resp.headers[2].value, "") &&
           str_is(resp.headers[3].value, "v"),
           "  an empty value; OWS around a value trimmed");
    }
    if (accept("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &resp,
               "chunked"))
        ok(resp.chunked && resp.content_length == -1, "  chunked, no length");
    if (accept("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n",
               &resp, "gzip, chunked (names and codings ignore case)"))
        ok(resp.chunked, "  chunked");
    if (accept("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
               "Transfer-Encoding: chunked\r\n\r\n", &resp,
               "gzip then chunked in two headers"))
        ok(resp.chunked, "  chunked");
    if (accept("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
               &resp, "chunked, gzip"))
        ok(!resp.chunked && resp.content_length == -1,
           "  not chunked last: read to the close");
    if (accept("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", &resp, "no length"))
        ok(!resp.chunked && resp.content_length == -1 && !resp.conn_close,
           "  neither length nor chunked");
    if (accept("HTTP/1.1 204 No Content\r\n\r\n", &resp, "204"))
        ok(resp.status == 204 && str_is(resp.reason, "No Content") &&
           resp.nheaders == 0 && resp.content_length == -1, "  status 204");
    if (accept("HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n", &resp,
               "304"))
        ok(resp.status == 304 && str_is(resp.headers[0].value, "\"abc\""),
           "  status 304, ETag");
    if (accept("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n\r\n", &resp, "101 with Upgrade"))
        ok(resp.status == 101 && !resp.conn_close && resp.nheaders == 2 &&
           str_is(resp.headers[0].name, "Upgrade") &&
           str_is(resp.headers[0].value, "websocket"), "  status 101");

    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t first = strlen("HTTP/1.1 100 Continue\r\n\r\n");
    if (accept_rest(cont, strlen(cont) - first, &resp,
                    "100 Continue, then the final response"))
        ok(resp.status == 100 && str_is(resp.reason, "Continue") &&
           resp.nheaders == 0, "  status 100");
    int r = parse(cont + first, &resp, &why);
    ok(r == (int)(strlen(cont + first) - 2) && resp.status == 200 &&
       resp.content_length == 2, "  the rest parses as the 200");

    if (accept("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &resp,
               "HTTP/1.0"))
        ok(resp.version == 10 && resp.conn_close && resp.content_length == 0,
           "  version 10, the connection closes");
    if (accept("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", &resp,
               "HTTP/1.0 with keep-alive"))
        ok(resp.conn_close, "  closes all the same");
    if (accept("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n\r\n",
               &resp, "Connection: keep-alive, Close"))
        ok(resp.conn_close, "  close, case-insensitive, in a list");
    if (accept("HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", &resp,
               "Connection: closed"))
        ok(!resp.conn_close, "  is not close");

    if (accept("HTTP/1.1 200 \r\n\r\n", &resp, "empty reason after a space"))
        ok(resp.status == 200 && str_is(resp.reason, ""), "  empty reason");
    if (accept("HTTP/1.1 200\r\n\r\n", &resp, "no reason, no space"))
        ok(resp.status == 200 && str_is(resp.reason, ""), "  empty reason");
    if (accept("HTTP/1.1 404 Not  Found\there \r\n\r\n", &resp,
               "reason with spaces and a tab"))
        ok(resp.status == 404 && str_is(resp.reason, "Not  Found\there "),
           "  reason kept as is");
    if (accept("HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\n\r\n", &resp,
               "reason with obs-text"))
        ok(str_is(resp.reason, "\xc3\xa9t\xc3\xa9"), "  reason");
    if (accept("HTTP/1.1 599 Custom\r\n\r\n", &resp, "status 599"))
        ok(resp.status == 599, "  599");

    if (accept("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX: y\r\n"
               "content-length: 7\r\n\r\n", &resp,
               "repeated identical Content-Length"))
        ok(resp.content_length == 7 && resp.nheaders == 3, "  length 7");
    if (accept("HTTP/1.1 200 OK\r\nContent-Length: 000\r\n\r\n", &resp,
               "Content-Length: 000"))
        ok(resp.content_length == 0, "  length 0");
    if (accept("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n",
               &resp, "18-digit Content-Length"))
        ok(resp.content_length == 999999999999999999LL, "  the value");
    if (accept("HTTP/1.1 200 OK\r\nX!#$%&'*+-.^_`|~09az: v\r\n\r\n", &resp,
               "every tchar in a name"))
        ok(resp.nheaders == 1, "  one header");

    /* Flags never leak from what was in the struct before. */
    memset(&resp, 0xff, sizeof(resp));
    r = parse("HTTP/1.1 200 OK\r\n\r\n", &resp, &why);
    ok(r == 19 && !resp.chunked && !resp.conn_close &&
       resp.content_length == -1 && resp.nheaders == 0,
       "every field is reset, whatever the struct held");

    /* Exactly HTTP_MAX_HEADERS headers. */
    char *big = malloc(64 * (HTTP_MAX_HEADERS + 2));
    size_t off = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        off += (size_t)sprintf(big + off, "X%d: %d\r\n", i, i);
    memcpy(big + off, "\r\n", 3);
    r = parse_n(big, off + 2, 1 << 20, &resp, &why);
    ok(r == (int)(off + 2) && resp.nheaders == HTTP_MAX_HEADERS,
       "exactly HTTP_MAX_HEADERS headers");

    /* A head of exactly max_head bytes, with more bytes after it. */
    memcpy(big + off, "\r\nbody", 7);
    r = parse_n(big, off + 6, off + 2, &resp, &why);
    ok(r == (int)(off + 2), "a head of exactly max_head bytes, a body after");
    free(big);
}

/* ---- rejections ------------------------------------------------------ */

static void
reject_n(const char *s, size_t len, size_t max_head, const char *name)
{
    struct http_response resp;
    const char *why;

    int r = parse_n(s, len, max_head, &resp, &why);
    if (!ok(r == -1 && why != NULL, "%s", name))
        diag("returned %d", r);
    else
        ok(incremental(s, len, max_head, -1),
           "  prefixes are incomplete or the same error");
}

static void
reject(const char *s, const char *name)
{
    reject_n(s, strlen(s), MAX_HEAD, name);
}

#define S "HTTP/1.1 200 OK\r\n"

static void
test_framing(void)
{
    reject(S "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           "both Content-Length and Transfer-Encoding");
    reject(S "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
           "both, the other order");
    reject(S "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
           "Content-Length with a Transfer-Encoding that is not chunked");
    reject(S "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
           "two different Content-Length headers");
    reject(S "Content-Length: 5, 6\r\n\r\n", "Content-Length: 5, 6");
    reject(S "Content-Length: 5, 5\r\n\r\n",
           "Content-Length: 5, 5 (no lists in a response)");
    reject(S "Content-Length: abc\r\n\r\n", "non-digit Content-Length");
    reject(S "Content-Length: 5a\r\n\r\n", "Content-Length: 5a");
    reject(S "Content-Length: -1\r\n\r\n", "negative Content-Length");
    reject(S "Content-Length: +5\r\n\r\n", "Content-Length with a sign");
    reject(S "Content-Length: 0x10\r\n\r\n", "hex Content-Length");
    reject(S "Content-Length: 5 5\r\n\r\n", "Content-Length: 5 5");
    reject(S "Content-Length:\r\n\r\n", "empty Content-Length");
    reject(S "Content-Length: 99999999999999999999\r\n\r\n",
           "Content-Length overflow");
    reject(S "Content-Length: 9223372036854775808\r\n\r\n",
           "Content-Length of 2^63");
    reject(S "Content-Length: 18446744073709551621\r\n\r\n",
           "Content-Length of 2^64 + 5");
}

static void
test_syntax(void)
{
    reject("HTTP/2 200 OK\r\n\r\n", "HTTP/2");
    reject("HTTP/2.0 200 OK\r\n\r\n", "HTTP/2.0");
    reject("HTTP/1.2 200 OK\r\n\r\n", "HTTP/1.2");
    reject("HTTP/1.10 200 OK\r\n\r\n", "HTTP/1.10");
    reject("http/1.1 200 OK\r\n\r\n", "lowercase http");
    reject("ICY 200 OK\r\n\r\n", "ICY");
    reject("HTTP/1.1 20 OK\r\n\r\n", "a two-digit status");
    reject("HTTP/1.1 2000 OK\r\n\r\n", "a four-digit status");
    reject("HTTP/1.1 099 OK\r\n\r\n", "status 099");
    reject("HTTP/1.1 600 OK\r\n\r\n", "status 600");
    reject("HTTP/1.1 2x0 OK\r\n\r\n", "a letter in the status");
    reject("HTTP/1.1  200 OK\r\n\r\n", "two spaces before the status");
    reject("HTTP/1.1 200OK\r\n\r\n", "no space after the status");
    reject("HTTP/1.1\t200 OK\r\n\r\n", "a tab before the status");
    reject(" HTTP/1.1 200 OK\r\n\r\n", "a leading space");
    reject("\r\nHTTP/1.1 200 OK\r\n\r\n", "a leading empty line");
    reject("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "obs-fold (space)");
    reject("HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n", "obs-fold (tab)");
    reject("HTTP/1.1 200 OK\r\n A: b\r\n\r\n", "space before the first header");
    reject("HTTP/1.1 200 OK\nA: b\r\n\r\n", "bare LF after the status line");
    reject("HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n", "bare LF after a value");
    reject("HTTP/1.1 200 OK\r\nA: b\r\n\n", "bare LF ending the head");
    reject("HTTP/1.1 200 OK\n\n", "LF LF");
    reject("HTTP/1.1 200 OK\rX\r\n\r\n", "bare CR in the status line");
    reject("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "bare CR in a value");
    reject("HTTP/1.1 200 OK\r\nA: b\r\n\rX\r\n\r\n", "bare CR starting a line");
    reject("HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n", "CR CR LF");
    reject(S "A B: c\r\n\r\n", "a space in a header name");
    reject(S "A : c\r\n\r\n", "a space before the colon");
    reject(S ": c\r\n\r\n", "an empty header name");
    reject(S "A(B): c\r\n\r\n", "an invalid header name character");
    reject(S "A\x80: c\r\n\r\n", "a non-ASCII header name");
    reject(S "NoColon\r\n\r\n", "a line without a colon");
    reject(S "A: b\x7f\r\n\r\n", "DEL in a value");
    reject(S "A: b\x01\r\n\r\n", "a control character in a value");
    reject("HTTP/1.1 200 O\x01K\r\n\r\n", "a control character in the reason");

    static const char nul_value[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
    reject_n(nul_value, sizeof(nul_value) - 1, MAX_HEAD, "NUL in a value");
    static const char nul_name[] = "HTTP/1.1 200 OK\r\nA\0B: c\r\n\r\n";
    reject_n(nul_name, sizeof(nul_name) - 1, MAX_HEAD, "NUL in a name");
    static const char nul_reason[] = "HTTP/1.1 200 O\0K\r\n\r\n";
    reject_n(nul_reason, sizeof(nul_reason) - 1, MAX_HEAD,
             "NUL in the reason");
    static const char nul_status[] = "HTTP/1.1 2\0\0 OK\r\n\r\n";
    reject_n(nul_status, sizeof(nul_status) - 1, MAX_HEAD,
             "NUL in the status");
}

static void
test_limits(void)
{
    struct http_response resp;
    const char *why;
    int r;

    /* More than HTTP_MAX_HEADERS headers, whatever max_head. */
    char *big = malloc(64 * (HTTP_MAX_HEADERS + 2));
    size_t off = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        off += (size_t)sprintf(big + off, "X%d: %d\r\n", i, i);
    memcpy(big + off, "\r\n", 3);
    reject_n(big, off + 2, 1 << 20, "more than HTTP_MAX_HEADERS headers");

    /* A complete, otherwise valid head larger than max_head. */
    off = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 50; i++)
        off += (size_t)sprintf(big + off, "X%d: %d\r\n", i, i);
    memcpy(big + off, "\r\n", 3);
    r = parse_n(big, off + 2, off + 2, &resp, &why);
    ok(r == (int)(off + 2), "the head itself is valid");
    reject_n(big, off + 2, off + 1, "a complete head one byte over max_head");
    reject_n(big, off + 2, 100, "a complete head far over max_head");

    /* An incomplete head over max_head. */
    reject_n(big, off, off - 1, "an incomplete head over max_head");
    r = parse_n(big, off, off, &resp, &why);
    ok(r == 0, "an incomplete head of exactly max_head: incomplete");
    free(big);

    /* Incomplete input of any size up to max_head is just incomplete. */
    const char *s = "HTTP/1.1 200 OK\r\nA: b\r\n\r";
    r = parse_n(s, strlen(s), strlen(s), &resp, &why);
    ok(r == 0, "incomplete within max_head: 0");
    r = parse_n("", 0, MAX_HEAD, &resp, &why);
    ok(r == 0, "empty input: 0");
    r = parse_n("\n", 1, MAX_HEAD, &resp, &why);
    ok(r == 0, "a lone LF: 0");
}

int
main(void)
{
    test_valid();
    test_framing();
    test_syntax();
    test_limits();
    return done_testing();
}
