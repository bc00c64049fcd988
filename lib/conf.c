/* conf: load, validate and free the configuration model. */
#include "conf.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arena.h"
#include "conf_include.h"
#include "http_parse.h"
#include "units.h"

struct conf_ctx {
    struct conf *conf;
    struct arena *arena;
    struct conf_errors *errs;
    int failed;
    const struct conf_text *text;   /* maps lines to included files */
    const char **file;              /* its file names, in the arena */
    const config_setting_t *checking;   /* the group sec->check looks at */
};

static void
errors_add_at(struct conf_errors *e, const char *msg, const char *file,
              int line)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        char **m = realloc(e->msg, cap * sizeof(*m));
        if (m == NULL)
            return;
        e->msg = m;
        int *l = realloc(e->line, cap * sizeof(*l));
        if (l == NULL)
            return;
        e->line = l;
        const char **f = realloc(e->file, cap * sizeof(*f));
        if (f == NULL)
            return;
        e->file = f;
        e->cap = cap;
    }
    char *copy = strdup(msg);
    if (copy == NULL)
        return;
    /* Keep them in file order: by line within a file, stable. */
    size_t i = e->n;
    while (i > 0 && file != NULL && e->file[i - 1] != NULL &&
           strcmp(e->file[i - 1], file) == 0 && e->line[i - 1] > line) {
        e->msg[i] = e->msg[i - 1];
        e->line[i] = e->line[i - 1];
        e->file[i] = e->file[i - 1];
        i--;
    }
    e->msg[i] = copy;
    e->line[i] = line;
    e->file[i] = file;
    e->n++;
}

static void
errors_add(struct conf_errors *e, const char *msg)
{
    errors_add_at(e, msg, NULL, 0);
}

void
conf_errors_print(const struct conf_errors *e, FILE *f)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(f, "%s\n", e->msg[i]);
}

void
conf_errors_free(struct conf_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msg[i]);
    free(e->msg);
    free(e->line);
    free(e->file);
    memset(e, 0, sizeof(*e));
}

void
conf_error(struct conf_ctx *ctx, const struct conf_src *src,
           const char *fmt, ...)
{
    char buf[4096 + 1024];      /* a PATH_MAX file name and the message */
    int n = snprintf(buf, sizeof(buf), "%s:%d: ",
                     src && src->file ? src->file : ctx->conf->path,
                     src ? src->line : 0);
    if (n < 0 || (size_t)n >= sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;   /* a path that long: the message is cut */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    errors_add_at(ctx->errs, buf, src && src->file ? src->file : NULL,
                  src ? src->line : 0);
    ctx->failed = 1;
}

struct arena *
conf_ctx_arena(struct conf_ctx *ctx)
{
    return ctx->arena;
}

struct conf *
conf_ctx_conf(struct conf_ctx *ctx)
{
    return ctx->conf;
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions), of names short enough to be keys; large past 63. */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[64][64];

    if (la >= 64 || lb >= 64)
        return 64;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *
conf_nearest(const char *word, const void *table, size_t stride)
{
    size_t len = strlen(word);
    /* At most 2 edits, and at most a third of the word: "tsl" may be
     * "tls", "ab" is nobody's typo. */
    size_t limit = len / 3 < 2 ? len / 3 : 2;
    const char *best = NULL;
    size_t bestd = limit + 1;
    bool tie = false;

    for (const char *p = table; *(const char *const *)p != NULL; p += stride) {
        const char *cand = *(const char *const *)p;
        if (strcmp(word, cand) == 0)
            return NULL;
        if (strcasecmp(word, cand) == 0)
            return cand;            /* "get" is "GET", however short */
    }
    for (const char *p = table; *(const char *const *)p != NULL; p += stride) {
        const char *cand = *(const char *const *)p;
        size_t dist = edit_distance(word, cand);
        if (dist < bestd) {
            best = cand;
            bestd = dist;
            tie = false;
        } else if (dist == bestd && best != NULL && strcmp(best, cand) != 0) {
            tie = true;
        }
    }
    return tie ? NULL : best;
}

/* " (did you mean "x"?)", or "" when no name is clearly nearest. */
static const char *
suggest(char *buf, size_t len, const char *word, const void *table,
        size_t stride)
{
    const char *n = conf_nearest(word, table, stride);

    if (n == NULL)
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, " (did you mean \"%s\"?)", n);
    return buf;
}

