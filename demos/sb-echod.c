/*
 * sb-echod — the switchboard echo daemon (Python in a Nutshell, Example
 * 19-1, for any number of clients at once).  Built only on the public API.
 *
 * Every byte received is written back.  When a client half-closes, the
 * daemon finishes echoing what it received, then closes its side.
 * SIGTERM / SIGINT: stop accepting, flush what is queued, exit 0.
 */
#include "switchboard.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTEN 16
#define SHUTDOWN_GRACE_MS 5000

typedef struct echod {
    sb_loop *loop;
    sb_listener *listeners[MAX_LISTEN];
    int nlisteners;
    sb_signal *sigs[2];
    sb_timer *grace;
    int log_level;
    int stopping;
    unsigned long conns;
} echod;

static void echo_open(sb_conn *c, void *udata)
{
    echod *d = udata;
    (void)c;
    d->conns++;
}

static void echo_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    (void)udata;
    if (sb_write(c, data, len) < 0)
        sb_abort(c);
}

static void echo_close(sb_conn *c, int reason, void *udata)
{
    echod *d = udata;
    char peer[128];

    if (reason && d->log_level >= SB_LOG_INFO) {
        if (sb_conn_peer(c, peer, sizeof(peer)) < 0)
            strcpy(peer, "?");
        fprintf(stderr, "sb-echod: %s closed: %s\n", peer, sb_strerror(reason));
    }
    /* The last client gone during shutdown: nothing left to wait for. */
    if (--d->conns == 0 && d->grace) {
        sb_timer_free(d->grace);
        d->grace = NULL;
    }
}

static void log_cb(int level, const char *msg, void *udata)
{
    (void)udata;
    fprintf(stderr, "sb-echod: %s%s\n", level == SB_LOG_ERROR ? "error: " : "", msg);
}

static void grace_expired(sb_timer *t, void *udata)
{
    echod *d = udata;
    (void)t;
    fprintf(stderr, "sb-echod: shutdown grace period over; dropping clients\n");
    sb_timer_free(d->grace);
    d->grace = NULL;
    sb_loop_stop(d->loop);
}

static void on_signal(sb_signal *s, int signum, void *udata)
{
    echod *d = udata;
    int i;

    (void)s;
    if (d->stopping) {
        sb_loop_stop(d->loop); /* second signal: do not wait */
        return;
    }
    d->stopping = 1;
    fprintf(stderr, "sb-echod: %s: closing listeners, flushing clients\n", strsignal(signum));
    for (i = 0; i < d->nlisteners; i++) {
        sb_listener_close(d->listeners[i]);
        d->listeners[i] = NULL;
    }
    if (d->conns == 0)
        return;
    sb_loop_close_all(d->loop);
    d->grace = sb_timer_new(d->loop, grace_expired, d);
    if (d->grace)
        sb_timer_start(d->grace, SHUTDOWN_GRACE_MS, 0);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-echod [options]\n"
            "Echo every byte back to each client.\n\n"
            "  -l, --listen ADDR        listen on ADDR (repeatable; default 127.0.0.1:7777)\n"
            "                           ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -c, --max-conns N        at most N clients at once (0 = no limit)\n"
            "  -t, --idle-timeout SECS  close clients idle this long (0 = never; default 0)\n"
            "  -b, --max-buffer BYTES   per-client output queued before reading pauses\n"
            "                           (default 1048576)\n"
            "  -L, --log-level LEVEL    error, warn, info or debug (default warn)\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n");
}

/* Parse a non-negative integer option; one clear line on failure. */
static int parse_num(const char *opt, const char *s, unsigned long long max,
                     unsigned long long *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (!*s || *s == '-' || *s == '+')
        goto bad;
    v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "sb-echod: invalid %s '%s' (want an integer 0..%llu)\n", opt, s, max);
    return -1;
}

