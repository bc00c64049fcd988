/*
 * origin: a small, fast, controllable HTTP/1.1 origin server for the
 * cerberus tests, demo and benchmarks.
 *
 * One process, one thread, non-blocking sockets driven by edge-triggered
 * epoll.  Request bodies are decoded and hashed incrementally and never
 * buffered whole; large generated bodies are streamed from a static pattern
 * buffer.  The behaviour of every request is controlled by its query string
 * (see usage()).  Only libc and libcrypto (SHA-1, SHA-256, base64) are used.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define HEAD_MAX        (64 * 1024)     /* request head limit (431 above) */
#define IN_INIT         (16 * 1024)     /* initial input buffer */
#define OUT_HIGH        (256 * 1024)    /* stop producing output above this */
#define OUT_REFILL      (64 * 1024)     /* chunked generator refill level */
#define OUT_KEEP        (1024 * 1024)   /* shrink idle buffers above this */
#define PATTERN_LEN     (128 * 1024)    /* largest single pattern slice */
#define MAX_HEADERS     4096            /* request header lines (431 above) */
#define CHUNK_LINE_MAX  4096            /* chunk-size line limit */
#define WS_KEY_MAX      128
#define LINGER_US       (2 * 1000000ULL)   /* wait for the peer's FIN */
#define CLOSING_US      (30 * 1000000ULL)  /* flush limit before closing */
#define DELAY_MAX_MS    86400000ULL
#define RUN_BUDGET      32              /* rounds per connection per turn */
#define FLUSH_BUDGET    8               /* sendmsg calls per round */
#define MAX_EVENTS      1024
#define WS_GUID         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define EMPTY_SHA256    \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum conn_state {
    ST_HEAD,        /* waiting for / parsing a request head */
    ST_BODY,        /* reading the request body, waiting for the delay */
    ST_SEND,        /* response produced, pattern body may still stream */
    ST_WS,          /* WebSocket echo */
    ST_CLOSING,     /* flushing the last output, then shutdown(SHUT_WR) */
    ST_LINGER       /* output done, discarding input until the peer's FIN */
};

enum body_state {
    BS_NONE,
    BS_LENGTH,      /* Content-Length body */
    BS_CSIZE,       /* chunk-size line */
    BS_CDATA,       /* chunk data */
    BS_CCRLF,       /* CRLF after chunk data */
    BS_TRAILER      /* trailer section */
};

enum echo_mode {
    ECHO_OFF,       /* body is hashed and dropped */
    ECHO_RAW,       /* copied as is (Content-Length or close delimited) */
    ECHO_CHUNKED    /* copied as chunks */
};

enum body_kind {
    KIND_BUF,       /* JSON or text built in memory */
    KIND_PATTERN,   /* ?size=N */
    KIND_ECHO       /* ?echo=1 */
};

struct buf {
    char *data;
    size_t off;     /* consumed / sent */
    size_t len;     /* filled */
    size_t cap;
};

struct hdr {
    const char *name;
    size_t nlen;
    const char *val;
    size_t vlen;
};

/* Per-request state; zeroed between requests. */
struct req {
    const char *method;
    size_t mlen;
    const char *target;
    size_t tlen;
    const char *path;
    size_t plen;
    const char *query;
    size_t qlen;
    const char *ctype;
    size_t ctlen;
    const char *ws_key;
    size_t ws_klen;
    size_t nhdr;
    int version;            /* 10 or 11 */
    int is_head;
    int64_t clen;           /* -1: no Content-Length */
    int te_chunked;
    int keep;
    int expect;
    int upgrade_ws;
    int is_ws;
    /* query parameters */
    int status;             /* 0: default */
    uint64_t delay_ms;
    int has_size;
    uint64_t size;
    int p_chunked;
    uint64_t chunk;
    int echo;
    int p_close;
    int drop;
    /* body */
    int bstate;
    uint64_t remaining;
    uint64_t body_len;
    int body_done;
    int sha_used;
    char sha_hex[65];
    int logged;
    int delay_done;
    int resp_started;
    int echo_mode;
};

struct conn {
    int fd;
    int state;
    int can_read;
    int can_write;
    int rd_eof;
    int closed;
    int in_ready;
    long timer_idx;         /* position in the timer heap, -1 if none */
    uint64_t deadline;      /* monotonic microseconds */
    uint64_t nreq;
    unsigned remote_port;
    struct conn *prev;      /* list of open connections */
    struct conn *next;
    struct conn *rnext;     /* ready queue */
    struct conn *dnext;     /* closed, to be freed */
    struct buf in;
    struct buf out;
    struct buf head;        /* copy of the current request head */
    struct buf tmp;         /* scratch: query values, response bodies */
    struct buf xhdr;        /* response headers from ?header= */
    struct buf trl;         /* request trailers, "name:value\n" lines */
    struct hdr *hdrs;
    size_t hdr_cap;
    size_t scan;            /* head terminator search position */
    EVP_MD_CTX *sha;
    struct req req;
    /* pattern generator */
    uint64_t gen_remaining;
    uint64_t gen_off;
    uint64_t gen_chunk_left;
    int gen_chunked;
    /* WebSocket frame parser */
    int ws_in_frame;
    int ws_op;
    int ws_discard;
    uint64_t ws_left;
    unsigned char ws_mask[4];
    unsigned ws_mpos;
};

static const char *g_name;
static char g_name_buf[32];
static FILE *g_log;
static int g_epfd = -1;
static int g_lfd = -1;
static int g_sfd = -1;
static int g_spare_fd = -1;
static int g_healthy = 1;
static uint64_t g_requests;
static uint64_t g_connections;
static uint64_t g_active;
static uint64_t g_health_requests;  /* GET /health received */
static uint64_t g_health_last_us;
static uint64_t g_health_gap_min_us = UINT64_MAX;   /* between two of them */
static EVP_MD *g_sha256;
static char g_pattern[PATTERN_LEN + 26];
static char g_discard[64 * 1024];
static struct conn *g_conns;
static struct conn *g_ready_head;
static struct conn *g_ready_tail;
static struct conn *g_dead;
static struct conn **g_heap;
static size_t g_heap_len;
static size_t g_heap_cap;
static int g_listen_tag;
static int g_signal_tag;

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
usage(void)
{
    fprintf(stderr,
        "usage: origin [-a ADDR] [-p PORT] [-n NAME] [-f PORTFILE] [-l LOGFILE]\n"
        "  -a ADDR      listen address (default 127.0.0.1, ::1 accepted)\n"
        "  -p PORT      listen port (default 0: ephemeral)\n"
        "  -n NAME      X-Origin name (default origin-PORT)\n"
        "  -f PORTFILE  write the bound port to PORTFILE (atomically)\n"
        "  -l LOGFILE   append \"METHOD TARGET\" per received request\n"
        "Prints \"PORT <n>\" on stdout once listening.  Query parameters:\n"
        "  status=N delay_ms=N size=N chunked=1 chunk=N echo=1\n"
        "  header=Name:Value close=1 drop=1\n"
        "Paths: /health /_origin/health/fail /_origin/health/ok /_origin/stats\n"
        "  (stats: health_requests, health_gap_min_ms between two /health)\n"
        "WebSocket upgrades are answered with an echo service.\n");
}

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (q == NULL) {
        fprintf(stderr, "origin: out of memory\n");
        exit(1);
    }
    return q;
}

