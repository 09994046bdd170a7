#!/usr/bin/env python3
"""Linux clients for the Windows demos under wine (tests/wine/run.sh).

  clients.py half-close PORT     1 MiB, shutdown(SHUT_WR), all of it back, EOF
  clients.py many PORT N         N connections open at once, each echoed
  clients.py drain PORT PID      a client mid-stream, SIGINT to PID: the
                                 bytes sent before it come back, then EOF,
                                 and new connections are refused
  clients.py chat PORT           two sb-chatd clients: a line reaches the other

Exit 0 on success; one line on stderr saying what went wrong otherwise.
Every wait is a blocking read with a timeout, never a sleep.
"""
import os
import signal
import socket
import sys

TIMEOUT = 20


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return s


def read_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(65536, n - len(buf)))
        if not d:
            raise SystemExit("EOF after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def expect_eof(s):
    d = s.recv(1)
    if d:
        raise SystemExit("expected EOF, got %r" % d)


def half_close(port):
    data = bytes((i * 7 + 3) & 0xFF for i in range(1 << 20))
    s = connect(port)
    # Send and read in turns, so neither side's buffers have to hold it all.
    got = bytearray()
    for off in range(0, len(data), 65536):
        s.sendall(data[off:off + 65536])
        got += read_exact(s, 65536)
    s.sendall(b"tail")
    s.shutdown(socket.SHUT_WR)
    got += read_exact(s, 4)
    expect_eof(s)
    if bytes(got) != data + b"tail":
        raise SystemExit("echo differs")


def many(port, n):
    socks = [connect(port) for _ in range(n)]
    for i, s in enumerate(socks):
        s.sendall(b"conn %d\n" % i)
    for i, s in enumerate(socks):
        want = b"conn %d\n" % i
        got = read_exact(s, len(want))
        if got != want:
            raise SystemExit("connection %d: %r" % (i, got))
    for s in socks:
        s.close()


def drain(port, pid):
    s = connect(port)
    s.sendall(b"ping\n")
    if read_exact(s, 5) != b"ping\n":
        raise SystemExit("no echo before the signal")
    s.sendall(b"last words\n")
    os.kill(pid, signal.SIGINT)
    if read_exact(s, 11) != b"last words\n":
        raise SystemExit("the bytes sent before Ctrl-C did not come back")
    expect_eof(s)
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    except ConnectionRefusedError:
        return
    # The listener is closed once the EOF came: a connect must fail, or be
    # reset without an echo.
    try:
        c.sendall(b"x")
        if c.recv(1):
            raise SystemExit("a new connection was served after Ctrl-C")
    except (ConnectionResetError, BrokenPipeError):
        pass


def read_line(f):
    line = f.readline()
    if not line:
        raise SystemExit("EOF from sb-chatd")
    return line


def chat(port):
    a = connect(port)
    fa = a.makefile("rb")
    if not read_line(fa).startswith(b"* welcome"):
        raise SystemExit("no welcome for the first client")
    b = connect(port)
    fb = b.makefile("rb")
    if not read_line(fb).startswith(b"* welcome"):
        raise SystemExit("no welcome for the second client")
    if b"joined" not in read_line(fa):
        raise SystemExit("the first client was not told of the second")
    b.sendall(b"/nick bob\n")
    if b"bob" not in read_line(fa):
        raise SystemExit("the rename was not announced")
    b.sendall(b"hello from linux\n")
    line = read_line(fa)
    if line.rstrip(b"\r\n") != b"bob: hello from linux":
        raise SystemExit("got %r" % line)
    a.close()
    b.close()


def main():
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "half-close":
        half_close(port)
    elif what == "many":
        many(port, int(sys.argv[3]))
    elif what == "drain":
        drain(port, int(sys.argv[3]))
    elif what == "chat":
        chat(port)
    else:
        raise SystemExit("unknown case " + what)


if __name__ == "__main__":
    main()
