/*
 * sb-kvd — an in-memory key-value server speaking RESP2, the Redis
 * protocol, on switchboard.  Built only on the public API, in modules:
 *
 *   keyspace.c  the keyspace: a chained hash table with incremental
 *               rehashing (two tables; a few buckets move per operation and
 *               per timer tick, so a growing table never stalls the loop),
 *               TTLs kept in an index that the periodic timer samples
 *               (Redis' "active expire");
 *   resp.c      replies, each one built in a stack buffer and queued with
 *               one sb_write() (the library sends everything a read
 *               produced in one send()), and the RESP parser, a worked
 *               example of switching framers inside on_data: a "*N" line
 *               (delimiter framer), then per argument a "$len" line (same
 *               framer) and a fixed-length body (fixed framer, len + 2
 *               bytes for the trailing CRLF).  A line not starting with '*'
 *               is an inline command (telnet, redis-benchmark's PING_INLINE);
 *   commands.c  the commands and their table, lazy expiry on access;
 *   main.c      this file: the connection handler, the timer, and the
 *               daemon: options, signals, start-up and shutdown.
 *   kvd.h       the types they share: the server, a client, an argument.
 *
 * Values are strings; integers are parsed when INCR & co. need them.
 * SIGTERM / SIGINT: stop accepting, flush every client, exit 0.
 * SIGUSR1: print the reactor's counters on stderr.
 */
#include "daemon.h"
#include "tlsopt.h"
#include "switchboard.h"

#include "kvd.h"
#include "resp.h"

#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1:6380"
enum { OPT_TLS_CERT = 0x300, OPT_TLS_KEY };
#define CRON_MS 100                      /* active expiry, rehashing, shrinking */
#define CRON_BUDGET_NS 1000000           /* work per tick: about 1 ms */
#define EXPIRE_SAMPLE 20                 /* TTL keys looked at per expiry round */
#define MAX_INLINE (64 * 1024)           /* longest inline command / header line */
#define DEFAULT_MAX_BULK (16ull << 20)   /* longest bulk string (Redis: 512 MiB) */
#define LIMIT_MAX_BULK (512ull << 20)
#define DEFAULT_MAX_QUERY (32ull << 20)  /* one command's arguments, buffered (Redis: 1 GiB) */
#define DEFAULT_MAX_OUTPUT (64ull << 20) /* replies queued for one client (Redis: no limit) */
#define MIN_MAX_OUTPUT (64ull << 10)     /* a nonzero --max-output: at least this, */
#define OUTPUT_ROOM 64                   /* and --max-bulk + this (a reply's header) */
#define TRIM_SLACK (4u << 20)            /* memory beyond the keyspace's worth a trim */
#define TRIM_EVERY_MS 1000               /* at most one trim a second, */
#define TRIM_SHARE 100                   /* and at most 1/100 of the time */
#define DEFAULT_MAX_CONNS 10000          /* as Redis' maxclients */
#define DEFAULT_IDLE_S 300               /* --idle-timeout (Redis: 0, never) */

/* =============================================================== server */


