# Config errors say what they are about, exactly: libconfig's duplicate
# settings, include failures and syntax errors; unknown keys and values
# suggest the nearest valid name; route and cors methods are known
# methods, case-sensitive.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my $d = $t->dir;
my $L = "listeners = ( { name = \"web\"; address = \"127.0.0.1:1\"; } );\n";

sub check_err {
    my ($name, $text, $want, $what) = @_;
    my $f = $t->write_file($name, $text);
    my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
    is($rc, 1, "$what: check fails");
    (my $w = $want) =~ s/%F/$f/g;
    my $dir = $t->dir;
    $w =~ s/%D/$dir/g;
    is($err, $w, "$what: exact text");
}

# ---- libconfig's own errors ----------------------------------------------------
check_err('dup.conf', "workers = 2;\nlog_level = \"info\";\nworkers = 3;\n$L",
          "%F:3: duplicate setting \"workers\"\n", 'a duplicate top-level setting');
check_err('dup2.conf', "$L" . "pools = ( { name = \"a\";\n  servers = ( { address = \"127.0.0.1:2\"; } ); name = \"b\"; } );\n",
          "%F:3: duplicate setting \"name\"\n", 'a duplicate setting in a group');
check_err('inc.conf', "workers = 1;\n\@include \"nope.conf\"\n$L",
          "%F:2: cannot open include file \"%D/nope.conf\": No such file or directory\n", 'an include that cannot be opened');
check_err('syn.conf', "workers = 2;\nlisteners = ( { name = \"web\"; address = ; } );\n",
          "%F:2: syntax error in: listeners = ( { name = \"web\"; address = ; } );\n",
          'a syntax error shows its line');
check_err('eof.conf', "workers = 2;\nlisteners = ( { name = \"web;\n",
          "%F:3: syntax error at the end of the file (an unclosed string, group or list?)\n",
          'an unclosed string');

# ---- did you mean ----------------------------------------------------------------
check_err('key1.conf', "listeners = ( { name = \"web\"; address = \"127.0.0.1:1\";\n  keepalive_timout = \"5s\"; } );\n",
          "%F:2: listeners[0]: unknown key \"keepalive_timout\" in listener (did you mean \"keepalive_timeout\"?)\n",
          'a listener key one letter off');
check_err('key2.conf', "log_levl = \"info\";\n$L",
          "%F:1: unknown key \"log_levl\" (did you mean \"log_level\"?)\n", 'a top-level key');
check_err('key3.conf', "$L" . "pools = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; wieght = 2; } ); } );\n",
          "%F:2: pools[0].servers[0]: unknown key \"wieght\" in server (did you mean \"weight\"?)\n",
          'a transposition, in the key table of that place');
check_err('key4.conf', "$L" . "frobnicate = 1;\n",
          "%F:2: unknown key \"frobnicate\"\n", 'nothing near: no suggestion');
check_err('key5.conf', "$L" . "routes = ( { path_prefix = \"/\"; return = { stauts = 200; }; } );\n",
          "%F:2: routes[0].return: unknown key \"stauts\" in return (did you mean \"status\"?)\n",
          'a nested section');
check_err('enum1.conf', "$L" . "log_level = \"notise\";\n",
          "%F:2: log_level: invalid value \"notise\" (expected one of \"debug\", \"info\", \"notice\", \"warn\", \"error\", \"crit\", \"alert\") (did you mean \"notice\"?)\n",
          'an enum value');
check_err('enum2.conf', "$L" . "pools = ( { name = \"a\"; balance = \"least_con\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
          "%F:2: pools[0].balance: invalid value \"least_con\" (expected one of \"round_robin\", \"least_conn\", \"ip_hash\", \"hash\", \"random\")  (did you mean \"least_conn\"?)\n" =~ s/\)  \(/) (/r,
          'a balance value');
check_err('enum3.conf', "$L" . "log_level = \"loud\";\n",
          "%F:2: log_level: invalid value \"loud\" (expected one of \"debug\", \"info\", \"notice\", \"warn\", \"error\", \"crit\", \"alert\")\n",
          'an enum value near none: the list only');

check_err('lkey.conf', "$L" . "routes = ( { path_prefix = \"/\"; return = { };\n  rate_limit = { key = \"consumr\"; rate = \"10/s\"; }; } );\n",
          "%F:3: routes[0].rate_limit: key: \"consumr\" is not ip, consumer, header:NAME or jwt:CLAIM (did you mean \"consumer\"?)\n",
          'a rate limit key kind');

# ---- methods ------------------------------------------------------------------------
check_err('m1.conf', "$L" . "routes = ( { methods = [\"GET\", \"GETT\"]; return = { }; } );\n",
          "%F:2: routes[0].methods: unknown method \"GETT\" (did you mean \"GET\"?)\n", 'GETT');
check_err('m2.conf', "$L" . "routes = ( { methods = [\"get\"]; return = { }; } );\n",
          "%F:2: routes[0].methods: unknown method \"get\" (did you mean \"GET\"?)\n",
          'methods are case-sensitive');
check_err('m3.conf', "$L" . "routes = ( { methods = [\"PROPFIND\"]; return = { }; } );\n",
          "%F:2: routes[0].methods: unknown method \"PROPFIND\" (expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH)\n",
          'an extension method is refused');
check_err('m4.conf', "$L" . "routes = ( { methods = [\"GE T\"]; return = { }; } );\n",
          "%F:2: routes[0].methods: invalid method \"GE T\"\n", 'not a token: as before');
check_err('m5.conf', "$L" . "routes = ( { return = { };\n  cors = { origins = [\"https://a.example\"]; methods = [\"PUTT\"]; }; } );\n",
          "%F:3: routes[0]: cors.methods: unknown method \"PUTT\" (did you mean \"PUT\"?)\n", 'cors methods');

my $f = $t->write_file('mok.conf', "$L" . "routes = ( { methods = [\"GET\", \"HEAD\", \"POST\", \"PUT\", \"DELETE\", \"CONNECT\", \"OPTIONS\", \"TRACE\", \"PATCH\"];\n"
                                  . "  return = { }; } );\nallow_root = true;\npid_file = \"$d/c.pid\";\n");
my ($rc, $out, $err) = Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
is($rc, 0, 'every known method checks') or diag($err);

done_testing;
