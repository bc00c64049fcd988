# protocol = "tcp" listeners relay bytes to a pool, with failover.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
my $dead = free_port();
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "db"; address = "127.0.0.1:%%PORT:db%%"; protocol = "tcp"; pool = "pg"; },
  { name = "none"; address = "127.0.0.1:%%PORT:none%%"; protocol = "tcp"; pool = "gone"; }
);
pools = (
  { name = "pg"; retries = 2; read_timeout = "500ms";
    servers = ( { address = "127.0.0.1:$dead"; }, { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "gone"; retries = 1; servers = ( { address = "127.0.0.1:$dead"; } ); }
);
EOF
ok($t->start, 'started');
my $port = $t->port('db');

my $ok = 0;
for my $i (1 .. 20) {
    my $r = http_get($port, "/x?i=$i");
    $ok++ if $r && $r->{status} == 200 && $r->{body} =~ /"target":"\/x\?i=$i"/;
}
is($ok, 20, 'every connection reaches the live server, skipping the dead one');
like(slurp($t->error_log), qr/pool "pg": connect to 127\.0\.0\.1:$dead: Connection refused/,
     'the failed connect is logged');

# Bytes both ways, intact: a 4 MiB request body echoed back.
my $body = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 4 * 1024 * 1024 - 1;
my $c = Cerb::Conn->new($port);
$c->send_raw("POST /?echo=1 HTTP/1.1\r\nHost: a\r\nContent-Length: " . length($body) . "\r\n\r\n");
my $off = 0;
while ($off < length $body) {
    my $n = syswrite($c->sock, $body, 65536, $off);
    last unless defined $n;
    $off += $n;
}
my $r = $c->read_response(timeout => 20);
is(length($r->{body} // ''), length $body, '4 MiB echoed through the relay');
is(sha256_hex($r->{body} // ''), sha256_hex($body), 'byte for byte');

# A client that half-closes still gets the whole answer.
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
print $s "GET /half HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
shutdown($s, 1);
my $all = '';
while (sysread($s, my $buf, 65536)) { $all .= $buf }
like($all, qr/^HTTP\/1\.1 200 .*"path":"\/half"/s, 'half-close: the response still arrives');

# Idle connections are closed after read_timeout.
$c = Cerb::Conn->new($port);
my $t0 = time;
ok($c->closed(5), 'an idle relay is closed');
cmp_ok(time - $t0, '>=', 0.4, 'after read_timeout');

# No server reachable: the client is closed, and it is logged.
$c = Cerb::Conn->new($t->port('none'));
ok($c && $c->closed(5), 'no reachable server: the connection is closed');
like(slurp($t->error_log), qr/listener "none": client 127\.0\.0\.1:\d+: no server of pool "gone" could be reached/,
     'and the reason is logged');

my ($rc, $out) = $t->ctl('status');
like($out, qr/db 127\.0\.0\.1:$port tcp/, 'status lists the tcp listener');
$t->done;
