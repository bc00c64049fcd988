# Gateway authentication: consumers with API keys (plain, sha256:, from a
# file), api_key in a header or the query, basic auth against an htpasswd
# file (bcrypt, SHA-crypt), several methods on one route, X-Consumer sent
# upstream (and a client's own dropped), the key stripped, every refusal
# a 401 with WWW-Authenticate, and the config errors by exact text.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');
my $d = $t->dir;

$t->write_file('keys.txt', "# partner keys\n\n  file-key-1  \nfile-key-2\r\n");
my %hash = (
    alice => crypt('alice-pw', '$2y$04$abcdefghijklmnopqrstuu'),
    bob   => crypt('bob-pw', '$6$saltsalt$'),
    carol => crypt('carol-pw', '$5$saltsalt$'),
);
$t->write_file('users', join '', map { "$_:$hash{$_}\n" } sort keys %hash);

my $sha = sha256_hex('hashed-key');
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
              { name = "inh"; address = "127.0.0.1:%%PORT:inh%%";
                auth = { api_key = { header = "X-Key"; }; }; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
consumers = (
  { name = "acme"; api_keys = [ "acme-key", "sha256:$sha" ]; },
  { name = "globex"; api_keys_file = "$d/keys.txt"; },
  { name = "alice"; }
);
routes = (
  { name = "inh-basic"; listeners = [ "inh" ]; path_prefix = "/b/"; pool = "p";
    auth = { basic = { users = "$d/users"; }; }; },
  { name = "inh"; listeners = [ "inh" ]; path_prefix = "/"; pool = "p"; },
  { name = "key"; path_prefix = "/key/"; pool = "p"; auth = { api_key = {}; }; },
  { name = "keep"; path_prefix = "/keep/"; pool = "p";
    auth = { api_key = { header = "Token"; query = "apikey"; strip = false; }; }; },
  { name = "basic"; path_prefix = "/basic/"; pool = "p";
    auth = { basic = { users = "$d/users"; realm = "Staff area"; }; }; },
  { name = "both"; path_prefix = "/both/"; pool = "p";
    auth = { api_key = {}; basic = { users = "$d/users"; }; }; },
  { name = "open"; path_prefix = "/"; pool = "p"; }
);
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'the config checks') or diag($err);
ok($t->start, 'cerberus starts') or BAIL_OUT('no cerberus');
my $P = $t->port('web');

# The request t/origin saw: header name (lc) -> [values].
sub seen {
    my ($r) = @_;
    my $j = Cerb::json_body($r) or return {};
    my %h;
    push @{ $h{ lc $_->[0] } }, $_->[1] for @{ $j->{headers} };
    return \%h;
}

sub refused {
    my ($r, $www, $name) = @_;
    is($r->{status}, 401, "$name: 401");
    is($r->{headers}{'www-authenticate'}, $www, "$name: WWW-Authenticate");
    is($r->{body}, qq({"error":"unauthorized","policy":"auth"}\n), "$name: JSON body");
}

# ---- api_key in a header
my $r = Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'acme-key', 'X-Consumer' => 'forged');
is($r->{status}, 200, 'api_key: a plain key passes');
my $s = seen($r);
is_deeply($s->{'x-consumer'}, ['acme'], 'api_key: X-Consumer names the consumer, the forged one dropped');
ok(!$s->{'x-api-key'}, 'api_key: the key is stripped');

$r = Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'hashed-key');
is_deeply(seen($r)->{'x-consumer'}, ['acme'], 'api_key: a key given as sha256: passes');
$r = Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'file-key-1');
is_deeply(seen($r)->{'x-consumer'}, ['globex'], 'api_key: a key from api_keys_file (blanks trimmed)');
$r = Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'file-key-2');
is_deeply(seen($r)->{'x-consumer'}, ['globex'], 'api_key: a CRLF line of api_keys_file');

