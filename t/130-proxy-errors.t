# Proxy core: what the client gets when servers are down, slow, broken or
# drop the connection; retries and failover; clients that go away (also
# with the worker frozen by SIGSTOP, so that events pile up into one batch
# of its event loop); max_body_size.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;

# A server of our own: $respond gets the request head and returns the raw
# bytes to write ('' to close without answering); every request is
# appended to DIR/fake-NAME.log.
sub fake_server {
    my ($name, $respond) = @_;
    my $log = $t->dir . "/fake-$name.log";
    return $t->fake_server(sub {
        my ($s) = @_;
        my $buf = '';
        my $head = read_head($s, \$buf);
        return unless defined $head;
        my ($line) = $head =~ /^([^\r\n]*)/;
        if (open my $f, '>>', $log) { syswrite($f, "$line\n"); close $f }
        my $out = $respond->($head);
        syswrite($s, $out) if length $out;
        sleep 2 if $line =~ m{/stall};
        select(undef, undef, undef, 0.2) if $line =~ m{/midclose};
        if ($line =~ m{/early}) {
            # Answered early: stop sending, drain what comes.
            shutdown($s, 1);
            my $sel = IO::Select->new($s);
            while ($sel->can_read(2)) { sysread($s, my $x, 65536) or last }
        }
    });
}

