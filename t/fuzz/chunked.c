/* fuzz-chunked: chunk_scan on arbitrary bytes.
 *
 * The first input byte picks where the rest is split in two; the rest is
 * scanned with small limits (so the extension and trailer limits are hit
 * often) in one call, in the two pieces, and (when short) byte by byte,
 * with a callback that collects the data. What a caller relies on: every
 * split gives the same result, the same *used and the same data; *used is
 * within the input, AGAIN consumes everything; data spans lie inside the
 * input, so the data is never longer than it; DONE and ERROR are final; the
 * bytes after a DONE body do not change where it ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

struct sink {
    char *p;                    /* room for as many bytes as the input */
    size_t n, cap;
    const char *base;           /* the piece being scanned */
    size_t base_len;
};

static void
collect(void *ctx, const char *p, size_t n)
{
    struct sink *s = ctx;

    CHECK(n > 0);
    CHECK(p >= s->base && n <= s->base_len && p + n <= s->base + s->base_len);
    CHECK(n <= s->cap - s->n);
    memcpy(s->p + s->n, p, n);
    s->n += n;
}

struct result {
    int r;
    size_t used;
};

/* Scans in[0..len) as pieces of at most step bytes (0: one piece) but for
 * a cut at cut (if cut < len); each piece an exact-size heap copy. */
static struct result
scan(const struct chunk_limits *lim, const uint8_t *in, size_t len,
     size_t cut, size_t step, struct sink *sink)
{
    struct chunk_dec d;
    struct result res = { CHUNK_AGAIN, 0 };
    size_t from = 0;

    chunk_init(&d);
    if (sink != NULL)
        sink->n = 0;
    for (;;) {
        size_t to = len;
        if (step > 0 && len - from > step)
            to = from + step;
        if (cut > from && cut < to)
            to = cut;
        size_t n = to - from;
        char *piece = malloc(n ? n : 1);
        size_t used = (size_t)-1;
        const char *why = NULL;

        CHECK(piece != NULL);
        memcpy(piece, in + from, n);
        if (sink != NULL) {
            sink->base = piece;
            sink->base_len = n;
        }
        int r = chunk_scan(&d, lim, piece, n, &used,
                           sink != NULL ? collect : NULL, sink, &why);
        CHECK(r == CHUNK_AGAIN || r == CHUNK_DONE || r == CHUNK_ERROR);
        CHECK(used <= n);
        CHECK(r != CHUNK_ERROR || why != NULL);
        CHECK(r != CHUNK_AGAIN || used == n);
        res.r = r;
        res.used = from + used;
        if (r != CHUNK_AGAIN) {
            /* Final: the same answer again, nothing more consumed. */
            int r2 = chunk_scan(&d, lim, piece, n, &used, NULL, NULL, &why);
            CHECK(r2 == r && used == 0);
            r2 = chunk_scan(&d, lim, piece, 0, &used, NULL, NULL, &why);
            CHECK(r2 == r && used == 0);
            free(piece);
            break;
        }
        free(piece);
        from = to;
        if (from >= len)
            break;
    }
    if (sink != NULL)
        CHECK(sink->n <= res.used);
    return res;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct chunk_limits lim = { .max_ext = 8, .max_trailers = 48 };

    if (size == 0)
        return 0;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t cut = len == 0 ? 0 : (size_t)data[0] * len / 255;
    struct sink one = { malloc(len + 1), 0, len, NULL, 0 };
    struct sink two = { malloc(len + 1), 0, len, NULL, 0 };

    CHECK(one.p != NULL && two.p != NULL);
    struct result a = scan(&lim, in, len, len, 0, &one);
    struct result b = scan(&lim, in, len, cut, 0, &two);
    CHECK(a.r == b.r && a.used == b.used);
    CHECK(one.n == two.n && memcmp(one.p, two.p, one.n) == 0);
    CHECK(one.n <= len);

    if (len <= 512) {
        b = scan(&lim, in, len, len, 1, &two);
        CHECK(a.r == b.r && a.used == b.used);
        CHECK(one.n == two.n && memcmp(one.p, two.p, one.n) == 0);
    }

    /* Pass-through: the same framing without a callback. */
    b = scan(&lim, in, len, cut, 0, NULL);
    CHECK(a.r == b.r && a.used == b.used);

    if (a.r == CHUNK_DONE) {
        /* The body alone ends at the same place; one byte short, it is
         * incomplete. */
        b = scan(&lim, in, a.used, cut, 0, &two);
        CHECK(b.r == CHUNK_DONE && b.used == a.used);
        CHECK(one.n == two.n && memcmp(one.p, two.p, one.n) == 0);
        CHECK(a.used >= 5);     /* "0\r\n\r\n" at least */
        b = scan(&lim, in, a.used - 1, len, 0, NULL);
        CHECK(b.r == CHUNK_AGAIN && b.used == a.used - 1);
        CHECK(in[a.used - 2] == '\r' && in[a.used - 1] == '\n');
    }
    free(one.p);
    free(two.p);
    return 0;
}
