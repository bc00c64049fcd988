# systemd's Type=notify protocol, spoken without libsystemd: READY=1 once
# the workers serve, RELOADING=1 + MONOTONIC_USEC then READY=1 around a
# reload (failed or not), STOPPING=1 at a stop, STATUS= all along; and
# `cerberus reload` (the unit's ExecReload) exits with the real result.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_DGRAM);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time clock_gettime CLOCK_MONOTONIC);
use Cerb;

my $t = Cerb->new;
my $d = $t->dir;
my $sock = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "$d/notify.sock")
    or die "notify socket: $!";
chmod 0777, "$d/notify.sock";
$ENV{NOTIFY_SOCKET} = "$d/notify.sock";

# The datagrams received within $timeout s, until one matches $want.
sub messages {
    my ($s, $want, $timeout) = @_;
    my @got;
    my $sel = IO::Select->new($s);
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $m;
        $s->recv($m, 4096) // last;
        push @got, $m;
        last if $m =~ $want;
    }
    return @got;
}

my $conf = <<'EOF';
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
$t->write_conf($conf);
my $port = $t->port('web');

# `cerberus run` by hand: READY=1 is what this test waits for.
my $pid = fork // die;
if ($pid == 0) {
    open STDOUT, '>>', $t->stderr_log or die;
    open STDERR, '>>', $t->stderr_log or die;
    exec cerberus_bin(), 'run', '-c', $t->conf_path or die;
}
$t->{master} = $pid;
my @m = messages($sock, qr/READY=1/);
my ($ready) = grep { /READY=1/ } @m;
ok($ready, 'READY=1 at start') or diag(slurp($t->stderr_log));
is(http_get($port, '/')->{status}, 200, 'the workers serve as soon as READY=1 is sent');
like($ready // '', qr/^STATUS=serving: generation 1, 2 workers$/m, 'with a STATUS line');
like($ready // '', qr/^MAINPID=$pid$/m, 'and the master\'s pid');

# A reload: RELOADING=1 with the monotonic clock, then READY=1.
my ($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'cerberus reload exits 0') or diag($err);
@m = messages($sock, qr/READY=1/);
my $now = clock_gettime(CLOCK_MONOTONIC) * 1e6;
like($m[0] // '', qr/^RELOADING=1$/m, 'RELOADING=1 first');
my ($usec) = ($m[0] // '') =~ /^MONOTONIC_USEC=(\d+)$/m;
ok($usec && abs($now - $usec) < 10e6, 'with MONOTONIC_USEC from CLOCK_MONOTONIC');
like($m[-1] // '', qr/^READY=1$/m, 'then READY=1');
like($m[-1] // '', qr/^STATUS=serving: generation 2, 2 workers$/m, 'with the new generation');

# A reload that fails in the master (a port taken): reported both ways.
my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
    or die;
my $bp = $busy->sockport;
my $c2 = $conf;
$c2 =~ s/(listeners = \( )/$1\{ name = "busy"; address = "127.0.0.1:$bp"; }, /;
$t->write_conf($c2);
($rc, $out, $err) = $t->ctl('reload');
is($rc, 1, 'a failed reload: cerberus reload exits 1');
like($err, qr/reload failed, generation 2 keeps running/, 'and says so');
@m = messages($sock, qr/READY=1/);
like($m[0] // '', qr/^RELOADING=1$/m, 'RELOADING=1');
like($m[-1] // '', qr/^READY=1$/m, 'READY=1 again: the old generation serves');
like($m[-1] // '', qr/^STATUS=reload failed, generation 2 still serving: .*127\.0\.0\.1:$bp/m,
     'STATUS says why');
is(http_get($port, '/')->{status}, 200, 'still serving');
close $busy;
$t->write_conf($conf);

# Stop.
kill 'TERM', $pid;
@m = messages($sock, qr/STOPPING=1/);
like(join('', @m), qr/^STOPPING=1$/m, 'STOPPING=1 at a stop');
like(join('', @m), qr/^STATUS=stopping$/m, 'with STATUS=stopping');
ok(wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 10), 'and it exits');
delete $t->{master};

# An abstract socket ("@name"), and a graceful stop.
my $name = "cerb-test-notify-$$";
my $abs = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "\0$name") or die "abstract: $!";
$ENV{NOTIFY_SOCKET} = "\@$name";
ok($t->start, 'started again');
@m = messages($abs, qr/READY=1/);
like(join('', @m), qr/^READY=1$/m, 'READY=1 on an abstract socket');
($rc) = $t->ctl('stop', '--graceful');
is($rc, 0, 'graceful stop');
@m = messages($abs, qr/STOPPING=1/, 5);
like(join('', @m), qr/^STOPPING=1\nSTATUS=draining$/m, 'STOPPING=1, draining');
delete $t->{master};

# A start that fails says why.
$ENV{NOTIFY_SOCKET} = "$d/notify.sock";
$t->write_conf($conf . "bogus = 1;\n");
($rc) = $t->ctl('run');
is($rc, 1, 'run with a bad config fails');
@m = messages($sock, qr/STATUS=/, 3);
like(join('', @m), qr/^STATUS=start failed: .*bogus/m, 'STATUS=start failed with the reason');
$t->write_conf($conf);
$t->done;
