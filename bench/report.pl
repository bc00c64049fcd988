#!/usr/bin/perl
# bench/report.pl: turns the raw figures of bench/run.sh (in $TMP) into the
# Markdown of bench/RESULTS.md, on standard output.  Called by run.sh only.
use strict;
use warnings;

my $T = $ENV{TMP} or die "report.pl: TMP not set\n";
my @proxies = split ' ', $ENV{PROXIES};
my %label = (cerberus => 'cerberus', nginx => 'nginx', haproxy => 'HAProxy');
my $runs = $ENV{RUNS};

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; my $s = <$fh>; $s // '' }
sub rows  { my ($f) = @_; map { chomp; [split /\t/] } grep { /\S/ } split /^/m, slurp($f) }

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}
sub fmt {
    my ($v, $d) = @_;
    return 'n/a' unless defined $v;
    my $s = sprintf "%.${d}f", $v;
    1 while $s =~ s/^(\d+)(\d{3})/$1,$2/;   # thousands
    return $s;
}
# "median (min–max)" over the runs
sub spread {
    my ($d, @v) = @_;
    return 'n/a' unless @v;
    my $m = fmt(median(@v), $d);
    return $m if @v == 1;
    my @s = sort { $a <=> $b } @v;
    return "$m (" . fmt($s[0], $d) . "–" . fmt($s[-1], $d) . ")";
}

# ------------------------------------------------------------ raw figures
# scenario proxy run rps p50 p99 cpu_us requests errors user_cpu_us
my (%r, %cmd);
for my $x (rows("$T/raw.tsv")) {
    my ($s, $n, $run, $rps, $p50, $p99, $cpu, $req, $err, $ucpu) = @$x;
    push @{ $r{$s}{$n}{ucpu} }, $ucpu if defined $ucpu;
    push @{ $r{$s}{$n}{rps} }, $rps;
    push @{ $r{$s}{$n}{p50} }, $p50;
    push @{ $r{$s}{$n}{p99} }, $p99;
    push @{ $r{$s}{$n}{cpu} }, $cpu;
    push @{ $r{$s}{$n}{req} }, $req;
    push @{ $r{$s}{$n}{err} }, $err if $err ne '-';
}
$cmd{$_->[0]}{$_->[1]} = $_->[2] for rows("$T/commands");
# the bench token is long and says nothing: name it
for my $c (values %cmd) { s/Bearer [A-Za-z0-9_.-]+/Bearer \$TOKEN/ for values %$c }
my @events = rows("$T/events");

my $C = $ENV{CONNS};
my $B = $ENV{BIG_CONNS};
# key, title, TLS?, body size (for MiB/s), short name for the summary
my @scen = (
    [ka => "1. HTTP/1.1 keep-alive, 100-byte responses, $C connections", undef, undef, '1. keep-alive, 100 B'],
    [lc => "1b. As 1, with least_conn balancing (cerberus least_conn, nginx least_conn, HAProxy leastconn)", undef, undef, '1b. keep-alive, least_conn'],
    [close => "2. New TCP connection per request (Connection: close), 100-byte responses, $C connections", undef, undef, '2. connection per request'],
    ['tls-ka-ecdsa' => "3a. HTTPS keep-alive, ECDSA P-256 certificate, 100-byte responses, $C connections", 'tls', undef, '3a. HTTPS keep-alive, ECDSA'],
    ['tls-ka-rsa' => "3b. HTTPS keep-alive, RSA-2048 certificate, 100-byte responses, $C connections", 'tls', undef, '3b. HTTPS keep-alive, RSA'],
    ['tls-hs-ecdsa' => "4a. HTTPS, full handshake per request (Connection: close), ECDSA P-256, $C connections", 'tls', undef, '4a. HTTPS handshake per request, ECDSA'],
    ['tls-hs-rsa' => "4b. HTTPS, full handshake per request (Connection: close), RSA-2048, $C connections", 'tls', undef, '4b. HTTPS handshake per request, RSA'],
    ['64k' => "5a. 64 KiB responses, $B connections", undef, 65536, '5a. 64 KiB responses'],
    ['1m' => "5b. 1 MiB responses, $B connections", undef, 1048576, '5b. 1 MiB responses'],
    # scenario 7: in the summary only, its own section below
    ['gw-plain' => undef, undef, undef, '7. gateway listener, plain route', 'own'],
    ['gw-jwt' => undef, undef, undef, '7. gateway route, JWT RS256 + rate limit', 'own'],
);
my %ran = map { $_ => 1 } split ' ', $ENV{SCENARIOS};
my %scen_key = (ka => 'ka', lc => 'lc', close => 'close', 'tls-ka-ecdsa' => 'tls-ka',
                'tls-ka-rsa' => 'tls-ka', 'tls-hs-ecdsa' => 'tls-hs',
                'tls-hs-rsa' => 'tls-hs', '64k' => 'big', '1m' => 'big',
                'gw-plain' => 'gateway', 'gw-jwt' => 'gateway');
