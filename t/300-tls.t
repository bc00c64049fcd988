# TLS termination: the certificate chosen by SNI (exact, wildcard, default,
# strict) and by what the client can verify (ECDSA or RSA), protocol
# versions, ALPN, session resumption on any worker, plain HTTP on the TLS
# port, stalled handshakes, HSTS, redirect_https and X-Forwarded-Proto.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use Cerb;
use CerbTLS;

my $t = Cerb->new;
my $pki = CerbTLS->new($t->dir);
$pki->ca('ca');
$pki->leaf('a', dns => ['a.test'], serial => 0xa1);
$pki->leaf('b', dns => ['b.test'], type => 'rsa', serial => 0xb1);
$pki->leaf('wild', dns => ['*.w.test'], serial => 0xc1);
$pki->leaf('def', dns => ['default.test'], serial => 0xd1);
$pki->leaf('dual-ec', dns => ['dual.test'], serial => 0xe1);
$pki->leaf('dual-rsa', dns => ['dual.test'], type => 'rsa', serial => 0xe2);

my $certs = <<'EOF';
certificates = (
        { cert = "a.pem"; key = "a.key"; },
        { cert = "b.pem"; key = "b.key"; },
        { cert = "def.pem"; key = "def.key"; default = true; },
        { cert = "wild.pem"; key = "wild.key"; },
        { cert = "dual-ec.pem"; key = "dual-ec.key"; },
        { cert = "dual-rsa.pem"; key = "dual-rsa.key"; }
      );
EOF
$t->write_conf(<<"EOF");
%%PREAMBLE%%
log_level = "debug";
workers = 2;
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:tls%%";
    tls = { $certs
            hsts = "max-age=31536000; includeSubDomains";
            handshake_timeout = "500ms"; }; },
  { name = "strict"; address = "127.0.0.1:%%PORT:strict%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; },
                             { cert = "wild.pem"; key = "wild.key"; } );
            strict_sni = true; }; },
  { name = "tls13"; address = "127.0.0.1:%%PORT:tls13%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; } );
            protocols = [ "TLSv1.3" ]; }; },
  { name = "notickets"; address = "127.0.0.1:%%PORT:notickets%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; } );
            session_tickets = false; }; },
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; redirect_https = true; },
  { name = "plain"; address = "127.0.0.1:%%PORT:plain%%"; }
);
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
routes = (
  { name = "own"; path_exact = "/own"; return = { status = 200; body = "mine\\n"; }; },
  { name = "app"; path_prefix = "/"; pool = "app"; }
);
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'the config checks') or diag($out, $err);
ok($t->start, 'started') or BAIL_OUT('cannot start');
my $port = $t->port('tls');

# ---- SNI --------------------------------------------------------------------
my %want = ('a.test' => 'a.test', 'b.test' => 'b.test', 'x.w.test' => '*.w.test',
            'A.TEST' => 'a.test', 'a.test.' => 'a.test', 'default.test' => 'default.test',
            'unknown.test' => 'default.test', 'x.y.w.test' => 'default.test',
            'w.test' => 'default.test');
for my $name (sort keys %want) {
    my $s = tls_conn($port, SSL_hostname => $name);
    is(peer_cert_info($s)->{cn}, $want{$name}, "SNI $name gets the certificate of $want{$name}")
        or diag($CerbTLS::error);
}
my $r = s_client($port, '-noservername');
is($r->{cn}, 'default.test', 'no SNI gets the certificate marked default (not the first listed)');

# A real client that verifies the chain and the name.
my $ca = $t->dir . '/ca.pem';
for my $name ('a.test', 'b.test', 'www.w.test') {
    my ($crc, $cout) = curl_https('--cacert', $ca, '--resolve', "$name:$port:127.0.0.1",
                                  '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}',
                                  "https://$name:$port/own");
    is("$crc $cout", '0 200 0', "curl verifies $name and gets 200");
}

# strict_sni: only the names of the certificates.
my $sp = $t->port('strict');
is(s_client($sp, '-servername', 'a.test')->{cn}, 'a.test', 'strict_sni: a known name is served');
is(s_client($sp, '-servername', 'z.w.test')->{cn}, '*.w.test', 'strict_sni: a wildcard match is served');
for my $args (['-servername', 'unknown.test'], ['-noservername']) {
    $r = s_client($sp, @$args);
    ok(!$r->{cn} && $r->{out} =~ /unrecognized name/,
       "strict_sni: @$args is refused with unrecognized_name") or diag($r->{out});
}

