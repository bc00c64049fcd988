# Proxy core: request smuggling. Every request whose framing is ambiguous
# or broken is refused with Connection: close, the connection is closed,
# and nothing of it reaches the server (the origin's request log proves it).
# A request hidden after a correctly framed body is only ever a separate,
# pipelined request that the proxy framed itself.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; max_header_size = "8k"; } );
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:s%%"; } ); } );
routes = ( { name = "app"; path_prefix = "/"; pool = "app"; } );
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $direct = $t->origin('s');
my $log = $t->dir . '/origin-s.requests';

sub origin_requests {
    my $r = http_get($direct, '/_origin/stats');
    my $j = eval { decode_json($r->{body}) } or return -1;
    return $j->{requests};
}

my $smug = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
my @head_cases = (
    # name, raw request, status
    [ 'CL + TE', "POST /bad-1 HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE + CL', "POST /bad-2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'two different Content-Length', "POST /bad-3 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n$smug", 400 ],
    [ 'Content-Length list that differs', "POST /bad-4 HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 37\r\n\r\n$smug", 400 ],
    [ 'Content-Length +N', "POST /bad-5 HTTP/1.1\r\nHost: a\r\nContent-Length: +37\r\n\r\n$smug", 400 ],
    [ 'Content-Length 0x', "POST /bad-6 HTTP/1.1\r\nHost: a\r\nContent-Length: 0x25\r\n\r\n$smug", 400 ],
    [ 'Content-Length with inner space', "POST /bad-7 HTTP/1.1\r\nHost: a\r\nContent-Length: 3 7\r\n\r\n$smug", 400 ],
    [ 'Content-Length negative', "POST /bad-8 HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n$smug", 400 ],
    [ 'TE xchunked', "POST /bad-9 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE chunked, identity', "POST /bad-10 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE chunked twice', "POST /bad-11 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE chunked, chunked', "POST /bad-12 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE identity', "POST /bad-13 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n$smug", 400 ],
    [ 'TE in HTTP/1.0', "POST /bad-14 HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE with a vertical tab', "POST /bad-15 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'TE empty', "POST /bad-16 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 37\r\n\r\n$smug", 400 ],
    [ 'TE gzip, chunked', "POST /bad-17 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n$smug", 501 ],
    [ 'obs-fold', "POST /bad-18 HTTP/1.1\r\nHost: a\r\nX-A: x\r\n Transfer-Encoding: chunked\r\nContent-Length: 37\r\n\r\n$smug", 400 ],
    [ 'obs-fold of TE', "POST /bad-19 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\tchunked\r\n\r\n0\r\n\r\n$smug", 400 ],
    [ 'space before colon', "POST /bad-20 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 37\r\n\r\n$smug", 400 ],
    [ 'tab before colon', "POST /bad-21 HTTP/1.1\r\nHost: a\r\nContent-Length\t: 37\r\n\r\n$smug", 400 ],
    [ 'space inside a name', "POST /bad-22 HTTP/1.1\r\nHost: a\r\nTransfer Encoding: chunked\r\n\r\n$smug", 400 ],
    [ 'NUL in a value', "GET /bad-23 HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n$smug", 400 ],
    [ 'CR in a value', "GET /bad-24 HTTP/1.1\r\nHost: a\r\nX-A: a\rTransfer-Encoding: chunked\r\n\r\n$smug", 400 ],
    [ 'bare LF line ends', "GET /bad-25 HTTP/1.1\nHost: a\nContent-Length: 37\n\n$smug", 400 ],
    [ 'bare LF in a header', "GET /bad-26 HTTP/1.1\r\nHost: a\r\nX-A: b\nContent-Length: 37\r\n\r\n$smug", 400 ],
    [ 'missing Host in HTTP/1.1', "GET /bad-27 HTTP/1.1\r\nX-A: b\r\n\r\n$smug", 400 ],
    [ 'two Host', "GET /bad-28 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n$smug", 400 ],
    [ 'invalid Host', "GET /bad-29 HTTP/1.1\r\nHost: a b\r\n\r\n$smug", 400 ],
    [ 'absolute-form authority differs from Host', "GET http://evil.example/bad-30 HTTP/1.1\r\nHost: good.example\r\n\r\n$smug", 400 ],
    [ 'HTTP/2.0', "GET /bad-31 HTTP/2.0\r\nHost: a\r\n\r\n$smug", 505 ],
    [ 'HTTP/1.1 with junk after', "GET /bad-32 HTTP/1.1 x\r\nHost: a\r\n\r\n$smug", 400 ],
    [ 'two spaces in the request line', "GET  /bad-33 HTTP/1.1\r\nHost: a\r\n\r\n$smug", 400 ],
    [ 'lower-case version', "GET /bad-34 http/1.1\r\nHost: a\r\n\r\n$smug", 400 ],
    [ 'request line too long', "GET /bad-35" . ('a' x 9000) . " HTTP/1.1\r\nHost: a\r\n\r\n$smug", 414 ],
    [ 'head too large', "GET /bad-36 HTTP/1.1\r\nHost: a\r\nX-Big: " . ('b' x 9000) . "\r\n\r\n$smug", 431 ],
);
my @body_cases = (
    [ 'invalid chunk size', "POST /bad-40 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n$smug", 400 ],
    [ 'chunk size overflow', "POST /bad-41 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n$smug\r\n0\r\n\r\n", 400 ],
    [ 'chunk size overflow to a small value', "POST /bad-42 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000025\r\n$smug\r\n0\r\n\r\n", 400 ],
    [ 'chunk data longer than its size', "POST /bad-43 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab${smug}0\r\n\r\n", 400 ],
    [ 'chunk data shorter than its size', "POST /bad-44 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab\r\n0\r\n\r\n$smug", 400 ],
    [ 'bare LF after a chunk size', "POST /bad-45 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n$smug", 400 ],
    [ 'negative chunk size', "POST /bad-46 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n$smug", 400 ],
    [ 'space before a chunk size', "POST /bad-47 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 2\r\nab\r\n0\r\n\r\n$smug", 400 ],
    [ '0x chunk size', "POST /bad-48 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n$smug", 400 ],
    [ 'bare LF in a chunk extension', "POST /bad-49 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a\nab\r\n0\r\n\r\n$smug", 400 ],
    [ 'last chunk without the final CRLF', "POST /bad-50 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n$smug", 400 ],
);

for my $case (@head_cases, @body_cases) {
    my ($name, $raw, $want) = @$case;
    my $is_head = grep { $_ == $case } @head_cases;
    my $before = $is_head ? origin_requests() : 0;
    my $c = Cerb::Conn->new($port);
    $c->send_raw($raw);
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, $want, "$name: $want");
    is($r && $r->{headers}{connection}, 'close', "$name: Connection: close");
    ok($c->closed(3), "$name: connection closed");
    is(origin_requests(), $before + 1, "$name: not a byte of the head went to the server")
        if $is_head;
}

