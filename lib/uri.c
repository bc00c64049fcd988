/* uri: request-path normalisation (percent-decoding, slashes, dot-segments). */
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

/* Step 1, into out: escapes of unreserved characters decoded (so %2e is a
 * dot), the others kept in upper case (RFC 3986 6.2.2.1), %2F, %5C and
 * "\" as flags say. Decoded once: %252e stays %252e. */
static enum uri_result
decode(const char *path, size_t len, char *out, size_t cap, unsigned flags,
       size_t *olen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = path[i];
        bool escaped = false;
        int v = (unsigned char)ch;
        if (ch == '%') {
            if (i + 2 >= len)
                return URI_BAD_ESCAPE;
            int hi = uri_hexval((unsigned char)path[i + 1]);
            int lo = uri_hexval((unsigned char)path[i + 2]);
            if (hi < 0 || lo < 0)
                return URI_BAD_ESCAPE;
            v = hi * 16 + lo;
            i += 2;
            escaped = true;
        }
        if (v == '/' && !escaped) {
            /* a separator */
        } else if (v == '/' || v == '\\') {
            if (!(flags & (URI_SLASHES_KEEP | URI_SLASHES_DECODE)))
                return URI_ESCAPED_SLASH;
            if (flags & URI_SLASHES_DECODE) {
                v = '/';
                escaped = false;
            }
        } else if (escaped && unreserved(v)) {
            escaped = false;
        }
        if (o + (escaped ? 3 : 1) > cap)
            return URI_TOO_LONG;
        if (escaped) {
            out[o++] = '%';
            out[o++] = hex[v >> 4];
            out[o++] = hex[v & 15];
        } else {
            out[o++] = (char)v;
        }
    }
    *olen = o;
    return URI_OK;
}

enum uri_result
uri_normalize(const char *path, size_t len, char *out, size_t cap,
              unsigned flags, size_t *outlen)
{
    size_t o;

    if (cap == 0)
        return URI_TOO_LONG;
    if (len == 0 || path[0] != '/') {     /* "*" (OPTIONS) or authority */
        out[0] = '/';
        *outlen = 1;
        return URI_OK;
    }
    enum uri_result res = decode(path, len, out, cap, flags, &o);
    if (res != URI_OK)
        return res;
    /* Step 2, in place: out[0..w) is always "" or "/seg/seg...", w <= r. */
    size_t w = 0, r = 0;
    while (r < o) {
        size_t s = r + 1, e = s;
        while (e < o && out[e] != '/')
            e++;
        size_t n = e - s;
        bool last = e == o;
        if (n == 1 && out[s] == '.') {
            if (last)
                out[w++] = '/';
        } else if (n == 2 && out[s] == '.' && out[s + 1] == '.') {
            if (w == 0)
                return URI_ABOVE_ROOT;
            while (out[w - 1] != '/')
                w--;
            w--;
            if (last)
                out[w++] = '/';
        } else if ((n >= 2 && out[s] == '.' && out[s + 1] == ';') ||
                   (n >= 3 && out[s] == '.' && out[s + 1] == '.' &&
                    out[s + 2] == ';')) {
            /* Servlet containers read "..;x" as "..": no such segment
             * has a use, and matching it as a name would be a bypass. */
            return URI_DOT_PARAMS;
        } else if (n == 0 && !last && (flags & URI_MERGE_SLASHES)) {
            /* "//": the empty segment is dropped */
        } else {
            memmove(out + w, out + r, e - r);
            w += e - r;
        }
        r = e;
    }
    if (w == 0)
        out[w++] = '/';
    *outlen = w;
    return URI_OK;
}

const char *
uri_result_text(enum uri_result r)
{
    switch (r) {
    case URI_OK: return "ok";
    case URI_BAD_ESCAPE: return "invalid percent-encoding in the path";
    case URI_ESCAPED_SLASH:
        return "an escaped slash or a backslash in the path";
    case URI_ABOVE_ROOT: return "the path climbs above the root (\"..\")";
    case URI_DOT_PARAMS:
        return "a dot-segment with parameters (\".;\" or \"..;\") in the path";
    case URI_TOO_LONG: return "the path is too long";
    }
    return "invalid path";
}
