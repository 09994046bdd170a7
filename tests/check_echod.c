/* sb-echod end to end: start it, talk to it, half-close, SIGTERM, and its
 * answers to bad arguments. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* build/sb-echod, or the Windows one under wine (tu_demo, SB_DEMO_DIR) */
#define ECHOD tu_demo("sb-echod")

/* Start sb-echod on 127.0.0.1:0 with extra arguments (NULL-terminated). */
static int start_echod(tu_proc *p, const char *const *extra)
{
    const char *argv[16] = {"sb-echod", "--listen", "127.0.0.1:0"};
    int n = 3, port;

    while (extra && *extra && n < 15)
        argv[n++] = *extra++;
    argv[n] = NULL;
    tu_spawn(p, ECHOD, argv);
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "no start-up line: %s", p->out);
    return port;
}

static void read_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        ck_assert_msg(r > 0, "recv: %s", r == 0 ? "EOF" : strerror(errno));
        got += (size_t)r;
    }
}

START_TEST(test_echod_echo_and_sigterm)
{
    tu_proc p;
    int port = start_echod(&p, NULL), fd, status, i;
    char buf[1000], want[1000];

    ck_assert_int_gt(port, 0);
    fd = tu_blocking_client(port);
    for (i = 0; i < 20; i++) {
        memset(want, 'a' + i, sizeof(want));
        ck_assert_int_eq(tu_send(fd, want, sizeof(want)), (ssize_t)sizeof(want));
        read_exact(fd, buf, sizeof(buf));
        ck_assert_int_eq(memcmp(buf, want, sizeof(want)), 0);
    }
    /* SIGUSR1: the counters, one line. */
    if (!tu_demo_skip("echod/echo_and_sigterm (its SIGUSR1 counters)",
                      "no SIGUSR1 there (console control events are SIGINT and SIGTERM only)")) {
        ck_assert_int_eq(kill(p.pid, SIGUSR1), 0);
        ck_assert_msg(tu_wait_for(&p, "stats: conns=1 accepted=1"), "%s", p.out);
        ck_assert(tu_wait_for(&p, "bytes_in=20000 bytes_out=20000"));
    }
    /* SIGTERM (Windows: Ctrl-C) with a client connected: it is closed
     * cleanly, exit 0. */
    ck_assert_int_eq(kill(p.pid, tu_stop_signal()), 0);
    ck_assert_int_eq(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, p.out);
}
END_TEST

/* Send everything, shut down our side, read the complete echo then EOF. */
START_TEST(test_echod_half_close)
{
    size_t len = 3u << 20, got = 0;
    unsigned char *out = malloc(len), *in = malloc(len + 1);
    tu_proc p;
    int port = start_echod(&p, NULL), fd = tu_blocking_client(port), status;
    pid_t writer;

    tu_fill(out, len, 77);
    /* A child writes while we read: neither side can deadlock. */
    writer = fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        size_t sent = 0;
        while (sent < len) {
            ssize_t w = send(fd, out + sent, len - sent, TU_NOSIGNAL);
            if (w <= 0)
                _exit(1);
            sent += (size_t)w;
        }
        shutdown(fd, SHUT_WR);
        free(out);
        free(in);
        _exit(0);
    }
    for (;;) {
        ssize_t r = recv(fd, in + got, len + 1 - got, 0);
        ck_assert_msg(r >= 0, "recv: %s", strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    ck_assert_int_eq(waitpid(writer, &status, 0), writer);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_eq(got, len);
    ck_assert_int_eq(memcmp(in, out, len), 0);
    close(fd);
    kill(p.pid, SIGINT);
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", p.out);
    free(out);
    free(in);
}
END_TEST

/* Each --frame mode: send a stream, half-close, read the echo to EOF. */
static void frame_case(const char *mode, const char *max, const char *in, size_t inlen,
                       const char *want, size_t wantlen)
{
    const char *extra[] = {"--frame", mode, max ? "--max-message" : NULL, max, NULL};
    char buf[256];
    size_t got = 0;
    tu_proc p;
    int port = start_echod(&p, extra), fd = tu_blocking_client(port), status;

    ck_assert_int_eq(tu_send(fd, in, inlen), (ssize_t)inlen);
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
        ck_assert_msg(r >= 0 || errno == ECONNRESET, "%s: recv: %s", mode, strerror(errno));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    ck_assert_msg(got == wantlen && memcmp(buf, want, got) == 0, "--frame %s: got %zu bytes '%.*s'",
                  mode, got, (int)got, buf);
    close(fd);
    kill(p.pid, tu_stop_signal());
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--frame %s: status %#x: %s",
                  mode, status, p.out);
}

