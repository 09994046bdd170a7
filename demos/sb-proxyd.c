/*
 * sb-proxyd: a TCP reverse proxy on the public API, the worked example of
 * sb_relay().
 *
 * Each client gets an upstream connection (round-robin over --upstream;
 * one that refuses or times out is skipped and retried after a back-off
 * that doubles from 1 s to 30 s), and once it is open the two are relayed:
 * bytes flow both ways with at most --max-buffer queued per direction,
 * half-closes and resets travel through.  Until then the client is paused
 * (its bytes wait in the kernel); when no upstream answers it is closed at
 * once with the reason logged.  SIGTERM stops accepting and lets the
 * transfers in progress finish (--grace), SIGUSR1 prints the counters.
 */
#include "daemon.h"
#include "tlsopt.h"
#include "switchboard.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_CONNS 10000
#define DEFAULT_IDLE_S 300
enum { OPT_TLS_CERT = 0x200, OPT_TLS_KEY };
#define DEFAULT_CONNECT_MS 3000
#define DEFAULT_MAX_BUFFER (256 * 1024)
#define MAX_UPSTREAMS 16
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

typedef struct upstream {
    const char *addr;
    uint64_t down_until; /* loop time before which it is skipped */
    unsigned backoff_ms; /* the next back-off (0: healthy) */
    unsigned long fails;
} upstream;

typedef struct proxyd {
    sbd sbd;
    upstream ups[MAX_UPSTREAMS];
    int nups;
    int next;            /* round-robin position */
    unsigned connect_ms;
    size_t max_buffer;
    unsigned long relayed, refused;
} proxyd;

/* One client and its upstream; freed when both have closed. */
typedef struct pair {
    proxyd *p;
    sb_conn *client, *up;
    int ups_idx; /* the upstream being tried */
    int tries;   /* upstreams tried for this client */
    int linked;  /* relayed */
} pair;

static const sb_handler up_handler;

static void log_peer(proxyd *p, int level, sb_conn *c, const char *fmt, const char *what,
                     int reason)
{
    char peer[128];

    if (p->sbd.log_level < level)
        return;
    if (!c || sb_conn_peer(c, peer, sizeof(peer)) < 0)
        strcpy(peer, "?");
    fprintf(stderr, "sb-proxyd: %s: ", peer);
    fprintf(stderr, fmt, what, sb_strerror(reason));
    fputc('\n', stderr);
}

/* The next upstream not in back-off, round-robin; -1 when all are. */
static int pick(proxyd *p)
{
    uint64_t now = sb_loop_now(p->sbd.loop);
    int i;

    for (i = 0; i < p->nups; i++) {
        int k = (p->next + i) % p->nups;
        if (p->ups[k].down_until <= now) {
            p->next = (k + 1) % p->nups;
            return k;
        }
    }
    return -1;
}

static void mark_down(proxyd *p, int k, int reason)
{
    upstream *u = &p->ups[k];

    u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (u->backoff_ms > BACKOFF_MAX_MS)
        u->backoff_ms = BACKOFF_MAX_MS;
    u->down_until = sb_loop_now(p->sbd.loop) + u->backoff_ms;
    u->fails++;
    if (p->sbd.log_level >= SB_LOG_WARN)
        fprintf(stderr, "sb-proxyd: upstream %s: %s; skipped for %u ms\n", u->addr,
                sb_strerror(reason), u->backoff_ms);
}

static void pair_free_if_done(pair *pr)
{
    if (!pr->client && !pr->up)
        free(pr);
}

/* Connect the client's next upstream.  0, or -1 when none is left (the
 * caller closes the client). */
static int connect_next(pair *pr, int *last)
{
    proxyd *p = pr->p;
    sb_connect_opts co;

    memset(&co, 0, sizeof(co));
    co.connect_timeout_ms = p->connect_ms;
    co.conn.idle_timeout_ms = p->sbd.idle_ms;
    while (pr->tries < p->nups) {
        int k = pick(p), err = 0;
        if (k < 0)
            return -1; /* every upstream is backing off */
        pr->tries++;
        pr->ups_idx = k;
        pr->up = sb_connect(p->sbd.loop, p->ups[k].addr, &up_handler, pr, &co, &err);
        if (pr->up)
            return 0;
        *last = err;
        mark_down(p, k, err);
    }
    return -1;
}

