/* event: the epoll loop and its timer heap. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "tap.h"

#define NT 500

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
    /* xorshift64*: the same sequence on every run. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned
rnd(unsigned n)
{
    return (unsigned)(rng() % n);
}

/* The heap is reachable through each timer's idx: active timers must
 * occupy positions 1..n exactly once, each parent due no later. */
static int
heap_valid(struct ev_timer *ts, size_t nts, size_t *nactive)
{
    static struct ev_timer *pos[NT + 1];
    size_t n = 0;

    memset(pos, 0, sizeof(pos));
    for (size_t i = 0; i < nts; i++) {
        if (!ev_timer_active(&ts[i]))
            continue;
        if (ts[i].idx > nts || pos[ts[i].idx - 1] != NULL) {
            diag("timer %zu: idx %zu out of range or shared", i, ts[i].idx);
            return 0;
        }
        pos[ts[i].idx - 1] = &ts[i];
        n++;
    }
    for (size_t i = 0; i < n; i++)
        if (pos[i] == NULL) {
            diag("heap position %zu is empty with %zu active", i + 1, n);
            return 0;
        }
    for (size_t i = 1; i < n; i++)
        if (pos[(i - 1) / 2]->when > pos[i]->when) {
            diag("heap position %zu (when %llu) is below %zu (when %llu)",
                 i + 1, (unsigned long long)pos[i]->when, (i - 1) / 2 + 1,
                 (unsigned long long)pos[(i - 1) / 2]->when);
            return 0;
        }
    if (nactive != NULL)
        *nactive = n;
    return 1;
}

/* ---- timers fire in deadline order ----------------------------------- */

struct fired {
    uint64_t when[NT];
    int id[NT];
    int count[NT];
    int n, expect;
    int late;                   /* fired before its deadline: counted */
};

static struct fired F;
static struct ev_timer T[NT];
static int ids[NT];

static void
on_fire(struct ev_loop *loop, struct ev_timer *t)
{
    int id = *(int *)t->data;

    if (ev_now(loop) < t->when)
        F.late++;
    if (ev_timer_active(t))
        F.late++;               /* must be stopped before its callback */
    if (F.n < NT) {
        F.when[F.n] = t->when;
        F.id[F.n] = id;
    }
    F.n++;
    F.count[id]++;
    if (F.n == F.expect)
        ev_break(loop);
}

static void
on_guard(struct ev_loop *loop, struct ev_timer *t)
{
    *(int *)t->data = 1;
    ev_break(loop);
}

static int
fired_in_order(void)
{
    for (int i = 1; i < F.n && i < NT; i++)
        if (F.when[i] < F.when[i - 1]) {
            diag("fire %d: when %llu after %llu", i,
                 (unsigned long long)F.when[i],
                 (unsigned long long)F.when[i - 1]);
            return 0;
        }
    return 1;
}

static void
test_order(void)
{
    struct ev_loop *loop = ev_loop_new(0);
    struct ev_timer guard;
    int timed_out = 0;

    ok(loop != NULL, "ev_loop_new");
    memset(&F, 0, sizeof(F));
    F.expect = 200;
    for (int i = 0; i < 200; i++) {
        ids[i] = i;
        ev_timer_init(&T[i], on_fire, &ids[i]);
        ev_timer_start(loop, &T[i], rnd(31));
    }
    ok(heap_valid(T, 200, NULL), "heap valid after 200 starts");
    ev_timer_init(&guard, on_guard, &timed_out);
    ev_timer_start(loop, &guard, 2000);
    uint64_t t0 = ev_now(loop);
    ok(ev_run(loop) == 0, "ev_run returns 0 after ev_break");
    ok(!timed_out, "all 200 fired before the 2 s guard");
    is_int(F.n, 200, "200 callbacks");
    int once = 1;
    for (int i = 0; i < 200; i++)
        once &= F.count[i] == 1;
    ok(once, "each timer fired exactly once");
    ok(fired_in_order(), "they fired in deadline order");
    is_int(F.late, 0, "none fired early or while still active");
    ok(ev_now(loop) >= F.when[199], "the loop waited for the last deadline");
    ok(ev_now(loop) - t0 < 1000, "and not much longer (%llu ms)",
       (unsigned long long)(ev_now(loop) - t0));
    ev_timer_stop(loop, &guard);
    ok(!ev_timer_active(&guard), "the guard is stopped");
    ev_loop_free(loop);
}

