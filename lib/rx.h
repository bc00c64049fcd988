/* rx: PCRE2 matching within limits; a limit hit is an error, never "no
 * match". */
#ifndef CERB_RX_H
#define CERB_RX_H

#include <stddef.h>
#include <stdint.h>

/* A compiled pattern and where the configuration wrote it. */
struct rx {
    void *code;                 /* pcre2_code, JIT-compiled when possible */
    const char *where;          /* "file:line: routes[0].path_regex" */
};

/* The JIT stack grows up to this. */
#define RX_JIT_STACK_MAX (1024 * 1024)

/* The limits of every later rx_match of this process (a match context
 * and a JIT stack of its own). 0, or -1 when out of memory (then the
 * matches run with PCRE2's defaults). */
int rx_setup(uint32_t match_limit, uint32_t depth_limit);
void rx_teardown(void);

/* Searches s[0..len) with md (a pcre2_match_data). > 0: a match (the
 * number of pairs the ovector holds); 0: no match; -1: PCRE2 gave up (a
 * limit, the JIT stack, memory), logged at most once a second per
 * process with re->where and what the caller counts it as (`as`). */
int rx_match(const struct rx *re, const char *s, size_t len, void *md,
             const char *as);

/* The errors and the reports of this process, for tests. */
uint64_t rx_errors(void);

#endif
