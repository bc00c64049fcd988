# max_connections: beyond it a worker stops accepting; new connections
# wait in the kernel's listen backlog until a connection closes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; max_connections = 2; } );
routes = ( { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
EOF
ok($t->start, 'started');
my $port = $t->port('web');

my @c = map { Cerb::Conn->new($port) } 1 .. 2;
is($_->get('/')->{status}, 200, 'a connection within the limit') for @c;
my $third = Cerb::Conn->new($port);
ok($third, 'a third connection is accepted by the kernel');
$third->send_raw("GET /third HTTP/1.1\r\nHost: a\r\n\r\n");
my $r = $third->read_response(timeout => 0.7);
ok(!$r || $r->{timeout}, 'but not served while two are open');
like(slurp($t->error_log),
     qr/\[warn\] \d+: listener "web": worker 0 reached max_connections 2; new connections wait in the listen backlog/,
     'the pause is logged');
$c[0]->close;
$r = $third->read_response(timeout => 3);
is($r && $r->{status}, 200, 'served as soon as one closes');
is($c[1]->get('/')->{status}, 200, 'the others go on');
$third->close;
$c[1]->close;
my $n = () = slurp($t->error_log) =~ /reached max_connections/g;
is($n, 1, 'logged once, not per connection');
$t->done;
