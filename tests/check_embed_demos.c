/* The embedding demos end to end (demos/embed/, docs/embedding.md):
 * poll-echo (switchboard driven by a host poll() loop), thread-echo (on a
 * thread of its own, fed through sb_async) and, in a GLIB=1 build,
 * glib-echo (a GSource in the GLib main loop).  Each is started as a
 * process and talked to over 127.0.0.1: byte-exact echo across concurrent
 * clients, the library's idle timeout firing through the host's loop, no
 * spinning behind a client that never reads, clean exit on signals. */
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
#include <time.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif
#define EMBED_DIR SB_TEST_BUILD_DIR "/embed/"

/* A demo process: its stdin, stdout and stderr are pipes of ours. */
typedef struct demo {
    pid_t pid;
    int in_fd;  /* write end of its stdin */
    int out_fd; /* read end of its stdout (-1 once closed) */
    int err_fd; /* read end of its stderr (-1 once closed) */
    char out[8192], err[8192];
    size_t out_len, err_len;
    int port;
} demo;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read what is there from fd into buf (NUL-terminated); -1 at EOF. */
static int slurp(int *fd, char *buf, size_t *len, size_t cap)
{
    ssize_t n = read(*fd, buf + *len, cap - 1 - *len);

    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return -1;
    }
    *len += (size_t)n;
    buf[*len] = '\0';
    return 0;
}

/* Collect the demo's output for at most wait_ms: until its stdout holds a
 * complete line with needle in it (returns 1), or with needle NULL until
 * both pipes close (returns 1 when they did). */
static int demo_read(demo *d, const char *needle, int wait_ms)
{
    uint64_t end = now_ms() + (uint64_t)wait_ms;

    for (;;) {
        struct pollfd pf[2] = {{d->out_fd, POLLIN, 0}, {d->err_fd, POLLIN, 0}};
        const char *at = needle ? strstr(d->out, needle) : NULL;
        uint64_t now = now_ms();

        if (at && strchr(at, '\n'))
            return 1;
        if ((d->out_fd < 0 && d->err_fd < 0) || now >= end)
            return needle ? 0 : d->out_fd < 0 && d->err_fd < 0;
        if (poll(pf, 2, (int)(end - now)) <= 0)
            continue;
        if (pf[0].revents && d->out_len + 1 < sizeof(d->out))
            slurp(&d->out_fd, d->out, &d->out_len, sizeof(d->out));
        if (pf[1].revents && d->err_len + 1 < sizeof(d->err))
            slurp(&d->err_fd, d->err, &d->err_len, sizeof(d->err));
    }
}

/* Run EMBED_DIR/name with argv[1..] (argv[0] is set here; NULL-ended). */
static void demo_spawn(demo *d, const char *name, const char **argv)
{
    char path[256];
    int in[2], out[2], err[2];

    memset(d, 0, sizeof(*d));
    argv[0] = name;
    snprintf(path, sizeof(path), EMBED_DIR "%s", name);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
    tu_pipe(in, 0);
    tu_pipe(out, 0);
    tu_pipe(err, 0);
    d->pid = fork();
    ck_assert_int_ge(d->pid, 0);
    if (d->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    d->in_fd = in[1];
    d->out_fd = out[0];
    d->err_fd = err[0];
}

/* Start EMBED_DIR/name on 127.0.0.1:0 with extra arguments (NULL-ended),
 * and read back its port from its one line "listening on ADDR". */
static void demo_start(demo *d, const char *name, const char *const *extra)
{
    const char *argv[16] = {NULL, "-l", "127.0.0.1:0"};
    char want[64];
    int n = 3;

    while (extra && *extra && n < 15)
        argv[n++] = *extra++;
    argv[n] = NULL;
    demo_spawn(d, name, argv);
    ck_assert_msg(demo_read(d, "listening on ", 10000), "%s: no start-up line; stderr: %s", name,
                  d->err);
    /* Exactly that line, with the port it really got. */
    ck_assert_msg(strncmp(d->out, "listening on 127.0.0.1:", 23) == 0, "%s said: %s", name,
                  d->out);
    d->port = atoi(d->out + 23);
    ck_assert_int_gt(d->port, 0);
    snprintf(want, sizeof(want), "listening on 127.0.0.1:%d\n", d->port);
    ck_assert_msg(strncmp(d->out, want, strlen(want)) == 0, "%s said: %s", name, d->out);
}

/* Send sig (0: none; it is exiting already), collect the demo's output
 * until it exits (15 s at most) and return its wait status. */
static int demo_wait(demo *d, int sig)
{
    uint64_t end = now_ms() + 15000;
    int status = 0;
    pid_t r;

    if (sig)
        ck_assert_int_eq(kill(d->pid, sig), 0);
    demo_read(d, NULL, 15000);
    while ((r = waitpid(d->pid, &status, WNOHANG)) == 0 && now_ms() < end)
        poll(NULL, 0, 10); /* its pipes are closed: it is exiting */
    if (r == 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
        ck_abort_msg("pid %d did not exit (signal %d); stderr: %s", (int)d->pid, sig, d->err);
    }
    close(d->in_fd);
    if (d->out_fd >= 0)
        close(d->out_fd);
    if (d->err_fd >= 0)
        close(d->err_fd);
    return status;
}

/* The demo exits with status 0 (after sig, unless 0), having printed
 * nothing on stdout but its start-up line. */
static void demo_exits_cleanly(demo *d, int sig)
{
    int status = demo_wait(d, sig);
    const char *rest = strchr(d->out, '\n') + 1;

    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x; stderr: %s",
                  status, d->err);
    ck_assert_msg(*rest == '\0', "more on stdout: %s", rest);
}

