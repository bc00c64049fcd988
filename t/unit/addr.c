/* addr: listener and server addresses as written in the config file. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "tap.h"

/* Parses s and checks that it prints back as want. */
static void
parse_is(const char *s, unsigned flags, const char *want, int family,
         int port)
{
    struct addr a;
    char err[128] = "", buf[ADDR_TEXT_MAX];

    if (!ok(addr_parse(s, &a, flags, err, sizeof(err)) == 0,
            "\"%s\" parses", s)) {
        diag("error: %s", err);
        return;
    }
    addr_format(&a, buf, sizeof(buf));
    ok(strcmp(buf, want) == 0 && a.sa.sa_family == family &&
       addr_port(&a) == port,
       "  and reads back as \"%s\" (got \"%s\", port %d)", want, buf,
       addr_port(&a));
    ok(a.len == (family == AF_INET ? sizeof(struct sockaddr_in)
                                   : sizeof(struct sockaddr_in6)),
       "  with the socklen of its family");
}

static void
parse_bad(const char *s, unsigned flags, const char *want_err)
{
    struct addr a;
    char err[128] = "";

    int r = addr_parse(s, &a, flags, err, sizeof(err));
    if (ok(r == -1 && err[0] != '\0', "\"%s\" is rejected (flags %u)", s,
           flags) && want_err != NULL)
        is_str(err, want_err, "  with the right message");
}

static void
test_parse(void)
{
    parse_is("127.0.0.1:80", 0, "127.0.0.1:80", AF_INET, 80);
    parse_is("10.1.2.3:65535", 0, "10.1.2.3:65535", AF_INET, 65535);
    parse_is("0.0.0.0:1", 0, "0.0.0.0:1", AF_INET, 1);
    parse_is("1.2.3.4:080", 0, "1.2.3.4:80", AF_INET, 80);
    parse_is("[::1]:8080", 0, "[::1]:8080", AF_INET6, 8080);
    parse_is("[2001:DB8:0:0::1]:443", 0, "[2001:db8::1]:443", AF_INET6, 443);
    parse_is("[::ffff:1.2.3.4]:80", 0, "[::ffff:1.2.3.4]:80", AF_INET6, 80);
    parse_is("*:80", ADDR_WILDCARD, "0.0.0.0:80", AF_INET, 80);
    parse_is(":80", ADDR_WILDCARD, "0.0.0.0:80", AF_INET, 80);
    parse_is("*:443", ADDR_WILDCARD | ADDR_HOSTNAME, "0.0.0.0:443", AF_INET,
             443);
    /* localhost is in /etc/hosts: no DNS query leaves the machine. */
    parse_is("localhost:80", ADDR_HOSTNAME, "127.0.0.1:80", AF_INET, 80);

    parse_bad("*:80", 0, "a wildcard address is not allowed here");
    parse_bad(":80", 0, "a wildcard address is not allowed here");
    parse_bad(":80", ADDR_HOSTNAME, "a wildcard address is not allowed here");
    parse_bad("localhost:80", 0, "invalid IPv4 address \"localhost\"");
    parse_bad("localhost:80", ADDR_WILDCARD, NULL);
    parse_bad("127.0.0.1:0", 0, "invalid port (expected 1-65535)");
    parse_bad("127.0.0.1:65536", 0, "invalid port (expected 1-65535)");
    parse_bad("127.0.0.1:99999999999999999999", 0,
              "invalid port (expected 1-65535)");
    parse_bad("127.0.0.1:", 0, "invalid port (expected 1-65535)");
    parse_bad("127.0.0.1:8o", 0, "invalid port (expected 1-65535)");
    parse_bad("127.0.0.1:-1", 0, "invalid port (expected 1-65535)");
    parse_bad("127.0.0.1: 80", 0, NULL);
    parse_bad("127.0.0.1", 0, "expected host:port");
    parse_bad("", 0, "expected host:port");
    parse_bad("1.2.3:80", 0, "invalid IPv4 address \"1.2.3\"");
    parse_bad("256.1.1.1:80", 0, NULL);
    parse_bad("[::1]:0", 0, "invalid port (expected 1-65535)");
    parse_bad("[::1]:65536", 0, "invalid port (expected 1-65535)");
    parse_bad("::1:80", 0, "IPv6 addresses need brackets: [addr]:port");
    parse_bad("::1:80", ADDR_HOSTNAME | ADDR_WILDCARD,
              "IPv6 addresses need brackets: [addr]:port");
    parse_bad("2001:db8::1:443", 0,
              "IPv6 addresses need brackets: [addr]:port");
    parse_bad("[::1]", 0, "expected [IPv6]:port");
    parse_bad("[::1]80", 0, "expected [IPv6]:port");
    parse_bad("[::1:80", 0, "expected [IPv6]:port");
    parse_bad("[]:80", 0, "invalid IPv6 address");
    parse_bad("[1.2.3.4]:80", 0, "invalid IPv6 address \"1.2.3.4\"");
    parse_bad("[localhost]:80", ADDR_HOSTNAME, NULL);

    /* A long host name is refused, not overflowed. */
    char longname[400];
    memset(longname, 'a', sizeof(longname));
    strcpy(longname + sizeof(longname) - 4, ":80");
    parse_bad(longname, 0, "host name too long");
    char longv6[400];
    longv6[0] = '[';
    memset(longv6 + 1, '1', sizeof(longv6) - 1);
    strcpy(longv6 + sizeof(longv6) - 5, "]:80");
    parse_bad(longv6, 0, "invalid IPv6 address");

    /* The error text is truncated to errlen, never overrun. */
    struct addr a;
    char small[8];
    memset(small, 'X', sizeof(small));
    addr_parse("bogus.example:80", &a, 0, small, 4);
    ok(strlen(small) == 3 && small[4] == 'X', "a short error buffer holds");
}

