/* uri: request-path normalisation for matching (percent-decoding, dot-segments). */
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

size_t uri_normalize_path(const char *path, size_t len, char *out, size_t cap);

#endif