static int parse_level(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    int i;

    for (i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void abort_conn(sb_conn *c, void *udata)
{
    (void)udata;
    sb_abort(c);
}

static void cleanup(echod *d)
{
    int i;

    for (i = 0; i < d->nlisteners; i++)
        sb_listener_close(d->listeners[i]); /* NULL once closed: no-op */
    for (i = 0; i < 2; i++)
        sb_signal_free(d->sigs[i]);
    sb_timer_free(d->grace);
    if (d->loop && sb_loop_free(d->loop) == SB_EBUSY) {
        /* Clients left after the grace period: reset them and reap. */
        sb_loop_walk(d->loop, abort_conn, NULL);
        sb_loop_run_once(d->loop, 0);
        sb_loop_free(d->loop);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"max-conns", required_argument, NULL, 'c'},
        {"idle-timeout", required_argument, NULL, 't'},
        {"max-buffer", required_argument, NULL, 'b'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *addrs[MAX_LISTEN];
    int naddrs = 0, opt, i, err = 0, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    echod d;

    memset(&d, 0, sizeof(d));
    memset(&lo, 0, sizeof(lo));
    d.log_level = SB_LOG_WARN;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":l:c:t:b:L:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (naddrs == MAX_LISTEN) {
                fprintf(stderr, "sb-echod: at most %d --listen addresses\n", MAX_LISTEN);
                return 2;
            }
            addrs[naddrs++] = optarg;
            break;
        case 'c':
            if (parse_num("--max-conns", optarg, UINT_MAX, &v))
                return 2;
            lo.max_conns = (unsigned)v;
            break;
        case 't':
            if (parse_num("--idle-timeout", optarg, UINT_MAX / 1000, &v))
                return 2;
            lo.idle_timeout_ms = (unsigned)v * 1000u;
            break;
        case 'b':
            if (parse_num("--max-buffer", optarg, SIZE_MAX / 2, &v))
                return 2;
            if (v == 0) {
                fprintf(stderr, "sb-echod: invalid --max-buffer '0' (want at least 1)\n");
                return 2;
            }
            lo.high_water = (size_t)v;
            break;
        case 'L':
            if ((d.log_level = parse_level(optarg)) < 0) {
                fprintf(stderr,
                        "sb-echod: invalid --log-level '%s' (want error, warn, info or debug)\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("sb-echod (switchboard) %s\n", SB_VERSION_STRING);
            return 0;
        case ':':
            fprintf(stderr, "sb-echod: option '%s' needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "sb-echod: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sb-echod: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (naddrs == 0)
        addrs[naddrs++] = "127.0.0.1:7777";

    d.loop = sb_loop_new();
    if (!d.loop) {
        fprintf(stderr, "sb-echod: cannot create the event loop: %s\n", strerror(errno));
        return 1;
    }
    sb_loop_set_log(d.loop, log_cb, d.log_level, &d);
    memset(&h, 0, sizeof(h));
    h.on_open = echo_open;
    h.on_data = echo_data;
    h.on_close = echo_close;
    for (i = 0; i < naddrs; i++) {
        d.listeners[i] = sb_listen(d.loop, addrs[i], &h, &d, &lo, &err);
        if (!d.listeners[i]) {
            fprintf(stderr, "sb-echod: cannot listen on '%s': %s\n", addrs[i], sb_strerror(err));
            cleanup(&d);
            return 1;
        }
        d.nlisteners++;
    }
    d.sigs[0] = sb_signal_new(d.loop, SIGTERM, on_signal, &d, &err);
    d.sigs[1] = sb_signal_new(d.loop, SIGINT, on_signal, &d, &err);
    if (!d.sigs[0] || !d.sigs[1]) {
        fprintf(stderr, "sb-echod: cannot watch signals: %s\n", sb_strerror(err));
        cleanup(&d);
        return 1;
    }
    for (i = 0; i < d.nlisteners; i++) {
        char buf[160];
        sb_listener_addr(d.listeners[i], buf, sizeof(buf));
        fprintf(stderr, "sb-echod %s: listening on %s\n", SB_VERSION_STRING, buf);
    }
    rc = sb_loop_run(d.loop);
    if (rc < 0)
        fprintf(stderr, "sb-echod: event loop failed: %s\n", sb_strerror(rc));
    cleanup(&d);
    return rc < 0 ? 1 : 0;
}
