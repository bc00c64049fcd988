/* http_fwd: which request lines go upstream, and the framing cerberus
 * writes itself (issue 12, points 1 and 14). */
#include <stdlib.h>
#include <string.h>

#include "http_fwd.h"
#include "tap.h"

struct sink {
    char p[4096];
    size_t len;
};

static int
emit(void *ctx, const char *s, size_t n)
{
    struct sink *k = ctx;

    if (k->len + n >= sizeof(k->p))
        return -1;
    memcpy(k->p + k->len, s, n);
    k->len += n;
    k->p[k->len] = '\0';
    return 0;
}

static bool
drop_x_cert(void *ctx, struct http_str name)
{
    (void)ctx;
    return http_str_ieq(name, "x-cert");
}

/* The lines of head forwarded as they are. */
static const char *
fwd(const char *head, struct http_fwd_seen *seen)
{
    static struct sink k;
    static const struct http_limits lim = { 8192, 8192, 100 };
    static struct http_request req;     /* seen->rid points into it */
    int status;
    const char *why;

    k.len = 0;
    k.p[0] = '\0';
    if (http_parse_request(head, strlen(head), &lim, &req, &status,
                           &why) <= 0)
        return "(refused)";
    if (http_fwd_request_headers(&req, drop_x_cert, NULL, emit, &k,
                                 seen) < 0)
        return "(emit failed)";
    return k.p;
}

static void
test_request(void)
{
    struct http_fwd_seen seen;

    is_str(fwd("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, "
               "X-A\r\nX-A: 1\r\nContent-Length: 3\r\nX-B: 2\r\n\r\n", &seen),
           "Host: a\r\nX-B: 2\r\n",
           "Content-Length is never copied; a listed X-A is dropped");
    ok(seen.host, "the Host line went");
    is_str(fwd("GET / HTTP/1.1\r\nConnection: HOST\r\nHost: h\r\n\r\n", &seen),
           "Host: h\r\n", "Connection: HOST leaves Host");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Cert: forged\r\n"
               "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n"
               "X-Forwarded-Host: e\r\nKeep-Alive: 1\r\nTE: trailers\r\n"
               "Trailer: x\r\nProxy-Authorization: p\r\nX-Request-ID: r\r\n"
               "\r\n", &seen),
           "Host: h\r\n", "hop-by-hop, X-Forwarded-*, the caller's drops");
    ok(seen.rid != NULL && http_str_ieq(seen.rid->value, "r"),
       "the client's X-Request-ID is handed over");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n"
               "Upgrade: websocket\r\n\r\n", &seen), "Host: h\r\n",
           "Upgrade is written by the proxy");
    ok(seen.upgrade, "a WebSocket upgrade is seen");
    is_str(fwd("GET / HTTP/1.0\r\n\r\n", &seen), "", "no Host: none");
    ok(!seen.host, "and none seen");
    is_str(fwd("POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\n"
               "Content-Length: 1\r\n\r\n", &seen), "(refused)",
           "a '_' twin never reaches the rewrite");
}

static void
test_framing(void)
{
    char out[HTTP_FWD_FRAMING_MAX + 1];
    size_t n;

    n = http_fwd_framing(3, false, out);
    out[n] = '\0';
    is_str(out, "Content-Length: 3\r\n", "Content-Length: 3");
    n = http_fwd_framing(0, false, out);
    out[n] = '\0';
    is_str(out, "Content-Length: 0\r\n", "Content-Length: 0");
    n = http_fwd_framing(INT64_MAX, false, out);
    out[n] = '\0';
    is_str(out, "Content-Length: 9223372036854775807\r\n", "the largest");
    n = http_fwd_framing(-1, true, out);
    out[n] = '\0';
    is_str(out, "Transfer-Encoding: chunked\r\n", "chunked");
    is_int((long long)http_fwd_framing(-1, false, out), 0, "none");
}

static void
test_response(void)
{
    struct http_header hs[] = {
        { { "Connection", 10 }, { "Content-Length, X-A", 19 } },
        { { "Content-Length", 14 }, { "5", 1 } },
        { { "X-A", 3 }, { "1", 1 } },
        { { "Content_Length", 14 }, { "9", 1 } },
        { { "Upgrade", 7 }, { "websocket", 9 } },
        { { "Date", 4 }, { "x", 1 } },
    };
    size_t n = sizeof(hs) / sizeof(hs[0]);
    ok(!http_fwd_response_header(hs, n, &hs[0], 200), "Connection: not");
    ok(!http_fwd_response_header(hs, n, &hs[1], 200),
       "Content-Length: written from the parsed length");
    ok(!http_fwd_response_header(hs, n, &hs[2], 200), "a listed X-A: not");
    ok(!http_fwd_response_header(hs, n, &hs[3], 200), "Content_Length: not");
    ok(!http_fwd_response_header(hs, n, &hs[4], 200), "Upgrade: not");
    ok(http_fwd_response_header(hs, n, &hs[4], 101), "Upgrade of a 101: yes");
    ok(http_fwd_response_header(hs, n, &hs[0], 101), "Connection of a 101: yes");
    ok(http_fwd_response_header(hs, n, &hs[5], 200), "Date: yes");
}

int
main(void)
{
    test_request();
    test_framing();
    test_response();
    return done_testing();
}
