/* Outbound connections (sb_connect) through real loopback and unix sockets:
 * success reported asynchronously, refused, timeout against a full accept
 * queue (fake clock), close and abort while connecting, writes queued while
 * connecting, a 16 MiB verified exchange with a server on the same loop,
 * IPv6, unix sockets, host names, address fallback; and the sb-echo demo
 * against sb-echod. */
#include "fault.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif
#define ECHOD SB_TEST_BUILD_DIR "/sb-echod"
#define ECHO SB_TEST_BUILD_DIR "/sb-echo"

/* Run iterations until cond holds (at most ~10 s of waiting). */
#define RUN_UNTIL(loop, cond)                                                                  \
    do {                                                                                       \
        int ru_i_;                                                                             \
        for (ru_i_ = 0; ru_i_ < 1000 && !(cond); ru_i_++)                                      \
            sb_loop_run_once((loop), 10);                                                      \
        ck_assert_msg((cond), "timed out waiting for: %s", #cond);                             \
    } while (0)

/* ------------------------------------------------------------ fixtures */

/* A client handler with counters.  in_connect is set around sb_connect():
 * no callback may run while it is. */
typedef struct cli {
    int opens, closes, eofs, drains;
    int reason;
    int in_connect;
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

/* A loopback port nothing listens on: bound, read back, closed. */
static int closed_port(int type)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/*
 * A loopback listener whose accept queue is full: backlog 0 and one client
 * already queued, never accepted.  Linux (and gVisor) drop the SYNs of any
 * further client, so a connect to it stays in progress until it times out.
 */
typedef struct hang {
    int lfd, filler, port;
    char addr[64];
} hang;

static void hang_open(hang *h)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(h->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(h->lfd, 0), 0);
    ck_assert_int_eq(getsockname(h->lfd, (struct sockaddr *)&a, &len), 0);
    h->port = ntohs(a.sin_port);
    snprintf(h->addr, sizeof(h->addr), "127.0.0.1:%d", h->port);
    h->filler = tu_connect_tcp(h->port); /* the queue had room for this one */
}

static void hang_close(hang *h)
{
    close(h->filler);
    close(h->lfd);
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
    RUN_UNTIL(loop, x.opens == 1 && s.opens == 1);
    ck_assert_int_eq(x.closes, 0);
    ck_assert_int_eq(sb_conn_connecting(c), 0);
    ck_assert_int_gt(sb_conn_local(c, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "127.0.0.1:"));
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.conns, 2);
    /* The ordinary graceful close, both ends reporting 0. */
    sb_close(c);
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
    ck_assert_int_eq(x.reason, 0);
    ck_assert_int_eq(s.last_reason, 0);
    ck_assert_int_eq(x.opens, 1);
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
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port(SOCK_STREAM));
    cli_connect(&x, loop, addr, NULL);
    RUN_UNTIL(loop, x.closes == 1);
    ck_assert_msg(x.reason == -ECONNREFUSED, "reason %s", sb_strerror(x.reason));
    ck_assert_int_eq(x.opens, 0);
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
    hang h;
    cli x;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    hang_open(&h);
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
    hang_close(&h);
}
END_TEST