my %canned = (
    '/bad/garbage'   => "garbage\r\n\r\n",
    '/bad/cl-te'     => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    '/bad/two-cl'    => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    '/bad/short'     => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    '/bad/badchunk'  => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    '/bad/stall'     => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    '/bad/early'     => "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo big\r\n",
    '/bad/midclose'  => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    '/bad/fine'      => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfine\n",
);
my $go = $t->dir . '/go';
my $bad = fake_server('bad', sub {
    my ($head) = @_;
    my ($path) = $head =~ m{^\S+ (\S+)};
    if ($path eq '/bad/trigger') {
        # Answers once the test says so.
        my $until = time + 5;
        select(undef, undef, undef, 0.005) until -e $go || time > $until;
        return "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    }
    return $canned{$path} // "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
});
my $dropper = fake_server('drop', sub { '' });
my $dead1 = free_port();
my $dead2 = free_port();

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "down"; retries = 1; servers = ( { address = "127.0.0.1:$dead1"; } ); },
  { name = "alldown"; retries = 3; servers = ( { address = "127.0.0.1:$dead1"; },
                                               { address = "127.0.0.1:$dead2"; } ); },
  { name = "slow"; read_timeout = "300ms"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "failover"; retries = 1; servers = ( { address = "127.0.0.1:$dead1"; },
                                                { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  # max_fails = 0: no passive marking, so the dropper keeps its turn
  { name = "dropfirst"; retries = 1; max_fails = 0; servers = ( { address = "127.0.0.1:$dropper"; },
                                                 { address = "127.0.0.1:%%ORIGIN:b%%"; } ); },
  { name = "droponly"; retries = 1; servers = ( { address = "127.0.0.1:$dropper"; } ); },
  { name = "single"; retries = 1; servers = ( { address = "127.0.0.1:%%ORIGIN:c%%"; } ); },
  { name = "bad"; retries = 0; servers = ( { address = "127.0.0.1:$bad"; } ); },
  { name = "early"; retries = 0; servers = ( { address = "127.0.0.1:$bad"; } ); },
  { name = "badslow"; retries = 0; read_timeout = "300ms"; servers = ( { address = "127.0.0.1:$bad"; } ); },
  { name = "off"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; state = "disabled"; } ); },
  { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); }
);
routes = (
  { path_prefix = "/down/"; pool = "down"; },
  { path_prefix = "/alldown/"; pool = "alldown"; },
  { path_prefix = "/slow/"; pool = "slow"; },
  { path_prefix = "/failover/"; pool = "failover"; },
  { path_prefix = "/dropfirst/"; pool = "dropfirst"; },
  { path_prefix = "/droponly/"; pool = "droponly"; },
  { path_prefix = "/single/"; pool = "single"; },
  { path_prefix = "/bad/stall"; pool = "badslow"; },
  { path_prefix = "/bad/early"; pool = "early"; },
  { path_prefix = "/bad/"; pool = "bad"; },
  { path_prefix = "/off/"; pool = "off"; },
  { path_prefix = "/limit/"; pool = "app"; max_body_size = "1k"; },
  { path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

sub seen { return json_body($_[0]) }
sub lines { my ($f) = @_; return grep { length } split /\n/, slurp($f) }

# An error answer: status, Connection: close, and the connection closed.
sub error_is {
    my ($raw, $want, $name) = @_;
    my $c = Cerb::Conn->new($port);
    $c->send_raw($raw);
    my $r = $c->read_response(timeout => 5);
    is($r && $r->{status}, $want, "$name: $want");
    is($r && $r->{headers}{connection}, 'close', "$name: Connection: close");
    ok($c->closed(3), "$name: connection closed");
    return $r;
}
sub get_raw { my ($path) = @_; "GET $path HTTP/1.1\r\nHost: a\r\n\r\n" }

# ---- servers that are not there ------------------------------------------------
error_is(get_raw('/down/x'), 502, 'origin down');
error_is(get_raw('/alldown/x'), 502, 'all servers down');
like(slurp($t->error_log), qr/pool "alldown": connect to 127\.0\.0\.1:$dead2: Connection refused/,
     'the refused connects are logged');
error_is(get_raw('/off/x'), 503, 'no server available (all disabled)');

# Failover: the dead server is skipped within retries; every request works.
my $ok = 0;
for my $i (1 .. 10) {
    my $r = http_get($port, "/failover/x?i=$i");
    $ok++ if $r && $r->{status} == 200 && (seen($r) // {})->{query} eq "i=$i";
}
is($ok, 10, 'failover: every request reaches the live server');
like(slurp($t->error_log), qr/pool "failover": connect to 127\.0\.0\.1:$dead1: Connection refused/,
     'failover: the failed connect is logged');

# ---- a slow server -------------------------------------------------------------------
my $t0 = time;
error_is(get_raw('/slow/x?delay_ms=2000'), 504, 'read_timeout');
my $took = time - $t0;
cmp_ok($took, '>=', 0.25, 'read_timeout: not before 300ms');
cmp_ok($took, '<', 1.8, 'read_timeout: not waiting for the server');
my $r = http_get($port, '/slow/x?delay_ms=100');
is($r->{status}, 200, 'a server within read_timeout is fine');

# ---- a server that drops the connection without answering ----------------------------
for my $i (1 .. 4) {
    $r = http_get($port, "/dropfirst/g$i");
    is($r && $r->{status}, 200, "GET dropped by one server is retried on the next ($i)");
    is((seen($r) // {})->{name}, 'b', "($i) answered by the live server");
}
ok(scalar(grep { m{^GET /dropfirst/g} } lines($t->dir . '/fake-drop.log')) >= 2,
   'the dropping server did get its share of the requests');
my $before = () = lines($t->dir . '/fake-drop.log');
error_is(get_raw('/droponly/g'), 502, 'GET dropped by every server');
my @d = grep { m{^GET /droponly/g } } lines($t->dir . '/fake-drop.log');
cmp_ok(scalar @d, '<=', 2, 'tried at most retries + 1 times');
error_is("POST /droponly/p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 502,
         'POST dropped by the server');
@d = grep { m{^POST /droponly/p } } lines($t->dir . '/fake-drop.log');
is(scalar @d, 1, 'a POST is not retried');
error_is(get_raw('/single/x?drop=1'), 502, 'the origin drops: ?drop=1 on the only server');

# ---- a server that answers nonsense ---------------------------------------------------
error_is(get_raw('/bad/garbage'), 502, 'server answering garbage');
error_is(get_raw('/bad/cl-te'), 502, 'server answering Content-Length and chunked');
error_is(get_raw('/bad/two-cl'), 502, 'server answering two Content-Length');
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw(get_raw('/bad/short'));
    my $x = $c->read_response(timeout => 3);
    is($x->{status}, 200, 'server closing in the middle of the body: the head was passed on');
    ok($x->{incomplete}, 'the client sees an incomplete body');
    ok($c->closed(2), 'and the connection closed, not left hanging');
    $c = Cerb::Conn->new($port);
    $c->send_raw(get_raw('/bad/badchunk'));
    $x = $c->read_response(timeout => 3);
    ok(!$x || $x->{closed} || $x->{incomplete} || $x->{badchunk} || ($x->{status} // 0) == 502,
       'server sending broken chunks: the client never sees a complete response');
    ok($c->closed(2), 'and the connection closed');
}
{
    # The next client of this worker gets its own response and nothing else.
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /bad/fine HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    1 while $c->fill(time + 3);
    my $n = () = $c->{buf} =~ m{HTTP/1\.1 \d\d\d}g;
    is($n, 1, 'the next client gets exactly one response') or diag($c->{buf});
    like($c->{buf}, qr{^HTTP/1\.1 200 OK\r\n.*\r\n\r\nfine\n$}s, 'its own');
}
is(http_get($port, '/bad/fine')->{body}, "fine\n", 'the same server answering well: fine');
{
    # The body stops coming: read_timeout ends it; a 504 can no longer be sent.
    my $c = Cerb::Conn->new($port);
    my $t1 = time;
    $c->send_raw(get_raw('/bad/stall'));
    my $x = $c->read_response(timeout => 3);
    is($x->{status}, 200, 'server stalling in the body: the head was passed on');
    ok($x->{incomplete} && !$x->{timeout}, 'the client sees the body cut short');
    ok($c->closed(1), 'the connection is closed');
    cmp_ok(time - $t1, '<', 2, 'after read_timeout, not after the server gives up');
}

# The server answers before the request body is all there.
{
    my $c = Cerb::Conn->new($port);
    my $size = 2 * 1024 * 1024;
    my $pid = fork // die;
    if ($pid == 0) {
        local $SIG{PIPE} = 'IGNORE';
        my $data = "POST /bad/early HTTP/1.1\r\nHost: a\r\nContent-Length: $size\r\n\r\n" . ('e' x $size);
        my $off = 0;
        while ($off < length $data) { my $n = syswrite($c->sock, $data, 65536, $off); last unless $n; $off += $n }
        POSIX::_exit(0);
    }
    my $x = $c->read_response(timeout => 5);
    waitpid($pid, 0);
    is($x && $x->{status}, 413, 'an early answer from the server reaches the client');
    is($x && $x->{body}, "too big\r\n", 'whole');
    if (($x && $x->{headers}{connection} // '') eq 'close') {
        ok($c->closed(3), 'the body was not all read: Connection: close, and it closes');
    } else {
        is($c->get('/x')->{status}, 200, 'the body was all read: the connection goes on');
    }
}

# ---- a client that goes away -------------------------------------------------------------
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /gone-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" . ('g' x 5000));
    sleep 0.1;
    $c->close;
    $c = Cerb::Conn->new($port);
    $c->send_raw(get_raw('/slow/gone-wait?delay_ms=250'));
    sleep 0.1;
    $c->close;
    sleep 0.35;
    is(http_get($port, '/after-gone')->{status}, 200, 'clients leaving mid-request: the worker goes on');
    my @g = grep { m{/gone-body} } lines($t->dir . '/origin-a.requests');
    is_deeply(\@g, [], 'a body cut short never makes a complete request at the server');
}

# The client hangs up and the server answers at the same moment: both
# events come in one batch of the worker's event loop. (The worker is
# frozen with SIGSTOP meanwhile, to make that certain.)
{
    my ($w) = $t->workers;
    my $c = Cerb::Conn->new($port);
    $c->send_raw(get_raw('/bad/trigger'));
    ok(wait_for(sub { slurp($t->dir . '/fake-bad.log') =~ m{/bad/trigger} }, 3),
       'one batch: the request is at the server');
    sleep 0.02;
    kill 'STOP', $w->{pid};
    $c->close;              # first event: the client hung up
    sleep 0.05;
    open my $f, '>', $go or die; close $f;  # then the server answers
    sleep 0.1;
    kill 'CONT', $w->{pid};
    sleep 0.2;
    is(http_get($port, '/after-batch')->{status}, 200, 'one batch: still serving');
    my ($w2) = $t->workers;
    is($w2 && $w2->{pid}, $w->{pid}, 'one batch: by the same worker (no crash)');
}

# In one batch: the server of client A closes in the middle of A's
# response (A is closed), a new client B connects (and may get A's freed
# slot), then A's own hang-up event comes. That event is A's, not B's.
{
    my ($got, $rounds) = (0, 4);
    for my $i (1 .. $rounds) {
        my ($w) = $t->workers;
        my $a = Cerb::Conn->new($port);
        $a->send_raw(get_raw('/bad/midclose'));
        my $until = time + 3;
        $a->fill($until) while $a->{buf} !~ /\r\n\r\n/ && time < $until;
        kill 'STOP', $w->{pid};
        sleep 0.3;                      # A's server closes mid-response
        my $b = Cerb::Conn->new($port); # B connects
        $b->send_raw(get_raw("/stale-event/b$i"));
        sleep 0.05;
        $a->close;                      # A hangs up
        sleep 0.05;
        kill 'CONT', $w->{pid};
        my $x = $b->read_response(timeout => 3);
        $got++ if $x && ($x->{status} // 0) == 200 && (seen($x) // {})->{path} eq "/stale-event/b$i";
    }
    is($got, $rounds, "a closed connection's last event does not end the next client's request");
}

# ---- max_body_size ----------------------------------------------------------------------
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /limit/cl HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n");
    my $x = $c->read_response(timeout => 3);
    is($x->{status}, 413, 'Content-Length over max_body_size: 413 before the body is sent');
    is($x->{headers}{connection}, 'close', 'with Connection: close');
    $c->send_raw('x' x 2000);
    ok($c->closed(3), 'connection closed');
}
error_is("POST /limit/chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         . ("100\r\n" . ('y' x 256) . "\r\n") x 6 . "0\r\n\r\n", 413, 'chunked body over max_body_size');
$r = http_request($port, 'POST', '/limit/ok', body => 'z' x 1024);
is($r->{status}, 200, 'a body of exactly max_body_size is fine');
is((seen($r) // {})->{body_length}, 1024, 'and arrives');
$r = http_raw($port, "POST /limit/small-chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              . ("a\r\n" . ('w' x 10) . "\r\n") x 100 . "0\r\n\r\n");
is($r->{status}, 200, 'a chunked body of 1000 bytes in 10-byte chunks is within 1k (framing does not count)');
# A fresh connection, after a large (allowed) Content-Length request on another.
$r = http_request($port, 'POST', '/limit/first', body => 'q' x 1000);
is($r->{status}, 200, 'a 1000-byte body');
$r = http_raw($port, "POST /limit/then-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              . "c8\r\n" . ('v' x 200) . "\r\n0\r\n\r\n");
is($r->{status}, 200, 'then a 200-byte chunked body on a new connection: the limit counts this request only');
my @l = grep { m{/limit/(cl|chunked)} } lines($t->dir . '/origin-a.requests');
is_deeply(\@l, [], 'refused bodies never reached the server as a request');

# Still serving.
is(http_get($port, '/x')->{status}, 200, 'the worker is still fine');
unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
# On failure, what the daemon said.
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
