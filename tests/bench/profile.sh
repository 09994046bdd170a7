#!/bin/bash
# Profile one echo server under one sb-bench load (Linux perf):
#
#   sh tests/bench/profile.sh SERVER [sb-bench options]
#   sh tests/bench/profile.sh sb-echod -M pipeline -c 50 -D 16
#   CLIENT=epoll-pump sh tests/bench/profile.sh sb-echod -M pump -c 50 -s 16384 -D 64
#
# CLIENT=epoll-pump drives the load with build/bench/epoll-pump (the bulk
# loads' client; the same options as sb-bench's pump) instead of sb-bench.
# BIN=DIR takes sb-echod and sb-bench from DIR instead of build/.
#
# SERVER is sb-echod, epoll, libevent, libuv or libev-select (build them
# with `make bench` first).  The server runs on core 0, sb-bench on core 1
# for 10 s; perf samples the server for 6 s of it (call graphs) and counts
# its system calls.  Prints the load's result, system calls per request, the
# time under the main system calls and the hottest symbols; the recording
# stays in build/bench/prof/ for `perf report -i`.  Never leaves the server
# running.
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: profile.sh SERVER [sb-bench options]" >&2; exit 2; }
name=$1
shift
command -v perf >/dev/null 2>&1 || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
port=$((20000 + RANDOM % 10000))
bin=${BIN:-build}
case ${CLIENT:-sb-bench} in
sb-bench) client=$bin/sb-bench ;;
epoll-pump) client=build/bench/epoll-pump ;;
*) echo "profile.sh: unknown CLIENT '$CLIENT' (sb-bench, epoll-pump)" >&2; exit 2 ;;
esac
case $name in
sb-echod) cmd="$bin/sb-echod -l 127.0.0.1:$port" ;;
epoll | libevent | libuv) cmd="build/bench/$name-echo 127.0.0.1:$port" ;;
libev-select) cmd="build/bench/libev-echo 127.0.0.1:$port" ;;
*) echo "profile.sh: unknown server '$name' (sb-echod, epoll, libevent, libuv, libev-select)" >&2; exit 2 ;;
esac
out=build/bench/prof
mkdir -p $out
tag=$name-${CLIENT:-sb-bench}-$(echo "$*" | tr -c 'a-zA-Z0-9\n' '_' | tr -s '_')
taskset -c 0 $cmd 2>$out/$tag.log &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null || true' EXIT INT TERM
sleep 0.3
taskset -c 1 $client -q -t 127.0.0.1:$port -d 9 -w 1 -p $srv "$@" >$out/$tag.result &
load=$!
sleep 2.5
perf stat -x, -o $out/$tag.syscalls -p $srv \
    -e 'syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_read' \
    -e 'syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_readv' \
    -e 'syscalls:sys_enter_pselect6,syscalls:sys_enter_epoll_wait' -- sleep 6 &
stat=$!
perf record -q -e cpu-clock -F 4999 -g -p $srv -o $out/$tag.data -- sleep 6 2>/dev/null
wait $stat || true
wait $load || true
python3 tests/bench/perfsum.py $out/$tag.result $out/$tag.syscalls $out/$tag.data
