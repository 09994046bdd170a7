/*
 * Zero-copy output: caller-owned buffers (sb_write_ref) and file ranges
 * (sb_write_file) queued in order with copies, sent by sendmsg() and
 * sendfile() (or pread() + send()), each release called exactly once.
 */
#include "fault.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct zx {
    sb_conn *c;
    int opens, closes, reason;
    int releases;          /* release calls seen */
    int releases_at_close; /* releases seen when on_close ran */
    int big_sndbuf;
    int echo;
} zx;

static void zx_open(sb_conn *c, void *u)
{
    zx *x = u;

    x->c = c;
    x->opens++;
    if (x->big_sndbuf) {
        int v = 4 << 20;
        setsockopt(sb_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
}

static void zx_data(sb_conn *c, const char *d, size_t n, void *u)
{
    if (((zx *)u)->echo)
        ck_assert_int_eq(sb_write(c, d, n), 0);
}

static void zx_close(sb_conn *c, int reason, void *u)
{
    zx *x = u;

    x->closes++;
    x->reason = reason;
    x->releases_at_close = x->releases;
    x->c = NULL;
}

static const sb_handler zx_handler = {.on_open = zx_open, .on_data = zx_data, .on_close = zx_close};

static zx *g_zx; /* the fixture the release callbacks count into */

static void zx_release(void *arg)
{
    (void)arg;
    g_zx->releases++;
}

static sb_listener *zx_start(sb_loop *loop, zx *x, const sb_listen_opts *o, int *fd)
{
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &zx_handler, x, o, NULL);

    ck_assert_ptr_nonnull(l);
    g_zx = x;
    *fd = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x->opens == 1, 1000);
    return l;
}

/* A temporary file holding n pattern bytes; returns its fd (unlinked). */
static int temp_file(const unsigned char *p, size_t n)
{
    char path[] = "/tmp/sb-zerocopy-XXXXXX";
    int fd = mkstemp(path);
    size_t off = 0;

    ck_assert_int_ge(fd, 0);
    unlink(path);
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        ck_assert_int_gt(w, 0);
        off += (size_t)w;
    }
    return fd;
}

/* Read exactly n bytes from fd into buf, running the loop meanwhile. */
static void read_all(sb_loop *loop, int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    int eof = 0, i;

    for (i = 0; i < 200000 && got < n; i++) {
        ssize_t r = tu_drain(fd, buf + got, n - got, &eof);
        ck_assert_int_ge(r, 0);
        ck_assert_int_eq(eof, 0);
        got += (size_t)r;
        if (got < n)
            sb_loop_run_once(loop, 1);
    }
    ck_assert_uint_eq(got, n);
}

/*
 * Copies, references and file ranges interleaved arrive in the order they
 * were queued, byte-exact; each release runs once, after its bytes left.
 * Run plain and under forced partial I/O (short and refused sendmsg,
 * sendfile and send calls through the fault seam), with sendfile and with
 * the pread() fallback.
 */
