/* http_parse: the strict request-head parser every client byte goes through. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "tap.h"

static const struct http_limits lim = {
    .max_request_line = 256,
    .max_head = 1024,
    .max_headers = 20,
};

/* A copy of exactly len bytes on the heap: ASan sees any read past it. */
static int
parse_n(const char *s, size_t len, const struct http_limits *l,
        struct http_request *req, int *status, const char **why)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    *status = 0;
    *why = NULL;
    int r = http_parse_request(copy, len, l, req, status, why);
    /* Keep the pointers meaningful for the caller: rebase them. */
    if (r > 0) {
        struct http_str *strs[] = { &req->method, &req->target, &req->path,
                                    &req->query, &req->host };
        for (size_t i = 0; i < 5; i++)
            if (strs[i]->p >= copy && strs[i]->p <= copy + len)
                strs[i]->p = s + (strs[i]->p - copy);
        for (size_t i = 0; i < req->nheaders; i++) {
            req->headers[i].name.p = s + (req->headers[i].name.p - copy);
            req->headers[i].value.p = s + (req->headers[i].value.p - copy);
        }
    }
    free(copy);
    return r;
}

static int
parse(const char *s, struct http_request *req, int *status, const char **why)
{
    return parse_n(s, strlen(s), &lim, req, status, why);
}

static int
str_is(struct http_str s, const char *want)
{
    if (want == NULL)
        return s.p == NULL && s.len == 0;
    return s.p != NULL && s.len == strlen(want) &&
           memcmp(s.p, want, s.len) == 0;
}

/* Every prefix is AGAIN (or the same error), the whole gives r again. */
static int
incremental(const char *s, size_t len, const struct http_limits *l,
            int want_r, int want_status)
{
    struct http_request req;
    int status;
    const char *why;

    for (size_t k = 0; k <= len; k++) {
        int r = parse_n(s, k, l, &req, &status, &why);
        if (r == HTTP_PARSE_AGAIN && (want_r < 0 || k < (size_t)want_r))
            continue;
        if (r == HTTP_PARSE_ERROR && want_r == HTTP_PARSE_ERROR &&
            status == want_status)
            continue;
        if (want_r > 0 && k >= (size_t)want_r && r == want_r)
            continue;
        diag("prefix %zu of %zu: returned %d, status %d (%s)", k, len, r,
             status, why ? why : "");
        return 0;
    }
    return 1;
}

/* ---- valid requests -------------------------------------------------- */

static void
test_get(void)
{
    struct http_request req;
    int status;
    const char *why;
    const char *s = "GET /index.html?a=1&b=2 HTTP/1.1\r\n"
                    "Host: www.example.com\r\n"
                    "User-Agent: test/1.0\r\n"
                    "Accept:   */*  \r\n"
                    "X-Empty:\r\n"
                    "x-tab:\tv\t\r\n"
                    "\r\n";

    int r = parse(s, &req, &status, &why);
    is_int(r, strlen(s), "GET: returns the head length");
    is_int(req.head_len, strlen(s), "head_len too");
    ok(str_is(req.method, "GET") && req.method_id == HTTP_GET, "method GET");
    ok(str_is(req.target, "/index.html?a=1&b=2"), "target");
    ok(str_is(req.path, "/index.html"), "path without the query");
    ok(str_is(req.query, "a=1&b=2"), "query");
    ok(str_is(req.host, "www.example.com"), "host");
    is_int(req.version, 11, "version 11");
    is_int(req.nheaders, 5, "5 headers");
    ok(str_is(req.headers[2].name, "Accept") &&
       str_is(req.headers[2].value, "*/*"), "value without surrounding OWS");
    ok(str_is(req.headers[3].value, ""), "an empty value");
    ok(str_is(req.headers[4].value, "v"), "tabs are OWS");
    const struct http_header *h = http_header_find(&req, "user-agent");
    ok(h != NULL && str_is(h->value, "test/1.0"),
       "http_header_find is case-insensitive");
    ok(http_header_find(&req, "Cookie") == NULL, "absent header: NULL");
    ok(req.content_length == -1 && !req.chunked && !req.conn_close &&
       !req.conn_keepalive && !req.conn_upgrade && !req.expect_continue,
       "no body, persistent by default");
    ok(incremental(s, strlen(s), &lim, r, 0),
       "every prefix is AGAIN, then the same result");

    /* Other methods and ids. */
    static const struct { const char *m; int id; } methods[] = {
        { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST }, { "PUT", HTTP_PUT },
        { "DELETE", HTTP_DELETE }, { "PATCH", HTTP_PATCH },
        { "TRACE", HTTP_TRACE }, { "PROPFIND", HTTP_OTHER },
        { "get", HTTP_OTHER },
    };
    int good = 1;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n",
                 methods[i].m);
        if (parse(buf, &req, &status, &why) <= 0 ||
            req.method_id != methods[i].id || !str_is(req.method, methods[i].m))
            good = 0;
    }
    ok(good, "method ids (methods are case-sensitive)");
}

