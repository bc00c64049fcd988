/* ctl: the control verbs (start, stop, reload, status, reopen, check). */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"
#include "units.h"

#define EXIT_NOT_RUNNING 3      /* LSB: program is not running */

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static struct conf *
load_or_print(const char *path)
{
    struct conf_errors errs = { 0 };
    struct conf *c = conf_load(path, &errs);

    if (c == NULL) {
        conf_errors_print(&errs, stderr);
        conf_errors_free(&errs);
    }
    return c;
}

/* The pid file of the running master: -p, else the config's pid_file,
 * read leniently so that stop and status work while the file on disk is
 * being edited. */
static int
find_master(const char *conf_path, const char *pid_path, char *out,
            size_t len, pid_t *pid)
{
    char err[512];

    if (pid_path == NULL)
        conf_peek_string(conf_path, "pid_file", out, len);
    else
        snprintf(out, len, "%s", pid_path);
    int r = pidfile_check(out, pid, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "cerberus: %s\n", err);
    return r;
}

/* Reads "key=value" lines; value of the first key, copied. */
static int
status_get(const char *text, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);

    for (const char *p = text; p && *p; ) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            snprintf(out, len, "%.*s", (int)(l - kl - 1), p + kl + 1);
            return 0;
        }
        p = nl ? nl + 1 : NULL;
    }
    out[0] = '\0';
    return -1;
}

static char *
status_read(const char *pid_path)
{
    char path[PATH_MAX + 16];
    static char buf[1 << 20];   /* a line per server: room for thousands */
    size_t got = 0;
    ssize_t n;

    status_path_for(pid_path, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    while (got < sizeof(buf) - 1 &&
           ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0 ||
            (n < 0 && errno == EINTR)))
        if (n > 0)
            got += (size_t)n;
    close(fd);
    if (got == 0)
        return NULL;
    buf[got] = '\0';
    return buf;
}

static unsigned long
status_num(const char *text, const char *key)
{
    char v[64];

    if (text == NULL || status_get(text, key, v, sizeof(v)) < 0)
        return 0;
    return strtoul(v, NULL, 10);
}

int
ctl_check(const char *conf_path, const char *pid_path)
{
    struct conf *c = load_or_print(conf_path);
    char d[32], err[4096];

    if (c == NULL)
        return 1;
    /* What start would open or create, probed (nginx -t). */
    if (master_prepare(c, true, pid_path, true, err, sizeof(err)) < 0) {
        fprintf(stderr, "cerberus: %s\n", err);
        conf_free(c);
        return 1;
    }
    printf("configuration %s is valid\n", conf_path);
    unit_duration_format(c->drain_timeout, d, sizeof(d));
    printf("workers %lld, user %s, pid file %s, error log %s, drain_timeout "
           "%s\n", (long long)c->workers, c->user ? c->user : "(unchanged)",
           c->pid_file, c->error_log ? c->error_log : "(default)", d);
    printf("listeners:\n");
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct conf_listener *l = &c->listeners[i];
        size_t nr = 0;
        for (size_t r = 0; r < c->nroutes; r++)
            nr += c->routes[r].on_listener[i];
        if (l->protocol == PROTO_TCP)
            printf("  %-12s tcp   %-24s -> pool %s\n", l->name, l->address,
                   l->pool_name);
        else if (l->redirect_https)
            printf("  %-12s http  %-24s redirects to https (port %d)\n",
                   l->name, l->address, addr_port(&l->https->addr));
        else
            printf("  %-12s %-5s %-24s %zu route%s\n", l->name,
                   l->tls ? "https" : "http", l->address, nr,
                   nr == 1 ? "" : "s");
        if (l->tls != NULL && l->tls->ctx != NULL) {
            const struct tls_server *ts = l->tls->ctx;
            printf("               certificates for");
            for (size_t k = 0; k < ts->nnames && k < 8; k++)
                printf(" %s", ts->names[k].name);
            if (ts->nnames > 8)
                printf(" (and %zu more)", ts->nnames - 8);
            printf("\n");
        }
    }
    printf("pools:\n");
    if (c->npools == 0)
        printf("  (none)\n");
    for (size_t i = 0; i < c->npools; i++) {
        struct conf_pool *p = &c->pools[i];
        printf("  %-12s %-12s", p->name,
               conf_balance_name(p->balance));
        for (size_t s = 0; s < p->nservers; s++) {
            struct conf_server *sv = &p->servers[s];
            char a[ADDR_TEXT_MAX];
            addr_format(&sv->addr, a, sizeof(a));
            printf(" %s", a);
            if (sv->weight != 1)
                printf(" weight=%lld", (long long)sv->weight);
            if (sv->backup)
                printf(" backup");
        }
        if (p->tls != NULL)
            printf(" (tls%s)", p->tls->verify ? "" : ", not verified");
        printf("\n");
    }
    printf("routes (first match wins):\n");
    if (c->nroutes == 0)
        printf("  (none: every request gets 404)\n");
    for (size_t i = 0; i < c->nroutes; i++) {
        struct conf_route *r = &c->routes[i];
        printf("  %-12s host %s", r->name, r->host ? r->host : "*");
        if (r->path_prefix)
            printf(" path_prefix %s", r->path_prefix);
        else if (r->path_exact)
            printf(" path_exact %s", r->path_exact);
        else if (r->path_regex)
            printf(" path_regex %s", r->path_regex);
        for (size_t m = 0; m < r->nmethods; m++)
            printf("%s%s", m ? "," : " methods ", r->methods[m]);
        if (r->pool_name)
            printf(" -> pool %s\n", r->pool_name);
        else
            printf(" -> return %lld\n", (long long)r->ret->status);
    }
    conf_free(c);
    return 0;
}

