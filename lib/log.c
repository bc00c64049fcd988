/* log: the error log (timestamp, level, pid, message), reopenable. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {
    "debug", "info", "notice", "warn", "error", "crit", "alert"
};

/* Module state: the one open log file of this process. */
static struct {
    int fd;             /* -1: stderr */
    int level;
    int pid;
    char path[4096];
} lg = { -1, LL_NOTICE, 0, "" };

int
log_level_parse(const char *name)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *
log_level_name(int level)
{
    if (level < LL_DEBUG || level > LL_ALERT)
        return "?";
    return level_names[level];
}

void
log_set_level(int level)
{
    lg.level = level;
}

int
log_get_level(void)
{
    return lg.level;
}

void
log_set_pid(void)
{
    lg.pid = (int)getpid();
}

int
log_fd(void)
{
    return lg.fd >= 0 ? lg.fd : STDERR_FILENO;
}

const char *
log_path(void)
{
    return lg.path[0] ? lg.path : NULL;
}

int
log_file_open(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                O_NOCTTY, LOG_FILE_MODE);
}

int
log_file_probe(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
                  O_NOCTTY | O_NONBLOCK);
    char dir[4096];
    struct stat st;

    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno != ENOENT)
        return errno;
    /* Absent (or a dangling path): would the directory let us create it? */
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) < 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return ENOTDIR;
    if (access(dir, W_OK | X_OK) < 0)
        return errno;
    return 0;
}

const char *
log_file_error(int e)
{
    /* O_NOFOLLOW: ELOOP says the last component is a symbolic link. */
    return e == ELOOP ? "it is a symbolic link (refused)" : strerror(e);
}

int
log_open(const char *path, char *err, unsigned errlen)
{
    int fd = log_file_open(path);

    if (fd < 0) {
        if (err != NULL)
            snprintf(err, errlen, "cannot open error log %s: %s", path,
                     log_file_error(errno));
        return -1;
    }
    if (lg.fd >= 0)
        close(lg.fd);
    lg.fd = fd;
    snprintf(lg.path, sizeof(lg.path), "%s", path);
    return 0;
}

void
log_to_stderr(void)
{
    if (lg.fd >= 0)
        close(lg.fd);
    lg.fd = -1;
    lg.path[0] = '\0';
}

int
log_reopen(void)
{
    if (lg.path[0] == '\0')
        return 0;
    int fd = log_file_open(lg.path);
    if (fd < 0) {
        log_error("cannot reopen error log %s: %s", lg.path,
                  log_file_error(errno));
        return -1;
    }
    /* dup2 keeps the descriptor number, so nothing holding it goes stale. */
    if (dup2(fd, lg.fd) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

void
log_msg(int level, const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    int saved = errno;

    if (level < lg.level)
        return;
    if (lg.pid == 0)
        lg.pid = (int)getpid();
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, sizeof(buf),
                     "%04d/%02d/%02d %02d:%02d:%02d [%s] %d: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec,
                     log_level_name(level), lg.pid);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    buf[len++] = '\n';
    /* One write per line: with O_APPEND, lines of all processes interleave
     * whole. A failed log write has nowhere to be reported. */
    ssize_t w = write(log_fd(), buf, len);
    (void)w;
    errno = saved;
}
