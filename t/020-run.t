# `cerberus run` serves the built-in return action; `status` describes it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "alt"; address = "127.0.0.1:%%PORT:alt%%"; }
);
routes = (
  { name = "health"; path_exact = "/health";
    return = { status = 200; body = "ok\n"; headers = { Content-Type = "text/plain"; X-Check = "yes"; }; }; },
  { name = "only-alt"; listeners = ["alt"]; path_prefix = "/";
    return = { status = 200; body = "alt\n"; }; },
  { name = "moved"; path_prefix = "/old/";
    return = { status = 301; location = "https://$host$request_uri"; }; },
  { name = "found"; path_exact = "/go"; return = { location = "/there"; }; },
  { name = "vhost"; host = "*.example.com"; path_prefix = "/";
    return = { status = 200; body = "wild $host\n"; }; },
  { name = "exact"; host = "example.com"; path_prefix = "/";
    return = { status = 200; body = "exact\n"; }; },
  { name = "post"; methods = ["POST"]; path_prefix = "/form";
    return = { status = 201; body = "created\n"; }; },
  { name = "hdr"; headers = { X-Version = "~^v[23]$"; }; path_prefix = "/api";
    return = { status = 200; body = "v2or3\n"; }; },
  { name = "secret"; path_prefix = "/secret/"; return = { status = 403; body = "no\n"; }; },
  { name = "echo"; path_prefix = "/echo";
    return = { status = 200; body = "$request_method $uri ? $args from $remote_addr on $server_port\n"; }; },
  { name = "teapot"; path_exact = "/tea"; return = { status = 418; }; }
);
EOF
ok($t->start, 'cerberus run starts and its workers serve');
my $port = $t->port('web');

