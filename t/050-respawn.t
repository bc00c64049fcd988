# A worker that dies is respawned, its shared-memory counters zeroed; a
# child that keeps dying is respawned with growing back-off.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
ok($t->start, 'started');
my $port = $t->port('web');

# Hold keep-alive connections open until both workers have some.
my @conns;
my %by_worker;
for (1 .. 40) {
    my $c = Cerb::Conn->new($port) or last;
    $c->get('/');
    push @conns, $c;
}
my $s = wait_for(sub {
    my @w = $t->workers;
    my $sum = 0;
    $sum += $_->{conns} for @w;
    return $sum == 40 ? \@w : undef;
}, 5);
ok($s, 'status counts 40 open connections in shared memory');
my ($victim) = sort { $b->{conns} <=> $a->{conns} } @$s;
my ($other) = grep { $_->{slot} != $victim->{slot} } @$s;
cmp_ok($victim->{conns}, '>', 0, "worker $victim->{slot} holds $victim->{conns} of them");

kill 'KILL', $victim->{pid};
my $new = wait_for(sub {
    my ($w) = grep { $_->{slot} == $victim->{slot} } $t->workers;
    return $w && $w->{pid} != $victim->{pid} ? $w : undef;
}, 5);
ok($new, "worker $victim->{slot} is respawned with a new pid");
is($new->{conns}, 0, 'its connection counters start from zero (the dead column was zeroed)');
is($new->{requests}, 0, 'and its request counter too');
my ($still) = grep { $_->{slot} == $other->{slot} } $t->workers;
is($still->{conns}, $other->{conns}, 'the other worker keeps its own counts');
like(slurp($t->error_log),
     qr/\[error\] \d+: worker $victim->{slot} \(pid $victim->{pid}\) killed by signal 9 \(Killed\); respawning/,
     'the death is logged with the signal');
sleep 0.3;
ok((grep { $_->closed(0.05) } @conns) >= $victim->{conns}, 'the dead worker\'s connections were closed');
is(http_get($port, '/')->{status}, 200, 'service continues');

# The respawned worker serves on its slot's socket.
my $served = 0;
for (1 .. 40) { $served++ if (http_get($port, '/') // {})->{status} // 0 == 200 }
is($served, 40, 'every request is answered after the respawn');

# The checker is supervised too.
my ($checker) = $t->status->{raw} =~ /^checker=(\d+)/m;
kill 'KILL', $checker;
ok(wait_for(sub { my ($c) = $t->status_file =~ /^checker=(\d+)/m; $c && $c != $checker }, 5),
   'the checker is respawned');

# A child dying again and again is respawned with a growing delay.
my $slot = 0;
my $t0 = time;
for my $round (1 .. 5) {
    my ($w) = grep { $_->{slot} == $slot } $t->workers;
    last unless $w;
    kill 'KILL', $w->{pid};
    wait_for(sub {
        my ($x) = grep { $_->{slot} == $slot } $t->workers;
        $x && $x->{pid} != $w->{pid};
    }, 10);
}
my $log = slurp($t->error_log);
like($log, qr/worker 0 \(pid \d+\) killed by signal 9 \(Killed\); died 2 times in a row, respawning in 100 ms/,
     'a second quick death waits 100 ms');
like($log, qr/died 4 times in a row, respawning in 400 ms/, 'the delay doubles');
cmp_ok(time - $t0, '>=', 0.1 + 0.2 + 0.4 + 0.8 - 0.05, 'the back-off really waited');
my ($again) = grep { $_->{slot} == $slot } $t->workers;
ok($again, 'the worker is back after the back-off');
is(http_get($port, '/')->{status}, 200, 'and serving');
$_->close for @conns;
$t->done;
