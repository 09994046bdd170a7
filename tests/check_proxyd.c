/*
 * sb-proxyd end to end, in front of sb-echod, with real sockets: a stream
 * relayed byte-exact both ways with a half-close, an upstream that is down
 * (skipped, or the client closed at once with the reason logged), SIGTERM
 * during a transfer, bad arguments.
 */
#include "testutil.h"

#include <errno.h>
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
#define PROXYD SB_TEST_BUILD_DIR "/sb-proxyd"

static int start_echod(tu_proc *p)
{
    const char *argv[] = {"sb-echod", "--listen", "127.0.0.1:0", NULL};
    int port;

    tu_spawn(p, ECHOD, argv);
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "sb-echod did not start: %s", p->out);
    return port;
}

/* sb-proxyd on 127.0.0.1:0 relaying to the given upstream ports. */
static int start_proxyd(tu_proc *p, const int *ports, int n, const char *extra)
{
    static char ups[4][64];
    const char *argv[16] = {"sb-proxyd", "--listen", "127.0.0.1:0", "-L", "info"};
    int k = 5, i, port;

    for (i = 0; i < n; i++) {
        snprintf(ups[i], sizeof(ups[i]), "127.0.0.1:%d", ports[i]);
        argv[k++] = "--upstream";
        argv[k++] = ups[i];
    }
    if (extra)
        argv[k++] = extra;
    argv[k] = NULL;
    tu_spawn(p, PROXYD, argv);
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "sb-proxyd did not start: %s", p->out);
    return port;
}

/* Send len pseudo-random bytes and read them back (interleaved, so neither
 * side's buffers need to hold it all), then half-close and expect EOF. */
