/* http_fwd: which header lines of a message a proxy passes on as they
 * are, and the framing lines it writes itself (no I/O). */
#include "http_fwd.h"

#include <string.h>
#include <strings.h>

bool
http_fwd_hop_by_hop(struct http_str n)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", NULL
    };
    for (int i = 0; names[i]; i++)
        if (http_str_ieq(n, names[i]))
            return true;
    return n.len > 6 && strncasecmp(n.p, "proxy-", 6) == 0;
}

bool
http_fwd_conn_listed(const struct http_header *hs, size_t n,
                     struct http_str name)
{
    for (size_t i = 0; i < n; i++) {
        if (!http_str_ieq(hs[i].name, "connection"))
            continue;
        struct http_str v = hs[i].value;
        size_t pos = 0;
        while (pos < v.len) {
            while (pos < v.len && (v.p[pos] == ' ' || v.p[pos] == ',' ||
                                   v.p[pos] == '\t'))
                pos++;
            size_t s = pos;
            while (pos < v.len && v.p[pos] != ',' && v.p[pos] != ' ' &&
                   v.p[pos] != '\t')
                pos++;
            if (pos > s && pos - s == name.len &&
                strncasecmp(v.p + s, name.p, name.len) == 0)
                return true;
        }
    }
    return false;
}

#define EMIT(p, n) do { if (emit(ectx, (p), (n)) < 0) return -1; } while (0)

int
http_fwd_request_headers(const struct http_request *req, http_drop_fn *drop,
                         void *dctx, http_emit_fn *emit, void *ectx,
                         struct http_fwd_seen *seen)
{
    seen->host = seen->upgrade = false;
    seen->rid = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (http_framing_name(h->name)) {
            /* Host goes as the parser checked it, whatever Connection
             * says; the framing comes from the parsed length (and a twin
             * with '_' never got past the parser). */
            if (!http_str_ieq(h->name, "host"))
                continue;
            seen->host = true;
            if (drop != NULL && drop(dctx, h->name))
                continue;       /* the operator's (a gateway sets Host) */
        } else if (http_str_ieq(h->name, "x-request-id")) {
            seen->rid = h;
            continue;
        } else {
            if (http_str_ieq(h->name, "upgrade") && req->conn_upgrade &&
                http_str_ieq(h->value, "websocket"))
                seen->upgrade = true;
            if (http_fwd_hop_by_hop(h->name) ||
                http_str_ieq(h->name, "x-forwarded-for") ||
                http_str_ieq(h->name, "x-forwarded-proto") ||
                http_str_ieq(h->name, "x-forwarded-host") ||
                http_fwd_conn_listed(req->headers, req->nheaders, h->name) ||
                (drop != NULL && drop(dctx, h->name)))
                continue;
        }
        EMIT(h->name.p, h->name.len);
        EMIT(": ", 2);
        EMIT(h->value.p, h->value.len);
        EMIT("\r\n", 2);
    }
    return 0;
}

bool
http_fwd_response_header(const struct http_header *hs, size_t n,
                         const struct http_header *h, int status)
{
    if (http_framing_name(h->name) && !http_str_ieq(h->name, "host"))
        return false;           /* written from the parsed length */
    if (status == 101 && (http_str_ieq(h->name, "upgrade") ||
                          http_str_ieq(h->name, "connection")))
        return true;            /* the switch itself */
    return !http_fwd_hop_by_hop(h->name) &&
           !http_fwd_conn_listed(hs, n, h->name);
}

size_t
http_fwd_framing(int64_t content_length, bool chunked, char *out)
{
    if (chunked) {
        memcpy(out, "Transfer-Encoding: chunked\r\n", 28);
        return 28;
    }
    if (content_length < 0)
        return 0;
    char digits[24];
    size_t n = 0;
    uint64_t v = (uint64_t)content_length;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    memcpy(out, "Content-Length: ", 16);
    for (size_t i = 0; i < n; i++)
        out[16 + i] = digits[n - 1 - i];
    memcpy(out + 16 + n, "\r\n", 2);
    return 16 + n + 2;
}
