# Rate limits (GCRA in shared memory): with 2 workers and every request
# on a fresh connection, exactly burst + 1 of a quick burst pass, the
# 429 carries Retry-After and RateLimit-*, a key recovers after its
# period, keys are independent, a listener's limit is its routes' default
# and a route's replaces it; bad limits are refused by file:line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
rate_limit_table = 1024;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%";
    rate_limit = { rate = "1/s"; burst = 2; }; }
);
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/burst/"; pool = "p";
    rate_limit = { rate = "60/m"; burst = 4; }; },
  { path_prefix = "/hdr/"; pool = "p";
    rate_limit = { key = "header:X-Client"; rate = "1/h"; burst = 1; }; },
  { path_prefix = "/two/"; pool = "p";
    rate_limits = ( { rate = "100/s"; burst = 50; },
                    { name = "slow"; rate = "1/m"; burst = 0; } ); },
  { path_prefix = "/cons/"; pool = "p";
    rate_limit = { key = "consumer"; rate = "1/h"; }; },
  { path_prefix = "/conc/"; pool = "p";
    rate_limit = { rate = "1/h"; burst = 99; }; },
  { path_prefix = "/inh/"; pool = "p"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');

sub statuses { Cerb::get_statuses($port, @_) }

# ---- a quick burst over fresh connections (both workers): burst + 1 pass ----
my $t0 = time;
my ($c, $r) = statuses('/burst/x', 12);
is($c->{200}, 5, '60/m burst 4: 5 of 12 quick requests pass') or diag(explain($c));
is($c->{429}, 7, 'the 7 others are refused with 429') or diag(explain($c));
my ($refused) = grep { $_->{status} == 429 } @$r;
is($refused->{headers}{'retry-after'}, 1, 'Retry-After: 1 (the next one in a second)');
is($refused->{headers}{'ratelimit-limit'}, 5, 'RateLimit-Limit: burst + 1');
is($refused->{headers}{'ratelimit-remaining'}, 0, 'RateLimit-Remaining: 0');
is($refused->{headers}{'ratelimit-reset'}, 5, 'RateLimit-Reset: the whole burst back in 5s')
    or diag($refused->{headers}{'ratelimit-reset'});
like($refused->{body}, qr/^\{"error":"rate limited","policy":"rate_limit"\}/, 'a JSON error body');
is($r->[0]{headers}{'x-origin'}, 'a', 'those that pass are proxied');
is_deeply([map { $r->[$_]{headers}{'ratelimit-remaining'} } 0 .. 4], [4, 3, 2, 1, 0],
          'and carry RateLimit-Remaining counting down')
    or diag(explain([map { $_->{headers} } @$r[0 .. 4]]));
is($r->[0]{headers}{'ratelimit-limit'}, 5, '... with RateLimit-Limit');

# ---- recovery after the period ----------------------------------------------
my $wait = $t0 + 1.2 - time;
sleep($wait) if $wait > 0;
($c) = statuses('/burst/x', 3);
is($c->{200}, 1, 'a period later one more passes') or diag(explain($c));
is($c->{429}, 2, 'and only one') or diag(explain($c));

# ---- per-key independence ----------------------------------------------------
my %by;
for my $k (qw(alice bob alice bob alice carol)) {
    my $r1 = http_get($port, '/hdr/x', 'X-Client' => $k);
    push @{ $by{$k} }, $r1->{status};
}
is_deeply(\%by, { alice => [200, 200, 429], bob => [200, 200], carol => [200] },
          'header:X-Client: each client has its own burst of 2') or diag(explain(\%by));
($c) = statuses('/hdr/x', 3);
is($c->{200}, 2, 'no header: keyed on the address, a burst of its own') or diag(explain($c));

# ---- several limits: any one refuses --------------------------------------------
($c) = statuses('/two/x', 3);
is($c->{200}, 1, 'rate_limits: "slow" (1/m, burst 0) lets one through') or diag(explain($c));
my $r2 = http_get($port, '/two/x');
cmp_ok($r2->{headers}{'retry-after'}, '>=', 59, 'Retry-After up to a minute, rounded up')
    or diag($r2->{headers}{'retry-after'});

# ---- no consumer: the address -------------------------------------------------
($c) = statuses('/cons/x', 3);
is($c->{200}, 1, 'key = "consumer" on an anonymous route counts by address') or diag(explain($c));

# ---- the listener's limit, inherited ------------------------------------------
($c) = statuses('/inh/x', 6);
is($c->{200}, 3, "a route without a limit takes its listener's (1/s burst 2)") or diag(explain($c));

# ---- concurrent clients: still exactly burst + 1 ----------------------------
# 20 processes send 25 requests each, every one on a fresh connection, so
# both workers decide at once on the same key.
my @kids;
for (1 .. 20) {
    my $pid = fork();
    if (defined $pid && $pid == 0) {
        my $n = 0;
        for (1 .. 25) {
            my $r1 = http_get($port, '/conc/x');
            $n++ if $r1 && $r1->{status} == 200;
        }
        POSIX::_exit($n);       # not exit: $t would stop cerberus
    }
    push @kids, $pid;
}
my $passed = 0;
for (@kids) { waitpid($_, 0); $passed += $? >> 8 }
is($passed, 100, '20 concurrent clients, 500 requests, 2 workers: exactly 100 pass (1/h burst 99)');

# ---- config errors --------------------------------------------------------------
my $f = $t->dir . "/bad.conf";
$t->write_file($f, <<"EOF");
listeners = ( { name = "l"; address = "127.0.0.1:1"; rate_limit = { rate = "10/w"; }; }, { name = "t"; address = "127.0.0.1:3"; protocol = "tcp"; pool = "p"; rate_limit = { rate = "1/s"; }; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:2"; } ); } );
routes = (
  { path_prefix = "/a"; pool = "p"; rate_limit = { rate = "0/s"; }; },
  { path_prefix = "/b"; pool = "p"; rate_limit = { rate = "1/s"; key = "cookie:x"; }; },
  { path_prefix = "/c"; pool = "p"; rate_limits = ( @{[ join ', ', map { qq({ rate = "1/s"; key = "jwt:c$_"; }) } 1 .. 9 ]} ); },
  { path_prefix = "/d"; pool = "p"; rate_limit = { rate = "1/d"; burst = 1000000; }; },
  { path_prefix = "/e"; pool = "p"; rate_limits = ( { name = "n"; rate = "1/s"; },
                                                    { name = "n"; rate = "2/s"; } ); },
  { path_prefix = "/f"; pool = "p"; rate_limit = { rate = "1/s"; key = "header:a b"; }; }
);
EOF
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'bad limits fail check');
is($err, <<"EOF", 'each error by file:line');
$f:1: listeners[0].rate_limit: rate: "10/w" is not a rate (N/s, N/m, N/h or N/d, N from 1 to 1000000000)
$f:1: listeners[1]: rate_limit and quota apply to HTTP listeners only
$f:4: routes[0].rate_limit: rate: "0/s" is not a rate (N/s, N/m, N/h or N/d, N from 1 to 1000000000)
$f:5: routes[1].rate_limit: key: "cookie:x" is not ip, consumer, header:NAME or jwt:CLAIM
$f:6: routes[2].rate_limits[8]: key: jwt:c9: rate limits and quotas may count by 8 claims besides sub at most
$f:7: routes[3].rate_limit: burst: 1000000 at 1/d spans more than 73 years
$f:9: rate_limit "n": differs from the one of that name at $f:8
$f:10: routes[5].rate_limit: key: "a b" is not a header name
EOF

$t->done;
