/* child: readiness reports from a child process to the master. */
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

void
child_ready(struct worker_args *a)
{
    if (a->ready_fd < 0)
        return;
    ssize_t w = write(a->ready_fd, "R", 1);
    (void)w;
    close(a->ready_fd);
    a->ready_fd = -1;
}

void
child_fail(struct worker_args *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    buf[0] = 'E';
    va_start(ap, fmt);
    vsnprintf(buf + 1, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    log_error("%s", buf + 1);
    if (a->ready_fd >= 0) {
        ssize_t w = write(a->ready_fd, buf, strnlen(buf, sizeof(buf)));
        (void)w;
        close(a->ready_fd);
        a->ready_fd = -1;
    }
}
