# The admin API: GET /status (JSON), POST /servers/POOL/ADDRESS/ACTION
# (drain, enable, disable) with a bearer token; runtime state that
# survives a reload; the admin socket across reloads; `cerberus status`.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Cerb;

my $t = Cerb->new;
my $token = 'tok-' . int(rand(1e9));
my $conf = <<'EOF';
%%PREAMBLE%%
workers = 2;
admin = { address = "127.0.0.1:%%PORT:ADMIN%%"; token = "%%TOKEN%%"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app";
    servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; }, { address = "127.0.0.1:%%ORIGIN:b%%"; %%BSTATE%% } ); },
  { name = "v6"; servers = ( { address = "[::1]:1"; weight = 3; }, { address = "127.0.0.1:1"; backup = true; max_conns = 7; } ); }
);
routes = ( { path_prefix = "/"; pool = "app"; } );
EOF
sub write_conf {
    my (%o) = @_;
    my $c = $conf;
    $c =~ s/%%TOKEN%%/$token/g;
    $c =~ s/%%PORT:ADMIN%%/%%PORT:$o{admin}%%/g;
    $c =~ s/%%BSTATE%%/$o{bstate} ? "state = \"$o{bstate}\";" : ''/e;
    $t->write_conf($c);
}
write_conf(admin => 'admin');
ok($t->start, 'started');
my $web = $t->port('web');
my $admin = $t->port('admin');
my ($pa, $pb) = ($t->origin('a'), $t->origin('b'));
my $auth = { Authorization => "Bearer $token" };

