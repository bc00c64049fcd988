# Sticky sessions: the cookie cerberus sets names the server (opaquely) and
# brings the client back to it over fresh connections and both workers;
# a server that cannot take the request (drained, disabled, dead) hands the
# client over with a new cookie; forged cookies are ignored; the cookie's
# attributes; stickiness by client address.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;

my $t = Cerb->new;
my ($A, $B, $C, $D, $E, $F) = map { $t->origin($_) } qw(a b c d e f);

sub conf {
    my (%st) = @_;
    my $s = sub { $st{ $_[0] } ? qq( state = "$st{$_[0]}";) : '' };
    return <<"EOF";
%%PREAMBLE%%
workers = 2;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "st"; sticky = { cookie = "srv"; };
    servers = ( { address = "127.0.0.1:$A";@{[ $s->('a') ]} }, { address = "127.0.0.1:$B"; },
                { address = "127.0.0.1:$C";@{[ $s->('c') ]} } ); },
  { name = "attr"; sticky = { cookie = "srv2"; max_age = "1h"; secure = true; samesite = "strict"; };
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; } ); },
  { name = "hst"; balance = "hash"; key = "header:X-User"; sticky = { cookie = "hs"; };
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); },
  { name = "kp"; sticky = { cookie = "ks"; };
    servers = ( { address = "127.0.0.1:$D"; }, { address = "127.0.0.1:$E"; }, { address = "127.0.0.1:$F"; } ); },
  { name = "full"; sticky = { cookie = "fc"; };
    servers = ( { address = "127.0.0.1:$A"; max_conns = 1; }, { address = "127.0.0.1:$B"; } ); },
  { name = "sip"; sticky = { source = "ip"; };
    servers = ( { address = "127.0.0.1:$A"; }, { address = "127.0.0.1:$B"; }, { address = "127.0.0.1:$C"; } ); }
);
routes = (
  { path_prefix = "/st/"; pool = "st"; },
  { path_prefix = "/attr/"; pool = "attr"; },
  { path_prefix = "/hst/"; pool = "hst"; },
  { path_prefix = "/kp/"; pool = "kp"; },
  { path_prefix = "/full/"; pool = "full"; },
  { path_prefix = "/sip/"; pool = "sip"; }
);
EOF
}
$t->write_conf(conf());
ok($t->start, 'started') or BAIL_OUT('cerberus did not start');
my $port = $t->port('web');

sub set_cookie { my ($r) = @_; return $r && $r->{headers}{'set-cookie'} }
sub cookie_value {
    my ($r, $name) = @_;
    my $sc = set_cookie($r) // '';
    return $sc =~ /^\Q$name\E=([^;]*)/ ? $1 : undef;
}

