#!/usr/bin/env python3
"""The `make bench` driver: switchboard's demos side by side with references.

Runs every comparison interleaved, test by test: for each pass and each
load, every server in turn (a fresh server process per test, the order
rotated from one load and pass to the next), the server pinned to one core
and the load generator to the other.  Reports medians of the passes with
min-max, per-pass ratios (sb / reference, then the median of those), the
server's CPU time per request and its RSS, and writes docs/benchmarks.md
with SVG charts (gnuplot).  Standard library only.

Environment (all optional):
  BENCH_QUICK=1        smoke run: 1 pass, short tests, written to
                       build/bench/quick/ instead of docs/
  BENCH_PASSES=N       passes (default 3; quick 1)
  BENCH_SECONDS=S      measured seconds per test (default 2; quick 0.7)
  BENCH_ONLY=LIST      parts: echo,http,kv,scale,embed,proxy,tls (default the first
                       six, and tls with --tls)
  BENCH_SERVERS=LIST   only these servers (e.g. sb-echod,epoll; epoll+sb-bench is
                       the epoll server under sb-bench's own pump; sb-proxyd,haproxy)
  BENCH_LOADS=LIST     only these loads of the echo, scale, embed and proxy parts
                       (e.g. pp50,pump1,scale-pp10000,proxy-pump50; ids in
                       ECHO_LOADS, SCALE_LOADS, EMBED_LOADS and PROXY_LOADS below);
                       http and kv run whole
  BENCH_SERVER_CPU=N   core for the servers (default 0)
  BENCH_CLIENT_CPU=N   core for the load generators (default 1)
  BENCH_OUT=DIR        where the report goes (default docs/ or build/bench/quick/)
  BENCH_NOTE=TEXT      a sentence for the report's run conditions (e.g. what else
                       ran on the machine)

The scale part runs the library's epoll backend at 10,000 connections:
sb-echod --backend epoll, sb-echod on select (for contrast) and the epoll
reference under ping-pong with 10,000 connections and 1 active beside 9,000
idle, and sb-httpd with --backend epoll and on select against nginx at
wrk -c1000; its echo loads are driven by sb-bench on the epoll backend
(SB_BACKEND=epoll), so that the client's own select() is not the limit.
The embed part runs build/embed/poll-echo (switchboard driven by a plain
poll() host loop through sb_loop_set_watch / sb_loop_timeout /
sb_loop_dispatch) beside sb-echod: the host's CPU time (utime + stime from
/proc/PID/stat) while 1,000 connected clients stay silent, and the p50 / p99
latency of 1-connection ping-pong; it is skipped when poll-echo is not built.

The tls part (--tls, or BENCH_ONLY=tls; `make TLS=1 bench` passes --tls) needs
the TLS build of the demos and build/bench/tls-load and tls-epoll-echo: sb-httpd
--tls-cert/--tls-key against nginx (one worker, ssl_session_tickets on, the
same certificate from tests/tls/gen-certs.sh) for full handshakes/s and
resumed handshakes/s (tls-load, tests/bench/tls_load.c: connect, handshake,
close, 32 connections at once; the server's CPU per handshake from
/proc/PID/stat around the run) and HTTPS keep-alive requests/s (wrk -c50),
and sb-echod --tls-cert/--tls-key against tls-epoll-echo
(tests/bench/tls_epoll_echo.c) for byte-checked bulk TLS echo MB/s.  A
TLS-only run writes benchmarks/tls.md (and benchmarks/tls-results.json)
under the output folder and leaves benchmarks.md alone.

The pump loads (bulk echo: 16 KiB writes, 1 MiB in flight per connection) are
driven by build/bench/epoll-pump (tests/bench/epoll_pump.c), a plain epoll
client that checks the echoed bytes against a pattern with a running offset,
so that switchboard's own client side is not the limit; the same loads also
run sb-bench's pump mode against the epoll server (the "epoll+sb-bench" row),
which compares the two clients.
The proxy part runs sb-proxyd beside HAProxy (mode tcp, nbthread 1), both in
front of the same upstream sb-echod (--backend epoll, pinned to the client's
core so that the proxy has its core to itself): ping-pong (sb-bench) and pump
(epoll-pump) through the proxy, 1 and 50 connections, with the proxy's CPU
per request and per byte.  Once per run, not per pass: a transfer from
build/bench/bulk-source through the proxy to a reader throttled to 25 MB/s,
with the proxy's RSS (VmRSS) sampled every 10 ms, and 1,000 concurrent
relayed connections each echoing 10 MB of its own pseudo-random stream,
every byte compared (BENCH_QUICK scales both down).  The part is skipped
when sb-proxyd is not built (--proxyd names another binary with its
command line).
"""

import argparse
import csv
import datetime
import io
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ------------------------------------------------------------------ setup


def env_num(name, default, cast=float):
    v = os.environ.get(name, "")
    if not v:
        return default
    try:
        return cast(v)
    except ValueError:
        sys.exit("bench: %s=%r is not a number" % (name, v))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build"),
                    help="folder of sb-echod, sb-bench, sb-httpd, sb-kvd")
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "build", "bench"),
                    help="folder of the reference servers")
    ap.add_argument("--poll-echo", dest="poll_echo", default=None,
                    help="the embedding demo (default: BIN/embed/poll-echo)")
    ap.add_argument("--proxyd", default=None,
                    help="the proxy daemon of the proxy part, with sb-proxyd's options "
                         "(default: BIN/sb-proxyd)")
    ap.add_argument("--tls", action="store_true",
                    help="also the tls part (the demos built with make TLS=1)")
    ap.add_argument("--from", dest="from_json", metavar="RESULTS_JSON",
                    help="only rewrite the report of an earlier run from its results.json")
    args = ap.parse_args()
    if args.from_json:
        args.note = os.environ.get("BENCH_NOTE")
        return args
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    args.quick = quick
    args.passes = env_num("BENCH_PASSES", 1 if quick else 3, int)
    args.seconds = env_num("BENCH_SECONDS", 0.7 if quick else 2.0)
    args.warmup = 0.2 if quick else 0.5
    args.tls = args.tls or os.environ.get("BENCH_TLS", "") not in ("", "0")
    default_parts = [x for x in PARTS if x != "tls" or args.tls]
    args.only = [s for s in os.environ.get("BENCH_ONLY", ",".join(default_parts)).split(",") if s]
    for s in args.only:
        if s not in PARTS:
            sys.exit("bench: BENCH_ONLY: unknown part %r (want %s)" % (s, ", ".join(PARTS)))
    args.servers = [x for x in os.environ.get("BENCH_SERVERS", "").split(",") if x]
    args.loads = [x for x in os.environ.get("BENCH_LOADS", "").split(",") if x]
    known = [l[0] for l in ECHO_LOADS + SCALE_LOADS + EMBED_LOADS + PROXY_LOADS + TLS_LOADS]
    for x in args.loads:
        if x not in known:
            sys.exit("bench: BENCH_LOADS: unknown load %r (want %s)" % (x, ", ".join(known)))
    ncpu = os.cpu_count() or 1
    args.server_cpu = env_num("BENCH_SERVER_CPU", 0, int)
    args.client_cpu = env_num("BENCH_CLIENT_CPU", 1 if ncpu > 1 else 0, int)
    default_out = os.path.join(ROOT, "build", "bench", "quick") if quick else os.path.join(ROOT, "docs")
    args.out = os.environ.get("BENCH_OUT") or default_out
    args.note = os.environ.get("BENCH_NOTE", "")
    if args.passes < 1 or args.seconds <= 0:
        sys.exit("bench: BENCH_PASSES and BENCH_SECONDS must be positive")
    return args


def raise_nofile():
    """Room for 10,000 connections in the servers and the load generators."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def free_port():
    """A free TCP port below the ephemeral range, so that the thousands of
    client sockets a test opens can never take it between tests."""
    lo = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    lo = max(lo, 12000)
    for _ in range(200):
        port = 10000 + int.from_bytes(os.urandom(2), "little") % (lo - 10000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free TCP port below %d" % lo)


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ------------------------------------------------------ processes, /proc

LIVE = set()  # servers started and not yet stopped


def proc_cpu(pid):
    """(user, system) CPU seconds of pid, all its threads, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz  # fields 14 and 15


def proc_kb(pid, name):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Server:
    def __init__(self, name, argv, port, cpu, logdir, cwd=None):
        self.name, self.argv, self.port, self.cpu = name, argv, port, cpu
        self.cwd = cwd
        self.logpath = os.path.join(logdir, "%s.log" % name)
        self.proc = None

    def start(self):
        logf = open(self.logpath, "ab")
        argv = ["taskset", "-c", str(self.cpu)] + self.argv if self.cpu is not None else self.argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     cwd=self.cwd, start_new_session=True)
        logf.close()
        LIVE.add(self)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start (status %s); see %s"
                                   % (self.name, self.proc.returncode, self.logpath))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("%s did not listen on port %d within 10 s" % (self.name, self.port))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        LIVE.discard(self)


def stop_all(*_):
    for s in list(LIVE):
        try:
            s.stop()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
    if _:
        sys.exit(130)


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv if cpu is not None else argv


def kv_line(text):
    """The last line of key=value pairs in text, as a dict."""
    for line in reversed(text.strip().splitlines()):
        if "=" in line and line.startswith("mode="):
            return dict(p.split("=", 1) for p in line.split())
    return None


# ------------------------------------------------------------- the tests

PARTS = ("echo", "http", "kv", "scale", "embed", "proxy", "tls")

# Bulk echo: DEPTH 16 KiB writes in flight per connection (1 MiB), for
# epoll-pump and sb-bench alike.
PUMP_ARGS = ["-M", "pump", "-s", "16384", "-D", "64"]

ECHO_LOADS = [
    # id, title, sb-bench (or epoll-pump, kind "mb") arguments, kind
    ("pp1", "ping-pong, 1 connection", ["-M", "pingpong", "-c", "1"], "rt"),
    ("pp50", "ping-pong, 50 connections", ["-M", "pingpong", "-c", "50"], "rt"),
    ("pp1000", "ping-pong, 1,000 connections", ["-M", "pingpong", "-c", "1000"], "rt"),
    ("pp10000", "ping-pong, 10,000 connections", ["-M", "pingpong", "-c", "10000"], "rt"),
    ("pipe50x16", "pipelined, 50 connections x 16 in flight",
     ["-M", "pipeline", "-c", "50", "-D", "16"], "rt"),
    # Pump loads ("mb") run epoll-pump, whose options match sb-bench's pump mode.
    ("pump1", "pump, 1 connection (16 KiB writes, 1 MiB in flight)", PUMP_ARGS + ["-c", "1"], "mb"),
    ("pump50", "pump, 50 connections (16 KiB writes, 1 MiB in flight)", PUMP_ARGS + ["-c", "50"],
     "mb"),
    ("idle1+100", "1 active + 100 idle", ["-M", "pingpong", "-c", "1", "-i", "100"], "rt"),
    ("idle1+900", "1 active + 900 idle", ["-M", "pingpong", "-c", "1", "-i", "900"], "rt"),
    ("idle1+9000", "1 active + 9,000 idle", ["-M", "pingpong", "-c", "1", "-i", "9000"], "rt"),
    ("idle50+100", "50 active + 100 idle", ["-M", "pingpong", "-c", "50", "-i", "100"], "rt"),
    ("idle50+900", "50 active + 900 idle", ["-M", "pingpong", "-c", "50", "-i", "900"], "rt"),
    ("idle50+9000", "50 active + 9,000 idle", ["-M", "pingpong", "-c", "50", "-i", "9000"], "rt"),
    ("rss10000", "10,000 idle connections held", ["-M", "idle", "-c", "10000"], "rss"),
]


def echo_servers(args):
    b, bb = args.bin, args.bench_bin
    return [
        ("sb-echod", lambda a: [os.path.join(b, "sb-echod"), "-l", a]),
        ("epoll", lambda a: [os.path.join(bb, "epoll-echo"), a]),
        ("libevent", lambda a: [os.path.join(bb, "libevent-echo"), a]),
        ("libuv", lambda a: [os.path.join(bb, "libuv-echo"), a]),
        ("libev-select", lambda a: [os.path.join(bb, "libev-echo"), a]),
    ]


# The scale part: the library's epoll backend with 10,000 connections, against
# the epoll reference (echo) and nginx (http); sb-echod and sb-httpd on select
# beside them for contrast.  Its echo loads run sb-bench on the epoll backend.
SCALE_LOADS = [
    # id, title, sb-bench arguments (None: wrk), kind
    ("scale-pp10000", "ping-pong, 10,000 connections", ["-M", "pingpong", "-c", "10000"], "rt"),
    ("scale-idle1+9000", "1 active + 9,000 idle", ["-M", "pingpong", "-c", "1", "-i", "9000"],
     "rt"),
    ("scale-wrk-c1000", "wrk -c1000", None, "rt"),
]
SCALE_WRK_CONNS = 1000
# Room above the 10,000 (or 9,001) connections a scale load opens; with the
# daemons' reserve of 32 fds it stays below a hard limit of 20,000.
SCALE_MAX_CONNS = 16000

# The embed part: poll-echo (switchboard inside a host's poll() loop) beside
# sb-echod.
EMBED_LOADS = [
    ("embed-idle1000", "1,000 idle connections: the host's CPU", None, "idlecpu"),
    ("embed-pp1", "ping-pong, 1 connection: latency", ["-M", "pingpong", "-c", "1"], "rt"),
]
EMBED_IDLE_CONNS = 1000
EMBED_MAX_CONNS = 4000
# Both servers get the same idle timeout, well past the test (an armed
# timeout is the usual case, and the host must not wake up for it).
EMBED_IDLE_TIMEOUT_S = 300

# The load generator on the library's epoll backend (scale and embed parts).
EPOLL_CLIENT = {"SB_BACKEND": "epoll"}


def scale_echo_servers(args):
    b, bb = args.bin, args.bench_bin
    sb = os.path.join(b, "sb-echod")
    mc = str(SCALE_MAX_CONNS)
    return [
        ("sb-echod-epoll", lambda a: [sb, "--backend", "epoll", "-c", mc, "-l", a]),
        ("sb-echod", lambda a: [sb, "--backend", "select", "-c", mc, "-l", a]),
        ("epoll", lambda a: [os.path.join(bb, "epoll-echo"), a]),
    ]


def embed_servers(args):
    sb = os.path.join(args.bin, "sb-echod")
    idle, mc = str(EMBED_IDLE_TIMEOUT_S), str(EMBED_MAX_CONNS)
    return [
        ("poll-echo", lambda a: [args.poll_echo, "-l", a, "-t", idle, "-c", mc]),
        ("sb-echod", lambda a: [sb, "--backend", "select", "-t", idle, "-c", mc, "-l", a]),
    ]


def pump_client_servers(args):
    """The epoll server under sb-bench's own pump mode, beside the pump loads'
    servers under epoll-pump: sb-bench pump ÷ epoll-pump, same server."""
    return [("epoll+sb-bench", lambda a: [os.path.join(args.bench_bin, "epoll-echo"), a])]


# Which load generator drives a server in the echo part: epoll-pump for the
# pump loads except for this one.
SB_BENCH_CLIENT = {"epoll+sb-bench"}


