# The per-worker cache of verified JWTs (auth.jwt.cache): a repeated token
# gives the upstream exactly what the first verification gave (claims
# forwarded, X-Consumer), a cached token is refused once its exp (plus
# the leeway) has passed, a token cached on one route is still checked
# against another route's audience, outputs too large to cache and
# cache = 0 still work.  Two workers; RS256 keys made here by openssl.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(encode_base64url);
use JSON::PP;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');
my $d = $t->dir;

sub sh { system("@_ >/dev/null 2>&1") == 0 or die "failed: @_" }
sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $d/rsa.key");
sh("openssl pkey -in $d/rsa.key -pubout -out $d/rsa.pem");

# An RS256 token of these claims.
sub token {
    my ($c) = @_;
    my $json = JSON::PP->new->canonical;
    my $in = encode_base64url($json->encode({ alg => 'RS256', typ => 'JWT' }))
           . '.' . encode_base64url($json->encode($c));
    $t->write_file('data', $in);
    my $sig = `openssl dgst -sha256 -sign $d/rsa.key $d/data`;
    die 'sign failed' unless length $sig;
    return "$in." . encode_base64url($sig);
}

my $jwt = sub {
    my ($aud, $more) = @_;
    return qq(auth = { jwt = { algorithms = [ "RS256" ]; keys_pem = [ "$d/rsa.pem" ];
                     audience = [ "$aud" ]; required_claims = [ "sub" ];
                     forward_claims = { sub = "X-User-Id"; tier = "X-Tier"; n = "X-N";
                                        big = "X-Big"; big2 = "X-Big2"; };
                     strip_token = true; $more }; };);
};
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:$A"; } ); } );
consumers = ( { name = "user-42"; } );
routes = (
  { name = "a"; path_prefix = "/a/"; pool = "p"; @{[ $jwt->('a', '') ]} },
  { name = "b"; path_prefix = "/b/"; pool = "p"; @{[ $jwt->('b', 'cache = 100;') ]} },
  { name = "lee"; path_prefix = "/lee/"; pool = "p"; @{[ $jwt->('a', 'leeway = "3s";') ]} },
  { name = "off"; path_prefix = "/off/"; pool = "p"; @{[ $jwt->('a', 'cache = 0;') ]} },
  { name = "tenant"; path_prefix = "/t/"; pool = "p"; @{[ $jwt->('a', '') ]}
    rate_limit = { key = "jwt:tenant"; rate = "1/h"; burst = 2; }; },
  { name = "tq"; path_prefix = "/tq/"; pool = "p"; @{[ $jwt->('a', 'cache = 0;') ]}
    quota = { key = "jwt:tenant"; limit = 2; }; }
);
state_dir = "%%DIR%%/state";
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'the config checks') or diag($err);
ok($t->start, 'cerberus starts') or BAIL_OUT('no cerberus');
my $P = $t->port('web');

# The headers t/origin received, in order, less the one that differs on
# every request (X-Request-ID): [ [name, value], ... ].
sub seen {
    my $j = Cerb::json_body($_[0]) or return undef;
    return [ grep { lc $_->[0] ne 'x-request-id' } @{ $j->{headers} } ];
}
sub hdr {
    my ($r, $name) = @_;
    return [ map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ seen($r) || [] } ];
}
sub bearer { (Authorization => "Bearer $_[0]") }

my %claims = (sub => 'user-42', aud => 'a', tier => 'gold', n => 7);

