# `cerberus check`: a valid file is summarised; every error of an invalid
# one is reported as file:line: message, exactly.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;

$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "app"; servers = ( { address = "127.0.0.1:9001"; weight = 3; },
                                      { address = "127.0.0.1:9002"; backup = true; } ); } );
routes = (
  { name = "api"; host = "api.example.com"; path_prefix = "/v1/"; methods = ["GET"]; pool = "app"; },
  { path_prefix = "/"; return = { status = 200; body = "ok\n"; }; }
);
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'a valid config checks') or diag($err);
like($out, qr/configuration .* is valid/, 'says it is valid');
like($out, qr/web\s+http\s+127\.0\.0\.1:\d+\s+2 routes/, 'lists the listener with its routes');
like($out, qr/app\s+round_robin\s+127\.0\.0\.1:9001 weight=3 127\.0\.0\.1:9002 backup/,
     'lists the pool and its servers');
like($out, qr/api\s+host api\.example\.com path_prefix \/v1\/ methods GET -> pool app/,
     'lists the routes in order');
like($out, qr/route2\s+host \* path_prefix \/ -> return 200/, 'unnamed routes get a name');

# Every error at once, each with its line, in file order.
my $f = $t->write_file('bad.conf', <<'EOF');
workers = 0;
drain_timeout = "30x";
colour = "blue";
listeners = (
  { name = "web"; address = "127.0.0.1:99999"; header_timeout = "soon"; },
  { name = "web"; address = "1.2.3:80"; protocol = "udp"; },
  { name = "db"; address = "127.0.0.1:5433"; protocol = "tcp"; },
  { address = "[::1]:8080"; max_header_size = "12q"; }
);
pools = ( { name = "app"; balance = "fastest"; servers = ( { address = "127.0.0.1:9001"; weight = 0; } ); } );
routes = (
  { path_prefix = "/"; pool = "nope"; },
  { path_regex = "(unclosed"; return = { status = 301; }; },
  { path_prefix = "/x"; listeners = ["ghost"]; }
);
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'an invalid config fails check with exit 1');
my $expect = <<"EOF";
$f:1: workers: 0 is out of range (1 to 64)
$f:2: drain_timeout: invalid duration "30x": unknown unit (use ms, s, m, h or d)
$f:3: unknown key "colour"
$f:5: listeners[0].address: invalid address "127.0.0.1:99999": invalid port (expected 1-65535)
$f:5: listeners[0].header_timeout: invalid duration "soon": expected a number followed by ms, s, m, h or d
$f:6: listeners[1].address: invalid address "1.2.3:80": invalid IPv4 address "1.2.3"
$f:6: listeners[1].protocol: invalid value "udp" (expected one of "http", "tcp")
$f:6: listeners[1]: duplicate listener name "web" (first at line 5)
$f:7: listeners[2]: a tcp listener needs a pool
$f:8: listeners[3]: missing required key "name"
$f:8: listeners[3].max_header_size: invalid size "12q": unknown unit (use k, m or g)
$f:10: pools[0].balance: invalid value "fastest" (expected one of "round_robin", "least_conn", "ip_hash", "hash", "random")
$f:10: pools[0].servers[0].weight: 0 is out of range (1 to 1000)
$f:12: routes[0]: pool "nope" is not defined
$f:13: routes[1].return: status 301 needs a location
$f:13: routes[1]: invalid regular expression at offset 9: missing closing parenthesis
$f:14: routes[2]: a route needs exactly one action: pool or return
$f:14: routes[2]: listener "ghost" is not defined
EOF
is($err, $expect, 'every error, with file and line, in file order');
is($out, '', 'nothing on stdout');

# Syntax errors name the line too.
$f = $t->write_file('syntax.conf', "workers = 2;\nlisteners = ( { name = \"web\"; address = ; } );\n");
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'a syntax error fails');
is($err, "$f:2: syntax error in: listeners = ( { name = \"web\"; address = ; } );\n",
   'syntax error with its line and its text');

