# Load balancing: how each balance method spreads requests over a pool's
# servers, with two workers sharing the decision through shared memory:
# round robin (equal, weighted, smooth), random, least_conn across
# workers, hash by header / cookie / uri / query with consistent hashing,
# ip_hash, backup servers, the config's server state, max_conns, and the
# same choice for a tcp listener.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use Cerb;

my $t = Cerb->new;
my %name_of;    # origin port -> name
$name_of{ $t->origin($_) } = $_ for qw(a b c);
my ($A, $B, $C) = map { $t->origin($_) } qw(a b c);

# The config, with the state of some servers as arguments (for reloads).
sub conf {
    my (%st) = @_;
    my $s = sub { my ($k) = @_; $st{$k} ? qq( state = "$st{$k}";) : '' };
    return <<"EOF";
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "web"; address = "127.0.0.1:%%PORT:web%%"; },
  { name = "l4"; address = "127.0.0.1:%%PORT:l4%%"; protocol = "tcp"; pool = "tcp"; },
  { name = "l4mc"; address = "127.0.0.1:%%PORT:l4mc%%"; protocol = "tcp"; pool = "tcpmc"; }
);
pools = (
  { name = "rr"; servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; },
                             { address = "127.0.0.1:$C"; } ); },
  { name = "w31"; servers = ( { address = "127.0.0.1:$A"; weight = 3; }, { address = "127.0.0.1:$B"; } ); },
  { name = "w511"; servers = ( { address = "127.0.0.1:$A"; weight = 5; }, { address = "127.0.0.1:$B"; },
                               { address = "127.0.0.1:$C"; } ); },
  { name = "rnd"; balance = "random";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "lcw"; balance = "least_conn";
    servers = ( { address = "127.0.0.1:$A"; weight = 2; }, { address = "127.0.0.1:$B"; } ); },
  { name = "lc"; balance = "least_conn";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "hdr"; balance = "hash"; key = "header:X-User";
    servers = ( { address = "127.0.0.1:$A";@{[ $s->('hdr_a') ]} }, { address = "127.0.0.1:$B";@{[ $s->('hdr_b') ]} },
                { address = "127.0.0.1:$C";@{[ $s->('hdr_c') ]} } ); },
  { name = "ck"; balance = "hash"; key = "cookie:sid";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "uri"; balance = "hash"; key = "uri";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "qid"; balance = "hash"; key = "query:id";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "iph"; balance = "ip_hash";
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "bk"; servers = ( { address = "127.0.0.1:$A";@{[ $s->('bk_a') ]} }, { address = "127.0.0.1:$B";@{[ $s->('bk_b') ]} },
                             { address = "127.0.0.1:$C"; backup = true; } ); },
  { name = "st"; servers = ( { address = "127.0.0.1:$A"; state = "drain"; },
                             { address = "127.0.0.1:$B"; state = "disabled"; },
                             { address = "127.0.0.1:$C"; } ); },
  { name = "mc1"; servers = ( { address = "127.0.0.1:$A"; max_conns = 2; } ); },
  { name = "mc2"; servers = ( { address = "127.0.0.1:$A"; max_conns = 1; },
                              { address = "127.0.0.1:$B"; max_conns = 1; } ); },
  { name = "tcpmc"; servers = ( { address = "127.0.0.1:$A"; max_conns = 1; } ); },
  { name = "tcp"; servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; },
                              { address = "127.0.0.1:$C"; } ); }
);
routes = (
  { path_prefix = "/rr/"; pool = "rr"; },
  { path_prefix = "/w31/"; pool = "w31"; },
  { path_prefix = "/w511/"; pool = "w511"; },
  { path_prefix = "/rnd/"; pool = "rnd"; },
  { path_prefix = "/lc/"; pool = "lc"; },
  { path_prefix = "/lcw/"; pool = "lcw"; },
  { path_prefix = "/hdr/"; pool = "hdr"; },
  { path_prefix = "/ck/"; pool = "ck"; },
  { path_prefix = "/uri/"; pool = "uri"; },
  { path_prefix = "/qid/"; pool = "qid"; },
  { path_prefix = "/iph/"; pool = "iph"; },
  { path_prefix = "/bk/"; pool = "bk"; },
  { path_prefix = "/st/"; pool = "st"; },
  { path_prefix = "/mc1/"; pool = "mc1"; },
  { path_prefix = "/mc2/"; pool = "mc2"; }
);
EOF
}

