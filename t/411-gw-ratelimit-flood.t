# Issue 12, point 5: flooding the shared rate-limit and quota tables with
# new keys never resets a limited key.  A tiny table (64 entries), a key
# limited, then 300 distinct header values: the limited key still gets 429
# (it used to be evicted and get a full burst again); the flood's keys
# that find no expired entry are refused with 429 ("table full", fail
# closed), and /status counts those refusals per limit.  Same for the
# quota table: a spent quota stays spent.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
rate_limit_table = 64;
quota_table = 64;
state_dir = "%%DIR%%/state";
admin = { address = "127.0.0.1:%%PORT:admin%%"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/rl/"; pool = "p";
    rate_limit = { name = "victim"; key = "header:X-Client"; rate = "1/m"; }; },
  { path_prefix = "/rlf/"; pool = "p";
    rate_limit = { name = "per-client"; key = "header:X-Client"; rate = "1/h"; }; },
  { path_prefix = "/q/"; pool = "p";
    quota = { name = "qvictim"; key = "header:X-Client"; limit = 1; per = "day"; }; },
  { path_prefix = "/qf/"; pool = "p";
    quota = { name = "daily"; key = "header:X-Client"; limit = 5; per = "day"; }; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');

sub statuses_of {
    my ($path, @keys) = @_;
    my $c = Cerb::Conn->new($port);
    my %n;
    for my $k (@keys) {
        my $r = $c && $c->get($path, 'X-Client' => $k);
        $n{ $r ? $r->{status} : 'none' }++;
        $c = Cerb::Conn->new($port)
            if !$r || lc($r->{headers}{connection} // '') eq 'close';
    }
    return \%n;
}

# The victim's entry is the stalest of the table (its TAT a minute ahead,
# the flood's an hour): the one an eviction used to pick first.
# ---- rate limit ------------------------------------------------------------
is_deeply(statuses_of('/rl/x', ('victim') x 2), { 200 => 1, 429 => 1 },
          'the victim (1/m, no burst) is limited after one request');
my $flood = statuses_of('/rlf/x', map { "flood-$_" } 1 .. 300);
ok(($flood->{429} // 0) > 0, 'the flood fills the table: its new keys are refused')
    or diag(explain($flood));
ok(($flood->{200} // 0) > 0 && ($flood->{200} // 0) <= 64, 'after at most 64 passed')
    or diag(explain($flood));
is_deeply(statuses_of('/rl/x', 'victim'), { 429 => 1 }, 'the victim is still limited');
my $r = http_get($port, '/rlf/x', 'X-Client' => 'flood-new');
is($r->{status}, 429, 'a new key while the table is full: 429');
is($r->{headers}{'retry-after'}, 1, 'Retry-After: 1');

# ---- quota -----------------------------------------------------------------
is_deeply(statuses_of('/q/x', ('victim') x 2), { 200 => 1, 429 => 1 },
          'the victim spends its quota of 1');
# two requests per flooding key: the victim's count of 1 is the smallest,
# the one an eviction used to pick
$flood = statuses_of('/qf/x', map { ("qflood-$_") x 2 } 1 .. 300);
ok(($flood->{429} // 0) > 0, 'the quota flood is refused once the table is full')
    or diag(explain($flood));
is_deeply(statuses_of('/q/x', 'victim'), { 429 => 1 }, 'the victim\'s quota is still spent');

# ---- /status ---------------------------------------------------------------
my $st = json_body(http_get($t->port('admin'), '/status')) || {};
my $g = $st->{gateway} || {};
is($g->{rate_limit_evictions}, 0, 'no rate-limit entry was evicted (all still live)');
ok(($g->{rate_limit_full} // 0) > 0, 'rate_limit_full counts the refusals')
    or diag(explain($g));
is($g->{quota_evictions}, 0, 'no quota entry was evicted');
ok(($g->{quota_full} // 0) > 0, 'quota_full counts the refusals') or diag(explain($g));
my %lim = map { ($_->{name} // '') => $_ } @{ $g->{limits} || [] };
is($lim{'per-client'}{kind}, 'rate_limit', 'the limit is listed by name') or diag(explain($g));
is($lim{'per-client'}{full}, $g->{rate_limit_full}, 'with its own "full" count');
is($lim{'per-client'}{key}, 'header:X-Client', 'and its key');
is($lim{daily}{kind}, 'quota', 'the quota too');
is($lim{daily}{full}, $g->{quota_full}, 'with its "full" count');
like($lim{daily}{at}, qr/cerberus\.conf:\d+$/, 'and the place it is set');

# ---- a reload keeps the tables and their hash keys --------------------------
my ($rc, undef, $err) = $t->ctl('reload');
is($rc, 0, 'reload') or diag($err);
is_deeply(statuses_of('/rl/x', 'victim'), { 429 => 1 }, 'after a reload the victim is still limited');
is_deeply(statuses_of('/q/x', 'victim'), { 429 => 1 }, 'and its quota still spent');

$t->done;
