# CerbTLS: certificates made at test time, and TLS clients, for the TLS
# tests. Nothing here is committed key material: every key is drawn in the
# test's temp dir when the test runs.
#
#   my $pki = CerbTLS->new($t->dir);
#   my $ca  = $pki->ca('ca');                         # ca.pem, ca.key
#   $pki->leaf('a', ca => 'ca', dns => ['a.test']);   # a.pem, a.key (P-256)
#   $pki->leaf('b', ca => 'ca', dns => ['b.test'], type => 'rsa', serial => 7);
#   my $r = s_client($port, '-servername', 'a.test');  # { out, rc, ... }
#   my $c = tls_conn($port, SSL_hostname => 'a.test'); # IO::Socket::SSL
package CerbTLS;

use strict;
use warnings;
use Exporter 'import';
use IO::Select;
use IO::Socket::SSL;
use File::Temp ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(s_client tls_conn tls_get peer_cert_info cert_info curl_https);

my $SERIAL = 0x1000 + int(rand(0x1000));

sub new {
    my ($class, $dir) = @_;
    return bless { dir => $dir }, $class;
}

sub path { "$_[0]{dir}/$_[1]" }

# Runs a command with its output captured; dies with it on failure.
sub openssl {
    my (@args) = @_;
    my ($rc, $out) = run('', 30, 'openssl', @args);
    die "openssl @args: exit $rc\n$out" if $rc != 0;
    return $out;
}

# Runs @cmd with $stdin as input, within $timeout seconds; returns (exit
# code, stdout and stderr together). -1 when it had to be killed.
sub run {
    my ($stdin, $timeout, @cmd) = @_;
    my $in = File::Temp->new;
    print $in $stdin;
    close $in;
    my $out = File::Temp->new;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', "$in" or die;
        open STDOUT, '>&', $out or die;
        open STDERR, '>&', $out or die;
        exec @cmd or POSIX::_exit(127);
    }
    my $deadline = time + $timeout;
    my $rc;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $rc = $? >> 8; last }
        if (time > $deadline) { kill 'KILL', $pid; waitpid($pid, 0); $rc = -1; last }
        sleep 0.005;
    }
    open my $f, '<', "$out" or die;
    local $/;
    my $text = <$f> // '';
    return ($rc, $text);
}

sub keygen {
    my ($self, $key, $type) = @_;
    if (($type // 'ec') eq 'rsa') {
        openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                '-out', $key);
    } else {
        openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
                '-out', $key);
    }
}

