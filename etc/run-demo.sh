#!/bin/sh
# `make run`: two t/origin backends on 127.0.0.1:9001 and :9002, then
# cerberus in the foreground on etc/examples/demo.conf. Ctrl-C stops all
# three.
set -u
: "${CERBERUS:=build/cerberus}" "${ORIGIN:=build/t/origin}" "${BUILD:=build}"
mkdir -p "$BUILD/run"
"$ORIGIN" -p 9001 -n origin-1 >/dev/null &
o1=$!
"$ORIGIN" -p 9002 -n origin-2 >/dev/null &
o2=$!
trap 'kill $o1 $o2 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
echo "cerberus: serving etc/examples/demo.conf; try: curl http://127.0.0.1:8080/"
echo "          (origins on 127.0.0.1:9001 and :9002; Ctrl-C stops everything)"
"$CERBERUS" run -c etc/examples/demo.conf -p "$BUILD/run/cerberus.pid"
