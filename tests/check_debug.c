/*
 * Debug mode (make DEBUG=1): every kind of handle used after it was closed
 * or freed, and every double free, is reported through the loop's log hook
 * with the function's name and then aborts, instead of corrupting memory.
 * Each test makes one misuse and must die with SIGABRT after the log hook
 * saw the report.  In a normal build these misuses are use-after-free, so
 * the tests exist only in debug builds (and only where Check forks).
 */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SB_DEBUG

static const char *want_fn, *want_kind;

/* The report must name the function and the kind; then abort() follows. */
static void misuse_log(int level, const char *msg, void *udata)
{
    (void)udata;
    if (!strstr(msg, "misuse"))
        return;
    ck_assert_int_eq(level, SB_LOG_ERROR);
    ck_assert_msg(strstr(msg, want_fn) && strstr(msg, want_kind), "report: %s", msg);
}

static sb_loop *debug_loop(const char *fn, const char *kind)
{
    sb_loop *loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    want_fn = fn;
    want_kind = kind;
    sb_loop_set_log(loop, misuse_log, SB_LOG_ERROR, NULL);
    return loop;
}

static void count_cb(sb_timer *t, void *udata)
{
    (void)t;
    (*(int *)udata)++;
}

START_TEST(test_timer_double_free)
{
    int n = 0;
    sb_loop *loop = debug_loop("sb_timer_free", "timer");
    sb_timer *t = sb_timer_new(loop, count_cb, &n);

    sb_timer_free(t);
    sb_timer_free(t); /* aborts */
    ck_abort_msg("a second sb_timer_free went unnoticed");
}
END_TEST

START_TEST(test_timer_start_after_free)
{
    int n = 0;
    sb_loop *loop = debug_loop("sb_timer_start", "timer");
    sb_timer *t = sb_timer_new(loop, count_cb, &n);

    sb_timer_free(t);
    sb_timer_start(t, 10, 0);
    ck_abort_msg("sb_timer_start after free went unnoticed");
}
END_TEST

typedef struct keep {
    sb_conn *closed;
    int opens;
} keep;

static void keep_open(sb_conn *c, void *udata)
{
    (void)c;
    ((keep *)udata)->opens++;
}

static void keep_close(sb_conn *c, int reason, void *udata)
{
    (void)reason;
    ((keep *)udata)->closed = c; /* kept past on_close: the misuse */
}

/* A connection's on_close has returned: the handle is gone. */
static void write_after_close(const char *fn, int which)
{
    static const sb_handler h = {.on_open = keep_open, .on_close = keep_close};
    sb_loop *loop = debug_loop(fn, "connection");
    keep k = {NULL, 0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &k, NULL, NULL);
    int fd, i;

    ck_assert_ptr_nonnull(l);
    fd = tu_connect_tcp(sb_listener_port(l));
    for (i = 0; i < 500 && !k.opens; i++)
        sb_loop_run_once(loop, 10);
    close(fd);
    for (i = 0; i < 500 && !k.closed; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_ptr_nonnull(k.closed);
    if (which == 0)
        sb_write(k.closed, "x", 1);
    else if (which == 1)
        sb_close(k.closed);
    else
        sb_conn_set_udata(k.closed, NULL);
    ck_abort_msg("%s on a closed connection went unnoticed", fn);
}

START_TEST(test_write_after_on_close)
{
    write_after_close("sb_write", 0);
}
END_TEST

START_TEST(test_close_after_on_close)
{
    write_after_close("sb_close", 1);
}
END_TEST

START_TEST(test_set_udata_after_on_close)
{
    write_after_close("sb_conn_set_udata", 2);
}
END_TEST

static void noop_conn(sb_conn *c, void *udata)
{
    (void)c;
    (void)udata;
}

/* A listener closed with no connection is freed at the end of the
 * iteration; a second close or a later call is caught at once. */
START_TEST(test_listener_double_close)
{
    static const sb_handler h = {.on_open = noop_conn};
    sb_loop *loop = debug_loop("sb_listener_close", "listener");
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, NULL, NULL, NULL);

    ck_assert_ptr_nonnull(l);
    sb_listener_close(l);
    sb_loop_run_once(loop, 0);
    sb_listener_close(l);
    ck_abort_msg("a second sb_listener_close went unnoticed");
}
END_TEST

START_TEST(test_listener_port_after_close)
{
    static const sb_handler h = {.on_open = noop_conn};
    sb_loop *loop = debug_loop("sb_listener_port", "listener");
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, NULL, NULL, NULL);

    sb_listener_close(l);
    sb_listener_port(l); /* already dead, even before the deferred free */
    ck_abort_msg("sb_listener_port after close went unnoticed");
}
END_TEST

