# Gateway CORS: a preflight answered 204 at the gateway (never proxied)
# with the allowed methods, headers, max age and credentials; an origin
# not in the list gets no Access-Control-* header; actual requests from
# an allowed origin get Allow-Origin, Expose-Headers and credentials, and
# every response on a CORS route gets Vary: Origin.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF2");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/api/"; pool = "a";
    cors = { origins = [ "https://app.example", "http://localhost:3000" ];
             methods = [ "GET", "POST", "DELETE" ]; headers = [ "Authorization", "Content-Type" ];
             expose = [ "X-Total", "X-Page" ]; credentials = true; max_age = "1h"; }; },
  { path_prefix = "/pub/"; pool = "a"; cors = { origins = [ "*" ]; }; },
  { path_prefix = "/keyed/"; pool = "a"; cors = { origins = [ "https://app.example" ]; };
    auth = { api_key = { header = "X-Api-Key"; }; };
    rate_limit = { rate = "1/h"; burst = 2; }; },
  { path_prefix = "/"; pool = "a"; }
);
consumers = ( { name = "app"; api_keys = [ "secret-key-1" ]; } );
EOF2
ok($t->start, 'cerberus starts with cors');
my $P = $t->port('web');

sub preflight {
    my ($path, $origin, %h) = @_;
    return Cerb::http_request($P, 'OPTIONS', $path, headers => {
        Origin => $origin, 'Access-Control-Request-Method' => 'POST', %h });
}

my $before = Cerb::json_body(Cerb::http_get($A, '/_origin/stats')) // {};
my $r = preflight('/api/orders', 'https://app.example',
                  'Access-Control-Request-Headers' => 'content-type');
is($r->{status}, 204, 'a preflight from an allowed origin is answered 204');
is($r->{headers}{'access-control-allow-origin'}, 'https://app.example', '  Allow-Origin is the origin');
is($r->{headers}{'access-control-allow-methods'}, 'GET, POST, DELETE', '  Allow-Methods');
is($r->{headers}{'access-control-allow-headers'}, 'Authorization, Content-Type', '  Allow-Headers');
is($r->{headers}{'access-control-max-age'}, '3600', '  Max-Age in seconds');
is($r->{headers}{'access-control-allow-credentials'}, 'true', '  Allow-Credentials');
is($r->{headers}{vary}, 'Origin', '  Vary: Origin');
is($r->{body}, '', '  no body');

$r = preflight('/api/orders', 'https://evil.example');
is($r->{status}, 204, 'a preflight from another origin is answered too');
is(scalar(grep { $_->[0] =~ /^access-control-/i } @{ $r->{header_list} }), 0,
   '  without any Access-Control-* header');

$r = preflight('/pub/x', 'https://anyone.example', 'Access-Control-Request-Headers' => 'X-Foo, X-Bar');
is($r->{headers}{'access-control-allow-origin'}, '*', 'origins ["*"] without credentials: "*"');
is($r->{headers}{'access-control-allow-headers'}, 'X-Foo, X-Bar', '  requested headers echoed when none listed');
is($r->{headers}{'access-control-allow-methods'}, 'GET, HEAD, PUT, PATCH, POST, DELETE', '  default methods');
is($r->{headers}{'access-control-max-age'}, '600', '  default max age 10m');
ok(!exists $r->{headers}{'access-control-allow-credentials'}, '  no credentials header');

my $after = Cerb::json_body(Cerb::http_get($A, '/_origin/stats')) // {};
is($after->{requests} - $before->{requests}, 1, 'no preflight reached the origin (only the stats request)');

