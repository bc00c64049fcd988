/* fuzz-header_rewrite: a request head (and what follows it) in, the head
 * and body the proxy sends upstream out; one message in, one message out.
 *
 * The input is parsed as the worker does (http_parse_request). When it is
 * a request, the upstream head is built as worker/proxy.c's
 * build_request_head does: the request line (origin-form), the client's
 * lines through http_fwd_request_headers (the code the worker runs), the
 * Host fallback, X-Forwarded-For, and the framing from http_fwd_framing.
 * Then the body: as many bytes as Content-Length says, or the chunked body
 * through chunk_filter (trailers naming the framing cut) as the worker
 * forwards it.
 *
 * Checked: the output head parses as exactly one complete request head,
 * consumed length == its length; it has the same method, Host, length and
 * chunking; its only framing lines are the one cerberus wrote; no name is
 * a framing header with '_'; the forwarded body is exactly one body of
 * that framing (a chunked one scans to its end at its last byte, and
 * filtering it again changes nothing), so a request appended after it is
 * read as the next request, never as part of this one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_chunk.h"
#include "http_fwd.h"
#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

struct out {
    char *p;
    size_t len, cap;
};

static int
emit(void *ctx, const char *s, size_t n)
{
    struct out *o = ctx;

    if (o->len + n > o->cap)
        return -1;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

static void
emits(struct out *o, const char *s)
{
    CHECK(emit(o, s, strlen(s)) == 0);
}

/* The caller's own drops (client-certificate headers, gateway removals). */
static bool
drop(void *ctx, struct http_str name)
{
    (void)ctx;
    return http_str_ieq(name, "x-client-subject") ||
           http_str_ieq(name, "x-drop");
}

static size_t
count_named(const struct http_request *r, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nheaders; i++)
        n += http_str_ieq(r->headers[i].name, name);
    return n;
}