# ---- ECDSA and RSA for one name ----------------------------------------------
$r = s_client($port, '-servername', 'dual.test');
is($r->{key_type}, 'EC', 'dual.test: a default client gets the ECDSA certificate');
is(lc $r->{serial}, 'e1', '... the ECDSA one by serial');
$r = s_client($port, '-servername', 'dual.test', '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256');
is($r->{key_type}, 'RSA', 'dual.test: a TLS 1.3 client limited to RSA signatures gets the RSA certificate')
    or diag($r->{out});
is(lc($r->{serial} // ''), 'e2', '... the RSA one by serial');
$r = s_client($port, '-servername', 'dual.test', '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256');
is($r->{key_type}, 'RSA', 'dual.test: a TLS 1.2 client with only ECDHE-RSA gets the RSA certificate')
    or diag($r->{out});
is($r->{cipher}, 'ECDHE-RSA-AES128-GCM-SHA256', '... and that cipher');
$r = s_client($port, '-servername', 'dual.test', '-tls1_2');
is($r->{key_type}, 'EC', 'dual.test: a default TLS 1.2 client gets ECDSA');
# The RSA-only name, to an ECDSA-only client: nothing in common.
$r = s_client($port, '-servername', 'b.test', '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256');
ok(!$r->{cn}, 'b.test (RSA only) to a client offering only ECDSA suites: no handshake');

# ---- protocol versions --------------------------------------------------------
$r = s_client($port, '-servername', 'a.test');
is($r->{protocol}, 'TLSv1.3', 'a default client negotiates TLS 1.3');
$r = s_client($port, '-servername', 'a.test', '-tls1_2');
is($r->{protocol}, 'TLSv1.2', 'a TLS 1.2 client negotiates TLS 1.2');
for my $v (['-tls1', 'TLS 1.0'], ['-tls1_1', 'TLS 1.1']) {
    # SECLEVEL=0 lets this OpenSSL offer the old versions at all, so the
    # refusal below is the server's.
    $r = s_client($port, '-servername', 'a.test', $v->[0], '-cipher', 'DEFAULT:@SECLEVEL=0');
    ok(!$r->{cn} && $r->{out} =~ /alert protocol version/,
       "$v->[1] is refused with a protocol_version alert") or diag($r->{out});
    unlike($r->{out}, qr/no protocols available|no ciphers available/,
           "... by the server, not by the client");
}
my $p13 = $t->port('tls13');
is(s_client($p13, '-servername', 'a.test')->{protocol}, 'TLSv1.3', 'protocols = [TLSv1.3]: 1.3 served');
$r = s_client($p13, '-servername', 'a.test', '-tls1_2');
ok(!$r->{cn} && $r->{out} =~ /alert protocol version/,
   'protocols = [TLSv1.3]: a TLS 1.2 client is refused') or diag($r->{out});

# ---- ALPN -----------------------------------------------------------------------
my $s = tls_conn($port, SSL_hostname => 'a.test', SSL_alpn_protocols => ['h2', 'http/1.1']);
ok($s, 'a client offering h2 and http/1.1 connects') or diag($CerbTLS::error);
is($s && $s->alpn_selected, 'http/1.1', '... and http/1.1 is negotiated');
$s = tls_conn($port, SSL_hostname => 'a.test', SSL_alpn_protocols => ['h2']);
ok(!$s, 'a client offering only h2 is refused');
like($CerbTLS::error, qr/no application protocol/i, '... with no_application_protocol');
$r = s_client($port, '-servername', 'a.test', '-alpn', 'h2');
like($r->{out}, qr/no application protocol/, 'openssl s_client -alpn h2 sees the same alert');
$s = tls_conn($port, SSL_hostname => 'a.test');
ok($s && !$s->alpn_selected, 'a client without ALPN is served HTTP/1.1 without it');

# ---- requests over TLS: HSTS, X-Forwarded-Proto -------------------------------
$r = tls_get($port, '/hello?x=1', SSL_hostname => 'a.test',
             headers => { 'X-Forwarded-Proto' => 'http' });
is($r && $r->{status}, 200, 'a proxied request over TLS: 200');
is($r->{headers}{'x-origin'}, 'a', '... from the origin');
is($r->{headers}{'strict-transport-security'}, 'max-age=31536000; includeSubDomains',
   '... with Strict-Transport-Security');
my $seen = json_body($r) || {};
my @xfp = map { $_->[1] } grep { lc $_->[0] eq 'x-forwarded-proto' } @{ $seen->{headers} || [] };
is_deeply(\@xfp, ['https'], 'the origin sees X-Forwarded-Proto: https, once (the client\'s is dropped)');
$r = tls_get($port, '/own', SSL_hostname => 'a.test');
is($r && $r->{body}, "mine\n", 'a response of cerberus\'s own over TLS');
is($r->{headers}{'strict-transport-security'}, 'max-age=31536000; includeSubDomains',
   '... carries Strict-Transport-Security too');
$r = http_get($t->port('plain'), '/hello', 'X-Forwarded-Proto' => 'https');
$seen = json_body($r) || {};
@xfp = map { $_->[1] } grep { lc $_->[0] eq 'x-forwarded-proto' } @{ $seen->{headers} || [] };
is_deeply(\@xfp, ['http'], 'on a plain listener the origin sees X-Forwarded-Proto: http');
ok(!exists $r->{headers}{'strict-transport-security'}, 'no HSTS over plain HTTP');

# Bodies both ways, keep-alive and pipelining over TLS.
my $tc = Cerb::Conn::TLS->wrap(tls_conn($port, SSL_hostname => 'a.test'));
my $up = join '', map { chr(65 + $_ % 26) } 1 .. 1_000_000;
$r = $tc->request("POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000000\r\n\r\n$up");
is_deeply([@{ json_body($r) || {} }{qw(body_length body_sha256)}], [1_000_000, sha256_hex($up)],
          'a 1 MB request body arrives whole over TLS');
$r = $tc->get('/down?size=2000000', Host => 'a.test');
is(length $r->{body}, 2_000_000, 'a 2 MB response body over the same connection');
$r = $tc->request("POST /e?echo=1 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                  . sprintf("%x\r\n%s\r\n0\r\n\r\n", 300_000, substr($up, 0, 300_000)));
ok($r->{body} eq substr($up, 0, 300_000), 'a chunked 300 kB body echoed back');
# (The echo answers before the body is in, so that connection closes.)
$tc = Cerb::Conn::TLS->wrap(tls_conn($port, SSL_hostname => 'a.test'));
$tc->send_raw(join '', map { "GET /own?n=$_ HTTP/1.1\r\nHost: a.test\r\n\r\n" } 1 .. 5);
my @got = map { my $x = $tc->read_response; $x && $x->{body} } 1 .. 5;
is_deeply(\@got, [("mine\n") x 5], 'five pipelined requests in one TLS write: five answers');
$r = s_client($port, '-servername', 'a.test', '-tls1_2', { send => "R\n" });
like($r->{out}, qr/RENEGOTIATING.*no renegotiation/s, 'a client-initiated renegotiation is refused');

# ---- redirect_https ---------------------------------------------------------------
my $web = $t->port('web');
$r = http_get($web, '/p/a?x=1&y=2', Host => 'www.example.com:8080');
is($r->{status}, 301, 'redirect_https: 301');
is($r->{headers}{location}, "https://www.example.com:$port/p/a?x=1&y=2",
   '... to https, the Host without its port, the TLS port, path and query');
ok(!exists $r->{headers}{'strict-transport-security'}, '... without HSTS (plain HTTP)');
$r = http_get($web, '/', Host => 'example.org');
is($r->{headers}{location}, "https://example.org:$port/", 'redirect_https: a Host without port');
$r = http_request($web, 'POST', '/form', headers => { Host => 'example.org' }, body => 'a=1');
is($r->{status}, 301, 'redirect_https: a POST is redirected too');
is($r->{headers}{location}, "https://example.org:$port/form", '... to the same path');

# ---- session resumption across workers -------------------------------------------
# A session is saved from a complete exchange (the TLS 1.3 ticket comes
# after the handshake), then every new connection offers it.
my $req = "GET /own HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
sub accepted { my %a = map { $_->{slot} => $_->{accepted} } $t->workers; return \%a }
for my $v (['-tls1_3', 'TLS 1.3'], ['-tls1_2', 'TLS 1.2']) {
    my $sess = $t->dir . "/sess$v->[0]";
    $r = s_client($port, '-servername', 'a.test', $v->[0], '-ign_eof', '-sess_out', $sess,
                  { send => $req });
    ok($r->{new} && -s $sess, "$v->[1]: a full handshake saves a session") or diag($r->{out});
    my $before = accepted();
    my ($reused, $n) = (0, 20);
    for (1 .. $n) {
        my $x = s_client($port, '-servername', 'a.test', $v->[0], '-sess_in', $sess);
        $reused++ if $x->{reused};
    }
    is($reused, $n, "$v->[1]: $n new connections all resume it");
    my $after = accepted();
    my @busy = grep { ($after->{$_} // 0) > ($before->{$_} // 0) } keys %$after;
    is(scalar @busy, 2, "$v->[1]: ... and both workers took some of them");
}
my $np = $t->port('notickets');
my $sess = $t->dir . '/sess-none';
s_client($np, '-servername', 'a.test', '-ign_eof', '-sess_out', $sess, { send => $req });
my $reused = 0;
for (1 .. 5) {
    $reused++ if s_client($np, '-servername', 'a.test', '-sess_in', $sess)->{reused};
}
is($reused, 0, 'session_tickets = false: no connection resumes');
$r = s_client($np, '-servername', 'a.test', '-tls1_2', '-ign_eof', { send => $req });
unlike($r->{out}, qr/TLS session ticket:/, '... and no ticket is issued (TLS 1.2)');

# ---- plain HTTP on the TLS port ---------------------------------------------------------
# TLS handshakes and failures, summed over the workers (cerberus status).
sub tls_counts {
    my ($ok, $failed) = (0, 0);
    for ($t->workers) { $ok += $_->{tls_handshakes} // 0; $failed += $_->{tls_failures} // 0 }
    return [$ok, $failed];
}
my $c0 = tls_counts();
my $log0 = length slurp($t->error_log);
$r = http_raw($port, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
is($r && $r->{status}, 400, 'plain HTTP to the TLS port: a plain 400');
like($r->{body}, qr/plain HTTP sent to a TLS port/, '... saying why');
is($r->{headers}{connection}, 'close', '... and closing');
ok(wait_for(sub { substr(slurp($t->error_log), $log0) =~ /plain HTTP request on the TLS port/ }, 3),
   'logged at debug');
my @loud = grep { /\[(info|notice|warn|error|crit|alert)\]/ } split /\n/, substr(slurp($t->error_log), $log0);
is_deeply(\@loud, [], '... and nothing above debug');
my $c1 = tls_counts();
is_deeply([$c1->[0] - $c0->[0], $c1->[1] - $c0->[1]], [0, 1],
          'cerberus status counts it as one failed handshake');

# ---- stalled handshakes ------------------------------------------------------------------
my @stalled;
for my $i (1 .. 4) {
    my $c = Cerb::Conn->new($port) or next;
    # Half of a ClientHello from two of them, nothing at all from the others.
    $c->send_raw("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" . ('x' x 20)) if $i % 2;
    push @stalled, $c;
}
is(scalar @stalled, 4, 'four connections that never finish their handshake');
my $t0 = time;
$r = tls_get($port, '/own', SSL_hostname => 'a.test');
is($r && $r->{status}, 200, 'meanwhile other clients are served');
$c0 = tls_counts();
my @closed = map { $_->closed(3) } @stalled;
my $took = time - $t0;
is_deeply(\@closed, [1, 1, 1, 1], 'handshake_timeout = 500ms closes all four');
ok($took > 0.3 && $took < 2, sprintf('... after about 500ms (%.2fs)', $took));
$r = tls_get($port, '/own', SSL_hostname => 'a.test');
is($r && $r->{status}, 200, 'and the workers go on serving');
ok(wait_for(sub { slurp($t->error_log) =~ /\[debug\].*TLS handshake timed out/ }, 3),
   'the timeout is logged at debug');
$c1 = tls_counts();
is_deeply([$c1->[0] - $c0->[0], $c1->[1] - $c0->[1]], [1, 4],
          'cerberus status counts four failed handshakes and one more good one');
($rc, $out, $err) = $t->ctl('status');
like($out, qr/^\s*worker \d .*tls_failures=\d+/m, 'cerberus status shows them per worker');

{
    like($out, qr/^\s*tls 127\.0\.0\.1:$port (https|tls)/m, 'status lists the TLS listener as such');
    my ($said) = slurp($t->error_log) =~ /(listener "tls" on \S+)/;
    is($said, "listener \"tls\" on https://127.0.0.1:$port/",
       'the start-up log announces the TLS listener as https://');
}

$t->done;