def run_echo(args, name, make_argv, load, logdir, client_env=None, client=None,
             upstream=None):
    """One echo load against one server.  client: "sb-bench" or "epoll-pump"
    (default: epoll-pump for pump loads, else sb-bench).  upstream: a running
    Server behind a proxy, whose CPU share over the client's run is kept."""
    lid, _title, largs, kind = load
    if client is None:
        client = "epoll-pump" if kind == "mb" else "sb-bench"
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(name, make_argv(addr), port, args.server_cpu, logdir).start()
    try:
        # Idle connections are held 3 s: long enough for a server that gives
        # idle buffers back after a second to have done so.
        secs = 3.0 if lid == "rss10000" else args.seconds
        argv = [os.path.join(args.bin, client), "-q", "-t", addr, "-d", "%g" % secs,
                "-w", "%g" % args.warmup, "-p", str(srv.pid)]
        if client == "epoll-pump":
            argv += ["-T", "%g" % (secs + args.warmup + 60)]
        argv = pinned(args.client_cpu, argv + largs)
        env = dict(os.environ, **client_env) if client_env else None
        up0 = proc_cpu(upstream.pid) if upstream else None
        t0 = time.monotonic()
        p, busy = run_client(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=secs + args.warmup + 120, env=env)
        t1 = time.monotonic()
        up1 = proc_cpu(upstream.pid) if upstream and upstream.alive() else None
        r = kv_line(p.stdout)
        if r is None or not srv.alive():
            raise RuntimeError("%s gave no result (status %d%s): %s"
                               % (client, p.returncode, "" if srv.alive() else ", the server died",
                                  p.stderr.strip().splitlines()[-1:] or ""))
        out = {
            "rate": float(r["rate"]),
            "mbps": float(r["mb_per_s"]),
            "p50": float(r["p50_us"]), "p99": float(r["p99_us"]), "p999": float(r["p999_us"]),
            "cpu_us": float(r.get("server_cpu_us_per_req", 0)),
            "usr_s": float(r.get("server_usr_s", 0)), "sys_s": float(r.get("server_sys_s", 0)),
            "seconds": float(r["seconds"]),
            "requests": int(float(r["requests"])),
            "rss_kb": int(r.get("server_rss_kb", -1)),
            "rss0_kb": int(r.get("server_rss0_kb", -1)),
            "client_cpu_s": float(r["client_cpu_s"]),
            "client": client,
            "ok": r["status"] == "ok",
        }
        if out["requests"]:
            out["usr_us"] = out["usr_s"] * 1e6 / out["requests"]
            out["sys_us"] = out["sys_s"] * 1e6 / out["requests"]
        # Server CPU per MB carried (echoed bytes, as the client counted them).
        mb = out["mbps"] * out["seconds"]
        if mb > 0:
            out["cpu_us_mb"] = (out["usr_s"] + out["sys_s"]) * 1e6 / mb
            out["usr_us_mb"] = out["usr_s"] * 1e6 / mb
            out["sys_us_mb"] = out["sys_s"] * 1e6 / mb
        out["cpu_util"] = (out["usr_s"] + out["sys_s"]) / out["seconds"] if out["seconds"] else 0
        out["client_busy"] = busy
        if "client_window_cpu_s" in r and out["seconds"]:
            # epoll-pump's own CPU over the measured window alone.
            out["client_window"] = float(r["client_window_cpu_s"]) / out["seconds"]
        if "mismatches" in r:
            out["mismatches"] = int(r["mismatches"])
        if up0 and up1 and t1 > t0:
            out["upstream_busy"] = ((up1[0] - up0[0]) + (up1[1] - up0[1])) / (t1 - t0)
        if client_env:
            out["client_backend"] = client_env.get("SB_BACKEND")
        if not out["ok"]:
            out["error"] = (p.stderr.strip().splitlines() or ["?"])[-1]
        return out
    finally:
        srv.stop()


def proc_conns(pid, port):
    """How many established TCP connections to 127.0.0.1:port pid holds."""
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                x = line.split()
                if x[3] == "01" and int(x[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(x[9])
        n = 0
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                n += 1
        return n
    except (OSError, StopIteration, IndexError, ValueError):
        return -1


def proc_wakeups(pid):
    """Voluntary context switches of all pid's threads: how often it slept
    and was woken."""
    n = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        n += int(line.split()[1])
    except OSError:
        pass
    return n


def proc_oncpu_ns(pid):
    """Time on a CPU of all pid's threads, in ns (/proc/PID/task/*/schedstat),
    or None where the kernel does not keep it: a cross-check of the clock
    ticks of /proc/PID/stat."""
    n = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                n += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return n


def run_idle_cpu(args, name, make_argv, logdir):
    """The server's own CPU time while EMBED_IDLE_CONNS connected clients send
    nothing: utime + stime from /proc/PID/stat over a window that starts once
    the server holds every connection (each made one 64-byte round trip) and
    ends before the client lets go of them."""
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server(name, make_argv(addr), port, args.server_cpu, logdir).start()
    client = None
    try:
        window = args.idle_window
        settle = 0.5
        # The client holds the connections past the window's end (its own
        # measured time starts about when the last connection is ready).
        hold = settle + window + 0.75
        argv = pinned(args.client_cpu, [os.path.join(args.bin, "sb-bench"), "-q", "-t", addr,
                                        "-M", "idle", "-c", str(EMBED_IDLE_CONNS),
                                        "-d", "%g" % hold, "-p", str(srv.pid)])
        client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, **EPOLL_CLIENT))
        deadline = time.monotonic() + 60
        while proc_conns(srv.pid, port) < EMBED_IDLE_CONNS:
            if client.poll() is not None or not srv.alive():
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%s held only %d of %d connections after 60 s"
                                   % (name, proc_conns(srv.pid, port), EMBED_IDLE_CONNS))
            time.sleep(0.05)
        time.sleep(settle)  # the last round trips answered
        if client.poll() is not None or not srv.alive():
            out, err = client.communicate(timeout=10)
            raise RuntimeError("the idle clients stopped early (sb-bench status %s%s): %s"
                               % (client.returncode, "" if srv.alive() else ", the server died",
                                  (err.strip().splitlines() or [""])[-1]))
        t0 = time.monotonic()
        u0, s0 = proc_cpu(srv.pid)
        n0 = proc_oncpu_ns(srv.pid)
        w0 = proc_wakeups(srv.pid)
        cu0, cs0 = proc_cpu(client.pid)
        time.sleep(window)
        u1, s1 = proc_cpu(srv.pid)
        n1 = proc_oncpu_ns(srv.pid)
        w1 = proc_wakeups(srv.pid)
        cu1, cs1 = proc_cpu(client.pid)
        t1 = time.monotonic()
        held = proc_conns(srv.pid, port)
        rss = proc_kb(srv.pid, "VmRSS")
        out, err = client.communicate(timeout=hold + 70)
        if not srv.alive():
            raise RuntimeError("%s died holding idle connections" % name)
        r = kv_line(out)
        dt = t1 - t0
        res = {
            "cpu_share": ((u1 - u0) + (s1 - s0)) / dt,
            "usr_s": u1 - u0, "sys_s": s1 - s0, "seconds": dt,
            "wakeups_per_s": (w1 - w0) / dt,
            "oncpu_share": (n1 - n0) / 1e9 / dt if n0 is not None and n1 is not None else None,
            "held": held, "rss_kb": rss,
            "client_busy": ((cu1 - cu0) + (cs1 - cs0)) / dt,
            "client_backend": EPOLL_CLIENT["SB_BACKEND"],
            "tick_s": 1.0 / os.sysconf("SC_CLK_TCK"),
            "ok": bool(r) and r.get("status") == "ok" and held >= EMBED_IDLE_CONNS,
        }
        if not res["ok"]:
            res["error"] = ("only %d of %d connections held at the window's end"
                            % (held, EMBED_IDLE_CONNS) if held < EMBED_IDLE_CONNS else
                            (err.strip().splitlines() or ["sb-bench gave no result"])[-1])
        return res
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        srv.stop()


# ------------------------------------------------------------- proxy

# The proxy part: sb-proxyd and HAProxy in front of the same upstream sb-echod.
PROXY_LOADS = [
    # id, title, client arguments (None: a check of its own), kind
    ("proxy-pp1", "ping-pong, 1 connection", ["-M", "pingpong", "-c", "1"], "rt"),
    ("proxy-pp50", "ping-pong, 50 connections", ["-M", "pingpong", "-c", "50"], "rt"),
    ("proxy-pump1", "pump, 1 connection (16 KiB writes, 1 MiB in flight)",
     PUMP_ARGS + ["-c", "1"], "mb"),
    ("proxy-pump50", "pump, 50 connections (16 KiB writes, 1 MiB in flight)",
     PUMP_ARGS + ["-c", "50"], "mb"),
    ("proxy-rss", "a bulk download to a reader throttled to 25 MB/s: the proxy's RSS", None,
     "proxyrss"),
    ("proxy-verify", "1,000 concurrent relayed connections, byte-exact", None, "verify"),
]
# proxy-rss: BYTES from bulk-source to a reader at RATE MB/s (8 s); the target
# is a peak RSS under PROXY_RSS_GOAL_KB.
PROXY_RSS_BYTES = 200 * 1000 * 1000
PROXY_RSS_QUICK_BYTES = 50 * 1000 * 1000
PROXY_RSS_RATE_MB = 25
PROXY_RSS_GOAL_KB = 8 * 1024
PROXY_RSS_SAMPLE_S = 0.01
# proxy-verify: CONNS connections at once, each echoing BYTES of its own
# stream (64 KiB in flight on each), all compared; bounded by TIMEOUT_S.
PROXY_VERIFY_CONNS = 1000
PROXY_VERIFY_BYTES = 10 * 1000 * 1000
PROXY_VERIFY_QUICK_BYTES = 1000 * 1000
PROXY_VERIFY_TIMEOUT_S = 240
PROXY_MAX_CONNS = 4000

HAPROXY_CONF = """global
    nbthread 1
    maxconn {maxconn}
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend bench
    bind {addr}
    default_backend upstream
backend upstream
    server up {upstream}
"""


def haproxy_bin():
    return shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                       else None)


def proxy_servers(args, logdir):
    """sb-proxyd (args.proxyd) and HAProxy; make_argv(addr, upstream)."""
    out = []
    if args.proxyd:
        sb = args.proxyd
        out.append(("sb-proxyd", lambda a, up: [sb, "--listen", a, "--upstream", up,
                                                "--max-conns", str(PROXY_MAX_CONNS)]))
    hp = haproxy_bin()
    if hp:
        def haproxy_argv(a, up):
            prefix = os.path.join(logdir, "haproxy-%s" % a.rsplit(":", 1)[1])
            os.makedirs(prefix, exist_ok=True)
            conf = os.path.join(prefix, "haproxy.cfg")
            with open(conf, "w") as f:
                f.write(HAPROXY_CONF.format(addr=a, upstream=up, maxconn=PROXY_MAX_CONNS))
            return [hp, "-f", conf, "-db"]  # foreground, one process (no master)
        out.append(("haproxy", haproxy_argv))
    return out


def start_upstream(args, logdir, source_bytes=None):
    """The proxies' upstream on the client's core: sb-echod (epoll backend,
    no idle timeout), or bulk-source sending source_bytes."""
    port = free_port()
    addr = "127.0.0.1:%d" % port
    if source_bytes:
        argv = [os.path.join(args.bench_bin, "bulk-source"), addr, str(source_bytes)]
        name = "upstream-bulk-source"
    else:
        argv = [os.path.join(args.bin, "sb-echod"), "--backend", "epoll", "-t", "0",
                "-c", str(SCALE_MAX_CONNS), "-l", addr]
        name = "upstream-sb-echod"
    return Server(name, argv, port, args.client_cpu, logdir).start(), addr


def run_proxied(args, name, make_argv, load, logdir):
    """An echo load through a proxy to a fresh upstream sb-echod."""
    up, up_addr = start_upstream(args, logdir)
    try:
        return run_echo(args, name, lambda a: make_argv(a, up_addr), load, logdir, upstream=up)
    finally:
        up.stop()


def run_proxy_rss(args, name, make_argv, logdir):
    """BYTES from bulk-source through the proxy to epoll-pump reading at
    PROXY_RSS_RATE_MB MB/s; the proxy's VmRSS sampled all along."""
    nbytes = PROXY_RSS_QUICK_BYTES if args.quick else PROXY_RSS_BYTES
    up, up_addr = start_upstream(args, logdir, source_bytes=nbytes)
    srv = client = None
    try:
        port = free_port()
        addr = "127.0.0.1:%d" % port
        srv = Server(name, make_argv(addr, up_addr), port, args.server_cpu, logdir).start()
        expect_s = nbytes / (PROXY_RSS_RATE_MB * 1e6)
        limit = expect_s * 3 + 20
        argv = pinned(args.client_cpu, [os.path.join(args.bin, "epoll-pump"), "-q", "-M", "drain",
                                        "-t", addr, "-n", str(nbytes),
                                        "-r", str(PROXY_RSS_RATE_MB), "-T", "%g" % limit,
                                        "-p", str(srv.pid)])
        rss0 = proc_kb(srv.pid, "VmRSS")
        u0, s0 = proc_cpu(srv.pid)
        t0 = time.monotonic()
        client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        peak, samples, series = rss0, 0, []
        while client.poll() is None:
            v = proc_kb(srv.pid, "VmRSS")
            if v < 0:
                break  # the proxy is gone
            peak = max(peak, v)
            samples += 1
            if samples % 50 == 0:
                series.append((round(time.monotonic() - t0, 2), v))
            if time.monotonic() - t0 > limit + 30:
                client.kill()
                break
            time.sleep(PROXY_RSS_SAMPLE_S)
        out_s, err_s = client.communicate(timeout=30)
        t1 = time.monotonic()
        alive = srv.alive()
        hwm = proc_kb(srv.pid, "VmHWM") if alive else -1
        u1, s1 = proc_cpu(srv.pid) if alive else (u0, s0)
        r = kv_line(out_s) or {}
        res = {
            "rss_max_kb": peak, "rss0_kb": rss0, "hwm_kb": hwm, "samples": samples,
            "series": series, "bytes": int(r.get("bytes", 0)), "expected_bytes": nbytes,
            "rate_limit_mb": PROXY_RSS_RATE_MB, "seconds": float(r.get("seconds", 0)),
            "mbps": float(r.get("mb_per_s", 0)), "mismatches": int(r.get("mismatches", 0)),
            "usr_s": u1 - u0, "sys_s": s1 - s0, "wall_s": t1 - t0,
            "ok": r.get("status") == "ok" and alive,
        }
        if not res["ok"]:
            res["error"] = ("%s died during the transfer" % name if not alive else
                            (err_s.strip().splitlines() or ["epoll-pump gave no result"])[-1])
        return res
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        if srv is not None:
            srv.stop()
        up.stop()