refused(Cerb::http_get($P, '/key/x'), 'ApiKey', 'api_key missing');
refused(Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'acme-kez'), 'ApiKey', 'api_key wrong');
refused(Cerb::http_get($P, '/key/x', 'X-Api-Key' => "sha256:$sha"), 'ApiKey',
        'api_key: the digest itself is no key');
refused(Cerb::http_get($P, '/key/x', 'X-Api-Key' => '# partner keys'), 'ApiKey',
        'api_key: a comment line of the file is no key');
refused(Cerb::http_get($P, '/key/x?apikey=acme-key'), 'ApiKey',
        'api_key: no query key unless configured');

# ---- named header, query parameter, kept
$r = Cerb::http_get($P, '/keep/x', 'Token' => 'acme-key');
is($r->{status}, 200, 'api_key: a named header');
is_deeply(seen($r)->{token}, ['acme-key'], 'api_key: strip = false keeps the key');
$r = Cerb::http_get($P, '/keep/x?a=1&apikey=file-key-2&b=2');
is($r->{status}, 200, 'api_key: a query parameter');
$s = seen($r);
is_deeply($s->{'x-consumer'}, ['globex'], 'api_key: the query key identifies the consumer');
is(Cerb::json_body($r)->{query}, 'a=1&apikey=file-key-2&b=2', 'api_key: the query is kept');
refused(Cerb::http_get($P, '/keep/x?apikey=nope'), 'ApiKey', 'api_key: a wrong query key');
refused(Cerb::http_get($P, '/keep/x?apikey='), 'ApiKey', 'api_key: an empty query key');

# ---- basic
sub basic { 'Basic ' . encode_base64($_[0], '') }
for my $u (qw(alice bob carol)) {
    $r = Cerb::http_get($P, '/basic/x', Authorization => basic("$u:$u-pw"), 'X-Consumer' => 'forged');
    is($r->{status}, 200, "basic: $u (" . substr($hash{$u}, 0, 3) . ") passes");
    is_deeply(seen($r)->{'x-consumer'}, [$u], "basic: $u is the consumer");
}
my $www = 'Basic realm="Staff area"';
refused(Cerb::http_get($P, '/basic/x'), $www, 'basic missing');
refused(Cerb::http_get($P, '/basic/x', Authorization => basic('alice:bob-pw')), $www, 'basic wrong password');
refused(Cerb::http_get($P, '/basic/x', Authorization => basic('dave:alice-pw')), $www, 'basic unknown user');
refused(Cerb::http_get($P, '/basic/x', Authorization => basic('alice')), $www, 'basic without a colon');
refused(Cerb::http_get($P, '/basic/x', Authorization => 'Basic !!!!'), $www, 'basic not base64');
refused(Cerb::http_get($P, '/basic/x', Authorization => 'Bearer abc'), $www, 'basic: another scheme');
refused(Cerb::http_get($P, '/basic/x', 'X-Api-Key' => 'acme-key'), $www, 'basic: an API key is not asked');

# ---- several methods: api_key, then basic
$r = Cerb::http_get($P, '/both/x', 'X-Api-Key' => 'acme-key');
is_deeply(seen($r)->{'x-consumer'}, ['acme'], 'both: the API key');
$r = Cerb::http_get($P, '/both/x', Authorization => basic('bob:bob-pw'));
is_deeply(seen($r)->{'x-consumer'}, ['bob'], 'both: basic');
$r = Cerb::http_get($P, '/both/x', 'X-Api-Key' => 'wrong', Authorization => basic('bob:bob-pw'));
$s = seen($r);
is_deeply($s->{'x-consumer'}, ['bob'], 'both: a wrong key, then good basic: basic wins');
ok(!$s->{'x-api-key'}, 'both: the wrong key is stripped all the same');
$r = Cerb::http_get($P, '/both/x', 'X-Api-Key' => 'acme-key', Authorization => basic('bob:nope'));
is_deeply(seen($r)->{'x-consumer'}, ['acme'], 'both: the first that succeeds wins');
$r = Cerb::http_get($P, '/both/x');
is($r->{status}, 401, 'both: nothing: 401');
is_deeply([ map { $_->[1] } grep { lc $_->[0] eq 'www-authenticate' } @{ $r->{header_list} } ],
          ['ApiKey', 'Basic realm="cerberus"'], 'both: one challenge per method');
