/*
 * relay_bench: splice(2) against recv()/send() in a TCP relay on loopback.
 *
 * Build and run (Linux, libc only):
 *
 *     gcc -Wall -Wextra -O2 relay_bench.c -o relay_bench
 *     nice -n 10 ./relay_bench                 # the whole interleaved suite
 *     nice -n 10 ./relay_bench run MODE CONNS BYTES [BUF]   # one run
 *
 *   MODE   copy   = recv() into a BUF-byte user buffer per direction, send()
 *                   from it (default BUF 64 KiB, the library's read size)
 *          splice = splice() socket -> pipe -> socket, one pipe per
 *                   direction, SPLICE_F_MOVE|SPLICE_F_NONBLOCK, pipe size
 *                   set with F_SETPIPE_SZ to BUF (0 = leave the default)
 *   CONNS  relayed connections at once (the BYTES are split between them)
 *   BYTES  total payload, suffixes K M G (powers of 1024)
 *
 * suite options: ./relay_bench [-a] [-t] [-p PASSES] [-b BYTES]
 *   -p PASSES  passes of every variant, interleaved (default 5)
 *   -b BYTES   payload per run (default 1G = 2^30 bytes)
 *   -a         pin: relay on CPU 0, source and sink on CPU 1
 *   -t         sink discards with recv(MSG_TRUNC) instead of copying and
 *              checking (a cheaper sink; the pattern is then NOT verified)
 * (-a and -t apply to the suite; "run" uses neither.)
 *
 * Self-test of the check: gcc -O2 -DCORRUPT_TEST ... makes the copy relay flip
 * one byte per read; "run copy 1 64M" must then report mismatches and exit 1.
 *
 * Each run forks three processes, so the relay's CPU is its own (wait4()):
 *
 *   sink ==N conns==> relay ==N conns==> source
 *
 *   sink    connects CONNS times to the relay, sends each connection's 4-byte
 *           id (so the client->upstream direction is relayed too), then reads
 *           until EOF and checks every byte against the connection's pattern
 *           (one memcmp per read; on a difference the bytes are counted).
 *   relay   single-threaded edge-triggered epoll; accepts, connects upstream,
 *           pumps both directions; shuts the write side on EOF; exits when
 *           all CONNS pairs are done.
 *   source  accepts, reads the id, streams BYTES/CONNS bytes of that id's
 *           pattern (256 KiB send()s), closes.
 *
 * The run ends by itself after BYTES (a 120 s alarm guards against hangs).
 * Wall time is from forking the sink to the sink's exit.  Reported: MB/s
 * (10^6 B/s), CPU seconds (user+sys) per GB (10^9 B) for relay, source and
 * sink, and the mismatch count (must be 0).
 *
 * Note on loopback accounting: the receive side of TCP over lo runs in the
 * softirq of the sending CPU, usually inside the sender's send()/splice(), so
 * a process's system time includes part of its peer's receive work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAT_PERIOD 1048573u        /* prime above the largest pipe (1 MiB) */
#define SRC_CHUNK  (256u * 1024u)  /* source send() size */
#define SINK_CHUNK (256u * 1024u)  /* sink recv() size */
#define MAXCONN    1024

static void die(const char *what)
{
    perror(what);
    _exit(99);
}

static int pin;     /* -a: relay on CPU 0, source and sink on CPU 1 */
static int discard; /* -t: sink drops the bytes with MSG_TRUNC, unchecked */

/* ---------------------------------------------------------------- pattern */

static unsigned char *pat; /* PAT_PERIOD + SRC_CHUNK + SINK_CHUNK bytes */

static void pat_init(void)
{
    size_t len = PAT_PERIOD + SRC_CHUNK + SINK_CHUNK;
    pat = malloc(len);
    if (!pat)
        die("malloc");
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (uint64_t)(i % PAT_PERIOD) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        pat[i] = (unsigned char)((z ^ (z >> 31)) >> 24);
    }
}

/* where connection id's stream byte off lives in pat[] */
static size_t pat_at(uint32_t id, uint64_t off)
{
    return (size_t)((off + (uint64_t)id * 104729u) % PAT_PERIOD);
}

/* ---------------------------------------------------------------- helpers */

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die("fcntl O_NONBLOCK");
}

