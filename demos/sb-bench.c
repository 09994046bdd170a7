/*
 * sb-bench — a load generator for echo servers, built on switchboard's own
 * client side (sb_connect and a handler), used by `make bench`.
 *
 * Modes:
 *   pingpong  N connections, one message in flight on each
 *   pipeline  N connections, DEPTH messages in flight on each
 *   pump      N connections streaming SIZE-byte writes as fast as the echo
 *             comes back (DEPTH writes in flight): echoed MB/s
 *   verify    pseudo-random data of random lengths, every echoed byte
 *             checked; mismatches and losses counted (exit 1 on any)
 *   idle      open the connections, one round trip on each, then hold them
 *
 * --idle M opens M more connections beside the active ones; each makes one
 * 64-byte round trip when it opens and then stays silent (and unwatched
 * here, so they cost the server, not this client).  The run is: connect
 * everything (at most 256 connects in flight), warm up, measure for
 * --duration seconds, then close.  A progress line goes to stderr each
 * second; one "key=value ..." result line goes to stdout at the end.
 * Latency is measured per message, from the sb_write() that queued it to
 * the callback that received its last byte, into a log-linear histogram
 * (32 linear steps per power of two: within ~3%) with no allocation per
 * sample.
 *
 * Exit status: 0 when the run completed without error, 1 on a network
 * failure, a mismatch or a loss, 2 on bad arguments.
 */
#include "switchboard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 10000
#define MAX_IDLE 20000
#define MAX_SIZE (16u << 20)
#define MAX_DEPTH 4096
#define MAX_SECONDS 3600.0
#define CONNECT_WINDOW 256       /* connects in flight at once */
#define SETUP_TIMEOUT_MS 60000   /* every connection open and ready by then */
#define DRAIN_TIMEOUT_MS 5000    /* verify: wait this long for the last echoes */
#define CLOSE_TIMEOUT_MS 3000    /* graceful close, then reset what is left */
#define HELLO_LEN 64             /* the idle connections' one round trip */

enum { MODE_PINGPONG, MODE_PIPELINE, MODE_PUMP, MODE_VERIFY, MODE_IDLE };
static const char *const mode_names[] = {"pingpong", "pipeline", "pump", "verify", "idle"};

enum { PHASE_SETUP, PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN, PHASE_CLOSE };

/* ------------------------------------------------------------ histogram */

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2u * HIST_SUB) /* values below are counted exactly */
#define HIST_BUCKETS (HIST_LINEAR + (64u - HIST_SUB_BITS - 1u) * HIST_SUB)

typedef struct hist {
    uint64_t n, sum, max;
    uint64_t b[HIST_BUCKETS];
} hist;

