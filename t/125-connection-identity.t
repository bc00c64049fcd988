# Combinations: a header cerberus sets itself (identity, request id, a
# gateway `set`) that the client names in its Connection header, or spells
# with '_', still reaches the server once, with cerberus's value: the
# Connection list removes the client's copy, never cerberus's own.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); } );
consumers = ( { name = "acme"; api_keys = [ "acme-key" ]; } );
routes = (
  { name = "key"; path_prefix = "/key/"; pool = "p"; auth = { api_key = {}; }; },
  { name = "set"; path_prefix = "/set/"; pool = "p";
    request_headers = { set = { X-Api-Version = "2"; }; }; },
  { name = "open"; path_prefix = "/"; pool = "p"; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cannot start');
my $P = $t->port('web');
sub seen { Cerb::origin_headers($_[0]) }

for my $conn ('X-Forwarded-For', 'x-forwarded-for', 'close, X-Forwarded-For', 'X_Forwarded_For') {
    my $r = Cerb::http_get($P, '/open/x', 'Connection' => $conn,
                           'X-Forwarded-For' => '6.6.6.6', 'X_Forwarded_For' => '7.7.7.7');
    is($r->{status}, 200, "Connection: $conn: served");
    is_deeply(seen($r)->{'x-forwarded-for'}, ['127.0.0.1'],
              "Connection: $conn: the server gets cerberus's X-Forwarded-For alone");
    ok(!seen($r)->{'x_forwarded_for'}, "Connection: $conn: no '_' twin passes");
}

for my $conn ('X-Request-ID', 'X-Forwarded-Proto, X-Forwarded-Host') {
    my $r = Cerb::http_get($P, '/open/x', 'Connection' => $conn, 'X-Request-ID' => 'forged',
                           'X-Forwarded-Proto' => 'https', 'X-Forwarded-Host' => 'evil');
    my $s = seen($r);
    is(scalar @{ $s->{'x-request-id'} || [] }, 1, "Connection: $conn: one X-Request-ID");
    isnt($s->{'x-request-id'}[0], 'forged', "Connection: $conn: cerberus's");
    is_deeply($s->{'x-forwarded-proto'}, ['http'], "Connection: $conn: cerberus's X-Forwarded-Proto");
    ok(!grep({ $_ eq 'evil' } @{ $s->{'x-forwarded-host'} || [] }),
       "Connection: $conn: the client's X-Forwarded-Host is gone");
}

for my $conn ('X-Consumer', 'X-Api-Key, X-Consumer') {
    my $r = Cerb::http_get($P, '/key/x', 'Connection' => $conn, 'X-Api-Key' => 'acme-key',
                           'X-Consumer' => 'root', 'X_Consumer' => 'root');
    is($r->{status}, 200, "Connection: $conn: the key passes");
    is_deeply(seen($r)->{'x-consumer'}, ['acme'], "Connection: $conn: X-Consumer is cerberus's");
    ok(!seen($r)->{'x_consumer'}, "Connection: $conn: no X_Consumer");
}
my $r = Cerb::http_get($P, '/key/x', 'Connection' => 'X-Api-Key', 'X-Consumer' => 'root');
is($r->{status}, 401, 'a key the client names in Connection is no key to skip auth with');

$r = Cerb::http_get($P, '/set/x', 'Connection' => 'X-Api-Version', 'X-Api-Version' => '1');
is_deeply(seen($r)->{'x-api-version'}, ['2'], 'a gateway `set` header named in Connection: the set value, once');

$t->done;
