# The access log: one line per request, combined or json, reopened.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
access_log = { path = "access.log"; };
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "api"; address = "127.0.0.1:%%PORT:api%%";
    access_log = { path = "api.json"; format = "json"; flush = "50ms"; }; }
);
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
routes = (
  { name = "hello"; path_exact = "/hello"; return = { status = 200; body = "hi\n"; }; },
  { name = "proxy"; path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $dir = $t->dir;
my $web = $t->port('web');

my $r = http_get($web, '/x?a=1', 'User-Agent' => 'agent "007"', Referer => 'http://ref/');
is($r->{status}, 200, 'a proxied request');
my $rid = $r->{headers}{'x-request-id'};
http_get($web, '/hello');
http_raw($web, "GET / HTTP/1.1\r\n\r\n");
my $c = Cerb::Conn->new($web);
$c->send_raw("GET /gone?delay_ms=2000 HTTP/1.1\r\nHost: a\r\n\r\n");
sleep 0.2;
$c->close;                                  # the client leaves first

my $log = wait_for(sub { my $l = slurp("$dir/access.log"); ($l =~ tr/\n//) >= 4 ? $l : undef }, 5);
ok($log, 'four lines, written within flush (1 s)') or diag(slurp("$dir/access.log"));
my @l = split /\n/, $log // '';
like($l[0], qr{^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /x\?a=1 HTTP/1\.1" 200 \d+ "http://ref/" "agent \\"007\\"" rid=\Q$rid\E rt=\d+\.\d{3} upstream=127\.0\.0\.1:\d+ ust=200 urt=\d+\.\d{3} route=proxy$},
     'combined: proxied request with request id, upstream and route');
like($l[1], qr{"GET /hello HTTP/1\.1" 200 \d+ "-" "-" rid=[0-9a-f]{32} rt=\d+\.\d{3} upstream=- ust=- urt=- route=hello$},
     'combined: a return route');
like($l[2], qr{"-" 400 \d+ "-" "-" rid=- rt=}, 'combined: a bad request');
like($l[3], qr{"GET /gone\?delay_ms=2000 HTTP/1\.1" 499 0 .* upstream=127\.0\.0\.1:\d+}, 'a client that left gets 499');
my ($bytes) = $l[0] =~ /" 200 (\d+) "/;
cmp_ok($bytes, '>', length($r->{body}), 'bytes sent count the head too');

# json, its own file on the other listener
$r = http_get($t->port('api'), '/j?size=10');
my $json = wait_for(sub { my $x = slurp("$dir/api.json"); $x =~ /\n/ ? $x : undef }, 3);
my $o = eval { decode_json((split /\n/, $json // '')[0]) };
ok($o, 'json: one valid object per line') or diag($json);
is($o->{status}, 200, 'json: status');
is($o->{request}, 'GET /j?size=10 HTTP/1.1', 'json: request');
is($o->{listener}, 'api', 'json: listener');
is($o->{route}, 'proxy', 'json: route');
is($o->{request_id}, $r->{headers}{'x-request-id'}, 'json: request id as sent to the client');
like($o->{upstream}, qr/^127\.0\.0\.1:\d+$/, 'json: upstream');
is($o->{upstream_status}, 200, 'json: upstream status');
ok(defined $o->{upstream_time} && defined $o->{request_time}, 'json: times');
unlike(slurp("$dir/access.log"), qr{/j\?size}, 'the listener with its own log does not write to the global one');

# Rotation: rename, reopen, new lines go to the new file.
rename "$dir/access.log", "$dir/access.log.1" or die;
my ($rc) = $t->ctl('reopen');
is($rc, 0, 'reopen');
ok(wait_for(sub { -e "$dir/access.log" }, 5), 'the access log is created again');
http_get($web, '/after-rotation');
ok(wait_for(sub { slurp("$dir/access.log") =~ m{/after-rotation} }, 5), 'new lines go to the new file');
unlike(slurp("$dir/access.log.1"), qr{/after-rotation}, 'not to the old one');
if ($> == 0) {
    is((stat "$dir/access.log")[4], scalar getpwnam('nobody'), 'the file belongs to the workers\' user');
}

# Lines still buffered are written when the worker stops.
http_get($web, '/last');
$t->stop;
like(slurp("$dir/access.log"), qr{/last}, 'buffered lines are written at stop');

# An access log that cannot be opened fails the start.
$t->write_conf(<<'EOF');
%%PREAMBLE%%
access_log = { path = "/nonexistent/dir/access.log"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
EOF
my ($src, $out, $err) = $t->ctl('start');
is($src, 1, 'start fails with an access log it cannot open');
like($err, qr{cerberus\.conf:\d+: cannot open access log /nonexistent/dir/access\.log: No such file or directory}, 'and says why');
$t->done;