/* sb_abort and sb_close while the connect hangs. */
START_TEST(test_close_while_connecting)
{
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {500000};
    sb_connect_opts o;
    hang h;
    cli x, y;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    hang_open(&h);
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
    hang_close(&h);
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
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
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
    RUN_UNTIL(loop, s.closes == s.opens);
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
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
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
    int err = 0, i;

    memset(&b, 0, sizeof(b));
    b.total = tu_slow() ? (1u << 20) : (16u << 20);
    b.out = malloc(b.total);
    b.rs = 4242;
    ck_assert_ptr_nonnull(b.out);
    tu_fill(b.out, b.total, 1234);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    ck_assert_ptr_nonnull(sb_connect(loop, addr, &h, &b, NULL, &err));
    for (i = 0; i < 1000000 && !(b.closes && s.closes); i++)
        sb_loop_run_once(loop, 10);
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
    RUN_UNTIL(loop, x.opens == 1);
    ck_assert_int_eq(sb_write(c, "ping", 4), 0);
    RUN_UNTIL(loop, x.got == 4);
    ck_assert_int_eq(memcmp(x.buf, "ping", 4), 0);
    sb_close(c);
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
    ck_assert_int_eq(x.reason, 0);
    sb_listener_close(s.l);
    /* No such file: the failure is known at once, reported later. */
    cli_connect(&y, loop, addr, NULL);
    RUN_UNTIL(loop, y.closes == 1);
    ck_assert_msg(y.reason == -ENOENT, "reason %s", sb_strerror(y.reason));
    ck_assert_int_eq(y.opens, 0);
    /* A socket file nobody listens on: refused. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    cli_connect(&z, loop, addr, NULL);
    RUN_UNTIL(loop, z.closes == 1);
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
    RUN_UNTIL(loop, x.opens == 1);
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, addr);
    ck_assert_int_eq(sb_write(c, "six", 3), 0);
    RUN_UNTIL(loop, x.got == 3);
    sb_close(c);
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
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
    RUN_UNTIL(loop, x.opens == 1 || x.closes == 1);
    ck_assert_msg(x.opens == 1, "connect to %s: %s", addr, sb_strerror(x.reason));
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    ck_assert_str_eq(buf, addr);
    sb_abort(c);
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
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
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {500000};
    sb_connect_opts o;
    sb__addr a[4];
    char buf[64], want[64];
    tu_server s;
    int err = 0;
    hang h;
    cli x, y;
    sb_conn *c;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    memset(&x, 0, sizeof(x));
    memset(&y, 0, sizeof(y));
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 2000;
    hang_open(&h);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    parse(&a[0], "127.0.0.1:%d", closed_port(SOCK_STREAM));
    ck_assert_int_eq(sb__addr_parse("unix:/nonexistent/sb-fallback", 0, &a[1]), 0);
    parse(&a[2], "127.0.0.1:%d", h.port);
    parse(&a[3], "127.0.0.1:%d", s.port);
    c = sb__connect_addrs(loop, a, 4, &cli_handler, &x, &o, &err);
    ck_assert_ptr_nonnull(c);
    /* Refused, then no such file, then stuck on the full queue. */
    snprintf(want, sizeof(want), "127.0.0.1:%d", h.port);
    RUN_UNTIL(loop, sb_conn_peer(c, buf, sizeof(buf)) > 0 && strcmp(buf, want) == 0);
    spin(loop, 10);
    ck_assert_int_eq(x.opens + x.closes, 0);
    clk.now += 2000;
    RUN_UNTIL(loop, x.opens == 1 || x.closes == 1);
    ck_assert_int_eq(x.opens, 1);
    ck_assert_int_ge(sb_conn_peer(c, buf, sizeof(buf)), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", s.port);
    ck_assert_str_eq(buf, want);
    sb_close(c);
    RUN_UNTIL(loop, x.closes == 1 && s.closes == 1);
    ck_assert_int_eq(x.reason, 0);
    /* All fail: one on_close, with the last address's error. */
    c = sb__connect_addrs(loop, a, 2, &cli_handler, &y, NULL, &err);
    ck_assert_ptr_nonnull(c);
    RUN_UNTIL(loop, y.closes == 1);
    ck_assert_int_eq(y.reason, -ENOENT);
    ck_assert_int_eq(y.opens, 0);
    spin(loop, 3);
    ck_assert_int_eq(y.closes, 1);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
    hang_close(&h);
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
    RUN_UNTIL(loop, x.opens == 1);
    clk.now += 4999;
    spin(loop, 3);
    ck_assert_int_eq(x.closes, 0);
    clk.now += 1;
    RUN_UNTIL(loop, x.closes == 1);
    ck_assert_int_eq(x.reason, -ETIMEDOUT);
    RUN_UNTIL(loop, s.closes == 1);
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
    static const tu_fault once = {1, 0, NULL, ENETUNREACH, 0, 1};
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
    RUN_UNTIL(loop, x.closes == 1);
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
    RUN_UNTIL(loop, y.opens == 1);
    ck_assert_uint_eq(tu_fault_calls(TU_F_CONNECT), 2);
    sb_abort(c);
    RUN_UNTIL(loop, y.closes == 1 && s.closes == 1);
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
        tu_fault f = {1, 0, NULL, ENOMEM, 0, 1};
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
        f.skip = skip;
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
            RUN_UNTIL(loop, x.opens == 1 || x.closes == 1);
            if (x.c)
                sb_abort(x.c);
            RUN_UNTIL(loop, x.closes == 1);
            ck_assert_int_le(x.opens, 1);
            if (x.opens == 0)
                ck_assert_int_ne(x.reason, 0);
        }
        last_hit = tu_fault_hits(TU_F_ALLOC) > 0;
        tu_fault_reset();
        RUN_UNTIL(loop, s.closes == s.opens);
        sb_listener_close(s.l);
        tu_loop_teardown(loop);
        ck_assert_int_eq(tu_count_fds(), fds);
    }
    ck_assert_msg(!last_hit, "allocation schedule never ran out");
    ck_assert_uint_gt(skip, 5); /* 13 allocations on this path when written */
}
END_TEST