/* ------------------------------------------------------------ clients */

/* The bytes of stream `seed` from offset off on: any stream length, no
 * buffer holding all of it. */
static void pattern(unsigned char *p, uint64_t off, size_t n, uint32_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull + seed;
        p[i] = (unsigned char)(x >> 29 ^ x >> 47);
    }
}

/*
 * nclients concurrent clients each send len bytes of their own stream in
 * 64 KiB chunks while reading the echo, check every byte, then half-close
 * and expect the server's close (its on_eof is the default: flush, close).
 * All at once over one poll(); 60 s at most.
 */
static void echo_streams(int port, int nclients, size_t len)
{
    enum { MAXC = 8, CHUNK = 65536 };
    struct {
        int fd;
        size_t sent, got;
        int eof;
    } c[MAXC];
    static unsigned char out[CHUNK], in[CHUNK], want[CHUNK];
    uint64_t end = now_ms() + 60000;
    int i, left = nclients;

    ck_assert_int_le(nclients, MAXC);
    for (i = 0; i < nclients; i++) {
        c[i].fd = tu_connect_tcp(port);
        c[i].sent = c[i].got = 0;
        c[i].eof = 0;
    }
    while (left > 0) {
        struct pollfd pf[MAXC];
        ck_assert_msg(now_ms() < end, "echo of %d x %zu bytes not done in 60 s", nclients, len);
        for (i = 0; i < nclients; i++) {
            pf[i].fd = c[i].eof ? -1 : c[i].fd;
            pf[i].events = (short)(POLLIN | (c[i].sent < len ? POLLOUT : 0));
            pf[i].revents = 0;
        }
        if (poll(pf, (nfds_t)nclients, 1000) <= 0)
            continue;
        for (i = 0; i < nclients; i++) {
            if (pf[i].revents & POLLOUT) {
                size_t n = len - c[i].sent < CHUNK ? len - c[i].sent : CHUNK;
                ssize_t w;
                pattern(out, c[i].sent, n, (uint32_t)i);
                w = tu_send(c[i].fd, out, n);
                ck_assert_msg(w > 0 || errno == EAGAIN, "send: %s", strerror(errno));
                if (w > 0)
                    c[i].sent += (size_t)w;
                if (c[i].sent == len)
                    ck_assert_int_eq(shutdown(c[i].fd, SHUT_WR), 0);
            }
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(c[i].fd, in, sizeof(in), 0);
                if (r < 0) {
                    ck_assert_msg(errno == EAGAIN, "client %d: recv: %s", i, strerror(errno));
                    continue;
                }
                if (r == 0) {
                    ck_assert_msg(c[i].got == len, "client %d: EOF after %zu of %zu bytes", i,
                                  c[i].got, len);
                    c[i].eof = 1;
                    left--;
                    continue;
                }
                ck_assert_msg(c[i].got + (size_t)r <= len, "client %d: more than it sent", i);
                pattern(want, c[i].got, (size_t)r, (uint32_t)i);
                ck_assert_msg(memcmp(in, want, (size_t)r) == 0,
                              "client %d: echo differs in bytes %zu..%zu", i, c[i].got,
                              c[i].got + (size_t)r);
                c[i].got += (size_t)r;
            }
        }
    }
    for (i = 0; i < nclients; i++)
        close(c[i].fd);
}