bool
conf_method_known(const char *m, char *hint, size_t len)
{
    for (size_t i = 0; http_methods[i].name != NULL; i++)
        if (strcmp(m, http_methods[i].name) == 0)
            return true;
    suggest(hint, len, m, http_methods, sizeof(*http_methods));
    if (hint[0] == '\0')
        snprintf(hint, len, " (expected one of GET, HEAD, POST, PUT, DELETE, "
                 "CONNECT, OPTIONS, TRACE, PATCH)");
    return false;
}

static struct conf_src
src_of(struct conf_ctx *ctx, const config_setting_t *s)
{
    struct conf_src src;

    /* libconfig parsed the expanded text: its line says which file. */
    src.file = ctx->conf->path;
    src.line = (int)config_setting_source_line(s);
    if (ctx->text != NULL) {
        const char *unused;
        int i = conf_text_where(ctx->text, src.line, &unused, &src.line);
        if (i >= 0)
            src.file = ctx->file[i];
    }
    return src;
}

struct conf_src
conf_key_src(struct conf_ctx *ctx, const struct conf_src *section,
             const char *key)
{
    const config_setting_t *m = ctx->checking
                              ? config_setting_get_member(ctx->checking, key)
                              : NULL;
    return m != NULL ? src_of(ctx, m) : *section;
}

static void
setting_error(struct conf_ctx *ctx, const config_setting_t *s,
              const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
setting_error(struct conf_ctx *ctx, const config_setting_t *s,
              const char *path, const char *fmt, ...)
{
    char buf[1000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    struct conf_src src = src_of(ctx, s);
    conf_error(ctx, &src, "%s: %s", path, buf);
}

static void
regex_free(void *re)
{
    pcre2_code_free(re);
}

struct rx *
conf_regex_compile(struct conf_ctx *ctx, const struct conf_src *src,
                   const char *what, const char *key, const char *pattern)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   0, &code, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        conf_error(ctx, src, "%s: invalid regular expression at offset %zu: %s",
                   what, (size_t)off, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  /* interpreter if it fails */
    if (arena_cleanup_add(ctx->arena, regex_free, re) < 0) {
        pcre2_code_free(re);
        conf_error(ctx, src, "out of memory");
        return NULL;
    }
    struct rx *rx = arena_calloc(ctx->arena, 1, sizeof(*rx));
    const char *file = src && src->file ? src->file : ctx->conf->path;
    int n = snprintf(NULL, 0, "%s:%d: %s%s%s", file, src ? src->line : 0, what,
                     key ? "." : "", key ? key : "");
    char *where = n > 0 ? arena_alloc(ctx->arena, (size_t)n + 1) : NULL;
    if (rx == NULL || where == NULL) {
        conf_error(ctx, src, "out of memory");
        return NULL;
    }
    snprintf(where, (size_t)n + 1, "%s:%d: %s%s%s", file, src ? src->line : 0,
             what, key ? "." : "", key ? key : "");
    rx->code = re;
    rx->where = where;
    return rx;
}

static const char *
type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: return "a number";
    case CONFIG_TYPE_FLOAT: return "a decimal number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "true or false";
    case CONFIG_TYPE_GROUP: return "a group { ... }";
    case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
    case CONFIG_TYPE_LIST: return "a list ( ... )";
    default: return "something else";
    }
}

static int
is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

#define FIELD(obj, off, type) ((type *)((char *)(obj) + (off)))

static void parse_section(struct conf_ctx *ctx, const struct conf_section *sec,
                          const config_setting_t *g, void *obj,
                          const char *path);

