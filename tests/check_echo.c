/* The sb-echo client program against sb-echod (TCP, UDP, half-close) and
 * against servers on this process's loop: refused, timed out, a mismatched
 * echo, bad arguments; exit codes and one-line error messages. */
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
#include <sys/wait.h>
#include <unistd.h>

/* build/sb-echod and build/sb-echo, or the Windows ones under wine
 * (tu_demo, SB_DEMO_DIR) */
#define ECHOD tu_demo("sb-echod")
#define ECHO tu_demo("sb-echo")

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
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
    tu_set_cloexec(in[0]);
    tu_set_cloexec(in[1]);
    tu_pipe(out, 0);
    tu_pipe(err, 0);
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
        /* Windows demos: their stderr is text mode ("\r\n"). */
        r->err[r->err_len + (size_t)n] = '\0';
        r->err_len = tu_demos_win32() ? tu_crlf_to_lf(r->err, r->err_len + (size_t)n, r->err_len)
                                      : r->err_len + (size_t)n;
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
                                 TU_NOSIGNAL);
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

    ck_assert_int_eq(kill(d->r.pid, tu_stop_signal()), 0);
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
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 0,
                      "sb-echo exit status; stderr: %s", r.err);
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
        ck_assert_msg(echo_run(&r, argv, input, len, NULL) == 0,
                      "sb-echo exit status; stderr: %s", r.err);
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
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 0,
                      "sb-echo exit status; stderr: %s", r.err);
        ck_assert_str_eq(r.out, "one\n\nthree\n");
        ck_assert_uint_eq(r.err_len, 0);
        run_free(&r);
    }
    {
        static const char in[] = "alpha\nbeta\n\ngamma without newline";
        const char *argv[] = {"sb-echo", "-u", addr, NULL};
        ck_assert_msg(echo_run(&r, argv, in, strlen(in), NULL) == 0,
                      "sb-echo exit status; stderr: %s", r.err);
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
        ck_assert_msg(echo_run(&r, argv, input, len, NULL) == 0,
                      "sb-echo exit status; stderr: %s", r.err);
        ck_assert_uint_eq(r.out_len, len);
        ck_assert_int_eq(memcmp(r.out, input, len), 0);
        ck_assert_uint_eq(r.err_len, 0);
        run_free(&r);
    }
    {
        const char *argv[] = {"sb-echo", "-H", addr, "GET / HTTP/1.0", NULL};
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 0,
                      "sb-echo exit status; stderr: %s", r.err);
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

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", tu_closed_port(SOCK_STREAM));
    {
        const char *argv[] = {"sb-echo", addr, "hi", NULL};
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 1,
                      "sb-echo exit status; stderr: %s", r.err);
        assert_one_line(&r, "refused");
        ck_assert_ptr_nonnull(strstr(r.err, addr));
        ck_assert_uint_eq(r.out_len, 0);
        run_free(&r);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", tu_closed_port(SOCK_DGRAM));
    {
        const char *argv[] = {"sb-echo", "--udp", "--timeout", "5", addr, "hi", NULL};
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 1,
                      "sb-echo exit status; stderr: %s", r.err);
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
    tu_hang h;
    run r;
    int ufd;

    tu_hang_open(&h);
    {
        const char *argv[] = {"sb-echo", "--timeout", "0.2", h.addr, "hi", NULL};
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 1,
                      "sb-echo exit status; stderr: %s", r.err);
        assert_one_line(&r, "timed out");
        ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
        run_free(&r);
    }
    tu_hang_close(&h);
    /* A datagram socket that never answers. */
    ufd = tu_socket(AF_INET, SOCK_DGRAM);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(ufd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(ufd, (struct sockaddr *)&a, &alen), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
    {
        const char *argv[] = {"sb-echo", "-u", "-t", "0.2", addr, "anyone?", NULL};
        ck_assert_msg(echo_run(&r, argv, NULL, 0, NULL) == 1,
                      "sb-echo exit status; stderr: %s", r.err);
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
        ck_assert_msg(echo_run(&r, argv, NULL, 0, loop) == 1,
                      "sb-echo exit status; stderr: %s", r.err);
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

Suite *sb_echo_suite(void)
{
    Suite *s = suite_create("echo");
    TCase *te = tcase_create("sb-echo");

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
