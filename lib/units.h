/* units: durations ("500ms", "30s", "1m30s") and sizes ("16k", "8M"). */
#ifndef CERB_UNITS_H
#define CERB_UNITS_H

#include <stdint.h>

/* Both return 0, or -1 with *why set to a static explanation. */
int unit_duration_parse(const char *s, int64_t *ms, const char **why);
int unit_size_parse(const char *s, int64_t *bytes, const char **why);
/* Formats ms as the shortest exact text ("1m30s", "500ms"). */
void unit_duration_format(int64_t ms, char *buf, unsigned len);

#endif
