/* child: what every child process does: signals, readiness reports. */
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <sys/signalfd.h>
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

/* Signals arrive through a signalfd in the loop: they stay blocked (as
 * the master left them) so none is lost before the loop runs. */
int
child_signalfd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}
