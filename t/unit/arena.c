/* arena: the bump allocator behind every config cycle and connection. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "tap.h"

#define ALIGN alignof(max_align_t)

static int
aligned(const void *p)
{
    return ((uintptr_t)p % ALIGN) == 0;
}

/* Records the order cleanup hooks run in. */
static int order[64];
static int norder;

static void
record(void *data)
{
    if (norder < 64)
        order[norder++] = *(int *)data;
}

static void
test_alignment(void)
{
    struct arena *a = arena_new(256);
    int good = 1;
    size_t sizes[] = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 255, 256,
                       257, 1000, 4095, 5000 };

    ok(a != NULL, "arena_new");
    for (int round = 0; round < 20; round++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            unsigned char *p = arena_alloc(a, sizes[i]);
            if (p == NULL || !aligned(p)) {
                diag("size %zu: %p", sizes[i], (void *)p);
                good = 0;
                continue;
            }
            memset(p, 0xa5, sizes[i]);
        }
    ok(good, "every allocation is aligned to max_align_t (%zu)", ALIGN);

    good = 1;
    for (size_t n = 1; n < 50; n++) {
        char *s = arena_strndup(a, "abcdefghijklmnopqrstuvwxyz", n % 27);
        long double *d = arena_calloc(a, n, sizeof(*d));
        if (!aligned(s) || !aligned(d))
            good = 0;
        for (size_t i = 0; i < n; i++)
            if (d[i] != 0)
                good = 0;
        d[n - 1] = (long double)n;
    }
    ok(good, "strndup and calloc results are aligned, calloc zeroes");
    arena_free(a);
}

static void
test_large(void)
{
    struct arena *a = arena_new(1024);
    char *small1 = arena_alloc(a, 100);
    memset(small1, 's', 100);
    size_t used = arena_used(a);

    /* Much bigger than a block: its own block, fully usable. */
    size_t big = 1 << 20;
    unsigned char *p = arena_alloc(a, big);
    ok(p != NULL && aligned(p), "a 1 MiB allocation from a 1 KiB arena");
    memset(p, 0x5a, big);
    ok(arena_used(a) >= used + big, "arena_used counts it");

    /* The small block's free space is still used after it. */
    char *small2 = arena_alloc(a, 100);
    ok(small2 != NULL && small2 > small1 && small2 < small1 + 1024,
       "small allocations continue in the current block");
    memset(small2, 't', 100);
    ok(p[0] == 0x5a && p[big - 1] == 0x5a && small1[99] == 's',
       "nothing overlaps");

    ok(arena_alloc(a, SIZE_MAX - 3) == NULL, "SIZE_MAX - 3 fails cleanly");
    /* Rounded up without wrapping, but block header + size would wrap. */
    ok(arena_alloc(a, SIZE_MAX - 40) == NULL, "SIZE_MAX - 40 fails cleanly");
    ok(arena_alloc(a, SIZE_MAX - 20) == NULL, "SIZE_MAX - 20 fails cleanly");
    ok(arena_calloc(a, SIZE_MAX / 2, 4) == NULL, "calloc overflow fails");
    ok(arena_calloc(a, 0, 16) != NULL, "calloc of nothing succeeds");

    /* Many blocks, all freed on reset except the one kept. */
    for (int i = 0; i < 1000; i++)
        memset(arena_alloc(a, 700), i & 0xff, 700);
    arena_reset(a);
    is_int(arena_used(a), 0, "arena_used is 0 after reset");
    char *again = arena_alloc(a, 10);
    ok(again != NULL && aligned(again), "allocating after reset works");
    memset(again, 0, 10);

    /* A first allocation larger than the block size. */
    struct arena *b = arena_new(0);
    void *q = arena_alloc(b, 100000);
    ok(q != NULL && aligned(q), "a big first allocation (default block size)");
    memset(q, 1, 100000);
    arena_reset(b);
    q = arena_alloc(b, 5000);
    memset(q, 2, 5000);
    ok(q != NULL, "reset keeps the arena usable");
    arena_free(b);
    arena_free(a);
}

static void
test_strdup(void)
{
    struct arena *a = arena_new(64);
    char *s = arena_strdup(a, "hello, world");
    is_str(s, "hello, world", "arena_strdup copies");
    char *e = arena_strdup(a, "");
    is_str(e, "", "arena_strdup of an empty string");
    char *n = arena_strndup(a, "abcdef", 3);
    is_str(n, "abc", "arena_strndup stops at n and terminates");
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *b = arena_strdup(a, big);
    ok(b != NULL && b != big && strcmp(b, big) == 0,
       "arena_strdup of a string larger than the block size");
    ok(s != e && strcmp(s, "hello, world") == 0, "earlier strings intact");
    arena_free(a);
}

static void
test_cleanups(void)
{
    static int ids[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    struct arena *a = arena_new(128);

    norder = 0;
    for (int i = 0; i < 5; i++) {
        arena_cleanup_add(a, record, &ids[i]);
        arena_alloc(a, 100);     /* spread the records over blocks */
    }
    arena_reset(a);
    is_int(norder, 5, "reset runs every cleanup");
    ok(order[0] == 4 && order[1] == 3 && order[2] == 2 && order[3] == 1 &&
       order[4] == 0, "last added runs first");
    arena_reset(a);
    is_int(norder, 5, "a second reset runs none again");

    norder = 0;
    arena_cleanup_add(a, record, &ids[7]);
    arena_cleanup_add(a, record, &ids[8]);
    arena_cleanup_add(a, record, &ids[9]);
    arena_free(a);
    ok(norder == 3 && order[0] == 9 && order[1] == 8 && order[2] == 7,
       "free runs the cleanups added since the reset, in reverse order");

    norder = 0;
    a = arena_new(0);
    arena_cleanup_add(a, record, &ids[1]);
    arena_reset(a);
    arena_free(a);
    is_int(norder, 1, "a hook run by reset is not run again by free");

    arena_free(NULL);
    ok(1, "arena_free(NULL) is harmless");
}

int
main(void)
{
    test_alignment();
    test_large();
    test_strdup();
    test_cleanups();
    return done_testing();
}
