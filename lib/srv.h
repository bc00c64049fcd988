/* srv: a backend server's shared state and the rules that change it —
 * availability, passive health, circuit breaker, slow start, active
 * requests.  Every worker, the checker and the admin API go through
 * these, so they all agree; each transition is logged once, by the
 * process whose compare-and-swap made it. */
#ifndef CERB_SRV_H
#define CERB_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf-t.h"
#include "shm.h"

/* May a new request go to this server now?  (Administrative state up,
 * active checks up, not marked down by passive failures, breaker closed
 * or due for its half-open probe.) */
bool srv_selectable(struct shm_server *ss, uint64_t now);
/* ... and only passive failures keep it out (the balancer tries such
 * servers when every other choice is gone, rather than answer 503). */
bool srv_passive_down(struct shm_server *ss, uint64_t now);

/* Takes a place on server `slot` for one request of the worker of row
 * `row`: counts the request in the row's cell (one atomic add: a worker
 * killed at any instant holds exactly what its row says, which the
 * master forgets) unless max_conns is reached, and claims the breaker's
 * half-open probe when that is what lets it through.  0 on success (call
 * srv_release later), -1 when the server cannot take it after all.
 * max_conns is never exceeded; two workers racing for the last place
 * may both be refused. */
int srv_acquire(const struct shm *sh, unsigned row, unsigned slot,
                const struct conf_pool *p, const struct conf_server *s,
                uint64_t now);
/* The request that srv_acquire counted is over. */
void srv_release(const struct shm *sh, unsigned row, unsigned slot);
/* Requests in progress on server `slot`, every worker. */
int64_t srv_active(const struct shm *sh, unsigned slot);

/* The outcome of a request (a response head came, and its status is not
 * one the pool counts as a failure) or of a failure (connect error,
 * reset, timeout, a failing status).  Passive health and the breaker
 * follow from them. */
void srv_success(struct shm_server *ss, const struct conf_pool *p,
                 const struct conf_server *s);
void srv_failure(struct shm_server *ss, const struct conf_pool *p,
                 const struct conf_server *s, uint64_t now, const char *why);

/* An active check's result (the checker): counts towards rise or fall,
 * and moves the verdict when one is reached, logging
 * "pool/server up -> down: why" once. */
void srv_check_result(struct shm_server *ss, const struct conf_pool *p,
                      const struct conf_server *s, bool ok, uint64_t now,
                      uint32_t latency_us, const char *why);

/* Administrative state (SRV_UP, SRV_DRAIN, SRV_DISABLED), from the admin
 * API; logged.  Back to up starts a slow start. */
void srv_admin_set(struct shm_server *ss, const struct conf_pool *p,
                   const struct conf_server *s, unsigned state, uint64_t now);

/* Slow start: the share of its weight the server gets now, in 1/1000
 * (1000: full; at least 1 while ramping). */
unsigned srv_ramp(struct shm_server *ss, const struct conf_pool *p,
                  uint64_t now);

/* For status: "up", "down", "drain", "disabled"; and the breaker's
 * "closed", "open", "half-open". */
const char *srv_state_name(struct shm_server *ss, uint64_t now);
const char *srv_health_name(struct shm_server *ss, uint64_t now);
const char *srv_breaker_name(struct shm_server *ss);

/* CLOCK_MONOTONIC in milliseconds: the clock of every time in shm. */
uint64_t srv_now(void);

#endif
