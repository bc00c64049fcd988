/* pidfile: the locked pid file that says which master runs. */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The master holds an exclusive flock on its pid file for its whole life,
 * so "live" never depends on a recycled pid: a stale file is unlocked. */
int
pidfile_create(const char *path, char *err, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    char buf[32];

    if (fd < 0) {
        snprintf(err, len, "cannot open pid file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        snprintf(err, len, "cerberus is already running (pid %ld, pid file "
                 "%s)", strtol(buf, NULL, 10), path);
        close(fd);
        return -1;
    }
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        snprintf(err, len, "cannot write pid file %s: %s", path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void
pidfile_remove(const char *path, int fd)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}

int
pidfile_check(const char *path, pid_t *pid, char *err, size_t len)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, len, "cannot open pid file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {    /* nobody holds it: stale */
        close(fd);
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    long v = strtol(buf, NULL, 10);
    if (v <= 0) {
        /* Locked but not yet written: a master is starting right now. */
        snprintf(err, len, "pid file %s is locked but holds no pid", path);
        return -1;
    }
    *pid = (pid_t)v;
    return 1;
}

void
status_path_for(const char *pid_path, char *out, size_t len)
{
    size_t l = strlen(pid_path);

    if (l > 4 && strcmp(pid_path + l - 4, ".pid") == 0)
        snprintf(out, len, "%.*s.status", (int)(l - 4), pid_path);
    else
        snprintf(out, len, "%s.status", pid_path);
}