/* A blocking client that has been echoed once: the demo has accepted it. */
static int echoed_client(int port)
{
    int fd = tu_blocking_client(port);
    char buf[5];

    ck_assert_int_eq(tu_send(fd, "ping", 4), 4);
    ck_assert_int_eq(recv(fd, buf, 4, MSG_WAITALL), 4);
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
    return fd;
}

/* Wait (at most wait_ms) for the server to close fd: EOF or a reset. */
static int closed_by_server(int fd, int wait_ms)
{
    struct pollfd pf = {fd, POLLIN, 0};
    char buf[64];
    ssize_t r;

    if (poll(&pf, 1, wait_ms) != 1)
        return 0;
    r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* utime + stime of a process, in clock ticks (/proc/PID/stat). */
static unsigned long long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
    ck_assert_ptr_nonnull(p);
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st),
                     2);
    return ut + st;
}

/*
 * A client that sends and never reads: the demo's output queue reaches its
 * high-water mark, switchboard stops reading it, and the host loop must
 * then sleep, not spin.  Sends until the socket has taken nothing for a
 * while, measures the demo's CPU time over one second (it must stay far
 * below one core), checks another client is still served, then reads the
 * whole echo and checks it.
 */
static void stalled_client(demo *d)
{
    enum { CHUNK = 65536 };
    static unsigned char buf[CHUNK], want[CHUNK];
    int fd = tu_connect_tcp(d->port), other;
    size_t sent = 0, got = 0, limit = (size_t)512 << 20;
    unsigned long long t0;
    uint64_t m0, m1, end = now_ms() + 30000;
    double cpu;
    long hz = sysconf(_SC_CLK_TCK);
    int quiet = tu_slow() ? 2000 : 500;

    for (;;) {
        struct pollfd pf = {fd, POLLOUT, 0};
        ssize_t w;
        ck_assert_msg(sent < limit && now_ms() < end, "the demo never stopped reading (%zu bytes)",
                      sent);
        pattern(buf, sent, CHUNK, 99);
        w = tu_send(fd, buf, CHUNK);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        ck_assert_msg(errno == EAGAIN, "send: %s", strerror(errno));
        if (poll(&pf, 1, quiet) == 0)
            break; /* nothing taken for `quiet` ms: the demo has stopped reading */
    }

    if (tu_have_proc("embed_demos/stalled_client (the CPU check)")) {
        t0 = cpu_ticks(d->pid);
        m0 = now_ms();
        poll(NULL, 0, 1000); /* the measuring window, not a synchronisation */
        m1 = now_ms();
        cpu = (double)(cpu_ticks(d->pid) - t0) / (double)hz / ((double)(m1 - m0) / 1000.0);
        ck_assert_msg(cpu < 0.2, "the demo used %.0f%% of a core behind a stalled client",
                      cpu * 100);
    }

    other = echoed_client(d->port); /* not blocked either */
    close(other);

    /* Now read: everything comes back, in order (reading resumed). */
    end = now_ms() + 60000;
    while (got < sent) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t r;
        ck_assert_msg(now_ms() < end, "echo stalled at %zu of %zu bytes", got, sent);
        if (poll(&pf, 1, 1000) <= 0)
            continue;
        r = recv(fd, buf, CHUNK, 0);
        if (r < 0 && errno == EAGAIN)
            continue;
        ck_assert_msg(r > 0, "recv after %zu of %zu bytes: %s", got, sent,
                      r == 0 ? "EOF" : strerror(errno));
        ck_assert_msg(got + (size_t)r <= sent, "more than was sent");
        pattern(want, got, (size_t)r, 99);
        ck_assert_msg(memcmp(buf, want, (size_t)r) == 0, "echo differs at %zu", got);
        got += (size_t)r;
    }
    close(fd);
}

/* -t 1: an idle client is closed by the library's timer, which only fires
 * when the host honours sb_loop_timeout(). */
static void idle_timeout(demo *d)
{
    int fd = echoed_client(d->port);

    ck_assert_msg(closed_by_server(fd, tu_slow() ? 30000 : 10000),
                  "the idle client was not closed (idle timeout 1 s)");
    close(fd);
}

static size_t stream_len(void)
{
    return tu_slow() ? (size_t)512 << 10 : (size_t)4 << 20;
}

/* ---------------------------------------------------------- poll-echo */

