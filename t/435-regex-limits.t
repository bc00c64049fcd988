# Regular expressions run under PCRE2 match and depth limits: a
# catastrophic pattern costs little, and a match PCRE2 gives up on is
# never "no match": a deny rule refuses (403, fail closed), a route's
# path or header pattern and a rewrite answer 400 (no later route takes
# the request). Each is logged at warn, at most once a second per worker,
# with the pattern's file:line and key.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Time::HiRes qw(time);
use Cerb;

my $t = Cerb->new;
my $A = $t->origin('a');

$t->write_conf(<<"EOF2");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = ( { name = "a"; servers = ( { address = "127.0.0.1:$A"; } ); } );
routes = (
  { name = "waf"; path_prefix = "/waf/"; pool = "a";
    deny_rules = ( { name = "redos"; header = "X-Test"; value = "(a+)+c"; } ); },
  { name = "hre"; path_prefix = "/hre/"; pool = "a"; headers = { X-Test = "~(a+)+c"; }; },
  { name = "pre"; path_regex = "^/pre/(a+)+c"; pool = "a"; },
  { name = "rw"; path_prefix = "/rw/"; pool = "a";
    rewrite = { pattern = "^/rw/(a+)+c"; replace = "/x"; }; },
  { name = "rest"; path_prefix = "/"; pool = "a"; }
);
EOF2
ok($t->start, 'cerberus starts with the default regex limits');
my $P = $t->port('web');
my $conf = $t->conf_path;

# "STATUS TARGET" for a proxied 200, else the status.
sub got {
    my ($path, %h) = @_;
    my $r = http_get($P, $path, %h);
    return 'no response' unless $r && $r->{status};
    return $r->{status} unless $r->{status} == 200;
    my $j = eval { decode_json($r->{body}) } or return '200 (not the origin)';
    return "200 $j->{target}";
}

my $redos = ('a' x 40) . 'bac';     # holds "ac", after 2^40 ways to fail
is(got('/waf/x', 'X-Test' => 'hello'), '200 /waf/x', 'deny rule (a+)+c: a plain value passes');
is(got('/waf/x', 'X-Test' => ('a' x 40) . 'ac'), 403, '  a value that matches at once is refused');
is(got('/waf/x', 'X-Test' => ('a' x 5000) . 'ab'), '200 /waf/x',
   '  a long value without "c" passes (PCRE2 sees at once it cannot match)');
is(got('/waf/x', 'X-Test' => $redos), 403,
   '  a value that hits the match limit is refused: fail closed');
is(got('/waf/x', 'X-Test' => ('a' x 40) . 'bc'), 403,
   '  even one that would not match in the end');
my $log = '';
wait_for(sub { $log = Cerb::slurp($t->error_log); $log =~ /deny_rules\[0\]\.value/ }, 5);
like($log, qr/\[warn\] \d+: regex \Q$conf\E:\d+: routes\[0\]: deny_rules\[0\]\.value: match limit exceeded on a 43-byte subject \(regex_match_limit 100000, regex_depth_limit 50000\): counted as a match \(deny rule, 403\)/,
     'the limit is logged at warn with the pattern file:line, key and the limits');
like($log, qr/route "waf": 403 by access: deny rule "redos"/, '  and the refusal names the deny rule');

is(got('/hre/', 'X-Test' => 'xac'), '200 /hre/', 'route header pattern: a match takes the route');
is(got('/hre/', 'X-Test' => 'xyz'), '200 /hre/', '  no match: the next route, the catch-all');
is(got('/hre/', 'X-Test' => $redos), 400,
   '  a limit hit: 400, not the catch-all');
is(got('/pre/' . ('a' x 30) . 'c'), '200 /pre/' . ('a' x 30) . 'c', 'route path_regex: a match');
is(got('/pre/' . ('a' x 40) . 'bc'), 400, '  a limit hit: 400, not the catch-all');
is(got('/rw/ac'), '200 /x', 'rewrite pattern: a match rewrites');
is(got('/rw/' . ('a' x 40) . 'bc'), 400, '  a limit hit: 400 by transform');

# Reports: at most one a second per worker.
my $n0 = () = Cerb::slurp($t->error_log) =~ /\] \d+: regex /g;
my $t0 = time;
my %st;
$st{ got('/waf/x', 'X-Test' => $redos) }++ for 1 .. 40;
my $el = time - $t0;
is_deeply(\%st, { 403 => 40 }, '40 requests that hit the limit: all refused');
my $n1 = () = Cerb::slurp($t->error_log) =~ /\] \d+: regex /g;
cmp_ok($n1 - $n0, '<=', int($el) + 2,
       sprintf('  and logged at most once a second (%d lines in %.2f s)', $n1 - $n0, $el));
note(sprintf('%.2f ms per refused request, client included', 1000 * $el / 40));
ok(wait_for(sub { got('/waf/x', 'X-Test' => $redos);
                  Cerb::slurp($t->error_log) =~ /counted as a match \(deny rule, 403\) \(and \d+ more since the last report\)/ }, 5),
   '  the next report counts the ones left out');

# The limits are configured by top-level keys, checked by file:line.
my $f = $t->write_file('bad.conf', <<"EOF2");
%%PREAMBLE%%
regex_match_limit = 10;
regex_depth_limit = "deep";
listeners = ( { name = "web"; address = "127.0.0.1:1"; } );
EOF2
my ($rc, $out, $err) = Cerb::run_cmd(Cerb::cerberus_bin(), 'check', '-c', $f);
is($rc, 1, 'bad regex limits fail check');
my @lines = split /\n/, Cerb::slurp($f);
my ($L) = grep { $lines[$_ - 1] =~ /regex_match_limit/ } 1 .. @lines;
like($err, qr/^\Q$f\E:$L: regex_match_limit: 10 is out of range \(1000 to 1000000000\)$/m,
     'regex_match_limit below 1000');
like($err, qr/^\Q$f\E:@{[$L + 1]}: regex_depth_limit: expected a number, got "deep"$/m,
     'regex_depth_limit not a number');

$t->done;
