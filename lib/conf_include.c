/* conf_include: expands @include (absolute, relative, glob) before libconfig
 * parses, keeping a line map so every error names its own file and line. */
#include "conf_include.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libconfig 1.5 (Debian 12) prefixes every include with its include_dir,
 * so "/etc/x.conf" could not be opened and globs do not exist: the text
 * is assembled here and handed to config_read_string(). */

#define INCLUDE_DEPTH 10

static int
text_append(struct conf_text *t, const char *s, size_t n, unsigned file,
            int line)
{
    if (t->len + n + 2 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (t->len + n + 2 > cap)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (b == NULL)
            return -1;
        t->buf = b;
        t->cap = cap;
    }
    if (t->nlines == t->mapcap) {
        size_t cap = t->mapcap ? t->mapcap * 2 : 256;
        struct conf_text_line *m = realloc(t->map, cap * sizeof(*m));
        if (m == NULL)
            return -1;
        t->map = m;
        t->mapcap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len++] = '\n';
    t->buf[t->len] = '\0';
    t->map[t->nlines].file = file;
    t->map[t->nlines].line = line;
    t->nlines++;
    return 0;
}

/* Follows block comments across a line (outside strings), as libconfig does,
 * so an @include inside a block comment stays a comment. */
static int
comment_scan(const char *p, const char *end, int in_comment)
{
    while (p < end) {
        if (in_comment) {
            if (p + 1 < end && p[0] == '*' && p[1] == '/') {
                in_comment = 0;
                p += 2;
            } else {
                p++;
            }
        } else if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\' && p + 1 < end)
                    p++;
            p++;
        } else if (*p == '#' || (p + 1 < end && p[0] == '/' && p[1] == '/')) {
            break;
        } else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
            in_comment = 1;
            p += 2;
        } else {
            p++;
        }
    }
    return in_comment;
}

/* The quoted name of an `@include "name"` line (libconfig's rule: only
 * blanks before it); *rest points after the closing quote. 1 if the line
 * is an include, 0 if not, -1 if its name is not terminated. */
static int
include_parse(const char *p, const char *end, char *name, size_t cap,
              const char **rest)
{
    size_t n = 0;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) < 8 || memcmp(p, "@include", 8) != 0)
        return 0;
    p += 8;
    if (p == end || (*p != ' ' && *p != '\t'))
        return 0;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p != '"')
        return 0;
    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end)
            p++;
        if (n + 1 < cap)
            name[n++] = *p;
    }
    name[n] = '\0';
    if (p == end)
        return -1;
    *rest = p + 1;
    return 1;
}

static int load_file(struct conf_text *t, const char *path, int depth,
                     const char *from, int from_line, char *err,
                     size_t errlen);

static int
include_one(struct conf_text *t, const char *from, int line,
            const char *name, int depth, char *err, size_t errlen)
{
    char full[8200];
    const char *slash = strrchr(from, '/');

    if (name[0] == '/' || slash == NULL)
        snprintf(full, sizeof(full), "%s", name);
    else
        snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - from), from,
                 name);
    struct stat st;
    if (strpbrk(name, "*?[") == NULL) {
        /* a directory stands for its *.conf files (conf.d/) */
        size_t fl = strlen(full);
        if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode) ||
            fl + 8 > sizeof(full))
            return load_file(t, full, depth + 1, from, line, err, errlen);
        snprintf(full + fl, sizeof(full) - fl, "%s*.conf",
                 fl > 0 && full[fl - 1] == '/' ? "" : "/");
    }

    glob_t g;
    int rc = glob(full, 0, NULL, &g);
    if (rc == GLOB_NOMATCH)
        return 0;   /* like nginx: a pattern matching nothing is fine */
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: cannot read include pattern \"%s\"",
                 from, line, full);
        return -1;
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (load_file(t, g.gl_pathv[i], depth + 1, from, line, err,
                      errlen) < 0) {
            globfree(&g);
            return -1;
        }
    globfree(&g);
    return 0;
}

static int
load_file(struct conf_text *t, const char *path, int depth, const char *from,
          int from_line, char *err, size_t errlen)
{
    if (depth > INCLUDE_DEPTH) {
        snprintf(err, errlen, "%s:%d: includes nested more than %d deep "
                 "(does \"%s\" include itself?)", from, from_line,
                 INCLUDE_DEPTH, path);
        return -1;
    }
    FILE *f = fopen(path, "r");
    struct stat st;
    int e = errno;
    if (f != NULL && fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(f);
        f = NULL;
        e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    }
    if (f == NULL) {
        if (from == NULL)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        else
            snprintf(err, errlen, "%s:%d: cannot open include file \"%s\": "
                     "%s", from, from_line, path,
                     e == EINVAL ? "not a regular file" : strerror(e));
        return -1;
    }
    char **files = realloc(t->files, (t->nfiles + 1) * sizeof(*files));
    if (files == NULL || (files[t->nfiles] = strdup(path)) == NULL) {
        if (files != NULL)
            t->files = files;
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    t->files = files;
    unsigned idx = (unsigned)t->nfiles++;
    const char *me = t->files[idx];

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, in_comment = 0, rc = 0;
    char name[4096];
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        const char *end = line + n, *rest = NULL;
        int inc = in_comment ? 0
                : include_parse(line, end, name, sizeof(name), &rest);
        if (inc < 0) {
            snprintf(err, errlen, "%s:%d: unterminated @include file name",
                     me, lineno);
            rc = -1;
        } else if (inc > 0) {
            rc = include_one(t, me, lineno, name, depth, err, errlen);
            /* What follows the name (a comment) stays on its line. */
            if (rc == 0)
                rc = text_append(t, rest, (size_t)(end - rest), idx, lineno);
            if (rc == 0)
                in_comment = comment_scan(rest, end, 0);
        } else {
            rc = text_append(t, line, (size_t)n, idx, lineno);
            in_comment = comment_scan(line, end, in_comment);
        }
        if (rc < 0 && err[0] == '\0')
            snprintf(err, errlen, "%s: out of memory", me);
    }
    free(line);
    fclose(f);
    return rc;
}

int
conf_text_load(struct conf_text *t, const char *path, char *err,
               size_t errlen)
{
    memset(t, 0, sizeof(*t));
    err[0] = '\0';
    if (load_file(t, path, 0, NULL, 0, err, errlen) < 0)
        return -1;
    if (t->buf == NULL && text_append(t, "", 0, 0, 1) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

int
conf_text_where(const struct conf_text *t, int line, const char **file,
                int *fline)
{
    *file = NULL;
    *fline = line;
    if (t->nlines == 0)
        return -1;
    if (line < 1) {
        *file = t->files[0];    /* no line: the main file, as libconfig */
        return 0;
    }
    int past = 0;               /* past the end: the last file's end */
    if ((size_t)line > t->nlines) {
        past = line - (int)t->nlines;
        line = (int)t->nlines;
    }
    *file = t->files[t->map[line - 1].file];
    *fline = t->map[line - 1].line + past;
    return (int)t->map[line - 1].file;
}

void
conf_text_free(struct conf_text *t)
{
    for (size_t i = 0; i < t->nfiles; i++)
        free(t->files[i]);
    free(t->files);
    free(t->map);
    free(t->buf);
    memset(t, 0, sizeof(*t));
}