static void interleave_run(int partial, int no_sendfile, uint32_t seed)
{
    enum { N = 24, PIECE = 50000 };
    static unsigned char src[N * PIECE], got[N * PIECE];
    static const tu_fault refuse = {1, 0, NULL, EINVAL, 0, 0};
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd, ffd, i, nrel = 0;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);

    tu_fill(src, sizeof(src), seed);
    ffd = temp_file(src, sizeof(src));
    if (partial)
        tu_fault_partial_io(seed);
    if (no_sendfile)
        tu_fault_set(TU_F_SENDFILE, &refuse);
    for (i = 0; i < N; i++) {
        const unsigned char *p = src + (size_t)i * PIECE;
        /* Pieces of every kind, and runs of the same kind. */
        switch ((i * 7 + (int)(seed % 5)) % 5) {
        case 0:
        case 1:
            ck_assert_int_eq(sb_write(x.c, p, PIECE), 0);
            break;
        case 2:
            ck_assert_int_eq(sb_write_ref(x.c, p, PIECE, zx_release, NULL), 0);
            nrel++;
            break;
        case 3:
            ck_assert_int_eq(sb_write_file(x.c, ffd, (uint64_t)i * PIECE, PIECE, zx_release, NULL),
                             0);
            nrel++;
            break;
        default: /* a reference and a copy inside one piece */
            ck_assert_int_eq(sb_write_ref(x.c, p, 1000, zx_release, NULL), 0);
            ck_assert_int_eq(sb_write(x.c, p + 1000, PIECE - 1000), 0);
            nrel++;
        }
    }
    ck_assert_uint_eq(sb_conn_queued(x.c), sizeof(src));
    ck_assert_int_eq(x.releases, 0); /* nothing sent from inside sb_write_* */
    read_all(loop, fd, got, sizeof(got));
    ck_assert_msg(memcmp(src, got, sizeof(src)) == 0, "bytes differ (partial %d, seed %u)",
                  partial, seed);
    TU_ASSERT_EVENTUALLY(loop, sb_conn_queued(x.c) == 0, 1000);
    ck_assert_int_eq(x.releases, nrel);
    if (partial)
        ck_assert_uint_gt(tu_fault_hits(TU_F_SEND), 0);
#ifdef SB__HAVE_SENDFILE
    if (no_sendfile)
        ck_assert_uint_gt(tu_fault_calls(TU_F_PREAD), 0);
    else if (!partial)
        ck_assert_uint_eq(tu_fault_calls(TU_F_PREAD), 0);
#else
    /* No sendfile (PORTABLE, off Linux): every file byte is pread. */
    ck_assert_uint_gt(tu_fault_calls(TU_F_PREAD), 0);
#endif
    tu_fault_reset();
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.releases, nrel);
    close(ffd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}

START_TEST(test_interleaved_in_order)
{
    tu_fault_reset();
    interleave_run(0, 0, 1);
    interleave_run(0, 1, 2);
}
END_TEST

START_TEST(test_interleaved_partial_io)
{
    uint32_t seed;

    for (seed = 10; seed < 16; seed++)
        interleave_run(1, (int)(seed & 1), seed);
}
END_TEST

/* A peer that never reads, then resets: every release runs exactly once,
 * before on_close; nothing is sent after. */
