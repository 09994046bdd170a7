/*
 * sb-echod — the switchboard echo daemon (Python in a Nutshell, Example
 * 19-1, for any number of clients at once).  Built only on the public API.
 *
 * Every byte received is written back (--frame raw, the default), or every
 * framed message is echoed in the same framing (--frame line, crlf,
 * prefix1|2|4|8, digits:N, fixed:N, eof); malformed or oversized messages
 * (--max-message) close that client after what was already queued for it.
 * When a client half-closes, the daemon finishes echoing what it received,
 * then closes its side.  --udp ADDR also echoes datagrams (Example 19-3).
 * SIGTERM / SIGINT: stop accepting, flush what is queued, exit 0.
 */
#include "switchboard.h"

#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
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
    sb_signal *sigs[3];
    sb_timer *grace;
    sb_timer *trim; /* runs malloc_trim() once the last client is gone */
    int log_level;
    int stopping;
    unsigned long conns;
    sb_udp *udp[MAX_LISTEN]; /* --udp endpoints */
    int nudp;
    sb_framer framer;  /* each client's framer */
    int frame_mode;    /* how replies are framed: one of FRAME_* */
    int frame_arg;     /* prefix bytes / digits */
} echod;

enum { FRAME_RAW, FRAME_LINE, FRAME_CRLF, FRAME_PREFIX, FRAME_DIGITS, FRAME_FIXED, FRAME_EOF };

/* Parse --frame MODE into d's framer.  Returns 0 or -1 (message printed). */
static int parse_frame(echod *d, const char *mode, size_t max)
{
    char *end;
    long n;
    int rc = -1;

    if (strcmp(mode, "raw") == 0) {
        d->frame_mode = FRAME_RAW;
        rc = sb_framer_raw(&d->framer);
    } else if (strcmp(mode, "line") == 0) {
        d->frame_mode = FRAME_LINE;
        rc = sb_framer_delim(&d->framer, "\n", 1, max, 0);
    } else if (strcmp(mode, "crlf") == 0) {
        d->frame_mode = FRAME_CRLF;
        rc = sb_framer_delim(&d->framer, "\r\n", 2, max, 0);
    } else if (strncmp(mode, "prefix", 6) == 0) {
        d->frame_mode = FRAME_PREFIX;
        n = strtol(mode + 6, &end, 10);
        if (*end == '\0' && mode[6] != '\0' && (n == 1 || n == 2 || n == 4 || n == 8)) {
            d->frame_arg = (int)n;
            rc = sb_framer_prefix(&d->framer, (int)n, max);
        }
    } else if (strncmp(mode, "digits:", 7) == 0) {
        d->frame_mode = FRAME_DIGITS;
        n = strtol(mode + 7, &end, 10);
        if (*end == '\0' && mode[7] != '\0' && n >= 1 && n <= 19) {
            d->frame_arg = (int)n;
            rc = sb_framer_digits(&d->framer, (int)n, max);
        }
    } else if (strncmp(mode, "fixed:", 6) == 0) {
        d->frame_mode = FRAME_FIXED;
        n = strtol(mode + 6, &end, 10);
        if (*end == '\0' && mode[6] != '\0' && n >= 1 && (size_t)n <= max)
            rc = sb_framer_fixed(&d->framer, (size_t)n);
    } else if (strcmp(mode, "eof") == 0) {
        d->frame_mode = FRAME_EOF;
        rc = sb_framer_eof(&d->framer, max);
    }
    if (rc)
        fprintf(stderr,
                "sb-echod: invalid --frame '%s' (want raw, line, crlf, prefix1, prefix2, "
                "prefix4, prefix8, digits:N with N 1..19, fixed:N with N 1..%zu, or eof)\n",
                mode, max);
    return rc ? -1 : 0;
}

static void echo_open(sb_conn *c, void *udata)
{
    echod *d = udata;
    d->conns++;
    if (d->frame_mode != FRAME_RAW)
        sb_conn_set_framer(c, &d->framer);
}

