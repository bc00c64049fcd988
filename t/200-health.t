# Active health checks: one checker for all workers takes a server out
# after `fall` failed checks and back after `rise` good ones, logs each
# transition once, and the workers send nothing to a server that is down;
# http checks (status, expect, body), tcp checks, initial = "down", the
# reasons shown in the admin API's status, and reloads that flap nothing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
my $dead = free_port();

# Servers of our own for what t/origin never does (a process per
# connection: their checks get a generous timeout).
my $silent = $t->fake_server(sub { sleep 3 });
my $closer = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    read_head($s, \$buf);
});
my $garbage = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    read_head($s, \$buf);
    syswrite($s, "garbage\r\n\r\n");
});
my $chunked = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    read_head($s, \$buf);
    syswrite($s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               . "3\r\nall\r\n5\r\n good\r\n0\r\n\r\n");
});

my $fast = 'interval = "150ms"; timeout = "100ms"';
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
admin = { address = "127.0.0.1:%%PORT:admin%%"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app";
    servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; }, { address = "127.0.0.1:%%ORIGIN:b%%"; } );
    health = { interval = "200ms"; timeout = "150ms"; rise = 2; fall = 3; }; },
  { name = "l4"; retries = 0;
    servers = ( { address = "127.0.0.1:%%ORIGIN:c%%"; }, { address = "127.0.0.1:$dead"; } );
    health = { type = "tcp"; $fast; rise = 1; fall = 1; }; },
  { name = "picky";
    servers = ( { address = "127.0.0.1:%%ORIGIN:d%%"; } );
    health = { $fast; expect = [ 200 ]; body = "^ok\$"; rise = 1; fall = 1; }; },
  { name = "teapot";
    servers = ( { address = "127.0.0.1:%%ORIGIN:d%%"; } );
    health = { $fast; path = "/tea?status=418"; expect = [ 200, 418 ]; rise = 1; fall = 1; }; },
  { name = "no-teapot";
    servers = ( { address = "127.0.0.1:%%ORIGIN:d%%"; } );
    health = { $fast; path = "/tea?status=418"; rise = 1; fall = 1; }; },
  { name = "redirect";
    servers = ( { address = "127.0.0.1:%%ORIGIN:d%%"; } );
    health = { $fast; path = "/r?status=302"; rise = 1; fall = 1; }; },
  { name = "wrongbody";
    servers = ( { address = "127.0.0.1:%%ORIGIN:d%%"; } );
    health = { $fast; body = "^healthy"; rise = 1; fall = 1; }; },
  { name = "broken";
    servers = ( { address = "127.0.0.1:$silent"; }, { address = "127.0.0.1:$closer"; },
                { address = "127.0.0.1:$garbage"; }, { address = "127.0.0.1:$chunked"; } );
    health = { interval = "1s"; timeout = "800ms"; body = "all good"; rise = 1; fall = 1; }; },
  { name = "late";
    servers = ( { address = "127.0.0.1:%%ORIGIN:e%%"; } );
    health = { initial = "down"; interval = "1s"; timeout = "200ms"; rise = 2; fall = 1; }; },
  { name = "off";
    servers = ( { address = "127.0.0.1:%%ORIGIN:e%%"; state = "disabled"; } );
    health = { $fast; }; }
);
routes = (
  { path_prefix = "/l4/"; pool = "l4"; },
  { path_prefix = "/late/"; pool = "late"; },
  { path_prefix = "/"; pool = "app"; }
);
EOF
my $started = time;
ok($t->start, 'started');
my $web = $t->port('web');
my ($pa, $pb) = ($t->origin('a'), $t->origin('b'));

sub status_json {
    my $r = http_get($t->port('admin'), '/status');
    return json_body($r) || {};
}

sub server {
    my ($pool, $port, $s) = @_;
    $s //= status_json();
    for my $p (@{ $s->{pools} || [] }) {
        next unless $p->{name} eq $pool;
        for my $sv (@{ $p->{servers} }) {
            return $sv if $sv->{address} eq "127.0.0.1:$port";
        }
    }
    return {};
}

