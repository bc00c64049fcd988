/* checker: the one process that runs active health checks for all pools. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "worker.h"

static void
on_signal(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct signalfd_siginfo si;

    (void)events;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGUSR1)
            log_reopen();
        else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT ||
                 si.ssi_signo == SIGQUIT)
            ev_break(loop);
    }
}

int
checker_main(struct worker_args *a)
{
    struct ev_io sig;
    int sfd = child_signalfd();
    struct ev_loop *loop = ev_loop_new(64);
    if (sfd < 0 || loop == NULL) {
        child_fail(a, "checker: cannot set up its event loop: %s",
                   strerror(errno));
        return 1;
    }
    ev_io_init(&sig, sfd, on_signal, NULL);
    ev_io_start(loop, &sig, EPOLLIN);
    child_ready(a);
    ev_run(loop);
    ev_loop_free(loop);
    close(sfd);
    return 0;
}