static int
check_range(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
            const struct conf_key *k, int64_t v, const char *unit_text)
{
    if (k->min == 0 && k->max == 0)
        return 0;
    if (v < k->min || v > k->max) {
        if (k->kind == CK_DURATION) {
            char lo[32], hi[32];
            unit_duration_format(k->min, lo, sizeof(lo));
            unit_duration_format(k->max, hi, sizeof(hi));
            setting_error(ctx, s, path, "%s is out of range (%s to %s)",
                          unit_text, lo, hi);
        } else {
            setting_error(ctx, s, path, "%s is out of range (%lld to %lld)",
                          unit_text, (long long)k->min, (long long)k->max);
        }
        return -1;
    }
    return 0;
}

/* Reads a scalar given as text (the defaults) or from a setting. */
static int
parse_scalar(struct conf_ctx *ctx, const struct conf_key *k,
             const config_setting_t *s, const char *text, void *obj,
             const char *path)
{
    const char *why;
    char buf[64];
    int64_t v;

    switch (k->kind) {
    case CK_INT:
        if (text == NULL && is_int(s)) {
            v = config_setting_get_int64(s);
        } else {
            const char *t = text ? text : config_setting_get_string(s);
            if (t == NULL) {
                setting_error(ctx, s, path, "expected a number%s, got %s",
                              k->flags & CF_AUTO ? " or \"auto\"" : "",
                              type_name(config_setting_type(s)));
                return -1;
            }
            if ((k->flags & CF_AUTO) && strcmp(t, "auto") == 0) {
                *FIELD(obj, k->off, int64_t) = 0;
                return 0;
            }
            char *end;
            errno = 0;
            v = strtoll(t, &end, 10);
            if (text == NULL || *end != '\0' || errno != 0) {
                setting_error(ctx, s, path, "expected a number%s, got \"%s\"",
                              k->flags & CF_AUTO ? " or \"auto\"" : "", t);
                return -1;
            }
        }
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
        if (s != NULL && check_range(ctx, s, path, k, v, buf) < 0)
            return -1;
        *FIELD(obj, k->off, int64_t) = v;
        return 0;

    case CK_BOOL:
        if (text != NULL) {
            *FIELD(obj, k->off, bool) = strcmp(text, "true") == 0;
            return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
            setting_error(ctx, s, path, "expected true or false, got %s",
                          type_name(config_setting_type(s)));
            return -1;
        }
        *FIELD(obj, k->off, bool) = config_setting_get_bool(s) != 0;
        return 0;

    case CK_STR: {
        const char *t = text;
        if (t == NULL) {
            if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                setting_error(ctx, s, path, "expected a string, got %s",
                              type_name(config_setting_type(s)));
                return -1;
            }
            t = config_setting_get_string(s);
            if ((k->flags & CF_NONEMPTY) && t[0] == '\0') {
                setting_error(ctx, s, path, "must not be empty");
                return -1;
            }
        }
        *FIELD(obj, k->off, char *) = arena_strdup(ctx->arena, t);
        return 0;
    }

    case CK_DURATION:
    case CK_SIZE: {
        const char *t = text;
        if (t == NULL && is_int(s)) {
            /* A bare number: seconds, or bytes. */
            v = config_setting_get_int64(s);
            if (v < 0) {
                setting_error(ctx, s, path, "must not be negative");
                return -1;
            }
            if (k->kind == CK_DURATION) {
                if (v > ((int64_t)1 << 40)) {
                    setting_error(ctx, s, path, "duration too large");
                    return -1;
                }
                v *= 1000;
            }
        } else {
            if (t == NULL)
                t = config_setting_get_string(s);
            if (t != NULL && (k->flags & CF_OFF) && strcmp(t, "off") == 0) {
                *FIELD(obj, k->off, int64_t) = 0;
                return 0;
            }
            if (t == NULL) {
                setting_error(ctx, s, path, "expected a %s string such as %s, "
                              "got %s", k->kind == CK_DURATION ?
                              "duration" : "size", k->kind == CK_DURATION ?
                              "\"500ms\" or \"30s\"" : "\"16k\" or \"8M\"",
                              type_name(config_setting_type(s)));
                return -1;
            }
            int r = k->kind == CK_DURATION ? unit_duration_parse(t, &v, &why)
                                           : unit_size_parse(t, &v, &why);
            if (r < 0) {
                if (s == NULL)
                    return -1;
                setting_error(ctx, s, path, "invalid %s \"%s\": %s",
                              k->kind == CK_DURATION ? "duration" : "size",
                              t, why);
                return -1;
            }
        }
        if (s != NULL) {
            const char *shown = config_setting_get_string(s);
            if (shown == NULL) {
                snprintf(buf, sizeof(buf), "%lld", (long long)
                         config_setting_get_int64(s));
                shown = buf;
            }
            if (check_range(ctx, s, path, k, v, shown) < 0)
                return -1;
        }
        *FIELD(obj, k->off, int64_t) = v;
        return 0;
    }

    case CK_ENUM: {
        const char *t = text ? text : config_setting_get_string(s);
        if (t != NULL)
            for (int i = 0; k->choices[i] != NULL; i++)
                if (strcmp(t, k->choices[i]) == 0) {
                    *FIELD(obj, k->off, int) = i;
                    return 0;
                }
        char list[256] = "";
        size_t off = 0;
        for (int i = 0; k->choices[i] != NULL && off < sizeof(list); i++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
                                    i ? ", " : "", k->choices[i]);
        char sb[128];
        if (t != NULL)
            setting_error(ctx, s, path, "invalid value \"%s\" (expected one "
                          "of %s)%s", t, list, suggest(sb, sizeof(sb), t,
                          k->choices, sizeof(*k->choices)));
        else
            setting_error(ctx, s, path, "expected one of %s, got %s", list,
                          type_name(config_setting_type(s)));
        return -1;
    }

    case CK_ADDR: {
        const char *t = text ? text : config_setting_get_string(s);
        char err[256];
        if (t == NULL) {
            setting_error(ctx, s, path, "expected an address string such "
                          "as \"127.0.0.1:8080\", got %s",
                          type_name(config_setting_type(s)));
            return -1;
        }
        if (addr_parse(t, FIELD(obj, k->off, struct addr), (unsigned)k->min,
                       err, sizeof(err)) < 0) {
            if (s != NULL)
                setting_error(ctx, s, path, "invalid address \"%s\": %s", t,
                              err);
            return -1;
        }
        if (k->off2)
            *FIELD(obj, k->off2, char *) = arena_strdup(ctx->arena, t);
        return 0;
    }
    default:
        return -1;
    }
}

