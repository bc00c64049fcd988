/* units: durations ("500ms", "30s", "1m30s") and sizes ("16k", "8M"). */
#include "units.h"

#include <stdio.h>
#include <string.h>

#define DURATION_MAX_MS ((int64_t)1 << 52)

static int
digits(const char **p, int64_t *v, int64_t limit)
{
    const char *s = *p;
    int64_t n = 0;

    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (*s - '0');
        if (n > limit)
            return -2;
        s++;
    }
    *p = s;
    *v = n;
    return 0;
}

int
unit_duration_parse(const char *s, int64_t *ms, const char **why)
{
    static const struct { const char *u; int64_t ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
        { "d", 86400000 },
    };
    int64_t total = 0;
    int last = -1;
    const char *p = s;

    if (*p == '\0') {
        *why = "empty duration";
        return -1;
    }
    while (*p != '\0') {
        int64_t v;
        int r = digits(&p, &v, DURATION_MAX_MS);
        if (r == -2) {
            *why = "duration too large";
            return -1;
        }
        if (r < 0) {
            *why = "expected a number followed by ms, s, m, h or d";
            return -1;
        }
        if (*p == '\0' && last < 0) {       /* bare number: seconds */
            if (v > DURATION_MAX_MS / 1000) {
                *why = "duration too large";
                return -1;
            }
            total = v * 1000;
            break;
        }
        int u = -1;
        for (int i = 0; i < 5; i++) {
            size_t l = strlen(units[i].u);
            if (strncmp(p, units[i].u, l) == 0 &&
                (p[l] == '\0' || (p[l] >= '0' && p[l] <= '9'))) {
                u = i;
                p += l;
                break;
            }
        }
        if (u < 0) {
            *why = "unknown unit (use ms, s, m, h or d)";
            return -1;
        }
        /* "1m30s" is fine, "30s1m" or "1s1s" is not. */
        if (last >= 0 && units[u].ms >= units[last].ms) {
            *why = "units must go from largest to smallest";
            return -1;
        }
        last = u;
        /* v * ms could overflow int64_t ("200000000000d"): compare first. */
        if (v > (DURATION_MAX_MS - total) / units[u].ms) {
            *why = "duration too large";
            return -1;
        }
        total += v * units[u].ms;
    }
    *ms = total;
    return 0;
}

int
unit_size_parse(const char *s, int64_t *bytes, const char **why)
{
    const char *p = s;
    int64_t v, mul = 1;
    const int64_t limit = (int64_t)1 << 50;

    int r = digits(&p, &v, limit);
    if (r == -2) {
        *why = "size too large";
        return -1;
    }
    if (r < 0) {
        *why = "expected a number optionally followed by k, m or g";
        return -1;
    }
    switch (*p) {
    case '\0': break;
    case 'k': case 'K': mul = 1024; p++; break;
    case 'm': case 'M': mul = 1024 * 1024; p++; break;
    case 'g': case 'G': mul = 1024 * 1024 * 1024; p++; break;
    default:
        *why = "unknown unit (use k, m or g)";
        return -1;
    }
    if (*p != '\0') {
        *why = "unexpected text after the size";
        return -1;
    }
    if (v > limit / mul) {
        *why = "size too large";
        return -1;
    }
    *bytes = v * mul;
    return 0;
}

void
unit_duration_format(int64_t ms, char *buf, unsigned len)
{
    static const struct { const char *u; int64_t ms; } units[] = {
        { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
        { "ms", 1 },
    };
    size_t off = 0;

    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    buf[0] = '\0';
    for (int i = 0; i < 5 && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int n = snprintf(buf + off, len - off, "%lld%s",
                             (long long)(ms / units[i].ms), units[i].u);
            if (n < 0 || (size_t)n >= len - off)
                return;
            off += (size_t)n;
            ms %= units[i].ms;
        }
    }
}