# A preflight carries no credentials: on a route with auth and a rate
# limit it is answered without them, and counts against no limit.  (The
# limit, by ip, is decided before auth: the two 401s and the 200 below
# take its 3 requests; one preflight counted would make a 429.)
for my $i (1 .. 3) {
    $r = preflight('/keyed/x', 'https://app.example');
    is($r->{status}, 204, "preflight $i on a route with auth and a limit: 204 without a key");
}
is($r->{headers}{'access-control-allow-origin'}, 'https://app.example', '  with its CORS headers');
$r = Cerb::http_get($P, '/keyed/x', Origin => 'https://app.example');
is($r->{status}, 401, 'the actual request without a key: 401');
is($r->{headers}{'access-control-allow-origin'}, 'https://app.example',
   '  with Access-Control-Allow-Origin, so the page can read the 401');
like($r->{headers}{vary} // '', qr/Origin/, '  and Vary: Origin');
my $r401 = Cerb::http_get($P, '/keyed/x', Origin => 'https://evil.example');
is($r401->{status}, 401, 'from a disallowed origin: 401 too');
ok(!exists $r401->{headers}{'access-control-allow-origin'}, '  without any CORS header');
$r = Cerb::http_get($P, '/keyed/x', Origin => 'https://app.example', 'X-Api-Key' => 'secret-key-1');
is($r->{status}, 200, 'with the key: 200 (the preflights used none of its limit)');

$r = Cerb::http_request($P, 'OPTIONS', '/api/x', headers => { Origin => 'https://app.example' });
is($r->{status}, 200, 'an OPTIONS without Access-Control-Request-Method is proxied');

$r = Cerb::http_get($P, '/api/x?header=Access-Control-Allow-Origin:*', Origin => 'https://app.example');
is($r->{status}, 200, 'an actual request from an allowed origin');
is($r->{headers}{'access-control-allow-origin'}, 'https://app.example',
   "  gets Allow-Origin (the origin's own replaced)");
is($r->{headers}{'access-control-expose-headers'}, 'X-Total, X-Page', '  Expose-Headers');
is($r->{headers}{'access-control-allow-credentials'}, 'true', '  Allow-Credentials');
is($r->{headers}{vary}, 'Origin', '  Vary: Origin');

$r = Cerb::http_get($P, '/api/x', Origin => 'https://evil.example');
is(scalar(grep { $_->[0] =~ /^access-control-/i } @{ $r->{header_list} }), 0,
   'an actual request from another origin: no Access-Control-* header');
is($r->{headers}{vary}, 'Origin', '  but Vary: Origin');
$r = Cerb::http_get($P, '/api/x');
is($r->{headers}{vary}, 'Origin', 'a request without Origin: Vary: Origin');
$r = Cerb::http_get($P, '/pub/x', Origin => 'http://x.example');
is($r->{headers}{'access-control-allow-origin'}, '*', '"*" on actual requests');
$r = Cerb::http_get($P, '/other', Origin => 'https://app.example');
ok(!exists $r->{headers}{'access-control-allow-origin'}, 'a route without cors: nothing added');

my $f = $t->write_file('bad.conf', <<"EOF2");
%%PREAMBLE%%
listeners = ( { name = "web"; address = "127.0.0.1:1"; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = ( { path_prefix = "/"; pool = "a";
             cors = { origins = [ "app.example", "https://a.example/" ]; methods = [ "GET POST" ]; }; },
           { path_prefix = "/b/"; pool = "a"; cors = { origins = [ "*", "https://a.example" ]; }; } );
EOF2
my ($rc, $out, $err) = Cerb::run_cmd(Cerb::cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'bad cors fails check');
like($err, qr/\Q$f\E:\d+: routes\[0\]: cors\.origins\[0\]: "app\.example" is not an origin \(scheme:\/\/host\[:port\]\)/,
     'an origin without a scheme');
like($err, qr/routes\[0\]: cors\.origins\[1\]: "https:\/\/a\.example\/" is not an origin/, 'an origin with a path');
like($err, qr/routes\[0\]: cors\.methods: "GET POST" is not a method/, 'a bad method');
like($err, qr/routes\[1\]: cors\.origins: "\*" must be the only origin/, '"*" with others');

$t->done;