static int listen_any(struct sockaddr_in *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t l = sizeof a;

    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0)
        die("bind/listen");
    if (getsockname(fd, (struct sockaddr *)out, &l) < 0)
        die("getsockname");
    return fd;
}

static int connect_to(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0)
        die("connect");
    return fd;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ep_add(int ep, int fd, uint32_t ev, void *ptr)
{
    struct epoll_event e = { .events = ev, .data.ptr = ptr };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
        die("epoll_ctl");
}

/* whole-machine busy and softirq CPU seconds so far, from /proc/stat */
static void sys_cpu(double *busy, double *softirq)
{
    unsigned long long v[8] = { 0 };
    FILE *f = fopen("/proc/stat", "r");
    double hz = (double)sysconf(_SC_CLK_TCK);

    *busy = *softirq = 0;
    if (!f)
        return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
        *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
        *softirq = (double)v[6] / hz;
    }
    fclose(f);
}

/* results a child passes back to the parent through a pipe */
struct report {
    uint64_t bytes;       /* bytes sent (source), relayed u->c (relay), got (sink) */
    uint64_t mismatches;  /* sink: bytes differing from the pattern */
    uint64_t errors;      /* connections that ended in an error */
    uint64_t pipe_lo, pipe_hi; /* relay/splice: pipe sizes actually obtained */
    uint64_t io_calls;    /* relay: recv/send/splice calls; sink: recv calls */
};

static void send_report(int fd, const struct report *r)
{
    if (write(fd, r, sizeof *r) != (ssize_t)sizeof *r)
        die("write report");
    close(fd);
}

/* ---------------------------------------------------------------- relay */

enum mode { COPY, SPLICE };

struct dir {
    int src, dst;
    int pr, pw;           /* splice: pipe read/write ends */
    unsigned char *buf;   /* copy: user buffer */
    size_t off, len;      /* copy: pending bytes at buf+off; splice: in pipe */
    size_t cap;
    int eof, shut;
};

struct pair {
    struct dir d[2];      /* d[0]: upstream -> client (bulk), d[1]: client -> upstream */
    int fdc, fdu;
    int dead;
};

struct relay_ctx {
    enum mode mode;
    uint64_t relayed, io_calls;
};

