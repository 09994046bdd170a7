#!/usr/bin/env bash
# The Windows build under wine, talked to from Linux over 127.0.0.1:
#
#   sh tests/wine/run.sh BUILD     (make TARGET=mingw check runs it)
#
# BUILD holds the mingw-w64 build (sb-echod.exe, sb-echo.exe, sb-chatd.exe)
# and WINEPREFIX points at a prefix (make makes one under BUILD).  Each
# case prints one line; the last line is "N passed, N failed".  The demos
# run under wine as Windows programs: winsock, the select backend of
# src/fdset_win32.c, the console control handler (wine turns a SIGINT sent
# to the process into CTRL_C_EVENT), the loopback socket pairs.
set -u
build=${1:?usage: run.sh BUILD}
WINE=${WINE:-wine}
export WINEDEBUG=${WINEDEBUG:--all}
: "${WINEPREFIX:?WINEPREFIX must name a wine prefix}"
export WINEPREFIX
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pass=0
fail=0
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "wine: ok: $1"; }
bad() { fail=$((fail + 1)); echo "wine: FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    /' "$2"; }

# A wrapper that runs a demo under wine as if it were a Linux program,
# for the scripts that take a binary (tests/smoke-echod.sh).
for d in sb-echod sb-echo sb-chatd; do
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$WINE" "$build/$d.exe" > "$tmp/$d"
    chmod +x "$tmp/$d"
done

# Start a daemon under wine on 127.0.0.1:0; sets port and pid.  Waits for
# its "listening on" line (polling the log: the daemon says when it is up).
start() {
    local name=$1 log=$2
    shift 2
    "$tmp/$name" --listen 127.0.0.1:0 "$@" 2>"$log" &
    pid=$!
    pids+=("$pid")
    port=
    for _ in $(seq 400); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# 1. tests/smoke-echod.sh against sb-echod.exe, SIGINT (a console Ctrl-C).
if SMOKE_SIGNAL=INT bash "$here/../smoke-echod.sh" "$tmp/sb-echod" > "$tmp/smoke.log" 2>&1; then
    ok "smoke-echod.sh: a line echoed, Ctrl-C, exit 0"
else
    bad "smoke-echod.sh" "$tmp/smoke.log"
fi

# 2..5: one sb-echod.exe, several Linux clients.
if start sb-echod "$tmp/echod.log"; then
    # 2. half-close: 1 MiB sent, our side shut down, all of it back, then EOF.
    if python3 "$here/clients.py" half-close "$port" > "$tmp/hc.log" 2>&1; then
        ok "half-close: 1 MiB echoed after our FIN, then EOF"
    else
        bad "half-close" "$tmp/hc.log"
    fi
    # 3. many connections at once, past winsock's FD_SETSIZE of 64.
    if python3 "$here/clients.py" many "$port" 300 > "$tmp/many.log" 2>&1; then
        ok "300 connections at once (FD_SETSIZE is 64), each echoed"
    else
        bad "300 connections" "$tmp/many.log"
    fi
    # 4. sb-echo.exe (Windows client, sb_connect) against it.
    if out=$("$tmp/sb-echo" "127.0.0.1:$port" hello windows 2>"$tmp/echo.log") &&
        [ "$(printf '%s' "$out" | tr -d '\r')" = "$(printf 'hello\nwindows')" ]; then
        ok "sb-echo.exe: two messages checked"
    else
        bad "sb-echo.exe" "$tmp/echo.log"
    fi
    # 5. a refused connect is seen (select's except set) and reported.
    if "$tmp/sb-echo" --timeout 5 "127.0.0.1:1" x > "$tmp/refused.log" 2>&1; then
        bad "sb-echo.exe to a closed port succeeded" "$tmp/refused.log"
    elif grep -qi "refused" "$tmp/refused.log"; then
        ok "sb-echo.exe to a closed port: connection refused"
    else
        bad "sb-echo.exe to a closed port: no 'refused'" "$tmp/refused.log"
    fi
    # 6. Ctrl-C with a client in mid-stream: its echo is flushed, then EOF,
    #    the listener closed, exit 0.
    if python3 "$here/clients.py" drain "$port" "$pid" > "$tmp/drain.log" 2>&1 &&
        wait "$pid"; then
        ok "Ctrl-C drain: the client's echo flushed, EOF, exit 0"
    else
        bad "Ctrl-C drain" "$tmp/drain.log"
        cat "$tmp/echod.log"
    fi
else
    bad "sb-echod.exe did not start" "$tmp/echod.log"
fi

# 7. sb-chatd.exe: two clients, a line from one reaches the other.
if start sb-chatd "$tmp/chatd.log"; then
    if python3 "$here/clients.py" chat "$port" > "$tmp/chat.log" 2>&1; then
        ok "sb-chatd.exe: a line from one client reaches the other"
    else
        bad "sb-chatd.exe" "$tmp/chat.log"
    fi
    kill -INT "$pid"
    if wait "$pid"; then
        ok "sb-chatd.exe: Ctrl-C, exit 0"
    else
        bad "sb-chatd.exe exit status" "$tmp/chatd.log"
    fi
else
    bad "sb-chatd.exe did not start" "$tmp/chatd.log"
fi

echo "wine: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
