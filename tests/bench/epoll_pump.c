/*
 * epoll-pump — the bulk load generator of `make bench`: plain epoll
 * (edge-triggered, no switchboard), so that a pump test measures the server
 * and not the client's own data path.
 *
 *   epoll-pump [-t ADDR] [-M pump|verify|drain] [-c N] [-s BYTES] [-D N]
 *              [-W BYTES] [-n BYTES] [-r MB/S] [-d SECS] [-w SECS] [-T SECS]
 *              [-p PID] [-S SEED] [-N] [-q]
 *
 * pump    (default) N connections, each keeping DEPTH writes of SIZE bytes
 *         in flight (16 KiB x 64 = 1 MiB, as sb-bench's pump mode) and
 *         writing the next one as the echo comes back (one write() per
 *         SIZE bytes; -W lets one write() carry several).  The echo is checked
 *         against the periodic pattern of pattern.h (a running offset per
 *         connection, one memcmp per read).  --warmup, then --duration
 *         measured seconds: echoed MB/s.  The same options and result keys
 *         as `sb-bench -M pump`, so either can drive a pump load.
 * verify  N connections, all open at once, each sending --bytes of its own
 *         pseudo-random stream (DEPTH x SIZE in flight) and checking every
 *         echoed byte against the regenerated stream; done when each has
 *         its --bytes back.  Reports the bytes verified and mismatched.
 * drain   N connections each send one byte (bulk-source's "go"), then read
 *         at most --rate MB/s in all until EOF (with --bytes, exactly that
 *         many each), checking the periodic pattern from offset 0.
 *
 * --timeout bounds the whole run: past it the run stops, prints its result
 * with status=timeout and exits 1.  Loopback addresses only.  Prints a
 * progress line each second on stderr (not with -q), the reason for a
 * failure as its last stderr line, and one key=value result line on stdout:
 * mode, conns, size, depth, seconds, requests (SIZE-byte writes echoed),
 * rate, mb_per_s, bytes, verified_bytes, mismatches, complete, errors,
 * client_cpu_s, client_window_cpu_s, the server_* keys of sb-bench with
 * --server-pid, status.  Exit 0 when status=ok, 1 otherwise, 2 on bad
 * arguments.
 */
#include "pattern.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 10000
#define MAX_SIZE (512u << 10)
#define RBUF (256u << 10)        /* one read() */
#define CONNECT_WINDOW 256       /* connects in flight at once */
#define SETUP_TIMEOUT_S 60.0
#define MAX_EVENTS 1024

enum { MODE_PUMP, MODE_VERIFY, MODE_DRAIN };
static const char *const mode_names[] = {"pump", "verify", "drain"};
enum { PHASE_SETUP, PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };
enum { C_IDLE, C_CONNECTING, C_OPEN, C_DONE, C_FAILED };

typedef struct conn {
    int fd, state;
    uint64_t tx, rx;   /* bytes written / read */
    size_t pending;    /* bytes of the current write still to go */
    uint64_t key;      /* verify: its stream; pump: its start in the period */
} conn;

/* options */
static int mode = MODE_PUMP, quiet, check = 1;
static const char *target = "127.0.0.1:7777";
static unsigned nconns = 1, depth;
static size_t size = 16384, wmax;  /* --write-max: bytes per write() */
static uint64_t nbytes;          /* verify / drain: per connection */
static double rate_mb = 25, duration = 5, warmup = 1, timeout_s = 300;
static long server_pid;
static uint64_t seed = 1;

/* run */
static struct sockaddr_in sa;
static conn *k;
static int ep, phase = PHASE_SETUP;
static unsigned started, opened, finished, failed;
static uint64_t inflight;
static unsigned char *pat, *rbuf, *scratch, *expect;
static uint64_t all_rx, win_rx, verified, mismatches, errors, connect_failed;
static double t_begin, t_traffic, t_start, t_end, t_phase_end, t_last_progress;
static uint64_t last_rx;
static double tokens, t_tokens, burst; /* drain's rate limit */
static double cpu_start, cpu_end;
static double srv_usr0, srv_sys0, srv_usr1, srv_sys1;
static long srv_rss0 = -1, srv_rss1 = -1, srv_hwm = -1;
static char first_error[256];
static int timed_out;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void fail(const char *fmt, ...)
{
    va_list ap;

    errors++;
    if (first_error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof(first_error), fmt, ap);
    va_end(ap);
}

