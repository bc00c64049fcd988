# A non-idempotent request is never sent twice: not even when the pooled
# (reused) server connection it went on fails before any response byte,
# the case that looks like a stale keep-alive connection. The server may
# have processed it before closing (issue 12, point 6). Idempotent requests
# are still sent again, and retry_non_idempotent = true still allows it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;

# Answers the first request of each connection (keep-alive), reads the
# second one whole and closes without a byte of answer. Every request it
# read is logged as "PID N METHOD TARGET".
my $log = $t->dir . '/fake-once.log';
my $once = $t->fake_server(sub {
    my ($s) = @_;
    my ($buf, $n) = ('', 0);
    while (defined(my $head = read_head($s, \$buf))) {
        my ($cl) = $head =~ /\r\nContent-Length: *(\d+)/i;
        $cl //= 0;
        while (length($buf) < $cl) {
            my $r = sysread($s, $buf, 65536, length $buf);
            return unless $r;
        }
        substr($buf, 0, $cl) = '';
        $n++;
        my ($line) = $head =~ /^(\S+ \S+)/;
        if (open my $f, '>>', $log) { syswrite($f, "$$ $n $line\n"); close $f }
        return if $n >= 2;          # processed, then closed unanswered
        syswrite($s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    }
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "once"; retries = 2; max_fails = 0;
            servers = ( { address = "127.0.0.1:$once"; } ); } );
routes = (
  { path_prefix = "/replay/"; pool = "once"; retry_non_idempotent = true; },
  { path_prefix = "/"; pool = "once"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

sub hits {
    my ($re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, slurp($log);
}

# The first request opens a server connection that goes back to the pool;
# the POST then goes on that reused connection, which fails.
for my $i (1 .. 3) {
    is(http_get($port, "/warm$i")->{status}, 200, "($i) a GET opens a pooled connection");
    my $r = http_request($port, 'POST', "/post$i", body => "payload $i");
    is($r && $r->{status}, 502, "($i) a POST on the reused connection that fails: 502");
    is(hits(qr{ POST /post$i$}), 1, "($i) the server read the POST once: it was not sent again");
}
like(slurp($t->error_log),
     qr/502 Bad Gateway: .*read from 127\.0\.0\.1:$once: connection closed \(on a reused connection; not idempotent: not sent again\)/,
     'the 502 is logged with its reason');

# An idempotent method is still sent again on a new connection.
is(http_get($port, '/warm-get')->{status}, 200, 'a GET opens a pooled connection');
my $r = http_request($port, 'PUT', '/put1', body => 'x');
is($r && $r->{status}, 200, 'a PUT on the reused connection that fails is sent again');
is(hits(qr{ PUT /put1$}), 2, 'on a new connection (the server read it twice)');

# retry_non_idempotent = true: the route says a POST may be repeated.
is(http_get($port, '/replay/warm')->{status}, 200, 'a GET opens a pooled connection');
$r = http_request($port, 'POST', '/replay/p', body => 'again');
is($r && $r->{status}, 200, 'retry_non_idempotent: the POST is sent again');
is(hits(qr{ POST /replay/p$}), 2, 'retry_non_idempotent: the server read it twice');

$t->allow_log(qr/502 Bad Gateway/);
$t->done;