/* Echo one message, framed the way it came. */
static void echo_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    echod *d = udata;
    int rc;

    switch (d->frame_mode) {
    case FRAME_LINE:
        rc = sb_write_delim(c, data, len, "\n", 1);
        break;
    case FRAME_CRLF:
        rc = sb_write_delim(c, data, len, "\r\n", 2);
        break;
    case FRAME_PREFIX:
        rc = sb_write_prefixed(c, d->frame_arg, data, len);
        break;
    case FRAME_DIGITS:
        rc = sb_write_digits(c, d->frame_arg, data, len);
        break;
    default:
        rc = sb_write(c, data, len);
    }
    if (rc < 0)
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
    /* Idle again: after this connection is freed, give the memory of past
     * bursts back to the system. */
    if (d->conns == 1 && d->trim && !d->stopping)
        sb_timer_start(d->trim, 0, 0);
    /* The last client gone during shutdown: nothing left to wait for. */
    if (--d->conns == 0 && d->grace) {
        sb_timer_free(d->grace);
        d->grace = NULL;
    }
}

/* Echo a datagram to its sender.  A truncated one is not echoed (the
 * client would get a cut copy); a reply the socket cannot take now is
 * dropped, as UDP may drop it anyway.  Both are logged at info level. */
static void echo_datagram(sb_udp *u, const char *data, size_t len, const sb_addr *from, int err,
                          void *udata)
{
    echod *d = udata;
    char peer[128];
    int rc = err;

    if (!err && (rc = sb_udp_send(u, from, data, len)) == 0)
        return;
    if (d->log_level >= SB_LOG_INFO) {
        if (!from || sb_addr_format(from, peer, sizeof(peer)) < 0)
            strcpy(peer, "?");
        fprintf(stderr, "sb-echod: datagram from %s not echoed: %s\n", peer,
                err == -EMSGSIZE ? "truncated (longer than 65536 bytes)" : sb_strerror(rc));
    }
}

static void udp_close_all(echod *d)
{
    int i;

    for (i = 0; i < d->nudp; i++) {
        sb_udp_free(d->udp[i]);
        d->udp[i] = NULL;
    }
}

