# deps.txt is the one package list: `make deps`, `make run`, `make check`,
# .ci/run and the README's line read it. Missing packages are named and
# installed (root, or sudo -n), or the exact apt-get line is printed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time);
use Cerb;

my $src = $ENV{CERB_SRCDIR} // '.';
my $deps = "$src/etc/deps.sh";
ok(-f "$src/deps.txt" && -f $deps, 'deps.txt and etc/deps.sh exist') or BAIL_OUT('no deps');

my ($rc, $all) = Cerb::run_cmd('sh', $deps, 'list-test');
chomp $all;
my ($rcb, $build) = Cerb::run_cmd('sh', $deps, 'list-build');
chomp $build;
like($all, qr/^build-essential autoconf .*libio-socket-ssl-perl.* curl openssl /, 'the list');
like($all, qr/\blogrotate\b/, 'logrotate (the tests use it)');
ok(index($all, $build) == 0 && length $all > length $build, 'the build packages, then those of the tests');

# The README's quick start line and .ci/run are that list.
my ($line) = slurp("$src/README.md") =~ /^sudo apt-get install (.*)$/m;
is($line, $all, 'the README installs exactly deps.txt');
like(slurp("$src/.ci/run"), qr/\$\(sh etc\/deps\.sh list-test\)/, '.ci/run installs deps.txt');
like(slurp("$src/.ci/run"), qr/^make deps$/m, '.ci/run runs make deps');

# Everything installed: quick and silent.
SKIP: {
    skip 'not Debian', 3 unless system('dpkg-query --version >/dev/null 2>&1') == 0;
    my @miss = grep { `dpkg-query -W -f='\${db:Status-Abbrev}' $_ 2>/dev/null` !~ /^ii/ }
               split ' ', $all;
    skip "packages missing here: @miss", 3 if @miss;
    my $t0 = time;
    my ($o, $e);
    ($rc, $o, $e) = Cerb::run_cmd('make', '-s', '-C', $src, 'deps');
    is($rc, 0, 'make deps: exit 0');
    is($o . $e, '', 'and prints nothing');
    cmp_ok(time - $t0, '<', 5, 'quickly');
}

# A machine that misses some: fake dpkg-query, id, sudo and apt-get.
my $shim = tempdir(CLEANUP => 1);
sub shim {
    my ($name, $body) = @_;
    open my $f, '>', "$shim/$name" or die;
    print $f "#!/bin/sh\n$body\n";
    close $f;
    chmod 0755, "$shim/$name";
}
# Installed: all but curl and logrotate (and what apt-get "installed").
shim('dpkg-query', <<"EOF");
for a; do case \$a in -*) ;; curl|logrotate) grep -qx "\$a" $shim/installed 2>/dev/null && echo "\$a ii ";; *) echo "\$a ii ";; esac; done
exit 0
EOF
shim('apt-get', "echo \"apt-get \$*\" >> $shim/apt.log; for a; do echo \$a >> $shim/installed; done");
my $path = "$shim:$ENV{PATH}";
sub deps_run {
    my (%env) = @_;
    local $ENV{PATH} = $path;
    local @ENV{keys %env} = values %env;
    return Cerb::run_cmd(@{ delete $env{cmd} // ['sh', $deps, 'test'] });
}

# Not root, no sudo: the exact line, exit 1.
shim('id', 'echo 1000');
shim('sudo', 'exit 1');
my ($o, $e);
($rc, $o, $e) = deps_run();
is($rc, 1, 'missing packages, no way to install: exit 1');
like($e, qr/^cerberus: missing Debian packages to build and test cerberus: curl logrotate$/m,
     'names them');
like($e, qr/^    sudo apt-get install -y --no-install-recommends curl logrotate$/m,
     'and prints the exact apt-get line');
ok(!-e "$shim/apt.log", 'apt-get was not run');
($rc, $o, $e) = deps_run(cmd => ['sh', $deps, 'build']);
is($rc, 0, 'the build alone needs neither');

# make check and make run stop there, before building anything.
($rc, $o, $e) = deps_run(cmd => ['make', '-j1', '-C', $src, 'check', 'BUILD=/nonexistent/b', 'T=none']);
isnt($rc, 0, 'make check stops');
like($e, qr/^    sudo apt-get install -y --no-install-recommends curl logrotate$/m,
     'with the apt-get line');
unlike($o, qr/\bgcc|\bprove\b/, 'before building or testing');

# With sudo -n: installed through it.
shim('sudo', "[ \"\$1\" = -n ] && shift; exec \"\$\@\"");
($rc, $o, $e) = deps_run();
is($rc, 0, 'with sudo -n: installed, exit 0') or diag($e);
like($e, qr/^cerberus: installing them: sudo -n apt-get install -y --no-install-recommends curl logrotate$/m,
     'says how');
like(slurp("$shim/apt.log"), qr/^apt-get install -y --no-install-recommends curl logrotate$/m,
     'apt-get install ran');
($rc, $o, $e) = deps_run();
is("$rc$o$e", '0', 'then nothing is missing, nothing is said');

# As root, no sudo needed; CERB_DEPS_INSTALL=no only tells.
unlink "$shim/installed", "$shim/apt.log";
shim('id', 'echo 0');
shim('sudo', 'exit 1');
($rc, $o, $e) = deps_run(CERB_DEPS_INSTALL => 'no');
is($rc, 1, 'CERB_DEPS_INSTALL=no: exit 1');
ok(!-e "$shim/apt.log", 'nothing installed');
($rc, $o, $e) = deps_run();
is($rc, 0, 'as root: installed with apt-get');
like(slurp("$shim/apt.log"), qr/^apt-get install -y --no-install-recommends curl logrotate$/m,
     'directly');
done_testing();
