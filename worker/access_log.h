/* access_log: one line per request, buffered per worker, whole lines. */
#ifndef CERB_ACCESS_LOG_H
#define CERB_ACCESS_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* A request id: ours are 32 hex digits, a trusted client's up to 128. */
#define REQID_MAX 130

struct worker;
struct conn;
struct http_request;
struct conf_route;

/* What the line of the request in progress needs, kept by its connection
 * (the request head itself is gone by the time the answer is sent). */
struct reqlog {
    bool active;
    uint64_t start;             /* ev_now() when the head was read */
    int status;
    uint64_t bytes;             /* sent to the client, head included */
    const char *route;
    const char *policy;         /* the gateway policy that refused it */
    char request[1024];         /* method SP target SP version, cut to fit */
    char referer[256];
    char agent[256];
    char reqid[REQID_MAX];
    char upstream[256];         /* the servers tried, comma-separated */
    int upstream_status;
    uint64_t upstream_start, upstream_ms;
};

int alog_open_all(struct worker *w);
void alog_reopen(struct worker *w);
void alog_flush_all(struct worker *w);
void alog_close_all(struct worker *w);

void alog_begin(struct conn *c, const struct http_request *req,
                const struct conf_route *r);
/* Writes the line if one is in progress; status 0 = what was answered. */
void alog_end(struct conn *c, int status);

#endif
