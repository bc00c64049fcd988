# start (daemon), stop, stop --graceful, pid files, and start-up failures.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Cerb;

# Gone, or a zombie nobody reaped yet (the daemon's parent is init).
sub alive {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/stat") or return 0;
    return (split / /, $st)[2] ne 'Z';
}

my $t = Cerb->new;
my $conf = <<'EOF';
%%PREAMBLE%%
workers = 2;
drain_timeout = "10s";
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "up\n"; }; } );
EOF
$t->write_conf($conf);
my $port = $t->port('web');

# start: returns once serving, as a daemon.
my ($rc, $out, $err) = $t->ctl('start');
is($rc, 0, 'start exits 0') or diag($err);
like($out, qr/^cerberus started: pid (\d+), 2 workers$/m, 'start reports the pid');
my ($pid) = $out =~ /pid (\d+)/;
is(http_get($port, '/')->{body}, "up\n", 'serving as soon as start returns');
is(slurp($t->pid_path), "$pid\n", 'the pid file holds the master pid');
my $stat = slurp("/proc/$pid/stat");
my ($ppid, $pgrp, $sid) = (split / /, $stat)[3, 4, 5];
is($ppid, 1, 'the daemon is reparented to init');
isnt($sid, $$, 'the daemon has its own session');
is(readlink("/proc/$pid/cwd"), '/', 'the daemon works from /');

# A second start is refused while the first runs.
($rc, $out, $err) = $t->ctl('start');
is($rc, 1, 'a second start fails');
like($err, qr/already running \(pid $pid, pid file \Q${\ $t->pid_path}\E\)/, 'and names the running pid');
($rc, $out, $err) = $t->ctl('run');
is($rc, 1, 'run is refused too');
like($err, qr/already running \(pid $pid/, 'run names the running pid');

# stop (fast): waits for the master to exit.
($rc, $out, $err) = $t->ctl('stop');
is($rc, 0, 'stop exits 0');
like($out, qr/cerberus stopped \(pid $pid\)/, 'stop reports');
ok(!alive($pid), 'the master is gone when stop returns');
ok(!-e $t->pid_path, 'the pid file is removed');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1), 'nothing listens any more');

($rc, $out, $err) = $t->ctl('stop');
is($rc, 0, 'stop when not running exits 0');
like($err, qr/not running/, 'and says so');
($rc, $out, $err) = $t->ctl('reload');
is($rc, 1, 'reload when not running fails');
like($err, qr/not running/, 'and says so');

# A stale pid file (no process holds its lock) is replaced.
open my $f, '>', $t->pid_path or die;
print $f "999999\n";
close $f;
($rc, $out, $err) = $t->ctl('status');
is($rc, 3, 'status with a stale pid file: not running');
($rc, $out, $err) = $t->ctl('start');
is($rc, 0, 'start replaces a stale pid file') or diag($err);
($pid) = $out =~ /pid (\d+)/;
is(slurp($t->pid_path), "$pid\n", 'with the new pid');

# stop --graceful lets an in-flight request finish.
my $c = Cerb::Conn->new($port);
$c->send_raw("GET / HTTP/1.1\r\nHost: a\r\n");          # head not finished yet
sleep 0.2;
my $stopper = fork // die;
if ($stopper == 0) {
    my ($r) = $t->ctl('stop', '--graceful');
    exit $r;
}
# The master drains: the listener stops taking connections, the request
# in flight is still answered, then everything exits.
ok(wait_for(sub { $t->status_file =~ /state=stopping/ }, 5),
   'graceful stop begins');
$c->send_raw("X-Late: 1\r\n\r\n");
my $r = $c->read_response;
is($r->{status}, 200, 'the in-flight request is answered during a graceful stop');
is($r->{headers}{connection}, 'close', 'with Connection: close');
ok($c->closed(3), 'then the connection is closed');
waitpid($stopper, 0);
is($? >> 8, 0, 'stop --graceful exits 0 once drained');
ok(!alive($pid), 'the master is gone');

# Idle keep-alive connections do not hold up a graceful stop for long.
($rc, $out, $err) = $t->ctl('start');
($pid) = $out =~ /pid (\d+)/;
my $idle = Cerb::Conn->new($port);
is($idle->get('/')->{status}, 200, 'an idle keep-alive connection');
my $t0 = time;
($rc) = $t->ctl('stop', '--graceful');
is($rc, 0, 'graceful stop with an idle connection');
cmp_ok(time - $t0, '<', 5, 'does not wait for the idle connection to time out');
ok($idle->closed(1), 'the idle connection was closed');

# Start-up failures: each exits non-zero with the reason on stderr.
my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5,
                                  ReuseAddr => 1) or die;
my $bport = $busy->sockport;
my $c2 = $conf;
$c2 =~ s/%%PORT:web%%/$bport/;
$t->write_conf($c2);
($rc, $out, $err) = $t->ctl('start');
is($rc, 1, 'start fails when the port is in use');
like($err, qr/listener "web": cannot listen on 127\.0\.0\.1:$bport: Address already in use/,
     'naming the listener, address and errno text');
ok(!-e $t->pid_path, 'no pid file is left behind');
($rc, $out, $err) = $t->ctl('run');
is($rc, 1, 'run fails the same way');
like($err, qr/cannot listen on 127\.0\.0\.1:$bport: Address already in use/, 'run says why');
close $busy;