# ---- framed right: what follows a body is the next request ---------------------
sub seen { return json_body($_[0]) }
sub hv1 {
    my ($j, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $j->{headers} || [] };
    return $v[0];
}

# A chunked body, then a pipelined request.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /first-1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               . "5\r\nhello\r\n0\r\n\r\nGET /smuggled-ok-1 HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r1 = $c->read_response(timeout => 3);
    my $j1 = seen($r1);
    is($j1 && $j1->{path}, '/first-1', 'chunked then pipelined: the first request');
    is($j1 && $j1->{body_sha256}, sha256_hex('hello'), 'its body ends where chunked framing says');
    my $r2 = $c->read_response(timeout => 3);
    my $j2 = seen($r2);
    is($j2 && $j2->{path}, '/smuggled-ok-1', 'the second request is answered on its own');
    is($j2 && hv1($j2, 'X-Forwarded-For'), '127.0.0.1', 'the proxy framed it (X-Forwarded-For)');
    like($j2 && hv1($j2, 'X-Request-ID') // '', qr/^[0-9a-f]{32}$/, 'and gave it its own X-Request-ID');
    isnt($r2 && $r2->{headers}{'x-request-id'}, $r1->{headers}{'x-request-id'}, 'a different one');
    is($j2 && $j2->{body_length}, 0, 'the second has no body');
}
# A Content-Length body, then a pipelined request.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /first-2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
               . "helloGET /smuggled-ok-2 HTTP/1.1\r\nHost: a\r\n\r\n");
    my $j1 = seen($c->read_response(timeout => 3));
    is($j1 && $j1->{body_sha256}, sha256_hex('hello'), 'Content-Length then pipelined: the first body');
    my $j2 = seen($c->read_response(timeout => 3));
    is($j2 && $j2->{path}, '/smuggled-ok-2', 'the second request is answered on its own');
    is($j2 && hv1($j2, 'X-Forwarded-For'), '127.0.0.1', 'framed by the proxy');
}
# Trailers, then a pipelined request.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /first-3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               . "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\nGET /smuggled-ok-3 HTTP/1.1\r\nHost: a\r\n\r\n");
    my $j1 = seen($c->read_response(timeout => 3));
    is($j1 && $j1->{body_sha256}, sha256_hex('abc'), 'trailers then pipelined: the first body');
    my $j2 = seen($c->read_response(timeout => 3));
    is($j2 && $j2->{path}, '/smuggled-ok-3', 'the second request after the trailer section');
}
# What looks like an end and a request inside chunk data is data.
{
    my $inner = "0\r\n\r\nGET /inside-1 HTTP/1.1\r\nHost: a\r\n\r\n";
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /first-4 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               . sprintf("%x", length $inner) . "\r\n$inner\r\n0\r\n\r\n");
    my $j = seen($c->read_response(timeout => 3));
    is($j && $j->{body_sha256}, sha256_hex($inner), 'a request inside chunk data stays data');
    $c->fill(time + 0.3);
    is($c->{buf}, '', 'nothing else is answered');
}
# Same inside a Content-Length body.
{
    my $inner = "GET /inside-2 HTTP/1.1\r\nHost: a\r\n\r\n";
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /first-5 HTTP/1.1\r\nHost: a\r\nContent-Length: " . length($inner) . "\r\n\r\n$inner");
    my $j = seen($c->read_response(timeout => 3));
    is($j && $j->{body_sha256}, sha256_hex($inner), 'a request inside a Content-Length body stays data');
    $c->fill(time + 0.3);
    is($c->{buf}, '', 'nothing else is answered');
}

# ---- the server's log: nothing smuggled, nothing refused ------------------------
http_get($port, '/sentinel');
ok(wait_for(sub { slurp($log) =~ m{^GET /sentinel$}m }, 5), 'the origin logs requests');
sleep 0.2;
my @lines = split /\n/, slurp($log);
my @bad = grep { m{/bad-|/smuggled |/smuggled$|/inside-} } @lines;
is_deeply(\@bad, [], 'the server never got a refused or smuggled request') or diag(join "\n", @lines);
my @ok = grep { m{/first-|/smuggled-ok-} } @lines;
is_deeply(\@ok, [ 'POST /first-1', 'GET /smuggled-ok-1', 'POST /first-2', 'GET /smuggled-ok-2',
                  'POST /first-3', 'GET /smuggled-ok-3', 'POST /first-4', 'POST /first-5' ],
          'and got the well-framed ones, each once, in order');

unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
# On failure, what the daemon said.
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
