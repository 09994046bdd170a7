#!/usr/bin/env bash
# The Linux end-to-end Check suites against the Windows demos under wine:
#
#   bash tests/wine/run-suites.sh BUILD CHECK_BIN   (make TARGET=mingw check runs it)
#
# BUILD holds the mingw-w64 build (sb-echod.exe, sb-echo.exe, sb-chatd.exe),
# CHECK_BIN is the Linux build's check_switchboard, WINEPREFIX a wine prefix.
# The suites echod, echo, chatd and shutdown (tests/check_*.c) spawn their
# demo through tu_demo(): SB_DEMO_DIR names a folder of wrappers here that
# exec wine on the .exe, and SB_DEMOS_WIN32=1 tells the tests that the demos
# are Windows programs: they stop them with SIGINT (wine's CTRL_C_EVENT)
# instead of SIGTERM, read their stderr's "\r\n" as "\n", and skip by name,
# printing the reason, what Windows does not have (SIGUSR1 counters, --user,
# the POSIX-only sb-httpd and sb-kvd that shutdown also drives).  The
# clients are the Linux test process, over 127.0.0.1.  Prints each suite's
# Check summary and skips, then the totals; exit 1 when a test failed.
set -u
build=${1:?usage: run-suites.sh BUILD CHECK_BIN}
bin=${2:?usage: run-suites.sh BUILD CHECK_BIN}
WINE=${WINE:-wine}
export WINEDEBUG=${WINEDEBUG:--all}
: "${WINEPREFIX:?WINEPREFIX must name a wine prefix}"
export WINEPREFIX
build=$(cd "$build" && pwd)
tmp=$(mktemp -d)
server=
cleanup() {
    # The wineserver started below (its own prefix: only our processes).
    [ -n "$server" ] && wineserver -k 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

for d in sb-echod sb-echo sb-chatd; do
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$WINE" "$build/$d.exe" > "$tmp/$d"
    chmod +x "$tmp/$d"
done

# One wineserver for the whole run, started here with nothing inherited:
# a wineserver (and the prefix's services) that the first demo started
# would hold that demo's stderr pipe open after it exited, and the tests
# read stderr to its end.  Persistent (-p) until the trap ends it; warmed
# up by one demo so that later start-ups take milliseconds.  First the
# wait for a wineserver still lingering after the last wine program (run.sh's)
# to exit: a demo started while it exits loses its connection to it.
wineserver -w
wineserver -p </dev/null >/dev/null 2>&1 && server=1
"$tmp/sb-echod" --version </dev/null >/dev/null 2>&1

export SB_DEMO_DIR="$tmp" SB_DEMOS_WIN32=1
total=0 failed=0 skips=0 rc=0
for suite in echod echo chatd shutdown; do
    log="$tmp/$suite.log"
    CK_RUN_SUITE=$suite "$bin" > "$log" 2>&1 || rc=1
    # "100%: Checks: 9, Failures: 0, Errors: 0" and each failure's line
    sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' \
        "$log" > "$tmp/counts"
    if [ ! -s "$tmp/counts" ]; then
        echo "wine suites: $suite: no Check summary"
        cat "$log"
        rc=1
        continue
    fi
    read -r n f e < "$tmp/counts"
    s=$(grep -c 'skipped on Windows' "$log")
    echo "wine suites: $suite: $n checks, $((f + e)) failed, $s skipped in whole or part:"
    grep 'skipped on Windows' "$log" | sed 's/^/    /'
    grep -E ':[EF]:' "$log" | sed 's/^/    FAIL: /'
    total=$((total + n)) failed=$((failed + f + e)) skips=$((skips + s))
done
echo "wine suites: $total checks, $failed failed, $skips skips (echod, echo, chatd, shutdown against the .exe demos)"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
