/*
 * Flow control that composes: the reasons reading is held (the
 * application's pause, backpressure, a relay's) never cancel one another;
 * the peer's EOF is always reported; the state relays read.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fx {
    sb_conn *c;
    int opens, eofs, closes, reason;
    size_t bytes;
    int shut_on_open;
    int order_eof_before_close;
} fx;

static void fx_open(sb_conn *c, void *u)
{
    fx *x = u;

    x->c = c;
    x->opens++;
    if (x->shut_on_open)
        sb_shutdown(c);
}

static void fx_data(sb_conn *c, const char *d, size_t n, void *u)
{
    ((fx *)u)->bytes += n;
}

static void fx_eof(sb_conn *c, void *u)
{
    ((fx *)u)->eofs++;
    sb_close(c);
}

static void fx_close(sb_conn *c, int reason, void *u)
{
    fx *x = u;

    x->closes++;
    x->reason = reason;
    x->order_eof_before_close = x->eofs > 0;
    x->c = NULL;
}

static const sb_handler fx_handler = {
    .on_open = fx_open, .on_data = fx_data, .on_eof = fx_eof, .on_close = fx_close};

static sb_listener *fx_listen(sb_loop *loop, fx *x, const sb_listen_opts *o)
{
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &fx_handler, x, o, NULL);

    ck_assert_ptr_nonnull(l);
    return l;
}

/* Queue output until the kernel is full and backpressure holds reading. */
static void fill_until_backpressure(sb_loop *loop, sb_conn *c)
{
    static char big[256 * 1024];
    int i;

    for (i = 0; i < 2000 && !(sb_conn_paused(c) & SB_PAUSE_BACKPRESSURE); i++) {
        if (sb_conn_queued(c) < 512 * 1024)
            ck_assert_int_eq(sb_write(c, big, sizeof(big)), 0);
        sb_loop_run_once(loop, 1);
    }
    /* And keep it there: the kernel takes no more once its buffers fill. */
    for (i = 0; i < 50; i++) {
        if (sb_conn_queued(c) < 256 * 1024)
            ck_assert_int_eq(sb_write(c, big, sizeof(big)), 0);
        sb_loop_run_once(loop, 1);
    }
    ck_assert_uint_ne(sb_conn_paused(c) & SB_PAUSE_BACKPRESSURE, 0);
}

/* Read everything the server queued, running its loop meanwhile. */
static void drain_all(sb_loop *loop, fx *x, int fd)
{
    char buf[65536];
    int eof = 0, i;

    for (i = 0; i < 20000 && x->c && sb_conn_queued(x->c) > 0; i++) {
        ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
        ck_assert_int_eq(eof, 0);
        sb_loop_run_once(loop, 1);
    }
    ck_assert_msg(sb_conn_queued(x->c) == 0, "queued %zu after %d rounds, paused %u", sb_conn_queued(x->c), i, sb_conn_paused(x->c));
    /* What the kernel still holds for us. */
    for (i = 0; i < 100; i++) {
        ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
        sb_loop_run_once(loop, 1);
    }
}

/*
 * Backpressure and the application's pause are separate reasons: resuming
 * does not lift backpressure, and the queue draining does not lift the
 * pause; reading comes back only when both are gone, in either order.
 */
START_TEST(test_pause_reasons_independent)
{
    sb_listen_opts o = {.conn = {.high_water = 64 * 1024, .low_water = 16 * 1024}};
    sb_loop *loop = sb_loop_new();
    fx x = {0};
    sb_listener *l = fx_listen(loop, &x, &o);
    int fd, i;

    fd = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    ck_assert_uint_eq(sb_conn_paused(x.c), 0);

    /* 1: backpressure, then a pause; resume first, then drain. */
    fill_until_backpressure(loop, x.c);
    sb_conn_pause(x.c);
    ck_assert_uint_eq(sb_conn_paused(x.c), SB_PAUSE_APP | SB_PAUSE_BACKPRESSURE);
    sb_conn_resume(x.c);
    ck_assert_uint_eq(sb_conn_paused(x.c), SB_PAUSE_BACKPRESSURE);
    ck_assert_int_eq(tu_send(fd, "1234", 4), 4);
    for (i = 0; i < 5; i++)
        sb_loop_run_once(loop, 5);
    ck_assert_uint_eq(x.bytes, 0); /* still held by backpressure */
    drain_all(loop, &x, fd);
    ck_assert_uint_eq(sb_conn_paused(x.c) & SB_PAUSE_BACKPRESSURE, 0);
    TU_ASSERT_EVENTUALLY(loop, x.bytes == 4, 1000);

    /* 2: a pause, then backpressure; drain first, then resume. */
    sb_conn_pause(x.c);
    fill_until_backpressure(loop, x.c);
    ck_assert_int_eq(tu_send(fd, "5678", 4), 4);
    drain_all(loop, &x, fd);
    ck_assert_uint_eq(sb_conn_paused(x.c), SB_PAUSE_APP); /* the drain kept the pause */
    for (i = 0; i < 5; i++)
        sb_loop_run_once(loop, 5);
    ck_assert_uint_eq(x.bytes, 4);
    sb_conn_resume(x.c);
    ck_assert_uint_eq(sb_conn_paused(x.c), 0);
    TU_ASSERT_EVENTUALLY(loop, x.bytes == 8, 1000);

    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* The peer's EOF is reported also after our own FIN went out (a relay
 * forwards it from on_eof); the close follows with reason 0. */
