# TLS client certificates: verify_client required and optional, the
# subject and fingerprint headers the backend gets, and client-supplied
# copies of those headers removed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;
use CerbTLS;

my $t = Cerb->new;
my $d = $t->dir;
my $pki = CerbTLS->new($d);
$pki->ca('ca');                 # signs the server's certificate
$pki->ca('clientca');           # signs the clients'
$pki->ca('rogueca');            # signs nobody we trust
$pki->leaf('server', dns => ['svc.test']);
$pki->leaf('alice', ca => 'clientca', subj => '/C=DE/O=Cerberus Tests/OU=Ops/CN=alice');
$pki->leaf('mallory', ca => 'rogueca', subj => '/O=Cerberus Tests/CN=alice');

$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "required"; address = "127.0.0.1:%%PORT:required%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } );
            verify_client = "required"; client_ca = "clientca.pem"; }; },
  { name = "optional"; address = "127.0.0.1:%%PORT:optional%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } );
            verify_client = "optional"; client_ca = "clientca.pem"; }; },
  { name = "custom"; address = "127.0.0.1:%%PORT:custom%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } );
            verify_client = "required"; client_ca = "clientca.pem";
            client_subject_header = "X-SSL-Subject";
            client_fingerprint_header = "X-SSL-Fingerprint"; }; },
  { name = "noverify"; address = "127.0.0.1:%%PORT:noverify%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } ); }; },
  { name = "plain"; address = "127.0.0.1:%%PORT:plain%%"; }
);
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
routes = ( { path_prefix = "/"; pool = "app"; } );
EOF
ok($t->start, 'started') or BAIL_OUT('cannot start');

# What the user would compare with: openssl's own view of alice's certificate.
my $fp = CerbTLS::openssl('x509', '-in', "$d/alice.pem", '-noout', '-fingerprint', '-sha256');
$fp =~ s/^.*=//s;
$fp =~ s/[:\s]//g;
$fp = lc $fp;
like($fp, qr/^[0-9a-f]{64}$/, 'the expected fingerprint: 64 hex digits');
my $subject = CerbTLS::openssl('x509', '-in', "$d/alice.pem", '-noout', '-subject',
                               '-nameopt', 'RFC2253');
$subject =~ s/^subject=//;
$subject =~ s/\s+$//;
is($subject, 'CN=alice,OU=Ops,O=Cerberus Tests,C=DE', 'the expected subject (RFC 2253)');

my %alice = (SSL_cert_file => "$d/alice.pem", SSL_key_file => "$d/alice.key");
my %mallory = (SSL_cert_file => "$d/mallory.pem", SSL_key_file => "$d/mallory.key");
my %spoof = ('X-Client-Subject' => 'CN=admin', 'X-Client-Fingerprint' => ('0' x 64),
             'X-SSL-Subject' => 'CN=root');

# The headers the origin received, name (lower case) => [values].
sub seen { Cerb::origin_headers($_[0]) }

sub get {
    my ($listener, %o) = @_;
    return tls_get($t->port($listener), '/who', SSL_hostname => 'svc.test', %o);
}

# ---- required ---------------------------------------------------------------------
my $r = get('required', %alice, headers => \%spoof);
is($r && $r->{status}, 200, 'required: a client with a valid certificate gets 200');
my $h = seen($r);
is_deeply($h->{'x-client-subject'}, [$subject], '... the origin sees its subject, and only ours');
is_deeply($h->{'x-client-fingerprint'}, [$fp], '... and its SHA-256 fingerprint, as openssl computes it');

for my $v (['-tls1_3', 'TLS 1.3'], ['-tls1_2', 'TLS 1.2']) {
    my $x = s_client($t->port('required'), '-servername', 'svc.test', $v->[0], '-ign_eof',
                     { send => "GET /who HTTP/1.1\r\nHost: svc.test\r\n\r\n" });
    unlike($x->{out}, qr{HTTP/1\.1 200}, "required, $v->[1]: a client without a certificate gets no response");
    like($x->{out}, qr/alert (certificate required|handshake failure)/,
         "... the handshake is refused with an alert") or diag($x->{out});
}
$r = get('required');
ok(!$r || !$r->{status}, 'required: IO::Socket::SSL without a certificate gets no response');
$r = get('required', %mallory);
ok(!$r || !$r->{status}, 'required: a certificate from another CA (same subject) is refused');

# A resumed session still knows its client.
my $sess = "$d/alice.sess";
my $req = "GET /who HTTP/1.1\r\nHost: svc.test\r\nConnection: close\r\n\r\n";
my $x = s_client($t->port('required'), '-servername', 'svc.test', '-cert', "$d/alice.pem",
                 '-key', "$d/alice.key", '-ign_eof', '-sess_out', $sess, { send => $req });
like($x->{out}, qr{HTTP/1\.1 200}, 'required: s_client with a certificate gets 200');
my ($resumed, $with) = (0, 0);
for (1 .. 4) {
    $x = s_client($t->port('required'), '-servername', 'svc.test', '-sess_in', $sess,
                  '-ign_eof', { send => $req });
    $resumed++ if $x->{reused};
    $with++ if $x->{out} =~ /"X-Client-Fingerprint","$fp"/;
}
is($resumed, 4, 'required: the session resumes');
is($with, 4, '... and the resumed requests still carry the fingerprint');

# ---- optional ----------------------------------------------------------------------
$r = get('optional', headers => \%spoof);
is($r && $r->{status}, 200, 'optional: a client without a certificate gets 200');
$h = seen($r);
ok(!$h->{'x-client-subject'} && !$h->{'x-client-fingerprint'},
   '... and the origin gets neither header, not even the client\'s copies')
    or diag(explain($h));
$r = get('optional', %alice);
$h = seen($r);
is_deeply([$h->{'x-client-subject'}, $h->{'x-client-fingerprint'}], [[$subject], [$fp]],
          'optional: with a valid certificate, both headers');
$r = get('optional', %mallory);
ok(!$r || !$r->{status}, 'optional: an invalid certificate is refused');

# ---- header names ---------------------------------------------------------------
$r = get('custom', %alice, headers => \%spoof);
$h = seen($r);
is_deeply([$h->{'x-ssl-subject'}, $h->{'x-ssl-fingerprint'}], [[$subject], [$fp]],
          'client_subject_header and client_fingerprint_header rename the headers');

# ---- no verify_client ------------------------------------------------------------
$r = get('noverify', %alice, headers => \%spoof);
is($r && $r->{status}, 200, 'without verify_client: 200');
$h = seen($r);
ok(!$h->{'x-client-subject'} && !$h->{'x-client-fingerprint'},
   '... and the client cannot send X-Client-Subject or X-Client-Fingerprint itself')
    or diag(explain($h));

# ---- a plain listener beside them ------------------------------------------------
$r = http_get($t->port('plain'), '/who', %spoof);
is($r && $r->{status}, 200, 'a plain listener: 200');
$h = seen($r);
ok(!$h->{'x-client-subject'} && !$h->{'x-client-fingerprint'} && !$h->{'x-ssl-subject'},
   '... and the certificate headers of every TLS listener are dropped there too')
    or diag(explain($h));

$t->done;