# Two cerberus instances cannot share a port through SO_REUSEPORT.
$t->write_conf($conf);
($rc, $out, $err) = $t->ctl('start');
is($rc, 0, 'first instance');
my $t2 = Cerb->new;
$t2->{ports}{web} = $port;
$t2->write_conf($conf);
($rc, $out, $err) = $t2->ctl('start');
is($rc, 1, 'a second instance on the same port fails');
like($err, qr/Address already in use/, 'with EADDRINUSE');
$t->ctl('stop');

$t->write_file('cerberus.conf', "workers = 2;\nlisteners = ( { name = \"web\"; address = \"127.0.0.1:1\"; bogus = 1; } );\n");
($rc, $out, $err) = $t->ctl('start');
is($rc, 1, 'start fails on an invalid config');
is($err, $t->conf_path . ":2: listeners[0]: unknown key \"bogus\" in listener\n", 'with file:line: message');

($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'start', '-c', $t->dir . '/missing.conf');
is($rc, 1, 'start fails on a missing config');
like($err, qr/missing\.conf: cannot read: No such file or directory/, 'and says why');

my $c3 = "pid_file = \"%%DIR%%/no/such/dir/x.pid\";\n$conf";
$t->write_conf($c3);
($rc, $out, $err) = $t->ctl('start');
is($rc, 1, 'start fails when the pid file cannot be written');
like($err, qr{cannot open pid file .*/no/such/dir/x\.pid: No such file or directory}, 'and names it');

my $c4 = "error_log = \"%%DIR%%/no/such/dir/error.log\";\n$conf";
$t->write_conf($c4);
($rc, $out, $err) = $t->ctl('start');
is($rc, 1, 'start fails when the error log cannot be opened');
like($err, qr{cannot open error log .*/no/such/dir/error\.log: No such file or directory}, 'and names it');

SKIP: {
    skip 'needs root', 6 unless $> == 0;
    my $c5 = $conf;
    $c5 =~ s{%%PREAMBLE%%}{pid_file = "%%DIR%%/cerberus.pid";\nerror_log = "%%DIR%%/error.log";};
    $t->write_conf($c5);
    ($rc, $out, $err) = $t->ctl('start');
    is($rc, 1, 'as root without user: refused');
    like($err, qr/refusing to run workers as root: set user \(and group\), or allow_root = true/, 'and says how to fix it');
    $c5 =~ s/workers = 2;/workers = 2;\nallow_root = true;/;
    $t->write_conf($c5);
    ($rc, $out, $err) = $t->ctl('start');
    is($rc, 0, 'allow_root = true allows it') or diag($err);
    $t->ctl('stop');

    # Ports below 1024 work when started as root.
    my $low;
    for my $p (reverse 600 .. 1000) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1, ReuseAddr => 1);
        if ($s) { close $s; $low = $p; last }
    }
    my $c6 = $conf;
    $c6 =~ s/%%PORT:web%%/$low/;
    $t->write_conf($c6);
    ($rc, $out, $err) = $t->ctl('start');
    is($rc, 0, "a privileged port ($low) as root") or diag($err);
    is(http_get($low, '/')->{body}, "up\n", 'served by unprivileged workers');
    ($rc) = $t->ctl('stop');
    is($rc, 0, 'stopped');
}

# The workers die with the master, even if it is killed.
$t->write_conf($conf);
ok($t->start, 'run in the foreground');
my @w = map { $_->{pid} } $t->workers;
is(scalar @w, 2, 'two workers');
kill 'KILL', $t->master_pid;
waitpid($t->master_pid, 0);
delete $t->{master};
ok(wait_for(sub { !grep { alive($_) } @w }, 5), 'workers exit when the master is killed');
($rc) = $t->ctl('status');
is($rc, 3, 'status: not running after the master was killed (stale pid file)');
($rc, $out, $err) = $t->ctl('start');
is($rc, 0, 'and start works again') or diag($err);
$t->ctl('stop');

# Relative paths in the file are relative to the file's directory, for
# start (which works from /) and for the control verbs (from anywhere).
my $rel = $conf;
$rel =~ s{%%PREAMBLE%%}{pid_file = "rel.pid";\nerror_log = "rel.log";\nuser = "nobody"; group = "nogroup";};
$t->write_conf($rel);
chdir $t->dir or die;
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'start', '-c', 'cerberus.conf');
is($rc, 0, 'start with relative paths') or diag($err);
ok(-s $t->dir . '/rel.pid', 'the pid file is next to the config');
ok(-s $t->dir . '/rel.log', 'so is the error log');
chdir '/';
($rc) = Cerb::run_cmd(cerberus_bin(), 'status', '-c', $t->conf_path);
is($rc, 0, 'status from another directory finds it');
($rc) = Cerb::run_cmd(cerberus_bin(), 'stop', '-c', $t->conf_path);
is($rc, 0, 'and stops it');
ok(!-e $t->dir . '/rel.pid', 'pid file removed');
$t->write_conf($conf);

# -p overrides the pid file.
my $alt = $t->dir . '/alt.pid';
($rc, $out, $err) = $t->ctl('start', '-p', $alt);
is($rc, 0, 'start -p');
ok(-s $alt, 'uses the given pid file');
($rc) = Cerb::run_cmd(cerberus_bin(), 'status', '-p', $alt);
is($rc, 0, 'status -p finds it, even without -c');
($rc) = Cerb::run_cmd(cerberus_bin(), 'stop', '-p', $alt);
is($rc, 0, 'stop -p');
ok(!-e $alt, 'and its pid file is gone');

$t->done;
