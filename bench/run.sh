#!/bin/sh
# bench/run.sh: cerberus against nginx and HAProxy on this machine.
#
# Run by `make bench` (after `make`) from the top of the tree, or directly:
#   sh bench/run.sh                       # full run: RUNS=3, DURATION=10
#   RUNS=1 DURATION=3 sh bench/run.sh     # smoke run
# Knobs (environment): RUNS DURATION PIN CONNS BIG_CONNS IDLE_CONNS
# IDLE_DURATION SYSCALL_REQS SYSCALL_REF_REQS WRK_THREADS UPSTREAM_KEEPALIVE
# PROXIES SCENARIOS OUT KEEP CERBERUS ORIGIN.
# See bench/README.md.  Installs nothing; writes only under /tmp (one temp
# dir, removed at the end unless KEEP=1) and $OUT (bench/RESULTS.md).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

: "${RUNS:=3}"              # repetitions of each measurement (median, min-max)
: "${DURATION:=10}"         # seconds per wrk run
: "${PIN:=1}"               # 1: load generator and origins on one CPU, proxy on another
: "${CONNS:=50}"            # connections of scenarios 1-4
: "${BIG_CONNS:=10}"        # connections of scenario 5 (64 KiB, 1 MiB)
: "${IDLE_CONNS:=10000}"    # idle keep-alive connections of scenario 6
: "${IDLE_DURATION:=5}"     # seconds of the fresh client of scenario 6
: "${SYSCALL_REQS:=10000}"  # keep-alive requests counted under strace (cerberus)
: "${SYSCALL_REF_REQS:=2000}" # the same for nginx and HAProxy (slower under strace)
: "${WRK_THREADS:=1}"
: "${UPSTREAM_KEEPALIVE:=32}" # idle server connections kept per worker (cerberus, nginx)
: "${PROXIES:=cerberus nginx haproxy}"
: "${SCENARIOS:=ka lc close tls-ka tls-hs big idle gateway syscalls}"
: "${OUT:=bench/RESULTS.md}"
: "${KEEP:=0}"
: "${CERBERUS:=build/cerberus}" "${ORIGIN:=build/t/origin}"

say() { printf '%s\n' "bench: $*" >&2; }

# ---------------------------------------------------------------- tools
# nginx and haproxy live in /usr/sbin, which a non-root PATH may lack
for d in /usr/sbin /sbin; do
    case ":$PATH:" in *":$d:"*) ;; *) PATH="$PATH:$d" ;; esac
done
missing= pkgs=
need() {    # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    missing="$missing $1"; pkgs="$pkgs $2"
}
need wrk wrk
need nginx nginx-light
need haproxy haproxy
need openssl openssl
need perl perl
need cc gcc
need pgrep procps
need getconf libc-bin
[ "$PIN" = 1 ] && need taskset util-linux
case " $SCENARIOS " in *" syscalls "*) need strace strace ;; esac
if [ -n "$missing" ]; then
    say "missing tools:$missing"
    say "install them (Debian 12) with: apt-get install$pkgs"
    say "(nginx, HAProxy and wrk are references for the benchmark only, never dependencies of cerberus)"
    exit 1
fi
for f in "$CERBERUS" "$ORIGIN"; do
    [ -x "$f" ] || { say "$f not built: run make first (make bench does)"; exit 1; }
done

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/cerb-bench.XXXXXX) || exit 1
chmod 755 "$TMP"
: >"$TMP/pids"

# Only processes this script started, which are its children: a pid of the
# list whose process is gone may since belong to someone else.
ours() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $2 }')" = "$$" ]; }
running() {     # not gone and not a zombie
    _st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $1 }')
    [ -n "$_st" ] && [ "$_st" != Z ]
}