sub origins {
    my ($n, $path) = @_;
    my %seen;
    for (1 .. $n) {
        my $r = http_get($web, $path // '/');
        $seen{$r && $r->{status} == 200 ? $r->{headers}{'x-origin'} // '?' : 'error'}++;
    }
    return \%seen;
}

# initial = "down": out of traffic until `rise` checks passed.
# (It cannot come up before 0.9 s: two checks an interval of 1 s +-10%
# apart.)
SKIP: {
    my $s = server('late', $t->origin('e'));
    my $r = http_get($web, '/late/x');
    skip 'too slow a start to see it down', 2 if time - $started > 0.85;
    is($s->{health}, 'down', 'initial = "down": down at start');
    is($r->{status}, 503, 'and no request goes to it');
}

# Every server is checked: the first checks come within an interval.
ok(wait_for(sub { defined server('app', $pb)->{last_check_ms_ago}
                  && defined server('app', $pa)->{last_check_ms_ago} }, 3),
   'both app servers checked');
is(server('app', $pa)->{health}, 'up', 'a is up');
is(server('app', $pb)->{health}, 'up', 'b is up');
cmp_ok(server('app', $pb)->{last_latency_ms}, '>=', 0, 'latency shown');
my $both = origins(10);
ok($both->{a} && $both->{b} && !$both->{error}, 'requests go to both');

# b fails its checks: down after exactly `fall` (3) failures.
my $base = server('app', $pb)->{checks_failed};
is(http_get($pb, '/_origin/health/fail')->{status}, 200, 'b starts failing its checks');
my (@up_seen, $down);
wait_for(sub {
    my $s = server('app', $pb);
    my $n = $s->{checks_failed} - $base;
    if ($s->{health} eq 'up') { push @up_seen, $n; return 0 }
    $down = $s;
    $down->{failed_since} = $n;
    return 1;
}, 5);
ok($down, 'b is down');
cmp_ok($down->{failed_since}, '>=', 3, "after at least fall = 3 failures ($down->{failed_since})");
ok(!grep({ $_ >= 3 } @up_seen), 'and still up after 2');
is($down->{last_error}, 'status 503', 'the reason: status 503');
is($down->{state}, 'up', 'its administrative state is unchanged');
is_deeply(origins(20), { a => 20 }, 'no request goes to the down server');

# Back after `rise` (2) good checks.
$base = server('app', $pb)->{checks_ok};
is(http_get($pb, '/_origin/health/ok')->{status}, 200, 'b passes its checks again');
my (@down_seen, $up);
wait_for(sub {
    my $s = server('app', $pb);
    my $n = $s->{checks_ok} - $base;
    if ($s->{health} eq 'down') { push @down_seen, $n; return 0 }
    $up = $s;
    $up->{ok_since} = $n;
    return 1;
}, 5);
ok($up, 'b is up again');
cmp_ok($up->{ok_since}, '>=', 2, "after at least rise = 2 checks ($up->{ok_since})");
ok(!grep({ $_ >= 2 } @down_seen), 'and still down after 1');
my $seen = origins(10);
ok($seen->{a} && $seen->{b} && !$seen->{error}, 'requests go to both again');

my $log = slurp($t->error_log);
my @downs = $log =~ m{app/127\.0\.0\.1:$pb up -> down: (.*)}g;
is_deeply(\@downs, ['status 503'], 'one "up -> down" line for b, with the reason');
my @ups = $log =~ m{app/127\.0\.0\.1:$pb down -> up}g;
is(scalar(@ups), 1, 'one "down -> up" line for b');
unlike($log, qr{app/127\.0\.0\.1:$pa (up|down) ->}, 'a never changed');

# tcp checks: the dead server is down with the connect error.
ok(wait_for(sub { server('l4', $dead)->{health} eq 'down' }, 3), 'tcp check: the dead server is down');
is(server('l4', $dead)->{last_error}, 'connect: Connection refused', 'reason: connect: Connection refused');
is(server('l4', $t->origin('c'))->{health}, 'up', 'tcp check: the live server is up');
is_deeply(origins(6, '/l4/x'), { c => 6 }, 'requests go to the live server only');

# expect and body.
my $pd = $t->origin('d');
ok(wait_for(sub {
    my $s = status_json();
    server('picky', $pd, $s)->{last_check_ms_ago} && server('teapot', $pd, $s)->{last_check_ms_ago}
        && server('no-teapot', $pd, $s)->{last_error} && server('wrongbody', $pd, $s)->{last_error}
        && server('redirect', $pd, $s)->{last_check_ms_ago};
}, 3), 'the checks of d ran');
my $s = status_json();
is(server('picky', $pd, $s)->{health}, 'up', 'expect = [200] and body "^ok$": up');
is(server('teapot', $pd, $s)->{health}, 'up', 'expect = [200, 418]: a 418 is up');
is(server('no-teapot', $pd, $s)->{health}, 'down', 'no expect: a 418 is down');
is(server('no-teapot', $pd, $s)->{last_error}, 'status 418', 'reason: status 418');
is(server('redirect', $pd, $s)->{health}, 'up', 'no expect: a 302 is up');
is(server('wrongbody', $pd, $s)->{health}, 'down', 'a body that does not match: down');
is(server('wrongbody', $pd, $s)->{last_error}, 'body does not match', 'reason: body does not match');
is(http_get($pd, '/_origin/health/fail')->{status}, 200, 'd starts failing');
ok(wait_for(sub { server('picky', $pd)->{health} eq 'down' }, 3), 'picky: down on a 503');
is(server('picky', $pd)->{last_error}, 'status 503', 'reason: status 503');
http_get($pd, '/_origin/health/ok');
ok(wait_for(sub { server('picky', $pd)->{health} eq 'up' }, 3), 'picky: up again');

# Broken servers, and a chunked body.
ok(wait_for(sub {
    my $j = status_json();
    !grep { !server('broken', $_, $j)->{last_check_ms_ago} } $silent, $closer, $garbage, $chunked;
}, 5), 'the broken servers were checked');
$s = status_json();
is(server('broken', $silent, $s)->{last_error}, 'timeout after 800 ms', 'silent: timeout after 800 ms');
is(server('broken', $closer, $s)->{last_error}, 'connection closed', 'closer: connection closed');
is(server('broken', $garbage, $s)->{last_error}, 'invalid response', 'garbage: invalid response');
is(server('broken', $_, $s)->{health}, 'down', 'down') for $silent, $closer, $garbage;
is(server('broken', $chunked, $s)->{health}, 'up', 'a chunked body is decoded before matching');

# initial = "down" comes up after rise checks.
ok(wait_for(sub { server('late', $t->origin('e'))->{health} eq 'up' }, 4), 'initial = "down": up after its checks');
cmp_ok(server('late', $t->origin('e'))->{checks_ok}, '>=', 2, 'after rise = 2 of them');
is(http_get($web, '/late/x')->{headers}{'x-origin'}, 'e', 'and now it gets requests');

# A disabled server is not checked.
is(server('off', $t->origin('e'))->{checks_ok} + server('off', $t->origin('e'))->{checks_failed}, 0,
   'a disabled server is not checked');

# One checker, whatever the number of workers.
my $st = $t->status;
is(scalar(() = $st->{raw} =~ /^checker=/mg), 1, 'one checker process');

# A reload starts a new checker; verdicts are kept: nothing flaps.
http_get($pb, '/_origin/health/fail');
ok(wait_for(sub { server('app', $pb)->{health} eq 'down' }, 5), 'b down again');
my ($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reloaded') or diag($err);
$s = status_json();
is($s->{generation}, 2, 'the new generation answers');
is(server('app', $pb, $s)->{health}, 'down', 'b is still down after the reload');
is(server('app', $pa, $s)->{health}, 'up', 'a is still up');
is(server('late', $t->origin('e'), $s)->{health}, 'up', 'initial = "down" does not apply again to a known server');
my $mark = server('app', $pa)->{checks_ok};
ok(wait_for(sub { server('app', $pa)->{checks_ok} >= $mark + 3 }, 3), 'the new checker checks');
$log = slurp($t->error_log);
is(scalar(() = $log =~ m{app/127\.0\.0\.1:$pa (?:up|down) ->}g), 0, 'a never flapped');
is(scalar(() = $log =~ m{app/127\.0\.0\.1:$pb up -> down}g), 2, 'b went down twice, once per failure');
is(scalar(() = $log =~ m{late/\S+ up -> down}g), 0, 'late never went down');
is_deeply(origins(10), { a => 10 }, 'requests still avoid b');

$t->done;