static void noop_io(sb_io *io, int fd, unsigned events, void *udata)
{
    (void)io, (void)fd, (void)events, (void)udata;
}

START_TEST(test_io_double_free)
{
    int p[2];
    sb_loop *loop = debug_loop("sb_io_free", "io watcher");
    sb_io *io;

    ck_assert_int_eq(pipe(p), 0);
    io = sb_io_new(loop, p[0], noop_io, NULL, NULL);
    sb_io_free(io);
    sb_io_free(io);
    ck_abort_msg("a second sb_io_free went unnoticed");
}
END_TEST

static void noop_signal(sb_signal *s, int signum, void *udata)
{
    (void)s, (void)signum, (void)udata;
}

START_TEST(test_signal_double_free)
{
    sb_loop *loop = debug_loop("sb_signal_free", "signal watcher");
    sb_signal *s = sb_signal_new(loop, SIGUSR2, noop_signal, NULL, NULL);

    ck_assert_ptr_nonnull(s);
    sb_signal_free(s);
    sb_signal_free(s);
    ck_abort_msg("a second sb_signal_free went unnoticed");
}
END_TEST

static void noop_dgram(sb_udp *u, const char *d, size_t n, const sb_addr *a, int e, void *x)
{
    (void)u, (void)d, (void)n, (void)a, (void)e, (void)x;
}

START_TEST(test_udp_send_after_free)
{
    static const sb_udp_handler uh = {.on_datagram = noop_dgram};
    sb_loop *loop = debug_loop("sb_udp_send", "udp endpoint");
    sb_udp *u = sb_udp_new(loop, "127.0.0.1:0", &uh, NULL, NULL, NULL);

    ck_assert_ptr_nonnull(u);
    sb_udp_free(u);
    sb_udp_send(u, NULL, "x", 1);
    ck_abort_msg("sb_udp_send after free went unnoticed");
}
END_TEST

/* A freed loop: no log hook to call any more; stderr and abort. */
START_TEST(test_loop_double_free)
{
    sb_loop *loop = sb_loop_new();

    ck_assert_int_eq(sb_loop_free(loop), 0);
    sb_loop_free(loop);
    ck_abort_msg("a second sb_loop_free went unnoticed");
}
END_TEST

/* A handle of one kind passed where another is expected. */
START_TEST(test_wrong_kind)
{
    int n = 0;
    sb_loop *loop = debug_loop("sb_io_set", "io watcher");
    sb_timer *t = sb_timer_new(loop, count_cb, &n);

    sb_io_set((sb_io *)(void *)t, SB_READ);
    ck_abort_msg("a timer passed as an io watcher went unnoticed");
}
END_TEST

/* Correct use is untouched by the checks. */
START_TEST(test_debug_correct_use_passes)
{
    int n = 0;
    sb_loop *loop = debug_loop("-", "-");
    sb_timer *t = sb_timer_new(loop, count_cb, &n);

    ck_assert_int_eq(sb_timer_start(t, 0, 0), 0);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(n, 1);
    sb_timer_free(t);
    tu_loop_teardown(loop);
}
END_TEST

#endif /* SB_DEBUG */

Suite *sb_debug_suite(void)
{
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("misuse");
#ifdef SB_DEBUG
    const char *fork = getenv("CK_FORK");

    tcase_add_test(tc, test_debug_correct_use_passes);
    /* A test that aborts needs its own process. */
    if (!fork || strcmp(fork, "no") != 0) {
        tcase_add_test_raise_signal(tc, test_timer_double_free, SIGABRT);
        tcase_add_test_raise_signal(tc, test_timer_start_after_free, SIGABRT);
        tcase_add_test_raise_signal(tc, test_write_after_on_close, SIGABRT);
        tcase_add_test_raise_signal(tc, test_close_after_on_close, SIGABRT);
        tcase_add_test_raise_signal(tc, test_set_udata_after_on_close, SIGABRT);
        tcase_add_test_raise_signal(tc, test_listener_double_close, SIGABRT);
        tcase_add_test_raise_signal(tc, test_listener_port_after_close, SIGABRT);
        tcase_add_test_raise_signal(tc, test_io_double_free, SIGABRT);
        tcase_add_test_raise_signal(tc, test_signal_double_free, SIGABRT);
        tcase_add_test_raise_signal(tc, test_udp_send_after_free, SIGABRT);
        tcase_add_test_raise_signal(tc, test_loop_double_free, SIGABRT);
        tcase_add_test_raise_signal(tc, test_wrong_kind, SIGABRT);
    }
#endif
    suite_add_tcase(s, tc);
    return s;
}
