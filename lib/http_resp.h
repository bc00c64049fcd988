/* http_resp: strict HTTP/1.1 response-head parser (no I/O). */
#ifndef CERB_HTTP_RESP_H
#define CERB_HTTP_RESP_H

#include "http_parse.h"

struct http_response {
    int version;                /* 10 or 11 */
    int status;
    struct http_str reason;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length;     /* -1: none */
    bool chunked;               /* Transfer-Encoding ends in chunked */
    bool conn_close;
    size_t head_len;
};

/* Parses buf[0..len): the head length (> 0), 0 when incomplete, or -1
 * with *why for a response a proxy must not pass on (bad framing,
 * conflicting lengths, bare CR/LF, obs-fold, a head over max_head). */
int http_parse_response(const char *buf, size_t len, size_t max_head,
                        struct http_response *resp, const char **why);

#endif