static int
parse_strlist(struct conf_ctx *ctx, const struct conf_key *k,
              const config_setting_t *s, void *obj, const char *path)
{
    int t = config_setting_type(s);
    char **v;
    size_t n;

    if (t == CONFIG_TYPE_STRING) {
        n = 1;
        v = arena_alloc(ctx->arena, sizeof(*v));
        v[0] = arena_strdup(ctx->arena, config_setting_get_string(s));
    } else if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) {
        n = (size_t)config_setting_length(s);
        v = arena_calloc(ctx->arena, n ? n : 1, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (int)i);
            const char *str = config_setting_get_string(e);
            if (str == NULL) {
                setting_error(ctx, e, path, "element %zu: expected a string, "
                              "got %s", i + 1, type_name(config_setting_type(e)));
                return -1;
            }
            v[i] = arena_strdup(ctx->arena, str);
        }
    } else {
        setting_error(ctx, s, path, "expected an array of strings [ \"...\" ],"
                      " got %s", type_name(t));
        return -1;
    }
    if (n == 0 && (k->flags & CF_NONEMPTY)) {
        setting_error(ctx, s, path, "must not be empty");
        return -1;
    }
    *FIELD(obj, k->off, char **) = v;
    *FIELD(obj, k->off2, size_t) = n;
    return 0;
}

