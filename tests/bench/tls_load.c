/*
 * tls-load -- the TLS load generator of `make bench`: OpenSSL over plain
 * epoll in one process (non-blocking, level-triggered), 127.0.0.1 only.
 *
 *   tls-load -M hs|resume|bulk -p PORT [-c N] [-d SECS] [-w SECS] [-s BYTES]
 *            [-D N] [-T SECS] [-q]
 *
 * hs      N connections at once, each in a loop: connect, full handshake,
 *         close_notify, close, again.  No session is offered, so every
 *         handshake is a full one (ECDHE and the server's signature).
 * resume  the same, each handshake offering the last session the server
 *         gave (TLS 1.3 tickets, kept from SSL_CTX_sess_set_new_cb; each
 *         connection waits for its ticket before it closes, as a client
 *         that comes back would).  Handshakes that were not resumed are
 *         counted (not_resumed=).
 * bulk    N connections, each after its handshake keeping DEPTH writes of
 *         SIZE bytes in flight (16 KiB x 16) of the periodic pattern of
 *         pattern.h and checking the echo against it (a running offset per
 *         connection, one memcmp per read): echoed MB/s.
 *
 * --warmup (-w) seconds first, then --seconds (-d) measured; the run then
 * stops by itself.  --timeout (-T, default seconds + warmup + 30) bounds
 * everything: past it the run stops with status=timeout.  Peer
 * verification is off (the bench measures the servers, which present the
 * same certificate).  One key=value result line on stdout: mode, conns,
 * seconds, handshakes, rate (handshakes/s; bulk: SIZE-byte writes echoed
 * per second), resumed, not_resumed, mb_per_s, bytes, handshakes_all and
 * bytes_all (the whole run, warm-up included), mismatches, errors,
 * client_cpu_s (the measured window's user+system CPU, getrusage),
 * client_cpu_share (of the window's wall time), status.  Exit 0 when
 * status=ok, 1 otherwise, 2 on bad arguments.
 */
#include "pattern.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONNS 4096
#define MAX_SIZE (256u << 10)
#define RBUF (64u << 10)
#define MAX_EVENTS 1024

enum { M_HS, M_RESUME, M_BULK };
enum { S_CONNECTING, S_HANDSHAKE, S_TICKET, S_RUN };

typedef struct lconn {
    int fd, state;
    SSL *ssl;
    size_t wpos, rpos;   /* bytes written / echoed and checked */
    size_t wlen;         /* a write being retried (same length), or 0 */
} lconn;

static int mode, port, nconns = 10, quiet;
static double seconds = 2, warmup = 0.5, timeout_s;
static size_t size = 16384, depth = 16;
static SSL_CTX *ctx;
static SSL_SESSION *saved; /* resume: the last session the server gave */
static int got_ticket;     /* set by on_new_session for the connection reading */
static lconn *conns;
static int ep;
static unsigned char *pat;
static unsigned char rbuf[RBUF];
static int measuring;
static unsigned long long handshakes, resumed, not_resumed, errors, mismatches, echoed;
/* Over the whole run, warm-up included (the server's CPU is read around it). */
static unsigned long long handshakes_all, echoed_all;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    if (saved)
        SSL_SESSION_free(saved);
    saved = sess;
    got_ticket = 1;
    return 1; /* we keep the reference */
}

static void set_events(lconn *c, unsigned ev, int op)
{
    struct epoll_event e;

    e.events = ev;
    e.data.ptr = c;
    if (epoll_ctl(ep, op, c->fd, &e) < 0) {
        perror("tls-load: epoll_ctl");
        exit(1);
    }
}

static void start(lconn *c);

