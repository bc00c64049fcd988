# Quotas: counted in shared memory, exact across 2 workers over fresh
# connections; the request over the limit gets 429 with its own JSON
# error and Retry-After up to the end of the UTC day or month; counts are
# written to state_dir every quota_interval and at stop, loaded at start,
# kept across reload; a named quota is one count wherever it is used; a
# broken state file or state_dir refuses the start; config errors by
# file:line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time);
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');
my $d = $t->dir;

my $conf = <<"EOF";
%%PREAMBLE%%
workers = 2;
state_dir = "%%DIR%%/state";
quota_interval = "1s";
admin = { address = "127.0.0.1:%%PORT:admin%%"; };
consumers = (
  { name = "acme"; api_keys = [ "acme-key" ]; },
  { name = "globex"; api_keys = [ "globex-key" ]; }
);
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { name = "orders"; path_prefix = "/q/"; pool = "p";
    auth = { api_key = { header = "X-Api-Key"; }; };
    quota = { key = "consumer"; limit = 5; per = "day"; }; },
  { path_prefix = "/m/"; pool = "p";
    quota = { name = "monthly"; key = "ip"; limit = 3; per = "month"; }; },
  { path_prefix = "/m2/"; pool = "p";
    quota = { name = "monthly"; key = "ip"; limit = 3; per = "month"; }; },
  { path_prefix = "/two/"; pool = "p";
    quotas = ( { key = "ip"; limit = 100; per = "month"; },
               { key = "header:X-Team"; limit = 2; } ); },
  { path_prefix = "/"; pool = "p"; }
);
EOF
$t->write_conf($conf);
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');
my $state = "$d/state/quotas.state";

sub counts { Cerb::get_statuses($port, @_) }

sub secs_to_midnight { my $now = time; return 86400 - int($now) % 86400 }
sub secs_to_month_end {
    my @g = gmtime(time);
    my ($y, $m) = ($g[5] + 1900, $g[4] + 1);
    ($y, $m) = $m == 12 ? ($y + 1, 1) : ($y, $m + 1);
    return POSIX::mktime(0, 0, 0, 1, $m - 1, $y - 1900) - POSIX::mktime(gmtime(time));
}

# ---- exact counts per consumer, over both workers ----------------------------
my ($c, $r) = counts('/q/x', 7, 'X-Api-Key' => 'acme-key');
is($c->{200}, 5, 'limit 5 per day: 5 of 7 requests of acme pass') or diag(explain($c));
is($c->{429}, 2, 'the 2 others get 429') or diag(explain($c));
my $no = $r->[5];
like($no->{body}, qr/^\{"error":"quota exceeded","policy":"quota"\}/,
     'a JSON error of its own (not the rate limit\'s)');
my $left = secs_to_midnight();
cmp_ok(abs($no->{headers}{'retry-after'} - $left), '<=', 2,
       'Retry-After: the seconds until the end of the UTC day')
    or diag("$no->{headers}{'retry-after'} vs $left");
is($no->{headers}{'x-quota-limit'}, 5, 'X-Quota-Limit: 5');
is($no->{headers}{'x-quota-remaining'}, 0, 'X-Quota-Remaining: 0');
($c) = counts('/q/x', 2, 'X-Api-Key' => 'globex-key');
is($c->{200}, 2, 'another consumer has its own count') or diag(explain($c));
($c) = counts('/q/x', 1);
is($c->{401}, 1, 'authentication comes first: no key, 401, nothing counted');