static unsigned hist_index(uint64_t v)
{
    unsigned shift;

    if (v < HIST_LINEAR)
        return (unsigned)v;
    shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
    return HIST_LINEAR + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i's range of values. */
static double hist_value(unsigned i)
{
    unsigned shift;
    uint64_t low;

    if (i < HIST_LINEAR)
        return (double)i;
    shift = (i - HIST_LINEAR) / HIST_SUB + 1;
    low = (uint64_t)((i - HIST_LINEAR) % HIST_SUB + HIST_SUB) << shift;
    return (double)low + (double)(1ull << shift) / 2.0;
}

static void hist_add(hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

/* The q-quantile (0 < q <= 1), or 0 for an empty histogram. */
static double hist_quantile(const hist *h, double q)
{
    uint64_t want, seen = 0;
    unsigned i;

    if (!h->n)
        return 0;
    want = (uint64_t)(q * (double)h->n);
    if ((double)want < q * (double)h->n)
        want++; /* the rank is q * n rounded up */
    if (want < 1)
        want = 1;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ------------------------------------------------- pseudo-random bytes */

/* xorshift64*: one stream per connection and direction for verify mode. */
typedef struct rng {
    uint64_t s, word;
    unsigned left;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

static void rng_seed(rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (!r->s)
        r->s = 1;
    r->left = 0;
}

static unsigned char rng_byte(rng *r)
{
    unsigned char v;

    if (!r->left) {
        r->word = rng_next(r);
        r->left = 8;
    }
    v = (unsigned char)r->word;
    r->word >>= 8;
    r->left--;
    return v;
}

/* --------------------------------------------------------------- state */

typedef struct inflight {
    uint64_t end; /* the stream offset just past the message */
    uint64_t t;   /* when it was queued, ns */
} inflight;

struct bench;

typedef struct bconn {
    struct bench *b;
    sb_conn *c;
    int active;      /* carries load; else an idle connection */
    int opened, closed, drained;
    uint64_t tx, rx; /* bytes queued / echoed */
    inflight *ring;  /* messages in flight, oldest at head */
    unsigned head, count;
    rng tx_rng, rx_rng, len_rng;
} bconn;

typedef struct bench {
    /* options */
    int mode;
    const char *target;
    unsigned conns, idle, depth;
    size_t size;
    double duration, warmup;
    int quiet;
    long server_pid;   /* --server-pid: its CPU time and RSS are reported */
    /* run */
    sb_loop *loop;
    sb_timer *progress, *phase_timer;
    bconn *k;          /* idle connections first, then the active ones */
    unsigned total;    /* conns + idle */
    unsigned started, opened, ready, open_now, drained;
    int phase;
    int status;        /* exit status */
    char first_error[512];
    char *payload, *scratch;
    size_t slots;      /* payload copies (pump: one per write in flight) */
    sb_connect_opts copts;
    /* counters: all traffic, and what the measured window saw */
    uint64_t all_msgs, all_bytes, last_msgs, last_bytes;
    uint64_t msgs, bytes, mismatches, unexpected_closes, connect_failed;
    uint64_t t_start, t_end, t_phase, t_last_progress;
    hist lat;
    /* the server's CPU time (s) at the measured window's ends; RSS (KiB)
     * before any connection, at the end of the window, and its peak */
    double srv_usr0, srv_sys0, srv_usr1, srv_sys1;
    long srv_rss0, srv_rss1, srv_hwm;
} bench;

/*
 * The server's user and system CPU seconds from /proc/PID/stat (fields 14
 * and 15, in clock ticks).  Returns 0, or -1 when it cannot be read.
 */
static int server_cpu(long pid, double *usr, double *sys)
{
    char path[64], line[1024], *p;
    unsigned long long ut, st;
    FILE *f;
    int i, ok = 0;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) != NULL) {
        /* After the command name: field 3 (state) onwards. */
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

/* A "Name:  N kB" line of /proc/PID/status, in KiB, or -1. */
static long server_status_kb(long pid, const char *name)
{
    char path[64], line[256];
    size_t n = strlen(name);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void error_once(bench *b, const char *what, int err)
{
    b->status = 1;
    if (!b->first_error[0])
        snprintf(b->first_error, sizeof(b->first_error), "%s: %s", what, sb_strerror(err));
}

/* The first failure is the one reported (one stderr line at the end). */
static void fail_msg(bench *b, const char *msg)
{
    b->status = 1;
    if (!b->first_error[0])
        snprintf(b->first_error, sizeof(b->first_error), "%s", msg);
}

/* The most payload memory pump mode's zero-copy slots may take. */
#define PUMP_SLOTS_MAX (64u << 20)

static void finish(bench *b);
static void start_connects(bench *b);
static void all_ready(bench *b);

/* Queue the connection's next message and remember when. */
static void send_msg(bconn *k, uint64_t t)
{
    bench *b = k->b;
    const char *data = b->payload;
    size_t len = b->size, i;
    int rc;

    if (b->mode == MODE_VERIFY) {
        len = 1 + (size_t)(rng_next(&k->len_rng) % b->size);
        for (i = 0; i < len; i++)
            b->scratch[i] = (char)rng_byte(&k->tx_rng);
        data = b->scratch;
    }
    if (b->slots > 1) {
        /* The slot of this write in the ring: adjacent to the previous one. */
        data = b->payload + (size_t)((k->head + k->count) % b->depth) * len;
        rc = sb_write_ref(k->c, data, len, NULL, NULL);
    } else {
        rc = sb_write(k->c, data, len);
    }
    if (rc) {
        error_once(b, "sb_write", rc);
        sb_abort(k->c);
        return;
    }
    k->tx += len;
    k->ring[(k->head + k->count) % b->depth] = (inflight){k->tx, t};
    k->count++;
}

/* Fill the connection's pipeline. */
static void start_traffic(bconn *k, uint64_t t)
{
    while (k->count < k->b->depth && !k->closed && k->b->phase <= PHASE_MEASURE)
        send_msg(k, t);
}

static void check_drained(bench *b, bconn *k)
{
    if (b->phase != PHASE_DRAIN || k->drained || !k->active || (k->rx < k->tx && !k->closed))
        return;
    k->drained = 1;
    if (++b->drained == b->conns)
        finish(b);
}

/* ------------------------------------------------------------ handler */

static void on_open(sb_conn *c, void *udata)
{
    bconn *k = udata;
    bench *b = k->b;
    static const char hello[HELLO_LEN];
    int rc;

    k->opened = 1;
    b->opened++;
    b->open_now++;
    start_connects(b);
    if (k->active) {
        /* Traffic starts once every connection is ready. */
        if (++b->ready == b->total)
            all_ready(b);
        return;
    }
    rc = sb_write(c, hello, sizeof(hello));
    if (rc) {
        error_once(b, "sb_write", rc);
        sb_abort(c);
        return;
    }
    k->tx = sizeof(hello);
}

static void on_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    bconn *k = udata;
    bench *b = k->b;
    uint64_t t;
    size_t i;

    if (k->rx + len > k->tx) {
        /* More came back than was sent: the server is not echoing. */
        char msg[128];
        snprintf(msg, sizeof(msg), "the server sent %" PRIu64 " bytes more than it was sent",
                 k->rx + len - k->tx);
        b->mismatches += k->rx + len - k->tx;
        fail_msg(b, msg);
        sb_abort(c);
        return;
    }
    k->rx += len;
    if (!k->active) {
        if (k->rx == k->tx) {
            sb_conn_pause(c); /* idle from now on: not even watched here */
            if (++b->ready == b->total)
                all_ready(b);
        }
        return;
    }
    if (b->mode == MODE_VERIFY)
        for (i = 0; i < len; i++)
            if ((unsigned char)data[i] != rng_byte(&k->rx_rng))
                b->mismatches++;
    t = now_ns();
    b->all_bytes += len;
    if (b->phase == PHASE_MEASURE)
        b->bytes += len;
    while (k->count && k->ring[k->head].end <= k->rx) {
        if (b->phase == PHASE_MEASURE) {
            hist_add(&b->lat, t - k->ring[k->head].t);
            b->msgs++;
        }
        b->all_msgs++;
        k->head = (k->head + 1) % b->depth;
        k->count--;
        if (b->phase <= PHASE_MEASURE)
            send_msg(k, t);
    }
    check_drained(b, k);
}

static void on_close(sb_conn *c, int reason, void *udata)
{
    bconn *k = udata;
    bench *b = k->b;

    (void)c;
    k->closed = 1;
    k->c = NULL;
    if (!k->opened && b->phase == PHASE_CLOSE) {
        if (b->open_now == 0)
            sb_loop_stop(b->loop);
        return;
    }
    if (!k->opened) {
        char what[300];
        b->connect_failed++;
        snprintf(what, sizeof(what), "cannot connect to %s", b->target);
        error_once(b, what, reason ? reason : -ECONNREFUSED);
        if (b->phase == PHASE_SETUP)
            finish(b);
        else
            start_connects(b);
        return;
    }
    b->open_now--;
    if (b->phase < PHASE_CLOSE) {
        b->unexpected_closes++;
        error_once(b, "the server closed a connection", reason ? reason : SB_ECLOSED);
        if (b->phase == PHASE_SETUP) {
            finish(b);
            return;
        }
        check_drained(b, k);
    }
    if (b->phase == PHASE_CLOSE && b->open_now == 0)
        sb_loop_stop(b->loop);
}

static const sb_handler handler = {
    .on_open = on_open,
    .on_data = on_data,
    .on_close = on_close,
};

/* Keep up to CONNECT_WINDOW connects in flight until all are started. */
static void start_connects(bench *b)
{
    while (b->phase == PHASE_SETUP && b->started < b->total &&
           b->started - b->opened - b->connect_failed < CONNECT_WINDOW) {
        bconn *k = &b->k[b->started++];
        int err = 0;

        k->c = sb_connect(b->loop, b->target, &handler, k, &b->copts, &err);
        if (!k->c) {
            char what[300];
            snprintf(what, sizeof(what), "cannot connect to %s", b->target);
            error_once(b, what, err);
            b->connect_failed++;
            k->closed = 1;
            finish(b);
            return;
        }
    }
}

/* -------------------------------------------------------------- phases */

static void phase_cb(sb_timer *t, void *udata);

static void enter(bench *b, int phase, double seconds)
{
    b->phase = phase;
    b->t_phase = now_ns();
    if (seconds > 0)
        sb_timer_start(b->phase_timer, (uint64_t)(seconds * 1000.0 + 0.5), 0);
    else
        phase_cb(b->phase_timer, b);
}

static void server_sample_start(bench *b)
{
    if (b->server_pid)
        server_cpu(b->server_pid, &b->srv_usr0, &b->srv_sys0);
}

/* The end of the measured window: the server's CPU time and memory now. */
static void end_measure(bench *b)
{
    b->t_end = now_ns();
    if (!b->server_pid)
        return;
    server_cpu(b->server_pid, &b->srv_usr1, &b->srv_sys1);
    b->srv_rss1 = server_status_kb(b->server_pid, "VmRSS");
    b->srv_hwm = server_status_kb(b->server_pid, "VmHWM");
}

static void begin_measure(bench *b)
{
    memset(&b->lat, 0, sizeof(b->lat));
    b->msgs = b->bytes = 0;
    server_sample_start(b);
    b->t_start = now_ns();
    enter(b, PHASE_MEASURE, b->duration);
}

/* Every connection is open and the idle ones have made their round trip. */
static void all_ready(bench *b)
{
    uint64_t t = now_ns();
    unsigned i;

    if (b->phase != PHASE_SETUP)
        return;
    if (b->mode == MODE_IDLE) {
        server_sample_start(b);
        b->t_start = now_ns();
        enter(b, PHASE_MEASURE, b->duration);
        return;
    }
    b->phase = PHASE_WARMUP;
    for (i = b->idle; i < b->total; i++)
        start_traffic(&b->k[i], t);
    if (b->warmup > 0)
        enter(b, PHASE_WARMUP, b->warmup);
    else
        begin_measure(b);
}

static void phase_cb(sb_timer *t, void *udata)
{
    bench *b = udata;

    (void)t;
    switch (b->phase) {
    case PHASE_SETUP: {
        char msg[128];
        snprintf(msg, sizeof(msg), "only %u of %u connections were ready after %d s",
                 b->ready, b->total, SETUP_TIMEOUT_MS / 1000);
        fail_msg(b, msg);
        finish(b);
        break;
    }
    case PHASE_WARMUP:
        begin_measure(b);
        break;
    case PHASE_MEASURE:
        end_measure(b);
        if (b->mode == MODE_VERIFY) {
            unsigned i;
            b->phase = PHASE_DRAIN;
            b->t_phase = b->t_end;
            sb_timer_start(b->phase_timer, DRAIN_TIMEOUT_MS, 0);
            for (i = b->idle; i < b->total; i++)
                check_drained(b, &b->k[i]);
        } else {
            finish(b);
        }
        break;
    case PHASE_DRAIN:
        finish(b);
        break;
    default: {
        /* The graceful close took too long: reset what is left. */
        unsigned i;
        for (i = 0; i < b->total; i++)
            if (b->k[i].c)
                sb_abort(b->k[i].c);
        break;
    }
    }
}

/* Stop the traffic and close every connection: gracefully after verify
 * (whose echoes were all collected), with a reset otherwise. */
static void finish(bench *b)
{
    unsigned i;

    if (b->phase == PHASE_CLOSE)
        return;
    if (!b->t_end)
        b->t_end = now_ns();
    b->phase = PHASE_CLOSE;
    sb_timer_stop(b->progress);
    sb_timer_start(b->phase_timer, CLOSE_TIMEOUT_MS, 0);
    for (i = 0; i < b->total; i++) {
        if (!b->k[i].c)
            continue;
        if (b->mode == MODE_VERIFY && b->k[i].opened)
            sb_close(b->k[i].c);
        else
            sb_abort(b->k[i].c);
    }
    if (b->open_now == 0)
        sb_loop_stop(b->loop);
}

static void progress_cb(sb_timer *t, void *udata)
{
    bench *b = udata;
    uint64_t now = now_ns();
    double dt = (double)(now - b->t_last_progress) / 1e9, el;
    static const char *const names[] = {"connecting", "warmup", "measure", "drain", "close"};

    (void)t;
    if (b->quiet)
        return;
    el = (double)(now - b->t_phase) / 1e9;
    if (b->phase == PHASE_SETUP) {
        fprintf(stderr, "sb-bench: connecting %u/%u open, %u ready\n", b->opened, b->total,
                b->ready);
    } else if (b->mode == MODE_IDLE) {
        fprintf(stderr, "sb-bench: %s %.0fs  %u connections held\n", names[b->phase], el,
                b->open_now);
    } else {
        fprintf(stderr,
                "sb-bench: %s %.0fs  %.0f msg/s  %.2f MB/s  p50 %.1f us  p99 %.1f us  "
                "conns %u+%u idle\n",
                names[b->phase], el, (double)(b->all_msgs - b->last_msgs) / dt,
                (double)(b->all_bytes - b->last_bytes) / dt / 1e6,
                hist_quantile(&b->lat, 0.50) / 1e3, hist_quantile(&b->lat, 0.99) / 1e3,
                b->open_now > b->idle ? b->open_now - b->idle : 0, b->idle);
    }
    b->last_msgs = b->all_msgs;
    b->last_bytes = b->all_bytes;
    b->t_last_progress = now;
}

/* ------------------------------------------------------------ results */

static void print_result(const bench *b)
{
    double secs = b->t_end > b->t_start && b->t_start ? (double)(b->t_end - b->t_start) / 1e9
                                                      : 0;
    uint64_t lost = 0;
    unsigned i;
    struct rusage ru;
    double cpu = 0;

    for (i = b->idle; i < b->total; i++)
        lost += b->k[i].tx - b->k[i].rx;
    if (b->mode != MODE_VERIFY)
        lost = 0; /* in flight when the run stopped: not a loss */
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    char srv[256] = "";

    if (b->server_pid && b->srv_rss1 > 0) {
        double usr = b->srv_usr1 - b->srv_usr0, sys = b->srv_sys1 - b->srv_sys0;
        snprintf(srv, sizeof(srv),
                 " server_usr_s=%.3f server_sys_s=%.3f server_cpu_us_per_req=%.3f"
                 " server_rss0_kb=%ld server_rss_kb=%ld server_hwm_kb=%ld",
                 usr, sys, b->msgs ? (usr + sys) * 1e6 / (double)b->msgs : 0, b->srv_rss0,
                 b->srv_rss1, b->srv_hwm);
    }
    printf("mode=%s target=%s conns=%u idle=%u size=%zu depth=%u seconds=%.3f "
           "requests=%" PRIu64 " rate=%.1f mb_per_s=%.3f "
           "p50_us=%.2f p90_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f mean_us=%.2f "
           "errors=%" PRIu64 " connect_failed=%" PRIu64 " mismatches=%" PRIu64
           " lost=%" PRIu64 " client_cpu_s=%.3f%s status=%s\n",
           mode_names[b->mode], b->target, b->mode == MODE_IDLE ? 0 : b->conns, b->idle,
           b->size, b->depth, secs, b->msgs, secs > 0 ? (double)b->msgs / secs : 0,
           secs > 0 ? (double)b->bytes / secs / 1e6 : 0, hist_quantile(&b->lat, 0.50) / 1e3,
           hist_quantile(&b->lat, 0.90) / 1e3, hist_quantile(&b->lat, 0.99) / 1e3,
           hist_quantile(&b->lat, 0.999) / 1e3, (double)b->lat.max / 1e3,
           b->lat.n ? (double)b->lat.sum / (double)b->lat.n / 1e3 : 0,
           b->unexpected_closes + b->connect_failed, b->connect_failed, b->mismatches, lost,
           cpu, srv, b->status == 0 && !b->mismatches && !lost ? "ok" : "error");
    fflush(stdout);
}

/* ---------------------------------------------------------- arguments */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-bench [options]\n"
            "Load an echo server and measure round trips, throughput and latency.\n\n"
            "  -t, --target ADDR      server address, loopback or unix only\n"
            "                         (127.x.x.x:port, localhost:port, [::1]:port,\n"
            "                         unix:/path; default 127.0.0.1:7777)\n"
            "  -M, --mode MODE        pingpong (default), pipeline, pump, verify, idle\n"
            "  -c, --conns N          connections carrying load, 1..%d (default 1;\n"
            "                         idle mode: connections held)\n"
            "  -i, --idle N           idle connections beside them, 0..%d (default 0)\n"
            "  -s, --size BYTES       message size (pump: write size; verify: longest\n"
            "                         message) 1..%u (default 64; pump 16384;\n"
            "                         verify 4096)\n"
            "  -D, --depth N          messages in flight per connection, 1..%d\n"
            "                         (pipeline default 16, pump 64, verify 8)\n"
            "  -d, --duration SECS    measured time, 0.1..%.0f (default 5)\n"
            "  -w, --warmup SECS      unmeasured traffic before, 0..60 (default 1)\n"
            "  -p, --server-pid PID   report the server's CPU time over the measured\n"
            "                         window and its memory (from /proc/PID)\n"
            "  -q, --quiet            no progress lines\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n\n"
            "Prints a progress line each second on stderr and one result line of\n"
            "key=value pairs on stdout.  Exit status 0, 1 on a failure, a mismatch\n"
            "or a loss, 2 on bad arguments.\n",
            MAX_CONNS, MAX_IDLE, MAX_SIZE, MAX_DEPTH, MAX_SECONDS);
}

static int parse_uint(const char *opt, const char *s, unsigned long lo, unsigned long hi,
                      unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    if (*s < '0' || *s > '9')
        goto bad;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "sb-bench: invalid %s '%s' (want an integer %lu..%lu)\n", opt, s, lo, hi);
    return -1;
}

static int parse_secs(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    if ((*s < '0' || *s > '9') && *s != '.')
        goto bad;
    v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi))
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "sb-bench: invalid %s '%s' (want seconds %g..%g)\n", opt, s, lo, hi);
    return -1;
}

