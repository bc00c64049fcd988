/* conf_include: a config file with its @include lines expanded, and where
 * each line of the result came from. */
#ifndef CERB_CONF_INCLUDE_H
#define CERB_CONF_INCLUDE_H

#include <stddef.h>

struct conf_text_line {
    unsigned file;      /* index into files */
    int line;           /* 1-based line in that file */
};

struct conf_text {
    char *buf;          /* the expanded text, NUL-terminated */
    size_t len, cap;
    struct conf_text_line *map;  /* map[i]: origin of line i + 1 of buf */
    size_t nlines, mapcap;
    char **files;       /* as opened: absolute, or relative to the main */
    size_t nfiles;
};

/* Reads path and, recursively, every file it includes: an absolute
 * @include is taken as is, a relative one from the directory of the file
 * that includes it; a pattern with *, ? or [ includes every match in
 * sorted order (none at all is fine). Returns 0, or -1 with a
 * "file:line: message" in err. */
int conf_text_load(struct conf_text *t, const char *path, char *err,
                   size_t errlen);
/* Where line (1-based) of the expanded text came from (the last line for
 * one past the end): the index of the file in files, or -1 if none. */
int conf_text_where(const struct conf_text *t, int line, const char **file,
                     int *fline);
void conf_text_free(struct conf_text *t);

#endif
