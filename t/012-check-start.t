# `cerberus check` opens/validates what `start` will (as nginx -t does):
# the error log, the access logs, the pid file's directory, state_dir when
# quotas need it, root without user; each refused by check with the exact
# text start refuses it with, and check creates nothing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $d = $t->dir;
my $root = $> == 0;
my $asroot = $root ? "allow_root = true;\n" : "# (not root)\n";
my $port = Cerb::free_port();

# A config with each path given; %s slots for the ones a case breaks.
sub conf {
    my (%o) = @_;
    my $pid = $o{pid} // "$d/cerberus.pid";
    my $elog = $o{error_log} // "$d/error.log";
    my $alog = $o{access_log} // "$d/access.log";
    my $user = $o{user} // $asroot;
    return <<"EOC";
pid_file = "$pid";
error_log = "$elog";
${user}listeners = ( { name = "web"; address = "127.0.0.1:$port";
                access_log = { path = "$alog"; }; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\\n"; }; } );
EOC
}

# check's stderr and exit code, then start's: the same refusal.
sub both {
    my ($name, $text, $want, $what) = @_;
    my $f = $t->write_file($name, $text);
    my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
    is($rc, 1, "check refuses: $what");
    $want = sprintf($want, $f) if !ref $want && $want =~ /%s/;
    is($err, $want, "check says why: $what") unless ref $want;
    like($err, $want, "check says why: $what") if ref $want;
    ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'start', '-c', $f);
    is($rc, 1, "start refuses it too: $what")
        or Cerb::run_cmd(cerberus_bin(), 'stop', '-c', $f);   # never left running
    is($err, $want, "with the same text: $what") unless ref $want;
    like($err, $want, "with the same text: $what") if ref $want;
    return $f;
}

# A valid config checks, and check creates none of the files start would.
my $f = $t->write_file('ok.conf', conf());
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 0, 'a config whose paths can be opened checks') or diag($err);
is($err, '', '... silently');
ok(!-e "$d/error.log" && !-e "$d/access.log" && !-e "$d/cerberus.pid",
   'check created no log and no pid file');

both('elog.conf', conf(error_log => "$d/no/such/dir/error.log"),
     "cerberus: cannot open error log $d/no/such/dir/error.log: No such file or directory\n",
     'missing error log directory');

both('alog.conf', conf(access_log => "$d/no/such/dir/access.log"),
     "cerberus: %s:5: cannot open access log $d/no/such/dir/access.log: No such file or directory\n",
     'missing access log directory');

both('pid.conf', conf(pid => "$d/no/such/dir/x.pid"),
     "cerberus: cannot open pid file $d/no/such/dir/x.pid: No such file or directory\n",
     'missing pid file directory');

# -p names the pid file start would use: check takes it too.
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', "$d/pid.conf", '-p', "$d/other.pid");
is($rc, 0, 'check -p: the pid file given is the one checked') or diag($err);
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f, '-p', "$d/nope/other.pid");
is($err, "cerberus: cannot open pid file $d/nope/other.pid: No such file or directory\n",
   'check -p: a pid file in a missing directory is refused');

# A symbolic link where a log goes: start refuses it (O_NOFOLLOW), check too.
symlink("$d/elsewhere.log", "$d/link.log") or die $!;
both('link.conf', conf(error_log => "$d/link.log"),
     "cerberus: cannot open error log $d/link.log: it is a symbolic link (refused)\n",
     'error log is a symbolic link');

symlink("$d/elsewhere.pid", "$d/link.pid") or die $!;
both('pidlink.conf', conf(pid => "$d/link.pid"),
     "cerberus: cannot open pid file $d/link.pid: Too many levels of symbolic links\n",
     'pid file is a symbolic link');

# state_dir, when quotas need it.
my $quota = <<'EOQ';
routes = ( { path_prefix = "/"; return = { status = 200; };
             quota = { key = "ip"; limit = 10; per = "day"; }; } );
EOQ
(my $qconf = conf()) =~ s/^routes = .*\n//m;
my $qc = $qconf;
$qc =~ s/^(error_log.*\n)/${1}state_dir = "$d\/no\/such\/dir\/state";\n/m;
both('state1.conf', $qc . $quota,
     "cerberus: state_dir \"$d/no/such/dir/state\": cannot create: No such file or directory (quotas are kept there)\n",
     'state_dir whose parent is missing');
ok(!-e "$d/no", 'nothing was created');

$t->write_file('plain-file', "x\n");
($qc = $qconf) =~ s/^(error_log.*\n)/${1}state_dir = "$d\/plain-file";\n/m;
both('state2.conf', $qc . $quota,
     "cerberus: state_dir \"$d/plain-file\": not a directory\n",
     'state_dir is a file');

# A state_dir that does not exist yet but can be made: check passes and
# does not make it (start would).
($qc = $qconf) =~ s/^(error_log.*\n)/${1}state_dir = "$d\/fresh-state";\n/m;
$f = $t->write_file('state3.conf', $qc . $quota);
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 0, 'a state_dir start can create checks') or diag($err);
ok(!-e "$d/fresh-state", '... and check did not create it');
# Without quotas, state_dir is not needed.
($qc = $qconf) =~ s/^(error_log.*\n)/${1}state_dir = "$d\/no\/such\/dir\/state";\n/m;
$qc .= "routes = ( { path_prefix = \"/\"; return = { status = 200; }; } );\n";
$f = $t->write_file('state4.conf', $qc);
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 0, 'no quotas: state_dir is not looked at') or diag($err);

SKIP: {
    skip 'unwritable paths: root may write anywhere', 4 if $root;
    mkdir "$d/ro" or die $!;
    chmod 0555, "$d/ro";
    ($qc = $qconf) =~ s/^(error_log.*\n)/${1}state_dir = "$d\/ro";\n/m;
    both('state5.conf', $qc . $quota,
         "cerberus: state_dir \"$d/ro\": cannot write: Permission denied (quotas are kept there)\n",
         'unwritable state_dir');
}

SKIP: {
    skip 'root without user: the tests do not run as root', 4 unless $root;
    both('root.conf', conf(user => "# no user\n"),
         "cerberus: %s: refusing to run workers as root: set user (and group), or allow_root = true\n",
         'root without user');
}

# Unknown user and group: reported at their own line, not :0.
$f = $t->write_file('user.conf', conf(user => "user = \"cerb-no-such-user\";\ngroup = \"cerb-no-such-group\";\n"));
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'an unknown user fails check');
is($err, "$f:3: user: unknown user \"cerb-no-such-user\"\n"
       . "$f:4: group: unknown group \"cerb-no-such-group\"\n",
   'unknown user and group, each at its line');

done_testing;
