# Response framing details of the built-in responses.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; max_header_size = "64k"; max_request_line = "64k"; },
  { name = "noka"; address = "127.0.0.1:%%PORT:noka%%"; keepalive_timeout = 0; }
);
routes = (
  { path_prefix = "/r/"; return = { status = 301; location = "https://$host$request_uri"; }; },
  { path_prefix = "/r3/"; return = { status = 302; location = "/$request_uri$request_uri$request_uri"; }; },
  { path_exact = "/empty"; return = { status = 204; }; },
  { path_exact = "/nm"; return = { status = 304; }; },
  { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

# A long Location does not fit the usual head buffer: still whole.
my $long = '/r/' . ('x' x 5000);
my $r = http_get($port, $long, Host => 'example.org');
is($r->{status}, 301, 'redirect with a 5000-byte path');
is($r->{headers}{location}, "https://example.org$long", 'the whole Location is sent');

# Beyond what a response head may hold: a 500, not a broken response.
my $huge = '/r3/' . ('y' x 30000);
$r = http_get($port, $huge);
is($r->{status}, 500, 'a Location over 64k gives 500');
is($r->{headers}{connection}, 'close', 'and closes');
like(slurp($t->error_log), qr/the response head would exceed 65536 bytes; answering 500/, 'logged');

$r = http_get($port, '/empty');
is($r->{status}, 204, 'status 204');
ok(!exists $r->{headers}{'content-length'}, '204 has no Content-Length');
$r = http_get($port, '/nm');
is($r->{status}, 304, 'status 304');
ok(!exists $r->{headers}{'content-length'}, '304 has no Content-Length');
# Still in sync after a body-less response on a kept-alive connection.
my $c = Cerb::Conn->new($port);
is($c->get('/empty')->{status}, 204, 'keep-alive 204');
is($c->get('/')->{body}, "ok\n", 'next response on the same connection');

# HTTP/1.0 keep-alive is acknowledged.
$c = Cerb::Conn->new($port);
$r = $c->request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
is($r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive is confirmed');
is($c->request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")->{body}, "ok\n",
   'and the connection is reused');

# keepalive_timeout = 0: every response closes, and says so.
$c = Cerb::Conn->new($t->port('noka'));
$r = $c->get('/');
is($r->{headers}{connection}, 'close', 'keepalive_timeout 0: Connection: close');
ok($c->closed(2), 'and the connection closes');

# Slowloris: a head that never completes gets 408 after header_timeout.
$t->stop;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; header_timeout = "400ms"; keepalive_timeout = "600ms"; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
ok($t->start, 'restarted with short timeouts');
$c = Cerb::Conn->new($port);
$c->send_raw("GET / HTTP/1.1\r\nHost: a\r\n");
$r = $c->read_response(timeout => 3);
is($r->{status}, 408, 'an incomplete head gets 408');
ok($c->closed(2), 'and the connection is closed');
$c = Cerb::Conn->new($port);
is($c->get('/')->{status}, 200, 'a keep-alive connection');
ok($c->closed(3), 'is closed quietly after keepalive_timeout');
is($c->{buf}, '', 'without any response bytes');
$t->done;
