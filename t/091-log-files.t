# Log files: created 0640 and given to the workers' user and group (by
# descriptor), never opened through a symbolic link, and the API key a
# client sends in the query string is masked in the access log.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

umask 022;
my $root = $> == 0;

my $t = Cerb->new;
my $d = $t->dir;
$t->write_conf(<<'EOF');
%%PREAMBLE%%
workers = 1;
access_log = { path = "access.log"; flush = "10ms"; };
consumers = ( { name = "acme"; api_keys = [ "s3cret-key" ]; } );
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "api"; address = "127.0.0.1:%%PORT:api%%";
    access_log = { path = "api.json"; format = "json"; flush = "10ms"; };
    auth = { api_key = { query = "token"; strip = false; }; }; }
);
routes = (
  { name = "keyed"; listeners = ["web"]; path_prefix = "/k/";
    auth = { api_key = { query = "api_key"; strip = false; }; };
    return = { status = 200; body = "in\n"; }; },
  { name = "open"; path_prefix = "/"; return = { status = 200; body = "open\n"; }; }
);
EOF
ok($t->start, 'started');
my $web = $t->port('web');
my $api = $t->port('api');

sub mode { sprintf '%04o', (stat $_[0])[2] & 07777 }

for my $f ("$d/error.log", "$d/access.log", "$d/api.json") {
    ok(-f $f, "$f exists");
    is(mode($f), '0640', "$f is created 0640");
    if ($root) {
        my @st = stat $f;
        is($st[4], scalar getpwnam('nobody'), "$f belongs to the workers' user");
        is($st[5], scalar getgrnam('nogroup'), "$f belongs to the workers' group");
    }
}

# The key in the query string: accepted, and masked on every route.
is(http_get($web, '/k/a?x=1&api_key=s3cret-key&y=2')->{status}, 200,
   'the query key is accepted');
is(http_get($web, '/k/b?api_key=wrong-s3cret')->{status}, 401, 'a wrong key is refused');
is(http_get($web, '/other?api_key=s3cret-key')->{status}, 200, 'a route without auth');
http_get($web, '/enc?api%5Fkey=s3cret-key&api_keyx=visible');
is(http_get($api, '/x?token=s3cret-key&q=1')->{status}, 200, 'a listener-wide query key');
my $log = wait_for(sub { my $l = slurp("$d/access.log"); ($l =~ tr/\n//) >= 4 ? $l : undef }, 5)
    // slurp("$d/access.log");
my $json = wait_for(sub { slurp("$d/api.json") =~ /token/ ? slurp("$d/api.json") : undef }, 5)
    // slurp("$d/api.json");
like($log, qr{"GET /k/a\?x=1&api_key=\*\*\*&y=2 HTTP/1\.1" 200 }, 'the key is masked, the rest kept');
like($log, qr{"GET /k/b\?api_key=\*\*\* HTTP/1\.1" 401 }, 'a refused key is masked too');
like($log, qr{"GET /other\?api_key=\*\*\* HTTP/1\.1" 200 }, 'on a route without auth as well');
like($log, qr{"GET /enc\?api%5Fkey=\*\*\*&api_keyx=visible HTTP/1\.1"},
     'an escaped name is masked, another name is not');
like($json, qr{"request":"GET /x\?token=\*\*\*&q=1 HTTP/1\.1"}, 'the listener\'s key in the json log');
unlike($log . $json, qr/s3cret/, 'no key is written anywhere');

# Rotation: the files made anew are 0640 too.
rename "$d/access.log", "$d/access.log.1" or die;
rename "$d/error.log", "$d/error.log.1" or die;
my ($rc) = $t->ctl('reopen');
is($rc, 0, 'reopen');
ok(wait_for(sub { -e "$d/access.log" && -e "$d/error.log" }, 5), 'the logs are made again');
is(mode("$d/error.log"), '0640', 'the new error log is 0640');
is(mode("$d/access.log"), '0640', 'the new access log is 0640');

# A symbolic link planted where the log goes is refused at reopen: the
# file it points to is never written.
rename "$d/error.log", "$d/error.log.2" or die;
open my $v, '>', "$d/victim" or die;
close $v;
symlink "$d/victim", "$d/error.log" or die;
($rc) = $t->ctl('reopen');
http_raw($web, "GET / HTTP/1.1\r\n\r\n");      # a worker logs a 400
ok(wait_for(sub { slurp("$d/error.log.2") =~ /cannot reopen error log \Q$d\E\/error\.log: it is a symbolic link \(refused\)/ }, 5),
   'reopen refuses the link and says so in the log it keeps');
is(-s "$d/victim", 0, 'the link\'s target is not written');
$t->stop;
unlink "$d/error.log";

# At start: an error log or an access log that is a symbolic link.
symlink "$d/victim", "$d/error.log" or die;
my ($out, $err);
($rc, $out, $err) = $t->ctl('run');
is($rc, 1, 'run refuses a linked error log');
like($err, qr/^cerberus: cannot open error log \Q$d\E\/error\.log: it is a symbolic link \(refused\)$/m,
     'with a clear error');
unlink "$d/error.log";
unlink "$d/api.json";
symlink "$d/victim", "$d/api.json" or die;
($rc, $out, $err) = $t->ctl('run');
is($rc, 1, 'run refuses a linked access log');
like($err . slurp("$d/error.log"),
     qr/\Q$d\E\/cerberus\.conf:\d+: cannot open access log \Q$d\E\/api\.json: it is a symbolic link \(refused\)/,
     'with its line and a clear error');
is(-s "$d/victim", 0, 'the target is never written');
$t->done;
