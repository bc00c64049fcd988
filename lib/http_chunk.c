/* http_chunk: strict incremental scanner of chunked transfer coding. */
#include "http_chunk.h"

#include <string.h>

#include "uri.h"

/* RFC 9112 7.1:
 *   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk = 1*("0") [ chunk-ext ] CRLF
 *   trailer-section = *( field-line CRLF ) CRLF
 * Strict: sizes are plain hex that fit 60 bits, every line ends in CRLF,
 * extensions and trailers are bounded, no bare CR or LF anywhere. */
enum {
    S_SIZE,         /* hex digits */
    S_EXT,          /* chunk extension, up to CR */
    S_SIZE_LF,      /* after CR of the size line */
    S_DATA,
    S_DATA_CR,      /* CRLF after data */
    S_DATA_LF,
    S_TRAILER,      /* start of a trailer line, or the final CRLF */
    S_TRAILER_NAME, /* the field name of a trailer line */
    S_TRAILER_LINE, /* its value */
    S_TRAILER_LF,   /* after CR of a trailer line */
    S_FINAL_LF,     /* after the final CR */
    S_DONE,
    S_ERROR         /* failed: stays failed */
};

#define MAX_DIGITS 15   /* 60 bits: no chunk is that large, none overflows */

void
chunk_init(struct chunk_dec *d)
{
    memset(d, 0, sizeof(*d));
    d->state = S_SIZE;
}

static int
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The trailer names chunk_filter cuts out (http_framing_name's). */
static const struct {
    const char *name;
    size_t len;
} cut_names[] = {
    { "host", 4 }, { "content-length", 14 }, { "transfer-encoding", 17 },
};
#define CUT_ALL 7u

/* The candidates a name byte at position pos leaves. */
static unsigned
cut_next(unsigned cand, size_t pos, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c - 'A' + 'a');
    else if (c == '_')
        c = '-';
    for (unsigned k = 0; k < 3; k++)
        if ((cand & (1u << k)) &&
            (pos >= cut_names[k].len || cut_names[k].name[pos] != c))
            cand &= ~(1u << k);
    return cand;
}

static bool
cut_complete(unsigned cand, size_t n)
{
    for (unsigned k = 0; k < 3; k++)
        if ((cand & (1u << k)) && cut_names[k].len == n)
            return true;
    return false;
}

#define FAIL(msg) do { *why = (msg); *used = i; d->state = S_ERROR; \
                       if (buf != NULL) *plen = len; \
                       return CHUNK_ERROR; } while (0)

/* The scanner; with buf (== in), trailer lines are cut as chunk_filter
 * says and *plen is the length that remains. */
