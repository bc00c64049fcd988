/* cidr: parsing of IPv4/IPv6 ranges and matching of client addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "tap.h"

static struct sockaddr_storage ss;

static const struct sockaddr *
sa(const char *ip)
{
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
        s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
        s6->sin6_family = AF_INET6;
    return (const struct sockaddr *)&ss;
}

static void
match_is(const char *range, const char *ip, bool want)
{
    struct cidr c;
    char err[128] = "";

    if (cidr_parse(range, &c, err, sizeof(err)) < 0) {
        ok(0, "%s parses (%s)", range, err);
        return;
    }
    ok(cidr_match(&c, sa(ip)) == want, "%s %s %s", ip,
       want ? "is in" : "is not in", range);
}

static void
bad(const char *range, const char *want)
{
    struct cidr c;
    char err[128] = "";

    ok(cidr_parse(range, &c, err, sizeof(err)) < 0, "\"%s\" is refused",
       range);
    is_str(err, want, "  with the reason");
}

int
main(void)
{
    match_is("10.0.0.0/8", "10.1.2.3", true);
    match_is("10.0.0.0/8", "11.0.0.1", false);
    match_is("192.168.1.7", "192.168.1.7", true);
    match_is("192.168.1.7", "192.168.1.8", false);
    match_is("192.168.1.0/25", "192.168.1.127", true);
    match_is("192.168.1.0/25", "192.168.1.128", false);
    match_is("10.9.9.9/8", "10.0.0.1", true);       /* host bits cleared */
    match_is("0.0.0.0/0", "203.0.113.9", true);
    match_is("0.0.0.0/0", "::1", false);
    match_is("::/0", "2001:db8::1", true);
    match_is("::/0", "127.0.0.1", false);
    match_is("2001:db8::/32", "2001:db8:ffff::1", true);
    match_is("2001:db8::/32", "2001:db9::1", false);
    match_is("2001:db8::/33", "2001:db8:7fff::1", true);
    match_is("2001:db8::/33", "2001:db8:8000::1", false);
    match_is("::1", "::1", true);
    match_is("::1/128", "::2", false);
    /* IPv4-mapped client addresses compare as IPv4, both ways */
    match_is("127.0.0.0/8", "::ffff:127.0.0.1", true);
    match_is("::ffff:10.0.0.0/104", "10.2.3.4", true);
    match_is("::ffff:10.0.0.0/104", "::ffff:10.2.3.4", true);
    match_is("::/0", "::ffff:10.2.3.4", false);

    struct cidr_acl acl = { 0 };
    struct cidr al[1], dn[2];
    char err[64];
    cidr_parse("10.1.0.0/16", &al[0], err, sizeof(err));
    cidr_parse("0.0.0.0/0", &dn[0], err, sizeof(err));
    cidr_parse("::/0", &dn[1], err, sizeof(err));
    acl.allow = al;
    acl.nallow = 1;
    acl.deny = dn;
    acl.ndeny = 2;
    is_int(cidr_acl_check(&acl, sa("10.1.2.3")), CIDR_ALLOW,
           "allow wins over a deny that also matches");
    is_int(cidr_acl_check(&acl, sa("10.2.0.1")), CIDR_DENY, "else deny");
    is_int(cidr_acl_check(&acl, sa("::1")), CIDR_DENY, "IPv6 denied too");
    acl.ndeny = 1;
    is_int(cidr_acl_check(&acl, sa("::1")), CIDR_NONE,
           "in no list: neither");

    bad("10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be 0 to 32");
    bad("::/129", "\"::/129\": the prefix length must be 0 to 128");
    bad("10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address");
    bad("10.0.0.0/", "\"10.0.0.0/\": the prefix length is not a number");
    bad("10.0.0.0/8x", "\"10.0.0.0/8x\": the prefix length must be 0 to 32");
    bad("", "\"\" is not an address or CIDR");
    bad("example.com", "\"example.com\" is not an IPv4 or IPv6 address");
    return done_testing();
}
