/* Datagram endpoints on the loop: echo of every size from 0 bytes to the
 * IPv4 maximum (65,507) with each byte verified, truncation reported,
 * a full socket buffer reported as -EAGAIN then on_writable, ICMP errors on
 * a connected endpoint, dual-stack, lifetime and arguments. */
#include "fault.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_V4 65507 /* 65535 - IPv4 header (20) - UDP header (8) */
#define PEER_BUF 65536 /* the default max_datagram */

/* An endpoint's view: the last datagram, counters, and echo mode. */
typedef struct peer {
    sb_udp *u;
    int echo;           /* send every datagram back to its sender */
    int n, writable, errors;
    int last_err;
    size_t len;
    unsigned char *buf; /* PEER_BUF bytes */
    sb_addr from;
} peer;

static void on_dgram(sb_udp *u, const char *data, size_t len, const sb_addr *from, int err,
                     void *udata)
{
    peer *p = udata;

    p->last_err = err;
    if (!data) {
        ck_assert_ptr_null(from);
        ck_assert_int_lt(err, 0);
        p->errors++;
        return;
    }
    ck_assert_ptr_nonnull(from);
    ck_assert_uint_le(len, PEER_BUF);
    memcpy(p->buf, data, len);
    p->len = len;
    p->from = *from;
    p->n++;
    if (p->echo && !err)
        ck_assert_int_eq(sb_udp_send(u, from, data, len), 0);
}

static void on_writable(sb_udp *u, void *udata)
{
    peer *p = udata;
    (void)u;
    p->writable++;
}

static const sb_udp_handler handler = {.on_datagram = on_dgram, .on_writable = on_writable};

static void peer_open(peer *p, sb_loop *loop, const char *addr, const sb_udp_opts *o)
{
    int err = 0;

    memset(p, 0, sizeof(*p));
    p->buf = calloc(1, PEER_BUF);
    ck_assert_ptr_nonnull(p->buf);
    p->u = sb_udp_new(loop, addr, &handler, p, o, &err);
    ck_assert_msg(p->u != NULL, "sb_udp_new %s: %s", addr, sb_strerror(err));
}

static void peer_close(peer *p)
{
    sb_udp_free(p->u);
    free(p->buf);
}

/* The endpoint's own address as an sb_addr. */
static sb_addr addr_of(const peer *p)
{
    char buf[128];
    sb_addr a;

    ck_assert_int_gt(sb_udp_local(p->u, buf, sizeof(buf)), 0);
    ck_assert_int_eq(sb_addr_resolve(&a, buf), 0);
    return a;
}

/* Send each size from client to the echoing server, one at a time, and
 * check every byte of every reply.  Returns the bytes verified. */
static size_t echo_sizes(sb_loop *loop, peer *cl, const sb_addr *srv, const size_t *sizes,
                         size_t n)
{
    unsigned char *out = malloc(MAX_V4);
    size_t i, total = 0;

    ck_assert_ptr_nonnull(out);
    for (i = 0; i < n; i++) {
        int before = cl->n;
        tu_fill(out, sizes[i], (uint32_t)sizes[i] + 7);
        ck_assert_int_eq(sb_udp_send(cl->u, srv, out, sizes[i]), 0);
        TU_ASSERT_EVENTUALLY(loop, cl->n == before + 1, 1000);
        ck_assert_int_eq(cl->last_err, 0);
        ck_assert_uint_eq(cl->len, sizes[i]);
        ck_assert_msg(memcmp(cl->buf, out, sizes[i]) == 0, "%zu-byte echo differs", sizes[i]);
        total += sizes[i];
    }
    free(out);
    return total;
}

