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

#define FAIL(msg) do { *why = (msg); *used = i; d->state = S_ERROR; \
                       return CHUNK_ERROR; } while (0)

int
chunk_scan(struct chunk_dec *d, const struct chunk_limits *lim,
           const char *in, size_t len, size_t *used,
           chunk_data_fn *on_data, void *ctx, const char **why)
{
    size_t i = 0;

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
                if (++d->trailers > lim->max_trailers)
                    FAIL("trailers too large");
            } else {
                FAIL("invalid trailer line");
            }
            i++;
            break;
        case S_TRAILER_NAME:
            /* field-name ":" as in a header: anything else is no trailer */
            if (c == ':')
                d->state = S_TRAILER_LINE;
            else if (!is_tchar(c))
                FAIL("invalid trailer field name");
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
            break;
        case S_FINAL_LF:
            if (c != '\n')
                FAIL("bare CR at the end of the chunked body");
            i++;
            d->state = S_DONE;
            *used = i;
            return CHUNK_DONE;
        case S_DONE:
        default:
            *used = i;
            return CHUNK_DONE;
        }
    }
    *used = i;
    return d->state == S_DONE ? CHUNK_DONE : CHUNK_AGAIN;
}