/* ---- buffers ---- */

static size_t
buf_pending(const struct buf *b)
{
    return b->len - b->off;
}

static void
buf_reset(struct buf *b)
{
    b->off = 0;
    b->len = 0;
}

static void
buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* Make room for n more bytes after len, compacting or growing. */
static void
buf_reserve(struct buf *b, size_t n)
{
    size_t cap;

    if (b->off > 0 && b->off == b->len)
        buf_reset(b);
    if (b->cap - b->len >= n)
        return;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return;
    }
    cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void
buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    buf_reserve(b, 256);
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Free a large idle buffer so that one big request does not pin memory. */
static void
buf_shrink(struct buf *b)
{
    if (b->cap > OUT_KEEP && buf_pending(b) == 0)
        buf_free(b);
}

/* ---- timers: a binary min-heap of connections by deadline ---- */

static int
heap_less(size_t a, size_t b)
{
    return g_heap[a]->deadline < g_heap[b]->deadline;
}

static void
heap_swap(size_t a, size_t b)
{
    struct conn *t = g_heap[a];

    g_heap[a] = g_heap[b];
    g_heap[b] = t;
    g_heap[a]->timer_idx = (long)a;
    g_heap[b]->timer_idx = (long)b;
}

static void
heap_up(size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;

        if (!heap_less(i, p))
            break;
        heap_swap(i, p);
        i = p;
    }
}

static void
heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < g_heap_len && heap_less(l, m))
            m = l;
        if (r < g_heap_len && heap_less(r, m))
            m = r;
        if (m == i)
            break;
        heap_swap(i, m);
        i = m;
    }
}

static void
timer_del(struct conn *c)
{
    size_t i;

    if (c->timer_idx < 0)
        return;
    i = (size_t)c->timer_idx;
    c->timer_idx = -1;
    g_heap_len--;
    if (i != g_heap_len) {
        g_heap[i] = g_heap[g_heap_len];
        g_heap[i]->timer_idx = (long)i;
        heap_down(i);
        heap_up(i);
    }
}

static void
timer_set(struct conn *c, uint64_t deadline)
{
    timer_del(c);
    if (g_heap_len == g_heap_cap) {
        g_heap_cap = g_heap_cap ? g_heap_cap * 2 : 64;
        g_heap = xrealloc(g_heap, g_heap_cap * sizeof(*g_heap));
    }
    c->deadline = deadline;
    c->timer_idx = (long)g_heap_len;
    g_heap[g_heap_len++] = c;
    heap_up(g_heap_len - 1);
}

/* ---- small parsing helpers ---- */

static int
is_tchar(int ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int
is_token(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Field value characters: HTAB, visible ASCII, SP and obs-text. */
static int
is_value(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}

static int
hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int
parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 19)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int
eq_nocase(const char *s, size_t n, const char *lit)
{
    size_t ln = strlen(lit);

    return n == ln && strncasecmp(s, lit, ln) == 0;
}

static int
eq_exact(const char *s, size_t n, const char *lit)
{
    size_t ln = strlen(lit);

    return n == ln && memcmp(s, lit, ln) == 0;
}

/* Next element of a comma separated list; 0 when exhausted. */
static int
list_next(const char *v, size_t n, size_t *pos, const char **ts, size_t *tl)
{
    size_t i = *pos, s, e;

    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
        i++;
    if (i >= n) {
        *pos = i;
        return 0;
    }
    s = i;
    while (i < n && v[i] != ',')
        i++;
    e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    *pos = i;
    *ts = v + s;
    *tl = e - s;
    return 1;
}

static int
list_has(const char *v, size_t n, const char *tok)
{
    size_t pos = 0, tl;
    const char *ts;

    while (list_next(v, n, &pos, &ts, &tl))
        if (eq_nocase(ts, tl, tok))
            return 1;
    return 0;
}

/* Append the URL-decoded form of s ('+' is a space) plus a NUL. */
static void
url_decode(struct buf *b, const char *s, size_t n)
{
    char *o;
    size_t i;

    buf_reserve(b, n + 1);
    o = b->data + b->len;
    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n &&
                   hexval((unsigned char)s[i + 1]) >= 0 &&
                   hexval((unsigned char)s[i + 2]) >= 0) {
            *o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 +
                          hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

static int
parse_bool(const char *s, size_t n)
{
    return !(eq_exact(s, n, "0") || eq_nocase(s, n, "false") ||
             eq_nocase(s, n, "no") || eq_nocase(s, n, "off"));
}

/* ---- JSON ---- */

static void
json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o;
    size_t i;

    buf_reserve(b, n * 6 + 2);
    o = b->data + b->len;
    *o++ = '"';
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            /* controls, DEL and obs-text bytes (read as Latin-1) */
            memcpy(o, "\\u00", 4);
            o[4] = hex[ch >> 4];
            o[5] = hex[ch & 15];
            o += 6;
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

static void
json_strz(struct buf *b, const char *s)
{
    json_str(b, s, strlen(s));
}

static void
json_request(struct conn *c, struct buf *b)
{
    struct req *r = &c->req;
    const char *p, *end;
    size_t i;

    buf_adds(b, "{\"name\":");
    json_strz(b, g_name);
    buf_adds(b, ",\"method\":");
    json_str(b, r->method, r->mlen);
    buf_adds(b, ",\"target\":");
    json_str(b, r->target, r->tlen);
    buf_adds(b, ",\"path\":");
    json_str(b, r->path, r->plen);
    buf_adds(b, ",\"query\":");
    json_str(b, r->query, r->qlen);
    buf_adds(b, ",\"version\":");
    json_strz(b, r->version == 10 ? "HTTP/1.0" : "HTTP/1.1");
    buf_adds(b, ",\"headers\":[");
    for (i = 0; i < r->nhdr; i++) {
        buf_adds(b, i ? ",[" : "[");
        json_str(b, c->hdrs[i].name, c->hdrs[i].nlen);
        buf_adds(b, ",");
        json_str(b, c->hdrs[i].val, c->hdrs[i].vlen);
        buf_adds(b, "]");
    }
    buf_adds(b, "],\"trailers\":[");
    p = c->trl.data;
    end = p ? p + c->trl.len : p;
    for (i = 0; p != NULL && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(nl - p));
        const char *v = colon + 1, *ve = nl;

        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        buf_adds(b, i ? ",[" : "[");
        json_str(b, p, (size_t)(colon - p));
        buf_adds(b, ",");
        json_str(b, v, (size_t)(ve - v));
        buf_adds(b, "]");
        p = nl + 1;
    }
    buf_printf(b, "],\"body_length\":%" PRIu64 ",\"body_sha256\":\"%s\","
               "\"connection_requests\":%" PRIu64 ",\"remote_port\":%u}\n",
               r->body_len, r->sha_used ? r->sha_hex : EMPTY_SHA256,
               c->nreq, c->remote_port);
}

static void
json_stats(struct buf *b)
{
    buf_adds(b, "{\"name\":");
    json_strz(b, g_name);
    buf_printf(b, ",\"requests\":%" PRIu64 ",\"connections\":%" PRIu64
               ",\"active_connections\":%" PRIu64
               ",\"health_requests\":%" PRIu64
               ",\"health_gap_min_ms\":%" PRId64 "}\n",
               g_requests, g_connections, g_active, g_health_requests,
               g_health_gap_min_us == UINT64_MAX ? (int64_t)-1
               : (int64_t)(g_health_gap_min_us / 1000));
}

/* ---- connections ---- */

static void
conn_ready(struct conn *c)
{
    if (c->in_ready || c->closed)
        return;
    c->in_ready = 1;
    c->rnext = NULL;
    if (g_ready_tail != NULL)
        g_ready_tail->rnext = c;
    else
        g_ready_head = c;
    g_ready_tail = c;
}

static void
conn_close(struct conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    timer_del(c);
    close(c->fd);
    c->fd = -1;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    g_active--;
    c->dnext = g_dead;
    g_dead = c;
}

static void
conn_free(struct conn *c)
{
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->head);
    buf_free(&c->tmp);
    buf_free(&c->xhdr);
    buf_free(&c->trl);
    free(c->hdrs);
    EVP_MD_CTX_free(c->sha);
    free(c);
}

