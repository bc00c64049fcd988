# Upstream TLS: pools that re-encrypt to their servers, verifying the
# chain against ca and the name against sni (or the address), without
# verification, with a client certificate (mutual TLS), and resuming
# sessions. The TLS servers are cerberus listeners of the same daemon in
# front of t/origin (and, where the session must be seen, openssl s_server).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use IO::Socket::INET;
use Cerb;
use CerbTLS;

my $t = Cerb->new;
my $d = $t->dir;
my $pki = CerbTLS->new($d);
$pki->ca('ca');
$pki->ca('rogueca');
$pki->ca('clientca');
$pki->leaf('backend', dns => ['backend.test'], ip => ['127.0.0.1']);
$pki->leaf('rogue', ca => 'rogueca', dns => ['backend.test'], ip => ['127.0.0.1']);
$pki->leaf('noip', dns => ['backend.test']);
$pki->leaf('proxy', ca => 'clientca', subj => '/O=Cerberus Tests/CN=cerberus-proxy');

# openssl s_server -www answers with a page that says whether the session
# was "New" or "Reused": the one backend that shows resumption.
my $sport = free_port();
my $spid = fork // die;
if ($spid == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    open STDIN, '<', '/dev/null';
    { exec 'openssl', 's_server', '-accept', "127.0.0.1:$sport", '-cert', "$d/backend.pem",
           '-key', "$d/backend.key", '-www', '-naccept', 100 };
    POSIX::_exit(127);
}
push @{ $t->{origins} }, $spid;     # stopped by done
ok(wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sport") }, 5),
   'openssl s_server listens');

