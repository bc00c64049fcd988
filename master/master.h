/* master.h: the master process: state shared by the master/ files. */
#ifndef CERB_MASTER_H
#define CERB_MASTER_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "shm.h"

/* One listening address, owned by the master for its whole life. */
struct lsock {
    struct addr addr;
    char address[ADDR_TEXT_MAX];
    int fds[CERB_MAX_WORKERS];  /* one SO_REUSEPORT socket per worker slot */
    int nfds;
    int prev_nfds;              /* before listen_prepare: undone on failure */
    bool used;                  /* named by the config being applied */
    bool fresh;                 /* opened by the pending listen_prepare */
};

enum { CHILD_WORKER, CHILD_CHECKER };

struct child {
    pid_t pid;
    int kind;
    int slot;
    unsigned gen;
    int row;
    int ready_fd;
    uint64_t started;
    bool stopping;              /* told to stop: never respawned */
};

struct generation {
    unsigned id;
    struct conf *conf;
    uint64_t deadline;          /* draining: SIGKILL what is left then */
};

#define MAX_GENERATIONS 64

/* The master's runtime ("cycle"): the one global of the process. */
struct master {
    char conf_path[PATH_MAX];
    char pid_path[PATH_MAX];
    char status_path[PATH_MAX + 16];
    bool pid_override;
    bool daemon;
    int notify_fd;              /* `start`: report to the waiting parent */
    struct conf *conf;          /* the current generation's */
    unsigned gen;
    struct generation old[MAX_GENERATIONS];
    unsigned nold;
    struct lsock *lsocks;
    size_t nlsocks;
    int admin_fd;               /* the admin API's socket (the checker serves
                                 * it), or -1 */
    struct addr admin_addr;
    int admin_new;              /* opened by the pending listen_prepare, or -1 */
    struct addr admin_new_addr;
    bool admin_drop;            /* listen_commit closes admin_fd */
    struct child *children;
    size_t nchildren, capchildren;
    struct shm shm;
    unsigned char row_used[SHM_ROWS];
    int pid_fd;
    time_t started_at;
    unsigned reloads;
    bool reload_ok;
    char reload_error[4096];
    unsigned seq;
    int quick_deaths[CERB_MAX_WORKERS + 1];
    uint64_t respawn_due[CERB_MAX_WORKERS + 1];  /* 0: none pending */
    uint64_t stop_deadline;
    int stopping;               /* 0, SIGTERM or SIGQUIT */
    uint64_t quota_due;         /* next write of the quota state */
    bool state_failing;         /* the last write failed (logged once) */
    bool state_saved;           /* state_digest is what the file holds */
    uint64_t state_digest;
};

extern struct master *cerb_master;

/* master.c */
int master_run(const char *conf_path, const char *pid_path, bool daemon,
               int notify_fd);
uint64_t master_now(void);
/* Everything start and reload open or create before a worker runs (root
 * without user, the error log, the access logs, state_dir), in one place;
 * dry (`check`) runs the same steps creating and changing nothing, plus
 * the pid file's (pid_path, else the config's), and says only a warning
 * on stderr for a default path (error_log or pid_file not set). */
int master_prepare(const struct conf *c, bool daemon, const char *pid_path,
                   bool dry, char *err, size_t len);

/* state.c: the quota state file in state_dir */
/* dry (`check`): whether it would succeed, creating nothing */
int state_prepare(const struct conf *c, bool dry, char *err, size_t len);
int state_load(struct master *m, char *err, size_t len);
void state_save(struct master *m);

/* listen.c */
int listen_prepare(struct master *m, struct conf *c, char *err, size_t len);
void listen_commit(struct master *m);
void listen_rollback(struct master *m);
void listen_close_all(struct master *m);
struct lsock *listen_find(struct master *m, const struct addr *a);
int listen_admin_fd(const struct master *m, const struct conf *c);

/* process.c */
int process_spawn(struct master *m, int kind, int slot, struct conf *c,
                  unsigned gen);
int process_wait_ready(struct master *m, unsigned gen, int timeout_ms,
                       char *err, size_t len);
void process_signal_gen(struct master *m, unsigned gen, int sig, bool stop);
void process_signal_all(struct master *m, int sig);
struct child *process_reap(struct master *m, pid_t pid, int status);
size_t process_count(const struct master *m, int kind, unsigned gen);

/* notify.c: sd_notify(3) datagrams to $NOTIFY_SOCKET, if set */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *notify_line(const char *text, char *buf, size_t len);
uint64_t notify_monotonic_usec(void);

/* pidfile.c */
int pidfile_create(const char *path, char *err, size_t len);
void pidfile_remove(const char *path, int fd);
/* 1: a live master holds it (pid in *pid); 0: absent or stale; -1: error */
int pidfile_check(const char *path, pid_t *pid, char *err, size_t len);
void status_path_for(const char *pid_path, char *out, size_t len);

/* status.c */
void status_write(struct master *m);
void status_remove(struct master *m);

/* ctl.c: the control verbs, run in the invoking process */
int ctl_stop(const char *conf_path, const char *pid_path, bool graceful);
int ctl_reload(const char *conf_path, const char *pid_path);
int ctl_status(const char *conf_path, const char *pid_path);
int ctl_reopen(const char *conf_path, const char *pid_path);
int ctl_check(const char *conf_path, const char *pid_path);
int ctl_start(const char *conf_path, const char *pid_path);

#endif
