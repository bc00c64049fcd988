# Proxy core: bodies stream with bounded memory. 100 MiB up, 100 MiB down,
# 100 MiB echoed both ways at once, and a client that stops reading: the
# worker's resident size stays small throughout.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Digest::SHA;
use IO::Select;
use Time::HiRes qw(time sleep);
use Cerb;

my $MiB = 1024 * 1024;
my $TOTAL = 100 * $MiB;
my $LIMIT_KB = 64 * 1024;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
routes = ( { name = "app"; path_prefix = "/"; pool = "app"; } );
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $direct = $t->origin('a');
my ($w) = $t->workers;
ok($w && $w->{pid}, 'the worker pid');
my $wpid = $w->{pid};

my $peak = 0;
sub rss_kb {
    my ($kb) = slurp("/proc/$wpid/status") =~ /^VmRSS:\s+(\d+)\s+kB/m;
    $kb //= 0;
    $peak = $kb if $kb > $peak;
    return $kb;
}
my $t_start = time;
note(sprintf 'worker RSS at start: %.1f MiB', rss_kb() / 1024);

# The body: 1 MiB blocks, each numbered, so a lost or repeated block shows.
my $base = join '', map { chr(($_ * 131 + ($_ >> 9)) & 255) } 0 .. $MiB - 1;
sub block { my ($i) = @_; my $b = $base; substr($b, 0, 8) = pack('NN', $i, ~$i & 0xffffffff); return $b }

# Reads a response head from a raw socket; returns (head, leftover bytes).
sub read_response_head {
    my ($s, $buf) = @_;
    $buf //= '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 10;
    while ($buf !~ /\r\n\r\n/) {
        return unless $sel->can_read($deadline - time);
        my $n = sysread($s, $buf, 65536, length $buf) or return;
    }
    my $i = index($buf, "\r\n\r\n");
    return (substr($buf, 0, $i + 4), substr($buf, $i + 4));
}

# Streams $len body bytes from $s into a digest, sampling the RSS.
sub read_body {
    my ($s, $len, $rest, $pause) = @_;
    my $sha = Digest::SHA->new(256);
    $sha->add($rest);
    my $got = length $rest;
    my $sel = IO::Select->new($s);
    my $deadline = time + 25;
    my $next = 4 * $MiB;
    while ($got < $len && time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, my $buf, 262144) or last;
        $sha->add($buf);
        $got += $n;
        if ($got >= $next) { rss_kb(); $next += 4 * $MiB }
    }
    return ($got, $sha->hexdigest);
}