/* ---- random start/stop/re-arm keep the heap valid --------------------- */

static void
test_heap_ops(void)
{
    struct ev_loop *loop = ev_loop_new(16);
    int valid = 1, ops[6] = { 0 };
    size_t nactive = 0;

    for (int i = 0; i < NT; i++) {
        ids[i] = i;
        ev_timer_init(&T[i], on_fire, &ids[i]);
    }
    /* now does not move while nothing runs the loop: no timer fires. */
    for (int step = 0; step < 20000 && valid; step++) {
        struct ev_timer *t = &T[rnd(NT)];
        unsigned op = rnd(6);
        uint64_t now = ev_now(loop);
        switch (op) {
        case 0:                 /* start or re-arm anywhere */
            ev_timer_start(loop, t, 1000 + rnd(100000));
            break;
        case 1:                 /* re-arm earlier */
            if (ev_timer_active(t) && t->when > now + 1000) {
                ev_timer_start(loop, t, t->when - now - 1 - rnd(
                                   (unsigned)(t->when - now - 1000)));
                ops[1]++;
            } else {
                ev_timer_start(loop, t, 1000 + rnd(100000));
            }
            break;
        case 2:                 /* re-arm later */
            if (ev_timer_active(t))
                ops[2]++;
            ev_timer_start(loop, t, (ev_timer_active(t) ? t->when - now : 0) +
                           1000 + rnd(5000));
            break;
        case 3:                 /* re-arm to the same deadline */
            if (ev_timer_active(t)) {
                ev_timer_start(loop, t, t->when - now);
                ops[3]++;
            }
            break;
        case 4:                 /* stop (possibly already stopped) */
        case 5:
            if (ev_timer_active(t))
                ops[4]++;
            ev_timer_stop(loop, t);
            ev_timer_stop(loop, t);
            break;
        }
        valid = heap_valid(T, NT, &nactive);
        if (!valid)
            diag("after step %d (op %u)", step, op);
    }
    ok(valid, "20000 random start/re-arm/stop steps keep the heap valid");
    ok(ops[1] > 1000 && ops[2] > 1000 && ops[3] > 500 && ops[4] > 1000,
       "re-armed earlier %d, later %d, same %d, stopped %d times", ops[1],
       ops[2], ops[3], ops[4]);

    /* Empty it entirely from the root, then fill it again. */
    for (int i = 0; i < NT; i++)
        ev_timer_start(loop, &T[i], 1000 + rnd(1000));
    valid = heap_valid(T, NT, &nactive) && nactive == NT;
    while (nactive > 0 && valid) {
        for (int i = 0; i < NT; i++)
            if (T[i].idx == 1) {
                ev_timer_stop(loop, &T[i]);
                break;
            }
        size_t before = nactive;
        valid = heap_valid(T, NT, &nactive) && nactive == before - 1;
    }
    ok(valid && nactive == 0, "stopping the root repeatedly empties it");

    /* Now let a random subset run with short deadlines; stopped ones and
     * ones re-armed later must keep their place. */
    memset(&F, 0, sizeof(F));
    int expect = 0;
    static int armed[NT];
    for (int i = 0; i < NT; i++) {
        ev_timer_start(loop, &T[i], 100000);
        ev_timer_start(loop, &T[i], rnd(25));       /* earlier */
        switch (rnd(4)) {
        case 0:
            ev_timer_stop(loop, &T[i]);
            break;
        case 1:
            ev_timer_start(loop, &T[i], 5 + rnd(25));   /* later, or not */
            expect++;
            break;
        default:
            expect++;
        }
    }
    for (int i = 0; i < NT; i++)
        armed[i] = ev_timer_active(&T[i]);
    ok(heap_valid(T, NT, NULL), "heap valid before running");
    F.expect = expect;
    struct ev_timer guard;
    int timed_out = 0;
    ev_timer_init(&guard, on_guard, &timed_out);
    ev_timer_start(loop, &guard, 2000);
    ev_run(loop);
    ok(!timed_out, "every timer still armed fired (%d)", expect);
    is_int(F.n, expect, "and only those");
    ok(fired_in_order(), "in deadline order");
    is_int(F.late, 0, "none early");
    int stopped_fired = 0;
    for (int i = 0; i < NT; i++)
        if (F.count[i] != armed[i] || ev_timer_active(&T[i]))
            stopped_fired++;
    is_int(stopped_fired, 0, "stopped timers never fired, each fired once");
    ev_timer_stop(loop, &guard);
    ev_loop_free(loop);
}

