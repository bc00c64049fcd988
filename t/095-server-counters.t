# Requests in progress on each server are counted in shared memory, summed
# over the workers: up when one is sent to it, down when it ends, exactly.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Cerb;

my $t = Cerb->new;
my $dead = free_port();
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app"; keepalive = 0; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "pooled"; keepalive = 8; servers = ( { address = "127.0.0.1:%%ORIGIN:b%%"; } ); },
  { name = "gone"; retries = 0; servers = ( { address = "127.0.0.1:$dead"; } ); }
);
routes = (
  { path_prefix = "/pooled/"; pool = "pooled"; },
  { path_prefix = "/gone/"; pool = "gone"; },
  { path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

sub server {
    my ($pool) = @_;
    my ($rc, $out) = $t->ctl('status');
    my ($line) = $out =~ /^\s*(\Q$pool\E 127\.0\.0\.1:\d+ .*)$/m;
    my %f = ($line // '') =~ /(\w+)=(\S+)/g;
    return \%f;
}

is(server('app')->{conns}, 0, 'no connection to the server at first');
like(server('app')->{state} . server('app')->{health}, qr/^upup$/, 'state and health shown');

# Six requests held open by the server, over fresh client connections
# (the kernel spreads them over both workers).
my @c;
for my $i (1 .. 6) {
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /slow-$i?delay_ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n");
    push @c, $c;
}
ok(wait_for(sub { server('app')->{conns} == 6 }, 5), 'six open server connections, summed over the workers')
    or diag(explain(server('app')));
my @busy = grep { $_->{conns} > 0 } $t->workers;
note(scalar(@busy) . ' workers hold them');
is($_->read_response(timeout => 5)->{status}, 200, 'held request answered') for @c;
ok(wait_for(sub { server('app')->{conns} == 0 }, 5), 'back to zero once they are done (keepalive 0: closed)');
is(server('app')->{requests}, 6, 'six requests counted for the server');

# Idle pooled connections carry no request: they are not counted (what
# least_conn compares is requests in progress).
my @k = map { Cerb::Conn->new($port) } 1 .. 3;
$_->send_raw("GET /pooled/x?delay_ms=300 HTTP/1.1\r\nHost: a\r\n\r\n") for @k;
ok(wait_for(sub { server('pooled')->{conns} == 3 }, 5), 'three requests in progress on the pooled server');
$_->read_response(timeout => 5) for @k;
ok(wait_for(sub { server('pooled')->{conns} == 0 }, 5), 'none once answered, though their connections stay open idle');

# A dead server: failures count, connections do not leak.
is(http_get($port, '/gone/x')->{status}, 502, 'a dead server: 502');
is(server('gone')->{failures}, 1, 'its failure is counted');
is(server('gone')->{conns}, 0, 'and no connection is left counted');

# A worker killed while it holds server connections: its column is zeroed.
my @h;
for my $i (1 .. 4) {
    my $c = Cerb::Conn->new($port);
    $c->send_raw("GET /hold-$i?delay_ms=3000 HTTP/1.1\r\nHost: a\r\n\r\n");
    push @h, $c;
}
ok(wait_for(sub { server('app')->{conns} == 4 }, 5), 'four held server connections');
my ($victim) = sort { $b->{conns} <=> $a->{conns} } $t->workers;
my $held = wait_for(sub { my ($w) = grep { $_->{slot} == $victim->{slot} } $t->workers; $w->{conns} }, 2);
kill 'KILL', $victim->{pid};
ok(wait_for(sub {
    my ($w) = grep { $_->{slot} == $victim->{slot} } $t->workers;
    $w && $w->{pid} != $victim->{pid};
}, 5), 'the worker is respawned');
my $left = server('app')->{conns};
cmp_ok($left, '<', 4, "its server connections are no longer counted ($left left)");
$_->close for @h, @k;
ok(wait_for(sub { server('app')->{conns} == 0 }, 6), 'and the rest go back to zero');
$t->done;