refused(Cerb::http_get($P, '/both/x', 'X-Api-Key' => 'no', Authorization => basic('bob:no')),
        'ApiKey, Basic realm="cerberus"', 'both wrong');

# ---- no auth: the client's X-Consumer is not touched
$r = Cerb::http_get($P, '/open', 'X-Consumer' => 'anyone');
is_deeply(seen($r)->{'x-consumer'}, ['anyone'], 'a route without auth passes X-Consumer as it is');

# ---- a listener's auth is the default of its routes
my $I = $t->port('inh');
$r = Cerb::http_get($I, '/x', 'X-Key' => 'acme-key');
is($r->{status}, 200, "listener: its routes inherit its api_key");
$s = seen($r);
is_deeply($s->{'x-consumer'}, ['acme'], 'listener: the consumer');
ok(!$s->{'x-key'}, "listener: the listener's key header is stripped");
refused(Cerb::http_get($I, '/x', 'X-Api-Key' => 'acme-key'), 'ApiKey', "listener: the listener's header only");
$r = Cerb::http_get($I, '/b/x', Authorization => basic('bob:bob-pw'));
is_deeply(seen($r)->{'x-consumer'}, ['bob'], "listener: a route's own auth replaces the listener's");
refused(Cerb::http_get($I, '/b/x', 'X-Key' => 'acme-key'), 'Basic realm="cerberus"',
        "listener: the route's auth, not the listener's");

# ---- reload: the key and user files are read again
$t->write_file('keys.txt', "file-key-3\n");
$t->write_file('users', join('', map { "$_:$hash{$_}\n" } qw(bob carol))
               . 'dave:' . crypt('dave-pw', '$6$othersalt$') . "\n");
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload with new key and user files') or diag($err);
ok(Cerb::wait_for(sub { (Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'file-key-3')->{status} // 0) == 200 }),
   'reload: a new key of the file passes');
is(Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'file-key-1')->{status}, 401, 'reload: a removed key is refused');
is(Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'acme-key')->{status}, 200, 'reload: the config keys still pass');
is(Cerb::http_get($P, '/basic/x', Authorization => basic('dave:dave-pw'))->{status}, 200, 'reload: a new user passes');
is(Cerb::http_get($P, '/basic/x', Authorization => basic('alice:alice-pw'))->{status}, 401, 'reload: a removed user is refused');

# A keys file gone: the reload is refused and the running keys stay.
unlink "$d/keys.txt";
($rc, $out, $err) = $t->ctl('reload');
is($rc, 1, 'reload: a missing api_keys_file is refused');
like($err, qr{^\Q$d\E/cerberus\.conf:\d+: api_keys_file "\Q$d\E/keys\.txt": No such file or directory$}m,
     'reload: the error names the file');
is(Cerb::http_get($P, '/key/x', 'X-Api-Key' => 'file-key-3')->{status}, 200, 'reload refused: the keys stay');

# ---- the logs: the policy and the reason, never the secret
my $log = Cerb::slurp($t->error_log);
like($log, qr/route "key": 401 by auth: no API key/, 'log: a missing key');
like($log, qr/route "key": 401 by auth: unknown API key/, 'log: a wrong key');
like($log, qr/route "basic": 401 by auth: wrong password/, 'log: a wrong password');
like($log, qr/route "basic": 401 by auth: unknown user/, 'log: an unknown user');
like($log, qr/route "both": 401 by auth: no valid credentials: api_key: unknown API key; basic: wrong password/,
     'log: every method named');
unlike($log, qr/acme-kez|bob-pw|alice-pw|nope/, 'log: no secret');

