#!/usr/bin/perl
# t/origin: the controllable HTTP/1.1 origin used by the other tests.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex sha1_base64);
use JSON::PP;

my $ORIGIN = $ENV{ORIGIN} // 'build/t/origin';
plan skip_all => "$ORIGIN not built" unless -x $ORIGIN;

my $dir = tempdir(CLEANUP => 1);
my $portfile = "$dir/port";
my $logfile = "$dir/requests.log";
my $json = JSON::PP->new;

my $pid = fork();
die "fork: $!" unless defined $pid;
END {
    # never leave the origin behind (it holds the harness's stderr)
    if ($pid && kill(0, $pid)) {
        local $?;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}
if ($pid == 0) {
    open(STDOUT, '>', "$dir/stdout") or die "stdout: $!";
    exec($ORIGIN, '-p', '0', '-f', $portfile, '-l', $logfile)
        or die "exec $ORIGIN: $!";
}

my $port;
for (my $t0 = time; time - $t0 < 5; sleep 0.02) {
    if (open(my $fh, '<', $portfile)) {
        my $line = <$fh>;
        if (defined $line && $line =~ /^(\d+)\n\z/) {
            $port = $1;
            last;
        }
    }
    last if waitpid($pid, WNOHANG) == $pid;
}
BAIL_OUT("origin did not write its port file") unless $port;
ok($port > 0, "port file: $port");
{
    open(my $fh, '<', "$dir/stdout") or die;
    local $/;
    is(<$fh>, "PORT $port\n", 'PORT line on stdout');
}

# ---- raw HTTP helpers ----

my %rbuf;           # unread bytes per socket
my $nconn = 0;      # connections opened by this test

sub conn {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2)
        or die "connect: $!";
    $s->autoflush(1);
    binmode($s);
    $rbuf{$s} = '';
    $nconn++;
    return $s;
}

sub send_all {
    my ($s, $data) = @_;
    while (length $data) {
        my $n = syswrite($s, $data);
        die "write: $!" unless defined $n;
        substr($data, 0, $n, '');
    }
}

# Read more into the socket's buffer; 0 on EOF.  Dies after the deadline.
sub fill {
    my ($s, $deadline) = @_;
    my $left = $deadline - time;
    die "timeout\n" if $left <= 0;
    die "timeout\n" unless IO::Select->new($s)->can_read($left);
    my $n = sysread($s, my $chunk, 1 << 20);
    die "read: $!" unless defined $n;
    $rbuf{$s} .= $chunk;
    return $n;
}

