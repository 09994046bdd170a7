/* Outbound connections (sb_connect) through real loopback and unix sockets:
 * success reported asynchronously, refused, timeout against a full accept
 * queue (fake clock), close and abort while connecting, writes queued while
 * connecting, a 16 MiB verified exchange with a server on the same loop,
 * IPv6, unix sockets, host names, address fallback.  (The sb-echo client
 * program has its own suite, check_echo.c.) */
#include "fault.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixtures */

/* A client handler with counters.  in_connect is set around sb_connect():
 * no callback may run while it is. */
typedef struct cli {
    int opens, closes, eofs, drains;
    int reason;
    int in_connect;
    int opened_open, opened_close; /* sb_conn_opened() in on_open, on_close */
    size_t got;
    char buf[8192];
    sb_conn *c;
} cli;

static void cli_open(sb_conn *c, void *u)
{
    cli *x = u;
    (void)c;
    ck_assert_msg(!x->in_connect, "on_open called from inside sb_connect");
    ck_assert_int_eq(sb_conn_connecting(c), 0);
    x->opened_open = sb_conn_opened(c);
    x->opens++;
}

static void cli_data(sb_conn *c, const char *d, size_t n, void *u)
{
    cli *x = u;
    (void)c;
    if (x->got + n <= sizeof(x->buf))
        memcpy(x->buf + x->got, d, n);
    x->got += n;
}

static void cli_eof(sb_conn *c, void *u)
{
    cli *x = u;
    x->eofs++;
    sb_close(c);
}

static void cli_drain(sb_conn *c, void *u)
{
    cli *x = u;
    (void)c;
    x->drains++;
}

static void cli_close(sb_conn *c, int reason, void *u)
{
    cli *x = u;
    (void)c;
    ck_assert_msg(!x->in_connect, "on_close called from inside sb_connect");
    x->opened_close = sb_conn_opened(c);
    x->closes++;
    x->reason = reason;
    x->c = NULL;
}

static const sb_handler cli_handler = {.on_open = cli_open,
                                       .on_data = cli_data,
                                       .on_eof = cli_eof,
                                       .on_drain = cli_drain,
                                       .on_close = cli_close};

static sb_conn *cli_connect(cli *x, sb_loop *loop, const char *addr, const sb_connect_opts *o)
{
    int err = 0;
    sb_conn *c;

    x->in_connect = 1;
    c = sb_connect(loop, addr, &cli_handler, x, o, &err);
    x->in_connect = 0;
    ck_assert_msg(c != NULL, "sb_connect %s: %s", addr, sb_strerror(err));
    /* Whatever happens, it is reported later. */
    ck_assert_int_eq(x->opens + x->closes, 0);
    ck_assert_int_eq(sb_conn_connecting(c), 1);
    x->c = c;
    return c;
}

/* A few polling iterations: enough for a loopback connect to finish. */
static void spin(sb_loop *loop, int n)
{
    int i;
    for (i = 0; i < n; i++)
        sb_loop_run_once(loop, 0);
}

/* ----------------------------------------------------------- outcomes */

START_TEST(test_connect_success)
{
    sb_loop *loop = sb_loop_new();
    char addr[64], buf[64];
    sb_loop_stats st;
    tu_server s;
    cli x;
    sb_conn *c;

    memset(&x, 0, sizeof(x));
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    c = cli_connect(&x, loop, addr, NULL);
    ck_assert_ptr_null(sb_conn_listener(c));
    ck_assert_ptr_eq(sb_conn_loop(c), loop);
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, addr);
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1 && s.opens == 1, 1000);
    ck_assert_int_eq(x.closes, 0);
    ck_assert_int_eq(sb_conn_connecting(c), 0);
    ck_assert_int_gt(sb_conn_local(c, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "127.0.0.1:"));
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.conns, 2);
    /* The ordinary graceful close, both ends reporting 0. */
    sb_close(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    ck_assert_int_eq(x.reason, 0);
    ck_assert_int_eq(s.last_reason, 0);
    ck_assert_int_eq(x.opens, 1);
    ck_assert_int_eq(x.opened_open, 1);
    ck_assert_int_eq(x.opened_close, 1);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_connect_refused)
{
    sb_loop *loop = sb_loop_new();
    char addr[64];
    cli x;

    memset(&x, 0, sizeof(x));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", tu_closed_port(SOCK_STREAM));
    cli_connect(&x, loop, addr, NULL);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_msg(x.reason == -ECONNREFUSED, "reason %s", sb_strerror(x.reason));
    ck_assert_int_eq(x.opens, 0);
    ck_assert_int_eq(x.opened_close, 0);
    spin(loop, 3);
    ck_assert_int_eq(x.closes, 1);
    tu_loop_teardown(loop);
}
END_TEST