static uint64_t next_rand(kvd *s)
{
    uint64_t x = s->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

/* ========================================================== connections */

/* Each call is one message, cut by the framer the state asked for. */
static void kv_data(sb_conn *c, const char *d, size_t n, void *udata)
{
    client *cl = udata;

    (void)c;
    if (cl->state == ST_BODY) {
        got_body(cl, d);
        return;
    }
    if (n && d[n - 1] == '\r')
        n--; /* lines end in CRLF, or LF alone as Redis allows */
    if (cl->state == ST_HEADER)
        got_header(cl, d, n);
    else
        got_line(cl, d, n);
}

/* A line longer than 64 KiB: answered like Redis, then the close. */
static int kv_frame_error(sb_conn *c, int err, void *udata)
{
    client *cl = udata;

    (void)err;
    if ((void *)cl != (void *)sbd_server(c)) { /* else turned away in kv_open */
        reply_error(cl, "ERR Protocol error: %s",
                    cl->state == ST_HEADER ? "too big bulk count string"
                                           : "too big inline request");
        free_args(cl); /* now, not after the linger of the close */
    }
    return 0;
}

static void kv_open(sb_conn *c, void *udata)
{
    kvd *s = udata;
    client *cl;

    sbd_conn_opened(&s->sbd);
    if (s->nclients >= s->max_conns && s->max_conns) {
        static const char full[] = "-ERR max number of clients reached\r\n";
        s->rejected++;
        sb_write(c, full, sizeof(full) - 1);
        sb_close(c);
        return;
    }
    if (!(cl = calloc(1, sizeof(*cl)))) {
        sb_abort(c);
        return;
    }
    cl->srv = s;
    cl->conn = c;
    cl->id = ++s->next_id;
    cl->authed = !s->requirepass;
    cl->created = cl->last_io = now_ms(s);
    cl->next = s->clients;
    if (s->clients)
        s->clients->prev = cl;
    s->clients = cl;
    s->nclients++;
    sb_conn_set_udata(c, cl);
    sb_conn_set_framer(c, &s->line);
}

/* Take a client out of the server's list. */
static void unlist(client *cl)
{
    kvd *s = cl->srv;

    if (cl->prev)
        cl->prev->next = cl->next;
    else
        s->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    cl->prev = cl->next = NULL;
}

void kvd_kill_client(client *cl)
{
    if (cl->killed)
        return;
    cl->killed = 1;
    unlist(cl);
    sb_close(cl->conn); /* the replies already due are flushed, then FIN */
    free_args(cl);
}

static void kv_close(sb_conn *c, int reason, void *udata)
{
    client *cl = udata;
    kvd *s = sbd_server(c);

    (void)reason;
    if ((void *)cl != (void *)s) {
        if (!cl->killed)
            unlist(cl);
        free_args(cl);
        free(cl->name);
        free(cl);
        s->nclients--;
        s->shrunk = 1; /* the cron may give memory back */
    }
    sbd_conn_closed(&s->sbd, c);
}

/* =============================================================== timers */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The resident set, from /proc/self/statm; 0 when it cannot be read. */
static size_t rss_bytes(void)
{
    unsigned long size, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Memory back to the system while clients stay connected.  The buffers of
 * a burst of big requests (arguments here, input and output buffers in the
 * library) are freed when their clients go, but glibc returns only the top
 * of its heap by itself: the rest stays as free holes below blocks still in
 * use (the daemon module trims once the last client is gone, which on a
 * server with a connection pool never happens).  So, after a client left or
 * gave back a big argument buffer, when the process holds TRIM_SLACK more
 * than the keyspace accounts for, malloc_trim(0) returns those pages.  It
 * walks the whole heap (a few ms for a small one; tens of ms for millions
 * of free chunks), so it is rationed: at most once a second, and never more
 * than 1% of the time.  (A fixed M_MMAP_THRESHOLD would return big blocks
 * at once, but made SETs of 100 KB values half as fast: every request then
 * maps and faults in fresh pages.)
 */
static void give_back(kvd *s, int64_t now)
{
#ifdef __GLIBC__
    size_t rss, keep;
    uint64_t t0, ms;

    if (!s->shrunk || now < s->trim_after)
        return;
    s->shrunk = 0;
    rss = rss_bytes();
    keep = s->db.mem + s->db.mem / 4 + TRIM_SLACK + s->nclients * 4096;
    if (rss <= keep)
        return;
    t0 = mono_ns();
    malloc_trim(0);
    ms = (mono_ns() - t0) / 1000000;
    if (s->sbd.log_level >= SB_LOG_DEBUG)
        fprintf(stderr, "sb-kvd: malloc_trim: resident %zu -> %zu KiB in %llu ms\n", rss >> 10,
                rss_bytes() >> 10, (unsigned long long)ms);
    s->trim_after = now + (int64_t)(ms * TRIM_SHARE > TRIM_EVERY_MS ? ms * TRIM_SHARE
                                                                     : TRIM_EVERY_MS);
#else
    (void)s;
    (void)now;
#endif
}

/*
 * Every 100 ms: active expiry (sample 20 keys with a TTL, delete the
 * expired ones, go again while more than a quarter of a sample had
 * expired), then move rehash buckets, or start shrinking a table that is
 * less than 10% full.  About 1 ms of work at most.
 */
static void cron(sb_timer *t, void *udata)
{
    kvd *s = udata;
    db *d = &s->db;
    uint64_t deadline = mono_ns() + CRON_BUDGET_NS;
    int64_t now = now_ms(s), srv_now = srv_ms(s);

    (void)t;
    while (d->nvol) {
        size_t n = d->nvol < EXPIRE_SAMPLE ? d->nvol : EXPIRE_SAMPLE, i, gone = 0;
        for (i = 0; i < n && d->nvol; i++) {
            entry *e = d->vol[next_rand(s) % d->nvol];
            if (e->expire_at <= srv_now) {
                db_delete_entry(d, e);
                s->expired++;
                gone++;
            }
        }
        if (gone * 4 <= n || mono_ns() > deadline)
            break;
    }
    while (rehash_step(d, 100) && mono_ns() < deadline)
        ;
    if (!rehashing(d) && d->t[0].size > TABLE_MIN && db_count(d) * 10 < d->t[0].size) {
        size_t size = TABLE_MIN;
        while (size < db_count(d))
            size *= 2;
        start_rehash(d, size);
    }
    give_back(s, now);
}

/* First SIGTERM/SIGINT: the cron goes, every client is flushed and closed. */
static void kv_stop(sbd *d)
{
    kvd *s = d->app;

    sb_timer_free(s->cron);
    s->cron = NULL;
    sb_loop_close_all(d->loop);
}

/* ================================================================ daemon */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-kvd [options]\n"
            "An in-memory key-value server speaking the Redis protocol (RESP2).\n\n"
            "  -l, --listen ADDR         listen on ADDR (repeatable; default " DEFAULT_ADDR ")\n"
            "                            ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -c, --max-conns N         at most N clients (default 10000; 0 = no limit)\n"
            "  -t, --idle-timeout SECS   close clients idle this long (0 = never;\n"
            "                            default 300)\n"
            "  -m, --max-memory BYTES    refuse writes once keys and values use more\n"
            "                            (suffix k, m or g: KiB, MiB, GiB; 0 = no limit)\n"
            "  -B, --max-bulk BYTES      longest string argument (default 16m, at most 512m;\n"
            "                            suffix k, m or g)\n"
            "  -Q, --max-query BYTES     most bytes one command may buffer (default 32m;\n"
            "                            at least 1024 and --max-bulk + 2; suffix k, m, g)\n"
            "  -O, --max-output BYTES    reset a client that has more than BYTES of replies\n"
            "                            waiting (default 64m; 0 = no limit; at least 64k\n"
            "                            and --max-bulk + 64; suffix k, m or g)\n"            "  -a, --requirepass PASS    clients must AUTH with PASS first (the argument\n"
            "                            is blanked in the process's command line)\n"
            "      --tls-cert FILE       speak TLS (as redis-server's tls-port): the\n"
            "                            certificate chain (PEM, leaf first)\n"
            "      --tls-key FILE        and its private key (needs make TLS=1)\n"
            "                            (repeat both: the first pair is the default,\n"
            "                             others are chosen by SNI)\n"
            "  -U, --user NAME           drop root privileges to NAME after binding\n"
            "  -L, --log-level LEVEL     error, warn, info or debug (default warn)\n"
            "  -G, --grace SECS          on SIGTERM/SIGINT, wait this long for clients\n"
            "                            to finish, then reset them (default 5)\n"
            "      --backend NAME        how to wait for readiness: select (default),\n"
            "                            poll or epoll\n"
            "  -h, --help                show this help\n"
            "  -V, --version             show the version\n");
}

