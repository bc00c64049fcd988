# A request's retries never go back to a server that already failed it,
# also when every server of the pool is marked down by passive health or
# passive health is off (issue 12, point 10). The access log's upstream
# field lists every server tried, in order.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my ($dead1, $dead2) = (free_port(), free_port());

# Servers that read the request and close without answering (a reset
# after the request: the GET may be retried elsewhere). Each logs "NAME
# TARGET" per request read.
my $rlog = $t->dir . '/fake-reset.log';
sub resetter {
    my ($name) = @_;
    return $t->fake_server(sub {
        my ($s) = @_;
        my $buf = '';
        my $head = read_head($s, \$buf) // return;
        my ($target) = $head =~ /^\S+ (\S+)/;
        if (open my $f, '>>', $rlog) { syswrite($f, "$name $target\n"); close $f }
    });
}
my ($r1, $r2) = (resetter('r1'), resetter('r2'));

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
access_log = { path = "access.log"; buffer = 0; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "refused"; retries = 3;
    servers = ( { address = "127.0.0.1:$dead1"; }, { address = "127.0.0.1:$dead2"; } ); },
  { name = "nomark"; retries = 3; max_fails = 0;
    servers = ( { address = "127.0.0.1:$dead1"; }, { address = "127.0.0.1:$dead2"; } ); },
  { name = "reset"; retries = 3; max_fails = 1;
    servers = ( { address = "127.0.0.1:$r1"; }, { address = "127.0.0.1:$r2"; } ); }
);
routes = (
  { path_prefix = "/refused/"; pool = "refused"; },
  { path_prefix = "/nomark/"; pool = "nomark"; },
  { path_prefix = "/reset/"; pool = "reset"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

# The upstream field of the access-log line of each request to $prefix.
sub tried_lists {
    my ($prefix) = @_;
    my @l;
    for (split /\n/, slurp($t->dir . '/access.log')) {
        push @l, $1 if m{"GET \Q$prefix\E\S* HTTP/1\.1" .* upstream=(\S+) };
    }
    return @l;
}
sub repeats {
    my %seen;
    return grep { $seen{$_}++ } split /,/, $_[0];
}

for my $pool (qw(refused nomark reset)) {
    # Several requests: the first marks both servers down (max_fails = 1),
    # the later ones meet a pool whose every server is down.
    for my $i (1 .. 4) {
        my $r = http_get($port, "/$pool/x$i");
        is($r && $r->{status}, 502, "$pool ($i): 502");
    }
    my @lists;
    ok(wait_for(sub { @lists = tried_lists("/$pool/"); @lists == 4 }, 3),
       "$pool: four access-log lines") or diag(slurp($t->dir . '/access.log'));
    for my $i (0 .. $#lists) {
        my @rep = repeats($lists[$i]);
        ok(!@rep, "$pool ($i): no server tried twice by one request: $lists[$i]");
    }
    ok((grep { split(/,/, $_) == 2 } @lists) >= 1,
       "$pool: a request tried both servers (the list holds each)")
        or diag(join "\n", @lists);
}

# The resetting servers saw each request at most once each.
my %n;
$n{$_}++ for split /\n/, slurp($rlog);
my @twice = grep { $n{$_} > 1 } sort keys %n;
ok(!@twice, 'no resetting server read the same request twice') or diag(join "\n", @twice);
ok(scalar(keys %n) >= 2, 'the resetting servers did read requests');

like(slurp($t->error_log), qr/502 Bad Gateway: .*no server of the pool could be reached|502 Bad Gateway: .*Connection refused/,
     'the 502s are logged');
$t->allow_log(qr/502 Bad Gateway/);
$t->done;