# ---- per-route counters in the admin API's /status -------------------------
my $st = json_body(http_get($t->port('admin'), '/status')) || {};
my ($orders) = grep { ($_->{name} // '') eq 'orders' } @{ $st->{routes} || [] };
is($orders->{requests}, 10, '/status: route "orders" counts its 10 requests') or diag(explain($st->{routes}));
is($orders->{refused}, 3, '3 refused by the gateway');
is_deeply($orders->{refused_by}, { access => 0, auth => 1, rate_limit => 0, quota => 2, transform => 0 },
          'by policy: 1 auth, 2 quota') or diag(explain($orders));
is($orders->{pool}, 'p', 'with its pool');
is($st->{gateway}{quota_table}, 16384, 'the quota table\'s size (default)');
is($st->{gateway}{quota_evictions}, 0, 'no evictions');

# ---- written every quota_interval ---------------------------------------------
ok(wait_for(sub { slurp($state) =~ /^[0-9a-f]{16} \d+ 5 route:orders consumer:acme$/m }, 10),
   'the state file holds acme\'s 5 within quota_interval') or diag(slurp($state));
like(slurp($state), qr/^[0-9a-f]{16} \d+ 2 route:orders consumer:globex$/m, 'and globex\'s 2');

# ---- a named quota is one count --------------------------------------------------
my ($c1) = counts('/m/x', 2);
my ($c2) = counts('/m2/x', 2);
is($c1->{200} + $c2->{200}, 3, 'quota "monthly" on two routes: 3 in all pass')
    or diag(explain([$c1, $c2]));
my $mr = http_get($port, '/m/x');
is($mr->{status}, 429, 'then both refuse');
cmp_ok(abs($mr->{headers}{'retry-after'} - secs_to_month_end()), '<=', 2,
       'per month: Retry-After runs to the first of next month, UTC')
    or diag($mr->{headers}{'retry-after'} . ' vs ' . secs_to_month_end());

# ---- several quotas ---------------------------------------------------------------
($c) = counts('/two/x', 3, 'X-Team' => 'red');
is($c->{200}, 2, 'quotas: the tighter one refuses') or diag(explain($c));
($c) = counts('/two/x', 1, 'X-Team' => 'blue');
is($c->{200}, 1, 'keyed by header: another team passes');

# ---- reload keeps counts -----------------------------------------------------------
my ($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload') or diag($err);
($c) = counts('/q/x', 2, 'X-Api-Key' => 'acme-key');
is($c->{429}, 2, 'after a reload acme is still over its quota') or diag(explain($c));

# ---- stop and start: nothing forgotten ----------------------------------------------
($c) = counts('/q/x', 1, 'X-Api-Key' => 'globex-key');
is($c->{200}, 1, 'globex: a third request');
is($t->stop('QUIT'), 0, 'graceful stop');
like(slurp($state), qr/^[0-9a-f]{16} \d+ 3 route:orders consumer:globex$/m,
     'the stop wrote globex\'s 3') or diag(slurp($state));
ok($t->start, 'started again');
like(slurp($t->error_log), qr/quotas\.state: \d+ quota counts loaded/, 'the start logs the counts loaded');
($c) = counts('/q/x', 2, 'X-Api-Key' => 'acme-key');
is($c->{429}, 2, 'acme: still refused after stop/start') or diag(explain($c));
($c) = counts('/q/x', 3, 'X-Api-Key' => 'globex-key');
is($c->{200}, 2, 'globex: exactly the 2 it had left') or diag(explain($c));
is($c->{429}, 1, 'then refused') or diag(explain($c));
($c) = counts('/m2/x', 1);
is($c->{429}, 1, 'the monthly quota too');
is($t->stop('TERM'), 0, 'fast stop');
like(slurp($state), qr/^[0-9a-f]{16} \d+ 5 route:orders consumer:globex$/m,
     'a fast stop writes the state too');

# ---- counts of past periods are dropped; bad lines skipped ------------------------------
my $text = slurp($state);
$text .= "0123456789abcdef 1 9 old-day ip:1.2.3.4\n" . "not a line\n";
$t->write_file($state, $text);
ok($t->start, 'starts with a stale entry and a bad line');
like(slurp($t->error_log), qr/quotas\.state: 1 lines skipped/, 'the bad line is reported');
$t->stop;
unlike(slurp($state), qr/old-day/, 'a past day is not carried');

# ---- a broken state file or state_dir refuses the start --------------------------------
$t->write_file($state, "garbage\n");
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'start', '-c', $t->conf_path);
isnt($rc, 0, 'a state file that is not one: start refused');
like($err . slurp($t->error_log), qr/\Q$state\E:1: not a cerberus quota state file/, 'saying file:line');
unlink $state;
(my $c2conf = $conf) =~ s{%%DIR%%/state}{%%DIR%%/cerberus.conf};
$t->write_file("$d/bad-state.conf", $t->expand($c2conf));
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'run', '-c', "$d/bad-state.conf");
isnt($rc, 0, 'state_dir not a directory: refused');
like($err, qr/state_dir "\Q$d\E\/cerberus.conf": not a directory/, 'and why') or diag($err);

# ---- config errors ----------------------------------------------------------------------
my $f = "$d/bad.conf";
$t->write_file($f, <<"EOF");
listeners = ( { name = "l"; address = "127.0.0.1:1"; }, { name = "t"; address = "127.0.0.1:3"; protocol = "tcp"; pool = "p"; quota = { limit = 1; }; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:2"; } ); } );
routes = (
  { path_prefix = "/a"; pool = "p"; quota = { limit = 0; }; },
  { path_prefix = "/b"; pool = "p"; quota = { limit = 1; per = "week"; }; },
  { path_prefix = "/c"; pool = "p"; quota = { limit = 1; key = "cookie:x"; }; },
  { path_prefix = "/d"; pool = "p"; quotas = ( { name = "n"; limit = 1; },
                                               { name = "n"; limit = 2; per = "month"; } ); },
  { path_prefix = "/e"; pool = "p"; quota = { name = "a b"; limit = 1; }; },
  { path_prefix = "/f"; pool = "p"; quota = { per = "day"; }; }
);
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'bad quotas fail check');
is($err, <<"EOF", 'each error by file:line') or diag($err);
$f:1: listeners[1]: rate_limit and quota apply to HTTP listeners only
$f:4: routes[0].quota.limit: 0 is out of range (1 to 1000000000000)
$f:5: routes[1].quota.per: invalid value "week" (expected one of "day", "month")
$f:6: routes[2].quota: key: "cookie:x" is not ip, consumer, header:NAME or jwt:CLAIM
$f:8: quota "n": differs in key or per from the one of that name at $f:7
$f:9: routes[4].quota: name: "a b" has a space or a control character
$f:10: routes[5].quota: missing required key "limit"
EOF

$t->done;
