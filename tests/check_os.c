/*
 * The OS seam (src/os.h).  A PORTABLE build (make PORTABLE=1, -DSB_PORTABLE)
 * must take every POSIX fallback and no Linux-only call, a normal Linux
 * build the Linux calls and no fallback: the fault seam counts each system
 * call by the way it went (tu_fault_path_calls), so a regression that
 * quietly goes back to accept4 under PORTABLE (or to fcntl on Linux) fails
 * here.  Either way every socket and pipe the library opens is
 * non-blocking and close-on-exec, the fallbacks' own failures are clean,
 * "unix:" endpoints are reachable, and epoll is there or -ENOSYS.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define ECHOD SB_TEST_BUILD_DIR "/sb-echod"

#if defined(SB_PORTABLE)
#define EXPECT "fallback"
#elif defined(__linux__)
#define EXPECT "linux"
#else
#define EXPECT NULL /* some of each: no fixed expectation */
#endif

static void expect_flags(int fd, const char *what)
{
    int fl = fcntl(fd, F_GETFL), fd_fl = fcntl(fd, F_GETFD);

    ck_assert_msg(fl >= 0 && (fl & O_NONBLOCK), "%s (fd %d) is blocking", what, fd);
    ck_assert_msg(fd_fl >= 0 && (fd_fl & FD_CLOEXEC), "%s (fd %d) is not close-on-exec", what,
                  fd);
}

static void on_sig(sb_signal *sig, int signum, void *udata)
{
    (void)sig;
    (void)signum;
    (void)udata;
}

static void on_async(sb_async *a, void *udata)
{
    (void)a;
    (void)udata;
}

static void release_nothing(void *arg)
{
    (void)arg;
}

typedef struct closer {
    int opens, closes, reason;
} closer;

static void c_open(sb_conn *c, void *u)
{
    (void)c;
    ((closer *)u)->opens++;
}

static void c_close(sb_conn *c, int reason, void *u)
{
    closer *x = u;
    (void)c;
    x->closes++;
    x->reason = reason;
}

static const sb_handler closer_handler = {.on_open = c_open, .on_close = c_close};

/* A refused address, then s's: sb_connect's fallback puts the second
 * socket on the first one's number (dup3, or dup2 + fcntl). */
static sb_conn *connect_via_fallback(sb_loop *loop, tu_server *s, closer *x)
{
    sb__addr a[2];
    char text[64];
    int err = 0;
    sb_conn *c;

    snprintf(text, sizeof(text), "127.0.0.1:%d", tu_closed_port(SOCK_STREAM));
    ck_assert_int_eq(sb__addr_parse(text, 0, &a[0]), 0);
    snprintf(text, sizeof(text), "127.0.0.1:%d", s->port);
    ck_assert_int_eq(sb__addr_parse(text, 0, &a[1]), 0);
    c = sb__connect_addrs(loop, a, 2, &closer_handler, x, NULL, &err);
    ck_assert_msg(c != NULL, "%s", sb_strerror(err));
    return c;
}

typedef struct dgram {
    sb_udp *u;
    int n;
    char last[64];
    int reply; /* answer each datagram to its sender */
} dgram;

static void on_dgram(sb_udp *u, const char *data, size_t len, const sb_addr *from, int err,
                     void *udata)
{
    dgram *d = udata;

    ck_assert_int_eq(err, 0);
    d->n++;
    snprintf(d->last, sizeof(d->last), "%.*s", (int)len, data);
    if (d->reply)
        ck_assert_int_eq(sb_udp_send(u, from, "pong", 4), 0);
}

static const sb_udp_handler dgram_handler = {on_dgram, NULL};

/*
 * Every kind of fd the library opens, and every send: which way each
 * system call went, and the flags each fd has.
 */
