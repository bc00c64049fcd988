/* proxy.h: forwarding a request to a pool server (HTTP). */
#ifndef CERB_PROXY_H
#define CERB_PROXY_H

#include "http.h"
#include "gateway.h"
#include "pick.h"
#include "http_chunk.h"

/* One TCP connection to a server, busy with a client or idle in its pool. */
struct upstream {
    struct ev_io io;
    struct ev_timer timer;          /* idle in the pool: its keep-alive */
    struct worker *w;
    const struct conf_pool *pool;
    const struct conf_server *srv;
    struct conn *c;                 /* the client it serves; NULL if idle */
    struct upstream *prev, *next;   /* idle list of its server */
    char *in;                       /* response bytes */
    size_t in_cap, in_len;
    size_t ready;                   /* in[0..ready) are ready for the client */
    unsigned nreq;
    struct ssl_st *ssl;             /* TLS to the server, or NULL */
    bool connected;
    bool tls_done;                  /* its TLS handshake is over */
    bool hup;                       /* the server hung up (EPOLLRDHUP) */
    bool readable;                  /* EPOLLIN since the last EAGAIN */
};

enum proxy_body { B_NONE, B_LENGTH, B_CHUNKED, B_CLOSE };

/* What a stalled exchange is waiting for (decides the timeout). */
enum proxy_wait {
    W_CONNECT, W_UP_WRITE, W_UP_READ, W_CLIENT_READ, W_CLIENT_WRITE
};

struct proxy {
    struct upstream *u;
    const struct conf_route *route;
    const struct conf_pool *pool;
    const struct conf_server *failed;   /* the last server that failed */
    const struct conf_server *srv;      /* holds a place (pick_put owed) */
    struct pick_req pick;               /* what the request gives the choice */
    const struct conf_server *force;    /* retry a stale pooled one here */
    bool fresh;                         /* ... on a new connection */
    bool send_broken;                   /* the server stopped reading */
    bool up_eof;                        /* the server closed (or failed) */
    int up_err;
    unsigned tries;
    bool tunnel;                    /* after 101: bytes both ways */
    bool idempotent;
    int method;
    uint64_t started;
    /* request: the rewritten head, then the body from c->in */
    char *head;
    size_t head_len, head_cap, head_off;
    int req_body;
    int64_t req_total, req_left;
    struct chunk_dec req_chunk;
    bool req_done;
    size_t in_sent;                 /* c->in[0..in_sent) went upstream */
    size_t in_ready;                /* then this many are body, unsent */
    size_t in_held;                 /* then the start of a trailer line */
    bool replayable;                /* c->in still holds the whole body */
    uint64_t body_at;               /* when body bytes last came (or the
                                     * head): body_timeout counts from it */
    bool expect_wait;               /* Expect: 100-continue, and neither a
                                     * 1xx nor a body byte went by yet */
    /* response */
    bool head_seen;
    int status;
    int resp_body;
    int64_t resp_left;
    struct chunk_dec resp_chunk;
    bool resp_done;
    bool dechunk;                   /* HTTP/1.0 client: strip chunking */
    bool up_keep;                   /* the server allows reuse */
    char *rhead;
    size_t rhead_len, rhead_cap, rhead_off;
    bool client_started;            /* response bytes went to the client */
    int wait;
    char reqid[REQID_MAX];
    struct proxy *next_free;        /* on the worker's free list */
    struct gw_keep gw;              /* what the gateway leaves for the response */
};

void proxy_start(struct conn *c, const struct http_request *req,
                 const struct conf_route *r);
void proxy_run(struct conn *c);
void proxy_timeout(struct conn *c);
/* The client connection is closing: drop the exchange. */
void proxy_abort(struct conn *c);
/* The exchange is over: buffers and the proxy state go back to the
 * worker's free lists. */
void proxy_release(struct conn *c);
void proxy_free_all(struct worker *w);
void proxy_free(struct conn *c);
bool proxy_client_gone(struct conn *c);
void proxy_close_idle(struct worker *w);
/* Timer: closes idle upstreams of servers that take no requests. */
void proxy_idle_check(struct ev_loop *loop, struct ev_timer *t);
#define IDLE_CHECK_MS 1000

#endif
