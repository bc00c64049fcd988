/* http_parse: strict incremental HTTP/1.1 request-head parser (no I/O). */
#ifndef CERB_HTTP_PARSE_H
#define CERB_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 100

struct http_str {
    const char *p;
    size_t len;
};

struct http_header {
    struct http_str name, value;
};

enum http_method {
    HTTP_OTHER, HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE,
    HTTP_OPTIONS, HTTP_PATCH, HTTP_CONNECT, HTTP_TRACE
};

/* The methods cerberus knows (RFC 9110 and PATCH, RFC 5789), each with
 * its id; NULL-terminated. A route's `methods` names only these. */
struct http_method_name {
    const char *name;
    int id;
};
extern const struct http_method_name http_methods[];

struct http_request {
    struct http_str method, target, path, query, host;
    int method_id;
    int version;                /* 10 or 11 */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length;     /* -1: none */
    bool chunked;
    bool conn_close, conn_keepalive, conn_upgrade;
    bool expect_continue;
    size_t head_len;            /* bytes of the head, CRLFCRLF included */
};

struct http_limits {
    size_t max_request_line;    /* 414 beyond */
    size_t max_head;            /* 431 beyond */
    size_t max_headers;         /* 431 beyond */
};

enum {
    HTTP_PARSE_AGAIN = 0,       /* head incomplete: read more */
    HTTP_PARSE_ERROR = -1       /* *status holds the 4xx/5xx to answer */
};

/* Parses buf[0..len). Returns head length (> 0), HTTP_PARSE_AGAIN, or
 * HTTP_PARSE_ERROR with *status and *why set. Never reads past len. */
int http_parse_request(const char *buf, size_t len,
                       const struct http_limits *lim,
                       struct http_request *req, int *status,
                       const char **why);

/* Removes the header lines whose name holds an '_' (nginx's
 * underscores_in_headers off); returns how many went. None of them is one
 * the parser reads (Host, Content-Length, Connection...). */
size_t http_drop_underscored(struct http_request *req);

/* Case-insensitive header lookup; NULL if absent. */
const struct http_header *http_header_find(const struct http_request *req,
                                           const char *name);
bool http_str_ieq(struct http_str s, const char *lit);
/* Is name Content-Length, Transfer-Encoding or Host, in any case, once
 * every '_' is read as '-' (a backend that maps '_' to '-', as CGI, WSGI
 * and Rack do, reads such a twin as the real one)? */
bool http_framing_name(struct http_str name);
/* The value of cookie `name` in the request's Cookie headers (quotes
 * removed), or false. */
bool http_cookie_get(const struct http_request *req, const char *name,
                     struct http_str *out);
/* How many parameters of the query are named name; the first one's value
 * in *first (when not NULL). */
size_t http_query_find(struct http_str query, const char *name,
                       struct http_str *first);
/* The value of parameter `name` in a query string ("a=1&b" gives "" for
 * b), or false. */
bool http_query_get(struct http_str query, const char *name,
                    struct http_str *out);
const char *http_reason(int status);

#endif
