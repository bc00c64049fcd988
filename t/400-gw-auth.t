# Gateway authentication: consumers with API keys (plain, sha256:, from a
# file), api_key in a header or the query, basic auth against an htpasswd
# file (bcrypt, SHA-crypt), JWT for every algorithm with keys made by
# openssl here (claims, leeway, kid, forwarded claims, 401 and 403),
# several methods on one route, X-Consumer sent
# upstream (and a client's own dropped), the key stripped, every refusal
# a 401 with WWW-Authenticate, and the config errors by exact text.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64 encode_base64url);
use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);
use JSON::PP;
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

# ---- JWT keys, made here
my $secret = 'a-hmac-secret-of-at-least-32-bytes!';
$t->write_file('secret', "$secret\n");
sub sh { system("@_ >/dev/null 2>&1") == 0 or die "failed: @_" }
sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $d/rsa.key");
sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $d/rsa2.key");
sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $d/ec256.key");
sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out $d/ec384.key");
sh("openssl genpkey -algorithm ED25519 -out $d/ed.key");
sh("openssl pkey -in $d/$_.key -pubout -out $d/$_.pem") for qw(rsa rsa2 ec256 ec384 ed);

# A JWKS of other keys: RSA (n, e), EC P-384 (x, y), Ed25519 (x), oct (k).
my $secret2 = 'another-hmac-secret-for-the-jwks-file';
sub spki_tail { my ($f, $n) = @_; my $der = `openssl pkey -pubin -in $d/$f.pem -outform DER`; substr($der, -$n) }
my ($mod) = `openssl rsa -pubin -in $d/rsa2.pem -noout -modulus` =~ /Modulus=([0-9A-F]+)/;
my ($mod1) = `openssl rsa -pubin -in $d/rsa.pem -noout -modulus` =~ /Modulus=([0-9A-F]+)/;
my $ecpt = spki_tail('ec384', 97);
$t->write_file('jwks.json', encode_json({ keys => [
    { kty => 'RSA', use => 'enc', n => 'AA', e => 'AQAB', kid => 'skipped' },
    { kty => 'RSA', kid => 'r2', alg => 'RS256', n => encode_base64url(pack 'H*', $mod), e => 'AQAB' },
    { kty => 'RSA', kid => 'r1', alg => 'PS256', n => encode_base64url(pack 'H*', $mod1), e => 'AQAB' },
    { kty => 'EC', kid => 'e3', crv => 'P-384', x => encode_base64url(substr($ecpt, 1, 48)),
      y => encode_base64url(substr($ecpt, 49, 48)) },
    { kty => 'OKP', kid => 'ed', crv => 'Ed25519', x => encode_base64url(spki_tail('ed', 32)) },
    { kty => 'oct', kid => 'hs', k => encode_base64url($secret2) },
] }));

sub der2raw {
    my ($der, $n) = @_;
    my $i = 2;
    $i += ord(substr($der, 1, 1)) & 0x7f if ord(substr($der, 1, 1)) & 0x80;
    my $out = '';
    for (1 .. 2) {
        my $len = ord(substr($der, $i + 1, 1));
        my $v = substr($der, $i + 2, $len);
        $v =~ s/^\x00+//;
        $out .= ("\x00" x ($n - length $v)) . $v;
        $i += 2 + $len;
    }
    return $out;
}

sub sign {
    my ($alg, $key, $data) = @_;
    return hmac_sha256($data, $key) if $alg eq 'HS256';
    return hmac_sha384($data, $key) if $alg eq 'HS384';
    return hmac_sha512($data, $key) if $alg eq 'HS512';
    $t->write_file('data', $data);
    my $cmd = $alg eq 'EdDSA' ? "openssl pkeyutl -sign -rawin -inkey $d/$key.key -in $d/data"
            : "openssl dgst -sha" . substr($alg, 2) . " -sign $d/$key.key"
              . ($alg =~ /^PS/ ? ' -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest' : '')
              . " $d/data";
    my $sig = `$cmd`;
    die "sign $alg failed" unless length $sig;
    $sig = der2raw($sig, $alg eq 'ES256' ? 32 : 48) if $alg =~ /^ES/;
    return $sig;
}

