# By default 500, 502, 503 and 504 responses count as failures of the
# server for the circuit breaker and passive health (issue 12, point 18),
# as Envoy's consecutive_5xx and HAProxy's observe layer7 do; fail_status
# overrides the list and fail_status = [] turns it off.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "five"; max_fails = 0; circuit_breaker = { failures = 3; open_for = "5s"; };
    servers = ( { address = "127.0.0.1:$A"; } ); },
  { name = "mix"; max_fails = 0; circuit_breaker = { failures = 3; open_for = "5s"; };
    servers = ( { address = "127.0.0.1:$A"; } ); },
  { name = "other"; max_fails = 0; circuit_breaker = { failures = 3; open_for = "5s"; };
    servers = ( { address = "127.0.0.1:$A"; } ); },
  { name = "off"; max_fails = 0; fail_status = [ ];
    circuit_breaker = { failures = 3; open_for = "5s"; };
    servers = ( { address = "127.0.0.1:$A"; } ); },
  { name = "own"; max_fails = 0; fail_status = [ 501 ];
    circuit_breaker = { failures = 3; open_for = "5s"; };
    servers = ( { address = "127.0.0.1:$A"; } ); },
  { name = "passive"; max_fails = 2; fail_timeout = "5s";
    servers = ( { address = "127.0.0.1:$A"; } ); }
);
routes = (
  { path_prefix = "/five/"; pool = "five"; },
  { path_prefix = "/mix/"; pool = "mix"; },
  { path_prefix = "/other/"; pool = "other"; },
  { path_prefix = "/off/"; pool = "off"; },
  { path_prefix = "/own/"; pool = "own"; },
  { path_prefix = "/passive/"; pool = "passive"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');

sub log_count { my ($re) = @_; scalar(() = slurp($t->error_log) =~ /$re/g) }
# "500a": status and the answering origin ('' when cerberus answered).
sub st {
    my ($path) = @_;
    my $r = http_get($port, $path);
    return ($r->{status} // 0) . ($r->{headers}{'x-origin'} // '');
}
sub opened {
    my ($pool, $last) = @_;
    return qr/pool "$pool" server 127\.0\.0\.1:$A: circuit closed -> open for 5000 ms after 3 consecutive failures \(last: status $last\)/;
}

# A server that answers 500 to everything trips its breaker after failures.
my @s = map { st("/five/x$_?status=500") } 1 .. 3;
is_deeply(\@s, [qw(500a 500a 500a)], 'three 500 responses reach the client');
ok(wait_for(sub { log_count(opened('five', 500)) == 1 }, 2),
   'default fail_status: three 500s open the breaker');
is(st('/five/y'), '503', 'the breaker is open: cerberus answers 503, the server gets nothing');

# 502, 503 and 504 count as well.
@s = map { st("/mix/x?status=$_") } 502, 503, 504;
is_deeply(\@s, [qw(502a 503a 504a)], '502, 503, 504 reach the client');
ok(wait_for(sub { log_count(opened('mix', 504)) == 1 }, 2), '502, 503, 504: the breaker opens');
is(st('/mix/y'), '503', 'and the server gets nothing');

# Other 5xx statuses (and 4xx) do not count.
@s = map { st("/other/x?status=$_") } 501, 505, 599, 404, 501;
is_deeply(\@s, [qw(501a 505a 599a 404a 501a)], '501, 505, 599, 404 reach the client');
is(st('/other/y'), '200a', 'they are not failures: the breaker stays closed');
is(log_count(qr/pool "other" server .*circuit closed -> open/), 0, 'nothing logged');

# fail_status = [ ] turns it off.
@s = map { st("/off/x?status=500") } 1 .. 5;
is_deeply(\@s, [('500a') x 5], 'fail_status = []: five 500s reach the client');
is(st('/off/y'), '200a', 'fail_status = []: the breaker stays closed');

# fail_status replaces the default list.
@s = map { st("/own/x?status=$_") } 500, 502, 503, 504, 500;
is_deeply(\@s, [qw(500a 502a 503a 504a 500a)], 'fail_status = [501]: 500, 502, 503, 504 pass');
is(st('/own/y'), '200a', 'fail_status = [501]: they do not count');
@s = map { st("/own/z?status=501") } 1 .. 3;
ok(wait_for(sub { log_count(opened('own', 501)) == 1 }, 2), 'fail_status = [501]: three 501s open it');

# Passive health counts them too.
@s = map { st("/passive/x?status=500") } 1 .. 2;
is_deeply(\@s, [qw(500a 500a)], 'passive: two 500s reach the client');
ok(wait_for(sub { log_count(qr/pool "passive" server 127\.0\.0\.1:$A: up -> down for 5000 ms: 2 failures within fail_timeout \(last: status 500\)/) == 1 }, 2),
   'passive health: max_fails 500 responses mark the server down');

$t->done;
