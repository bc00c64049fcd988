# Circuit breaker: consecutive failures of a server (fail_status, connect
# errors) open its breaker in shared memory for every worker; while open it
# gets no request (a pool with no other server answers 503 at once); after
# open_for exactly one probe goes through, and its outcome closes or opens
# the breaker again.  max_fails = 0 keeps passive health out of the way.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
my ($A, $B, $C) = map { $t->origin($_) } qw(a b c);
my $dead = free_port();

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "cb"; balance = "hash"; key = "query:id"; max_fails = 0; fail_status = [ 503 ];
    circuit_breaker = { failures = 3; open_for = "1s"; };
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; } ); },
  { name = "one"; max_fails = 0; fail_status = [ 503 ];
    circuit_breaker = { failures = 3; open_for = "1s"; };
    servers = ( { address = "127.0.0.1:$C"; } ); },
  { name = "gone"; max_fails = 0;
    circuit_breaker = { failures = 3; open_for = "1s"; };
    servers = ( { address = "127.0.0.1:$dead"; }, { address = "127.0.0.1:$A"; } ); }
);
routes = (
  { path_prefix = "/cb/"; pool = "cb"; },
  { path_prefix = "/one/"; pool = "one"; },
  { path_prefix = "/gone/"; pool = "gone"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');

sub log_count { my ($re) = @_; scalar(() = slurp($t->error_log) =~ /$re/g) }
sub server { $t->server_status(@_) }
sub origin_hits {
    my ($name, $re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, slurp($t->dir . "/origin-$name.requests");
}

# ---- a server among others ----------------------------------------------------

# An id that hashes to a, so that failures can be aimed at it.
my ($id) = grep { origin_of(http_get($port, "/cb/find?id=k$_")) eq 'a' } 1 .. 60;
ok($id, "id k$id goes to server a") or BAIL_OUT('no id for server a');
$id = "k$id";
my $open_re = qr/pool "cb" server 127\.0\.0\.1:$A: circuit closed -> open for 1000 ms after 3 consecutive failures \(last: status 503\)/;

# Failures must be consecutive: a success in between starts the count again.
my @st = map { my $r = http_get($port, "/cb/x?id=$id&status=$_"); ($r->{status} // 0) . ($r->{headers}{'x-origin'} // '') }
         503, 503, 200, 503, 503;
is_deeply(\@st, [qw(503a 503a 200a 503a 503a)], 'fail_status responses reach the client from a');
is(log_count(qr/circuit closed -> open/), 0, 'two failures, a success, two failures: still closed');
my $r = http_get($port, "/cb/x?id=$id&status=503");
is("$r->{status}" . ($r->{headers}{'x-origin'} // ''), '503a', 'a third consecutive failure');
my $t_open = time;
ok(wait_for(sub { log_count($open_re) == 1 }, 2), 'opens the breaker, logged once: circuit closed -> open');
SKIP: {
    my $cs = server('cb', $A)->{circuit};
    skip 'cerberus status shows no circuit state', 1 unless defined $cs;
    is($cs, 'open', 'cerberus status shows it open');
}

# While open: a gets nothing, b everything, whichever worker.
my $hits = origin_hits('a', qr{^GET /cb/});
my $n = spread($port, 10, "/cb/y?id=$id");
my $m = spread($port, 10, '/cb/z');
my $dt = time - $t_open;
is_deeply($n, { b => 10 }, "while open, a's key goes to b") or diag(explain($n));
is_deeply($m, { b => 10 }, 'and so does round robin') or diag(explain($m));
is(origin_hits('a', qr{^GET /cb/}), $hits, sprintf('a gets no request at all (%.2f s after opening)', $dt));
cmp_ok($dt, '<', 1, 'all that while the breaker was open');

# After open_for one probe goes to a: it succeeds and closes the breaker.
my $probe = wait_for(sub { origin_of(http_get($port, "/cb/probe?id=$id")) eq 'a' ? time : 0 }, 4);
ok($probe, 'after open_for a request goes to a again');
cmp_ok($probe - $t_open, '>=', 0.9, sprintf('not before open_for (%.2f s)', $probe - $t_open));
ok(wait_for(sub { log_count(qr/pool "cb" server 127\.0\.0\.1:$A: circuit open -> half-open: one probe request/) == 1 }, 2),
   'logged: circuit open -> half-open');
ok(wait_for(sub { log_count(qr/pool "cb" server 127\.0\.0\.1:$A: circuit half-open -> closed: the probe succeeded/) == 1 }, 2),
   'the probe succeeded: circuit half-open -> closed');
$n = spread($port, 20, '/cb/w');
cmp_ok($n->{a} // 0, '>=', 5, 'traffic to a resumes (' . ($n->{a} // 0) . ' of 20)');
is(($n->{a} // 0) + ($n->{b} // 0), 20, 'and every request is answered');

# ---- the only server of a pool -----------------------------------------------------

my $one_open = qr/pool "one" server 127\.0\.0\.1:$C: circuit closed -> open/;
my @o = map { my $x = http_get($port, "/one/x?status=503"); ($x->{status} // 0) . ($x->{headers}{'x-origin'} // '') } 1 .. 3;
is_deeply(\@o, [qw(503c 503c 503c)], 'three failures of the only server');
$t_open = time;
ok(wait_for(sub { log_count($one_open) == 1 }, 2), 'open');
$r = http_get($port, '/one/after');
is($r->{status}, 503, 'a request meanwhile gets 503');
ok(!defined $r->{headers}{'x-origin'}, 'from cerberus: not overridden as passive health would be');
is(origin_hits('c', qr{^GET /one/after}), 0, 'the server did not see it');

# A failing probe opens the breaker again.
$probe = wait_for(sub {
    my $x = http_get($port, '/one/probe?status=503');
    return defined $x->{headers}{'x-origin'} ? time : 0;
}, 4);
ok($probe, 'after open_for the probe reaches the server (and fails)');
cmp_ok($probe - $t_open, '>=', 0.9, sprintf('not before open_for (%.2f s)', $probe - $t_open));
ok(wait_for(sub { log_count(qr/pool "one" server 127\.0\.0\.1:$C: circuit half-open -> open for 1000 ms: the probe failed \(status 503\)/) == 1 }, 2),
   'logged: circuit half-open -> open');
$r = http_get($port, '/one/again');
is($r->{status} . ($r->{headers}{'x-origin'} // ''), '503', 'open again: 503 from cerberus');

# Exactly one probe, in all workers: two slow requests at a time on fresh
# connections; when one of them is let through, the other is refused.
my ($through, $other);
my $deadline = time + 4;
while (time < $deadline) {
    my @k = map { Cerb::Conn->new($port) } 1 .. 2;
    $_->send_raw("GET /one/slow?delay_ms=300 HTTP/1.1\r\nHost: a\r\n\r\n") for @k;
    my @x = map { $_->read_response(timeout => 5) } @k;
    $_->close for @k;
    my @in = grep { $_ && defined $_->{headers}{'x-origin'} } @x;
    if (@in) {
        $through = scalar @in;
        ($other) = grep { !($_ && defined $_->{headers}{'x-origin'}) } @x;
        last;
    }
    sleep 0.05;
}
is($through, 1, 'one probe request goes through');
is($other && $other->{status}, 503, 'the one beside it gets 503');
ok(wait_for(sub { log_count(qr/pool "one" server 127\.0\.0\.1:$C: circuit half-open -> closed/) == 1 }, 2),
   'the probe succeeded: closed');
$n = spread($port, 10, '/one/ok');
is_deeply($n, { c => 10 }, 'the server takes every request again');

# ---- a server that refuses connections -----------------------------------------------

$n = spread($port, 30, '/gone/x');
is_deeply($n, { a => 30 }, 'a dead server in the pool: every request answered (retried)')
    or diag(explain($n));
ok(wait_for(sub { log_count(qr/pool "gone" server 127\.0\.0\.1:$dead: circuit closed -> open for 1000 ms after 3 consecutive failures \(last: connect: Connection refused\)/) == 1 }, 2),
   'its breaker opened after 3 connect errors');
is(server('gone', $dead)->{failures}, 3, 'and it was not tried again while open');
my $f4 = wait_for(sub { http_get($port, '/gone/y'); (server('gone', $dead)->{failures} // 0) >= 4 }, 4);
ok($f4, 'after open_for it is probed');
ok(wait_for(sub { log_count(qr/pool "gone" server 127\.0\.0\.1:$dead: circuit half-open -> open/) == 1 }, 2),
   'the probe failed: open again');
is(log_count(qr/\[warn\].*pool "gone".*up -> down/), 0, 'max_fails = 0: no passive mark');

$t->done;