/* Close and, in the handshake modes, start again (bulk: an error). */
static void finish(lconn *c, int failed)
{
    if (failed) {
        if (measuring)
            errors++;
        if (!quiet && errors < 5) {
            unsigned long e = ERR_peek_last_error();
            fprintf(stderr, "tls-load: connection failed: %s\n",
                    e ? ERR_reason_error_string(e) : strerror(errno));
        }
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    if (mode != M_BULK)
        start(c);
}

static void start(lconn *c)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("tls-load: socket");
        exit(1);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ssl = SSL_new(ctx);
    if (!c->ssl) {
        fprintf(stderr, "tls-load: SSL_new failed\n");
        exit(1);
    }
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    if (mode == M_RESUME && saved)
        SSL_set_session(c->ssl, saved);
    c->wpos = c->rpos = c->wlen = 0;
    c->state = S_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        /* EADDRNOTAVAIL (ports) and the like: count it, try again later */
        set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* After an SSL call returned r <= 0: 0 waiting (events set), -1 failed. */
static int want(lconn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        set_events(c, EPOLLIN, EPOLL_CTL_MOD);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        set_events(c, EPOLLOUT, EPOLL_CTL_MOD);
        return 0;
    default:
        return -1;
    }
}

static void done_handshake(lconn *c)
{
    handshakes_all++;
    if (measuring) {
        handshakes++;
        if (mode == M_RESUME) {
            if (SSL_session_reused(c->ssl))
                resumed++;
            else
                not_resumed++;
        }
    }
    SSL_shutdown(c->ssl); /* close_notify, not waiting for the peer's */
    finish(c, 0);
}

/* bulk: write what the window allows, read and check what came back. */
static int pump(lconn *c)
{
    for (;;) {
        int progressed = 0;
        while (c->wpos - c->rpos + size <= size * depth || c->wlen) {
            size_t len = c->wlen ? c->wlen : size;
            int w = SSL_write(c->ssl, pat + c->wpos % PAT_PERIOD, (int)len);
            if (w <= 0) {
                c->wlen = len;
                if (SSL_get_error(c->ssl, w) == SSL_ERROR_WANT_WRITE)
                    break;
                if (SSL_get_error(c->ssl, w) == SSL_ERROR_WANT_READ)
                    break;
                return -1;
            }
            c->wlen = 0;
            c->wpos += (size_t)w;
            progressed = 1;
        }
        for (;;) {
            int n = SSL_read(c->ssl, rbuf, sizeof(rbuf));
            if (n <= 0) {
                int e = SSL_get_error(c->ssl, n);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                return -1;
            }
            if (c->rpos + (size_t)n > c->wpos ||
                memcmp(rbuf, pat + c->rpos % PAT_PERIOD, (size_t)n) != 0) {
                mismatches++;
                return -1;
            }
            c->rpos += (size_t)n;
            echoed_all += (size_t)n;
            if (measuring)
                echoed += (size_t)n;
            progressed = 1;
        }
        if (!progressed)
            break;
    }
    /* Readable always; writable too while a write waits for room. */
    set_events(c, c->wlen || c->wpos - c->rpos + size <= size * depth ? EPOLLIN | EPOLLOUT
                                                                       : EPOLLIN,
               EPOLL_CTL_MOD);
    return 0;
}

static void serve(lconn *c)
{
    int r;

    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            errno = err;
            finish(c, 1);
            return;
        }
        c->state = S_HANDSHAKE;
    }
    if (c->state == S_HANDSHAKE) {
        r = SSL_do_handshake(c->ssl);
        if (r <= 0) {
            if (want(c, r) < 0)
                finish(c, 1);
            return;
        }
        if (mode == M_HS) {
            done_handshake(c);
            return;
        }
        if (mode == M_RESUME) {
            c->state = S_TICKET;
            got_ticket = 0;
        } else {
            c->state = S_RUN;
        }
    }
    if (c->state == S_TICKET) {
        /* Read until the ticket is in (the server sends it right after
         * the handshake); nothing else comes on this connection. */
        got_ticket = 0;
        r = SSL_read(c->ssl, rbuf, sizeof(rbuf));
        if (got_ticket) {
            done_handshake(c);
            return;
        }
        if (r > 0 || want(c, r) < 0)
            finish(c, 1);
        return;
    }
    if (pump(c) < 0)
        finish(c, 1);
}

