/* uri: the normalised path that routes are matched against. */
#include <string.h>

#include "tap.h"
#include "uri.h"

static void
norm_is(const char *in, const char *want)
{
    char out[256];
    char name[300];

    memset(out, 'Z', sizeof(out));
    size_t n = uri_normalize_path(in, strlen(in), out, sizeof(out));
    snprintf(name, sizeof(name), "\"%s\" -> \"%s\"", in, want);
    if (n == (size_t)-1) {
        ok(0, "%s", name);
        diag("rejected");
        return;
    }
    out[n < sizeof(out) ? n : sizeof(out) - 1] = '\0';
    is_str(out, want, name);
}

static void
norm_bad(const char *in)
{
    char out[256];

    ok(uri_normalize_path(in, strlen(in), out, sizeof(out)) == (size_t)-1,
       "\"%s\" is rejected", in);
}

int
main(void)
{
    /* Dot-segments cannot climb out of a prefix. */
    norm_is("/a/../b", "/b");
    norm_is("/a/./b/", "/a/b/");
    norm_is("/a/b/..", "/a/");
    norm_is("/a/b/.", "/a/b/");
    norm_is("/..", "/");
    norm_is("/.", "/");
    norm_is("/../", "/");
    norm_is("/../../a", "/a");
    norm_is("/a/b/../../c", "/c");
    norm_is("/a/b/c/../../../../d", "/d");
    norm_is("/a/./././b", "/a/b");
    norm_is("/api/../admin/", "/admin/");
    /* Escaped dots are dots. */
    norm_is("/%2e%2e/etc", "/etc");
    norm_is("/%2E%2E/etc", "/etc");
    norm_is("/a/.%2e/b", "/b");
    norm_is("/a/%2e/b", "/a/b");
    norm_is("/static/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd");
    /* Unreserved escapes are decoded, the others kept as written. */
    norm_is("/%41", "/A");
    norm_is("/%7euser", "/~user");
    norm_is("/a%2db%5fc", "/a-b_c");
    norm_is("/%2F", "/%2F");
    norm_is("/a%2f..%2fb", "/a%2f..%2fb");
    norm_is("/%2e%2e%2fetc", "/..%2fetc");
    norm_is("/%20x", "/%20x");
    norm_is("/%25", "/%25");
    norm_is("/%2541", "/%2541");            /* decoded once, not twice */
    /* Not dot-segments. */
    norm_is("/a/..b", "/a/..b");
    norm_is("/a/b..", "/a/b..");
    norm_is("/a/...", "/a/...");
    norm_is("/.hidden", "/.hidden");
    /* Empty segments are kept. */
    norm_is("//a", "//a");
    norm_is("/a//b/", "/a//b/");
    norm_is("//../a", "/a");
    norm_is("/", "/");
    /* Not an origin-form path: "*" and authority-form match as "/". */
    norm_is("*", "/");
    norm_is("example.com:443", "/");
    norm_is("", "/");

    /* Malformed escapes. */
    norm_bad("/%zz");
    norm_bad("/%4");
    norm_bad("/%");
    norm_bad("/a%g0");
    norm_bad("/a%0g/b");
    norm_bad("/ok/%4/..");

    /* Only len bytes are read. */
    char out[64];
    size_t n = uri_normalize_path("/a/..XYZ", 5, out, sizeof(out));
    ok(n == 1 && out[0] == '/', "only len bytes are read");
    n = uri_normalize_path("/x%41", 4, out, sizeof(out));
    ok(n == (size_t)-1, "an escape cut by len is malformed");

    /* Capacity. */
    ok(uri_normalize_path("/abcd", 5, out, 5) == 5, "an exact fit");
    ok(uri_normalize_path("/abcd", 5, out, 4) == (size_t)-1,
       "one byte short: rejected");
    ok(uri_normalize_path("/%41%42", 7, out, 3) == 3 &&
       memcmp(out, "/AB", 3) == 0, "decoded text that fits after decoding");

    /* Never longer than the input. */
    static const char *const samples[] = {
        "/a/b/c", "/..", "/./", "/a/.", "/%2e", "/%2e/", "/x/%2E%2e",
        "//", "/a/../../..", "/a/b/../c/./d/..",
    };
    int shorter = 1;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        size_t l = strlen(samples[i]);
        n = uri_normalize_path(samples[i], l, out, sizeof(out));
        if (n == (size_t)-1 || n > l || out[0] != '/')
            shorter = 0;
    }
    ok(shorter, "results start with / and are never longer than the input");
    return done_testing();
}