def run_proxy_verify(args, name, make_argv, logdir):
    """PROXY_VERIFY_CONNS connections at once through the proxy to sb-echod,
    each echoing its own pseudo-random stream, every byte compared; a hard
    time limit."""
    nbytes = PROXY_VERIFY_QUICK_BYTES if args.quick else PROXY_VERIFY_BYTES
    up, up_addr = start_upstream(args, logdir)
    srv = None
    try:
        port = free_port()
        addr = "127.0.0.1:%d" % port
        srv = Server(name, make_argv(addr, up_addr), port, args.server_cpu, logdir).start()
        argv = pinned(args.client_cpu, [os.path.join(args.bin, "epoll-pump"), "-q", "-M", "verify",
                                        "-t", addr, "-c", str(PROXY_VERIFY_CONNS),
                                        "-n", str(nbytes), "-s", "16384", "-D", "4",
                                        "-T", str(PROXY_VERIFY_TIMEOUT_S), "-p", str(srv.pid)])
        up0 = proc_cpu(up.pid)
        t0 = time.monotonic()
        try:
            p, busy = run_client(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=PROXY_VERIFY_TIMEOUT_S + 30)
        except subprocess.TimeoutExpired:
            raise RuntimeError("TIMEOUT: epoll-pump did not stop within %d s"
                               % (PROXY_VERIFY_TIMEOUT_S + 30))
        t1 = time.monotonic()
        up1 = proc_cpu(up.pid) if up.alive() else up0
        alive = srv.alive()
        r = kv_line(p.stdout) or {}
        total = nbytes * PROXY_VERIFY_CONNS
        res = {
            "conns": PROXY_VERIFY_CONNS, "bytes_per_conn": nbytes, "expected_bytes": total,
            "verified": int(r.get("verified_bytes", 0)), "bytes": int(r.get("bytes", 0)),
            "mismatches": int(r.get("mismatches", 0)), "complete": int(r.get("complete", 0)),
            "failed": int(r.get("failed", 0)), "seconds": float(r.get("seconds", 0)),
            "mbps": float(r.get("mb_per_s", 0)), "status": r.get("status", "none"),
            "usr_s": float(r.get("server_usr_s", 0)), "sys_s": float(r.get("server_sys_s", 0)),
            "rss_kb": int(r.get("server_rss_kb", -1)), "hwm_kb": int(r.get("server_hwm_kb", -1)),
            "client_busy": busy, "timeout_s": PROXY_VERIFY_TIMEOUT_S,
            "upstream_busy": ((up1[0] - up0[0]) + (up1[1] - up0[1])) / (t1 - t0)
            if t1 > t0 else None,
        }
        res["ok"] = (alive and res["status"] == "ok" and res["mismatches"] == 0
                     and res["verified"] == total and res["complete"] == PROXY_VERIFY_CONNS)
        if not res["ok"]:
            why = (p.stderr.strip().splitlines() or ["epoll-pump gave no result"])[-1]
            res["error"] = ("%s%s: %s of %s bytes verified, %d mismatched, %d of %d connections "
                            "complete; %s" % ("TIMEOUT after %d s" % PROXY_VERIFY_TIMEOUT_S
                                              if res["status"] == "timeout" else "FAILED",
                                              "" if alive else " (%s died)" % name,
                                              fmt_num(res["verified"]), fmt_num(total),
                                              res["mismatches"], res["complete"],
                                              PROXY_VERIFY_CONNS, why))
        return res
    finally:
        if srv is not None:
            srv.stop()
        up.stop()


# ------------------------------------------------------------- http, kv

WWW_FILE = "index.html"


def make_www(dirpath):
    os.makedirs(dirpath, exist_ok=True)
    body = ("<!DOCTYPE html>\n<html><head><title>switchboard bench</title></head>\n<body>\n"
            "<h1>switchboard</h1>\n<p>The same small file, served by sb-httpd and by nginx "
            "under wrk.</p>\n")
    body += "<p>" + "x" * (1024 - len(body) - 20) + "</p>\n</body></html>\n"
    with open(os.path.join(dirpath, WWW_FILE), "w") as f:
        f.write(body[:1024].ljust(1024))
    return dirpath


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    default_type text/html;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=1000 inactive=60s;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
    }}
}}
"""


def nginx_bin():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def http_servers(args, www, logdir, scale=False):
    """sb-httpd and nginx; for the scale part sb-httpd twice, on the epoll
    backend and (named explicitly) on select."""
    out = []
    sb = os.path.join(args.bin, "sb-httpd")
    if os.path.exists(sb):
        if scale:
            out.append(("sb-httpd-epoll", lambda port: ([sb, "--backend", "epoll", "-r", www,
                                                         "-l", "127.0.0.1:%d" % port], None)))
            out.append(("sb-httpd", lambda port: ([sb, "--backend", "select", "-r", www,
                                                   "-l", "127.0.0.1:%d" % port], None)))
        else:
            out.append(("sb-httpd", lambda port: ([sb, "-r", www, "-l", "127.0.0.1:%d" % port],
                                                  None)))
    elif not scale:
        log("skipping sb-httpd: %s is not built" % sb)
    ng = nginx_bin()
    if ng:
        def nginx_argv(port):
            prefix = os.path.join(logdir, "nginx-%d" % port)
            os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
            conf = os.path.join(prefix, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(prefix=prefix, port=port, root=www))
            return [ng, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")], None
        out.append(("nginx", nginx_argv))
    elif not scale:
        log("skipping nginx: not installed")
    return out


def wrk_time(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return v * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m.group(2)]


def run_client(argv, **kw):
    """Run a load generator to completion; also return its CPU use as a
    fraction of one core over its wall-clock time (1.0: it was the limit)."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    p = subprocess.run(argv, **kw)
    r1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return p, cpu / (t1 - t0) if t1 > t0 else None


def run_wrk(args, name, make_argv, conns, logdir, scheme="http"):
    port = free_port()
    argv, cwd = make_argv(port)
    srv = Server(name, argv, port, args.server_cpu, logdir, cwd=cwd).start()
    try:
        u0, s0 = proc_cpu(srv.pid)
        m0 = machine_busy()
        t0 = time.monotonic()
        secs = max(1, int(round(args.seconds)))
        p, busy = run_client(pinned(args.client_cpu, [
            "wrk", "-t1", "-c%d" % conns, "-d%ds" % secs, "--latency",
            "%s://127.0.0.1:%d/%s" % (scheme, port, WWW_FILE)]),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=secs + 60)
        u1, s1 = proc_cpu(srv.pid)
        m1 = machine_busy()
        t1 = time.monotonic()
        rss = proc_kb(srv.pid, "VmRSS")
        if not srv.alive():
            raise RuntimeError("%s died under wrk" % name)
        other, steal = other_cpu(m0, m1, (u1 - u0) + (s1 - s0) + (busy or 0) * (t1 - t0),
                                 t1 - t0)
        text = p.stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", text)
        n = re.search(r"(\d+) requests in", text)
        if not m or not n:
            raise RuntimeError("wrk gave no result: %s" % (text + p.stderr).strip()[-300:])
        lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        reqs = int(n.group(1))
        out = {
            "rate": float(m.group(1)), "requests": reqs,
            "p50": wrk_time(lat.get("50", "")), "p99": wrk_time(lat.get("99", "")),
            "cpu_us": ((u1 - u0) + (s1 - s0)) * 1e6 / reqs if reqs else 0,
            "usr_us": (u1 - u0) * 1e6 / reqs if reqs else 0,
            "sys_us": (s1 - s0) * 1e6 / reqs if reqs else 0,
            "rss_kb": rss, "ok": True, "client_busy": busy,
            "cpu_util": ((u1 - u0) + (s1 - s0)) / (t1 - t0) if t1 > t0 else None,
            "other_cpu": other, "steal": steal,
        }
        problems = []
        if bad:
            problems.append("%s non-2xx responses" % bad.group(1))
        if errs and any(int(x) for x in errs.groups()):
            problems.append("socket errors " + "/".join(errs.groups()))
        if problems:
            out["ok"] = False
            out["error"] = ", ".join(problems)
        return out
    finally:
        srv.stop()


# ------------------------------------------------------------------- TLS
# The tls part: sb-httpd (--tls-cert/--tls-key) against nginx with the same
# certificate and one worker, and sb-echod --tls-cert against tls-epoll-echo.

TLS_LOADS = [
    # id, title, tls-load arguments (None: wrk over HTTPS), kind
    ("tls-hs", "full TLS handshakes/s, 32 connections (connect, handshake, close)",
     ["-M", "hs", "-c", "32"], "hs"),
    ("tls-resume", "resumed TLS handshakes/s (TLS 1.3 tickets), 32 connections",
     ["-M", "resume", "-c", "32"], "hs"),
    # With RSA-2048 the server's signature dominates (the client only
    # verifies): the one handshake load where the client is not the limit.
    ("tls-hs-rsa", "full TLS handshakes/s, RSA-2048 certificate, 32 connections",
     ["-M", "hs", "-c", "32"], "hs"),
    ("tls-wrk-c50", "HTTPS keep-alive, wrk -c50", None, "rt"),
    ("tls-bulk1", "bulk TLS echo, 1 connection (16 KiB writes, 256 KiB in flight)",
     ["-M", "bulk", "-c", "1", "-s", "16384", "-D", "16"], "mb"),
    ("tls-bulk10", "bulk TLS echo, 10 connections (16 KiB writes, 256 KiB in flight each)",
     ["-M", "bulk", "-c", "10", "-s", "16384", "-D", "16"], "mb"),
]
TLS_HTTP_LOADS = ("tls-hs", "tls-resume", "tls-wrk-c50")
TLS_WRK_CONNS = 50

NGINX_TLS_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    default_type text/html;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=1000 inactive=60s;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    ssl_session_timeout 5m;
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        root {root};
    }}
}}
"""


def tls_certs():
    """The test certificates (tests/tls/gen-certs.sh) in build/bench/tls-certs,
    and beside them an RSA-2048 one for localhost: ((cert, key), (rsa cert, key))."""
    out = os.path.join(ROOT, "build", "bench", "tls-certs")
    subprocess.run(["sh", os.path.join(ROOT, "tests", "tls", "gen-certs.sh"), out], check=True,
                   timeout=120)
    rsa = (os.path.join(out, "rsa.pem"), os.path.join(out, "rsa.key"))
    if not os.path.exists(rsa[0]):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        rsa[1], "-out", rsa[0], "-days", "3650", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True,
                       capture_output=True, timeout=120)
    return (os.path.join(out, "server.pem"), os.path.join(out, "server.key")), rsa


def has_tls(binary):
    """binary was built with TLS (make TLS=1): without it, its --tls-cert
    fails with 'built without TLS support' before it opens anything."""
    try:
        p = subprocess.run([binary, "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent",
                            "-l", "127.0.0.1:0"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "built without TLS" not in p.stderr and p.returncode != 0


def tls_servers(args, www, logdir, skipped):
    """(HTTPS servers, the same with the RSA certificate, TLS echo servers),
    each a list of (name, make_argv)."""
    (cert, key), rsa = tls_certs()
    http, http_rsa, echo = [], [], []
    sb = os.path.join(args.bin, "sb-httpd")
    ng = nginx_bin()
    if not ng:
        skipped.append("TLS: nginx is not installed (no HTTPS comparison)")
    if not (os.path.exists(sb) and has_tls(sb)):
        skipped.append("TLS: %s is missing or built without TLS (make TLS=1)" % sb)
        sb = None
    for out, (c, k) in ((http, (cert, key)), (http_rsa, rsa)):
        if sb:
            out.append(("sb-httpd", lambda port, c=c, k=k: (
                [sb, "-r", www, "-l", "127.0.0.1:%d" % port, "--tls-cert", c, "--tls-key", k],
                None)))
        if sb and out is http:
            # For information (the targets are the select row): what
            # select()'s per-call scan of the fds costs against epoll.
            out.append(("sb-httpd epoll", lambda port, c=c, k=k: (
                [sb, "-r", www, "-l", "127.0.0.1:%d" % port, "--tls-cert", c, "--tls-key", k,
                 "--backend", "epoll"], None)))
        if ng:
            def nginx_argv(port, c=c, k=k):
                prefix = os.path.join(logdir, "nginx-tls-%d" % port)
                os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
                conf = os.path.join(prefix, "nginx.conf")
                with open(conf, "w") as f:
                    f.write(NGINX_TLS_CONF.format(prefix=prefix, port=port, root=www, cert=c,
                                                  key=k))
                return [ng, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")], None
            out.append(("nginx", nginx_argv))
    sbe = os.path.join(args.bin, "sb-echod")
    if os.path.exists(sbe) and has_tls(sbe):
        echo.append(("sb-echod", lambda port: ([sbe, "-l", "127.0.0.1:%d" % port,
                                                "--tls-cert", cert, "--tls-key", key], None)))
    ref = os.path.join(args.bench_bin, "tls-epoll-echo")
    if os.path.exists(ref):
        echo.append(("tls-epoll-echo", lambda port: ([ref, str(port), cert, key], None)))
    else:
        skipped.append("TLS bulk: %s is not built" % ref)
    if not os.path.exists(os.path.join(args.bench_bin, "tls-load")):
        skipped.append("TLS: build/bench/tls-load is not built")
        return [], [], []
    return http, http_rsa, echo


def machine_busy():
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat
    (busy: user, nice, system, irq, softirq; steal: taken by the hypervisor)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, (v[7] if len(v) > 7 else 0) / hz


def other_cpu(m0, m1, own, secs):
    """Cores' worth of CPU that neither the server nor the load generator used
    during a test (other work on the machine, in fractions of one core), and
    the hypervisor's steal, from two machine_busy() readings."""
    if not m0 or not m1 or secs <= 0:
        return None, None
    return max(0.0, (m1[0] - m0[0]) - own) / secs, (m1[1] - m0[1]) / secs


def run_tls_load(args, name, make_argv, load, logdir):
    """One tls-load run against a fresh server: handshakes/s with the
    server's CPU per handshake, or bulk MB/s with its CPU per MB (the
    server's utime + stime around the whole client run, over every
    handshake or byte of it, warm-up included)."""
    port = free_port()
    argv, cwd = make_argv(port)
    srv = Server(name, argv, port, args.server_cpu, logdir, cwd=cwd).start()
    try:
        u0, s0 = proc_cpu(srv.pid)
        m0 = machine_busy()
        t0 = time.monotonic()
        p, busy = run_client(pinned(args.client_cpu, [
            os.path.join(args.bench_bin, "tls-load"), "-p", str(port), "-d", str(args.seconds),
            "-w", str(args.warmup), "-q"] + load[2]),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=args.seconds + args.warmup + 60)
        u1, s1 = proc_cpu(srv.pid)
        m1 = machine_busy()
        t1 = time.monotonic()
        rss = proc_kb(srv.pid, "VmRSS")
        if not srv.alive():
            raise RuntimeError("%s died under tls-load" % name)
        other, steal = other_cpu(m0, m1, (u1 - u0) + (s1 - s0) + (busy or 0) * (t1 - t0),
                                 t1 - t0)
        kv = kv_line(p.stdout)
        if not kv:
            raise RuntimeError("tls-load gave no result: %s" % (p.stdout + p.stderr).strip()[-300:])
        usr, sys_ = u1 - u0, s1 - s0
        out = {"rss_kb": rss, "ok": kv.get("status") == "ok",
               "client_busy": float(kv["client_cpu_share"]), "client_run_busy": busy,
               "cpu_util": (usr + sys_) / (t1 - t0) if t1 > t0 else None,
               "errors": int(kv["errors"]), "other_cpu": other, "steal": steal}
        if load[3] == "mb":
            mb = int(kv["bytes_all"]) / 1e6
            out.update({"mbps": float(kv["mb_per_s"]), "bytes": int(kv["bytes"]),
                        "mismatches": int(kv["mismatches"]),
                        "cpu_us_mb": (usr + sys_) * 1e6 / mb if mb else None,
                        "usr_us_mb": usr * 1e6 / mb if mb else None,
                        "sys_us_mb": sys_ * 1e6 / mb if mb else None})
        else:
            n = int(kv["handshakes_all"])
            out.update({"rate": float(kv["rate"]), "requests": int(kv["handshakes"]),
                        "resumed": int(kv["resumed"]), "not_resumed": int(kv["not_resumed"]),
                        "cpu_us": (usr + sys_) * 1e6 / n if n else None,
                        "usr_us": usr * 1e6 / n if n else None,
                        "sys_us": sys_ * 1e6 / n if n else None})
            if load[0] == "tls-resume" and out["not_resumed"] > 0.01 * max(1, out["requests"]):
                out["ok"] = False
                out["error"] = "%d of %d handshakes not resumed" % (
                    out["not_resumed"], out["requests"] + out["not_resumed"])
        if not out["ok"] and "error" not in out:
            out["error"] = "tls-load status=%s, %s errors, %s mismatches" % (
                kv.get("status"), kv.get("errors"), kv.get("mismatches"))
        return out
    finally:
        srv.stop()


