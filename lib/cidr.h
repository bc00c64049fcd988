/* cidr: IPv4 and IPv6 address ranges (allow/deny lists), parsed once and
 * matched against a client address; IPv4-mapped IPv6 compares as IPv4. */
#ifndef CERB_CIDR_H
#define CERB_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct cidr {
    uint8_t addr[16];           /* network bytes, host bits cleared */
    uint8_t bits;               /* prefix length */
    bool v4;                    /* addr[0..4) is an IPv4 address */
};

/* The compiled allow/deny lists of a listener or route. */
struct cidr_acl {
    struct cidr *allow, *deny;
    size_t nallow, ndeny;
};

enum { CIDR_NONE, CIDR_ALLOW, CIDR_DENY };

/* Parses "a.b.c.d[/n]" or "x:y::z[/n]" (no prefix: one address); host
 * bits after the prefix are cleared.  0, or -1 with the reason in err. */
int cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* CIDR_ALLOW when sa is in an allow entry, else CIDR_DENY when in a deny
 * entry, else CIDR_NONE. */
int cidr_acl_check(const struct cidr_acl *acl, const struct sockaddr *sa);

#endif
