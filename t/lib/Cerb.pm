# Cerb: test harness for cerberus black-box tests.
#
#   my $t = Cerb->new;                      # temp dir, free ports
#   $t->write_conf(<<'EOF');                # %%PORT:name%% %%DIR%% %%PREAMBLE%%
#   $t->start;                              # `cerberus run`, waits until served
#   my $r = http_get($t->port('web'), '/'); # { status, headers, body }
#   $t->done;                               # stops, checks the logs, done_testing
#
# Every wait is bounded; only 127.0.0.1 and free ports are used.
package Cerb;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_REUSEADDR IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use Test::More;

our @EXPORT = qw(http_get http_request http_raw wait_for slurp free_port
                 cerberus_bin origin_bin read_head json_body origin_of spread);

use Cwd qw(abs_path);
my $SRC = abs_path($ENV{CERB_SRCDIR} // '.');
my $CERBERUS = abs_path($ENV{CERBERUS} // "$SRC/build/cerberus");
my $ORIGIN = abs_path($ENV{ORIGIN} // "$SRC/build/t/origin");

# Absolute, so that tests may change directory.
sub cerberus_bin { $CERBERUS }
sub origin_bin   { $ORIGIN }

# A port nobody listens on right now. Chosen below the kernel's ephemeral
# range, so that the origins of tests running in parallel (bound to port
# 0) and outgoing connections never take it between this check and use.
my %given;
sub free_port {
    my ($lo) = split ' ', slurp('/proc/sys/net/ipv4/ip_local_port_range') || '32768';
    $lo = 32768 if !$lo || $lo < 12000;
    for (1 .. 200) {
        my $p = 10000 + int(rand($lo - 10000));
        next if $given{$p};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        $given{$p} = 1;
        return $p;
    }
    die "free_port: no free port found";
}

sub new {
    my ($class, %o) = @_;
    my $dir = tempdir('cerb-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{CERB_KEEP});
    chmod 0755, $dir;
    my $self = bless { dir => $dir, ports => {}, pids => [], origins => [],
                       allow_log => [], %o }, $class;
    return $self;
}

sub dir { $_[0]{dir} }
sub conf_path { "$_[0]{dir}/cerberus.conf" }
sub pid_path { "$_[0]{dir}/cerberus.pid" }
sub error_log { "$_[0]{dir}/error.log" }
sub stderr_log { "$_[0]{dir}/stderr.log" }

sub port {
    my ($self, $name) = @_;
    $self->{ports}{$name} //= free_port();
    return $self->{ports}{$name};
}

# What most tests want at the top of a config: files in the temp dir,
# two workers, and a user to drop to when the tests run as root.
sub preamble {
    my ($self) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? "user = \"nobody\"; group = \"nogroup\";\n" : '';
    return "pid_file = \"$d/cerberus.pid\";\n"
         . "error_log = \"$d/error.log\";\n"
         . "log_level = \"" . ($ENV{CERB_LOG_LEVEL} // 'info') . "\";\n"
         . "drain_timeout = \"5s\";\n"
         . $user;
}

sub expand {
    my ($self, $text) = @_;
    # Preamble keys the config sets itself are left out (libconfig refuses
    # duplicates).
    if ($text =~ /%%PREAMBLE%%/) {
        my $pre = join '', grep {
            my ($k) = /^\s*(\w+)\s*=/;
            !$k || $text !~ /^\s*\Q$k\E\s*=/m
        } map { "$_\n" } split /\n/, $self->preamble;
        $pre =~ s/^\s*user = "nobody"; group = "nogroup";\n// if $text =~ /^\s*(user|group)\s*=/m;
        $text =~ s/%%PREAMBLE%%/$pre/g;
    }
    $text =~ s/%%PORT:(\w+)%%/$self->port($1)/ge;
    $text =~ s/%%ORIGIN:(\w+)%%/$self->origin($1)/ge;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    return $text;
}

sub write_file {
    my ($self, $name, $text) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $f, '>', $path or die "$path: $!";
    print $f $self->expand($text);
    close $f;
    return $path;
}

sub write_conf {
    my ($self, $text) = @_;
    return $self->write_file('cerberus.conf', $text);
}

# Runs `cerberus VERB -c conf ARGS`; returns (exit code, stdout, stderr).
sub ctl {
    my ($self, @args) = @_;
    my $verb = shift @args;
    my @cmd = (cerberus_bin(), $verb, '-c', $self->conf_path, @args);
    return run_cmd(@cmd);
}

# run_cmd(@cmd) or run_cmd({ timeout => S }, @cmd): waits up to 60 s (or S).
sub run_cmd {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my (@cmd) = @_;
    my $out = File::Temp->new;
    my $err = File::Temp->new;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>&', $out or die;
        open STDERR, '>&', $err or die;
        open STDIN, '<', '/dev/null';
        exec @cmd or die "exec $cmd[0]: $!";
    }
    my $deadline = time + ($opt->{timeout} // 60);
    my $rc;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $rc = $? >> 8; last }
        if (time > $deadline) { kill 'KILL', $pid; waitpid($pid, 0); $rc = -1; last }
        sleep 0.01;
    }
    return ($rc, slurp("$out"), slurp("$err"));
}

sub slurp {
    my ($path) = @_;
    open my $f, '<', $path or return '';
    local $/;
    my $s = <$f>;
    return $s // '';
}

# Polls $cond every 20 ms until it is true or $timeout seconds pass.
sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.02;
    }
    return $cond->();
}

sub status_file {
    my ($self) = @_;
    my $p = $self->{pid_file} // $self->pid_path;
    $p =~ s/\.pid$//;
    return slurp("$p.status");
}

# Parsed status file: { generation, workers => [ {slot,pid,gen,...} ], ... },
# refreshed first (SIGUSR2 to the master, as `cerberus status` does).
sub status {
    my ($self) = @_;
    my $text = $self->status_file;
    my ($pid) = $text =~ /^pid=(\d+)/m;
    if ($pid && kill('USR2', $pid)) {
        my ($seq) = $text =~ /^seq=(\d+)/m;
        wait_for(sub {
            my $now = $self->status_file;
            my ($n) = $now =~ /^seq=(\d+)/m;
            $text = $now if $n && $n != ($seq // 0);
            return $n && $n != ($seq // 0);
        }, 2);
    }
    my %s = (workers => [], raw => $text);
    for my $line (split /\n/, $text) {
        my ($k, $v) = split /=/, $line, 2;
        next unless defined $v;
        if ($k eq 'worker') {
            my ($slot, @kv) = split / /, $v;
            my %w = (slot => $slot);
            for (@kv) { my ($a, $b) = split /=/; $w{$a} = $b // 1 }
            push @{ $s{workers} }, \%w;
        } elsif ($k eq 'workers') {
            $s{workers_count} = $v;
        } else {
            $s{$k} //= $v;
        }
    }
    return \%s;
}

# Live workers of the current generation.
sub workers {
    my ($self) = @_;
    my $s = $self->status;
    return grep { !$_->{draining} && ($_->{gen} // 0) == ($s->{generation} // -1) }
           @{ $s->{workers} };
}

# `cerberus run` in the background; returns once every worker is up
# (the master writes its status file only then). Dies with the log if not.
sub start {
    my ($self, %o) = @_;
    my @cmd = (cerberus_bin(), 'run', '-c', $o{conf} // $self->conf_path,
               @{ $o{args} // [] });
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', $self->stderr_log or die;
        open STDERR, '>>', $self->stderr_log or die;
        open STDIN, '<', '/dev/null';
        exec @cmd or die "exec: $!";
    }
    $self->{master} = $pid;
    my $ok = wait_for(sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        my $s = $self->status;
        return 0 unless $s->{workers} && @{ $s->{workers} };
        return scalar(grep { !$_->{draining} } @{ $s->{workers} }) >= ($s->{workers_count} // 1)
            ? 1 : 0;
    }, 15);
    if (!$ok || $ok == -1) {
        delete $self->{master} if $ok && $ok == -1;
        diag("cerberus did not start:\n" . slurp($self->stderr_log) . slurp($self->error_log));
        return 0;
    }
    return $pid;
}

sub master_pid { $_[0]{master} }

sub stop {
    my ($self, $sig) = @_;
    my $pid = delete $self->{master} or return;
    kill($sig // 'TERM', $pid);
    my $gone = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 15);
    unless ($gone) {
        diag("cerberus (pid $pid) did not stop: killing it");
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    return $?;
}

# Starts t/origin; returns its port (cached by name).
sub origin {
    my ($self, $name, @args) = @_;
    return $self->{origin_port}{$name} if $self->{origin_port}{$name};
    my $pf = "$self->{dir}/origin-$name.port";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$self->{dir}/origin-$name.log";
        exec origin_bin(), '-p', 0, '-n', $name, '-f', $pf,
             '-l', "$self->{dir}/origin-$name.requests", @args
            or die "exec origin: $!";
    }
    push @{ $self->{origins} }, $pid;
    my $port = wait_for(sub { my $p = slurp($pf); $p =~ /(\d+)/ ? $1 : 0 }, 5)
        or die "origin $name did not start";
    $self->{origin_port}{$name} = $port;
    return $port;
}

# A server of the test's own, for what t/origin never does: $handler runs
# in a process of its own for each accepted connection, with the socket
# (closed when it returns). Stopped by done. Returns the port.
sub fake_server {
    my ($self, $handler) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 64, ReuseAddr => 1)
        or die "listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        while (1) {
            my $s = $l->accept or next;
            my $k = fork;
            if (defined $k && $k == 0) {
                eval { $handler->($s) };
                close $s;
                POSIX::_exit(0);
            }
            close $s;
        }
    }
    push @{ $self->{origins} }, $pid;
    my $port = $l->sockport;
    close $l;
    return $port;
}

# Reads from $s into $$buf until a request head is complete; returns the
# head (removed from $$buf), or undef at end of input.
sub read_head {
    my ($s, $buf) = @_;
    while ($$buf !~ /\r\n\r\n/) {
        my $n = sysread($s, $$buf, 65536, length $$buf);
        return undef unless $n;
    }
    $$buf =~ s/^(.*?\r\n\r\n)//s;
    return $1;
}

# The JSON body of a response (t/origin's echo), or undef.
sub json_body {
    my ($r) = @_;
    require JSON::PP;
    return $r && eval { JSON::PP::decode_json($r->{body}) };
}

# n GETs of path, each on a fresh connection: ({ status => count }, [ responses ]).
sub get_statuses {
    my ($port, $path, $n, %h) = @_;
    my (%c, @r);
    for (1 .. $n) {
        my $r = http_get($port, $path, %h);
        $c{ $r ? $r->{status} : 'none' }++;
        push @r, $r;
    }
    return (\%c, \@r);
}

# The request headers t/origin received (its JSON echo of a response):
# lower-case name => [values], or {} when the response is not an echo.
sub origin_headers {
    my ($r) = @_;
    my $j = json_body($r) or return {};
    my %h;
    push @{ $h{ lc $_->[0] } }, $_->[1] for @{ $j->{headers} || [] };
    return \%h;
}

# The origin that answered a request (t/origin's X-Origin), or the status
# when it was not 200, or 'none' when nothing came back.
sub origin_of {
    my ($r) = @_;
    return 'none' unless $r && $r->{status};
    return "status $r->{status}" unless $r->{status} == 200;
    return $r->{headers}{'x-origin'} // 'no X-Origin';
}

# $n GETs of $path on $port, each on a fresh connection: origin -> count.
sub spread {
    my ($port, $n, $path, %h) = @_;
    my %n;
    $n{ origin_of(http_get($port, $path, %h)) }++ for 1 .. $n;
    return \%n;
}

# The status file's line for server 127.0.0.1:$sport of $pool, as
# { state, health, conns, active, requests, failures, ... } ({} if none).
sub server_status {
    my ($self, $pool, $sport) = @_;
    for (split /\n/, $self->status->{raw}) {
        my ($p, $rest) = /^server=(\S+) 127\.0\.0\.1:$sport (.*)$/ or next;
        $rest =~ s/\s*last_error=.*$//;
        return { $rest =~ /(\w+)=(\S*)/g } if $p eq $pool;
    }
    return {};
}

# Lines matching these are expected by the test (e.g. a deliberate crash).
sub allow_log { my ($self, @re) = @_; push @{ $self->{allow_log} }, @re }

# Stops everything, then asserts the logs hold no alert, crit or sanitizer
# report, and ends the test.
sub done {
    my ($self) = @_;
    $self->stop;
    for my $pid (@{ $self->{origins} }) { kill 'TERM', $pid; waitpid($pid, 0) }
    $self->{origins} = [];
    my $logs = slurp($self->error_log) . slurp($self->stderr_log);
    my @bad = grep {
        my $l = $_;
        ($l =~ /\[(alert|crit)\]/ || $l =~ /AddressSanitizer|LeakSanitizer|runtime error:/)
            && !grep { $l =~ $_ } @{ $self->{allow_log} }
    } split /\n/, $logs;
    ok(!@bad, 'no alert, crit or sanitizer report in the logs')
        or diag(join "\n", @bad);
    done_testing();
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    if (my $pid = $self->{master}) { kill 'KILL', $pid; waitpid($pid, 0) }
    for my $pid (@{ $self->{origins} || [] }) { kill 'KILL', $pid; waitpid($pid, 0) }
}

# ---- HTTP client --------------------------------------------------------

# One connection; requests on it with $c->request(...).
package Cerb::Conn;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

sub new {
    my ($class, $port, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $o{host} // '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 5) or return undef;
    $s->autoflush(1);
    binmode $s;
    return bless { sock => $s, buf => '', timeout => $o{timeout} // 10 }, $class;
}

sub sock { $_[0]{sock} }
sub send_raw { my ($self, $d) = @_; local $SIG{PIPE} = 'IGNORE'; return syswrite($self->{sock}, $d) }

# Reads more bytes into the buffer; 0 at EOF, undef on timeout.
sub fill {
    my ($self, $deadline) = @_;
    my $sel = IO::Select->new($self->{sock});
    my $left = $deadline - time;
    return undef if $left <= 0 || !$sel->can_read($left);
    my $n = sysread($self->{sock}, my $chunk, 65536);
    return 0 unless $n;
    $self->{buf} .= $chunk;
    return $n;
}

# Reads one response; { status, reason, headers (lc name => value),
# header_list, body, raw } or undef if the connection closed first
# ({ closed => 1, timeout => 1 } on timeout).
sub read_response {
    my ($self, %o) = @_;
    my $deadline = time + ($o{timeout} // $self->{timeout});
    while ($self->{buf} !~ /\r\n\r\n/) {
        my $n = $self->fill($deadline);
        return { timeout => 1, partial => $self->{buf} } unless defined $n;
        return ($self->{buf} eq '' ? undef : { closed => 1, partial => $self->{buf} }) unless $n;
    }
    my $end = index($self->{buf}, "\r\n\r\n");
    my $head = substr($self->{buf}, 0, $end);
    substr($self->{buf}, 0, $end + 4) = '';
    my ($line, @lines) = split /\r\n/, $head;
    my ($ver, $status, $reason) = $line =~ m{^(HTTP/\d\.\d) (\d{3}) ?(.*)$}
        or return { bad => $line };
    my (%h, @list);
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @list, [$k, $v];
        $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    my $r = { version => $ver, status => $status, reason => $reason,
              headers => \%h, header_list => \@list, body => '' };
    return $r if $status =~ /^1/ && $status != 101;
    return $r if $o{head} || $status == 204 || $status == 304 || $status == 101;
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($self->{buf} !~ /\r\n/) {
                my $n = $self->fill($deadline);
                return { %$r, incomplete => 1 } unless $n;
            }
            $self->{buf} =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n// or return { %$r, badchunk => 1 };
            my $size = hex $1;
            if ($size == 0) {
                while ($self->{buf} !~ /^\r\n/ && $self->{buf} !~ /\r\n\r\n/) {
                    my $n = $self->fill($deadline);
                    return { %$r, incomplete => 1 } unless $n;
                }
                $self->{buf} =~ s/^(?:.*?\r\n)*?\r\n//s;
                last;
            }
            while (length($self->{buf}) < $size + 2) {
                my $n = $self->fill($deadline);
                return { %$r, incomplete => 1 } unless $n;
            }
            $r->{body} .= substr($self->{buf}, 0, $size);
            substr($self->{buf}, 0, $size + 2) = '';
        }
    } elsif (defined $h{'content-length'}) {
        my $len = $h{'content-length'};
        while (length($self->{buf}) < $len) {
            my $n = $self->fill($deadline);
            return { %$r, incomplete => 1, body => $self->{buf} } unless $n;
        }
        $r->{body} = substr($self->{buf}, 0, $len);
        substr($self->{buf}, 0, $len) = '';
    } else {
        while (1) { my $n = $self->fill($deadline); last unless $n }
        $r->{body} = $self->{buf};
        $self->{buf} = '';
    }
    return $r;
}

# True once the peer closed (EOF) within $timeout seconds.
sub closed {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $n = $self->fill($deadline);
        return 0 unless defined $n;
        return 1 if $n == 0;
    }
}

sub request {
    my ($self, $raw, %o) = @_;
    $self->send_raw($raw) or return undef;
    return $self->read_response(%o);
}

sub get {
    my ($self, $path, %h) = @_;
    my $host = delete $h{Host} // 'localhost';
    my $req = "GET $path HTTP/1.1\r\nHost: $host\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    return $self->request("$req\r\n");
}

sub close { close $_[0]{sock} }

package Cerb;

# A single request on a fresh connection.
sub http_raw {
    my ($port, $raw, %o) = @_;
    my $c = Cerb::Conn->new($port) or return undef;
    my $r = $c->request($raw, %o);
    $c->close;
    return $r;
}

sub http_request {
    my ($port, $method, $path, %o) = @_;
    my $h = $o{headers} // {};
    my $body = $o{body} // '';
    my $req = "$method $path HTTP/1.1\r\nHost: " . ($h->{Host} // 'localhost') . "\r\n";
    for (sort keys %$h) { $req .= "$_: $h->{$_}\r\n" unless $_ eq 'Host' }
    $req .= "Content-Length: " . length($body) . "\r\n" if length $body;
    $req .= "Connection: close\r\n\r\n$body";
    return http_raw($port, $req, head => $method eq 'HEAD');
}

sub http_get { my ($port, $path, %h) = @_; http_request($port, 'GET', $path, headers => \%h) }

1;