/* Loopback and unix targets only: this tool loads servers on this machine. */
static int loopback_target(const char *t)
{
    char host[128];
    const char *colon;
    size_t n;
    struct in_addr a4;
    struct in6_addr a6;

    if (strncmp(t, "unix:", 5) == 0)
        return t[5] != '\0';
    if (t[0] == '[') {
        const char *close = strchr(t, ']');
        if (!close || close[1] != ':' || (size_t)(close - t - 1) >= sizeof(host))
            return 0;
        n = (size_t)(close - t - 1);
        memcpy(host, t + 1, n);
        host[n] = '\0';
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return 0;
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    colon = strrchr(t, ':');
    if (!colon || (size_t)(colon - t) >= sizeof(host))
        return 0;
    n = (size_t)(colon - t);
    memcpy(host, t, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0)
        return 1;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* Make room for `need` descriptors (raising the hard limit too when allowed). */
static int raise_nofile(rlim_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max < need && rl.rlim_max != RLIM_INFINITY) {
        struct rlimit want = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            return 0;
        fprintf(stderr,
                "sb-bench: need %llu file descriptors, the hard limit is %llu "
                "(raise it with ulimit -Hn, or use fewer connections)\n",
                (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "sb-bench: cannot raise the file descriptor limit to %llu: %s\n",
                (unsigned long long)need, strerror(errno));
        return -1;
    }
    return 0;
}

static int parse_args(bench *b, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'}, {"mode", required_argument, NULL, 'M'},
        {"conns", required_argument, NULL, 'c'},  {"idle", required_argument, NULL, 'i'},
        {"size", required_argument, NULL, 's'},   {"depth", required_argument, NULL, 'D'},
        {"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'w'},
        {"server-pid", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    unsigned long v;
    int opt, i, have_size = 0, have_depth = 0;

    b->target = "127.0.0.1:7777";
    b->conns = 1;
    b->duration = 5;
    b->warmup = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":t:M:c:i:s:D:d:w:p:qhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            b->target = optarg;
            break;
        case 'M':
            for (i = 0; i < 5; i++)
                if (strcmp(optarg, mode_names[i]) == 0)
                    break;
            if (i == 5) {
                fprintf(stderr, "sb-bench: invalid --mode '%s' (want pingpong, pipeline, "
                                "pump, verify or idle)\n",
                        optarg);
                return 2;
            }
            b->mode = i;
            break;
        case 'c':
            if (parse_uint("--conns", optarg, 1, MAX_CONNS, &v))
                return 2;
            b->conns = (unsigned)v;
            break;
        case 'i':
            if (parse_uint("--idle", optarg, 0, MAX_IDLE, &v))
                return 2;
            b->idle = (unsigned)v;
            break;
        case 's':
            if (parse_uint("--size", optarg, 1, MAX_SIZE, &v))
                return 2;
            b->size = v;
            have_size = 1;
            break;
        case 'D':
            if (parse_uint("--depth", optarg, 1, MAX_DEPTH, &v))
                return 2;
            b->depth = (unsigned)v;
            have_depth = 1;
            break;
        case 'd':
            if (parse_secs("--duration", optarg, 0.1, MAX_SECONDS, &b->duration))
                return 2;
            break;
        case 'w':
            if (parse_secs("--warmup", optarg, 0, 60, &b->warmup))
                return 2;
            break;
        case 'p':
            if (parse_uint("--server-pid", optarg, 1, INT_MAX, &v))
                return 2;
            b->server_pid = (long)v;
            break;
        case 'q':
            b->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("sb-bench (switchboard) %s\n", SB_VERSION_STRING);
            return 0;
        case ':':
            fprintf(stderr, "sb-bench: option '%s' needs a value (see --help)\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "sb-bench: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sb-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!loopback_target(b->target)) {
        fprintf(stderr,
                "sb-bench: refusing target '%s': only loopback (127.x.x.x:port, "
                "localhost:port, [::1]:port) or unix:/path\n",
                b->target);
        return 2;
    }
    if (b->server_pid && server_status_kb(b->server_pid, "VmRSS") < 0) {
        fprintf(stderr, "sb-bench: invalid --server-pid '%ld' (no such process to watch)\n",
                b->server_pid);
        return 2;
    }
    if (!have_size)
        b->size = b->mode == MODE_PUMP ? 16384 : b->mode == MODE_VERIFY ? 4096 : 64;
    if (!have_depth)
        b->depth = b->mode == MODE_PIPELINE ? 16 : b->mode == MODE_PUMP ? 64
                   : b->mode == MODE_VERIFY ? 8 : 1;
    if (b->mode == MODE_PINGPONG && have_depth && b->depth != 1) {
        fprintf(stderr, "sb-bench: pingpong has one message in flight; use --mode pipeline "
                        "for --depth %u\n",
                b->depth);
        return 2;
    }
    if (b->mode == MODE_PINGPONG)
        b->depth = 1;
    if ((uint64_t)b->size * b->depth > 256ull << 20) {
        fprintf(stderr, "sb-bench: --size x --depth is %llu bytes in flight per connection "
                        "(at most 256 MiB)\n",
                (unsigned long long)b->size * b->depth);
        return 2;
    }
    return -1;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    bench *b = calloc(1, sizeof(*b));
    unsigned i;
    int rc;

    if (!b) {
        fprintf(stderr, "sb-bench: out of memory\n");
        return 1;
    }
    rc = parse_args(b, argc, argv);
    if (rc >= 0) {
        free(b);
        return rc;
    }
    if (b->mode == MODE_IDLE) {
        b->idle += b->conns;
        b->conns = 0;
    }
    b->total = b->conns + b->idle;
    if (raise_nofile((rlim_t)b->total + 64)) {
        free(b);
        return 1;
    }
    b->k = calloc(b->total, sizeof(*b->k));
    /* Pump: one payload slot per write in flight, so consecutive writes of
     * a connection are adjacent bytes and go out as one zero-copy segment
     * (sb_write_ref merges them); the bytes never change. */
    b->slots = b->mode == MODE_PUMP && (uint64_t)b->size * b->depth <= PUMP_SLOTS_MAX
                   ? b->depth
                   : 1;
    b->payload = malloc(b->size * b->slots);
    b->scratch = malloc(b->size);
    b->loop = sb_loop_new();
    if (!b->k || !b->payload || !b->scratch || !b->loop) {
        fprintf(stderr, "sb-bench: out of memory\n");
        return 1;
    }
    for (i = 0; i < b->size * b->slots; i++)
        b->payload[i] = (char)('a' + i % b->size % 26);
    for (i = 0; i < b->total; i++) {
        bconn *k = &b->k[i];
        k->b = b;
        k->active = i >= b->idle;
        if (k->active) {
            k->ring = calloc(b->depth, sizeof(*k->ring));
            if (!k->ring) {
                fprintf(stderr, "sb-bench: out of memory\n");
                return 1;
            }
            rng_seed(&k->tx_rng, i + 1);
            rng_seed(&k->rx_rng, i + 1);
            rng_seed(&k->len_rng, ~(uint64_t)i);
        }
    }
    /* Room for a whole window of output without pausing our reads. */
    b->copts.connect_timeout_ms = 10000;
    b->copts.conn.high_water = (size_t)b->size * b->depth * 2 + (1u << 20);
    b->progress = sb_timer_new(b->loop, progress_cb, b);
    b->phase_timer = sb_timer_new(b->loop, phase_cb, b);
    if (!b->progress || !b->phase_timer) {
        fprintf(stderr, "sb-bench: out of memory\n");
        return 1;
    }
    if (b->server_pid)
        b->srv_rss0 = server_status_kb(b->server_pid, "VmRSS");
    b->t_phase = b->t_last_progress = now_ns();
    sb_timer_start(b->progress, 1000, 1000);
    sb_timer_start(b->phase_timer, SETUP_TIMEOUT_MS, 0);
    start_connects(b);
    rc = sb_loop_run(b->loop);
    if (rc < 0)
        error_once(b, "event loop", rc);
    print_result(b);
    if (b->first_error[0])
        fprintf(stderr, "sb-bench: %s\n", b->first_error);
    else if (b->mismatches)
        fprintf(stderr, "sb-bench: %" PRIu64 " echoed bytes differed from what was sent\n",
                b->mismatches);
    /* Whatever is still open (a stuck close) is reset, then reaped. */
    for (i = 0; i < b->total; i++)
        if (b->k[i].c)
            sb_abort(b->k[i].c);
    sb_timer_free(b->progress);
    sb_timer_free(b->phase_timer);
    sb_loop_run_once(b->loop, 0);
    sb_loop_free(b->loop);
    for (i = 0; i < b->total; i++)
        free(b->k[i].ring);
    rc = b->status || b->mismatches ? 1 : 0;
    if (b->mode == MODE_VERIFY)
        for (i = b->idle; i < b->total; i++)
            if (b->k[i].tx != b->k[i].rx)
                rc = 1;
    free(b->k);
    free(b->payload);
    free(b->scratch);
    free(b);
    return rc;
}
