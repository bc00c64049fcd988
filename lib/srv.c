/* srv: a backend server's shared state and the rules that change it. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "srv.h"

uint64_t
srv_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
set_error(struct shm_server *ss, const char *why)
{
    /* Racy by nature (several writers), read only for display: copy at
     * most the buffer and always terminate. */
    size_t n = strlen(why);
    if (n >= sizeof(ss->last_error))
        n = sizeof(ss->last_error) - 1;
    memcpy(ss->last_error, why, n);
    ss->last_error[n] = '\0';
}

static bool
takes(struct shm_server *ss, uint64_t now, bool passive)
{
    if (atomic_load_explicit(&ss->admin_state, memory_order_relaxed) != SRV_UP
        || atomic_load_explicit(&ss->health, memory_order_relaxed)
           != SHM_HEALTH_UP
        || (passive && now < atomic_load_explicit(&ss->down_until_ms,
                                                  memory_order_relaxed)))
        return false;
    uint32_t cb = atomic_load_explicit(&ss->cb_state, memory_order_relaxed);
    if (cb == CB_CLOSED)
        return true;
    /* open: due for a probe; half-open: the probe is overdue (its worker
     * may have died with it), another may go */
    return now >= atomic_load_explicit(&ss->cb_open_until_ms,
                                       memory_order_relaxed);
}

bool
srv_selectable(struct shm_server *ss, uint64_t now)
{
    return takes(ss, now, true);
}

bool
srv_passive_down(struct shm_server *ss, uint64_t now)
{
    return now < atomic_load_explicit(&ss->down_until_ms,
                                      memory_order_relaxed) &&
           takes(ss, now, false);
}

static int
breaker_claim(struct shm_server *ss, const struct conf_pool *p,
              const struct conf_server *s, uint64_t now)
{
    uint32_t cb = atomic_load(&ss->cb_state);
    if (cb == CB_CLOSED || p->circuit_breaker == NULL)
        return 0;
    uint64_t until = atomic_load(&ss->cb_open_until_ms);
    if (now < until)
        return -1;
    /* One request wins the probe: the one whose CAS moves the deadline. */
    uint64_t probe_end = now + (uint64_t)p->circuit_breaker->open_for;
    if (!atomic_compare_exchange_strong(&ss->cb_open_until_ms, &until,
                                        probe_end))
        return -1;
    if (cb == CB_OPEN) {
        uint32_t want = CB_OPEN;
        if (atomic_compare_exchange_strong(&ss->cb_state, &want,
                                           CB_HALF_OPEN))
            log_notice("pool \"%s\" server %s: circuit open -> half-open: "
                       "one probe request", p->name, s->address);
    }
    return 0;
}

int
srv_acquire(const struct shm *sh, unsigned row, unsigned slot,
            const struct conf_pool *p, const struct conf_server *s,
            uint64_t now)
{
    struct shm_server *ss = shm_server(sh, slot);

    if (s->max_conns > 0) {
        /* Count first, then look: of several workers taking the last
         * places at once, the last to count sees every count before its
         * own (all seq_cst), so the sum never passes max_conns. */
        if (shm_conn_total(sh, slot) >= s->max_conns)
            return -1;
        shm_conn_add(sh, row, slot, 1);
        if (shm_conn_total(sh, slot) > s->max_conns) {
            shm_conn_add(sh, row, slot, -1);
            return -1;
        }
    } else {
        shm_conn_add(sh, row, slot, 1);
    }
    if (breaker_claim(ss, p, s, now) < 0) {
        srv_release(sh, row, slot);
        return -1;
    }
    return 0;
}

void
srv_release(const struct shm *sh, unsigned row, unsigned slot)
{
    shm_conn_add(sh, row, slot, -1);
}

int64_t
srv_active(const struct shm *sh, unsigned slot)
{
    return shm_conn_total(sh, slot);
}

void
srv_success(struct shm_server *ss, const struct conf_pool *p,
            const struct conf_server *s)
{
    /* Reads first: the common case writes nothing shared. */
    if (atomic_load_explicit(&ss->passive_fails, memory_order_relaxed))
        atomic_store_explicit(&ss->passive_fails, 0, memory_order_relaxed);
    if (atomic_load_explicit(&ss->cb_failures, memory_order_relaxed))
        atomic_store_explicit(&ss->cb_failures, 0, memory_order_relaxed);
    uint32_t cb = CB_HALF_OPEN;
    if (atomic_load_explicit(&ss->cb_state, memory_order_relaxed) == cb &&
        atomic_compare_exchange_strong(&ss->cb_state, &cb, CB_CLOSED)) {
        atomic_store(&ss->up_since_ms, srv_now());
        log_notice("pool \"%s\" server %s: circuit half-open -> closed: the "
                   "probe succeeded", p->name, s->address);
    }
}

