# TLS certificates and the configuration's life cycle: a missing file, a
# key that does not match and an expired certificate are config errors at
# their line, naming the file; a reload with a broken certificate is
# refused and the old one stays in service; a reload with a new one rotates
# it without a failed request.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;
use CerbTLS;

my $t = Cerb->new;
my $d = $t->dir;
my $pki = CerbTLS->new($d);
$pki->ca('ca');
$pki->leaf('old', dns => ['a.test'], serial => 0x0100);
$pki->leaf('new', dns => ['a.test'], serial => 0x0200);
$pki->leaf('other', dns => ['a.test'], serial => 0x0300);
$pki->leaf('expired', dns => ['a.test'], serial => 0x0400, days => -1);
my ($enddate) = CerbTLS::openssl('x509', '-in', "$d/expired.pem", '-noout', '-enddate')
    =~ /^notAfter=(.*?)\s*$/m;

# ---- config errors -----------------------------------------------------------------
my $f = $t->write_file('bad.conf', <<'EOF');
%%PREAMBLE%%
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:bad%%";
    tls = { certificates = (
      { cert = "missing.pem"; key = "old.key"; },
      { cert = "old.pem"; key = "new.key"; },
      { cert = "expired.pem"; key = "expired.key"; },
      { cert = "new.pem"; key = "absent.key"; }
    ); }; }
);
routes = ( { path_prefix = "/"; return = { status = 200; }; } );
EOF
# The line of a file where $re first matches.
sub line_of {
    my ($file, $re) = @_;
    my @lines = split /\n/, slurp($file);
    for (0 .. $#lines) { return $_ + 1 if $lines[$_] =~ $re }
    die "$re not in $file";
}
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'check fails on broken certificates');
my $l = line_of($f, qr/missing\.pem/);
is($err, <<"EOF", 'each is reported as file:line: message, naming the file, all at once');
$f:$l: listeners[0].tls.certificates[0].cert: cannot open $d/missing.pem: No such file or directory
$f:${\ ($l + 1)}: listeners[0].tls.certificates[1]: the key $d/new.key does not match the certificate $d/old.pem
$f:${\ ($l + 2)}: listeners[0].tls.certificates[2].cert: $d/expired.pem expired on $enddate
$f:${\ ($l + 3)}: listeners[0].tls.certificates[3].key: cannot open $d/absent.key: No such file or directory
EOF

# Errors of other keys do not hide those of the certificates.
$f = $t->write_file('bad2.conf', <<'EOF');
%%PREAMBLE%%
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:bad%%";
    tls = { alpn = [ "h2" ];
            certificates = ( { cert = "missing.pem"; key = "old.key"; } ); }; }
);
routes = ( { path_prefix = "/"; return = { status = 200; }; } );
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'check fails on an unsupported ALPN protocol');
like($err, qr/^\Q$f\E:${\ line_of($f, qr{alpn})}: listeners\[0\]\.tls\.alpn: unsupported protocol "h2" \(only "http\/1\.1" is served\)$/m,
     '... reported at its line');
{
    like($err, qr/certificates\[0\]\.cert: cannot open \Q$d\E\/missing\.pem/,
         '... and the missing certificate is reported as well');
}

# Upstream TLS files.
$f = $t->write_file('bad3.conf', <<'EOF');
%%PREAMBLE%%
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:bad%%"; } );
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:1"; } );
            tls = { ca = "nope.pem"; cert = "old.pem"; key = "new.key"; }; } );
routes = ( { path_prefix = "/"; pool = "app"; } );
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'check fails on broken upstream TLS files');
$l = line_of($f, qr/nope\.pem/);
like($err, qr/^\Q$f\E:$l: pools\[0\]\.tls: the key \Q$d\E\/new\.key does not match the certificate \Q$d\E\/old\.pem$/m,
     'a client certificate whose key does not match: at its line, naming both files');
like($err, qr/^\Q$f\E:$l: pools\[0\]\.tls\.ca: cannot open \Q$d\E\/nope\.pem/m,
     'a missing ca: at its line, naming the file');
{
    like($err, qr/nope\.pem: No such file or directory/, '... with the reason');
}