/* Free closed connections; ones still queued wait for the next turn. */
static void
reap_dead(void)
{
    struct conn *c = g_dead, *keep = NULL;

    g_dead = NULL;
    while (c != NULL) {
        struct conn *n = c->dnext;

        if (c->in_ready) {
            c->dnext = keep;
            keep = c;
        } else {
            conn_free(c);
        }
        c = n;
    }
    g_dead = keep;
}

static void
log_request(struct conn *c)
{
    struct req *r = &c->req;

    if (r->logged)
        return;
    r->logged = 1;
    if (g_log == NULL)
        return;
    fprintf(g_log, "%.*s %.*s\n", (int)r->mlen, r->method,
            (int)r->tlen, r->target);
    fflush(g_log);
}

/* Stop reading requests: flush what is queued, then close gracefully. */
static void
enter_closing(struct conn *c)
{
    c->state = ST_CLOSING;
    buf_reset(&c->in);
    timer_set(c, now_us() + CLOSING_US);
}

static const char *
reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void
error_response(struct conn *c, int status)
{
    const char *msg = status == 431 ? "request header fields too large\n"
                                    : "bad request\n";

    buf_printf(&c->out, "HTTP/1.1 %d %s\r\nX-Origin: %s\r\n"
               "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n%s",
               status, reason(status), g_name, strlen(msg), msg);
    enter_closing(c);
}

/* Append data as chunks of at most req.chunk bytes. */
static void
append_chunked(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        size_t k = n;

        if (k > c->req.chunk)
            k = (size_t)c->req.chunk;
        buf_printf(&c->out, "%zx\r\n", k);
        buf_add(&c->out, p, k);
        buf_add(&c->out, "\r\n", 2);
        p += k;
        n -= k;
    }
}

/* Produce more of a chunked pattern body into the output buffer. */
static void
gen_refill(struct conn *c)
{
    while (buf_pending(&c->out) < OUT_REFILL) {
        size_t k;

        if (c->gen_chunk_left == 0) {
            if (c->gen_remaining == 0) {
                buf_add(&c->out, "0\r\n\r\n", 5);
                c->gen_chunked = 0;
                return;
            }
            c->gen_chunk_left = c->gen_remaining < c->req.chunk
                                ? c->gen_remaining : c->req.chunk;
            buf_printf(&c->out, "%" PRIx64 "\r\n", c->gen_chunk_left);
        }
        k = OUT_REFILL;
        if (c->gen_chunk_left < k)
            k = (size_t)c->gen_chunk_left;
        buf_add(&c->out, g_pattern + c->gen_off % 26, k);
        c->gen_off += k;
        c->gen_remaining -= k;
        c->gen_chunk_left -= k;
        if (c->gen_chunk_left == 0)
            buf_add(&c->out, "\r\n", 2);
    }
}

static int
path_is(const struct req *r, const char *p)
{
    return eq_exact(r->path, r->plen, p);
}

/*
 * Build the response head and, for in-memory bodies, the body.  Pattern
 * bodies are set up for streaming; echo bodies follow as the request body
 * is decoded.
 */
static void
build_response(struct conn *c)
{
    struct req *r = &c->req;
    struct buf *body = &c->tmp;
    const char *ctype = "application/json";
    size_t ctlen = strlen(ctype);
    const char *text = NULL;
    int status = 200, stats = 0, chunked, close_delim = 0, no_body;
    int kind = KIND_BUF;
    uint64_t clen;

    buf_reset(body);
    if (r->echo)
        kind = KIND_ECHO;
    else if (r->has_size)
        kind = KIND_PATTERN;

    if (path_is(r, "/_origin/health/fail")) {
        g_healthy = 0;
        text = "ok\n";
    } else if (path_is(r, "/_origin/health/ok")) {
        g_healthy = 1;
        text = "ok\n";
    } else if (path_is(r, "/health")) {
        status = g_healthy ? 200 : 503;
        text = g_healthy ? "ok\n" : "failing\n";
    } else if (path_is(r, "/_origin/stats")) {
        stats = 1;
    }
    if (r->status != 0)
        status = r->status;

    if (kind == KIND_BUF) {
        if (text != NULL) {
            buf_adds(body, text);
            ctype = "text/plain";
            ctlen = strlen(ctype);
        } else if (stats) {
            json_stats(body);
        } else {
            json_request(c, body);
        }
        clen = buf_pending(body);
        chunked = r->p_chunked;
    } else if (kind == KIND_PATTERN) {
        ctype = "application/octet-stream";
        ctlen = strlen(ctype);
        clen = r->size;
        chunked = r->p_chunked;
    } else {
        if (r->ctype != NULL) {
            ctype = r->ctype;
            ctlen = r->ctlen;
        } else {
            ctype = "application/octet-stream";
            ctlen = strlen(ctype);
        }
        clen = r->clen > 0 ? (uint64_t)r->clen : 0;
        chunked = r->p_chunked || r->te_chunked;
    }
    no_body = r->is_head || status == 204 || status == 304;
    if (chunked && r->version == 10) {
        /* no chunked coding for HTTP/1.0: delimit by closing */
        chunked = 0;
        close_delim = 1;
        r->keep = 0;
    }
    if (r->p_close)
        r->keep = 0;

    buf_printf(&c->out, "HTTP/1.1 %d %s\r\nX-Origin: %s\r\n",
               status, reason(status), g_name);
    if (status != 204 && status != 304) {
        buf_printf(&c->out, "Content-Type: %.*s\r\n", (int)ctlen, ctype);
        if (chunked)
            buf_adds(&c->out, "Transfer-Encoding: chunked\r\n");
        else if (!close_delim)
            buf_printf(&c->out, "Content-Length: %" PRIu64 "\r\n", clen);
    }
    if (!r->keep)
        buf_adds(&c->out, "Connection: close\r\n");
    else if (r->version == 10)
        buf_adds(&c->out, "Connection: keep-alive\r\n");
    buf_add(&c->out, c->xhdr.data, c->xhdr.len);
    buf_add(&c->out, "\r\n", 2);
    r->resp_started = 1;
    if (no_body)
        return;

    switch (kind) {
    case KIND_BUF:
        if (chunked) {
            append_chunked(c, body->data, buf_pending(body));
            buf_add(&c->out, "0\r\n\r\n", 5);
        } else {
            buf_add(&c->out, body->data, buf_pending(body));
        }
        break;
    case KIND_PATTERN:
        c->gen_remaining = r->size;
        c->gen_off = 0;
        c->gen_chunk_left = 0;
        c->gen_chunked = chunked;
        break;
    default:
        r->echo_mode = chunked ? ECHO_CHUNKED : ECHO_RAW;
        break;
    }
}

