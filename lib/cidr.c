/* cidr: IPv4 and IPv6 address ranges for allow/deny lists. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

int
cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);

    memset(out, 0, sizeof(*out));
    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(err, errlen, "\"%s\" is not an address or CIDR", s);
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->v4 = true;
    } else if (inet_pton(AF_INET6, host, out->addr) != 1) {
        snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address", host);
        return -1;
    }
    unsigned max = out->v4 ? 32 : 128;
    out->bits = (uint8_t)max;
    if (slash != NULL) {
        const char *p = slash + 1;
        char *end;
        if (*p < '0' || *p > '9') {
            snprintf(err, errlen, "\"%s\": the prefix length is not a number",
                     s);
            return -1;
        }
        unsigned long n = strtoul(p, &end, 10);
        if (*end != '\0' || n > max) {
            snprintf(err, errlen, "\"%s\": the prefix length must be 0 to %u",
                     s, max);
            return -1;
        }
        out->bits = (uint8_t)n;
    }
    /* an IPv4-mapped IPv6 range is an IPv4 range */
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0xff, 0xff };
    if (!out->v4 && out->bits >= 96 && memcmp(out->addr, mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->v4 = true;
        out->bits = (uint8_t)(out->bits - 96);
    }
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = out->bits > i * 8 ? out->bits - i * 8 : 0;
        if (keep < 8)
            out->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
    return 0;
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
    const uint8_t *a;
    bool v4;

    if (sa->sa_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)
                ->sin_addr;
        v4 = true;
    } else if (sa->sa_family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        v4 = false;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                            0xff, 0xff };
        if (memcmp(a, mapped, 12) == 0) {
            a += 12;
            v4 = true;
        }
    } else {
        return false;
    }
    if (v4 != c->v4)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[full] & mask) == c->addr[full];
}

int
cidr_acl_check(const struct cidr_acl *acl, const struct sockaddr *sa)
{
    for (size_t i = 0; i < acl->nallow; i++)
        if (cidr_match(&acl->allow[i], sa))
            return CIDR_ALLOW;
    for (size_t i = 0; i < acl->ndeny; i++)
        if (cidr_match(&acl->deny[i], sa))
            return CIDR_DENY;
    return CIDR_NONE;
}