/* ---- callbacks that change timers ------------------------------------ */

static int spins;

static void
on_rearm_zero(struct ev_loop *loop, struct ev_timer *t)
{
    if (++spins < 50)
        ev_timer_start(loop, t, 0);
}

static struct ev_timer victim;
static int victim_fired;

static void
on_victim(struct ev_loop *loop, struct ev_timer *t)
{
    victim_fired++;
}

static void
on_killer(struct ev_loop *loop, struct ev_timer *t)
{
    ev_timer_stop(loop, &victim);
}

static void
on_break(struct ev_loop *loop, struct ev_timer *t)
{
    ev_break(loop);
}

static void
test_callbacks(void)
{
    struct ev_loop *loop = ev_loop_new(0);
    struct ev_timer spin, killer, stop;

    /* A timer re-armed to 0 from its callback runs on the next pass, and
     * other timers and I/O still get their turn. */
    ev_timer_init(&spin, on_rearm_zero, NULL);
    ev_timer_init(&stop, on_break, NULL);
    ev_timer_start(loop, &spin, 0);
    ev_timer_start(loop, &stop, 20);
    ev_run(loop);
    ok(spins == 50 && !ev_timer_active(&spin),
       "a timer re-armed to 0 in its callback keeps firing (%d)", spins);

    /* Two timers due together: the first one's callback stops the other. */
    ev_now_update(loop);
    ev_timer_init(&killer, on_killer, NULL);
    ev_timer_init(&victim, on_victim, NULL);
    ev_timer_start(loop, &killer, 1);
    ev_timer_start(loop, &victim, 3);
    ev_timer_start(loop, &stop, 15);
    ev_run(loop);
    is_int(victim_fired, 0, "a timer stopped by an earlier callback in the "
           "same pass does not fire");
    ok(!ev_timer_active(&victim) && !ev_timer_active(&killer),
       "both are inactive");
    ev_loop_free(loop);
}

/* ---- I/O ------------------------------------------------------------- */

struct pipe_state {
    int reads;
    uint32_t events;
    char buf[16];
    ssize_t got;
    int writable;
};

static void
on_readable(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct pipe_state *st = io->data;

    st->reads++;
    st->events = events;
    st->got = read(io->fd, st->buf, sizeof(st->buf));
    ev_break(loop);
}

static void
on_writable(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
    struct pipe_state *st = io->data;

    if (events & EPOLLOUT)
        st->writable++;
    ev_io_stop(loop, io);
}

