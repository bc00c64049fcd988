/* event: a small epoll loop with intrusive timers (a binary min-heap). */
#include "event.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct ev_loop {
    int epfd;
    int max_events;
    struct epoll_event *events;
    struct ev_timer **heap;     /* heap[0..n) */
    size_t n, cap;
    uint64_t now;
    bool stop;
    int cur, nready;            /* the batch being dispatched */
};

uint64_t
ev_now(const struct ev_loop *loop)
{
    return loop->now;
}

void
ev_now_update(struct ev_loop *loop)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    loop->now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ev_loop *
ev_loop_new(int max_events)
{
    struct ev_loop *loop = calloc(1, sizeof(*loop));

    if (loop == NULL)
        return NULL;
    loop->max_events = max_events > 0 ? max_events : 256;
    loop->events = calloc((size_t)loop->max_events, sizeof(*loop->events));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->events == NULL || loop->epfd < 0) {
        if (loop->epfd >= 0)
            close(loop->epfd);
        free(loop->events);
        free(loop);
        return NULL;
    }
    ev_now_update(loop);
    return loop;
}

void
ev_loop_free(struct ev_loop *loop)
{
    if (loop == NULL)
        return;
    close(loop->epfd);
    free(loop->events);
    free(loop->heap);
    free(loop);
}

void
ev_io_init(struct ev_io *io, int fd, ev_io_cb *cb, void *data)
{
    io->fd = fd;
    io->events = 0;
    io->cb = cb;
    io->data = data;
}

static int
io_ctl(struct ev_loop *loop, int op, struct ev_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };

    if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0)
        return -1;
    io->events = events;
    return 0;
}

int
ev_io_start(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    return io_ctl(loop, EPOLL_CTL_ADD, io, events);
}

int
ev_io_modify(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    if (io->events == events)
        return 0;
    return io_ctl(loop, EPOLL_CTL_MOD, io, events);
}

int
ev_io_stop(struct ev_loop *loop, struct ev_io *io)
{
    io->events = 0;
    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void
ev_io_forget(struct ev_loop *loop, struct ev_io *io)
{
    for (int i = loop->cur + 1; i < loop->nready; i++)
        if (loop->events[i].data.ptr == io)
            loop->events[i].data.ptr = NULL;
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *data)
{
    t->when = 0;
    t->idx = 0;
    t->cb = cb;
    t->data = data;
}

static void
heap_set(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
    loop->heap[i] = t;
    t->idx = i + 1;
}

static void
sift_up(struct ev_loop *loop, size_t i)
{
    struct ev_timer *t = loop->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->when <= t->when)
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void
sift_down(struct ev_loop *loop, size_t i)
{
    struct ev_timer *t = loop->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->n)
            break;
        if (c + 1 < loop->n && loop->heap[c + 1]->when < loop->heap[c]->when)
            c++;
        if (loop->heap[c]->when >= t->when)
            break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, t);
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
    if (t->idx == 0)
        return;
    size_t i = t->idx - 1;
    struct ev_timer *last = loop->heap[--loop->n];
    t->idx = 0;
    if (last == t)
        return;
    heap_set(loop, i, last);
    if (i > 0 && loop->heap[(i - 1) / 2]->when > last->when)
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

int
ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t ms)
{
    uint64_t when = loop->now + ms;

    if (t->idx != 0) {
        uint64_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(loop, t->idx - 1);
        else if (when > old)
            sift_down(loop, t->idx - 1);
        return 0;
    }
    if (loop->n == loop->cap) {
        size_t cap = loop->cap ? loop->cap * 2 : 64;
        struct ev_timer **h = realloc(loop->heap, cap * sizeof(*h));
        if (h == NULL)
            return -1;
        loop->heap = h;
        loop->cap = cap;
    }
    t->when = when;
    heap_set(loop, loop->n++, t);
    sift_up(loop, loop->n - 1);
    return 0;
}

void
ev_break(struct ev_loop *loop)
{
    loop->stop = true;
}

static void
run_timers(struct ev_loop *loop)
{
    /* A bounded number per pass, so timers re-armed to 0 cannot spin. */
    for (size_t budget = loop->n; budget > 0 && loop->n > 0; budget--) {
        struct ev_timer *t = loop->heap[0];
        if (t->when > loop->now)
            break;
        ev_timer_stop(loop, t);
        t->cb(loop, t);
    }
}

int
ev_run(struct ev_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int timeout = -1;
        if (loop->n > 0) {
            uint64_t first = loop->heap[0]->when;
            timeout = first <= loop->now ? 0
                    : first - loop->now > 60000 ? 60000
                    : (int)(first - loop->now);
        }
        int n = epoll_wait(loop->epfd, loop->events, loop->max_events, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        ev_now_update(loop);
        loop->nready = n;
        for (loop->cur = 0; loop->cur < n; loop->cur++) {
            struct ev_io *io = loop->events[loop->cur].data.ptr;
            if (io != NULL)     /* NULL: forgotten by an earlier callback */
                io->cb(loop, io, loop->events[loop->cur].events);
        }
        loop->nready = 0;
        run_timers(loop);
    }
    return 0;
}