static void
test_bodies(void)
{
    struct http_request req;
    int status;
    const char *why;
    const char *post = "POST /submit HTTP/1.1\r\nHost: a\r\n"
                       "Content-Length: 11\r\n\r\nhello world";
    size_t head = strlen(post) - 11;

    int r = parse(post, &req, &status, &why);
    ok(r == (int)head && req.content_length == 11 && !req.chunked,
       "POST with Content-Length 11: head length, body not included");
    ok(req.method_id == HTTP_POST, "POST");
    ok(incremental(post, strlen(post), &lim, r, 0),
       "incremental POST: AGAIN until the head is complete");

    const char *chunked = "POST /up HTTP/1.1\r\nHost: a\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    r = parse(chunked, &req, &status, &why);
    ok(r > 0 && req.chunked && req.content_length == -1, "chunked");
    ok(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED"
             "\r\n\r\n", &req, &status, &why) > 0 && req.chunked,
       "chunked is case-insensitive");

    ok(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
             &req, &status, &why) > 0 && req.content_length == 5,
       "Content-Length: 5, 5 is 5");
    ok(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
             "Content-Length: 5\r\n\r\n", &req, &status, &why) > 0 &&
       req.content_length == 5, "two identical Content-Length headers");
    ok(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
             &req, &status, &why) > 0 && req.content_length == 0,
       "Content-Length: 0");
    ok(parse("POST / HTTP/1.1\r\nHost: a\r\n"
             "Content-Length: 9223372036854775797\r\n\r\n",
             &req, &status, &why) > 0 &&
       req.content_length == 9223372036854775797LL, "a huge Content-Length");
}

static void
test_connection(void)
{
    struct http_request req;
    int status;
    const char *why;

    ok(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req, &status,
             &why) > 0 && req.version == 10 && req.conn_keepalive &&
       !req.conn_close, "HTTP/1.0 keep-alive, no Host needed");
    ok(parse("GET / HTTP/1.0\r\n\r\n", &req, &status, &why) > 0 &&
       req.conn_close && req.host.p == NULL, "HTTP/1.0 closes by default");
    ok(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &req,
             &status, &why) > 0 && req.conn_close, "HTTP/1.1 close");
    ok(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Keep-Alive"
             "\r\nUpgrade: websocket\r\n\r\n", &req, &status, &why) > 0 &&
       req.conn_upgrade && req.conn_keepalive && !req.conn_close,
       "Connection tokens, case-insensitive");
    ok(parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
             "Content-Length: 3\r\n\r\n", &req, &status, &why) > 0 &&
       req.expect_continue, "Expect: 100-continue");

    /* Flags never leak from what was in the struct before. */
    memset(&req, 0xff, sizeof(req));
    ok(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &req, &status, &why) > 0 &&
       !req.chunked && !req.conn_close && !req.conn_keepalive &&
       !req.conn_upgrade && !req.expect_continue &&
       req.content_length == -1 && req.query.p == NULL && req.nheaders == 1,
       "every field is reset, whatever the struct held");
}

