# Gateway access control: allow/deny CIDR lists (IPv4 and IPv6, a route's
# lists replacing its listener's) and deny rules on the path, the query
# and header values, each refusal a 403 naming the policy "access"; the
# config errors by file:line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::IP;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF2");
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%";
    deny = [ "127.0.0.3" ]; },
  { name = "v6"; address = "[::1]:%%PORT:v6%%"; }
);
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/only2/"; pool = "a"; allow = [ "127.0.0.2/32" ]; deny = [ "all" ]; },
  { path_prefix = "/not2/"; pool = "a"; deny = [ "127.0.0.2" ]; },
  { path_prefix = "/v6/"; pool = "a"; allow = [ "::1/128" ]; deny = [ "0.0.0.0/0", "::/0" ]; },
  { path_prefix = "/v6no/"; pool = "a"; deny = [ "::/0" ]; },
  { path_prefix = "/waf/"; pool = "a";
    deny_rules = (
      { name = "secret"; path = "^/waf/secret"; },
      { name = "sqli"; query = "(?i)union(\\\\s|\\\\+|%20)+select"; },
      { name = "bad-bot"; header = "User-Agent"; value = "(?i)evilbot"; },
      { name = "both"; path = "^/waf/admin"; header = "X-Role"; value = "^guest\$"; }
    ); },
  { path_prefix = "/"; pool = "a"; }
);
EOF2
ok($t->start, 'cerberus starts with allow, deny and deny rules');
my $P = $t->port('web');
my $P6 = $t->port('v6');

# One GET from a chosen local address.
sub get_from {
    my ($from, $port, $path, %h) = @_;
    my $v6 = $from =~ /:/;
    my $s = IO::Socket::IP->new(LocalHost => $from, PeerHost => $v6 ? '::1' : '127.0.0.1',
                                PeerPort => $port, Timeout => 5) or return undef;
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    print $s "$req\r\n";
    local $/;
    my $raw = <$s> // '';
    my ($st) = $raw =~ m{^HTTP/1\.1 (\d{3})};
    my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
    return { status => $st // 0, body => $body // '' };
}

is(get_from('127.0.0.1', $P, '/x')->{status}, 200, 'a client in no list passes');
my $r = get_from('127.0.0.3', $P, '/x');
is($r->{status}, 403, "the listener's deny refuses 127.0.0.3");
is($r->{body}, qq({"error":"forbidden","policy":"access"}\n), '  with the JSON error naming the policy');
is(get_from('127.0.0.3', $P, '/not2/')->{status}, 200,
   "a route's lists replace the listener's (127.0.0.3 passes on /not2/)");
is(get_from('127.0.0.2', $P, '/not2/')->{status}, 403, '  and its own deny refuses 127.0.0.2');
is(get_from('127.0.0.2', $P, '/only2/')->{status}, 200, 'allow then deny "all": the allowed address passes');
is(get_from('127.0.0.1', $P, '/only2/')->{status}, 403, '  every other address is refused');
is(get_from('127.0.0.3', $P, '/only2/')->{status}, 403, '  (127.0.0.3 too)');
is(get_from('::1', $P6, '/v6/')->{status}, 200, 'IPv6: ::1 allowed by ::1/128');
is(get_from('127.0.0.1', $P, '/v6/')->{status}, 403, '  an IPv4 client refused by 0.0.0.0/0');
is(get_from('::1', $P6, '/v6no/')->{status}, 403, 'IPv6: ::/0 denies ::1');
is(get_from('127.0.0.1', $P, '/v6no/')->{status}, 200, '  but not an IPv4 client');

# deny rules
is(get_from('127.0.0.1', $P, '/waf/ok?q=1', 'User-Agent' => 'curl')->{status}, 200,
   'a request no deny rule matches passes');
is(get_from('127.0.0.1', $P, '/waf/secret/x')->{status}, 403, 'path rule refuses');
is(get_from('127.0.0.1', $P, '/waf/%73ecret/x')->{status}, 403,
   '  on the normalised path: percent-encoding does not hide it');
is(get_from('127.0.0.1', $P, '/waf/x/../secret/x')->{status}, 403, '  nor dot-segments');
is(get_from('127.0.0.1', $P, '/waf/x?id=1%20UNION%20SELECT%20pw')->{status}, 403,
   'query rule: union select refused');
is(get_from('127.0.0.1', $P, '/waf/x?id=1+union+select+pw')->{status}, 403, '  in any case and spacing');
is(get_from('127.0.0.1', $P, '/waf/x?id=1+union/**/sel')->{status}, 200, 'query rule: no match passes');
is(get_from('127.0.0.1', $P, '/waf/x', 'User-Agent' => 'Mozilla EvilBot/2')->{status}, 403,
   'header rule: the User-Agent pattern refuses');
is(get_from('127.0.0.1', $P, '/waf/admin/x', 'X-Role' => 'guest')->{status}, 403,
   'a rule with path and header patterns refuses when both match');
is(get_from('127.0.0.1', $P, '/waf/admin/x', 'X-Role' => 'admin')->{status}, 200,
   '  not when only the path matches');
is(get_from('127.0.0.1', $P, '/waf/other', 'X-Role' => 'guest')->{status}, 200,
   '  nor when only the header matches');
is(get_from('127.0.0.1', $P, '/waf/admin/x')->{status}, 200, '  nor without the header');

my $log = Cerb::slurp($t->error_log);
like($log, qr/route "[^"]*": 403 by access: deny rule "bad-bot"/, 'the error log names the deny rule');
like($log, qr/403 by access: client address 127\.0\.0\.3 denied/, '  and the denied address');

# config errors, by file:line
my $f = $t->write_file('bad.conf', <<"EOF2");
%%PREAMBLE%%
listeners = ( { name = "web"; address = "127.0.0.1:1";
    allow = [ "10.0.0.0/33", "::1" ]; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/"; pool = "a"; deny = [ "example.com" ];
    deny_rules = ( { name = "x"; path = "("; }, { name = "empty"; },
                   { name = "h"; header = "X-A"; } ); }
);
EOF2
my ($rc, $out, $err) = Cerb::run_cmd(Cerb::cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'bad CIDRs and deny rules fail check');
like($err, qr/\Q$f\E:\d+: listeners\[0\]: allow\[0\]: "10\.0\.0\.0\/33": the prefix length must be 0 to 32/,
     'a bad prefix length, by file:line');
like($err, qr/\Q$f\E:\d+: routes\[0\]: deny\[0\]: "example\.com" is not an IPv4 or IPv6 address/,
     'a name instead of an address');
like($err, qr/routes\[0\]: deny_rules\[0\]\.path: invalid regular expression at offset 1: missing closing parenthesis/,
     'a bad pattern');
like($err, qr/routes\[0\]: deny rule "empty" needs a path, query or header pattern/, 'a rule with no pattern');
like($err, qr/routes\[0\]: deny rule "h": header and value go together/, 'a header without a value pattern');

$t->done;
