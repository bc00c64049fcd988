# Proxy core: routes with a pool reach its servers; request and response
# heads are rewritten the way a reverse proxy must.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; max_request_line = "16k"; },
  { name = "trust"; address = "127.0.0.1:%%PORT:trust%%"; trust_request_id = true; trust_forwarded = true; server_header = ""; },
  { name = "edge"; address = "127.0.0.1:%%PORT:edge%%"; server_header = "edge/1.0"; }
);
pools = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; },
                              { address = "127.0.0.1:%%ORIGIN:b%%"; } ); },
  { name = "one"; servers = ( { address = "127.0.0.1:%%ORIGIN:c%%"; } ); }
);
routes = (
  { name = "health"; path_exact = "/health"; return = { status = 200; body = "ok\n"; }; },
  { name = "one"; path_prefix = "/one/"; pool = "one"; },
  { name = "app"; path_prefix = "/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');

# The origin's JSON echo of what it received ({} if there is none).
sub seen {
    my ($r) = @_;
    return {} unless $r && ($r->{headers}{'content-type'} // '') eq 'application/json';
    return eval { decode_json($r->{body}) } || {};
}
# All values of a request header the origin received (name without case).
sub hv {
    my ($j, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $j->{headers} || [] };
}
sub hv1 { my @v = hv(@_); return @v == 1 ? $v[0] : @v ? join('|', @v) : undef }

# ---- a plain GET --------------------------------------------------------
my $r = http_get($port, '/x/y?z=1&w=%20');
is($r->{status}, 200, 'proxied GET: 200');
my $j = seen($r);
is($j->{name} // '', $r->{headers}{'x-origin'} // 'none', 'the origin answered with its JSON');
is($j->{method}, 'GET', 'method kept');
is($j->{target}, '/x/y?z=1&w=%20', 'target kept byte for byte');
is($j->{version}, 'HTTP/1.1', 'HTTP/1.1 to the server');
is(hv1($j, 'Host'), 'localhost', 'Host passed on');
like($r->{headers}{'x-origin'} // '', qr/^[ab]$/, 'end-to-end response header passed back');
is($r->{headers}{'content-length'}, length $r->{body}, 'Content-Length passed back');

# ---- round robin --------------------------------------------------------
my %names;
my @order;
for my $i (1 .. 6) {
    my $x = seen(http_get($port, "/rr?i=$i"));
    push @order, $x ? $x->{name} : '?';
    $names{ $order[-1] }++;
}
is_deeply(\%names, { a => 3, b => 3 }, 'round robin: both servers, evenly') or diag("@order");
ok(!grep({ $order[$_] eq $order[$_ - 1] } 1 .. $#order), 'round robin: alternating')
    or diag("@order");
is(seen(http_get($port, '/one/x'))->{name}, 'c', 'another route, another pool');

# ---- request line rewriting ---------------------------------------------
$j = seen(http_raw($port, "GET http://example.com/abs/p?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"));
is($j && $j->{target}, '/abs/p?q=1', 'absolute-form becomes origin-form');
is($j && hv1($j, 'Host'), 'example.com', 'with its Host');
$j = seen(http_raw($port, "GET http://example.com HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"));
is($j && $j->{target}, '/', 'absolute-form without a path: /');
$j = seen(http_raw($port, "GET http://example.com?q=2 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"));
is($j && $j->{target}, '/?q=2', 'absolute-form with only a query: /?q=2');
$j = seen(http_raw($port, "GET http://example.org/h HTTP/1.0\r\n\r\n"));
is($j && $j->{target}, '/h', 'HTTP/1.0 absolute-form without Host');
is($j && hv1($j, 'Host'), 'example.org', 'the server gets a Host: the authority');
is($j && $j->{version}, 'HTTP/1.1', 'an HTTP/1.0 request goes out as HTTP/1.1');
$j = seen(http_raw($port, "GET /nohost HTTP/1.0\r\n\r\n"));
ok($j && defined hv1($j, 'Host') && hv1($j, 'Host') ne '',
   'HTTP/1.0 without Host: the HTTP/1.1 request to the server still has a Host');
$j = seen(http_raw($port, "GET /ten HTTP/1.0\r\nHost: h10\r\n\r\n"));
is($j && $j->{version}, 'HTTP/1.1', 'HTTP/1.0 with Host: HTTP/1.1 to the server');
$j = seen(http_raw($port, "OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
is($j && $j->{target}, '*', 'OPTIONS * passed on');
$j = seen(http_request($port, 'DELETE', '/thing/1'));
is($j && $j->{method}, 'DELETE', 'other methods passed on');
$j = seen(http_raw($port, "PURGE /cache HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
is($j && $j->{method}, 'PURGE', 'extension methods passed on');

# The target goes on as it was matched: the normalised path, the query as
# sent (every variant: t/124-path-normalise.t).
for my $tw (['/a/./c/../d?x=%41&y=%2e', '/a/d?x=%41&y=%2e'], ['/path?', '/path?'],
            ['/sp%20ace/%7Euser', '/sp%20ace/~user'], ['/q?a=1&a=2&b', '/q?a=1&a=2&b'],
            ['//double//slash', '/double/slash']) {
    my ($target, $want) = @$tw;
    $j = seen(http_raw($port, "GET $target HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    is($j && $j->{target}, $want, "target $target passed on as $want");
}
# Repeated end-to-end fields keep their order.
$j = seen(http_raw($port, "GET /dup HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nAccept: a\r\nX-Dup: 2\r\n"
                        . "Cookie: c=1\r\nCookie: d=2\r\nConnection: close\r\n\r\n"));
is(join(',', hv($j, 'X-Dup')), '1,2', 'repeated request fields: all, in order');
is(join(';', hv($j, 'Cookie')), 'c=1;d=2', 'repeated Cookie fields: all, in order');
# A head near the listener's limit still goes through whole.
{
    my @h = map { sprintf "X-Fill-%02d: %s\r\n", $_, 'f' x 290 } 1 .. 90;
    $j = seen(http_raw($port, "GET /bighead HTTP/1.1\r\nHost: a\r\n" . join('', @h) . "Connection: close\r\n\r\n"));
    is(scalar(grep { $_->[0] =~ /^X-Fill-/ } @{ $j->{headers} || [] }), 90, 'a 27 KB request head: every field arrives');
}

# ---- hop-by-hop request headers ------------------------------------------
$r = http_raw($port, "GET /hop HTTP/1.1\r\nHost: a\r\n"
    . "Connection: X-Secret, keep-alive, X-Other\r\nX-Secret: s3cr3t\r\nX-Other: o\r\n"
    . "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
    . "Trailer: X-T\r\nUpgrade: h2c\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
    . "Proxy-Foo: bar\r\nX-Keep: kept\r\nAccept: */*\r\n\r\n");
$j = seen($r);
ok($j->{name}, 'request with hop-by-hop headers proxied');
for my $h (qw(Connection X-Secret X-Other Keep-Alive Proxy-Connection TE Trailer Upgrade
              Proxy-Authorization Proxy-Foo)) {
    is(hv1($j, $h), undef, "request: $h removed");
}
is(hv1($j, 'X-Keep'), 'kept', 'request: end-to-end header kept');
is(hv1($j, 'Accept'), '*/*', 'request: Accept kept');
is(hv1($j, 'Transfer-Encoding'), undef, 'request: no Transfer-Encoding without a body');

# ---- X-Forwarded-* -----------------------------------------------------------
$j = seen(http_get($port, '/xff'));
is(hv1($j, 'X-Forwarded-For'), '127.0.0.1', 'X-Forwarded-For: the client address');
is(hv1($j, 'X-Forwarded-Proto'), 'http', 'X-Forwarded-Proto: http');
is(hv1($j, 'X-Forwarded-Host'), 'localhost', 'X-Forwarded-Host: the Host');
$j = seen(http_get($port, '/xff', 'X-Forwarded-For' => '203.0.113.7, 10.0.0.1',
                   'X-Forwarded-Proto' => 'https', 'X-Forwarded-Host' => 'evil.example',
                   Host => 'www.example.com:8080'));
is(hv1($j, 'X-Forwarded-For'), '127.0.0.1', 'a client X-Forwarded-For is replaced (no trust_forwarded)');
is(hv1($j, 'X-Forwarded-Proto'), 'http', 'a client X-Forwarded-Proto is replaced');
is(hv1($j, 'X-Forwarded-Host'), 'www.example.com:8080', 'a client X-Forwarded-Host is replaced');
$j = seen(http_raw($port, "GET /xff2 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n"
                        . "X-Forwarded-For: 192.0.2.2\r\nConnection: close\r\n\r\n"));
is(hv1($j, 'X-Forwarded-For'), '127.0.0.1',
   'X-Forwarded-For: no field line of the client is kept (no trust_forwarded)');
# trust_forwarded: the client's lines are kept, in order, then the client
$j = seen(http_get($t->port('trust'), '/xff', 'X-Forwarded-For' => '203.0.113.7, 10.0.0.1'));
is(hv1($j, 'X-Forwarded-For'), '203.0.113.7, 10.0.0.1, 127.0.0.1', 'trust_forwarded: X-Forwarded-For appended to');
$j = seen(http_raw($t->port('trust'), "GET /xff2 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n"
                        . "X_Forwarded_For: 192.0.2.9\r\nX-Forwarded-For: 192.0.2.2\r\nConnection: close\r\n\r\n"));
is(hv1($j, 'X-Forwarded-For'), '192.0.2.1, 192.0.2.2, 127.0.0.1',
   'trust_forwarded: every field line is kept, in order, then the client');
is(hv1($j, 'X_Forwarded_For'), undef, 'trust_forwarded: not an underscore twin');
$j = seen(http_get($port, '/xff', 'X-Forwarded-For' => ''));
is(hv1($j, 'X-Forwarded-For'), '127.0.0.1', 'an empty X-Forwarded-For is not kept as ", "');

# ---- X-Request-ID ---------------------------------------------------------------
$r = http_get($port, '/rid');
$j = seen($r);
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'X-Request-ID: 32 hex digits to the client');
is(hv1($j, 'X-Request-ID'), $r->{headers}{'x-request-id'}, 'the same one went to the server');
my %ids;
$ids{ http_get($port, '/rid')->{headers}{'x-request-id'} // '' }++ for 1 .. 20;
is(scalar(keys %ids), 20, 'each request gets its own id');
$r = http_get($port, '/rid', 'X-Request-ID' => 'client-chosen-1');
isnt($r->{headers}{'x-request-id'}, 'client-chosen-1', 'untrusted listener: a client id is replaced');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'by a generated one');
is(hv1(seen($r), 'X-Request-ID'), $r->{headers}{'x-request-id'}, 'and only that one goes to the server');

my $tp = $t->port('trust');
for my $id ('client-chosen-1', 'A.b_c:d-9', 'x' x 128) {
    $r = http_get($tp, '/rid', 'X-Request-ID' => $id);
    is($r->{headers}{'x-request-id'}, $id, 'trusted listener: valid id kept (' . substr($id, 0, 20) . ')');
    is(hv1(seen($r), 'X-Request-ID'), $id, 'and passed to the server');
}
for my $id ('x' x 129, 'has/slash', 'quo"te', 'semi;colon') {
    $r = http_get($tp, '/rid', 'X-Request-ID' => $id);
    like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
         'trusted listener: invalid id replaced (' . substr($id, 0, 20) . ')');
    is(hv1(seen($r), 'X-Request-ID'), $r->{headers}{'x-request-id'}, 'the server gets the new one');
}

# ---- response headers -------------------------------------------------------------
$r = http_get($port, '/resp?header=Server:secret-origin/1.2&header=X-Request-ID:from-origin'
    . '&header=Keep-Alive:timeout%3D9&header=Proxy-Connection:keep-alive&header=Upgrade:h2c'
    . '&header=Connection:X-Hidden&header=X-Hidden:leak&header=X-End:visible');
is($r->{status}, 200, 'response with hop-by-hop headers');
my @servers = map { $_->[1] } grep { lc $_->[0] eq 'server' } @{ $r->{header_list} };
is_deeply(\@servers, ['cerberus'], 'Server replaced by "cerberus"');
my @rids = map { $_->[1] } grep { lc $_->[0] eq 'x-request-id' } @{ $r->{header_list} };
is(scalar @rids, 1, 'one X-Request-ID in the response');
like($rids[0] // '', qr/^[0-9a-f]{32}$/, 'the proxy\'s, not the server\'s');
for my $h (qw(keep-alive proxy-connection upgrade x-hidden)) {
    ok(!exists $r->{headers}{$h}, "response: $h removed");
}
ok(($r->{headers}{connection} // '') !~ /x-hidden/i, 'response: the server\'s Connection is not passed on');
is($r->{headers}{'x-end'}, 'visible', 'response: end-to-end header kept');

$r = http_get($tp, '/resp?header=Server:secret-origin');
ok(!exists $r->{headers}{server}, 'server_header = "": no Server at all');
$r = http_get($t->port('edge'), '/resp?header=Server:secret-origin');
is($r->{headers}{server}, 'edge/1.0', 'server_header sets the Server');
$r = http_get($port, '/resp');
is($r->{headers}{server}, 'cerberus', 'Server: cerberus when the origin sends none');

# Large response heads (the origin adds headers from ?header=).
$r = http_get($port, '/bigresp?header=X-Big:' . ('b' x 8000) . '&header=X-Big2:' . ('c' x 2000));
is($r->{status}, 200, 'a 10 KB response head passes');
is(length($r->{headers}{'x-big'} // ''), 8000, 'with its large field whole');

# ---- status codes and bodiless responses ---------------------------------------------
for my $st (201, 202, 301, 404, 418, 500, 503) {
    $r = http_get($port, "/st?status=$st");
    is($r->{status}, $st, "status $st passed on");
}
my $c = Cerb::Conn->new($port);
$r = $c->request("HEAD /head?size=5000 HTTP/1.1\r\nHost: a\r\n\r\n", head => 1);
is($r->{status}, 200, 'HEAD');
is($r->{headers}{'content-length'}, 5000, 'HEAD: the server\'s Content-Length');
$r = $c->get('/after-head');
is($r->{status}, 200, 'HEAD had no body: the next response on the connection is in sync');
is(seen($r) && seen($r)->{path}, '/after-head', 'and is the right one');
for my $st (204, 304) {
    $r = $c->get("/nobody?status=$st");
    is($r->{status}, $st, "$st passed on");
    ok(!exists $r->{headers}{'content-length'} || $r->{headers}{'content-length'} eq '0',
       "$st: no body length");
    $r = $c->get("/after-$st");
    is(seen($r) && seen($r)->{path}, "/after-$st", "$st had no body: next response in sync");
}
# HEAD of a chunked response: no body, still in sync.
$r = $c->request("HEAD /head?chunked=1 HTTP/1.1\r\nHost: a\r\n\r\n", head => 1);
is($r->{status}, 200, 'HEAD of a chunked resource');
is(seen($c->get('/after-head2'))->{path}, '/after-head2', 'next response in sync');
ok(!$c->closed(0.2), 'the connection stays open');

# 1xx: 100 Continue comes back before the body is sent.
$c = Cerb::Conn->new($port);
$c->send_raw("POST /cont HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
$r = $c->read_response(timeout => 3);
is($r->{status}, 100, 'Expect: 100-continue: the server\'s 100 comes through');
$c->send_raw('hello');
$r = $c->read_response;
is($r->{status}, 200, 'then the final response');
$j = seen($r);
is($j && $j->{body_length}, 5, 'with the body');
is($j && hv1($j, 'Expect'), '100-continue', 'Expect passed on');

unlike(slurp($t->error_log), qr/killed by signal/, "no worker crashed");
# On failure, what the daemon said.
diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