void
srv_failure(struct shm_server *ss, const struct conf_pool *p,
            const struct conf_server *s, uint64_t now, const char *why)
{
    atomic_fetch_add_explicit(&ss->failures, 1, memory_order_relaxed);
    set_error(ss, why);

    /* Passive health: max_fails within fail_timeout marks it down for
     * fail_timeout. */
    if (p->max_fails > 0) {
        uint64_t since = atomic_load(&ss->passive_since_ms);
        uint32_t n;
        if (now - since > (uint64_t)p->fail_timeout &&
            atomic_compare_exchange_strong(&ss->passive_since_ms, &since,
                                           now)) {
            atomic_store(&ss->passive_fails, 1);
            n = 1;
        } else {
            n = atomic_fetch_add(&ss->passive_fails, 1) + 1;
        }
        uint64_t until = atomic_load(&ss->down_until_ms);
        if (n >= (uint64_t)p->max_fails && now >= until &&
            atomic_compare_exchange_strong(&ss->down_until_ms, &until,
                                           now + (uint64_t)p->fail_timeout)) {
            atomic_store(&ss->passive_fails, 0);
            log_warn("pool \"%s\" server %s: up -> down for %lld ms: %u "
                     "failure%s within fail_timeout (last: %s)", p->name,
                     s->address, (long long)p->fail_timeout, n,
                     n == 1 ? "" : "s", why);
        }
    }

    /* Circuit breaker: consecutive failures open it; a failed probe
     * opens it again. */
    const struct conf_breaker *b = p->circuit_breaker;
    if (b == NULL)
        return;
    uint32_t cb = atomic_load(&ss->cb_state);
    if (cb == CB_HALF_OPEN) {
        if (atomic_compare_exchange_strong(&ss->cb_state, &cb, CB_OPEN)) {
            atomic_store(&ss->cb_open_until_ms, now + (uint64_t)b->open_for);
            log_warn("pool \"%s\" server %s: circuit half-open -> open for "
                     "%lld ms: the probe failed (%s)", p->name, s->address,
                     (long long)b->open_for, why);
        }
        return;
    }
    if (cb != CB_CLOSED)
        return;
    uint32_t n = atomic_fetch_add(&ss->cb_failures, 1) + 1;
    if (n >= (uint64_t)b->failures) {
        uint32_t want = CB_CLOSED;
        atomic_store(&ss->cb_open_until_ms, now + (uint64_t)b->open_for);
        if (atomic_compare_exchange_strong(&ss->cb_state, &want, CB_OPEN)) {
            atomic_store(&ss->cb_failures, 0);
            log_warn("pool \"%s\" server %s: circuit closed -> open for %lld "
                     "ms after %u consecutive failures (last: %s)", p->name,
                     s->address, (long long)b->open_for, n, why);
        }
    }
}

void
srv_check_result(struct shm_server *ss, const struct conf_pool *p,
                 const struct conf_server *s, bool ok, uint64_t now,
                 uint32_t latency_us, const char *why)
{
    const struct conf_health *h = p->health;

    atomic_store(&ss->last_check_ms, now);
    atomic_store(&ss->last_latency_us, latency_us);
    if (ok) {
        atomic_fetch_add(&ss->checks_ok, 1);
        atomic_store(&ss->fall_count, 0);
        uint32_t n = atomic_fetch_add(&ss->rise_count, 1) + 1;
        uint32_t down = SHM_HEALTH_DOWN;
        if (n >= (uint64_t)h->rise &&
            atomic_compare_exchange_strong(&ss->health, &down,
                                           SHM_HEALTH_UP)) {
            atomic_store(&ss->up_since_ms, now);
            log_notice("%s/%s down -> up: %u successful check%s", p->name,
                       s->address, n, n == 1 ? "" : "s");
        }
    } else {
        atomic_fetch_add(&ss->checks_failed, 1);
        set_error(ss, why);
        atomic_store(&ss->rise_count, 0);
        uint32_t n = atomic_fetch_add(&ss->fall_count, 1) + 1;
        uint32_t up = SHM_HEALTH_UP;
        if (n >= (uint64_t)h->fall &&
            atomic_compare_exchange_strong(&ss->health, &up,
                                           SHM_HEALTH_DOWN))
            log_warn("%s/%s up -> down: %s", p->name, s->address, why);
    }
}

void
srv_admin_set(struct shm_server *ss, const struct conf_pool *p,
              const struct conf_server *s, unsigned state, uint64_t now)
{
    static const char *const names[] = { "up", "drain", "disabled" };
    uint32_t old = atomic_exchange(&ss->admin_state, state);

    if (old == state)
        return;
    if (state == SRV_UP)
        atomic_store(&ss->up_since_ms, now);
    log_notice("pool \"%s\" server %s: %s -> %s (admin)", p->name,
               s->address, old < 3 ? names[old] : "?",
               state < 3 ? names[state] : "?");
}

unsigned
srv_ramp(struct shm_server *ss, const struct conf_pool *p, uint64_t now)
{
    if (p->slow_start <= 0)
        return 1000;
    uint64_t t0 = atomic_load_explicit(&ss->up_since_ms, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&ss->down_until_ms, memory_order_relaxed);
    if (d > t0)
        t0 = d;
    if (t0 == 0 || now >= t0 + (uint64_t)p->slow_start)
        return 1000;
    uint64_t r = now > t0 ? (now - t0) * 1000 / (uint64_t)p->slow_start : 0;
    return r < 1 ? 1 : (unsigned)r;
}

const char *
srv_state_name(struct shm_server *ss, uint64_t now)
{
    (void)now;
    switch (atomic_load(&ss->admin_state)) {
    case SRV_UP:        return "up";
    case SRV_DRAIN:     return "drain";
    case SRV_DISABLED:  return "disabled";
    default:            return "?";
    }
}

const char *
srv_health_name(struct shm_server *ss, uint64_t now)
{
    if (atomic_load(&ss->health) != SHM_HEALTH_UP)
        return "down";
    if (now < atomic_load(&ss->down_until_ms))
        return "down (passive)";
    return "up";
}

const char *
srv_breaker_name(struct shm_server *ss)
{
    switch (atomic_load(&ss->cb_state)) {
    case CB_CLOSED:     return "closed";
    case CB_OPEN:       return "open";
    case CB_HALF_OPEN:  return "half-open";
    default:            return "?";
    }
}
