/* worker.h: what the master hands a child process (worker or checker). */
#ifndef CERB_WORKER_H
#define CERB_WORKER_H

#include "conf-t.h"
#include "shm.h"

struct worker_listener {
    const struct conf_listener *conf;
    int fds[CERB_MAX_WORKERS];  /* the sockets this worker accepts on */
    int nfds;
};

struct worker_args {
    const struct conf *conf;
    struct shm *shm;
    int slot;                   /* worker slot, 0..workers-1 */
    int row;                    /* shm counter row of this process */
    unsigned generation;
    struct worker_listener *listeners;  /* [conf->nlisteners] */
    int ready_fd;               /* write "R" when serving, "E..." on failure */
    int admin_fd;               /* checker: the admin API's socket, or -1 */
};

int worker_main(struct worker_args *a);
int checker_main(struct worker_args *a);

/* Readiness report to the master (one write, then the fd is closed). */
void child_ready(struct worker_args *a);
/* Blocks the signals children handle and returns a signalfd for them. */
int child_signalfd(void);
void child_fail(struct worker_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
