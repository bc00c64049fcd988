# etc/examples/gateway.conf is a valid configuration once the files it
# names exist (certificates and keys made here, never shipped).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $d = $t->dir;
my $src = $ENV{CERB_SRCDIR} // '.';
mkdir "$d/ex";
mkdir "$d/ex/$_" for qw(certs keys);
sub sh { my $rc = system("@{[ join q( ), map { qq('$_') } @_ ]} >/dev/null 2>&1"); die "@_: $rc" if $rc != 0 }
sh('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
   '-keyout', "$d/ex/certs/api.example.com.key", '-out', "$d/ex/certs/api.example.com.pem",
   '-days', '30', '-subj', '/CN=api.example.com');
sh('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$d/id.key");
sh('openssl', 'pkey', '-in', "$d/id.key", '-pubout', '-out', "$d/ex/keys/id.example.com.pem");
open my $k, '>', "$d/ex/keys/partners.keys" or die $!;
print $k "partner-key-1\n";
close $k;

# The example as shipped, with paths a test may write to and no user switch.
my $conf = slurp("$src/etc/examples/gateway.conf");
$conf =~ s{"/run/cerberus\.pid"}{"$d/ex/c.pid"};
$conf =~ s{/var/log/cerberus}{$d/ex}g;
$conf =~ s{/var/lib/cerberus}{$d/ex/state}g;
$conf =~ s/^(user|group) = .*$//mg;
$conf .= "allow_root = true;\n" if $> == 0;   # check refuses what start would
open my $f, '>', "$d/ex/gateway.conf" or die $!;
print $f $conf;
close $f;
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', "$d/ex/gateway.conf");
is($rc, 0, 'etc/examples/gateway.conf checks') or diag("$out\n$err");
like($out, qr/orders-v1 .*-> pool orders-v1/, '... with its versioned routes');
# Every route with auth carries a limit per client address, decided before
# auth: wrong keys and tokens are throttled (issue 12).
my @routes = split /\n  \{ name = /, (split /^routes = \(/m, $conf)[1];
my @authed = grep { /\bauth = \{/ } @routes;
ok(@authed >= 4, scalar(@authed) . ' routes with auth in the example');
is_deeply([ map { /^"([^"]+)"/ } grep { !/key = "ip"/ } @authed ], [],
          '... each with a per-ip rate limit');

unlink "$d/ex/keys/id.example.com.pem";
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', "$d/ex/gateway.conf");
isnt($rc, 0, 'without the identity provider\'s key it does not');
like($err, qr/id\.example\.com\.pem/, '... and names the file');
$t->done;