# ---- config errors, by exact text
sub check_err {
    my ($conf, $want, $name) = @_;
    my $f = $t->write_file('bad.conf', $conf);
    my ($rc2, undef, $e) = Cerb::run_cmd(Cerb::cerberus_bin(), 'check', '-c', $f);
    is($rc2, 1, "$name: refused");
    $want =~ s/%%F%%/$f/g;
    $want =~ s/%%D%%/$d/g;
    is($e, $want, "$name: the errors");
}
$t->write_file('dupkeys.txt', "k1\nk2\nk1\n\nsha256:abc\n");
$t->write_file('badusers', "alice:$hash{alice}\nnocolon\nbob:\$apr1\$x\$y\nalice:$hash{bob}\nsp ace:$hash{bob}\n");
$t->write_file('nousers', "# none\n");
my $head = <<'EOF';
listeners = ( { name = "web"; address = "127.0.0.1:1"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:2"; } ); } );
EOF
check_err($head . <<"EOF",
consumers = (
  { name = "a"; api_keys = [ "k1", "sha256:12" ]; },
  { name = "a"; api_keys = [ "k1", "with space" ]; },
  { name = "b"; api_keys_file = "%%DIR%%/dupkeys.txt"; },
  { name = "c"; api_keys_file = "%%DIR%%/missing.txt"; }
);
routes = ( { path_prefix = "/"; pool = "p"; } );
EOF
    "%%F%%:4: consumer \"a\": a sha256: key needs 64 hex digits\n"
  . "%%F%%:5: consumers[1]: duplicate name \"a\"\n"
  . "%%F%%:5: consumer \"a\": duplicate API key (also consumer \"a\")\n"
  . "%%F%%:5: consumer \"a\": an API key must be printable ASCII with no spaces\n"
  . "%%D%%/dupkeys.txt:1: consumer \"b\": duplicate API key (also consumer \"a\")\n"
  . "%%D%%/dupkeys.txt:3: consumer \"b\": duplicate API key (also consumer \"a\")\n"
  . "%%D%%/dupkeys.txt:5: consumer \"b\": a sha256: key needs 64 hex digits\n"
  . "%%F%%:7: api_keys_file \"%%D%%/missing.txt\": No such file or directory\n",
    'consumers');
check_err($head . <<"EOF",
routes = (
  { path_prefix = "/a/"; pool = "p"; auth = { api_key = { query = "k"; }; }; },
  { path_prefix = "/b/"; pool = "p"; auth = { }; },
  { path_prefix = "/c/"; pool = "p"; auth = { basic = { users = "%%DIR%%/badusers"; realm = "a\\"b"; }; }; },
  { path_prefix = "/d/"; pool = "p"; auth = { basic = { users = "%%DIR%%/nousers"; }; }; },
  { path_prefix = "/e/"; pool = "p"; auth = { basic = { users = "%%DIR%%/none"; }; }; },
  { path_prefix = "/f/"; pool = "p"; auth = { jwt = { algorithms = [ "RS256" ]; }; }; }
);
EOF
    "%%F%%:4: routes[0]: auth.api_key: no consumers are defined\n"
  . "%%F%%:4: routes[0]: auth.api_key: a query key cannot be stripped in this release; set strip = false\n"
  . "%%F%%:5: routes[1]: auth: needs api_key, jwt or basic\n"
  . "%%F%%:6: routes[2]: auth.basic.realm: printable ASCII with no quotes or backslashes\n"
  . "%%D%%/badusers:2: expected user:hash\n"
  . "%%D%%/badusers:3: user \"bob\": unsupported password hash (use bcrypt \$2y\$, SHA-crypt \$5\$/\$6\$ or yescrypt \$y\$)\n"
  . "%%D%%/badusers:4: duplicate user \"alice\"\n"
  . "%%D%%/badusers:5: user name must be 1 to 63 printable ASCII characters with no spaces\n"
  . "%%F%%:7: routes[3]: auth.basic.users \"%%D%%/nousers\" has no users\n"
  . "%%F%%:8: auth.basic.users \"%%D%%/none\": No such file or directory\n"
  . "%%F%%:9: routes[5]: auth.jwt is not supported in this release\n",
    'auth');

$t->done;