static void echo_through(int port, size_t len, uint32_t seed, int half_close)
{
    unsigned char *out = malloc(len), *in = malloc(len);
    size_t sent = 0, got = 0;
    int fd = tu_connect_tcp(port), eof = 0, shut = 0, rounds = 0;

    tu_fill(out, len, seed);
    while (got < len || (half_close && !eof)) {
        struct pollfd pf = {fd, POLLIN | (sent < len || (half_close && !shut) ? POLLOUT : 0), 0};
        ck_assert_int_lt(rounds++, 1000000);
        ck_assert_int_ge(poll(&pf, 1, 10000), 1);
        if ((pf.revents & POLLOUT) && sent < len) {
            ssize_t n = send(fd, out + sent, len - sent > 65536 ? 65536 : len - sent,
                             TU_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        if (half_close && sent == len && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            char extra[16];
            ssize_t n = got < len ? tu_drain(fd, in + got, len - got, &eof)
                                  : tu_drain(fd, extra, sizeof(extra), &eof);
            ck_assert_int_ge(eof, 0);
            if (got == len)
                ck_assert_int_eq(n, 0); /* nothing past the echo */
            got += (size_t)n;
            if (eof)
                break;
        }
    }
    ck_assert_uint_eq(got, len);
    ck_assert_int_eq(memcmp(in, out, len), 0);
    if (half_close)
        ck_assert_int_eq(eof, 1);
    close(fd);
    free(out);
    free(in);
}

/* Several clients at once, each 4 MiB both ways, half-closed at the end. */
START_TEST(test_proxyd_relays)
{
    tu_proc e, p;
    int up = start_echod(&e), port = start_proxyd(&p, &up, 1, NULL), i, status;
    size_t len = tu_slow() ? 256 * 1024 : 4 * 1024 * 1024;

    for (i = 0; i < 3; i++)
        echo_through(port, len, 100 + (uint32_t)i, 1);
    ck_assert_uint_ge(tu_proc_stat(&p, "bytes_in"), 3 * 2 * len);
    kill(p.pid, SIGTERM);
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(e.pid, SIGTERM);
    tu_finish(&e);
}
END_TEST

/* No upstream reachable: the client is closed at once, the reason logged. */
START_TEST(test_proxyd_upstream_down)
{
    tu_proc p;
    int dead = tu_closed_port(SOCK_STREAM), port = start_proxyd(&p, &dead, 1, NULL), fd, status;
    struct pollfd pf;
    char buf[16];
    ssize_t n;

    fd = tu_connect_tcp(port);
    (void)tu_send(fd, "hello", 5); /* may fail: the reset can come first */
    pf.fd = fd;
    pf.events = POLLIN;
    ck_assert_int_eq(poll(&pf, 1, 10000), 1); /* closed, not left hanging */
    n = recv(fd, buf, sizeof(buf), 0);
    ck_assert(n == 0 || (n < 0 && errno == ECONNRESET));
    close(fd);
    ck_assert(tu_wait_for(&p, "no upstream reachable"));
    ck_assert(tu_wait_for(&p, "skipped for 1000 ms"));
    /* Backing off: the next client is refused without a connect attempt. */
    fd = tu_connect_tcp(port);
    ck_assert_int_eq(poll(&pf, 1, 10000), 1);
    close(fd);
    kill(p.pid, SIGTERM);
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* A dead upstream beside a live one: every client is served. */
START_TEST(test_proxyd_skips_dead_upstream)
{
    tu_proc e, p;
    int ups[2], port, i, status;

    ups[0] = tu_closed_port(SOCK_STREAM);
    ups[1] = start_echod(&e);
    port = start_proxyd(&p, ups, 2, NULL);
    for (i = 0; i < 6; i++)
        echo_through(port, 4096, (uint32_t)i, 0);
    ck_assert(tu_wait_for(&p, "skipped for"));
    kill(p.pid, SIGTERM);
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(e.pid, SIGTERM);
    tu_finish(&e);
}
END_TEST

/* SIGTERM during a transfer: no new clients, but the transfer finishes. */
START_TEST(test_proxyd_sigterm_drains)
{
    tu_proc e, p;
    int up = start_echod(&e), port = start_proxyd(&p, &up, 1, "--grace=20"), fd, status;
    size_t len = tu_slow() ? 256 * 1024 : 8 * 1024 * 1024, sent = 0, got = 0;
    unsigned char *out = malloc(len), *in = malloc(len);
    int eof = 0, signalled = 0, rounds = 0;

    tu_fill(out, len, 9);
    fd = tu_connect_tcp(port);
    while (got < len) {
        struct pollfd pf = {fd, POLLIN | (sent < len ? POLLOUT : 0), 0};
        ck_assert_int_lt(rounds++, 1000000);
        ck_assert_int_ge(poll(&pf, 1, 10000), 1);
        if ((pf.revents & POLLOUT) && sent < len) {
            ssize_t n = send(fd, out + sent, len - sent > 65536 ? 65536 : len - sent,
                             TU_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            got += (size_t)tu_drain(fd, in + got, len - got, &eof);
            ck_assert_int_eq(eof, 0);
        }
        if (!signalled && got > len / 4) {
            kill(p.pid, SIGTERM);
            signalled = 1;
        }
    }
    ck_assert(signalled);
    ck_assert_int_eq(memcmp(in, out, len), 0);
    close(fd);
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(e.pid, SIGTERM);
    tu_finish(&e);
    free(out);
    free(in);
}
END_TEST

static int run_status(const char *const *argv)
{
    tu_proc p;

    tu_spawn(&p, PROXYD, argv);
    return tu_finish(&p);
}

START_TEST(test_proxyd_bad_arguments)
{
    static const char *const noup[] = {"sb-proxyd", NULL};
    static const char *const badup[] = {"sb-proxyd", "-u", "nonsense", NULL};
    static const char *const badbuf[] = {"sb-proxyd", "-u", "127.0.0.1:1", "-b", "10", NULL};
    static const char *const help[] = {"sb-proxyd", "--help", NULL};
    int st;

    st = run_status(noup);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    st = run_status(badup);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    st = run_status(badbuf);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    st = run_status(help);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

Suite *sb_proxyd_suite(void)
{
    Suite *s = suite_create("proxyd");
    TCase *tc = tcase_create("daemon");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_proxyd_relays);
    tcase_add_test(tc, test_proxyd_upstream_down);
    tcase_add_test(tc, test_proxyd_skips_dead_upstream);
    tcase_add_test(tc, test_proxyd_sigterm_drains);
    tcase_add_test(tc, test_proxyd_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