static void give_up(pair *pr, int reason)
{
    proxyd *p = pr->p;

    p->refused++;
    log_peer(p, SB_LOG_WARN, pr->client, "%s (%s)", "no upstream reachable; closing", reason);
    sb_abort(pr->client);
}

/* ------------------------------------------------------------ upstream */

static void up_open(sb_conn *up, void *udata)
{
    pair *pr = udata;
    proxyd *p = pr->p;
    sb_relay_opts ro = {p->max_buffer};
    int rc;

    p->ups[pr->ups_idx].backoff_ms = 0;
    rc = sb_relay(pr->client, up, &ro);
    if (rc) {
        log_peer(p, SB_LOG_WARN, pr->client, "%s: %s", "cannot relay", rc);
        sb_abort(pr->client);
        return;
    }
    pr->linked = 1;
    p->relayed++;
    sb_conn_resume(pr->client);
}

static void up_close(sb_conn *up, int reason, void *udata)
{
    pair *pr = udata;
    proxyd *p = pr->p;

    pr->up = NULL;
    if (pr->linked || !pr->client) {
        pair_free_if_done(pr); /* the relay closes the client */
        return;
    }
    /* The connect failed: the next upstream, or give up. */
    if (reason != SB_EABORTED)
        mark_down(p, pr->ups_idx, reason);
    if (connect_next(pr, &reason) < 0)
        give_up(pr, reason);
}

static const sb_handler up_handler = {.on_open = up_open, .on_close = up_close};

/* -------------------------------------------------------------- clients */

static void client_open(sb_conn *c, void *udata)
{
    proxyd *p = udata;
    pair *pr = calloc(1, sizeof(*pr));
    int last = -EHOSTUNREACH;

    sbd_conn_opened(&p->sbd);
    if (!pr) {
        sb_abort(c);
        return;
    }
    pr->p = p;
    pr->client = c;
    sb_conn_set_udata(c, pr);
    sb_conn_pause(c); /* its bytes wait in the kernel until the upstream is open */
    if (connect_next(pr, &last) < 0)
        give_up(pr, last);
}

static void client_close(sb_conn *c, int reason, void *udata)
{
    pair *pr = sb_conn_udata(c);
    proxyd *p = sbd_server(c);

    if (pr && pr != (void *)p) {
        pr->client = NULL;
        if (pr->up && !pr->linked)
            sb_abort(pr->up); /* still connecting: give up on it */
        if (reason && reason != SB_EABORTED)
            log_peer(p, SB_LOG_INFO, c, "%s: %s", "closed", reason);
        pair_free_if_done(pr);
    }
    sbd_conn_closed(&p->sbd, c);
}

/* SIGTERM: the listeners are closed; transfers in progress go on until
 * they end or the grace period resets them. */