my %key_of = (RS256 => 'rsa', RS384 => 'rsa', RS512 => 'rsa', PS256 => 'rsa',
              ES256 => 'ec256', ES384 => 'ec384', EdDSA => 'ed');
my $now = time;
my %good = (sub => 'user-42', iss => 'https://id.example', aud => 'api',
            exp => $now + 300, scope => 'orders:read orders:write', tier => 'gold');

# A token: header fields (alg, kid...), claims; key defaults by alg.
sub token {
    my ($h, $c, $key) = @_;
    my $json = JSON::PP->new->canonical;
    my $in = encode_base64url($json->encode($h)) . '.' . encode_base64url($json->encode($c));
    return "$in." if $h->{alg} eq 'none';
    $key //= $h->{alg} =~ /^HS/ ? $secret : $key_of{ $h->{alg} };
    return "$in." . encode_base64url(sign($h->{alg}, $key, $in));
}
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
  { name = "jwt"; path_prefix = "/jwt/"; pool = "p";
    auth = { jwt = { algorithms = [ "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
                                    "ES256", "ES384", "EdDSA" ];
                     secret_file = "$d/secret";
                     keys_pem = [ "$d/rsa.pem", "$d/ec256.pem", "$d/ec384.pem", "$d/ed.pem" ];
                     issuer = "https://id.example"; audience = [ "web", "api" ]; leeway = "30s";
                     required_claims = [ "sub" ]; claims = { scope = "orders:read"; };
                     forward_claims = { sub = "X-User-Id"; tier = "X-Tier"; level = "X-Level"; };
                     strip_token = true; }; }; },
  { name = "jwtrs"; path_prefix = "/jwtrs/"; pool = "p";
    auth = { jwt = { algorithms = [ "RS256" ]; keys_pem = [ "$d/rsa.pem", "$d/rsa2.pem" ];
                     header = "X-Token"; cookie = "tok"; }; }; },
  { name = "jwks"; path_prefix = "/jwks/"; pool = "p";
    auth = { jwt = { algorithms = [ "RS256", "PS256", "ES384", "EdDSA", "HS512" ]; keys = "$d/jwks.json"; }; }; },
  { name = "multi"; path_prefix = "/multi/"; pool = "p";
    auth = { api_key = {}; jwt = { algorithms = [ "HS256" ]; secret_file = "$d/secret"; };
             basic = { users = "$d/users"; }; }; },
  { name = "open"; path_prefix = "/"; pool = "p"; }
);
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'the config checks') or diag($err);
ok($t->start, 'cerberus starts') or BAIL_OUT('no cerberus');
my $P = $t->port('web');

# The request t/origin saw: header name (lc) -> [values].
sub seen { Cerb::origin_headers($_[0]) }

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