my $tls = sub { "tls = { certificates = ( { cert = \"$_[0].pem\"; key = \"$_[0].key\"; } ); $_[1] };" };
$t->write_conf(<<"EOF");
%%PREAMBLE%%
workers = 2;
listeners = (
  { name = "front"; address = "127.0.0.1:%%PORT:front%%"; },
  { name = "good"; address = "127.0.0.1:%%PORT:good%%"; ${\ $tls->('backend', '') } },
  { name = "rogue"; address = "127.0.0.1:%%PORT:rogue%%"; ${\ $tls->('rogue', '') } },
  { name = "noip"; address = "127.0.0.1:%%PORT:noip%%"; ${\ $tls->('noip', '') } },
  { name = "mtls"; address = "127.0.0.1:%%PORT:mtls%%";
    ${\ $tls->('backend', 'verify_client = "required"; client_ca = "clientca.pem";') } }
);
pools = (
  { name = "origin"; servers = ( { address = "127.0.0.1:%%ORIGIN:a%%"; } ); },
  { name = "verified"; servers = ( { address = "127.0.0.1:%%PORT:good%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; }; },
  { name = "by-address"; servers = ( { address = "127.0.0.1:%%PORT:good%%"; } );
    tls = { ca = "ca.pem"; }; },
  { name = "no-ip-san"; retries = 0; servers = ( { address = "127.0.0.1:%%PORT:noip%%"; } );
    tls = { ca = "ca.pem"; }; },
  { name = "untrusted"; retries = 0; servers = ( { address = "127.0.0.1:%%PORT:rogue%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; }; },
  { name = "unverified"; servers = ( { address = "127.0.0.1:%%PORT:rogue%%"; } );
    tls = { verify = false; }; },
  { name = "wrong-name"; retries = 0; servers = ( { address = "127.0.0.1:%%PORT:good%%"; } );
    tls = { ca = "ca.pem"; sni = "other.test"; }; },
  { name = "mtls"; servers = ( { address = "127.0.0.1:%%PORT:mtls%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; cert = "proxy.pem"; key = "proxy.key"; }; },
  { name = "mtls-nocert"; retries = 0; servers = ( { address = "127.0.0.1:%%PORT:mtls%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; }; },
  { name = "bulk"; read_timeout = "1s"; servers = ( { address = "127.0.0.1:%%PORT:good%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; }; },
  { name = "checked"; servers = ( { address = "127.0.0.1:%%PORT:good%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; };
    health = { path = "/health"; interval = "200ms"; timeout = "150ms"; rise = 1; fall = 1;
               initial = "down"; }; },
  { name = "checked-untrusted"; servers = ( { address = "127.0.0.1:%%PORT:rogue%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; };
    health = { path = "/health"; interval = "200ms"; timeout = "150ms"; rise = 1; fall = 1; }; },
  { name = "checked-tcp"; servers = ( { address = "127.0.0.1:%%PORT:mtls%%"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; cert = "proxy.pem"; key = "proxy.key"; };
    health = { type = "tcp"; interval = "200ms"; timeout = "150ms"; rise = 1; fall = 1;
               initial = "down"; }; },
  { name = "s_server"; keepalive = 0; servers = ( { address = "127.0.0.1:$sport"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; }; },
  { name = "s_server12"; keepalive = 0; servers = ( { address = "127.0.0.1:$sport"; } );
    tls = { ca = "ca.pem"; sni = "backend.test"; protocols = [ "TLSv1.2" ]; }; }
);
routes = (
  { name = "backends"; listeners = [ "good", "rogue", "noip", "mtls" ]; path_prefix = "/";
    pool = "origin"; },
  { path_prefix = "/verified/"; pool = "verified"; },
  { path_prefix = "/by-address/"; pool = "by-address"; },
  { path_prefix = "/no-ip-san/"; pool = "no-ip-san"; },
  { path_prefix = "/untrusted/"; pool = "untrusted"; },
  { path_prefix = "/unverified/"; pool = "unverified"; },
  { path_prefix = "/wrong-name/"; pool = "wrong-name"; },
  { path_prefix = "/mtls/"; pool = "mtls"; },
  { path_prefix = "/mtls-nocert/"; pool = "mtls-nocert"; },
  { path_prefix = "/bulk/"; pool = "bulk"; },
  { path_prefix = "/checked/"; pool = "checked"; },
  { path_prefix = "/checked-untrusted/"; pool = "checked-untrusted"; },
  { path_prefix = "/checked-tcp/"; pool = "checked-tcp"; },
  { path_prefix = "/s12/"; pool = "s_server12"; },
  { path_prefix = "/s/"; pool = "s_server"; }
);
EOF
my ($rc, $out, $err) = $t->ctl('check');
is($rc, 0, 'the config checks') or diag($out, $err);
ok($t->start, 'started') or BAIL_OUT('cannot start');
my $front = $t->port('front');

# The headers the origin received (through the TLS listener), name => [values].
sub seen { Cerb::origin_headers($_[0]) }
sub log_since { substr(slurp($t->error_log), $_[0]) }

# ---- verification succeeds ---------------------------------------------------
my $r = http_get($front, '/verified/x?y=1');
is($r->{status}, 200, 'ca + sni: the chain and the name verify: 200');
is($r->{headers}{'x-origin'}, 'a', '... through the TLS listener to the origin');
my $h = seen($r);
is_deeply($h->{'x-forwarded-proto'}, ['https'], '... which saw the request arrive over TLS');
is(json_body($r)->{target}, '/verified/x?y=1', '... with the target unchanged');
my $body = 'z' x 50000;
$r = http_request($front, 'POST', '/verified/post', body => $body);
is(json_body($r)->{body_length}, 50000, 'a 50 kB request body goes through the re-encryption');
# Large responses read from a TLS server (the pool's read_timeout is 1s,
# so that a stalled read costs little).
my $whole = 0;
for (1 .. 4) {
    my $x = http_get($front, '/bulk/big?size=300000');
    $whole++ if $x->{status} == 200 && length $x->{body} == 300000;
}
{
    is($whole, 4, 'four 300 kB responses come back whole through the re-encryption');
}

$r = http_get($front, '/by-address/');
is($r->{status}, 200, 'no sni, server 127.0.0.1: verified against the certificate\'s IP SAN: 200');

# Keep-alive to the TLS server: many requests, all fine.
my $c = Cerb::Conn->new($front);
my $ok = 0;
for (1 .. 20) { my $x = $c->get('/verified/ka'); $ok++ if $x && $x->{status} == 200 }
is($ok, 20, '20 requests on one client connection over pooled TLS connections: all 200');
$c->close;

# ---- verification fails --------------------------------------------------------
my $l0 = length slurp($t->error_log);
$r = http_get($front, '/untrusted/');
is($r->{status}, 502, 'a server whose certificate another CA signed: 502');
like(log_since($l0), qr/\[warn\] .*pool "untrusted": TLS handshake with 127\.0\.0\.1:\d+: certificate verify failed: unable to get local issuer certificate/,
     '... logged at warn: TLS handshake with ADDR: certificate verify failed')
    or diag(log_since($l0));

$l0 = length slurp($t->error_log);
$r = http_get($front, '/wrong-name/');
is($r->{status}, 502, 'sni = "other.test" for a certificate of backend.test: 502');
like(log_since($l0), qr/pool "wrong-name": TLS handshake with 127\.0\.0\.1:\d+: certificate verify failed: hostname mismatch/,
     '... logged as a hostname mismatch') or diag(log_since($l0));

$l0 = length slurp($t->error_log);
$r = http_get($front, '/no-ip-san/');
is($r->{status}, 502, 'no sni, server by IP, a certificate without that IP: 502');
like(log_since($l0), qr/pool "no-ip-san": TLS handshake with 127\.0\.0\.1:\d+: certificate verify failed: IP address mismatch/,
     '... logged as an IP address mismatch') or diag(log_since($l0));

$r = http_get($front, '/unverified/');
is($r->{status}, 200, 'verify = false: the untrusted server is used: 200');

# ---- mutual TLS ----------------------------------------------------------------
$r = http_get($front, '/mtls/who');
is($r->{status}, 200, 'cert + key: a server that requires a client certificate: 200');
$h = seen($r);
is_deeply($h->{'x-client-subject'}, ['CN=cerberus-proxy,O=Cerberus Tests'],
          '... and it saw the proxy\'s certificate');
$r = http_get($front, '/mtls-nocert/who');
is($r->{status}, 502, 'without cert: that server refuses: 502');

# ---- health checks of a TLS pool --------------------------------------------------
# Checks every 200ms, one to change the verdict; "checked" and
# "checked-tcp" start down and come up only by passing one.
sub health {
    my ($pool) = @_;
    my ($line) = $t->status->{raw} =~ /^server=\Q$pool\E 127\.0\.0\.1:\d+ (.*)$/m;
    my %h = ($line // '') =~ /(\w+)=(\S*)/g;
    ($h{last_error}) = ($line // '') =~ /last_error=(.*)$/;
    return \%h;
}
ok(wait_for(sub { health('checked')->{health} eq 'up' }, 3),
   'an HTTP health check through the pool\'s TLS passes: the server comes up');
is(http_get($front, '/checked/')->{status}, 200, '... and takes requests');
ok(wait_for(sub { health('checked-tcp')->{health} eq 'up' }, 3),
   'a tcp check of a TLS pool with a client certificate: the handshake passes, the server comes up');
ok(wait_for(sub { health('checked-untrusted')->{health} eq 'down' }, 3),
   'a server that fails verification fails its checks: down');
like(health('checked-untrusted')->{last_error}, qr/TLS handshake: certificate verify failed/,
     '... with the reason as the last error');
is(http_get($front, '/checked-untrusted/')->{status}, 503, '... and requests get 503');

# ---- session resumption to the servers ---------------------------------------------
# keepalive = 0: every request is a new connection, and each worker keeps
# the last session of the server. At most one full handshake per worker.
for my $v (['/s/', 'TLS 1.3'], ['/s12/', 'TLS 1.2']) {
    my ($new, $reused, $n) = (0, 0, 8);
    for (1 .. $n) {
        my $x = http_get($front, $v->[0]);
        $new++ if $x->{body} =~ /^New, /m;
        $reused++ if $x->{body} =~ /^Reused, /m;
    }
    is($new + $reused, $n, "$v->[1]: openssl s_server answered all $n requests");
    {
        cmp_ok($reused, '>=', $n - 2, "$v->[1]: upstream connections resume the worker's session");
    }
}

$t->done;
