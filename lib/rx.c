/* rx: PCRE2 matching within limits; a limit hit is an error, never "no
 * match". */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rx.h"

#include <pcre2.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

/* Per process (each worker and the checker set their own up). */
static pcre2_match_context *rx_ctx;
static pcre2_jit_stack *rx_stack;
static uint32_t rx_match_limit, rx_depth_limit;
static uint64_t rx_nerrors, rx_unreported;
static int64_t rx_last_report = INT64_MIN;

int
rx_setup(uint32_t match_limit, uint32_t depth_limit)
{
    rx_teardown();
    rx_match_limit = match_limit;
    rx_depth_limit = depth_limit;
    rx_ctx = pcre2_match_context_create(NULL);
    if (rx_ctx == NULL)
        return -1;
    pcre2_set_match_limit(rx_ctx, match_limit);
    pcre2_set_depth_limit(rx_ctx, depth_limit);
    /* JIT code runs on this stack, not the thread's: bounded, and a
     * pattern that needs more fails with PCRE2_ERROR_JIT_STACKLIMIT. */
    rx_stack = pcre2_jit_stack_create(32 * 1024, RX_JIT_STACK_MAX, NULL);
    if (rx_stack == NULL)
        return -1;
    pcre2_jit_stack_assign(rx_ctx, NULL, rx_stack);
    return 0;
}

void
rx_teardown(void)
{
    pcre2_match_context_free(rx_ctx);
    pcre2_jit_stack_free(rx_stack);
    rx_ctx = NULL;
    rx_stack = NULL;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
report(const struct rx *re, int rc, size_t len, const char *as)
{
    rx_nerrors++;
    int64_t now = now_ms();
    if (rx_last_report != INT64_MIN && now - rx_last_report < 1000) {
        rx_unreported++;
        return;
    }
    PCRE2_UCHAR msg[120];
    if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
        msg[0] = '\0';
    char more[64] = "";
    if (rx_unreported > 0)
        snprintf(more, sizeof(more), " (and %llu more since the last report)",
                 (unsigned long long)rx_unreported);
    log_warn("regex %s: %s on a %zu-byte subject (regex_match_limit %u, "
             "regex_depth_limit %u): counted as %s%s",
             re->where ? re->where : "?", (const char *)msg, len,
             rx_match_limit, rx_depth_limit, as, more);
    rx_last_report = now;
    rx_unreported = 0;
}

int
rx_match(const struct rx *re, const char *s, size_t len, void *md,
         const char *as)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), s ? len : 0, 0,
                         0, md, rx_ctx);
    if (rc >= 0)
        return rc > 0 ? rc : (int)pcre2_get_ovector_count(md);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    report(re, rc, len, as);
    return -1;
}

uint64_t
rx_errors(void)
{
    return rx_nerrors;
}