# ---- jwt: every algorithm
sub bearer { (Authorization => "Bearer $_[0]") }
for my $alg (qw(HS256 HS384 HS512 RS256 RS384 RS512 PS256 ES256 ES384 EdDSA)) {
    my %h = (alg => $alg, typ => 'JWT');
    $h{kid} = $key_of{$alg} if $alg eq 'ES256';     # a kid matching the file name
    $r = Cerb::http_get($P, '/jwt/x', bearer(token(\%h, \%good)), 'X-User-Id' => 'forged');
    is($r->{status}, 200, "jwt $alg passes");
    $s = seen($r);
    if ($alg eq 'HS256') {
        is_deeply($s->{'x-user-id'}, ['user-42'], 'jwt: sub forwarded as X-User-Id, the forged one dropped');
        is_deeply($s->{'x-tier'}, ['gold'], 'jwt: another claim forwarded');
        ok(!$s->{'x-level'}, 'jwt: an absent claim forwards nothing');
        is_deeply($s->{'x-consumer'}, ['user-42'], 'jwt: sub is the consumer');
        ok(!$s->{authorization}, 'jwt: strip_token removes the token');
    }
}
sub jwt_refused {
    my ($path, $tok, $st, $www, $why, $name) = @_;
    my $rr = Cerb::http_get($P, $path, ref $tok ? @$tok : bearer($tok));
    is($rr->{status}, $st, "jwt $name: $st");
    is($rr->{headers}{'www-authenticate'}, $www, "jwt $name: WWW-Authenticate");
    is($rr->{body}, $st == 403 ? qq({"error":"forbidden","policy":"auth"}\n)
                               : qq({"error":"unauthorized","policy":"auth"}\n), "jwt $name: JSON body");
    like(Cerb::slurp($t->error_log), qr/: $st by auth: \Q$why\E$/m, "jwt $name: logged as $why");
}
my $bad = 'Bearer error="invalid_token"';
my %hs = (alg => 'HS256');
jwt_refused('/jwt/x', [], 401, 'Bearer', 'no bearer token', 'missing');
jwt_refused('/jwt/x', token(\%hs, { %good, exp => $now - 100 }), 401, $bad, 'token expired', 'expired');
is(Cerb::http_get($P, '/jwt/x', bearer(token(\%hs, { %good, exp => $now - 10 })))->{status}, 200,
   'jwt: expired within the leeway passes');
jwt_refused('/jwt/x', token(\%hs, { %good, nbf => $now + 100 }), 401, $bad, 'token not yet valid', 'not yet valid');
is(Cerb::http_get($P, '/jwt/x', bearer(token(\%hs, { %good, nbf => $now + 10 })))->{status}, 200,
   'jwt: nbf within the leeway passes');
jwt_refused('/jwt/x', token(\%hs, { %good, iss => 'https://evil.example' }), 401, $bad, 'wrong issuer', 'wrong issuer');
jwt_refused('/jwt/x', token(\%hs, { %good, aud => 'other' }), 401, $bad, 'wrong audience', 'wrong audience');
is(Cerb::http_get($P, '/jwt/x', bearer(token(\%hs, { %good, aud => [ 'x', 'web' ] })))->{status}, 200,
   'jwt: an audience array with an accepted member passes');
my $tok = token({ alg => 'RS256' }, \%good);
(my $tampered = $tok) =~ s/^([^.]+)\.([^.]+)/$1 . '.' . encode_base64url(encode_json({ %good, sub => 'admin' }))/e;
jwt_refused('/jwt/x', $tampered, 401, $bad, 'bad signature', 'bad signature');
jwt_refused('/jwt/x', token({ alg => 'RS256' }, \%good, 'rsa2'), 401, $bad, 'bad signature', 'signed by another key');
jwt_refused('/jwt/x', token({ alg => 'none' }, \%good), 401, $bad, 'algorithm not allowed', 'alg none');
jwt_refused('/jwtrs/x', [ 'X-Token' => token(\%hs, \%good) ], 401, $bad, 'algorithm not allowed', 'alg not allowed');
jwt_refused('/jwt/x', token({ alg => 'RS256', kid => 'nokey' }, \%good), 401, $bad, 'unknown kid', 'unknown kid');
jwt_refused('/jwt/x', 'abc.def', 401, $bad, 'malformed token', 'malformed');
my %nosub = %good; delete $nosub{sub};
jwt_refused('/jwt/x', token(\%hs, \%nosub), 403, 'Bearer error="insufficient_scope"', 'missing claim sub', 'missing claim');
jwt_refused('/jwt/x', token(\%hs, { %good, scope => 'orders:write' }), 403, 'Bearer error="insufficient_scope"',
            'claim scope lacks "orders:read"', 'claim value');
is(Cerb::http_get($P, '/jwt/x', bearer(token(\%hs, { %good, scope => [ 'a', 'orders:read' ] })))->{status}, 200,
   'jwt: a claim array holding the value passes');

