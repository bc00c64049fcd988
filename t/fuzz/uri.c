/* fuzz-uri: uri_normalize on arbitrary bytes, the first byte choosing
 * the flags (merge_slashes; escaped_slashes reject, keep or decode).
 *
 * The result routes match and the server receives must never escape a
 * prefix: it starts with "/", has no "." or ".." segment (nor one with
 * parameters), no "//" when merging, no %2F, %5C or "\" unless kept,
 * only upper-case escapes of reserved characters, is never longer than
 * the input, and normalising it again changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static int
has(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle)) != NULL;
}

static int
ends(const char *s, size_t n, const char *suffix)
{
    size_t l = strlen(suffix);
    return n >= l && memcmp(s + n - l, suffix, l) == 0;
}

static int
upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int
unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const unsigned modes[] = {
        0, URI_SLASHES_KEEP, URI_SLASHES_DECODE, URI_SLASHES_KEEP
    };
    unsigned flags = (data[0] & 1 ? URI_MERGE_SLASHES : 0) |
                     modes[(data[0] >> 1) & 3];
    data++;
    size--;
    /* Exact-size buffers: ASan sees any access past either end. */
    char *in = malloc(size ? size : 1);
    size_t cap = size ? size : 1;
    char *out = malloc(cap);
    char *again = malloc(cap);

    if (in == NULL || out == NULL || again == NULL)
        goto done;
    memcpy(in, data, size);
    size_t n = 0;
    enum uri_result r = uri_normalize(in, size, out, cap, flags, &n);
    if (r != URI_OK) {
        CHECK(size > 0 && in[0] == '/');
        CHECK(r != URI_TOO_LONG);           /* the output always fits */
        if (r == URI_BAD_ESCAPE)
            CHECK(memchr(in, '%', size) != NULL);
        if (r == URI_ESCAPED_SLASH)
            CHECK(!(flags & (URI_SLASHES_KEEP | URI_SLASHES_DECODE)) &&
                  (memchr(in, '%', size) != NULL ||
                   memchr(in, '\\', size) != NULL));
        if (r == URI_ABOVE_ROOT || r == URI_DOT_PARAMS)
            CHECK(memchr(in, '.', size) != NULL ||
                  memchr(in, '%', size) != NULL);
        goto done;
    }
    CHECK(n >= 1 && n <= cap);
    CHECK(size == 0 || n <= size);
    CHECK(out[0] == '/');
    CHECK(!has(out, n, "/../") && !ends(out, n, "/.."));
    CHECK(!has(out, n, "/./") && !ends(out, n, "/."));
    CHECK(!has(out, n, "/.;") && !has(out, n, "/..;"));
    if (flags & URI_MERGE_SLASHES)
        CHECK(!has(out, n, "//"));
    if (!(flags & URI_SLASHES_KEEP))
        CHECK(!has(out, n, "%2F") && !has(out, n, "%5C") &&
              memchr(out, '\\', n) == NULL);
    for (size_t i = 0; i < n; i++) {
        if (out[i] != '%')
            continue;
        CHECK(i + 2 < n && upper_hex(out[i + 1]) && upper_hex(out[i + 2]));
        CHECK(!unreserved(uri_hexval(out[i + 1]) * 16 +
                          uri_hexval(out[i + 2])));
    }
    if (size > 0 && in[0] != '/')
        CHECK(n == 1);
    /* Idempotent: nothing left to decode, merge or remove. */
    size_t m = 0;
    CHECK(uri_normalize(out, n, again, cap, flags, &m) == URI_OK);
    CHECK(m == n && memcmp(out, again, n) == 0);
done:
    free(in);
    free(out);
    free(again);
    return 0;
}