/* 1 = progress, 0 = would block / nothing to do, -1 = error */
static int dir_pump(struct relay_ctx *rc, struct dir *d, int bulk)
{
    for (;;) {
        int progress = 0;
        ssize_t n;

        size_t space;

        if (rc->mode == COPY && d->len == 0)
            d->off = 0;
        space = rc->mode == COPY ? d->cap - d->off - d->len : d->cap - d->len;
        if (!d->eof && space > 0) {
            rc->io_calls++;
            if (rc->mode == COPY)
                n = recv(d->src, d->buf + d->off + d->len, space, 0);
            else
                n = splice(d->src, NULL, d->pw, NULL, space,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
#ifdef CORRUPT_TEST /* self-test of the sink's check: flip one byte per read */
                if (rc->mode == COPY && bulk)
                    d->buf[d->off + d->len] ^= 1;
#endif
                d->len += (size_t)n;
                progress = 1;
            } else if (n == 0) {
                d->eof = 1;
                progress = 1;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (d->len > 0) {
            rc->io_calls++;
            if (rc->mode == COPY)
                n = send(d->dst, d->buf + d->off, d->len, MSG_NOSIGNAL);
            else
                n = splice(d->pr, NULL, d->dst, NULL, d->len,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                d->len -= (size_t)n;
                d->off += (size_t)n;
                if (bulk)
                    rc->relayed += (uint64_t)n;
                progress = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (d->eof && d->len == 0 && !d->shut) {
            shutdown(d->dst, SHUT_WR);
            d->shut = 1;
        }
        if (!progress)
            return 0;
    }
}

static void pair_close(struct pair *p, enum mode mode)
{
    close(p->fdc);
    close(p->fdu);
    for (int i = 0; i < 2; i++) {
        if (mode == SPLICE) {
            close(p->d[i].pr);
            close(p->d[i].pw);
        }
        free(p->d[i].buf);
    }
    p->dead = 1;
}

static void run_relay(int lfd, const struct sockaddr_in *up, enum mode mode,
                      size_t bufsz, int nconn, int repfd)
{
    struct relay_ctx rc = { .mode = mode };
    struct report rep = { .pipe_lo = UINT64_MAX };
    struct pair *pairs = calloc((size_t)nconn, sizeof *pairs);
    struct epoll_event evs[256];
    int ep = epoll_create1(0), accepted = 0, done = 0, one = 1;

    if (!pairs || ep < 0)
        die("relay setup");
    set_nonblock(lfd);
    ep_add(ep, lfd, EPOLLIN, NULL);

    while (done < nconn) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct pair *p = evs[i].data.ptr;
            if (!p) {
                int c;
                while (accepted < nconn && (c = accept(lfd, NULL, NULL)) >= 0) {
                    p = &pairs[accepted++];
                    p->fdc = c;
                    p->fdu = connect_to(up); /* loopback: completes at once */
                    setsockopt(p->fdc, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    setsockopt(p->fdu, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    set_nonblock(p->fdc);
                    set_nonblock(p->fdu);
                    p->d[0].src = p->fdu; p->d[0].dst = p->fdc;
                    p->d[1].src = p->fdc; p->d[1].dst = p->fdu;
                    for (int k = 0; k < 2; k++) {
                        struct dir *d = &p->d[k];
                        if (mode == COPY) {
                            d->cap = bufsz;
                            if (!(d->buf = malloc(bufsz)))
                                die("malloc");
                        } else {
                            int pp[2];
                            if (pipe2(pp, O_NONBLOCK | O_CLOEXEC) < 0)
                                die("pipe2");
                            d->pr = pp[0];
                            d->pw = pp[1];
                            if (bufsz && fcntl(d->pw, F_SETPIPE_SZ, (int)bufsz) < 0)
                                perror("F_SETPIPE_SZ");
                            int got = fcntl(d->pw, F_GETPIPE_SZ);
                            if (got <= 0)
                                die("F_GETPIPE_SZ");
                            d->cap = (size_t)got;
                            if ((uint64_t)got < rep.pipe_lo) rep.pipe_lo = (uint64_t)got;
                            if ((uint64_t)got > rep.pipe_hi) rep.pipe_hi = (uint64_t)got;
                        }
                    }
                    ep_add(ep, p->fdc, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, p);
                    ep_add(ep, p->fdu, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, p);
                }
                if (accepted == nconn)
                    epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
                continue;
            }
            if (p->dead)
                continue;
            int r0 = dir_pump(&rc, &p->d[0], 1);
            int r1 = r0 < 0 ? -1 : dir_pump(&rc, &p->d[1], 0);
            if (r0 < 0 || r1 < 0 || (p->d[0].shut && p->d[1].shut)) {
                if (r0 < 0 || r1 < 0)
                    rep.errors++;
                pair_close(p, mode);
                done++;
            }
        }
    }
    rep.bytes = rc.relayed;
    rep.io_calls = rc.io_calls;
    if (mode == COPY)
        rep.pipe_lo = rep.pipe_hi = 0;
    send_report(repfd, &rep);
}

/* ---------------------------------------------------------------- source */

struct sconn {
    int fd;
    uint32_t id;
    unsigned idlen;
    unsigned char idb[4];
    uint64_t sent, want;
    int done;
};

static void run_source(int lfd, int nconn, uint64_t per_conn, uint64_t extra,
                       int repfd)
{
    struct sconn *cs = calloc((size_t)nconn, sizeof *cs);
    struct report rep = { 0 };
    struct epoll_event evs[256];
    int ep = epoll_create1(0), accepted = 0, done = 0;

    if (!cs || ep < 0)
        die("source setup");
    set_nonblock(lfd);
    ep_add(ep, lfd, EPOLLIN, NULL);
    while (done < nconn) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct sconn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while (accepted < nconn && (fd = accept(lfd, NULL, NULL)) >= 0) {
                    c = &cs[accepted];
                    c->fd = fd;
                    c->want = per_conn + (accepted == 0 ? extra : 0);
                    accepted++;
                    set_nonblock(fd);
                    ep_add(ep, fd, EPOLLIN | EPOLLOUT | EPOLLET, c);
                }
                continue;
            }
            if (c->done)
                continue;
            while (c->idlen < 4) {
                ssize_t r = recv(c->fd, c->idb + c->idlen, 4 - c->idlen, 0);
                if (r > 0) {
                    c->idlen += (unsigned)r;
                    if (c->idlen == 4)
                        memcpy(&c->id, c->idb, 4);
                } else if (r < 0 && errno == EAGAIN) {
                    break;
                } else {
                    rep.errors++;
                    c->done = 1;
                    close(c->fd);
                    done++;
                    break;
                }
            }
            if (c->done || c->idlen < 4)
                continue;
            while (c->sent < c->want) {
                uint64_t left = c->want - c->sent;
                size_t len = left < SRC_CHUNK ? (size_t)left : SRC_CHUNK;
                ssize_t w = send(c->fd, pat + pat_at(c->id, c->sent), len,
                                 MSG_NOSIGNAL);
                if (w > 0) {
                    c->sent += (uint64_t)w;
                    rep.bytes += (uint64_t)w;
                } else if (w < 0 && errno == EAGAIN) {
                    break;
                } else {
                    rep.errors++;
                    break;
                }
            }
            if (c->sent >= c->want || rep.errors) {
                close(c->fd);
                c->done = 1;
                done++;
            }
        }
    }
    send_report(repfd, &rep);
}

/* ---------------------------------------------------------------- sink */

struct kconn {
    int fd;
    uint32_t id;
    uint64_t got;
    int done;
};

static void run_sink(const struct sockaddr_in *relay, int nconn, int repfd)
{
    struct kconn *cs = calloc((size_t)nconn, sizeof *cs);
    unsigned char *buf = malloc(SINK_CHUNK);
    struct report rep = { 0 };
    struct epoll_event evs[256];
    int ep = epoll_create1(0), done = 0;

    if (!cs || !buf || ep < 0)
        die("sink setup");
    for (int i = 0; i < nconn; i++) {
        struct kconn *c = &cs[i];
        c->id = (uint32_t)i + 1;
        c->fd = connect_to(relay);
        if (send(c->fd, &c->id, 4, MSG_NOSIGNAL) != 4)
            die("send id");
        set_nonblock(c->fd);
        ep_add(ep, c->fd, EPOLLIN | EPOLLRDHUP | EPOLLET, c);
    }
    while (done < nconn) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct kconn *c = evs[i].data.ptr;
            while (!c->done) {
                ssize_t r = recv(c->fd, buf, SINK_CHUNK, discard ? MSG_TRUNC : 0);
                rep.io_calls++;
                if (r > 0 && discard) {
                    c->got += (uint64_t)r;
                    rep.bytes += (uint64_t)r;
                } else if (r > 0) {
                    const unsigned char *want = pat + pat_at(c->id, c->got);
                    if (memcmp(buf, want, (size_t)r) != 0)
                        for (ssize_t k = 0; k < r; k++)
                            rep.mismatches += buf[k] != want[k];
                    c->got += (uint64_t)r;
                    rep.bytes += (uint64_t)r;
                } else if (r < 0 && errno == EAGAIN) {
                    break;
                } else {
                    if (r < 0)
                        rep.errors++;
                    close(c->fd);
                    c->done = 1;
                    done++;
                }
            }
        }
    }
    send_report(repfd, &rep);
}

