/* units: durations and sizes as written in the config file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tap.h"
#include "units.h"

#define DURATION_MAX ((int64_t)1 << 52)
#define SIZE_MAX_ ((int64_t)1 << 50)

static void
dur_ok(const char *s, int64_t want)
{
    int64_t ms = -12345;
    const char *why = NULL;
    int r = unit_duration_parse(s, &ms, &why);

    if (!ok(r == 0 && ms == want, "duration \"%s\" is %lld ms", s,
            (long long)want))
        diag("returned %d, ms %lld, why %s", r, (long long)ms,
             why ? why : "(none)");
}

static void
dur_bad(const char *s, const char *want_why)
{
    int64_t ms = -12345;
    const char *why = NULL;
    int r = unit_duration_parse(s, &ms, &why);

    if (!ok(r == -1 && why != NULL && ms == -12345,
            "duration \"%s\" is rejected", s))
        diag("returned %d, ms %lld", r, (long long)ms);
    else if (want_why != NULL)
        is_str(why, want_why, "  with the right reason");
}

static void
size_ok(const char *s, int64_t want)
{
    int64_t b = -12345;
    const char *why = NULL;
    int r = unit_size_parse(s, &b, &why);

    if (!ok(r == 0 && b == want, "size \"%s\" is %lld bytes", s,
            (long long)want))
        diag("returned %d, bytes %lld, why %s", r, (long long)b,
             why ? why : "(none)");
}

static void
size_bad(const char *s, const char *want_why)
{
    int64_t b = -12345;
    const char *why = NULL;
    int r = unit_size_parse(s, &b, &why);

    if (!ok(r == -1 && why != NULL && b == -12345, "size \"%s\" is rejected",
            s))
        diag("returned %d, bytes %lld", r, (long long)b);
    else if (want_why != NULL)
        is_str(why, want_why, "  with the right reason");
}

static void
fmt_is(int64_t ms, const char *want)
{
    char buf[64];
    char name[128];

    unit_duration_format(ms, buf, sizeof(buf));
    snprintf(name, sizeof(name), "%lld ms formats as \"%s\"", (long long)ms,
             want);
    is_str(buf, want, name);
}

static int
round_trip(int64_t ms)
{
    char buf[64];
    int64_t back = -1;
    const char *why = NULL;

    unit_duration_format(ms, buf, sizeof(buf));
    if (unit_duration_parse(buf, &back, &why) != 0 || back != ms) {
        diag("%lld ms -> \"%s\" -> %lld (%s)", (long long)ms, buf,
             (long long)back, why ? why : "parsed");
        return 0;
    }
    return 1;
}

static void
test_durations(void)
{
    dur_ok("500ms", 500);
    dur_ok("30s", 30000);
    dur_ok("5m", 300000);
    dur_ok("1h", 3600000);
    dur_ok("1d", 86400000);
    dur_ok("1m30s", 90000);
    dur_ok("1h1m1s1ms", 3661001);
    dur_ok("1d12h", 129600000);
    dur_ok("2s500ms", 2500);
    dur_ok("30", 30000);
    dur_ok("0", 0);
    dur_ok("0s", 0);
    dur_ok("0ms", 0);
    dur_ok("007s", 7000);
    dur_ok("4503599627370496ms", DURATION_MAX);

    dur_bad("30x", "unknown unit (use ms, s, m, h or d)");
    dur_bad("", "empty duration");
    dur_bad("s", "expected a number followed by ms, s, m, h or d");
    dur_bad("ms", NULL);
    dur_bad("1s1m", "units must go from largest to smallest");
    dur_bad("1s1s", "units must go from largest to smallest");
    dur_bad("1ms1s", "units must go from largest to smallest");
    dur_bad("30s1m", NULL);
    dur_bad("-5s", NULL);
    dur_bad("+5s", NULL);
    dur_bad(" 5s", NULL);
    dur_bad("5s ", NULL);
    dur_bad("5 s", NULL);
    dur_bad("1.5s", NULL);
    dur_bad("5S", NULL);
    dur_bad("1m30", NULL);      /* a bare number only on its own */
    dur_bad("5sec", NULL);
    dur_bad("5mss", NULL);
    /* Overflow, in the digits and in the multiplication. */
    dur_bad("99999999999999999999999s", "duration too large");
    dur_bad("4503599627370497ms", "duration too large");
    dur_bad("4503599627370496s", "duration too large");
    dur_bad("4503599627370496", "duration too large");
    dur_bad("200000000000d", "duration too large");
    dur_bad("4503599627370496d", "duration too large");
    dur_ok("52124995d", 52124995LL * 86400000);
    dur_ok("52124995d1ms", 52124995LL * 86400000 + 1);
    dur_bad("52124996d", "duration too large");
    dur_bad("52000d9999999999h", "duration too large");
}

static void
test_sizes(void)
{
    size_ok("16k", 16384);
    size_ok("16K", 16384);
    size_ok("8M", 8 * 1024 * 1024);
    size_ok("8m", 8 * 1024 * 1024);
    size_ok("1G", 1024 * 1024 * 1024);
    size_ok("100", 100);
    size_ok("0", 0);
    size_ok("1048576G", SIZE_MAX_);
    size_ok("1125899906842624", SIZE_MAX_);

    size_bad("12q", "unknown unit (use k, m or g)");
    size_bad("k", "expected a number optionally followed by k, m or g");
    size_bad("", NULL);
    size_bad("1.5M", NULL);
    size_bad("-1k", NULL);
    size_bad("16kb", "unexpected text after the size");
    size_bad("16 k", NULL);
    size_bad("1125899906842625", "size too large");
    size_bad("1048577G", "size too large");
    size_bad("99999999999999999999999k", "size too large");
}

static void
test_format(void)
{
    fmt_is(0, "0s");
    fmt_is(500, "500ms");
    fmt_is(1000, "1s");
    fmt_is(90000, "1m30s");
    fmt_is(3600000, "1h");
    fmt_is(86400000 + 1, "1d1ms");
    fmt_is(3661001, "1h1m1s1ms");

    /* Round trip: the shortest exact text reads back as the same value. */
    static const int64_t fixed[] = {
        1, 999, 1000, 1001, 59999, 60000, 3599999, 86399999, 86400000,
        DURATION_MAX, DURATION_MAX - 1,
    };
    int good = 1;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        good &= round_trip(fixed[i]);
    srand(42);
    for (int i = 0; i < 2000; i++) {
        int64_t ms = ((int64_t)rand() << 31 ^ rand()) % (DURATION_MAX + 1);
        good &= round_trip(ms);
    }
    ok(good, "format then parse returns the same value (2000+ values)");

    /* A short buffer is truncated, never overrun. */
    char small[6];
    memset(small, 'X', sizeof(small));
    unit_duration_format(3661001, small, 4);
    ok(small[4] == 'X' && small[5] == 'X' && strlen(small) < 4,
       "a short buffer is not overrun (\"%s\")", small);
}

int
main(void)
{
    test_durations();
    test_sizes();
    test_format();
    return done_testing();
}
