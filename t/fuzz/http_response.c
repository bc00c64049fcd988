/* fuzz-http_response: http_parse_response on arbitrary bytes.
 *
 * Parses with a small max_head (so the limit is reached often) and a large
 * one, and checks what a caller relies on: a positive return is the head
 * length, within the input and max_head, ending in LF; the reason and every
 * header name and value point inside the head; content_length >= -1 and
 * never with chunked; the same answer for exactly the head, incomplete one
 * byte short; an error carries a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static int
inside(struct http_str s, const char *head, size_t len)
{
    return s.p != NULL && s.p >= head && s.len <= len &&
           s.p + s.len <= head + len;
}

static void
check(const char *buf, size_t size, size_t max_head)
{
    static struct http_response resp, again;
    const char *why = NULL;

    int r = http_parse_response(buf, size, max_head, &resp, &why);
    if (r == 0) {
        CHECK(size <= max_head);
        return;
    }
    if (r < 0) {
        CHECK(r == -1 && why != NULL);
        return;
    }
    CHECK((size_t)r <= size && (size_t)r <= max_head);
    CHECK(resp.head_len == (size_t)r);
    CHECK(r >= 16 && buf[r - 1] == '\n');
    CHECK(resp.version == 10 || resp.version == 11);
    CHECK(resp.status >= 100 && resp.status <= 599);
    CHECK(resp.nheaders <= HTTP_MAX_HEADERS);
    CHECK(resp.content_length >= -1);
    CHECK(!resp.chunked || resp.content_length == -1);
    CHECK(resp.version == 11 || resp.conn_close);
    CHECK(inside(resp.reason, buf, (size_t)r));
    CHECK(memchr(resp.reason.p, '\n', resp.reason.len) == NULL &&
          memchr(resp.reason.p, '\r', resp.reason.len) == NULL);
    for (size_t i = 0; i < resp.nheaders; i++) {
        struct http_header *h = &resp.headers[i];
        CHECK(h->name.len > 0);
        CHECK(inside(h->name, buf, (size_t)r));
        CHECK(inside(h->value, buf, (size_t)r));
        CHECK(h->name.p + h->name.len < h->value.p + 1);
        CHECK(memchr(h->name.p, ':', h->name.len) == NULL);
        CHECK(memchr(h->value.p, '\n', h->value.len) == NULL &&
              memchr(h->value.p, '\r', h->value.len) == NULL &&
              memchr(h->value.p, '\0', h->value.len) == NULL);
    }

    /* The same answer for exactly the head, and 0 one byte short. */
    const char *why2 = NULL;
    CHECK(http_parse_response(buf, (size_t)r, max_head, &again, &why2) == r);
    CHECK(again.nheaders == resp.nheaders && again.status == resp.status &&
          again.content_length == resp.content_length &&
          again.chunked == resp.chunked && again.conn_close == resp.conn_close);
    CHECK(http_parse_response(buf, (size_t)r - 1, max_head, &again, &why2) ==
          0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    check(buf, size, 256);
    check(buf, size, 1 << 20);
    free(buf);
    return 0;
}
