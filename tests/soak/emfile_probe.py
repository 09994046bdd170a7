#!/usr/bin/env python3
"""EMFILE shedding probe (docs/reliability.md, "Running out of descriptors").

Starts sb-echod with RLIMIT_NOFILE (soft and hard) at --nofile, connects
--clients clients at once to 127.0.0.1, and has each stream --bytes of
random data in random-sized writes while reading the echo.  Every client
ends in one of:
  ok         the whole echo came back, byte for byte
  shed       closed or reset before any byte came back (shed on EMFILE)
  lost-head  the echo is the sent stream minus its first bytes: the kernel
             completed the connection from a SYN cookie and a first data
             segment was lost (what an overflowing accept queue causes)
  mismatch   anything else
and the kernel's TcpExtSyncookiesRecv / ListenOverflows counters are read
before and after.  Bounded: --seconds at most.  Loopback only.

  python3 tests/soak/emfile_probe.py build/sb-echod [--clients 10000]
"""
import argparse
import os
import random
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time


def netstat():
    vals = {}
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for i in range(0, len(lines) - 1, 2):
        names, nums = lines[i].split(), lines[i + 1].split()
        for n, v in zip(names[1:], nums[1:]):
            vals[names[0].rstrip(":") + n] = int(v)
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("echod")
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--bytes", type=int, default=65536)
    ap.add_argument("--nofile", type=int, default=1024)
    ap.add_argument("--soft-only", action="store_true",
                    help="lower only the soft limit (the daemon may raise it again)")
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)

    need = a.clients + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    def limit():
        h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, h if a.soft_only else a.nofile))

    srv = subprocess.Popen([a.echod, "--listen", "127.0.0.1:0", "--max-conns", "0"],
                           stderr=subprocess.PIPE, text=True, preexec_fn=limit)
    line = srv.stderr.readline()
    startup = [line.strip()]
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    while not m:
        line = srv.stderr.readline()
        startup.append(line.strip())
        if not line:
            sys.exit("sb-echod did not start")
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    port = int(m.group(1))
    before = netstat()

    sel = selectors.DefaultSelector()
    clients = []
    payload = os.urandom(a.bytes)
    for i in range(a.clients):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        c = {"s": s, "sent": 0, "got": bytearray(), "end": None}
        clients.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    left = a.clients
    deadline = time.monotonic() + a.seconds
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            c = key.data
            s = c["s"]
            if ev & selectors.EVENT_WRITE and c["sent"] < a.bytes:
                n = min(rnd.randint(1, 4096), a.bytes - c["sent"])
                try:
                    c["sent"] += s.send(payload[c["sent"]:c["sent"] + n])
                except BlockingIOError:
                    pass
                except OSError as e:
                    c["end"] = e.errno
                if c["sent"] == a.bytes:
                    sel.modify(s, selectors.EVENT_READ, c)
            if c["end"] is None and ev & selectors.EVENT_READ:
                try:
                    b = s.recv(65536)
                    if b:
                        c["got"] += b
                    else:
                        c["end"] = 0
                except BlockingIOError:
                    pass
                except OSError as e:
                    c["end"] = e.errno
                if len(c["got"]) >= a.bytes:
                    c["end"] = 0
            if c["end"] is not None:
                sel.unregister(s)
                s.close()
                left -= 1
    after = netstat()
    srv.send_signal(signal.SIGTERM)
    try:
        srv.wait(timeout=30)
    except subprocess.TimeoutExpired:
        srv.kill()
    err = srv.stderr.read()

    counts = {"ok": 0, "shed": 0, "lost-head": 0, "mismatch": 0, "unfinished": left}
    for c in clients:
        if c["end"] is None:
            continue
        got = bytes(c["got"])
        if got == payload:
            counts["ok"] += 1
        elif not got:
            counts["shed"] += 1
        elif 0 < a.bytes - len(got) <= 4096 and payload.endswith(got):
            counts["lost-head"] += 1
        else:
            counts["mismatch"] += 1
    print("clients=%d nofile=%d exit=%s %s" % (a.clients, a.nofile, srv.returncode,
          " ".join("%s=%d" % kv for kv in counts.items())))
    for k in ("TcpExtSyncookiesRecv", "TcpExtSyncookiesSent", "TcpExtListenOverflows",
              "TcpExtListenDrops"):
        print("%s +%d" % (k, after.get(k, 0) - before.get(k, 0)))
    shed_lines = [ln for ln in err.splitlines() if "accept" in ln]
    print("start-up: %s" % " | ".join(startup))
    print("log: %d accept lines, first: %s" % (len(shed_lines), shed_lines[:1]))
    return 0 if counts["lost-head"] == 0 and counts["mismatch"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
