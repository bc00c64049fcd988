/* uri: request-path normalisation for matching (percent-decoding, dot-segments). */
#include "uri.h"

#include <stdbool.h>
#include <string.h>

static int
unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* The path routes are matched against: %XX of unreserved characters
 * decoded (so %2e is a dot), then dot-segments removed (RFC 3986 5.2.4),
 * so "/a/../b" and "/%2e%2e/" cannot escape a prefix. Other escapes stay
 * as they are. Returns the length, or (size_t)-1 for a malformed escape
 * or a path that does not fit. */
size_t
uri_normalize_path(const char *path, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    if (len == 0 || path[0] != '/') {     /* "*" (OPTIONS) or authority */
        out[0] = '/';
        return 1;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = path[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return (size_t)-1;
            int hi = uri_hexval((unsigned char)path[i + 1]);
            int lo = uri_hexval((unsigned char)path[i + 2]);
            if (hi < 0 || lo < 0)
                return (size_t)-1;
            if (unreserved(hi * 16 + lo)) {
                ch = (char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (o >= cap)
            return (size_t)-1;
        out[o++] = ch;
    }
    /* In place: out[0..w) is always "" or "/seg/seg...", and w <= r. */
    size_t w = 0, r = 0;
    while (r < o) {
        size_t s = r + 1, e = s;
        while (e < o && out[e] != '/')
            e++;
        bool last = e == o;
        if (e - s == 1 && out[s] == '.') {
            if (last)
                out[w++] = '/';
        } else if (e - s == 2 && out[s] == '.' && out[s + 1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--;
            if (last)
                out[w++] = '/';
        } else {
            memmove(out + w, out + r, e - r);
            w += e - r;
        }
        r = e;
    }
    if (w == 0)
        out[w++] = '/';
    return w;
}