/* ------------------------------------------------------ sb-echo demo */

/* A child process with stdin fed from a socket (no SIGPIPE), stdout and
 * stderr captured. */
typedef struct run {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    const char *input;
    size_t in_len, in_off;
    char *out;
    size_t out_len, out_cap;
    char err[4096];
    size_t err_len;
} run;

static void run_start(run *r, const char *path, const char *const argv[], const char *input,
                      size_t in_len)
{
    int in[2], out[2], err[2];

    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in), 0);
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0) {
        dup2(in[1], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(in[1]);
    close(out[1]);
    close(err[1]);
    r->in_fd = in[0];
    r->out_fd = out[0];
    r->err_fd = err[0];
    fcntl(r->in_fd, F_SETFL, O_NONBLOCK);
    r->input = input;
    r->in_len = input ? in_len : 0;
    if (!input) {
        close(r->in_fd); /* stdin at EOF */
        r->in_fd = -1;
    }
}

/* Read what fd has into the buffer; close it at EOF. */
static void run_read(int *fd, char **buf, size_t *len, size_t *cap)
{
    char tmp[65536];
    ssize_t n = read(*fd, tmp, sizeof(tmp));

    if (n > 0) {
        if (*len + (size_t)n + 1 > *cap) {
            *cap = (*len + (size_t)n + 1) * 2;
            *buf = realloc(*buf, *cap);
            ck_assert_ptr_nonnull(*buf);
        }
        memcpy(*buf + *len, tmp, (size_t)n);
        *len += (size_t)n;
        (*buf)[*len] = '\0';
    } else if (n == 0 || errno != EINTR) {
        close(*fd);
        *fd = -1;
    }
}

/* Append what the child wrote on stderr (beyond 4 KiB it is dropped);
 * close it at EOF. */
static void run_read_err(run *r)
{
    char tmp[4096];
    size_t room = sizeof(r->err) - 1 - r->err_len;
    ssize_t n = read(r->err_fd, room ? r->err + r->err_len : tmp, room ? room : sizeof(tmp));

    if (n > 0 && room) {
        r->err_len += (size_t)n;
        r->err[r->err_len] = '\0';
    } else if (n == 0 || (n < 0 && errno != EINTR)) {
        close(r->err_fd);
        r->err_fd = -1;
    }
}

/* Until `needle` is on its stderr, followed by a complete line (or it
 * closes); returns where the needle ends, or NULL.  For daemons. */
static const char *run_wait_err(run *r, const char *needle)
{
    const char *at = NULL;
    int i;

    for (i = 0; i < 1000 && r->err_fd >= 0; i++) {
        struct pollfd pf = {r->err_fd, POLLIN, 0};
        at = strstr(r->err, needle);
        if (at && strchr(at, '\n'))
            break;
        if (poll(&pf, 1, 10) > 0)
            run_read_err(r);
    }
    at = strstr(r->err, needle);
    return at && strchr(at, '\n') ? at + strlen(needle) : NULL;
}

/*
 * Feed stdin, collect stdout and stderr until the child closes them, then
 * reap it.  With a loop, iterate it meanwhile (the child talks to it).
 * Returns the wait status.
 */
static int run_wait(run *r, sb_loop *loop)
{
    int i, status = 0;

    for (i = 0; i < 3000 && (r->out_fd >= 0 || r->err_fd >= 0); i++) {
        struct pollfd pf[3];
        int n = 0, k;
        if (r->in_fd >= 0)
            pf[n++] = (struct pollfd){r->in_fd, POLLOUT, 0};
        if (r->out_fd >= 0)
            pf[n++] = (struct pollfd){r->out_fd, POLLIN, 0};
        if (r->err_fd >= 0)
            pf[n++] = (struct pollfd){r->err_fd, POLLIN, 0};
        if (loop)
            sb_loop_run_once(loop, 5);
        if (poll(pf, (nfds_t)n, loop ? 5 : 10) <= 0)
            continue;
        for (k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            if (pf[k].fd == r->in_fd) {
                ssize_t w = send(r->in_fd, r->input + r->in_off, r->in_len - r->in_off,
                                 MSG_NOSIGNAL);
                if (w > 0)
                    r->in_off += (size_t)w;
                if (r->in_off == r->in_len || (w < 0 && errno != EAGAIN)) {
                    close(r->in_fd);
                    r->in_fd = -1;
                }
            } else if (pf[k].fd == r->out_fd) {
                run_read(&r->out_fd, &r->out, &r->out_len, &r->out_cap);
            } else {
                run_read_err(r);
            }
        }
    }
    ck_assert_msg(r->out_fd < 0 && r->err_fd < 0, "child did not finish; stderr: %s", r->err);
    if (r->in_fd >= 0)
        close(r->in_fd);
    ck_assert_int_eq(waitpid(r->pid, &status, 0), r->pid);
    return status;
}

static void run_free(run *r)
{
    free(r->out);
}

/* stderr holds exactly one line containing `needle`. */
static void assert_one_line(const run *r, const char *needle)
{
    ck_assert_msg(strstr(r->err, needle) != NULL, "expected '%s' in: %s", needle, r->err);
    ck_assert_msg(r->err_len > 0 && strchr(r->err, '\n') == r->err + r->err_len - 1,
                  "not one line: %s", r->err);
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* sb-echod on ephemeral TCP and UDP ports. */
typedef struct echod_proc {
    run r;
    int tcp, udp;
} echod_proc;

static void echod_start(echod_proc *d)
{
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", NULL};
    const char *tcp, *udp;

    run_start(&d->r, ECHOD, argv, NULL, 0);
    tcp = run_wait_err(&d->r, "listening on 127.0.0.1:");
    udp = run_wait_err(&d->r, "echoing datagrams on 127.0.0.1:");
    ck_assert_msg(tcp && udp, "sb-echod did not start: %s", d->r.err);
    d->tcp = atoi(tcp);
    d->udp = atoi(udp);
    ck_assert_int_gt(d->tcp, 0);
    ck_assert_int_gt(d->udp, 0);
}

static void echod_stop(echod_proc *d)
{
    int status;

    ck_assert_int_eq(kill(d->r.pid, SIGTERM), 0);
    status = run_wait(&d->r, NULL);
    ck_assert_msg(exit_code(status) == 0, "sb-echod exited %d: %s", status, d->r.err);
    run_free(&d->r);
}

/* Run sb-echo with args and stdin; returns its exit code. */
static int echo_run(run *r, const char *const argv[], const char *input, size_t len,
                    sb_loop *loop)
{
    run_start(r, ECHO, argv, input, len);
    return exit_code(run_wait(r, loop));
}

START_TEST(test_echo_tcp)
{
    echod_proc d;
    run r;
    char addr[64], *input;
    size_t len = 0, i;

    echod_start(&d);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d.tcp);
    {
        const char *argv[] = {"sb-echo", addr, "hello", "two words", "", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 0);
        ck_assert_str_eq(r.out, "hello\ntwo words\n\n");
        ck_assert_uint_eq(r.err_len, 0);
        run_free(&r);
    }
    /* stdin, streamed: 20,000 lines */
    input = malloc(20000 * 40);
    ck_assert_ptr_nonnull(input);
    for (i = 0; i < 20000; i++)
        len += (size_t)sprintf(input + len, "line %zu of the standard input\n", i);
    {
        const char *argv[] = {"sb-echo", "--timeout", "20", addr, NULL};
        ck_assert_int_eq(echo_run(&r, argv, input, len, NULL), 0);
        ck_assert_uint_eq(r.out_len, len);
        ck_assert_int_eq(memcmp(r.out, input, len), 0);
        ck_assert_uint_eq(r.err_len, 0);
        run_free(&r);
    }
    free(input);
    echod_stop(&d);
}
END_TEST

START_TEST(test_echo_udp)
{
    echod_proc d;
    run r;
    char addr[64];

    echod_start(&d);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d.udp);
    {
        const char *argv[] = {"sb-echo", "--udp", addr, "one", "", "three", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 0);
        ck_assert_str_eq(r.out, "one\n\nthree\n");
        ck_assert_uint_eq(r.err_len, 0);
        run_free(&r);
    }
    {
        static const char in[] = "alpha\nbeta\n\ngamma without newline";
        const char *argv[] = {"sb-echo", "-u", addr, NULL};
        ck_assert_int_eq(echo_run(&r, argv, in, strlen(in), NULL), 0);
        ck_assert_str_eq(r.out, "alpha\nbeta\n\ngamma without newline\n");
        run_free(&r);
    }
    echod_stop(&d);
}
END_TEST

