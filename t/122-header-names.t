# Issue 12, points 13 and 14: header names and targets that pass through
# but should not.
#  - a name that is Content-Length, Transfer-Encoding or Host once '_' is
#    read as '-' is refused (400): a backend mapping '_' to '-' would frame
#    the body differently;
#  - underscores_in_headers = false drops every name with '_' before any
#    route or policy sees it (nginx's switch);
#  - chunked trailers naming the framing or Host are cut, both ways;
#  - an absolute-form authority that is not host[:port] is 400;
#  - CONNECT is 405 unless a route's methods name it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;

# A server answering with trailers that name the framing.
my $fake = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    while (defined(my $head = read_head($s, \$buf))) {
        syswrite($s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   . "4\r\nbody\r\n0\r\nContent-Length: 99\r\nX-T: 1\r\n"
                   . "transfer_encoding: chunked\r\nHOST: evil\r\nX-U: 2\r\n\r\n");
    }
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "strict"; address = "127.0.0.1:%%PORT:strict%%"; underscores_in_headers = false; }
);
pools = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:s%%"; } ); },
  { name = "fake"; servers = ( { address = "127.0.0.1:$fake"; } ); }
);
routes = (
  { name = "tunnel"; host = "tunnel.example"; methods = [ "CONNECT" ]; pool = "app"; },
  { name = "admin"; path_prefix = "/"; headers = { X_Admin = "yes"; }; return = { status = 299; body = "admin\\n"; }; },
  { name = "fake"; path_prefix = "/resp/"; pool = "fake"; },
  { name = "app"; path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $strict = $t->port('strict');
my $log = $t->dir . '/origin-s.requests';

sub hdrs { Cerb::origin_headers($_[0]) }

sub refused {
    my ($p, $raw, $want, $name) = @_;
    my $c = Cerb::Conn->new($p);
    $c->send_raw($raw);
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, $want, "$name: $want");
    is($r && $r->{headers}{connection}, 'close', "$name: Connection: close");
    ok($c->closed(3), "$name: closed");
}

# ---- '_' twins of the framing headers: 400 -------------------------------
my $smug = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
my $i = 0;
for my $case (
    [ 'Transfer_Encoding next to Content-Length', "Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" ],
    [ 'transfer_encoding alone', "transfer_encoding: chunked\r\n\r\n0\r\n\r\n" ],
    [ 'TRANSFER_ENCODING', "TRANSFER_ENCODING: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" ],
    [ 'Transfer_encoding after Content-Length', "Content-Length: 5\r\nTransfer_encoding: chunked\r\n\r\n0\r\n\r\n" ],
    [ 'Content_Length', "Content_Length: 37\r\n\r\n" ],
    [ 'content_length twice', "content_length: 37\r\ncontent_length: 37\r\n\r\n" ],
    [ 'Content_Length next to Content-Length', "Content-Length: 0\r\nContent_Length: 37\r\n\r\n" ],
    [ 'Content_Length listed in Connection', "Connection: Content_Length\r\nContent_Length: 37\r\n\r\n" ],
) {
    my ($name, $rest) = @$case;
    $i++;
    for my $p ([ 'web', $port ], [ 'strict', $strict ]) {
        refused($p->[1], "POST /twin-$i HTTP/1.1\r\nHost: a\r\n$rest$smug", 400, "$name ($p->[0])");
    }
}
refused($port, "GET /twin-host HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n", 400, 'Host and HOST');
refused($port, "GET /twin-host HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n", 400, 'host twice');
# Other names with '_' are headers like others (by default).
{
    my $r = http_raw($port, "GET /under HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nX-Custom: 2\r\n"
                          . "X_Content_Length: 3\r\nConnection: close\r\n\r\n");
    is($r && $r->{status}, 200, 'other names with _: forwarded by default');
    is_deeply(hdrs($r)->{x_custom}, [ '1' ], 'X_Custom reaches the origin');
    is_deeply(hdrs($r)->{'x-custom'}, [ '2' ], 'and X-Custom');
    my $a = http_raw($port, "GET /x HTTP/1.1\r\nHost: a\r\nX_Admin: yes\r\nConnection: close\r\n\r\n");
    is($a && $a->{status}, 299, 'and a route may match on one');
}

# ---- underscores_in_headers = false ---------------------------------------
{
    my $r = http_raw($strict, "GET /under HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nX-Custom: 2\r\n"
                            . "x_forwarded_for: 6.6.6.6\r\nConnection: close\r\n\r\n");
    is($r && $r->{status}, 200, 'underscores_in_headers = false: 200');
    my $h = hdrs($r);
    ok(!exists $h->{x_custom}, 'X_Custom is dropped');
    ok(!exists $h->{x_forwarded_for}, 'x_forwarded_for is dropped');
    is_deeply($h->{'x-custom'}, [ '2' ], 'X-Custom still goes');
    is_deeply($h->{'x-forwarded-for'}, [ '127.0.0.1' ], 'X-Forwarded-For is the proxy\'s');
    my $a = http_raw($strict, "GET /x HTTP/1.1\r\nHost: a\r\nX_Admin: yes\r\nConnection: close\r\n\r\n");
    is($a && $a->{status}, 200, 'a route matching on a name with _ no longer sees it');
}

# ---- trailers naming the framing are cut ------------------------------------
my $trailers = "Content-Length: 5\r\nX-Ok: 1\r\ncontent_length: 9\r\nHOST: evil.example\r\n"
             . "Transfer_Encoding: chunked\r\ntransfer-encoding: gzip\r\nHost_: kept\r\nX-Ok2: 2\r\n";
{
    my $r = http_raw($port, "POST /trailers-1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                          . "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n$trailers\r\n");
    my $j = json_body($r);
    is($j && $j->{body_sha256}, sha256_hex('abc'), 'chunked with framing trailers: the body');
    is_deeply($j && [ map { $_->[0] } @{ $j->{trailers} } ], [ 'X-Ok', 'Host_', 'X-Ok2' ],
              'the origin gets only the other trailers');
}
{
    # The same a byte at a time: a name is judged across reads.
    my $c = Cerb::Conn->new($port);
    setsockopt($c->sock, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);
    $c->send_raw("POST /trailers-2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n");
    for my $b (split //, "$trailers\r\n") {
        $c->send_raw($b);
        sleep 0.002;
    }
    $c->send_raw("GET /after-trailers HTTP/1.1\r\nHost: a\r\n\r\n");
    my $j = json_body($c->read_response(timeout => 5));
    is_deeply($j && [ map { $_->[0] } @{ $j->{trailers} } ], [ 'X-Ok', 'Host_', 'X-Ok2' ],
              'a byte at a time: the same trailers reach the origin');
    my $j2 = json_body($c->read_response(timeout => 5));
    is($j2 && $j2->{path}, '/after-trailers', 'and the next request follows');
}
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /resp/t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    1 while $c->fill(time + 3);
    my $raw = $c->{buf};
    like($raw, qr/\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n\z/, 'response trailers: framing names cut, others kept')
        or diag($raw);
}

# ---- absolute-form authority -------------------------------------------------
$i = 0;
for my $case ([ 'a quote', 'http://a"b' ], [ 'braces', 'http://a{b}' ], [ 'obs-text', "http://a\xffb" ],
              [ 'no host', 'http://:80' ], [ 'a port with a letter', 'http://a:8o' ],
              [ 'userinfo', 'http://u@a' ], [ 'backslash', 'http://a\\b' ], [ 'unclosed [', 'http://[::1' ]) {
    my ($name, $auth) = @$case;
    $i++;
    refused($port, "GET $auth/auth-$i HTTP/1.0\r\n\r\n", 400, "HTTP/1.0 absolute-form with $name");
}
{
    my $r = http_raw($port, "GET http://good.example:8080/auth-ok HTTP/1.0\r\n\r\n");
    is($r && $r->{status}, 200, 'HTTP/1.0 absolute-form with host:port: 200');
    is_deeply(hdrs($r)->{host}, [ 'good.example:8080' ], 'its authority is the Host');
}

# ---- CONNECT ---------------------------------------------------------------
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, 405, 'CONNECT without a route naming it: 405');
    like($r && $r->{headers}{allow} // '', qr/^GET, HEAD, /, 'with Allow');
    unlike($r && $r->{headers}{allow} // '', qr/CONNECT/, 'which does not offer CONNECT');
    my $r2 = $c->request("GET /after-connect HTTP/1.1\r\nHost: a\r\n\r\n");
    is(json_body($r2) && json_body($r2)->{path}, '/after-connect', 'the connection goes on');
    my $r3 = http_raw($port, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nX_Admin: yes\r\n\r\n");
    is($r3 && $r3->{status}, 405, 'even where a route without methods would match');
}
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\nConnection: close\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    isnt($r && $r->{status}, 405, 'CONNECT where a route names it: not refused');
}

# ---- the origin never saw a refused one --------------------------------------
http_get($port, '/sentinel');
ok(wait_for(sub { slurp($log) =~ m{^GET /sentinel$}m }, 5), 'the origin logs requests');
my @lines = split /\n/, slurp($log);
is_deeply([ grep { m{twin-|smuggled|auth-\d|other\.example} } @lines ], [], 'the origin got none of the refused requests')
    or diag(join "\n", @lines);
ok((grep { $_ eq 'CONNECT tunnel.example:443' } @lines), 'it got the CONNECT a route allows');

diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
