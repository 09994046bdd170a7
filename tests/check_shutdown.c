/*
 * Every daemon's shutdown paths, end to end (demos/common/daemon.c):
 *   - one signal with an idle client: it gets EOF, new clients are refused,
 *     exit 0 without waiting for the grace period;
 *   - one signal with a stuck client (its output cannot drain): the grace
 *     period runs out, the client is reset, exit 0;
 *   - a second signal while a stuck client holds the grace period: the
 *     client is reset at once, exit 0 (this crashed sb-echod and sb-kvd:
 *     the grace timer was freed twice);
 *   - a signal in the middle of heavy load: every byte a client gets is a
 *     byte it was owed, in order; a response in progress is finished;
 *     then EOF.
 * A stuck client is made deterministic: it never reads, its receive buffer
 * is small, and the daemon is made to queue more for it than the kernel can
 * ever hold (twice tcp_wmem's maximum plus 1 MiB), which the test confirms
 * through the daemon's SIGUSR1 counters before it signals.
 * Against the Windows demos under wine (tests/wine/run-suites.sh:
 * SB_DEMO_DIR, SB_DEMOS_WIN32) the stop signal is SIGINT (a console
 * Ctrl-C) and stderr's "\r\n" is read as "\n"; the stuck-client cases and
 * sb-httpd's and sb-kvd's (POSIX-only demos) skip by name.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif

enum { ECHOD, CHATD, HTTPD, KVD, NDAEMONS };
static const char *const names[NDAEMONS] = {"sb-echod", "sb-chatd", "sb-httpd", "sb-kvd"};

/*
 * With Windows demos (SB_DEMOS_WIN32, tests/wine/run-suites.sh): sb-httpd
 * and sb-kvd are not built there, so their cases skip, saying so; test
 * names the case.  Returns 1 when the caller skips.
 */
static int skip_posix_only(const char *test, int k)
{
    char what[128];

    if (k != HTTPD && k != KVD)
        return 0;
    snprintf(what, sizeof(what), "shutdown/%s (%s)", test, names[k]);
    return tu_demo_skip(what, "sb-httpd and sb-kvd are POSIX-only (not built for Windows)");
}

/* The stuck-client cases need the daemon's SIGUSR1 counters (and Linux's
 * /proc/sys/net/ipv4/tcp_wmem) to know its queue is past what the kernel
 * holds: Windows demos have no SIGUSR1. */
static int skip_stuck(const char *test, int k)
{
    char what[128];

    if (skip_posix_only(test, k))
        return 1;
    snprintf(what, sizeof(what), "shutdown/%s (%s)", test, names[k]);
    return tu_demo_skip(what, "a stuck client is confirmed through the SIGUSR1 counters "
                              "(none on Windows) and /proc's tcp_wmem");
}

/* sb-httpd's document root: small.txt and big.bin (sparse, zeros). */
static char docroot[64];

static void make_docroot(size_t big)
{
    char path[128];
    int fd;

    strcpy(docroot, "/tmp/sb-shutdown-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(docroot));
    snprintf(path, sizeof(path), "%s/small.txt", docroot);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "small\n", 6), 6);
    close(fd);
    snprintf(path, sizeof(path), "%s/big.bin", docroot);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)big), 0);
    close(fd);
}

static void remove_docroot(void)
{
    if (docroot[0])
        tu_rm_tree(docroot);
    docroot[0] = '\0';
}

/* Start daemon k on 127.0.0.1:0 with extra arguments; returns its port. */
static int start(int k, tu_proc *p, const char *const *extra)
{
    const char *argv[24] = {names[k], "--listen", "127.0.0.1:0"};
    int n = 3, port;

    if (k == HTTPD) {
        argv[n++] = "--root";
        argv[n++] = docroot;
    }
    while (extra && *extra && n < 23)
        argv[n++] = *extra++;
    argv[n] = NULL;
    tu_spawn(p, tu_demo(names[k]), argv); /* build/, or SB_DEMO_DIR's */
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "%s: no start-up line: %s", names[k], p->out);
    return port;
}

/* Exit 0, and never killed by a signal (a crash, an ASan abort). */
static void expect_exit0(int k, tu_proc *p)
{
    int status = tu_finish(p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d: %s", names[k],
                  status, p->out);
}

/* The most the kernel can hold between a daemon and a client that never
 * reads: the daemon's send buffer (at most tcp_wmem's maximum) plus the
 * client's small receive buffer.  Anything queued past twice that stays. */