/* SIGUSR1: the reactor's counters on stderr. */
static void on_usr1(sb_signal *s, int signum, void *udata)
{
    echod *d = udata;
    sb_stats st;
    char buf[512];

    (void)s;
    (void)signum;
    sb_loop_stats(d->loop, &st);
    sb_stats_format(&st, buf, sizeof(buf));
    fprintf(stderr, "sb-echod: stats: %s\n", buf);
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

static void trim_memory(sb_timer *t, void *udata)
{
    (void)t;
    (void)udata;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
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
    sb_timer_free(d->trim);
    d->trim = NULL;
    fprintf(stderr, "sb-echod: %s: closing listeners, flushing clients\n", strsignal(signum));
    for (i = 0; i < d->nlisteners; i++) {
        sb_listener_close(d->listeners[i]);
        d->listeners[i] = NULL;
    }
    udp_close_all(d);
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
            "  -u, --udp ADDR           also echo datagrams on ADDR (repeatable; same forms)\n"
            "  -c, --max-conns N        at most N clients at once (0 = no limit)\n"
            "  -t, --idle-timeout SECS  close clients idle this long (0 = never; default 0)\n"
            "  -b, --max-buffer BYTES   per-client output queued before reading pauses\n"
            "                           (default 1048576)\n"
            "  -f, --frame MODE         echo framed messages: raw (default), line, crlf,\n"
            "                           prefix1|2|4|8, digits:N, fixed:N, eof\n"
            "  -m, --max-message BYTES  longest message accepted (default 65536);\n"
            "                           longer or malformed ones close the client\n"
            "  -U, --user NAME          drop root privileges to NAME after binding\n"
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
    udp_close_all(d);
    for (i = 0; i < 3; i++)
        sb_signal_free(d->sigs[i]);
    sb_timer_free(d->grace);
    sb_timer_free(d->trim);
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
        {"udp", required_argument, NULL, 'u'},
        {"max-conns", required_argument, NULL, 'c'},
        {"idle-timeout", required_argument, NULL, 't'},
        {"max-buffer", required_argument, NULL, 'b'},
        {"log-level", required_argument, NULL, 'L'},
        {"frame", required_argument, NULL, 'f'},
        {"max-message", required_argument, NULL, 'm'},
        {"user", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *addrs[MAX_LISTEN], *frame = "raw", *user = NULL;
    size_t max_message = SB_FRAME_DEFAULT_MAX;
    const char *udp_addrs[MAX_LISTEN];
    int nudp = 0;
    int naddrs = 0, opt, i, err = 0, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    echod d;

    memset(&d, 0, sizeof(d));
    memset(&lo, 0, sizeof(lo));
    d.log_level = SB_LOG_WARN;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":l:u:c:t:b:L:f:m:U:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (naddrs == MAX_LISTEN) {
                fprintf(stderr, "sb-echod: at most %d --listen addresses\n", MAX_LISTEN);
                return 2;
            }
            addrs[naddrs++] = optarg;
            break;
        case 'U':
            user = optarg;
            break;
        case 'u':
            if (nudp == MAX_LISTEN) {
                fprintf(stderr, "sb-echod: at most %d --udp addresses\n", MAX_LISTEN);
                return 2;
            }
            udp_addrs[nudp++] = optarg;
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
        case 'f':
            frame = optarg;
            break;
        case 'm':
            if (parse_num("--max-message", optarg, SIZE_MAX / 2, &v))
                return 2;
            if (v == 0) {
                fprintf(stderr, "sb-echod: invalid --max-message '0' (want at least 1)\n");
                return 2;
            }
            max_message = (size_t)v;
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
    if (parse_frame(&d, frame, max_message))
        return 2;

    d.loop = sb_loop_new();
    if (!d.loop) {
        fprintf(stderr, "sb-echod: cannot create the event loop: %s\n", strerror(errno));
        return 1;
    }
    sb_loop_set_log(d.loop, log_cb, d.log_level, &d);
    d.trim = sb_timer_new(d.loop, trim_memory, &d);
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
    for (i = 0; i < nudp; i++) {
        static const sb_udp_handler uh = {.on_datagram = echo_datagram};
        d.udp[i] = sb_udp_new(d.loop, udp_addrs[i], &uh, &d, NULL, &err);
        if (!d.udp[i]) {
            fprintf(stderr, "sb-echod: cannot bind UDP '%s': %s\n", udp_addrs[i],
                    sb_strerror(err));
            cleanup(&d);
            return 1;
        }
        d.nudp++;
    }
    d.sigs[0] = sb_signal_new(d.loop, SIGTERM, on_signal, &d, &err);
    d.sigs[1] = sb_signal_new(d.loop, SIGINT, on_signal, &d, &err);
    d.sigs[2] = sb_signal_new(d.loop, SIGUSR1, on_usr1, &d, &err);
    if (!d.sigs[0] || !d.sigs[1] || !d.sigs[2]) {
        fprintf(stderr, "sb-echod: cannot watch signals: %s\n", sb_strerror(err));
        cleanup(&d);
        return 1;
    }
    if (user && (err = sb_drop_privileges(user)) != 0) {
        fprintf(stderr, "sb-echod: cannot switch to user '%s': %s\n", user,
                err == -ENOENT ? "no such user" : sb_strerror(err));
        cleanup(&d);
        return 1;
    }
    for (i = 0; i < d.nlisteners; i++) {
        char buf[160];
        sb_listener_addr(d.listeners[i], buf, sizeof(buf));
        fprintf(stderr, "sb-echod %s: listening on %s\n", SB_VERSION_STRING, buf);
    }
    for (i = 0; i < d.nudp; i++) {
        char buf[160];
        sb_udp_local(d.udp[i], buf, sizeof(buf));
        fprintf(stderr, "sb-echod %s: echoing datagrams on %s\n", SB_VERSION_STRING, buf);
    }
    rc = sb_loop_run(d.loop);
    if (rc < 0)
        fprintf(stderr, "sb-echod: event loop failed: %s\n", sb_strerror(rc));
    cleanup(&d);
    return rc < 0 ? 1 : 0;
}
