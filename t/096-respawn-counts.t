# Issue 12, point 12: a worker SIGKILLed at any instant leaves no count
# behind.  Requests in progress on a server are one atomic count in the
# worker's own shared-memory row (the server's active total is the sum
# of the rows), so the master's zeroing of a dead worker's row takes off
# exactly what it held.  Workers are killed repeatedly while they hold
# slow requests and while fast requests are being counted in and out;
# afterwards /status shows 0 active everywhere, and a server with
# max_conns = 2 still takes 2 requests at once (a leaked count would
# keep it "full").
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use POSIX ();
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
admin = { address = "127.0.0.1:%%PORT:admin%%"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app"; keepalive = 0; retries = 0;
    servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "capped"; retries = 0;
    servers = ( { address = "127.0.0.1:%%ORIGIN:b%%"; max_conns = 2; } ); }
);
routes = (
  { path_prefix = "/capped/"; pool = "capped"; },
  { path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
$t->allow_log(qr/worker \d+ .*(killed|signal|exited|died)/i);
my $port = $t->port('web');
my $admin = $t->port('admin');

# Every server's active count and per-worker cells, from /status.
sub actives {
    my $st = json_body(http_get($admin, '/status')) || {};
    my %a;
    for my $p (@{ $st->{pools} || [] }) {
        for my $s (@{ $p->{servers} || [] }) {
            my $cells = 0;
            $cells += $_ for @{ $s->{active_per_worker} || [] };
            $a{ $p->{name} } = [ $s->{active}, $cells ];
        }
    }
    return \%a;
}
sub all_zero {
    my $a = actives();
    return 0 unless %$a;
    return !grep { $_->[0] != 0 || $_->[1] != 0 } values %$a;
}

ok(all_zero(), 'nothing active at first');

# Background load: two processes sending short requests back to back to
# both pools, so that counts go in and out all the time.
my @load;
for my $path ('/x?delay_ms=2', '/capped/y?delay_ms=2') {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $end = time + 4;
        while (time < $end) {
            my $c = Cerb::Conn->new($port, timeout => 2) or next;
            $c->send_raw("GET $path HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            $c->read_response(timeout => 2);
        }
        POSIX::_exit(0);
    }
    push @load, $pid;
}

# Slow requests held open, and workers killed one after the other.
my @held;
my $kills = 0;
for my $round (1 .. 6) {
    for my $i (1 .. 3) {
        my $c = Cerb::Conn->new($port) or next;
        $c->send_raw("GET /hold-$round-$i?delay_ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n");
        push @held, $c;
    }
    sleep 0.15;
    my @w = $t->workers;
    my $victim = $w[$round % @w] or next;
    kill 'KILL', $victim->{pid};
    $kills++;
    wait_for(sub {
        my ($n) = grep { $_->{slot} == $victim->{slot} } $t->workers;
        $n && $n->{pid} != $victim->{pid};
    }, 5);
}
is($kills, 6, 'six workers killed while they held and counted requests');
waitpid($_, 0) for @load;
$_->close for @held;
ok(wait_for(\&all_zero, 10), 'every active count is back to 0 after the respawns')
    or diag(explain(actives()));
is($t->server_status('app', $t->origin('a'))->{active}, 0, 'the status file says 0 too');

# The capped server takes its 2 again: nothing leaked keeps it full.
my @two = map { Cerb::Conn->new($port) } 1 .. 2;
$_->send_raw("GET /capped/z?delay_ms=800 HTTP/1.1\r\nHost: a\r\n\r\n") for @two;
ok(wait_for(sub { (actives()->{capped} // [0])->[0] == 2 }, 5),
   'max_conns 2: two requests in progress at once')
    or diag(explain(actives()));
is($_->read_response(timeout => 5)->{status}, 200, 'answered') for @two;
ok(wait_for(\&all_zero, 5), 'and 0 again');
$t->done;
