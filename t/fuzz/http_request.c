/* fuzz-http_request: http_parse_request on arbitrary bytes.
 *
 * Parses with small limits (so 414 and 431 are reached often) and with
 * the largest ones, and checks what a caller relies on: a positive return
 * is the head length, within the input, ending in LF; every field points
 * inside the head; a prefix of a complete head is incomplete; errors carry
 * one of the statuses the parser documents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static int
inside(struct http_str s, const char *head, size_t len)
{
    if (s.p == NULL)
        return s.len == 0;
    return s.p >= head && s.len <= len && s.p + s.len <= head + len;
}

static void
check(const char *buf, size_t size, const struct http_limits *lim)
{
    struct http_request req;
    int status = 0;
    const char *why = NULL;

    int r = http_parse_request(buf, size, lim, &req, &status, &why);
    if (r == HTTP_PARSE_AGAIN) {
        /* Incomplete input never exceeds the limits silently. */
        CHECK(size <= lim->max_head);
        return;
    }
    if (r == HTTP_PARSE_ERROR) {
        CHECK(why != NULL);
        CHECK(status == 400 || status == 414 || status == 417 ||
              status == 431 || status == 501 || status == 505);
        return;
    }
    CHECK(r > 0 && (size_t)r <= size);
    CHECK((size_t)r <= lim->max_head);
    CHECK(req.head_len == (size_t)r);
    CHECK(buf[r - 1] == '\n');
    CHECK(req.version == 10 || req.version == 11);
    CHECK(req.nheaders <= lim->max_headers && req.nheaders <= HTTP_MAX_HEADERS);
    CHECK(req.content_length >= -1);
    CHECK(!req.chunked || req.content_length == -1);
    CHECK(req.method.p == buf ||
          (req.method.p > buf && req.method.p[-1] == '\n'));
    CHECK(req.method.len > 0 && inside(req.method, buf, (size_t)r));
    CHECK(req.target.len > 0 && inside(req.target, buf, (size_t)r));
    CHECK(req.version == 10 || req.host.p != NULL);
    CHECK(inside(req.host, buf, (size_t)r));
    CHECK(inside(req.query, buf, (size_t)r));
    /* The path is in the head, or the literal "/" of an absolute-form
     * target without one. */
    CHECK(req.path.len > 0);
    CHECK(inside(req.path, buf, (size_t)r) ||
          (req.path.len == 1 && req.path.p[0] == '/'));
    CHECK(memchr(req.target.p, '#', req.target.len) == NULL);
    for (size_t i = 0; i < req.nheaders; i++) {
        CHECK(req.headers[i].name.len > 0);
        CHECK(inside(req.headers[i].name, buf, (size_t)r));
        CHECK(inside(req.headers[i].value, buf, (size_t)r));
        CHECK(memchr(req.headers[i].value.p, '\n',
                     req.headers[i].value.len) == NULL);
    }
    /* The same answer for exactly the head, and AGAIN one byte short. */
    struct http_request again;
    int st2 = 0;
    const char *why2 = NULL;
    CHECK(http_parse_request(buf, (size_t)r, lim, &again, &st2, &why2) == r);
    CHECK(again.nheaders == req.nheaders &&
          again.content_length == req.content_length &&
          again.chunked == req.chunked && again.conn_close == req.conn_close);
    CHECK(http_parse_request(buf, (size_t)r - 1, lim, &again, &st2, &why2) ==
          HTTP_PARSE_AGAIN);

    /* What balancing reads: cookies and query parameters, in the head. */
    static const char *const names[] = { "sid", "id", "a", "" };
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        struct http_str v = { NULL, 0 };
        if (http_cookie_get(&req, names[k], &v))
            CHECK(inside(v, buf, (size_t)r));
        v.p = NULL;
        v.len = 0;
        if (http_query_get(req.query, names[k], &v))
            CHECK(inside(v, buf, (size_t)r));
    }

    /* What the worker does next with the path. */
    char norm[512];
    size_t n = 0;
    enum uri_result ur = uri_normalize(req.path.p, req.path.len, norm,
                                       sizeof(norm), URI_MERGE_SLASHES, &n);
    CHECK(ur != URI_OK || (n >= 1 && n <= sizeof(norm) && norm[0] == '/'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct http_limits small = {
        .max_request_line = 64, .max_head = 256, .max_headers = 6,
    };
    static const struct http_limits large = {
        .max_request_line = 1 << 20, .max_head = 1 << 20,
        .max_headers = HTTP_MAX_HEADERS,
    };
    /* An exact-size copy, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    check(buf, size, &small);
    check(buf, size, &large);
    free(buf);
    return 0;
}
