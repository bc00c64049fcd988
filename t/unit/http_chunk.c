/* http_chunk: the strict scanner every chunked body goes through. */
#include <stdlib.h>
#include <string.h>

#include "http_chunk.h"
#include "tap.h"

static const struct chunk_limits lim = { .max_ext = 16, .max_trailers = 64 };

/* What on_data received, and whether every span pointed into the input
 * piece it was given. */
struct sink {
    char *p;
    size_t n, cap;
    size_t calls;
    int bad;                    /* a span outside the piece, or empty */
    const char *base;           /* the current piece */
    size_t base_len;
};

static void
collect(void *ctx, const char *p, size_t n)
{
    struct sink *s = ctx;

    s->calls++;
    if (n == 0 || p < s->base || n > s->base_len ||
        p + n > s->base + s->base_len)
        s->bad = 1;
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + n)
            cap *= 2;
        s->p = realloc(s->p, cap);
        s->cap = cap;
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
}

struct result {
    int r;
    size_t used;                /* from the start of the whole input */
    const char *why;
    int again_short;            /* AGAIN that did not consume a whole piece */
    struct sink data;
};

static void
result_free(struct result *res)
{
    free(res->data.p);
    memset(res, 0, sizeof(*res));
}

/* Scans s[0..len) as pieces that end at cuts[0] < cuts[1] < ... (and at
 * len), each an exact-size heap copy so ASan sees any read past it; stops
 * at the first DONE or ERROR. with_sink: collect the data, else pass NULL
 * (pass-through). */
static void
scan_pieces(const char *s, size_t len, const size_t *cuts, size_t ncuts,
            const struct chunk_limits *l, int with_sink, struct result *res)
{
    struct chunk_dec d;
    size_t from = 0;

    memset(res, 0, sizeof(*res));
    chunk_init(&d);
    res->r = CHUNK_AGAIN;
    res->used = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        size_t n = to - from;
        char *copy = malloc(n ? n : 1);
        size_t used = (size_t)-1;
        const char *why = NULL;

        memcpy(copy, s + from, n);
        res->data.base = copy;
        res->data.base_len = n;
        int r = chunk_scan(&d, l, copy, n, &used,
                           with_sink ? collect : NULL, &res->data, &why);
        free(copy);
        res->r = r;
        if (used > n) {
            res->again_short = 1;
            used = n;
        }
        res->used = from + used;
        if (r != CHUNK_AGAIN) {
            res->why = why;
            return;
        }
        if (used != n)
            res->again_short = 1;
        from = to;
    }
}

static void
scan1(const char *s, size_t len, const struct chunk_limits *l,
      struct result *res)
{
    scan_pieces(s, len, NULL, 0, l, 1, res);
}

static int
same(const struct result *a, const struct result *b)
{
    return a->r == b->r && a->used == b->used && !a->again_short &&
           !b->again_short && !a->data.bad && !b->data.bad &&
           a->data.n == b->data.n &&
           (a->data.n == 0 || memcmp(a->data.p, b->data.p, a->data.n) == 0) &&
           (a->r != CHUNK_ERROR || (a->why != NULL && b->why != NULL));
}

/* The same result and data in one call, split at every boundary, byte by
 * byte, and (but for the data) with no callback; every proper prefix of a
 * complete body is AGAIN and consumed whole. */
static int
all_ways(const char *s, size_t len, const struct chunk_limits *l)
{
    struct result whole, other;
    int good = 1;

    scan1(s, len, l, &whole);
    if (whole.again_short || whole.data.bad) {
        diag("one call: used %zu of %zu, bad span %d", whole.used, len,
             whole.data.bad);
        good = 0;
    }
    for (size_t k = 0; k <= len && good; k++) {
        size_t cut = k;
        scan_pieces(s, len, &cut, 1, l, 1, &other);
        if (!same(&whole, &other)) {
            diag("split at %zu: returned %d used %zu data %zu (one call: %d "
                 "%zu %zu)", k, other.r, other.used, other.data.n, whole.r,
                 whole.used, whole.data.n);
            good = 0;
        }
        result_free(&other);
    }
    if (good && len > 0) {
        size_t *cuts = malloc(len * sizeof(*cuts));
        for (size_t k = 0; k + 1 < len; k++)
            cuts[k] = k + 1;
        scan_pieces(s, len, cuts, len - 1, l, 1, &other);
        if (!same(&whole, &other)) {
            diag("byte by byte: returned %d used %zu data %zu", other.r,
                 other.used, other.data.n);
            good = 0;
        }
        result_free(&other);
        free(cuts);
    }
    if (good) {
        scan_pieces(s, len, NULL, 0, l, 0, &other);
        if (other.r != whole.r || other.used != whole.used ||
            other.data.calls != 0) {
            diag("without on_data: returned %d used %zu", other.r, other.used);
            good = 0;
        }
        result_free(&other);
    }
    /* A proper prefix of what DONE consumed is only incomplete. */
    for (size_t k = 0; good && whole.r == CHUNK_DONE && k < whole.used; k++) {
        scan1(s, k, l, &other);
        if (other.r != CHUNK_AGAIN || other.used != k || other.again_short) {
            diag("prefix %zu: returned %d used %zu", k, other.r, other.used);
            good = 0;
        }
        result_free(&other);
    }
    result_free(&whole);
    return good;
}