static int
scan(struct chunk_dec *d, const struct chunk_limits *lim, const char *in,
     char *buf, size_t len, size_t *plen, size_t *used,
     chunk_data_fn *on_data, void *ctx, const char **why)
{
    size_t i = 0;
    size_t line = 0;            /* start of the trailer line (buf) */
    size_t trailers0 = 0;       /* d->trailers before it */

    if (d->state == S_ERROR)
        FAIL("invalid chunked body");
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        switch (d->state) {
        case S_SIZE: {
            int v = uri_hexval(c);
            if (v >= 0) {
                if (++d->digits > MAX_DIGITS)
                    FAIL("chunk size too large");
                d->left = d->left * 16 + (uint64_t)v;
                i++;
                break;
            }
            if (d->digits == 0)
                FAIL("invalid chunk size");
            if (c == ';') {
                d->state = S_EXT;
                d->ext = 0;
                i++;
            } else if (c == '\r') {
                d->state = S_SIZE_LF;
                i++;
            } else {
                FAIL("invalid character after the chunk size");
            }
            break;
        }
        case S_EXT:
            if (c == '\r') {
                d->state = S_SIZE_LF;
            } else if (c == '\n' || c == '\0' || (c < 0x20 && c != '\t') ||
                       c == 0x7f) {
                FAIL("invalid character in a chunk extension");
            } else if (++d->ext > lim->max_ext) {
                FAIL("chunk extension too long");
            }
            i++;
            break;
        case S_SIZE_LF:
            if (c != '\n')
                FAIL("bare CR in a chunk size line");
            i++;
            d->digits = 0;
            if (d->left == 0) {
                d->state = S_TRAILER;
                d->trailers = 0;
            } else {
                d->state = S_DATA;
            }
            break;
        case S_DATA: {
            size_t n = len - i;
            if (n > d->left)
                n = (size_t)d->left;
            if (on_data != NULL)
                on_data(ctx, in + i, n);
            d->left -= n;
            i += n;
            if (d->left == 0)
                d->state = S_DATA_CR;
            break;
        }
        case S_DATA_CR:
            if (c != '\r')
                FAIL("chunk data longer than its size");
            d->state = S_DATA_LF;
            i++;
            break;
        case S_DATA_LF:
            if (c != '\n')
                FAIL("bare CR after chunk data");
            d->state = S_SIZE;
            i++;
            break;
        case S_TRAILER:
            /* The final CRLF is not part of the trailer section. */
            if (c == '\r') {
                d->state = S_FINAL_LF;
            } else if (is_tchar(c)) {
                d->state = S_TRAILER_NAME;
                line = i;
                trailers0 = d->trailers;
                d->name_len = 1;
                d->cand = buf != NULL ? cut_next(CUT_ALL, 0, c) : 0;
                if (++d->trailers > lim->max_trailers)
                    FAIL("trailers too large");
            } else {
                FAIL("invalid trailer line");
            }
            i++;
            break;
        case S_TRAILER_NAME:
            /* field-name ":" as in a header: anything else is no trailer */
            if (c == ':') {
                d->state = S_TRAILER_LINE;
                /* undecided names were held back: the line is in buf */
                d->drop = d->cand != 0 && cut_complete(d->cand, d->name_len);
            } else if (!is_tchar(c)) {
                FAIL("invalid trailer field name");
            } else if (d->cand != 0) {
                d->cand = cut_next(d->cand, d->name_len, c);
            }
            d->name_len++;
            if (++d->trailers > lim->max_trailers)
                FAIL("trailers too large");
            i++;
            break;
        case S_TRAILER_LINE:
            if (c == '\r')
                d->state = S_TRAILER_LF;
            else if (c == '\n' || c == '\0' || (c < 0x20 && c != '\t') ||
                     c == 0x7f)
                FAIL("invalid character in a trailer");
            if (++d->trailers > lim->max_trailers)
                FAIL("trailers too large");
            i++;
            break;
        case S_TRAILER_LF:
            if (c != '\n')
                FAIL("bare CR in a trailer");
            if (++d->trailers > lim->max_trailers)
                FAIL("trailers too large");
            d->state = S_TRAILER;
            i++;
            if (d->drop) {
                /* cut [line, i): what follows moves up */
                memmove(buf + line, buf + i, len - i);
                len -= i - line;
                i = line;
                d->drop = false;
            }
            break;
        case S_FINAL_LF:
            if (c != '\n')
                FAIL("bare CR at the end of the chunked body");
            i++;
            d->state = S_DONE;
            *used = i;
            if (buf != NULL)
                *plen = len;
            return CHUNK_DONE;
        case S_DONE:
        default:
            *used = i;
            if (buf != NULL)
                *plen = len;
            return CHUNK_DONE;
        }
    }
    if (buf != NULL && d->state == S_TRAILER_NAME && d->cand != 0) {
        /* A name that may still be one to cut: given again with more. */
        i = line;
        d->state = S_TRAILER;
        d->trailers = trailers0;
    } else if (buf != NULL && d->drop) {
        len = line;             /* the part of the cut line in this input */
        i = len;
    }
    if (buf != NULL)
        *plen = len;
    *used = i;
    return d->state == S_DONE ? CHUNK_DONE : CHUNK_AGAIN;
}

int
chunk_scan(struct chunk_dec *d, const struct chunk_limits *lim,
           const char *in, size_t len, size_t *used,
           chunk_data_fn *on_data, void *ctx, const char **why)
{
    return scan(d, lim, in, NULL, len, NULL, used, on_data, ctx, why);
}

int
chunk_filter(struct chunk_dec *d, const struct chunk_limits *lim, char *buf,
             size_t *len, size_t *used, chunk_data_fn *on_data, void *ctx,
             const char **why)
{
    return scan(d, lim, buf, buf, *len, len, used, on_data, ctx, why);
}
