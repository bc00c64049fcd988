# reload: a valid file switches generations on the same sockets; an
# invalid one changes nothing and says why.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Cerb;

my $t = Cerb->new;
my $tpl = <<'EOF';
%%PREAMBLE%%
workers = WORKERS;
listeners = ( LISTENERS );
routes = ( { path_prefix = "/"; return = { status = 200; body = "BODY\n"; }; } );
EOF
sub conf {
    my (%o) = @_;
    my $c = $tpl;
    $c =~ s/WORKERS/$o{workers} \/\/ 2/e;
    $c =~ s/BODY/$o{body} \/\/ 'one'/e;
    my $l = '{ name = "web"; address = "127.0.0.1:%%PORT:web%%"; }';
    $l .= ', { name = "extra"; address = "127.0.0.1:%%PORT:extra%%"; }' if $o{extra};
    $c =~ s/LISTENERS/$l/;
    $t->write_conf($c);
}

conf();
ok($t->start, 'started');
my $port = $t->port('web');
is(http_get($port, '/')->{body}, "one\n", 'first configuration');
my @gen1 = map { $_->{pid} } $t->workers;

conf(body => 'two');
my ($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload exits 0') or diag($err);
is($out, "cerberus reloaded: generation 2\n", 'and reports the generation');
is(http_get($port, '/')->{body}, "two\n", 'the new configuration is served at once');
my @gen2 = map { $_->{pid} } $t->workers;
is(scalar @gen2, 2, 'two workers in the new generation');
ok(!grep({ my $p = $_; grep { $_ == $p } @gen1 } @gen2), 'they are new processes');
ok(wait_for(sub { !grep { kill 0, $_ } @gen1 }, 10), 'the old generation exits once drained');
like(slurp($t->error_log), qr/configuration reloaded: generation 2, 2 workers/, 'logged');

# An invalid file: reload refuses, prints file:line, and nothing changes.
$t->write_conf(slurp($t->conf_path) . "oops = 1;\n");
($rc, $out, $err) = $t->ctl('reload');
is($rc, 1, 'reload of an invalid file exits 1');
my $line = () = slurp($t->conf_path) =~ /\n/g;
like($err, qr/^\Q${\ $t->conf_path}\E:$line: unknown key "oops"$/m, 'with file:line: message');
like($err, qr/nothing reloaded/, 'and says nothing changed');
is(http_get($port, '/')->{body}, "two\n", 'the running configuration is untouched');
is($t->status->{generation}, 2, 'same generation');
is_deeply([sort map { $_->{pid} } $t->workers], [sort @gen2], 'same workers');

# The daemon itself also refuses an invalid file (SIGHUP sent directly).
kill 'HUP', $t->master_pid;
ok(wait_for(sub { $t->status->{reload_result} eq 'failed' }, 5), 'SIGHUP with an invalid file fails');
like(slurp($t->error_log), qr/\[error\] \d+: reload failed, keeping generation 2: \Q${\ $t->conf_path}\E:$line: unknown key "oops"/,
     'the error log says why, with file:line');
is(http_get($port, '/')->{body}, "two\n", 'still serving the old configuration');

# A reload whose new listener cannot bind fails as a whole.
my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1);
$t->{ports}{extra} = $busy->sockport;
conf(body => 'three', extra => 1);
($rc, $out, $err) = $t->ctl('reload');
is($rc, 1, 'reload fails when a new listener cannot bind');
like($err, qr/listener "extra": cannot listen on 127\.0\.0\.1:\d+: Address already in use/, 'and says why');
is(http_get($port, '/')->{body}, "two\n", 'the old generation keeps serving');
close $busy;

# Adding a listener, changing the number of workers.
delete $t->{ports}{extra};
conf(body => 'four', extra => 1, workers => 3);
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload adds a listener and a worker') or diag($err);
is(http_get($t->port('extra'), '/')->{body}, "four\n", 'the new listener serves');
is(http_get($port, '/')->{body}, "four\n", 'the old one too');
is(scalar($t->workers), 3, 'three workers');
($rc, $out) = $t->ctl('status');
like($out, qr{workers:\s+3/3 alive}, 'status agrees');
like($out, qr/extra 127\.0\.0\.1:\d+ http/, 'status lists the new listener');

# Removing it and shrinking: every request on the kept listener is still
# answered, whichever socket the kernel queues it on.
my $extra = $t->port('extra');
conf(body => 'five', workers => 1);
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload removes a listener and two workers') or diag($err);
is(scalar($t->workers), 1, 'one worker');
ok(wait_for(sub { !IO::Socket::INET->new(PeerAddr => "127.0.0.1:$extra", Timeout => 1) }, 10),
   'the removed listener is closed');
my $ok = 0;
for (1 .. 50) { $ok++ if (http_get($port, '/') // {})->{body} // '' eq "five\n" }
is($ok, 50, 'with fewer workers, every socket of the listener is still served');

($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'a reload with an unchanged file works too');
is($out, "cerberus reloaded: generation 5\n", "failed reloads use no generation number");
$t->done;