static int
parse_intlist(struct conf_ctx *ctx, const struct conf_key *k,
              const config_setting_t *s, void *obj, const char *path)
{
    int t = config_setting_type(s);
    size_t n;
    int64_t *v;

    if (is_int(s)) {
        n = 1;
        v = arena_alloc(ctx->arena, sizeof(*v));
        v[0] = config_setting_get_int64(s);
    } else if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) {
        n = (size_t)config_setting_length(s);
        v = arena_calloc(ctx->arena, n ? n : 1, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (int)i);
            if (!is_int(e)) {
                setting_error(ctx, e, path, "element %zu: expected a number, "
                              "got %s", i + 1, type_name(config_setting_type(e)));
                return -1;
            }
            v[i] = config_setting_get_int64(e);
        }
    } else {
        setting_error(ctx, s, path, "expected an array of numbers [ ... ], "
                      "got %s", type_name(t));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)v[i]);
        if (check_range(ctx, s, path, k, v[i], buf) < 0)
            return -1;
    }
    if (n == 0 && (k->flags & CF_NONEMPTY)) {
        setting_error(ctx, s, path, "must not be empty");
        return -1;
    }
    *FIELD(obj, k->off, int64_t *) = v;
    *FIELD(obj, k->off2, size_t) = n;
    return 0;
}

/* A list's default, written in the table as "500, 502" (the unit test
 * checks that it reads, in range). */
static void
intlist_default(struct conf_ctx *ctx, const struct conf_key *k, void *obj)
{
    size_t n = 1;

    for (const char *q = k->def; *q; q++)
        n += *q == ',';
    int64_t *v = arena_calloc(ctx->arena, n, sizeof(*v));
    if (v == NULL)
        return;
    const char *q = k->def;
    for (size_t i = 0; i < n; i++) {
        char *end;
        v[i] = strtoll(q, &end, 10);
        q = *end == ',' ? end + 1 : end;
    }
    *FIELD(obj, k->off, int64_t *) = v;
    *FIELD(obj, k->off2, size_t) = n;
}

static int
parse_strmap(struct conf_ctx *ctx, const struct conf_key *k,
             const config_setting_t *s, void *obj, const char *path)
{
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        setting_error(ctx, s, path, "expected a group { Name = \"value\"; }, "
                      "got %s", type_name(config_setting_type(s)));
        return -1;
    }
    size_t n = (size_t)config_setting_length(s);
    struct conf_kv *kv = arena_calloc(ctx->arena, n ? n : 1, sizeof(*kv));
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (int)i);
        char buf[32];
        const char *val = config_setting_get_string(e);
        if (val == NULL && is_int(e)) {
            snprintf(buf, sizeof(buf), "%lld",
                     (long long)config_setting_get_int64(e));
            val = buf;
        }
        if (val == NULL) {
            setting_error(ctx, e, path, "%s: expected a string, got %s",
                          config_setting_name(e),
                          type_name(config_setting_type(e)));
            return -1;
        }
        kv[i].name = arena_strdup(ctx->arena, config_setting_name(e));
        kv[i].value = arena_strdup(ctx->arena, val);
    }
    *FIELD(obj, k->off, struct conf_kv *) = kv;
    *FIELD(obj, k->off2, size_t) = n;
    return 0;
}