#define FC(mode, max, in, want) frame_case(mode, max, in, sizeof(in) - 1, want, sizeof(want) - 1)

START_TEST(test_echod_frame_modes)
{
    FC("raw", NULL, "any\x00bytes", "any\x00bytes");
    FC("line", NULL, "a\nbb\n\nccc\n", "a\nbb\n\nccc\n");
    FC("crlf", NULL, "a\r\nb\nc\r\n", "a\r\nb\nc\r\n");
    FC("prefix1", NULL, "\x02hi\x00\x01x", "\x02hi\x00\x01x");
    FC("prefix2", NULL, "\x00\x03" "abc", "\x00\x03" "abc");
    FC("prefix4", NULL, "\x00\x00\x00\x02ok", "\x00\x00\x00\x02ok");
    FC("prefix8", NULL, "\x00\x00\x00\x00\x00\x00\x00\x01z", "\x00\x00\x00\x00\x00\x00\x00\x01z");
    FC("digits:5", NULL, "00005hello00000", "00005hello00000");
    FC("fixed:4", NULL, "abcdefghij", "abcdefgh"); /* the partial tail is dropped */
    FC("eof", NULL, "the whole\nstream", "the whole\nstream");
}
END_TEST

/* Oversized or malformed: what was queued is flushed, then the close. */
START_TEST(test_echod_frame_errors)
{
    FC("line", "4", "ok\ntoo long\nnever\n", "ok\n");
    FC("digits:3", NULL, "002hi00x", "002hi");
    FC("prefix4", "100", "\x00\x00\x00\x01!GET / HTTP/1.1\r\n", "\x00\x00\x00\x01!");
    FC("eof", "5", "too long for five", "");
}
END_TEST

START_TEST(test_echod_bad_arguments)
{
    static const struct {
        const char *a, *b, *expect;
    } cases[] = {
        {"--listen", "nonsense", "nonsense"},
        {"--listen", "127.0.0.1:70000", "port"},
        {"--listen", "[::1", "[::1"},
        {"--max-conns", "-1", "--max-conns"},
        {"--max-conns", "ten", "--max-conns"},
        {"--idle-timeout", "1x", "--idle-timeout"},
        {"--max-buffer", "0", "--max-buffer"},
        {"--log-level", "loud", "--log-level"},
        {"--bogus", NULL, "--bogus"},
        {"extra-arg", NULL, "extra-arg"},
        {"--listen", NULL, "--listen"},
        {"--frame", "prefix3", "prefix3"},
        {"--frame", "fixed:0", "fixed:0"},
        {"--frame", "digits:x", "digits:x"},
        {"--max-message", "0", "--max-message"},
        {"--backend", "kqueue", "--backend"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sb-echod", cases[i].a, cases[i].b, NULL};
        tu_proc p;
        int status;
        tu_spawn(&p, ECHOD, argv);
        status = tu_finish(&p);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "'%s %s' exited %d",
                      cases[i].a, cases[i].b ? cases[i].b : "", status);
        ck_assert_msg(strstr(p.out, cases[i].expect) != NULL, "'%s': stderr was: %s",
                      cases[i].a, p.out);
        /* One clear line, nothing started. */
        ck_assert_msg(strchr(p.out, '\n') == p.out + p.len - 1, "not one line: %s", p.out);
        ck_assert_ptr_null(strstr(p.out, "listening"));
    }
}
END_TEST

