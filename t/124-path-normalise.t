# Path normalisation: routes, deny rules, rewrites and the server see one
# path, the normalised one (dot-segments removed, unreserved escapes
# decoded, "//" merged); %2F, %5C and "\" are refused by default, kept or
# decoded per listener; a ".." above the root and "..;" are refused. Each
# variant is checked by its status and by the exact target the origin
# received.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Cerb;

my $t = Cerb->new;
my $PUB = $t->origin('pub');
my $OTHER = $t->origin('other');

$t->write_conf(<<"EOF2");
%%PREAMBLE%%
workers = 1;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "keep"; address = "127.0.0.1:%%PORT:keep%%";
    merge_slashes = false; escaped_slashes = "keep"; },
  { name = "dec"; address = "127.0.0.1:%%PORT:dec%%"; escaped_slashes = "decode"; }
);
pools = (
  { name = "pub"; servers = ( { address = "127.0.0.1:$PUB"; } ); },
  { name = "other"; servers = ( { address = "127.0.0.1:$OTHER"; } ); }
);
routes = (
  { name = "admin"; path_prefix = "/admin"; return = { status = 403; body = "admin\\n"; }; },
  { name = "public"; path_prefix = "/public"; pool = "pub"; },
  { name = "gw"; path_prefix = "/gw/"; pool = "pub";
    rewrite = { pattern = "^/gw/(.*)\$"; replace = "/v2/\$1"; }; },
  { name = "waf"; path_prefix = "/waf/"; pool = "pub";
    deny_rules = ( { name = "secret"; path = "^/waf/secret"; } ); },
  { name = "rest"; path_prefix = "/"; pool = "other"; }
);
EOF2
ok($t->start, 'cerberus starts with three listeners and five routes');

# "STATUS ORIGIN TARGET" for a proxied 200, else the status alone.
sub got {
    my ($port, $target) = @_;
    my $r = http_raw($port, "GET $target HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    return 'no response' unless $r && $r->{status};
    return $r->{status} unless $r->{status} == 200;
    my $j = eval { decode_json($r->{body}) } or return "200 (not the origin)";
    return "200 $j->{name} $j->{target}";
}

my $W = $t->port('web');
my @web = (
    ['/public',                    '200 pub /public'],
    ['/admin/../public',           '200 pub /public'],
    ['/public/../admin',           403],
    ['/%61dmin',                   403],
    ['//admin',                    403],
    ['/./admin',                   403],
    ['/.//./admin',                403],
    ['/public/%2e%2e/admin',       403],
    ['/public/%2E%2E/admin/x',     403],
    ['/admin%2Fx',                 400],
    ['/admin%2fx',                 400],
    ['/admin%5Cx',                 400],
    ['/admin\\x',                  400],
    ['/public/..%2Fadmin',         400],
    ['/public\\..\\admin',         400],
    ['/admin;x=1',                 403],
    ['/public;x=1/a',              '200 pub /public;x=1/a'],
    ['/public/..;/admin',          400],
    ['/public/.;/x',               400],
    ['/../public',                 400],
    ['/public/../../x',            400],
    ['/public/%2e%2e/%2e%2e/x',    400],
    ['/publ%69c/a%7eb%3f',         '200 pub /public/a~b%3F'],
    ['/public//a///b/',            '200 pub /public/a/b/'],
    ['/public/./a/../b?x=/../%2F&y=%2e', '200 pub /public/b?x=/../%2F&y=%2e'],
    ['/public/a?',                 '200 pub /public/a?'],
    ['/other/%7e/../x',            '200 other /other/x'],
    ['/gw/x/../y',                 '200 pub /v2/y'],
    ['/gw/%61b?q=1',               '200 pub /v2/ab?q=1'],
    ['/waf/x/../secret',           403],
    ['/waf//secret',               403],
    ['/waf/%73ecret',              403],
    ['/waf/ok',                    '200 pub /waf/ok'],
    ['http://localhost/admin/../public',  '200 pub /public'],
    ['http://localhost//admin',           403],
    ['http://localhost/public/..%2Fadmin', 400],
    ['http://localhost/x/../public?a=b',  '200 pub /public?a=b'],
);
is(got($W, $_->[0]), $_->[1], "web: $_->[0] -> $_->[1]") for @web;

my $K = $t->port('keep');
my @keep = (
    ['//admin',                    '200 other //admin'],
    ['/public//a',                 '200 pub /public//a'],
    ['/public%2fx',                '200 pub /public%2Fx'],
    ['/public/..%2Fadmin',         '200 pub /public/..%2Fadmin'],
    ['/public%5cx',                '200 pub /public%5Cx'],
    ['/public\\x',                 '200 pub /public\\x'],
    ['/admin/../public',           '200 pub /public'],
    ['/admin%2Fx',                 403],
);
is(got($K, $_->[0]), $_->[1], "keep (merge_slashes false): $_->[0] -> $_->[1]") for @keep;

my $D = $t->port('dec');
my @dec = (
    ['/public/..%2Fadmin',         403],
    ['/public/..%5cadmin',         403],
    ['/public\\..\\admin',         403],
    ['/public%5Cx',                '200 pub /public/x'],
    ['/public\\x',                 '200 pub /public/x'],
    ['/public%2F%2Fx',             '200 pub /public/x'],
    ['/admin%2fx',                 403],
    ['//admin',                    403],
    ['/public/%2F..%2F..%2F..',    400],
);
is(got($D, $_->[0]), $_->[1], "decode: $_->[0] -> $_->[1]") for @dec;

# Nothing refused or sent elsewhere reached an origin in another form.
my @seen = map { split /\n/, Cerb::slurp($t->dir . "/origin-$_.requests") } qw(pub other);
my @odd = grep { my ($p) = m{^\S+ ([^?]*)}; $p //= '';
                 $p =~ m{/\.\.?(/|;|$)|%2e|%61|%69|%7e}i
                 || ($p =~ m{//} && $p !~ m{^(//admin|/public//a)$}) } @seen;
ok(@seen > 20 && !@odd, 'no origin received a dot-segment or a decodable escape')
    or diag(join "\n", @odd);

my $log = Cerb::slurp($t->error_log);
like($log, qr/on "web": 400 Bad Request: an escaped slash or a backslash in the path/,
     'the refusal of %2F is logged with its reason');
like($log, qr/on "web": 400 Bad Request: the path climbs above the root \(".."\)/,
     '  so is a ".." above the root');
like($log, qr/on "web": 400 Bad Request: a dot-segment with parameters \(".;" or "..;"\) in the path/,
     '  and a "..;" segment');

# Config errors, by file:line.
my $f = $t->write_file('bad.conf', <<"EOF2");
%%PREAMBLE%%
listeners = ( { name = "web"; address = "127.0.0.1:1";
    escaped_slashes = "drop"; merge_slashes = "yes"; } );
EOF2
my ($rc, $out, $err) = Cerb::run_cmd(Cerb::cerberus_bin(), 'check', '-c', $f);
my @lines = split /\n/, Cerb::slurp($f);
my ($L) = grep { $lines[$_ - 1] =~ /escaped_slashes/ } 1 .. @lines;
is($rc, 1, 'a bad escaped_slashes fails check');
like($err, qr/^\Q$f\E:$L: listeners\[0\]\.escaped_slashes: invalid value "drop" \(expected one of "reject", "keep", "decode"\)/m,
     'escaped_slashes: the choices, by file:line');
like($err, qr/^\Q$f\E:$L: listeners\[0\]\.merge_slashes: expected true or false, got a string$/m,
     'merge_slashes must be a boolean');

$t->done;
