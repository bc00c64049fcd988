# @include: absolute paths, paths relative to the including file, glob
# patterns in sorted order (matching nothing is fine), and errors that name
# the file and the line of the @include, or the included file's own line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use Cerb;

my $t = Cerb->new;
my $d = $t->dir;
make_path("$d/abs", "$d/sub", "$d/routes.d", "$d/empty.d");

sub check {
    my ($f) = @_;
    return Cerb::run_cmd(cerberus_bin(), 'check', '-c', $f);
}

# An absolute include, and a relative one from a file in a subdirectory:
# sub/pools.conf includes "servers.conf", which is sub/servers.conf.
$t->write_file('abs/listeners.conf',
    "listeners = ( { name = \"web\"; address = \"127.0.0.1:%%PORT:web%%\"; } );\n");
$t->write_file('sub/pools.conf', "pools = (\n  { name = \"app\"; servers = (\n"
    . "\@include \"servers.conf\"\n  ); }\n);\n");
$t->write_file('sub/servers.conf', "{ address = \"127.0.0.1:9001\"; weight = 3; }\n");
# Routes from a glob: written out of order, included as b < c < d; the
# first route for /x (from b.conf) wins, and every file's routes exist.
$t->write_file('routes.d/d.conf',
    "{ name = \"d\"; path_prefix = \"/d\"; return = { status = 200; body = \"d\\n\"; }; },\n");
$t->write_file('routes.d/b.conf',
    "{ name = \"b\"; path_prefix = \"/x\"; return = { status = 200; body = \"b\\n\"; }; },\n");
$t->write_file('routes.d/c.conf',
    "{ name = \"c\"; path_prefix = \"/x\"; return = { status = 200; body = \"c\\n\"; }; },\n"
  . "{ name = \"c2\"; path_prefix = \"/c\"; return = { status = 200; body = \"c2\\n\"; }; },\n");
$t->write_file('routes.d/a.txt', "this is not included\n");
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
\@include "$d/abs/listeners.conf"
\@include "sub/pools.conf"   # relative to this file
\@include "empty.d/*.conf"
/*
\@include "commented-out.conf"
*/
routes = (
\@include "routes.d/*.conf"
  { name = "last"; path_prefix = "/"; return = { status = 404; }; }
);
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'absolute, nested relative, empty glob and glob includes check') or diag($err);
like($out, qr/web\s+http\s+127\.0\.0\.1:\d+\s+5 routes/,
     'the listener from the absolute include, with every globbed route');
like($out, qr/app\s+round_robin\s+127\.0\.0\.1:9001 weight=3/,
     'the servers from sub/servers.conf, included by sub/pools.conf');
like($out, qr/\bb\s.*\n\s*c\s.*\n\s*c2\s.*\n\s*d\s.*\n\s*last\s/,
     'globbed files in sorted order, before the route after the @include');

SKIP: {
skip 'cerberus did not start', 4 unless ok($t->start, 'starts');
my $port = $t->port('web');
is(Cerb::http_get($port, '/x')->{body}, "b\n", '/x: the first file in sorted order wins');
is(Cerb::http_get($port, '/c')->{body}, "c2\n", 'a later file\'s route is there');
is(Cerb::http_get($port, '/d')->{body}, "d\n", 'the last file\'s route is there');
is(Cerb::http_get($port, '/zz')->{status}, 404, 'the route after the include');
$t->stop;
}

# Errors.
my $f = $t->write_file('missing.conf', "workers = 1;\n\@include \"nope.conf\"\n");
($rc, $out, $err) = check($f);
is($rc, 1, 'a missing include fails');
is($err, "$f:2: cannot open include file \"$d/nope.conf\": No such file or directory\n",
   'the error names the file and the line of the @include');

$f = $t->write_file('missing-abs.conf', "workers = 1;\n\n\@include \"$d/abs/none.conf\"\n");
($rc, $out, $err) = check($f);
is($err, "$f:3: cannot open include file \"$d/abs/none.conf\": No such file or directory\n",
   'a missing absolute include');

$t->write_file('sub/bad.conf', "workers = 1;\n\@include \"gone.conf\"\n");
$f = $t->write_file('nested-missing.conf', "\@include \"sub/bad.conf\"\n");
($rc, $out, $err) = check($f);
is($err, "$d/sub/bad.conf:2: cannot open include file \"$d/sub/gone.conf\": No such file or directory\n",
   'a missing nested include names the including file and its line');

# A directory stands for its *.conf files, in sorted order (conf.d/).
$f = $t->write_file('dir.conf', $t->expand("%%PREAMBLE%%\n") . "\@include \"$d/abs/listeners.conf\"\n"
    . "\@include \"sub/pools.conf\"\n\@include \"empty.d\"\n"
    . "routes = (\n\@include \"routes.d/\"\n"
    . "  { name = \"last\"; path_prefix = \"/\"; return = { status = 404; }; }\n);\n");
($rc, $out, $err) = check($f);
is($rc, 0, 'a directory include checks') or diag($err);
like($out, qr/\bb\s.*\n\s*c\s.*\n\s*c2\s.*\n\s*d\s.*\n\s*last\s/,
     'a directory includes its .conf files in sorted order; an empty one nothing');

# Errors inside included files carry that file's name and line.
$t->write_file('sub/keys.conf', "workers = 1;\n\nlisteners = ( { name = \"web\"; address = \"127.0.0.1:1\"; wrong = 1; } );\n");
$f = $t->write_file('key-error.conf', "# main\n\@include \"sub/keys.conf\"\ncolour = 1;\n");
($rc, $out, $err) = check($f);
is($err, "$f:3: unknown key \"colour\"\n"
       . "$d/sub/keys.conf:3: listeners[0]: unknown key \"wrong\" in listener\n",
   'a key error in a nested file, and one in the main file after it');

$t->write_file('sub/syntax.conf', "workers = 1;\nlisteners = ( { name = \"web\"; address = ; } );\n");
$f = $t->write_file('syntax-error.conf', "\n\n\@include \"sub/syntax.conf\"\n");
($rc, $out, $err) = check($f);
is($err, "$d/sub/syntax.conf:2: syntax error in: listeners = ( { name = \"web\"; address = ; } );\n",
   'a syntax error in an included file');

$f = $t->write_file('loop.conf', "\@include \"loop.conf\"\n");
($rc, $out, $err) = check($f);
is($rc, 1, 'an include cycle fails');
like($err, qr/^\Q$f\E:1: includes nested more than 10 deep \(does "\Q$f\E" include itself\?\)\n\z/,
     'and says so');

$t->done;
