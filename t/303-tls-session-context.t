# A TLS session resumes only where it was made under the same certificates
# and the same client verification: a session (by ID from the shared cache,
# or by ticket, whose keys every listener shares) never resumes on a
# listener that verifies clients otherwise (no client certificate, or
# another client CA), which would skip that listener's certificate check.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;
use CerbTLS;

my $t = Cerb->new;
my $d = $t->dir;
my $pki = CerbTLS->new($d);
$pki->ca('ca');
$pki->ca('clientca');
$pki->ca('otherca');
$pki->leaf('alice', ca => 'clientca', subj => '/CN=alice');
$pki->leaf('server', dns => ['svc.test']);

$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "open"; address = "127.0.0.1:%%PORT:open%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } ); }; },
  { name = "open2"; address = "127.0.0.1:%%PORT:open2%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } ); }; },
  { name = "mtls"; address = "127.0.0.1:%%PORT:mtls%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } );
            verify_client = "required"; client_ca = "clientca.pem"; }; },
  { name = "mtls2"; address = "127.0.0.1:%%PORT:mtls2%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } );
            verify_client = "required"; client_ca = "clientca.pem"; }; },
  { name = "other"; address = "127.0.0.1:%%PORT:other%%";
    tls = { certificates = ( { cert = "server.pem"; key = "server.key"; } );
            verify_client = "required"; client_ca = "otherca.pem"; }; }
);
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
routes = ( { path_prefix = "/"; pool = "app"; } );
EOF
ok($t->start, 'started') or BAIL_OUT('cannot start');
my ($open, $open2, $mtls, $mtls2, $other) = map { $t->port($_) } qw(open open2 mtls mtls2 other);
my @alice = ('-cert', "$d/alice.pem", '-key', "$d/alice.key");
my $req = { send => "GET / HTTP/1.0\r\n\r\n" };

my $n = 0;
for my $case ([ 'session ID (TLS 1.2, no ticket)', '-tls1_2', '-no_ticket' ],
              [ 'ticket (TLS 1.2)', '-tls1_2' ],
              [ 'ticket (TLS 1.3)', '-tls1_3' ]) {
    my ($name, @v) = @$case;
    push @v, '-ign_eof';           # read the answer to the end
    my $sess = "$d/sess-" . $n++;
    my $r = CerbTLS::s_client($open, @v, '-sess_out', $sess, $req);
    ok($r->{new}, "$name: a full handshake on the open listener");
    $r = CerbTLS::s_client($open, @v, '-sess_in', $sess, $req);
    ok($r->{reused}, "$name: it resumes there");
    like($r->{out}, qr{HTTP/1\.[01] 200}, "$name: and is served");
    $r = CerbTLS::s_client($open2, @v, '-sess_in', $sess, $req);
    ok($r->{reused}, "$name: and on another listener with the same settings");
    $r = CerbTLS::s_client($mtls, @v, '-sess_in', $sess, $req);
    ok(!$r->{reused}, "$name: never on the listener that requires a client certificate");
    unlike($r->{out}, qr{HTTP/1\.[01] 200}, "$name: which answers nothing without one");

    # alice's session, verified against clientca
    $sess = "$d/sess-" . $n++;
    $r = CerbTLS::s_client($mtls, @v, @alice, '-sess_out', $sess, $req);
    like($r->{out}, qr{HTTP/1\.[01] 200}, "$name: alice is served on the mTLS listener");
    $r = CerbTLS::s_client($mtls2, @v, '-sess_in', $sess, $req);
    ok($r->{reused}, "$name: her session resumes on another listener with the same client CA");
    $r = CerbTLS::s_client($other, @v, '-sess_in', $sess, $req);
    ok(!$r->{reused}, "$name: never on a listener that trusts another client CA");
    unlike($r->{out}, qr{HTTP/1\.[01] 200}, "$name: which serves nothing without its own client certificate");
    $r = CerbTLS::s_client($open, @v, '-sess_in', $sess, $req);
    ok(!$r->{reused}, "$name: nor on a listener without client certificates");
}
$t->allow_log(qr/handshake|certificate/i);
$t->done;