# Requests without a cookie until every server of the pool has answered:
# server -> the cookie value it was given with (undef if inconsistent).
sub learn {
    my ($path, $name, $servers, %h) = @_;
    my (%tok, %seen);
    for (1 .. 4 * @$servers) {
        my $r = http_get($port, $path, %h);
        my $w = origin_of($r);
        my $v = cookie_value($r, $name);
        $seen{$w}{ $v // '(none)' }++;
    }
    for my $s (keys %seen) {
        my @v = keys %{ $seen{$s} };
        $tok{$s} = @v == 1 ? $v[0] : undef;
    }
    return \%tok;
}

# ---- the cookie ------------------------------------------------------------

my $r = http_get($port, '/st/first');
is($r->{status}, 200, 'a first request without cookie is served');
like(set_cookie($r), qr/^srv=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/,
     'and gets Set-Cookie: srv=<22 base64url characters>; Path=/; HttpOnly; SameSite=Lax');

my $tok = learn('/st/learn', 'srv', [qw(a b c)]);
is_deeply([sort keys %$tok], [qw(a b c)], 'balanced as usual: every server gets cookieless clients');
ok(!grep({ !defined $tok->{$_} || $tok->{$_} !~ /^[A-Za-z0-9_-]{22}$/ } qw(a b c)),
   'each server is always named by the same value') or diag(explain($tok));
my %distinct = map { ($_ // '') => 1 } values %$tok;
is(scalar(keys %distinct), 3, 'one value per server');
my @leaks = grep { my $v = $tok->{$_} // ''; $v =~ /127|$A|$B|$C/ } qw(a b c);
ok(!@leaks, 'the value shows neither the address nor the port of its server');

# Back to the same server, over fresh connections (both workers), with no
# new cookie.
for my $s (qw(a b c)) {
    my (%got, $again);
    for my $i (1 .. 20) {
        my $x = http_get($port, "/st/s-$i", Cookie => "srv=$tok->{$s}");
        $got{ origin_of($x) }++;
        $again++ if set_cookie($x);
    }
    is_deeply(\%got, { $s => 20 }, "cookie of server $s: 20 requests, all to $s");
    ok(!$again, 'and no new cookie');
}
my $c = Cerb::Conn->new($port);
my %ka;
$ka{ origin_of($c->get("/st/ka-$_", Cookie => "theme=dark; srv=$tok->{b}; lang=en")) }++ for 1 .. 10;
$c->close;
is_deeply(\%ka, { b => 10 }, 'among other cookies, on one keep-alive connection: always b');

my $q = http_get($port, '/st/quoted', Cookie => qq(srv="$tok->{c}"));
is(origin_of($q), 'c', 'a quoted cookie value works too');
ok(!set_cookie($q), 'and is not issued again');

# Values that name no server of the pool: balanced, and a new cookie.
my $other = cookie_value(http_get($port, '/attr/x'), 'srv2');
my $flip = $tok->{a};
substr($flip, 5, 1) = substr($flip, 5, 1) eq 'A' ? 'B' : 'A';
for my $bad ('garbage', 'A' x 22, $other, $flip, '', "$tok->{a}x") {
    my %got;
    my $fine = 1;
    for my $i (1 .. 6) {
        my $x = http_get($port, "/st/bad-$i", Cookie => "srv=$bad");
        my $w = origin_of($x);
        $got{$w}++;
        $fine = 0 unless $w =~ /^[abc]$/ && (cookie_value($x, 'srv') // '') eq ($tok->{$w} // '-');
    }
    ok($fine, "a cookie \"srv=$bad\" is ignored: served, with a new cookie naming the server");
    cmp_ok(scalar(keys %got), '>=', 2, 'and balanced as usual') or diag(explain(\%got));
}

# The cookie wins over the pool's balance (here: hash by header).
my $htok = learn('/hst/learn', 'hs', [qw(a b c)]);
my $home = origin_of(http_get($port, '/hst/x', 'X-User' => 'alice'));
my ($away) = grep { $_ ne $home } sort keys %$htok;
my %h;
$h{ origin_of(http_get($port, "/hst/x-$_", 'X-User' => 'alice', Cookie => "hs=$htok->{$away}")) }++ for 1 .. 10;
is_deeply(\%h, { $away => 10 }, "the cookie sends alice to $away, not to her hash's server $home");

# ---- attributes ----------------------------------------------------------------

$r = http_get($port, '/attr/x');
like(set_cookie($r), qr/^srv2=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=3600; Secure; HttpOnly; SameSite=Strict$/,
     'max_age = "1h", secure, samesite = "strict": Max-Age=3600; Secure; SameSite=Strict');
my $atok = learn('/attr/learn', 'srv2', [qw(a b)]);
ok($atok->{a} && $atok->{a} ne $tok->{a}, 'the same server has another value in another pool');

# ---- the server cannot take it ----------------------------------------------------

$t->write_conf(conf(a => 'drain', c => 'disabled'));
my ($rc, undef, $err) = $t->ctl('reload');
is($rc, 0, 'reload: a drained, c disabled') or diag($err);
for my $s (qw(a c)) {
    my $x = http_get($port, "/st/moved-$s", Cookie => "srv=$tok->{$s}");
    is(origin_of($x), 'b', "cookie of server $s, now " . ($s eq 'a' ? 'drained' : 'disabled') . ': served by b');
    is(cookie_value($x, 'srv'), $tok->{b}, 'with a new cookie naming b');
}
my $x = http_get($port, '/st/kept', Cookie => "srv=$tok->{b}");
is(origin_of($x), 'b', 'the cookie of b is still good after the reload (same key)');
ok(!set_cookie($x), 'and is not issued again');

$t->write_conf(conf());
($rc, undef, $err) = $t->ctl('reload');
is($rc, 0, 'reload: every server up again') or diag($err);
my %back;
$back{ origin_of(http_get($port, "/st/back-$_", Cookie => "srv=$tok->{a}")) }++ for 1 .. 10;
is_deeply(\%back, { a => 10 }, 'the cookie of a brings the client back to a');

# A full server (max_conns) hands its clients over too.
my $ftok = learn('/full/learn', 'fc', [qw(a b)]);
my $hold = Cerb::Conn->new($port);
$hold->send_raw("GET /full/held?delay_ms=1000 HTTP/1.1\r\nHost: a\r\nCookie: fc=$ftok->{a}\r\n\r\n");
ok(wait_for(sub { $t->status->{raw} =~ /^server=full 127\.0\.0\.1:$A .*\bconns=1\b/m }, 5),
   'server a holds its max_conns = 1 request');
$x = http_get($port, '/full/more', Cookie => "fc=$ftok->{a}");
is(origin_of($x), 'b', 'the next client of a is served by b');
is(cookie_value($x, 'fc'), $ftok->{b}, 'with a cookie naming b');
is(origin_of($hold->read_response(timeout => 5)), 'a', 'the held request is answered by a');
$hold->close;
ok(wait_for(sub { $t->status->{raw} =~ /^server=full 127\.0\.0\.1:$A .*\bconns=0\b/m }, 5), 'a has room again');
is(origin_of(http_get($port, '/full/again', Cookie => "fc=$ftok->{a}")), 'a', 'and takes its clients again');

# A dead server: its clients move, with a new cookie, and stay there.
my $ktok = learn('/kp/learn', 'ks', [qw(d e f)]);
is(scalar(grep { defined } values %$ktok), 3, 'cookies for d, e and f');
my $pf = $t->dir . '/origin-f.port';
my ($fpid) = grep { index(slurp("/proc/$_/cmdline"), "\0$pf\0") >= 0 }
             map { m{/(\d+)$} } glob '/proc/[0-9]*';
ok($fpid && kill('TERM', $fpid), 'origin f stopped');
waitpid($fpid, 0) if $fpid;
$x = http_get($port, '/kp/dead', Cookie => "ks=$ktok->{f}");
my $new = origin_of($x);
like($new, qr/^[de]$/, "cookie of dead server f: served by $new");
is(cookie_value($x, 'ks'), $ktok->{$new} // '-', "with a new cookie naming $new");
my %stay;
$stay{ origin_of(http_get($port, "/kp/stay-$_", Cookie => "ks=" . ($ktok->{$new} // ''))) }++ for 1 .. 10;
is_deeply(\%stay, { $new => 10 }, "then the new cookie keeps the client on $new");

# ---- by client address --------------------------------------------------------------

my (%ip, $sc);
for my $i (1 .. 30) {
    my $y = http_get($port, "/sip/x-$i");
    $ip{ origin_of($y) }++;
    $sc++ if set_cookie($y);
}
is(scalar(keys %ip), 1, 'source = "ip": every request from 127.0.0.1 goes to one server') or diag(explain(\%ip));
like((keys %ip)[0], qr/^[abc]$/, 'which answers');
ok(!$sc, 'and no cookie is set');

$t->done;
