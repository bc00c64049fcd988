# Identity headers (issue 12, point 2): every header name cerberus sets to
# say who the client is (X-Consumer, each forward_claims header anywhere
# in the config, the client-certificate headers, X-Forwarded-*, X-Real-IP,
# Forwarded, X-Request-ID, a request_headers value made of $consumer) is
# removed from every request on every route before any policy, in any
# case and with '_' for '-'; two Authorization headers or two credentials
# of one kind are a 400 with a log line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');
my $d = $t->dir;

my $secret = 'a-hmac-secret-of-at-least-32-bytes!';
$t->write_file('secret', "$secret\n");
system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $d/tls.key "
       . "-out $d/tls.pem -days 2 -subj /CN=localhost >/dev/null 2>&1") == 0 or die 'openssl';

sub token {
    my (%c) = @_;
    my $json = JSON::PP->new->canonical;
    my $in = encode_base64url($json->encode({ alg => 'HS256', typ => 'JWT' })) . '.'
           . encode_base64url($json->encode(\%c));
    return "$in." . encode_base64url(hmac_sha256($in, $secret));
}

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
              { name = "trust"; address = "127.0.0.1:%%PORT:trust%%"; trust_request_id = true; },
              { name = "tls"; address = "127.0.0.1:%%PORT:tls%%";
                tls = { certificates = ( { cert = "$d/tls.pem"; key = "$d/tls.key"; } );
                        client_subject_header = "X-Ssl-Subject";
                        client_fingerprint_header = "X-Ssl-Fp"; }; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
consumers = ( { name = "acme"; api_keys = [ "acme-key" ]; } );
routes = (
  { path_prefix = "/both/"; pool = "p";
    auth = { api_key = {};
             jwt = { algorithms = [ "HS256" ]; secret_file = "$d/secret";
                     forward_claims = { sub = "X-User-Id"; tier = "X-Tier"; }; }; }; },
  { path_prefix = "/q/"; pool = "p";
    auth = { api_key = { query = "api_key"; strip = false; }; }; },
  { path_prefix = "/other/"; pool = "p";
    auth = { jwt = { algorithms = [ "HS256" ]; secret_file = "$d/secret";
                     forward_claims = { org = "X-Org-Id"; }; }; };
    request_headers = { set = { X-Who = "by \$consumer"; X-Static = "1"; }; }; },
  { path_prefix = "/open/"; pool = "p"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $P = $t->port('web');

sub seen { Cerb::origin_headers($_[0]) }

# ---- the combination the review found: api_key + jwt, a valid API key ----
my $r = http_get($P, '/both/x', 'X-Api-Key' => 'acme-key', 'X-User-Id' => 'admin',
                 'X-Consumer' => 'forged');
is($r->{status}, 200, 'api_key + jwt route, a valid API key: 200');
my $s = seen($r);
is($s->{'x-user-id'}, undef, '... a client X-User-Id (a forward_claims header) does not reach the origin');
is_deeply($s->{'x-consumer'}, ['acme'], '... X-Consumer is cerberus\'s only');
$r = http_raw($P, "GET /both/x HTTP/1.1\r\nHost: a\r\nX-Api-Key: acme-key\r\nx_user_id: admin\r\n"
                . "X_User_Id: admin\r\nx-TIER: gold\r\nX_Consumer: forged\r\nConnection: close\r\n\r\n");
$s = seen($r);
is($r->{status}, 200, 'api_key with underscore and case twins of identity headers: 200');
is_deeply([sort grep { /user|tier|consumer/ } keys %$s], ['x-consumer'],
          '... none of the twins reaches the origin') or diag(explain($s));

# a valid token: the claims are the token's, never the client's
my $tok = token(sub => 'user-42', tier => 'gold', exp => time + 300);
$r = http_raw($P, "GET /both/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer $tok\r\n"
                . "X-User-Id: admin\r\nX_User_Id: admin\r\nConnection: close\r\n\r\n");
$s = seen($r);
is($r->{status}, 200, 'a valid token: 200');
is_deeply($s->{'x-user-id'}, ['user-42'], '... X-User-Id is the token\'s sub only');
is_deeply($s->{'x-tier'}, ['gold'], '... X-Tier the token\'s claim');
is($s->{'x_user_id'}, undef, '... the twin is gone');

# ---- a route without auth: every spelling of every identity header --------
my @names = qw(X-Consumer X-User-Id X-Tier X-Org-Id X-Who X-Ssl-Subject X-Ssl-Fp
               X-Client-Subject X-Client-Fingerprint X-Forwarded-For X-Forwarded-Proto
               X-Forwarded-Host X-Real-IP Forwarded X-Request-ID);
sub spellings {
    my ($n) = @_;
    (my $u = $n) =~ tr/-/_/;
    return ($n, lc $n, uc $n, $u, lc $u, ucfirst(lc $u));
}
my ($head, $i) = ('', 0);
my %sent;
for my $n (@names) {
    for my $sp (spellings($n)) {
        my $v = 'forged-' . $i++;
        $sent{$v} = $sp;
        $head .= "$sp: $v\r\n";
    }
}
$r = http_raw($P, "GET /open/x HTTP/1.1\r\nHost: a\r\n$head"
                . "X-Static_Thing: kept\r\nX-Static: kept-too\r\nConnection: close\r\n\r\n");
is($r->{status}, 200, 'a route without auth: ' . scalar(keys %sent) . ' forged identity headers, 200');
$s = seen($r);
my @leaked = map { "$_: @{ $s->{$_} }" } grep { my $k = $_; grep { /^forged-/ } @{ $s->{$k} } } keys %$s;
is_deeply(\@leaked, [], '... not one of them reaches the origin, whatever its case or _');
is_deeply($s->{'x-forwarded-for'}, ['127.0.0.1'], '... X-Forwarded-For is cerberus\'s');
is_deeply($s->{'x-forwarded-proto'}, ['http'], '... X-Forwarded-Proto too');
like($s->{'x-request-id'}[0] // '', qr/^[0-9a-f]{32}$/, '... X-Request-ID too');
is_deeply($s->{'x-static_thing'}, ['kept'], '... other headers with _ pass');
is_deeply($s->{'x-static'}, ['kept-too'], '... a request_headers name without a variable is not an identity header');

# the same on the TLS listener and on a route with auth but other claims
$r = http_raw($P, "GET /other/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer "
                . token(sub => 'bob', org => 'o1', exp => time + 300)
                . "\r\nX-Org_Id: o2\r\nX-User-Id: admin\r\nX-Who: forged\r\nConnection: close\r\n\r\n");
$s = seen($r);
is_deeply([$s->{'x-org-id'}, $s->{'x-org_id'}, $s->{'x-user-id'}, $s->{'x-who'}],
          [['o1'], undef, undef, ['by bob']],
          'a route with other forward_claims: its own claim set, every other identity header gone')
    or diag(explain($s));

SKIP: {
    my $out = `printf 'GET /open/x HTTP/1.1\\r\\nHost: a\\r\\nX-Ssl-Subject: CN=root\\r\\nx_ssl_fp: ab\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -quiet -connect 127.0.0.1:@{[ $t->port('tls') ]} 2>/dev/null`;
    skip 'openssl s_client gave nothing', 2 unless $out =~ /^HTTP\/1\.1 200/;
    unlike($out, qr/CN=root/, 'TLS listener: a client X-Ssl-Subject does not reach the origin');
    unlike($out, qr/"ab"/, '... nor x_ssl_fp');
}

# ---- X-Request-ID on a trusted listener: only as the standard spells it ---
$r = http_raw($t->port('trust'), "GET /open/x HTTP/1.1\r\nHost: a\r\nX_Request_ID: twin-id\r\n"
                               . "X-Request-ID: good-id\r\nConnection: close\r\n\r\n");
$s = seen($r);
is_deeply($s->{'x-request-id'}, ['good-id'], 'trust_request_id: the client X-Request-ID is kept');
is($s->{'x_request_id'}, undef, '... its underscore twin is not');

# ---- two credentials of one kind: 400, logged -----------------------------
my $basic = 'Basic ' . MIME::Base64::encode_base64('a:b', '');
for my $case (
    [ '/open/x', "Authorization: Bearer $tok\r\nAuthorization: $basic\r\n",
      'two Authorization headers', 'two Authorization headers on a route without auth' ],
    [ '/both/x', "Authorization: Bearer $tok\r\nauthorization: Bearer $tok\r\n",
      'two Authorization headers', 'two Authorization headers (the same token)' ],
    [ '/both/x', "X-Api-Key: acme-key\r\nX-Api-Key: other\r\n",
      'more than one API key header', 'two X-Api-Key headers' ],
    [ '/both/x', "X-Api-Key: acme-key\r\nX_Api_Key: other\r\n",
      'more than one API key header', 'X-Api-Key and X_Api_Key' ],
    [ '/q/x?api_key=acme-key', "X-Api-Key: acme-key\r\n",
      'an API key in both the header and the query', 'a key in the header and the query' ],
    [ '/q/x?api_key=acme-key&api_key=other', '',
      'more than one API key query parameter', 'two api_key query parameters' ],
) {
    my ($path, $h, $why, $name) = @$case;
    $r = http_raw($P, "GET $path HTTP/1.1\r\nHost: a\r\n${h}Connection: close\r\n\r\n");
    is($r->{status}, 400, "$name: 400");
    ok(wait_for(sub { (Cerb::slurp($t->error_log) // '') =~ /: 400 .*\Q$why\E$/m }, 5),
       "$name: logged ($why)");
}
# one of each kind still passes
$r = http_raw($P, "GET /q/x?api_key=acme-key HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
is($r->{status}, 200, 'one key in the query: 200');
$r = http_raw($P, "GET /both/x HTTP/1.1\r\nHost: a\r\nX-Api-Key: acme-key\r\n"
                . "Authorization: Bearer $tok\r\nConnection: close\r\n\r\n");
is($r->{status}, 200, 'an API key and a token (different kinds): 200');

$t->done;