/* utime and stime of pid in seconds (/proc/PID/stat fields 14 and 15). */
static int server_cpu(double *usr, double *sys)
{
    char path[64], line[1024], *p;
    unsigned long long ut, st;
    FILE *f;
    int i, ok = 0;

    snprintf(path, sizeof(path), "/proc/%ld/stat", server_pid);
    if (!(f = fopen(path, "r")))
        return -1;
    if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) != NULL) {
        for (i = 3; i <= 14 && p; i++)
            p = strchr(p + 1, ' ');
        if (p && sscanf(p, " %llu %llu", &ut, &st) == 2) {
            double hz = (double)sysconf(_SC_CLK_TCK);
            *usr = (double)ut / hz;
            *sys = (double)st / hz;
            ok = 1;
        }
    }
    fclose(f);
    return ok ? 0 : -1;
}

static long server_kb(const char *name)
{
    char path[64], line[256];
    size_t n = strlen(name);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", server_pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static void window_start(double t)
{
    t_start = t;
    win_rx = 0;
    cpu_start = self_cpu();
    if (server_pid)
        server_cpu(&srv_usr0, &srv_sys0);
}

static void window_end(double t)
{
    if (t_end)
        return;
    t_end = t;
    cpu_end = self_cpu();
    if (server_pid) {
        server_cpu(&srv_usr1, &srv_sys1);
        srv_rss1 = server_kb("VmRSS");
        srv_hwm = server_kb("VmHWM");
    }
}

/* ------------------------------------------------------------ connections */

static void conn_drop(conn *c, int st)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = st;
    if (st == C_FAILED)
        failed++;
    else
        finished++;
}

static void start_connects(void)
{
    while (started < nconns && started - opened - connect_failed < CONNECT_WINDOW) {
        conn *c = &k[started];
        struct epoll_event ev;
        int one = 1;

        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fail("socket: %s", strerror(errno));
            connect_failed++;
            c->state = C_FAILED;
            phase = PHASE_DONE;
            return;
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
            fail("cannot connect to %s: %s", target, strerror(errno));
            connect_failed++;
            conn_drop(c, C_FAILED);
            phase = PHASE_DONE;
            return;
        }
        c->state = C_CONNECTING;
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u32 = started;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            fail("epoll_ctl: %s", strerror(errno));
            conn_drop(c, C_FAILED);
            phase = PHASE_DONE;
            return;
        }
        started++;
    }
}