# ---- (a) the same token twice: the second from the cache, identical
for my $route (qw(a off)) {
    my $tok = token({ %claims, exp => time + 300 });
    my $c = Cerb::Conn->new($P);
    # one connection: one worker, so the second request finds the first
    my @r = map { $c->get("/$route/x", bearer($tok), 'X-Tier' => 'forged') } 1 .. 2;
    $c->close;
    is($r[0]{status}, 200, "$route: the first request passes");
    is($r[1]{status}, 200, "$route: the same token again passes");
    is_deeply(hdr($r[0], 'X-User-Id'), ['user-42'], "$route: sub forwarded");
    is_deeply(hdr($r[0], 'X-Tier'), ['gold'], "$route: a claim forwarded, the forged one dropped");
    is_deeply(hdr($r[0], 'X-N'), ['7'], "$route: a number claim forwarded");
    is_deeply(hdr($r[0], 'X-Consumer'), ['user-42'], "$route: the consumer");
    is_deeply(hdr($r[0], 'Authorization'), [], "$route: the token stripped");
    ok(seen($r[0]) && @{ seen($r[0]) } > 3, "$route: the origin echoed the headers");
    is_deeply(seen($r[1]), seen($r[0]), "$route: the upstream saw the very same headers twice");
    # on fresh connections, whichever worker answers
    my @s = map { Cerb::http_get($P, "/$route/x", bearer($tok)) } 1 .. 6;
    is_deeply([ map { $_->{status} } @s ], [ (200) x 6 ], "$route: six more pass");
    is_deeply([ grep { join("\n", map { "@$_" } @{ seen($_) || [] }) ne join("\n", map { "@$_" } @{ seen($s[0]) || [] }) } @s ],
              [], "$route: all with the same headers");
    is_deeply(hdr($s[5], 'X-Consumer'), ['user-42'], "$route: X-Consumer on a later one");
}

