# Proxy core: WebSocket upgrades become a tunnel to the server, both ways,
# until either side closes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Cerb;

# A WebSocket server of our own that talks first: its 101 and a text frame
# "welcome" go out in one write; then it echoes raw bytes.
my $t = Cerb->new;
my $eager = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    defined read_head($s, \$buf) or return;
    syswrite($s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               . "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x07welcome");
    while (sysread($s, my $x, 65536)) { syswrite($s, $x) }
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "app"; read_timeout = "5s"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
          { name = "short"; read_timeout = "500ms"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
          { name = "eager"; servers = ( { address = "127.0.0.1:$eager"; } ); } );
routes = (
  { name = "eager"; path_prefix = "/eager-server/"; pool = "eager"; },
  { name = "short"; path_prefix = "/short/"; pool = "short"; },
  { name = "health"; path_exact = "/health"; return = { status = 200; body = "ok\\n"; }; },
  { name = "app"; path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $direct = $t->origin('a');

my $key = 'dGhlIHNhbXBsZSBub25jZQ==';
my $accept = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
sub upgrade_req {
    my ($path, %o) = @_;
    return "GET $path HTTP/1.1\r\nHost: a\r\nUpgrade: " . ($o{upgrade} // 'websocket') . "\r\n"
         . "Connection: " . ($o{connection} // 'Upgrade') . "\r\n"
         . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

# A masked client frame.
sub frame {
    my ($op, $payload, $fin) = @_;
    $fin //= 1;
    my $len = length $payload;
    my $h = chr(($fin ? 0x80 : 0) | $op);
    if ($len < 126) { $h .= chr(0x80 | $len) }
    elsif ($len < 65536) { $h .= chr(0x80 | 126) . pack('n', $len) }
    else { $h .= chr(0x80 | 127) . pack('Q>', $len) }
    my $mask = pack('N', int(rand(2**32)));
    my $m = $payload ^ substr($mask x (int($len / 4) + 1), 0, $len);
    return $h . $mask . $m;
}

# Reads one server frame from the connection's buffer: [op, payload, fin].
sub read_frame {
    my ($c, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $need = sub {
        my ($n) = @_;
        while (length($c->{buf}) < $n) {
            my $r = $c->fill($deadline);
            return 0 unless $r;
        }
        return 1;
    };
    $need->(2) or return undef;
    my ($b0, $b1) = map { ord } split //, substr($c->{buf}, 0, 2);
    my $len = $b1 & 0x7f;
    my $hl = 2;
    if ($len == 126) { $need->(4) or return undef; $len = unpack('n', substr($c->{buf}, 2, 2)); $hl = 4 }
    elsif ($len == 127) { $need->(10) or return undef; $len = unpack('Q>', substr($c->{buf}, 2, 8)); $hl = 10 }
    my $masked = $b1 & 0x80;
    $hl += 4 if $masked;
    $need->($hl + $len) or return undef;
    my $payload = substr($c->{buf}, $hl, $len);
    if ($masked) {
        my $mask = substr($c->{buf}, $hl - 4, 4);
        $payload ^= substr($mask x (int($len / 4) + 1), 0, $len);
    }
    substr($c->{buf}, 0, $hl + $len) = '';
    return [ $b0 & 0x0f, $payload, $b0 & 0x80 ? 1 : 0, $masked ? 1 : 0 ];
}

sub active_at_origin {
    my $r = http_get($direct, '/_origin/stats');
    my $j = eval { decode_json($r->{body}) } or return -1;
    return $j->{active_connections} - 1;    # not this one
}

# ---- the handshake ---------------------------------------------------------------
my $c = Cerb::Conn->new($port);
$c->send_raw(upgrade_req('/chat?room=1'));
my $r = $c->read_response(timeout => 5);
is($r->{status}, 101, 'upgrade: 101 Switching Protocols from the server');
is(lc($r->{headers}{upgrade} // ''), 'websocket', 'Upgrade: websocket');
is(lc($r->{headers}{connection} // ''), 'upgrade', 'Connection: Upgrade');
is($r->{headers}{'sec-websocket-accept'}, $accept, 'the server\'s Sec-WebSocket-Accept');
ok(!exists $r->{headers}{'content-length'} && !exists $r->{headers}{'transfer-encoding'},
   '101 carries no body framing');

# ---- frames both ways --------------------------------------------------------------
$c->send_raw(frame(1, 'hello'));
my $f = read_frame($c);
is_deeply($f, [1, 'hello', 1, 0], 'text frame echoed (unmasked from the server)');

my $bin = join '', map { chr(($_ * 7 + 1) & 255) } 0 .. 69999;
$c->send_raw(frame(2, $bin));
$f = read_frame($c, 10);
is($f && $f->[0], 2, '70000-byte binary frame: opcode');
is($f && length $f->[1], 70000, '70000-byte binary frame: length');
ok($f && $f->[1] eq $bin, '70000-byte binary frame: byte for byte');

# Several frames in one write, a fragmented message and a ping.
$c->send_raw(frame(1, 'one') . frame(1, 'two') . frame(1, 'fr', 0) . frame(0, 'ag') . frame(9, 'p!'));
my @got = map { read_frame($c) } 1 .. 5;
is_deeply([ map { $_ && [ @$_[0, 1, 2] ] } @got ],
          [ [1, 'one', 1], [1, 'two', 1], [1, 'fr', 0], [0, 'ag', 1], [10, 'p!', 1] ],
          'frames keep their order and boundaries; ping answered with pong');

# Bytes trickling in, one at a time.
my $slow = frame(1, 'slowly');
for my $ch (split //, $slow) { $c->send_raw($ch); sleep 0.005 }
is_deeply(read_frame($c), [1, 'slowly', 1, 0], 'a frame sent byte by byte');

# ---- the client closes ------------------------------------------------------------------
is(active_at_origin(), 1, 'one tunnel open at the server');
$c->close;
ok(wait_for(sub { active_at_origin() == 0 }, 5), 'closing the client closes the tunnel to the server');

# ---- the close handshake -----------------------------------------------------------------
$c = Cerb::Conn->new($port);
$r = $c->request(upgrade_req('/chat2'));
is($r->{status}, 101, 'second upgrade');
$c->send_raw(frame(1, 'bye?'));
is_deeply(read_frame($c), [1, 'bye?', 1, 0], 'echo on the second tunnel');
$c->send_raw(frame(8, pack('n', 1000)));
$f = read_frame($c);
is($f && $f->[0], 8, 'close frame echoed by the server');
ok($c->closed(3), 'the server closing ends the client connection');
ok(wait_for(sub { active_at_origin() == 0 }, 5), 'nothing left open at the server');

# ---- variations ---------------------------------------------------------------------------
$c = Cerb::Conn->new($port);
$r = $c->request(upgrade_req('/chat3', connection => 'keep-alive, Upgrade', upgrade => 'WebSocket'));
is($r->{status}, 101, 'Connection: keep-alive, Upgrade and Upgrade: WebSocket still upgrade');
$c->send_raw(frame(1, 'x'));
is_deeply(read_frame($c), [1, 'x', 1, 0], 'and tunnel');
$c->close;

# A first frame sent right behind the upgrade request waits for the switch.
$c = Cerb::Conn->new($port);
$c->send_raw(upgrade_req('/eager') . frame(1, 'early'));
$r = $c->read_response(timeout => 5);
is($r->{status}, 101, 'upgrade with a frame in the same write');
is_deeply(read_frame($c), [1, 'early', 1, 0], 'that frame reaches the server after the switch');
$c->close;

# The server speaks first, in the same packet as its 101.
$c = Cerb::Conn->new($port);
$r = $c->request(upgrade_req('/eager-server/x'));
is($r->{status}, 101, 'a server that sends a frame with its 101');
is_deeply(read_frame($c), [1, 'welcome', 1, 0], 'that frame reaches the client');
$c->send_raw('raw bytes');
my $until = time + 3;
while (length($c->{buf}) < 9 && time < $until) { last unless $c->fill($until) }
is($c->{buf}, 'raw bytes', 'and the tunnel carries bytes both ways');
$c->close;

# An idle tunnel ends after the pool's read_timeout.
$c = Cerb::Conn->new($port);
$r = $c->request(upgrade_req('/short/idle'));
is($r->{status}, 101, 'upgrade on a pool with read_timeout 500ms');
$c->send_raw(frame(1, 'a'));
is_deeply(read_frame($c), [1, 'a', 1, 0], 'tunnel works');
my $t0 = time;
ok($c->closed(3), 'an idle tunnel is closed');
my $idle = time - $t0;
cmp_ok($idle, '>=', 0.4, 'after read_timeout, not before');

# A refused upgrade is a normal response; the connection goes on.
$c = Cerb::Conn->new($port);
$r = $c->request(upgrade_req('/chat4?status=403'));
is($r->{status}, 403, 'the server refuses the upgrade: 403 passed on');
my $j = eval { decode_json($r->{body}) } || {};
is($j->{path}, '/chat4', 'with its body');
is($c->get('/after')->{status}, 200, 'and the connection serves the next request');

# Other upgrades are not passed on: a plain request.
$r = http_raw($port, "GET /h2c HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   . "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n");
is($r->{status}, 200, 'Upgrade: h2c is not an upgrade here');
$j = eval { decode_json($r->{body}) } || {};
ok(!grep({ $_->[0] =~ /^(upgrade|connection|http2-settings)$/i } @{ $j->{headers} || [] }),
   'Upgrade, Connection and what it lists are removed');
# Upgrade without Connection: Upgrade is no upgrade either.
$r = http_raw($port, "GET /noconn HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: $key\r\n"
                   . "Sec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n");
is($r->{status}, 200, 'Upgrade: websocket without Connection: Upgrade is a plain request');

# Many tunnels at once, each with its own data. (Idle pooled connections
# of the plain requests above count as active at the server too.)
my $base = active_at_origin();
my @cs;
for my $i (1 .. 10) {
    my $x = Cerb::Conn->new($port);
    $x->request(upgrade_req("/many$i"));
    push @cs, $x;
}
for my $i (0 .. $#cs) { $cs[$i]->send_raw(frame(1, "msg-$i")) }
my $okm = grep { my $fr = read_frame($cs[$_]); $fr && $fr->[1] eq "msg-$_" } 0 .. $#cs;
is($okm, 10, 'ten tunnels at once, each gets its own echo');
$_->close for @cs;
ok(wait_for(sub { active_at_origin() <= $base }, 5), 'all closed at the server');

is(http_get($port, '/health')->{status}, 200, 'still serving');
unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
# On failure, what the daemon said.
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
