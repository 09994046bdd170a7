#!/usr/bin/env bash
# Smoke test for an sb-echod binary (e.g. the musl build): start it on a
# free loopback port, echo a line through bash's /dev/tcp, SIGTERM, exit 0.
# SMOKE_SIGNAL=INT sends SIGINT instead (the Windows build under wine,
# tests/wine/run.sh: wine turns it into a console Ctrl-C).
set -euo pipefail
bin=$1
log=$(mktemp)
"$bin" --listen 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
    grep -q 'listening on' "$log" && break
    sleep 0.05
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || { echo "smoke: $bin did not start"; cat "$log"; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'hello from the smoke test\n' >&3
IFS= read -r -t 5 reply <&3
exec 3>&-
[ "$reply" = "hello from the smoke test" ] || { echo "smoke: bad echo '$reply'"; exit 1; }
kill -"${SMOKE_SIGNAL:-TERM}" $pid
wait $pid
echo "smoke: $bin echoed and exited 0"
