/* uri: request-path normalisation for matching (percent-decoding, dot-segments). */
#ifndef CERB_URI_H
#define CERB_URI_H

#include <stddef.h>

size_t uri_normalize_path(const char *path, size_t len, char *out, size_t cap);

#endif