static void
start_ws(struct conn *c)
{
    struct req *r = &c->req;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char keybuf[WS_KEY_MAX + sizeof(WS_GUID)];
    unsigned char accept[64];

    memcpy(keybuf, r->ws_key, r->ws_klen);
    memcpy(keybuf + r->ws_klen, WS_GUID, sizeof(WS_GUID) - 1);
    EVP_Digest(keybuf, r->ws_klen + sizeof(WS_GUID) - 1, md, &mdlen,
               EVP_sha1(), NULL);
    EVP_EncodeBlock(accept, md, (int)mdlen);
    buf_printf(&c->out, "HTTP/1.1 101 Switching Protocols\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\nX-Origin: %s\r\n",
               (const char *)accept, g_name);
    buf_add(&c->out, c->xhdr.data, c->xhdr.len);
    buf_add(&c->out, "\r\n", 2);
    r->resp_started = 1;
    c->ws_in_frame = 0;
    c->state = ST_WS;
}

/* Parse the query string into req; -1 on an invalid parameter. */
static int
parse_query(struct conn *c)
{
    struct req *r = &c->req;
    const char *q = r->query, *end = r->query + r->qlen;

    r->chunk = 4096;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *eq, *k, *v;
        size_t kl, vl;
        uint64_t n;

        if (amp == NULL)
            amp = end;
        eq = memchr(q, '=', (size_t)(amp - q));
        k = q;
        kl = (size_t)((eq ? eq : amp) - q);
        v = eq ? eq + 1 : amp;
        buf_reset(&c->tmp);
        url_decode(&c->tmp, v, (size_t)(amp - v));
        v = c->tmp.data;
        vl = c->tmp.len;

        if (eq_exact(k, kl, "status")) {
            if (parse_u64(v, vl, 599, &n) < 0 || n < 200)
                return -1;
            r->status = (int)n;
        } else if (eq_exact(k, kl, "delay_ms")) {
            if (parse_u64(v, vl, DELAY_MAX_MS, &r->delay_ms) < 0)
                return -1;
        } else if (eq_exact(k, kl, "size")) {
            if (parse_u64(v, vl, UINT64_C(1) << 62, &r->size) < 0)
                return -1;
            r->has_size = 1;
        } else if (eq_exact(k, kl, "chunk")) {
            if (parse_u64(v, vl, UINT64_C(1) << 40, &r->chunk) < 0 ||
                r->chunk == 0)
                return -1;
        } else if (eq_exact(k, kl, "chunked")) {
            r->p_chunked = parse_bool(v, vl);
        } else if (eq_exact(k, kl, "echo")) {
            r->echo = parse_bool(v, vl);
        } else if (eq_exact(k, kl, "close")) {
            r->p_close = parse_bool(v, vl);
        } else if (eq_exact(k, kl, "drop")) {
            r->drop = parse_bool(v, vl);
        } else if (eq_exact(k, kl, "header")) {
            const char *colon = memchr(v, ':', vl);
            const char *hv, *he = v + vl;

            if (colon == NULL || !is_token(v, (size_t)(colon - v)))
                return -1;
            hv = colon + 1;
            while (hv < he && (*hv == ' ' || *hv == '\t'))
                hv++;
            while (he > hv && (he[-1] == ' ' || he[-1] == '\t'))
                he--;
            if (!is_value(hv, (size_t)(he - hv)))
                return -1;
            buf_add(&c->xhdr, v, (size_t)(colon - v));
            buf_add(&c->xhdr, ": ", 2);
            buf_add(&c->xhdr, hv, (size_t)(he - hv));
            buf_add(&c->xhdr, "\r\n", 2);
        }
        if (amp == end)
            break;
        q = amp + 1;
    }
    return 0;
}

