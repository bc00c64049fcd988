# health.timeout may exceed health.interval (HAProxy and Envoy allow it):
# the config is accepted, a server never has two checks in flight (a
# round that comes due while a check runs is skipped), and a server whose
# check hangs is still marked down after the timeout.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use Cerb;

my $t = Cerb->new;
my $h = 'interval = "300ms"; timeout = "2s"; rise = 1; fall = 1;';
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
admin = { address = "127.0.0.1:%%PORT:admin%%"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "slow"; servers = ( { address = "127.0.0.1:%%ORIGIN:slow%%"; } );
    health = { $h path = "/health?delay_ms=3000"; }; },
  { name = "mid"; servers = ( { address = "127.0.0.1:%%ORIGIN:mid%%"; } );
    health = { $h path = "/health?delay_ms=700"; }; },
  { name = "fast"; servers = ( { address = "127.0.0.1:%%ORIGIN:fast%%"; } );
    health = { $h }; }
);
routes = ( { path_prefix = "/"; pool = "fast"; } );
EOF

my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'interval = "300ms"; timeout = "2s" checks');
is($err, '', 'with no error');

sub server {
    my ($pool) = @_;
    my $s = Cerb::json_body(Cerb::http_get($t->port('admin'), '/status')) || {};
    for my $p (@{ $s->{pools} || [] }) {
        return $p->{servers}[0] if $p->{name} eq $pool;
    }
    return {};
}

sub stats {
    my ($name) = @_;
    return Cerb::json_body(Cerb::http_get($t->origin($name), '/_origin/stats')) || {};
}

SKIP: {
    my $t0 = time;
    skip 'cerberus did not start', 9 unless ok($t->start, 'starts');

    # The hanging server: down after its first check times out (2 s),
    # whatever the interval.
    my $down = Cerb::wait_for(sub {
        my $s = server('slow');
        return ($s->{health} // '') eq 'down' ? $s : undef;
    }, 8);
    my $el = time - $t0;
    ok($down, 'a server whose /health hangs is marked down');
    is($down && $down->{last_error}, 'timeout after 2000 ms', 'by the timeout');
    cmp_ok($el, '>=', 1.9, sprintf('not before the timeout (%.2f s)', $el));

    # Three checks of the hanging server: every one ran its full 2 s
    # alone; with overlapping checks they would come every 300 ms.
    ok(Cerb::wait_for(sub { (stats('slow')->{health_requests} // 0) >= 3 }, 10),
       'the hanging server is checked again');
    my $slow = stats('slow');
    my $span = time - $t0;
    cmp_ok($slow->{health_gap_min_ms}, '>=', 1800,
           "never two checks in flight: $slow->{health_requests} checks, "
           . "at least $slow->{health_gap_min_ms} ms apart");
    cmp_ok($slow->{health_requests}, '<=', int($span / 2) + 1,
           sprintf('at most one check per timeout (%.1f s)', $span));

    # A check of 700 ms (over the interval, under the timeout) passes,
    # and the next one waits for it.
    my $mid = stats('mid');
    is(server('mid')->{health}, 'up', 'a check slower than the interval passes');
    cmp_ok($mid->{health_gap_min_ms}, '>=', 690,
           "and is never overlapped ($mid->{health_requests} checks, "
           . "at least $mid->{health_gap_min_ms} ms apart)");

    # A fast server is still checked every interval.
    my $fast = stats('fast');
    cmp_ok($fast->{health_requests}, '>=', int($span / 0.33) - 2,
           sprintf('a fast server is checked every 300 ms (%d checks in %.1f s)',
                   $fast->{health_requests}, $span));
}

$t->done;