/* A body that decodes to want (want_len bytes), ends want_used bytes in. */
static void
decodes_n(const char *s, size_t len, const char *want, size_t want_len,
          size_t want_used, const char *name)
{
    struct result res;

    scan1(s, len, &lim, &res);
    if (!ok(res.r == CHUNK_DONE && res.used == want_used &&
            res.data.n == want_len && !res.data.bad &&
            (want_len == 0 || memcmp(res.data.p, want, want_len) == 0),
            "%s", name))
        diag("returned %d (%s), used %zu of %zu (want %zu), %zu data bytes "
             "(want %zu)", res.r, res.why ? res.why : "", res.used, len,
             want_used, res.data.n, want_len);
    else
        ok(all_ways(s, len, &lim), "  split anywhere, byte by byte: the same");
    result_free(&res);
}

static void
decodes(const char *s, const char *want, const char *name)
{
    decodes_n(s, strlen(s), want, strlen(want), strlen(s), name);
}

/* ---- valid bodies ---------------------------------------------------- */

static void
test_valid(void)
{
    decodes("5\r\nhello\r\n0\r\n\r\n", "hello", "a single chunk");
    decodes("1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\na\r\n0123456789\r\n"
            "10\r\n0123456789abcdef\r\n0\r\n\r\n",
            "abcdef01234567890123456789abcdef", "many chunks");
    decodes("A\r\n0123456789\r\n0\r\n\r\n", "0123456789", "uppercase hex");
    decodes("1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
            "0123456789012345678901234567890", "two uppercase hex digits");
    decodes("b\r\nhello world\r\n0\r\n\r\n", "hello world", "lowercase hex");
    decodes("005\r\nhello\r\n000\r\n\r\n", "hello", "leading zeros");
    decodes("5;a=b\r\nhello\r\n0\r\n\r\n", "hello", "an extension ;a=b");
    decodes("5;a=b;c\r\nhello\r\n0;last=\"x y\"\r\n\r\n", "hello",
            "extensions with a quoted value, on the last chunk too");
    decodes("5;\tq\r\nhello\r\n0\r\n\r\n", "hello", "a tab in an extension");
    decodes("5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n", "hello",
            "a trailer");
    decodes("5\r\nhello\r\n0\r\nA: 1\r\nb:\r\nC:\t3 3\t\r\n\r\n", "hello",
            "several trailers, one empty");
    decodes("0\r\n\r\n", "", "zero-length body");
    decodes("0;x=y\r\nT: v\r\n\r\n", "", "zero-length body with extension "
            "and trailer");

    static const char bin[] = "6\r\n\r\n\0\n\r\xff\r\n0\r\n\r\n";
    decodes_n(bin, sizeof(bin) - 1, "\r\n\0\n\r\xff", 6, sizeof(bin) - 1,
              "data with CR, LF, NUL and 0xff is just data");

    /* The 15 hex digits of the largest size. */
    decodes("000000000000001\r\nx\r\n0\r\n\r\n", "x", "15 hex digits");

    /* Exactly at the limits (lim: max_ext 16, max_trailers 64). */
    decodes("1;0123456789abcdef\r\nx\r\n0\r\n\r\n", "x",
            "an extension of exactly max_ext bytes");
    /* 62 + CRLF would be 64: a 62-byte field line. */
    decodes("0\r\nX: 0123456789012345678901234567890123456789"
            "0123456789012345678\r\n\r\n", "", "a trailer section of exactly max_trailers bytes");
    decodes("0\r\n\r\n", "", "the final CRLF is not counted as trailers");
    {
        static const struct chunk_limits zero = { 0, 0 };
        struct result res;
        scan1("3\r\nabc\r\n0\r\n\r\n", 13, &zero, &res);
        ok(res.r == CHUNK_DONE && res.used == 13 && res.data.n == 3,
           "limits of 0: no extension, no trailers, the body still ends");
        if (res.r != CHUNK_DONE)
            diag("returned %d (%s)", res.r, res.why ? res.why : "");
        result_free(&res);
    }
}

