/* tap.h: a tiny header-only TAP producer for the C unit tests.
 *
 *     plan(3);                    or nothing, then done_testing() at the end
 *     ok(x > 0, "x is positive (%d)", x);
 *     is_int(f(2), 4, "f(2)");
 *     is_str(name, "web", "name");
 *     diag("got %d", x);          (to stderr, as "# ...")
 *     skip("no man page");        (one passing test, marked "# SKIP")
 *     return done_testing();      (the exit status: non-zero if any failed)
 */
#ifndef CERB_TAP_H
#define CERB_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

static inline void
tap_vdiag(const char *fmt, va_list ap)
{
    char buf[4096];
    char *line, *save = NULL;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    fflush(stdout);
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        fprintf(stderr, "# %s\n", line);
    fflush(stderr);
}

static inline void diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline void
diag(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vdiag(fmt, ap);
    va_end(ap);
}

static inline void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline int tap_ok(int pass, const char *file, int line,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    char name[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    /* '#' would start a TAP directive: keep names plain. */
    for (char *p = name; *p; p++)
        if (*p == '#' || *p == '\n')
            *p = ' ';
    tap_run++;
    printf("%sok %d - %s\n", pass ? "" : "not ", tap_run, name);
    fflush(stdout);
    if (!pass) {
        tap_failed++;
        diag("  Failed test '%s'\n  at %s line %d.", name, file, line);
    }
    return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int
tap_is_int(intmax_t got, intmax_t want, const char *name, const char *file,
           int line)
{
    int pass = tap_ok(got == want, file, line, "%s", name);

    if (!pass)
        diag("         got: %jd\n    expected: %jd", got, want);
    return pass;
}

#define is_int(got, want, name) \
    tap_is_int((intmax_t)(got), (intmax_t)(want), (name), __FILE__, __LINE__)

static inline int
tap_is_str(const char *got, const char *want, const char *name,
           const char *file, int line)
{
    int pass = (got == NULL && want == NULL) ||
               (got != NULL && want != NULL && strcmp(got, want) == 0);

    tap_ok(pass, file, line, "%s", name);
    if (!pass)
        diag("         got: %s%s%s\n    expected: %s%s%s",
             got ? "'" : "", got ? got : "NULL", got ? "'" : "",
             want ? "'" : "", want ? want : "NULL", want ? "'" : "");
    return pass;
}

#define is_str(got, want, name) \
    tap_is_str((got), (want), (name), __FILE__, __LINE__)

static inline void skip(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline void
skip(const char *fmt, ...)
{
    char why[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    tap_run++;
    printf("ok %d # SKIP %s\n", tap_run, why);
    fflush(stdout);
}

/* Prints the plan if none was given; the exit status for main. */
static inline int
done_testing(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);
    } else if (tap_planned != tap_run) {
        diag("Looks like you planned %d tests but ran %d.", tap_planned,
             tap_run);
        fflush(stdout);
        return 255;
    }
    fflush(stdout);
    if (tap_failed > 0) {
        diag("Looks like you failed %d test%s of %d.", tap_failed,
             tap_failed == 1 ? "" : "s", tap_run);
        return tap_failed > 254 ? 254 : tap_failed;
    }
    return 0;
}

#endif