static void
test_forms(void)
{
    struct http_request req;
    int status;
    const char *why;

    ok(parse("GET http://example.com/p/q?x=1 HTTP/1.1\r\nHost: example.com"
             "\r\n\r\n", &req, &status, &why) > 0 &&
       str_is(req.path, "/p/q") && str_is(req.query, "x=1") &&
       str_is(req.host, "example.com"), "absolute-form with a matching Host");
    ok(parse("GET HTTP://Example.COM:8080/ HTTP/1.1\r\nHost: example.com:8080"
             "\r\n\r\n", &req, &status, &why) > 0 && str_is(req.path, "/"),
       "scheme and host compare case-insensitively");
    ok(parse("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
             &req, &status, &why) > 0 && str_is(req.path, "/") &&
       req.query.p == NULL, "absolute-form without a path: /");
    ok(parse("GET http://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
             &req, &status, &why) > 0 && str_is(req.path, "/") &&
       str_is(req.query, "q"), "absolute-form with only a query");
    ok(parse("GET http://example.com/x HTTP/1.0\r\n\r\n", &req, &status,
             &why) > 0 && str_is(req.host, "example.com"),
       "HTTP/1.0 absolute-form without Host: the authority is the host");
    ok(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req, &status, &why) >
       0 && req.method_id == HTTP_OPTIONS && str_is(req.target, "*"),
       "OPTIONS *");
    ok(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
             "\r\n", &req, &status, &why) > 0 && req.method_id == HTTP_CONNECT,
       "CONNECT authority-form");
    ok(parse("GET /?only HTTP/1.1\r\nHost: a\r\n\r\n", &req, &status, &why) >
       0 && str_is(req.path, "/") && str_is(req.query, "only"), "/?query");
    ok(parse("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", &req, &status, &why) > 0
       && str_is(req.path, "/a") && str_is(req.query, ""), "empty query");

    const char *lead = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    int r = parse(lead, &req, &status, &why);
    ok(r == (int)strlen(lead) && req.method_id == HTTP_GET &&
       str_is(req.method, "GET"), "leading empty lines are skipped and "
       "counted in the head length");
    ok(incremental(lead, strlen(lead), &lim, r, 0), "  incrementally too");

    const char *two = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                      "GET /two HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t first = strlen(two) / 2;
    r = parse(two, &req, &status, &why);
    ok(r == (int)first && str_is(req.path, "/one"),
       "pipelined: returns the first head's length only");
    r = parse(two + first, &req, &status, &why);
    ok(r == (int)first && str_is(req.path, "/two"),
       "the rest parses as the second request");
    ok(parse_n(two, first + 10, &lim, &req, &status, &why) == (int)first,
       "a partial second request does not matter");

    const char *lf = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ok(incremental(lf, strlen(lf), &lim, (int)strlen(lf), 0),
       "the smallest 1.1 request, incrementally");
}

/* ---- rejections ------------------------------------------------------ */

static void
reject_n(const char *s, size_t len, const struct http_limits *l, int want,
         const char *name)
{
    struct http_request req;
    int status;
    const char *why;

    int r = parse_n(s, len, l, &req, &status, &why);
    if (!ok(r == HTTP_PARSE_ERROR && status == want && why != NULL,
            "%d: %s", want, name))
        diag("returned %d, status %d (%s)", r, status, why ? why : "");
    else if (!incremental(s, len, l, HTTP_PARSE_ERROR, want))
        ok(0, "  prefixes of it are AGAIN or the same error");
}

static void
reject(const char *s, int want, const char *name)
{
    reject_n(s, strlen(s), &lim, want, name);
}

#define H "Host: a\r\n"