# wait_line FILE PATTERN TRIES PID: polls every 0.1 s, at most TRIES times,
# until FILE has a line matching PATTERN or PID has exited.
wait_line() {
    _i=0
    while ! grep -q "$2" "$1" && [ $_i -lt "$3" ]; do
        running "$4" || break
        sleep 0.1; _i=$((_i + 1))
    done
}
forget() { sed -i "/^$1\$/d" "$TMP/pids"; }
stop_pid() {    # stop_pid PID: TERM, wait up to 5 s, then KILL
    ours "$1" || return 0
    kill -TERM "$1" 2>/dev/null
    i=0
    while running "$1" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    ours "$1" && kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    forget "$1"
}
cleanup() {
    trap '' INT TERM
    # newest first: holder/strace, proxies, then the origins
    for p in $(sed '1!G;h;$!d' "$TMP/pids" 2>/dev/null); do stop_pid "$p"; done
    # children of a master killed with SIGKILL die by PR_SET_PDEATHSIG
    # (cerberus) or notice on their own (nginx); give them a moment
    sleep 0.3
    if [ "$KEEP" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM HUP

started() { echo "$1" >>"$TMP/pids"; }

# ---------------------------------------------------------------- limits, pinning
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard" 2>/dev/null || hard=$(ulimit -n)
IDLE_WANTED=$IDLE_CONNS
IDLE_NOTE=
# HAProxy refuses to start unless 2 * maxconn + 19 descriptors fit the limit
HA_MAXCONN=$(( (hard - 40) / 2 ))
if [ $((IDLE_CONNS + 64)) -gt "$hard" ]; then
    IDLE_CONNS=$((hard - 64))
    IDLE_NOTE="the open-files hard limit is $hard: $IDLE_CONNS idle connections instead of $IDLE_WANTED"
fi
case " $PROXIES " in *" haproxy "*)
    if [ "$IDLE_CONNS" -gt $((HA_MAXCONN - 50)) ]; then
        IDLE_CONNS=$((HA_MAXCONN - 50))
        IDLE_NOTE="the open-files hard limit is $hard and HAProxy needs 2 descriptors per connection for its maxconn: $IDLE_CONNS idle connections for every proxy instead of $IDLE_WANTED"
    fi ;;
esac
[ -n "$IDLE_NOTE" ] && say "$IDLE_NOTE"
# nginx: per worker; all within the limit
MAXCONN=$((IDLE_CONNS + 1000))
NOFILE=$hard
[ "$HA_MAXCONN" -gt "$MAXCONN" ] && HA_MAXCONN=$MAXCONN
# cerberus's master asks for 64 + 2 * max_connections + 8 open files
CERB_MAXCONN=$(( (hard - 72) / 2 ))
[ "$CERB_MAXCONN" -gt "$MAXCONN" ] && CERB_MAXCONN=$MAXCONN

CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
CLIENT_PIN= PROXY_PIN= PIN_NOTE="not pinned (PIN=0)"
if [ "$PIN" = 1 ]; then
    cpus=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)
    # first and last allowed CPU of the list (a-b,c,...)
    c0=$(echo "$cpus" | sed 's/[-,].*//')
    c1=$(echo "$cpus" | sed 's/.*[-,]//')
    if [ "$c0" != "$c1" ] && taskset -c "$c0" true 2>/dev/null \
       && taskset -c "$c1" true 2>/dev/null; then
        CLIENT_PIN="taskset -c $c0" PROXY_PIN="taskset -c $c1"
        PIN_NOTE="pinned with taskset: load generator, origins and helpers on CPU $c0, the proxy (all its processes/threads) on CPU $c1"
    else
        PIN_NOTE="not pinned: taskset could not use two CPUs (allowed: $cpus)"
    fi
fi
say "$PIN_NOTE"

# ---------------------------------------------------------------- binaries
# Copies, so that a rebuild by someone else during the run changes nothing.
mkdir -p "$TMP/bin" && cp "$CERBERUS" "$TMP/bin/cerberus" && cp "$ORIGIN" "$TMP/bin/origin" || exit 1
cc -std=c11 -O2 -o "$TMP/bin/bclient" bench/bclient.c || { say "cannot build bench/bclient.c"; exit 1; }
BC=$TMP/bin/bclient

port() { $BC port; }
wait_port() {   # wait_port PORT WHAT PID
    if ! $BC wait "$1" 10; then
        say "$2 does not listen on 127.0.0.1:$1 after 10 s"
        return 1
    fi
    running "$3" || { say "$2 exited"; return 1; }
}

# ---------------------------------------------------------------- origins
O1=$(port) O2=$(port)
[ "$O1" != "$O2" ] || O2=$(port)
$CLIENT_PIN "$TMP/bin/origin" -p "$O1" -n origin-1 >/dev/null 2>"$TMP/origin-1.err" &
started $!; op1=$!
$CLIENT_PIN "$TMP/bin/origin" -p "$O2" -n origin-2 >/dev/null 2>"$TMP/origin-2.err" &
started $!; op2=$!
wait_port "$O1" origin-1 $op1 && wait_port "$O2" origin-2 $op2 || exit 1

