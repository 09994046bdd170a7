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
#include "daemon.h"
#include "tlsopt.h"
#include "switchboard.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define DEFAULT_MAX_CONNS 10000
#define DEFAULT_IDLE_S 300
enum { OPT_TLS_CERT = 0x200, OPT_TLS_KEY };

typedef struct echod {
    sbd sbd;         /* the daemon scaffolding: loop, listeners, signals */
    sb_udp *udp[SBD_MAX_LISTEN]; /* --udp endpoints */
    int nudp;
    sb_framer framer; /* each client's framer */
    int frame_mode;   /* how replies are framed: one of FRAME_* */
    int frame_arg;    /* prefix bytes / digits */
} echod;

enum { FRAME_RAW, FRAME_LINE, FRAME_CRLF, FRAME_PREFIX, FRAME_DIGITS, FRAME_FIXED, FRAME_EOF };

/* Parse --frame MODE into d's framer.  Returns 0 or -1 (message printed). */
static int parse_frame(echod *d, const char *mode, size_t max)
{
    size_t fixed_max = max ? max : SB_FRAMER_DEFAULT_MAX_SIZED;
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
        if (*end == '\0' && mode[6] != '\0' && n >= 1 && (size_t)n <= fixed_max)
            rc = sb_framer_fixed(&d->framer, (size_t)n);
    } else if (strcmp(mode, "eof") == 0) {
        d->frame_mode = FRAME_EOF;
        rc = sb_framer_eof(&d->framer, max);
    }
    if (rc)
        fprintf(stderr,
                "sb-echod: invalid --frame '%s' (want raw, line, crlf, prefix1, prefix2, "
                "prefix4, prefix8, digits:N with N 1..19, fixed:N with N 1..%zu, or eof)\n",
                mode, fixed_max);
    return rc ? -1 : 0;
}

