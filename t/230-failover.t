# Failover: retries on another server, passive health (max_fails,
# fail_timeout, fail_status) shared by every worker, backup servers taking
# over from dead primaries, what is not retried (non-idempotent requests,
# retries = 0), and failover for a tcp listener.  No active health checks:
# everything here is learnt from the traffic itself.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
my ($A, $B, $C, $P1, $P2, $BK) = map { $t->origin($_) } qw(a b c p1 p2 bk);
my $dead1 = free_port();
my $dead2 = free_port();

# A server that answers every request 500; and one that reads the request
# head and closes without answering. Each logs one line per request.
sub counting_server {
    my ($name, $answer) = @_;
    my $log = $t->dir . "/fake-$name.log";
    return $t->fake_server(sub {
        my ($s) = @_;
        my $buf = '';
        while (defined(my $head = read_head($s, \$buf))) {
            my ($line) = $head =~ /^([^\r\n]*)/;
            if (open my $f, '>>', $log) { syswrite($f, "$line\n"); close $f }
            return unless length $answer;
            my ($cl) = $head =~ /\r\nContent-Length: *(\d+)/i;
            while (length($buf) < ($cl // 0)) {
                sysread($s, $buf, 65536, length $buf) or return;
            }
            substr($buf, 0, $cl // 0) = '';
            syswrite($s, $answer);
        }
    });
}
my $f500 = counting_server('f500', "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nboom\n");
my $drop = counting_server('drop', '');
sub fake_hits { my @l = split /\n/, slurp($t->dir . "/fake-$_[0].log"); scalar @l }
sub origin_hits {
    my ($name, $re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, slurp($t->dir . "/origin-$name.requests");
}

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "l4"; address = "127.0.0.1:%%PORT:l4%%"; protocol = "tcp"; pool = "tcpfo"; }
);
pools = (
  { name = "fo0"; max_fails = 0;
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$dead1"; } ); },
  { name = "fo";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$dead1"; } ); },
  { name = "pas"; max_fails = 2; fail_timeout = "2s";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$dead2"; } ); },
  { name = "fs"; max_fails = 2; fail_timeout = "2s"; fail_status = [ 500 ];
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$f500"; } ); },
  { name = "pd"; max_fails = 1; fail_timeout = "10s"; fail_status = [ 500 ];
    servers = ( { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "post"; max_fails = 0;
    servers = ( { address = "127.0.0.1:$drop"; }, { address = "127.0.0.1:$A"; } ); },
  { name = "r0"; max_fails = 0; retries = 0;
    servers = ( { address = "127.0.0.1:$dead1"; }, { address = "127.0.0.1:$A"; } ); },
  { name = "bk"; retries = 2; max_fails = 1; fail_timeout = "1s";
    servers = ( { address = "127.0.0.1:$P1"; }, { address = "127.0.0.1:$P2"; },
                { address = "127.0.0.1:$BK"; backup = true; } ); },
  { name = "ss"; max_fails = 1; fail_timeout = "1s"; fail_status = [ 503 ]; slow_start = "2s";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; } ); },
  { name = "tcpfo"; max_fails = 0;
    servers = ( { address = "127.0.0.1:$dead1"; }, { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; } ); }
);
routes = (
  { path_prefix = "/fo0/"; pool = "fo0"; },
  { path_prefix = "/fo/"; pool = "fo"; },
  { path_prefix = "/pas/"; pool = "pas"; },
  { path_prefix = "/fs/"; pool = "fs"; },
  { path_prefix = "/pd/"; pool = "pd"; },
  { path_prefix = "/post/"; pool = "post"; },
  { path_prefix = "/postretry/"; pool = "post"; retry_non_idempotent = true; },
  { path_prefix = "/r0/"; pool = "r0"; },
  { path_prefix = "/bk/"; pool = "bk"; },
  { path_prefix = "/ss/"; pool = "ss"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');



sub server { $t->server_status(@_) }

sub log_count { my ($re) = @_; scalar(() = slurp($t->error_log) =~ /$re/g) }

# ---- retries -----------------------------------------------------------------

my $n = spread($port, 300, '/fo0/x');
is(($n->{a} // 0) + ($n->{b} // 0), 300,
   'one of three servers refuses connections, no passive health: 300 requests, no error')
    or diag(explain($n));
cmp_ok($n->{$_} // 0, '>=', 100, "server $_ takes its share") for qw(a b);
my $f = server('fo0', $dead1)->{failures} // 0;
cmp_ok($f, '>=', 90, "the dead server was tried again and again ($f failures), each time retried");

$n = spread($port, 100, '/fo/x');
is(($n->{a} // 0) + ($n->{b} // 0), 100, 'with max_fails = 1: 100 requests, no error') or diag(explain($n));
is(server('fo', $dead1)->{failures}, 1, 'the dead server failed once, then was left out');
is(log_count(qr/pool "fo" server 127\.0\.0\.1:$dead1: up -> down for 10000 ms: 1 failure within fail_timeout/), 1,
   'logged once: up -> down for fail_timeout');

# retries = 0: the first failure is the client's.
$n = spread($port, 10, '/r0/x');
cmp_ok($n->{'status 502'} // 0, '>=', 3, 'retries = 0: a request that meets the dead server gets 502')
    or diag(explain($n));
is(($n->{'status 502'} // 0) + ($n->{a} // 0), 10, 'the others are answered by the good server');

# POST is not sent again after the server took it and dropped the
# connection; GET is; and POST too where the route says so.
my $p200 = 0;
my $p502 = 0;
for my $i (1 .. 10) {
    my $r = http_request($port, 'POST', "/post/x-$i", body => "payload $i");
    $p200++ if origin_of($r) eq 'a';
    $p502++ if $r && $r->{status} == 502;
}
cmp_ok($p502, '>=', 3, "POST dropped by the server after it took it: 502 ($p502 of 10)");
is($p200 + $p502, 10, 'the others answered by the good server');
ok(wait_for(sub { fake_hits('drop') == $p502 }, 2), 'the dropping server got each failed POST once')
    or diag(fake_hits('drop'));
is(origin_hits('a', qr{^POST /post/x-}), $p200, 'and none of them was sent again to the good server');

my $ok = 0;
for my $i (1 .. 10) {
    my $r = http_request($port, 'POST', "/postretry/x-$i", body => "payload $i");
    $ok++ if origin_of($r) eq 'a';
}
is($ok, 10, 'retry_non_idempotent = true: every POST answered, the dropped ones by the other server');
cmp_ok(fake_hits('drop') - $p502, '>=', 3, 'after the dropping server took some of them');
is(origin_hits('a', qr{^POST /postretry/x-}), 10, 'each POST reached the good server once');

$n = spread($port, 10, '/post/get');
is_deeply($n, { a => 10 }, 'GET dropped by a server: sent again to the other, no error') or diag(explain($n));

# ---- passive health ------------------------------------------------------------------

my $all200 = 1;
for (1 .. 10) {
    $all200 = 0 unless origin_of(http_get($port, '/pas/x')) eq 'a';
    last if (server('pas', $dead2)->{failures} // 0) >= 2;
}
my $t_mark = time;
ok($all200, 'max_fails = 2: requests meeting the dead server are retried');
is(server('pas', $dead2)->{failures}, 2, 'two failures counted');
ok(wait_for(sub { log_count(qr/pool "pas" server 127\.0\.0\.1:$dead2: up -> down for 2000 ms: 2 failures/) == 1 }, 2),
   'marked down once, for every worker: up -> down for 2000 ms');
$n = spread($port, 30, '/pas/x');
is_deeply($n, { a => 30 }, 'meanwhile all requests go to the other server');
is(server('pas', $dead2)->{failures}, 2, 'and the dead one is not tried, by either worker');
# After fail_timeout it is tried again.
my $again = wait_for(sub {
    http_get($port, '/pas/again');
    return (server('pas', $dead2)->{failures} // 0) > 2 ? time : 0;
}, 5);
ok($again, 'after fail_timeout the server is tried again');
cmp_ok($again - $t_mark, '>=', 1.6, sprintf('not before fail_timeout (%.2f s after)', $again - $t_mark));
cmp_ok($again - $t_mark, '<', 3.5, 'nor long after');

# fail_status: the response still reaches the client, but counts.
my ($got500, $got200) = (0, 0);
for (1 .. 10) {
    my $r = http_get($port, '/fs/x');
    $got500++ if $r && $r->{status} == 500 && $r->{body} eq "boom\n";
    $got200++ if origin_of($r) eq 'a';
    last if $got500 == 2;
}
is($got500, 2, 'fail_status = [500]: the 500 responses reach the client as they are');
ok(wait_for(sub { log_count(qr/pool "fs" server 127\.0\.0\.1:$f500: up -> down for 2000 ms: 2 failures within fail_timeout \(last: status 500\)/) == 1 }, 2),
   'two of them mark the server down');
$n = spread($port, 20, '/fs/x');
is_deeply($n, { a => 20 }, 'then the other server takes every request') or diag(explain($n));
is(fake_hits('f500'), 2, 'and the failing one gets none');

# Every server of a pool passively down: they are still tried.
my %pd;
$pd{ $_->{headers}{'x-origin'} // '' }++
    for grep { $_ && $_->{status} == 500 } map { http_get($port, '/pd/x?status=500') } 1 .. 2;
is(scalar(keys %pd), 2, 'both servers answer 500 once each');
ok(wait_for(sub { log_count(qr/pool "pd" server .*: up -> down for 10000 ms/) == 2 }, 2),
   'both are marked down');
$n = spread($port, 10, '/pd/x');
is(($n->{b} // 0) + ($n->{c} // 0), 10, 'every server passively down: requests still go to them, no 503')
    or diag(explain($n));

# slow_start: a server back from its passive mark ramps up from almost no
# traffic. On one connection (only our traffic), round robin alternates a
# and b: a failure is aimed at b by sending it after an answer from a.
my $k = Cerb::Conn->new($port);
my $first = origin_of($k->get('/ss/x'));
$k->get('/ss/x') if $first eq 'b';
my $r = $k->get('/ss/x?status=503');
is($r && ($r->{headers}{'x-origin'} // '') . $r->{status}, 'b503', 'slow_start: a failure of b');
ok(wait_for(sub { log_count(qr/pool "ss" server 127\.0\.0\.1:$B: up -> down for 1000 ms/) == 1 }, 2),
   'marks it down for 1 s');
# Polled without pause, so that b is caught early in its ramp.
my $t_back;
for (my $until = time + 4; !$t_back && time < $until; ) {
    $t_back = time if origin_of($k->get('/ss/poll')) eq 'b';
}
ok($t_back, 'b is back after fail_timeout');
$n = { a => 0, b => 0 };
$n->{ origin_of($k->get('/ss/ramp')) }++ for 1 .. 100;
cmp_ok($n->{b}, '<=', 20, "and at first gets only a little of the traffic (b: $n->{b} of 100)");
is($n->{a} + $n->{b}, 100, 'the rest goes to a');
my $full = wait_for(sub {
    my %w = (a => 0, b => 0);
    $w{ origin_of($k->get('/ss/full')) }++ for 1 .. 100;
    return $w{a} == 50 && $w{b} == 50 ? time : 0;
}, 5);
ok($full, 'then its full share: round robin alternates again');
cmp_ok($full - $t_back, '>=', 1.4, sprintf('after ramping (%.1f s of the 2 s slow start)', $full - $t_back));
$k->close;

# ---- backup ----------------------------------------------------------------------

$n = spread($port, 40, '/bk/x');
is_deeply($n, { p1 => 20, p2 => 20 }, 'the backup gets nothing while the primaries answer');

# The pid of one of our origins (started by the harness).
sub origin_pid {
    my ($name) = @_;
    my $pf = $t->dir . "/origin-$name.port";
    for my $d (glob '/proc/[0-9]*') {
        my $cmd = slurp("$d/cmdline");
        return $d =~ m{(\d+)$} ? $1 : undef if index($cmd, "\0$pf\0") >= 0;
    }
    return undef;
}
for my $o (qw(p1 p2)) {
    my $pid = origin_pid($o);
    ok($pid && kill('TERM', $pid), "origin $o stopped");
    waitpid($pid, 0) if $pid;
}
$n = spread($port, 20, '/bk/x');
is_deeply($n, { bk => 20 }, 'both primaries dead: the backup answers every request') or diag(explain($n));

# p1 comes back on its port: after fail_timeout it takes the traffic again.
my $p1 = fork // die "fork: $!";
if ($p1 == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    exec origin_bin(), '-p', $P1, '-n', 'p1' or POSIX::_exit(1);
}
ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$P1") }, 5), 'p1 listens again');
ok(wait_for(sub { origin_of(http_get($port, '/bk/back')) eq 'p1' }, 5), 'a primary that came back is used again');
$n = spread($port, 20, '/bk/x');
is_deeply($n, { p1 => 20 }, 'and the backup is left alone again') or diag(explain($n));
kill 'TERM', $p1;
waitpid($p1, 0);

# ---- tcp listener ------------------------------------------------------------------

my %l4;
$l4{ origin_of(http_get($t->port('l4'), "/l4-$_")) }++ for 1 .. 60;
is(($l4{a} // 0) + ($l4{b} // 0), 60, 'tcp listener with a dead server: every connection relayed')
    or diag(explain(\%l4));
cmp_ok($l4{$_} // 0, '>=', 20, "to server $_ as well") for qw(a b);
cmp_ok(server('tcpfo', $dead1)->{failures} // 0, '>=', 20, 'after trying the dead one');

$t->done;