static size_t stuck_bytes(void)
{
    unsigned long a, b, max = 4u << 20;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");

    if (f) {
        if (fscanf(f, "%lu %lu %lu", &a, &b, &max) != 3)
            max = 4u << 20;
        fclose(f);
    }
    return 2 * (size_t)max + (1u << 20);
}

/* A blocking client with a small receive buffer, set before connecting. */
static int small_client(int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
    struct timeval tv = {10, 0};

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = tu_send(fd, p, n);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void recv_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        ck_assert_msg(r > 0, "recv: %s", r == 0 ? "EOF" : strerror(errno));
        got += (size_t)r;
    }
}

/* Read until the peer's FIN (returns 0) or an error (returns -errno). */
static int read_to_end(int fd, size_t *total)
{
    char buf[65536];

    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EINTR ? 0 : -errno;
        if (total)
            *total += (size_t)r;
    }
}

/* Poll the daemon's counters until key reaches at least want. */
static void wait_stat(tu_proc *p, const char *key, unsigned long long want)
{
    unsigned long long v = 0;
    int i;

    /* Each round waits for the daemon's answer: that paces it. */
    for (i = 0; i < 200000 && (v = tu_proc_stat(p, key)) < want; i++)
        ;
    ck_assert_msg(v >= want, "%s stayed at %llu (want %llu)", key, v, want);
}

/* One exchange that proves the client is open and its on_open has run. */
static void hello(int k, int fd)
{
    char buf[256];

    switch (k) {
    case ECHOD:
        send_all(fd, "hi", 2);
        recv_exact(fd, buf, 2);
        ck_assert_int_eq(memcmp(buf, "hi", 2), 0);
        break;
    case CHATD: { /* the whole welcome line, nothing after it */
        size_t n = 0;
        do
            recv_exact(fd, buf + n, 1);
        while (buf[n++] != '\n' && n < sizeof(buf) - 1);
        ck_assert_int_eq(memcmp(buf, "* welcome,", 10), 0);
        break;
    }
    case HTTPD: {
        static const char req[] = "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n";
        ssize_t r;
        send_all(fd, req, sizeof(req) - 1);
        r = recv(fd, buf, sizeof(buf) - 1, 0);
        ck_assert_int_gt(r, 0);
        buf[r] = '\0';
        ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
        break;
    }
    case KVD:
        send_all(fd, "PING\r\n", 6);
        recv_exact(fd, buf, 7);
        ck_assert_int_eq(memcmp(buf, "+PONG\r\n", 7), 0);
        break;
    }
}

/*
 * Make fd (a small_client) stuck on daemon k: the daemon queues for it more
 * than the kernel can hold, confirmed by its counters.  Needs the daemon
 * started with stuck_args(k).
 */
static void make_stuck(int k, tu_proc *p, int port, int fd)
{
    size_t n = stuck_bytes(), i;
    char *buf;

    switch (k) {
    case ECHOD: { /* it echoes n bytes it read in full */
        buf = calloc(1, n);
        send_all(fd, buf, n);
        free(buf);
        wait_stat(p, "bytes_in", n);
        break;
    }
    case CHATD: { /* another client says n bytes, each line for fd too */
        int talker = tu_blocking_client(port);
        size_t line = 1000, sent = 0;
        buf = malloc(line);
        memset(buf, 'x', line - 1);
        buf[line - 1] = '\n';
        hello(CHATD, talker);
        for (i = 0; sent < n; i++, sent += line)
            send_all(talker, buf, line);
        free(buf);
        wait_stat(p, "bytes_in", sent);
        close(talker); /* its "left" notice goes to fd's queue too */
        wait_stat(p, "closes", 1);
        break;
    }
    case HTTPD: { /* a download of big.bin (n bytes) */
        static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
        unsigned long long before = tu_proc_stat(p, "bytes_in");
        send_all(fd, req, sizeof(req) - 1);
        wait_stat(p, "bytes_in", before + sizeof(req) - 1);
        break;
    }
    case KVD: { /* SET a value of n bytes, then GET it */
        char head[64];
        static const char get[] = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
        unsigned long long before;
        int hl = snprintf(head, sizeof(head), "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%zu\r\n", n);
        buf = calloc(1, n + 2);
        memcpy(buf + n, "\r\n", 2);
        send_all(fd, head, (size_t)hl);
        send_all(fd, buf, n + 2);
        free(buf);
        recv_exact(fd, head, 5);
        ck_assert_int_eq(memcmp(head, "+OK\r\n", 5), 0);
        before = tu_proc_stat(p, "bytes_in");
        send_all(fd, get, sizeof(get) - 1);
        wait_stat(p, "bytes_in", before + sizeof(get) - 1);
        break;
    }
    }
}