static void
rewrite(const char *buf, size_t size)
{
    static const struct http_limits lim = {
        .max_request_line = 1 << 16, .max_head = 1 << 16,
        /* room for what the proxy adds, under the parser's own cap */
        .max_headers = HTTP_MAX_HEADERS - 6,
    };
    static const struct http_limits lim_out = {
        .max_request_line = 1 << 16, .max_head = 1 << 18,
        .max_headers = HTTP_MAX_HEADERS,
    };
    struct http_request req, again;
    int status;
    const char *why;

    int r = http_parse_request(buf, size, &lim, &req, &status, &why);
    if (r <= 0)
        return;

    struct out o = { malloc(4 * size + 1024), 0, 4 * size + 1024 };
    CHECK(o.p != NULL);
    /* The request line, as build_request_head writes it. */
    CHECK(emit(&o, req.method.p, req.method.len) == 0);
    emits(&o, " ");
    if (req.target.p[0] == '/' || req.method_id == HTTP_CONNECT ||
        (req.target.len == 1 && req.target.p[0] == '*')) {
        CHECK(emit(&o, req.target.p, req.target.len) == 0);
    } else {
        CHECK(emit(&o, req.path.p, req.path.len) == 0);
        if (req.query.p != NULL) {
            emits(&o, "?");
            CHECK(emit(&o, req.query.p, req.query.len) == 0);
        }
    }
    emits(&o, " HTTP/1.1\r\n");
    struct http_fwd_seen seen;
    CHECK(http_fwd_request_headers(&req, drop, NULL, emit, &o, &seen) == 0);
    if (!seen.host) {
        emits(&o, "Host: ");
        if (req.host.len > 0)
            CHECK(emit(&o, req.host.p, req.host.len) == 0);
        else
            emits(&o, "127.0.0.1:8080");
        emits(&o, "\r\n");
    }
    emits(&o, "X-Forwarded-For: 127.0.0.1\r\nX-Request-ID: 0123\r\n");
    char framing[HTTP_FWD_FRAMING_MAX];
    size_t fl = http_fwd_framing(req.content_length, req.chunked, framing);
    CHECK(fl < sizeof(framing));
    CHECK(emit(&o, framing, fl) == 0);
    if (seen.upgrade)
        emits(&o, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    emits(&o, "\r\n");
    size_t head_len = o.len;

    /* One complete head, all of it and nothing more. */
    int r2 = http_parse_request(o.p, head_len, &lim_out, &again, &status,
                                &why);
    CHECK(r2 > 0 && (size_t)r2 == head_len);
    CHECK(again.method.len == req.method.len &&
          memcmp(again.method.p, req.method.p, req.method.len) == 0);
    CHECK(again.version == 11);
    CHECK(again.content_length == req.content_length);
    CHECK(again.chunked == req.chunked);
    CHECK(count_named(&again, "content-length") ==
          (req.content_length >= 0 ? 1u : 0u));
    CHECK(count_named(&again, "transfer-encoding") == (req.chunked ? 1u : 0u));
    CHECK(count_named(&again, "host") == 1);
    if (req.host.len > 0)
        CHECK(again.host.len == req.host.len &&
              memcmp(again.host.p, req.host.p, req.host.len) == 0);
    for (size_t i = 0; i < again.nheaders; i++) {
        struct http_str n = again.headers[i].name;
        CHECK(!http_framing_name(n) || memchr(n.p, '_', n.len) == NULL);
        CHECK(!http_str_ieq(n, "x-drop"));
        CHECK(!http_str_ieq(n, "keep-alive") && !http_str_ieq(n, "te"));
    }
    /* The client's Connection lines never go; a Host it lists does. */
    CHECK(count_named(&again, "connection") == (seen.upgrade ? 1u : 0u));

    /* The body, forwarded as the worker does. */
    const char *rest = buf + r;
    size_t rest_len = size - (size_t)r;
    if (req.chunked) {
        static const struct chunk_limits cl = { 64, 256 };
        struct chunk_dec d;
        char *b = malloc(rest_len + 1);
        CHECK(b != NULL);
        memcpy(b, rest, rest_len);
        size_t len = rest_len, used;
        chunk_init(&d);
        int cr = chunk_filter(&d, &cl, b, &len, &used, NULL, NULL, &why);
        CHECK(used <= len && len <= rest_len);
        if (cr == CHUNK_DONE) {
            /* Exactly one body, ending at its last byte ... */
            struct chunk_dec d2;
            size_t used2;
            chunk_init(&d2);
            CHECK(chunk_scan(&d2, &cl, b, used, &used2, NULL, NULL, &why) ==
                  CHUNK_DONE && used2 == used);
            /* ... with no framing trailer left to cut. */
            size_t len3 = used, used3;
            chunk_init(&d2);
            CHECK(chunk_filter(&d2, &cl, b, &len3, &used3, NULL, NULL,
                               &why) == CHUNK_DONE &&
                  used3 == used && len3 == used);
            /* What followed the body in the input (the next request)
             * follows it still, untouched. */
            size_t after = len - used;
            CHECK(after <= rest_len &&
                  memcmp(b + used, rest + rest_len - after, after) == 0);
        }
        /* The same body in pieces (the worker reads it in several): what
         * is forwarded is the same, however it is cut. */
        size_t step = rest_len > 0 ? 1 + (unsigned char)rest[0] % 7 : 1;
        char *p = malloc(rest_len + 1), *fw = malloc(rest_len + 1);
        CHECK(p != NULL && fw != NULL);
        size_t plen = 0, off = 0, fwlen = 0;
        int pr = CHUNK_AGAIN;
        chunk_init(&d);
        while (off < rest_len && pr == CHUNK_AGAIN) {
            size_t take = rest_len - off < step ? rest_len - off : step;
            memcpy(p + plen, rest + off, take);
            plen += take;
            off += take;
            size_t l = plen, u;
            pr = chunk_filter(&d, &cl, p, &l, &u, NULL, NULL, &why);
            if (pr == CHUNK_ERROR)
                break;
            CHECK(u <= l && l <= plen);
            CHECK(l - u <= 32 || pr != CHUNK_AGAIN);    /* a name at most */
            memcpy(fw + fwlen, p, u);
            fwlen += u;
            memmove(p, p + u, l - u);
            plen = l - u;
        }
        CHECK((pr == CHUNK_ERROR) == (cr == CHUNK_ERROR) || off < rest_len);
        if (cr == CHUNK_DONE)
            CHECK(pr == CHUNK_DONE && fwlen == used &&
                  memcmp(fw, b, used) == 0);
        free(p);
        free(fw);
        free(b);
    }
    free(o.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    rewrite(buf, size);
    free(buf);
    return 0;
}
