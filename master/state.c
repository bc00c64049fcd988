/* state: what must survive a restart (DESIGN.md, state_dir): the quota
 * counts, loaded before the first fork, written every quota_interval
 * and at stop by the master, which never touches traffic. */
#include "master.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "quota.h"

static void
state_path(const struct conf *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/quotas.state", c->state_dir);
}

int
state_prepare(const struct conf *c, bool dry, char *err, size_t len)
{
    struct stat st;

    if (!c->has_quotas)
        return 0;
    if (dry && stat(c->state_dir, &st) != 0 && errno == ENOENT) {
        /* `check`: would the mkdir below succeed? */
        char parent[4096];
        snprintf(parent, sizeof(parent), "%s", c->state_dir);
        char *slash = strrchr(parent, '/');
        if (slash != NULL)
            *slash = '\0';
        int e = 0;
        if (slash == NULL || parent[0] == '\0')
            e = access(slash ? "/" : ".", W_OK | X_OK) != 0 ? errno : 0;
        else if (stat(parent, &st) != 0)
            e = errno;
        else if (!S_ISDIR(st.st_mode))
            e = ENOTDIR;
        else if (access(parent, W_OK | X_OK) != 0)
            e = errno;
        if (e != 0) {
            snprintf(err, len, "state_dir \"%s\": cannot create: %s (quotas "
                     "are kept there)", c->state_dir, strerror(e));
            return -1;
        }
        return 0;
    }
    if (!dry && mkdir(c->state_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, len, "state_dir \"%s\": cannot create: %s (quotas "
                 "are kept there)", c->state_dir, strerror(errno));
        return -1;
    }
    if (stat(c->state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, len, "state_dir \"%s\": not a directory", c->state_dir);
        return -1;
    }
    if (access(c->state_dir, W_OK | X_OK) != 0) {
        snprintf(err, len, "state_dir \"%s\": cannot write: %s (quotas are "
                 "kept there)", c->state_dir, strerror(errno));
        return -1;
    }
    return 0;
}

int
state_load(struct master *m, char *err, size_t len)
{
    char path[4096];
    size_t bad = 0;

    state_path(m->conf, path, sizeof(path));
    long n = quota_load(&m->shm, path, time(NULL), &bad, err, len);
    if (n < 0)
        return -1;
    if (bad > 0)
        log_warn("%s: %zu lines skipped (not a quota entry, or no room in "
                 "the quota table)", path, bad);
    if (n > 0)
        log_notice("%s: %ld quota counts loaded", path, n);
    m->quota_due = master_now() + (uint64_t)m->conf->quota_interval;
    return 0;
}

void
state_save(struct master *m)
{
    char path[4096], err[4600];

    m->quota_due = master_now() + (uint64_t)m->conf->quota_interval;
    if (!m->conf->has_quotas)
        return;
    /* Nothing counted since the last write: the file already says it. */
    time_t now = time(NULL);
    uint64_t d = quota_digest(&m->shm, now);
    if (m->state_saved && d == m->state_digest && !m->state_failing)
        return;
    state_path(m->conf, path, sizeof(path));
    long n = quota_save(&m->shm, path, now, err, sizeof(err));
    if (n < 0) {
        if (!m->state_failing)
            log_error("quota state not saved: %s", err);
        m->state_failing = true;
        return;
    }
    if (m->state_failing)
        log_notice("quota state saved again: %s", path);
    m->state_failing = false;
    m->state_saved = true;
    m->state_digest = d;
    log_debug("%s: %ld quota counts saved", path, n);
}