/* ---- where it stops -------------------------------------------------- */

static void
test_used(void)
{
    const char *pipe = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t body = strlen("5\r\nhello\r\n0\r\n\r\n");

    decodes_n(pipe, strlen(pipe), "hello", 5, body,
              "DONE: used points just after the final CRLF");

    const char *pipe2 = "0\r\nT: x\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    decodes_n(pipe2, strlen(pipe2), "", 0, 11,
              "a chunked-looking rest is left alone too");

    /* Once DONE, the decoder consumes nothing more. */
    struct chunk_dec d;
    size_t used = 99;
    const char *why = NULL;
    chunk_init(&d);
    int r = chunk_scan(&d, &lim, "0\r\n\r\n", 5, &used, NULL, NULL, &why);
    ok(r == CHUNK_DONE && used == 5, "DONE");
    r = chunk_scan(&d, &lim, "1\r\nx\r\n", 6, &used, NULL, NULL, &why);
    ok(r == CHUNK_DONE && used == 0, "after DONE: DONE again, nothing used");
    r = chunk_scan(&d, &lim, "", 0, &used, NULL, NULL, &why);
    ok(r == CHUNK_DONE && used == 0, "  and for empty input");

    /* Empty input before the end: AGAIN. */
    chunk_init(&d);
    r = chunk_scan(&d, &lim, "", 0, &used, NULL, NULL, &why);
    ok(r == CHUNK_AGAIN && used == 0, "empty input: AGAIN, nothing used");

    /* A huge chunk streams: data is delivered as it comes. */
    struct result res;
    const char *big = "FFFFFFFFFFFFFFF\r\nabcdef";
    scan1(big, strlen(big), &lim, &res);
    ok(res.r == CHUNK_AGAIN && res.used == strlen(big) && res.data.n == 6 &&
       memcmp(res.data.p, "abcdef", 6) == 0,
       "a 2^60-1 byte chunk: AGAIN, the data so far delivered");
    result_free(&res);
    ok(all_ways(big, strlen(big), &lim), "  split anywhere: the same");

    /* Data is delivered before the error that follows it. */
    const char *late = "5\r\nhello\r\nzz\r\n";
    scan1(late, strlen(late), &lim, &res);
    ok(res.r == CHUNK_ERROR && res.used == 10 && res.data.n == 5,
       "an error after a chunk: the chunk was delivered, used is the "
       "offending byte");
    result_free(&res);

    /* An error is final. */
    chunk_init(&d);
    r = chunk_scan(&d, &lim, "x\r\n", 3, &used, NULL, NULL, &why);
    ok(r == CHUNK_ERROR && used == 0 && why != NULL, "ERROR at byte 0");
    why = NULL;
    r = chunk_scan(&d, &lim, "0\r\n\r\n", 5, &used, NULL, NULL, &why);
    ok(r == CHUNK_ERROR && used == 0 && why != NULL,
       "after ERROR: ERROR again, never DONE");
    why = NULL;
    r = chunk_scan(&d, &lim, "", 0, &used, NULL, NULL, &why);
    ok(r == CHUNK_ERROR && why != NULL, "  even for empty input");
}

/* ---- rejections ------------------------------------------------------ */

static void
rejects_l(const char *s, size_t len, const struct chunk_limits *l,
          size_t at, const char *name)
{
    struct result res;

    scan_pieces(s, len, NULL, 0, l, 1, &res);
    if (!ok(res.r == CHUNK_ERROR && res.why != NULL &&
            (at == (size_t)-1 || res.used == at), "%s", name))
        diag("returned %d (%s), used %zu (want %zu)", res.r,
             res.why ? res.why : "", res.used, at);
    else
        ok(all_ways(s, len, l), "  split anywhere, byte by byte: the same");
    result_free(&res);
}