static void
test_framing(void)
{
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
           "Transfer-Encoding: chunked\r\n\r\n", 400,
           "both Content-Length and Transfer-Encoding");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
           "Content-Length: 5\r\n\r\n", 400, "both, the other order");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
           "Content-Length: 6\r\n\r\n", 400,
           "differing Content-Length headers");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 5, 6\r\n\r\n", 400,
           "Content-Length: 5, 6");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 5,\r\n\r\n", 400,
           "Content-Length: 5,");
    reject("POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400,
           "empty Content-Length");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400,
           "negative Content-Length");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", 400,
           "Content-Length with a sign");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", 400,
           "hex Content-Length");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 5 5\r\n\r\n", 400,
           "Content-Length: 5 5");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n"
           "\r\n", 400, "Content-Length overflow");
    reject("POST / HTTP/1.1\r\n" H "Content-Length: 9223372036854775808\r\n"
           "\r\n", 400, "Content-Length of 2^63");

    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n", 400,
           "Transfer-Encoding: xchunked");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, identity\r\n"
           "\r\n", 400, "Transfer-Encoding: chunked, identity");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", 400,
           "Transfer-Encoding: identity");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n"
           "\r\n", 400, "Transfer-Encoding: chunked, chunked");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n", 400,
           "two Transfer-Encoding: chunked headers");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n",
           400, "Transfer-Encoding: chunked, gzip");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 400,
           "Transfer-Encoding: gzip (not chunked last)");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", 400,
           "empty Transfer-Encoding");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked ;x\r\n\r\n",
           400, "Transfer-Encoding with parameters");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
           501, "Transfer-Encoding: gzip, chunked");
    reject("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n"
           "Transfer-Encoding: chunked\r\n\r\n", 501,
           "gzip then chunked in two headers");
    reject("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
           "Transfer-Encoding in HTTP/1.0");
}

