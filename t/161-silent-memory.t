# Memory per connection: a client that connects and sends nothing, plain
# or TLS, costs the worker no read buffer (nginx: 0.45 KiB each); after a
# request, an idle keep-alive connection gives its buffer back too.
# Measured as the worker's resident size over many connections.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Cerb;
use CerbTLS;

my $N = 2000;
my $BOUND_KB = 1.5;     # per connection; a 4 KiB read block each is 4+

my $t = Cerb->new;
my $pki = CerbTLS->new($t->dir);
$pki->ca('ca');
$pki->leaf('a', dns => ['a.test']);
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; keepalive_timeout = "60s";
    header_timeout = "60s"; },
  { name = "tls"; address = "127.0.0.1:%%PORT:tls%%"; keepalive_timeout = "60s";
    header_timeout = "60s";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; } );
            handshake_timeout = "60s"; }; }
);
routes = ( { name = "ok"; path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
my $wpid;
# A fresh worker for each part, so that no part reuses what another freed.
sub restart {
    $t->stop;
    ok($t->start, 'started');
    my ($w) = $t->workers;
    $wpid = $w->{pid};
    ok($wpid, 'the worker pid');
    # Warm-up: a few requests, for the allocator's arenas.
    http_get($t->port('web'), '/') for 1 .. 5;
}

sub rss_kb {
    my ($kb) = slurp("/proc/$wpid/status") =~ /^VmRSS:\s+(\d+)\s+kB/m;
    return $kb // 0;
}
sub nfds { opendir(my $d, "/proc/$wpid/fd") or return 0; my @f = readdir $d; return @f - 2 }

# Opens $N connections to $port, waits until the worker holds them all
# (and has run its read on each), and returns them with the KiB each costs.
sub silent {
    my ($port) = @_;
    my $fds = nfds();
    my $before = rss_kb();
    my @c;
    for (1 .. $N) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 5) or last;
        push @c, $s;
    }
    is(scalar @c, $N, "$N connections to port $port");
    ok(wait_for(sub { nfds() >= $fds + $N }, 20), 'the worker accepted them all');
    # One last connection with a request: answered means the worker went
    # past every earlier accept and read.
    my $r = http_get($port, '/');
    sleep 0.2;
    my $per = (rss_kb() - $before) / $N;
    return (\@c, $per, $before);
}

# ---- silent, plain ----------------------------------------------------------------
restart();
{
    my ($c, $per, $start) = silent($t->port('web'));
    cmp_ok($per, '<', $BOUND_KB, sprintf('a silent connection costs %.2f KiB', $per));

    # ---- the same, after one request each: idle keep-alive ---------------------------
    my $before = rss_kb();
    my $okn = 0;
    for my $s (@$c) {
        syswrite($s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        my $buf = '';
        my $deadline = time + 5;
        while ($buf !~ /\r\n\r\nok\n/ && time < $deadline) {
            my $n = sysread($s, $buf, 4096, length $buf) or last;
        }
        $okn++ if $buf =~ m{^HTTP/1\.1 200 .*\r\n\r\nok\n\z}s;
    }
    is($okn, $N, 'each answered, kept alive');
    my $per2 = (rss_kb() - $before) / $N;
    cmp_ok($per2, '<', $BOUND_KB, sprintf('then idle, each costs %.2f KiB more', $per2));
    my $all = (rss_kb() - $start) / $N;
    cmp_ok($all, '<', $BOUND_KB, sprintf('an idle keep-alive connection costs %.2f KiB', $all));
    close $_ for @$c;
    ok(wait_for(sub { nfds() < 50 }, 20), 'closed');
}

# ---- silent, TLS: nothing arrived, so no handshake state either -------------------
restart();
{
    CerbTLS::s_client($t->port('tls'), '-servername', 'a.test');
    my ($c, $per) = silent($t->port('tls'));
    cmp_ok($per, '<', $BOUND_KB, sprintf('a silent TLS connection costs %.2f KiB', $per));
    close $_ for @$c;
}

# Still serving.
is(http_get($t->port('web'), '/')->{status}, 200, 'still answers');
unlike(slurp($t->error_log), qr/killed by signal/, 'no worker crashed');
$t->done;