static void proxy_stop(sbd *d)
{
    (void)d;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-proxyd --upstream ADDR [options]\n"
            "Relay every client to an upstream server (TCP reverse proxy).\n\n"
            "  -l, --listen ADDR        listen on ADDR (repeatable; default 127.0.0.1:7780)\n"
            "                           ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -u, --upstream ADDR      relay to ADDR (repeatable, at most 16; round-robin,\n"
            "                           one that fails is skipped for 1 s, doubling to 30 s)\n"
            "  -T, --connect-timeout MS give up on an upstream connect after MS (default\n"
            "                           3000; 0 = the kernel's limit)\n"
            "  -b, --max-buffer BYTES   bytes queued per direction before the sender\n"
            "                           pauses (default 262144)\n"
            "  -c, --max-conns N        at most N clients at once (default 10000;\n"
            "                           0 = no limit)\n"
            "  -t, --idle-timeout SECS  close connections idle this long (0 = never;\n"
            "                           default 300)\n"
            "      --tls-cert FILE      terminate TLS from clients (the upstream stays\n"
            "                           plain): the certificate chain (PEM, leaf first)\n"
            "      --tls-key FILE       and its private key (needs make TLS=1)\n"
            "                           (repeat both: the first pair is the default,\n"
            "                            others are chosen by SNI)\n"
            "  -U, --user NAME          drop root privileges to NAME after binding\n"
            "  -L, --log-level LEVEL    error, warn, info or debug (default warn)\n"
            "  -G, --grace SECS         on SIGTERM/SIGINT, let transfers run this long,\n"
            "                           then reset them (default 5)\n"
            "      --backend NAME       how to wait for readiness: select (default),\n"
            "                           poll or epoll\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"upstream", required_argument, NULL, 'u'},
        {"connect-timeout", required_argument, NULL, 'T'},
        {"max-buffer", required_argument, NULL, 'b'},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        SBD_LONG_OPTIONS,
    };
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    proxyd p;
    sbd_tls tls;
    int opt, rc;

    memset(&p, 0, sizeof(p));
    memset(&lo, 0, sizeof(lo));
    memset(&tls, 0, sizeof(tls));
    sbd_init(&p.sbd, "sb-proxyd", DEFAULT_MAX_CONNS, DEFAULT_IDLE_S);
    p.connect_ms = DEFAULT_CONNECT_MS;
    p.max_buffer = DEFAULT_MAX_BUFFER;
    while ((opt = getopt_long(argc, argv, ":u:T:b:" SBD_SHORT_OPTIONS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'u': {
            sb_addr a;
            if (p.nups == MAX_UPSTREAMS) {
                fprintf(stderr, "sb-proxyd: at most %d --upstream addresses\n", MAX_UPSTREAMS);
                return 2;
            }
            if ((rc = sb_addr_resolve(&a, optarg)) != 0) {
                fprintf(stderr, "sb-proxyd: invalid --upstream '%s': %s\n", optarg,
                        sb_strerror(rc));
                return 2;
            }
            p.ups[p.nups++].addr = optarg;
            break;
        }
        case 'T':
            if (sbd_parse_uint(&p.sbd, "--connect-timeout", optarg, 0, 3600000, &v))
                return 2;
            p.connect_ms = (unsigned)v;
            break;
        case 'b':
            if (sbd_parse_size(&p.sbd, "--max-buffer", optarg, 1024, SIZE_MAX / 4, &v))
                return 2;
            p.max_buffer = (size_t)v;
            break;
        case OPT_TLS_CERT:
            if (sbd_tls_opt_cert("sb-proxyd", &tls, optarg))
                return 2;
            break;
        case OPT_TLS_KEY:
            if (sbd_tls_opt_key("sb-proxyd", &tls, optarg))
                return 2;
            break;
        default:
            if ((rc = sbd_option(&p.sbd, opt, optarg, argv, usage)) != SBD_OPT_NEXT)
                return rc;
        }
    }
    if (sbd_no_operands(&p.sbd, argc, argv) || sbd_tls_check("sb-proxyd", &tls))
        return 2;
    if (p.nups == 0) {
        fprintf(stderr, "sb-proxyd: no --upstream given\n");
        return 2;
    }
    lo.max_conns = p.sbd.max_conns;
    lo.conn.idle_timeout_ms = p.sbd.idle_ms;

    memset(&h, 0, sizeof(h));
    h.on_open = client_open;
    h.on_close = client_close;
    p.sbd.on_stop = proxy_stop;
    p.sbd.app = &p;
    /* Two descriptors per client: its own and its upstream's. */
    p.sbd.fds_per_conn = 2;
    rc = sbd_open(&p.sbd, lo.max_conns);
    if (rc == 0)
        rc = sbd_listen(&p.sbd, "127.0.0.1:7780", &h, &p, &lo);
    if (rc == 0)
        rc = sbd_tls_listen(&p.sbd, &tls, NULL);
    if (rc == 0)
        rc = sbd_start(&p.sbd, NULL);
    if (rc == 0)
        rc = sbd_run(&p.sbd);
    if (p.sbd.log_level >= SB_LOG_INFO)
        fprintf(stderr, "sb-proxyd: %lu relayed, %lu refused\n", p.relayed, p.refused);
    sbd_cleanup(&p.sbd);
    sbd_tls_free(&tls);
    return rc;
}