int
ctl_start(const char *conf_path, const char *pid_path)
{
    char abs_conf[PATH_MAX], abs_pid[2 * PATH_MAX + 2], err[512];
    pid_t running;
    int p[2];

    struct conf *c = load_or_print(conf_path);
    if (c == NULL)
        return 1;
    /* The daemon works from "/": make every path absolute first. */
    if (realpath(conf_path, abs_conf) == NULL) {
        fprintf(stderr, "cerberus: %s: %s\n", conf_path, strerror(errno));
        conf_free(c);
        return 1;
    }
    if (pid_path != NULL && pid_path[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            cwd[0] = '\0';
        snprintf(abs_pid, sizeof(abs_pid), "%s/%s", cwd, pid_path);
        pid_path = abs_pid;
    }
    int r = pidfile_check(pid_path ? pid_path : c->pid_file, &running, err,
                          sizeof(err));
    if (r != 0) {
        if (r > 0)
            fprintf(stderr, "cerberus: already running (pid %ld, pid file "
                    "%s)\n", (long)running, pid_path ? pid_path : c->pid_file);
        else
            fprintf(stderr, "cerberus: %s\n", err);
        conf_free(c);
        return 1;
    }
    conf_free(c);
    if (pipe(p) < 0) {
        fprintf(stderr, "cerberus: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cerberus: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        close(p[0]);
        setsid();
        pid_t again = fork();   /* not a session leader: no terminal */
        if (again != 0)
            _exit(again < 0 ? 1 : 0);
        if (chdir("/") < 0)
            _exit(1);
        umask(022);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        _exit(master_run(abs_conf, pid_path, true, p[1]));
    }
    close(p[1]);
    char msg[8192];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(msg) - 1 &&
           ((n = read(p[0], msg + got, sizeof(msg) - 1 - got)) > 0 ||
            (n < 0 && errno == EINTR)))
        if (n > 0)
            got += (size_t)n;
    msg[got] = '\0';
    close(p[0]);
    waitpid(pid, NULL, 0);
    if (strncmp(msg, "OK ", 3) == 0) {
        printf("cerberus started: %s\n", msg + 3);
        return 0;
    }
    fprintf(stderr, "cerberus: %s\n", got ? msg : "start failed (see the "
            "error log)");
    return 1;
}

/* Waits until no process holds the pid file's lock (a zombie holds none). */
static int
wait_gone(const char *pid_path, int timeout_ms)
{
    char err[256];
    pid_t pid;

    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int r = pidfile_check(pid_path, &pid, err, sizeof(err));
        if (r == 0)
            return 0;
        sleep_ms(20);
    }
    return -1;
}

