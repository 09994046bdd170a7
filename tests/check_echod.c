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

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif
#define ECHOD SB_TEST_BUILD_DIR "/sb-echod"

typedef struct proc {
    pid_t pid;
    int err_fd; /* read end of its stderr */
    char out[4096];
    size_t len;
} proc;

static void spawn(proc *p, const char *const argv[])
{
    int e[2];

    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(pipe(e), 0);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(e[1], 2);
        dup2(null, 1);
        close(null);
        close(e[0]);
        close(e[1]);
        execv(ECHOD, (char *const *)argv);
        _exit(127);
    }
    close(e[1]);
    p->err_fd = e[0];
}

/* Read its stderr until `needle` shows up or it closes (10 s at most). */
static int wait_for(proc *p, const char *needle)
{
    int i;

    for (i = 0; i < 1000 && !strstr(p->out, needle); i++) {
        struct pollfd pf = {p->err_fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pf, 1, 10) <= 0)
            continue;
        n = read(p->err_fd, p->out + p->len, sizeof(p->out) - 1 - p->len);
        if (n <= 0)
            break;
        p->len += (size_t)n;
        p->out[p->len] = '\0';
    }
    return strstr(p->out, needle) != NULL;
}

static int finish(proc *p)
{
    int status = 0;

    wait_for(p, "\x01never"); /* collect everything until it closes */
    ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
    close(p->err_fd);
    return status;
}

/* A blocking client with a receive timeout, so a broken daemon fails the
 * test instead of hanging it. */
static int blocking_client(int port)
{
    int fd = tu_connect_tcp(port);
    struct timeval tv = {10, 0};

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int start_echod(proc *p, const char *extra)
{
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", extra, NULL};
    char *at;

    spawn(p, argv);
    ck_assert_msg(wait_for(p, "listening on 127.0.0.1:"), "no start-up line: %s", p->out);
    wait_for(p, "\n");
    at = strstr(p->out, "listening on 127.0.0.1:");
    return atoi(at + strlen("listening on 127.0.0.1:"));
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
    proc p;
    int port = start_echod(&p, NULL), fd, status, i;
    char buf[1000], want[1000];

    ck_assert_int_gt(port, 0);
    fd = blocking_client(port);
    for (i = 0; i < 20; i++) {
        memset(want, 'a' + i, sizeof(want));
        ck_assert_int_eq(tu_send(fd, want, sizeof(want)), (ssize_t)sizeof(want));
        read_exact(fd, buf, sizeof(buf));
        ck_assert_int_eq(memcmp(buf, want, sizeof(want)), 0);
    }
    /* SIGTERM with a client connected: it is closed cleanly, exit 0. */
    ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
    ck_assert_int_eq(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);
    status = finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, p.out);
}
END_TEST

/* Send everything, shut down our side, read the complete echo then EOF. */
START_TEST(test_echod_half_close)
{
    size_t len = 3u << 20, got = 0;
    unsigned char *out = malloc(len), *in = malloc(len + 1);
    proc p;
    int port = start_echod(&p, NULL), fd = blocking_client(port), status;
    pid_t writer;

    tu_fill(out, len, 77);
    /* A child writes while we read: neither side can deadlock. */
    writer = fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        size_t sent = 0;
        while (sent < len) {
            ssize_t w = send(fd, out + sent, len - sent, MSG_NOSIGNAL);
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
    status = finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", p.out);
    free(out);
    free(in);
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
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sb-echod", cases[i].a, cases[i].b, NULL};
        proc p;
        int status;
        spawn(&p, argv);
        status = finish(&p);
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

START_TEST(test_echod_address_in_use)
{
    sb_loop *loop = sb_loop_new();
    char addr[64];
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", "--listen", addr, NULL};
    tu_server s;
    proc p;
    int status;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    spawn(&p, argv);
    status = finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "status %d", status);
    ck_assert_msg(strstr(p.out, addr) && strstr(p.out, "in use"), "stderr: %s", p.out);
    ck_assert_ptr_null(strstr(p.out, "listening"));
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_echod_help_version)
{
    const char *h[] = {"sb-echod", "--help", NULL};
    const char *v[] = {"sb-echod", "-V", NULL};
    proc p;
    int status;

    /* --help and --version print on stdout, which is inherited: only the
     * exit status and an empty stderr are checked here. */
    spawn(&p, h);
    status = finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(p.len, 0);
    spawn(&p, v);
    status = finish(&p);
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
    tcase_add_test(tc, test_echod_bad_arguments);
    tcase_add_test(tc, test_echod_address_in_use);
    tcase_add_test(tc, test_echod_help_version);
    suite_add_tcase(s, tc);
    return s;
}