sub read_bytes {
    my ($s, $len, $timeout) = @_;
    my $deadline = time + ($timeout // 2);
    while (length($rbuf{$s}) < $len) {
        fill($s, $deadline) or die "EOF after " . length($rbuf{$s}) . " bytes\n";
    }
    return substr($rbuf{$s}, 0, $len, '');
}

sub read_line {
    my ($s, $deadline) = @_;
    while ($rbuf{$s} !~ /\n/) {
        fill($s, $deadline) or die "EOF in line\n";
    }
    $rbuf{$s} =~ s/^([^\n]*)\n//;
    my $l = $1;
    $l =~ s/\r\z//;
    return $l;
}

# Everything until EOF (dies if the peer keeps the connection open).
sub read_eof {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // 2);
    1 while fill($s, $deadline);
    return delete $rbuf{$s};
}

# Read one response.  Returns a hash: status, headers (lower-cased name =>
# value), hlist (ordered pairs), body, chunks (chunk sizes if chunked).
sub read_response {
    my ($s, %o) = @_;
    my $deadline = time + ($o{timeout} // 2);
    while ($rbuf{$s} !~ /\r\n\r\n/) {
        fill($s, $deadline) or die "EOF before response head\n";
    }
    $rbuf{$s} =~ s/^(.*?)\r\n\r\n//s;
    my @lines = split /\r\n/, $1;
    my $sl = shift @lines;
    $sl =~ m{^HTTP/1\.1 (\d{3}) } or die "bad status line '$sl'\n";
    my %r = (status => $1, headers => {}, hlist => [], body => '');
    for (@lines) {
        my ($n, $v) = /^([^:]+):\s*(.*)$/ or die "bad header '$_'\n";
        push @{$r{hlist}}, [$n, $v];
        $r{headers}{lc $n} = $v;
    }
    my $h = $r{headers};
    return \%r if $o{head} || $r{status} =~ /^(1..|204|304)$/;
    if (($h->{'transfer-encoding'} // '') eq 'chunked') {
        $r{chunks} = [];
        for (;;) {
            my $line = read_line($s, $deadline);
            $line =~ /^([0-9a-fA-F]+)/ or die "bad chunk line '$line'\n";
            my $size = hex $1;
            last if $size == 0;
            push @{$r{chunks}}, $size;
            $r{body} .= read_bytes($s, $size);
            read_bytes($s, 2) eq "\r\n" or die "bad chunk end\n";
        }
        1 while length read_line($s, $deadline);
    } elsif (defined $h->{'content-length'}) {
        $r{body} = read_bytes($s, $h->{'content-length'}, $o{timeout});
    } else {
        $r{body} = read_eof($s, $o{timeout});
    }
    return \%r;
}

sub get {
    my ($s, $target, @hdrs) = @_;
    send_all($s, "GET $target HTTP/1.1\r\nHost: origin.test\r\n"
                 . join('', map { "$_\r\n" } @hdrs) . "\r\n");
    return read_response($s);
}

sub get1 {
    my $s = conn();
    my $r = get($s, @_);
    close $s;
    return $r;
}

sub jbody { return $json->decode($_[0]{body}) }

# ---- plain requests ----

{
    my $s = conn();
    my $r = get($s, '/json/test?x=1&y=%20', 'X-Test: a "quoted" \\ value',
                "X-Tab: t\tu");
    is($r->{status}, 200, 'GET: 200');
    is($r->{headers}{'x-origin'}, "origin-$port", 'X-Origin default name');
    is($r->{headers}{'content-type'}, 'application/json', 'JSON content type');
    my $j = jbody($r);
    is($j->{name}, "origin-$port", 'json name');
    is($j->{method}, 'GET', 'json method');
    is($j->{target}, '/json/test?x=1&y=%20', 'json target');
    is($j->{path}, '/json/test', 'json path');
    is($j->{query}, 'x=1&y=%20', 'json query');
    is($j->{version}, 'HTTP/1.1', 'json version');
    is_deeply($j->{headers}, [['Host', 'origin.test'],
                              ['X-Test', 'a "quoted" \\ value'],
                              ['X-Tab', "t\tu"]],
              'json headers in order, escaped');
    is($j->{body_length}, 0, 'no body');
    is($j->{body_sha256}, sha256_hex(''), 'sha256 of empty body');
    is($j->{connection_requests}, 1, 'first request on connection');
    is($j->{remote_port}, $s->sockport, 'remote_port is our port');

    # keep-alive: two more requests on the same connection
    for my $k (2, 3) {
        my $r2 = get($s, "/ka$k");
        is(jbody($r2)->{connection_requests}, $k, "keep-alive request $k");
    }

    # HEAD: same headers, no body; the connection stays usable
    send_all($s, "HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n");
    my $h = read_response($s, head => 1);
    is($h->{status}, 200, 'HEAD: 200');
    ok($h->{headers}{'content-length'} > 0, 'HEAD: Content-Length');
    my $after = get($s, '/after-head');
    is(jbody($after)->{connection_requests}, 5, 'HEAD sent no body');
    close $s;
}

{
    my $s = conn();
    send_all($s, join '', map { "GET /p$_ HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. 3);
    my @t = map { jbody(read_response($s)) } 1 .. 3;
    is_deeply([map { $_->{path} } @t], ['/p1', '/p2', '/p3'],
              'pipelined responses in order');
    is_deeply([map { $_->{connection_requests} } @t], [1, 2, 3],
              'pipelined requests on one connection');
    close $s;
}

is(get1('/x?status=404')->{status}, 404, '?status=404');
is(get1('/x?status=150')->{status}, 400, '?status=150 refused');
{
    my $r = get1('/x?status=204');
    ok($r->{status} == 204 && !defined $r->{headers}{'content-length'},
       '204 without Content-Length');
}

{
    my $r = get1('/x?size=100000');
    is(length $r->{body}, 100000, '?size=100000 length');
    my $want = join '', map { chr(ord('a') + $_ % 26) } 0 .. 99999;
    ok($r->{body} eq $want, '?size pattern');
    is($r->{headers}{'content-type'}, 'application/octet-stream',
       '?size content type');
}

{
    my $r = get1('/c?chunked=1');
    is($r->{headers}{'transfer-encoding'}, 'chunked', '?chunked=1 is chunked');
    ok(!defined $r->{headers}{'content-length'}, 'no Content-Length');
    is(jbody($r)->{path}, '/c', 'chunked JSON decodes');
    my $p = get1('/c?size=1000&chunked=1&chunk=300');
    is($p->{body}, join('', map { chr(ord('a') + $_ % 26) } 0 .. 999),
       'chunked pattern body');
    is_deeply($p->{chunks}, [300, 300, 300, 100], '?chunk=300 sizes');
}

{
    my $r = get1('/h?header=X-A:b%20c&header=X-B:%3Ad');
    is($r->{headers}{'x-a'}, 'b c', '?header= adds a header');
    is($r->{headers}{'x-b'}, ':d', '?header= repeatable, decoded');
}

# ---- request bodies ----

{
    my $body = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 65535;
    $body x= 16;    # 1 MiB
    my $s = conn();
    send_all($s, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: "
                 . length($body) . "\r\n\r\n" . $body);
    my $j = jbody(read_response($s));
    is($j->{body_length}, 1 << 20, 'POST 1 MiB: body_length');
    is($j->{body_sha256}, sha256_hex($body), 'POST 1 MiB: body_sha256');
    close $s;
}

{
    my $s = conn();
    send_all($s, "POST /chunked HTTP/1.1\r\nHost: x\r\n"
                 . "Transfer-Encoding: chunked\r\n\r\n"
                 . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
                 . "X-Trailer: yes\r\n\r\n");
    my $j = jbody(read_response($s));
    is($j->{body_length}, 11, 'chunked request: body_length');
    is($j->{body_sha256}, sha256_hex('hello world'), 'chunked request: sha');
    is_deeply($j->{trailers}, [['X-Trailer', 'yes']], 'chunked trailers');
    is(jbody(get($s, '/next'))->{connection_requests}, 2,
       'keep-alive after chunked body');
    close $s;
}

{
    my $s = conn();
    send_all($s, "POST /e?echo=1 HTTP/1.1\r\nHost: x\r\n"
                 . "Content-Length: 11\r\nContent-Type: text/x-t\r\n\r\n"
                 . "echo me!!!\n");
    my $r = read_response($s);
    is($r->{body}, "echo me!!!\n", '?echo=1 echoes the body');
    is($r->{headers}{'content-length'}, 11, 'echo keeps Content-Length');
    is($r->{headers}{'content-type'}, 'text/x-t', 'echo keeps Content-Type');
    send_all($s, "POST /e?echo=1 HTTP/1.1\r\nHost: x\r\n"
                 . "Transfer-Encoding: chunked\r\n\r\n"
                 . "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    $r = read_response($s);
    is($r->{headers}{'transfer-encoding'}, 'chunked', 'chunked echo');
    is($r->{body}, 'abcdefg', 'chunked echo body');
    close $s;
}

{
    my $s = conn();
    send_all($s, "PUT /exp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 . "Expect: 100-continue\r\n\r\n");
    is(read_bytes($s, 25), "HTTP/1.1 100 Continue\r\n\r\n", '100 Continue');
    send_all($s, 'abcde');
    is(jbody(read_response($s))->{body_length}, 5, 'body after 100 Continue');
    close $s;
}

# ---- health switching ----

{
    my $r = get1('/health');
    is("$r->{status} $r->{body}", "200 ok\n", '/health ok');
    is(get1('/_origin/health/fail')->{status}, 200, 'switch to failing');
    $r = get1('/health');
    is("$r->{status} $r->{body}", "503 failing\n", '/health failing');
    is(get1('/_origin/health/ok')->{status}, 200, 'switch back');
    is(get1('/health')->{status}, 200, '/health ok again');
}

# ---- delays, drops, close ----

{
    my $slow = conn();
    my $t0 = time;
    send_all($slow, "GET /slow?delay_ms=300 HTTP/1.1\r\nHost: x\r\n\r\n");
    my $fast = get1('/fast');
    my $tf = time - $t0;
    is($fast->{status}, 200, 'other connection served during a delay');
    ok($tf < 0.25, sprintf('... immediately (%.3f s)', $tf));
    ok(!IO::Select->new($slow)->can_read(0), 'delayed response not yet sent');
    my $r = read_response($slow);
    my $ts = time - $t0;
    is($r->{status}, 200, 'delayed response');
    ok($ts >= 0.3, sprintf('delay_ms=300 took %.3f s', $ts));
    close $slow;
}

{
    my $s = conn();
    send_all($s, "GET /?drop=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    is(read_eof($s), '', '?drop=1 closes without a response');
}

{
    my $s = conn();
    my $r = get($s, '/bye?close=1');
    is($r->{headers}{connection}, 'close', '?close=1 sends Connection: close');
    is(read_eof($s), '', '... and closes');
}

{
    my $s = conn();
    send_all($s, "GET /old HTTP/1.0\r\n\r\n");
    my $r = read_response($s);
    is(jbody($r)->{version}, 'HTTP/1.0', 'HTTP/1.0 request');
    is(read_eof($s), '', 'HTTP/1.0 closes by default');
}

{
    my $s = conn();
    send_all($s, "BAD REQUEST\r\n\r\n");
    my $r = read_response($s);
    is($r->{status}, 400, 'malformed request: 400');
    is(read_eof($s), '', '... and close');
    $s = conn();
    send_all($s, "GET / HTTP/1.1\r\nX-Big: " . ('x' x 70000) . "\r\n\r\n");
    is(read_response($s)->{status}, 431, 'oversized head: 431');
}

# ---- WebSocket ----

sub ws_frame {
    my ($op, $payload) = @_;
    my $len = length $payload;
    my $mask = pack('N', int(rand(2**32)));
    my $hdr = $len < 126 ? pack('CC', 0x80 | $op, 0x80 | $len)
                         : pack('CCn', 0x80 | $op, 0x80 | 126, $len);
    my $m = substr($mask x (int($len / 4) + 1), 0, $len);
    return $hdr . $mask . ($payload ^ $m);
}

sub ws_read {
    my ($s) = @_;
    my ($b0, $b1) = unpack('CC', read_bytes($s, 2));
    my $len = $b1 & 0x7f;
    $len = unpack('n', read_bytes($s, 2)) if $len == 126;
    die "masked server frame\n" if $b1 & 0x80;
    return ($b0, read_bytes($s, $len));
}

{
    my $s = conn();
    send_all($s, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 . "Connection: Upgrade\r\n"
                 . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 . "Sec-WebSocket-Version: 13\r\n\r\n");
    my $r = read_response($s);
    is($r->{status}, 101, 'WebSocket: 101');
    # RFC 6455 section 1.3 example
    is($r->{headers}{'sec-websocket-accept'}, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
       'Sec-WebSocket-Accept');
    is($r->{headers}{'sec-websocket-accept'},
       sha1_base64('dGhlIHNhbXBsZSBub25jZQ=='
                   . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=',
       '... is base64(SHA-1(key + GUID))');
    send_all($s, ws_frame(1, 'hello'));
    my ($b0, $p) = ws_read($s);
    is(sprintf('%02x %s', $b0, $p), '81 hello', 'text frame echoed');
    my $big = join '', map { chr(65 + $_ % 26) } 0 .. 299;
    my $f = ws_frame(2, $big);
    send_all($s, substr($f, 0, 3));     # split inside the header
    sleep 0.02;
    send_all($s, substr($f, 3));
    ($b0, $p) = ws_read($s);
    ok($b0 == 0x82 && $p eq $big, '16-bit length binary frame echoed');
    send_all($s, ws_frame(9, 'pi'));
    ($b0, $p) = ws_read($s);
    is(sprintf('%02x %s', $b0, $p), '8a pi', 'ping answered with pong');
    send_all($s, ws_frame(8, pack('n', 1000)));
    ($b0, $p) = ws_read($s);
    ok($b0 == 0x88 && $p eq pack('n', 1000), 'close answered');
    is(read_eof($s), '', 'closed after close frame');
}

# ---- stats and log ----

{
    my $s = conn();
    my $a = jbody(get($s, '/_origin/stats'));
    my $b = jbody(get($s, '/_origin/stats'));
    is($a->{name}, "origin-$port", 'stats name');
    is($a->{connections}, $nconn, 'stats: connections accepted');
    ok($a->{active_connections} >= 1, 'stats: active connections');
    ok($a->{requests} >= 30, "stats: requests ($a->{requests})");
    is($b->{requests}, $a->{requests} + 1, 'stats: requests count');
    close $s;
}

{
    open(my $fh, '<', $logfile) or die "$logfile: $!";
    my @log = <$fh>;
    my %seen = map { $_ => 1 } @log;
    ok($seen{"GET /json/test?x=1&y=%20\n"}, 'log: GET line');
    ok($seen{"POST /upload\n"}, 'log: POST line');
    ok($seen{"HEAD /head\n"}, 'log: HEAD line');
    ok($seen{"GET /?drop=1\n"}, 'log: dropped request');
    ok(!grep(/^BAD/, @log), 'log: malformed request absent');
}

# ---- shutdown ----

kill 'TERM', $pid;
my $status;
for (my $t0 = time; time - $t0 < 5; sleep 0.01) {
    if (waitpid($pid, WNOHANG) == $pid) {
        $status = $?;
        last;
    }
}
if (!defined $status) {
    kill 'KILL', $pid;
    waitpid($pid, 0);
}
is($status, 0, 'SIGTERM: exit 0');

done_testing();