# A self-signed CA: NAME.pem and NAME.key (P-256 unless type => 'rsa').
sub ca {
    my ($self, $name, %o) = @_;
    my ($pem, $key) = ($self->path("$name.pem"), $self->path("$name.key"));
    $self->keygen($key, $o{type});
    openssl('req', '-x509', '-new', '-key', $key, '-subj', "/O=Cerberus Tests/CN=$name",
            '-days', 2, '-set_serial', $SERIAL++, '-out', $pem,
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    return $pem;
}

# A leaf signed by CA: NAME.pem and NAME.key. dns => [names] and ip =>
# [addresses] become the SANs; cn defaults to the first name, subj to
# /O=Cerberus Tests/CN=cn. type 'ec' (P-256) or 'rsa' (2048 bits);
# serial (a number) and days (negative: already expired) as given.
sub leaf {
    my ($self, $name, %o) = @_;
    my ($pem, $key) = ($self->path("$name.pem"), $self->path("$name.key"));
    my $ca = $o{ca} // 'ca';
    my $dns = $o{dns} // [];
    my $cn = $o{cn} // $dns->[0] // $name;
    $self->keygen($key, $o{type});
    my $csr = $self->path("$name.csr");
    openssl('req', '-new', '-key', $key, '-subj', $o{subj} // "/O=Cerberus Tests/CN=$cn",
            '-out', $csr);
    my $ext = $self->path("$name.ext");
    open my $f, '>', $ext or die "$ext: $!";
    print $f "basicConstraints=CA:FALSE\n";
    print $f "extendedKeyUsage=serverAuth,clientAuth\n";
    my @san = ((map { "DNS:$_" } @$dns), (map { "IP:$_" } @{ $o{ip} // [] }));
    print $f "subjectAltName=" . join(',', @san) . "\n" if @san;
    close $f;
    openssl('x509', '-req', '-in', $csr, '-CA', $self->path("$ca.pem"),
            '-CAkey', $self->path("$ca.key"), '-set_serial', $o{serial} // $SERIAL++,
            '-days', $o{days} // 2, '-extfile', $ext, '-out', $pem);
    return $pem;
}

# `openssl s_client` against 127.0.0.1:$port with @args; sends $o{send}
# (default: nothing, and the connection ends when the handshake is done).
# Returns { rc, out, protocol, cipher, new, reused, alpn } and, when a
# certificate came, pem and what cert_info says of it.
sub s_client {
    my ($port, @args) = @_;
    my %o = ref $args[-1] eq 'HASH' ? %{ pop @args } : ();
    my @cmd = ('openssl', 's_client', '-connect', "127.0.0.1:$port", @args);
    my ($rc, $out) = run($o{send} // '', $o{timeout} // 10, @cmd);
    my %r = (rc => $rc, out => $out);
    ($r{protocol}, $r{cipher}) = $out =~ /^(?:New|Reused), (TLSv[\d.]+), Cipher is (\S+)/m;
    $r{reused} = $out =~ /^Reused, TLS/m ? 1 : 0;
    $r{new} = $out =~ /^New, TLS/m ? 1 : 0;
    ($r{alpn}) = $out =~ /^ALPN protocol: (\S+)/m;
    if ($out =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/s) {
        $r{pem} = $1;
        %r = (%r, %{ cert_info($1) });
    }
    return \%r;
}

# An IO::Socket::SSL connection to 127.0.0.1:$port, or undef (the reason in
# $CerbTLS::error). Verification is off unless asked for.
our $error;
sub tls_conn {
    my ($port, %o) = @_;
    my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Timeout => 5, SSL_verify_mode => SSL_VERIFY_NONE,
                                 %o);
    $error = $s ? '' : ($SSL_ERROR || $! || 'failed');
    return $s;
}

# What a test checks of a certificate (an X509 handle or PEM text): cn,
# serial (hex, lower case), key_type (EC or RSA), subject (RFC 2253) and
# sha256 (the fingerprint, 64 lower-case hex digits).
sub cert_info {
    my ($x) = @_;
    my $bio;
    if (!ref $x && $x =~ /BEGIN CERTIFICATE/) {
        $bio = Net::SSLeay::BIO_new(Net::SSLeay::BIO_s_mem());
        Net::SSLeay::BIO_write($bio, $x);
        $x = Net::SSLeay::PEM_read_bio_X509($bio);
        Net::SSLeay::BIO_free($bio);
    }
    return {} unless $x;
    my $name = Net::SSLeay::X509_get_subject_name($x);
    my $key = Net::SSLeay::X509_get_pubkey($x);
    my %i = (
        cn => Net::SSLeay::X509_NAME_get_text_by_NID($name, &Net::SSLeay::NID_commonName),
        serial => lc Net::SSLeay::P_ASN1_INTEGER_get_hex(Net::SSLeay::X509_get_serialNumber($x)),
        key_type => Net::SSLeay::EVP_PKEY_bits($key) >= 2048 ? 'RSA' : 'EC',
        subject => Net::SSLeay::X509_NAME_print_ex($name, &Net::SSLeay::XN_FLAG_RFC2253),
        sha256 => unpack('H*', Net::SSLeay::X509_digest($x, Net::SSLeay::EVP_get_digestbyname('sha256'))),
    );
    Net::SSLeay::EVP_PKEY_free($key);
    Net::SSLeay::X509_free($x) if $bio;
    return \%i;
}

# The certificate the server sent on an IO::Socket::SSL connection.
sub peer_cert_info {
    my ($s) = @_;
    my $x = $s && $s->peer_certificate or return {};
    return cert_info($x);
}

# One GET over a TLS connection (Cerb::Conn-style response, from the
# harness's parser), or undef when the handshake fails.
sub tls_get {
    my ($port, $path, %o) = @_;
    my $hdrs = delete $o{headers} // {};
    my $s = tls_conn($port, %o) or return undef;
    my $c = Cerb::Conn::TLS->wrap($s);
    my $host = $hdrs->{Host} // $o{SSL_hostname} // 'localhost';
    my $req = "GET $path HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n";
    $req .= "$_: $hdrs->{$_}\r\n" for sort grep { $_ ne 'Host' } keys %$hdrs;
    my $r = $c->request("$req\r\n");
    $s->close(SSL_no_shutdown => 1);
    return $r;
}

# curl over HTTPS; returns (exit code, output).
sub curl_https {
    my (@args) = @_;
    return run('', 15, 'curl', '-sS', '--max-time', '10', @args);
}

# The harness's Cerb::Conn (request, get, read_response, closed) over an
# IO::Socket::SSL connection: Cerb::Conn::TLS->wrap(tls_conn(...)), undef
# if that failed. select on the socket misses bytes OpenSSL holds already,
# so pending() is asked first.
package Cerb::Conn::TLS;
our @ISA = ('Cerb::Conn');
use Time::HiRes qw(time);
sub wrap {
    my ($class, $s) = @_;
    return undef unless $s;
    $s->autoflush(1);
    return bless { sock => $s, buf => '', timeout => 10 }, $class;
}
# IO::Socket::SSL's syswrite may write one record of what it is given.
sub send_raw {
    my ($self, $d) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $d) {
        my $n = syswrite($self->{sock}, $d, length($d) - $off, $off);
        return undef unless $n;
        $off += $n;
    }
    return $off || '0 but true';
}
sub fill {
    my ($self, $deadline) = @_;
    my $s = $self->{sock};
    if (!$s->pending) {
        my $sel = IO::Select->new($s);
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
    }
    my $n = sysread($s, my $chunk, 65536);
    return 0 unless $n;
    $self->{buf} .= $chunk;
    return $n;
}

1;
