/* fuzz-uri: uri_normalize_path on arbitrary bytes.
 *
 * The result routes are matched against must never escape a prefix:
 * it starts with "/", has no "/../" (or "/./") segment, does not end in
 * "/.." (or "/."), is never longer than the input, and normalising it
 * again changes nothing. */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size buffers: ASan sees any access past either end. */
    char *in = malloc(size ? size : 1);
    size_t cap = size ? size : 1;
    char *out = malloc(cap);
    char *again = malloc(cap);

    if (in == NULL || out == NULL || again == NULL)
        goto done;
    memcpy(in, data, size);
    size_t n = uri_normalize_path(in, size, out, cap);
    if (n == (size_t)-1) {
        /* Only a malformed escape is refused (the output always fits). */
        CHECK(size > 0 && in[0] == '/' && memchr(in, '%', size) != NULL);
        goto done;
    }
    CHECK(n >= 1 && n <= cap);
    CHECK(size == 0 || n <= size);
    CHECK(out[0] == '/');
    CHECK(!has(out, n, "/../") && !ends(out, n, "/.."));
    CHECK(!has(out, n, "/./") && !ends(out, n, "/."));
    if (size > 0 && in[0] != '/')
        CHECK(n == 1);
    /* Idempotent: nothing left to decode or remove. */
    size_t m = uri_normalize_path(out, n, again, cap);
    CHECK(m == n && memcmp(out, again, n) == 0);
done:
    free(in);
    free(out);
    free(again);
    return 0;
}
