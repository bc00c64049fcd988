/* http_fwd: which header lines of a message a proxy passes on as they
 * are, and the framing lines it writes itself (no I/O). */
#ifndef CERB_HTTP_FWD_H
#define CERB_HTTP_FWD_H

#include "http_parse.h"

/* Appends n bytes; 0, or -1 when out of room (the build stops). */
typedef int http_emit_fn(void *ctx, const char *p, size_t n);
/* A name the caller drops besides (client-certificate headers, the
 * gateway's removals). */
typedef bool http_drop_fn(void *ctx, struct http_str name);

/* Hop-by-hop fields (RFC 9110 7.6.1) and Proxy-*, never forwarded. */
bool http_fwd_hop_by_hop(struct http_str name);
/* Is name listed in one of the Connection headers hs[0..n)? */
bool http_fwd_conn_listed(const struct http_header *hs, size_t n,
                          struct http_str name);

/* What the request head build learnt from the client's lines. */
struct http_fwd_seen {
    bool host;                          /* a Host line was forwarded */
    bool upgrade;                       /* a WebSocket upgrade is asked */
    const struct http_header *rid;      /* the client's X-Request-ID */
};

/* Emits the header lines of req a proxy forwards as they are: not
 * hop-by-hop, not listed in Connection, not one the proxy writes itself
 * (Content-Length, Transfer-Encoding, X-Forwarded-For/-Proto/-Host,
 * X-Request-ID), not dropped by drop (may be NULL). A Connection list
 * never removes Host (only drop does; seen->host is set either way), nor
 * the framing, which http_fwd_framing writes.
 * 0, or -1 when emit failed. */
int http_fwd_request_headers(const struct http_request *req,
                             http_drop_fn *drop, void *dctx,
                             http_emit_fn *emit, void *ectx,
                             struct http_fwd_seen *seen);

/* A response header line the proxy forwards as it is: the same rules
 * (Content-Length and Transfer-Encoding are written from the parsed
 * length); the status line decides for 101's Upgrade and Connection. */
bool http_fwd_response_header(const struct http_header *hs, size_t n,
                              const struct http_header *h, int status);

#define HTTP_FWD_FRAMING_MAX 48
/* The framing of a message whose parsed length is content_length (-1:
 * none) or chunked: "Transfer-Encoding: chunked\r\n", "Content-Length:
 * N\r\n" with N in canonical decimal, or nothing. out holds
 * HTTP_FWD_FRAMING_MAX bytes; returns the length written. */
size_t http_fwd_framing(int64_t content_length, bool chunked, char *out);

#endif