static int
parse_request_line(struct req *r, const char *p, size_t n)
{
    const char *end = p + n, *sp1, *sp2, *q, *t, *te, *ps, *qm;

    sp1 = memchr(p, ' ', n);
    if (sp1 == NULL || !is_token(p, (size_t)(sp1 - p)))
        return -1;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return -1;
    for (q = sp1 + 1; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return -1;
    if (end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return -1;
    if (sp2[8] == '1')
        r->version = 11;
    else if (sp2[8] == '0')
        r->version = 10;
    else
        return -1;
    r->method = p;
    r->mlen = (size_t)(sp1 - p);
    r->is_head = eq_exact(r->method, r->mlen, "HEAD");
    r->target = t = sp1 + 1;
    r->tlen = (size_t)(sp2 - t);
    te = sp2;

    /* absolute-form: skip scheme and authority */
    ps = t;
    if ((te - t > 7 && strncasecmp(t, "http://", 7) == 0) ||
        (te - t > 8 && strncasecmp(t, "https://", 8) == 0)) {
        const char *a = memchr(t, ':', (size_t)(te - t)) + 3;

        ps = a;
        while (ps < te && *ps != '/' && *ps != '?')
            ps++;
    }
    qm = memchr(ps, '?', (size_t)(te - ps));
    r->path = ps;
    r->plen = (size_t)((qm ? qm : te) - ps);
    if (r->plen == 0) {
        r->path = "/";
        r->plen = 1;
    }
    if (qm != NULL) {
        r->query = qm + 1;
        r->qlen = (size_t)(te - qm - 1);
    } else {
        r->query = "";
        r->qlen = 0;
    }
    return 0;
}

/* Parse the copied head h; 0 ok, -1 malformed (400), -2 too many (431). */
static int
parse_request(struct conn *c, const char *h, size_t hl)
{
    struct req *r = &c->req;
    const char *end = h + hl, *p = h;
    int first = 1, conn_close = 0, conn_keep = 0, te_seen = 0;

    r->clen = -1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le, *colon;
        const char *v, *ve;
        struct hdr *hd;

        if (nl == NULL)
            return -1;
        le = nl;
        if (le > p && le[-1] == '\r')
            le--;
        if (first) {
            if (parse_request_line(r, p, (size_t)(le - p)) < 0)
                return -1;
            first = 0;
            p = nl + 1;
            continue;
        }
        if (le == p)
            break;
        if (*p == ' ' || *p == '\t')
            return -1;      /* obs-fold */
        colon = memchr(p, ':', (size_t)(le - p));
        if (colon == NULL || !is_token(p, (size_t)(colon - p)))
            return -1;
        v = colon + 1;
        ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (!is_value(v, (size_t)(ve - v)))
            return -1;
        if (r->nhdr == MAX_HEADERS)
            return -2;
        if (r->nhdr == c->hdr_cap) {
            c->hdr_cap = c->hdr_cap ? c->hdr_cap * 2 : 32;
            c->hdrs = xrealloc(c->hdrs, c->hdr_cap * sizeof(*c->hdrs));
        }
        hd = &c->hdrs[r->nhdr++];
        hd->name = p;
        hd->nlen = (size_t)(colon - p);
        hd->val = v;
        hd->vlen = (size_t)(ve - v);

        if (eq_nocase(hd->name, hd->nlen, "content-length")) {
            uint64_t n;

            if (parse_u64(v, hd->vlen, INT64_MAX, &n) < 0)
                return -1;
            if (r->clen >= 0 && (uint64_t)r->clen != n)
                return -1;
            r->clen = (int64_t)n;
        } else if (eq_nocase(hd->name, hd->nlen, "transfer-encoding")) {
            size_t pos = 0, tl;
            const char *ts;

            te_seen = 1;
            while (list_next(v, hd->vlen, &pos, &ts, &tl)) {
                if (!eq_nocase(ts, tl, "chunked") || r->te_chunked)
                    return -1;
                r->te_chunked = 1;
            }
        } else if (eq_nocase(hd->name, hd->nlen, "connection")) {
            if (list_has(v, hd->vlen, "close"))
                conn_close = 1;
            if (list_has(v, hd->vlen, "keep-alive"))
                conn_keep = 1;
        } else if (eq_nocase(hd->name, hd->nlen, "upgrade")) {
            if (list_has(v, hd->vlen, "websocket"))
                r->upgrade_ws = 1;
        } else if (eq_nocase(hd->name, hd->nlen, "sec-websocket-key")) {
            r->ws_key = v;
            r->ws_klen = hd->vlen;
        } else if (eq_nocase(hd->name, hd->nlen, "expect")) {
            if (eq_nocase(v, hd->vlen, "100-continue"))
                r->expect = 1;
        } else if (eq_nocase(hd->name, hd->nlen, "content-type")) {
            r->ctype = v;
            r->ctlen = hd->vlen;
        }
        p = nl + 1;
    }
    if (first)
        return -1;
    if (te_seen && !r->te_chunked)
        return -1;
    if (r->te_chunked && r->clen >= 0)
        return -1;
    if (r->version == 11)
        r->keep = !conn_close;
    else
        r->keep = conn_keep && !conn_close && !te_seen;
    return 0;
}

/* A request head has been parsed: set up body decoding and the delay. */
static void
handle_request(struct conn *c)
{
    struct req *r = &c->req;
    int has_body;

    g_requests++;
    c->nreq++;
    if (path_is(r, "/health")) {
        /* The shortest time between two health checks tells whether a
         * checker ever had two in flight (with a delay over its timeout). */
        uint64_t t = now_us();
        if (g_health_requests > 0 && t - g_health_last_us < g_health_gap_min_us)
            g_health_gap_min_us = t - g_health_last_us;
        g_health_last_us = t;
        g_health_requests++;
    }
    if (parse_query(c) < 0) {
        error_response(c, 400);
        return;
    }
    if (r->drop) {
        log_request(c);
        enter_closing(c);
        return;
    }
    has_body = r->te_chunked || r->clen > 0;
    if (r->upgrade_ws && r->ws_key != NULL && r->status == 0) {
        if (has_body || r->ws_klen == 0 || r->ws_klen > WS_KEY_MAX) {
            error_response(c, 400);
            return;
        }
        r->is_ws = 1;
    }
    if (has_body && r->expect && r->version == 11)
        buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    if (r->te_chunked) {
        r->bstate = BS_CSIZE;
    } else if (r->clen > 0) {
        r->bstate = BS_LENGTH;
        r->remaining = (uint64_t)r->clen;
    } else {
        r->body_done = 1;
    }
    if (has_body) {
        if (c->sha == NULL && (c->sha = EVP_MD_CTX_new()) == NULL) {
            fprintf(stderr, "origin: EVP_MD_CTX_new failed\n");
            exit(1);
        }
        EVP_DigestInit_ex(c->sha, g_sha256, NULL);
        r->sha_used = 1;
    }
    if (r->delay_ms > 0)
        timer_set(c, now_us() + r->delay_ms * 1000);
    else
        r->delay_done = 1;
    c->state = ST_BODY;
}

/* Locate the end of the request head in the input; -1 if incomplete. */
static long
find_head_end(struct conn *c)
{
    const char *base = c->in.data + c->in.off;
    size_t avail = buf_pending(&c->in), i = c->scan;

    while (i < avail) {
        const char *nl = memchr(base + i, '\n', avail - i);
        size_t k;

        if (nl == NULL) {
            i = avail;
            break;
        }
        k = (size_t)(nl - base);
        if (k + 1 < avail && base[k + 1] == '\n')
            return (long)(k + 2);
        if (k + 2 < avail && base[k + 1] == '\r' && base[k + 2] == '\n')
            return (long)(k + 3);
        if (k + 2 >= avail) {
            i = k;          /* undecided: look again with more input */
            break;
        }
        i = k + 1;
    }
    c->scan = i;
    return -1;
}

static int
do_head(struct conn *c)
{
    size_t avail, hl;
    long end;
    int rc;

    if (buf_pending(&c->out) >= OUT_HIGH)
        return 0;
    /* tolerate empty lines before a request line */
    while (c->in.off < c->in.len &&
           (c->in.data[c->in.off] == '\r' || c->in.data[c->in.off] == '\n')) {
        c->in.off++;
        c->scan = 0;
    }
    avail = buf_pending(&c->in);
    if (avail == 0) {
        buf_reset(&c->in);
        if (c->rd_eof) {
            enter_closing(c);
            return 1;
        }
        return 0;
    }
    end = find_head_end(c);
    if (end < 0) {
        if (avail >= HEAD_MAX) {
            error_response(c, 431);
            return 1;
        }
        if (c->rd_eof) {
            enter_closing(c);
            return 1;
        }
        return 0;
    }
    hl = (size_t)end;
    if (hl > HEAD_MAX) {
        error_response(c, 431);
        return 1;
    }
    buf_reset(&c->head);
    buf_reserve(&c->head, hl + 1);
    memcpy(c->head.data, c->in.data + c->in.off, hl);
    c->head.data[hl] = '\0';
    c->head.len = hl;
    c->in.off += hl;
    c->scan = 0;
    rc = parse_request(c, c->head.data, hl);
    if (rc == -2) {
        error_response(c, 431);
        return 1;
    }
    if (rc < 0) {
        error_response(c, 400);
        return 1;
    }
    handle_request(c);
    return 1;
}

/* Decoded request body bytes. */
static void
body_data(struct conn *c, const char *p, size_t n)
{
    struct req *r = &c->req;

    r->body_len += n;
    EVP_DigestUpdate(c->sha, p, n);
    if (r->echo_mode == ECHO_RAW)
        buf_add(&c->out, p, n);
    else if (r->echo_mode == ECHO_CHUNKED)
        append_chunked(c, p, n);
}

static void
body_finish(struct conn *c)
{
    static const char hex[] = "0123456789abcdef";
    struct req *r = &c->req;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    r->body_done = 1;
    EVP_DigestFinal_ex(c->sha, md, &mdlen);
    for (i = 0; i < mdlen && i < 32; i++) {
        r->sha_hex[2 * i] = hex[md[i] >> 4];
        r->sha_hex[2 * i + 1] = hex[md[i] & 15];
    }
    r->sha_hex[2 * i] = '\0';
}

/* Find a line in the input; returns its length without CRLF or -1. */
static long
input_line(struct conn *c, size_t *consume)
{
    const char *p = c->in.data + c->in.off;
    const char *nl = memchr(p, '\n', buf_pending(&c->in));
    size_t ll;

    if (nl == NULL)
        return -1;
    ll = (size_t)(nl - p);
    *consume = ll + 1;
    if (ll > 0 && p[ll - 1] == '\r')
        ll--;
    return (long)ll;
}

/*
 * Decode buffered body bytes (Content-Length or chunked).  Returns -1 on
 * a malformed body, 1 if anything was consumed, 0 otherwise.
 */
static int
body_decode(struct conn *c)
{
    struct req *r = &c->req;
    int progress = 0;

    while (!r->body_done) {
        const char *p = c->in.data + c->in.off;
        size_t avail = buf_pending(&c->in), n, consume = 0;
        long ll;

        if (r->echo_mode != ECHO_OFF && buf_pending(&c->out) >= OUT_HIGH)
            break;
        switch (r->bstate) {
        case BS_LENGTH:
        case BS_CDATA:
            if (avail == 0)
                return progress;
            n = avail;
            if (n > r->remaining)
                n = (size_t)r->remaining;
            body_data(c, p, n);
            c->in.off += n;
            r->remaining -= n;
            if (r->remaining == 0) {
                if (r->bstate == BS_LENGTH)
                    body_finish(c);
                else
                    r->bstate = BS_CCRLF;
            }
            break;
        case BS_CSIZE: {
            uint64_t size = 0;
            long i = 0;

            ll = input_line(c, &consume);
            if (ll < 0)
                return avail >= CHUNK_LINE_MAX ? -1 : progress;
            while (i < ll && hexval((unsigned char)p[i]) >= 0) {
                if (size >> 60)
                    return -1;
                size = size * 16 + (uint64_t)hexval((unsigned char)p[i]);
                i++;
            }
            if (i == 0)
                return -1;
            while (i < ll && (p[i] == ' ' || p[i] == '\t'))
                i++;
            if (i < ll && p[i] != ';')
                return -1;
            c->in.off += consume;
            if (size == 0) {
                r->bstate = BS_TRAILER;
            } else {
                r->bstate = BS_CDATA;
                r->remaining = size;
            }
            break;
        }
        case BS_CCRLF:
            if (avail == 0)
                return progress;
            if (p[0] == '\n') {
                c->in.off += 1;
            } else if (p[0] == '\r') {
                if (avail < 2)
                    return progress;
                if (p[1] != '\n')
                    return -1;
                c->in.off += 2;
            } else {
                return -1;
            }
            r->bstate = BS_CSIZE;
            break;
        case BS_TRAILER: {
            const char *colon;

            ll = input_line(c, &consume);
            if (ll < 0)
                return avail >= HEAD_MAX ? -1 : progress;
            if (ll == 0) {
                c->in.off += consume;
                body_finish(c);
                break;
            }
            colon = memchr(p, ':', (size_t)ll);
            if (colon == NULL || !is_token(p, (size_t)(colon - p)) ||
                !is_value(colon + 1, (size_t)(p + ll - colon - 1)) ||
                c->trl.len + (size_t)ll >= HEAD_MAX)
                return -1;
            buf_add(&c->trl, p, (size_t)ll);
            buf_add(&c->trl, "\n", 1);
            c->in.off += consume;
            break;
        }
        default:
            return -1;
        }
        progress = 1;
    }
    return progress;
}

static int
do_body(struct conn *c)
{
    struct req *r = &c->req;
    int progress = 0, rc;

    if (!r->resp_started && r->delay_done && (r->echo || r->is_ws)) {
        if (r->is_ws) {
            log_request(c);
            start_ws(c);
            return 1;
        }
        build_response(c);
        progress = 1;
    }
    if (!r->body_done) {
        if (r->echo && !r->resp_started)
            return progress;    /* echo waits for the delay */
        rc = body_decode(c);
        if (rc < 0) {
            if (r->resp_started)
                enter_closing(c);
            else
                error_response(c, 400);
            return 1;
        }
        if (rc > 0)
            progress = 1;
        if (!r->body_done && c->rd_eof &&
            !(r->echo_mode != ECHO_OFF && buf_pending(&c->out) >= OUT_HIGH)) {
            /* the peer stopped sending in the middle of the body */
            enter_closing(c);
            return 1;
        }
        if (!r->body_done)
            return progress;
    }
    log_request(c);
    if (r->echo) {
        if (!r->resp_started)
            return progress;
        if (r->echo_mode == ECHO_CHUNKED)
            buf_add(&c->out, "0\r\n\r\n", 5);
        c->state = ST_SEND;
        return 1;
    }
    if (!r->delay_done)
        return progress;
    build_response(c);
    c->state = ST_SEND;
    return 1;
}

static void
finish_request(struct conn *c)
{
    if (!c->req.keep) {
        enter_closing(c);
        return;
    }
    timer_del(c);
    memset(&c->req, 0, sizeof(c->req));
    buf_reset(&c->xhdr);
    buf_reset(&c->trl);
    buf_reset(&c->tmp);
    buf_shrink(&c->tmp);
    buf_shrink(&c->out);
    buf_shrink(&c->trl);
    c->state = ST_HEAD;
}

static int
do_send(struct conn *c)
{
    if (c->gen_remaining > 0 || c->gen_chunked)
        return 0;
    finish_request(c);
    return 1;
}

static int
do_ws(struct conn *c)
{
    int progress = 0;

    for (;;) {
        const unsigned char *p = (const unsigned char *)c->in.data + c->in.off;
        size_t avail = buf_pending(&c->in), n, i;

        if (buf_pending(&c->out) >= OUT_HIGH)
            return progress;
        if (!c->ws_in_frame) {
            size_t hl = 2;
            uint64_t len;
            int op, b0;

            if (avail < 2)
                break;
            b0 = p[0];
            op = b0 & 0x0f;
            len = p[1] & 0x7f;
            if (len == 126)
                hl += 2;
            else if (len == 127)
                hl += 8;
            if (p[1] & 0x80)
                hl += 4;
            if (avail < hl)
                break;
            if (len == 126) {
                len = (uint64_t)p[2] << 8 | p[3];
            } else if (len == 127) {
                len = 0;
                for (i = 0; i < 8; i++)
                    len = len << 8 | p[2 + i];
            }
            if ((len >> 63) != 0 || (op > 2 && op < 8) || op > 10 ||
                (op >= 8 && (len > 125 || !(b0 & 0x80)))) {
                /* protocol error: close with status 1002 */
                buf_add(&c->out, "\x88\x02\x03\xea", 4);
                enter_closing(c);
                return 1;
            }
            if (p[1] & 0x80)
                memcpy(c->ws_mask, p + hl - 4, 4);
            else
                memset(c->ws_mask, 0, 4);
            c->in.off += hl;
            c->ws_in_frame = 1;
            c->ws_op = op;
            c->ws_left = len;
            c->ws_mpos = 0;
            c->ws_discard = op == 10;   /* pongs are not answered */
            if (!c->ws_discard) {
                unsigned char fh[10];
                size_t fl = 2;

                fh[0] = (unsigned char)(op == 9 ? (b0 & 0xf0) | 10 : b0);
                if (len < 126) {
                    fh[1] = (unsigned char)len;
                } else if (len < 65536) {
                    fh[1] = 126;
                    fh[2] = (unsigned char)(len >> 8);
                    fh[3] = (unsigned char)len;
                    fl = 4;
                } else {
                    fh[1] = 127;
                    for (i = 0; i < 8; i++)
                        fh[2 + i] = (unsigned char)(len >> (56 - 8 * i));
                    fl = 10;
                }
                buf_add(&c->out, fh, fl);
            }
            progress = 1;
            p = (const unsigned char *)c->in.data + c->in.off;
            avail = buf_pending(&c->in);
        }
        if (c->ws_left > 0) {
            if (avail == 0)
                break;
            n = avail;
            if (n > c->ws_left)
                n = (size_t)c->ws_left;
            if (!c->ws_discard) {
                char *o;

                buf_reserve(&c->out, n);
                o = c->out.data + c->out.len;
                for (i = 0; i < n; i++)
                    o[i] = (char)(p[i] ^ c->ws_mask[(c->ws_mpos + i) & 3]);
                c->out.len += n;
            }
            c->ws_mpos = (unsigned)((c->ws_mpos + n) & 3);
            c->in.off += n;
            c->ws_left -= n;
            progress = 1;
        }
        if (c->ws_left == 0) {
            c->ws_in_frame = 0;
            if (c->ws_op == 8) {
                enter_closing(c);
                return 1;
            }
        }
    }
    if (c->rd_eof) {
        enter_closing(c);
        return 1;
    }
    return progress;
}

/* Handle buffered input; 1 if anything changed. */
static int
conn_process(struct conn *c)
{
    int progress = 0;

    for (;;) {
        int rc;

        switch (c->state) {
        case ST_HEAD:
            rc = do_head(c);
            break;
        case ST_BODY:
            rc = do_body(c);
            break;
        case ST_SEND:
            rc = do_send(c);
            break;
        case ST_WS:
            rc = do_ws(c);
            break;
        default:
            rc = 0;
            break;
        }
        if (rc == 0)
            break;
        progress = 1;
    }
    return progress;
}

/* Write queued output and pattern body; -1 if the connection closed. */
static int
conn_flush(struct conn *c)
{
    int progress = 0, round;

    for (round = 0; round < FLUSH_BUDGET; round++) {
        struct iovec iov[2];
        struct msghdr mh;
        size_t pend, w;
        ssize_t n;
        int niov = 0;

        if (c->gen_chunked && buf_pending(&c->out) < OUT_REFILL)
            gen_refill(c);
        pend = buf_pending(&c->out);
        if (pend > 0) {
            iov[niov].iov_base = c->out.data + c->out.off;
            iov[niov].iov_len = pend;
            niov++;
        }
        if (c->gen_remaining > 0 && !c->gen_chunked) {
            size_t k = PATTERN_LEN;

            if (c->gen_remaining < k)
                k = (size_t)c->gen_remaining;
            iov[niov].iov_base = g_pattern + c->gen_off % 26;
            iov[niov].iov_len = k;
            niov++;
        }
        if (niov == 0 || !c->can_write)
            return progress;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)niov;
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->can_write = 0;
                return progress;
            }
            conn_close(c);
            return -1;
        }
        progress = 1;
        w = (size_t)n;
        if (w >= pend) {
            buf_reset(&c->out);
            w -= pend;
            c->gen_off += w;
            c->gen_remaining -= w;
        } else {
            c->out.off += w;
        }
    }
    return progress;
}

