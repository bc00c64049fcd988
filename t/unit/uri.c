/* uri: the normalised path that routes and deny rules match and the
 * server receives. */
#include <string.h>

#include "tap.h"
#include "uri.h"

#define M URI_MERGE_SLASHES
#define KEEP URI_SLASHES_KEEP
#define DEC URI_SLASHES_DECODE

static void
norm_f(unsigned flags, const char *in, const char *want)
{
    char out[256];
    char name[300];
    size_t n = 0;

    memset(out, 'Z', sizeof(out));
    enum uri_result r = uri_normalize(in, strlen(in), out, sizeof(out), flags,
                                      &n);
    snprintf(name, sizeof(name), "\"%s\" -> \"%s\" (flags %u)", in, want,
             flags);
    if (r != URI_OK) {
        ok(0, "%s", name);
        diag("refused: %s", uri_result_text(r));
        return;
    }
    out[n < sizeof(out) ? n : sizeof(out) - 1] = '\0';
    is_str(out, want, name);
}

/* The defaults: "//" merged, %2F, %5C and "\" refused. */
static void
norm_is(const char *in, const char *want)
{
    norm_f(M, in, want);
}

static void
bad_f(unsigned flags, const char *in, enum uri_result want)
{
    char out[256];
    size_t n = 0;

    enum uri_result r = uri_normalize(in, strlen(in), out, sizeof(out), flags,
                                      &n);
    ok(r == want, "\"%s\" (flags %u) is refused: %s", in, flags,
       uri_result_text(want));
    if (r != want)
        diag("got: %s", uri_result_text(r));
}

static void
norm_bad(const char *in, enum uri_result want)
{
    bad_f(M, in, want);
}

