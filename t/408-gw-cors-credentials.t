# CORS (issue 12, point 9): origins ["*"] with credentials = true is
# refused by check and start with file:line; "null" is refused as an
# origin, and a request with Origin: null never has it reflected.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

# The line of the first line of $text matching $re (1-based).
sub line_of {
    my ($text, $re) = @_;
    my @l = split /\n/, $text;
    for my $i (0 .. $#l) { return $i + 1 if $l[$i] =~ $re }
    die "no line matches $re";
}

my $bad = <<"EOF";
pid_file = "%%DIR%%/bad.pid";
error_log = "%%DIR%%/bad.log";
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:bad%%";
                cors = { origins = [ "*" ]; credentials = true; }; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = ( { path_prefix = "/"; pool = "a";
             cors = { origins = [ "*" ];
                      credentials = true; }; },
           { path_prefix = "/n/"; pool = "a";
             cors = { origins = [ "https://app.example", "null" ]; }; } );
EOF
my $f = $t->write_file('bad.conf', $bad);
my $lline = line_of($bad, qr/^\s+cors = \{ origins = \[ "\*" \]; credentials/);
my $rline = line_of($bad, qr/^\s+cors = \{ origins = \[ "\*" \];$/);
my $nline = line_of($bad, qr/"null"/);
my $msg = q{cors: origins ["*"] with credentials = true would let any site read }
        . q{responses with its users' cookies; list the origins};
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'check refuses origins ["*"] with credentials');
my @lines = grep { /\S/ } split /\n/, $err;
ok((grep { $_ eq "$f:$lline: listeners[0]: $msg" } @lines), 'on a listener, by file:line, exact text')
    or diag($err);
ok((grep { $_ eq "$f:$rline: routes[0]: $msg" } @lines), 'on a route, exact text') or diag($err);
ok((grep { $_ eq qq{$f:$nline: routes[1]: cors.origins[1]: "null" is never allowed (any page can send Origin: null)} } @lines),
   '"null" in the origins: refused, exact text') or diag($err);

($rc, $out, $err) = Cerb::run_cmd('timeout', '10', cerberus_bin(), 'run', '-c', $f);
isnt($rc, 0, 'start refuses it too');
like($err, qr/^\Q$f:$rline: routes[0]: $msg\E$/m, '  with the same message');

# ---- running: Origin: null is never reflected -----------------------------
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { path_prefix = "/cred/"; pool = "a";
    cors = { origins = [ "https://app.example" ]; credentials = true; }; },
  { path_prefix = "/pub/"; pool = "a"; cors = { origins = [ "*" ]; }; }
);
EOF
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $P = $t->port('web');
my $r = http_get($P, '/cred/x', Origin => 'https://app.example');
is($r->{headers}{'access-control-allow-origin'}, 'https://app.example', 'a listed origin is reflected');
is($r->{headers}{'access-control-allow-credentials'}, 'true', '  with credentials');
for my $o ('null', 'NULL') {
    $r = http_get($P, '/cred/x', Origin => $o);
    ok(!exists $r->{headers}{'access-control-allow-origin'}, "Origin: $o on a credentials route: not reflected");
    ok(!exists $r->{headers}{'access-control-allow-credentials'}, '  and no credentials');
    $r = Cerb::http_request($P, 'OPTIONS', '/cred/x',
                            headers => { Origin => $o, 'Access-Control-Request-Method' => 'GET' });
    ok(!exists $r->{headers}{'access-control-allow-origin'}, "  nor on its preflight");
}
$r = http_get($P, '/pub/x', Origin => 'null');
is($r->{headers}{'access-control-allow-origin'}, '*', 'origins ["*"] (no credentials): "*", never the origin');
ok(!exists $r->{headers}{'access-control-allow-credentials'}, '  and no credentials');

$t->done;
