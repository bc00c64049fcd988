# Proxy core: request and response bodies stream through byte for byte,
# whatever their framing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Digest::SHA qw(sha256_hex);
use Digest::SHA ();
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;

# A server of our own for responses t/origin never sends: $respond gets
# the request head and returns the raw bytes to write; the connection is
# closed after them.
sub fake_server {
    my ($respond) = @_;
    return $t->fake_server(sub {
        my ($s) = @_;
        my $buf = '';
        my $head = read_head($s, \$buf);
        my $out = defined $head ? $respond->($head) : '';
        syswrite($s, $out) if length $out;
    });
}

my $fake = fake_server(sub {
    my ($head) = @_;
    my ($path) = $head =~ m{^\S+ (\S+)};
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" . ('x' x 100000) . "end\n"
        if $path eq '/fake/closedelim';
    return "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nold-1\n"
        if $path eq '/fake/http10';
    return "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
         . "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
        if $path eq '/fake/early-hints';
    return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
         . "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n"
        if $path eq '/fake/trailers';
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "fake"; retries = 0; servers = ( { address = "127.0.0.1:$fake"; } ); }
);
routes = (
  { name = "fake"; path_prefix = "/fake/"; pool = "fake"; },
  { name = "app"; path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $direct = $t->origin('a');

sub seen { return json_body($_[0]) || {} }

# Sends all of $data (blocking socket).
sub send_all {
    my ($c, $data, $piece) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($c->sock, $data, $piece // 262144, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# Bytes with every value, in an order that shows shifts and drops.
# (a prime period, so a lost or repeated block cannot line up again).
sub pattern {
    my ($n, $seed) = @_;
    my $blk = join '', map { chr(($_ * 131 + $seed * 7) & 255) } 0 .. 250;
    return substr($blk x (int($n / 251) + 1), 0, $n);
}

# ---- request bodies with Content-Length --------------------------------------
for my $size (1, 100, 16384, 16385, 1024 * 1024 + 7) {
    my $body = pattern($size, $size);
    my $c = Cerb::Conn->new($port);
    send_all($c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-test\r\n"
               . "Content-Length: $size\r\n\r\n$body");
    my $r = $c->read_response;
    my $j = seen($r);
    is($r->{status}, 200, "Content-Length body of $size bytes: 200");
    is($j && $j->{body_length}, $size, "$size bytes: the server got them all");
    is($j && $j->{body_sha256}, sha256_hex($body), "$size bytes: byte for byte");
}
my $r = http_raw($port, "POST /empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
is(seen($r) && seen($r)->{body_length}, 0, 'Content-Length: 0');
ok(!grep({ lc $_->[0] eq 'transfer-encoding' } @{ seen($r)->{headers} || [] }), 'no Transfer-Encoding added');

# Bodies sent in bursts of 1 MiB writes: once the client has sent its last
# byte no new event comes for its socket, and the proxy must still forward
# everything it has read or can read.
{
    my $size = 16 * 1024 * 1024;
    my $blk = pattern(1024 * 1024, 23);
    my $want = sha256_hex($blk x 16);
    my ($ok, $rounds) = (0, 20);
    for my $i (1 .. $rounds) {
        my $c = Cerb::Conn->new($port);
        my $sha = Digest::SHA->new(256);
        send_all($c, "POST /burst HTTP/1.1\r\nHost: a\r\nContent-Length: $size\r\n\r\n");
        for (1 .. 16) {
            $sha->add($blk);
            send_all($c, $blk, length $blk);
        }
        my $t0 = time;
        my $j = seen($c->read_response(timeout => 3));
        if (!$j || ($j->{body_length} // 0) != $size || $j->{body_sha256} ne $sha->hexdigest) {
            diag(sprintf "burst %d: no complete answer %.1f s after the last byte: %s", $i, time - $t0, $j ? "length $j->{body_length}" : "no JSON");
            last;
        }
        $ok++;
    }
    is($ok, $rounds, "16 MiB bodies sent in 1 MiB writes: all $rounds arrive whole, no stall");
}

# A body that trickles in.
{
    my $body = pattern(30000, 3);
    my $c = Cerb::Conn->new($port);
    $c->send_raw("PUT /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 30000\r\n\r\n");
    for my $i (0 .. 9) {
        sleep 0.03;
        $c->send_raw(substr($body, $i * 3000, 3000));
    }
    my $j = seen($c->read_response);
    is($j && $j->{body_sha256}, sha256_hex($body), 'a body sent in slow pieces arrives whole');
}

# Echoed back: the body goes up and comes down through the proxy.
{
    my $body = pattern(3 * 1024 * 1024, 5);
    my $c = Cerb::Conn->new($port);
    my $pid = fork // die;
    if ($pid == 0) {
        send_all($c, "PUT /?echo=1 HTTP/1.1\r\nHost: a\r\nContent-Length: " . length($body)
                   . "\r\n\r\n$body");
        POSIX::_exit(0);
    }
    my $r = $c->read_response(timeout => 20);
    waitpid($pid, 0);
    is($r->{status}, 200, '3 MiB echo: 200');
    is(length $r->{body}, length $body, '3 MiB echo: all bytes back');
    ok($r->{body} eq $body, '3 MiB echo: byte for byte');
}

# ---- chunked request bodies ---------------------------------------------------------
sub chunked {
    my ($body, @sizes) = @_;
    my ($out, $off, $k) = ('', 0, 0);
    while ($off < length $body) {
        my $n = $sizes[$k++ % @sizes];
        $n = length($body) - $off if $n > length($body) - $off;
        $out .= sprintf("%x", $n) . ($k % 3 == 0 ? ";ext=1" : '') . "\r\n"
              . substr($body, $off, $n) . "\r\n";
        $off += $n;
    }
    return $out;
}
for my $case ([1, [1]], [5000, [1, 7, 100, 4096]], [300000, [65536, 3]], [0, [1]]) {
    my ($size, $sizes) = @$case;
    my $body = pattern($size, 11);
    my $c = Cerb::Conn->new($port);
    send_all($c, "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               . chunked($body, @$sizes) . "0\r\n\r\n");
    my $r = $c->read_response;
    my $j = seen($r);
    is($r->{status}, 200, "chunked body of $size bytes: 200");
    is($j && $j->{body_length}, $size, "chunked $size: decoded length at the server");
    is($j && $j->{body_sha256}, sha256_hex($body), "chunked $size: byte for byte");
}
{
    my $body = pattern(2000, 13);
    my $c = Cerb::Conn->new($port);
    send_all($c, "POST /trailers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               . chunked($body, 700) . "0\r\nX-Checksum: abc\r\n\r\n");
    my $j = seen($c->read_response);
    is($j && $j->{body_sha256}, sha256_hex($body), 'chunked body with a trailer section');
}
{
    # Chunked upload echoed back chunked; the pieces dribble in.
    my $body = pattern(200000, 17);
    my $enc = chunked($body, 9000) . "0\r\n\r\n";
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /?echo=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (my $off = 0; $off < length $enc; $off += 50000) {
        send_all($c, substr($enc, $off, 50000));
        sleep 0.01;
    }
    my $r = $c->read_response(timeout => 10);
    is($r->{headers}{'transfer-encoding'}, 'chunked', 'chunked echo: chunked response');
    ok($r->{body} eq $body, 'chunked echo: byte for byte');
}

# Expect: 100-continue with a chunked body.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /exp HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r->{status}, 100, 'chunked + Expect: 100 Continue first');
    $c->send_raw("3\r\nabc\r\n0\r\n\r\n");
    my $j = seen($c->read_response);
    is($j && $j->{body_sha256}, sha256_hex('abc'), 'then the body');
}

# ---- response bodies -------------------------------------------------------------------
sub direct_sha {
    my ($q) = @_;
    my $r = http_get($direct, $q);
    return ($r->{body}, sha256_hex($r->{body}));
}
for my $size (0, 1, 65536, 5 * 1024 * 1024 + 3) {
    my ($want) = direct_sha("/?size=$size");
    is(length $want, $size, "the origin itself sends $size bytes");
    my $r = http_get($port, "/?size=$size");
    is($r->{headers}{'content-length'}, $size, "download $size: Content-Length");
    ok(!$r->{incomplete} && $r->{body} eq $want, "download $size: byte for byte");
}
my ($want1m) = direct_sha('/?size=1048576');
for my $chunk (7, 4096, 100000) {
    my $r = http_get($port, "/?size=1048576&chunked=1&chunk=$chunk");
    is($r->{headers}{'transfer-encoding'}, 'chunked', "chunked download (chunk $chunk): stays chunked");
    ok(!exists $r->{headers}{'content-length'}, "chunked download (chunk $chunk): no Content-Length");
    ok(!$r->{incomplete} && !$r->{badchunk} && $r->{body} eq $want1m,
       "chunked download (chunk $chunk): byte for byte");
}
# The chunk framing itself is passed on (raw bytes).
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /?size=10&chunked=1&chunk=4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    my $raw = '';
    1 while $c->fill(time + 3);
    $raw = $c->{buf};
    my ($b) = $raw =~ /\r\n\r\n(.*)$/s;
    like($b // '', qr/^4\r\n....\r\n4\r\n....\r\n2\r\n..\r\n0\r\n\r\n$/s,
         'chunked response: the chunks arrive as the server framed them');
}

# HTTP/1.0 clients cannot take chunks: the proxy removes them.
{
    my $r = http_raw($port, "GET /?size=1048576&chunked=1&chunk=1000 HTTP/1.0\r\nHost: a\r\n\r\n",
                     timeout => 10);
    is($r->{status}, 200, 'HTTP/1.0 client, chunked server response');
    ok(!exists $r->{headers}{'transfer-encoding'}, 'HTTP/1.0: no Transfer-Encoding');
    ok($r->{body} eq $want1m, 'HTTP/1.0: de-chunked, byte for byte');
}
{
    # With keep-alive the de-chunked body must still be delimited.
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /?size=5000&chunked=1&chunk=999 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    my ($w) = direct_sha('/?size=5000');
    ok(!$r->{timeout} && $r->{body} eq $w, 'HTTP/1.0 keep-alive, chunked server response: the whole body');
    my $delimited = defined $r->{headers}{'content-length'}
        || (($r->{headers}{connection} // '') eq 'close' && $c->closed(1));
    ok($delimited, 'HTTP/1.0 keep-alive: the body end is marked (Content-Length, or Connection: close and close)')
        or diag(explain($r->{headers}));
}

# A response with neither Content-Length nor chunked ends when the server
# closes; the client can only see that end by the close.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /fake/closedelim HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r = $c->read_response(timeout => 5);
    is($r->{status}, 200, 'close-delimited response: 200');
    is(length $r->{body}, 100004, 'close-delimited: the whole body');
    ok($r->{body} eq ("x" x 100000) . "end\n", 'close-delimited: intact');
    is($r->{headers}{connection}, 'close', 'close-delimited: Connection: close');
    ok(!exists $r->{headers}{'transfer-encoding'} && !exists $r->{headers}{'content-length'},
       'close-delimited: no framing invented');
}
{
    my $c = Cerb::Conn->new($port);
    my $r = $c->get('/fake/http10');
    is($r->{body}, "old-1\n", 'HTTP/1.0 server response with Content-Length passed on');
    $r = $c->get('/fake/http10');
    is($r->{body}, "old-1\n", 'and the client connection goes on');
}

# 1xx other than 100: passed on to HTTP/1.1 clients, not to HTTP/1.0 ones.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /fake/early-hints HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r->{status}, 103, '103 Early Hints passed on');
    is($r->{headers}{link}, '</s.css>; rel=preload', 'with its fields');
    $r = $c->read_response(timeout => 3);
    is($r->{status}, 200, 'then the final response');
    is($r->{body}, "ok\n", 'with its body');
    $r = http_raw($port, "GET /fake/early-hints HTTP/1.0\r\nHost: a\r\n\r\n");
    is($r->{status}, 200, 'HTTP/1.0 client: no 1xx, just the final response');
    is($r->{body}, "ok\n", 'HTTP/1.0 client: body');
}
# Trailers of a chunked response.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /fake/trailers HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r->{body}, 'hello world', 'chunked response with trailers: the body');
    is($c->{buf}, '', 'nothing after the trailer section');
    is($c->get('/fake/http10')->{body}, "old-1\n", 'and the client connection goes on in step');
    $r = http_raw($port, "GET /fake/trailers HTTP/1.0\r\nHost: a\r\n\r\n");
    is($r->{body}, 'hello world', 'HTTP/1.0 client: de-chunked, trailers dropped');
}

unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
# On failure, what the daemon said.
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