START_TEST(test_udp_echo_sizes)
{
    sb_loop *loop = sb_loop_new();
    static size_t sizes[200];
    size_t n = 0, i, total;
    sb_udp_stats st;
    sb_addr srv;
    peer s, c;
    char buf[64];

    for (i = 0; i <= 100; i++)
        sizes[n++] = i;
    for (i = 128; i < MAX_V4; i = i * 3 / 2)
        sizes[n++] = i;
    sizes[n++] = 1472; /* one Ethernet frame's payload, and one more */
    sizes[n++] = 1473;
    sizes[n++] = 32768;
    sizes[n++] = MAX_V4;
    peer_open(&s, loop, "127.0.0.1:0", NULL);
    peer_open(&c, loop, "127.0.0.1:0", NULL);
    s.echo = 1;
    ck_assert_int_gt(sb_udp_port(s.u), 0);
    srv = addr_of(&s);
    total = echo_sizes(loop, &c, &srv, sizes, n);
    /* The reply came from the server's address. */
    ck_assert_int_gt(sb_addr_format(&c.from, buf, sizeof(buf)), 0);
    ck_assert_int_eq(sb_addr_format(&srv, buf + 32, 32) > 0, 1);
    ck_assert_str_eq(buf, buf + 32);
    sb_udp_get_stats(s.u, &st);
    ck_assert_uint_eq(st.datagrams_in, n);
    ck_assert_uint_eq(st.bytes_in, total);
    ck_assert_uint_eq(st.datagrams_out, n);
    ck_assert_uint_eq(st.truncated, 0);
    /* One byte past the IPv4 maximum is refused, not cut. */
    ck_assert_int_eq(sb_udp_send(c.u, &srv, c.buf, MAX_V4 + 1), -EMSGSIZE);
    sb_udp_get_stats(c.u, &st);
    ck_assert_uint_eq(st.send_errors, 1);
    ck_assert_uint_eq(st.datagrams_out, n);
    peer_close(&s);
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/* Datagrams longer than max_datagram arrive cut, flagged -EMSGSIZE. */
START_TEST(test_udp_truncation)
{
    sb_loop *loop = sb_loop_new();
    unsigned char *out = malloc(MAX_V4);
    sb_udp_opts o;
    sb_udp_stats st;
    sb_addr srv;
    peer s, c;

    memset(&o, 0, sizeof(o));
    o.max_datagram = 1000;
    peer_open(&s, loop, "127.0.0.1:0", &o);
    peer_open(&c, loop, "127.0.0.1:0", NULL);
    srv = addr_of(&s);
    tu_fill(out, MAX_V4, 5);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, out, 1000), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 1, 1000);
    ck_assert_int_eq(s.last_err, 0);
    ck_assert_uint_eq(s.len, 1000);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, out, 1001), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 2, 1000);
    ck_assert_int_eq(s.last_err, -EMSGSIZE);
    ck_assert_uint_eq(s.len, 1000);
    ck_assert_int_eq(memcmp(s.buf, out, 1000), 0);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, out, MAX_V4), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 3, 1000);
    ck_assert_int_eq(s.last_err, -EMSGSIZE);
    ck_assert_uint_eq(s.len, 1000);
    /* The next datagram is whole again. */
    ck_assert_int_eq(sb_udp_send(c.u, &srv, out, 10), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 4, 1000);
    ck_assert_int_eq(s.last_err, 0);
    ck_assert_uint_eq(s.len, 10);
    sb_udp_get_stats(s.u, &st);
    ck_assert_uint_eq(st.truncated, 2);
    ck_assert_uint_eq(st.datagrams_in, 4);
    free(out);
    peer_close(&s);
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/* The default limit is 64 KiB exactly: a 65,536-byte unix datagram
 * arrives whole, one byte more is reported cut. */
START_TEST(test_udp_default_limit)
{
#ifdef _WIN32
    TU_WIN32_SKIP("udp_default_limit", "uses unix datagram sockets (-EAFNOSUPPORT on Windows)");
#endif
    sb_loop *loop = sb_loop_new();
    unsigned char *out = malloc(PEER_BUF + 1);
    char path[96], addr[128];
    sb_udp_opts big;
    sb_addr srv;
    peer s, c;

    snprintf(path, sizeof(path), "/tmp/sb-udp-64k-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    unlink(path);
    memset(&big, 0, sizeof(big));
    big.sndbuf = big.rcvbuf = 1 << 20;
    peer_open(&s, loop, addr, &big);
    peer_open(&c, loop, "unix:", &big);
    ck_assert_int_eq(sb_addr_resolve(&srv, addr), 0);
    tu_fill(out, PEER_BUF + 1, 64);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, out, PEER_BUF), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 1, 1000);
    ck_assert_int_eq(s.last_err, 0);
    ck_assert_uint_eq(s.len, PEER_BUF);
    ck_assert_int_eq(memcmp(s.buf, out, PEER_BUF), 0);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, out, PEER_BUF + 1), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 2, 1000);
    ck_assert_int_eq(s.last_err, -EMSGSIZE);
    ck_assert_uint_eq(s.len, PEER_BUF);
    ck_assert_int_eq(memcmp(s.buf, out, PEER_BUF), 0);
    free(out);
    peer_close(&s);
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * A full socket buffer is reported: -EAGAIN, nothing sent, then
 * on_writable once there is room.  Loopback UDP never fills the sender's
 * buffer (the kernel hands each datagram to the receiver at once, and
 * drops it there if the receiver is full), so this uses unix datagram
 * sockets, which push back on the sender when the receiver's queue is full.
 */
