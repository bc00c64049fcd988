# TLS 1.2 session resumption without tickets: a session-ID cache shared by
# every worker (tls_session_cache), so a client that does not do tickets
# resumes on whichever worker its next connection lands; TLS 1.3 and 1.2
# tickets still resume; "off" turns the cache off.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cerb;
use CerbTLS;

my $t = Cerb->new;
my $pki = CerbTLS->new($t->dir);
$pki->ca('ca');
$pki->leaf('a', dns => ['a.test']);
my $conf = <<'CONF';
%%PREAMBLE%%
workers = 2;
%%CACHE%%
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:tls%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; } ); }; },
  { name = "notickets"; address = "127.0.0.1:%%PORT:notickets%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; } );
            session_tickets = false; }; }
);
routes = ( { name = "ok"; path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
CONF
sub conf_with {
    my ($line) = @_;
    (my $c = $conf) =~ s/%%CACHE%%/$line/;
    $t->write_conf($c);
}
my $sess = $t->dir . '/sess.pem';

# A full handshake saving the session, then $n reconnects offering it:
# how many resumed, and the last output.
sub resumes {
    my ($port, $n, @args) = @_;
    unlink $sess;
    my @c = ($port, '-servername', 'a.test', '-ign_eof', @args);
    my $r = s_client(@c, '-sess_out', $sess, { send => "GET / HTTP/1.0\r\n\r\n" });
    return (-1, "first: $r->{out}") unless $r->{new};
    return (0, 'no session to resume') unless -s $sess;
    my ($reused, $last) = (0, '');
    for (1 .. $n) {
        my $x = s_client(@c, '-sess_in', $sess, { send => "GET / HTTP/1.0\r\n\r\n" });
        $reused++ if $x->{reused};
        $last = $x->{out};
    }
    return ($reused, $last);
}

sub handshakes { map { $_->{tls_handshakes} // 0 } sort { $a->{slot} <=> $b->{slot} } $t->workers }

conf_with('');
ok($t->start, 'started with the default cache');
my @h0 = handshakes();
my ($n, $out) = resumes($t->port('tls'), 10, '-tls1_2', '-no_ticket');
is($n, 10, 'TLS 1.2 without tickets: 10 of 10 reconnects resumed') or diag($out);
my @h1 = handshakes();
note("TLS handshakes per worker: before @h0, after @h1");
my $both = grep { $h1[$_] > ($h0[$_] // 0) } 0 .. $#h1;
SKIP: {
    skip 'every connection landed on one worker', 1 if $both < 2;
    pass('the connections landed on both workers and resumed on both');
}

($n, $out) = resumes($t->port('notickets'), 4, '-tls1_2');
is($n, 4, 'TLS 1.2 on a listener without tickets: resumed') or diag($out);

($n, $out) = resumes($t->port('tls'), 4, '-tls1_2');
is($n, 4, 'TLS 1.2 with tickets: resumed') or diag($out);

($n, $out) = resumes($t->port('tls'), 4, '-tls1_3');
is($n, 4, 'TLS 1.3 (tickets): resumed') or diag($out);

# The cache outlives a generation: a session of the old workers resumes on
# the new ones.
unlink $sess;
my $r = s_client($t->port('tls'), '-servername', 'a.test', '-tls1_2', '-no_ticket',
                 '-sess_out', $sess, { send => "GET / HTTP/1.0\r\n\r\n" });
my @old = map { $_->{pid} } $t->workers;
my ($rc) = $t->ctl('reload');
is($rc, 0, 'reload');
ok(wait_for(sub { my @w = $t->workers; @w == 2 && !grep { my $p = $_->{pid}; grep { $_ == $p } @old } @w }, 10),
   'new workers');
$r = s_client($t->port('tls'), '-servername', 'a.test', '-tls1_2', '-no_ticket',
              '-sess_in', $sess, { send => "GET / HTTP/1.0\r\n\r\n" });
ok($r->{reused}, 'resumed by a worker of the new generation') or diag($r->{out});
$t->stop;

# ---- "off" -----------------------------------------------------------------------------
conf_with('tls_session_cache = "off";');
ok($t->start, 'started with tls_session_cache = "off"');
($n, $out) = resumes($t->port('tls'), 3, '-tls1_2', '-no_ticket');
is($n, 0, 'off: TLS 1.2 without tickets does not resume');
($n, $out) = resumes($t->port('tls'), 3, '-tls1_2');
is($n, 3, 'off: TLS 1.2 tickets still resume') or diag($out);
$t->stop;

# ---- a small size ------------------------------------------------------------------------
conf_with('tls_session_cache = "16k";');
ok($t->start, 'started with tls_session_cache = "16k"');
($n, $out) = resumes($t->port('tls'), 3, '-tls1_2', '-no_ticket');
is($n, 3, '16k: TLS 1.2 without tickets resumes') or diag($out);
$t->stop;

# ---- config errors -------------------------------------------------------------------------
my $f = $t->conf_path;
for my $case (['"lots"', 'tls_session_cache: invalid size "lots": '],
              ['"2g"', 'tls_session_cache: 2g is out of range (0 to 1073741824)'],
              ['true', 'tls_session_cache: expected a size string such as "16k" or "8M", got true or false']) {
    conf_with("tls_session_cache = $case->[0];");
    my @lines = split /\n/, slurp($f);
    my ($line) = grep { $lines[$_ - 1] =~ /tls_session_cache/ } 1 .. @lines;
    $case->[1] = "$f:$line: $case->[1]";
    my ($rc2, $o, $e) = $t->ctl('check');
    isnt($rc2, 0, "tls_session_cache = $case->[0]: check fails");
    like($e, qr/^\Q$case->[1]\E/m, "tls_session_cache = $case->[0]: the error") or diag($e);
}
conf_with('tls_session_cache = "off";');
my ($rc3, $o3, $e3) = $t->ctl('check');
is($rc3, 0, '"off" checks') or diag($e3);
$t->done;