int
ctl_stop(const char *conf_path, const char *pid_path, bool graceful)
{
    char path[PATH_MAX];
    pid_t pid;
    int64_t drain = 30000;

    int r = find_master(conf_path, pid_path, path, sizeof(path), &pid);
    if (r < 0)
        return 1;
    if (r == 0) {
        fprintf(stderr, "cerberus: not running (no live pid file %s)\n", path);
        return 0;
    }
    char *st = status_read(path);
    if (st != NULL) {
        char cp[PATH_MAX];
        if (status_get(st, "config", cp, sizeof(cp)) == 0) {
            struct conf_errors errs = { 0 };
            struct conf *c = conf_load(cp, &errs);
            if (c != NULL)
                drain = c->drain_timeout;
            conf_free(c);
            conf_errors_free(&errs);
        }
    }
    if (kill(pid, graceful ? SIGQUIT : SIGTERM) < 0) {
        fprintf(stderr, "cerberus: cannot signal pid %ld: %s\n", (long)pid,
                strerror(errno));
        return 1;
    }
    int timeout = graceful ? (int)drain + 10000 : 15000;
    if (wait_gone(path, timeout) < 0) {
        fprintf(stderr, "cerberus: pid %ld did not stop within %d ms\n",
                (long)pid, timeout);
        return 1;
    }
    printf("cerberus stopped (pid %ld)\n", (long)pid);
    return 0;
}