my $r = http_get($port, '/health');
is($r->{status}, 200, 'return: status');
is($r->{body}, "ok\n", 'return: body');
is($r->{headers}{'content-type'}, 'text/plain', 'return: configured header');
is($r->{headers}{'x-check'}, 'yes', 'return: second configured header');
is($r->{headers}{'content-length'}, 3, 'Content-Length is set');
like($r->{headers}{date} // '', qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/, 'Date header');

$r = http_get($port, '/old/page?x=1', Host => 'www.example.org');
is($r->{status}, 301, 'redirect status');
is($r->{headers}{location}, 'https://www.example.org/old/page?x=1', 'location with $host$request_uri');
$r = http_get($port, '/go');
is($r->{status}, 302, 'location alone means 302');
is($r->{headers}{location}, '/there', 'relative location');

is(http_get($port, '/x', Host => 'a.example.com')->{body}, "wild a.example.com\n", 'wildcard host');
is(http_get($port, '/x', Host => 'A.Example.COM:8080')->{body}, "wild A.Example.COM\n",
   'host match ignores case and port');
is(http_get($port, '/x', Host => 'example.com')->{body}, "exact\n", 'wildcard does not match the bare domain');
is(http_get($port, '/x', Host => 'other.org')->{status}, 404, 'no route: 404');

is(http_request($port, 'POST', '/form', body => 'a=1')->{status}, 201, 'method match');
is(http_get($port, '/form')->{status}, 404, 'other methods fall through');
is(http_get($port, '/api/x', 'X-Version' => 'v2')->{body}, "v2or3\n", 'header regex match');
is(http_get($port, '/api/x', 'X-Version' => 'v4')->{status}, 404, 'header regex mismatch');
is(http_get($port, '/api/x')->{status}, 404, 'missing header does not match');

# Path normalisation: dot-segments and encoded dots cannot dodge a prefix.
is(http_get($port, '/public/../secret/x')->{status}, 403, '/public/../secret/ matches /secret/');
is(http_get($port, '/x/%2e%2e/secret/x')->{status}, 403, '%2e%2e is a dot-segment');
is(http_get($port, '/%2e%2e/secret/x')->{status}, 400, '  one above the root: 400');
is(http_get($port, '/%73ecret/x')->{status}, 403, 'unreserved escapes are decoded for matching');
is(http_get($port, '/%zz')->{status}, 400, 'malformed escape: 400');

$r = http_get($port, '/echo/a?b=c');
like($r->{body}, qr{^GET /echo/a \? b=c from 127\.0\.0\.1 on $port\n$}, 'variables in the body');

$r = http_request($port, 'HEAD', '/health');
is($r->{status}, 200, 'HEAD');
is($r->{headers}{'content-length'}, 3, 'HEAD keeps Content-Length');
is($r->{body}, '', 'HEAD has no body');
is(http_get($port, '/tea')->{status}, 418, 'any status');

# Listener-limited routes.
is(http_get($t->port('alt'), '/anything')->{body}, "alt\n", 'route limited to a listener');
is(http_get($port, '/anything')->{status}, 404, 'and not on the other');

# Keep-alive and pipelining.
my $c = Cerb::Conn->new($port);
for my $i (1 .. 3) {
    my $x = $c->get('/health');
    is($x->{status}, 200, "keep-alive request $i");
}
$c->send_raw("GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /tea HTTP/1.1\r\nHost: a\r\n\r\n"
           . "GET /go HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
is($c->read_response->{status}, 200, 'pipelined 1');
is($c->read_response->{status}, 418, 'pipelined 2 in order');
my $last = $c->read_response;
is($last->{status}, 302, 'pipelined 3 in order');
is($last->{headers}{connection}, 'close', 'Connection: close is honoured');
ok($c->closed(2), 'and the connection is closed');

# A body is skipped so the next request on the connection is read right.
$c = Cerb::Conn->new($port);
$c->send_raw("POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\nHost: a\r\n\r\n");
is($c->read_response->{status}, 201, 'request with a body');
is($c->read_response->{body}, "ok\n", 'the body was not taken for a request');

# HTTP/1.0 closes unless asked.
$r = http_raw($port, "GET /health HTTP/1.0\r\n\r\n");
is($r->{status}, 200, 'HTTP/1.0 request');
is($r->{headers}{connection}, 'close', 'HTTP/1.0 closes by default');

# Bad requests: the right status and a closed connection.
for my $case (
    [ "GET / HTTP/1.1\r\n\r\n", 400, 'missing Host' ],
    [ "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 'CL + TE' ],
    [ "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, 'obs-fold' ],
    [ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, 'HTTP/2.0' ],
    [ "GET /" . ('a' x 40000) . " HTTP/1.1\r\nHost: a\r\n\r\n", 414, 'long request line' ],
    [ "GET / HTTP/1.1\r\nHost: a\r\nX: " . ('b' x 40000) . "\r\n\r\n", 431, 'large header block' ],
) {
    my ($raw, $want, $name) = @$case;
    my $x = Cerb::Conn->new($port);
    $x->send_raw($raw);
    my $resp = $x->read_response;
    is($resp->{status}, $want, "$name: $want");
    is($resp->{headers}{connection}, 'close', "$name: Connection: close");
    ok($x->closed(3), "$name: connection closed");
}
like(slurp($t->error_log), qr/\[info\] \d+: client 127\.0\.0\.1:\d+ on "web": 400 Bad Request: missing Host header/,
     'a bad request is logged');

# status
my ($rc, $out, $err) = $t->ctl('status');
is($rc, 0, 'status: exit 0 while running');
like($out, qr/^cerberus is running$/m, 'status: running');
like($out, qr/pid:\s+${\ $t->master_pid }\b/, 'status: the master pid');
like($out, qr/uptime:\s+\d+/, 'status: uptime');
like($out, qr/generation:\s+1 \(0 reloads\)/, 'status: generation');
like($out, qr{workers:\s+2/2 alive}, 'status: workers alive');
like($out, qr/worker 0 pid=\d+ gen=1 conns=\d+ accepted=\d+ requests=\d+/, 'status: per worker counters');
like($out, qr/checker pid=\d+/, 'status: checker');
like($out, qr/web 127\.0\.0\.1:$port http/, 'status: listeners');
# Requests are counted in shared memory: exactly the ones sent.
sub total_requests {
    my (undef, $o) = $t->ctl('status');
    my $n = 0;
    $n += $1 while $o =~ /requests=(\d+)/g;
    return $n;
}
my $before = total_requests();
http_get($port, '/health') for 1 .. 7;
is(total_requests() - $before, 7, 'status: requests counted in shared memory');

# Process names and privileges.
my @w = $t->workers;
is(scalar @w, 2, 'two workers');
for my $w (@w) {
    my $comm = slurp("/proc/$w->{pid}/comm");
    like($comm, qr/^cerb: worker \d/, "worker $w->{slot} names itself");
    if ($> == 0) {
        my ($uid) = slurp("/proc/$w->{pid}/status") =~ /^Uid:\s+(\d+)/m;
        is($uid, scalar getpwnam('nobody'), "worker $w->{slot} runs as nobody");
    }
    # Two listeners of 10000 connections, two descriptors each; capped by
    # the hard limit this machine allows (raising it needs privileges).
    my ($hard) = slurp("/proc/self/limits") =~ /^Max open files\s+\d+\s+(\d+|unlimited)/m;
    my $want = 2 * (10000 * 2 + 8) + 64;
    $want = $hard if $hard ne 'unlimited' && $hard < $want && $> != 0;
    $want = $hard if $hard ne 'unlimited' && $hard < $want && !raisable();
    my ($lim) = slurp("/proc/$w->{pid}/limits") =~ /^Max open files\s+(\d+)/m;
    cmp_ok($lim, '>=', $want, "worker $w->{slot}: open files limit fits max_connections");
}

$t->stop;

# Can this process raise its hard limit (root with CAP_SYS_RESOURCE)?
sub raisable {
    my ($caps) = slurp("/proc/self/status") =~ /^CapEff:\s+([0-9a-f]+)/m;
    return $caps && (hex(substr($caps, -8)) & (1 << 24));
}

($rc, $out) = $t->ctl('status');
is($rc, 3, 'status: exit 3 once stopped');
like($out, qr/not running/, 'status: says not running');
ok(!-e $t->pid_path, 'the pid file is removed on stop');
$t->done;