/* Rejected at byte at ((size_t)-1: anywhere). */
static void
rejects(const char *s, size_t at, const char *name)
{
    rejects_l(s, strlen(s), &lim, at, name);
}

#define ANY ((size_t)-1)

static void
test_reject(void)
{
    rejects("g\r\nhello\r\n0\r\n\r\n", 0, "non-hex size");
    rejects("5g\r\nhello\r\n0\r\n\r\n", 1, "a non-hex digit after the size");
    rejects("-5\r\nhello\r\n0\r\n\r\n", 0, "a negative size");
    rejects("\r\nhello\r\n0\r\n\r\n", 0, "empty size");
    rejects(";a=b\r\nhello\r\n0\r\n\r\n", 0, "empty size with an extension");
    rejects("5\r\nhello\r\n\r\n", 10, "empty size of the last chunk");
    rejects("0000000000000005\r\nhello\r\n0\r\n\r\n", 15,
            "16 hex digits, even with leading zeros");
    rejects("10000000000000000\r\nx\r\n0\r\n\r\n", 15,
            "a size over 60 bits");
    rejects("0x5\r\nhello\r\n0\r\n\r\n", 1, "0x prefix");
    rejects(" 5\r\nhello\r\n0\r\n\r\n", 0, "space before the size");
    rejects("\t5\r\nhello\r\n0\r\n\r\n", 0, "tab before the size");
    rejects("5 \r\nhello\r\n0\r\n\r\n", 1, "space after the size");
    rejects("5 ;a\r\nhello\r\n0\r\n\r\n", 1, "space before an extension");
    rejects("+5\r\nhello\r\n0\r\n\r\n", 0, "a sign");

    rejects("5\nhello\r\n0\r\n\r\n", 1, "bare LF after the size");
    rejects("5;a\nhello\r\n0\r\n\r\n", 3, "bare LF after an extension");
    rejects("5\r\nhello\n0\r\n\r\n", 8, "bare LF after data");
    rejects("0\n\r\n", 1, "bare LF after the last chunk size");
    rejects("0\r\n\n", 3, "bare LF as the final line");
    rejects("0\r\nX: y\n\r\n", 7, "bare LF after a trailer");
    rejects("5\rhello\r\n0\r\n\r\n", 2, "bare CR after the size");
    rejects("5;a\rhello\r\n0\r\n\r\n", 4, "bare CR after an extension");
    rejects("5\r\nhello\rX0\r\n\r\n", 9, "bare CR after data");
    rejects("0\r\n\rX", 4, "bare CR as the final line");
    rejects("0\r\nX: y\rZ\r\n\r\n", 8, "bare CR after a trailer");
    rejects("0\r\nX: a\rb\r\n\r\n", 8, "bare CR inside a trailer");
    rejects("5\r\nhello!\r\n0\r\n\r\n", 8,
            "chunk data longer than its size (no CRLF after it)");
    rejects("3\r\nhello\r\n0\r\n\r\n", 6, "chunk data longer than 3");

    static const char nul_ext[] = "5;a\0b\r\nhello\r\n0\r\n\r\n";
    rejects_l(nul_ext, sizeof(nul_ext) - 1, &lim, 3, "NUL in an extension");
    rejects("5;a\x01\r\nhello\r\n0\r\n\r\n", 3,
            "a control character in an extension");
    rejects("5;a\x7f\r\nhello\r\n0\r\n\r\n", 3, "DEL in an extension");
    rejects("5;0123456789abcdefg\r\nhello\r\n0\r\n\r\n", 18,
            "extension over the limit");
    rejects("0;0123456789abcdefg\r\n\r\n", 18,
            "extension of the last chunk over the limit");

    /* 63-byte field line + CRLF: 65 > 64. */
    rejects("0\r\nX: 0123456789012345678901234567890123456789"
            "01234567890123456789\r\n\r\n", 67, "trailer section over the limit");
    rejects("0\r\nA: 0123456789012345678901234567890\r\n"
            "B: 0123456789012345678901234567890\r\n\r\n", ANY,
            "two trailers over the limit together");
    rejects("0\r\nGET / HTTP/1.1\r\n\r\n", 6,
            "a trailer line that is no field (a request line)");
    rejects("0\r\n X: y\r\n\r\n", 3, "space at the start of a trailer line");
    rejects("0\r\n\tX: y\r\n\r\n", 3, "tab at the start of a trailer line");
    rejects("0\r\nX: y\r\n z\r\n\r\n", 9, "obs-fold in the trailers");
    rejects("0\r\nX : y\r\n\r\n", 4, "space before the colon of a trailer");
    rejects("0\r\n: y\r\n\r\n", 3, "a trailer with an empty name");
    rejects("0\r\nXY\r\n\r\n", 5, "a trailer with no colon");
    rejects("0\r\ngarbage\r\n", 10, "0 CRLF then garbage");
    rejects("0\r\n@@@\r\n\r\n", 3, "0 CRLF then punctuation");
    rejects("0\r\n\x01", 3, "0 CRLF then a control character");
    static const char nul_tr[] = "0\r\nX: a\0b\r\n\r\n";
    rejects_l(nul_tr, sizeof(nul_tr) - 1, &lim, 7, "NUL in a trailer value");
    static const char nul_size[] = "5\0\r\nhello\r\n0\r\n\r\n";
    rejects_l(nul_size, sizeof(nul_size) - 1, &lim, 1, "NUL after the size");
    rejects("5\r\nhello\r\n0\r\nX: \x7f\r\n\r\n", 16, "DEL in a trailer");
}

