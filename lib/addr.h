/* addr: socket address parsing and printing ("1.2.3.4:80", "[::1]:80", "*:80"). */
#ifndef CERB_ADDR_H
#define CERB_ADDR_H

#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
    };                  /* IPv4 and IPv6 only: 28 bytes, not 128 */
    socklen_t len;
};

#define ADDR_WILDCARD   0x1   /* "*:port" and ":port" mean every IPv4 address */
#define ADDR_HOSTNAME   0x2   /* resolve a host name (blocking: config time only) */

#define ADDR_TEXT_MAX 64

int addr_parse(const char *s, struct addr *a, unsigned flags,
               char *err, unsigned errlen);
/* "127.0.0.1:80" or "[::1]:80"; buf of ADDR_TEXT_MAX is always enough. */
void addr_format(const struct addr *a, char *buf, unsigned len);
/* Host part only, no port, no brackets. */
void addr_format_host(const struct addr *a, char *buf, unsigned len);
int addr_port(const struct addr *a);
bool addr_equal(const struct addr *a, const struct addr *b);

#endif
