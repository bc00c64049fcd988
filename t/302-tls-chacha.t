# Cipher choice: the server's order (prefer_server_ciphers), except that a
# client listing ChaCha20 first (no AES hardware, as on many phones) gets
# ChaCha20, in TLS 1.2 and 1.3 (SSL_OP_PRIORITIZE_CHACHA, as nginx and
# HAProxy do).
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
$t->write_conf(<<'CONF');
%%PREAMBLE%%
workers = 1;
listeners = (
  { name = "tls"; address = "127.0.0.1:%%PORT:tls%%";
    tls = { certificates = ( { cert = "a.pem"; key = "a.key"; } ); }; }
);
routes = ( { name = "ok"; path_prefix = "/"; return = { status = 200; body = "ok\n"; }; } );
CONF
ok($t->start, 'started');
my $port = $t->port('tls');

sub cipher {
    my (@args) = @_;
    my $r = s_client($port, '-servername', 'a.test', @args);
    diag($r->{out}) unless $r->{cipher};
    return $r->{cipher} // '';
}

# TLS 1.2
is(cipher('-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256'),
   'ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS 1.2: a client preferring ChaCha20 gets it');
is(cipher('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256'),
   'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS 1.2: otherwise the server order');

# TLS 1.3
is(cipher('-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256'),
   'TLS_CHACHA20_POLY1305_SHA256', 'TLS 1.3: a client preferring ChaCha20 gets it');
is(cipher('-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384'),
   'TLS_CHACHA20_POLY1305_SHA256', 'TLS 1.3: ... even when it offers AES-256 too');
is(cipher('-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256'),
   'TLS_AES_256_GCM_SHA384', 'TLS 1.3: otherwise the server order');
$t->done;
