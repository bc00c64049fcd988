/* log: the error log (timestamp, level, pid, message), reopenable. */
#ifndef CERB_LOG_H
#define CERB_LOG_H

enum log_level {
    LL_DEBUG, LL_INFO, LL_NOTICE, LL_WARN, LL_ERROR, LL_CRIT, LL_ALERT
};

/* Log files (error and access logs): created 0640 (owner and group
 * only: access logs may hold secrets), never through a symbolic link. */
#define LOG_FILE_MODE 0640
int log_file_open(const char *path);
/* 0 if log_file_open(path) would succeed, else the errno it would fail
 * with; creates and changes nothing (for `check`). */
int log_file_probe(const char *path);
/* strerror, or what ELOOP means for log_file_open. */
const char *log_file_error(int e);

/* Until log_open succeeds, messages go to stderr. */
int log_open(const char *path, char *err, unsigned errlen);
int log_reopen(void);
void log_to_stderr(void);
int log_fd(void);
const char *log_path(void);
void log_set_level(int level);
int log_get_level(void);
/* Call after fork so the pid in each line is the process's own. */
void log_set_pid(void);
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...)  do { if (log_get_level() <= LL_DEBUG) \
                                 log_msg(LL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)   log_msg(LL_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LL_NOTICE, __VA_ARGS__)
#define log_warn(...)   log_msg(LL_WARN, __VA_ARGS__)
#define log_error(...)  log_msg(LL_ERROR, __VA_ARGS__)
#define log_crit(...)   log_msg(LL_CRIT, __VA_ARGS__)
#define log_alert(...)  log_msg(LL_ALERT, __VA_ARGS__)

#endif