START_TEST(test_release_on_close)
{
    static char big[1 << 20];
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd, ffd, i;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);

    ffd = temp_file((const unsigned char *)big, sizeof(big));
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(sb_write_ref(x.c, big, sizeof(big), zx_release, NULL), 0);
        ck_assert_int_eq(sb_write_file(x.c, ffd, 0, sizeof(big), zx_release, NULL), 0);
    }
    for (i = 0; i < 20; i++)
        sb_loop_run_once(loop, 1);
    ck_assert_uint_gt(sb_conn_queued(x.c), 0);
    ck_assert_int_lt(x.releases, 16);
    sb_abort(x.c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.reason, SB_EABORTED);
    ck_assert_int_eq(x.releases, 16);
    ck_assert_int_eq(x.releases_at_close, 16);
    close(fd);
    close(ffd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* len 0 releases at once; bad arguments and a closing connection fail
 * without calling release; an allocation failure queues nothing. */
START_TEST(test_ref_edge_cases)
{
    static const tu_fault nomem = {1, 0, NULL, ENOMEM, 0, 0};
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);

    ck_assert_int_eq(sb_write_ref(x.c, "x", 0, zx_release, NULL), 0);
    ck_assert_int_eq(x.releases, 1);
    ck_assert_int_eq(sb_write_ref(x.c, NULL, 5, zx_release, NULL), -EINVAL);
    ck_assert_int_eq(sb_write_file(x.c, -1, 0, 5, zx_release, NULL), -EINVAL);
    ck_assert_int_eq(sb_write_file(x.c, 0, UINT64_MAX - 2, 5, zx_release, NULL), -EINVAL);
    ck_assert_int_eq(sb_write_ref(x.c, "abc", 3, NULL, NULL), 0); /* no release: static */
    tu_fault_set(TU_F_ALLOC, &nomem);
    ck_assert_int_eq(sb_write_ref(x.c, "def", 3, zx_release, NULL), -ENOMEM);
    ck_assert_int_eq(sb_write(x.c, "ghi", 3), -ENOMEM); /* a COPY segment is needed too */
    tu_fault_reset();
    ck_assert_uint_eq(sb_conn_queued(x.c), 3);
    ck_assert_int_eq(sb_write(x.c, "jk", 2), 0);
    sb_shutdown(x.c);
    ck_assert_int_eq(sb_write_ref(x.c, "l", 1, zx_release, NULL), SB_ECLOSED);
    ck_assert_int_eq(x.releases, 1);
    {
        unsigned char buf[5];
        read_all(loop, fd, buf, sizeof(buf));
        ck_assert_int_eq(memcmp(buf, "abcjk", 5), 0);
    }
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.releases, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* Referenced and file bytes count in sb_conn_queued and the watermarks
 * (backpressure holds reading) but not in max_output (not our memory). */
START_TEST(test_ref_accounting)
{
    static char big[200000];
    sb_listen_opts o = {.conn = {.high_water = 100000, .max_output = 1000}};
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd;
    sb_listener *l = zx_start(loop, &x, &o, &fd);

    ck_assert_int_eq(sb_write_ref(x.c, big, sizeof(big), NULL, NULL), 0);
    ck_assert_uint_eq(sb_conn_queued(x.c), sizeof(big));
    ck_assert_uint_ne(sb_conn_paused(x.c) & SB_PAUSE_BACKPRESSURE, 0);
    ck_assert_int_eq(sb_write(x.c, big, 999), 0);
    ck_assert_int_eq(sb_write(x.c, big, 2), SB_EBUFFULL);
    ck_assert_uint_eq(sb_conn_queued(x.c), sizeof(big) + 999);
    {
        unsigned char *buf = malloc(sizeof(big) + 999);
        read_all(loop, fd, buf, sizeof(big) + 999);
        free(buf);
    }
    TU_ASSERT_EVENTUALLY(loop, (sb_conn_paused(x.c) & SB_PAUSE_BACKPRESSURE) == 0, 1000);
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * References to adjacent bytes (a ring of static slots) share a segment;
 * one with a release never merges (its release must still run once).
 * Under forced partial sends, every byte arrives in order.
 */
START_TEST(test_adjacent_refs)
{
    static unsigned char src[200000], got[200000 + 3];
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd, i;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);

    tu_fill(src, sizeof(src), 21);
    tu_fault_partial_io(21);
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(sb_write_ref(x.c, src + i * 100, 100, NULL, NULL), 0);
    ck_assert_int_eq(sb_write(x.c, "mid", 3), 0);
    ck_assert_int_eq(sb_write_ref(x.c, src + 100000, 50000, NULL, NULL), 0);
    ck_assert_int_eq(sb_write_ref(x.c, src + 150000, 25000, zx_release, NULL), 0);
    ck_assert_int_eq(sb_write_ref(x.c, src + 175000, 25000, NULL, NULL), 0);
    ck_assert_uint_eq(sb_conn_queued(x.c), sizeof(got));
    read_all(loop, fd, got, sizeof(got));
    tu_fault_reset();
    ck_assert_int_eq(memcmp(got, src, 100000), 0);
    ck_assert_int_eq(memcmp(got + 100000, "mid", 3), 0);
    ck_assert_int_eq(memcmp(got + 100003, src + 100000, 100000), 0);
    TU_ASSERT_EVENTUALLY(loop, x.releases == 1, 1000);
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.releases, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* A release may queue the next piece (a generator); the chain runs in
 * order without recursion trouble. */
static int chain_left;
static unsigned char chain_src[64 * 1024];

static void chain_release(void *arg)
{
    sb_conn *c = arg;

    g_zx->releases++;
    if (chain_left-- > 0)
        ck_assert_int_eq(sb_write_ref(c, chain_src, sizeof(chain_src), chain_release, c), 0);
}

START_TEST(test_release_queues_more)
{
    static unsigned char got[sizeof(chain_src)];
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd, i;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);

    tu_fill(chain_src, sizeof(chain_src), 7);
    chain_left = 20;
    ck_assert_int_eq(sb_write_ref(x.c, chain_src, sizeof(chain_src), chain_release, x.c), 0);
    for (i = 0; i <= 20; i++) {
        read_all(loop, fd, got, sizeof(got));
        ck_assert_int_eq(memcmp(got, chain_src, sizeof(got)), 0);
    }
    TU_ASSERT_EVENTUALLY(loop, x.releases == 21, 1000);
    ck_assert_uint_eq(sb_conn_queued(x.c), 0);
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* A file that shrank after it was queued: SB_ESHORTFILE, not a hang or
 * a short reply passed off as whole; a read error closes with it. */
START_TEST(test_file_short_and_error)
{
    static unsigned char src[100000];
    static const tu_fault refuse = {1, 0, NULL, EINVAL, 0, 0};
    static const tu_fault eio = {1, 0, NULL, EIO, 0, 0};
    int pass;

    tu_fill(src, sizeof(src), 3);
    for (pass = 0; pass < 3; pass++) {
        sb_loop *loop = sb_loop_new();
        zx x = {0};
        int fd, ffd;
        sb_listener *l = zx_start(loop, &x, NULL, &fd);
        unsigned char buf[65536];
        int eof = 0, i;

        ffd = temp_file(src, sizeof(src));
        tu_fault_reset();
        ck_assert_int_eq(sb_write_file(x.c, ffd, 0, sizeof(src), zx_release, NULL), 0);
        if (pass < 2)
            ck_assert_int_eq(ftruncate(ffd, 40000), 0);
        if (pass == 1)
            tu_fault_set(TU_F_SENDFILE, &refuse); /* the pread() fallback */
        if (pass == 2) {
            tu_fault_set(TU_F_SENDFILE, &refuse);
            tu_fault_set(TU_F_PREAD, &eio);
        }
        for (i = 0; i < 10000 && x.closes == 0; i++) {
            ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
            sb_loop_run_once(loop, 1);
        }
        tu_fault_reset();
        ck_assert_int_eq(x.closes, 1);
        ck_assert_int_eq(x.reason, pass < 2 ? SB_ESHORTFILE : -EIO);
        ck_assert_int_eq(x.releases, 1);
        ck_assert_str_eq(sb_strerror(SB_ESHORTFILE),
                         "file ended before the length queued for sending");
        close(fd);
        close(ffd);
        sb_listener_close(l);
        tu_loop_teardown(loop);
    }
}
END_TEST

/* Something sendfile cannot read and pread cannot either (a pipe): the
 * connection closes with that error (ESPIPE), loudly. */
START_TEST(test_file_not_seekable)
{
    sb_loop *loop = sb_loop_new();
    zx x = {0};
    int fd, p[2];
    sb_listener *l = zx_start(loop, &x, NULL, &fd);

    tu_make_pipe(p);
    tu_write_byte(p[1], 'a');
    ck_assert_int_eq(sb_write_file(x.c, p[0], 0, 1, zx_release, NULL), 0);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.reason, -ESPIPE);
    ck_assert_int_eq(x.releases, 1);
    close(p[0]);
    close(p[1]);
    close(fd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * sendfile() has no MSG_NOSIGNAL: a file range sent to a peer that reset
 * must not raise SIGPIPE (here with its default action, which would kill
 * the test process), nor leave one pending; the connection closes with
 * the error.
 */
START_TEST(test_file_reset_no_sigpipe)
{
    enum { TOTAL = 32 << 20 };
    struct linger lg = {1, 0};
    sb_loop *loop = sb_loop_new();
    zx x = {.big_sndbuf = 1};
    int fd, ffd, i;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);
    sigset_t pending;
    char buf[65536];
    int eof = 0;

    void (*was)(int) = signal(SIGPIPE, SIG_DFL);

    ffd = temp_file((const unsigned char *)"", 0);
    ck_assert_int_eq(ftruncate(ffd, TOTAL), 0);
    ck_assert_int_eq(sb_write_file(x.c, ffd, 0, TOTAL, zx_release, NULL), 0);
    sb_conn_pause(x.c); /* the reset is seen by sending only (sb-httpd's case) */
    for (i = 0; i < 5; i++) {
        ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
        sb_loop_run_once(loop, 1);
    }
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    {
        /* The reset is in (loopback: at once); take its ECONNRESET so the
         * next send meets EPIPE, the case that raises SIGPIPE. */
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(sb_conn_fd(x.c), SOL_SOCKET, SO_ERROR, &err, &el);
        ck_assert_int_eq(err, ECONNRESET);
    }
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.reason, -EPIPE);
    ck_assert_int_eq(x.releases, 1);
    sigpending(&pending);
    ck_assert(!sigismember(&pending, SIGPIPE));
    signal(SIGPIPE, was);
    close(ffd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * A file download keeps the per-iteration send limit: however much the
 * socket would take, at most SB__MAX_SEND bytes leave per iteration, so
 * another client's ping is answered in the same pass.
 */
START_TEST(test_file_fairness)
{
    enum { TOTAL = 32 << 20 };
    sb_loop *loop = sb_loop_new();
    zx x = {.big_sndbuf = 1, .echo = 1};
    int fd, ffd, ping, i, eof = 0, rcv = 4 << 20, rounds = 0;
    sb_listener *l = zx_start(loop, &x, NULL, &fd);
    sb_conn *bulk = x.c;
    static char buf[1 << 20];
    sb_loop_stats st;
    uint64_t before;

    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    ffd = temp_file((const unsigned char *)"", 0);
    ck_assert_int_eq(ftruncate(ffd, TOTAL), 0); /* sparse: reads as zeros */
    ck_assert_int_eq(sb_write_file(bulk, ffd, 0, TOTAL, NULL, NULL), 0);
    ping = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x.opens == 2, 1000);
    for (i = 0; i < 100000 && sb_conn_queued(bulk) > 0; i++) {
        char pong[4];
        int e2 = 0;
        sb_loop_get_stats(loop, &st);
        before = st.bytes_out;
        if (i % 8 == 0)
            ck_assert_int_eq(tu_send(ping, "ping", 4), 4);
        sb_loop_run_once(loop, 1);
        sb_loop_get_stats(loop, &st);
        ck_assert_uint_le(st.bytes_out - before, SB__MAX_SEND + 4);
        if (i % 8 == 0) {
            /* Answered in this pass (or, if the ping was not in yet, the next). */
            if (tu_drain(ping, pong, 4, &e2) != 4) {
                sb_loop_run_once(loop, 1);
                ck_assert_int_eq(tu_drain(ping, pong, 4, &e2), 4);
            }
            rounds++;
        }
        ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
    }
    ck_assert_uint_eq(sb_conn_queued(bulk), 0);
    ck_assert_int_gt(rounds, 10);
    close(ping);
    close(fd);
    close(ffd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 2, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_zerocopy_suite(void)
{
    Suite *s = suite_create("zerocopy");
    TCase *tc = tcase_create("output");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_interleaved_in_order);
    tcase_add_test(tc, test_interleaved_partial_io);
    tcase_add_test(tc, test_release_on_close);
    tcase_add_test(tc, test_ref_edge_cases);
    tcase_add_test(tc, test_ref_accounting);
    tcase_add_test(tc, test_adjacent_refs);
    tcase_add_test(tc, test_release_queues_more);
    tcase_add_test(tc, test_file_short_and_error);
    tcase_add_test(tc, test_file_not_seekable);
    tcase_add_test(tc, test_file_fairness);
    tcase_add_test(tc, test_file_reset_no_sigpipe);
    suite_add_tcase(s, tc);
    return s;
}