sub admin_req {
    my ($method, $path, %o) = @_;
    return http_request($o{port} // $admin, $method, $path,
                        headers => $o{headers} // $auth);
}
sub status_json { json_body(admin_req('GET', '/status', @_)) || {} }
sub server {
    my ($pool, $addr, $s) = @_;
    $s //= status_json();
    my ($p) = grep { $_->{name} eq $pool } @{ $s->{pools} || [] };
    my ($sv) = grep { $_->{address} eq $addr } @{ $p ? $p->{servers} : [] };
    return $sv || {};
}
sub origins {
    my ($n) = @_;
    my %seen;
    for (1 .. $n) {
        my $r = http_get($web, '/');
        $seen{$r && $r->{status} == 200 ? $r->{headers}{'x-origin'} // '?' : 'error'}++;
    }
    return \%seen;
}

# ---- the token ----------------------------------------------------------
my $r = admin_req('GET', '/status', headers => {});
is($r->{status}, 401, 'no token: 401');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer\b/, 'with WWW-Authenticate: Bearer');
is($r->{headers}{connection}, 'close', 'Connection: close');
$r = admin_req('GET', '/status', headers => { Authorization => 'Bearer nope' });
is($r->{status}, 401, 'wrong token: 401');
$r = admin_req('GET', '/status', headers => { Authorization => "Basic $token" });
is($r->{status}, 401, 'not a bearer token: 401');
$r = admin_req('POST', "/servers/app/127.0.0.1:$pa/drain", headers => {});
is($r->{status}, 401, 'no token, POST: 401');
is(server('app', "127.0.0.1:$pa")->{state}, 'up', 'and nothing changed');

# ---- GET /status --------------------------------------------------------
$r = admin_req('GET', '/status');
is($r->{status}, 200, 'GET /status: 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'application/json');
my $s = json_body($r);
ok($s, 'valid JSON') or diag($r->{body});
is($s->{pid}, $t->master_pid, 'pid: the master');
like($s->{version}, qr/^\d+\.\d+/, 'version');
is(scalar @{ $s->{workers} }, 2, 'two workers');
is_deeply([sort map { $_->{slot} } @{ $s->{workers} }], [0, 1], 'with their slots');
my %wpid = map { $_->{pid} => 1 } $t->workers;
ok(!grep({ !$wpid{$_->{pid}} } @{ $s->{workers} }), 'and their pids');
ok(!grep({ !defined $_->{conns} || !defined $_->{requests} } @{ $s->{workers} }), 'conns and requests per worker');
is_deeply([map { $_->{name} } @{ $s->{pools} }], ['app', 'v6'], 'the pools, in config order');
is($s->{pools}[0]{balance}, 'round_robin', 'balance');
my $sa = server('app', "127.0.0.1:$pa", $s);
for my $k (qw(address state health active active_per_worker requests failures
              circuit weight backup max_conns last_check_ms_ago last_latency_ms
              last_error)) {
    ok(exists $sa->{$k}, "server field $k");
}
is_deeply([@$sa{qw(state health circuit active weight max_conns)}], ['up', 'up', 'closed', 0, 1, 0],
          'state up, health up, circuit closed, nothing active, weight 1, no max_conns');
ok(JSON::PP::is_bool($sa->{backup}) && !$sa->{backup}, 'backup: false');
is(scalar @{ $sa->{active_per_worker} }, 2, 'active per worker: one per worker');
my $v6 = server('v6', '[::1]:1', $s);
is($v6->{weight}, 3, 'weight');
my $bk = server('v6', '127.0.0.1:1', $s);
ok($bk->{backup} && $bk->{max_conns} == 7, 'backup and max_conns');
is(admin_req('HEAD', '/status')->{status}, 200, 'HEAD /status: 200');
$r = admin_req('DELETE', '/status');
is($r->{status}, 405, 'DELETE /status: 405');
like($r->{headers}{allow} // '', qr/GET/, 'Allow: GET');
is(admin_req('GET', '/nothing')->{status}, 404, 'unknown path: 404');
is(admin_req('GET', '/')->{status}, 404, '/: 404');

# Requests show in the counters.
origins(4);
$s = status_json();
is(server('app', "127.0.0.1:$pa", $s)->{requests} + server('app', "127.0.0.1:$pb", $s)->{requests}, 4,
   'requests counted per server');

# ---- drain: an in-flight request finishes, new ones go elsewhere ---------
my $slow = Cerb::Conn->new($web);
$slow->send_raw("GET /slow?delay_ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n");
my $busy;
ok(wait_for(sub {
    my $j = status_json();
    ($busy) = grep { server('app', "127.0.0.1:$_", $j)->{active} == 1 } $pa, $pb;
    return $busy;
}, 3), 'the slow request is active on one server');
my $busy_name = $busy == $pa ? 'a' : 'b';
my $idle_name = $busy == $pa ? 'b' : 'a';
my $sb = server('app', "127.0.0.1:$busy");
is(eval { my $n = 0; $n += $_ for @{ $sb->{active_per_worker} }; $n }, 1, 'active per worker sums to active');
$r = admin_req('POST', "/servers/app/127.0.0.1:$busy/drain");
is($r->{status}, 200, 'POST drain: 200');
is_deeply(json_body($r) && { %{ json_body($r) }{qw(pool server state)} },
          { pool => 'app', server => "127.0.0.1:$busy", state => 'drain' }, 'its answer');
is(server('app', "127.0.0.1:$busy")->{state}, 'drain', 'status shows drain');
is_deeply(origins(8), { $idle_name => 8 }, 'new requests avoid the drained server');
my $done = $slow->read_response(timeout => 5);
is($done->{status}, 200, 'the in-flight request completes');
is($done->{headers}{'x-origin'}, $busy_name, 'on the drained server');
$slow->close;
like(slurp($t->error_log), qr/\[notice\].*admin: 127\.0\.0\.1:\d+: drain pool "app" server 127\.0\.0\.1:$busy/,
     'the action is logged');

# ---- enable, disable -------------------------------------------------------
is(admin_req('POST', "/servers/app/127.0.0.1:$busy/enable")->{status}, 200, 'POST enable: 200');
is(server('app', "127.0.0.1:$busy")->{state}, 'up', 'up again');
my $seen = origins(8);
ok($seen->{a} && $seen->{b}, 'requests go to both again');
$r = admin_req('POST', "/servers/app/127.0.0.1:$pb/disable");
is($r->{status}, 200, 'POST disable: 200');
is(json_body($r)->{state}, 'disabled', 'disabled');
is_deeply(origins(6), { a => 6 }, 'a disabled server gets nothing');
is(admin_req('POST', "/servers/app/127.0.0.1:$pb/enable")->{status}, 200, 'enabled again');

# ---- errors, percent-decoding ------------------------------------------------
is(admin_req('POST', '/servers/app/127.0.0.1:1/drain')->{status}, 404, 'unknown server: 404');
is(admin_req('POST', "/servers/nope/127.0.0.1:$pa/drain")->{status}, 404, 'unknown pool: 404');
is(admin_req('POST', "/servers/app/127.0.0.1:$pa/explode")->{status}, 400, 'unknown action: 400');
$r = admin_req('GET', "/servers/app/127.0.0.1:$pa/drain");
is($r->{status}, 405, 'GET on an action: 405');
is($r->{headers}{allow}, 'POST', 'Allow: POST');
is(admin_req('POST', "/servers/app/127.0.0.1:$pa")->{status}, 404, 'no action: 404');
is(admin_req('POST', "/servers/app/127.0.0.1:$pa/drain/more")->{status}, 404, 'too long a path: 404');
is(admin_req('POST', '/servers/v6/%5B::1%5D:1/drain')->{status}, 200, 'percent-encoded [::1]:1: 200');
is(server('v6', '[::1]:1')->{state}, 'drain', 'drained');
is(admin_req('POST', '/servers/v6/[::1]:1/enable')->{status}, 200, 'or as written');
is(admin_req('POST', '/servers/v6/%5B::1%5D:1/drai%6E')->{status}, 200, 'the action too');
is(admin_req('POST', '/servers/v6/%zz/drain')->{status}, 400, 'a bad escape: 400');
is(server('app', "127.0.0.1:$pa")->{state}, 'up', 'nothing else changed');

# ---- a slow client holds nothing ------------------------------------------------
my $lazy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $admin, Proto => 'tcp');
syswrite($lazy, "GET /sta");
is(admin_req('GET', '/status')->{status}, 200, 'answered while another client is half-way');
close $lazy;

# ---- `cerberus status` shows the table --------------------------------------
my ($rc, $out) = $t->ctl('status');
is($rc, 0, 'cerberus status');
like($out, qr/^\s+POOL\s+SERVER\s+STATE\s+HEALTH\s+CIRCUIT\s+ACTIVE\s+REQUESTS\s+FAILURES\s+WEIGHT\b/m,
     'the table head') or diag($out);
like($out, qr/^\s+app\s+127\.0\.0\.1:$pa\s+up\s+up\s+closed\s+0\s+\d+\s+0\s+1\b/m, 'a row per server');
like($out, qr/^\s+v6\s+\[::1\]:1\s+drain\s+up\s+closed\s+0\s+0\s+0\s+3\b/m, 'drain and weight shown');
like($out, qr/^\s+v6\s+127\.0\.0\.1:1\s+.*\byes\b/m, 'backup shown');

# ---- the state survives a reload --------------------------------------------------
is(admin_req('POST', "/servers/app/127.0.0.1:$pa/drain")->{status}, 200, 'a drained');
($rc, $out, my $err) = $t->ctl('reload');
is($rc, 0, 'reloaded') or diag($err);
$s = status_json();
is($s->{generation}, 2, 'the same admin port answers for the new generation');
is(server('app', "127.0.0.1:$pa", $s)->{state}, 'drain', 'a is still drained');
is(server('v6', '[::1]:1', $s)->{state}, 'drain', 'and so is [::1]:1');
is_deeply(origins(6), { b => 6 }, 'and still gets nothing');

# The config's own state, when it changes, wins.
write_conf(admin => 'admin', bstate => 'disabled');
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reloaded with b disabled in the config') or diag($err);
$s = status_json();
is(server('app', "127.0.0.1:$pb", $s)->{state}, 'disabled', 'b: disabled, as the config says now');
is(server('app', "127.0.0.1:$pa", $s)->{state}, 'drain', 'a: still drained');
is(admin_req('POST', "/servers/app/127.0.0.1:$pa/enable")->{status}, 200, 'a enabled');
is_deeply(origins(4), { a => 4 }, 'only a gets requests');

# ---- a new admin address -------------------------------------------------------------
write_conf(admin => 'admin2');
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reloaded with a new admin address') or diag($err);
my $admin2 = $t->port('admin2');
is(admin_req('GET', '/status', port => $admin2)->{status}, 200, 'the new address answers');
ok(wait_for(sub { !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $admin, Proto => 'tcp') }, 5),
   'the old one is closed');
is(server('app', "127.0.0.1:$pb", status_json(port => $admin2))->{state}, 'up',
   'b: up, now that the config no longer says disabled');

# A busy admin address is a reload error; the running daemon keeps its own.
my $hog = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 1);
my $hport = $hog->sockport;
$t->{ports}{hog} = $hport;
write_conf(admin => 'hog');
($rc, $out, $err) = $t->ctl('reload');
isnt($rc, 0, 'a reload to a busy admin address fails');
like($err, qr/admin: cannot listen on 127\.0\.0\.1:$hport: Address already in use/, 'and says why');
is(admin_req('GET', '/status', port => $admin2)->{status}, 200, 'the admin API still answers where it was');
close $hog;