my $GW_TARGET = 1.15;   # the gateway's CPU/request at most 15 % over plain proxying

# (no autovivification: an entry of %r means a measured run)
my $cpu = sub { my ($s, $n) = @_; my $v = $r{$s} && $r{$s}{$n} ? $r{$s}{$n}{cpu} : undef; $v && @$v ? median(@$v) : undef };
sub ratio { my ($a, $b) = @_; defined $a && defined $b && $b > 0 ? sprintf("%.2f", $a / $b) : 'n/a' }

# ------------------------------------------------------------ header
my $date = gmtime($ENV{T_END}) . ' UTC';
my $wall = $ENV{T_END} - $ENV{T_START};
print <<"EOF";
# cerberus benchmark results

Written by `bench/run.sh` (`make bench`); see `bench/README.md` for what is
measured and the caveats.  **CPU time per request is the figure that holds**
on this shared machine; requests/s and latencies move with whatever else runs.

| | |
|---|---|
| date | $date (run took ${wall} s) |
| machine | $ENV{NPROC} CPUs, $ENV{cpu_model}, $ENV{mem_total} RAM, kernel @{[ `uname -r` =~ s/\s+$//r ]} |
| pinning | $ENV{PIN_NOTE} |
| cerberus | $ENV{cerb_v}, git $ENV{git_rev}$ENV{git_dirty} |
| nginx | $ENV{nginx_v} |
| HAProxy | $ENV{haproxy_v} |
| load generator | $ENV{wrk_v}, $ENV{WRK_THREADS} thread(s) |
| TLS library | $ENV{openssl_v} |
| runs | $runs per figure, $ENV{DURATION} s each: median (min–max) |
| open files | hard limit $ENV{hard} |

Every proxy: 2 workers (nginx `worker_processes 2`, HAProxy `nbthread 2`,
cerberus `workers = 2`), round robin over two `build/t/origin` servers,
upstream keep-alive (cerberus and nginx keep up to $ENV{UPSTREAM_KEEPALIVE} idle server
connections per worker; HAProxy `http-reuse always`), the same timeouts, no
access log, errors to a file.
CPU/request = (utime + stime of all the proxy's processes, fields 14 and 15
of /proc/PID/stat, plus cutime + cstime, fields 16 and 17, which keep the time
of a worker that died; after − before the wrk run) ÷ requests completed by wrk.
The ratio column is cerberus's CPU/request divided by that proxy's: below 1
cerberus spends less CPU per request.

EOF

print "Proxy command lines:\n\n";
for my $n (@proxies) {
    my $c = slurp("$T/$n/cmdline");
    chomp $c;
    print "- $label{$n}: `$c`\n";
}
print "\n";

# ------------------------------------------------------------ summary
print "## Summary: CPU time per request (µs, median)\n\n";
print "| scenario | " . join(' | ', map { $label{$_} } @proxies);
my @others = grep { $_ ne 'cerberus' } @proxies;
my $has_c = grep { $_ eq 'cerberus' } @proxies;
print " | " . join(' | ', map { "cerberus ÷ $label{$_}" } @others) if $has_c;
print " |\n|---" . ('|---:' x (@proxies + ($has_c ? @others : 0))) . "|\n";
for my $sc (@scen) {
    my ($s, $title, $tls, $size, $short) = @$sc;
    next unless $ran{ $scen_key{$s} };
    print "| $short";
    for my $n (@proxies) {
        print " | ", fmt($cpu->($s, $n), 2);
    }
    if ($has_c) {
        for my $o (@others) {
            print " | ", ratio($cpu->($s, 'cerberus'), $cpu->($s, $o));
        }
    }
    print " |\n";
}
print "\n";
if ($ran{ka} && $ran{lc} && defined $cpu->('lc', 'cerberus')) {
    print "cerberus least_conn ÷ round_robin (CPU per request, scenario 1b ÷ 1): ",
        ratio($cpu->('lc', 'cerberus'), $cpu->('ka', 'cerberus')), "\n\n";
}
if ($ran{gateway} && $has_c) {
    my $g = ratio($cpu->('gw-jwt', 'cerberus'), $cpu->('gw-plain', 'cerberus'));
    print "cerberus gateway ÷ plain proxying (CPU per request, scenario 7): $g (target ≤ $GW_TARGET: ",
        ($g eq 'n/a' ? 'not measured' : $g <= $GW_TARGET ? 'met' : '**not met**'), ")\n\n";
}
print "Idle connections (KiB of RSS each) and syscalls per request: sections 6 and\n"
    . "\"System calls per request\" below; problems (crashes) at the end.\n\n";

# ------------------------------------------------------------ per scenario
for my $sc (@scen) {
    my ($s, $title, $tls, $size, $short, $own) = @$sc;
    next if $own || !$ran{ $scen_key{$s} };
    print "## $title\n\n";
    for my $n (@proxies) {
        next unless $cmd{$s}{$n};
        print "- $label{$n}: `$cmd{$s}{$n}`\n";
    }
    print "\n";
    print "| proxy | req/s | " . ($size ? 'MiB/s (bodies) | ' : '')
        . "p50 ms | p99 ms | CPU µs/request | cerberus ÷ this (CPU/req) | errors |\n";
    print "|---|---:|" . ($size ? '---:|' : '') . "---:|---:|---:|---:|---|\n";
    my $cc = $cpu->($s, 'cerberus');
    for my $n (@proxies) {
        my $x = $r{$s}{$n};
        if (!$x) { print "| $label{$n} | no result |" . ($size ? ' |' : '') . " | | | | |\n"; next }
        my $err = @{ $x->{err} || [] } ? join(' / ', map { "run: $_" } @{ $x->{err} }) : 'none';
        $err =~ s/;\s*$//;
        print "| $label{$n} | ", spread(0, @{ $x->{rps} }), " | ";
        print spread(1, map { $_ * $size / 1048576 } @{ $x->{rps} }), " | " if $size;
        print spread(3, @{ $x->{p50} }), " | ", spread(3, @{ $x->{p99} }), " | ",
            spread(2, @{ $x->{cpu} }), " | ",
            ($n eq 'cerberus' ? '1.00' : (defined $cc ? ratio($cc, median(@{ $x->{cpu} })) : 'n/a')),
            " | $err |\n";
    }
    print "\n";
}

# ------------------------------------------------------------ idle
if ($ran{idle}) {
    my $N = $ENV{IDLE_CONNS};
    print "## 6. $N idle keep-alive client connections: memory and a fresh client\n\n";
    print ucfirst($ENV{IDLE_NOTE}) . ".\n\n" if $ENV{IDLE_NOTE};
    print "`bench/bclient idle PORT $N` opens the connections (at most 256 being set up at a time),\n"
        . "sends one `GET /?size=100` on each, reads the answer and keeps them open.  RSS = sum of\n"
        . "VmRSS of all the proxy's processes (kernel socket buffers are not in it), measured\n"
        . "before and with the idle connections, on a proxy restarted for each run (after 200\n"
        . "requests and a 1 s warm-up); per connection = difference ÷ connections held.  nginx\n"
        . "allocates its connection and event arrays for all worker_connections at start: that\n"
        . "part is in its \"before\".\n"
        . "Then a fresh client runs while they are open:\n\n";
    for my $n (@proxies) { print "- $label{$n}: `$cmd{idle}{$n}`\n" if $cmd{idle}{$n} }
    print "\n| proxy | connections held | RSS before (MiB) | RSS with (MiB) | KiB per idle connection | fresh client req/s | p50 ms | p99 ms | still open at the end |\n";
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    my %i;
    for my $x (rows("$T/idle.tsv")) {
        my ($n, $run, $ready, $failed, $secs, $rss0, $rss1, $per, $rps, $p50, $p99, $alive) = @$x;
        push @{ $i{$n}{$_->[0]} }, $_->[1] for
            [ready => $ready], [rss0 => $rss0 / 1024], [rss1 => $rss1 / 1024], [per => $per],
            [rps => $rps], [p50 => $p50], [p99 => $p99];
        push @{ $i{$n}{alive} }, "$alive/$ready";
        push @{ $i{$n}{failed} }, $failed if $failed ne '0';
    }
    for my $n (@proxies) {
        my $x = $i{$n} or next;
        print "| $label{$n} | ", spread(0, @{ $x->{ready} }),
            (@{ $x->{failed} || [] } ? " (failed: " . join(', ', @{ $x->{failed} }) . ")" : ''), " | ",
            spread(1, @{ $x->{rss0} }), " | ", spread(1, @{ $x->{rss1} }), " | ",
            spread(2, @{ $x->{per} }), " | ", spread(0, @{ $x->{rps} }), " | ",
            spread(3, @{ $x->{p50} }), " | ", spread(3, @{ $x->{p99} }), " | ",
            join(', ', @{ $x->{alive} }), " |\n";
    }
    print "\n";
}

# ------------------------------------------------------------ gateway
if ($ran{gateway}) {
    print "## 7. Gateway route (JWT RS256 + rate limit) against plain proxying, $C connections\n\n";
    print "cerberus's listener `gw` has two routes on the same pool: `/plain/` (plain\n"
        . "proxying) and `/gw/` with `auth.jwt` (RS256, a 2048-bit key made at bench time,\n"
        . "`issuer` and `audience` checked) and a `rate_limit` keyed on `jwt:sub` of\n"
        . "1,000,000/s with a burst of 1,000,000 (evaluated on every request, never\n"
        . "refusing).  wrk sends one token minted with openssl (sub, iss, aud, iat,\n"
        . "exp = now + 1 h) on every request to both routes (the same requests, with\n"
        . "and without the gateway: `/plain/` forwards the header, `/gw/` strips it), as\n"
        . "clients repeat their tokens; keep-alive,\n"
        . "`GET ...?size=100`, as scenario 1, the two routes in turns within each run.\n"
        . "Before the runs the gateway route must answer 200 with the token and 401\n"
        . "without it and with a forged one, and 200 again after them.  Target: the\n"
        . "gateway's CPU per request at most $GW_TARGET × plain proxying's.\n\n";
    for my $s (qw(gw-plain gw-jwt)) {
        print "- cerberus, ", ($s eq 'gw-plain' ? 'plain' : 'gateway'), ": `$cmd{$s}{cerberus}`\n"
            if $cmd{$s}{cerberus};
    }
    my $checks = slurp("$T/gateway-checks.txt");
    $checks =~ s/^check: /- /mg;
    print "\nChecks:\n\n$checks" if $checks =~ /\S/;
    my $fail = slurp("$T/gateway.txt");
    if ($fail =~ /\S/) {
        $fail =~ s/\s+$//;
        $fail =~ s/^/- **FAILED**: /mg;
        print "\n$fail\n";
    }
    print "\n| proxy | route | req/s | p50 ms | p99 ms | CPU µs/request | user CPU µs/request | errors |\n";
    print "|---|---|---:|---:|---:|---:|---:|---|\n";
    for my $n (@proxies) {
        if ($n ne 'cerberus') {
            my $why = $n eq 'nginx' ? 'n/a (no JWT in nginx open source)'
                                    : 'n/a (not measured: HAProxy 2.6 has jwt_verify, not set up in this bench)';
            print "| $label{$n} | $why | | | | | | |\n";
            next;
        }
        for my $s (qw(gw-plain gw-jwt)) {
            my $route = $s eq 'gw-plain' ? '`/plain/`, plain' : '`/gw/`, JWT + rate limit';
            my $x = $r{$s}{$n};
            if (!$x) { print "| $label{$n} | $route | no result | | | | | |\n"; next }
            my $err = @{ $x->{err} || [] } ? join(' / ', map { "run: $_" } @{ $x->{err} }) : 'none';
            $err =~ s/;\s*$//;
            print "| $label{$n} | $route | ", spread(0, @{ $x->{rps} }), " | ",
                spread(3, @{ $x->{p50} }), " | ", spread(3, @{ $x->{p99} }), " | ",
                spread(2, @{ $x->{cpu} }), " | ", spread(2, @{ $x->{ucpu} || [] }), " | $err |\n";
        }
    }
    print "\n";
    if (grep { $_ eq 'cerberus' } @proxies) {
        my ($p, $g) = map { $r{$_} ? $r{$_}{cerberus} : undef } qw(gw-plain gw-jwt);
        my $m = ratio($cpu->('gw-jwt', 'cerberus'), $cpu->('gw-plain', 'cerberus'));
        print "cerberus CPU per request, gateway ÷ plain (medians): **$m** (target ≤ $GW_TARGET: ",
            ($m eq 'n/a' ? 'not measured' : $m <= $GW_TARGET ? 'met' : '**not met**'), ")";
        if ($p && $g && @{ $p->{cpu} } == @{ $g->{cpu} } && @{ $p->{cpu} } > 1) {
            print "; run by run: ", join(', ', map { ratio($g->{cpu}[$_], $p->{cpu}[$_]) } 0 .. $#{ $p->{cpu} });
        }
        print ".\n\n";
        my ($pu, $gu, $pc) = (median(@{ $p->{ucpu} || [] }), median(@{ $g->{ucpu} || [] }),
                              median(@{ $p->{cpu} || [] }));
        if (defined $pu && defined $gu && $pc) {
            printf "The gateway's own work, measured as user-space CPU (utime, where cerberus's\n"
                 . "code runs; the kernel's share, the same bytes on both routes, is what moves\n"
                 . "most from run to run): %.2f µs per request on `/gw/` against %.2f µs on\n"
                 . "`/plain/`, so %+.2f µs, %.0f%% of plain proxying's whole CPU per request.\n\n",
                $gu, $pu, $gu - $pu, 100 * ($gu - $pu) / $pc;
        }
    }
}

# ------------------------------------------------------------ syscalls
if ($ran{syscalls}) {
    print "## System calls per request (HTTP/1.1 keep-alive, 100-byte responses)\n\n";
    print "`bench/bclient seq PORT N` sends N requests (`GET /?size=100`) one after the other on\n"
        . "one keep-alive connection while `strace -c -f` is attached to the workers (cerberus,\n"
        . "nginx: every process but the master; HAProxy: its one process, all threads).  Calls ÷\n"
        . "responses received; `errors/req` counts calls that failed (EAGAIN, EINPROGRESS).\n"
        . "nginx and HAProxy are given for reference.  Caveat: strace slows the traced proxy\n"
        . "tenfold, so the next bytes are usually there when it reads: a proxy that reads before\n"
        . "it waits shows fewer epoll_wait and EAGAIN reads than it makes untraced.\n\n";
    for my $n (@proxies) { print "- $label{$n}: `$cmd{syscalls}{$n}`\n" if $cmd{syscalls}{$n} }
    my (%sc, %names);
    for my $x (rows("$T/syscalls.tsv")) {
        my ($n, $name, $calls, $errs, $reqs) = @$x;
        $sc{$n}{$name} = [$calls / $reqs, $errs / $reqs];
        $names{$name} = 1 unless $name eq 'total';
    }
    for my $n (@proxies) {
        my $s = slurp("$T/seq-$n.txt");
        chomp $s;
        print "- $label{$n} client under strace: $s\n" if $s;
    }
    print "\n| syscall | " . join(' | ', map { "$label{$_} calls/req | errors/req" } @proxies) . " |\n";
    print "|---" . ('|---:|---:' x @proxies) . "|\n";
    my $key = $sc{cerberus} ? 'cerberus' : $proxies[0];
    my $per = sub { my $v = $sc{$key}{ $_[0] }; $v ? $v->[0] : 0 };   # no autovivification
    my @names = sort { $per->($b) <=> $per->($a) or $a cmp $b } keys %names;
    for my $name (@names, 'total') {
        my $em = $name eq 'total' ? '**' : '';
        print "| $em$name$em";
        for my $n (@proxies) {
            my $v = $sc{$n}{$name};
            print $v ? " | $em" . sprintf("%.2f", $v->[0]) . "$em | " . ($v->[1] ? sprintf("%.2f", $v->[1]) : '') : ' | | ';
        }
        print " |\n";
    }
    print "\n";
}

# ------------------------------------------------------------ problems
print "## Problems seen during the run\n\n";
my $any = 0;
for my $e (@events) {
    print "- $label{$e->[0]}, $e->[1]: $e->[2]\n";
    $any = 1;
}
for my $n (@proxies) {
    my $s = slurp("$T/$n/errors.txt");
    next unless $s =~ /\S/;
    $s =~ s/\s+$//;
    print "- $label{$n} error log (warnings and worse, last 20):\n\n```\n$s\n```\n";
    $any = 1;
}
for my $s (sort keys %r) {
    for my $n (@proxies) {
        next unless $r{$s}{$n} && @{ $r{$s}{$n}{err} || [] };
        print "- $label{$n}, $s: wrk reported " . join(' / ', @{ $r{$s}{$n}{err} }) . "\n";
        $any = 1;
    }
}
if ($ran{gateway}) {
    for my $l (split /\n/, slurp("$T/gateway.txt")) {
        next unless $l =~ /\S/;
        print "- scenario 7 (gateway) FAILED: $l\n";
        $any = 1;
    }
}
print "None: no process died or was respawned, no socket errors, no non-2xx responses.\n" unless $any;
print "\n";
