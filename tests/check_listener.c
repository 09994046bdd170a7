/* Listeners: address forms, port 0, unix sockets, parse errors, max
 * connections, EMFILE without spinning, closed from a connection's
 * on_close. */
#include "fault.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* One echo round trip through a connected client. */
static void echo_once(tu_server *s, int fd, const char *msg)
{
    char buf[256];
    size_t n = strlen(msg), got = 0;
    int eof = 0, i;

    ck_assert_int_eq(tu_send(fd, msg, n), (ssize_t)n);
    for (i = 0; i < 500 && got < n && !eof; i++) {
        sb_loop_run_once(s->loop, 10);
        got += (size_t)tu_drain(fd, buf + got, sizeof(buf) - got, &eof);
    }
    ck_assert_uint_eq(got, n);
    ck_assert_int_eq(memcmp(buf, msg, n), 0);
}

START_TEST(test_listen_v4_port0)
{
    sb_loop *loop = sb_loop_new();
    char text[64], want[64], peer[64];
    tu_server s;
    int fd;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    ck_assert_int_gt(s.port, 0);
    ck_assert_int_gt(sb_listener_local(s.l, text, sizeof(text)), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", s.port);
    ck_assert_str_eq(text, want);
    fd = tu_connect_tcp(s.port);
    echo_once(&s, fd, "hello v4");
    ck_assert_int_eq(s.opens, 1);
    ck_assert_uint_eq(sb_listener_conns(s.l), 1);
    ck_assert_ptr_eq(sb_conn_listener(s.last), s.l);
    ck_assert_ptr_eq(sb_conn_udata(s.last), &s);
    ck_assert_ptr_eq(sb_conn_loop(s.last), loop);
    ck_assert_int_gt(sb_conn_peer(s.last, peer, sizeof(peer)), 0);
    ck_assert_msg(strncmp(peer, "127.0.0.1:", 10) == 0, "peer %s", peer);
    ck_assert_int_gt(sb_conn_local(s.last, peer, sizeof(peer)), 0);
    ck_assert_str_eq(peer, want);
    close(fd);
    ck_assert(tu_run_until(loop, &s.closes, 500));
    ck_assert_uint_eq(sb_listener_conns(s.l), 0);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 a;
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

START_TEST(test_listen_v6)
{
    sb_loop *loop = sb_loop_new();
    char text[64], want[64], addr[64];
    tu_server s;
    int fd;

    if (!have_ipv6_loopback()) {
        fprintf(stderr, "listener/v6: no IPv6 loopback here; skipped\n");
        sb_loop_free(loop);
        return;
    }
    tu_server_start(&s, loop, "[::1]:0", NULL);
    ck_assert_int_gt(s.port, 0);
    sb_listener_local(s.l, text, sizeof(text));
    snprintf(want, sizeof(want), "[::1]:%d", s.port);
    ck_assert_str_eq(text, want);
    snprintf(addr, sizeof(addr), "[::1]:%d", s.port);
    fd = tu_connect_addr(addr);
    echo_once(&s, fd, "hello v6");
    close(fd);
    ck_assert(tu_run_until(loop, &s.closes, 500));
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_listen_any)
{
    sb_loop *loop = sb_loop_new();
    tu_server s;
    int fd;

    /* "*:0": every address; reachable through 127.0.0.1 (dual stack or v4). */
    tu_server_start(&s, loop, "*:0", NULL);
    ck_assert_int_gt(s.port, 0);
    fd = tu_connect_tcp(s.port);
    echo_once(&s, fd, "hello any");
    close(fd);
    ck_assert(tu_run_until(loop, &s.closes, 500));
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_listen_unix)
{
#ifdef _WIN32
    TU_WIN32_SKIP("listen_unix", "unix-domain sockets are not built on Windows (-EAFNOSUPPORT)");
#endif
    sb_loop *loop = sb_loop_new();
    char path[128], addr[140], text[160];
    struct stat st;
    tu_server s;
    int fd, stale;

    snprintf(path, sizeof(path), "/tmp/sb-test-%d.sock", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    unlink(path);
    /* A stale socket file (bound, nobody listening) is replaced. */
    {
        sb__addr a;
        ck_assert_int_eq(sb__addr_parse(addr, 1, &a), 0);
        stale = socket(AF_UNIX, SOCK_STREAM, 0);
        ck_assert_int_eq(bind(stale, (struct sockaddr *)&a.ss, a.len), 0);
        close(stale);
        ck_assert_int_eq(stat(path, &st), 0);
    }
    tu_server_start(&s, loop, addr, NULL);
    ck_assert_int_eq(s.port, 0);
    sb_listener_local(s.l, text, sizeof(text));
    ck_assert_str_eq(text, addr);
    /* A second listener on a live socket is refused, not stolen. */
    {
        int err = 0;
        ck_assert_ptr_null(sb_listen(loop, addr, &tu_echo_handler, &s, NULL, &err));
        ck_assert_int_eq(err, -EADDRINUSE);
    }
    fd = tu_connect_addr(addr);
    echo_once(&s, fd, "hello unix");
    close(fd);
    ck_assert(tu_run_until(loop, &s.closes, 500));
    sb_listener_close(s.l);
    ck_assert_int_ne(stat(path, &st), 0); /* removed on close */
    tu_loop_teardown(loop);
}
END_TEST

/* A regular file in the way is never deleted to make room for a socket. */
START_TEST(test_listen_unix_keeps_regular_file)
{
#ifdef _WIN32
    TU_WIN32_SKIP("listen_unix_keeps_regular_file", "unix-domain sockets are not built on Windows (-EAFNOSUPPORT)");
#endif
    sb_loop *loop = sb_loop_new();
    char path[128], addr[140];
    struct stat st;
    FILE *f;
    int err = 0;

    snprintf(path, sizeof(path), "/tmp/sb-test-file-%d", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious", f);
    fclose(f);
    ck_assert_ptr_null(sb_listen(loop, addr, &tu_echo_handler, NULL, NULL, &err));
    ck_assert_int_eq(err, -EADDRINUSE);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq((int)st.st_size, 8);
    unlink(path);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_listen_bad_addresses)
{
    static const struct {
        const char *addr;
        int err;
    } cases[] = {
        {"", SB_EINVAL_ADDR},
        {"127.0.0.1", SB_EPORT},
        {"127.0.0.1:", SB_EPORT},
        {"127.0.0.1:65536", SB_EPORT},
        {"127.0.0.1:-1", SB_EPORT},
        {"127.0.0.1:80x", SB_EPORT},
        {"[::1", SB_EINVAL_ADDR},
        {"[::1]", SB_EPORT},
        {"[not-v6]:80", SB_EINVAL_ADDR},
        {"::1:80", SB_EINVAL_ADDR},
        {":80", SB_EINVAL_ADDR},
        {"unix:", SB_EINVAL_ADDR},
        {"no-such-host.invalid:80", SB_ERESOLVE},
    };
    sb_loop *loop = sb_loop_new();
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int err = 0;
        sb_listener *l = sb_listen(loop, cases[i].addr, &tu_echo_handler, NULL, NULL, &err);
        ck_assert_msg(l == NULL, "'%s' accepted", cases[i].addr);
        ck_assert_msg(err == cases[i].err, "'%s': got %d (%s), want %d", cases[i].addr, err,
                      sb_strerror(err), cases[i].err);
    }
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_listen_in_use)
{
    sb_loop *loop = sb_loop_new();
    char addr[64];
    tu_server s;
    int err = 0, before = tu_count_fds();

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    ck_assert_ptr_null(sb_listen(loop, addr, &tu_echo_handler, NULL, NULL, &err));
    ck_assert_int_eq(err, -EADDRINUSE);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
    ck_assert_int_eq(tu_count_fds(), before); /* nothing half-opened leaks */
}
END_TEST

START_TEST(test_max_conns)
{
    sb_loop *loop = sb_loop_new();
    sb_listen_opts o;
    sb_loop_stats st;
    tu_server s;
    int fd[3], i, eof = 0;
    char buf[16];

    memset(&st, 0, sizeof(st));
    memset(&o, 0, sizeof(o));
    o.max_conns = 2;
    tu_server_start(&s, loop, "127.0.0.1:0", &o);
    for (i = 0; i < 3; i++) {
        fd[i] = tu_connect_tcp(s.port);
        /* accept each before the next connects: a deterministic order */
        for (int k = 0; k < 500 && s.opens + (int)st.rejected < i + 1; k++) {
            sb_loop_run_once(loop, 10);
            sb_loop_get_stats(loop, &st);
        }
    }
    sb_loop_get_stats(loop, &st);
    ck_assert_int_eq(s.opens, 2);
    ck_assert_uint_eq(st.rejected, 1);
    ck_assert_uint_eq(sb_listener_conns(s.l), 2);
    /* The third client is closed at once; the two others still echo. */
    for (i = 0; i < 500 && !eof; i++) {
        sb_loop_run_once(loop, 10);
        tu_drain(fd[2], buf, sizeof(buf), &eof);
    }
    ck_assert_int_ne(eof, 0);
    echo_once(&s, fd[0], "one");
    echo_once(&s, fd[1], "two");
    for (i = 0; i < 3; i++)
        close(fd[i]);
    ck_assert(tu_run_until(loop, &s.closes, 500) && s.closes >= 1);
    TU_RUN_UNTIL(loop, s.closes >= 2, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * EMFILE: with every fd in use, accept() fails.  The listener must not spin
 * (the accept count stays small over many iterations), the queued clients
 * are closed promptly (spare-fd trick), and service resumes once fds free.
 */
START_TEST(test_emfile_no_spin_recovers)
{
#ifdef _WIN32
    TU_WIN32_SKIP("emfile_no_spin_recovers", "no descriptor limit and no EMFILE shedding on Windows");
#endif
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {5000};
    struct rlimit old, low;
    sb_loop_stats st;
    tu_server s;
    int clients[4], hog[64], nhog = 0, i, closed = 0, fd;

    if (tu_slow()) {
        /* valgrind emulates RLIMIT_NOFILE with its own fd bookkeeping. */
        fprintf(stderr, "listener/emfile: skipped under valgrind\n");
        sb_loop_free(loop);
        return;
    }
    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    for (i = 0; i < 4; i++)
        clients[i] = tu_connect_tcp(s.port);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)tu_count_fds() + 8;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (nhog < 64 && (fd = dup(0)) >= 0)
        hog[nhog++] = fd;
    ck_assert_int_eq(errno, EMFILE);

    for (i = 0; i < 50; i++)
        sb_loop_run_once(loop, 0);
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_ge(st.emfile, 1);
    ck_assert_int_eq(s.opens, 0);
    /* Not spinning: one failed call, one accept+close per queued client,
     * one EAGAIN, then paused for the back-off. */
    ck_assert_uint_le(st.accept_calls, 8);
    ck_assert_msg(st.rejected == 4, "rejected %llu emfile %llu calls %llu", (unsigned long long)st.rejected, (unsigned long long)st.emfile, (unsigned long long)st.accept_calls);
    /* Every queued client was shed with a prompt close. */
    for (i = 0; i < 4; i++) {
        char b;
        int eof = 0;
        tu_drain(clients[i], &b, 1, &eof);
        closed += eof != 0;
    }
    ck_assert_int_eq(closed, 4);

    /* fds come back: after the back-off the rest are served. */
    while (nhog > 0)
        close(hog[--nhog]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    clk.now += 1000;
    fd = tu_connect_tcp(s.port);
    echo_once(&s, fd, "recovered");
    close(fd);
    for (i = 0; i < 4; i++)
        close(clients[i]);
    TU_RUN_UNTIL(loop, s.closes >= s.opens, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

static char last_log[256];
static void keep_log(int level, const char *msg, void *udata)
{
    (void)level;
    (void)udata;
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

/*
 * EMFILE must not let the accept queue overflow: a paused listener lets the
 * kernel fall back to SYN cookies, and a connection completed from a cookie
 * can lose its first data segment.  With accept() failing once (the fault
 * seam), every queued client, more than max_accept of them, is shed in the
 * same iteration, with the clock frozen so no back-off could ever end; and
 * clients arriving after that are shed too, not left queued.
 */
START_TEST(test_emfile_keeps_draining)
{
#ifdef _WIN32
    TU_WIN32_SKIP("emfile_keeps_draining", "no descriptor limit and no EMFILE shedding on Windows");
#endif
    enum { N = 150 };
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {5000};
    const tu_fault once = {.every = 1, .err = EMFILE, .limit = 1};
    sb_listen_opts o = {.max_accept = 16};
    int clients[N], i, closed = 0, late;
    sb_loop_stats st;
    tu_server s;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    sb_loop_set_log(loop, keep_log, SB_LOG_WARN, NULL);
    tu_server_start(&s, loop, "127.0.0.1:0", &o);
    for (i = 0; i < N; i++)
        clients[i] = tu_connect_tcp(s.port);
    tu_fault_reset();
    tu_fault_set(TU_F_ACCEPT, &once);
    sb_loop_run_once(loop, 1000); /* the listener is ready: one iteration */
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.emfile, 1);
    ck_assert_uint_eq(st.rejected, N);
    ck_assert_int_eq(s.opens, 0);
    ck_assert_msg(strstr(last_log, "accept: Too many open files; shedding clients"), "log: %s",
                  last_log);
    for (i = 0; i < N; i++) {
        char b;
        int eof = 0;
        tu_drain(clients[i], &b, 1, &eof);
        closed += eof != 0;
        close(clients[i]);
    }
    ck_assert_int_eq(closed, N);
    /* The listener is still watched: the next client, once fds are there
     * again, is served at once, with the clock still frozen. */
    tu_fault_reset();
    late = tu_connect_tcp(s.port);
    echo_once(&s, late, "still accepting");
    close(late);
    TU_RUN_UNTIL(loop, s.closes >= s.opens, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * Closing a listener from its last connection's on_close is safe: the
 * listener goes, and with it the last handle.
 */
typedef struct lastconn {
    int opens, datas, closes;
    sb_listener *l; /* closed from on_close once set */
} lastconn;

static void last_open(sb_conn *c, void *u)
{
    lastconn *x = u;
    (void)c;
    x->opens++;
}

static void last_data(sb_conn *c, const char *d, size_t n, void *u)
{
    lastconn *x = u;
    (void)c;
    (void)d;
    (void)n;
    x->datas++;
}

static void last_eof(sb_conn *c, void *u)
{
    (void)u;
    sb_close(c);
}

static void last_close(sb_conn *c, int reason, void *u)
{
    lastconn *x = u;
    (void)c;
    (void)reason;
    x->closes++;
    if (x->l) {
        sb_listener_close(x->l); /* from its last connection's on_close */
        x->l = NULL;
    }
}

START_TEST(test_listener_closed_from_last_on_close)
{
    static const sb_handler h = {.on_open = last_open,
                                 .on_data = last_data,
                                 .on_eof = last_eof,
                                 .on_close = last_close};
    sb_loop *loop = sb_loop_new();
    lastconn x;
    sb_listener *l;
    int fd;

    memset(&x, 0, sizeof(x));
    l = sb_listen(loop, "127.0.0.1:0", &h, &x, NULL, NULL);
    ck_assert_ptr_nonnull(l);
    fd = tu_connect_tcp(sb_listener_port(l));
    TU_RUN_UNTIL(loop, x.opens, 500);
    ck_assert_int_eq(tu_send(fd, "x", 1), 1);
    TU_RUN_UNTIL(loop, x.datas, 500);
    x.l = l;
    close(fd);
    TU_RUN_UNTIL(loop, x.closes, 500);
    ck_assert_int_eq(x.closes, 1);
    ck_assert_ptr_null(x.l);
    tu_loop_teardown(loop); /* no handle left: the listener was closed */
}
END_TEST

Suite *sb_listener_suite(void)
{
    Suite *s = suite_create("listener");
    TCase *tc = tcase_create("listen");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_listen_v4_port0);
    tcase_add_test(tc, test_listen_v6);
    tcase_add_test(tc, test_listen_any);
    tcase_add_test(tc, test_listen_unix);
    tcase_add_test(tc, test_listen_unix_keeps_regular_file);
    tcase_add_test(tc, test_listen_bad_addresses);
    tcase_add_test(tc, test_listen_in_use);
    tcase_add_test(tc, test_max_conns);
    tcase_add_test(tc, test_emfile_no_spin_recovers);
    tcase_add_test(tc, test_emfile_keeps_draining);
    tcase_add_test(tc, test_listener_closed_from_last_on_close);
    suite_add_tcase(s, tc);
    return s;
}