START_TEST(test_udp_send_full)
{
#ifdef _WIN32
    TU_WIN32_SKIP("udp_send_full", "uses unix datagram sockets (-EAFNOSUPPORT on Windows)");
#endif
    sb_loop *loop = sb_loop_new();
    char path[96], addr[128], msg[1000];
    sb_udp_stats st;
    sb_addr srv;
    peer s, c;
    int k = 0, i, rc;

    snprintf(path, sizeof(path), "/tmp/sb-udp-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    unlink(path);
    peer_open(&s, loop, addr, NULL);
    peer_open(&c, loop, "unix:", NULL);
    ck_assert_int_eq(sb_udp_port(s.u), 0);
    ck_assert_int_eq(sb_addr_resolve(&srv, addr), 0);
    ck_assert_int_eq(sb_udp_connect(c.u, &srv), 0);
    memset(msg, 0, sizeof(msg));
    /* The loop does not run: the server reads nothing. */
    for (;;) {
        snprintf(msg, sizeof(msg), "datagram %d", k);
        rc = sb_udp_send(c.u, NULL, msg, sizeof(msg));
        if (rc != 0)
            break;
        k++;
        ck_assert_int_lt(k, 100000);
    }
    ck_assert_int_eq(rc, -EAGAIN);
    ck_assert_int_gt(k, 0);
    ck_assert_int_eq(sb_udp_send(c.u, NULL, msg, sizeof(msg)), -EAGAIN);
    sb_udp_get_stats(c.u, &st);
    ck_assert_uint_eq(st.send_full, 2);
    ck_assert_uint_eq(st.datagrams_out, (uint64_t)k);
    ck_assert_int_eq(c.writable, 0);
    /* The server drains its queue; the client hears it may send again. */
    TU_ASSERT_EVENTUALLY(loop, s.n == k && c.writable == 1, 1000);
    ck_assert_int_eq(s.last_err, 0);
    snprintf(msg, sizeof(msg), "datagram %d", k - 1);
    ck_assert_int_eq(memcmp(s.buf, msg, strlen(msg) + 1), 0);
    ck_assert_int_eq(sb_udp_send(c.u, NULL, "again", 5), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == k + 1, 1000);
    ck_assert_uint_eq(s.len, 5);
    for (i = 0; i < 3; i++)
        sb_loop_run_once(loop, 0);
    ck_assert_int_eq(c.writable, 1); /* once per -EAGAIN streak */
    peer_close(&s);
    ck_assert_int_eq(access(path, F_OK), -1); /* the socket file is gone */
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/* A connected endpoint hears of ICMP port unreachable: err, no data. */
START_TEST(test_udp_connected_refused)
{
#ifdef _WIN32
    TU_WIN32_SKIP_UNDER_WINE("udp_connected_refused", "under wine no receive reports the ICMP port unreachable (it stays the socket's pending SO_ERROR, which sb-echo finds after its timeout; Windows: WSAECONNRESET from the next receive)");
#endif
    sb_loop *loop = sb_loop_new();
    sb_udp_stats st;
    char addr[64];
    sb_addr dst;
    peer c;

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", tu_closed_port(SOCK_DGRAM));
    peer_open(&c, loop, "127.0.0.1:0", NULL);
    ck_assert_int_eq(sb_addr_resolve(&dst, addr), 0);
    ck_assert_int_eq(sb_udp_connect(c.u, &dst), 0);
    ck_assert_int_eq(sb_udp_send(c.u, NULL, "anyone?", 7), 0);
    TU_ASSERT_EVENTUALLY(loop, c.errors == 1, 1000);
    ck_assert_int_eq(c.last_err, -ECONNREFUSED);
    ck_assert_int_eq(c.n, 0);
    sb_udp_get_stats(c.u, &st);
    ck_assert_uint_eq(st.recv_errors, 1);
    /* Dissolving the association works; an unconnected send needs a peer. */
    ck_assert_int_eq(sb_udp_connect(c.u, NULL), 0);
    ck_assert_int_lt(sb_udp_send(c.u, NULL, "x", 1), 0);
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/* "*:0" takes IPv4 and IPv6; an IPv4 destination is mapped for it. */
START_TEST(test_udp_dual_stack)
{
    sb_loop *loop = sb_loop_new();
    static const size_t sizes[] = {0, 1, 1000, MAX_V4};
    char buf[64], addr[64];
    sb_addr srv4, srv6;
    peer s, c4, c6;
    int err = 0;
    sb_udp *probe;

    probe = sb_udp_new(loop, "[::1]:0", &handler, NULL, NULL, &err);
    if (!probe) {
        fprintf(stderr, "test_udp_dual_stack: skipped, no ::1 here (%s)\n", sb_strerror(err));
        tu_loop_teardown(loop);
        return;
    }
    sb_udp_free(probe);
    peer_open(&s, loop, "*:0", NULL);
    s.echo = 1;
    ck_assert_int_gt(sb_udp_local(s.u, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "[::]:"));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", sb_udp_port(s.u));
    ck_assert_int_eq(sb_addr_resolve(&srv4, addr), 0);
    snprintf(addr, sizeof(addr), "[::1]:%d", sb_udp_port(s.u));
    ck_assert_int_eq(sb_addr_resolve(&srv6, addr), 0);
    peer_open(&c4, loop, "127.0.0.1:0", NULL);
    peer_open(&c6, loop, "[::1]:0", NULL);
    echo_sizes(loop, &c4, &srv4, sizes, 4);
    ck_assert_int_gt(sb_addr_format(&s.from, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "[::ffff:127.0.0.1]:"));
    echo_sizes(loop, &c6, &srv6, sizes, 4);
    ck_assert_int_gt(sb_addr_format(&s.from, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "[::1]:"));
    /* The dual-stack server can also send to a plain IPv4 address. */
    {
        sb_addr a4 = addr_of(&c4);
        int before = c4.n;
        ck_assert_int_eq(sb_udp_send(s.u, &a4, "v4", 2), 0);
        TU_ASSERT_EVENTUALLY(loop, c4.n == before + 1, 1000);
    }
    peer_close(&s);
    peer_close(&c4);
    peer_close(&c6);
    tu_loop_teardown(loop);
}
END_TEST

static void free_self(sb_udp *u, const char *data, size_t len, const sb_addr *from, int err,
                      void *udata)
{
    int *n = udata;
    (void)data;
    (void)len;
    (void)from;
    (void)err;
    (*n)++;
    sb_udp_free(u);
}

/* An endpoint keeps the loop alive and sb_loop_free busy; it can be freed
 * from its own callback, with more datagrams queued behind it. */
START_TEST(test_udp_lifetime)
{
    static const sb_udp_handler h = {.on_datagram = free_self};
    sb_loop *loop = sb_loop_new();
    int n = 0, err = 0, i, before = tu_count_fds();
    sb_udp *s;
    sb_addr a;
    peer c;
    char buf[64];

    s = sb_udp_new(loop, "127.0.0.1:0", &h, &n, NULL, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(sb_udp_udata(s), &n);
    ck_assert_int_ge(sb_udp_fd(s), 0);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(sb_loop_free(loop), SB_EBUSY);
    peer_open(&c, loop, "127.0.0.1:0", NULL);
    ck_assert_int_gt(sb_udp_local(s, buf, sizeof(buf)), 0);
    ck_assert_int_eq(sb_addr_resolve(&a, buf), 0);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(sb_udp_send(c.u, &a, "x", 1), 0);
    TU_ASSERT_EVENTUALLY(loop, n == 1, 1000);
    for (i = 0; i < 3; i++)
        sb_loop_run_once(loop, 0);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    peer_close(&c);
    ck_assert_int_eq(sb_loop_run_once(loop, 0) & SB_RUN_ALIVE, 0);
    tu_loop_teardown(loop);
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(test_udp_bad_arguments)
{
    static const struct {
        const char *addr;
        int err;
    } cases[] = {
        {"nonsense", SB_EPORT},
        {"127.0.0.1:70000", SB_EPORT},
        {"[::1", SB_EINVAL_ADDR},
        {"", SB_EINVAL_ADDR},
    };
    sb_loop *loop = sb_loop_new();
    sb_udp_opts o;
    sb_addr a;
    size_t i;
    int err;
    char buf[8];
    peer p;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = 0;
        ck_assert_ptr_null(sb_udp_new(loop, cases[i].addr, &handler, NULL, NULL, &err));
        ck_assert_msg(err == cases[i].err, "'%s': %s", cases[i].addr, sb_strerror(err));
    }
    ck_assert_ptr_null(sb_udp_new(loop, "127.0.0.1:0", NULL, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    memset(&o, 0, sizeof(o));
    o.max_datagram = (size_t)1 << 40;
    ck_assert_ptr_null(sb_udp_new(loop, "127.0.0.1:0", &handler, NULL, &o, &err));
    ck_assert_int_eq(err, -EINVAL);
    /* The same port twice. */
    peer_open(&p, loop, "127.0.0.1:0", NULL);
    snprintf(buf, sizeof(buf), "%d", sb_udp_port(p.u));
    {
        char addr[64];
        snprintf(addr, sizeof(addr), "127.0.0.1:%s", buf);
        ck_assert_ptr_null(sb_udp_new(loop, addr, &handler, NULL, NULL, &err));
        ck_assert_int_eq(err, -EADDRINUSE);
    }
    ck_assert_int_eq(sb_udp_send(p.u, NULL, NULL, 1), -EINVAL);
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(sb_udp_send(p.u, &a, "x", 1), -EINVAL);
    ck_assert_int_eq(sb_addr_format(&a, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(sb_addr_resolve(&a, "1.2.3.4"), SB_EPORT);
    ck_assert_int_eq(sb_addr_resolve(NULL, "1.2.3.4:5"), -EINVAL);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    peer_close(&p);
    sb_udp_free(NULL);
    tu_loop_teardown(loop);
}
END_TEST

/* A unix datagram endpoint replaces a stale socket file, but not a live
 * one, and removes its file when freed. */
START_TEST(test_udp_unix_paths)
{
#ifdef _WIN32
    TU_WIN32_SKIP("udp_unix_paths", "unix-domain sockets are not built on Windows (-EAFNOSUPPORT)");
#endif
    sb_loop *loop = sb_loop_new();
    char path[96], addr[128];
    struct sockaddr_un un;
    peer a;
    int err = 0, fd;

    snprintf(path, sizeof(path), "/tmp/sb-udp-stale-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    unlink(path);
    /* Left behind as a crashed process would. */
    fd = tu_socket(AF_UNIX, SOCK_DGRAM);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    close(fd);
    ck_assert_int_eq(access(path, F_OK), 0);
    peer_open(&a, loop, addr, NULL);
    ck_assert_ptr_null(sb_udp_new(loop, addr, &handler, NULL, NULL, &err));
    ck_assert_int_eq(err, -EADDRINUSE);
    peer_close(&a);
    ck_assert_int_eq(access(path, F_OK), -1);
    tu_loop_teardown(loop);
}
END_TEST

/* The fd closed behind the loop's back: found, reported, no longer alive. */
START_TEST(test_udp_badfd)
{
    sb_loop *loop = sb_loop_new();
    peer a;

    if (tu_skip_on_epoll("test_udp_badfd"))
        return;
    peer_open(&a, loop, "127.0.0.1:0", NULL);
    close(sb_udp_fd(a.u));
    TU_ASSERT_EVENTUALLY(loop, a.errors == 1, 1000);
    ck_assert_int_eq(a.last_err, -EBADF);
    ck_assert_int_eq(sb_udp_fd(a.u), -1);
    ck_assert_int_eq(sb_udp_send(a.u, NULL, "x", 1), -EBADF);
    ck_assert_int_eq(sb_loop_run_once(loop, 0) & SB_RUN_ALIVE, 0);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    peer_close(&a);
    tu_loop_teardown(loop);
}
END_TEST

/* ------------------------------------------------------- injected faults */

static void fault_teardown(void)
{
    tu_fault_reset();
}

/* A UDP send refused with EAGAIN (injected: loopback never does it) is
 * reported, not retried behind the caller's back; on_writable follows. */
START_TEST(test_udp_sendto_eagain)
{
    static const tu_fault full = {.every = 1, .err = EAGAIN, .limit = 2};
    sb_loop *loop = sb_loop_new();
    sb_udp_stats st;
    sb_addr srv;
    peer s, c;

    peer_open(&s, loop, "127.0.0.1:0", NULL);
    peer_open(&c, loop, "127.0.0.1:0", NULL);
    srv = addr_of(&s);
    tu_fault_set(TU_F_SENDTO, &full);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, "one", 3), -EAGAIN);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, "one", 3), -EAGAIN);
    sb_udp_get_stats(c.u, &st);
    ck_assert_uint_eq(st.send_full, 2);
    ck_assert_uint_eq(st.datagrams_out, 0);
    TU_ASSERT_EVENTUALLY(loop, c.writable == 1, 1000);
    ck_assert_int_eq(s.n, 0); /* nothing was sent */
    ck_assert_int_eq(sb_udp_send(c.u, &srv, "one", 3), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 1, 1000);
    ck_assert_uint_eq(s.len, 3);
    ck_assert_int_eq(c.writable, 1);
    peer_close(&s);
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/* recvmsg: EINTR is retried silently; another error is reported through
 * on_datagram, and the datagrams behind it still arrive. */
START_TEST(test_udp_recvmsg_errors)
{
    static const tu_fault eintr = {.every = 1, .err = EINTR, .limit = 3};
    static const tu_fault enomem = {.every = 1, .err = ENOMEM, .limit = 1};
    sb_loop *loop = sb_loop_new();
    sb_addr srv;
    peer s, c;

    peer_open(&s, loop, "127.0.0.1:0", NULL);
    peer_open(&c, loop, "127.0.0.1:0", NULL);
    srv = addr_of(&s);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, "a", 1), 0);
    tu_fault_set(TU_F_RECVMSG, &eintr);
    TU_ASSERT_EVENTUALLY(loop, s.n == 1, 1000);
    ck_assert_uint_eq(tu_fault_hits(TU_F_RECVMSG), 3);
    ck_assert_int_eq(s.errors, 0);
    tu_fault_reset();
    tu_fault_set(TU_F_RECVMSG, &enomem);
    ck_assert_int_eq(sb_udp_send(c.u, &srv, "bc", 2), 0);
    TU_ASSERT_EVENTUALLY(loop, s.n == 2, 1000);
    ck_assert_int_eq(s.errors, 1);
    ck_assert_uint_eq(s.len, 2);
    peer_close(&s);
    peer_close(&c);
    tu_loop_teardown(loop);
}
END_TEST

/* Out of memory creating an endpoint: NULL, -ENOMEM, no fd left open. */
START_TEST(test_udp_alloc_failure)
{
    static const tu_fault nomem = {.every = 1, .err = ENOMEM};
    sb_loop *loop = sb_loop_new();
    int err = 0, fds = tu_count_fds();

    tu_fault_set(TU_F_ALLOC, &nomem);
    ck_assert_ptr_null(sb_udp_new(loop, "127.0.0.1:0", &handler, NULL, NULL, &err));
    ck_assert_int_eq(err, -ENOMEM);
    tu_fault_reset();
    ck_assert_int_eq(tu_count_fds(), fds);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_udp_suite(void)
{
    Suite *s = suite_create("udp");
    TCase *tc = tcase_create("datagrams");
    TCase *tf = tcase_create("datagram faults");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_udp_echo_sizes);
    tcase_add_test(tc, test_udp_truncation);
    tcase_add_test(tc, test_udp_default_limit);
    tcase_add_test(tc, test_udp_send_full);
    tcase_add_test(tc, test_udp_connected_refused);
    tcase_add_test(tc, test_udp_dual_stack);
    tcase_add_test(tc, test_udp_lifetime);
    tcase_add_test(tc, test_udp_bad_arguments);
    tcase_add_test(tc, test_udp_unix_paths);
    tcase_add_test(tc, test_udp_badfd);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tf, 60);
    tcase_add_checked_fixture(tf, NULL, fault_teardown);
    tcase_add_test(tf, test_udp_sendto_eagain);
    tcase_add_test(tf, test_udp_recvmsg_errors);
    tcase_add_test(tf, test_udp_alloc_failure);
    suite_add_tcase(s, tf);
    return s;
}
