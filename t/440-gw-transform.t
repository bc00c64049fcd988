# Gateway transformations: request headers set/add/remove/rename with
# variables, response headers set/add/remove, a path rewrite with numbered
# and named captures (query kept unless the replacement has one), query
# parameters set and removed; config errors by exact text.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF2");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%";
                response_headers = { set = { X-Frame-Options = "DENY"; }; }; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/h/"; pool = "a";
    request_headers = { set = { X-Client = "ip=\$remote_addr host=\$host"; X-Rid = "\$request_id"; };
                        add = { X-Add = "one"; };
                        remove = [ "X-Remove" ];
                        rename = { X-Old = "X-New"; }; };
    response_headers = { set = { X-Resp = "set"; X-Rid-Back = "\$request_id";
                                 X-Seen = "ip=\$remote_addr host=\$host sub=\$jwt_sub"; };
                         add = { X-Who = "c=\$consumer"; };
                         remove = [ "X-Drop" ]; rename = { X-Upstream = "X-Renamed"; }; }; },
  { path_prefix = "/old/"; pool = "a";
    rewrite = { pattern = "^/old/(?<rest>.*)\$"; replace = "/new/\${rest}"; }; },
  { path_regex = "^/item/"; pool = "a";
    rewrite = { pattern = "^/item/(\\\\d+)/(\\\\w+)\$"; replace = "/items/\$2?id=\$1"; }; },
  { path_prefix = "/q/"; pool = "a";
    query = { set = { api = "v2"; from = "\$remote_addr"; }; remove = [ "secret", "debug" ]; }; },
  { path_prefix = "/rq/"; pool = "a";
    rewrite = { pattern = "^/rq/(.*)"; replace = "/\$1"; };
    query = { remove = [ "x" ]; }; },
  { path_prefix = "/"; pool = "a"; }
);
EOF2
ok($t->start, 'cerberus starts with transformations');
my $P = $t->port('web');

sub hdrs {
    my ($j) = @_;
    my %h;
    push @{ $h{ lc $_->[0] } }, $_->[1] for @{ $j->{headers} // [] };
    return \%h;
}

my $r = Cerb::http_get($P, '/h/x', 'X-Client' => 'spoofed', 'X-Remove' => 'gone',
                       'X-Old' => 'kept value', 'X-Add' => 'client', Host => 'api.example');
is($r->{status}, 200, 'a request on a route with header changes passes');
my $j = Cerb::json_body($r);
my $h = hdrs($j);
is_deeply($h->{'x-client'}, ['ip=127.0.0.1 host=api.example'],
          'set replaces the client\'s header, with $remote_addr and $host');
is_deeply($h->{'x-rid'}, $h->{'x-request-id'}, '$request_id is the X-Request-ID sent upstream');
is_deeply($h->{'x-add'}, ['client', 'one'], 'add appends to the client\'s header');
ok(!exists $h->{'x-remove'}, 'remove drops the header');
ok(!exists $h->{'x-old'}, 'rename drops the old name');
is_deeply($h->{'x-new'}, ['kept value'], '  and sends the value under the new name');
is($r->{headers}{'x-resp'}, 'set', 'response set');
is($r->{headers}{'x-who'}, 'c=', 'response add, $consumer empty without auth');
is($r->{headers}{'x-frame-options'}, undef, "the route's response_headers replace the listener's");

is($r->{headers}{'x-rid-back'}, $r->{headers}{'x-request-id'},
   'response set with $request_id: the id the response carries');
is_deeply($h->{'x-rid'}, [$r->{headers}{'x-request-id'}], '  and the one sent upstream');
like($r->{headers}{'x-seen'}, qr/^ip=127\.0\.0\.1 host=api\.example sub=$/,
     'response variables: $remote_addr, $host, an empty $jwt_sub');

$r = Cerb::http_get($P, '/h/x?header=X-Upstream:first&header=X-Upstream:second');
ok(!exists $r->{headers}{'x-upstream'}, 'response rename drops the old name');
is($r->{headers}{'x-renamed'}, 'first, second', '  and keeps every value under the new one')
    or diag(explain($r->{headers}));

$r = Cerb::http_get($P, '/h/x?header=X-Drop:1&header=X-Resp:origin');
ok(!exists $r->{headers}{'x-drop'}, "response remove drops the origin's header");
is($r->{headers}{'x-resp'}, 'set', "response set replaces the origin's value");

$r = Cerb::http_get($P, '/other?header=X-Frame-Options:SAMEORIGIN');
is($r->{headers}{'x-frame-options'}, 'DENY', "the listener's response_headers apply to a route without its own");

$j = Cerb::json_body(Cerb::http_get($P, '/old/a/b?x=1&y=2'));
is($j->{target}, '/new/a/b?x=1&y=2', 'rewrite with a named group; the query kept');
$j = Cerb::json_body(Cerb::http_get($P, '/old/'));
is($j->{target}, '/new/', '  an empty group');
$j = Cerb::json_body(Cerb::http_get($P, '/item/42/show?drop=1'));
is($j->{target}, '/items/show?id=42', 'numbered groups; the replacement\'s query replaces the client\'s');
$j = Cerb::json_body(Cerb::http_get($P, '/item/x/show'));
is($j->{target}, '/item/x/show', 'a path the pattern does not match goes unchanged');

$j = Cerb::json_body(Cerb::http_get($P, '/q/p?secret=s&keep=1&api=v1&debug&z=%20'));
is($j->{target}, '/q/p?keep=1&z=%20&api=v2&from=127.0.0.1',
   'query: removed and set parameters, set ones last, values encoded');
$j = Cerb::json_body(Cerb::http_get($P, '/q/p'));
is($j->{target}, '/q/p?api=v2&from=127.0.0.1', '  on a request without a query');
$j = Cerb::json_body(Cerb::http_get($P, '/rq/a?x=1'));
is($j->{target}, '/a', 'rewrite then query: an emptied query leaves no "?"');

my $f = $t->write_file('bad.conf', <<"EOF2");
%%PREAMBLE%%
listeners = ( { name = "web"; address = "127.0.0.1:1"; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/"; pool = "a";
    request_headers = { set = { Content-Length = "1"; }; remove = [ "bad name" ]; };
    response_headers = { rename = { X-B = "Transfer-Encoding"; }; };
    rewrite = { pattern = "^/(a)(?<n>b)"; replace = "/\$3/\${m}/\$x"; };
    query = { remove = [ "a&b" ]; }; }
);
EOF2
my ($rc, $out, $err) = Cerb::run_cmd(Cerb::cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'bad transformations fail check');
my $at = qr/\Q$f\E:\d+: routes\[0\]: /;
like($err, qr/${at}request_headers\.set: the Content-Length header cannot be changed/, 'a framing header');
like($err, qr/${at}request_headers\.remove: "bad name" is not a valid header name/, 'a bad header name');
like($err, qr/${at}response_headers\.rename: the Transfer-Encoding header cannot be changed/,
     'a response rename to a framing header');
like($err, qr/${at}rewrite\.replace: \$3: the pattern has 2 groups/, 'a group past the pattern\'s');
like($err, qr/${at}rewrite\.replace: the pattern has no group named "m"/, 'an unknown named group');
like($err, qr/${at}rewrite\.replace: a "\$" must be followed by 1-9, \{name\} or \$/, 'a stray $');
like($err, qr/${at}query\.remove: "a&b" is not a valid parameter name/, 'a bad query parameter name');

$t->done;