/* --requirepass's copy (static: a usage error that returns early leaves it
 * reachable, not lost). */
static char *password;

static void cleanup(kvd *s)
{
    sb_timer_free(s->cron);
    s->cron = NULL;
    sbd_cleanup(&s->sbd);
    db_clear(&s->db, 0);
    free(password);
    password = NULL;
    s->requirepass = NULL;
}

/* The difference between the wall clock and the loop's, in ms (srv_ms). */
static int64_t clock_offset(sb_loop *loop)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)sb_loop_now(loop);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"max-memory", required_argument, NULL, 'm'},
        {"max-bulk", required_argument, NULL, 'B'},
        {"max-query", required_argument, NULL, 'Q'},
        {"max-output", required_argument, NULL, 'O'},
        {"requirepass", required_argument, NULL, 'a'},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        SBD_LONG_OPTIONS,
    };
    int opt, rc, i;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    static sbd_tls tls;
    kvd s;

    memset(&s, 0, sizeof(s));
    memset(&lo, 0, sizeof(lo));
    sbd_init(&s.sbd, "sb-kvd", DEFAULT_MAX_CONNS, DEFAULT_IDLE_S);
    s.max_bulk = DEFAULT_MAX_BULK;
    s.max_query = DEFAULT_MAX_QUERY;
    s.max_output = DEFAULT_MAX_OUTPUT;
    while ((opt = getopt_long(argc, argv, ":m:B:Q:O:a:" SBD_SHORT_OPTIONS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (sbd_parse_size(&s.sbd, "--max-memory", optarg, 0, ULLONG_MAX, &s.max_memory))
                return 2;
            break;
        case 'B':
            if (sbd_parse_size(&s.sbd, "--max-bulk", optarg, 1, LIMIT_MAX_BULK, &v))
                return 2;
            s.max_bulk = (size_t)v;
            break;
        case 'Q':
            if (sbd_parse_size(&s.sbd, "--max-query", optarg, 1024, SIZE_MAX / 4, &v))
                return 2;
            s.max_query = (size_t)v;
            break;
        case 'O':
            if (sbd_parse_size(&s.sbd, "--max-output", optarg, 0, SIZE_MAX / 4, &v))
                return 2;
            if (v && v < MIN_MAX_OUTPUT) {
                fprintf(stderr, "sb-kvd: --max-output (%llu) must be 0 or at least %llu\n", v,
                        MIN_MAX_OUTPUT);
                return 2;
            }
            s.max_output = (size_t)v;
            break;
        case 'a':
            free(password);
            if (!(s.requirepass = password = strdup(optarg))) {
                fprintf(stderr, "sb-kvd: --requirepass: out of memory\n");
                return 1;
            }
            s.passlen = strlen(optarg);
            memset(optarg, 'x', s.passlen); /* out of ps and /proc/PID/cmdline */
            break;
        case OPT_TLS_CERT:
            if (sbd_tls_opt_cert("sb-kvd", &tls, optarg))
                return 2;
            break;
        case OPT_TLS_KEY:
            if (sbd_tls_opt_key("sb-kvd", &tls, optarg))
                return 2;
            break;
        default:
            if ((rc = sbd_option(&s.sbd, opt, optarg, argv, usage)) != SBD_OPT_NEXT)
                return rc;
        }
    }
    if (sbd_no_operands(&s.sbd, argc, argv) || sbd_tls_check("sb-kvd", &tls))
        return 2;
    /* sb-kvd enforces --max-conns itself, answering like Redis. */
    s.max_conns = s.sbd.max_conns;
    s.idle_s = s.sbd.idle_ms / 1000u;
    lo.conn.idle_timeout_ms = s.sbd.idle_ms;
    if (s.max_query < s.max_bulk + 2) {
        fprintf(stderr, "sb-kvd: --max-query (%zu) must be at least --max-bulk + 2 (%zu)\n",
                s.max_query, s.max_bulk + 2);
        return 2;
    }
    if (s.max_output && s.max_output < s.max_bulk + OUTPUT_ROOM) {
        fprintf(stderr, "sb-kvd: --max-output (%zu) must be 0 or at least --max-bulk + %d (%zu)\n",
                s.max_output, OUTPUT_ROOM, s.max_bulk + OUTPUT_ROOM);
        return 2;
    }
    /* The library's hard cap: past it sb_write fails with SB_EBUFFULL and
     * the client is reset (resp.c). */
    lo.conn.max_output = s.max_output;
    s.rng = mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    s.rng |= 1;
    s.db.seed = next_rand(&s);
    for (i = 0; i < 40; i++)
        s.run_id[i] = "0123456789abcdef"[next_rand(&s) & 15];
    sb_framer_delim(&s.line, "\n", 1, MAX_INLINE, 0);
    s.sbd.on_stop = kv_stop;
    s.sbd.app = &s;
    memset(&h, 0, sizeof(h));
    h.on_open = kv_open;
    h.on_data = kv_data;
    h.on_close = kv_close;
    h.on_frame_error = kv_frame_error;
    rc = sbd_open(&s.sbd, s.max_conns);
    if (rc == 0 && table_alloc(&s.db, &s.db.t[0], TABLE_MIN)) {
        fprintf(stderr, "sb-kvd: cannot allocate the keyspace: out of memory\n");
        rc = 1;
    }
    if (rc == 0) {
        s.loop = s.sbd.loop;
        s.started = sb_loop_now(s.loop);
        s.clock_off = clock_offset(s.loop);
        rc = sbd_listen(&s.sbd, DEFAULT_ADDR, &h, &s, &lo);
        if (rc == 0)
            rc = sbd_tls_listen(&s.sbd, &tls, NULL);
    }
    if (rc == 0) {
        s.port = sb_listener_port(s.sbd.listeners[0]);
        s.cron = sb_timer_new(s.loop, cron, &s);
        if (!s.cron || sb_timer_start(s.cron, CRON_MS, CRON_MS)) {
            fprintf(stderr, "sb-kvd: cannot start the cron timer: out of memory\n");
            rc = 1;
        }
    }
    if (rc == 0)
        rc = sbd_start(&s.sbd, NULL);
    if (rc == 0)
        rc = sbd_run(&s.sbd);
    cleanup(&s);
    sbd_tls_free(&tls);
    return rc;
}