/* The options that let daemon k queue stuck_bytes() for one client. */
static void stuck_args(int k, const char **argv, const char *grace)
{
    int n = 0;

    argv[n++] = "--grace";
    argv[n++] = grace;
    if (k == ECHOD) {
        argv[n++] = "--max-buffer";
        argv[n++] = "268435456";
    } else if (k == CHATD) {
        argv[n++] = "--max-output";
        argv[n++] = "268435456";
    }
    argv[n] = NULL;
}

/* ------------------------------------------------------------- the tests */

START_TEST(test_shutdown_idle_client)
{
    int k = _i, port, fd, fd2, rc;
    const char *extra[] = {"--grace", "600", NULL};
    size_t total = 0;
    tu_proc p;

    if (skip_posix_only("idle_client", k))
        return;
    make_docroot(1);
    port = start(k, &p, extra);
    fd = tu_blocking_client(port);
    hello(k, fd);
    ck_assert_int_eq(kill(p.pid, tu_stop_signal()), 0); /* SIGTERM; Windows: SIGINT */
    rc = read_to_end(fd, &total);
    ck_assert_msg(rc == 0, "%s: the idle client got %s, not EOF", names[k], strerror(-rc));
    /* The listener is closed: a new client is refused. */
    fd2 = socket(AF_INET, SOCK_STREAM, 0);
    {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_ne(connect(fd2, (struct sockaddr *)&sin, sizeof(sin)), 0);
        ck_assert_int_eq(errno, ECONNREFUSED);
    }
    close(fd2);
    close(fd);
    expect_exit0(k, &p);
    ck_assert_msg(strstr(p.out, "closing listeners"), "%s", p.out);
    ck_assert_msg(!strstr(p.out, "grace period over") && !strstr(p.out, "again"), "%s", p.out);
    if (k == CHATD)
        ck_assert_uint_gt(total, 0); /* "* server shutting down" */
    remove_docroot();
}
END_TEST

START_TEST(test_shutdown_stuck_client_grace)
{
    int k = _i, port, fd, rc;
    const char *extra[8];
    tu_proc p;

    if (skip_stuck("stuck_client_grace", k))
        return;
    make_docroot(stuck_bytes());
    stuck_args(k, extra, "1");
    port = start(k, &p, extra);
    fd = small_client(port);
    hello(k, fd);
    make_stuck(k, &p, port, fd);
    ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
    ck_assert_msg(tu_wait_for(&p, "grace period over; resetting 1 clients"), "%s: %s", names[k],
                  p.out);
    rc = read_to_end(fd, NULL);
    ck_assert_msg(rc == -ECONNRESET, "%s: the stuck client got %s, not a reset", names[k],
                  rc ? strerror(-rc) : "EOF");
    close(fd);
    expect_exit0(k, &p);
    remove_docroot();
}
END_TEST

START_TEST(test_shutdown_second_signal)
{
    int k = _i, port, fd, rc;
    const char *extra[8];
    tu_proc p;

    if (skip_stuck("second_signal", k))
        return;
    make_docroot(stuck_bytes());
    stuck_args(k, extra, "600"); /* the test times out long before */
    port = start(k, &p, extra);
    fd = small_client(port);
    hello(k, fd);
    make_stuck(k, &p, port, fd);
    ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
    ck_assert_msg(tu_wait_for(&p, "closing listeners"), "%s", p.out);
    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    ck_assert_msg(tu_wait_for(&p, "again: resetting 1 clients"), "%s: %s", names[k], p.out);
    rc = read_to_end(fd, NULL);
    ck_assert_msg(rc == -ECONNRESET, "%s: the stuck client got %s, not a reset", names[k],
                  rc ? strerror(-rc) : "EOF");
    close(fd);
    expect_exit0(k, &p);
    ck_assert_ptr_null(strstr(p.out, "grace period over"));
    remove_docroot();
}
END_TEST

/* --------------------------------------------------------- under load */

#define LOAD_CLIENTS 16

typedef struct lclient {
    int fd;
    char *out, *exp;   /* what it sends; what it must get back, in order */
    size_t outlen, explen, sent, got;
    int done;          /* 1 EOF, -errno reset */
} lclient;

