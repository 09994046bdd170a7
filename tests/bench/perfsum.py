#!/usr/bin/env python3
"""Summarise a profile.sh run: RESULT SYSCALLS PERF_DATA (see profile.sh)."""
import re
import subprocess
import sys

result, syscalls, data = sys.argv[1:4]
with open(result) as f:
    r = dict(p.split("=", 1) for p in f.read().split() if "=" in p)
rate = float(r.get("rate", 0))
print("load: %s conns=%s depth=%s size=%s  rate=%s/s  MB/s=%s  server CPU/req=%s us "
      "(usr %s s, sys %s s)" % (r.get("mode"), r.get("conns"), r.get("depth"), r.get("size"),
                                r.get("rate"), r.get("mb_per_s"), r.get("server_cpu_us_per_req"),
                                r.get("server_usr_s"), r.get("server_sys_s")))
print("system calls during the 6 s sample (per request at the run's mean rate):")
with open(syscalls) as f:
    for line in f:
        p = line.strip().split(",")
        if len(p) > 2 and p[0].isdigit() and int(p[0]) > 0:
            print("  %-34s %10d  %.3f/req" % (p[2].split(":")[-1].replace("sys_enter_", ""),
                                              int(p[0]), int(p[0]) / (rate * 6) if rate else 0))
rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children", "--sort",
                      "dso,symbol", "-g", "none"], capture_output=True, text=True).stdout
children, selfs = {}, []
for line in rep.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
    if m:
        children[m.group(5)] = max(children.get(m.group(5), 0), float(m.group(1)))
        selfs.append((float(m.group(2)), m.group(4), m.group(3), m.group(5)))
keys = ["__send", "__libc_recv", "__GI___libc_write", "read", "__writev", "__select",
        "epoll_wait", "do_select", "do_epoll_wait", "sock_poll", "tcp_poll", "handle_softirqs",
        "__schedule"]
print("share of the server's samples under (children included):")
print("  " + "  ".join("%s %.1f%%" % (k, children[k]) for k in keys if k in children))
user = sum(s for s, kind, _d, _n in selfs if kind == ".")
print("user space, self: %.1f%% in all; hottest:" % user)
for s, kind, dso, sym in sorted((x for x in selfs if x[1] == "."), reverse=True)[:10]:
    print("  %5.2f%%  %s (%s)" % (s, sym, dso))
print("hottest symbols overall, self:")
for s, kind, dso, sym in sorted(selfs, reverse=True)[:12]:
    print("  %5.2f%%  [%s] %s" % (s, kind, sym))
print("recording: perf report -i %s" % data)