# A token without exp, and outputs too large to be cached: the same.
for my $case ([ 'no exp', {%claims} ],
              [ 'large claims', { %claims, exp => time + 300, big => 'x' x 500, big2 => 'y' x 500 } ]) {
    my ($name, $cl) = @$case;
    my $tok = token($cl);
    my $c = Cerb::Conn->new($P);
    my @r = map { $c->get('/a/x', bearer($tok)) } 1 .. 3;
    $c->close;
    is_deeply([ map { $_->{status} } @r ], [ 200, 200, 200 ], "$name: passes three times");
    is_deeply(seen($r[2]), seen($r[0]), "$name: the same headers each time");
    is_deeply(hdr($r[2], 'X-Big'), [ $cl->{big} // () ], "$name: the claims as they are");
}

# A failure is refused every time (never kept).
{
    my %nosub = (%claims, exp => time + 300);
    delete $nosub{sub};
    my $tok = token(\%nosub);
    my $c = Cerb::Conn->new($P);
    is_deeply([ map { $c->get('/a/x', bearer($tok))->{status} } 1 .. 2 ], [ 403, 403 ],
              'a token lacking a required claim: 403 twice');
    (my $bad = token({ %claims, exp => time + 300 })) =~ s/\.(.)([^.]*)$/'.' . ($1 eq 'A' ? 'B' : 'A') . $2/e;
    is_deeply([ map { $c->get('/a/x', bearer($bad))->{status} } 1 .. 2 ], [ 401, 401 ],
              'a bad signature: 401 twice');
    $c->close;
}

# ---- (c) a token cached on route a (its aud) is refused on route b
{
    my $tok = token({ %claims, exp => time + 300 });
    my $c = Cerb::Conn->new($P);
    is($c->get('/a/x', bearer($tok))->{status}, 200, 'aud a: passes on route a');
    is($c->get('/a/x', bearer($tok))->{status}, 200, 'aud a: passes on route a again');
    my $r = $c->get('/b/x', bearer($tok));
    is($r->{status}, 401, 'aud a: refused on route b, same worker');
    is($r->{headers}{'www-authenticate'}, 'Bearer error="invalid_token"', 'aud a on b: invalid_token');
    $c->close;
    is_deeply([ map { Cerb::http_get($P, '/b/x', bearer($tok))->{status} } 1 .. 4 ], [ (401) x 4 ],
              'aud a: refused on route b by every worker');
    my $tokb = token({ %claims, aud => 'b', exp => time + 300 });
    is_deeply([ map { Cerb::http_get($P, '/b/x', bearer($tokb))->{status} } 1 .. 4 ], [ (200) x 4 ],
              'aud b: passes on route b');
    is_deeply([ map { Cerb::http_get($P, '/a/x', bearer($tokb))->{status} } 1 .. 4 ], [ (401) x 4 ],
              'aud b, cached on b: refused on route a');
    like(Cerb::slurp($t->error_log), qr/route "b": 401 by auth: wrong audience$/m,
         'logged as wrong audience');
}

# ---- (b) cached, then expired: refused after exp (plus the leeway)
{
    my $now = time;
    # exp in 2 s; with a leeway of 3 s, exp a second ago (accepted for 2 s)
    my %tok = (a => token({ %claims, exp => $now + 2 }), lee => token({ %claims, exp => $now - 1 }),
               off => token({ %claims, exp => $now + 2 }));
    my $until = $now + 2;       # both stop being accepted at $now + 2
    for my $route (qw(a lee off)) {
        my $c = Cerb::Conn->new($P);
        my @st = map { $c->get("/$route/x", bearer($tok{$route}))->{status} } 1 .. 2;
        $c->close;
        push @st, map { Cerb::http_get($P, "/$route/x", bearer($tok{$route}))->{status} } 1 .. 6;
        # the test may be slow: only what was asked before expiry counts
        if (time < $until) {
            is_deeply(\@st, [ (200) x 8 ], "$route: accepted (and cached) before expiry");
        } else {
            pass("$route: too slow to check before expiry");
        }
    }
    ok(wait_for(sub { time > $until }, 10), 'waited past expiry');
    for my $route (qw(a lee off)) {
        my $c = Cerb::Conn->new($P);
        my @r = map { $c->get("/$route/x", bearer($tok{$route})) } 1 .. 2;
        $c->close;
        push @r, map { Cerb::http_get($P, "/$route/x", bearer($tok{$route})) } 1 .. 6;
        is_deeply([ map { $_->{status} } @r ], [ (401) x 8 ], "$route: refused once expired, by every worker");
        is($r[0]{headers}{'www-authenticate'}, 'Bearer error="invalid_token"', "$route: invalid_token");
    }
    like(Cerb::slurp($t->error_log), qr/route "lee": 401 by auth: token expired$/m,
         'logged as token expired');
}

# ---- jwt:CLAIM keys: counted by the claim, from the cache too ----------------
{
    my %st;
    my @toks = map { token({ sub => "u$_", aud => 'a', tenant => ($_ <= 4 ? 'acme' : 'globex'),
                             exp => time + 300 }) } 1 .. 5;
    # u1..u4 share tenant acme (burst 2: 3 pass), each token used twice on
    # one connection so the second use comes from the cache
    for my $i (0 .. 3) {
        my $c = Cerb::Conn->new($P);
        for (1 .. 2) { my $r = $c->get('/t/x', bearer($toks[$i])); $st{acme}{ $r ? $r->{status} : 'none' }++ }
    }
    my $r = Cerb::http_get($P, '/t/x', bearer($toks[4]));
    is_deeply($st{acme}, { 200 => 3, 429 => 5 },
              'rate_limit key = "jwt:tenant": four users of one tenant share its burst of 2, cached or not')
        or diag(explain(\%st));
    is($r->{status}, 200, 'another tenant has its own');
    my @q = map { Cerb::http_get($P, '/tq/x', bearer($toks[$_]))->{status} } 0 .. 3;
    is_deeply(\@q, [200, 200, 429, 429], 'quota key = "jwt:tenant": 2 for the tenant, whoever the user');
    my $no = token({ sub => 'u9', aud => 'a', exp => time + 300 });
    is(Cerb::http_get($P, '/tq/x', bearer($no))->{status}, 200,
       'a token without the claim: counted by address');
}

$t->done;