/* A RESP command stream of SET/GET pairs and the replies it must get. */
static void kvd_script(lclient *c, int id, uint32_t seed)
{
    size_t cap = 1 << 21, j;
    uint32_t rs = seed;

    c->out = malloc(cap);
    c->exp = malloc(cap);
    c->outlen = c->explen = 0;
    for (j = 0; c->outlen < cap - 16384 && c->explen < cap - 16384; j++) {
        char key[32], val[4096];
        size_t vl = 1 + tu_rand(&rs) % 3000, i;
        int kl = snprintf(key, sizeof(key), "c%d:%zu", id, j);
        for (i = 0; i < vl; i++)
            val[i] = (char)('a' + (tu_rand(&rs) % 26));
        c->outlen += (size_t)sprintf(c->out + c->outlen,
                                     "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n", kl, key, vl);
        memcpy(c->out + c->outlen, val, vl);
        c->outlen += vl;
        c->outlen += (size_t)sprintf(c->out + c->outlen, "\r\n*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n",
                                     kl, key);
        c->explen += (size_t)sprintf(c->exp + c->explen, "+OK\r\n$%zu\r\n", vl);
        memcpy(c->exp + c->explen, val, vl);
        c->explen += vl;
        memcpy(c->exp + c->explen, "\r\n", 2);
        c->explen += 2;
    }
}

/*
 * sb-echod and sb-kvd: each client streams its script while reading what
 * comes back; once half of all that is owed has come back, SIGTERM; the
 * clients stop sending, half-close, and read to the end.  Every byte that
 * comes back must be the next one owed.
 */
static void load_stream(int k)
{
    lclient c[LOAD_CLIENTS];
    const char *extra[] = {"--grace", "600", NULL};
    size_t total_exp = 0, total_got = 0;
    int port, i, signalled = 0, open_count = LOAD_CLIENTS, iter;
    tu_proc p;

    port = start(k, &p, extra);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        if (k == ECHOD) {
            c[i].outlen = c[i].explen = (tu_slow() ? 1u : 4u) << 20;
            c[i].out = malloc(c[i].outlen);
            tu_fill((unsigned char *)c[i].out, c[i].outlen, (uint32_t)i + 1);
            c[i].exp = c[i].out;
        } else {
            kvd_script(&c[i], i, (uint32_t)i + 1);
        }
        total_exp += c[i].explen;
        c[i].fd = tu_connect_tcp(port);
    }
    for (iter = 0; iter < 1000000 && open_count > 0; iter++) {
        struct pollfd pf[LOAD_CLIENTS];
        for (i = 0; i < LOAD_CLIENTS; i++) {
            pf[i].fd = c[i].done ? -1 : c[i].fd;
            pf[i].events = POLLIN | (!signalled && c[i].sent < c[i].outlen ? POLLOUT : 0);
            pf[i].revents = 0;
        }
        ck_assert_int_ge(poll(pf, LOAD_CLIENTS, 10000), 1);
        for (i = 0; i < LOAD_CLIENTS; i++) {
            lclient *x = &c[i];
            if (pf[i].revents & POLLOUT) {
                size_t n = x->outlen - x->sent < 16384 ? x->outlen - x->sent : 16384;
                ssize_t w = tu_send(x->fd, x->out + x->sent, n);
                if (w > 0)
                    x->sent += (size_t)w;
            }
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                char buf[65536];
                ssize_t r = recv(x->fd, buf, sizeof(buf), 0);
                if (r > 0) {
                    ck_assert_msg(x->got + (size_t)r <= x->explen &&
                                      memcmp(buf, x->exp + x->got, (size_t)r) == 0,
                                  "%s: client %d: wrong bytes at %zu", names[k], i, x->got);
                    x->got += (size_t)r;
                    total_got += (size_t)r;
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    x->done = r == 0 ? 1 : -errno;
                    open_count--;
                }
            }
        }
        if (!signalled && total_got >= total_exp / 2) {
            signalled = 1;
            ck_assert_int_eq(kill(p.pid, tu_stop_signal()), 0);
            for (i = 0; i < LOAD_CLIENTS; i++)
                shutdown(c[i].fd, SHUT_WR);
        }
    }
    ck_assert_int_eq(open_count, 0);
    ck_assert(signalled);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        ck_assert_msg(c[i].done == 1, "%s: client %d ended with %s after %zu of %zu bytes",
                      names[k], i, c[i].done < 0 ? strerror(-c[i].done) : "?", c[i].got,
                      c[i].explen);
        close(c[i].fd);
        if (c[i].exp != c[i].out)
            free(c[i].exp);
        free(c[i].out);
    }
    expect_exit0(k, &p);
    ck_assert_msg(!strstr(p.out, "grace period over"), "%s", p.out);
}