# ---- 100 MiB up ---------------------------------------------------------------------
{
    my $c = Cerb::Conn->new($port) or die;
    my $s = $c->sock;
    my $sha = Digest::SHA->new(256);
    syswrite($s, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: $TOTAL\r\n\r\n");
    my $sent = 0;
    my $deadline = time + 25;
    local $SIG{PIPE} = 'IGNORE';
    for my $i (0 .. 99) {
        my $b = block($i);
        $sha->add($b);
        my $off = 0;
        while ($off < length $b && time < $deadline) {
            my $n = syswrite($s, $b, length($b) - $off, $off);
            last unless defined $n;
            $off += $n;
        }
        $sent += $off;
        rss_kb() if $i % 4 == 0;
        last if $off < length $b;
    }
    is($sent, $TOTAL, 'upload: 100 MiB sent');
    my ($head, $rest) = read_response_head($s);
    like($head // '', qr{^HTTP/1\.1 200 }, 'upload: 200');
    my ($cl) = ($head // '') =~ /\r\nContent-Length: (\d+)/i;
    my ($n, undef) = (0);
    while (defined $cl && length($rest) < $cl) {
        my $k = sysread($s, $rest, 65536, length $rest) or last;
    }
    my $j = eval { decode_json($rest) } || {};
    is($j->{body_length}, $TOTAL, 'upload: the server got 100 MiB');
    is($j->{body_sha256}, $sha->hexdigest, 'upload: byte for byte');
    cmp_ok($peak, '<', $LIMIT_KB, sprintf('upload: worker RSS stayed under 64 MiB (peak %.1f MiB)', $peak / 1024));
}

# ---- 100 MiB down ------------------------------------------------------------------
my $want;
{
    my $c = Cerb::Conn->new($direct) or die;
    syswrite($c->sock, "GET /?size=$TOTAL HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    my ($head, $rest) = read_response_head($c->sock);
    my ($got, $sum) = read_body($c->sock, $TOTAL, $rest // '');
    is($got, $TOTAL, 'the origin itself sends 100 MiB');
    $want = $sum;
}
$peak = 0;
{
    my $c = Cerb::Conn->new($port) or die;
    syswrite($c->sock, "GET /?size=$TOTAL HTTP/1.1\r\nHost: a\r\n\r\n");
    my ($head, $rest) = read_response_head($c->sock);
    like($head // '', qr{\r\nContent-Length: $TOTAL\r\n}i, 'download: Content-Length 100 MiB');
    my ($got, $sum) = read_body($c->sock, $TOTAL, $rest // '');
    is($got, $TOTAL, 'download: 100 MiB received');
    is($sum, $want, 'download: byte for byte');
    cmp_ok($peak, '<', $LIMIT_KB, sprintf('download: worker RSS stayed under 64 MiB (peak %.1f MiB)', $peak / 1024));
}

# ---- a client that stops reading ----------------------------------------------------------
$peak = 0;
{
    my $c = Cerb::Conn->new($port) or die;
    syswrite($c->sock, "GET /?size=$TOTAL&chunked=1&chunk=65536 HTTP/1.1\r\nHost: a\r\n\r\n");
    my ($head, $rest) = read_response_head($c->sock);
    like($head // '', qr{\r\nTransfer-Encoding: chunked\r\n}i, 'stalled reader: chunked 100 MiB');
    for (1 .. 10) { sleep 0.1; rss_kb() }
    cmp_ok($peak, '<', $LIMIT_KB, sprintf('stalled reader: the proxy does not buffer the response (peak %.1f MiB)', $peak / 1024));
    # Then read it all; the chunk framing is part of the stream.
    my $sel = IO::Select->new($c->sock);
    my $buf = $rest // '';
    my $sha = Digest::SHA->new(256);
    my $data = 0;
    my $deadline = time + 25;
    my $done = 0;
    my $next = 4 * $MiB;
    while (!$done && time < $deadline) {
        while (1) {
            last unless $buf =~ /^([0-9a-fA-F]+)\r\n/;
            my $size = hex $1;
            my $hl = length($1) + 2;
            if ($size == 0) { $done = 1 if length($buf) >= $hl + 2; last }
            last if length($buf) < $hl + $size + 2;
            $sha->add(substr($buf, $hl, $size));
            $data += $size;
            substr($buf, 0, $hl + $size + 2) = '';
        }
        last if $done;
        last unless $sel->can_read($deadline - time);
        sysread($c->sock, $buf, 262144, length $buf) or last;
        if ($data >= $next) { rss_kb(); $next += 4 * $MiB }
    }
    is($data, $TOTAL, 'stalled reader: then 100 MiB arrive');
    is($sha->hexdigest, $want, 'stalled reader: byte for byte');
    cmp_ok($peak, '<', $LIMIT_KB, sprintf('stalled reader: RSS under 64 MiB (peak %.1f MiB)', $peak / 1024));
}

# ---- 100 MiB echoed: both directions at once --------------------------------------------
$peak = 0;
{
    my $c = Cerb::Conn->new($port) or die;
    my $s = $c->sock;
    $s->blocking(0);
    my $out = "PUT /?echo=1 HTTP/1.1\r\nHost: a\r\nContent-Length: $TOTAL\r\n\r\n";
    my ($i, $in, $head) = (0, '', undef);
    my $up = Digest::SHA->new(256);
    my $down = Digest::SHA->new(256);
    my $got = 0;
    my $deadline = time + 25;
    my $next = 4 * $MiB;
    local $SIG{PIPE} = 'IGNORE';
    while ($got < $TOTAL && time < $deadline) {
        if ($out eq '' && $i < 100) { $out = block($i++); $up->add($out) }
        my $rs = IO::Select->new($s);
        my $ws = IO::Select->new($out ne '' ? ($s) : ());
        my ($r, $wr) = IO::Select->select($rs, $ws, undef, 1);
        if ($wr && @$wr) {
            my $n = syswrite($s, $out, 262144);
            substr($out, 0, $n) = '' if $n;
        }
        if ($r && @$r) {
            my $n = sysread($s, my $buf, 262144);
            last if defined $n && $n == 0;
            next unless $n;
            if (!defined $head) {
                $in .= $buf;
                my $k = index($in, "\r\n\r\n");
                next if $k < 0;
                $head = substr($in, 0, $k + 4);
                $buf = substr($in, $k + 4);
            }
            $down->add($buf);
            $got += length $buf;
            if ($got >= $next) { rss_kb(); $next += 4 * $MiB }
        }
    }
    like($head // '', qr{^HTTP/1\.1 200 }, 'echo: 200');
    is($got, $TOTAL, 'echo: 100 MiB back');
    is($down->hexdigest, $up->hexdigest, 'echo: byte for byte');
    cmp_ok($peak, '<', $LIMIT_KB, sprintf('echo: worker RSS stayed under 64 MiB (peak %.1f MiB)', $peak / 1024));
}

unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
cmp_ok(time - $t_start, '<', 30, sprintf('all in %.1f s', time - $t_start));
$t->done;
