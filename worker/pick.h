/* pick: choosing a pool's server for a request or an L4 connection —
 * the balancing algorithm over the shared state, backups, sticky
 * sessions, slow start, max_conns and the circuit breaker. */
#ifndef CERB_PICK_H
#define CERB_PICK_H

#include <stdbool.h>
#include <stdint.h>

#include "balance.h"
#include "conf-t.h"
#include "http_parse.h"

struct worker;
struct addr;

#define STICKY_TOKEN_LEN 22     /* base64url of 16 bytes of HMAC-SHA256 */

/* One group of a pool's servers: the primaries, or the backups. */
struct pick_group {
    size_t n;
    uint32_t *idx;              /* index in pool->servers */
    unsigned *weight;
    uint16_t *sched;            /* smooth WRR order over one cycle */
    size_t sched_len;
    _Atomic uint64_t *rr;       /* shared position in sched (shm) */
    struct bal_ring ring;       /* hash, ip_hash, sticky source */
};

struct pick_pool {
    struct pick_group g[2];     /* primaries, backups */
    char (*token)[STICKY_TOKEN_LEN + 1];    /* sticky cookie per server */
    bool ring;
};

/* What a request brings to the choice (filled by pick_prepare). */
struct pick_req {
    uint64_t hash;
    bool has_hash;              /* the key exists (else round robin) */
    int sticky;                 /* server the sticky cookie names, or -1 */
    uint64_t tried;             /* servers (index < 64) that failed it */
};

int pick_init(struct worker *w);
void pick_free(struct worker *w);

/* Reads what the pool's balancing needs from the request (req may be
 * NULL for L4: the client address is the key). */
void pick_prepare(struct worker *w, const struct conf_pool *pool,
                  const struct http_request *req, const struct addr *peer,
                  struct pick_req *rq);

/* The server for the request, its place taken (srv_acquire: counted as
 * active in the worker's row too); NULL when no server can take it.
 * *full tells that servers were up but all at max_conns. */
const struct conf_server *pick_server(struct worker *w,
                                      const struct conf_pool *pool,
                                      struct pick_req *rq, bool *full);
/* s failed the request: it counts against the server (passive health,
 * breaker) and s is left out of the request's next picks while another
 * server can take it. */
void pick_failed(struct worker *w, const struct conf_pool *pool,
                 const struct conf_server *s, struct pick_req *rq,
                 const char *why);
/* The request on s is over: its place is given back. */
void pick_put(struct worker *w, const struct conf_server *s);

/* The sticky cookie value for server index i of the pool. */
const char *pick_token(struct worker *w, const struct conf_pool *pool,
                       size_t i);

#endif
