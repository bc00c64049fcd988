/* uri: request-path normalisation (percent-decoding, slashes, dot-segments). */
#ifndef CERB_URI_H
#define CERB_URI_H

#include <stddef.h>

/* The value of a hex digit, or -1. */
static inline int
uri_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* uri_normalize flags. What %2F, %5C and a raw backslash do is one of
 * three: refused (no flag), kept as ordinary characters of their
 * segment (URI_SLASHES_KEEP), or read as "/" (URI_SLASHES_DECODE). */
#define URI_MERGE_SLASHES   0x01    /* "//" is "/" */
#define URI_SLASHES_KEEP    0x02
#define URI_SLASHES_DECODE  0x04

enum uri_result {
    URI_OK = 0,
    URI_BAD_ESCAPE,             /* "%" not followed by two hex digits */
    URI_ESCAPED_SLASH,          /* %2F, %5C or "\" while they are refused */
    URI_ABOVE_ROOT,             /* a ".." with nothing left to remove */
    URI_DOT_PARAMS,             /* ".;x" or "..;x": a dot-segment to some */
    URI_TOO_LONG                /* does not fit in cap */
};

/* The normalised form of an origin-form path (no query), the one routes
 * and deny rules match and the server receives: escapes of unreserved
 * characters decoded, the other escapes kept with upper-case hex digits,
 * slashes per flags, dot-segments removed (RFC 3986 5.2.4). "*" and an
 * authority (CONNECT) normalise to "/". out must not overlap path; the
 * result is never longer than path. URI_OK sets *outlen. */
enum uri_result uri_normalize(const char *path, size_t len, char *out,
                              size_t cap, unsigned flags, size_t *outlen);
/* The reason for a 400, for the logs. */
const char *uri_result_text(enum uri_result r);

#endif