START_TEST(test_os_paths_and_flags)
{
    sb_loop *loop = sb_loop_new();
    const unsigned char file[] = "file contents";
    char buf[64], tmpl[] = "/tmp/sb-os-XXXXXX";
    dgram a = {0}, b = {0};
    closer x = {0, 0, 0};
    tu_server s;
    sb_signal *sig;
    sb_async *as;
    sb_conn *c;
    sb_addr to;
    int fd, ffd, eof = 0, err = 0, i;
    size_t got = 0;

    tu_fault_reset();
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    expect_flags(sb_listener_fd(s.l), "a listener");
    /* accept, and the echo's send */
    fd = tu_connect_tcp(s.port);
    ck_assert_int_eq(tu_send(fd, "ping", 4), 4);
    TU_ASSERT_EVENTUALLY(loop, s.bytes == 4 && s.last != NULL, 500);
    expect_flags(sb_conn_fd(s.last), "an accepted connection");
    /* a file range: sendfile, or pread + send */
    ffd = mkstemp(tmpl);
    ck_assert_int_ge(ffd, 0);
    unlink(tmpl);
    ck_assert_int_eq(write(ffd, file, sizeof(file) - 1), (ssize_t)sizeof(file) - 1);
    ck_assert_int_eq(sb_write_file(s.last, ffd, 0, sizeof(file) - 1, release_nothing, NULL), 0);
    for (i = 0; i < 500 && got < 4 + sizeof(file) - 1; i++) {
        ssize_t r;
        sb_loop_run_once(loop, 10);
        r = tu_drain(fd, buf + got, sizeof(buf) - got, &eof);
        if (r > 0)
            got += (size_t)r;
    }
    ck_assert_uint_eq(got, 4 + sizeof(file) - 1);
    ck_assert_int_eq(memcmp(buf, "pingfile contents", got), 0);
    /* the outbound side, through the address fallback */
    c = connect_via_fallback(loop, &s, &x);
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 500);
    expect_flags(sb_conn_fd(c), "a connection after the address fallback");
    /* the signal and wake-up pipes */
    sig = sb_signal_new(loop, SIGUSR2, on_sig, NULL, &err);
    ck_assert_ptr_nonnull(sig);
    expect_flags(loop->sig_rd, "the signal pipe's read end");
    expect_flags(loop->sig_wr, "the signal pipe's write end");
    as = sb_async_new(loop, on_async, NULL, &err);
    ck_assert_ptr_nonnull(as);
    expect_flags(loop->wake_rd, "the wake-up pipe's read end");
    expect_flags(loop->wake_wr, "the wake-up pipe's write end");
    /* datagrams: sendto */
    a.u = sb_udp_new(loop, "127.0.0.1:0", &dgram_handler, &a, NULL, &err);
    b.u = sb_udp_new(loop, "127.0.0.1:0", &dgram_handler, &b, NULL, &err);
    ck_assert_ptr_nonnull(a.u);
    ck_assert_ptr_nonnull(b.u);
    expect_flags(sb_udp_fd(a.u), "a UDP endpoint");
    snprintf(buf, sizeof(buf), "127.0.0.1:%d", sb_udp_port(b.u));
    ck_assert_int_eq(sb_addr_resolve(&to, buf), 0);
    ck_assert_int_eq(sb_udp_send(a.u, &to, "dgram", 5), 0);
    TU_ASSERT_EVENTUALLY(loop, b.n == 1, 500);

    if (EXPECT && strcmp(EXPECT, "fallback") == 0) {
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_ACCEPT4), 0);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_ACCEPT), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_SOCKET_FLAGS), 0);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_SOCKET_PLAIN), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_PIPE2), 0);
        ck_assert_uint_ge(tu_fault_path_calls(TU_P_PIPE), 2);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_DUP3), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_DUP2), 1);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_FCNTL), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_SEND_NOSIGNAL), 0);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_SEND_PLAIN), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_SENDFILE), 0);
        ck_assert_uint_gt(tu_fault_calls(TU_F_PREAD), 0);
    } else if (EXPECT) {
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_ACCEPT4), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_ACCEPT), 0);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_SOCKET_FLAGS), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_SOCKET_PLAIN), 0);
        ck_assert_uint_ge(tu_fault_path_calls(TU_P_PIPE2), 2);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_PIPE), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_DUP3), 1);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_DUP2), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_FCNTL), 0);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_SEND_NOSIGNAL), 0);
        ck_assert_uint_eq(tu_fault_path_calls(TU_P_SEND_PLAIN), 0);
        ck_assert_uint_gt(tu_fault_path_calls(TU_P_SENDFILE), 0);
        ck_assert_uint_eq(tu_fault_calls(TU_F_PREAD), 0);
    } else {
        fprintf(stderr, "os/paths: the calls' ways not checked: neither Linux nor PORTABLE\n");
    }
    sb_udp_free(a.u);
    sb_udp_free(b.u);
    sb_async_free(as);
    sb_signal_free(sig);
    sb_close(c);
    close(fd);
    close(ffd);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