/* Input may need a bigger buffer only for heads, chunk lines and trailers. */
static int
need_big_input(const struct conn *c)
{
    return c->state == ST_HEAD ||
           (c->state == ST_BODY && (c->req.bstate == BS_CSIZE ||
                                    c->req.bstate == BS_TRAILER));
}

/* Read from the socket; -1 if the connection closed. */
static int
conn_read(struct conn *c)
{
    struct buf *b = &c->in;
    ssize_t n;

    if (!c->can_read || c->rd_eof)
        return 0;
    if (c->state == ST_CLOSING || c->state == ST_LINGER) {
        n = read(c->fd, g_discard, sizeof(g_discard));
    } else {
        if (b->off == b->len)
            buf_reset(b);
        if (b->cap == 0) {
            b->data = xrealloc(NULL, IN_INIT);
            b->cap = IN_INIT;
        }
        if (b->off > 0 && b->cap - b->len < b->cap / 4) {
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len == b->cap) {
            size_t cap = b->cap * 2;

            if (b->cap >= HEAD_MAX || !need_big_input(c))
                return 0;   /* backpressure */
            if (cap > HEAD_MAX)
                cap = HEAD_MAX;
            b->data = xrealloc(b->data, cap);
            b->cap = cap;
        }
        n = read(c->fd, b->data + b->len, b->cap - b->len);
        if (n > 0)
            b->len += (size_t)n;
    }
    if (n > 0)
        return 1;
    if (n == 0) {
        c->rd_eof = 1;
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->can_read = 0;
        return 0;
    }
    if (errno == EINTR)
        return 1;
    conn_close(c);
    return -1;
}