int
main(void)
{
    /* Dot-segments are removed (RFC 3986 5.2.4). */
    norm_is("/a/../b", "/b");
    norm_is("/a/./b/", "/a/b/");
    norm_is("/a/b/..", "/a/");
    norm_is("/a/b/.", "/a/b/");
    norm_is("/.", "/");
    norm_is("/a/..", "/");
    norm_is("/a/b/../../c", "/c");
    norm_is("/a/./././b", "/a/b");
    norm_is("/api/../admin/", "/admin/");
    norm_is("/admin/../public", "/public");
    /* ... and never climb above the root. */
    norm_bad("/..", URI_ABOVE_ROOT);
    norm_bad("/../", URI_ABOVE_ROOT);
    norm_bad("/../a", URI_ABOVE_ROOT);
    norm_bad("/a/../../b", URI_ABOVE_ROOT);
    norm_bad("/a/b/c/../../../../d", URI_ABOVE_ROOT);
    norm_bad("/%2e%2e/etc", URI_ABOVE_ROOT);
    norm_bad("/static/%2e%2e/%2e%2e/etc/passwd", URI_ABOVE_ROOT);
    /* Escaped dots are dots. */
    norm_is("/x/%2e%2e/etc", "/etc");
    norm_is("/x/%2E%2E/etc", "/etc");
    norm_is("/a/.%2e/b", "/b");
    norm_is("/a/%2e/b", "/a/b");
    norm_is("/public/%2e%2e/admin", "/admin");
    /* Unreserved escapes are decoded, the others kept, in upper case. */
    norm_is("/%41", "/A");
    norm_is("/%61dmin", "/admin");
    norm_is("/%7euser", "/~user");
    norm_is("/a%2db%5fc", "/a-b_c");
    norm_is("/%20x", "/%20x");
    norm_is("/%3f%3F", "/%3F%3F");
    norm_is("/%25", "/%25");
    norm_is("/%2541", "/%2541");            /* decoded once, not twice */
    norm_is("/%252F", "/%252F");
    norm_is("/a%00b", "/a%00b");
    norm_is("/%c3%a9", "/%C3%A9");
    /* Not dot-segments. */
    norm_is("/a/..b", "/a/..b");
    norm_is("/a/b..", "/a/b..");
    norm_is("/a/...", "/a/...");
    norm_is("/.hidden", "/.hidden");
    norm_is("/a/..%2e", "/a/...");
    /* ";params" belong to their segment: kept, never stripped. */
    norm_is("/admin;x=1", "/admin;x=1");
    norm_is("/a;x/b;y=2/", "/a;x/b;y=2/");
    norm_is("/a/b;/../c", "/a/c");
    /* ... but a dot-segment with parameters is refused. */
    norm_bad("/public/..;/admin", URI_DOT_PARAMS);
    norm_bad("/a/.;x/b", URI_DOT_PARAMS);
    norm_bad("/a/%2e%2e;x", URI_DOT_PARAMS);
    norm_is("/a/...;x", "/a/...;x");
    /* Slashes merged (the default) ... */
    norm_is("//admin", "/admin");
    norm_is("/a//b/", "/a/b/");
    norm_is("/a///", "/a/");
    norm_is("//", "/");
    norm_is("/", "/");
    norm_is("/a//../b", "/b");
    norm_bad("//../a", URI_ABOVE_ROOT);     /* it is "/../a" */
    norm_is("/.//./admin", "/admin");
    /* ... or kept. */
    norm_f(0, "//admin", "//admin");
    norm_f(0, "/a//b/", "/a//b/");
    norm_f(0, "//../a", "/a");
    norm_f(0, "/a//../b", "/a/b");
    /* %2F, %5C and "\": refused, kept or read as "/". */
    norm_bad("/admin%2Fx", URI_ESCAPED_SLASH);
    norm_bad("/admin%2fx", URI_ESCAPED_SLASH);
    norm_bad("/admin%5Cx", URI_ESCAPED_SLASH);
    norm_bad("/admin\\x", URI_ESCAPED_SLASH);
    norm_bad("/public/..%2Fadmin", URI_ESCAPED_SLASH);
    norm_f(M | KEEP, "/a%2fb", "/a%2Fb");
    norm_f(M | KEEP, "/a%5cb", "/a%5Cb");
    norm_f(M | KEEP, "/a\\b", "/a\\b");
    norm_f(M | KEEP, "/public/..%2Fadmin", "/public/..%2Fadmin");
    norm_f(M | KEEP, "/public\\..\\admin", "/public\\..\\admin");
    norm_f(M | DEC, "/a%2fb", "/a/b");
    norm_f(M | DEC, "/a%5Cb", "/a/b");
    norm_f(M | DEC, "/a\\b", "/a/b");
    norm_f(M | DEC, "/public/..%2Fadmin", "/admin");
    norm_f(M | DEC, "/public\\..\\admin", "/admin");
    norm_f(M | DEC, "/a%2F%2Fb", "/a/b");
    norm_f(DEC, "/a%2F%2Fb", "/a//b");
    bad_f(M | DEC, "/%2F..%2F..", URI_ABOVE_ROOT);
    /* Not an origin-form path: "*" and authority-form match as "/". */
    norm_is("*", "/");
    norm_is("example.com:443", "/");
    norm_is("", "/");

    /* Malformed escapes. */
    norm_bad("/%zz", URI_BAD_ESCAPE);
    norm_bad("/%4", URI_BAD_ESCAPE);
    norm_bad("/%", URI_BAD_ESCAPE);
    norm_bad("/a%g0", URI_BAD_ESCAPE);
    norm_bad("/a%0g/b", URI_BAD_ESCAPE);
    norm_bad("/ok/%4/..", URI_BAD_ESCAPE);

    /* Only len bytes are read. */
    char out[64];
    size_t n = 0;
    ok(uri_normalize("/a/..XYZ", 5, out, sizeof(out), M, &n) == URI_OK &&
       n == 1 && out[0] == '/', "only len bytes are read");
    ok(uri_normalize("/x%41", 4, out, sizeof(out), M, &n) == URI_BAD_ESCAPE,
       "an escape cut by len is malformed");

    /* Capacity. */
    ok(uri_normalize("/abcd", 5, out, 5, M, &n) == URI_OK && n == 5,
       "an exact fit");
    ok(uri_normalize("/abcd", 5, out, 4, M, &n) == URI_TOO_LONG,
       "one byte short: refused");
    ok(uri_normalize("/%41%42", 7, out, 3, M, &n) == URI_OK && n == 3 &&
       memcmp(out, "/AB", 3) == 0, "decoded text that fits after decoding");
    ok(uri_normalize("*", 1, out, 0, M, &n) == URI_TOO_LONG,
       "no room at all: refused");

    /* Never longer than the input, and normalising again changes
     * nothing. */
    static const char *const samples[] = {
        "/a/b/c", "/./", "/a/.", "/%2e", "/%2e/", "/x/%2E%2e", "//",
        "/a/b/../c/./d/..", "/a%2f%5c\\b//c/", "/%7e%7E%3a", "/a;b/..;c",
    };
    static const unsigned fl[] = { 0, M, KEEP, M | KEEP, DEC, M | DEC };
    int shorter = 1, stable = 1;
    for (size_t f = 0; f < sizeof(fl) / sizeof(fl[0]); f++) {
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
            size_t l = strlen(samples[i]), m = 0;
            char again[64];
            if (uri_normalize(samples[i], l, out, sizeof(out), fl[f], &n) !=
                URI_OK)
                continue;
            if (n > l || out[0] != '/')
                shorter = 0;
            if (uri_normalize(out, n, again, sizeof(again), fl[f], &m) !=
                URI_OK || m != n || memcmp(out, again, n) != 0)
                stable = 0;
        }
    }
    ok(shorter, "results start with / and are never longer than the input");
    ok(stable, "normalising a result again changes nothing");
    return done_testing();
}
