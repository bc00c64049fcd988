/* arena: bump allocator with cleanup hooks, one per config cycle or connection. */
#ifndef CERB_ARENA_H
#define CERB_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_new(size_t block_size);
void *arena_alloc(struct arena *a, size_t size);
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Run fn(data) when the arena is reset or freed (last added runs first). */
int arena_cleanup_add(struct arena *a, void (*fn)(void *), void *data);
void arena_reset(struct arena *a);
void arena_free(struct arena *a);
size_t arena_used(const struct arena *a);

#endif