$t->write_conf(conf());
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');



# The pool's servers from `cerberus status`: origin name -> { conns, ... }.
sub servers {
    my ($pool) = @_;
    my %s;
    for (split /\n/, $t->status->{raw}) {
        my ($p, $addr, $rest) = /^server=(\S+) (\S+) (.*)$/ or next;
        $rest =~ s/\s*last_error=.*$//;
        next unless $p eq $pool;
        my ($sp) = $addr =~ /:(\d+)$/;
        $s{ $name_of{$sp} // $addr } = { $rest =~ /(\w+)=(\S+)/g };
    }
    return \%s;
}

sub conns {
    my ($pool) = @_;
    my $s = servers($pool);
    return { map { $_ => $s->{$_}{conns} } keys %$s };
}

sub total { my $h = shift; my $n = 0; $n += $_ for values %$h; $n }

sub within {
    my ($got, $lo, $hi, $what) = @_;
    ok(($got // 0) >= $lo && ($got // 0) <= $hi, "$what: " . ($got // 0) . " in $lo..$hi");
}

sub worker_requests { return { map { $_->{slot} => $_->{requests} } $t->workers } }

# ---- round robin ------------------------------------------------------------

my $before = worker_requests();
my $n = spread($port, 600, '/rr/x');
my $after = worker_requests();
within($n->{$_}, 190, 210, "round robin, 600 requests: server $_") for qw(a b c);
is(total($n), 600, 'every request answered 200 by a server') or diag(explain($n));
my @busy = grep { $after->{$_} - ($before->{$_} // 0) > 0 } keys %$after;
is(scalar(@busy), 2, 'both workers took part (one position shared through shared memory)')
    or diag(explain($before, $after));

# The position is shared: requests over two keep-alive connections held by
# different workers, two on one for each one on the other, continue one
# sequence (with a position per worker no offset between the two gives
# three different servers in every three consecutive requests).
my %on;     # worker slot -> connection
for my $i (1 .. 20) {
    last if keys %on == 2;
    my $was = worker_requests();
    my $k = Cerb::Conn->new($port);
    my $r = $k->get("/rr/which-$i");
    my $slot = wait_for(sub {
        my $now = worker_requests();
        my @up = grep { $now->{$_} > ($was->{$_} // 0) } keys %$now;
        return @up == 1 ? $up[0] + 1 : 0;
    }, 3);
    if ($r && $r->{status} == 200 && $slot && !$on{ $slot - 1 }) { $on{ $slot - 1 } = $k }
    else { $k->close }
}
is(scalar(keys %on), 2, 'two keep-alive connections, one on each worker');
my @alt = map { origin_of($on{ $_ % 3 == 2 ? 1 : 0 }->get("/rr/alt-$_")) } 0 .. 29;
$_->close for values %on;
my $distinct = 1;
for my $i (0 .. $#alt - 2) {
    my %w = map { $_ => 1 } @alt[$i .. $i + 2];
    $distinct = 0 unless keys %w == 3 && !grep { !/^[abc]$/ } keys %w;
}
ok($distinct, 'requests over the two workers: every 3 consecutive ones go to 3 different servers')
    or diag("@alt");

$n = spread($port, 600, '/w31/x');
within($n->{a}, 427, 473, 'weights 3:1, server of weight 3');
within($n->{b}, 142, 158, 'weights 3:1, server of weight 1');

# Smooth: on one connection (nothing else in flight, so the shared position
# is ours alone), weights 5:1:1 never send five in a row to the heavy one.
my $c = Cerb::Conn->new($port);
my @seq = map { origin_of($c->get('/w511/x')) } 1 .. 70;
$c->close;
my $windows_ok = 1;
for my $i (0 .. $#seq - 6) {
    my %w;
    $w{$_}++ for @seq[$i .. $i + 6];
    $windows_ok = 0 unless ($w{a} // 0) == 5 && ($w{b} // 0) == 1 && ($w{c} // 0) == 1;
}
ok($windows_ok, 'weights 5:1:1: every 7 consecutive requests go 5, 1 and 1')
    or diag("@seq");
my $longest = 0;
for (join('', @seq) =~ /(a+)/g) { $longest = length if length > $longest }
cmp_ok($longest, '<', 5, "smooth: the heavy server never gets 5 in a row (longest run $longest)")
    or diag("@seq");

# ---- random -------------------------------------------------------------------

$n = spread($port, 300, '/rnd/x');
within($n->{$_}, 50, 150, "random, 300 requests: server $_") for qw(a b c);
is(total($n), 300, 'random: every request answered by a server');

# ---- least_conn, across workers -----------------------------------------------

# Slow requests on fresh connections, one at a time: each must land on a
# server with the fewest in progress, whichever worker takes it.
my @held;
sub hold {
    my ($path) = @_;
    my ($pool) = $path =~ m{^/(\w+)/};
    my $want = 1 + grep { $_->{pool} eq $pool } @held;
    my $k = Cerb::Conn->new($port);
    $k->send_raw("GET $path HTTP/1.1\r\nHost: a\r\n\r\n");
    $k->{pool} = $pool;
    push @held, $k;
    return wait_for(sub { total(conns($pool)) == $want }, 5);
}
my $t0 = time;
ok(hold("/lc/held-1?delay_ms=3000"), 'least_conn: first slow request in progress');
ok(hold("/lc/held-2?delay_ms=3000"), 'least_conn: second slow request in progress');
my $cn = conns('lc');
my ($idle) = grep { $cn->{$_} == 0 } sort keys %$cn;
is(scalar(grep { $cn->{$_} == 1 } keys %$cn), 2, 'the two went to two different servers')
    or diag(explain($cn));

# Now every request must go to the idle server, whichever worker takes it.
$before = worker_requests();
my (%lc, $settled);
for my $i (1 .. 20) {
    $lc{ origin_of(http_get($port, "/lc/fast-$i")) }++;
    # Wait for the request's place to be given back before the next one.
    $settled = wait_for(sub { total(conns('lc')) == 2 }, 3) or last;
}
$after = worker_requests();
ok($settled, 'fast requests end');
is_deeply(\%lc, { $idle // 'idle' => 20 },
          "least_conn: 20 fast requests all go to the idle server ($idle)");
note('workers that took them: ' . join ', ',
     map { "$_: " . ($after->{$_} - ($before->{$_} // 0)) } sort keys %$after);

ok(hold("/lc/held-3?delay_ms=3000"), 'a third slow request');
is_deeply(conns('lc'), { a => 1, b => 1, c => 1 }, 'it went to the idle server: one each');
my $even = 1;
for my $i (4 .. 6) {
    hold("/lc/held-$i?delay_ms=3000") or ($even = 0, last);
    my @v = sort { $a <=> $b } values %{ conns('lc') };
    $even = 0 if $v[-1] - $v[0] > 1;
}
ok($even, 'three more, each to a least loaded server');
is_deeply(conns('lc'), { a => 2, b => 2, c => 2 }, 'two in progress on each server');

# Per unit of weight: with weights 2 and 1, six slow requests go 4 and 2.
my $held_ok = 1;
for my $i (1 .. 6) { hold("/lcw/held-$i?delay_ms=3000") or $held_ok = 0 }
ok($held_ok, 'least_conn, weights 2:1: six slow requests in progress');
is_deeply(conns('lcw'), { a => 4, b => 2 }, 'four on the server of weight 2, two on the other');
note(sprintf 'held for %.1f s', time - $t0);
is(scalar(grep { my $r = $_->read_response(timeout => 10); $r && $r->{status} == 200 } @held),
   12, 'the slow requests are answered');
$_->close for @held;
@held = ();
ok(wait_for(sub { total(conns('lc')) + total(conns('lcw')) == 0 }, 5), 'and nothing is left in progress');

# ---- hashing ------------------------------------------------------------------

# key -> origin name over $n fresh connections each; undef when they differ.
sub keyed {
    my ($reps, $make) = @_;
    my (%map, %servers);
    my $same = 1;
    for my $k (1 .. 45) {
        my %got;
        $got{ origin_of(http_get($port, $make->($k, $_))) }++ for 1 .. $reps;
        my @s = keys %got;
        $same = 0 if @s != 1 || $s[0] !~ /^[abc]$/;
        $map{$k} = @s == 1 ? $s[0] : undef;
        $servers{$_}++ for @s;
    }
    return (\%map, $same, scalar keys %servers);
}

my ($user_map, $same, $nserv) = keyed(5, sub { ("/hdr/x?n=$_[1]", 'X-User' => "user-$_[0]") });
ok($same, 'hash by header: each X-User goes to the same server every time');
is($nserv, 3, 'and 45 users spread over the 3 servers');
$n = spread($port, 60, '/hdr/x');
within($n->{$_}, 15, 25, "no X-User: round robin, server $_") for qw(a b c);

(my $m, $same, $nserv) = keyed(4, sub { ("/ck/x?n=$_[1]", Cookie => "a=1; sid=s$_[0]; z=$_[1]") });
ok($same, 'hash by cookie: each sid goes to the same server every time, among other cookies');
is($nserv, 3, 'and 45 sids spread over the 3 servers');
$n = spread($port, 60, '/ck/x', Cookie => 'other=1');
within($n->{$_}, 15, 25, "no sid cookie: round robin, server $_") for qw(a b c);

($m, $same, $nserv) = keyed(4, sub { ("/uri/page-$_[0]") });
ok($same, 'hash by uri: each target goes to the same server every time');
is($nserv, 3, 'and 45 targets spread over the 3 servers');

($m, $same, $nserv) = keyed(4, sub { ("/qid/x?a=$_[1]&id=$_[0]&b=" . ($_[1] * 7)) });
ok($same, 'hash by query parameter: each id goes to the same server, whatever the other parameters');
is($nserv, 3, 'and 45 ids spread over the 3 servers');
$n = spread($port, 60, '/qid/x?ident=1');
within($n->{$_}, 15, 25, "no id parameter: round robin, server $_") for qw(a b c);

$n = spread($port, 30, '/iph/x');
is(scalar(keys %$n), 1, 'ip_hash: every request from 127.0.0.1 goes to one server')
    or diag(explain($n));
ok((keys %$n)[0] =~ /^[abc]$/, 'and it is answered');

# ---- config state, backup, consistent hashing on a reload ---------------------------

$n = spread($port, 30, '/st/x');
is_deeply($n, { c => 30 }, 'servers in state "drain" and "disabled" get no request');

$n = spread($port, 60, '/bk/x');
ok(!$n->{c} && $n->{a} && $n->{b} && $n->{a} + $n->{b} == 60, 'the backup gets nothing while the primaries are up')
    or diag(explain($n));

# Disable the server with the most users in the hash pool, and both
# primaries of the backup pool.
my %users;
$users{$_}++ for values %$user_map;
my ($gone) = sort { $users{$b} <=> $users{$a} || $a cmp $b } keys %users;
$t->write_conf(conf("hdr_$gone" => 'disabled', bk_a => 'disabled', bk_b => 'drain'));
my ($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, "reload with server $gone of the hash pool disabled") or diag($err);

my ($moved, $kept, $back) = (0, 0, 0);
for my $k (sort keys %$user_map) {
    my %got;
    $got{ origin_of(http_get($port, "/hdr/x?n=$_", 'X-User' => "user-$k")) }++ for 1 .. 3;
    my @s = keys %got;
    if ($user_map->{$k} eq $gone) {
        $moved++ if @s == 1 && $s[0] ne $gone && $s[0] =~ /^[abc]$/;
    } else {
        $kept++ if @s == 1 && $s[0] eq $user_map->{$k};
    }
}
is($moved, $users{$gone}, "the $users{$gone} users of $gone move, each to one other server");
is($kept, 45 - $users{$gone}, 'every other user keeps its server');

$n = spread($port, 30, '/bk/x');
is_deeply($n, { c => 30 }, 'primaries disabled and drained: the backup takes every request');

$t->write_conf(conf());
($rc, $out, $err) = $t->ctl('reload');
is($rc, 0, 'reload with every server up again') or diag($err);
for my $k (sort keys %$user_map) {
    $back++ if origin_of(http_get($port, "/hdr/x", 'X-User' => "user-$k")) eq $user_map->{$k};
}
is($back, 45, 'every user is back on its first server');
$n = spread($port, 60, '/bk/x');
ok(!$n->{c} && $n->{a} && $n->{b} && $n->{a} + $n->{b} == 60, 'the primaries take over again from the backup')
    or diag(explain($n));

# ---- max_conns --------------------------------------------------------------------

my @slow = map {
    my $k = Cerb::Conn->new($port);
    $k->send_raw("GET /mc1/slow-$_?delay_ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n");
    $k;
} 1 .. 2;
my @slow2 = map {
    my $k = Cerb::Conn->new($port);
    $k->send_raw("GET /mc2/slow-$_?delay_ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n");
    $k;
} 1 .. 2;
ok(wait_for(sub { total(conns('mc1')) == 2 && total(conns('mc2')) == 2 }, 5),
   'max_conns: slow requests in progress') or diag(explain(conns('mc1'), conns('mc2')));
is_deeply(conns('mc2'), { a => 1, b => 1 }, 'one on each server of max_conns 1');
$t0 = time;
my $r = http_get($port, '/mc1/third');
my $dt = time - $t0;
is($r->{status}, 503, 'the only server holds max_conns = 2 requests: the third gets 503');
cmp_ok($dt, '<', 1, sprintf('at once, not queued (%.2f s)', $dt));
ok(!defined $r->{headers}{'x-origin'}, 'from cerberus itself');
$t0 = time;
$r = http_get($port, '/mc2/third');
$dt = time - $t0;
is($r->{status}, 503, 'two servers of max_conns 1, both busy: the third gets 503');
cmp_ok($dt, '<', 1, sprintf('at once (%.2f s)', $dt));
is(scalar(grep { my $x = $_->read_response(timeout => 5); $x && $x->{status} == 200 } @slow, @slow2),
   4, 'the slow requests are answered');
$_->close for @slow, @slow2;
ok(wait_for(sub { total(conns('mc1')) == 0 && total(conns('mc2')) == 0 }, 5), 'their places are given back');
is(origin_of(http_get($port, '/mc1/after')), 'a', 'then the server takes requests again');

# ---- tcp listener -----------------------------------------------------------------

my %l4;
$l4{ origin_of(http_get($t->port('l4'), "/l4-$_")) }++ for 1 .. 60;
within($l4{$_}, 15, 25, "tcp listener, 60 connections, round robin: server $_") for qw(a b c);

# max_conns counts relayed connections: a second one is closed at once.
my $k1 = Cerb::Conn->new($t->port('l4mc'));
$k1->send_raw("GET /held?delay_ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n");
ok(wait_for(sub { total(conns('tcpmc')) == 1 }, 5), 'tcp listener, max_conns = 1: one connection relayed');
my $k2 = Cerb::Conn->new($t->port('l4mc'));
$k2->send_raw("GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
$t0 = time;
is($k2->read_response(timeout => 3), undef, 'a second one is closed without an answer');
cmp_ok(time - $t0, '<', 1, 'at once');
$k2->close;
is(origin_of($k1->read_response(timeout => 5)), 'a', 'the first is answered');
$k1->close;
ok(wait_for(sub { total(conns('tcpmc')) == 0 }, 5), 'and its place is given back');
is(origin_of(http_get($t->port('l4mc'), '/third')), 'a', 'so the next connection is relayed');

$t->done;
