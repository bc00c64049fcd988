/* notify: the systemd service notification protocol (sd_notify(3)),
 * without libsystemd: one datagram of "KEY=value" lines to the unix
 * socket named by $NOTIFY_SOCKET (a path, or "@name" in the abstract
 * namespace). Without the variable nothing is sent. */
#include "master.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void
notify_send(const char *fmt, ...)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char msg[1024];
    va_list ap;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    size_t plen = strlen(path);
    if (plen < 2 || plen > sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, plen);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* Nothing to do if it fails: the service manager is gone or deaf. */
    ssize_t w = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
                       (const struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                   plen));
    (void)w;
    close(fd);
}

/* The first line of text, for a STATUS= value (one line only). */
const char *
notify_line(const char *text, char *buf, size_t len)
{
    size_t n = strcspn(text, "\n");

    snprintf(buf, len, "%.*s", (int)n, text);
    return buf;
}

uint64_t
notify_monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