# ---------------------------------------------------------------- certificates
for kind in ecdsa rsa; do
    if [ $kind = ecdsa ]; then
        newkey="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
    else
        newkey="-newkey rsa:2048"
    fi
    # shellcheck disable=SC2086
    openssl req -x509 $newkey -nodes -days 2 -subj /CN=localhost \
        -keyout "$TMP/$kind.key" -out "$TMP/$kind.crt" >/dev/null 2>&1 \
        || { say "openssl cannot make the $kind certificate"; exit 1; }
done
# scenario 7: the RSA-2048 key that signs the bench JWT; cerberus gets the
# public half as bench.pem (kid "bench": the file name less .pem)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/jwt.key" >/dev/null 2>&1 \
    && openssl pkey -in "$TMP/jwt.key" -pubout -out "$TMP/bench.pem" >/dev/null 2>&1 \
    || { say "openssl cannot make the JWT key"; exit 1; }

# ---------------------------------------------------------------- proxies
# Each proxy: its own dir with its config, error log and pid file.
fill() {    # fill TEMPLATE OUT DIR PORT PORT_ECDSA PORT_RSA [PORT_GW]
    sed -e "s|@DIR@|$3|g" -e "s|@PORT@|$4|g" -e "s|@PORT_ECDSA@|$5|g" \
        -e "s|@PORT_RSA@|$6|g" -e "s|@PORT_GW@|${7:-}|g" \
        -e "s|@ORIGIN1@|$O1|g" -e "s|@ORIGIN2@|$O2|g" \
        -e "s|@MAXCONN@|$MAXCONN|g" -e "s|@CERB_MAXCONN@|$CERB_MAXCONN|g" \
        -e "s|@HA_MAXCONN@|$HA_MAXCONN|g" \
        -e "s|@NOFILE@|$NOFILE|g" -e "s|@KEEPALIVE@|$UPSTREAM_KEEPALIVE|g" \
        -e "s|@WCONN@|$((MAXCONN + 1024))|g" "$1" >"$2"
}