static size_t count_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i, d = 0;

    for (i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

/* Check n echoed bytes at c->rx; returns 0, or -1 when c is finished. */
static int got(conn *c, size_t n)
{
    if (mode == MODE_VERIFY) {
        uint64_t left = nbytes - c->rx;
        size_t good = n < left ? n : (size_t)left;
        size_t bad = 0;
        pat_fill(expect, c->key, c->rx, good);
        if (memcmp(rbuf, expect, good) != 0)
            bad = count_diff(rbuf, expect, good);
        if (bad)
            fail("connection %u: %zu of the bytes at offset %" PRIu64 " differed",
                 (unsigned)(c - k), bad, c->rx);
        if (n > good)
            fail("connection %u: %zu bytes past the %" PRIu64 " sent", (unsigned)(c - k),
                 n - good, nbytes);
        mismatches += bad + (n - good);
        verified += good - bad;
    } else if (check) {
        const unsigned char *want = pat + (c->rx + c->key) % PAT_PERIOD;
        if (memcmp(rbuf, want, n) != 0) {
            size_t bad = count_diff(rbuf, want, n);
            mismatches += bad;
            fail("connection %u: %zu of %zu echoed bytes at offset %" PRIu64 " differed",
                 (unsigned)(c - k), bad, n, c->rx);
        } else {
            verified += n;
        }
    }
    c->rx += n;
    all_rx += n;
    if (phase == PHASE_MEASURE || mode != MODE_PUMP)
        win_rx += n;
    if (mode == MODE_PUMP && c->rx > c->tx) {
        mismatches += c->rx - c->tx;
        fail("the server sent %" PRIu64 " bytes more than it was sent", c->rx - c->tx);
        conn_drop(c, C_FAILED);
        return -1;
    }
    if (mode == MODE_VERIFY && c->rx >= nbytes) {
        conn_drop(c, C_DONE);
        return -1;
    }
    return 0;
}

static int readable(conn *c)
{
    for (;;) {
        size_t want = RBUF;
        ssize_t n;
        if (mode == MODE_DRAIN && rate_mb > 0) {
            if (tokens < 1)
                return 0;
            if ((double)want > tokens)
                want = (size_t)tokens;
        }
        if (mode == MODE_VERIFY && want > nbytes - c->rx + 1)
            want = (size_t)(nbytes - c->rx + 1); /* one more shows an excess */
        n = read(c->fd, rbuf, want);
        if (n > 0) {
            if (mode == MODE_DRAIN)
                tokens -= (double)n;
            if (got(c, (size_t)n) < 0)
                return -1;
            if ((size_t)n < want)
                return 0; /* drained for now: edge-triggered, the next byte wakes us */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n == 0 && mode == MODE_DRAIN) {
            if (nbytes && c->rx != nbytes) {
                fail("connection %u: EOF after %" PRIu64 " of %" PRIu64 " bytes",
                     (unsigned)(c - k), c->rx, nbytes);
                conn_drop(c, C_FAILED);
            } else {
                conn_drop(c, C_DONE);
            }
            return -1;
        }
        if (n == 0)
            fail("connection %u closed by the peer after %" PRIu64 " of %" PRIu64
                 " bytes back", (unsigned)(c - k), c->rx, mode == MODE_PUMP ? c->tx : nbytes);
        else
            fail("read: %s", strerror(errno));
        conn_drop(c, C_FAILED);
        return -1;
    }
}

static int writable(conn *c)
{
    for (;;) {
        const unsigned char *src;
        ssize_t n;
        if (!c->pending) {
            if (mode == MODE_DRAIN || phase == PHASE_DONE)
                return 0;
            if (mode == MODE_VERIFY && c->tx >= nbytes)
                return 0;
            if (c->tx - c->rx + size > inflight)
                return 0; /* the window is full: the echo restarts us */
            /* As many whole writes as the window has room for, up to
             * --write-max in one write(). */
            c->pending = size * (size_t)((inflight - (c->tx - c->rx)) / size);
            if (c->pending > wmax)
                c->pending = wmax;
            if (mode == MODE_VERIFY && nbytes - c->tx < c->pending)
                c->pending = (size_t)(nbytes - c->tx);
        }
        if (mode == MODE_PUMP) {
            src = pat + (c->tx + c->key) % PAT_PERIOD;
        } else {
            pat_fill(scratch, c->key, c->tx, c->pending);
            src = scratch;
        }
        n = write(c->fd, src, c->pending);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            fail("write: %s", strerror(errno));
            conn_drop(c, C_FAILED);
            return -1;
        }
        c->tx += (uint64_t)n;
        c->pending -= (size_t)n;
        if (c->pending)
            return 0; /* the socket is full: EPOLLOUT restarts us */
    }
}

static void conn_io(conn *c)
{
    if (c->state != C_OPEN)
        return;
    if (readable(c) < 0)
        return;
    writable(c);
}

static void all_ready(double t)
{
    unsigned i;

    t_traffic = t;
    if (mode == MODE_PUMP && warmup > 0) {
        phase = PHASE_WARMUP;
        t_phase_end = t + warmup;
    } else {
        phase = PHASE_MEASURE;
        window_start(t);
        t_phase_end = mode == MODE_PUMP ? t + duration : 0;
    }
    t_tokens = t;
    tokens = burst;
    for (i = 0; i < nconns; i++) {
        if (mode == MODE_DRAIN) {
            /* The go byte; the source answers with its stream. */
            if (write(k[i].fd, "g", 1) != 1) {
                fail("write: %s", strerror(errno));
                conn_drop(&k[i], C_FAILED);
                continue;
            }
            k[i].tx = 1;
        }
        conn_io(&k[i]);
    }
}

