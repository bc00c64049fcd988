/* event: a small epoll loop with intrusive timers (a binary min-heap). */
#ifndef CERB_EVENT_H
#define CERB_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;
struct ev_io;
struct ev_timer;

typedef void ev_io_cb(struct ev_loop *loop, struct ev_io *io, uint32_t events);
typedef void ev_timer_cb(struct ev_loop *loop, struct ev_timer *t);

/* Embedded in the caller's object; epoll's data.ptr points at it. */
struct ev_io {
    int fd;
    uint32_t events;
    ev_io_cb *cb;
    void *data;
};

struct ev_timer {
    uint64_t when;      /* ev_now() time in ms */
    size_t idx;         /* heap position + 1; 0 when stopped */
    ev_timer_cb *cb;
    void *data;
};

struct ev_loop *ev_loop_new(int max_events);
void ev_loop_free(struct ev_loop *loop);

void ev_io_init(struct ev_io *io, int fd, ev_io_cb *cb, void *data);
int ev_io_start(struct ev_loop *loop, struct ev_io *io, uint32_t events);
int ev_io_modify(struct ev_loop *loop, struct ev_io *io, uint32_t events);
int ev_io_stop(struct ev_loop *loop, struct ev_io *io);
/* Before io's memory is freed or reused: events for it still waiting in
 * the batch being dispatched are dropped. */
void ev_io_forget(struct ev_loop *loop, struct ev_io *io);

void ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *data);
/* (Re)arms t to fire ms from now. */
int ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t ms);
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);

static inline bool
ev_timer_active(const struct ev_timer *t)
{
    return t->idx != 0;
}

/* Monotonic milliseconds, refreshed once per loop iteration. */
uint64_t ev_now(const struct ev_loop *loop);
void ev_now_update(struct ev_loop *loop);
/* Runs until ev_break; returns 0, or -1 if epoll_wait failed. */
int ev_run(struct ev_loop *loop);
void ev_break(struct ev_loop *loop);

#endif