/* ---------------------------------------------------------------- driver */

struct result {
    double secs, mbps;
    double cpu[3];        /* relay, source, sink: CPU seconds (user+sys) */
    double sys[3];
    double machine_busy;  /* all CPUs busy seconds during the run (/proc/stat) */
    double softirq;       /* of which softirq */
    struct report rep[3]; /* relay, source, sink */
};

static double ru_cpu(const struct rusage *ru, double *sys)
{
    *sys = (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
    return *sys + (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6;
}


static pid_t spawn(int *rfd, int cpu)
{
    int pp[2];
    if (pipe(pp) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(pp[0]);
        alarm(120);
        if (pin) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) < 0)
                die("sched_setaffinity");
        }
        *rfd = pp[1];
        return 0;
    }
    close(pp[1]);
    *rfd = pp[0];
    return pid;
}

static int one_run(enum mode mode, int nconn, uint64_t total, size_t bufsz,
                   struct result *res)
{
    struct sockaddr_in up, ra;
    int ufd = listen_any(&up), rlfd = listen_any(&ra);
    int rfd[3];
    pid_t pid[3];
    uint64_t per = total / (uint64_t)nconn, extra = total - per * (uint64_t)nconn;
    double t0, t1 = 0;
    int ok = 1;

    memset(res, 0, sizeof *res);
    if ((pid[1] = spawn(&rfd[1], 1)) == 0) {
        close(rlfd);
        run_source(ufd, nconn, per, extra, rfd[1]);
        _exit(0);
    }
    if ((pid[0] = spawn(&rfd[0], 0)) == 0) {
        close(ufd);
        run_relay(rlfd, &up, mode, bufsz, nconn, rfd[0]);
        _exit(0);
    }
    double b0, s0, b1, s1;

