/* Connections through real loopback sockets: echo of 1 B .. 16 MiB with
 * random chunking, partial writes, 2,000 connections past FD_SETSIZE,
 * half-close, reset, close from callbacks, idle timeout, backpressure and
 * watermarks, lingering close, shutdown, drain. */
#include "fault.h"
#include "testutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_echo_sizes)
{
    static const size_t sizes[] = {1, 2, 100, 4095, 4096, 65536, 65537, 1000000, 16u << 20};
    sb_loop *loop = sb_loop_new();
    size_t i, total = 0, n = sizeof(sizes) / sizeof(sizes[0]);
    tu_server s;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    if (tu_slow())
        n--; /* 16 MiB under valgrind takes minutes */
    for (i = 0; i < n; i++) {
        int fd = tu_connect_tcp(s.port);
        total += tu_echo_stream(&s, fd, sizes[i], i % 2 ? 65536 : 7000, 1 << 20, (uint32_t)i + 1, 0);
        close(fd);
    }
    ck_assert_uint_eq(s.bytes, total);
    TU_RUN_UNTIL(loop, s.closes >= (int)n, 1000);
    ck_assert_int_eq(s.closes, (int)n);
    ck_assert_int_eq(s.last_reason, 0);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

static void small_sndbuf_open(sb_conn *c, void *udata)
{
    int v = 4096;
    tu_server *s = udata;
    setsockopt(sb_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    s->opens++;
    s->last = c;
}

/* Tiny send buffer on the server, a client that reads 1 KiB per iteration:
 * the server's sends are partial, and every byte still arrives in order. */
START_TEST(test_partial_writes_slow_reader)
{
    sb_loop *loop = sb_loop_new();
    sb_handler h = tu_echo_handler;
    sb_loop_stats st;
    tu_server s;
    int fd, v = 4096, err = 0;
    size_t len = tu_slow() ? 200000 : 1000000;

    memset(&s, 0, sizeof(s));
    s.loop = loop;
    h.on_open = small_sndbuf_open;
    s.l = sb_listen(loop, "127.0.0.1:0", &h, &s, NULL, &err);
    ck_assert_ptr_nonnull(s.l);
    s.port = sb_listener_port(s.l);
    fd = tu_connect_tcp(s.port);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    ck_assert_uint_eq(tu_echo_stream(&s, fd, len, 3000, 1024, 99, 1), len);
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.bytes_in, len);
    ck_assert_uint_eq(st.bytes_out, len);
    /* Drains fired: the queue emptied many times after partial sends. */
    ck_assert_int_gt(s.drains, 1);
    close(fd);
    tu_run_until(loop, &s.closes, 500);
    ck_assert_int_eq(s.last_reason, 0);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* 2,000 simultaneous connections, fds past FD_SETSIZE, each echoing. */
START_TEST(test_many_connections)
{
    enum { N = 2000 };
    sb_loop *loop = sb_loop_new();
    static int fds[N];
    struct rlimit rl, old;
    sb_listen_opts o;
    tu_server s;
    int i, maxfd = 0, done = 0, iter, before = tu_count_fds();
    static size_t got[N];

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    if (rl.rlim_cur < 2 * N + 200) {
        rl.rlim_cur = 2 * N + 200;
        ck_assert_msg(rl.rlim_cur <= rl.rlim_max, "hard fd limit too low for this test");
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    memset(&o, 0, sizeof(o));
    o.backlog = 4096;
    tu_server_start(&s, loop, "127.0.0.1:0", &o);
    for (i = 0; i < N; i++) {
        fds[i] = tu_connect_tcp(s.port);
        if (fds[i] > maxfd)
            maxfd = fds[i];
        if (i % 100 == 99)
            TU_RUN_UNTIL(loop, s.opens >= i + 1, 200);
    }
    TU_RUN_UNTIL(loop, s.opens >= N, 500);
    ck_assert_int_eq(s.opens, N);
    ck_assert_int_gt(maxfd, FD_SETSIZE + 1000);
    memset(got, 0, sizeof(got));
    for (i = 0; i < N; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "conn %06d says hello ...", i);
        ck_assert_int_eq(tu_send(fds[i], msg, 24), 24);
    }
    for (iter = 0; iter < 2000 && done < N; iter++) {
        sb_loop_run_once(loop, 10);
        for (i = 0; i < N; i++) {
            char buf[32], want[32];
            int eof = 0;
            ssize_t r;
            if (got[i] == 24)
                continue;
            r = tu_drain(fds[i], buf, 24 - got[i], &eof);
            ck_assert_int_eq(eof, 0);
            if (r > 0) {
                snprintf(want, sizeof(want), "conn %06d says hello ...", i);
                ck_assert_int_eq(memcmp(buf, want + got[i], (size_t)r), 0);
                got[i] += (size_t)r;
                done += got[i] == 24;
            }
        }
    }
    ck_assert_int_eq(done, N);
    for (i = 0; i < N; i++)
        close(fds[i]);
    TU_RUN_UNTIL(loop, s.closes >= N, 1000);
    ck_assert_int_eq(s.closes, N);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
    ck_assert_int_eq(tu_count_fds(), before);
    setrlimit(RLIMIT_NOFILE, &old);
}
END_TEST

/* The HOWTO's HTTP-like exchange: send, shutdown(SHUT_WR), read to EOF. */
START_TEST(test_half_close_exchange)
{
    sb_loop *loop = sb_loop_new();
    tu_server s;
    int fd;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    fd = tu_connect_tcp(s.port);
    ck_assert_uint_eq(tu_echo_stream(&s, fd, 300000, 50000, 1 << 20, 5, 1), 300000);
    ck_assert_int_eq(s.eofs, 1);
    tu_run_until(loop, &s.closes, 500);
    ck_assert_int_eq(s.closes, 1);
    ck_assert_int_eq(s.last_reason, 0);
    close(fd);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* A peer resets in mid-stream: that connection closes with an error
 * reason; another connection is untouched. */
START_TEST(test_peer_reset)
{
    sb_loop *loop = sb_loop_new();
    struct linger lg = {1, 0};
    char big[65536];
    tu_server s;
    int a, b, i;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    a = tu_connect_tcp(s.port);
    b = tu_connect_tcp(s.port);
    memset(big, 'r', sizeof(big));
    /* a sends a lot and never reads, then resets. */
    for (i = 0; i < 20; i++) {
        tu_send(a, big, sizeof(big));
        sb_loop_run_once(loop, 0);
    }
    setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(a);
    tu_run_until(loop, &s.closes, 500);
    ck_assert_int_eq(s.closes, 1);
    ck_assert_msg(s.last_reason == -ECONNRESET || s.last_reason == -EPIPE, "reason %s",
                  sb_strerror(s.last_reason));
    ck_assert_uint_eq(tu_echo_stream(&s, b, 100000, 4000, 1 << 20, 8, 0), 100000);
    close(b);
    TU_RUN_UNTIL(loop, s.closes >= 2, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* ---------------------------------------------------- close from callbacks */

/*
 * Two server-side connections ready in the same pass.  A test's state
 * starts with a `two`, whose on_open (two_open) remembers the connections.
 */
typedef struct two {
    sb_conn *conns[2];
    int opens;
} two;

static void two_open(sb_conn *c, void *u)
{
    two *t = u;
    if (t->opens < 2)
        t->conns[t->opens] = c;
    t->opens++;
}

/* Connect clients *a and *b to l and run the loop until both are open. */
static void two_connect(sb_loop *loop, sb_listener *l, two *t, int *a, int *b)
{
    *a = tu_connect_tcp(sb_listener_port(l));
    *b = tu_connect_tcp(sb_listener_port(l));
    TU_RUN_UNTIL(loop, t->opens >= 2, 500);
    ck_assert_int_eq(t->opens, 2);
}

/* Send one byte from each client, then wait (select, up to 10 s) until
 * both server-side fds are readable, so the loop's next select() reports
 * both. */
static void two_send_both(const two *t, int a, int b)
{
    int ca = sb_conn_fd(t->conns[0]), cb = sb_conn_fd(t->conns[1]), i;
    fd_set r;

    ck_assert_int_eq(tu_send(a, "x", 1), 1);
    ck_assert_int_eq(tu_send(b, "y", 1), 1);
    for (i = 0; i < 1000; i++) {
        struct timeval tv = {0, 10000};
        FD_ZERO(&r);
        FD_SET(ca, &r);
        FD_SET(cb, &r);
        if (select((ca > cb ? ca : cb) + 1, &r, NULL, NULL, &tv) == 2)
            return;
    }
    ck_abort_msg("fds %d and %d never both readable", ca, cb);
}

typedef enum cfc_mode {
    CFC_CLOSE_OWN,   /* on_data replies, then closes its own connection */
    CFC_ABORT_OTHER, /* on_data aborts the other connection */
} cfc_mode;

typedef struct cfc {
    two t; /* first: on_open is two_open */
    int datas, closes;
    int reasons[8];
    cfc_mode mode;
    sb_loop *loop;
} cfc;

static void cfc_data(sb_conn *c, const char *d, size_t n, void *u)
{
    cfc *x = u;
    x->datas++;
    if (x->mode == CFC_CLOSE_OWN) {
        ck_assert_int_eq(sb_write(c, d, n), 0);
        sb_close(c);
        ck_assert_int_eq(sb_write(c, "late", 4), SB_ECLOSED);
        sb_close(c); /* idempotent */
    } else {
        sb_conn *other = x->t.conns[0] == c ? x->t.conns[1] : x->t.conns[0];
        sb_abort(other);
        sb_abort(other);
    }
}

static void cfc_close(sb_conn *c, int reason, void *u)
{
    cfc *x = u;
    (void)c;
    if (x->closes < 8)
        x->reasons[x->closes] = reason;
    x->closes++;
}

static const sb_handler cfc_handler = {two_open, cfc_data, NULL, NULL, cfc_close, NULL};

START_TEST(test_close_own_from_callback)
{
    sb_loop *loop = sb_loop_new();
    cfc x;
    sb_listener *l;
    char buf[64];
    int fd, eof = 0, i;
    size_t got = 0;

    memset(&x, 0, sizeof(x));
    x.mode = CFC_CLOSE_OWN;
    l = sb_listen(loop, "127.0.0.1:0", &cfc_handler, &x, NULL, NULL);
    fd = tu_connect_tcp(sb_listener_port(l));
    ck_assert_int_eq(tu_send(fd, "request", 7), 7);
    for (i = 0; i < 500 && !eof; i++) {
        sb_loop_run_once(loop, 10);
        got += (size_t)tu_drain(fd, buf + got, sizeof(buf) - got, &eof);
    }
    /* The reply arrives whole, then EOF (not a reset). */
    ck_assert_int_eq(eof, 1);
    ck_assert_uint_eq(got, 7);
    ck_assert_int_eq(memcmp(buf, "request", 7), 0);
    close(fd);
    TU_RUN_UNTIL(loop, x.closes >= 1, 500);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_int_eq(x.reasons[0], 0);
    ck_assert_int_eq(x.datas, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* Two connections ready in the same pass; the first one's callback aborts
 * the second: the second gets no callback but on_close, exactly once. */
START_TEST(test_close_other_ready_conn)
{
    sb_loop *loop = sb_loop_new();
    cfc x;
    sb_listener *l;
    int a, b;

    memset(&x, 0, sizeof(x));
    x.mode = CFC_ABORT_OTHER;
    l = sb_listen(loop, "127.0.0.1:0", &cfc_handler, &x, NULL, NULL);
    two_connect(loop, l, &x.t, &a, &b);
    two_send_both(&x.t, a, b);
    sb_loop_run_once(loop, 1000);
    ck_assert_int_eq(x.datas, 1);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_int_eq(x.reasons[0], SB_EABORTED);
    close(a);
    close(b);
    TU_RUN_UNTIL(loop, x.closes >= 2, 500);
    ck_assert_int_eq(x.closes, 2);
    ck_assert_int_eq(x.datas, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * When a reply leaves: the replies a connection queues while handling its
 * own read go out with one send right after that read (before the next
 * ready connection is read), and on_drain still runs at the end of the
 * iteration, so what it writes leaves with the next one.
 */
typedef struct early {
    two t; /* first: on_open is two_open */
    int datas, drains, bangs;
    size_t big; /* write this many bytes instead of "<data>" */
    unsigned long sends_at_data[2], sends_at_drain[2];
} early;

static void early_data(sb_conn *c, const char *d, size_t n, void *u)
{
    early *x = u;
    if (x->datas < 2)
        x->sends_at_data[x->datas] = tu_fault_calls(TU_F_SEND);
    x->datas++;
    if (x->big) {
        static char blob[64 * 1024];
        ck_assert_int_eq(sb_write(c, blob, x->big), 0);
        return;
    }
    /* Three writes, one reply. */
    ck_assert_int_eq(sb_write(c, "<", 1), 0);
    ck_assert_int_eq(sb_write(c, d, n), 0);
    ck_assert_int_eq(sb_write(c, ">", 1), 0);
}

static void early_drain(sb_conn *c, void *u)
{
    early *x = u;
    if (x->drains < 2)
        x->sends_at_drain[x->drains] = tu_fault_calls(TU_F_SEND);
    x->drains++;
    if (x->bangs < 2) {
        x->bangs++;
        ck_assert_int_eq(sb_write(c, "!", 1), 0);
    }
}

START_TEST(test_reply_leaves_with_its_read)
{
    static const sb_handler h = {.on_open = two_open, .on_data = early_data,
                                 .on_drain = early_drain};
    sb_loop *loop = sb_loop_new();
    early x;
    sb_listener *l;
    int a, b, i, eof = 0;
    unsigned long s0;
    char buf[2][16];
    size_t got[2] = {0, 0};

    memset(&x, 0, sizeof(x));
    l = sb_listen(loop, "127.0.0.1:0", &h, &x, NULL, NULL);
    two_connect(loop, l, &x.t, &a, &b);
    two_send_both(&x.t, a, b);
    s0 = tu_fault_calls(TU_F_SEND);
    sb_loop_run_once(loop, 1000);
    ck_assert_int_eq(x.datas, 2);
    /* The first reply was sent before the second connection was read. */
    ck_assert_uint_eq(x.sends_at_data[0], s0);
    ck_assert_uint_eq(x.sends_at_data[1], s0 + 1);
    /* One send each for three writes; on_drain ran after both, at the end
     * of the iteration, and its writes were not sent in it. */
    ck_assert_int_eq(x.drains, 2);
    ck_assert_uint_eq(x.sends_at_drain[0], s0 + 2);
    ck_assert_uint_eq(x.sends_at_drain[1], s0 + 2);
    ck_assert_uint_eq(tu_fault_calls(TU_F_SEND), s0 + 2);
    ck_assert_uint_eq(sb_conn_queued(x.t.conns[0]), 1);
    ck_assert_uint_eq(sb_conn_queued(x.t.conns[1]), 1);
    sb_loop_run_once(loop, 0);
    ck_assert_uint_eq(tu_fault_calls(TU_F_SEND), s0 + 4);
    for (i = 0; i < 500 && (got[0] < 4 || got[1] < 4); i++) {
        sb_loop_run_once(loop, 10);
        got[0] += (size_t)tu_drain(a, buf[0] + got[0], sizeof(buf[0]) - got[0], &eof);
        got[1] += (size_t)tu_drain(b, buf[1] + got[1], sizeof(buf[1]) - got[1], &eof);
    }
    ck_assert_uint_eq(got[0], 4);
    ck_assert_uint_eq(got[1], 4);
    ck_assert_int_eq(memcmp(buf[0], "<x>!", 4), 0);
    ck_assert_int_eq(memcmp(buf[1], "<y>!", 4), 0);

    /* Bulk output (over SB__EARLY_MAX) waits for step 5 instead: a pass
     * reads every ready connection before the large sends. */
    x.big = SB__EARLY_MAX + 1;
    x.datas = x.drains = 0;
    two_send_both(&x.t, a, b);
    s0 = tu_fault_calls(TU_F_SEND);
    sb_loop_run_once(loop, 1000);
    ck_assert_int_eq(x.datas, 2);
    ck_assert_uint_eq(x.sends_at_data[0], s0);
    ck_assert_uint_eq(x.sends_at_data[1], s0);
    ck_assert_uint_eq(tu_fault_calls(TU_F_SEND), s0 + 2);
    close(a);
    close(b);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* Idle timeout on a fake clock: activity pushes it back; silence closes. */
START_TEST(test_idle_timeout)
{
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {100000};
    sb_listen_opts o;
    sb_loop_stats st;
    tu_server s;
    char buf[8];
    int fd, i, eof = 0;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    memset(&o, 0, sizeof(o));
    o.conn.idle_timeout_ms = 1000;
    tu_server_start(&s, loop, "127.0.0.1:0", &o);
    fd = tu_connect_tcp(s.port);
    tu_run_until(loop, &s.opens, 500);
    clk.now += 600;
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(tu_send(fd, "ping", 4), 4);
    TU_ASSERT_EVENTUALLY(loop, s.bytes >= 4, 500);
    clk.now += 600; /* 1200 since open, 600 since activity */
    for (i = 0; i < 5; i++)
        sb_loop_run_once(loop, 0);
    ck_assert_int_eq(s.closes, 0);
    clk.now += 401;
    for (i = 0; i < 5; i++)
        sb_loop_run_once(loop, 0);
    ck_assert_int_eq(s.closes, 1);
    ck_assert_int_eq(s.last_reason, -ETIMEDOUT);
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.timeouts, 1);
    tu_drain(fd, buf, sizeof(buf), &eof);
    ck_assert_int_ne(eof, 0);
    close(fd);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* A peer that never reads: the server stops reading once its queue passes
 * the high-water mark, so its memory stays bounded; when the peer reads
 * again, every byte arrives in order. */
START_TEST(test_backpressure)
{
    sb_loop *loop = sb_loop_new();
    sb_listen_opts o;
    tu_server s;
    /* More than the kernel can buffer (tcp_wmem + tcp_rmem maxima). */
    size_t total = 32u << 20, sent = 0, got = 0, peak = 0;
    unsigned char *out = malloc(total), *in = malloc(total);
    int fd, i, eof = 0, stalled = 0;

    memset(&o, 0, sizeof(o));
    o.conn.high_water = 128 * 1024;
    o.conn.low_water = 32 * 1024;
    tu_server_start(&s, loop, "127.0.0.1:0", &o);
    fd = tu_connect_tcp(s.port);
    tu_fill(out, total, 42);
    tu_run_until(loop, &s.opens, 500);
    /* Phase 1: write until the whole path is full; never read. */
    for (i = 0; i < 20000 && sent < total; i++) {
        ssize_t w = tu_send(fd, out + sent, total - sent < 65536 ? total - sent : 65536);
        if (w > 0) {
            sent += (size_t)w;
            stalled = 0;
        } else {
            ck_assert_int_eq(errno, EAGAIN);
            if (++stalled > 50)
                break;
        }
        sb_loop_run_once(loop, 0);
        if (s.last && sb_conn_queued(s.last) > peak)
            peak = sb_conn_queued(s.last);
    }
    ck_assert_uint_lt(sent, total); /* the server stopped taking input */
    ck_assert_uint_gt(peak, o.conn.high_water / 2);
    /* Bounded: high water plus at most one read's worth. */
    ck_assert_uint_le(peak, o.conn.high_water + 64 * 1024);
    /* Phase 2: read everything; the rest flows. */
    for (i = 0; i < 200000 && got < total; i++) {
        if (sent < total) {
            ssize_t w = tu_send(fd, out + sent, total - sent < 65536 ? total - sent : 65536);
            if (w > 0)
                sent += (size_t)w;
        }
        sb_loop_run_once(loop, 0);
        if (s.last && sb_conn_queued(s.last) > peak)
            peak = sb_conn_queued(s.last);
        got += (size_t)tu_drain(fd, in + got, total - got, &eof);
        ck_assert_int_eq(eof, 0);
    }
    ck_assert_uint_eq(got, total);
    ck_assert_int_eq(memcmp(in, out, total), 0);
    ck_assert_uint_le(peak, o.conn.high_water + 64 * 1024);
    close(fd);
    tu_run_until(loop, &s.closes, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
    free(out);
    free(in);
}
END_TEST

static void fault_teardown(void)
{
    tu_fault_reset();
}

/*
 * Lowering the watermarks' effect ends backpressure: held messages flow.
 * Every line gets a reply over a 1-byte high-water mark, so while a reply
 * is queued the connection reads no further.
 */
typedef struct held {
    int opens, datas, closes;
    sb_conn *c;
} held;

static void held_open(sb_conn *c, void *u)
{
    held *h = u;
    h->opens++;
    h->c = c;
    sb_conn_framer_line(c, 100);
    sb_conn_set_watermarks(c, 0, 1); /* any output pauses input */
}

static void held_data(sb_conn *c, const char *d, size_t n, void *u)
{
    held *h = u;
    (void)d;
    (void)n;
    h->datas++;
    sb_write(c, "xx", 2); /* over the 1-byte high-water mark */
}

static void held_eof(sb_conn *c, void *u)
{
    (void)u;
    sb_close(c);
}

static void held_close(sb_conn *c, int reason, void *u)
{
    held *h = u;
    (void)c;
    (void)reason;
    h->closes++;
}

START_TEST(test_watermarks_release_held_input)
{
    static const sb_handler hh = {.on_open = held_open,
                                  .on_data = held_data,
                                  .on_eof = held_eof,
                                  .on_close = held_close};
    static const tu_fault stuck = {.every = 1, .err = EAGAIN}; /* no limit */
    sb_loop *loop = sb_loop_new();
    held h;
    sb_listener *l;
    int fd, i;

    memset(&h, 0, sizeof(h));
    tu_fault_reset();
    tu_fault_set(TU_F_SEND, &stuck); /* the reply stays queued */
    l = sb_listen(loop, "127.0.0.1:0", &hh, &h, NULL, NULL);
    fd = tu_connect_tcp(sb_listener_port(l));
    TU_RUN_UNTIL(loop, h.opens, 500);
    ck_assert_int_eq(tu_send(fd, "1\n2\n3\n", 6), 6);
    TU_RUN_UNTIL(loop, h.datas, 500);
    for (i = 0; i < 10; i++)
        sb_loop_run_once(loop, 0);
    ck_assert_int_eq(h.datas, 1); /* the reply queued: backpressure holds 2, 3 */
    sb_conn_set_watermarks(h.c, 1 << 10, 1 << 20); /* queue now under low */
    TU_RUN_UNTIL_MS(loop, h.datas >= 3, 20, 0);
    ck_assert_int_eq(h.datas, 3);
    tu_fault_reset();
    close(fd);
    TU_RUN_UNTIL(loop, h.closes, 500);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* sb_close with unread input: the reply must not be destroyed by a reset.
 * The server replies to the first bytes and closes while the client keeps
 * sending; the client still reads the whole reply, then a clean EOF. */
typedef struct lingerx {
    int closes, reason, replied;
} lingerx;

static void linger_data(sb_conn *c, const char *d, size_t n, void *u)
{
    lingerx *x = u;
    static char reply[200000];
    (void)d;
    (void)n;
    if (x->replied++)
        return;
    memset(reply, 'R', sizeof(reply));
    ck_assert_int_eq(sb_write(c, reply, sizeof(reply)), 0);
    sb_close(c);
}

static void linger_close(sb_conn *c, int reason, void *u)
{
    lingerx *x = u;
    (void)c;
    x->closes++;
    x->reason = reason;
}

START_TEST(test_lingering_close)
{
    static const sb_handler h = {NULL, linger_data, NULL, NULL, linger_close, NULL};
    sb_loop *loop = sb_loop_new();
    lingerx x = {0, 0, 0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &x, NULL, NULL);
    char junk[4096], *buf = malloc(300000);
    size_t got = 0;
    int fd = tu_connect_tcp(sb_listener_port(l)), i, eof = 0;

    memset(junk, 'j', sizeof(junk));
    for (i = 0; i < 100000 && !eof; i++) {
        if (i < 200)
            tu_send(fd, junk, sizeof(junk)); /* input the server never reads */
        sb_loop_run_once(loop, i < 200 ? 0 : 10);
        if (i > 20)
            got += (size_t)tu_drain(fd, buf + got, 300000 - got, &eof);
        ck_assert_msg(eof >= 0, "client saw %s", strerror(-eof));
    }
    ck_assert_int_eq(eof, 1);
    ck_assert_uint_eq(got, 200000);
    for (i = 0; i < (int)got; i++)
        ck_assert(buf[i] == 'R');
    close(fd);
    TU_RUN_UNTIL(loop, x.closes, 500);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_int_eq(x.reason, 0);
    sb_listener_close(l);
    tu_loop_teardown(loop);
    free(buf);
}
END_TEST

/* sb_shutdown: FIN after the queued reply, but input still flows in. */
typedef struct shutx {
    int datas, closes, reason;
    size_t bytes;
} shutx;

static void shut_data(sb_conn *c, const char *d, size_t n, void *u)
{
    shutx *x = u;
    (void)d;
    if (x->datas++ == 0) {
        ck_assert_int_eq(sb_write(c, "bye", 3), 0);
        sb_shutdown(c);
        ck_assert_int_eq(sb_write(c, "x", 1), SB_ECLOSED);
    }
    x->bytes += n;
}

static void shut_close(sb_conn *c, int reason, void *u)
{
    shutx *x = u;
    (void)c;
    x->closes++;
    x->reason = reason;
}

START_TEST(test_shutdown_keeps_reading)
{
    static const sb_handler h = {NULL, shut_data, NULL, NULL, shut_close, NULL};
    sb_loop *loop = sb_loop_new();
    shutx x = {0, 0, 0, 0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &x, NULL, NULL);
    int fd = tu_connect_tcp(sb_listener_port(l)), i, eof = 0;
    char buf[16];
    size_t got = 0;

    ck_assert_int_eq(tu_send(fd, "hi", 2), 2);
    for (i = 0; i < 500 && !eof; i++) {
        sb_loop_run_once(loop, 10);
        got += (size_t)tu_drain(fd, buf + got, sizeof(buf) - got, &eof);
    }
    ck_assert_int_eq(eof, 1);
    ck_assert_uint_eq(got, 3);
    ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
    /* Our side is still open for the server to read. */
    ck_assert_int_eq(tu_send(fd, "more", 4), 4);
    TU_RUN_UNTIL(loop, x.bytes >= 6, 500);
    ck_assert_uint_eq(x.bytes, 6);
    ck_assert_int_eq(x.closes, 0);
    /* Our FIN completes the close, orderly. */
    shutdown(fd, SHUT_WR);
    TU_RUN_UNTIL(loop, x.closes, 500);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_int_eq(x.reason, 0);
    close(fd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* sb_abort drops queued output and resets the peer. */
static void abort_data(sb_conn *c, const char *d, size_t n, void *u)
{
    (void)d;
    (void)n;
    (void)u;
    ck_assert_int_eq(sb_write(c, "never sent", 10), 0);
    sb_abort(c);
}

START_TEST(test_abort_resets)
{
#ifdef _WIN32
    TU_WIN32_SKIP_UNDER_WINE("abort_resets", "under wine a closesocket() with SO_LINGER {1, 0} sends FIN, not RST (Windows resets)");
#endif
    static const sb_handler h = {NULL, abort_data, NULL, NULL, linger_close, NULL};
    sb_loop *loop = sb_loop_new();
    lingerx x = {0, 0, 0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &x, NULL, NULL);
    int fd = tu_connect_tcp(sb_listener_port(l)), i, eof = 0;
    char buf[16];
    ssize_t got = 0;

    ck_assert_int_eq(tu_send(fd, "hi", 2), 2);
    for (i = 0; i < 500 && !eof; i++) {
        sb_loop_run_once(loop, 10);
        got += tu_drain(fd, buf, sizeof(buf), &eof);
    }
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(eof, -ECONNRESET);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_int_eq(x.reason, SB_EABORTED);
    close(fd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* Output buffers go back to the loop's pool as soon as they empty; an
 * emptied input buffer is freed once the connection has been idle 1 s. */
START_TEST(test_idle_buffers_reclaimed)
{
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {50000};
    tu_server s;
    int fd;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    fd = tu_connect_tcp(s.port);
    ck_assert_uint_eq(tu_echo_stream(&s, fd, 100, 100, 1 << 20, 1, 0), 100);
    ck_assert_ptr_null(s.last->out.data); /* given back once flushed */
    ck_assert_uint_ge(loop->npool, 1);
    /* A partial line leaves input buffered; completing it empties it. */
    sb_conn_framer_line(s.last, 100);
    ck_assert_int_eq(tu_send(fd, "par", 3), 3);
    TU_ASSERT_EVENTUALLY(loop, s.last->in.len >= 3, 500);
    ck_assert_int_eq(tu_send(fd, "tial\n", 5), 5);
    TU_ASSERT_EVENTUALLY(loop, s.last->in.len == 0, 500);
    ck_assert_ptr_nonnull(s.last->in.data); /* kept while busy */
    clk.now += 500;
    sb_loop_run_once(loop, 0);
    ck_assert_ptr_nonnull(s.last->in.data);
    clk.now += 600; /* idle for over a second */
    sb_loop_run_once(loop, 0);
    ck_assert_ptr_null(s.last->in.data);
    close(fd);
    tu_run_until(loop, &s.closes, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * A connection outlives its closed listener, and still reaches it: its
 * udata (the server's context), port and address; a second close of the
 * listener is a no-op.
 */
START_TEST(test_conn_outlives_listener)
{
    sb_loop *loop = sb_loop_new();
    char addr[64];
    tu_server s;
    int fd, port;
    sb_listener *l;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    ck_assert_ptr_eq(sb_listener_udata(s.l), &s); /* what sb_listen was given */
    fd = tu_connect_tcp(s.port);
    tu_run_until(loop, &s.opens, 500);
    l = sb_conn_listener(s.last);
    ck_assert_ptr_eq(l, s.l);
    sb_listener_set_udata(l, addr);
    ck_assert_ptr_eq(sb_listener_udata(l), addr);
    ck_assert_ptr_eq(sb_conn_udata(s.last), &s); /* the connection's own is kept */
    port = sb_listener_port(l);
    sb_listener_close(s.l);
    ck_assert_ptr_eq(sb_conn_listener(s.last), l);
    ck_assert_ptr_eq(sb_listener_udata(l), addr);
    ck_assert_int_eq(sb_listener_port(l), port);
    ck_assert_int_gt(sb_listener_local(l, addr, sizeof(addr)), 0);
    ck_assert_uint_eq(sb_listener_conns(l), 1);
    sb_listener_close(l); /* again: nothing happens */
    ck_assert_uint_eq(sb_loop_handles(loop), 1); /* the connection only */
    ck_assert_uint_eq(tu_echo_stream(&s, fd, 5000, 100, 1 << 20, 3, 0), 5000);
    close(fd);
    tu_run_until(loop, &s.closes, 500);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("echo");
    TCase *tl = tcase_create("lifetime");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, fault_teardown); /* the watermark test's schedule */
    tcase_add_test(tc, test_echo_sizes);
    tcase_add_test(tc, test_partial_writes_slow_reader);
    tcase_add_test(tc, test_many_connections);
    tcase_add_test(tc, test_half_close_exchange);
    tcase_add_test(tc, test_peer_reset);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_watermarks_release_held_input);
    suite_add_tcase(s, tc);

    tcase_set_timeout(tl, 30);
    tcase_add_test(tl, test_close_own_from_callback);
    tcase_add_test(tl, test_close_other_ready_conn);
    tcase_add_test(tl, test_reply_leaves_with_its_read);
    tcase_add_test(tl, test_idle_timeout);
    tcase_add_test(tl, test_lingering_close);
    tcase_add_test(tl, test_shutdown_keeps_reading);
    tcase_add_test(tl, test_abort_resets);
    tcase_add_test(tl, test_conn_outlives_listener);
    tcase_add_test(tl, test_idle_buffers_reclaimed);
    suite_add_tcase(s, tl);
    return s;
}