int
ctl_reload(const char *conf_path, const char *pid_path)
{
    char path[PATH_MAX], cp[PATH_MAX], v[64];
    pid_t pid;

    int r = find_master(conf_path, pid_path, path, sizeof(path), &pid);
    if (r < 0)
        return 1;
    if (r == 0) {
        fprintf(stderr, "cerberus: not running (no live pid file %s)\n", path);
        return 1;
    }
    char *st = status_read(path);
    if (st == NULL || status_get(st, "config", cp, sizeof(cp)) < 0) {
        fprintf(stderr, "cerberus: cannot read the status of pid %ld\n",
                (long)pid);
        return 1;
    }
    /* Validate the file the master will read before bothering it: an
     * invalid file leaves the running daemon untouched. */
    struct conf *c = load_or_print(cp);
    if (c == NULL) {
        fprintf(stderr, "cerberus: configuration invalid, nothing reloaded: "
                "pid %ld keeps its current configuration\n", (long)pid);
        return 1;
    }
    conf_free(c);
    unsigned long before = status_num(st, "reloads");
    if (kill(pid, SIGHUP) < 0) {
        fprintf(stderr, "cerberus: cannot signal pid %ld: %s\n", (long)pid,
                strerror(errno));
        return 1;
    }
    for (int waited = 0; waited < 30000; waited += 20) {
        sleep_ms(20);
        st = status_read(path);
        if (st == NULL || status_num(st, "reloads") <= before)
            continue;
        status_get(st, "reload_result", v, sizeof(v));
        if (strcmp(v, "ok") == 0) {
            printf("cerberus reloaded: generation %lu\n",
                   status_num(st, "generation"));
            return 0;
        }
        fprintf(stderr, "cerberus: reload failed, generation %lu keeps "
                "running:\n", status_num(st, "generation"));
        for (const char *p = st; (p = strstr(p, "reload_error=")) != NULL; ) {
            p += 13;
            const char *nl = strchr(p, '\n');
            fprintf(stderr, "%.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
        }
        return 1;
    }
    fprintf(stderr, "cerberus: pid %ld did not confirm the reload within 30 "
            "s\n", (long)pid);
    return 1;
}

int
ctl_reopen(const char *conf_path, const char *pid_path)
{
    char path[PATH_MAX];
    pid_t pid;

    int r = find_master(conf_path, pid_path, path, sizeof(path), &pid);
    if (r <= 0) {
        if (r == 0)
            fprintf(stderr, "cerberus: not running (no live pid file %s)\n",
                    path);
        return 1;
    }
    if (kill(pid, SIGUSR1) < 0) {
        fprintf(stderr, "cerberus: cannot signal pid %ld: %s\n", (long)pid,
                strerror(errno));
        return 1;
    }
    printf("cerberus: log files reopened (pid %ld)\n", (long)pid);
    return 0;
}

/* One server line of the status file, for the table. */
struct srow {
    char pool[128], server[128], state[16], health[32], circuit[16];
    char active[24], requests[24], failures[24], weight[16], backup[8];
    char error[128];
};

/* The value of " key=" in line[0..len): up to the next space, or the rest
 * of the line for the last key. */
static void
line_field(const char *line, size_t len, const char *key, bool rest,
           char *out, size_t outlen)
{
    size_t kl = strlen(key);

    snprintf(out, outlen, "-");
    for (size_t i = 0; i + kl + 2 <= len; i++) {
        if (line[i] != ' ' || strncmp(line + i + 1, key, kl) != 0 ||
            line[i + 1 + kl] != '=')
            continue;
        const char *v = line + i + kl + 2;
        size_t vl = len - (size_t)(v - line);
        if (!rest) {
            const char *sp = memchr(v, ' ', vl);
            if (sp != NULL)
                vl = (size_t)(sp - v);
        }
        if (vl > 0)
            snprintf(out, outlen, "%.*s", (int)vl, v);
        return;
    }
}

/* "server=POOL ADDR key=value ... last_error=TEXT" */
static void
srow_parse(const char *line, size_t len, struct srow *r)
{
    const char *sp1 = memchr(line, ' ', len);
    size_t pl = sp1 ? (size_t)(sp1 - line) : len;
    const char *a = sp1 ? sp1 + 1 : line + len;
    const char *sp2 = memchr(a, ' ', len - (size_t)(a - line));
    size_t al = sp2 ? (size_t)(sp2 - a) : len - (size_t)(a - line);

    snprintf(r->pool, sizeof(r->pool), "%.*s", (int)pl, line);
    snprintf(r->server, sizeof(r->server), "%.*s", (int)al, a);
    line_field(line, len, "state", false, r->state, sizeof(r->state));
    line_field(line, len, "health", false, r->health, sizeof(r->health));
    line_field(line, len, "circuit", false, r->circuit, sizeof(r->circuit));
    line_field(line, len, "active", false, r->active, sizeof(r->active));
    line_field(line, len, "requests", false, r->requests,
               sizeof(r->requests));
    line_field(line, len, "failures", false, r->failures,
               sizeof(r->failures));
    line_field(line, len, "weight", false, r->weight, sizeof(r->weight));
    line_field(line, len, "backup", false, r->backup, sizeof(r->backup));
    snprintf(r->backup, sizeof(r->backup), "%s",
             strcmp(r->backup, "1") == 0 ? "yes" : "no");
    line_field(line, len, "last_error", true, r->error, sizeof(r->error));
}

#define SROW_COLS 11

static const bool srow_right[SROW_COLS] = {
    false, false, false, false, false, true, true, true, true, false, false
};

static void
srow_print(const char *const v[SROW_COLS], const int w[SROW_COLS])
{
    printf("  ");
    for (int i = 0; i < SROW_COLS; i++) {
        if (i == SROW_COLS - 1)
            printf("  %s", v[i]);
        else if (srow_right[i])
            printf("  %*s", w[i], v[i]);
        else
            printf("  %-*s", w[i], v[i]);
    }
    printf("\n");
}

/* The pools' servers as a table: one row per server line of the status
 * file, columns as wide as their widest value. */
static void
print_server_table(const char *st)
{
    static const char *const head[SROW_COLS] = {
        "POOL", "SERVER", "STATE", "HEALTH", "CIRCUIT", "ACTIVE", "REQUESTS",
        "FAILURES", "WEIGHT", "BACKUP", "LAST ERROR"
    };
    int w[SROW_COLS];
    struct srow r;

    for (int i = 0; i < SROW_COLS; i++)
        w[i] = (int)strlen(head[i]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            srow_print(head, w);
        for (const char *p = st; (p = strstr(p, "\nserver=")) != NULL; p++) {
            const char *l = p + 8;
            const char *nl = strchr(l, '\n');
            srow_parse(l, nl ? (size_t)(nl - l) : strlen(l), &r);
            const char *v[SROW_COLS] = {
                r.pool, r.server, r.state, r.health, r.circuit, r.active,
                r.requests, r.failures, r.weight, r.backup, r.error
            };
            if (pass == 1) {
                srow_print(v, w);
                continue;
            }
            for (int i = 0; i < SROW_COLS; i++)
                if ((int)strlen(v[i]) > w[i])
                    w[i] = (int)strlen(v[i]);
        }
    }
}

int
ctl_status(const char *conf_path, const char *pid_path)
{
    char path[PATH_MAX], v[PATH_MAX];
    pid_t pid;

    int r = find_master(conf_path, pid_path, path, sizeof(path), &pid);
    if (r < 0)
        return 4;               /* LSB: status unknown */
    if (r == 0) {
        printf("cerberus is not running\n");
        return EXIT_NOT_RUNNING;
    }
    char *st = status_read(path);
    unsigned long seq = status_num(st, "seq");
    /* Ask for fresh counters; without the right to signal, show the last. */
    if (kill(pid, SIGUSR2) == 0)
        for (int waited = 0; waited < 2000; waited += 10) {
            st = status_read(path);
            if (st != NULL && status_num(st, "seq") != seq)
                break;
            sleep_ms(10);
        }
    if (st == NULL) {
        printf("cerberus is running (pid %ld), no status available\n",
               (long)pid);
        return 0;
    }
    time_t started = (time_t)status_num(st, "started");
    char up[32];
    unit_duration_format((int64_t)(time(NULL) - started) * 1000, up,
                         sizeof(up));
    unsigned long gen = status_num(st, "generation");
    status_get(st, "config", v, sizeof(v));
    printf("cerberus is running\n");
    printf("  pid:         %ld\n", (long)pid);
    printf("  uptime:      %s\n", up);
    printf("  config:      %s\n", v);
    printf("  generation:  %lu (%lu reloads", gen, status_num(st, "reloads"));
    if (status_get(st, "reload_result", v, sizeof(v)) == 0)
        printf(", last %s", v);
    printf(")\n");
    unsigned long alive = 0, want = status_num(st, "workers");
    for (const char *p = st; (p = strstr(p, "\nworker=")) != NULL; p++) {
        char line[256];
        const char *nl = strchr(p + 1, '\n');
        snprintf(line, sizeof(line), "%.*s", (int)(nl ? nl - p - 1 : 0), p + 1);
        if (strstr(line, "draining") == NULL &&
            strstr(line, " gen=") != NULL &&
            strtoul(strstr(line, " gen=") + 5, NULL, 10) == gen)
            alive++;
    }
    printf("  workers:     %lu/%lu alive\n", alive, want);
    for (const char *p = st; (p = strstr(p, "\nworker=")) != NULL; p++) {
        const char *nl = strchr(p + 1, '\n');
        printf("    worker %.*s\n", (int)(nl ? nl - p - 8 : 0), p + 8);
    }
    for (const char *p = st; (p = strstr(p, "\nchecker=")) != NULL; p++) {
        const char *nl = strchr(p + 1, '\n');
        printf("    checker pid=%.*s\n", (int)(nl ? nl - p - 9 : 0), p + 9);
    }
    if (strstr(st, "\nserver=") != NULL) {
        printf("  pools:\n");
        print_server_table(st);
    }
    printf("  listeners:\n");
    for (const char *p = st; (p = strstr(p, "\nlistener=")) != NULL; p++) {
        const char *nl = strchr(p + 1, '\n');
        printf("    %.*s\n", (int)(nl ? nl - p - 10 : 0), p + 10);
    }
    if (strstr(st, "\nserver=") != NULL)
        printf("  servers (connections summed over workers):\n");
    for (const char *p = st; (p = strstr(p, "\nserver=")) != NULL; p++) {
        const char *nl = strchr(p + 1, '\n');
        printf("    %.*s\n", (int)(nl ? nl - p - 8 : 0), p + 8);
    }
    return 0;
}
