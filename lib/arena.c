/* arena: bump allocator with cleanup hooks, one per config cycle or connection. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct arena {
    struct arena_block *head;
    struct arena_cleanup *cleanups;
    size_t block_size;
    size_t used;
};

#define ARENA_ALIGN _Alignof(max_align_t)

static struct arena_block *
arena_block_new(size_t size)
{
    struct arena_block *b;

    if (size > SIZE_MAX - sizeof(*b))   /* the header would wrap around */
        return NULL;
    b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct arena *
arena_new(size_t block_size)
{
    struct arena *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->block_size = block_size ? block_size : 4096;
    return a;
}

void *
arena_alloc(struct arena *a, size_t size)
{
    struct arena_block *b = a->head;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

    if (need < size)
        return NULL;
    if (b == NULL || b->size - b->used < need) {
        size_t bs = need > a->block_size ? need : a->block_size;

        b = arena_block_new(bs);
        if (b == NULL)
            return NULL;
        /* A big one-off block goes behind the current one so the
         * current block's free space stays usable. */
        if (a->head != NULL && need > a->block_size) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

void *
arena_calloc(struct arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = arena_alloc(a, n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

int
arena_cleanup_add(struct arena *a, void (*fn)(void *), void *data)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof(*c));

    if (c == NULL)
        return -1;
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

static void
arena_run_cleanups(struct arena *a)
{
    struct arena_cleanup *c = a->cleanups;

    a->cleanups = NULL;
    for (; c != NULL; c = c->next)
        c->fn(c->data);
}

void
arena_reset(struct arena *a)
{
    arena_run_cleanups(a);
    /* Keep the first (most recent) block, free the rest. */
    struct arena_block *b = a->head;
    if (b != NULL) {
        struct arena_block *n = b->next;
        while (n != NULL) {
            struct arena_block *next = n->next;
            free(n);
            n = next;
        }
        b->next = NULL;
        b->used = 0;
    }
    a->used = 0;
}

void
arena_free(struct arena *a)
{
    if (a == NULL)
        return;
    arena_run_cleanups(a);
    struct arena_block *b = a->head;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

size_t
arena_used(const struct arena *a)
{
    return a->used;
}
