/* conf: load, validate and free the configuration model. */
#ifndef CERB_CONF_H
#define CERB_CONF_H

#include <stdio.h>

#include "conf-t.h"
#include "rx.h"

/* All the errors of one load, each "file:line: message". */
struct conf_errors {
    char **msg;
    int *line;                  /* for ordering */
    const char **file;
    size_t n, cap;
};

/* Loads and validates path; NULL with every error in errs. */
struct conf *conf_load(const char *path, struct conf_errors *errs);
void conf_free(struct conf *c);
void conf_errors_print(const struct conf_errors *e, FILE *f);
void conf_errors_free(struct conf_errors *e);
/* Reads one top-level string key without validating the rest (so `stop`
 * works while the file on disk is broken); the schema default if unset
 * or unreadable. */
void conf_peek_string(const char *path, const char *key, char *out,
                      size_t len);

/* The schema (conf_schema.c), for the man-page test and `check`. */
const struct conf_section *conf_root_section(void);

/* Used by the schema's check functions. */
void conf_error(struct conf_ctx *ctx, const struct conf_src *src,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct arena *conf_ctx_arena(struct conf_ctx *ctx);
/* In a check function: where key of the section being checked was set
 * (its file and line), or section when it was not. */
struct conf_src conf_key_src(struct conf_ctx *ctx,
                             const struct conf_src *section, const char *key);
/* A feature not in this release: refused rather than silently ignored. */
void conf_unsupported(struct conf_ctx *ctx, const struct conf_src *src,
                      const char *where, const char *what);
/* A relative path becomes relative to the config file's directory. */
void conf_path_resolve(struct conf_ctx *ctx, char **p);
struct conf *conf_ctx_conf(struct conf_ctx *ctx);
/* Compiles a PCRE2 pattern (JIT where available), freed with the arena;
 * NULL after reporting the error at src ("what: invalid regular
 * expression ..."). Its where, for run-time reports, is "file:line: what"
 * then ".key" when key is not NULL. */
struct rx *conf_regex_compile(struct conf_ctx *ctx, const struct conf_src *src,
                              const char *what, const char *key,
                              const char *pattern);

/* The name in table (NULL-terminated entries stride bytes apart, each
 * starting with its name) clearly nearest to word: at most 2 edits and a
 * third of its length, or a case difference ("get" for "GET"); NULL when
 * none is, or two are as near, or word is in the table. */
const char *conf_nearest(const char *word, const void *table, size_t stride);

/* Whether m is a method cerberus knows (http_methods: case-sensitive, no
 * extension methods); if not, hint holds " (did you mean \"GET\"?)" or the
 * list of known ones. */
bool conf_method_known(const char *m, char *hint, size_t len);

const char *conf_enum_name(const struct conf_section *sec, const char *key,
                           int value);
const char *conf_balance_name(int balance);
struct conf_listener *conf_listener_find(const struct conf *c, const char *name);
struct conf_pool *conf_pool_find(const struct conf *c, const char *name);

#endif