static void
parse_key(struct conf_ctx *ctx, const struct conf_key *k,
          const config_setting_t *s, void *obj, const char *path)
{
    switch (k->kind) {
    case CK_STRLIST:
        parse_strlist(ctx, k, s, obj, path);
        return;
    case CK_INTLIST:
        parse_intlist(ctx, k, s, obj, path);
        return;
    case CK_STRMAP:
        parse_strmap(ctx, k, s, obj, path);
        return;
    case CK_GROUP: {
        if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
            setting_error(ctx, s, path, "expected a group { ... }, got %s",
                          type_name(config_setting_type(s)));
            return;
        }
        void *sub = arena_calloc(ctx->arena, 1, k->sub->size);
        *FIELD(obj, k->off, void *) = sub;
        parse_section(ctx, k->sub, s, sub, path);
        return;
    }
    case CK_LIST: {
        int t = config_setting_type(s);
        if (t != CONFIG_TYPE_LIST) {
            setting_error(ctx, s, path, "expected a list ( { ... }, ... ), "
                          "got %s", type_name(t));
            return;
        }
        size_t n = (size_t)config_setting_length(s);
        char *arr = arena_calloc(ctx->arena, n ? n : 1, k->sub->size);
        *FIELD(obj, k->off, void *) = arr;
        *FIELD(obj, k->off2, size_t) = n;
        for (size_t i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (int)i);
            char epath[400];
            snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
            if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
                setting_error(ctx, e, epath, "expected a group { ... }, got %s",
                              type_name(config_setting_type(e)));
                continue;
            }
            parse_section(ctx, k->sub, e, arr + i * k->sub->size, epath);
        }
        if (n == 0 && (k->flags & CF_NONEMPTY))
            setting_error(ctx, s, path, "must not be empty");
        return;
    }
    default:
        parse_scalar(ctx, k, s, NULL, obj, path);
    }
}

static void
parse_section(struct conf_ctx *ctx, const struct conf_section *sec,
              const config_setting_t *g, void *obj, const char *path)
{
    struct conf_src *src = obj;
    char kpath[320];

    *src = src_of(ctx, g);
    /* Unknown keys first: a typo must never pass as a default. */
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, i);
        const char *name = config_setting_name(m);
        const struct conf_key *k = sec->keys;
        while (k->name != NULL && strcmp(k->name, name) != 0)
            k++;
        if (k->name == NULL) {
            struct conf_src ms = src_of(ctx, m);
            char sb[128];
            const char *hint = suggest(sb, sizeof(sb), name, sec->keys,
                                       sizeof(*sec->keys));
            if (path[0])
                conf_error(ctx, &ms, "%s: unknown key \"%s\" in %s%s", path,
                           name, sec->name, hint);
            else
                conf_error(ctx, &ms, "unknown key \"%s\"%s", name, hint);
        }
    }
    for (const struct conf_key *k = sec->keys; k->name != NULL; k++) {
        const config_setting_t *m = config_setting_get_member(g, k->name);
        snprintf(kpath, sizeof(kpath), "%s%s%s", path, path[0] ? "." : "",
                 k->name);
        if (m == NULL) {
            if (k->flags & CF_REQUIRED) {
                if (path[0])
                    conf_error(ctx, src, "%s: missing required key \"%s\"",
                               path, k->name);
                else
                    conf_error(ctx, src, "missing required key \"%s\"",
                               k->name);
            } else if (k->def != NULL && k->kind == CK_INTLIST) {
                intlist_default(ctx, k, obj);
            } else if (k->def != NULL) {
                parse_scalar(ctx, k, NULL, k->def, obj, kpath);
            }
            continue;
        }
        parse_key(ctx, k, m, obj, kpath);
    }
    if (sec->check != NULL) {
        const config_setting_t *was = ctx->checking;
        ctx->checking = g;
        sec->check(ctx, obj, path);
        ctx->checking = was;
    }
}

/* Line n (from 1) of the file at path, without its newline; false past
 * the end. */
static bool
file_line(const char *path, int n, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    int at = 0;
    bool found = false;

    out[0] = '\0';
    if (f == NULL || n < 1) {
        if (f != NULL)
            fclose(f);
        return false;
    }
    while (fgets(out, (int)len, f) != NULL) {
        size_t l = strlen(out);
        bool whole = l > 0 && out[l - 1] == '\n';
        if (whole)
            out[--l] = '\0';
        if (whole || feof(f))
            at++;
        if (at == n) {
            found = true;
            break;
        }
    }
    fclose(f);
    if (!found)
        out[0] = '\0';
    return found;
}

