# reopen (logrotate), and the command line itself.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $log = $t->error_log;
like(slurp($log), qr/\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[notice\] \d+: cerberus \S+ started/,
     'log lines carry time, level, pid and message');

# logrotate: move the file away, then reopen.
rename $log, "$log.1" or die;
my ($rc, $out, $err) = $t->ctl('reopen');
is($rc, 0, 'reopen exits 0') or diag($err);
ok(wait_for(sub { -e $log }, 5), 'the error log is created again');
like(slurp($log), qr/\[notice\] \d+: reopened log files/, 'the master writes to the new file');
# Workers write there too (a bad request is logged by a worker at info).
http_raw($port, "GET / HTTP/1.1\r\n\r\n");
ok(wait_for(sub { slurp($log) =~ /missing Host header/ }, 5), 'workers write to the new file');
unlike(slurp("$log.1"), qr/missing Host header/, 'and no longer to the old one');
if ($> == 0) {
    is((stat $log)[4], scalar getpwnam('nobody'), 'the new log belongs to the workers\' user');
}

# reload picks up log_level.
my $c = slurp($t->conf_path);
$c =~ s/log_level = "\w+"/log_level = "error"/;
open my $f, '>', $t->conf_path or die;
print $f $c;
close $f;
($rc) = $t->ctl('reload');
is($rc, 0, 'reload with another log_level');
my $size = -s $log;
http_raw($port, "GET / HTTP/1.1\r\n\r\n");
$t->ctl('reload');
sleep 0.2;
unlike(substr(slurp($log), $size), qr/\[(info|notice)\]/, 'info and notice lines are no longer written');
$t->stop;

# The command line.
($rc, $out) = Cerb::run_cmd(cerberus_bin(), '--version');
is($rc, 0, '--version');
like($out, qr/^cerberus \d+\.\d+\.\d+$/m, 'prints the version');
($rc, $out) = Cerb::run_cmd(cerberus_bin(), '-V');
like($out, qr/^cerberus \d/, '-V too');
($rc, $out) = Cerb::run_cmd(cerberus_bin(), '--help');
is($rc, 0, '--help');
like($out, qr/usage: cerberus VERB/, 'usage');
like($out, qr/\Q$_\E/, "help mentions $_") for qw(run start stop reload status check reopen --graceful);
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin());
is($rc, 2, 'no verb: exit 2');
like($err, qr/a verb is required/, 'and says so');
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'fly');
is($rc, 2, 'unknown verb: exit 2');
like($err, qr/unknown verb "fly"/, 'and names it');
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'status', '--bogus');
is($rc, 2, 'unknown option: exit 2');
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'reload', '--graceful', '-c', $t->conf_path);
is($rc, 2, '--graceful only goes with stop');

# reopen, stop and status still find the daemon when the config on disk is
# broken (they only need pid_file).
ok($t->start, 'started again');
open $f, '>>', $t->conf_path or die;
print $f "broken = ;\n";
close $f;
($rc, $out) = $t->ctl('status');
is($rc, 0, 'status works while the config file is broken');
($rc, $out, $err) = $t->ctl('reload');
is($rc, 1, 'reload refuses the broken file');
like($err, qr/\Q${\ $t->conf_path}\E:\d+: syntax error/, 'with the syntax error line');
($rc) = $t->ctl('stop');
is($rc, 0, 'stop works while the config file is broken');
delete $t->{master};
$t->done;
