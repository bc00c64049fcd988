# Issue 12, point 8 and the Date part of point 21.
#  - A request cerberus answers itself (404, return, 401) that carried
#    Expect: 100-continue and whose body it did not read is answered with
#    Connection: close and the connection closes: what the client sends
#    next (its body, or its next request) is never guessed at, so a
#    pipelined request is never swallowed as a body.
#  - Every response carries a Date (RFC 9110 6.6.1): a proxied one
#    without it gets cerberus's, one with it keeps the server's.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Cerb;

my $t = Cerb->new;

my $dated = $t->fake_server(sub {
    my ($s) = @_;
    my $buf = '';
    while (defined(my $head = read_head($s, \$buf))) {
        syswrite($s, "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                   . "Content-Length: 3\r\n\r\nok\n");
    }
});

$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 1;
listeners = ( { name = "web"; address = "127.0.0.1:%%PORT:web%%"; } );
pools = (
  { name = "app"; servers = ( { address = "127.0.0.1:%%ORIGIN:s%%"; } ); },
  { name = "dated"; servers = ( { address = "127.0.0.1:$dated"; } ); }
);
consumers = ( { name = "acme"; api_keys = [ "acme-key" ]; } );
routes = (
  { name = "ret"; path_prefix = "/ret/"; return = { status = 200; body = "here\\n"; }; },
  { name = "key"; path_prefix = "/key/"; pool = "app"; auth = { api_key = { header = "X-Key"; }; }; },
  { name = "dated"; path_prefix = "/dated/"; pool = "dated"; },
  { name = "app"; path_prefix = "/app/"; pool = "app"; }
);
EOF
ok($t->start, 'started');
my $port = $t->port('web');
my $log = $t->dir . '/origin-s.requests';
my $imf = qr/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

# ---- Expect: 100-continue answered here --------------------------------------
my $i = 0;
for my $case ([ 'no route (404)', '/nowhere', 404 ],
              [ 'a return route', '/ret/x', 200 ],
              [ 'auth refused (401)', '/key/x', 401 ]) {
    my ($name, $path, $want) = @$case;
    $i++;
    # The next request is exactly as long as the announced body: read as
    # the body, it would vanish.
    my $next = "GET /app/next-$i HTTP/1.1\r\nHost: a\r\n\r\n";
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST $path HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
               . "Content-Length: " . length($next) . "\r\n\r\n$next");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, $want, "Expect, $name: $want");
    is($r && $r->{headers}{connection}, 'close', "Expect, $name: Connection: close");
    ok($c->closed(3), "Expect, $name: the connection closes");
    # The same with Transfer-Encoding: chunked.
    my $c2 = Cerb::Conn->new($port);
    $c2->send_raw("POST $path HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                . "Transfer-Encoding: chunked\r\n\r\n");
    my $r2 = $c2->read_response(timeout => 3);
    is($r2 && $r2->{headers}{connection}, 'close', "Expect, chunked, $name: Connection: close");
}
# Without Expect, a small body is read and skipped: the connection goes on.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
               . "GET /app/after-body HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, 404, 'no Expect: 404');
    isnt($r && $r->{headers}{connection} // '', 'close', 'and the connection stays');
    my $r2 = $c->read_response(timeout => 3);
    is(json_body($r2) && json_body($r2)->{path}, '/app/after-body', 'the next request is answered');
}
# Expect on a proxied route still reaches the server with its body.
{
    my $c = Cerb::Conn->new($port);
    $c->send_raw("POST /app/expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->{status}, 100, 'proxied Expect: 100 Continue from the server');
    $c->send_raw('abc');
    my $r2 = $c->read_response(timeout => 3);
    is(json_body($r2) && json_body($r2)->{body_length}, 3, 'then the body went');
}

# ---- Date ------------------------------------------------------------------
{
    my $before = time;
    my $r = http_get($port, '/app/date');
    my $d = $r && $r->{headers}{date};
    like($d // '', $imf, 'a proxied response without Date gets one (IMF-fixdate)');
    my @dates = grep { lc $_->[0] eq 'date' } @{ $r->{header_list} || [] };
    is(scalar @dates, 1, 'one');
    my %mon; @mon{qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)} = 0 .. 11;
    my ($dd, $mm, $yy, $h, $m, $sec) = ($d // '') =~ /^\w+, (\d\d) (\w+) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
    my $at = defined $sec ? timegm($sec, $m, $h, $dd, $mon{$mm}, $yy) : 0;
    ok($at >= int($before) - 1 && $at <= time + 1, 'and it is now') or diag($d);
}
{
    my $r = http_get($port, '/dated/x');
    is($r && $r->{headers}{date}, 'Sun, 06 Nov 1994 08:49:37 GMT', "the server's Date is kept, alone");
}
for my $case ([ '404', '/none' ], [ 'return', '/ret/x' ], [ '401', '/key/x' ]) {
    my $r = http_get($port, $case->[1]);
    like($r && $r->{headers}{date} // '', $imf, "cerberus's own $case->[0] has a Date");
}
{
    my $r = http_raw($port, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
    like($r && $r->{headers}{date} // '', $imf, 'and its 405');
    my $b = http_raw($port, "GET /x HTTP/1.1\r\n\r\n");
    like($b && $b->{headers}{date} // '', $imf, 'and its 400');
}

# ---- no request was swallowed or misread -----------------------------------
http_get($port, '/app/sentinel');
ok(wait_for(sub { slurp($log) =~ m{^GET /app/sentinel$}m }, 5), 'the origin logs requests');
my @lines = split /\n/, slurp($log);
is_deeply([ grep { m{next-} } @lines ], [], 'no request sent as a body was answered')
    or diag(join "\n", @lines);

diag(slurp($t->error_log)) unless Test::More->builder->is_passing;
$t->done;
