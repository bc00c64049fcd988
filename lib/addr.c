/* addr: socket address parsing and printing ("1.2.3.4:80", "[::1]:80", "*:80"). */
#include "addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse_port(const char *p, int *port)
{
    long v = 0;

    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = (int)v;
    return 0;
}

int
addr_parse(const char *s, struct addr *a, unsigned flags,
           char *err, unsigned errlen)
{
    char host[256];
    const char *colon;
    int port;

    memset(a, 0, sizeof(*a));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':') {
            snprintf(err, errlen, "expected [IPv6]:port");
            return -1;
        }
        size_t hl = (size_t)(end - s - 1);
        if (hl == 0 || hl >= sizeof(host)) {
            snprintf(err, errlen, "invalid IPv6 address");
            return -1;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (parse_port(end + 2, &port) < 0) {
            snprintf(err, errlen, "invalid port (expected 1-65535)");
            return -1;
        }
        struct sockaddr_in6 *sin6 = &a->sin6;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(err, errlen, "invalid IPv6 address \"%s\"", host);
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        a->len = sizeof(*sin6);
        return 0;
    }
    colon = strrchr(s, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "expected host:port");
        return -1;
    }
    if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
        snprintf(err, errlen, "IPv6 addresses need brackets: [addr]:port");
        return -1;
    }
    if (parse_port(colon + 1, &port) < 0) {
        snprintf(err, errlen, "invalid port (expected 1-65535)");
        return -1;
    }
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';

    struct sockaddr_in *sin = &a->sin;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    a->len = sizeof(*sin);
    if (hl == 0 || strcmp(host, "*") == 0) {
        if (!(flags & ADDR_WILDCARD)) {
            snprintf(err, errlen, "a wildcard address is not allowed here");
            return -1;
        }
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1)
        return 0;
    if (!(flags & ADDR_HOSTNAME)) {
        snprintf(err, errlen, "invalid IPv4 address \"%s\"", host);
        return -1;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", host,
                 gai_strerror(rc));
        return -1;
    }
    if (res->ai_addrlen > sizeof(a->sin6)) {
        snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address", host);
        freeaddrinfo(res);
        return -1;
    }
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    if (a->sa.sa_family == AF_INET)
        (&a->sin)->sin_port = htons((uint16_t)port);
    else
        (&a->sin6)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

void
addr_format_host(const struct addr *a, char *buf, unsigned len)
{
    if (a->sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &(&a->sin6)->sin6_addr,
                  buf, len);
    else if (a->sa.sa_family == AF_INET)
        inet_ntop(AF_INET, &(&a->sin)->sin_addr,
                  buf, len);
    else
        snprintf(buf, len, "unix");
}

int
addr_port(const struct addr *a)
{
    if (a->sa.sa_family == AF_INET6)
        return ntohs((&a->sin6)->sin6_port);
    if (a->sa.sa_family == AF_INET)
        return ntohs((&a->sin)->sin_port);
    return 0;
}

void
addr_format(const struct addr *a, char *buf, unsigned len)
{
    char host[INET6_ADDRSTRLEN];

    addr_format_host(a, host, sizeof(host));
    if (a->sa.sa_family == AF_INET6)
        snprintf(buf, len, "[%s]:%d", host, addr_port(a));
    else
        snprintf(buf, len, "%s:%d", host, addr_port(a));
}

bool
addr_equal(const struct addr *a, const struct addr *b)
{
    if (a->sa.sa_family != b->sa.sa_family || addr_port(a) != addr_port(b))
        return false;
    if (a->sa.sa_family == AF_INET)
        return (&a->sin)->sin_addr.s_addr ==
               (&b->sin)->sin_addr.s_addr;
    if (a->sa.sa_family == AF_INET6)
        return memcmp(&(&a->sin6)->sin6_addr,
                      &(&b->sin6)->sin6_addr,
                      16) == 0;
    return false;
}