    close(ufd);
    close(rlfd);
    sys_cpu(&b0, &s0);
    t0 = now();
    if ((pid[2] = spawn(&rfd[2], 1)) == 0) {
        run_sink(&ra, nconn, rfd[2]);
        _exit(0);
    }
    for (int left = 3; left > 0; left--) {
        struct rusage ru;
        int st;
        pid_t w = wait4(-1, &st, 0, &ru);
        if (w < 0)
            die("wait4");
        for (int k = 0; k < 3; k++) {
            if (w != pid[k])
                continue;
            if (k == 2) {
                t1 = now();
                sys_cpu(&b1, &s1);
            }
            res->cpu[k] = ru_cpu(&ru, &res->sys[k]);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "child %d ended with status 0x%x\n", k, st);
                ok = 0;
            }
        }
    }
    for (int k = 0; k < 3; k++) {
        if (read(rfd[k], &res->rep[k], sizeof res->rep[k]) != (ssize_t)sizeof res->rep[k])
            ok = 0;
        close(rfd[k]);
    }
    res->secs = t1 - t0;
    res->machine_busy = b1 - b0;
    res->softirq = s1 - s0;
    res->mbps = (double)res->rep[2].bytes / res->secs / 1e6;
    if (res->rep[2].bytes != total || res->rep[2].mismatches || res->rep[0].errors
        || res->rep[1].errors || res->rep[2].errors)
        ok = 0;
    return ok ? 0 : -1;
}

static uint64_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
    case 'M': case 'm': v *= 1024.0 * 1024; break;
    case 'K': case 'k': v *= 1024.0; break;
    default: break;
    }
    return (uint64_t)v;
}