# @include: errors name the included file.
$t->write_file('inc.conf', "listeners = ( { name = \"web\"; address = \"127.0.0.1:1\"; wrong = 1; } );\n");
# (As root, check refuses what start refuses: workers running as root.)
my $asroot = $> == 0 ? "allow_root = true;\n" : '';
$f = $t->write_file('main.conf', "workers = 1;\n\@include \"inc.conf\"\n$asroot");
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'an error in an included file fails');
is($err, $t->dir . "/inc.conf:1: listeners[0]: unknown key \"wrong\" in listener\n",
   'the error names the included file and its line');
$t->write_file('inc.conf', "listeners = ( { name = \"web\"; address = \"127.0.0.1:1\"; } );\n");
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 0, 'a valid include checks') or diag($err);

# Missing files and type errors.
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $t->dir . '/none.conf');
is($rc, 1, 'a missing config fails');
is($err, $t->dir . "/none.conf: cannot read: No such file or directory\n", 'and says why');

$f = $t->write_file('types.conf', <<'EOF');
workers = "many";
user = 5;
allow_root = "yes";
listeners = { name = "web"; };
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($err, <<"EOF", 'type errors say what was expected');
$f:1: workers: expected a number or "auto", got "many"
$f:2: user: expected a string, got a number
$f:3: allow_root: expected true or false, got a string
$f:4: listeners: expected a list ( { ... }, ... ), got a group { ... }
EOF

$f = $t->write_file('more.conf', <<'EOF');
listeners = ( { name = "web"; address = "127.0.0.1:1"; } );
pools = (
  { name = "a"; balance = "hash"; key = "ip"; servers = ( { address = "127.0.0.1:2"; } ); },
  { name = "b"; balance = "hash"; key = "query:"; servers = ( { address = "127.0.0.1:2"; } ); }
);
routes = (
  { host = "example.com:8080"; return = { body = "x"; }; },
  { host = "[::1]"; return = { body = "x"; }; },
  { host = "bad host"; return = { body = "x"; }; }
);
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($err, <<"EOF", 'hash keys and route hosts are validated');
$f:3: pools[0].key: invalid hash key "ip" (expected "uri", "header:NAME", "cookie:NAME" or "query:NAME")
$f:4: pools[1].key: invalid hash key "query:" (expected "uri", "header:NAME", "cookie:NAME" or "query:NAME")
$f:7: routes[0].host: invalid host "example.com:8080" (a name, *.domain or [IPv6], without a port)
$f:9: routes[2].host: invalid host "bad host" (a name, *.domain or [IPv6], without a port)
EOF

# Values of the wrong type inside checked sections: errors, never a crash.
$f = $t->write_file('types2.conf', <<'EOF');
listeners = ( { name = 5; address = "127.0.0.1:1"; }, { name = "b"; address = "127.0.0.1:1"; } );
pools = ( { name = "p"; servers = ( { address = "127.0.0.1:1"; } ); health = { path = 3; method = 4; }; } );
EOF
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'wrong types in checked sections fail cleanly');
like($err, qr/^\Q$f\E:2: pools\[0\]\.health\.path: expected a string, got a number$/m, 'health.path');
like($err, qr/^\Q$f\E:2: pools\[0\]\.health\.method: expected a string, got a number$/m, 'health.method');
like($err, qr/already used by listener "\?"/, 'a nameless listener is named "?"');

# A very long path to the file: the message is cut, nothing overflows.
my $deep = $t->dir;
for (1 .. 5) { $deep .= '/' . ('d' x 220); mkdir $deep or die "$deep: $!" }
$f = "$deep/long.conf";
open my $lf, '>', $f or die;
print $lf "workers = 0;\nlisteners = ( { name = \"web\"; address = \"127.0.0.1:1\"; } );\n";
close $lf;
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'an error in a file with a 1100-character path');
is($err, "$f:1: workers: 0 is out of range (1 to 64)\n", 'is reported whole');

$f = $t->write_file('empty.conf', "workers = 1;\n");
($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($err, "$f:0: missing required key \"listeners\"\n", 'listeners are required');

$t->done;