static void
test_io(void)
{
    struct ev_loop *loop = ev_loop_new(4);
    struct ev_io rio, wio;
    struct ev_timer stop;
    struct pipe_state st;
    int fds[2];

    memset(&st, 0, sizeof(st));
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        ok(0, "pipe2: %s", strerror(errno));
        return;
    }
    ev_io_init(&rio, fds[0], on_readable, &st);
    ok(ev_io_start(loop, &rio, EPOLLIN) == 0, "ev_io_start on a pipe");
    is_int(rio.events, EPOLLIN, "events recorded");
    ok(ev_io_start(loop, &rio, EPOLLIN) == -1 && errno == EEXIST,
       "starting it twice fails with EEXIST");
    ok(write(fds[1], "hello", 5) == 5, "write to the pipe");
    ev_timer_init(&stop, on_break, NULL);
    ev_timer_start(loop, &stop, 1000);
    ev_run(loop);
    is_int(st.reads, 1, "the read callback ran once");
    ok(st.events & EPOLLIN, "with EPOLLIN (events 0x%x)", st.events);
    ok(st.got == 5 && memcmp(st.buf, "hello", 5) == 0, "and read the data");
    ok(ev_timer_active(&stop), "before the 1 s timer");

    /* Modify to the same events is a no-op; to 0 silences it. */
    ok(ev_io_modify(loop, &rio, EPOLLIN) == 0, "modify to the same events");
    ok(ev_io_modify(loop, &rio, 0) == 0 && rio.events == 0, "modify to 0");
    ok(write(fds[1], "x", 1) == 1, "write again");
    ev_timer_start(loop, &stop, 30);
    ev_run(loop);
    is_int(st.reads, 1, "no callback while its events are 0");
    ok(ev_io_modify(loop, &rio, EPOLLIN) == 0, "modify back to EPOLLIN");
    ev_timer_start(loop, &stop, 1000);
    ev_run(loop);
    ok(st.reads == 2 && st.got == 1, "the pending byte is delivered");

    /* Stopped: no callback even with data waiting. */
    ok(ev_io_stop(loop, &rio) == 0, "ev_io_stop");
    ok(write(fds[1], "y", 1) == 1, "write while stopped");
    ev_timer_start(loop, &stop, 30);
    ev_run(loop);
    is_int(st.reads, 2, "no callback after ev_io_stop");

    /* EPOLLOUT on the write end; the callback stops its own watcher. */
    ev_io_init(&wio, fds[1], on_writable, &st);
    ok(ev_io_start(loop, &wio, EPOLLOUT) == 0, "watch the write end");
    ev_timer_start(loop, &stop, 30);
    ev_run(loop);
    is_int(st.writable, 1, "EPOLLOUT delivered once, then stopped");

    ev_timer_stop(loop, &stop);
    close(fds[0]);
    close(fds[1]);
    ev_loop_free(loop);
}

/* ---- ev_break and the clock ------------------------------------------ */

static int ticks;

static void
on_tick(struct ev_loop *loop, struct ev_timer *t)
{
    if (++ticks == 3)
        ev_break(loop);
    else
        ev_timer_start(loop, t, 1);
}

static void
test_break(void)
{
    struct ev_loop *loop = ev_loop_new(0);
    struct ev_timer t;

    ev_timer_init(&t, on_tick, NULL);
    ev_timer_start(loop, &t, 1);
    ok(ev_run(loop) == 0 && ticks == 3, "ev_break from a callback stops "
       "ev_run");
    ticks = 0;
    ev_timer_start(loop, &t, 1);
    ok(ev_run(loop) == 0 && ticks == 3, "ev_run can run again after a break");

    uint64_t a = ev_now(loop);
    usleep(5000);
    ok(ev_now(loop) == a, "ev_now is cached");
    ev_now_update(loop);
    ok(ev_now(loop) >= a + 5, "ev_now_update moves it (%llu ms)",
       (unsigned long long)(ev_now(loop) - a));
    ev_loop_free(loop);
    ev_loop_free(NULL);
}

int
main(void)
{
    test_order();
    test_heap_ops();
    test_callbacks();
    test_io();
    test_break();
    return done_testing();
}