/* Drive a connection as far as possible within a budget. */
static void
conn_run(struct conn *c)
{
    int round;

    if (c->closed)
        return;
    for (round = 0; round < RUN_BUDGET; round++) {
        int progress, rc;

        progress = conn_process(c);
        rc = conn_flush(c);
        if (rc < 0)
            return;
        progress |= rc;
        if (c->state == ST_CLOSING && buf_pending(&c->out) == 0 &&
            c->gen_remaining == 0 && !c->gen_chunked) {
            shutdown(c->fd, SHUT_WR);
            c->state = ST_LINGER;
            timer_set(c, now_us() + LINGER_US);
            progress = 1;
        }
        rc = conn_read(c);
        if (rc < 0)
            return;
        progress |= rc;
        if (c->state == ST_LINGER && c->rd_eof) {
            conn_close(c);
            return;
        }
        if (!progress)
            return;
    }
    conn_ready(c);
}

static void
conn_timer(struct conn *c)
{
    if (c->state == ST_CLOSING || c->state == ST_LINGER) {
        conn_close(c);
        return;
    }
    c->req.delay_done = 1;
    conn_run(c);
}

static void
conn_event(struct conn *c, uint32_t ev)
{
    if (c->closed)
        return;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->can_read = 1;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        c->can_write = 1;
    conn_run(c);
}