static const struct chunk_limits big = { 16, 4096 };

/* chunk_filter fed in pieces of k bytes, as the proxy does: what is
 * forwarded (the scanned bytes) and the final result. */
static int
filter_pieces(const char *in, size_t n, size_t k, char *out, size_t *olen,
              size_t *max_held)
{
    struct chunk_dec d;
    char buf[512];
    size_t blen = 0, off = 0;
    int r = CHUNK_AGAIN;
    const char *why;

    chunk_init(&d);
    *olen = 0;
    *max_held = 0;
    while (off < n && r == CHUNK_AGAIN) {
        size_t take = n - off < k ? n - off : k;
        memcpy(buf + blen, in + off, take);
        blen += take;
        off += take;
        size_t used, len = blen;
        r = chunk_filter(&d, &big, buf, &len, &used, NULL, NULL, &why);
        if (r == CHUNK_ERROR)
            return r;
        memcpy(out + *olen, buf, used);
        *olen += used;
        memmove(buf, buf + used, len - used);
        blen = len - used;
        if (blen > *max_held)
            *max_held = blen;
    }
    return r == CHUNK_DONE && blen == 0 && off == n ? CHUNK_DONE : -2;
}

static void
test_filter(void)
{
    static const char in[] =
        "3\r\nabc\r\n0\r\n"
        "X-A: 1\r\n"
        "Content-Length: 5\r\n"
        "content_length: 9\r\n"
        "HOST: x\r\n"
        "Hostile: y\r\n"
        "Transfer_Encoding: chunked\r\n"
        "Hos: z\r\n"
        "transfer-encodinG:\r\n"
        "\r\n";
    static const char want[] =
        "3\r\nabc\r\n0\r\n"
        "X-A: 1\r\n"
        "Hostile: y\r\n"
        "Hos: z\r\n"
        "\r\n";
    int all = 1;
    size_t worst = 0;

    for (size_t k = 1; k <= sizeof(in); k++) {
        char out[512];
        size_t olen, held;
        int r = filter_pieces(in, sizeof(in) - 1, k, out, &olen, &held);
        if (r != CHUNK_DONE || olen != sizeof(want) - 1 ||
            memcmp(out, want, olen) != 0) {
            all = 0;
            diag("pieces of %zu: r=%d out=%.*s", k, r, (int)olen, out);
        }
        if (held > worst)
            worst = held;
    }
    ok(all, "chunk_filter cuts the framing trailers, in pieces of any size");
    ok(worst <= 18 + 17, "it holds back no more than a name (%zu)", worst);

    /* chunk_scan passes them through, unchanged. */
    struct chunk_dec d;
    size_t used;
    const char *why;
    chunk_init(&d);
    ok(chunk_scan(&d, &big, in, sizeof(in) - 1, &used, NULL, NULL, &why) ==
       CHUNK_DONE && used == sizeof(in) - 1, "chunk_scan: not cut");
}

int
main(void)
{
    test_filter();
    test_valid();
    test_used();
    test_reject();
    return done_testing();
}
