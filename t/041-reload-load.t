# 20 reloads while clients send requests without pause, over keep-alive
# and over fresh connections: not one request fails.
#
# A client may find its idle keep-alive connection closed by a draining
# worker before sending on it; like curl and browsers (RFC 9112 9.3.1), it
# then retries that request once on a new connection. Anything else (an
# error status, a refused or reset connection, a truncated or missing
# response) is a failure.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
sub conf {
    my ($n) = @_;
    my $workers = 1 + $n % 3;
    $t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = $workers;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; keepalive_timeout = "30s"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "generation $n\\n"; }; } );
EOF
}
conf(1);
ok($t->start, 'started');
my $port = $t->port('web');
my $stop = $t->dir . '/stop';

sub loader {
    my ($name, $keepalive) = @_;
    my $pid = fork // die;
    return $pid if $pid;
    my %n = (ok => 0, fail => 0, retried => 0);
    my @why;
    my $deadline = time + 60;
    my $c;
    my $on_conn = 0;
    while (!-e $stop && time < $deadline) {
        if (!$c) {
            $c = Cerb::Conn->new($port);
            $on_conn = 0;
            if (!$c) { $n{fail}++; push @why, "connect: $!"; next }
        }
        my $req = "GET /x HTTP/1.1\r\nHost: a\r\n" . ($keepalive ? '' : "Connection: close\r\n") . "\r\n";
        my $r = $c->request($req, timeout => 5);
        if (!defined $r && $on_conn > 0) {
            $n{retried}++;                       # closed while idle: retry once
            $c = Cerb::Conn->new($port);
            $on_conn = 0;
            $r = $c ? $c->request($req, timeout => 5) : undef;
        }
        if (!$r || !$r->{status} || $r->{status} != 200 || $r->{body} !~ /^generation \d+\n$/) {
            $n{fail}++;
            push @why, !$r ? 'no response' : $r->{timeout} ? 'timeout' : ($r->{status} // 'garbage');
            $c = undef;
            next;
        }
        $n{ok}++;
        $on_conn++;
        if (!$keepalive || ($r->{headers}{connection} // '') eq 'close') {
            $c->close;
            $c = undef;
        }
    }
    open my $f, '>', $t->dir . "/$name.result" or die;
    print $f "ok=$n{ok} fail=$n{fail} retried=$n{retried} why=" . join(',', @why[0 .. ($#why < 9 ? $#why : 9)]) . "\n";
    close $f;
    _exit(0);
}

my @loaders = (loader('ka1', 1), loader('ka2', 1), loader('fresh1', 0), loader('fresh2', 0));
sleep 0.2;
my $reloads_ok = 0;
for my $n (2 .. 21) {
    conf($n);
    my ($rc, $out, $err) = $t->ctl('reload');
    $reloads_ok++ if $rc == 0 && $out =~ /generation $n$/m;
    diag("reload $n: $err") if $rc != 0;
    sleep 0.05;
}
is($reloads_ok, 20, '20 reloads, each confirmed with its generation');
sleep 0.3;
open my $f, '>', $stop;
close $f;
waitpid($_, 0) for @loaders;

my ($total_ok, $total_fail) = (0, 0);
for my $name (qw(ka1 ka2 fresh1 fresh2)) {
    my $res = slurp($t->dir . "/$name.result");
    my ($ok, $fail) = $res =~ /ok=(\d+) fail=(\d+)/;
    $total_ok += $ok // 0;
    $total_fail += $fail // 1;
    is($fail, 0, "$name: no failed request") or diag($res);
    cmp_ok($ok // 0, '>', 20, "$name: kept sending during the reloads");
    note($res);
}
is(http_get($port, '/')->{body}, "generation 21\n", 'the last configuration is served');
is(scalar($t->workers), 1 + 21 % 3, 'with its number of workers');
note("requests answered: $total_ok, failed: $total_fail");
$t->done;
