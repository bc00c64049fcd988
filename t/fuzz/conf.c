/* fuzz-conf: conf_load on arbitrary file contents.
 *
 * Each input is written to one temporary file and loaded; the model or
 * the errors are freed (LeakSanitizer checks that nothing is left). Two
 * things are kept away from the outside world: @include (it could read
 * any file, or block on a FIFO) is skipped, and host names never reach
 * DNS: getaddrinfo below knows only "localhost". Leaks inside libconfig
 * itself are suppressed (see __lsan_default_suppressions). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 (Debian 12) leaks a string token discarded by its
 * parser's error recovery (upstream issue #142, fixed in 1.7.3): not
 * ours, and nothing cerberus can free. */
const char *
__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

static char path[256];
static int fd = -1;

/* The file is unlinked at once and read back through /proc/self/fd, so
 * that a crash or a killed run leaves nothing behind in the temp dir. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("TMPDIR");
    char tmpl[256];

    snprintf(tmpl, sizeof(tmpl), "%s/cerb-fuzz-conf-XXXXXX",
             dir && dir[0] ? dir : "/tmp");
    fd = mkstemp(tmpl);
    if (fd < 0) {
        perror(tmpl);
        exit(1);
    }
    unlink(tmpl);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return 0;
}

/* Name resolution for the fuzzer: "localhost" only, never the network. */
int
getaddrinfo(const char *node, const char *service,
            const struct addrinfo *hints, struct addrinfo **res)
{
    if (node == NULL || strcmp(node, "localhost") != 0)
        return EAI_NONAME;
    struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_in));
    if (ai == NULL)
        return EAI_MEMORY;
    struct sockaddr_in *sin = (struct sockaddr_in *)(ai + 1);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ai->ai_family = AF_INET;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_addr = (struct sockaddr *)sin;
    ai->ai_addrlen = sizeof(*sin);
    *res = ai;
    return 0;
}

void
freeaddrinfo(struct addrinfo *ai)
{
    free(ai);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char inc[] = "@include";

    for (size_t i = 0; i + sizeof(inc) - 1 <= size; i++)
        if (strncasecmp((const char *)data + i, inc, sizeof(inc) - 1) == 0)
            return 0;
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();

    struct conf_errors errs = { 0 };
    struct conf *c = conf_load(path, &errs);
    if (c == NULL) {
        if (errs.n == 0)        /* a failure always says why */
            __builtin_trap();
    } else {
        if (errs.n != 0 || c->nlisteners == 0)
            __builtin_trap();
        for (size_t i = 0; i < c->nroutes; i++)
            if (c->routes[i].name == NULL || c->routes[i].on_listener == NULL)
                __builtin_trap();
    }
    conf_errors_free(&errs);
    conf_free(c);
    return 0;
}