START_TEST(test_echo_half_close)
{
    size_t len = tu_slow() ? 100000 : 1000000;
    char *input = malloc(len), addr[64];
    echod_proc d;
    run r;

    ck_assert_ptr_nonnull(input);
    tu_fill((unsigned char *)input, len, 99);
    echod_start(&d);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d.tcp);
    {
        const char *argv[] = {"sb-echo", "--half-close", addr, NULL};
        ck_assert_int_eq(echo_run(&r, argv, input, len, NULL), 0);
        ck_assert_uint_eq(r.out_len, len);
        ck_assert_int_eq(memcmp(r.out, input, len), 0);
        ck_assert_uint_eq(r.err_len, 0);
        run_free(&r);
    }
    {
        const char *argv[] = {"sb-echo", "-H", addr, "GET / HTTP/1.0", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 0);
        ck_assert_str_eq(r.out, "GET / HTTP/1.0\n");
        run_free(&r);
    }
    free(input);
    echod_stop(&d);
}
END_TEST

START_TEST(test_echo_refused)
{
    char addr[64];
    run r;

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port(SOCK_STREAM));
    {
        const char *argv[] = {"sb-echo", addr, "hi", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 1);
        assert_one_line(&r, "refused");
        ck_assert_ptr_nonnull(strstr(r.err, addr));
        ck_assert_uint_eq(r.out_len, 0);
        run_free(&r);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port(SOCK_DGRAM));
    {
        const char *argv[] = {"sb-echo", "--udp", "--timeout", "5", addr, "hi", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 1);
        assert_one_line(&r, "refused");
        run_free(&r);
    }
}
END_TEST

