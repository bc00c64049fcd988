# The open-files limit: the default max_connections ("auto") is sized to
# what the process can get (soft raised to hard), without a warning; a
# configured max_connections that the limit cannot hold is warned about.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

# Run under a small limit (soft 256, hard 512) and, as root, without
# CAP_SYS_RESOURCE (which would let the master raise the hard limit).
if (!$ENV{CERB_NOFILE_LIMITED}) {
    $ENV{CERB_NOFILE_LIMITED} = 1;
    my @drop = $> == 0 ? ('setpriv', '--bounding-set=-sys_resource',
                          '--inh-caps=-sys_resource', '--') : ();
    exec('prlimit', '--nofile=256:512', '--', @drop, $^X, $0, @ARGV)
        or plan skip_all => "prlimit: $!";
}
my ($soft, $hard) = slurp('/proc/self/limits') =~ /^Max open files\s+(\d+)\s+(\d+)/m;
is("$soft:$hard", '256:512', 'the test runs under soft 256, hard 512');
my ($caps) = slurp('/proc/self/status') =~ /^CapEff:\s+([0-9a-f]+)/m;
ok(!(hex(substr($caps, -8)) & (1 << 24)), 'without CAP_SYS_RESOURCE');

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
ok($t->start, 'started with the default max_connections');
my $logs = slurp($t->error_log) . slurp($t->stderr_log);
unlike($logs, qr/\[warn\]/, 'no warning at start');
my ($w) = $t->workers;
my ($wsoft) = slurp("/proc/$w->{pid}/limits") =~ /^Max open files\s+(\d+)/m;
is($wsoft, 512, 'the soft limit is raised to the hard one');
# 512 - 64 for the process - 8 for the listener, two descriptors each.
like($logs, qr/\[info\] \d+: listener "web": max_connections 220 \(auto: the open files limit is 512\)/,
     'max_connections is sized to the limit');

# And it is the limit the worker applies.
my $port = $t->port('web');
my @c;
for my $i (1 .. 220) {
    my $c = Cerb::Conn->new($port) or last;
    my $r = $c->get('/');
    last unless $r && $r->{status} && $r->{status} == 200;
    push @c, $c;
}
is(scalar @c, 220, '220 connections are served at once');
my $extra = Cerb::Conn->new($port);
$extra->send_raw("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
my $r = $extra->read_response(timeout => 0.5);
ok(!$r || $r->{timeout}, 'the 221st waits');
ok(wait_for(sub { slurp($t->error_log) =~ /reached max_connections 220/ }, 3), 'at max_connections 220');
$_->close for @c;
$r = $extra->read_response(timeout => 3);
is($r && $r->{status}, 200, 'and is served once the others close');
$extra->close;
$t->stop;

# A configured value the limit cannot hold: a warning that says so.
my $conf = slurp($t->conf_path);
$conf =~ s/(address = "[^"]+";)/$1 max_connections = 1000;/;
open my $f, '>', $t->conf_path or die;
print $f $conf;
close $f;
unlink $t->error_log;
ok($t->start, 'started with max_connections = 1000');
like(slurp($t->error_log), qr/\[warn\] \d+: open files limit is 512 but max_connections needs 2072: /,
     'the limit that cannot be met is warned about');
$t->done;