/* The TLS options fail loudly: without TLS in the build (make TLS=1), exit
 * 2 with one line saying so; with it, a certificate that cannot be loaded
 * is exit 1 with the reason.  Nothing is served in either case. */
START_TEST(test_echod_tls_options)
{
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", "--tls-cert",
                          "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem", NULL};
    tu_proc p;
    int status;

    tu_spawn(&p, ECHOD, argv);
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status), "status %d", status);
    if (strstr(p.out, "built without TLS")) {
        ck_assert_int_eq(WEXITSTATUS(status), 2);
        ck_assert_str_eq(p.out, "sb-echod: built without TLS support (rebuild with make TLS=1)\n");
    } else {
        ck_assert_msg(WEXITSTATUS(status) == 1, "exit %d: %s", WEXITSTATUS(status), p.out);
        ck_assert_msg(strstr(p.out, "sb-echod: TLS: ") != NULL, "%s", p.out);
    }
    ck_assert_ptr_null(strstr(p.out, "listening"));
}
END_TEST

START_TEST(test_echod_address_in_use)
{
    sb_loop *loop = sb_loop_new();
    char addr[64];
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", "--listen", addr, NULL};
    tu_server s;
    tu_proc p;
    int status;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    tu_spawn(&p, ECHOD, argv);
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "status %d", status);
    ck_assert_msg(strstr(p.out, addr) && strstr(p.out, "in use"), "stderr: %s", p.out);
    ck_assert_ptr_null(strstr(p.out, "listening"));
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* --backend: the loop the daemon runs on, named at start-up, echoing. */
START_TEST(test_echod_backend_option)
{
    static const char *const names[] = {"poll", "epoll"};
    const char *extra[] = {"--backend", names[_i], NULL};
    char want[32], buf[64];
    tu_proc p;
    int port, fd, status;

    if (tu_demos_win32() && strcmp(names[_i], "epoll") == 0) {
        /* Windows has no epoll: the daemon says so and exits. */
        const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", "--backend", "epoll", NULL};
        tu_spawn(&p, ECHOD, argv);
        status = tu_finish(&p);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "status %d", status);
        ck_assert_msg(strstr(p.out, "epoll") != NULL, "%s", p.out);
        ck_assert_ptr_null(strstr(p.out, "listening"));
        return;
    }
    if (!tu_have_backend(names[_i], "echod/backend_option"))
        return;
    port = start_echod(&p, extra);

    snprintf(want, sizeof(want), "(%s)", names[_i]);
    ck_assert_msg(tu_wait_for(&p, want), "start-up line: %s", p.out);
    fd = tu_blocking_client(port);
    ck_assert_int_eq(tu_send(fd, "on every backend", 16), 16);
    read_exact(fd, buf, 16);
    ck_assert_int_eq(memcmp(buf, "on every backend", 16), 0);
    close(fd);
    kill(p.pid, tu_stop_signal());
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %#x: %s",
                  names[_i], status, p.out);
}
END_TEST

START_TEST(test_echod_help_version)
{
    const char *h[] = {"sb-echod", "--help", NULL};
    const char *v[] = {"sb-echod", "-V", NULL};
    tu_proc p;
    int status;

    /* --help and --version print on stdout, which is inherited: only the
     * exit status and an empty stderr are checked here. */
    tu_spawn(&p, ECHOD, h);
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(p.len, 0);
    tu_spawn(&p, ECHOD, v);
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

Suite *sb_echod_suite(void)
{
    Suite *s = suite_create("echod");
    TCase *tc = tcase_create("daemon");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_echod_echo_and_sigterm);
    tcase_add_test(tc, test_echod_half_close);
    tcase_add_test(tc, test_echod_frame_modes);
    tcase_add_test(tc, test_echod_frame_errors);
    tcase_add_test(tc, test_echod_bad_arguments);
    tcase_add_test(tc, test_echod_tls_options);
    tcase_add_test(tc, test_echod_address_in_use);
    tcase_add_test(tc, test_echod_help_version);
    tcase_add_loop_test(tc, test_echod_backend_option, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