static void fail_fcntl(unsigned long after, int err)
{
    const tu_fault f = {.every = 1, .err = err, .skip = tu_fault_calls(TU_F_FCNTL) + after,
                        .limit = tu_fault_hits(TU_F_FCNTL) + 1};
    tu_fault_set(TU_F_FCNTL, &f);
}

/*
 * The fallbacks' second step failing: the fd just made is closed, the
 * error is what the caller reports, and nothing leaks.
 */
START_TEST(test_os_fallback_failures)
{
    sb_loop *loop;
    closer x = {0, 0, 0};
    tu_server s;
    sb_signal *sig;
    sb_conn *c;
    int fds, err = 0, fd, i;
    char buf[8];

    if (!EXPECT || strcmp(EXPECT, "fallback") != 0) {
        fprintf(stderr, "os/fallback_failures: skipped: this build has no fcntl fallback "
                        "(make PORTABLE=1 check runs it)\n");
        return;
    }
    loop = sb_loop_new();
    tu_fault_reset();
    /* socket(): F_SETFD, then F_SETFL */
    for (i = 0; i < 2; i++) {
        fds = tu_count_fds();
        fail_fcntl((unsigned long)i, EACCES);
        ck_assert_ptr_null(sb_listen(loop, "127.0.0.1:0", &tu_echo_handler, NULL, NULL, &err));
        ck_assert_int_eq(err, -EACCES);
        ck_assert_int_eq(tu_count_fds(), fds);
    }
    /* pipe(): any of its four */
    for (i = 0; i < 4; i++) {
        fds = tu_count_fds();
        fail_fcntl((unsigned long)i, EMFILE);
        ck_assert_ptr_null(sb_signal_new(loop, SIGUSR2, on_sig, NULL, &err));
        ck_assert_int_eq(err, -EMFILE);
        ck_assert_int_eq(tu_count_fds(), fds);
    }
    sig = sb_signal_new(loop, SIGUSR2, on_sig, NULL, &err);
    ck_assert_ptr_nonnull(sig);
    sb_signal_free(sig);
    /* accept(): the client is dropped, the listener goes on */
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    fail_fcntl(0, EINVAL);
    fd = tu_connect_tcp(s.port);
    TU_ASSERT_EVENTUALLY(loop, tu_fault_hits(TU_F_FCNTL) == 7, 500);
    for (i = 0; i < 500 && recv(fd, buf, sizeof(buf), 0) != 0; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_int_lt(i, 500); /* EOF: closed at once */
    ck_assert_int_eq(s.opens, 0);
    close(fd);
    fd = tu_connect_tcp(s.port);
    TU_ASSERT_EVENTUALLY(loop, s.opens == 1, 500);
    close(fd);
    TU_ASSERT_EVENTUALLY(loop, s.closes == 1, 500);
    /* dup2(): after each address's socket (two fcntl each), its F_SETFD */
    fds = tu_count_fds();
    fail_fcntl(4, ENOMEM);
    c = connect_via_fallback(loop, &s, &x);
    ck_assert_ptr_nonnull(c);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 500);
    ck_assert_int_eq(x.opens, 0);
    ck_assert_int_eq(x.reason, -ENOMEM);
    ck_assert_uint_eq(tu_fault_hits(TU_F_FCNTL), 8);
    /* the server saw that connection come and go */
    TU_ASSERT_EVENTUALLY(loop, s.opens == 2 && s.closes == 2, 500);
    ck_assert_int_eq(tu_count_fds(), fds);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * "unix:": an unnamed endpoint a reply can reach.  Linux names it in the
 * abstract namespace (shown as "unix:"); elsewhere and under PORTABLE it
 * is bound to a generated path, shown as such, and removed when freed.
 */
START_TEST(test_os_unnamed_unix)
{
    sb_loop *loop = sb_loop_new();
    char path[96], addr[128], local[160];
    dgram srv = {0}, cli = {0};
    struct stat st;
    sb_addr to;
    int err = 0;

    snprintf(path, sizeof(path), "/tmp/sb-os-%d.dgram", (int)getpid());
    snprintf(addr, sizeof(addr), "unix:%s", path);
    unlink(path);
    srv.reply = 1;
    srv.u = sb_udp_new(loop, addr, &dgram_handler, &srv, NULL, &err);
    ck_assert_msg(srv.u != NULL, "%s", sb_strerror(err));
    cli.u = sb_udp_new(loop, "unix:", &dgram_handler, &cli, NULL, &err);
    ck_assert_msg(cli.u != NULL, "%s", sb_strerror(err));
    ck_assert_int_gt(sb_udp_local(cli.u, local, sizeof(local)), 0);
    ck_assert_int_eq(sb_addr_resolve(&to, addr), 0);
    ck_assert_int_eq(sb_udp_send(cli.u, &to, "ping", 4), 0);
    TU_ASSERT_EVENTUALLY(loop, srv.n == 1 && cli.n == 1, 500);
    ck_assert_str_eq(srv.last, "ping");
    ck_assert_str_eq(cli.last, "pong");
#ifdef SB__HAVE_AUTOBIND
    ck_assert_str_eq(local, "unix:");
#else
    ck_assert_msg(strncmp(local, "unix:/", 6) == 0, "local %s", local);
    ck_assert_int_eq(lstat(local + 5, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
#endif
#ifdef SB_PORTABLE
    ck_assert_msg(strstr(local, "/sb-") != NULL, "PORTABLE has no autobind: %s", local);
#endif
    sb_udp_free(cli.u);
    if (strcmp(local, "unix:") != 0)
        ck_assert_int_eq(lstat(local + 5, &st), -1); /* removed with the endpoint */
    sb_udp_free(srv.u);
    ck_assert_int_eq(lstat(path, &st), -1);
    tu_loop_teardown(loop);
}
END_TEST

/* epoll where the platform has it, else -ENOSYS, and a daemon says so. */
START_TEST(test_os_epoll_backend)
{
    sb_loop_opts o = {"epoll"};
    int err = 0;
    sb_loop *loop = sb_loop_new_opts(&o, &err);

#ifdef SB__HAVE_EPOLL
    ck_assert_msg(loop != NULL, "%s", sb_strerror(err));
    ck_assert_str_eq(sb_loop_backend(loop), "epoll");
    tu_loop_teardown(loop);
#else
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", "--backend", "epoll", NULL};
    tu_proc p;
    int status;

    ck_assert_ptr_null(loop);
    ck_assert_int_eq(err, -ENOSYS);
    tu_spawn(&p, ECHOD, argv);
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "status %d", status);
    ck_assert_msg(strstr(p.out, "backend epoll is not available"), "stderr: %s", p.out);
#endif
#if defined(SB_PORTABLE)
    ck_assert_ptr_null(loop); /* PORTABLE builds no epoll, even on Linux */
#endif
}
END_TEST

Suite *sb_os_suite(void)
{
    Suite *s = suite_create("os");
    TCase *tc = tcase_create("os");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_os_paths_and_flags);
    tcase_add_test(tc, test_os_fallback_failures);
    tcase_add_test(tc, test_os_unnamed_unix);
    tcase_add_test(tc, test_os_epoll_backend);
    suite_add_tcase(s, tc);
    return s;
}
