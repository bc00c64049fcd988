# body_timeout while a request is proxied (issue 12, point 16): a client
# that sends part of its body and goes silent gets 408 after body_timeout
# (Content-Length and chunked), or, once the response has begun, its
# connection is closed; the server connection is closed too, not pooled.
# A client that keeps sending within body_timeout is not cut off.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;

# Reads the head, then the body (Content-Length or chunked) until it is
# whole (answers 200 with the body length) or the connection ends (logs
# "eof TARGET"). /early/ answers a head and part of a body at once, then
# keeps reading.
my $log = $t->dir . '/fake-body.log';
sub note_log { if (open my $f, '>>', $log) { syswrite($f, "$_[0]\n"); close $f } }
my $fake = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    while (defined(my $head = read_head($s, \$buf))) {
        my ($target) = $head =~ /^\S+ (\S+)/;
        my ($cl) = $head =~ /\r\nContent-Length: *(\d+)/i;
        my $chunked = $head =~ /\r\nTransfer-Encoding: *chunked/i;
        $cl //= 0 unless $chunked;
        note_log("head $target");
        syswrite($s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial\n")
            if $target =~ m{^/early/};
        if ($target =~ m{^/expect/}) {
            select(undef, undef, undef, 1);     # longer than body_timeout
            syswrite($s, "HTTP/1.1 100 Continue\r\n\r\n");
        }
        while (1) {
            last if defined $cl && length($buf) >= $cl;
            last if $chunked && $buf =~ /\r\n0\r\n\r\n$/;
            my $n = sysread($s, $buf, 65536, length $buf);
            if (!$n) { note_log("eof $target"); return }
        }
        my $len = $chunked ? 0 : $cl;
        $buf = '';
        syswrite($s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
            unless $target =~ m{^/early/};
        note_log("done $target $len");
    }
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; body_timeout = "600ms"; } );
pools = ( { name = "fake"; retries = 0; read_timeout = "30s";
            servers = ( { address = "127.0.0.1:$fake"; } ); } );
routes = ( { path_prefix = "/"; pool = "fake"; } );
EOF
ok($t->start, 'started');
my $port = $t->port('web');

sub logged { my ($re) = @_; return scalar grep { $_ =~ $re } split /\n/, slurp($log) }

# A body that stops: 408 after body_timeout, connection closed, and the
# server connection closed (the server sees its end of input).
sub stalls {
    my ($name, $head, $part, $target) = @_;
    my $c = Cerb::Conn->new($port);
    my $t0 = time;
    $c->send_raw($head . $part);
    my $r = $c->read_response(timeout => 4);
    my $took = time - $t0;
    is($r && $r->{status}, 408, "$name: 408 Request Timeout");
    cmp_ok($took, '>=', 0.5, "$name: not before body_timeout");
    cmp_ok($took, '<', 2.5, "$name: soon after body_timeout (not read_timeout)");
    is($r && $r->{headers}{connection}, 'close', "$name: Connection: close");
    ok($c->closed(3), "$name: the client connection is closed");
    ok(wait_for(sub { logged(qr{^eof \Q$target\E$}) == 1 }, 3),
       "$name: the server connection is closed too");
}
stalls('Content-Length', "POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n",
       'x' x 10, '/cl');
stalls('chunked', "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
       "5\r\nhello\r\n", '/chunked');
stalls('nothing after the head', "PUT /none HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
       '', '/none');
like(slurp($t->error_log), qr/408 Request Timeout: route "[^"]*", pool "fake", server 127\.0\.0\.1:$fake: client sent no request body bytes within body_timeout/,
     'the 408 is logged with its reason');

# Once the response has begun: the connection is closed, nothing more.
{
    my $c = Cerb::Conn->new($port);
    my $t0 = time;
    $c->send_raw("POST /early/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" . 'y' x 10);
    my $got = '';
    my $closed = 0;
    while (time - $t0 < 4) {
        my $rin = '';
        vec($rin, fileno($c->sock), 1) = 1;
        next unless select($rin, undef, undef, 0.1);
        my $n = sysread($c->sock, $got, 65536, length $got);
        if (!$n) { $closed = 1; last }
    }
    my $took = time - $t0;
    like($got, qr{^HTTP/1\.1 200 .*\r\n\r\npartial\n$}s, 'response begun: its first bytes reached the client');
    ok($closed, 'response begun: the connection is closed when the body stops');
    cmp_ok($took, '>=', 0.5, 'response begun: not before body_timeout');
    cmp_ok($took, '<', 2.5, 'response begun: soon after body_timeout');
    ok(wait_for(sub { logged(qr{^eof /early/x$}) == 1 }, 3),
       'response begun: the server connection is closed too');
}

# A client that sends a little at a time, each within body_timeout, is
# served however long the whole body takes.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n");
    for (1 .. 5) {
        sleep 0.3;
        $c->send_raw('z' x 10);
    }
    my $r = $c->read_response(timeout => 4);
    is($r && $r->{status}, 200, 'a body trickling within body_timeout is served (1.5 s in all)');
    ok(wait_for(sub { logged(qr{^done /slow 50$}) == 1 }, 3), 'and reached the server whole');
    $r = $c->get('/after');
    is($r && $r->{status}, 200, 'the connection goes on');
}

# Expect: 100-continue: the client may wait for the 100 before its body;
# body_timeout counts from the 100 (the server is the one awaited before).
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /expect/ok HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                 . "Expect: 100-continue\r\n\r\n");
    my $r = $c->read_response(timeout => 4);
    is($r && $r->{status}, 100, 'Expect: a 100 later than body_timeout reaches the waiting client');
    $c->send_raw('body');
    $r = $c->read_response(timeout => 4);
    is($r && $r->{status}, 200, 'Expect: then the body is taken and answered');
    ok(wait_for(sub { logged(qr{^done /expect/ok 4$}) == 1 }, 3), 'Expect: the body reached the server');

    $c = Cerb::Conn->new($port);
    $c->send_raw("POST /expect/silent HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                 . "Expect: 100-continue\r\n\r\n");
    $r = $c->read_response(timeout => 4);
    is($r && $r->{status}, 100, 'Expect: the 100');
    my $t0 = time;
    $r = $c->read_response(timeout => 4);
    my $took = time - $t0;
    is($r && $r->{status}, 408, 'Expect: a client silent after the 100 gets 408');
    cmp_ok($took, '>=', 0.5, 'Expect: body_timeout counted from the 100');
    cmp_ok($took, '<', 2.5, 'Expect: and not much later');
}

$t->done;