START_TEST(test_eof_after_own_shutdown)
{
    sb_loop *loop = sb_loop_new();
    fx x = {.shut_on_open = 1};
    sb_listener *l = fx_listen(loop, &x, NULL);
    int fd, eof = 0, i;
    char buf[16];

    fd = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    /* Our FIN reaches the client. */
    for (i = 0; i < 1000 && !eof; i++) {
        ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
        sb_loop_run_once(loop, 1);
    }
    ck_assert_int_eq(eof, 1);
    ck_assert_int_eq(x.eofs, 0);
    ck_assert_int_eq(tu_send(fd, "late", 4), 4); /* still delivered */
    shutdown(fd, SHUT_WR);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_uint_eq(x.bytes, 4);
    ck_assert_int_eq(x.eofs, 1);
    ck_assert(x.order_eof_before_close);
    ck_assert_int_eq(x.reason, 0);
    close(fd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* What a relay reads: buffered input and the watermarks in force. */
START_TEST(test_state_accessors)
{
    sb_listen_opts o = {.conn = {.high_water = 1000}};
    sb_loop *loop = sb_loop_new();
    fx x = {0};
    sb_listener *l = fx_listen(loop, &x, &o);
    sb_framer f;
    size_t lo = 1, hi = 1;
    int fd;

    fd = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    sb_conn_watermarks(x.c, &lo, &hi);
    ck_assert_uint_eq(hi, 1000);
    ck_assert_uint_eq(lo, 250); /* high / 4 */
    sb_conn_watermarks(x.c, NULL, NULL);
    ck_assert_int_eq(sb_framer_fixed(&f, 10), 0);
    ck_assert_int_eq(sb_conn_set_framer(x.c, &f), 0);
    ck_assert_int_eq(tu_send(fd, "abcd", 4), 4);
    TU_ASSERT_EVENTUALLY(loop, sb_conn_buffered(x.c) == 4, 1000);
    ck_assert_uint_eq(x.bytes, 0);
    ck_assert_int_eq(tu_send(fd, "efghij", 6), 6);
    TU_ASSERT_EVENTUALLY(loop, x.bytes == 10, 1000);
    ck_assert_uint_eq(sb_conn_buffered(x.c), 0);
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct dr {
    sb_conn *c;
    int drains, drains_nonempty;
} dr;

static void dr_open(sb_conn *c, void *u)
{
    int snd = 16384; /* the queue then empties in small sends */

    setsockopt(sb_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
    ((dr *)u)->c = c;
}

static void dr_drain(sb_conn *c, void *u)
{
    dr *d = u;

    d->drains++;
    if (sb_conn_queued(c) > 0)
        d->drains_nonempty++;
}

/* drain_at_low: on_drain comes while output is still queued (at or below
 * the low watermark), so a writer refills before the queue runs dry; by
 * default only at an empty queue. */
static void drain_run(int at_low, dr *d)
{
    static const sb_handler h = {.on_open = dr_open, .on_drain = dr_drain};
    static char big[1 << 20];
    sb_listen_opts o = {.conn = {.high_water = 256 * 1024, .low_water = 128 * 1024,
                                 .drain_at_low = at_low}};
    sb_loop *loop = sb_loop_new();
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, d, &o, NULL);
    char buf[8192];
    int fd = tu_connect_tcp(sb_listener_port(l)), eof = 0, i;

    TU_ASSERT_EVENTUALLY(loop, d->c != NULL, 1000);
    ck_assert_int_eq(sb_write(d->c, big, sizeof(big)), 0);
    /* A slow reader: 8 KiB a round, so the queue goes down in steps. */
    for (i = 0; i < 100000 && (sb_conn_queued(d->c) > 0 || d->drains == 0); i++) {
        ck_assert_int_ge(tu_drain(fd, buf, sizeof(buf), &eof), 0);
        sb_loop_run_once(loop, 1);
    }
    ck_assert_int_ge(d->drains, 1);
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, sb_loop_handles(loop) == 1, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}

START_TEST(test_drain_at_low_water)
{
    dr plain = {0}, low = {0};

#ifdef _WIN32
    if (tu_under_wine()) {
        /* Measured: a wine loopback socket takes ~3.9 MB nobody reads. */
        fprintf(stderr, "reasons/drain_at_low_water: skipped: under wine the loopback "
                        "socket buffers take the whole 1 MiB queue in 256 KiB sends, so it "
                        "never rests at the low watermark\n");
        return;
    }
#endif
    drain_run(0, &plain);
    ck_assert_int_eq(plain.drains_nonempty, 0);
    drain_run(1, &low);
    ck_assert_int_ge(low.drains_nonempty, 1);
}
END_TEST

Suite *sb_flow_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("reasons");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pause_reasons_independent);
    tcase_add_test(tc, test_eof_after_own_shutdown);
    tcase_add_test(tc, test_state_accessors);
    tcase_add_test(tc, test_drain_at_low_water);
    suite_add_tcase(s, tc);
    return s;
}
