# Proxy core: client keep-alive and pipelining; upstream connection reuse,
# and what happens when a server closes a pooled connection.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;

# A keep-alive server of our own. Each connection is a process that answers
# requests (no bodies) with {"conn":PID,"n":N}; $policy->($n) says what to
# do with the N-th request of a connection: 'answer', 'drop' (close without
# answering) or 'answer-close' (answer, then close shortly after, without
# saying so). Every request is appended to DIR/fake-NAME.log as "PID N".
sub fake_server {
    my ($name, $policy) = @_;
    my $log = $t->dir . "/fake-$name.log";
    return $t->fake_server(sub {
        my ($s) = @_;
        my ($buf, $n) = ('', 0);
        while (defined(my $head = read_head($s, \$buf))) {
            my ($cl) = $head =~ /\r\nContent-Length: *(\d+)/i;
            while (length($buf) < ($cl // 0)) {
                my $r = sysread($s, $buf, 1 << 20, length $buf);
                return unless $r;
            }
            substr($buf, 0, $cl // 0) = '';
            $n++;
            if (open my $f, '>>', $log) { syswrite($f, "$$ $n\n"); close $f }
            my $what = $policy->($n);
            return if $what eq 'drop';
            my $body = qq({"conn":$$,"n":$n}\n);
            syswrite($s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       . "Content-Length: " . length($body) . "\r\n\r\n$body");
            return if $what eq 'answer-close-now';
            if ($what eq 'answer-close') { select(undef, undef, undef, 0.05); return }
        }
    });
}

my $stale = fake_server('stale', sub { $_[0] == 1 ? 'answer' : 'drop' });
my $idle = fake_server('idle', sub { 'answer-close' });
my $closer = fake_server('closer', sub { 'answer-close-now' });

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "nokeep"; keepalive = 0; servers = ( { address = "127.0.0.1:%%ORIGIN:b%%"; } ); },
  { name = "short"; keepalive_timeout = "300ms"; servers = ( { address = "127.0.0.1:%%ORIGIN:c%%"; } ); },
  { name = "stale"; retries = 0; servers = ( { address = "127.0.0.1:$stale"; } ); },
  { name = "idle"; retries = 0; servers = ( { address = "127.0.0.1:$idle"; } ); },
  { name = "closer"; servers = ( { address = "127.0.0.1:$closer"; } ); }
);
routes = (
  { name = "health"; path_exact = "/health"; return = { status = 200; body = "ok\\n"; }; },
  { path_prefix = "/nokeep/"; pool = "nokeep"; },
  { path_prefix = "/short/"; pool = "short"; },
  { path_prefix = "/stale/"; pool = "stale"; },
  { path_prefix = "/idle/"; pool = "idle"; },
  { path_prefix = "/closer/"; pool = "closer"; },
  { path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

sub seen { return json_body($_[0]) || {} }

# ---- client keep-alive, upstream reuse --------------------------------------------
my $c = Cerb::Conn->new($port);
my (@n, %ports);
for my $i (1 .. 5) {
    my $r = $c->get("/ka?i=$i");
    is($r->{status}, 200, "keep-alive request $i");
    ok(!exists $r->{headers}{connection}, "keep-alive request $i: no Connection: close");
    my $j = seen($r);
    push @n, $j->{connection_requests} // 0;
    $ports{ $j->{remote_port} // 0 }++;
}
is_deeply(\@n, [1 .. 5], 'one server connection carries them all (connection_requests 1..5)');
is(scalar keys %ports, 1, 'from the same proxy port');
my ($up_port) = keys %ports;
my $c2 = Cerb::Conn->new($port);
my $j = seen($c2->get('/ka?other'));
is($j->{connection_requests}, 6, 'another client connection reuses the pooled server connection');
is($j->{remote_port}, $up_port, 'the same one');
$j = seen($c->get('/_origin/stats'));
is($j->{connections}, 1, 'the origin saw one connection in all');
is($j->{requests}, 7, 'and every request');

# The client closing does not close the server connection.
my $r = http_raw($port, "GET /ka?client-closes HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
is($r->{headers}{connection}, 'close', 'client Connection: close is answered with close');
is(seen($r)->{remote_port}, $up_port, 'over the pooled server connection');
$r = http_raw($port, "GET /ka?ten HTTP/1.0\r\nHost: a\r\n\r\n");
is($r->{headers}{connection}, 'close', 'HTTP/1.0 without keep-alive: close');
is(seen($r)->{remote_port}, $up_port, 'still the pooled server connection');
is(seen(http_get($port, '/ka?after'))->{remote_port}, $up_port, 'which stays pooled');

# HTTP/1.0 keep-alive.
$c = Cerb::Conn->new($port);
$r = $c->request("GET /ten1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
is($r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive is confirmed');
is(seen($r)->{path}, '/ten1', 'HTTP/1.0 keep-alive: first');
$r = $c->request("GET /ten2 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
is(seen($r)->{path}, '/ten2', 'HTTP/1.0 keep-alive: second on the same connection');

# ---- a server that says Connection: close -------------------------------------------
$c = Cerb::Conn->new($port);
$r = $c->get('/ka?close=1');
is($r->{status}, 200, '?close=1: answered');
ok(($r->{headers}{connection} // '') ne 'close', 'the server\'s Connection: close is not the client\'s');
$j = seen($c->get('/ka?next'));
is($j->{connection_requests}, 1, 'the next request goes on a new server connection');
isnt($j->{remote_port}, $up_port, 'from another port');
$up_port = $j->{remote_port};
is(seen($c->get('/ka?next2'))->{remote_port}, $up_port, 'which is pooled in turn');

# ---- keep-alive after bodies --------------------------------------------------------
$c = Cerb::Conn->new($port);
$r = $c->request("POST /body-cl HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
is(seen($r)->{body_sha256}, sha256_hex('hello'), 'POST with Content-Length');
$r = $c->get('/after-cl');
is(seen($r)->{path}, '/after-cl', 'the next request on the same connection is read whole');
$r = $c->request("POST /body-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
is(seen($r)->{body_sha256}, sha256_hex('hello'), 'POST with a chunked body');
ok(($r->{headers}{connection} // '') ne 'close', 'a chunked request body does not end keep-alive');
$r = $c->get('/after-chunked');
is(seen($r)->{path}, '/after-chunked', 'the next request on the same connection');
{
    my $big = 'b' x (2 * 1024 * 1024);
    local $SIG{PIPE} = 'IGNORE';
    $c->send_raw("PUT /body-big HTTP/1.1\r\nHost: a\r\nContent-Length: " . length($big) . "\r\n\r\n");
    my $off = 0;
    while ($off < length $big) { my $n = syswrite($c->sock, $big, 65536, $off) // last; $off += $n }
    $r = $c->read_response;
    is(seen($r)->{body_length}, length $big, 'a 2 MiB body');
    ok(($r->{headers}{connection} // '') ne 'close', 'a large request body does not end keep-alive');
    $r = $c->get('/after-big');
    is(seen($r)->{path}, '/after-big', 'the next request on the same connection');
}

# ---- pipelining ----------------------------------------------------------------------
$c = Cerb::Conn->new($port);
$c->send_raw(join '',
    "GET /p1 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /p3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    "GET /p4?status=404 HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /p5?chunked=1&chunk=10 HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /p6 HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\nGET /no",
    "POST /p8 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n",
    "GET /p9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
my @got;
for my $i (1 .. 9) {
    my $x = $c->read_response(timeout => 3, head => $i == 6);
    last unless $x && $x->{status};
    push @got, $x;
}
is(scalar @got, 9, 'pipelined: nine answers');
is(seen($got[0])->{path}, '/p1', 'pipelined 1: proxied');
is($got[1] && $got[1]{body}, "ok\n", 'pipelined 2: return route, in order');
is(seen($got[2])->{body_sha256}, sha256_hex('abc'), 'pipelined 3: proxied with a body');
is($got[3] && $got[3]{status}, 404, 'pipelined 4: proxied 404');
is(seen($got[4])->{path}, '/p5', 'pipelined 5: proxied chunked response');
is($got[5] && $got[5]{status}, 200, 'pipelined 6: HEAD');
is($got[6] && $got[6]{body}, "ok\n", 'pipelined 7: return route again, its body skipped');
is(seen($got[7])->{body_sha256}, sha256_hex('xy'), 'pipelined 8: chunked body');
is(seen($got[8])->{path}, '/p9', 'pipelined 9: last');
is($got[8] && $got[8]{headers}{connection}, 'close', 'pipelined 9: Connection: close');
ok($c->closed(2), 'and the connection closes after it');

# Many pipelined requests in one write, proxied and answered in order.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw(join '', map { "GET /many?n=$_ HTTP/1.1\r\nHost: a\r\n\r\n" } 1 .. 200);
    my $inorder = 0;
    for my $i (1 .. 200) {
        my $x = $c->read_response(timeout => 5);
        last unless $x && $x->{status};
        $inorder++ if (seen($x)->{query} // '') eq "n=$i";
    }
    is($inorder, 200, '200 pipelined requests in one write: 200 answers, in order');
}

# ---- pool settings ---------------------------------------------------------------------
my @nk;
push @nk, seen(http_get($port, "/nokeep/$_"))->{connection_requests} // 0 for 1 .. 3;
is_deeply(\@nk, [1, 1, 1], 'keepalive = 0: a new server connection per request');
my $s1 = seen(http_get($port, '/short/1'));
my $s2 = seen(http_get($port, '/short/2'));
is($s2->{connection_requests}, 2, 'keepalive_timeout: reused while fresh');
sleep 0.6;
my $s3 = seen(http_get($port, '/short/3'));
is($s3->{connection_requests}, 1, 'keepalive_timeout: closed once idle too long');

# ---- the server closed a pooled connection ------------------------------------------------
# The stale server answers the first request of a connection and drops the
# connection at the second: the proxy must send it again on a new
# connection, although the pool has retries = 0.
$c = Cerb::Conn->new($port);
my $a1 = $c->get('/stale/1');
is($a1->{status}, 200, 'stale: first request');
my $a2 = $c->get('/stale/2');
is($a2->{status}, 200, 'stale: the second, on a pooled connection the server drops, still works');
my $a3 = http_get($port, '/stale/3');
is($a3->{status}, 200, 'stale: and the third, from another client');
my @slog = split /\n/, slurp($t->dir . '/fake-stale.log');
cmp_ok(scalar(grep { / 1$/ } @slog), '>=', 3, 'stale: each retry went on a new connection');

# The idle server closes each connection shortly (50 ms) after answering.
is(http_get($port, '/idle/1')->{status}, 200, 'idle close: first');
sleep 0.2;
is(http_get($port, '/idle/2')->{status}, 200, 'idle close: the closed pooled connection is not used');
sleep 0.2;
$c = Cerb::Conn->new($port);
is($c->get('/idle/3')->{status}, 200, 'idle close: third');
sleep 0.2;
is($c->get('/idle/4')->{status}, 200, 'idle close: fourth, same client connection');

# The closer server closes each connection right after its answer, without
# saying so: the close may arrive before the connection is back in the
# pool. A large POST (too large to be sent again) must not be put on such a
# connection.
{
    my $ok = 0;
    for my $i (1 .. 10) {
        http_get($port, "/closer/get$i");
        sleep 0.05;
        my $r = http_request($port, 'POST', "/closer/post$i", body => 'p' x (1024 * 1024));
        $ok++ if $r && $r->{status} == 200;
    }
    is($ok, 10, 'a large POST after a response whose server then closed: never 502');
}

# A reload while a proxied request is in flight: the old worker finishes
# it (and closes), the new one serves what follows.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /inflight?delay_ms=2000 HTTP/1.1\r\nHost: a\r\n\r\n");
    sleep 0.1;
    my ($rc) = $t->ctl('reload');
    is($rc, 0, 'reload during a proxied request');
    my $x = $c->read_response(timeout => 5);
    is($x && $x->{status}, 200, 'the request in flight is answered');
    is(seen($x)->{path}, '/inflight', 'whole');
    is($x && $x->{headers}{connection}, 'close', 'with Connection: close from the draining worker');
    ok($c->closed(2), 'which then closes');
    is(http_get($port, '/after-reload')->{status}, 200, 'the new generation proxies');
}

unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
# On failure, what the daemon said.
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