/* The names set on a line ("name =" or "name:"), in order; returns how
 * many (at most max), each a pointer into line, its length in lens. */
static size_t
line_names(const char *line, const char **names, size_t *lens, size_t max)
{
    size_t n = 0;
    bool in_str = false;

    for (const char *p = line; *p && n < max; p++) {
        if (*p == '"' && (p == line || p[-1] != '\\'))
            in_str = !in_str;
        if (!in_str && (*p == '#' || (p[0] == '/' && p[1] == '/')))
            break;              /* a comment to the end of the line */
        if (in_str || !(isalpha((unsigned char)*p) || *p == '*') ||
            (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
                          p[-1] == '-' || p[-1] == '*')))
            continue;
        const char *e = p;
        while (isalnum((unsigned char)*e) || *e == '_' || *e == '-' ||
               *e == '*')
            e++;
        const char *q = e;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '=' || *q == ':') {
            names[n] = p;
            lens[n++] = (size_t)(e - p);
        }
        p = e - 1;
    }
    return n;
}

/* libconfig's terse messages, made to say what they are about from the
 * text at the line they name. */
static void
libconfig_error(const char *file, int line, const char *text, char *out,
                size_t len)
{
    char l[1024], prev[1024];

    bool have = file_line(file, line, l, sizeof(l));
    if (strcmp(text, "duplicate setting name") == 0 && have) {
        /* The name set on this line that was set before: on this line
         * first, else on an earlier one. */
        const char *names[32];
        size_t lens[32];
        size_t n = line_names(l, names, lens, 32);
        for (size_t i = n; i-- > 0; ) {
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = lens[j] == lens[i] &&
                      memcmp(names[j], names[i], lens[i]) == 0;
            for (int k = 1; k < line && !dup; k++) {
                const char *pn[32];
                size_t pl[32];
                if (!file_line(file, k, prev, sizeof(prev)))
                    break;
                size_t m = line_names(prev, pn, pl, 32);
                for (size_t j = 0; j < m && !dup; j++)
                    dup = pl[j] == lens[i] &&
                          memcmp(pn[j], names[i], lens[i]) == 0;
            }
            if (dup) {
                snprintf(out, len, "%s:%d: duplicate setting \"%.*s\"", file,
                         line, (int)lens[i], names[i]);
                return;
            }
        }
        snprintf(out, len, "%s:%d: duplicate setting", file, line);
        return;
    }
    if (strcmp(text, "cannot open include file") == 0 && have) {
        const char *p = strstr(l, "@include");
        const char *q = p ? strchr(p, '"') : NULL;
        const char *e = q ? strchr(q + 1, '"') : NULL;
        if (e != NULL) {
            snprintf(out, len, "%s:%d: cannot open include file \"%.*s\"",
                     file, line, (int)(e - q - 1), q + 1);
            return;
        }
    }
    if (strcmp(text, "syntax error") == 0) {
        const char *p = l;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!have || *p == '\0')
            snprintf(out, len, "%s:%d: syntax error at the end of the file "
                     "(an unclosed string, group or list?)", file, line);
        else
            snprintf(out, len, "%s:%d: syntax error in: %.72s%s", file,
                     line, p, strlen(p) > 72 ? "..." : "");
        return;
    }
    snprintf(out, len, "%s:%d: %s", file, line, text);
}