static void usage(void)
{
    fprintf(stderr, "usage: tls-load -M hs|resume|bulk -p PORT [-c N] [-d SECS] [-w SECS] "
                    "[-s BYTES] [-D N] [-T SECS] [-q]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'M'},    {"port", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'c'},   {"seconds", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},  {"size", required_argument, NULL, 's'},
        {"depth", required_argument, NULL, 'D'},   {"timeout", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},         {NULL, 0, NULL, 0},
    };
    struct epoll_event ev[MAX_EVENTS];
    const char *names[] = {"hs", "resume", "bulk"};
    double t0, t_start, t_end = 0, c0 = 0, c1, wall;
    const char *status = "ok";
    int o, i;

    mode = -1;
    while ((o = getopt_long(argc, argv, "M:p:c:d:w:s:D:T:q", opts, NULL)) != -1) {
        switch (o) {
        case 'M':
            for (mode = 0; mode < 3 && strcmp(optarg, names[mode]) != 0; mode++)
                ;
            if (mode == 3) {
                fprintf(stderr, "tls-load: invalid --mode '%s' (hs, resume, bulk)\n", optarg);
                return 2;
            }
            break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 's': size = (size_t)atol(optarg); break;
        case 'D': depth = (size_t)atol(optarg); break;
        case 'T': timeout_s = atof(optarg); break;
        case 'q': quiet = 1; break;
        default: usage();
        }
    }
    if (mode < 0 || port <= 0 || port > 65535 || nconns < 1 || nconns > MAX_CONNS ||
        !(seconds > 0) || warmup < 0 || size < 1 || size > MAX_SIZE || depth < 1 || optind != argc)
        usage();
    if (timeout_s <= 0)
        timeout_s = seconds + warmup + 30;
    signal(SIGPIPE, SIG_IGN);

    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        fprintf(stderr, "tls-load: SSL_CTX_new failed\n");
        return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (mode == M_RESUME) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    if (mode == M_BULK && !(pat = pat_period(MAX_SIZE))) {
        fprintf(stderr, "tls-load: out of memory\n");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)nconns, sizeof(*conns));
    if (ep < 0 || !conns) {
        fprintf(stderr, "tls-load: setup failed\n");
        return 1;
    }
    for (i = 0; i < nconns; i++)
        start(&conns[i]);

    t0 = now();
    t_start = t0 + warmup;
    for (;;) {
        double t = now();
        int n;
        if (!measuring && t >= t_start) {
            measuring = 1;
            t_start = t;
            c0 = cpu_s();
        }
        if (measuring && t - t_start >= seconds) {
            t_end = t;
            break;
        }
        if (t - t0 >= timeout_s) {
            status = "timeout";
            t_end = t;
            break;
        }
        n = epoll_wait(ep, ev, MAX_EVENTS, 50);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("tls-load: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            lconn *c = ev[i].data.ptr;
            if (c->fd >= 0)
                serve(c);
        }
        if (mode == M_BULK) {
            int open = 0;
            for (i = 0; i < nconns; i++)
                open += conns[i].fd >= 0;
            if (!open) {
                status = "failed";
                t_end = now();
                break;
            }
        }
    }
    c1 = cpu_s();
    if (!measuring) {
        t_start = t_end;
        c0 = c1;
    }
    wall = t_end - t_start;
    if (mismatches)
        status = "mismatch";
    else if (mode != M_BULK && !handshakes)
        status = "failed";
    else if (mode == M_BULK && !echoed)
        status = "failed";
    printf("mode=%s conns=%d seconds=%.3f handshakes=%llu rate=%.1f resumed=%llu not_resumed=%llu "
           "mb_per_s=%.2f bytes=%llu handshakes_all=%llu bytes_all=%llu mismatches=%llu errors=%llu "
           "client_cpu_s=%.3f client_cpu_share=%.3f status=%s\n",
           names[mode], nconns, wall, handshakes,
           wall > 0 ? (mode == M_BULK ? (double)echoed / (double)size : (double)handshakes) / wall
                    : 0.0,
           resumed, not_resumed, wall > 0 ? (double)echoed / 1e6 / wall : 0.0, echoed, handshakes_all,
           echoed_all, mismatches,
           errors, c1 - c0, wall > 0 ? (c1 - c0) / wall : 0.0, status);
    return strcmp(status, "ok") == 0 ? 0 : 1;
}
