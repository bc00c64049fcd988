# make install / uninstall with DESTDIR and prefix.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Cerb;

my $src = $ENV{CERB_SRCDIR} // '.';
my $dest = tempdir('cerb-inst-XXXXXX', TMPDIR => 1, CLEANUP => 1);
# A build of its own: installing for /usr and /etc rebuilds what holds the
# built-in paths, which must not relink the binary other tests are running.
my $build = tempdir('cerb-build-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @make = ('make', '-s', '-C', $src, "BUILD=$build", "DESTDIR=$dest", 'prefix=/usr',
            'sysconfdir=/etc', 'localstatedir=/var');

my ($rc, $out, $err) = Cerb::run_cmd({ timeout => 300 }, @make, 'install');
is($rc, 0, 'make install') or diag($err);
ok(-x "$dest/usr/sbin/cerberus", 'the binary in sbin');
ok(-f "$dest/usr/share/man/man8/cerberus.8", 'cerberus.8');
ok(-f "$dest/usr/share/man/man5/cerberus.conf.5", 'cerberus.conf.5');
ok(-f "$dest/etc/cerberus/cerberus.conf", 'the config in sysconfdir/cerberus');
is(slurp("$dest/etc/cerberus/cerberus.conf"), slurp("$src/etc/cerberus.conf"), 'it is the default config');
my $unit = slurp("$dest/usr/lib/systemd/system/cerberus.service");
like($unit, qr{^ExecStart=/usr/sbin/cerberus run -c /etc/cerberus/cerberus\.conf$}m, 'unit: ExecStart runs `cerberus run`');
like($unit, qr{^ExecReload=/usr/sbin/cerberus reload\b}m, 'unit: ExecReload runs `cerberus reload`');
like($unit, qr{^ExecStop=/usr/sbin/cerberus stop --graceful\b}m, 'unit: ExecStop runs `cerberus stop --graceful`');
unlike($unit, qr/@\w+@/, 'unit: no placeholder left');
($rc, $out) = Cerb::run_cmd("$dest/usr/sbin/cerberus", '--help');
like($out, qr{default /etc/cerberus/cerberus\.conf}, 'the installed binary looks for /etc/cerberus/cerberus.conf');
# check opens what start would: the directories install made (under
# DESTDIR here), and the runtime one systemd makes (RuntimeDirectory).
{
    my $aux = tempdir(CLEANUP => 1);
    my $ic = slurp("$dest/etc/cerberus/cerberus.conf");
    $ic =~ s{"/var/}{"$dest/var/}g;
    $ic =~ s{"/run/}{"$aux/}g;
    mkdir "$aux/cerberus";
    open my $cf, '>', "$aux/checked.conf" or die $!;
    print $cf $ic;
    close $cf;
    ($rc, $out, $err) = Cerb::run_cmd("$dest/usr/sbin/cerberus", 'check', '-c', "$aux/checked.conf");
    is($rc, 0, 'the installed config checks (given its directories)') or diag($err);
}

# An operator's edited config is never overwritten, and survives uninstall.
open my $f, '>>', "$dest/etc/cerberus/cerberus.conf" or die;
print $f "# mine\n";
close $f;
($rc, $out, $err) = Cerb::run_cmd({ timeout => 300 }, @make, 'install');
is($rc, 0, 'install again');
like(slurp("$dest/etc/cerberus/cerberus.conf"), qr/# mine\n$/, 'the edited config is kept');
like($out, qr/keeping existing/, 'and install says so');

($rc, $out, $err) = Cerb::run_cmd({ timeout => 300 }, @make, 'uninstall');
is($rc, 0, 'make uninstall') or diag($err);
ok(!-e "$dest/usr/sbin/cerberus", 'the binary is removed');
ok(!-e "$dest/usr/share/man/man8/cerberus.8", 'the man pages are removed');
ok(!-e "$dest/usr/lib/systemd/system/cerberus.service", 'the unit is removed');
ok(-e "$dest/etc/cerberus/cerberus.conf", 'the edited config stays');

# An unmodified config goes with uninstall.
unlink "$dest/etc/cerberus/cerberus.conf";
Cerb::run_cmd({ timeout => 300 }, @make, 'install');
($rc) = Cerb::run_cmd({ timeout => 300 }, @make, 'uninstall');
ok(!-e "$dest/etc/cerberus/cerberus.conf", 'an unmodified config is removed');
my @left = grep { -f } split /\n/, `find $dest -type f`;
is_deeply(\@left, [], 'uninstall leaves no file behind');
done_testing();