TLS_TARGETS = [
    # label, test, a, b, key, goal: the median of the per-pass a/b of key
    # (for the CPU-per-unit keys a is the reference: its CPU over ours).
    ("sb-httpd ≥ 1.0× nginx, full handshakes/s", "tls-hs", "sb-httpd", "nginx", "rate", 1.0),
    ("sb-httpd ≥ 1.0× nginx, resumed handshakes/s", "tls-resume", "sb-httpd", "nginx", "rate",
     1.0),
    ("sb-httpd ≥ 1.0× nginx, full handshakes/s, RSA-2048", "tls-hs-rsa", "sb-httpd", "nginx",
     "rate", 1.0),
    ("sb-httpd ≥ 1.1× nginx, HTTPS keep-alive req/s, wrk -c50", "tls-wrk-c50", "sb-httpd",
     "nginx", "rate", 1.1),
    ("sb-echod --tls ≥ 0.9× tls-epoll-echo, bulk TLS echo MB/s, 1 connection", "tls-bulk1",
     "sb-echod", "tls-epoll-echo", "mbps", 0.9),
    ("sb-echod --tls ≥ 0.9× tls-epoll-echo, bulk TLS echo MB/s, 10 connections", "tls-bulk10",
     "sb-echod", "tls-epoll-echo", "mbps", 0.9),
    ("the same per server CPU-second: full handshakes", "tls-hs", "nginx", "sb-httpd", "cpu_us",
     1.0),
    ("… resumed handshakes", "tls-resume", "nginx", "sb-httpd", "cpu_us", 1.0),
    ("… RSA-2048 handshakes", "tls-hs-rsa", "nginx", "sb-httpd", "cpu_us", 1.0),
    ("… HTTPS requests, wrk -c50", "tls-wrk-c50", "nginx", "sb-httpd", "cpu_us", 1.1),
    ("… MB echoed, 1 connection", "tls-bulk1", "tls-epoll-echo", "sb-echod", "cpu_us_mb", 0.9),
    ("… MB echoed, 10 connections", "tls-bulk10", "tls-epoll-echo", "sb-echod", "cpu_us_mb",
     0.9),
]


def tls_lines(results, order, titles, kinds):
    """The TLS section: targets, then one table per load (markdown lines)."""
    L = []
    w = L.append
    if not any(t in results for t, *_ in TLS_LOADS):
        return L
    w("## TLS: sb-httpd and nginx, sb-echod and tls-epoll-echo")
    w("")
    w("Both HTTPS servers present the same certificate (EC P-256, from "
      "`tests/tls/gen-certs.sh`); nginx runs one worker with `ssl_session_tickets on`. "
      "The handshake loads come from `build/bench/tls-load` (`tests/bench/tls_load.c`, "
      "OpenSSL over epoll, 32 connections each connecting, handshaking and closing in a "
      "loop; *resume* offers the last TLS 1.3 ticket); *CPU/hs* is the server's user + "
      "system CPU (`/proc/PID/stat` around the run) per handshake. *client CPU* is "
      "tls-load's own CPU (getrusage) as a share of the measured window: near 100% the "
      "client, not the server, is the limit, and then the handshakes per server "
      "CPU-second (nginx's CPU/hs ÷ sb-httpd's) are the fairer comparison; with the "
      "RSA-2048 certificate the server's signature dominates and the server is the limit. "
      "*other CPU* is the most, over the passes, of what the rest of the machine used "
      "during the test (`/proc/stat` less the server and the load generator, in one "
      "core's worth): above a few per cent the rates of that row were disturbed, while "
      "the CPU-per-unit figures much less so. "
      "*sb-httpd epoll* is the same server with `--backend epoll`, for information: "
      "the targets are for the select() default, and the difference is what select's "
      "scan of every fd per call costs. "
      "The bulk rows echo 16 KiB writes, 256 KiB "
      "in flight per connection, every byte compared with the pattern.")
    w("")
    w("| target | median ratio (min–max) | |")
    w("|---|---|---|")
    for label, t, a, b, key, goal in TLS_TARGETS:
        rs = ratios(results, t, a, b, key)
        if not rs:
            w("| %s | not measured | |" % label)
            continue
        m = med(rs)
        miss = abs(m / goal - 1) * 100
        w("| %s | %s | %s |" % (label, fmt_ratio(rs), "met" if m >= goal else
                                 "missed by %.*f%%" % (1 if miss < 1 else 0, miss)))
    w("")
    for t, _title, _a, kind in TLS_LOADS:
        if t not in results:
            continue
        mb = kind == "mb"
        key, ck, cn = ("mbps", "cpu_us_mb", "CPU/MB") if mb else (
            "rate", "cpu_us", "CPU/hs" if kind == "hs" else "CPU/req")
        ref = "tls-epoll-echo" if mb else "nginx"
        servers = [s for s in order.get(t, []) if results[t].get(s)]
        w("**%s**" % titles.get(t, t))
        w("")
        cols = ["server", "MB/s" if mb else ("handshakes/s" if kind == "hs" else "req/s"),
                "min–max", "%s µs (usr / sys)" % cn, "server CPU", "client CPU", "other CPU",
                "÷ %s" % ref, "%s ÷ %s" % (cn, ref)]
        if kind == "rt":
            cols[4:4] = ["p50 µs", "p99 µs"]
        w("| " + " | ".join(cols) + " |")
        w("|" + "---|" * len(cols))
        for s in servers:
            rs = [r for r in results[t][s] if r]
            lo, hi = rng([r.get(key) for r in rs])
            d = 1 if mb else 0
            row = [s, fmt_num(med([r.get(key) for r in rs]), d),
                   "%s–%s" % (fmt_num(lo, d), fmt_num(hi, d)),
                   "%s (%s / %s)" % (fmt_num(med([r.get(ck) for r in rs]), 2),
                                     fmt_num(med([r.get(ck.replace("cpu", "usr")) for r in rs]), 2),
                                     fmt_num(med([r.get(ck.replace("cpu", "sys")) for r in rs]), 2))]
            if kind == "rt":
                row += [fmt_num(med([r.get("p50") for r in rs]), 1),
                        fmt_num(med([r.get("p99") for r in rs]), 1)]
            row += [fmt_pct(med([r.get("cpu_util") for r in rs])),
                    fmt_pct(med([r.get("client_busy") for r in rs])),
                    fmt_pct(max([r["other_cpu"] for r in rs if r.get("other_cpu") is not None],
                                default=None))]
            if s == ref:
                row += ["1", "1"]
            else:
                row += [fmt_ratio(ratios(results, t, s, ref, key)),
                        fmt_ratio(ratios(results, t, s, ref, ck))]
            w("| " + " | ".join(row) + " |")
        errs = ["%s: %s" % (s, r["error"]) for s in servers for r in results[t][s]
                if r and r.get("error")]
        fails = ["%s: %s" % (s, f) for s, f in results.get("_failures", {}).get(t, [])]
        for e in sorted(set(errs + fails)):
            w("")
            w("- ⚠ %s" % e)
        w("")
    return L


def write_tls_report(args, results, order, titles, kinds, info, started, load0, load1, elapsed):
    """A TLS-only run: benchmarks/tls.md under args.out (benchmarks.md untouched)."""
    L = []
    w = L.append
    w("# Benchmarks: TLS")
    w("")
    w("<!-- Generated by tests/bench/bench.py (`make TLS=1 bench BENCH_ONLY=tls`); edit the "
      "script, not this page. -->")
    w("")
    w("One interleaved run, a fresh server process per test, the order rotated from one "
      "pass to the next; only the **ratios within this run** mean anything.")
    w("")
    w("> **Run conditions.** %d pass%s of %g s per test (%g s warm-up) (%s); servers on "
      "core %s, load generators on core %s. Load average %s at the start, %s at the end; "
      "the run took %.1f minutes.%s" % (
          args.passes, "" if args.passes == 1 else "es", args.seconds, args.warmup, started,
          args.server_cpu, args.client_cpu, load0, load1, elapsed / 60,
          " " + args.note if args.note else ""))
    w("")
    w("```sh")
    w("make TLS=1 BUILD=build/tls bench BENCH_ONLY=tls   # this page")
    w("taskset -c 0 build/bench/tls-epoll-echo 7443 server.pem server.key &")
    w("taskset -c 1 build/bench/tls-load -M bulk -p 7443 -c 10 -d 5")
    w("```")
    w("")
    w("| | |")
    w("|---|---|")
    for k in ("cpu", "kernel", "compiler", "nginx", "wrk", "commit"):
        w("| %s | %s |" % (k, info.get(k) or "?"))
    w("")
    L += tls_lines(results, order, titles, kinds)
    if results.get("_skipped"):
        w("## Skipped")
        w("")
        for s in results["_skipped"]:
            w("- %s" % s)
        w("")
    w("Every test of every pass: [`tls-results.json`](tls-results.json).")
    w("")
    path = os.path.join(args.out, "benchmarks", "tls.md")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L))
    return path


def kv_servers(args):
    out = []
    sb = os.path.join(args.bin, "sb-kvd")
    if os.path.exists(sb):
        out.append(("sb-kvd", lambda port: [sb, "-l", "127.0.0.1:%d" % port]))
    else:
        log("skipping sb-kvd: %s is not built" % sb)
    rs = shutil.which("redis-server")
    if rs:
        out.append(("redis-server", lambda port: [
            rs, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
            "--maxclients", "10000"]))
    else:
        log("skipping redis-server: not installed")
    return out


KV_TESTS = [("ping", 1), ("set", 1), ("get", 1), ("ping", 16), ("set", 16), ("get", 16)]


def run_redis_benchmark(args, name, make_argv, test, pipe, logdir):
    port = free_port()
    srv = Server(name, make_argv(port), port, args.server_cpu, logdir).start()
    try:
        # Requests sized for about BENCH_SECONDS per command at typical rates.
        n = int((60000 if pipe == 1 else 600000) * args.seconds)
        ntests = 2 if test == "ping" else 1  # PING_INLINE and PING_MBULK
        u0, s0 = proc_cpu(srv.pid)
        p, busy = run_client(pinned(args.client_cpu, [
            "redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n", str(n),
            "-P", str(pipe), "-t", test, "--csv"]),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60 + 20 * args.seconds * ntests)
        u1, s1 = proc_cpu(srv.pid)
        rss = proc_kb(srv.pid, "VmRSS")
        if not srv.alive():
            raise RuntimeError("%s died under redis-benchmark" % name)
        rows = [r for r in csv.reader(io.StringIO(p.stdout)) if r and r[0] != "test"]
        if p.returncode != 0 or len(rows) < ntests:
            raise RuntimeError("redis-benchmark gave no result (status %d): %s"
                               % (p.returncode, (p.stdout + p.stderr).strip()[-300:]))
        out = {}
        for r in rows:
            reqs = n
            out[r[0]] = {
                "rate": float(r[1]), "requests": reqs,
                "p50": float(r[4]) * 1e3, "p99": float(r[6]) * 1e3,
                "rss_kb": rss, "ok": True, "client_busy": busy,
            }
        total = n * len(rows)
        for v in out.values():
            v["cpu_us"] = ((u1 - u0) + (s1 - s0)) * 1e6 / total
            v["usr_us"] = (u1 - u0) * 1e6 / total
            v["sys_us"] = (s1 - s0) * 1e6 / total
        return out
    finally:
        srv.stop()


# ------------------------------------------------------------ statistics


def med(xs):
    xs = [x for x in xs if x is not None and x == x]
    return statistics.median(xs) if xs else None


def rng(xs):
    xs = [x for x in xs if x is not None and x == x]
    return (min(xs), max(xs)) if xs else (None, None)


def ratios(results, test, a, b, key="rate"):
    """Per-pass ratios a/b of one metric (passes where both ran)."""
    ra, rb = results.get(test, {}).get(a, []), results.get(test, {}).get(b, [])
    out = []
    for x, y in zip(ra, rb):
        if x and y and x.get(key) and y.get(key):
            out.append(x[key] / y[key])
    return out