static void on_event(unsigned i, unsigned events, double t)
{
    conn *c = &k[i];

    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            fail("cannot connect to %s: %s", target, strerror(err ? err : ECONNREFUSED));
            connect_failed++;
            conn_drop(c, C_FAILED);
            phase = PHASE_DONE;
            return;
        }
        c->state = C_OPEN;
        opened++;
        start_connects();
        if (opened == nconns && phase == PHASE_SETUP)
            all_ready(t);
        return;
    }
    if (phase == PHASE_SETUP || phase == PHASE_DONE)
        return; /* nothing was sent yet; or the run is over */
    conn_io(c);
}

/* ---------------------------------------------------------------- main */

static void print_result(void)
{
    double secs = t_end > t_start ? t_end - t_start : 0;
    double reqs = size ? (double)win_rx / (double)size : 0;
    char srv[256] = "";
    const char *status;

    if (server_pid && srv_rss1 > 0) {
        double usr = srv_usr1 - srv_usr0, sys = srv_sys1 - srv_sys0;
        snprintf(srv, sizeof(srv),
                 " server_usr_s=%.3f server_sys_s=%.3f server_cpu_us_per_req=%.3f"
                 " server_rss0_kb=%ld server_rss_kb=%ld server_hwm_kb=%ld",
                 usr, sys, reqs >= 1 ? (usr + sys) * 1e6 / reqs : 0, srv_rss0, srv_rss1,
                 srv_hwm);
    }
    status = timed_out ? "timeout" : (errors || mismatches || failed) ? "error" : "ok";
    printf("mode=%s target=%s conns=%u idle=0 size=%zu depth=%u inflight=%" PRIu64
           " seconds=%.3f requests=%.0f rate=%.1f mb_per_s=%.3f p50_us=0 p90_us=0 p99_us=0"
           " p999_us=0 max_us=0 mean_us=0 bytes=%" PRIu64 " window_bytes=%" PRIu64
           " verified_bytes=%" PRIu64 " checked=%d complete=%u failed=%u errors=%" PRIu64
           " connect_failed=%" PRIu64 " mismatches=%" PRIu64 " lost=0 client_cpu_s=%.3f"
           " client_window_cpu_s=%.3f%s status=%s\n",
           mode_names[mode], target, nconns, size, depth, inflight, secs, reqs,
           secs > 0 ? reqs / secs : 0, secs > 0 ? (double)win_rx / secs / 1e6 : 0, all_rx,
           win_rx, verified, mode == MODE_VERIFY || check, finished, failed, errors,
           connect_failed, mismatches, self_cpu(), cpu_end - cpu_start, srv, status);
    fflush(stdout);
    if (first_error[0])
        fprintf(stderr, "epoll-pump: %s\n", first_error);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: epoll-pump [options]\n"
            "Bulk load for an echo server or proxy, on plain epoll.\n\n"
            "  -t, --target ADDR      127.x.x.x:port or localhost:port (default 127.0.0.1:7777)\n"
            "  -M, --mode MODE        pump (default), verify, drain\n"
            "  -c, --conns N          connections, 1..%d (default 1)\n"
            "  -s, --size BYTES       write size, 1..%u (default 16384)\n"
            "  -D, --depth N          writes in flight per connection (pump 64, verify 4)\n"
            "  -W, --write-max BYTES  when the window has room for several writes, send\n"
            "                         up to this many bytes of them in one write() (whole\n"
            "                         writes, at most %u; default: one write each)\n"
            "  -n, --bytes BYTES      verify: bytes each connection sends (default 10000000);\n"
            "                         drain: bytes each must get before its EOF (default:\n"
            "                         any)\n"
            "  -r, --rate MB/S        drain: read at most this many MB/s in all (default 25;\n"
            "                         0 = no limit)\n"
            "  -d, --duration SECS    pump: measured time (default 5)\n"
            "  -w, --warmup SECS      pump: unmeasured traffic before (default 1)\n"
            "  -T, --timeout SECS     stop the whole run after this long (default 300)\n"
            "  -p, --server-pid PID   report that process's CPU time over the measured\n"
            "                         window and its memory (from /proc/PID)\n"
            "  -S, --seed N           verify: the streams' seed (default 1)\n"
            "  -N, --no-check         pump, drain: do not compare the bytes\n"
            "  -q, --quiet            no progress lines\n"
            "  -h, --help             show this help\n",
            MAX_CONNS, MAX_SIZE, MAX_SIZE);
}