static void echo_open(sb_conn *c, void *udata)
{
    echod *d = udata;
    sbd_conn_opened(&d->sbd);
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
        rc = sb_write_prefix(c, d->frame_arg, data, len);
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

    if (reason && d->sbd.log_level >= SB_LOG_INFO) {
        if (sb_conn_peer(c, peer, sizeof(peer)) < 0)
            strcpy(peer, "?");
        fprintf(stderr, "sb-echod: %s closed: %s\n", peer, sb_strerror(reason));
    }
    sbd_conn_closed(&d->sbd, c);
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
    if (d->sbd.log_level >= SB_LOG_INFO) {
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


/* First SIGTERM/SIGINT: what keeps the loop going besides the clients
 * goes, and every client is flushed and closed. */
static void echo_stop(sbd *sd)
{
    echod *d = sd->app;

    udp_close_all(d);
    sb_loop_close_all(sd->loop);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-echod [options]\n"
            "Echo every byte back to each client.\n\n"
            "  -l, --listen ADDR        listen on ADDR (repeatable; default 127.0.0.1:7777)\n"
            "                           ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -u, --udp ADDR           also echo datagrams on ADDR (repeatable; same forms)\n"
            "  -c, --max-conns N        at most N clients at once (default 10000;\n"
            "                           0 = no limit)\n"
            "  -t, --idle-timeout SECS  close clients idle this long (0 = never;\n"
            "                           default 300)\n"
            "  -b, --max-buffer BYTES   per-client output queued before reading pauses\n"
            "                           (default 1048576)\n"
            "  -f, --frame MODE         echo framed messages: raw (default), line, crlf,\n"
            "                           prefix1|2|4|8, digits:N, fixed:N, eof\n"
            "  -m, --max-message BYTES  longest message accepted (default: the framing's,\n"
            "                           64 KiB for lines, 255 and 65535 for prefix1\n"
            "                           and 2, 16 MiB for prefix4 and 8 and digits:N,\n"
            "                           1 MiB for eof);\n"
            "                           longer or malformed ones close the client\n"
            "      --tls-cert FILE      speak TLS: the certificate chain (PEM, leaf first)\n"
            "      --tls-key FILE       and its private key (needs make TLS=1)\n"
            "                           (repeat both: the first pair is the default,\n"
            "                            others are chosen by SNI)\n"
            "  -U, --user NAME          drop root privileges to NAME after binding\n"
            "  -L, --log-level LEVEL    error, warn, info or debug (default warn)\n"
            "  -G, --grace SECS         on SIGTERM/SIGINT, wait this long for clients\n"
            "                           to finish, then reset them (default 5)\n"
            "      --backend NAME       how to wait for readiness: select (default),\n"
            "                           poll or epoll\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n");
}

static void cleanup(echod *d)
{
    udp_close_all(d);
    sbd_cleanup(&d->sbd);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"udp", required_argument, NULL, 'u'},
        {"max-buffer", required_argument, NULL, 'b'},
        {"frame", required_argument, NULL, 'f'},
        {"max-message", required_argument, NULL, 'm'},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        SBD_LONG_OPTIONS,
    };
    static const sb_udp_handler uh = {.on_datagram = echo_datagram};
    const char *frame = "raw", *udp_addrs[SBD_MAX_LISTEN];
    size_t max_message = 0; /* the framing's default */
    int nudp = 0, opt, i, err = 0, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    sbd_tls tls;
    echod d;

    memset(&d, 0, sizeof(d));
    memset(&lo, 0, sizeof(lo));
    memset(&tls, 0, sizeof(tls));
    sbd_init(&d.sbd, "sb-echod", DEFAULT_MAX_CONNS, DEFAULT_IDLE_S);
    while ((opt = getopt_long(argc, argv, ":u:b:f:m:" SBD_SHORT_OPTIONS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            if (nudp == SBD_MAX_LISTEN) {
                fprintf(stderr, "sb-echod: at most %d --udp addresses\n", SBD_MAX_LISTEN);
                return 2;
            }
            udp_addrs[nudp++] = optarg;
            break;
        case 'b':
            if (sbd_parse_uint(&d.sbd, "--max-buffer", optarg, 1, SIZE_MAX / 2, &v))
                return 2;
            lo.conn.high_water = (size_t)v;
            break;
        case 'f':
            frame = optarg;
            break;
        case 'm':
            if (sbd_parse_uint(&d.sbd, "--max-message", optarg, 1, SIZE_MAX / 2, &v))
                return 2;
            max_message = (size_t)v;
            break;
        case OPT_TLS_CERT:
            if (sbd_tls_opt_cert("sb-echod", &tls, optarg))
                return 2;
            break;
        case OPT_TLS_KEY:
            if (sbd_tls_opt_key("sb-echod", &tls, optarg))
                return 2;
            break;
        default:
            if ((rc = sbd_option(&d.sbd, opt, optarg, argv, usage)) != SBD_OPT_NEXT)
                return rc;
        }
    }
    if (sbd_no_operands(&d.sbd, argc, argv) || sbd_tls_check("sb-echod", &tls) ||
        parse_frame(&d, frame, max_message))
        return 2;
    lo.max_conns = d.sbd.max_conns;
    lo.conn.idle_timeout_ms = d.sbd.idle_ms;

    memset(&h, 0, sizeof(h));
    h.on_open = echo_open;
    h.on_data = echo_data;
    h.on_close = echo_close;
    d.sbd.on_stop = echo_stop;
    d.sbd.app = &d;
    rc = sbd_open(&d.sbd, lo.max_conns);
    if (rc == 0)
        rc = sbd_listen(&d.sbd, "127.0.0.1:7777", &h, &d, &lo);
    if (rc == 0)
        rc = sbd_tls_listen(&d.sbd, &tls, NULL);
    for (i = 0; rc == 0 && i < nudp; i++) {
        d.udp[i] = sb_udp_new(d.sbd.loop, udp_addrs[i], &uh, &d, NULL, &err);
        if (!d.udp[i]) {
            fprintf(stderr, "sb-echod: cannot bind UDP '%s': %s\n", udp_addrs[i],
                    sb_strerror(err));
            rc = 1;
        }
        d.nudp = i + 1;
    }
    if (rc == 0)
        rc = sbd_start(&d.sbd, NULL);
    for (i = 0; rc == 0 && i < d.nudp; i++) {
        char buf[160];
        sb_udp_local(d.udp[i], buf, sizeof(buf));
        fprintf(stderr, "sb-echod %s: echoing datagrams on %s\n", SB_VERSION_STRING, buf);
    }
    if (rc == 0)
        rc = sbd_run(&d.sbd);
    cleanup(&d);
    sbd_tls_free(&tls);
    return rc;
}
