/* http.h: a worker's runtime and its client connections. */
#ifndef CERB_HTTP_H
#define CERB_HTTP_H

#include <stdbool.h>
#include <sys/uio.h>

#include "event.h"
#include "http_parse.h"
#include "http_resp.h"
#include "access_log.h"
#include "worker.h"

struct worker;

/* One listening socket of this worker. */
struct wlisten {
    struct ev_io io;
    struct worker *w;
    const struct conf_listener *conf;
    bool active;
};

enum conn_state { CS_HEAD, CS_BODY, CS_WRITE, CS_LINGER, CS_PROXY, CS_CLOSED,
                  CS_TLS };

struct conn {
    struct ev_io io;
    struct ev_timer timer;
    struct worker *w;
    const struct conf_listener *l;
    struct conn *prev, *next;
    struct conn *pending_next;  /* on the worker's pending list */
    char *in;
    char *head_buf;             /* response head being written, or NULL */
    char *body_buf;             /* expanded body (variables), or NULL */
    struct proxy *px;           /* the exchange with a server, when proxying */
    struct reqlog *rl;          /* the access-log line in progress */
    struct ssl_st *ssl;         /* TLS, or NULL */
    int64_t discard;            /* request body bytes still to skip */
    struct iovec iov[2];
    struct addr peer;
    uint32_t in_cap, in_len;
    uint32_t req_head_len;      /* head of the request being handled */
    unsigned nreq;
    uint8_t state;
    uint8_t iovcnt;
    bool head_big;              /* head_buf was malloc'd, not a block */
    bool pending;
    bool close_after;
    bool close_after_req;       /* what the request itself asked */
    bool idle;                  /* between requests, no byte read */
    bool http10;                /* the current request is HTTP/1.0 */
    bool readable;              /* an EPOLLIN edge came since the last
                                 * EAGAIN: a read may find bytes */
    bool rdhup;                 /* the client's EOF was reported */
    bool unread;                /* the client may still be sending */
};
/* Every idle keep-alive connection costs this struct and nothing else
 * in user space: keep it within a 256-byte malloc chunk. */
_Static_assert(sizeof(struct conn) <= 248, "struct conn grew");
/* (with malloc's 8-byte header: one 256-byte chunk) */

struct worker {
    struct worker_args *args;
    const struct conf *conf;
    struct ev_loop *loop;
    struct ev_io sig_io;
    struct wlisten *lsn;
    size_t nlsn;
    size_t *lconns;             /* open connections per listener */
    struct conn *conns;         /* every open HTTP connection */
    struct tcp_conn *tcp_conns; /* every open L4 connection */
    unsigned *rr;               /* per pool: next server (round robin) */
    struct conn *free_conns;
    struct conn *pending;       /* have buffered input, yielded the loop */
    struct ev_timer pending_timer;
    size_t nconns;
    struct shm_row_stats *stats;
    bool draining;
    uint64_t paused_log_at;
    void *match_data;           /* pcre2_match_data for routes */
    char date[64];
    long date_sec;
    char *scratch;              /* WORKER_SCRATCH bytes to build heads in */
    char *pathbuf;              /* normalised request path */
    size_t pathbuf_size;
    struct ev_timer resume_timer;   /* retry accepting after EMFILE */
    struct upstream **idle;     /* per shm server slot: idle connections */
    unsigned nidle;
    size_t *idle_count;         /* per pool */
    uint64_t rng;               /* request ids */
    void *blocks;               /* free BLOCK_SIZE buffers */
    struct proxy *free_px;      /* free proxy states */
    size_t nblocks;
    struct alog *alogs;         /* open access logs */
    struct alog **alog_of;      /* per listener, or NULL */
    struct ev_timer alog_timer; /* flush */
    struct pick_pool *pick;     /* per pool: balancing state */
    bool *pick_ok;              /* scratch for a pick, per server */
    int64_t *pick_active;
    unsigned *pick_weight;
    struct ev_timer idle_check; /* closes idle upstreams of servers out */
    struct ssl_session_st **up_sess;    /* per shm server slot: TLS session */
    struct gw *gw;              /* the gateway's work space for a request */
};

#define WORKER_SCRATCH 65536
/* Buffers connections hold only while busy, from a per-worker free list:
 * an idle keep-alive connection keeps none. */
#define BLOCK_SIZE 4096
#define BLOCKS_KEPT 1024

void http_accept(struct ev_loop *loop, struct ev_io *io, uint32_t events);
void http_client_gone(struct worker *w, const struct conf_listener *l);
void http_resume_accept(struct ev_loop *loop, struct ev_timer *t);
/* For the proxy: answer an error, finish a request, read, close. Each
 * drives the connection on by itself. */
void http_respond_error(struct conn *c, int status, const char *why);
void http_request_done(struct conn *c);
int http_conn_read(struct conn *c);
/* writev(2) to the client, through TLS when the connection has it. */
ssize_t http_conn_writev(struct conn *c, const struct iovec *iov, int n);
void http_conn_close(struct conn *c);
void http_request_id(struct worker *w, char *out);
/* Now as an IMF-fixdate (29 characters), cached for the second. */
const char *http_date(struct worker *w);
void http_yield(struct conn *c);
char *http_block_get(struct worker *w);
/* Gives back *p (of capacity cap; other sizes are freed) and clears *p. */
void http_block_put(struct worker *w, char **p, size_t cap);
void http_blocks_free(struct worker *w);

/* tcp.c: L4 listeners */
struct tcp_conn;
void tcp_accept(struct worker *w, const struct conf_listener *l, int fd,
                const struct addr *peer);
void tcp_close_all(struct worker *w);
void http_drain(struct worker *w);
void http_run_pending(struct ev_loop *loop, struct ev_timer *t);
void http_close_all(struct worker *w);
void http_free_pool(struct worker *w);

/* route.c */
const struct conf_route *route_match(struct worker *w,
                                     const struct conf_listener *l,
                                     const struct http_request *req,
                                     const char *norm_path, size_t norm_len,
                                     bool *refused);

#endif