static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "epoll-pump: invalid %s '%s' (want %g..%g)\n", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_target(void)
{
    char host[64];
    const char *colon = strrchr(target, ':');
    long port;
    char *end;

    if (!colon || (size_t)(colon - target) >= sizeof(host)) {
        fprintf(stderr, "epoll-pump: invalid --target '%s' (want host:port)\n", target);
        exit(2);
    }
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    port = strtol(colon + 1, &end, 10);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (*end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "epoll-pump: invalid --target '%s' (loopback IPv4 host:port only)\n",
                target);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", 1, NULL, 't'},   {"mode", 1, NULL, 'M'},     {"conns", 1, NULL, 'c'},
        {"size", 1, NULL, 's'},     {"depth", 1, NULL, 'D'},    {"bytes", 1, NULL, 'n'},
        {"rate", 1, NULL, 'r'},     {"duration", 1, NULL, 'd'}, {"warmup", 1, NULL, 'w'},
        {"timeout", 1, NULL, 'T'},  {"server-pid", 1, NULL, 'p'}, {"seed", 1, NULL, 'S'},
        {"write-max", 1, NULL, 'W'}, {"no-check", 0, NULL, 'N'}, {"quiet", 0, NULL, 'q'},    {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct epoll_event events[MAX_EVENTS];
    struct rlimit rl;
    int o, have_bytes = 0;
    unsigned i;

    while ((o = getopt_long(argc, argv, "t:M:c:s:D:W:n:r:d:w:T:p:S:Nqh", opts, NULL)) != -1) {
        switch (o) {
        case 't': target = optarg; break;
        case 'M':
            for (mode = 0; mode < 3 && strcmp(optarg, mode_names[mode]); mode++)
                ;
            if (mode == 3) {
                fprintf(stderr, "epoll-pump: invalid --mode '%s' (pump, verify, drain)\n",
                        optarg);
                return 2;
            }
            break;
        case 'c': nconns = (unsigned)num("--conns", optarg, 1, MAX_CONNS); break;
        case 's': size = (size_t)num("--size", optarg, 1, MAX_SIZE); break;
        case 'D': depth = (unsigned)num("--depth", optarg, 1, 1 << 20); break;
        case 'W': wmax = (size_t)num("--write-max", optarg, 1, MAX_SIZE); break;
        case 'n': nbytes = (uint64_t)num("--bytes", optarg, 0, 1e15); have_bytes = 1; break;
        case 'r': rate_mb = num("--rate", optarg, 0, 1e6); break;
        case 'd': duration = num("--duration", optarg, 0.1, 3600); break;
        case 'w': warmup = num("--warmup", optarg, 0, 60); break;
        case 'T': timeout_s = num("--timeout", optarg, 0.1, 86400); break;
        case 'p': server_pid = (long)num("--server-pid", optarg, 1, 1e9); break;
        case 'S': seed = (uint64_t)num("--seed", optarg, 0, 1e18); break;
        case 'N': check = 0; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "epoll-pump: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    parse_target();
    if (!depth)
        depth = mode == MODE_VERIFY ? 4 : 64;
    inflight = (uint64_t)depth * size;
    /* Whole writes per write() call: at least one. */
    wmax = wmax < size ? size : wmax - wmax % size;
    if (mode == MODE_VERIFY && !have_bytes)
        nbytes = 10000000;
    if (mode == MODE_VERIFY && !nbytes) {
        fprintf(stderr, "epoll-pump: verify needs --bytes above 0\n");
        return 2;
    }
    if (mode == MODE_PUMP)
        nbytes = 0;
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    k = calloc(nconns, sizeof(*k));
    rbuf = malloc(RBUF);
    scratch = malloc(wmax);
    expect = malloc(RBUF);
    pat = pat_period(RBUF > wmax ? RBUF : wmax);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!k || !rbuf || !scratch || !expect || !pat || ep < 0) {
        fprintf(stderr, "epoll-pump: out of memory\n");
        return 1;
    }
    for (i = 0; i < nconns; i++) {
        k[i].fd = -1;
        /* Apart in the period by more than the window, prime to it. */
        k[i].key = mode == MODE_VERIFY ? pat_word(seed, i)
                   : mode == MODE_PUMP ? ((uint64_t)i * 104729u) % PAT_PERIOD : 0;
    }
    burst = rate_mb * 1e6 * 0.004;
    if (burst < 65536)
        burst = 65536;
    if (server_pid)
        srv_rss0 = server_kb("VmRSS");
    t_begin = t_last_progress = now_s();
    start_connects();
    while (phase != PHASE_DONE) {
        double t = now_s(), wait_s = 0.1;
        int n;
        if (t - t_begin > timeout_s) {
            timed_out = 1;
            fail("timed out after %g s: %u of %u connections complete, %" PRIu64
                 " bytes back", timeout_s, finished, nconns, all_rx);
            break;
        }
        if (phase == PHASE_SETUP && t - t_begin > SETUP_TIMEOUT_S) {
            fail("only %u of %u connections open after %g s", opened, nconns, SETUP_TIMEOUT_S);
            break;
        }
        if (phase == PHASE_WARMUP && t >= t_phase_end) {
            phase = PHASE_MEASURE;
            window_start(t);
            t_phase_end = t + duration;
        } else if (phase == PHASE_MEASURE && mode == MODE_PUMP && t >= t_phase_end) {
            window_end(t);
            break;
        }
        if (mode == MODE_DRAIN && phase == PHASE_MEASURE && rate_mb > 0) {
            /* Refill the bucket, then let every connection read its share. */
            tokens += (t - t_tokens) * rate_mb * 1e6;
            t_tokens = t;
            if (tokens > burst)
                tokens = burst;
            for (i = 0; i < nconns && tokens >= 1; i++)
                conn_io(&k[i]);
            wait_s = 0.002;
        }
        if (mode != MODE_PUMP && phase == PHASE_MEASURE && finished + failed == nconns) {
            window_end(t);
            break;
        }
        if (!quiet && t - t_last_progress >= 1) {
            fprintf(stderr, "epoll-pump: %s %.0fs  %.1f MB/s  %u open, %u complete\n",
                    phase == PHASE_SETUP ? "connecting" : phase == PHASE_WARMUP ? "warmup"
                                                                                : "measure",
                    t - t_begin, (double)(all_rx - last_rx) / (t - t_last_progress) / 1e6,
                    opened - finished - failed, finished);
            last_rx = all_rx;
            t_last_progress = t;
        }
        if (phase == PHASE_MEASURE && mode == MODE_PUMP && t_phase_end - t < wait_s)
            wait_s = t_phase_end - t > 0 ? t_phase_end - t : 0;
        n = epoll_wait(ep, events, MAX_EVENTS, (int)(wait_s * 1000 + 0.999));
        if (n < 0 && errno != EINTR) {
            fail("epoll_wait: %s", strerror(errno));
            break;
        }
        t = n > 0 ? now_s() : t;
        for (o = 0; o < n; o++)
            on_event(events[o].data.u32, events[o].events, t);
        if (failed && mode == MODE_PUMP)
            break; /* a pump connection lost: the run means nothing */
    }
    window_end(now_s());
    if (mode == MODE_PUMP && !win_rx && !errors)
        fail("nothing was echoed in the measured window");
    if (mode == MODE_VERIFY && finished < nconns && !timed_out)
        fail("%u of %u connections did not get their %" PRIu64 " bytes back", nconns - finished,
             nconns, nbytes);
    print_result();
    return timed_out || errors || mismatches || failed ? 1 : 0;
}