# A checker that dies is respawned with the admin socket.
my ($checker) = $t->status->{raw} =~ /^checker=(\d+)/m;
ok($checker && kill('KILL', $checker), 'the checker killed');
ok(wait_for(sub { my ($p) = $t->status->{raw} =~ /^checker=(\d+)/m; $p && $p != $checker }, 5),
   'and respawned');
is(admin_req('GET', '/status', port => $admin2)->{status}, 200, 'the admin API answers again');

# A busy admin address is a start error too.
{
    my $t2 = Cerb->new;
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 1);
    $t2->{ports}{hog} = $busy->sockport;
    $t2->write_conf(<<'EOF2');
%%PREAMBLE%%
workers = 1;
admin = { address = "127.0.0.1:%%PORT:hog%%"; };
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
routes = ( { return = { status = 200; }; } );
EOF2
    my ($rc2, $out2, $err2) = $t2->ctl('start');
    isnt($rc2, 0, 'start with a busy admin address fails');
    like($err2, qr/admin: cannot listen on 127\.0\.0\.1:\d+: Address already in use/, 'and says why');
}

# Without an admin block, there is no admin listener.
my $plain = $conf;
$plain =~ s/^admin = .*\n//m;
$plain =~ s/%%BSTATE%%//;
$t->write_conf($plain);
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reloaded without admin') or diag($err);
ok(wait_for(sub { !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $admin2, Proto => 'tcp') }, 5),
   'no admin listener any more');

$t->done;