START_TEST(test_echo_timeout)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char addr[64];
    hang h;
    run r;
    int ufd;

    hang_open(&h);
    {
        const char *argv[] = {"sb-echo", "--timeout", "0.2", h.addr, "hi", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 1);
        assert_one_line(&r, "timed out");
        ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
        run_free(&r);
    }
    hang_close(&h);
    /* A datagram socket that never answers. */
    ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(ufd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(ufd, (struct sockaddr *)&a, &alen), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
    {
        const char *argv[] = {"sb-echo", "-u", "-t", "0.2", addr, "anyone?", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), 1);
        assert_one_line(&r, "no reply");
        run_free(&r);
    }
    close(ufd);
}
END_TEST

/* A server on this process's loop that answers in upper case. */
static void upper_data(sb_conn *c, const char *d, size_t n, void *u)
{
    char buf[256];
    size_t i;
    (void)u;
    for (i = 0; i < n && i < sizeof(buf); i++)
        buf[i] = (char)(d[i] >= 'a' && d[i] <= 'z' ? d[i] - 32 : d[i]);
    sb_write(c, buf, i);
}

START_TEST(test_echo_mismatch)
{
    static const sb_handler h = {.on_data = upper_data};
    sb_loop *loop = sb_loop_new();
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, NULL, NULL, NULL);
    char addr[64];
    run r;

    ck_assert_ptr_nonnull(l);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", sb_listener_port(l));
    {
        const char *argv[] = {"sb-echo", addr, "OK", "hello", NULL};
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, loop), 1);
        assert_one_line(&r, "mismatched echo");
        ck_assert_ptr_nonnull(strstr(r.err, "byte 3"));
        ck_assert_str_eq(r.out, "OK\n"); /* what matched was printed */
        run_free(&r);
    }
    sb_listener_close(l);
    sb_loop_close_all(loop);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_echo_bad_arguments)
{
    static const struct {
        const char *a, *b, *c;
        int code;
        const char *expect;
    } cases[] = {
        {NULL, NULL, NULL, 2, "missing ADDR"},
        {"--udp", "--half-close", "127.0.0.1:1", 2, "--half-close"},
        {"--timeout", "soon", "127.0.0.1:1", 2, "--timeout"},
        {"--timeout", "-1", "127.0.0.1:1", 2, "--timeout"},
        {"--bogus", "127.0.0.1:1", NULL, 2, "--bogus"},
        {"--timeout", NULL, NULL, 2, "--timeout"},
        {"nonsense", "hi", NULL, 2, "nonsense"}, /* does not parse: a bad argument */
        {"127.0.0.1:70000", NULL, NULL, 2, "port"},
        {"--udp", "[::1", "hi", 2, "[::1"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sb-echo", cases[i].a, cases[i].b, cases[i].c, NULL};
        run r;
        ck_assert_int_eq(echo_run(&r, argv, NULL, 0, NULL), cases[i].code);
        assert_one_line(&r, cases[i].expect);
        ck_assert_uint_eq(r.out_len, 0);
        run_free(&r);
    }
}
END_TEST

Suite *sb_client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("connect");
    TCase *te = tcase_create("sb-echo");
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
    tcase_set_timeout(te, 60);
    tcase_add_test(te, test_echo_tcp);
    tcase_add_test(te, test_echo_udp);
    tcase_add_test(te, test_echo_half_close);
    tcase_add_test(te, test_echo_refused);
    tcase_add_test(te, test_echo_timeout);
    tcase_add_test(te, test_echo_mismatch);
    tcase_add_test(te, test_echo_bad_arguments);
    suite_add_tcase(s, te);
    return s;
}