# All processes of a proxy: its master (or only process) and descendants.
procs() {
    _level=$1 _all=
    while [ -n "$_level" ]; do
        _next=
        for _q in $_level; do
            [ -d "/proc/$_q" ] || continue
            _all="$_all $_q"
            _next="$_next $(pgrep -P "$_q" | tr '\n' ' ')"
        done
        _level=$(echo $_next)
    done
    echo $_all
}
# CPU time (clock ticks) of all processes of a proxy: utime + stime
# (fields 14, 15 of /proc/PID/stat), plus cutime + cstime (16, 17), which
# hold the time of children that exited and were reaped (a worker that
# died and was respawned), so that a crash does not make time vanish.  The
# process name (field 2) may hold spaces ("cerb: worker 0"): cut after ") ".
ticks() {
    for _q in $(procs "$1"); do
        sed 's/.*) //' "/proc/$_q/stat" 2>/dev/null
    done | awk '{ t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}
# The user-space part only (utime + cutime): what the proxy's own code
# costs, without the kernel's share, which moves the most from run to run.
uticks() {
    for _q in $(procs "$1"); do
        sed 's/.*) //' "/proc/$_q/stat" 2>/dev/null
    done | awk '{ t += $12 + $14 } END { print t + 0 }'
}
rss_kb() {
    for _q in $(procs "$1"); do
        cat "/proc/$_q/status" 2>/dev/null
    done | awk '/^VmRSS:/ { t += $2 } END { print t + 0 }'
}

start_proxy() {     # start_proxy NAME: sets <name>_pid and ports
    _n=$1 _d=$TMP/$1
    mkdir -p "$_d"
    chmod 755 "$_d"
    _p=$(port) _pe=$(port) _pr=$(port) _pg=
    case $_n in
    cerberus)
        _pg=$(port)
        cp "$TMP"/ecdsa.* "$TMP"/rsa.* "$TMP/bench.pem" "$_d/"
        fill bench/cerberus.conf "$_d/cerberus.conf" "$_d" "$_p" "$_pe" "$_pr" "$_pg"
        set -- "$TMP/bin/cerberus" run -c "$_d/cerberus.conf" -p "$_d/cerberus.pid" ;;
    nginx)
        mkdir -p "$_d/tmp"
        cp "$TMP"/ecdsa.* "$TMP"/rsa.* "$_d/"
        fill bench/nginx.conf "$_d/nginx.conf" "$_d" "$_p" "$_pe" "$_pr"
        set -- nginx -p "$_d/" -c "$_d/nginx.conf" -e "$_d/error.log" ;;
    haproxy)
        for k in ecdsa rsa; do cat "$TMP/$k.crt" "$TMP/$k.key" >"$_d/$k.pem"; done
        fill bench/haproxy.conf "$_d/haproxy.conf" "$_d" "$_p" "$_pe" "$_pr"
        set -- haproxy -db -f "$_d/haproxy.conf" ;;
    *) say "unknown proxy $_n"; return 1 ;;
    esac
    echo "$PROXY_PIN $*" >"$_d/cmdline"
    $PROXY_PIN "$@" >"$_d/stdout.log" 2>>"$_d/error.log" </dev/null &
    _pid=$!
    started $_pid
    eval "${_n}_pid=$_pid ${_n}_port=$_p ${_n}_port_ecdsa=$_pe ${_n}_port_rsa=$_pr ${_n}_port_gw=$_pg"
    wait_port "$_p" "$_n" "$_pid" || { tail -n 20 "$_d/error.log" >&2; return 1; }
    sleep 0.5
    procs "$_pid" >"$_d/procs"
    # a sanity request and a warm-up (upstream connections, page faults)
    if ! $CLIENT_PIN $BC seq "$_p" 200 >"$_d/sanity" 2>&1; then
        say "$_n does not proxy: $(cat "$_d/sanity")"; tail -n 20 "$_d/error.log" >&2
        return 1
    fi
    $CLIENT_PIN wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$_p/?size=100" >/dev/null 2>&1
    check_proxy "$_n" "start-up (200 sequential requests, then a 1 s wrk warm-up)" || return 1
    say "$_n: pid $_pid, processes $(cat "$_d/procs"), port $_p${_pe:+, TLS ECDSA $_pe, RSA $_pr}${_pg:+, gateway $_pg}"
}

# A proxy whose process set changed (a worker died and was respawned, or
# the master is gone) is recorded in $TMP/events.
check_proxy() {     # check_proxy NAME WHAT
    eval "_pid=\$${1}_pid"
    _now=$(procs "$_pid")
    _was=$(cat "$TMP/$1/procs")
    if ! running "$_pid"; then
        printf '%s\t%s\t%s\n' "$1" "$2" "master (pid $_pid) is gone" >>"$TMP/events"
        say "$1: DIED during $2"
        return 1
    fi
    if [ "$_now" != "$_was" ]; then
        printf '%s\t%s\t%s\n' "$1" "$2" "processes changed from [$_was] to [$_now]" >>"$TMP/events"
        say "$1: processes changed during $2: [$_was] -> [$_now]"
        echo "$_now" >"$TMP/$1/procs"
    fi
    return 0
}