# kid picks the key; a named header; a cookie; the token kept
$r = Cerb::http_get($P, '/jwtrs/x', 'X-Token' => token({ alg => 'RS256', kid => 'rsa2' }, \%good, 'rsa2'));
is($r->{status}, 200, 'jwt: kid picks the second key');
is_deeply(seen($r)->{'x-token'}, [ token({ alg => 'RS256', kid => 'rsa2' }, \%good, 'rsa2') ],
          'jwt: the token kept without strip_token');
jwt_refused('/jwtrs/x', [ 'X-Token' => token({ alg => 'RS256', kid => 'rsa' }, \%good, 'rsa2') ], 401, $bad,
            'bad signature', 'kid of another key');
$r = Cerb::http_get($P, '/jwtrs/x', Cookie => 'a=b; tok=' . token({ alg => 'RS256' }, \%good));
is($r->{status}, 200, 'jwt: a token in a cookie');
$r = Cerb::http_get($P, '/jwtrs/x', 'X-Token' => 'Bearer ' . token({ alg => 'RS256' }, \%good));
is($r->{status}, 200, 'jwt: Bearer in a named header');

# ---- keys from a JWKS file
for ([ 'RS256', 'r2', 'rsa2' ], [ 'PS256', 'r1', 'rsa' ], [ 'ES384', 'e3', 'ec384' ], [ 'EdDSA', 'ed', 'ed' ], [ 'HS512', 'hs', $secret2 ]) {
    my ($alg, $kid, $key) = @$_;
    is(Cerb::http_get($P, '/jwks/x', bearer(token({ alg => $alg, kid => $kid }, \%good, $key)))->{status}, 200,
       "jwks: $alg with kid $kid");
}
is(Cerb::http_get($P, '/jwks/x', bearer(token({ alg => 'ES384' }, \%good, 'ec384')))->{status}, 200,
   'jwks: a token without kid takes the key of its kind');
jwt_refused('/jwks/x', token({ alg => 'RS256', kid => 'r2' }, \%good, 'rsa'), 401, $bad, 'bad signature', 'jwks: another key');
jwt_refused('/jwks/x', token({ alg => 'HS512', kid => 'hs' }, \%good, $secret), 401, $bad, 'bad signature',
            'jwks: another secret');
jwt_refused('/jwks/x', token({ alg => 'PS256', kid => 'r2' }, \%good, 'rsa2'), 401, $bad, 'unknown kid',
            "jwks: a key's own alg binds it");
jwt_refused('/jwks/x', token({ alg => 'RS256', kid => 'r1' }, \%good, 'rsa'), 401, $bad, 'unknown kid',
            "jwks: a key's own alg binds it (2)");
jwt_refused('/jwks/x', token({ alg => 'RS256', kid => 'skipped' }, \%good, 'rsa2'), 401, $bad, 'unknown kid',
            'jwks: an enc key is not used');

# ---- api_key, jwt, basic on one route
$r = Cerb::http_get($P, '/multi/x', bearer(token(\%hs, \%good)));
is_deeply(seen($r)->{'x-consumer'}, ['user-42'], 'multi: jwt');
$r = Cerb::http_get($P, '/multi/x', Authorization => basic('bob:bob-pw'));
is_deeply(seen($r)->{'x-consumer'}, ['bob'], 'multi: basic after no bearer token');
$r = Cerb::http_get($P, '/multi/x', 'X-Api-Key' => 'acme-key', bearer(token(\%hs, \%good)));
is_deeply(seen($r)->{'x-consumer'}, ['acme'], 'multi: api_key first');
$r = Cerb::http_get($P, '/multi/x');
is_deeply([ map { $_->[1] } grep { lc $_->[0] eq 'www-authenticate' } @{ $r->{header_list} } ],
          ['ApiKey', 'Bearer', 'Basic realm="cerberus"'], 'multi: one challenge per method');
like(Cerb::slurp($t->error_log),
     qr/route "multi": 401 by auth: no valid credentials: api_key: no API key; jwt: no bearer token; basic: no basic credentials$/m,
     'multi: every reason logged');

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