static void
accept_all(void)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        struct epoll_event ev;
        struct conn *c;
        int fd, one = 1;

        fd = accept4(g_lfd, (struct sockaddr *)&ss, &sl,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && g_spare_fd >= 0) {
                /* shed the pending connection instead of spinning */
                close(g_spare_fd);
                fd = accept(g_lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                g_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                    continue;
            }
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            return;
        }
        c->fd = fd;
        c->state = ST_HEAD;
        c->timer_idx = -1;
        c->can_write = 1;
        if (ss.ss_family == AF_INET)
            c->remote_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            c->remote_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = g_conns;
        if (g_conns != NULL)
            g_conns->prev = c;
        g_conns = c;
        g_connections++;
        g_active++;
    }
}

static void
run_timers(void)
{
    uint64_t now = now_us();

    while (g_heap_len > 0 && g_heap[0]->deadline <= now) {
        struct conn *c = g_heap[0];

        timer_del(c);
        conn_timer(c);
    }
}

static void
run_ready(void)
{
    struct conn *c = g_ready_head;

    g_ready_head = NULL;
    g_ready_tail = NULL;
    while (c != NULL) {
        struct conn *n = c->rnext;

        c->in_ready = 0;
        c->rnext = NULL;
        conn_run(c);
        c = n;
    }
}

static int
write_port_file(const char *path, unsigned port)
{
    char tmp[PATH_MAX];
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return -1;
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int
listen_on(const char *addr, unsigned port, unsigned *bound)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, addr,
                         &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        fprintf(stderr, "origin: invalid address \"%s\"\n", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("origin: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        fprintf(stderr, "origin: bind %s port %u: %s\n", addr, port,
                strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 1024) < 0) {
        perror("origin: listen");
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        perror("origin: getsockname");
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET)
        *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *portfile = NULL, *logfile = NULL;
    struct epoll_event ev, evs[MAX_EVENTS];
    unsigned port = 0, bound = 0;
    sigset_t mask;
    size_t i;
    int opt, stop = 0;

    while ((opt = getopt(argc, argv, "a:p:n:f:l:h")) != -1) {
        switch (opt) {
        case 'a':
            addr = optarg;
            break;
        case 'p': {
            uint64_t v;

            if (parse_u64(optarg, strlen(optarg), 65535, &v) < 0) {
                fprintf(stderr, "origin: invalid port \"%s\"\n", optarg);
                return 2;
            }
            port = (unsigned)v;
            break;
        }
        case 'n':
            g_name = optarg;
            break;
        case 'f':
            portfile = optarg;
            break;
        case 'l':
            logfile = optarg;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }
    if (g_name != NULL && (!is_value(g_name, strlen(g_name)) ||
                           g_name[0] == '\0')) {
        fprintf(stderr, "origin: invalid name\n");
        return 2;
    }

    for (i = 0; i < sizeof(g_pattern); i++)
        g_pattern[i] = (char)('a' + i % 26);
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (g_sha256 == NULL) {
        fprintf(stderr, "origin: SHA256 not available\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    if (logfile != NULL) {
        g_log = fopen(logfile, "a");
        if (g_log == NULL) {
            fprintf(stderr, "origin: %s: %s\n", logfile, strerror(errno));
            return 1;
        }
    }
    g_lfd = listen_on(addr, port, &bound);
    if (g_lfd < 0)
        return 1;
    if (g_name == NULL) {
        snprintf(g_name_buf, sizeof(g_name_buf), "origin-%u", bound);
        g_name = g_name_buf;
    }

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    g_sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_sfd < 0 || g_epfd < 0) {
        perror("origin: signalfd/epoll_create1");
        return 1;
    }
    g_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &g_listen_tag;
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_lfd, &ev) < 0) {
        perror("origin: epoll_ctl");
        return 1;
    }
    ev.data.ptr = &g_signal_tag;
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_sfd, &ev) < 0) {
        perror("origin: epoll_ctl");
        return 1;
    }

    printf("PORT %u\n", bound);
    fflush(stdout);
    if (portfile != NULL && write_port_file(portfile, bound) < 0) {
        fprintf(stderr, "origin: %s: %s\n", portfile, strerror(errno));
        return 1;
    }

    while (!stop) {
        int n, timeout = -1;

        if (g_ready_head != NULL) {
            timeout = 0;
        } else if (g_heap_len > 0) {
            uint64_t now = now_us(), d = g_heap[0]->deadline;

            if (d <= now)
                timeout = 0;
            else if ((d - now + 999) / 1000 > INT_MAX)
                timeout = INT_MAX;
            else
                timeout = (int)((d - now + 999) / 1000);
        }
        n = epoll_wait(g_epfd, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("origin: epoll_wait");
            break;
        }
        for (i = 0; i < (size_t)n; i++) {
            void *tag = evs[i].data.ptr;

            if (tag == &g_listen_tag)
                accept_all();
            else if (tag == &g_signal_tag)
                stop = 1;
            else
                conn_event(tag, evs[i].events);
        }
        run_timers();
        run_ready();
        reap_dead();
    }

    while (g_conns != NULL)
        conn_close(g_conns);
    g_ready_head = g_ready_tail = NULL;
    for (struct conn *c = g_dead; c != NULL; c = c->dnext)
        c->in_ready = 0;
    reap_dead();
    free(g_heap);
    close(g_lfd);
    close(g_sfd);
    close(g_epfd);
    if (g_spare_fd >= 0)
        close(g_spare_fd);
    if (g_log != NULL)
        fclose(g_log);
    EVP_MD_free(g_sha256);
    return 0;
}
