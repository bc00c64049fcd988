# `make install prefix=/usr` follows the GNU/Debian layout (/etc, /var,
# /run) with or without the explicit triple, creates the log and state
# directories, installs a hardened Type=notify unit and a logrotate file;
# the installed binary serves the installed default config by itself, and
# logrotate rotates its logs through `cerberus reopen`.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Cerb;

my $src = $ENV{CERB_SRCDIR} // '.';
my $build = tempdir(CLEANUP => 1);
my $dest = tempdir(CLEANUP => 1);
my $dest2 = tempdir(CLEANUP => 1);
chmod 0755, $dest;      # the workers' user walks to the logs
my @make = ('make', '-s', '-C', $src, "BUILD=$build", 'prefix=/usr');

my ($rc, $out, $err) = Cerb::run_cmd({ timeout => 300 }, @make, "DESTDIR=$dest", 'install');
is($rc, 0, 'make install prefix=/usr') or diag($err);
($rc, $out, $err) = Cerb::run_cmd({ timeout => 300 }, @make, "DESTDIR=$dest2", 'sysconfdir=/etc',
                                  'localstatedir=/var', 'install');
is($rc, 0, 'make install prefix=/usr sysconfdir=/etc localstatedir=/var') or diag($err);
my $files = sub { my $d = shift; join "\n", sort map { s/^\Q$d\E//r } split /\n/, `find $d` };
is($files->($dest), $files->($dest2), 'both install the same files');
is(system('cmp', '-s', "$dest/usr/sbin/cerberus", "$dest2/usr/sbin/cerberus"), 0,
   'the same binary');

ok(-d "$dest/var/log/cerberus", 'the log directory is created in /var');
is(sprintf('%04o', (stat "$dest/var/log/cerberus")[2] & 07777), '0755', 'log directory 0755');
ok(-d "$dest/var/lib/cerberus", 'the state directory is created in /var');
is(sprintf('%04o', (stat "$dest/var/lib/cerberus")[2] & 07777), '0750', 'state directory 0750');
ok(!-e "$dest/usr/var", 'nothing in /usr/var');
my $bin = slurp("$dest/usr/sbin/cerberus");
unlike($bin, qr{/usr/var}, 'the binary knows no /usr/var path');
like($bin, qr{/var/log/cerberus/error\.log}, 'its default error log is in /var/log');
like($bin, qr{/var/lib/cerberus}, 'its default state_dir is in /var/lib');
($rc, $out) = Cerb::run_cmd("$dest/usr/sbin/cerberus", '--help');
like($out, qr{default /etc/cerberus/cerberus\.conf}, 'its default config is in /etc');

# The unit.
my $unit = slurp("$dest/usr/lib/systemd/system/cerberus.service");
like($unit, qr/^$_$/m, "unit: $_") for (
    'Type=notify', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes',
    'PrivateTmp=yes', 'LogsDirectory=cerberus', 'StateDirectory=cerberus',
    'RuntimeDirectory=cerberus', 'ExecReload=/usr/sbin/cerberus reload -c /etc/cerberus/cerberus\.conf',
    'ExecStart=/usr/sbin/cerberus run -c /etc/cerberus/cerberus\.conf',
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN CAP_KILL');
unlike($unit, qr/@\w+@/, 'unit: no placeholder left');
SKIP: {
    skip 'no systemd-analyze', 1 unless system('systemd-analyze --version >/dev/null 2>&1') == 0;
    my $x = `systemd-analyze security --offline=true $dest/usr/lib/systemd/system/cerberus.service 2>&1`;
    my ($score) = $x =~ /Overall exposure level for cerberus\.service: (\d+\.\d+)/;
    ok(defined $score && $score <= 3.0, "systemd-analyze security: exposure $score (at most 3.0)")
        or diag($x);
}

# The installed config, its paths moved under $dest, served by the
# installed binary: it answers by itself.
my $conf = slurp("$dest/etc/cerberus/cerberus.conf");
like($conf, qr{^pid_file = "/run/cerberus/cerberus\.pid";}m, 'config: the pid file in /run/cerberus');
like($conf, qr{^error_log = "/var/log/cerberus/error\.log";}m, 'config: the error log in /var/log/cerberus');
unlike($conf, qr/^\s*pools\s*=/m, 'config: no pool (no demo origin)');
my $port = free_port();
$conf =~ s{"/(var|run)/}{"$dest/$1/}g;
$conf =~ s{127\.0\.0\.1:8080}{127.0.0.1:$port}g;
$conf =~ s{^user = .*\n}{}m unless $> == 0;
$conf =~ s{^group = .*\n}{}m unless $> == 0;
my $cf = "$dest/etc/cerberus/test.conf";
open my $f, '>', $cf or die;
print $f $conf;
close $f;
mkdir "$dest/run";
mkdir "$dest/run/cerberus";
my $cerberus = "$dest/usr/sbin/cerberus";
($rc, $out, $err) = Cerb::run_cmd($cerberus, 'start', '-c', $cf);
is($rc, 0, 'the installed binary starts on the installed config') or diag($err);
my $r = http_get($port, '/');
is($r->{status}, 200, 'and answers');
is($r->{body}, "cerberus is running: edit /etc/cerberus/cerberus.conf\n", 'from its return route');
is(http_get($port, '/health')->{body}, "ok\n", '/health');
my $logdir = "$dest/var/log/cerberus";
ok(wait_for(sub { -s "$logdir/access.log" }, 5), 'the access log is written');
ok(-s "$logdir/error.log", 'the error log is written');

# logrotate, with the installed file (its paths moved too).
SKIP: {
    skip 'logrotate is not installed (deps.txt lists it)', 7
        unless system('logrotate --version >/dev/null 2>&1') == 0;
    my $lr = slurp("$dest/etc/logrotate.d/cerberus");
    like($lr, qr{^/var/log/cerberus/\*\.log \{}m, 'logrotate: the logs of /var/log/cerberus');
    like($lr, qr{^\s+/usr/sbin/cerberus reopen -c /etc/cerberus/cerberus\.conf\b}m,
         'logrotate: postrotate runs cerberus reopen');
    $lr =~ s{/var/log/}{$dest/var/log/}g;
    $lr =~ s{/usr/sbin/cerberus}{$cerberus}g;
    $lr =~ s{/etc/cerberus/cerberus\.conf}{$cf}g;
    my $lf = "$dest/logrotate.conf";
    open $f, '>', $lf or die;
    print $f $lr;
    close $f;
    chmod 0644, $lf;
    ($rc, $out, $err) = Cerb::run_cmd('logrotate', '-d', '-s', "$dest/lr.state", $lf);
    is($rc, 0, 'logrotate -d accepts it') or diag("$out$err");
    ($rc, $out, $err) = Cerb::run_cmd('logrotate', '-f', '-s', "$dest/lr.state", $lf);
    is($rc, 0, 'logrotate -f rotates') or diag("$out$err");
    ok(-s "$logdir/error.log.1" && -s "$logdir/access.log.1", 'both logs rotated');
    ok(wait_for(sub { slurp("$logdir/error.log") =~ /reopened log files/ }, 5),
       'cerberus reopened them (postrotate)');
    http_get($port, '/after');
    ok(wait_for(sub { slurp("$logdir/access.log") =~ m{GET /after } }, 5),
       'new lines go to the new access log');
}
($rc, $out, $err) = Cerb::run_cmd($cerberus, 'stop', '-c', $cf);
is($rc, 0, 'stop') or diag($err);

# `make run` serves the demo (two origins), not the installed config.
like(slurp("$src/etc/run-demo.sh"), qr{run -c etc/examples/demo\.conf}, 'make run serves etc/examples/demo.conf');
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', "$src/etc/examples/demo.conf");
is($rc, 0, 'the demo config checks') or diag($err);
like($out, qr/app\s+round_robin\s+127\.0\.0\.1:9001 127\.0\.0\.1:9002/, 'with the two demo origins');
done_testing();