# The example etc/examples/https.conf checks, given the files it names.
{
    my $src = $ENV{CERB_SRCDIR} // '.';
    mkdir "$d/example";
    mkdir "$d/example/certs";
    # Its log and pid paths made writable here: check opens what start would.
    my $conf = Cerb::slurp("$src/etc/examples/https.conf");
    $conf =~ s{"/run/cerberus\.pid"}{"$d/example/c.pid"};
    $conf =~ s{/var/log/cerberus}{$d/example}g;
    open my $hf, '>', "$d/example/https.conf" or die "https.conf: $!";
    print $hf $conf;
    close $hf;
    my $ex = CerbTLS->new("$d/example/certs");
    $ex->ca('internal-ca');
    $ex->leaf('example.com', ca => 'internal-ca', dns => ['example.com', 'www.example.com']);
    $ex->leaf('example.com-rsa', ca => 'internal-ca', type => 'rsa',
              dns => ['example.com', 'www.example.com']);
    $ex->leaf('api.example.com', ca => 'internal-ca', dns => ['api.example.com']);
    ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', "$d/example/https.conf");
    is($rc, 0, 'etc/examples/https.conf checks with its certificate files in place') or diag($err);
    like($out, qr/^\s*https\s+https?\s+0\.0\.0\.0:443/m, '... and serves port 443');
    unlink "$d/example/certs/api.example.com.key";
    ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', "$d/example/https.conf");
    like($err, qr/^\Q$d\E\/example\/https\.conf:\d+: listeners\[1\]\.tls\.certificates\[2\]\.key: cannot open \Q$d\E\/example\/certs\/api\.example\.com\.key: No such file or directory$/m,
         '... and without one of them it names the file');
}

