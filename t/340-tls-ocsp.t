# OCSP stapling from a configured response file: a client that asks for
# the certificate status (status_request) gets the response stapled; one
# whose certificate has none configured gets nothing; a file that is not
# an OCSP response is a config error at its line.
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
$pki->leaf('a', dns => ['a.test'], serial => 0x0a01);
$pki->leaf('b', dns => ['b.test'], serial => 0x0b01);

# An OCSP responder's answer for a.pem, made with openssl's own responder
# from a one-line index ("V", expiry, no revocation, serial, file, subject).
my ($serial) = CerbTLS::openssl('x509', '-in', "$d/a.pem", '-noout', '-serial') =~ /serial=(\S+)/;
my ($subj) = CerbTLS::openssl('x509', '-in', "$d/a.pem", '-noout', '-subject', '-nameopt', 'compat')
    =~ /subject=\s*(\S.*?)\s*$/m;
open my $ix, '>', "$d/index.txt" or die $!;
print $ix "V\t301231235959Z\t\t$serial\tunknown\t$subj\n";
close $ix;
CerbTLS::openssl('ocsp', '-issuer', "$d/ca.pem", '-cert', "$d/a.pem", '-no_nonce', '-reqout', "$d/req.der");
CerbTLS::openssl('ocsp', '-index', "$d/index.txt", '-CA', "$d/ca.pem", '-rsigner', "$d/ca.pem",
                 '-rkey', "$d/ca.key", '-reqin', "$d/req.der", '-respout', "$d/a.ocsp", '-ndays', '1');
ok(-s "$d/a.ocsp", 'an OCSP response for a.pem was made');
open my $junk, '>', "$d/junk.ocsp" or die $!;
print $junk "not DER at all\n";
close $junk;

# ---- a file that is not an OCSP response ----------------------------------------
my $f = $t->write_file('bad.conf', <<'EOF2');
%%PREAMBLE%%
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:bad%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; ocsp = "junk.ocsp"; } ); }; }
);
routes = ( { path_prefix = "/"; return = { status = 200; }; } );
EOF2
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'check refuses a file that is not an OCSP response');
my @lines = split /\n/, slurp($f);
my ($line) = grep { $lines[$_ - 1] =~ /junk\.ocsp/ } 1 .. @lines;
like($err, qr/^\Q$f\E:$line: listeners\[0\]\.tls\.certificates\[0\]\.ocsp: \Q$d\E\/junk\.ocsp is not a DER OCSP response$/m,
     '... at its line, naming the file');

# ---- stapling --------------------------------------------------------------------
$t->write_conf(<<'EOF2');
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:tls%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; ocsp = "a.ocsp"; },
                             { cert = "b.pem"; key = "b.key"; } ); }; }
);
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF2
ok($t->start, 'started') or BAIL_OUT('cannot start');
my $port = $t->port('tls');

my $r = s_client($port, '-servername', 'a.test', '-status');
like($r->{out}, qr/OCSP Response Status: successful/, 'a.test: the OCSP response is stapled');
like($r->{out}, qr/Cert Status: good/, '... and says the certificate is good');
$r = s_client($port, '-servername', 'a.test');
unlike($r->{out}, qr/OCSP response:/, 'a client that does not ask gets none');
$r = s_client($port, '-servername', 'b.test', '-status');
like($r->{out}, qr/OCSP response: no response sent/, 'b.test (no ocsp configured): none sent');
is($r->{cn}, 'b.test', '... with its own certificate');

$t->done;