# ---- no auth: the client's X-Consumer is dropped too (issue 12)
$r = Cerb::http_get($P, '/open', 'X-Consumer' => 'anyone');
is(seen($r)->{'x-consumer'}, undef, 'a route without auth drops a client X-Consumer');

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
  . "%%F%%:9: routes[5]: auth.jwt: no key for RS256 (keys_pem or keys)\n",
    'auth');
$t->write_file('short', "too short\n");
$t->write_file('badjwks.json', '{"keys":[{"kty":"oct","use":"enc","k":"AA"},{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}');
$t->write_file('nokeys.json', '{"keys":[]}');
check_err($head . <<"EOF",
routes = (
  { path_prefix = "/a/"; pool = "p"; auth = { jwt = { algorithms = [ "none", "HS257", "HS256" ]; }; }; },
  { path_prefix = "/b/"; pool = "p"; auth = { jwt = { algorithms = [ "ES256" ]; keys_pem = [ "%%DIR%%/rsa.pem" ]; }; }; },
  { path_prefix = "/c/"; pool = "p"; auth = { jwt = { algorithms = [ "HS256" ]; secret_file = "%%DIR%%/short"; }; }; },
  { path_prefix = "/d/"; pool = "p"; auth = { jwt = { algorithms = [ "RS256" ]; keys_pem = [ "%%DIR%%/secret" ]; }; }; },
  { path_prefix = "/e/"; pool = "p"; auth = { jwt = { algorithms = [ "RS256" ]; keys = "%%DIR%%/nojwks.json"; keys_pem = [ "%%DIR%%/rsa.pem" ]; }; }; },
  { path_prefix = "/g/"; pool = "p"; auth = { jwt = { algorithms = [ "ES256" ]; keys = "%%DIR%%/badjwks.json"; }; }; },
  { path_prefix = "/h/"; pool = "p"; auth = { jwt = { algorithms = [ "HS256" ]; keys = "%%DIR%%/nokeys.json"; secret_file = "%%DIR%%/secret"; }; }; },
  { path_prefix = "/f/"; pool = "p"; auth = { jwt = { algorithms = [ "RS256" ]; keys_pem = [ "%%DIR%%/rsa.pem" ];
                                                     cookie = "t"; strip_token = true;
                                                     forward_claims = { sub = "X User"; }; }; }; }
);
EOF
    "%%F%%:4: routes[0]: auth.jwt.algorithms: \"none\" is never allowed\n"
  . "%%F%%:4: routes[0]: auth.jwt.algorithms: unknown algorithm \"HS257\" (HS256, HS384, HS512, RS256, RS384, RS512, PS256, ES256, ES384, EdDSA)\n"
  . "%%F%%:4: routes[0]: auth.jwt: no key for HS256 (secret_file or keys)\n"
  . "%%F%%:5: routes[1]: auth.jwt: no key for ES256 (keys_pem or keys)\n"
  . "%%F%%:6: routes[2]: auth.jwt.secret_file \"%%D%%/short\": a secret of 32 to 4096 bytes is needed\n"
  . "%%F%%:6: routes[2]: auth.jwt: no key for HS256 (secret_file or keys)\n"
  . "%%F%%:7: routes[3]: auth.jwt.keys_pem \"%%D%%/secret\": not a PEM public key\n"
  . "%%F%%:7: routes[3]: auth.jwt: no key for RS256 (keys_pem or keys)\n"
  . "%%F%%:8: routes[4]: auth.jwt.keys \"%%D%%/nojwks.json\": No such file or directory\n"
  . "%%F%%:9: routes[5]: auth.jwt.keys \"%%D%%/badjwks.json\": keys[1]: an EC key must be P-256 or P-384\n"
  . "%%F%%:9: routes[5]: auth.jwt: no key for ES256 (keys_pem or keys)\n"
  . "%%F%%:10: routes[6]: auth.jwt.keys \"%%D%%/nokeys.json\": no \"keys\" array\n"
  . "%%F%%:11: routes[7]: auth.jwt: a cookie token cannot be stripped in this release; set strip_token = false\n"
  . "%%F%%:11: routes[7]: auth.jwt.forward_claims: \"X User\" is not a header name\n",
    'jwt');

$t->done;