static void
test_format(void)
{
    struct addr a;
    char err[128], buf[ADDR_TEXT_MAX], host[ADDR_TEXT_MAX];

    addr_parse("[fe80::1:2:3:4]:1", &a, 0, err, sizeof(err));
    addr_format_host(&a, host, sizeof(host));
    is_str(host, "fe80::1:2:3:4", "addr_format_host: IPv6 without brackets");
    addr_parse("192.168.100.200:65535", &a, 0, err, sizeof(err));
    addr_format_host(&a, host, sizeof(host));
    is_str(host, "192.168.100.200", "addr_format_host: IPv4 without port");

    /* The longest IPv6 text fits in ADDR_TEXT_MAX. */
    addr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", &a, 0,
               err, sizeof(err));
    addr_format(&a, buf, sizeof(buf));
    ok(strlen(buf) < ADDR_TEXT_MAX && buf[0] == '[' &&
       strcmp(buf + strlen(buf) - 7, "]:65535") == 0,
       "the longest address fits in ADDR_TEXT_MAX (%s)", buf);

    struct addr none;
    memset(&none, 0, sizeof(none));
    none.sa.sa_family = AF_UNIX;
    addr_format(&none, buf, sizeof(buf));
    is_str(buf, "unix:0", "a non-IP address formats as unix");
    is_int(addr_port(&none), 0, "and has no port");
}

static int
eq(const char *x, const char *y, unsigned flags)
{
    struct addr a, b;
    char err[128];

    if (addr_parse(x, &a, flags, err, sizeof(err)) < 0 ||
        addr_parse(y, &b, flags, err, sizeof(err)) < 0)
        return -1;
    return addr_equal(&a, &b) && addr_equal(&b, &a);
}

static void
test_equal(void)
{
    is_int(eq("127.0.0.1:80", "127.0.0.1:80", 0), 1, "same IPv4 equal");
    is_int(eq("127.0.0.1:80", "127.0.0.1:81", 0), 0, "other port differs");
    is_int(eq("127.0.0.1:80", "127.0.0.2:80", 0), 0, "other IPv4 differs");
    is_int(eq("[::1]:80", "[0:0::1]:80", 0), 1, "IPv6 spellings equal");
    is_int(eq("[::1]:80", "[::1]:81", 0), 0, "IPv6 other port differs");
    is_int(eq("[::1]:80", "[::2]:80", 0), 0, "other IPv6 differs");
    is_int(eq("127.0.0.1:80", "[::ffff:127.0.0.1]:80", 0), 0,
           "IPv4 and mapped IPv6 are different families");
    is_int(eq("*:80", "0.0.0.0:80", ADDR_WILDCARD), 1, "*:80 is 0.0.0.0:80");
    is_int(eq(":80", "*:80", ADDR_WILDCARD), 1, ":80 is *:80");
    is_int(eq("localhost:8080", "127.0.0.1:8080", ADDR_HOSTNAME), 1,
           "localhost resolves to 127.0.0.1");

    /* Only the address counts, not stray bytes elsewhere in the storage. */
    struct addr a, b;
    char err[128];
    memset(&b, 0xff, sizeof(b));
    addr_parse("10.0.0.1:9", &a, 0, err, sizeof(err));
    addr_parse("10.0.0.1:9", &b, 0, err, sizeof(err));
    ok(addr_equal(&a, &b), "parse clears the whole struct");
}

int
main(void)
{
    test_parse();
    test_format();
    test_equal();
    return done_testing();
}
