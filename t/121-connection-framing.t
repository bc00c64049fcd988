# Issue 12, points 1 and 14 (Content-Length): a name listed in Connection
# never removes a framing or routing header. cerberus writes the framing
# itself from the parsed length (Content-Length in canonical decimal,
# Transfer-Encoding: chunked), on requests and on responses, so a body
# never turns into a second request the proxy did not route, and a
# response never reaches the client unframed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;

# A server for the response side: each answer lists Content-Length (or
# Transfer-Encoding) in Connection; it serves pipelined requests on one
# connection.
my $fake = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    while (defined(my $head = read_head($s, \$buf))) {
        my ($path) = $head =~ m{^\S+ (\S+)};
        my $out;
        if ($path =~ m{^/resp/cl}) {
            $out = "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\n"
                 . "Content-Length: 6\r\n\r\nfirst\n";
        } elsif ($path =~ m{^/resp/mixed}) {
            $out = "HTTP/1.1 200 OK\r\nConnection: keep-alive, CONTENT-length, x-a\r\n"
                 . "X-A: 1\r\nContent-Length: 0006\r\n\r\nmixed\n";
        } elsif ($path =~ m{^/resp/te}) {
            $out = "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\n"
                 . "Transfer-Encoding: chunked\r\n\r\n6\r\nchunk\n\r\n0\r\n\r\n";
        } elsif ($path =~ m{^/resp/head}) {
            $out = "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\n"
                 . "Content-Length: 1234\r\n\r\n";
        } else {
            $out = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsecond\n";
        }
        syswrite($s, $out);
    }
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app"; keepalive = 4; servers = ( { address = "127.0.0.1:%%ORIGIN:s%%"; } ); },
  { name = "fake"; servers = ( { address = "127.0.0.1:$fake"; } ); }
);
routes = (
  { name = "fake"; path_prefix = "/resp/"; pool = "fake"; },
  { name = "app"; path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $log = $t->dir . '/origin-s.requests';

sub hvals {
    my ($r, $name) = @_;
    return Cerb::origin_headers($r)->{lc $name} // [];
}

# ---- request side: Content-Length listed in Connection -------------------
my $smug = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
my @cl_cases = (
    [ 'Connection: Content-Length', "Connection: Content-Length\r\n" ],
    [ 'lower case', "Connection: content-length\r\n" ],
    [ 'upper case after keep-alive', "Connection: keep-alive, CONTENT-LENGTH\r\n" ],
    [ 'second Connection line', "Connection: x-foo\r\nConnection: Content-Length\r\n" ],
    [ 'several tokens', "Connection: Content-Length,Host , Transfer-Encoding\r\n" ],
    [ 'with its own twin spelled out', "Connection: Content-length, content-LENGTH\r\n" ],
);
my $n = 0;
for my $case (@cl_cases) {
    my ($name, $conn) = @$case;
    $n++;
    my $a = Cerb::Conn->new($port);
    $a->send_raw("POST /a-$n HTTP/1.1\r\nHost: a\r\n$conn"
               . "Content-Length: " . length($smug) . "\r\n\r\n$smug");
    my $ra = $a->read_response(timeout => 3);
    my $j = json_body($ra);
    is($j && $j->{path}, "/a-$n", "$name: the request is answered");
    is($j && $j->{body_sha256}, sha256_hex($smug), "$name: the origin read the whole body as its body");
    is_deeply(hvals($ra, 'content-length'), [ length $smug ], "$name: the origin got Content-Length");
    # Another client, on the pooled upstream connection.
    my $rb = http_get($port, "/b-$n");
    is(json_body($rb) && json_body($rb)->{path}, "/b-$n", "$name: the next client gets its own response");
    $a->close;
}

# ---- Host listed in Connection -------------------------------------------
for my $case ([ 'Connection: host', "Connection: host\r\n" ],
              [ 'Connection: HOST, keep-alive', "Connection: HOST, keep-alive\r\n" ],
              [ 'Connection: Host on a second line', "Connection: close\r\nConnection: Host\r\n" ]) {
    my ($name, $conn) = @$case;
    my $r = http_raw($port, "GET /host HTTP/1.1\r\nHost: h1.example\r\n$conn\r\n");
    is($r && $r->{status}, 200, "$name: 200");
    is_deeply(hvals($r, 'host'), [ 'h1.example' ], "$name: the origin got the client's Host, once");
}

# ---- Transfer-Encoding listed in Connection ------------------------------
for my $case ([ 'Connection: Transfer-Encoding', "Connection: Transfer-Encoding\r\n" ],
              [ 'Connection: transfer-encoding, CLOSE', "Connection: transfer-encoding, CLOSE\r\n" ]) {
    my ($name, $conn) = @$case;
    my $inner = "0\r\n\r\n$smug";
    my $body = sprintf("%x", length $inner) . "\r\n$inner\r\n0\r\n\r\n";
    my $r = http_raw($port, "POST /te HTTP/1.1\r\nHost: a\r\n$conn"
                          . "Transfer-Encoding: chunked\r\n\r\n$body");
    my $j = json_body($r);
    is($j && $j->{body_sha256}, sha256_hex($inner), "$name: the chunked body arrives whole");
    is_deeply(hvals($r, 'transfer-encoding'), [ 'chunked' ], "$name: the origin got Transfer-Encoding: chunked");
}

# ---- Content-Length forwarded in canonical decimal (point 14) ---------------
for my $case ([ '0003', "Content-Length: 0003\r\n" ],
              [ '000...3', "Content-Length: 0000000000000000000000003\r\n" ],
              [ '3, 3', "Content-Length: 3, 3\r\n" ],
              [ 'two lines of 3', "Content-Length: 3\r\nContent-Length: 3\r\n" ],
              [ '3 after a tab', "Content-Length:\t3 \r\n" ]) {
    my ($name, $cl) = @$case;
    my $r = http_raw($port, "POST /len HTTP/1.1\r\nHost: a\r\n${cl}Connection: close\r\n\r\nabc");
    is_deeply(hvals($r, 'content-length'), [ '3' ], "Content-Length $name: forwarded as 3");
    is(json_body($r) && json_body($r)->{body_length}, 3, "Content-Length $name: a body of 3");
}

# ---- the origin's log: nothing smuggled -----------------------------------
http_get($port, '/sentinel');
ok(wait_for(sub { slurp($log) =~ m{^GET /sentinel$}m }, 5), 'the origin logs requests');
my @lines = split /\n/, slurp($log);
is_deeply([ grep { m{smuggled} } @lines ], [], 'the origin never got a smuggled request')
    or diag(join "\n", @lines);
is(scalar(grep { m{^POST /a-\d+$} } @lines), scalar @cl_cases, 'each request reached it once');

# ---- response side --------------------------------------------------------
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /resp/cl HTTP/1.1\r\nHost: a\r\n\r\nGET /resp/next HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r1 = $c->read_response(timeout => 3);
    is($r1 && $r1->{headers}{'content-length'}, '6', 'response listing Content-Length in Connection: the client gets Content-Length');
    is($r1 && $r1->{body}, "first\n", 'and exactly its body');
    my $r2 = $c->read_response(timeout => 3);
    is($r2 && $r2->{status}, 200, 'the next pipelined response follows');
    is($r2 && $r2->{body}, "second\n", 'intact');
}
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /resp/mixed HTTP/1.1\r\nHost: a\r\n\r\nGET /resp/next HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r1 = $c->read_response(timeout => 3);
    is($r1 && $r1->{headers}{'content-length'}, '6', 'mixed case, several tokens, 0006: Content-Length: 6');
    ok($r1 && !exists $r1->{headers}{'x-a'}, 'a listed ordinary header is still removed');
    is($r1 && $r1->{body}, "mixed\n", 'the body');
    my $r2 = $c->read_response(timeout => 3);
    is($r2 && $r2->{body}, "second\n", 'the next pipelined response is intact');
}
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /resp/te HTTP/1.1\r\nHost: a\r\n\r\nGET /resp/next HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r1 = $c->read_response(timeout => 3);
    is($r1 && $r1->{headers}{'transfer-encoding'}, 'chunked', 'response listing Transfer-Encoding: still chunked');
    is($r1 && $r1->{body}, "chunk\n", 'the body');
    my $r2 = $c->read_response(timeout => 3);
    is($r2 && $r2->{body}, "second\n", 'the next pipelined response is intact');
}
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("HEAD /resp/head HTTP/1.1\r\nHost: a\r\n\r\nGET /resp/next HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r1 = $c->read_response(timeout => 3, head => 1);
    is($r1 && $r1->{headers}{'content-length'}, '1234', 'HEAD: the length it describes is kept');
    my $r2 = $c->read_response(timeout => 3);
    is($r2 && $r2->{body}, "second\n", 'and no body follows it');
}

diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