static void
test_syntax(void)
{
    reject("GET / HTTP/1.1\r\n" H "X-Long: a\r\n b\r\n\r\n", 400,
           "obs-fold (space)");
    reject("GET / HTTP/1.1\r\n" H "X-Long: a\r\n\tb\r\n\r\n", 400,
           "obs-fold (tab)");
    reject("GET / HTTP/1.1\r\n" H "Host : a\r\n\r\n", 400,
           "space before the colon");
    reject("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "tab before the colon");
    reject("GET / HTTP/1.1\r\n" H "X(Y): 1\r\n\r\n", 400,
           "invalid header name character");
    reject("GET / HTTP/1.1\r\n" H "X\x80: 1\r\n\r\n", 400,
           "non-ASCII header name");
    reject("GET / HTTP/1.1\r\n" H ": empty\r\n\r\n", 400, "empty header name");
    reject("GET / HTTP/1.1\r\n" H "NoColon\r\n\r\n", 400, "no colon");
    reject("GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n", 400,
           "bare CR in a value");
    reject("GET / HTTP/1.1\r\n" H "X: a\nY: b\r\n\r\n", 400,
           "bare LF after a value");
    reject("GET / HTTP/1.1\n" H "\r\n", 400, "bare LF after the request line");
    reject("GET / HTTP/1.1\r\n" H "\n", 400, "bare LF ending the head");
    reject("GET / HTTP/1.1\r\n" H "\n\n", 400, "LF LF ending the head");
    reject("\nGET / HTTP/1.1\r\n" H "\r\n", 400, "a leading bare LF");
    reject("GET / HTTP/1.1\r\n" H "\rX: 1\r\n\r\n", 400,
           "bare CR starting a line");
    reject("GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", 400, "DEL in a value");
    reject("GET / HTTP/1.1\r\n" H "X: a\x01\r\n\r\n", 400,
           "a control character in a value");
    reject("GET /a\rb HTTP/1.1\r\n" H "\r\n", 400,
           "bare CR in the request line");
    reject("GET /a b HTTP/1.1\r\n" H "\r\n", 400, "space in the target");
    reject("GET  / HTTP/1.1\r\n" H "\r\n", 400, "two spaces");
    reject("GET / HTTP/1.1 \r\n" H "\r\n", 400, "trailing space");
    reject("GET /\r\n" H "\r\n", 400, "no version");
    reject(" GET / HTTP/1.1\r\n" H "\r\n", 400, "leading space");
    reject("G(T / HTTP/1.1\r\n" H "\r\n", 400, "invalid method");
    reject("GET /#frag HTTP/1.1\r\n" H "\r\n", 400, "fragment in the target");
    reject("GET /?q#frag HTTP/1.1\r\n" H "\r\n", 400,
           "fragment after the query");
    reject("GET http://a#frag HTTP/1.1\r\n" H "\r\n", 400,
           "fragment after an authority");
    reject("GET ftp://a/ HTTP/1.1\r\n" H "\r\n", 400, "ftp scheme");
    reject("GET http://user@a/ HTTP/1.1\r\n" H "\r\n", 400,
           "userinfo in the authority");
    reject("GET http:///x HTTP/1.1\r\n" H "\r\n", 400, "empty authority");
    reject("GET a/b HTTP/1.1\r\n" H "\r\n", 400, "relative target");
    reject("CONNECT ?:43 HTTP/1.1\r\nHost: p\r\n\r\n", 400,
           "CONNECT to something that is not an authority");
    reject("CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
           400, "CONNECT without a port");
    reject("CONNECT a@b:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400,
           "CONNECT with userinfo");

    /* NUL anywhere. */
    static const char nul_value[] =
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    reject_n(nul_value, sizeof(nul_value) - 1, &lim, 400, "NUL in a value");
    static const char nul_line[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    reject_n(nul_line, sizeof(nul_line) - 1, &lim, 400,
             "NUL in the request line");
    static const char nul_name[] =
        "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: 1\r\n\r\n";
    reject_n(nul_name, sizeof(nul_name) - 1, &lim, 400, "NUL in a name");
    static const char nul_method[] = "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n";
    reject_n(nul_method, sizeof(nul_method) - 1, &lim, 400,
             "NUL in the method");
}

static void
test_host(void)
{
    reject("GET / HTTP/1.1\r\n\r\n", 400, "missing Host in HTTP/1.1");
    reject("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "two Host");
    reject("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400,
           "two Host, differently cased");
    reject("GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
           "absolute-form authority differs from Host");
    reject("GET http://a:8080/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
           "absolute-form port differs from Host");
    reject("GET http://a/ HTTP/1.1\r\n\r\n", 400,
           "absolute-form still needs Host in HTTP/1.1");
    reject("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "space in Host");
    reject("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "slash in Host");
    reject("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400, "quote in Host");
}

static void
test_version(void)
{
    reject("GET / HTTP/2.0\r\n" H "\r\n", 505, "HTTP/2.0");
    reject("GET / HTTP/3.0\r\n" H "\r\n", 505, "HTTP/3.0");
    reject("GET / HTTP/0.9\r\n" H "\r\n", 400, "HTTP/0.9");
    reject("GET / HTTP/1.10\r\n" H "\r\n", 400, "HTTP/1.10");
    reject("GET / HTTP/1\r\n" H "\r\n", 400, "HTTP/1");
    reject("GET / http/1.1\r\n" H "\r\n", 400, "lower-case http/1.1");
    reject("GET / HTTX/1.1\r\n" H "\r\n", 400, "HTTX/1.1");
    reject("GET / HTTP/1.x\r\n" H "\r\n", 400, "HTTP/1.x");
    reject("GET / garbage!\r\n" H "\r\n", 400, "garbage version");
    reject("GET / HTTP/a.1\r\n" H "\r\n", 400, "HTTP/a.1");
}

static void
test_expect_asterisk(void)
{
    reject("POST / HTTP/1.1\r\n" H "Expect: 200-ok\r\nContent-Length: 1\r\n"
           "\r\n", 417, "Expect other than 100-continue");
    reject("POST / HTTP/1.1\r\n" H "Expect:\r\n\r\n", 417, "empty Expect");
    reject("GET * HTTP/1.1\r\n" H "\r\n", 400, "asterisk-form with GET");
    reject("POST * HTTP/1.1\r\n" H "\r\n", 400, "asterisk-form with POST");
}

static void
test_limits(void)
{
    char buf[4096];
    struct http_request req;
    int status;
    const char *why;

    /* Request line: 414 when complete and while still incomplete. */
    int n = snprintf(buf, sizeof(buf), "GET /%0300d HTTP/1.1\r\n" H "\r\n", 0);
    reject_n(buf, (size_t)n, &lim, 414, "request line over the limit");
    reject_n(buf, 270, &lim, 414, "request line over the limit, incomplete");
    reject_n(buf, 200 + 50 + 7, &lim, 414, "just past the limit, incomplete");
    ok(parse_n(buf, 250, &lim, &req, &status, &why) == HTTP_PARSE_AGAIN,
       "under the limit and incomplete: AGAIN");
    /* The line without its CRLF at the limit minus one: fine. */
    n = snprintf(buf, sizeof(buf), "GET /%0*d HTTP/1.1\r\n" H "\r\n",
                 (int)lim.max_request_line - 15 - 1, 0);
    ok(parse_n(buf, (size_t)n, &lim, &req, &status, &why) == n,
       "a request line just under the limit parses");

    /* Head: 431 when complete and while still incomplete. */
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" H "X-Big: %01200d\r\n"
                 "\r\n", 0);
    reject_n(buf, (size_t)n, &lim, 431, "head over the limit");
    reject_n(buf, 1100, &lim, 431, "head over the limit, incomplete");
    ok(parse_n(buf, 1000, &lim, &req, &status, &why) == HTTP_PARSE_AGAIN,
       "a head under the limit and incomplete: AGAIN");
    /* Exactly at the limit, then one byte over. */
    size_t base = strlen("GET / HTTP/1.1\r\n" H "X-Big: \r\n\r\n");
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" H "X-Big: %0*d\r\n"
                 "\r\n", (int)(lim.max_head - base), 0);
    ok(n == (int)lim.max_head &&
       parse_n(buf, (size_t)n, &lim, &req, &status, &why) == n,
       "a head of exactly max_head bytes parses");
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" H "X-Big: %0*d\r\n"
                 "\r\n", (int)(lim.max_head - base + 1), 0);
    reject_n(buf, (size_t)n, &lim, 431, "a head of max_head + 1 bytes");
    /* Leading empty lines count towards the head. */
    char lead[2048];
    memset(lead, 0, sizeof(lead));
    for (size_t i = 0; i + 1 < 1100; i += 2)
        memcpy(lead + i, "\r\n", 2);
    reject_n(lead, 1100, &lim, 431, "endless empty lines");

    /* Header count. */
    struct http_limits few = lim;
    few.max_headers = 3;
    const char *four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n"
                       "C: 3\r\n\r\n";
    reject_n(four, strlen(four), &few, 431, "more headers than the limit");
    ok(parse_n(four, strlen(four) - 8, &few, &req, &status, &why) ==
       HTTP_PARSE_AGAIN, "(incomplete: AGAIN)");
    const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    ok(parse_n(three, strlen(three), &few, &req, &status, &why) ==
       (int)strlen(three), "exactly the limit of headers");

    struct http_limits many = { 100000, 100000, 100000 };
    char *big = malloc(8192);
    size_t off = (size_t)sprintf(big, "GET / HTTP/1.1\r\n" H);
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        off += (size_t)sprintf(big + off, "X%d: %d\r\n", i, i);
    memcpy(big + off, "\r\n", 2);
    reject_n(big, off + 2, &many, 431,
             "more than HTTP_MAX_HEADERS whatever the limit");
    free(big);
}

static void
test_helpers(void)
{
    struct http_str s = { "Content-Length", 14 };

    ok(http_str_ieq(s, "content-length"), "http_str_ieq ignores case");
    ok(!http_str_ieq(s, "content-lengt"), "http_str_ieq compares lengths");
    is_str(http_reason(404), "Not Found", "http_reason(404)");
    is_str(http_reason(431), "Request Header Fields Too Large",
           "http_reason(431)");
    is_str(http_reason(505), "HTTP Version Not Supported", "http_reason(505)");
    is_str(http_reason(299), "Success", "http_reason of an unknown 2xx");
    is_str(http_reason(599), "Server Error", "http_reason of an unknown 5xx");
}

/* Header values are scanned eight bytes at a time: every byte that must
 * be refused is refused wherever it sits, and every one allowed passes. */
static void
test_value_bytes(void)
{
    struct http_request req;
    int st;
    const char *why;
    int bad_ok = 1, good_ok = 1;
    char head[200];

    for (int c = 0; c < 256; c++) {
        for (size_t at = 0; at < 40; at++) {
            char v[41];
            memset(v, 'a', 40);
            v[40] = '\0';
            v[at] = (char)c;
            /* a leading or trailing blank is trimmed, not refused */
            int n = snprintf(head, sizeof(head),
                             "GET / HTTP/1.1\r\nHost: h\r\nX-V: b");
            memcpy(head + n, v, 40);
            n += 40;
            memcpy(head + n, "b\r\n\r\n", 5);
            n += 5;
            int r = parse_n(head, (size_t)n, &lim, &req, &st, &why);
            bool refuse = (c < 0x20 && c != '\t') || c == 0x7f;
            if (refuse && !(r < 0 && st == 400))
                bad_ok = 0;
            if (!refuse && !(r == n && req.nheaders == 2 &&
                             req.headers[1].value.len == 42))
                good_ok = 0;
        }
    }
    ok(bad_ok, "a control character or DEL anywhere in a long value: 400");
    ok(good_ok, "tab, printable and obs-text bytes anywhere in it: kept");
}

/* Issue 12 points 13 and 14: '_' twins of the framing headers, and the
 * authority of an absolute-form target. */
static void
test_twins_authority(void)
{
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n"
           "Content-Length: 3\r\n\r\n", 400, "Transfer_Encoding");
    reject("POST / HTTP/1.1\r\nHost: a\r\ncontent_length: 3\r\n\r\n", 400,
           "content_length");
    reject("POST / HTTP/1.1\r\nHost: a\r\nCONTENT_LENGTH: 3\r\n\r\n", 400,
           "CONTENT_LENGTH");
    reject("POST / HTTP/1.1\r\nHost: a\r\ntransfer_encoding: x\r\n\r\n", 400,
           "transfer_encoding");
    struct http_request req;
    int status;
    const char *why;
    ok(parse("GET / HTTP/1.1\r\nHost: a\r\nX_Content_Length: 3\r\n"
             "Content_Type: x\r\n\r\n", &req, &status, &why) > 0 &&
       req.content_length == -1, "other names with '_' are headers like others");
    struct http_str n1 = { "Transfer_encoding", 17 }, n2 = { "hOsT", 4 },
                    n3 = { "Content-Lengthy", 15 }, n4 = { "Content.Length", 14 };
    ok(http_framing_name(n1) && http_framing_name(n2) &&
       !http_framing_name(n3) && !http_framing_name(n4), "http_framing_name");
    reject("GET http://a\"b/ HTTP/1.0\r\n\r\n", 400, "quote in an authority");
    reject("GET http://a{b}/ HTTP/1.0\r\n\r\n", 400, "brace in an authority");
    reject("GET http://a\xff" "b/ HTTP/1.0\r\n\r\n", 400, "obs-text in an authority");
    reject("GET http://:80/ HTTP/1.0\r\n\r\n", 400, "authority without a host");
    reject("GET http://a:8x/ HTTP/1.0\r\n\r\n", 400, "port with a letter");
    reject("GET http://[zz]/ HTTP/1.0\r\n\r\n", 400, "IP literal not hex");
    reject("GET http://[::1/ HTTP/1.0\r\n\r\n", 400, "IP literal unclosed");
    ok(parse("GET http://[::1]:8080/x HTTP/1.0\r\n\r\n", &req, &status,
             &why) > 0 && str_is(req.host, "[::1]:8080"), "[::1]:8080 is one");
    ok(parse("GET http://a.example:80?q HTTP/1.0\r\n\r\n", &req, &status,
             &why) > 0 && str_is(req.host, "a.example:80"), "a.example:80 is one");
}

int
main(void)
{
    test_twins_authority();
    test_value_bytes();
    test_get();
    test_bodies();
    test_connection();
    test_forms();
    test_framing();
    test_syntax();
    test_host();
    test_version();
    test_expect_asterisk();
    test_limits();
    test_helpers();
    return done_testing();
}
