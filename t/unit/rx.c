/* rx: PCRE2 matches within limits; a limit hit is -1 (never "no match"),
 * reported at most once a second. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rx.h"
#include "tap.h"

static struct rx
compile(const char *pattern, int jit, const char *where)
{
    int code;
    PCRE2_SIZE off;
    struct rx r = { NULL, where };

    r.code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0,
                           &code, &off, NULL);
    if (r.code != NULL && jit)
        pcre2_jit_compile(r.code, PCRE2_JIT_COMPLETE);
    return r;
}

static char *
repeat(char c, size_t n, const char *tail)
{
    char *s = malloc(n + strlen(tail) + 1);
    memset(s, c, n);
    strcpy(s + n, tail);
    return s;
}

static int
count_lines(const char *path, const char *needle)
{
    char buf[16384];
    FILE *f = fopen(path, "r");
    int n = 0;

    if (f == NULL)
        return -1;
    while (fgets(buf, sizeof(buf), f) != NULL)
        n += strstr(buf, needle) != NULL;
    fclose(f);
    return n;
}

int
main(void)
{
    char logf[64];
    snprintf(logf, sizeof(logf), "/tmp/rx-unit-%ld.log", (long)getpid());
    unlink(logf);
    ok(log_open(logf, NULL, 0) == 0, "the log goes to %s", logf);
    pcre2_match_data *md = pcre2_match_data_create(32, NULL);
    char *redos = repeat('a', 40, "bac");
    char *fine = repeat('a', 40, "ac");
    char *noc = repeat('a', 5000, "ab");
    char *word = repeat('w', 8000, "");

    ok(rx_setup(100000, 50000) == 0, "rx_setup");
    for (int jit = 0; jit <= 1; jit++) {
        struct rx re = compile("(a+)+c", jit, "test.conf:3: deny");
        ok(re.code != NULL, "(a+)+c compiles (jit %d)", jit);
        ok(rx_match(&re, "xyz", 3, md, "nothing") == 0, "  no match: 0");
        ok(rx_match(&re, fine, strlen(fine), md, "nothing") > 0,
           "  a match: > 0");
        ok(rx_match(&re, noc, strlen(noc), md, "nothing") == 0,
           "  5000 a's and no c: no match, at once");
        uint64_t e = rx_errors();
        ok(rx_match(&re, redos, strlen(redos), md, "a match") == -1,
           "  40 a's, then bac: the match limit, -1");
        ok(rx_errors() == e + 1, "  counted");
        pcre2_code_free(re.code);
    }
    /* The ovector count for a rewrite's groups. */
    struct rx g = compile("^/(a)(b)?(c)", 1, "g");
    ok(rx_match(&g, "/ac", 3, md, "x") == 4, "a match returns its pairs (4)");
    ok(rx_match(&g, NULL, 0, md, "x") == 0, "a NULL subject is empty");
    pcre2_code_free(g.code);

    /* The depth limit: the interpreter's nesting of a repeated group. */
    struct rx d = compile("^(\\w|-)+$", 0, "d");
    ok(rx_setup(100000, 1000) == 0 &&
       rx_match(&d, word, strlen(word), md, "x") == -1,
       "depth limit 1000: ^(\\w|-)+$ on 8000 characters gives up");
    ok(rx_setup(100000, 50000) == 0 &&
       rx_match(&d, word, strlen(word), md, "x") > 0,
       "depth limit 50000 (the default): it matches");
    pcre2_code_free(d.code);

    /* The match limit is the one set. */
    struct rx m = compile("(a+)+c", 1, "m");
    char *a20 = repeat('a', 20, "bac");      /* ~2^20 steps */
    ok(rx_setup(100000, 50000) == 0 &&
       rx_match(&m, a20, strlen(a20), md, "x") == -1,
       "match limit 100000: 20 a's give up");
    ok(rx_setup(100000000, 50000) == 0 &&
       rx_match(&m, a20, strlen(a20), md, "x") > 0,
       "match limit 100000000: 20 a's find the ac");
    pcre2_code_free(m.code);
    free(a20);

    /* Reports: the first error of a second, not the ones after. */
    int before = count_lines(logf, "] ");
    ok(before >= 1, "an error was reported (%d lines)", before);
    char line[512] = "";
    FILE *f = fopen(logf, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL &&
           strstr(line, "test.conf:3: deny") == NULL)
        ;
    if (f != NULL)
        fclose(f);
    ok(strstr(line, "[warn]") != NULL &&
       strstr(line, "regex test.conf:3: deny: match limit exceeded on a "
                    "43-byte subject (regex_match_limit 100000, "
                    "regex_depth_limit 50000): counted as a match") != NULL,
       "the report: level, where, reason, limits and what it counts as");
    if (strstr(line, "test.conf:3") == NULL)
        diag("got: %s", line);
    ok(count_lines(logf, "] ") == before, "the errors after it in the same "
       "second are not reported");

    rx_teardown();
    ok(1, "rx_teardown");
    free(redos);
    free(fine);
    free(noc);
    free(word);
    pcre2_match_data_free(md);
    log_to_stderr();
    unlink(logf);
    return done_testing();
}
