/* http_chunk: strict incremental scanner of chunked transfer coding. */
#ifndef CERB_HTTP_CHUNK_H
#define CERB_HTTP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunk_dec {
    int state;
    uint64_t left;              /* data bytes left in the current chunk */
    unsigned digits;            /* hex digits of the current size */
    size_t ext;                 /* bytes of the current chunk extension */
    size_t trailers;            /* bytes of trailer section so far */
    size_t line;                /* bytes of the current trailer line */
    /* chunk_filter: the trailer line being read */
    size_t name_len;            /* bytes of its name so far */
    unsigned cand;              /* framing names it may still be */
    bool drop;                  /* it is cut out */
};

struct chunk_limits {
    size_t max_ext;             /* per chunk extension */
    size_t max_trailers;        /* the whole trailer section */
};

enum { CHUNK_AGAIN = 0, CHUNK_DONE = 1, CHUNK_ERROR = -1 };

/* Called for each span of chunk data (pointing into the input). */
typedef void chunk_data_fn(void *ctx, const char *p, size_t n);

void chunk_init(struct chunk_dec *d);
/* Scans in[0..len). CHUNK_AGAIN: all consumed, more needed (*used = len);
 * CHUNK_DONE: the body ended, *used bytes of it (the final CRLF included)
 * are in this input; CHUNK_ERROR: invalid framing, *why says how.
 * on_data may be NULL (pass-through: the caller forwards the raw bytes). */
int chunk_scan(struct chunk_dec *d, const struct chunk_limits *lim,
               const char *in, size_t len, size_t *used,
               chunk_data_fn *on_data, void *ctx, const char **why);

/* As chunk_scan, over a writable buffer from which every trailer line
 * named as a framing or routing header (Content-Length, Transfer-Encoding,
 * Host, in any case and with '_' for '-') is cut out in place: *len
 * becomes what remains of buf; buf[0..*used) is scanned and ready to
 * forward; buf[*used..*len) is the start of a trailer line whose name is
 * not known yet (at most 18 bytes), to present again with more input. */
int chunk_filter(struct chunk_dec *d, const struct chunk_limits *lim,
                 char *buf, size_t *len, size_t *used,
                 chunk_data_fn *on_data, void *ctx, const char **why);

#endif