static void print_run(const char *label, int nconn, uint64_t total,
                      const struct result *r)
{
    double gb = (double)total / 1e9;
    printf("%-12s conns=%-3d %7.1f MB/s  %6.3f s  cpu/GB relay %.3f (sys %.3f) "
           "source %.3f sink %.3f  ours %.2f cores, machine %.2f (softirq %.2f)  "
           "mismatches %llu%s  pipe %llu..%llu  calls %llu  sink reads %llu\n",
           label, nconn, r->mbps, r->secs, r->cpu[0] / gb, r->sys[0] / gb,
           r->cpu[1] / gb, r->cpu[2] / gb,
           (r->cpu[0] + r->cpu[1] + r->cpu[2]) / r->secs, r->machine_busy / r->secs,
           r->softirq / r->secs,
           (unsigned long long)r->rep[2].mismatches, discard ? " (unchecked)" : "",
           (unsigned long long)r->rep[0].pipe_lo,
           (unsigned long long)r->rep[0].pipe_hi,
           (unsigned long long)r->rep[0].io_calls,
           (unsigned long long)r->rep[2].io_calls);
    fflush(stdout);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct variant {
    const char *label;
    enum mode mode;
    size_t bufsz;
};

static const struct variant variants[] = {
    { "copy-64K",    COPY,   64 * 1024 },
    { "splice-dflt", SPLICE, 0 },          /* default pipe: 64 KiB (16 pages) */
    { "splice-256K", SPLICE, 256 * 1024 },
    { "splice-1M",   SPLICE, 1024 * 1024 },
    { "copy-256K",   COPY,   256 * 1024 }, /* same chunk as splice-256K */
};
#define NVAR ((int)(sizeof variants / sizeof variants[0]))
#define MAXPASS 32

int main(int argc, char **argv)
{
    struct result r;
    uint64_t total = 1024ull * 1024 * 1024;
    int passes = 5;

    signal(SIGPIPE, SIG_IGN);
    pat_init();

    if (argc >= 5 && strcmp(argv[1], "run") == 0) {
        enum mode mode = strcmp(argv[2], "splice") == 0 ? SPLICE : COPY;
        int nconn = atoi(argv[3]);
        size_t bufsz = argc > 5 ? (size_t)parse_size(argv[5])
                                : (mode == COPY ? 64 * 1024 : 0);
        total = parse_size(argv[4]);
        if (nconn < 1 || nconn > MAXCONN || total < (uint64_t)nconn
            || (mode == COPY && bufsz == 0)) {
            fprintf(stderr, "bad arguments\n");
            return 2;
        }
        int rc = one_run(mode, nconn, total, bufsz, &r);
        print_run(argv[2], nconn, total, &r);
        return rc ? 1 : 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            passes = atoi(argv[++i]);
        else if (strcmp(argv[i], "-a") == 0)
            pin = 1;
        else if (strcmp(argv[i], "-t") == 0)
            discard = 1;
        else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
            total = parse_size(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [-a] [-t] [-p PASSES] [-b BYTES] | run MODE CONNS BYTES [BUF]\n",
                    argv[0]);
            return 2;
        }
    }
    if (passes < 1 || passes > MAXPASS)
        return 2;

    static const int conns[] = { 1, 50 };
    /* per run: MB/s, then CPU s/GB of relay, source, sink, the three, machine,
     * then the cores (CPU s / wall s) of the relay and of source+sink */
    static double m[2][NVAR][8][MAXPASS];
    int failures = 0;

    for (int pass = 0; pass < passes; pass++)
        for (int c = 0; c < 2; c++)
            for (int v = 0; v < NVAR; v++) {
                /* rotate the order each pass so no variant always runs first */
                int vv = (v + pass) % NVAR;
                double gb = (double)total / 1e9;
                if (one_run(variants[vv].mode, conns[c], total, variants[vv].bufsz, &r)) {
                    fprintf(stderr, "run failed: %s conns=%d\n", variants[vv].label, conns[c]);
                    failures++;
                }
                printf("pass %d ", pass + 1);
                print_run(variants[vv].label, conns[c], total, &r);
                m[c][vv][0][pass] = r.mbps;
                for (int k = 0; k < 3; k++)
                    m[c][vv][1 + k][pass] = r.cpu[k] / gb;
                m[c][vv][4][pass] = (r.cpu[0] + r.cpu[1] + r.cpu[2]) / gb;
                m[c][vv][5][pass] = r.machine_busy / gb;
                m[c][vv][6][pass] = r.cpu[0] / r.secs;
                m[c][vv][7][pass] = (r.cpu[1] + r.cpu[2]) / r.secs;
            }

    printf("\nmedians over %d passes, %.3f GB (10^9 B) per run%s%s\n", passes,
           (double)total / 1e9, pin ? ", relay pinned to CPU 0, source+sink to CPU 1" : "",
           discard ? ", sink discards with MSG_TRUNC (unchecked)" : "");
    printf("| conns | variant | MB/s (min-max) | relay CPU s/GB | source | sink "
           "| relay+source+sink | machine busy s/GB | MB/s ratio | relay CPU ratio "
           "| 3-process CPU ratio | relay cores | source+sink cores |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int c = 0; c < 2; c++) {
        double base[8] = { 0 };
        for (int v = 0; v < NVAR; v++) {
            double med[8];
            for (int j = 0; j < 8; j++)
                med[j] = median(m[c][v][j], passes); /* sorts: [0] min, [passes-1] max */
            if (v == 0)
                memcpy(base, med, sizeof base);
            printf("| %d | %s | %.0f (%.0f-%.0f) | %.3f | %.3f | %.3f | %.3f | %.3f "
                   "| %.2f | %.2f | %.2f | %.2f | %.2f |\n",
                   conns[c], variants[v].label, med[0], m[c][v][0][0],
                   m[c][v][0][passes - 1], med[1], med[2], med[3], med[4], med[5],
                   med[0] / base[0], med[1] / base[1], med[4] / base[4], med[6], med[7]);
        }
    }
    if (failures)
        printf("\n%d runs FAILED (see stderr)\n", failures);
    return failures ? 1 : 0;
}