struct conf *
conf_load(const char *path, struct conf_errors *errs)
{
    struct arena *a = arena_new(16384);
    config_t cfg;

    if (a == NULL) {
        errors_add(errs, "out of memory");
        return NULL;
    }
    struct conf *c = arena_calloc(a, 1, sizeof(*c));
    c->arena = a;
    c->path = arena_strdup(a, path);
    struct conf_ctx ctx = { .conf = c, .arena = a, .errs = errs };

    if (access(path, R_OK) < 0) {
        char buf[4200];
        snprintf(buf, sizeof(buf), "%s: cannot read: %s", path,
                 strerror(errno));
        errors_add(errs, buf);
        arena_free(a);
        return NULL;
    }
    /* @include is expanded by conf_text_load(), libconfig sees one text. */
    struct conf_text text;
    char ebuf[8400];
    if (conf_text_load(&text, path, ebuf, sizeof(ebuf)) < 0) {
        errors_add(errs, ebuf);
        conf_text_free(&text);
        arena_free(a);
        return NULL;
    }
    ctx.text = &text;
    ctx.file = arena_alloc(a, text.nfiles * sizeof(*ctx.file));
    for (size_t i = 0; i < text.nfiles; i++)
        ctx.file[i] = arena_strdup(a, text.files[i]);
    config_init(&cfg);
    if (config_read_string(&cfg, text.buf) != CONFIG_TRUE) {
        char buf[8400 + 1200];
        const char *f;
        int line;
        conf_text_where(&text, config_error_line(&cfg), &f, &line);
        libconfig_error(f ? f : path, line, config_error_text(&cfg), buf,
                        sizeof(buf));
        errors_add(errs, buf);
        config_destroy(&cfg);
        conf_text_free(&text);
        arena_free(a);
        return NULL;
    }
    parse_section(&ctx, conf_root_section(), config_root_setting(&cfg), c, "");
    /* Source file names point into libconfig's memory: copy them. */
    config_destroy(&cfg);
    conf_text_free(&text);
    if (ctx.failed) {
        arena_free(a);
        return NULL;
    }
    return c;
}

void
conf_free(struct conf *c)
{
    if (c != NULL)
        arena_free(c->arena);
}

const char *
conf_enum_name(const struct conf_section *sec, const char *key, int value)
{
    for (const struct conf_key *k = sec->keys; k->name != NULL; k++)
        if (strcmp(k->name, key) == 0 && k->choices != NULL)
            return k->choices[value];
    return "?";
}

struct conf_listener *
conf_listener_find(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nlisteners; i++)
        if (c->listeners[i].name && strcmp(c->listeners[i].name, name) == 0)
            return &c->listeners[i];
    return NULL;
}

struct conf_pool *
conf_pool_find(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->npools; i++)
        if (c->pools[i].name && strcmp(c->pools[i].name, name) == 0)
            return &c->pools[i];
    return NULL;
}

void
conf_peek_string(const char *path, const char *key, char *out, size_t len)
{
    config_t cfg;
    const char *v = NULL;

    for (const struct conf_key *k = conf_root_section()->keys; k->name; k++)
        if (strcmp(k->name, key) == 0)
            v = k->def;
    config_init(&cfg);
    const char *got = NULL;
    struct conf_text text;
    char ebuf[256];
    if (conf_text_load(&text, path, ebuf, sizeof(ebuf)) == 0 &&
        config_read_string(&cfg, text.buf) == CONFIG_TRUE) {
        if (config_lookup_string(&cfg, key, &got) == CONFIG_TRUE)
            v = got;
        snprintf(out, len, "%s", v ? v : "");
        config_destroy(&cfg);
        conf_text_free(&text);
        goto resolve;
    }
    config_destroy(&cfg);
    conf_text_free(&text);
    /* Not even libconfig syntax: look for `key = "value"` as text. */
    snprintf(out, len, "%s", v ? v : "");
    FILE *f = fopen(path, "r");
    char line[4096];
    size_t kl = strlen(key);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, key, kl) != 0)
            continue;
        p += kl;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=' && *p != ':')
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (end != NULL) {
            snprintf(out, len, "%.*s", (int)(end - p - 1), p + 1);
            break;
        }
    }
    if (f != NULL)
        fclose(f);
resolve:;
    /* As conf_load does: relative to the file's directory. */
    const char *slash = strrchr(path, '/');
    if (out[0] != '\0' && out[0] != '/' && slash != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%.*s/%s", (int)(slash - path), path, out);
        snprintf(out, len, "%s", tmp);
    }
}