# ---------------------------------------------------------------- wrk runs
: >"$TMP/raw.tsv" ; : >"$TMP/events" ; : >"$TMP/commands"
wrk_run() {     # wrk_run SCENARIO PROXY RUN CONNS URL [HEADER]
    _s=$1 _n=$2 _r=$3 _c=$4 _u=$5
    shift 5
    eval "_pid=\$${_n}_pid"
    running "$_pid" || return 0
    _o=$TMP/wrk-$_s-$_n-$_r.txt
    _h=
    if [ $# -gt 0 ]; then
        set -- -H "$1"
        _h=" -H \"$2\""
    fi
    _cmd="$CLIENT_PIN wrk -t$WRK_THREADS -c$_c -d${DURATION}s --latency${_h:-} $_u"
    [ "$_r" = 1 ] && printf '%s\t%s\t%s\n' "$_s" "$_n" "$_cmd" >>"$TMP/commands"
    _ev0=$(wc -l <"$TMP/events")
    _t0=$(ticks "$_pid") _u0=$(uticks "$_pid")
    $CLIENT_PIN wrk -t"$WRK_THREADS" -c"$_c" -d"${DURATION}s" --latency "$@" "$_u" >"$_o" 2>&1
    _t1=$(ticks "$_pid") _u1=$(uticks "$_pid")
    check_proxy "$_n" "$_s run $_r"
    _died=
    [ "$(wc -l <"$TMP/events")" != "$_ev0" ] && _died="PROCESSES DIED OR CHANGED; "
    awk -v s="$_s" -v n="$_n" -v r="$_r" -v dt=$((_t1 - _t0)) -v du=$((_u1 - _u0)) -v hz="$CLK_TCK" -v err="$_died" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000;
            if (v ~ /ms$/) return v + 0;
            if (v ~ /m$/)  return v * 60000;
            if (v ~ /s$/)  return v * 1000;
            return v + 0;
        }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        / requests in / { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Socket errors:/ { sub(/.*Socket errors: /, ""); err = err $0 "; " }
        /Non-2xx or 3xx responses:/ { err = err "non-2xx " $NF "; " }
        END {
            if (req == "") { req = 0; err = err "wrk failed; " }
            cpu = req > 0 ? dt / hz / req * 1e6 : 0;
            ucpu = req > 0 ? du / hz / req * 1e6 : 0;
            if (err == "") err = "-";
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%.2f\n", s, n, r, rps + 0, p50 + 0, p99 + 0, cpu, req, err, ucpu
        }' "$_o" >>"$TMP/raw.tsv"
    tail -n 1 "$TMP/raw.tsv" | awk -F'\t' '{ printf "bench:   %-9s %-8s run %s: %8.0f req/s  p50 %.3f ms  p99 %.3f ms  CPU %.2f us/req  errors %s\n", $1, $2, $3, $4, $5, $6, $7, $9 }' >&2
    sleep 1
}

has() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }
is_proxy() { case " $PROXIES " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- start
T_START=$(date +%s)
say "temp dir $TMP; origins on $O1 and $O2; RUNS=$RUNS DURATION=${DURATION}s"
for n in $PROXIES; do
    start_proxy "$n" || exit 1
done

scenario_wrk() {    # scenario_wrk NAME CONNS PATH [https-kind] [HEADER]
    _sn=$1 _sc=$2 _sp=$3 _kind=${4:-} _hdr=${5:-}
    for r in $(seq 1 "$RUNS"); do
        for n in $PROXIES; do
            if [ -n "$_kind" ]; then
                eval "_port=\$${n}_port_$_kind"
                _url="https://127.0.0.1:$_port$_sp"
            else
                eval "_port=\$${n}_port"
                _url="http://127.0.0.1:$_port$_sp"
            fi
            if [ -n "$_hdr" ]; then
                wrk_run "$_sn" "$n" "$r" "$_sc" "$_url" "$_hdr"
            else
                wrk_run "$_sn" "$n" "$r" "$_sc" "$_url"
            fi
        done
    done
}

has ka     && scenario_wrk ka "$CONNS" "/?size=100"
has lc     && scenario_wrk lc "$CONNS" "/lc/?size=100"
has close  && scenario_wrk close "$CONNS" "/?size=100" "" "Connection: close"
if has tls-ka; then
    scenario_wrk tls-ka-ecdsa "$CONNS" "/?size=100" ecdsa
    scenario_wrk tls-ka-rsa "$CONNS" "/?size=100" rsa
fi
if has tls-hs; then
    scenario_wrk tls-hs-ecdsa "$CONNS" "/?size=100" ecdsa "Connection: close"
    scenario_wrk tls-hs-rsa "$CONNS" "/?size=100" rsa "Connection: close"
fi
if has big; then
    scenario_wrk 64k "$BIG_CONNS" "/?size=65536"
    scenario_wrk 1m "$BIG_CONNS" "/?size=1048576"
fi

# ---------------------------------------------------------------- idle connections
: >"$TMP/idle.tsv"
if has idle; then
    for r in $(seq 1 "$RUNS"); do
        for n in $PROXIES; do
            # a fresh proxy for each run: memory freed by earlier scenarios or
            # runs would otherwise be reused and hide the growth
            eval "_pid=\$${n}_pid"
            stop_pid "$_pid"
            start_proxy "$n" || continue
            eval "_pid=\$${n}_pid _port=\$${n}_port"
            sleep 1
            rss0=$(rss_kb "$_pid")
            $CLIENT_PIN $BC idle "$_port" "$IDLE_CONNS" >"$TMP/idle-$n-$r.txt" 2>&1 &
            hp=$!; started $hp
            wait_line "$TMP/idle-$n-$r.txt" '^ready=' 1300 $hp
            ready=$(sed -n 's/^ready=\([0-9]*\).*/\1/p' "$TMP/idle-$n-$r.txt")
            failed=$(sed -n 's/^ready=[0-9]* failed=\([0-9]*\).*/\1/p' "$TMP/idle-$n-$r.txt")
            secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$TMP/idle-$n-$r.txt")
            sleep 1
            rss1=$(rss_kb "$_pid")
            _o=$TMP/wrk-idle-$n-$r.txt
            _cmd="$CLIENT_PIN wrk -t1 -c1 -d${IDLE_DURATION}s --latency http://127.0.0.1:$_port/?size=100"
            [ "$r" = 1 ] && printf '%s\t%s\t%s\n' idle "$n" "$_cmd" >>"$TMP/commands"
            $CLIENT_PIN wrk -t1 -c1 -d"${IDLE_DURATION}s" --latency "http://127.0.0.1:$_port/?size=100" >"$_o" 2>&1
            kill -USR1 $hp 2>/dev/null
            wait_line "$TMP/idle-$n-$r.txt" '^alive=' 100 $hp
            alive=$(sed -n 's/^alive=\([0-9]*\).*/\1/p' "$TMP/idle-$n-$r.txt")
            stop_pid $hp
            check_proxy "$n" "idle run $r"
            awk -v n="$n" -v r="$r" -v ready="${ready:-0}" -v failed="${failed:-?}" \
                -v secs="${secs:-?}" -v rss0="$rss0" -v rss1="$rss1" -v alive="${alive:-?}" '
                function ms(v) {
                    if (v ~ /us$/) return v / 1000;
                    if (v ~ /ms$/) return v + 0;
                    if (v ~ /s$/)  return v * 1000;
                    return v + 0;
                }
                /^ +50%/ { p50 = ms($2) }
                /^ +99%/ { p99 = ms($2) }
                /^Requests\/sec:/ { rps = $2 }
                END {
                    per = ready > 0 ? (rss1 - rss0) / ready : 0;
                    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", n, r, ready, failed, secs, rss0, rss1, per, rps + 0, p50 + 0, p99 + 0, alive
                }' "$_o" >>"$TMP/idle.tsv"
            tail -n 1 "$TMP/idle.tsv" | awk -F'\t' '{ printf "bench:   idle      %-8s run %s: %s conns (%s failed, %s s), RSS %d -> %d KiB, %.2f KiB/conn; fresh client %.0f req/s p50 %.3f ms p99 %.3f ms; %s still open\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' >&2
            # let the proxy close the 10k connections before the next one
            sleep 2
        done
    done
fi

# ---------------------------------------------------------------- gateway
# Scenario 7: cerberus only (nginx open source has no JWT verification;
# HAProxy 2.6's jwt_verify is not set up here).  The listener "gw" of
# bench/cerberus.conf has /plain/ (plain proxying) and /gw/ (JWT RS256 + a
# rate limit on jwt:sub that never refuses) on the same pool; wrk repeats one token, as clients
# do.  Both are measured as scenario 1, in turns within each run.  The
# routes must answer as configured (checked before and after), and a
# gateway run with non-2xx answers fails the scenario: the script then
# exits 1 after writing the results.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '=\n'; }
jwt_mint() {    # jwt_mint SUB: an RS256 token valid for an hour
    _now=$(date +%s)
    _jh=$(printf '%s' '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)
    _jp=$(printf '{"sub":"%s","iss":"https://bench.example","aud":"bench","iat":%s,"exp":%s}' \
        "$1" "$_now" $((_now + 3600)) | b64url)
    _js=$(printf '%s.%s' "$_jh" "$_jp" | openssl dgst -sha256 -sign "$TMP/jwt.key" | b64url)
    [ -n "$_jh" ] && [ -n "$_jp" ] && [ -n "$_js" ] || return 1
    printf '%s.%s.%s\n' "$_jh" "$_jp" "$_js"
}
http_status() { # http_status PORT PATH [HEADER]: the status of one GET, or "none"
    perl -MIO::Socket::INET -e '
        my ($port, $path, $h) = @ARGV;
        alarm 10;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Timeout => 5)
            or do { print "none\n"; exit 0 };
        print $s "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            . (defined $h && length $h ? "$h\r\n" : "") . "Connection: close\r\n\r\n";
        local $/;
        my $r = <$s> // "";
        my ($st) = $r =~ m{^HTTP/1\.[01] (\d{3}) };
        print $st // "none", "\n";' "$@"
}
: >"$TMP/gateway.txt"
GW_FAILED=
gw_fail() { echo "$*" >>"$TMP/gateway.txt"; GW_FAILED=1; say "ERROR: scenario 7 (gateway): $*"; }
if has gateway && is_proxy cerberus; then
    if ! running "$cerberus_pid"; then
        gw_fail "cerberus is not running"
    elif TOKEN=$(jwt_mint bench-user) && BAD=$(jwt_mint admin); then
        # a forged token: another payload under the real signature
        BAD=$(echo "$TOKEN" | cut -d. -f1).$(echo "$BAD" | cut -d. -f2).$(echo "$TOKEN" | cut -d. -f3)
        _gp=$cerberus_port_gw
        # before measuring: the routes must answer as configured, or the
        # figures would be those of a refusal or of plain proxying
        for _chk in "/plain/?size=100||200|plain route" \
                    "/gw/?size=100|Authorization: Bearer $TOKEN|200|gateway route with the token" \
                    "/gw/?size=100||401|gateway route without a token" \
                    "/gw/?size=100|Authorization: Bearer $BAD|401|gateway route with a forged token"; do
            _path=${_chk%%|*}; _rest=${_chk#*|}
            _hd=${_rest%%|*}; _rest=${_rest#*|}
            _want=${_rest%%|*}; _what=${_rest#*|}
            _got=$(http_status "$_gp" "$_path" "$_hd")
            echo "check: $_what: $_got (want $_want)" >>"$TMP/gateway-checks.txt"
            [ "$_got" = "$_want" ] || gw_fail "$_what answered $_got, not $_want"
        done
        if [ -z "$GW_FAILED" ]; then
            say "gateway: /plain/ 200, /gw/ 200 with the token, 401 without, 401 forged"
            # warm-up of the gateway route (the limit's table entry, key caches)
            $CLIENT_PIN wrk -t1 -c"$CONNS" -d1s -H "Authorization: Bearer $TOKEN" \
                "http://127.0.0.1:$_gp/gw/?size=100" >/dev/null 2>&1
            for r in $(seq 1 "$RUNS"); do
                # the same requests, token included, with and without the gateway
                wrk_run gw-plain cerberus "$r" "$CONNS" "http://127.0.0.1:$_gp/plain/?size=100" \
                    "Authorization: Bearer $TOKEN"
                wrk_run gw-jwt cerberus "$r" "$CONNS" "http://127.0.0.1:$_gp/gw/?size=100" \
                    "Authorization: Bearer $TOKEN"
            done
            # and after: still the token's 200 (not a run of refusals)
            _got=$(http_status "$_gp" "/gw/?size=100" "Authorization: Bearer $TOKEN")
            echo "check: gateway route with the token, after the runs: $_got (want 200)" >>"$TMP/gateway-checks.txt"
            [ "$_got" = 200 ] || gw_fail "gateway route with the token answered $_got after the runs, not 200"
            awk -F'\t' '$1 == "gw-jwt" && $9 ~ /non-2xx/ { print "wrk run " $3 " of the gateway route: " $9 }' \
                "$TMP/raw.tsv" | while read -r _l; do gw_fail "$_l"; done
            grep -q '^wrk run' "$TMP/gateway.txt" && GW_FAILED=1
        fi
    else
        gw_fail "cannot mint the JWT with openssl"
    fi
fi

# ---------------------------------------------------------------- syscalls per request
: >"$TMP/syscalls.tsv"
if has syscalls; then
    for n in $PROXIES; do
        eval "_pid=\$${n}_pid _port=\$${n}_port"
        running "$_pid" || continue
        # the workers (nginx, cerberus: every process but the master; the
        # cerberus checker is idle) or the one process (HAProxy)
        _ps=
        for p in $(procs "$_pid"); do
            [ "$p" = "$_pid" ] && [ "$n" != haproxy ] && continue
            _ps="$_ps -p $p"
        done
        _np=$(echo $_ps | wc -w); _np=$((_np / 2))
        # shellcheck disable=SC2086
        $CLIENT_PIN strace -c -f -o "$TMP/strace-$n.txt" $_ps 2>"$TMP/strace-$n.err" &
        sp=$!; started $sp
        i=0
        while [ "$(grep -c attached "$TMP/strace-$n.err")" -lt "$_np" ] && [ $i -lt 100 ]; do
            sleep 0.1; i=$((i + 1))
        done
        sleep 0.5
        _reqs=$SYSCALL_REQS
        [ "$n" = cerberus ] || _reqs=$SYSCALL_REF_REQS
        _cmd="$CLIENT_PIN $BC seq $_port $_reqs   # under: strace -c -f$_ps"
        printf '%s\t%s\t%s\n' syscalls "$n" "$_cmd" >>"$TMP/commands"
        $CLIENT_PIN $BC seq "$_port" "$_reqs" >"$TMP/seq-$n.txt" 2>&1
        sleep 0.3
        kill -INT $sp 2>/dev/null
        wait $sp 2>/dev/null
        check_proxy "$n" syscalls
        # % time, seconds, usecs/call, calls, [errors], syscall
        # per request: divided by the responses the client really got
        _done=$(sed -n 's/^requests=\([0-9]*\).*/\1/p' "$TMP/seq-$n.txt")
        [ "${_done:-0}" -gt 0 ] || _done=$_reqs
        awk -v n="$n" -v reqs="$_done" '
            /^-/ { sep++; next }
            sep == 1 && NF >= 5 {
                calls = $4; errs = (NF >= 6) ? $5 : 0;
                printf "%s\t%s\t%s\t%s\t%s\n", n, $NF, calls, errs, reqs
            }
            sep == 2 && $NF == "total" { printf "%s\ttotal\t%s\t%s\t%s\n", n, $4, (NF >= 6 ? $5 : 0), reqs }' \
            "$TMP/strace-$n.txt" >>"$TMP/syscalls.tsv"
        say "$n: $(cat "$TMP/seq-$n.txt"); $(awk -F'\t' -v n="$n" '$1 == n && $2 == "total" { printf "%.2f syscalls/request", $3 / $5 }' "$TMP/syscalls.tsv")"
    done
fi

# ---------------------------------------------------------------- report
for n in $PROXIES; do
    check_proxy "$n" "end of run" >/dev/null 2>&1
    # anything worse than notice in the error logs
    if [ -s "$TMP/$n/error.log" ]; then
        grep -E '\[(warn|error|crit|alert|emerg)\]|\[(WARNING|ALERT)\]' "$TMP/$n/error.log" \
            | tail -n 20 >"$TMP/$n/errors.txt"
    fi
done

T_END=$(date +%s)
cerb_v=$("$TMP/bin/cerberus" -V 2>&1 | head -n 1)
nginx_v=$(nginx -v 2>&1 | head -n 1)
haproxy_v=$(haproxy -v 2>&1 | head -n 1)
wrk_v=$(wrk -v 2>&1 | head -n 1)
openssl_v=$(openssl version 2>&1)
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)")

export UPSTREAM_KEEPALIVE TMP RUNS DURATION CONNS BIG_CONNS IDLE_CONNS IDLE_WANTED IDLE_NOTE IDLE_DURATION \
    SYSCALL_REQS PROXIES PIN_NOTE NPROC cpu_model mem_total cerb_v nginx_v haproxy_v \
    wrk_v openssl_v git_rev git_dirty T_START T_END WRK_THREADS SCENARIOS CLK_TCK hard
perl bench/report.pl >"$TMP/RESULTS.md" || { say "report failed"; exit 1; }
cp "$TMP/RESULTS.md" "$OUT"
cat "$TMP/RESULTS.md"
say "results written to $OUT ($((T_END - T_START)) s)"
if [ -s "$TMP/events" ]; then
    say "WARNING: proxy processes changed or died during the run (see $OUT)"
fi
if [ -n "$GW_FAILED" ]; then
    say "ERROR: scenario 7 (gateway) failed: $(tr '\n' ';' <"$TMP/gateway.txt")"
    exit 1
fi
exit 0