/* sb-httpd: downloads in progress are finished after the signal, then EOF. */
static void load_httpd(size_t size)
{
    static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    const char *extra[] = {"--grace", "600", NULL};
    int fd[LOAD_CLIENTS], i, port;
    size_t body[LOAD_CLIENTS];
    tu_proc p;

    port = start(HTTPD, &p, extra);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        char head[1024] = "";
        size_t hl = 0;
        fd[i] = tu_blocking_client(port);
        send_all(fd[i], req, sizeof(req) - 1);
        /* The head and the first bytes of the body: the download has begun. */
        while (!strstr(head, "\r\n\r\n")) {
            ssize_t r = recv(fd[i], head + hl, 1, 0);
            ck_assert_int_eq(r, 1);
            head[++hl] = '\0';
            ck_assert_uint_lt(hl, sizeof(head) - 1);
        }
        ck_assert_msg(strstr(head, "200 OK"), "%s", head);
        body[i] = 0;
    }
    ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        int rc = read_to_end(fd[i], &body[i]);
        ck_assert_msg(rc == 0, "download %d: %s after %zu bytes", i, strerror(-rc), body[i]);
        ck_assert_msg(body[i] == size, "download %d: %zu of %zu bytes", i, body[i], size);
        close(fd[i]);
    }
    expect_exit0(HTTPD, &p);
}

/* sb-chatd: everyone talks; the signal's notice is the last line, then EOF. */
static void load_chatd(void)
{
    const char *extra[] = {"--grace", "600", "--max-output", "268435456", NULL};
    int fd[LOAD_CLIENTS], i, port, round;
    char line[64];
    tu_proc p;

    port = start(CHATD, &p, extra);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        fd[i] = tu_blocking_client(port);
        hello(CHATD, fd[i]);
    }
    for (round = 0; round < (tu_slow() ? 20 : 200); round++)
        for (i = 0; i < LOAD_CLIENTS; i++) {
            int n = snprintf(line, sizeof(line), "message %d from %d\n", round, i);
            send_all(fd[i], line, (size_t)n);
        }
    ck_assert_int_eq(kill(p.pid, tu_stop_signal()), 0);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        static const char notice[] = "* server shutting down\n";
        size_t cap = 1 << 22, got = 0;
        char *all = malloc(cap + 1), *at;
        for (;;) {
            ssize_t r = recv(fd[i], all + got, cap - got, 0);
            ck_assert_msg(r >= 0, "chat client %d: %s", i, strerror(errno));
            if (r == 0)
                break;
            got += (size_t)r;
            ck_assert_uint_lt(got, cap);
        }
        all[got] = '\0';
        /* Whole lines only, the notice last. */
        ck_assert_msg(got >= sizeof(notice) - 1 &&
                          strcmp(all + got - (sizeof(notice) - 1), notice) == 0,
                      "chat client %d: ends with '%.60s'", i,
                      got > 60 ? all + got - 60 : all);
        for (at = all; *at; at = strchr(at, '\n') + 1)
            ck_assert_msg(strchr(at, '\n') && (at[0] == '*' || strncmp(at, "guest", 5) == 0),
                          "chat client %d: bad line '%.40s'", i, at);
        free(all);
        close(fd[i]);
    }
    expect_exit0(CHATD, &p);
}

START_TEST(test_shutdown_under_load)
{
    int k = _i;
    size_t big = (tu_slow() ? 1u : 8u) << 20;

    if (skip_posix_only("under_load", k))
        return;
    make_docroot(big);
    if (k == ECHOD || k == KVD)
        load_stream(k);
    else if (k == HTTPD)
        load_httpd(big);
    else
        load_chatd();
    remove_docroot();
}
END_TEST

Suite *sb_shutdown_suite(void)
{
    Suite *s = suite_create("shutdown");
    TCase *tc = tcase_create("daemons");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_shutdown_idle_client, 0, NDAEMONS);
    tcase_add_loop_test(tc, test_shutdown_stuck_client_grace, 0, NDAEMONS);
    tcase_add_loop_test(tc, test_shutdown_second_signal, 0, NDAEMONS);
    tcase_add_loop_test(tc, test_shutdown_under_load, 0, NDAEMONS);
    suite_add_tcase(s, tc);
    return s;
}
