/*
 * Shared by the reference echo servers of `make bench`: the listening
 * socket, set up the same way for every server so that only the event
 * loops differ.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

/*
 * A non-blocking, close-on-exec listening socket on addr: "host:port"
 * (numeric IPv4, "[v6]:port" or "localhost:port") or "unix:/path", with
 * SO_REUSEADDR and a backlog of 4096.  Also ignores SIGPIPE and raises the
 * soft limit on open files to the hard limit.  Prints one line and exits 2 on failure.
 */
int bench_listen(const char *prog, const char *addr);

/* TCP_NODELAY on an accepted TCP socket (replies leave at once); a unix
 * socket is left alone. */
void bench_nodelay(int fd);

#endif
