# Rate limits and quotas against brute force (issue 12, point 7): a limit
# or quota whose key needs no identity (ip, header:NAME) is decided before
# auth, so wrong API keys count against it and get 429 once over it; one
# keyed by the consumer or a JWT claim is decided after auth, so failed
# attempts never reach it.
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
state_dir = "%%DIR%%/state";
consumers = ( { name = "acme"; api_keys = [ "acme-key" ]; } );
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/ip/"; pool = "p";
    auth = { api_key = {}; };
    rate_limit = { key = "ip"; rate = "1/h"; burst = 3; }; },
  { path_prefix = "/hdr/"; pool = "p";
    auth = { api_key = {}; };
    rate_limit = { key = "header:X-Client"; rate = "1/h"; burst = 1; }; },
  { path_prefix = "/cons/"; pool = "p";
    auth = { api_key = {}; };
    rate_limit = { key = "consumer"; rate = "1/h"; burst = 1; }; },
  { path_prefix = "/both/"; pool = "p";
    auth = { api_key = {}; };
    rate_limits = ( { key = "consumer"; rate = "1/h"; burst = 0; },
                    { name = "per-ip"; key = "ip"; rate = "1/h"; burst = 4; } ); },
  { path_prefix = "/qip/"; pool = "p";
    auth = { api_key = {}; };
    quota = { name = "qip"; key = "ip"; limit = 3; per = "day"; }; },
  { path_prefix = "/qcons/"; pool = "p";
    auth = { api_key = {}; };
    quota = { name = "qcons"; key = "consumer"; limit = 1; per = "day"; }; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $P = $t->port('web');

sub statuses {
    my ($path, $n, %h) = @_;
    return [ map { http_get($P, $path, %h)->{status} } 1 .. $n ];
}

# ---- 10 wrong API keys against a per-ip limit of burst 3 ------------------
my $s = statuses('/ip/x', 10, 'X-Api-Key' => 'wrong');
is_deeply($s, [ (401) x 4, (429) x 6 ], 'per-ip burst 3: 10 wrong keys get 4 401s, then 429s')
    or diag("@$s");
my $r = http_get($P, '/ip/x', 'X-Api-Key' => 'wrong');
is($r->{status}, 429, 'the 429 of a wrong key');
ok(($r->{headers}{'retry-after'} // 0) > 0, '  with Retry-After');
like($r->{body}, qr/"policy":"rate_limit"/, '  by the rate limit');
ok(!exists $r->{headers}{'www-authenticate'}, '  and no challenge: auth was not tried');
is(http_get($P, '/ip/x', 'X-Api-Key' => 'acme-key')->{status}, 429,
   'the right key from that address is limited too');
ok(wait_for(sub { (Cerb::slurp($t->error_log) // '') =~ /429 by rate_limit: .*key ip\) exceeded/ }, 5),
   'the 429 is logged');

# ---- header:NAME is decided before auth, per value ------------------------
is_deeply(statuses('/hdr/x', 3, 'X-Api-Key' => 'wrong', 'X-Client' => 'a'), [401, 401, 429],
          'header:X-Client burst 1: wrong keys get 401, 401, then 429');
is(http_get($P, '/hdr/x', 'X-Api-Key' => 'acme-key', 'X-Client' => 'b')->{status}, 200,
   'another X-Client with the right key: 200');

# ---- consumer: decided after auth, wrong keys never count -----------------
is_deeply(statuses('/cons/x', 6, 'X-Api-Key' => 'wrong'), [ (401) x 6 ],
          'key consumer: wrong keys are 401, never 429');
is_deeply(statuses('/cons/x', 3, 'X-Api-Key' => 'acme-key'), [200, 200, 429],
          'the consumer has its whole burst: 200, 200, 429');

# ---- one route, both phases ------------------------------------------------
is_deeply(statuses('/both/x', 2, 'X-Api-Key' => 'acme-key'), [200, 429],
          'consumer limit (burst 0) after auth: 200, 429');
ok(wait_for(sub { (Cerb::slurp($t->error_log) // '') =~ /429 by rate_limit: .*key consumer\) exceeded/ }, 5),
   '  refused by the consumer limit');
is_deeply(statuses('/both/x', 4, 'X-Api-Key' => 'wrong'), [401, 401, 401, 429],
          'the per-ip limit counted those 2 and the wrong keys: 401 x 3, then 429');
ok(wait_for(sub { (Cerb::slurp($t->error_log) // '') =~ /429 by rate_limit: rate limit per-ip / }, 5),
   '  refused by the per-ip limit');

# ---- quotas: the same split ----------------------------------------------
$s = statuses('/qip/x', 5, 'X-Api-Key' => 'wrong');
is_deeply($s, [401, 401, 401, 429, 429], 'quota by ip (3 a day): wrong keys use it up') or diag("@$s");
$r = http_get($P, '/qip/x', 'X-Api-Key' => 'acme-key');
is($r->{status}, 429, '  then the right key gets 429 too');
like($r->{body}, qr/"policy":"quota"/, '  by the quota');
is_deeply(statuses('/qcons/x', 5, 'X-Api-Key' => 'wrong'), [ (401) x 5 ],
          'quota by consumer: wrong keys never count');
is_deeply(statuses('/qcons/x', 2, 'X-Api-Key' => 'acme-key'), [200, 429],
          '  the consumer has its whole quota: 200, then 429');

$t->done;