/* The connect timeout on a fake clock: nothing before the deadline, then
 * on_close(-ETIMEDOUT) and never on_open. */
START_TEST(test_connect_timeout)
{
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {500000};
    sb_connect_opts o;
    sb_loop_stats st;
    tu_hang h;
    cli x;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    tu_hang_open(&h);
    memset(&x, 0, sizeof(x));
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 3000;
    o.conn.idle_timeout_ms = 100; /* applies only once connected */
    c = cli_connect(&x, loop, h.addr, &o);
    spin(loop, 20);
    ck_assert_msg(x.opens == 0, "the kernel completed a connect to a full accept queue");
    ck_assert_int_eq(x.closes, 0);
    ck_assert_int_eq(sb_conn_connecting(c), 1);
    clk.now += 2999;
    spin(loop, 2);
    ck_assert_int_eq(x.closes, 0);
    clk.now += 1;
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_msg(x.reason == -ETIMEDOUT, "reason %s", sb_strerror(x.reason));
    ck_assert_int_eq(x.opens, 0);
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.timeouts, 0); /* idle timeouts only */
    tu_loop_teardown(loop);
    tu_hang_close(&h);
}
END_TEST

/* sb_abort and sb_close while the connect hangs. */
START_TEST(test_close_while_connecting)
{
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {500000};
    sb_connect_opts o;
    tu_hang h;
    cli x, y;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    tu_hang_open(&h);
    memset(&x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 1000;
    /* Abort: on_close(SB_EABORTED) at the end of the iteration. */
    c = cli_connect(&x, loop, h.addr, &o);
    spin(loop, 5);
    ck_assert_int_eq(sb_write(c, "lost", 4), 0);
    sb_abort(c);
    sb_abort(c);
    ck_assert_int_eq(sb_write(c, "x", 1), SB_ECLOSED);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_int_eq(x.reason, SB_EABORTED);
    /* Close: waits for the connect, which times out; still no on_open. */
    c = cli_connect(&y, loop, h.addr, &o);
    ck_assert_int_eq(sb_write(c, "queued", 6), 0);
    sb_close(c);
    ck_assert_int_eq(sb_write(c, "x", 1), SB_ECLOSED);
    spin(loop, 5);
    ck_assert_int_eq(y.closes, 0);
    clk.now += 1000;
    spin(loop, 2);
    ck_assert_int_eq(y.closes, 1);
    ck_assert_int_eq(y.reason, -ETIMEDOUT);
    ck_assert_int_eq(x.opens + y.opens, 0);
    ck_assert_int_eq(x.closes, 1);
    tu_loop_teardown(loop);
    tu_hang_close(&h);
}
END_TEST

/* sb_close / sb_abort before the first iteration, against a live server:
 * close delivers what was queued, then closes gracefully; neither calls
 * on_open. */
START_TEST(test_close_before_open)
{
    sb_loop *loop = sb_loop_new();
    char addr[64];
    tu_server s;
    cli x, y;
    sb_conn *c;

    memset(&x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    s.no_echo = 1;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    c = cli_connect(&x, loop, addr, NULL);
    ck_assert_int_eq(sb_write(c, "bye", 3), 0);
    sb_close(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    ck_assert_int_eq(x.opens, 0);
    ck_assert_int_eq(x.reason, 0);
    ck_assert_uint_eq(s.bytes, 3);
    ck_assert_int_eq(s.eofs, 1);
    c = cli_connect(&y, loop, addr, NULL);
    sb_abort(c);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(y.closes, 1);
    ck_assert_int_eq(y.reason, SB_EABORTED);
    ck_assert_int_eq(y.opens, 0);
    /* The server may or may not have seen that one; let it settle. */
    spin(loop, 10);
    TU_ASSERT_EVENTUALLY(loop, s.closes == s.opens, 1000);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* Writes (and a half-close) issued while connecting go out once connected,
 * in order. */
START_TEST(test_writes_queued_while_connecting)
{
    sb_loop *loop = sb_loop_new();
    char addr[64], want[512];
    size_t wlen = 0;
    tu_server s;
    cli x;
    sb_conn *c;
    int i;

    memset(&x, 0, sizeof(x));
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    c = cli_connect(&x, loop, addr, NULL);
    for (i = 0; i < 20; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "message %d;", i);
        ck_assert_int_eq(sb_write(c, m, (size_t)n), 0);
        memcpy(want + wlen, m, (size_t)n);
        wlen += (size_t)n;
    }
    ck_assert_uint_eq(sb_conn_queued(c), wlen);
    sb_loop_run_once(loop, 0); /* nothing is sent before the connect completes */
    sb_shutdown(c);
    ck_assert_int_eq(sb_write(c, "late", 4), SB_ECLOSED);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    ck_assert_int_eq(x.opens, 1);
    ck_assert_int_eq(x.reason, 0);
    ck_assert_uint_eq(s.bytes, wlen);
    ck_assert_uint_eq(x.got, wlen);
    ck_assert_int_eq(memcmp(x.buf, want, wlen), 0);
    ck_assert_int_eq(s.eofs, 1);
    ck_assert_int_ge(x.drains, 1);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* ------------------------------------------------------ 16 MiB exchange */

/* A client that streams `total` pseudo-random bytes in random chunks,
 * topping its queue up from on_drain, checks every echoed byte, and
 * half-closes at the end. */
typedef struct bulk {
    unsigned char *out;
    size_t total, sent, got;
    uint32_t rs;
    int opens, closes, reason;
} bulk;

static void bulk_send(bulk *b, sb_conn *c)
{
    while (b->sent < b->total && sb_conn_queued(c) < (256u << 10)) {
        size_t n = 1 + tu_rand(&b->rs) % 200000;
        if (n > b->total - b->sent)
            n = b->total - b->sent;
        ck_assert_int_eq(sb_write(c, b->out + b->sent, n), 0);
        b->sent += n;
    }
    if (b->sent == b->total)
        sb_shutdown(c);
}

static void bulk_open(sb_conn *c, void *u)
{
    bulk *b = u;
    b->opens++;
    bulk_send(b, c);
}

static void bulk_data(sb_conn *c, const char *d, size_t n, void *u)
{
    bulk *b = u;
    (void)c;
    ck_assert_uint_le(b->got + n, b->total);
    ck_assert_msg(memcmp(d, b->out + b->got, n) == 0, "echo differs after byte %zu", b->got);
    b->got += n;
}

static void bulk_drain(sb_conn *c, void *u)
{
    bulk_send(u, c);
}

static void bulk_close(sb_conn *c, int reason, void *u)
{
    bulk *b = u;
    (void)c;
    b->closes++;
    b->reason = reason;
}

START_TEST(test_exchange_16mib)
{
    static const sb_handler h = {.on_open = bulk_open,
                                 .on_data = bulk_data,
                                 .on_drain = bulk_drain,
                                 .on_close = bulk_close};
    sb_loop *loop = sb_loop_new();
    char addr[64];
    sb_loop_stats st;
    tu_server s;
    bulk b;
    int err = 0;

    memset(&b, 0, sizeof(b));
    b.total = tu_slow() ? (1u << 20) : (16u << 20);
    b.out = malloc(b.total);
    b.rs = 4242;
    ck_assert_ptr_nonnull(b.out);
    tu_fill(b.out, b.total, 1234);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    ck_assert_ptr_nonnull(sb_connect(loop, addr, &h, &b, NULL, &err));
    TU_RUN_UNTIL(loop, b.closes && s.closes, 1000000);
    ck_assert_int_eq(b.opens, 1);
    ck_assert_uint_eq(b.sent, b.total);
    ck_assert_uint_eq(b.got, b.total);
    ck_assert_uint_eq(s.bytes, b.total);
    ck_assert_int_eq(b.closes, 1);
    ck_assert_int_eq(b.reason, 0);
    ck_assert_int_eq(s.closes, 1);
    ck_assert_int_eq(s.last_reason, 0);
    sb_loop_get_stats(loop, &st);
    /* Both directions of both ends went through this loop. */
    ck_assert_uint_eq(st.bytes_in, 2 * (uint64_t)b.total);
    ck_assert_uint_eq(st.bytes_out, 2 * (uint64_t)b.total);
    free(b.out);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* ---------------------------------------------- address families, names */

START_TEST(test_connect_unix)
{
#ifdef _WIN32
    TU_WIN32_SKIP("connect_unix", "unix-domain sockets are not built on Windows (-EAFNOSUPPORT)");
#endif
    sb_loop *loop = sb_loop_new();
    char path[96], addr[128], buf[128];
    struct sockaddr_un un;
    tu_server s;
    cli x, y, z;
    sb_conn *c;
    int fd;

    memset(&x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    memset(&z, 0, sizeof(z));
    snprintf(path, sizeof(path), "/tmp/sb-client-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    unlink(path);
    tu_server_start(&s, loop, addr, NULL);
    /* A unix connect completes inside connect(): still reported later. */
    c = cli_connect(&x, loop, addr, NULL);
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, addr);
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    ck_assert_int_eq(sb_write(c, "ping", 4), 0);
    TU_ASSERT_EVENTUALLY(loop, x.got == 4, 1000);
    ck_assert_int_eq(memcmp(x.buf, "ping", 4), 0);
    sb_close(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    ck_assert_int_eq(x.reason, 0);
    sb_listener_close(s.l);
    /* No such file: the failure is known at once, reported later. */
    cli_connect(&y, loop, addr, NULL);
    TU_ASSERT_EVENTUALLY(loop, y.closes == 1, 1000);
    ck_assert_msg(y.reason == -ENOENT, "reason %s", sb_strerror(y.reason));
    ck_assert_int_eq(y.opens, 0);
    /* A socket file nobody listens on: refused. */
    fd = tu_socket(AF_UNIX, SOCK_STREAM);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    cli_connect(&z, loop, addr, NULL);
    TU_ASSERT_EVENTUALLY(loop, z.closes == 1, 1000);
    ck_assert_msg(z.reason == -ECONNREFUSED, "reason %s", sb_strerror(z.reason));
    ck_assert_int_eq(z.opens, 0);
    close(fd);
    unlink(path);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_connect_ipv6)
{
    sb_loop *loop = sb_loop_new();
    char addr[64], buf[64];
    tu_server s;
    int err = 0;
    cli x;
    sb_conn *c;

    memset(&x, 0, sizeof(x));
    memset(&s, 0, sizeof(s));
    s.loop = loop;
    s.l = sb_listen(loop, "[::1]:0", &tu_echo_handler, &s, NULL, &err);
    if (!s.l) {
        fprintf(stderr, "test_connect_ipv6: skipped, no ::1 here (%s)\n", sb_strerror(err));
        tu_loop_teardown(loop);
        return;
    }
    snprintf(addr, sizeof(addr), "[::1]:%d", sb_listener_port(s.l));
    c = cli_connect(&x, loop, addr, NULL);
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, addr);
    ck_assert_int_eq(sb_write(c, "six", 3), 0);
    TU_ASSERT_EVENTUALLY(loop, x.got == 3, 1000);
    sb_close(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    ck_assert_int_eq(x.reason, 0);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* "localhost" goes through getaddrinfo; whatever order it returns, the
 * loop ends up connected to the IPv4 listener. */
START_TEST(test_connect_hostname)
{
    sb_loop *loop = sb_loop_new();
    char addr[64], buf[64];
    tu_server s;
    cli x;
    sb_conn *c;

    memset(&x, 0, sizeof(x));
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "localhost:%d", s.port);
    c = cli_connect(&x, loop, addr, NULL);
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1 || x.closes == 1, 1000);
    ck_assert_msg(x.opens == 1, "connect to %s: %s", addr, sb_strerror(x.reason));
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    ck_assert_str_eq(buf, addr);
    sb_abort(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

static void parse(sb__addr *a, const char *fmt, int port)
{
    char s[128];
    snprintf(s, sizeof(s), fmt, port);
    ck_assert_int_eq(sb__addr_parse(s, 0, a), 0);
}

/* Each address in turn: refused (async), no such file (at once), a full
 * accept queue (timeout), then the live one. */
START_TEST(test_connect_fallback)
{
#ifdef _WIN32
    TU_WIN32_SKIP("connect_fallback", "its fallback list has a unix: address (-EAFNOSUPPORT on Windows)");
#endif
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {500000};
    sb_connect_opts o;
    sb__addr a[4];
    char buf[64], want[64];
    tu_server s;
    int err = 0;
    tu_hang h;
    cli x, y;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    memset(&x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 2000;
    tu_hang_open(&h);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    parse(&a[0], "127.0.0.1:%d", tu_closed_port(SOCK_STREAM));
    ck_assert_int_eq(sb__addr_parse("unix:/nonexistent/sb-fallback", 0, &a[1]), 0);
    parse(&a[2], "127.0.0.1:%d", h.port);
    parse(&a[3], "127.0.0.1:%d", s.port);
    c = sb__connect_addrs(loop, a, 4, &cli_handler, &x, &o, &err);
    ck_assert_ptr_nonnull(c);
    /* Refused, then no such file, then stuck on the full queue. */
    snprintf(want, sizeof(want), "127.0.0.1:%d", h.port);
    TU_ASSERT_EVENTUALLY(loop, sb_conn_peer(c, buf, sizeof(buf)) > 0 && strcmp(buf, want) == 0,
                         1000);
    spin(loop, 10);
    ck_assert_int_eq(x.opens + x.closes, 0);
    clk.now += 2000;
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1 || x.closes == 1, 1000);
    ck_assert_int_eq(x.opens, 1);
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", s.port);
    ck_assert_str_eq(buf, want);
    sb_close(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1 && s.closes == 1, 1000);
    ck_assert_int_eq(x.reason, 0);
    /* All fail: one on_close, with the last address's error. */
    c = sb__connect_addrs(loop, a, 2, &cli_handler, &y, NULL, &err);
    ck_assert_ptr_nonnull(c);
    TU_ASSERT_EVENTUALLY(loop, y.closes == 1, 1000);
    ck_assert_int_eq(y.reason, -ENOENT);
    ck_assert_int_eq(y.opens, 0);
    spin(loop, 3);
    ck_assert_int_eq(y.closes, 1);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
    tu_hang_close(&h);
}
END_TEST

START_TEST(test_connect_bad_arguments)
{
    static const struct {
        const char *addr;
        int err;
    } cases[] = {
        {"nonsense", SB_EPORT},          {"*:80", SB_EINVAL_ADDR},
        {"127.0.0.1:99999", SB_EPORT},   {"[::1", SB_EINVAL_ADDR},
        {"unix:", SB_EINVAL_ADDR},       {":80", SB_EINVAL_ADDR},
        {"[::1]", SB_EPORT},             {"host:port", SB_EPORT},
        {"::1:80", SB_EINVAL_ADDR},      {"", SB_EINVAL_ADDR},
    };
    sb_loop *loop = sb_loop_new();
    size_t i;
    int err;
    cli x;

    memset(&x, 0, sizeof(x));
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = 0;
        ck_assert_ptr_null(sb_connect(loop, cases[i].addr, &cli_handler, &x, NULL, &err));
        ck_assert_msg(err == cases[i].err, "'%s': %s", cases[i].addr, sb_strerror(err));
    }
    err = 0;
    ck_assert_ptr_null(sb_connect(loop, "127.0.0.1:1", NULL, &x, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_ptr_null(sb_connect(NULL, "127.0.0.1:1", &cli_handler, &x, NULL, NULL));
    ck_assert_ptr_null(sb_connect(loop, NULL, &cli_handler, &x, NULL, &err));
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    spin(loop, 2);
    ck_assert_int_eq(x.opens + x.closes, 0);
    ck_assert_int_eq(sb_conn_connecting(NULL), 0);
    tu_loop_teardown(loop);
}
END_TEST

/* Once connected, the connection's options apply as for an accepted one:
 * the idle timeout starts, the connect timeout is gone. */
START_TEST(test_connected_options)
{
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {500000};
    sb_connect_opts o;
    char addr[64];
    tu_server s;
    cli x;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    memset(&x, 0, sizeof(x));
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 100;
    o.conn.idle_timeout_ms = 5000;
    o.conn.max_output = 10;
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    c = cli_connect(&x, loop, addr, &o);
    ck_assert_int_eq(sb_write(c, "0123456789A", 11), SB_EBUFFULL);
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    clk.now += 4999;
    spin(loop, 3);
    ck_assert_int_eq(x.closes, 0);
    clk.now += 1;
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.reason, -ETIMEDOUT);
    TU_ASSERT_EVENTUALLY(loop, s.closes == 1, 1000);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* Many connects in flight at once, all completing. */
START_TEST(test_many_connects)
{
    enum { N = 200 };
    sb_loop *loop = sb_loop_new();
    static cli xs[N];
    sb_listen_opts lo;
    char addr[64];
    tu_server s;
    int i, opens = 0, closes = 0;

    memset(&lo, 0, sizeof(lo));
    lo.backlog = 1024;
    memset(xs, 0, sizeof(xs));
    tu_server_start(&s, loop, "127.0.0.1:0", &lo);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    for (i = 0; i < N; i++)
        cli_connect(&xs[i], loop, addr, NULL);
    for (i = 0; i < 2000 && opens < N; i++) {
        int j;
        sb_loop_run_once(loop, 10);
        for (opens = 0, j = 0; j < N; j++)
            opens += xs[j].opens;
    }
    ck_assert_int_eq(opens, N);
    for (i = 0; i < N; i++)
        sb_close(xs[i].c);
    for (i = 0; i < 2000 && (closes < N || s.closes < N); i++) {
        int j;
        sb_loop_run_once(loop, 10);
        for (closes = 0, j = 0; j < N; j++)
            closes += xs[j].closes;
    }
    ck_assert_int_eq(closes, N);
    ck_assert_int_eq(s.closes, N);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* ------------------------------------------------------- injected faults */

static void fault_teardown(void)
{
    tu_fault_reset();
}

/* connect() failing at once (ENETUNREACH, injected): the next address is
 * tried; with none left, on_close reports it, from the loop. */
START_TEST(test_connect_fault_fallback)
{
    static const tu_fault once = {.every = 1, .err = ENETUNREACH, .limit = 1};
    sb_loop *loop = sb_loop_new();
    sb__addr a[2];
    char addr[64];
    tu_server s;
    cli x, y;
    sb_conn *c;
    int err = 0;

    memset(&x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    tu_fault_set(TU_F_CONNECT, &once);
    cli_connect(&x, loop, addr, NULL);
    ck_assert_uint_eq(tu_fault_hits(TU_F_CONNECT), 1);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.reason, -ENETUNREACH);
    ck_assert_int_eq(x.opens, 0);
    tu_fault_reset();
    parse(&a[0], "127.0.0.1:%d", s.port);
    a[1] = a[0];
    tu_fault_set(TU_F_CONNECT, &once);
    y.in_connect = 1;
    c = sb__connect_addrs(loop, a, 2, &cli_handler, &y, NULL, &err);
    y.in_connect = 0;
    ck_assert_ptr_nonnull(c);
    TU_ASSERT_EVENTUALLY(loop, y.opens == 1, 1000);
    ck_assert_uint_eq(tu_fault_calls(TU_F_CONNECT), 2);
    sb_abort(c);
    TU_ASSERT_EVENTUALLY(loop, y.closes == 1 && s.closes == 1, 1000);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* Each allocation failing in turn, from sb_connect to the connection's
 * close: either sb_connect fails with -ENOMEM and nothing else happens, or
 * the outcome is reported exactly once; nothing leaks (ASan, valgrind). */
START_TEST(test_connect_alloc_failures)
{
    unsigned long skip;
    int last_hit = 1;

    for (skip = 0; last_hit && skip < 200; skip++) {
        const tu_fault f = {.every = 1, .err = ENOMEM, .skip = skip, .limit = 1};
        sb_loop *loop;
        sb_connect_opts o;
        char addr[64];
        tu_server s;
        sb_conn *c;
        int err = 0, fds = tu_count_fds();
        cli x;

        tu_fault_reset();
        loop = sb_loop_new();
        ck_assert_ptr_nonnull(loop);
        tu_server_start(&s, loop, "127.0.0.1:0", NULL);
        s.no_echo = 1; /* its writes could fail too */
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
        memset(&x, 0, sizeof(x));
        memset(&o, 0, sizeof(o));
        o.connect_timeout_ms = 10000;
        tu_fault_set(TU_F_ALLOC, &f);
        x.in_connect = 1;
        c = sb_connect(loop, addr, &cli_handler, &x, &o, &err);
        x.in_connect = 0;
        if (!c) {
            ck_assert_int_eq(err, -ENOMEM);
            spin(loop, 2);
            ck_assert_int_eq(x.opens + x.closes, 0);
        } else {
            x.c = c;
            (void)sb_write(c, "abc", 3); /* may fail with -ENOMEM too */
            TU_ASSERT_EVENTUALLY(loop, x.opens == 1 || x.closes == 1, 1000);
            if (x.c)
                sb_abort(x.c);
            TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
            ck_assert_int_le(x.opens, 1);
            if (x.opens == 0)
                ck_assert_int_ne(x.reason, 0);
        }
        last_hit = tu_fault_hits(TU_F_ALLOC) > 0;
        tu_fault_reset();
        TU_ASSERT_EVENTUALLY(loop, s.closes == s.opens, 1000);
        sb_listener_close(s.l);
        tu_loop_teardown(loop);
        ck_assert_int_eq(tu_count_fds(), fds);
    }
    ck_assert_msg(!last_hit, "allocation schedule never ran out");
    ck_assert_uint_gt(skip, 5); /* 13 allocations on this path when written */
}
END_TEST

Suite *sb_client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("connect");
    TCase *tf = tcase_create("connect faults");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connect_success);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_connect_timeout);
    tcase_add_test(tc, test_close_while_connecting);
    tcase_add_test(tc, test_close_before_open);
    tcase_add_test(tc, test_writes_queued_while_connecting);
    tcase_add_test(tc, test_exchange_16mib);
    tcase_add_test(tc, test_connect_unix);
    tcase_add_test(tc, test_connect_ipv6);
    tcase_add_test(tc, test_connect_hostname);
    tcase_add_test(tc, test_connect_fallback);
    tcase_add_test(tc, test_connect_bad_arguments);
    tcase_add_test(tc, test_connected_options);
    tcase_add_test(tc, test_many_connects);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tf, 60);
    tcase_add_checked_fixture(tf, NULL, fault_teardown);
    tcase_add_test(tf, test_connect_fault_fallback);
    tcase_add_test(tf, test_connect_alloc_failures);
    suite_add_tcase(s, tf);
    return s;
}