# ---- a running daemon ---------------------------------------------------------------
copy("$d/old.pem", "$d/site.pem") or die;
copy("$d/old.key", "$d/site.key") or die;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:tls%%"; keepalive_timeout = "30s";
    tls = { certificates = ( { cert = "site.pem"; key = "site.key"; } ); }; }
);
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
routes = (
  { name = "own"; path_exact = "/own"; return = { status = 200; body = "ok\n"; }; },
  { path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cannot start');
my $port = $t->port('tls');
my $line = line_of($t->conf_path, qr/site\.pem/);    # the certificates entry
sub serial { peer_cert_info(tls_conn($port, SSL_hostname => 'a.test'))->{serial} // '' }
is(serial(), '0100', 'the certificate in service: serial 0100');

# A session to resume after the reloads.
my $sess = "$d/a.sess";
my $req = "GET /own HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
s_client($port, '-servername', 'a.test', '-ign_eof', '-sess_out', $sess, { send => $req });

# Broken replacements: each reload is refused, and nothing changes.
my @broken = (
    ['an expired certificate', 'expired.pem', 'expired.key',
     qr/listeners\[0\]\.tls\.certificates\[0\]\.cert: \Q$d\E\/site\.pem expired on /],
    ['a key that does not match', 'new.pem', 'old.key',
     qr/listeners\[0\]\.tls\.certificates\[0\]: the key \Q$d\E\/site\.key does not match the certificate \Q$d\E\/site\.pem/],
    ['a missing certificate', undef, 'old.key',
     qr/listeners\[0\]\.tls\.certificates\[0\]\.cert: cannot open \Q$d\E\/site\.pem: No such file or directory/],
);
for my $b (@broken) {
    my ($what, $cert, $key, $re) = @$b;
    unlink "$d/site.pem";
    copy("$d/$cert", "$d/site.pem") or die if $cert;
    copy("$d/$key", "$d/site.key") or die;
    ($rc, $out, $err) = $t->ctl('reload');
    is($rc, 1, "reload with $what: refused");
    like($err, qr/^\Q${\ $t->conf_path}\E:$line: $re/m, '... with file:line: message') or diag($err);
    is($t->status->{generation}, 1, '... the generation stays');
    is(serial(), '0100', '... and the old certificate is still served');
}
# The daemon itself refuses it too (SIGHUP without `cerberus reload`).
kill 'HUP', $t->master_pid;
ok(wait_for(sub { ($t->status->{reload_result} // '') eq 'failed' }, 5),
   'SIGHUP with the broken certificate: the reload fails');
like(slurp($t->error_log), qr/\[error\] \d+: reload failed, keeping generation 1: \Q${\ $t->conf_path}\E:$line: listeners\[0\]\.tls\.certificates\[0\]\.cert: cannot open \Q$d\E\/site\.pem/,
     '... the error log says why, with file:line');
is(serial(), '0100', '... and the old certificate is still served');

# A worker that dies now is respawned with the certificate it had, not
# with the broken file on disk.
my ($w) = $t->workers;
kill 'KILL', $w->{pid};
ok(wait_for(sub { my ($x) = grep { $_->{slot} == $w->{slot} } $t->workers;
                  $x && $x->{pid} != $w->{pid} }, 5), 'a killed worker is respawned');
my %serials;
$serials{ serial() }++ for 1 .. 10;
is_deeply(\%serials, { '0100' => 10 }, '... and every worker still serves serial 0100');

# ---- hot rotation ------------------------------------------------------------------------
copy("$d/old.pem", "$d/site.pem") or die;
copy("$d/old.key", "$d/site.key") or die;

# An established keep-alive connection, and a slow request in flight.
my $ka = tls_conn($port, SSL_hostname => 'a.test');
my $kc = Cerb::Conn::TLS->wrap($ka);
is($kc->get('/own', Host => 'a.test')->{status}, 200, 'a keep-alive connection before the reload');
my $slow = Cerb::Conn::TLS->wrap(tls_conn($port, SSL_hostname => 'a.test'));
$slow->send_raw("GET /slow?delay_ms=1000 HTTP/1.1\r\nHost: a.test\r\n\r\n");

# Clients that never stop: curl, one new connection per request.
my $ca = "$d/ca.pem";
my $codes = "$d/codes";
my $stop = "$d/stop";
my $loop = fork // die;
if ($loop == 0) {
    my $urls = join ' ', map { "-o /dev/null 'https://a.test:$port/own?n=$_'" } 1 .. 25;
    for (1 .. 40) {
        last if -e $stop;
        system("curl -sS --max-time 5 --cacert $ca --resolve a.test:$port:127.0.0.1 "
               . "-H 'Connection: close' -w '%{http_code}\\n' $urls >> $codes 2>&1");
    }
    POSIX::_exit(0);
}
ok(wait_for(sub { (() = slurp($codes) =~ /\n/g) >= 10 }, 10), 'curl is running');

copy("$d/new.pem", "$d/site.pem") or die;
copy("$d/new.key", "$d/site.key") or die;
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload with a new certificate (same file names)') or diag($err);
my $t0 = time;
wait_for(sub { serial() eq '0200' }, 5);
is(serial(), '0200', 'new handshakes get the new certificate (serial 0200)');

my $r = $kc->get('/own', Host => 'a.test');
is($r && $r->{status}, 200, 'the keep-alive connection made before the reload still works');
is(peer_cert_info($ka)->{serial}, '0100', '... on the certificate it was made with');
$r = $slow->read_response;
is($r && $r->{status}, 200, 'a slow request in flight during the reload completes');

# A second rotation while curl keeps going.
copy("$d/other.pem", "$d/site.pem") or die;
copy("$d/other.key", "$d/site.key") or die;
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'a second reload, another certificate') or diag($err);
wait_for(sub { serial() eq '0300' }, 5);
is(serial(), '0300', 'new handshakes get serial 0300');
my $n0 = () = slurp($codes) =~ /\n/g;
wait_for(sub { (() = slurp($codes) =~ /\n/g) >= $n0 + 25 }, 10);    # a little after
open my $sf, '>', $stop; close $sf;
waitpid($loop, 0);
my @codes = split /\n/, slurp($codes);
my @bad = grep { $_ ne '200' } @codes;
cmp_ok(scalar @codes, '>=', 50, scalar(@codes) . ' requests by curl during the reloads');
is_deeply(\@bad, [], '... and not one failed');

# ---- sessions across reloads ---------------------------------------------------------------
# Each generation draws a new ticket key; the previous one still decrypts.
# Two reloads have passed since this session was saved.
my $x = s_client($port, '-servername', 'a.test', '-sess_in', $sess);
ok(!$x->{reused}, 'a ticket two key rotations old is not resumed');
s_client($port, '-servername', 'a.test', '-ign_eof', '-sess_out', $sess, { send => $req });
copy("$d/new.pem", "$d/site.pem") or die;
copy("$d/new.key", "$d/site.key") or die;
($rc) = $t->ctl('reload');
is($rc, 0, 'one more reload');
my $reused = 0;
$reused += s_client($port, '-servername', 'a.test', '-sess_in', $sess)->{reused} for 1 .. 6;
is($reused, 6, 'a ticket from the previous generation resumes on the new one (any worker)');

$t->done;