def fmt_num(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def fmt_pct(v, digits=0):
    return "–" if v is None else "%.*f%%" % (digits, 100 * v)


def fmt_ratio(rs):
    if not rs:
        return "–"
    m = med(rs)
    lo, hi = rng(rs)
    if len(rs) == 1:
        return "%.2f×" % m
    return "%.2f× (%.2f–%.2f)" % (m, lo, hi)


# ----------------------------------------------------------------- report


def machine_info():
    def run(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = proc_meminfo()
    info = {
        "cpu": "%s, %d cores" % (model or platform.processor(), os.cpu_count() or 0),
        "memory": "%.1f GiB" % (mem / 1048576.0) if mem else "?",
        "kernel": platform.release(),
        "virt": run(["systemd-detect-virt"]) or "?",
        "compiler": (run([os.environ.get("CC", "cc"), "--version"]).splitlines() or ["?"])[0],
        "libevent": run(["pkg-config", "--modversion", "libevent"]),
        "libuv": run(["pkg-config", "--modversion", "libuv"]),
        "libev": run(["dpkg-query", "-W", "-f=${Version}", "libev-dev"]),
        "nginx": run([nginx_bin() or "nginx", "-v"]).replace("nginx version: ", ""),
        "redis": run(["redis-server", "--version"]).split(" sha=")[0],
        "wrk": (run(["wrk", "-v"]).splitlines() or [""])[0].split(" [")[0],
        "haproxy": (run([haproxy_bin() or "haproxy", "-v"]).splitlines() or [""])[0]
        .replace("HAProxy version ", "").split(" - ")[0],
        "commit": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) +
        (" (with uncommitted changes)" if run(["git", "-C", ROOT, "status", "--porcelain",
                                                "--untracked-files=no"]) else ""),
    }
    return info


def proc_meminfo():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def gnuplot_charts(args, results, servers, outdir, datadir):
    """SVG charts; returns the file names made (relative to outdir)."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no charts")
        return []
    os.makedirs(outdir, exist_ok=True)
    made = []
    term = ("set terminal svg size 760,420 dynamic enhanced font 'Helvetica,12' "
            "background rgb 'white'\nset grid ytics\nset key outside right top\n")
    names = []

    def present(tests):
        return [s for s in servers if any(results.get(t, {}).get(s) for _l, t in tests)]

    def series(tests, key, scale=1.0):
        rows = []
        for label, t in tests:
            vals = []
            for s in names:
                v = med([r.get(key) for r in results.get(t, {}).get(s, []) if r])
                vals.append("%g" % (v * scale) if v is not None else "NaN")
            rows.append('"%s" %s' % (label, " ".join(vals)))
        return "\n".join(rows) + "\n"

    def plot(fname, title, ylabel, dat, logy=False, style="linespoints"):
        if os.path.exists(os.path.join(outdir, fname)):
            os.unlink(os.path.join(outdir, fname))
        datf = os.path.join(datadir, fname.replace(".svg", ".dat"))
        with open(datf, "w") as f:
            f.write(dat)
        cmds = [term, "set output '%s'" % os.path.join(outdir, fname),
                "set title '%s'" % title, "set ylabel '%s'" % ylabel]
        if logy:
            cmds.append("set logscale y")
        if style == "histogram":
            cmds += ["set style data histograms", "set style histogram clustered gap 1",
                     "set style fill solid 0.8 border -1", "set boxwidth 0.9"]
            plots = ["'%s' using %d:xtic(1) title '%s'" % (datf, i + 2, s)
                     for i, s in enumerate(names)]
        else:
            cmds.append("set yrange [0:*]" if not logy else "")
            plots = ["'%s' using 0:%d:xtic(1) with linespoints lw 2 pt 7 title '%s'"
                     % (datf, i + 2, s) for i, s in enumerate(names)]
        cmds.append("plot " + ", ".join(plots))
        gp = os.path.join(datadir, fname.replace(".svg", ".gp"))
        with open(gp, "w") as f:
            f.write("\n".join(cmds) + "\n")
        p = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if p.returncode == 0:
            made.append(fname)
        else:
            log("gnuplot failed for %s: %s" % (fname, p.stderr.strip()[-200:]))

    pp = [(lbl, t) for lbl, t in (("1", "pp1"), ("50", "pp50"), ("1000", "pp1000"),
                                  ("10000", "pp10000")) if t in results]
    if pp:
        names[:] = present(pp)
        plot("roundtrips.svg", "Ping-pong round trips/s vs connections (64-byte messages)",
             "round trips/s", series(pp, "rate"))
        plot("cpu-per-roundtrip.svg", "Server CPU per round trip vs connections",
             "server CPU µs per round trip", series(pp, "cpu_us"))
    lat_tests = [(lbl, t) for lbl, t in (("p50", "pp50"), ("p99", "pp50"), ("p99.9", "pp50"))
                 if t in results]
    if lat_tests:
        names[:] = present(lat_tests)
        rows = []
        for q, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")):
            vals = []
            for s in names:
                v = med([r.get(key) for r in results["pp50"].get(s, []) if r])
                vals.append("%g" % v if v else "NaN")
            rows.append('"%s" %s' % (q, " ".join(vals)))
        plot("latency.svg", "Round-trip latency percentiles, ping-pong 50 connections",
             "µs (log scale)", "\n".join(rows) + "\n", logy=True, style="histogram")
    for active in (1, 50):
        base = "pp%d" % active
        tests = [(lbl, t) for lbl, t in (("0", base), ("100", "idle%d+100" % active),
                                         ("900", "idle%d+900" % active),
                                         ("9000", "idle%d+9000" % active)) if t in results]
        if len(tests) > 1:
            names[:] = present(tests)
            plot("idle-cost-%d.svg" % active,
                 "Server CPU per round trip vs idle connections (%d active)" % active,
                 "server CPU µs per round trip", series(tests, "cpu_us"))
    return made


def write_report(args, results, order, titles, kinds, info, started, load0, load1, charts,
                 elapsed):
    outdir = args.out
    rel = "benchmarks/"  # charts and raw results, beside the page
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("<!-- Generated by tests/bench/bench.py (`make bench`); edit the script, not this page. -->")
    w("")
    w("switchboard's demo servers measured side by side with reference servers on the same "
      "loads, in one interleaved run: for every pass and load, each server in turn, a fresh "
      "server process per test. These virtual machines change speed from minute to minute, so "
      "only the **ratios within a run** mean anything; never compare figures from two runs.")
    w("")
    w("> **Run conditions.** %s, %d pass%s of %g s per test (%s). Load average %s at the "
      "start, %s at the end; the run took %.1f minutes.%s"
      % ("Smoke run (BENCH_QUICK=1)" if args.quick else "Full run", args.passes,
         "" if args.passes == 1 else "es", args.seconds, started, load0, load1, elapsed / 60,
         " A load average above ~0.5 before the run means other work shared the two cores: "
         "treat such figures as a check of the harness, not as results."
         if float(load0.split()[0] or 0) > 0.5 else ""))
    if args.note:
        w(">")
        w("> " + args.note)
    w("")
    w("## Reproduce")
    w("")
    w("```sh")
    w("make bench                  # about 20 minutes; rewrites docs/benchmarks.md")
    w("make bench BENCH_QUICK=1    # about 3 minutes; writes build/bench/quick/benchmarks.md")
    w("make bench BENCH_ONLY=echo BENCH_PASSES=5 BENCH_SECONDS=3   # knobs")
    w("make bench BENCH_QUICK=1 BENCH_ONLY=scale,embed              # the backend and embedding targets")
    w("make bench BENCH_QUICK=1 BENCH_ONLY=echo,proxy BENCH_LOADS=pump1,pump50,proxy-pump50   # data path")
    w("```")
    w("")
    w("`make bench` installs what it needs from Debian when missing (libevent-dev, libuv1-dev, "
      "libev-dev, gnuplot-nox, nginx, redis-server, wrk, redis-tools, haproxy), builds the "
      "reference servers and `epoll-pump` / `bulk-source` into `build/bench/`, and runs "
      "`tests/bench/bench.py`. One test by hand:")
    w("")
    w("```sh")
    w("taskset -c 0 build/bench/epoll-echo 127.0.0.1:7000 &")
    w("taskset -c 1 build/sb-bench -t 127.0.0.1:7000 -M pingpong -c 50 -d 5 -p $!")
    w("taskset -c 1 build/bench/epoll-pump -t 127.0.0.1:7000 -M pump -c 50 -s 16384 -D 64 -d 5 -p $!")
    w("```")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for k in ("cpu", "memory", "virt", "kernel", "compiler", "libevent", "libuv", "libev",
              "nginx", "redis", "wrk", "haproxy", "commit"):
        w("| %s | %s |" % (k, info.get(k) or "?"))
    w("")
    w("## Method")
    w("")
    w("- Servers run on core %s, load generators on core %s (`taskset`); loopback TCP only."
      % (args.server_cpu, args.client_cpu))
    w("- Echo loads come from `sb-bench`, a load generator on switchboard's own client side "
      "(`sb_connect`). Every connection is opened, idle ones make one 64-byte round trip and "
      "go silent, a %g s warm-up follows, then %g s are measured. The pump loads (bulk echo) "
      "come from `build/bench/epoll-pump` instead (`tests/bench/epoll_pump.c`): plain "
      "edge-triggered epoll, each connection keeping 64 writes of 16 KiB (1 MiB) in flight "
      "and writing the next as the echo comes back, every echoed byte compared with a "
      "pattern at its running offset (one `memcmp` per 256 KiB read), with sb-bench's "
      "options and result line. The row `epoll+sb-bench` is the epoll server under "
      "sb-bench's own pump mode in the same rotation: its ratio to `epoll` is sb-bench "
      "÷ epoll-pump on the same server." % (args.warmup, args.seconds))
    w("- *rate*: messages (round trips) per second, or echoed MB/s for pump. Latency is per "
      "message, from `sb_write` to the arrival of its last byte, from a log-linear histogram "
      "(about 3% resolution).")
    w("- *CPU/req*: the server's user + system CPU time over the measured window "
      "(`/proc/PID/stat`), divided by the requests served; (user / system) split in the "
      "detail tables. This is the efficiency measure the load generator cannot mask. "
      "For pump loads it is *CPU/MB*: the same CPU time per MB echoed. "
      "*RSS*: the server's resident memory at the end of the window.")
    w("- *client CPU*: the load generator's user + system CPU time over its whole run "
      "(connecting and warm-up included), as a share of its one core. Near 100% means the client, not the "
      "server, set the rate, so a rate ratio there understates the faster server's lead; "
      "compare CPU/req instead.")
    w("- Each figure is the median of the passes, with min–max. A ratio is computed per pass "
      "(both servers measured seconds apart) and the median of those ratios is shown.")
    w("- References: `epoll` is a minimal level-triggered epoll server (one read and one "
      "write per event, 64 KiB buffer): the practical ceiling for one thread. `libevent` "
      "uses bufferevents (evbuffer_add_buffer from input to output). `libuv` follows libuv's "
      "own benchmark server (a 64 KiB malloc per read, one uv_write per read). "
      "`libev-select` is the epoll server's logic on libev's select() backend. "
      "nginx runs one process (`master_process off`), access log off, sendfile and "
      "open_file_cache on; redis-server runs with `--save '' --appendonly no`.")
    w("- wrk and redis-benchmark tests sample the server's CPU time around the whole "
      "client run (including its connection setup).")
    w("- The scale part (`BENCH_ONLY=scale`; loads `scale-pp10000`, `scale-idle1+9000`, "
      "`scale-wrk-c1000`) compares the library's epoll backend with its select backend "
      "and the references at 10,000 connections; the embed part (`BENCH_ONLY=embed`; "
      "`embed-idle1000`, `embed-pp1`) runs `build/embed/poll-echo`, switchboard inside a "
      "host's `poll()` loop, beside sb-echod. Both drive their echo loads with `sb-bench` on "
      "the epoll backend (`SB_BACKEND=epoll`).")
    w("- The proxy part (`BENCH_ONLY=proxy`; loads `proxy-pp1`, `proxy-pp50`, `proxy-pump1`, "
      "`proxy-pump50`, `proxy-rss`, `proxy-verify`) runs `sb-proxyd` beside HAProxy "
      "(`mode tcp`, `nbthread 1`, Debian's defaults otherwise), each in front of a fresh "
      "upstream `sb-echod --backend epoll` per test. The proxy runs on the servers' core; "
      "the upstream shares the load generator's core, so that the proxy has a core to "
      "itself (*upstream CPU* in the tables: the side that shares the client's core). The "
      "two checks (`proxy-rss`, `proxy-verify`) run once per run, in the last pass.")
    w("")

    # -------------------------------------------------------- targets
    def rt(test, a, b, key="rate"):
        return ratios(results, test, a, b, key)

    targets = []
    for t in ("pp1", "pp50", "pp1000", "pp10000", "pipe50x16"):
        targets.append(("sb-echod rate ≥ 1.00× epoll, %s" % titles.get(t, t), rt(t, "sb-echod", "epoll"), 1.0, ">="))
    targets.append(("sb-echod MB/s ≥ 0.95× epoll, pump 1", rt("pump1", "sb-echod", "epoll", "mbps"), 0.95, ">="))
    targets.append(("sb-echod MB/s ≥ 0.90× epoll, pump 50", rt("pump50", "sb-echod", "epoll", "mbps"), 0.90, ">="))
    targets.append(("sb-echod rate ≥ 1.6× libuv, ping-pong 50", rt("pp50", "sb-echod", "libuv"), 1.6, ">="))
    targets.append(("sb-echod rate ≥ 1.4× libevent, ping-pong 50", rt("pp50", "sb-echod", "libevent"), 1.4, ">="))
    for t in ("pp50", "pipe50x16"):
        targets.append(("server CPU/req ≤ 1.0× epoll, %s" % titles.get(t, t), rt(t, "sb-echod", "epoll", "cpu_us"), 1.0, "<="))
        targets.append(("server CPU/req ≤ 0.7× libevent, %s" % titles.get(t, t), rt(t, "sb-echod", "libevent", "cpu_us"), 0.7, "<="))
        targets.append(("server CPU/req ≤ 0.7× libuv, %s" % titles.get(t, t), rt(t, "sb-echod", "libuv", "cpu_us"), 0.7, "<="))
    targets.append(("rate ≥ 1.0× libev-select, 1 active + 9,000 idle", rt("idle1+9000", "sb-echod", "libev-select"), 1.0, ">="))
    rss_rows = results.get("rss10000", {}).get("sb-echod", [])
    rss_add = [(r["rss_kb"] - r["rss0_kb"]) / 1024.0 for r in rss_rows if r and r.get("rss_kb", -1) > 0]
    for c in ("c50", "c1000"):
        targets.append(("sb-httpd ≥ 1.2× nginx, wrk -%s" % c, rt("wrk-" + c, "sb-httpd", "nginx"), 1.2, ">="))
    for cmd in ("SET", "GET"):
        targets.append(("sb-kvd ≥ 1.1× redis, %s -P16" % cmd, rt("%s-P16" % cmd, "sb-kvd", "redis-server"), 1.1, ">="))
        targets.append(("sb-kvd ≥ 1.0× redis, %s -P1" % cmd, rt("%s-P1" % cmd, "sb-kvd", "redis-server"), 1.0, ">="))

    def target_rows(targets, missing="not measured"):
        for label, rs, goal, op in targets:
            if not rs:
                w("| %s | %s | |" % (label, missing))
                continue
            m = med(rs)
            ok = m >= goal if op == ">=" else m <= goal
            miss = abs(m / goal - 1) * 100
            verdict = "met" if ok else "missed by %.*f%%" % (1 if miss < 1 else 0, miss)
            w("| %s | %s | %s |" % (label, fmt_ratio(rs), verdict))

    w("## Targets (issue 6)")
    w("")
    w("| target | measured (median of passes, min–max) | |")
    w("|---|---|---|")
    target_rows(targets)
    if rss_add:
        m = med(rss_add)
        w("| 10,000 idle connections add ≤ 4 MiB to sb-echod's RSS | %.1f MiB | %s |"
          % (m, "met" if m <= 4 else "missed by %.1f MiB" % (m - 4)))
    else:
        w("| 10,000 idle connections add ≤ 4 MiB to sb-echod's RSS | not measured | |")
    w("")

    # The backends and embedding issue: the scale and embed parts.
    w("## Targets (backends and embedding)")
    w("")
    w("Measured in the scale and embed parts below, each load interleaved across its servers; "
      "the echo loads there are driven by `sb-bench` on the epoll backend.")
    w("")
    w("| target | measured (median of passes, min–max) | |")
    w("|---|---|---|")
    target_rows([
        ("sb-echod --backend epoll rate ≥ 1.0× epoll, ping-pong, 10,000 connections",
         rt("scale-pp10000", "sb-echod-epoll", "epoll"), 1.0, ">="),
        ("sb-echod --backend epoll rate ≥ 0.9× epoll, 1 active + 9,000 idle",
         rt("scale-idle1+9000", "sb-echod-epoll", "epoll"), 0.9, ">="),
        ("sb-httpd --backend epoll ≥ 1.2× nginx, wrk -c1000",
         rt("scale-wrk-c1000", "sb-httpd-epoll", "nginx"), 1.2, ">="),
        ("sb-httpd (select) ≥ 1.0× nginx, wrk -c1000",
         rt("scale-wrk-c1000", "sb-httpd", "nginx"), 1.0, ">="),
    ])
    idle_rows = [r for r in results.get("embed-idle1000", {}).get("poll-echo", []) if r]
    label = ("poll-echo (a poll() host) CPU < 1%% of a core with %s idle connections"
             % fmt_num(EMBED_IDLE_CONNS))
    if idle_rows:
        shares = [r["cpu_share"] for r in idle_rows]
        m = med(shares)
        lo, hi = rng(shares)
        oncpu = med([r.get("oncpu_share") for r in idle_rows])
        w("| %s | %s%s%s | %s |" % (label, fmt_pct(m, 2),
                                    " (%s–%s)" % (fmt_pct(lo, 2), fmt_pct(hi, 2))
                                    if len(shares) > 1 else "",
                                    "; on-CPU %s" % fmt_pct(oncpu, 3) if oncpu is not None else "",
                                    "met" if m < 0.01 else
                                    "missed by %.0f%%" % ((m / 0.01 - 1) * 100)))
    missing = "not measured" + (" (poll-echo not built)" if any(
        x.startswith("embed:") for x in results.get("_skipped", [])) else "")
    if not idle_rows:
        w("| %s | %s | |" % (label, missing))
    target_rows([("poll-echo p50 latency ≤ 1.2× sb-echod's, ping-pong, 1 connection",
                  rt("embed-pp1", "poll-echo", "sb-echod", "p50"), 1.2, "<=")], missing)
    w("")

    # The data-path issue: bulk echo under epoll-pump, sb-bench's own pump,
    # and sb-proxyd against HAProxy (the proxy part).
    w("## Targets (data path)")
    w("")
    w("The pump loads are driven by `epoll-pump` (a plain epoll client); `epoll+sb-bench` is "
      "the epoll server under sb-bench's pump mode in the same rotation. The proxy rows "
      "compare sb-proxyd with HAProxy in front of the same upstream sb-echod; the RSS and "
      "byte-exactness checks ran once, not per pass.")
    w("")
    w("| target | measured (median of passes, min–max) | |")
    w("|---|---|---|")
    target_rows([
        ("sb-echod MB/s ≥ 0.95× epoll, pump, 1 connection (epoll-pump client)",
         rt("pump1", "sb-echod", "epoll", "mbps"), 0.95, ">="),
        ("sb-echod MB/s ≥ 0.90× epoll, pump, 50 connections (epoll-pump client)",
         rt("pump50", "sb-echod", "epoll", "mbps"), 0.90, ">="),
        ("sb-echod server CPU per echoed byte ≤ 1.1× epoll's, pump, 1 connection",
         rt("pump1", "sb-echod", "epoll", "cpu_us_mb"), 1.1, "<="),
        ("sb-echod server CPU per echoed byte ≤ 1.1× epoll's, pump, 50 connections",
         rt("pump50", "sb-echod", "epoll", "cpu_us_mb"), 1.1, "<="),
        ("sb-bench pump ÷ epoll client pump ≥ 0.95×, against the epoll server, 1 connection",
         rt("pump1", "epoll+sb-bench", "epoll", "mbps"), 0.95, ">="),
        ("sb-bench pump ÷ epoll client pump ≥ 0.95×, against the epoll server, 50 connections",
         rt("pump50", "epoll+sb-bench", "epoll", "mbps"), 0.95, ">="),
    ])
    proxy_missing = "not measured"
    for x in results.get("_skipped", []):
        if x.startswith("proxy: ") and "epoll-pump" in x:
            proxy_missing = "not measured (epoll-pump or bulk-source not built)"
        elif x.startswith("proxy: ") and "not built" in x:
            proxy_missing = "not measured (sb-proxyd not built)"
    prows = []
    for t, what in (("proxy-pp1", "ping-pong, 1 connection"),
                    ("proxy-pp50", "ping-pong, 50 connections"),
                    ("proxy-pump1", "pump, 1 connection"),
                    ("proxy-pump50", "pump, 50 connections")):
        key = "mbps" if kinds.get(t) == "mb" else "rate"
        prows.append(("sb-proxyd %s ≥ 1.0× haproxy, %s" % ("MB/s" if key == "mbps" else "rate",
                                                          what),
                      rt(t, "sb-proxyd", "haproxy", key), 1.0, ">="))
        prows.append(("sb-proxyd CPU per byte relayed ≤ 1.0× haproxy's, %s" % what,
                      rt(t, "sb-proxyd", "haproxy", "cpu_us_mb"), 1.0, "<="))
    target_rows(prows, proxy_missing)
    rss_rows = {n: [r for r in results.get("proxy-rss", {}).get(n, []) if r]
                for n in ("sb-proxyd", "haproxy")}
    label = "sb-proxyd RSS < 8 MiB during a bulk download to a reader at %d MB/s" % (
        PROXY_RSS_RATE_MB)
    sbr = [r for r in rss_rows["sb-proxyd"] if r.get("ok")]
    if rss_rows["sb-proxyd"]:
        r = rss_rows["sb-proxyd"][0]
        hp = rss_rows["haproxy"][0] if rss_rows["haproxy"] else None
        beside = "; haproxy %.1f MiB" % (hp["rss_max_kb"] / 1024.0) if hp else ""
        size = " (%s MB)" % fmt_num(r["expected_bytes"] / 1e6)
        if not sbr:
            w("| %s%s | %.1f MiB%s | FAILED: %s |" % (label, size, r["rss_max_kb"] / 1024.0,
                                                    beside, r.get("error", "?")))
        else:
            m = r["rss_max_kb"]
            w("| %s%s | %.1f MiB max%s | %s |" % (
                label, size, m / 1024.0, beside, "met" if m < PROXY_RSS_GOAL_KB else
                "missed by %.1f MiB" % ((m - PROXY_RSS_GOAL_KB) / 1024.0)))
    else:
        w("| %s | %s | |" % (label, proxy_missing))
    ver = {n: [r for r in results.get("proxy-verify", {}).get(n, []) if r]
           for n in ("sb-proxyd", "haproxy")}
    label = ("%s concurrent relayed connections × %s MB arrive byte-exact, 0 mismatches"
             % (fmt_num(PROXY_VERIFY_CONNS), fmt_num(PROXY_VERIFY_BYTES / 1e6)))
    if ver["sb-proxyd"]:
        r = ver["sb-proxyd"][0]
        hp = ver["haproxy"][0] if ver["haproxy"] else None
        beside = ("; haproxy %s" % ("byte-exact" if hp.get("ok") else "FAILED")) if hp else ""
        got = "%s of %s bytes verified, %d mismatched, %d/%d connections complete%s%s" % (
            fmt_num(r["verified"]), fmt_num(r["expected_bytes"]), r["mismatches"],
            r["complete"], r["conns"], " (%s MB each: a quick run)" % fmt_num(
                r["bytes_per_conn"] / 1e6) if r["bytes_per_conn"] != PROXY_VERIFY_BYTES else "",
            beside)
        w("| %s | %s | %s |" % (label, got, "met" if r.get("ok") else
                                "**FAILED**: %s" % r.get("error", "?")))
    else:
        w("| %s | %s | |" % (label, proxy_missing))
    w("")

    # --------------------------------------------------------- tables
    def table(test_ids, heading, sb, refs, is_mb=False, lat=True, ref="epoll", srv_col=False,
              up_col=False):
        present = [t for t in test_ids if t in results]
        if not present:
            return
        if heading:
            w(heading)
            w("")
        for t in present:
            servers = [s for s in order[t] if results[t].get(s)]
            mb = kinds.get(t) == "mb" or is_mb
            key = "mbps" if mb else "rate"
            w("**%s**" % titles.get(t, t))
            w("")
            cols = ["server", "MB/s" if mb else "req/s", "min–max"]
            if lat and not mb:
                cols += ["p50 µs", "p99 µs", "p99.9 µs"]
            # Bulk loads: server CPU per MB echoed (or relayed) instead of per request.
            ck, cu, cs, cn = (("cpu_us_mb", "usr_us_mb", "sys_us_mb", "CPU/MB") if mb else
                              ("cpu_us", "usr_us", "sys_us", "CPU/req"))
            cols += ["%s µs (usr / sys)" % cn, "RSS MiB"]
            busy_col = any(r and r.get("client_busy") is not None for s in servers for r in results[t][s])
            if srv_col:
                cols.append("server CPU")
            if busy_col:
                cols.append("client CPU")
            if up_col:
                cols.append("upstream CPU")
            if ref in servers and sb in servers:
                cols += ["÷ %s" % ref, "%s ÷ %s" % (cn, ref)]
            if sb in servers:
                cols += ["%s ÷ this" % sb, "%s %s ÷ this" % (sb, cn)]
            w("| " + " | ".join(cols) + " |")
            w("|" + "---|" * len(cols))
            for s in servers:
                rs = [r for r in results[t][s] if r]
                lo, hi = rng([r.get(key) for r in rs])
                row = [("**%s**" % s) if s == sb else s, fmt_num(med([r.get(key) for r in rs]), 1 if mb else 0),
                       "%s–%s" % (fmt_num(lo, 1 if mb else 0), fmt_num(hi, 1 if mb else 0))]
                if lat and not mb:
                    row += [fmt_num(med([r.get("p50") for r in rs]), 1),
                            fmt_num(med([r.get("p99") for r in rs]), 1),
                            fmt_num(med([r.get("p999") for r in rs]), 1) if rs and "p999" in rs[0] else "–"]
                cpu = med([r.get(ck) for r in rs])
                row.append("%s (%s / %s)" % (fmt_num(cpu, 2), fmt_num(med([r.get(cu) for r in rs]), 2),
                                             fmt_num(med([r.get(cs) for r in rs]), 2)))
                rss = med([r.get("rss_kb") for r in rs if r.get("rss_kb", -1) > 0])
                row.append(fmt_num(rss / 1024.0, 1) if rss else "–")
                if srv_col:
                    row.append(fmt_pct(med([r.get("cpu_util") for r in rs])))
                if busy_col:
                    b = med([r.get("client_busy") for r in rs])
                    row.append("%.0f%%" % (100 * b) if b is not None else "–")
                if up_col:
                    row.append(fmt_pct(med([r.get("upstream_busy") for r in rs])))
                if "÷ %s" % ref in cols:
                    row.append(fmt_ratio(ratios(results, t, s, ref, key)) if s != ref else "1")
                    row.append(fmt_ratio(ratios(results, t, s, ref, ck)) if s != ref else "1")
                if "%s ÷ this" % sb in cols:
                    row.append(fmt_ratio(ratios(results, t, sb, s, key)) if s != sb else "1")
                    row.append(fmt_ratio(ratios(results, t, sb, s, ck)) if s != sb else "1")
                w("| " + " | ".join(row) + " |")
            errs = ["%s: %s" % (s, r["error"]) for s in servers for r in results[t][s] if r and r.get("error")]
            fails = ["%s: %s" % (s, f) for s, f in results.get("_failures", {}).get(t, [])]
            for e in sorted(set(errs + fails)):
                w("")
                w("- ⚠ %s" % e)
            w("")

    echo_tests = [l[0] for l in ECHO_LOADS if l[0] != "rss10000"]
    if any(t in results for t in echo_tests):
        w("## Echo servers: sb-echod and the references")
        w("")
        for c in charts:
            if c in ("roundtrips.svg", "cpu-per-roundtrip.svg", "latency.svg"):
                w("![%s](%s%s)" % (c[:-4], rel, c))
                w("")
        table(["pp1", "pp50", "pp1000", "pp10000", "pipe50x16"], "### Ping-pong and pipelined (64-byte messages)", "sb-echod", None)
        if any(t in results for t in ("pump1", "pump50")):
            w("### Pump (16 KiB writes, 1 MiB in flight per connection, echoed MB/s)")
            w("")
            w("Driven by `epoll-pump`; `epoll+sb-bench` is the epoll server under sb-bench's "
              "own pump mode (its `÷ epoll` is sb-bench ÷ epoll-pump). *client CPU* is the "
              "load generator's share of its core: on loopback the sender also pays for the "
              "receiver's TCP input, so a bulk client near 100% is normal and the CPU/MB "
              "ratio is the comparison it cannot mask.")
            w("")
        table(["pump1", "pump50"], "", "sb-echod", None, is_mb=True)
        for c in charts:
            if c.startswith("idle-cost"):
                w("![%s](%s%s)" % (c[:-4], rel, c))
                w("")
        table(["idle1+100", "idle1+900", "idle1+9000", "idle50+100", "idle50+900", "idle50+9000"],
              "### Active connections beside idle ones (ping-pong, 64-byte messages)", "sb-echod", None)
    if "rss10000" in results:
        w("### Memory with 10,000 idle connections")
        w("")
        w("Each connection made one 64-byte round trip, then stayed idle; RSS measured at the "
          "end of a few seconds with all 10,000 held. Memory a server frees but its allocator "
          "keeps still counts.")
        w("")
        w("| server | RSS before | RSS with 10,000 idle | added | per connection |")
        w("|---|---|---|---|---|")
        for s in order["rss10000"]:
            rs = [r for r in results["rss10000"].get(s, []) if r and r.get("rss_kb", -1) > 0]
            if not rs:
                continue
            r0 = med([r["rss0_kb"] for r in rs])
            r1 = med([r["rss_kb"] for r in rs])
            add = med([r["rss_kb"] - r["rss0_kb"] for r in rs])
            w("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.0f bytes |"
              % (s, r0 / 1024.0, r1 / 1024.0, add / 1024.0, add * 1024.0 / 10000))
        w("")
    if any(t.startswith("wrk-") for t in results):
        w("## HTTP: sb-httpd and nginx under wrk")
        w("")
        w("`wrk -t1 -cN --latency` fetching the same 1 KiB file (`%s`), keep-alive." % WWW_FILE)
        w("")
        table(["wrk-c1", "wrk-c50", "wrk-c1000"], "", "sb-httpd", None)
    if any(t.endswith(("-P1", "-P16")) for t in results):
        w("## RESP: sb-kvd and redis-server under redis-benchmark")
        w("")
        w("`redis-benchmark -c 50 -P {1,16} -t ping,set,get` (3-byte values, one key); "
          "CPU/req covers the whole redis-benchmark run of that command.")
        w("")
        kv = [t for t in results if t.endswith(("-P1", "-P16"))]
        cmd_order = ["PING_INLINE", "PING_MBULK", "SET", "GET"]
        table(sorted(kv, key=lambda t: (int(t.rsplit("-P", 1)[1]),
                                        cmd_order.index(t.rsplit("-P", 1)[0])
                                        if t.rsplit("-P", 1)[0] in cmd_order else 9, t)),
              "", "sb-kvd", None)
    if any(t.startswith("scale-") for t in results):
        w("## Backends at scale: select and epoll")
        w("")
        w("The library's epoll backend (`--backend epoll`) beside its default select backend "
          "and the references, with 10,000 connections. `sb-echod` and `sb-httpd` without a "
          "suffix run on select (`--backend select`), `-c %s` for sb-echod. The echo loads "
          "come from `sb-bench` on the epoll backend (`SB_BACKEND=epoll`), so that the "
          "client's own wait stays O(ready fds); *server CPU* is the server's CPU time over "
          "the measured window (HTTP: around the whole wrk run) as a share of its core, "
          "*client CPU* the load generator's over its whole run: the side near 100%% set the "
          "rate. In ping-pong the client makes one send and one receive per message, as the "
          "server does, so at 10,000 connections both sides near a full core; CPU/req is the "
          "comparison the client cannot mask." % fmt_num(SCALE_MAX_CONNS))
        w("")
        table(["scale-pp10000", "scale-idle1+9000"], "### Echo (64-byte messages)",
              "sb-echod-epoll", None, srv_col=True)
        table(["scale-wrk-c%d" % SCALE_WRK_CONNS],
              "### HTTP (`wrk -t1 -c%d`, the same 1 KiB file)" % SCALE_WRK_CONNS,
              "sb-httpd-epoll", None, ref="nginx", srv_col=True)
    if any(t.startswith("embed-") for t in results):
        w("## Embedded in a host poll() loop")
        w("")
        w("`build/embed/poll-echo`: an echo server like sb-echod, but driven by a plain "
          "`poll()` loop of the host's through `sb_loop_set_watch()`, `sb_loop_timeout()` and "
          "`sb_loop_dispatch()`; sb-echod (its own loop, select) beside it in the same run. "
          "Both with `-t %d -c %s`." % (EMBED_IDLE_TIMEOUT_S, fmt_num(EMBED_MAX_CONNS)))
        w("")
        if "embed-idle1000" in results:
            tick = med([r.get("tick_s") for s in order["embed-idle1000"]
                        for r in results["embed-idle1000"].get(s, []) if r])
            secs = med([r.get("seconds") for s in order["embed-idle1000"]
                        for r in results["embed-idle1000"].get(s, []) if r])
            w("### %s idle connections: the host's CPU" % fmt_num(EMBED_IDLE_CONNS))
            w("")
            w("Each connection made one 64-byte round trip, then stayed silent. The server's "
              "utime + stime (`/proc/PID/stat`) over a %.1f s window with all of them held, as "
              "a share of one core (clock ticks of %g ms: a resolution of %s); *on-CPU*: the "
              "same from the scheduler's nanosecond count (`/proc/PID/task/*/schedstat`), a "
              "cross-check below the ticks' resolution; *wakeups/s*: its voluntary context "
              "switches over the window; *client CPU*: sb-bench's over the same window."
              % (secs or 0, (tick or 0.01) * 1e3, fmt_pct((tick or 0.01) / (secs or 1), 2)))
            w("")
            w("| server | CPU, share of a core | min–max | usr / sys s | on-CPU | wakeups/s | "
              "connections held | RSS MiB | client CPU |")
            w("|---|---|---|---|---|---|---|---|---|")
            for s in order["embed-idle1000"]:
                rs = [r for r in results["embed-idle1000"].get(s, []) if r]
                if not rs:
                    continue
                lo, hi = rng([r["cpu_share"] for r in rs])
                rss = med([r.get("rss_kb") for r in rs if r.get("rss_kb", -1) > 0])
                w("| %s | %s | %s–%s | %s / %s | %s | %s | %s | %s | %s |" % (
                    ("**%s**" % s) if s == "poll-echo" else s,
                    fmt_pct(med([r["cpu_share"] for r in rs]), 2), fmt_pct(lo, 2),
                    fmt_pct(hi, 2), fmt_num(med([r["usr_s"] for r in rs]), 2),
                    fmt_num(med([r["sys_s"] for r in rs]), 2),
                    fmt_pct(med([r.get("oncpu_share") for r in rs]), 3),
                    fmt_num(med([r["wakeups_per_s"] for r in rs]), 1),
                    fmt_num(med([r["held"] for r in rs])),
                    fmt_num(rss / 1024.0, 1) if rss else "–",
                    fmt_pct(med([r.get("client_busy") for r in rs]))))
            errs = ["%s: %s" % (s, r["error"]) for s in order["embed-idle1000"]
                    for r in results["embed-idle1000"].get(s, []) if r and r.get("error")]
            fails = ["%s: %s" % (s, f) for s, f in
                     results.get("_failures", {}).get("embed-idle1000", [])]
            for e in sorted(set(errs + fails)):
                w("")
                w("- ⚠ %s" % e)
            w("")
        if "embed-pp1" in results:
            t = "embed-pp1"
            w("### Latency: ping-pong, 1 connection (64-byte messages)")
            w("")
            w("| server | p50 µs | min–max | p99 µs | min–max | p50 ÷ sb-echod | p99 ÷ sb-echod "
              "| req/s | CPU/req µs | client CPU |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for s in order[t]:
                rs = [r for r in results[t].get(s, []) if r]
                if not rs:
                    continue
                lo50, hi50 = rng([r.get("p50") for r in rs])
                lo99, hi99 = rng([r.get("p99") for r in rs])
                w("| %s | %s | %s–%s | %s | %s–%s | %s | %s | %s | %s | %s |" % (
                    ("**%s**" % s) if s == "poll-echo" else s,
                    fmt_num(med([r.get("p50") for r in rs]), 1), fmt_num(lo50, 1),
                    fmt_num(hi50, 1), fmt_num(med([r.get("p99") for r in rs]), 1),
                    fmt_num(lo99, 1), fmt_num(hi99, 1),
                    fmt_ratio(rt(t, s, "sb-echod", "p50")) if s != "sb-echod" else "1",
                    fmt_ratio(rt(t, s, "sb-echod", "p99")) if s != "sb-echod" else "1",
                    fmt_num(med([r.get("rate") for r in rs])),
                    fmt_num(med([r.get("cpu_us") for r in rs]), 2),
                    fmt_pct(med([r.get("client_busy") for r in rs]))))
            errs = ["%s: %s" % (s, r["error"]) for s in order[t]
                    for r in results[t].get(s, []) if r and r.get("error")]
            fails = ["%s: %s" % (s, f) for s, f in results.get("_failures", {}).get(t, [])]
            for e in sorted(set(errs + fails)):
                w("")
                w("- ⚠ %s" % e)
            w("")
    if any(t.startswith("proxy-") for t in results):
        w("## Proxy: sb-proxyd and HAProxy")
        w("")
        w("Both in front of the same upstream, `sb-echod --backend epoll -t 0` (a fresh one "
          "per test), on the load generator's core; the proxy has the servers' core. "
          "`sb-proxyd --max-conns %d`; HAProxy %s with `mode tcp`, `nbthread 1`, "
          "`maxconn %d` and its defaults otherwise (16 KiB buffers, no splicing). Ping-pong "
          "comes from sb-bench, pump from epoll-pump. *CPU/req* and *CPU/MB* are the proxy's "
          "CPU time per round trip and per MB relayed (each MB crosses the proxy twice: "
          "to the upstream and back). *upstream CPU*: the upstream sb-echod's share of the "
          "core it shares with the client."
          % (PROXY_MAX_CONNS, info.get("haproxy") or "", PROXY_MAX_CONNS))
        w("")
        table(["proxy-pp1", "proxy-pp50"], "### Ping-pong through the proxy (64-byte messages)",
              "sb-proxyd", None, ref="haproxy", srv_col=True, up_col=True)
        table(["proxy-pump1", "proxy-pump50"],
              "### Pump through the proxy (16 KiB writes, 1 MiB in flight, echoed MB/s)",
              "sb-proxyd", None, ref="haproxy", srv_col=True, up_col=True)

        def check_notes(t):
            errs = ["%s: %s" % (s, r["error"]) for s in order.get(t, [])
                    for r in results[t].get(s, []) if r and r.get("error")]
            fails = ["%s: %s" % (s, f) for s, f in results.get("_failures", {}).get(t, [])]
            for e in sorted(set(errs + fails)):
                w("")
                w("- ⚠ %s" % e)
            w("")

        if "proxy-rss" in results:
            t = "proxy-rss"
            rs0 = [r for s in order[t] for r in results[t].get(s, []) if r]
            w("### Memory: a bulk download to a slow reader")
            w("")
            w("`bulk-source` (the upstream here, on the client's core) sends %s MB as fast as "
              "it is taken; the client (`epoll-pump -M drain`) reads at %d MB/s and checks "
              "every byte. The proxy's VmRSS (`/proc/PID/status`) is sampled every %g ms "
              "during the transfer; *max* is the largest sample, *VmHWM* the kernel's peak "
              "for the process's life. Once per run, not per pass."
              % (fmt_num((rs0[0]["expected_bytes"] if rs0 else PROXY_RSS_BYTES) / 1e6),
                 PROXY_RSS_RATE_MB, PROXY_RSS_SAMPLE_S * 1e3))
            w("")
            w("| proxy | RSS max | at start | growth | VmHWM | bytes received | MB/s | mismatched | "
              "proxy CPU (usr / sys s) | samples |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for s in order[t]:
                for r in [x for x in results[t].get(s, []) if x]:
                    w("| %s | %.1f MiB | %.1f MiB | %+.1f MiB | %s | %s | %.1f | %d | %.2f / %.2f | %d |" % (
                        ("**%s**" % s) if s == "sb-proxyd" else s, r["rss_max_kb"] / 1024.0,
                        r["rss0_kb"] / 1024.0, (r["rss_max_kb"] - r["rss0_kb"]) / 1024.0,
                        "%.1f MiB" % (r["hwm_kb"] / 1024.0) if r["hwm_kb"] > 0 else "–",
                        fmt_num(r["bytes"]), r["mbps"], r["mismatches"], r["usr_s"],
                        r["sys_s"], r["samples"]))
            check_notes(t)
        if "proxy-verify" in results:
            t = "proxy-verify"
            rs0 = [r for s in order[t] for r in results[t].get(s, []) if r]
            per = rs0[0]["bytes_per_conn"] if rs0 else PROXY_VERIFY_BYTES
            w("### Byte-exactness: %s concurrent relayed connections" % fmt_num(PROXY_VERIFY_CONNS))
            w("")
            w("`epoll-pump -M verify`: %s connections open at once through the proxy to the "
              "upstream sb-echod, each sending %s MB of its own pseudo-random stream (64 KiB "
              "in flight) and comparing every echoed byte with the regenerated stream; a "
              "connection is complete when all of its bytes are back. %s GB in each "
              "direction, once per run (not per pass), bounded by a %d s limit that fails "
              "the check."
              % (fmt_num(PROXY_VERIFY_CONNS), fmt_num(per / 1e6),
                 fmt_num(PROXY_VERIFY_CONNS * per / 1e9, 1), PROXY_VERIFY_TIMEOUT_S))
            w("")
            w("| proxy | result | bytes verified | mismatched | complete | MB/s | seconds | "
              "proxy RSS (VmHWM) | client CPU | upstream CPU |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for s in order[t]:
                for r in [x for x in results[t].get(s, []) if x]:
                    w("| %s | %s | %s | %d | %d/%d | %.1f | %.1f | %s | %s | %s |" % (
                        ("**%s**" % s) if s == "sb-proxyd" else s,
                        "byte-exact" if r.get("ok") else "**FAILED**", fmt_num(r["verified"]),
                        r["mismatches"], r["complete"], r["conns"], r["mbps"], r["seconds"],
                        "%.1f MiB" % (r["hwm_kb"] / 1024.0) if r["hwm_kb"] > 0 else "–",
                        fmt_pct(r.get("client_busy")), fmt_pct(r.get("upstream_busy"))))
            check_notes(t)
    L.extend(tls_lines(results, order, titles, kinds))
    notes = os.path.join(ROOT, "tests", "bench", "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read().rstrip("\n"))
        w("")
    if results.get("_skipped"):
        w("## Skipped")
        w("")
        for s in results["_skipped"]:
            w("- %s" % s)
        w("")
    w("## Raw results")
    w("")
    w("Every test of every pass: [`%sresults.json`](%sresults.json)." % (rel, rel))
    w("")
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "benchmarks.md")
    with open(path, "w") as f:
        f.write("\n".join(L))
    return path


# ------------------------------------------------------------------- main


def main():
    args = parse_args()
    if args.from_json:
        return rerender(args.from_json, os.environ.get("BENCH_OUT"), args.note)
    raise_nofile()
    if os.environ.pop("SB_BACKEND", None):
        # It would switch sb-bench and every daemon started without
        # --backend; the parts name each backend themselves.
        log("ignoring SB_BACKEND from the environment")
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for tool in ("taskset",):
        if not shutil.which(tool):
            sys.exit("bench: %s is missing (util-linux)" % tool)
    if (os.cpu_count() or 1) < 2:
        log("only one CPU: server and load generator share it")
    logdir = os.path.join(ROOT, "build", "bench", "logs")
    datadir = os.path.join(ROOT, "build", "bench", "data")
    os.makedirs(logdir, exist_ok=True)
    os.makedirs(datadir, exist_ok=True)
    for need in ("sb-echod", "sb-bench"):
        if not os.path.exists(os.path.join(args.bin, need)):
            sys.exit("bench: %s is not built (run make first)" % os.path.join(args.bin, need))
    # Run private copies: build/ is shared, and a rebuild or a clean during
    # the run must neither remove a binary nor swap it between passes.
    private = os.path.join(ROOT, "build", "bench", "run")
    shutil.rmtree(private, ignore_errors=True)
    os.makedirs(private)
    for d, names in ((args.bin, ("sb-echod", "sb-bench", "sb-httpd", "sb-kvd")),
                     (args.bench_bin, ("epoll-echo", "libevent-echo", "libuv-echo",
                                       "libev-echo", "epoll-pump", "bulk-source",
                                       "tls-epoll-echo", "tls-load"))):
        for n in names:
            if os.path.exists(os.path.join(d, n)):
                shutil.copy2(os.path.join(d, n), os.path.join(private, n))
    proxyd = args.proxyd or os.path.join(args.bin, "sb-proxyd")
    proxyd_shown = os.path.relpath(proxyd, ROOT) if proxyd.startswith(ROOT) else proxyd
    args.proxyd = None
    if os.path.exists(proxyd):
        args.proxyd = os.path.join(private, "sb-proxyd")
        shutil.copy2(proxyd, args.proxyd)
    poll_echo = args.poll_echo or os.path.join(args.bin, "embed", "poll-echo")
    poll_echo_shown = os.path.relpath(poll_echo, ROOT) if poll_echo.startswith(ROOT) else poll_echo
    args.poll_echo = None
    if os.path.exists(poll_echo):
        args.poll_echo = os.path.join(private, "poll-echo")
        shutil.copy2(poll_echo, args.poll_echo)
        try:
            libs = subprocess.run(["ldd", args.poll_echo], capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            libs = ""
        if "not found" in libs:
            # Linked to a libswitchboard.so it finds relative to its folder.
            log("running %s in place (its copy does not find its libraries)" % poll_echo_shown)
            args.poll_echo = poll_echo
    args.bin = args.bench_bin = private
    args.idle_window = 1.5 if args.quick else 4.0
    have_pump = os.path.exists(os.path.join(private, "epoll-pump"))

    results = {"_failures": {}, "_skipped": []}
    order, titles, kinds = {}, {}, {}
    plan = []  # (pass, test id, server, runner)
    echo = echo_servers(args) if "echo" in args.only else []
    for n, f in list(echo):
        if not os.path.exists(f("x")[0]):
            results["_skipped"].append("%s: %s is not built" % (n, f("x")[0]))
            echo.remove((n, f))
    for lid, title, _a, kind in ECHO_LOADS + SCALE_LOADS + EMBED_LOADS + PROXY_LOADS + TLS_LOADS:
        titles[lid], kinds[lid] = title, kind
    # The pump loads' second client: sb-bench's pump against the epoll server.
    pump_clients = (pump_client_servers(args)
                    if "echo" in args.only and os.path.exists(
                        os.path.join(args.bench_bin, "epoll-echo")) else [])
    if "echo" in args.only and not have_pump:
        results["_skipped"].append("echo pump loads: build/bench/epoll-pump is not built")
        log("skipping the pump loads: build/bench/epoll-pump is not built")
    scale_echo = scale_echo_servers(args) if "scale" in args.only else []
    for n, f in list(scale_echo):
        if not os.path.exists(f("x")[0]):
            results["_skipped"].append("scale %s: %s is not built" % (n, f("x")[0]))
            scale_echo.remove((n, f))
    embed = embed_servers(args) if "embed" in args.only and args.poll_echo else []
    if "embed" in args.only and not args.poll_echo:
        results["_skipped"].append("embed: %s is not built (the embedding targets were not "
                                   "measured)" % poll_echo_shown)
        log("skipping the embed part: %s is not built" % poll_echo_shown)
    www = (make_www(os.path.join(ROOT, "build", "bench", "www"))
           if "http" in args.only or "scale" in args.only or "tls" in args.only else None)
    http = http_servers(args, www, logdir) if "http" in args.only else []
    if "http" in args.only:
        if not shutil.which("wrk"):
            http = []
            results["_skipped"].append("HTTP: wrk is not installed")
        elif len(http) < 2:
            results["_skipped"].append("HTTP comparison: %s" % (
                "sb-httpd is not built" if not any(n == "sb-httpd" for n, _ in http)
                else "nginx is not installed"))
    scale_http = http_servers(args, www, logdir, scale=True) if "scale" in args.only else []
    if "scale" in args.only:
        if not shutil.which("wrk"):
            scale_http = []
            results["_skipped"].append("scale, HTTP: wrk is not installed")
        elif len(scale_http) < 3:
            scale_http = []
            results["_skipped"].append("scale, HTTP comparison: %s" % (
                "nginx is not installed" if os.path.exists(os.path.join(args.bin, "sb-httpd"))
                else "sb-httpd is not built"))
    proxies = proxy_servers(args, logdir) if "proxy" in args.only else []
    if "proxy" in args.only:
        if not args.proxyd:
            proxies = []
            results["_skipped"].append("proxy: %s is not built (the proxy targets were not "
                                       "measured)" % proxyd_shown)
            log("skipping the proxy part: %s is not built" % proxyd_shown)
        elif not have_pump or not os.path.exists(os.path.join(args.bench_bin, "bulk-source")):
            proxies = []
            results["_skipped"].append("proxy: build/bench/epoll-pump or bulk-source is not "
                                       "built")
        elif not haproxy_bin():
            results["_skipped"].append("proxy: haproxy is not installed (no HAProxy "
                                       "comparison)")
            log("proxy part without HAProxy: haproxy is not installed")
    kvs = kv_servers(args) if "kv" in args.only else []
    if "kv" in args.only:
        if not shutil.which("redis-benchmark"):
            kvs = []
            results["_skipped"].append("RESP: redis-benchmark is not installed")
        elif len(kvs) < 2:
            results["_skipped"].append("RESP comparison: %s" % (
                "sb-kvd is not built" if not any(n == "sb-kvd" for n, _ in kvs)
                else "redis-server is not installed"))

    tls_http, tls_http_rsa, tls_echo = (tls_servers(args, www, logdir, results["_skipped"])
                                        if "tls" in args.only else ([], [], []))
    if "tls" in args.only and not shutil.which("wrk"):
        results["_skipped"].append("TLS, HTTPS keep-alive: wrk is not installed")

    if args.servers:
        tls_http = [x for x in tls_http if x[0] in args.servers]
        tls_http_rsa = [x for x in tls_http_rsa if x[0] in args.servers]
        tls_echo = [x for x in tls_echo if x[0] in args.servers]
        echo = [x for x in echo if x[0] in args.servers]
        http = [x for x in http if x[0] in args.servers]
        kvs = [x for x in kvs if x[0] in args.servers]
        scale_echo = [x for x in scale_echo if x[0] in args.servers]
        scale_http = [x for x in scale_http if x[0] in args.servers]
        embed = [x for x in embed if x[0] in args.servers]
        pump_clients = [x for x in pump_clients if x[0] in args.servers]
        proxies = [x for x in proxies if x[0] in args.servers]
    loads = [l for l in ECHO_LOADS if (not args.loads or l[0] in args.loads)
             and (have_pump or l[3] != "mb")]
    proxy_loads = [l for l in PROXY_LOADS if not args.loads or l[0] in args.loads]
    scale_loads = [l for l in SCALE_LOADS if not args.loads or l[0] in args.loads]
    embed_loads = [l for l in EMBED_LOADS if not args.loads or l[0] in args.loads]
    tls_loads = [l for l in TLS_LOADS if (not args.loads or l[0] in args.loads)
                 and (l[2] is not None or shutil.which("wrk"))]

    def rotated(servers, r):
        r %= len(servers)
        return servers[r:] + servers[:r]

    for p in range(args.passes):
        k = 0
        for load in loads:
            # Pump loads: every server under epoll-pump, and the epoll server
            # under sb-bench in the same rotation.
            servers = echo + (pump_clients if load[3] == "mb" else [])
            if not servers:
                continue
            n = len(servers)
            rot = (p + k) % n
            k += 1
            for name, f in servers[rot:] + servers[:rot]:
                client = "sb-bench" if name in SB_BENCH_CLIENT else None
                plan.append((p, load[0], name, ("echo", f, (load, None, client))))
        for c in (1, 50, 1000):
            t = "wrk-c%d" % c
            titles[t] = "wrk -c%d" % c
            for name, f in (http if (p + c) % 2 == 0 else list(reversed(http))):
                plan.append((p, t, name, ("wrk", f, c)))
        for cmd, pipe in KV_TESTS:
            t = "%s-P%d" % (cmd, pipe)
            for name, f in (kvs if (p + pipe) % 2 == 0 else list(reversed(kvs))):
                plan.append((p, t, name, ("kv", f, (cmd, pipe))))
        # Scale and embed: every server in turn for each load, the order
        # rotated from one load and pass to the next.
        for k, load in enumerate(scale_loads):
            servers = scale_http if load[2] is None else scale_echo
            for name, f in rotated(servers, p + k) if servers else []:
                if load[2] is None:
                    plan.append((p, load[0], name, ("wrk", f, SCALE_WRK_CONNS)))
                else:
                    plan.append((p, load[0], name, ("echo", f, (load, EPOLL_CLIENT, None))))
        for k, load in enumerate(embed_loads):
            for name, f in rotated(embed, p + k) if embed else []:
                if load[3] == "idlecpu":
                    plan.append((p, load[0], name, ("idle", f, None)))
                else:
                    plan.append((p, load[0], name, ("echo", f, (load, EPOLL_CLIENT, None))))
        # TLS: each load every server in turn, the order rotated.
        for k, load in enumerate(tls_loads):
            servers = (tls_echo if load[3] == "mb" else
                       tls_http_rsa if load[0].endswith("-rsa") else tls_http)
            for name, f in rotated(servers, p + k) if servers else []:
                if load[2] is None:
                    plan.append((p, load[0], name, ("tlswrk", f, TLS_WRK_CONNS)))
                else:
                    plan.append((p, load[0], name, ("tls", f, load)))
        # Proxy: the rate loads every pass; the memory and byte-exactness
        # checks once, at the end of the last pass (they are long and their
        # figures do not need a median).
        for k, load in enumerate(proxy_loads):
            if load[2] is None and p != args.passes - 1:
                continue
            for name, f in rotated(proxies, p + k) if proxies else []:
                kind = {"proxyrss": "proxyrss", "verify": "verify"}.get(load[3], "proxied")
                plan.append((p, load[0], name, (kind, f, load)))

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load0 = loadavg()
    t0 = time.time()
    log("%d tests, %d pass(es) of %g s; load average %s" % (len(plan), args.passes, args.seconds, load0))
    try:
        for i, (p, tid, name, (kind, f, extra)) in enumerate(plan):
            try:
                if kind == "echo":
                    load, client_env, client = extra
                    got = {tid: run_echo(args, name, f, load, logdir, client_env, client)}
                elif kind == "proxied":
                    got = {tid: run_proxied(args, name, f, extra, logdir)}
                elif kind == "proxyrss":
                    got = {tid: run_proxy_rss(args, name, f, logdir)}
                elif kind == "verify":
                    got = {tid: run_proxy_verify(args, name, f, logdir)}
                elif kind == "idle":
                    got = {tid: run_idle_cpu(args, name, f, logdir)}
                elif kind == "wrk":
                    got = {tid: run_wrk(args, name, f, extra, logdir)}
                elif kind == "tlswrk":
                    got = {tid: run_wrk(args, name, f, extra, logdir, scheme="https")}
                elif kind == "tls":
                    got = {tid: run_tls_load(args, name, f, extra, logdir)}
                else:
                    cmd, pipe = extra
                    rows = run_redis_benchmark(args, name, f, cmd, pipe, logdir)
                    got = {}
                    for test, r in rows.items():
                        got["%s-P%d" % (test, pipe)] = r
                for t, r in got.items():
                    titles.setdefault(t, t.replace("-P", " -P"))
                    order.setdefault(t, [])
                    if name not in order[t]:
                        order[t].append(name)
                    results.setdefault(t, {}).setdefault(name, [None] * args.passes)[p] = r
                    key = "mbps" if kinds.get(t) == "mb" else "rate"
                    if kinds.get(t) == "rss":
                        what = "RSS %.1f MiB (+%.1f)" % (r["rss_kb"] / 1024.0,
                                                         (r["rss_kb"] - r["rss0_kb"]) / 1024.0)
                    elif kinds.get(t) == "idlecpu":
                        what = ("%.2f%% of a core (on-CPU %s), %.1f wakeups/s, %d held  "
                                "client %.0f%%" % (100 * r["cpu_share"],
                                                   fmt_pct(r.get("oncpu_share"), 3),
                                                   r["wakeups_per_s"], r["held"],
                                                   100 * r["client_busy"]))
                    elif kinds.get(t) == "proxyrss":
                        what = ("RSS max %.1f MiB (at start %.1f, VmHWM %.1f), %s of %s bytes "
                                "at %.1f MB/s, %d mismatched" % (
                                    r["rss_max_kb"] / 1024.0, r["rss0_kb"] / 1024.0,
                                    r["hwm_kb"] / 1024.0, fmt_num(r["bytes"]),
                                    fmt_num(r["expected_bytes"]), r["mbps"], r["mismatches"]))
                    elif kinds.get(t) == "verify":
                        what = ("%s of %s bytes verified, %d mismatched, %d/%d connections "
                                "complete, %.1f MB/s in %.1f s, RSS %.1f MiB" % (
                                    fmt_num(r["verified"]), fmt_num(r["expected_bytes"]),
                                    r["mismatches"], r["complete"], r["conns"], r["mbps"],
                                    r["seconds"], r["hwm_kb"] / 1024.0))
                    elif t.startswith("tls-"):
                        mbk = key == "mbps"
                        what = "%12s %s  cpu/%s %s us  server %s client %s other %s%s" % (
                            fmt_num(r.get(key), 1 if mbk else 0),
                            "MB/s" if mbk else "hs/s" if kinds.get(t) == "hs" else "req/s",
                            "MB" if mbk else "hs" if kinds.get(t) == "hs" else "req",
                            fmt_num(r.get("cpu_us_mb" if mbk else "cpu_us"), 1),
                            fmt_pct(r.get("cpu_util")), fmt_pct(r.get("client_busy")),
                            fmt_pct(r.get("other_cpu")),
                            "  resumed %d/%d" % (r["resumed"], r["resumed"] + r["not_resumed"])
                            if t == "tls-resume" else "")
                    elif key == "mbps":
                        what = "%12s MB/s  cpu/MB %s us  server %s client %s%s" % (
                            fmt_num(r.get(key), 1), fmt_num(r.get("cpu_us_mb"), 1),
                            fmt_pct(r.get("cpu_util")), fmt_pct(r.get("client_busy")),
                            "  upstream %s" % fmt_pct(r.get("upstream_busy"))
                            if "upstream_busy" in r else "")
                    elif t.startswith(("scale-", "embed-", "proxy-")):
                        what = "%12s %s  cpu/req %.2f us  p50 %s p99 %s us  server %s client %s" % (
                            fmt_num(r.get(key)), "req/s", r.get("cpu_us", 0),
                            fmt_num(r.get("p50"), 1), fmt_num(r.get("p99"), 1),
                            fmt_pct(r.get("cpu_util")), fmt_pct(r.get("client_busy")))
                    else:
                        what = "%12s %s  cpu/req %.2f us" % (
                            fmt_num(r.get(key), 1 if key == "mbps" else 0),
                            "MB/s" if key == "mbps" else "req/s", r.get("cpu_us", 0))
                    log("[%d/%d] pass %d %-14s %-13s %s%s"
                        % (i + 1, len(plan), p + 1, t, name, what,
                           "" if r.get("ok", True) else "  ERROR " + r.get("error", "")))
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                log("[%d/%d] pass %d %s %s FAILED: %s" % (i + 1, len(plan), p + 1, tid, name, e))
                results["_failures"].setdefault(tid, []).append((name, str(e)))
    finally:
        stop_all()
    elapsed = time.time() - t0
    report(args, results, order, titles, kinds, started, load0, loadavg(), elapsed,
           machine_info(), datadir, save=True)
    nfail = sum(len(v) for v in results["_failures"].values())
    # A relay check that did not arrive whole fails the run, not only its row.
    nfail += sum(1 for t, v in results.items() if kinds.get(t) in ("verify", "proxyrss")
                 for r in v.values() for x in r if x and not x.get("ok"))
    if nfail:
        log("%d test(s) failed; see the report and build/bench/logs/" % nfail)
        return 1
    return 0


PREF = ["poll-echo", "sb-echod-epoll", "sb-echod", "epoll", "epoll+sb-bench", "libevent", "libuv",
        "libev-select", "sb-proxyd", "haproxy",
        "sb-httpd-epoll", "sb-httpd", "nginx", "sb-kvd", "redis-server", "tls-epoll-echo"]


def report(args, results, order, titles, kinds, started, load0, load1, elapsed, info, datadir,
           save):
    """Charts, results.json (when save) and benchmarks.md under args.out."""
    # Servers in a fixed order for the tables, references after switchboard's.
    for t in order:
        order[t].sort(key=lambda s: PREF.index(s) if s in PREF else 99)
    data = {t: v for t, v in results.items() if not t.startswith("_")}
    chartdir = os.path.join(args.out, "benchmarks")
    os.makedirs(chartdir, exist_ok=True)
    if data and all(t.startswith("tls-") for t in data) or getattr(args, "only", None) == ["tls"]:
        # A TLS-only run: its own page and results, benchmarks.md untouched.
        if save:
            with open(os.path.join(chartdir, "tls-results.json"), "w") as f:
                json.dump({"started": started, "passes": args.passes, "seconds": args.seconds,
                           "warmup": args.warmup, "quick": args.quick,
                           "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
                           "load_before": load0, "load_after": load1, "elapsed": elapsed,
                           "machine": info, "note": args.note, "order": order,
                           "titles": titles, "kinds": kinds, "results": data,
                           "failures": results["_failures"], "skipped": results["_skipped"]},
                          f, indent=1, sort_keys=True)
        path = write_tls_report(args, results, order, titles, kinds, info, started, load0,
                                load1, elapsed)
        log("wrote %s (run took %.1f min)" % (os.path.relpath(path, ROOT), elapsed / 60))
        return
    charts = gnuplot_charts(args, data, PREF, chartdir, datadir)
    if save:
        with open(os.path.join(chartdir, "results.json"), "w") as f:
            json.dump({"started": started, "passes": args.passes, "seconds": args.seconds,
                       "warmup": args.warmup, "quick": args.quick, "server_cpu": args.server_cpu,
                       "client_cpu": args.client_cpu, "load_before": load0,
                       "load_after": load1, "elapsed": elapsed, "machine": info,
                       "note": args.note,
                       "order": order, "titles": titles, "kinds": kinds, "results": data,
                       "failures": results["_failures"], "skipped": results["_skipped"]},
                      f, indent=1, sort_keys=True)
    path = write_report(args, results, order, titles, kinds, info, started, load0, load1, charts,
                        elapsed)
    log("wrote %s (run took %.1f min)" % (os.path.relpath(path, ROOT), elapsed / 60))


def rerender(path, out, note):
    """Rewrite a report from a results.json, without running anything."""
    with open(path) as f:
        j = json.load(f)
    args = argparse.Namespace(passes=j["passes"], seconds=j["seconds"], warmup=j["warmup"],
                              quick=j["quick"], server_cpu=j["server_cpu"],
                              client_cpu=j["client_cpu"],
                              note=note if note is not None else j.get("note", ""),
                              out=out or os.path.dirname(os.path.dirname(os.path.abspath(path))))
    results = dict(j["results"])
    results["_failures"] = j.get("failures", {})
    results["_skipped"] = j.get("skipped", [])
    datadir = os.path.join(ROOT, "build", "bench", "data")
    os.makedirs(datadir, exist_ok=True)
    report(args, results, j["order"], j["titles"], j["kinds"], j["started"], j["load_before"],
           j["load_after"], j["elapsed"], j["machine"], datadir, save=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