START_TEST(test_poll_echo_streams)
{
    demo d;

    demo_start(&d, "poll-echo", NULL);
    echo_streams(d.port, 4, stream_len());
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

START_TEST(test_poll_echo_idle_timeout)
{
    const char *extra[] = {"-t", "1", NULL};
    unsigned long ticks = 0;
    const char *at;
    demo d;

    demo_start(&d, "poll-echo", extra);
    idle_timeout(&d);
    demo_exits_cleanly(&d, SIGTERM);
    /* The host's own 1 s timer was due before the client's idle timeout. */
    at = strstr(d.err, "poll-echo: ");
    ck_assert_msg(at && sscanf(at, "poll-echo: %lu host ticks", &ticks) == 1, "stderr: %s",
                  d.err);
    ck_assert_uint_ge(ticks, 1);
}
END_TEST

START_TEST(test_poll_echo_stalled_client)
{
    demo d;

    demo_start(&d, "poll-echo", NULL);
    stalled_client(&d);
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

/*
 * Hundreds of clients: fds come and go in every order, so the host's
 * pollfd array is reordered (a removal moves the last entry into its
 * hole) while the rest must keep their events.  Each client is echoed
 * before and after half of them are closed.
 */
START_TEST(test_poll_echo_many_clients)
{
    int n = tu_slow() ? 60 : 600, i, fds[600];
    char buf[16], want[16];
    demo d;

    if (!tu_ensure_fd_limit(n + 64, "test_poll_echo_many_clients"))
        return;
    demo_start(&d, "poll-echo", NULL);
    for (i = 0; i < n; i++)
        fds[i] = echoed_client(d.port);
    for (i = 0; i < n; i += 2) /* every other one, oldest first */
        close(fds[i]);
    for (i = n - 1; i > 0; i -= 2) { /* the rest, newest first */
        int len = snprintf(want, sizeof(want), "c%d", i);
        ck_assert_int_eq(tu_send(fds[i], want, (size_t)len), len);
        ck_assert_int_eq(recv(fds[i], buf, (size_t)len, MSG_WAITALL), len);
        ck_assert_int_eq(memcmp(buf, want, (size_t)len), 0);
    }
    for (i = 1; i < n; i += 2)
        close(fds[i]);
    echo_streams(d.port, 2, 1 << 16);
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

/* SIGINT with a client connected: the client is closed, exit 0. */
START_TEST(test_poll_echo_sigint_closes_clients)
{
    demo d;
    int fd;

    demo_start(&d, "poll-echo", NULL);
    fd = echoed_client(d.port);
    ck_assert_int_eq(kill(d.pid, SIGINT), 0);
    ck_assert_msg(closed_by_server(fd, 10000), "no close after SIGINT");
    close(fd);
    demo_exits_cleanly(&d, 0);
}
END_TEST

/* ---------------------------------------------------------- thread-echo */

START_TEST(test_thread_echo_streams)
{
    demo d;

    demo_start(&d, "thread-echo", NULL);
    echo_streams(d.port, 4, stream_len());
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

/* What the main thread reads on stdin reaches every client through
 * sb_async_send and the loop thread. */
START_TEST(test_thread_echo_async_broadcast)
{
    static const char msg[] = "to everyone\n";
    char buf[sizeof(msg)];
    int a, b;
    demo d;

    demo_start(&d, "thread-echo", NULL);
    a = echoed_client(d.port);
    b = echoed_client(d.port);
    ck_assert_int_eq(write(d.in_fd, msg, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
    ck_assert_int_eq(recv(a, buf, sizeof(msg) - 1, MSG_WAITALL), (ssize_t)sizeof(msg) - 1);
    ck_assert_int_eq(memcmp(buf, msg, sizeof(msg) - 1), 0);
    ck_assert_int_eq(recv(b, buf, sizeof(msg) - 1, MSG_WAITALL), (ssize_t)sizeof(msg) - 1);
    ck_assert_int_eq(memcmp(buf, msg, sizeof(msg) - 1), 0);
    /* Still an echo server afterwards. */
    ck_assert_int_eq(tu_send(a, "more", 4), 4);
    ck_assert_int_eq(recv(a, buf, 4, MSG_WAITALL), 4);
    ck_assert_int_eq(memcmp(buf, "more", 4), 0);
    /* SIGTERM, sent while its stdin is still open: clients closed, exit 0. */
    ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
    ck_assert(closed_by_server(a, 10000));
    ck_assert(closed_by_server(b, 10000));
    close(a);
    close(b);
    demo_exits_cleanly(&d, 0);
}
END_TEST

/* ------------------------------------------------------------ glib-echo */

#ifdef SB_HAVE_GLIB_DEMO
/* SIGUSR1: glib-echo prints "ticks N", its GLib timer's count. */
static unsigned long glib_ticks(demo *d)
{
    unsigned long n = 0;
    char *at;

    ck_assert_int_eq(kill(d->pid, SIGUSR1), 0);
    ck_assert_msg(demo_read(d, "ticks ", 10000), "no ticks line: %s", d->out);
    at = strstr(d->out, "ticks ");
    ck_assert_int_eq(sscanf(at, "ticks %lu", &n), 1);
    /* Forget the line: the next call reads a fresh one. */
    d->out_len = (size_t)(at - d->out);
    d->out[d->out_len] = '\0';
    return n;
}

START_TEST(test_glib_echo_streams)
{
    demo d;

    demo_start(&d, "glib-echo", NULL);
    echo_streams(d.port, 4, stream_len());
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

/* The GLib timer (100 ms) keeps ticking while a client is being served. */
START_TEST(test_glib_echo_timer_ticks_while_serving)
{
    unsigned char out[4096], in[4096];
    unsigned long first, now = 0;
    uint64_t end = now_ms() + 20000, off = 0;
    int fd;
    demo d;

    demo_start(&d, "glib-echo", NULL);
    fd = echoed_client(d.port);
    first = glib_ticks(&d);
    while (now < first + 3) {
        ck_assert_msg(now_ms() < end, "GLib timer at %lu ticks, started at %lu", now, first);
        pattern(out, off, sizeof(out), 7);
        ck_assert_int_eq(tu_send(fd, out, sizeof(out)), (ssize_t)sizeof(out));
        ck_assert_int_eq(recv(fd, in, sizeof(in), MSG_WAITALL), (ssize_t)sizeof(in));
        ck_assert_int_eq(memcmp(out, in, sizeof(out)), 0);
        off += sizeof(out);
        now = glib_ticks(&d);
    }
    close(fd);
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

START_TEST(test_glib_echo_idle_timeout)
{
    const char *extra[] = {"-t", "1", NULL};
    demo d;

    demo_start(&d, "glib-echo", extra);
    idle_timeout(&d);
    demo_exits_cleanly(&d, SIGTERM);
}
END_TEST

START_TEST(test_glib_echo_stalled_client)
{
    demo d;

    demo_start(&d, "glib-echo", NULL);
    stalled_client(&d);
    demo_exits_cleanly(&d, SIGINT);
}
END_TEST
#endif

/* -h prints the usage and exits 0; a bad option exits 2. */
START_TEST(test_embed_demos_usage)
{
    static const char *const names[] = {"poll-echo", "thread-echo",
#ifdef SB_HAVE_GLIB_DEMO
                                        "glib-echo"
#endif
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *help[] = {NULL, "-h", NULL}, *bad[] = {NULL, "-Z", NULL};
        char want[64];
        demo d;
        int status;

        demo_spawn(&d, names[i], help);
        status = demo_wait(&d, 0);
        snprintf(want, sizeof(want), "usage: %s ", names[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s -h: %#x", names[i],
                      status);
        ck_assert_msg(strncmp(d.out, want, strlen(want)) == 0, "%s -h: %s", names[i], d.out);
        demo_spawn(&d, names[i], bad);
        status = demo_wait(&d, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s -Z: %#x", names[i],
                      status);
        ck_assert_msg(strstr(d.err, "usage: ") != NULL, "%s -Z: %s", names[i], d.err);
    }
}
END_TEST

Suite *sb_embed_demos_suite(void)
{
    Suite *s = suite_create("embed_demos");
    TCase *tc = tcase_create("demos");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_poll_echo_streams);
    tcase_add_test(tc, test_poll_echo_idle_timeout);
    tcase_add_test(tc, test_poll_echo_stalled_client);
    tcase_add_test(tc, test_poll_echo_many_clients);
    tcase_add_test(tc, test_poll_echo_sigint_closes_clients);
    tcase_add_test(tc, test_thread_echo_streams);
    tcase_add_test(tc, test_thread_echo_async_broadcast);
#ifdef SB_HAVE_GLIB_DEMO
    tcase_add_test(tc, test_glib_echo_streams);
    tcase_add_test(tc, test_glib_echo_timer_ticks_while_serving);
    tcase_add_test(tc, test_glib_echo_idle_timeout);
    tcase_add_test(tc, test_glib_echo_stalled_client);
#endif
    tcase_add_test(tc, test_embed_demos_usage);
    suite_add_tcase(s, tc);
    return s;
}
