/*
 * The demos with TLS, end to end, against real clients and servers:
 * openssl s_client against sb-echod --tls-cert, sb-echo --tls against
 * openssl s_server, curl https against sb-httpd (ALPN http/1.1),
 * redis-cli --tls against sb-kvd, curl through sb-proxyd terminating TLS
 * in front of a plain sb-httpd, and garbage instead of a ClientHello (that
 * connection closes, the daemon keeps serving, no descriptor left).
 *
 * Part of the check_tls runner (tests/check_tls.c calls
 * sb_tls_demos_suite), built and run by `make check-tls`; certificates from
 * tests/tls/gen-certs.sh in $SB_TLS_CERTS.  Every wait is bounded: output
 * is read with poll() until the expected text or a 10 s deadline, never a
 * sleep.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif
#define ECHOD SB_TEST_BUILD_DIR "/sb-echod"
#define ECHO SB_TEST_BUILD_DIR "/sb-echo"
#define HTTPD SB_TEST_BUILD_DIR "/sb-httpd"
#define KVD SB_TEST_BUILD_DIR "/sb-kvd"
#define PROXYD SB_TEST_BUILD_DIR "/sb-proxyd"
#define WAIT_MS 10000

static const char *certf(const char *name)
{
    static char bufs[8][512];
    static int next;
    const char *dir = getenv("SB_TLS_CERTS");
    char *b = bufs[next++ % 8];

    ck_assert_msg(dir != NULL, "SB_TLS_CERTS is not set (run through make check-tls)");
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

/* Find a program: the first of the paths that is executable, or NULL
 * (the test then skips, saying so). */
static const char *find_prog(const char *a, const char *b)
{
    if (a && access(a, X_OK) == 0)
        return a;
    if (b && access(b, X_OK) == 0)
        return b;
    return NULL;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------- child processes */

/* A program with its stdin a pipe we write, stdout and stderr one pipe we
 * read. */
typedef struct child {
    pid_t pid;
    int in, out, eof;
    char buf[65536];
    size_t len;
} child;

static void child_start(child *c, const char *const argv[])
{
    int in[2], out[2];

    memset(c, 0, sizeof(*c));
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    c->pid = fork();
    ck_assert_int_ge(c->pid, 0);
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->in = in[1];
    c->out = out[0];
    fcntl(c->in, F_SETFD, FD_CLOEXEC);
    fcntl(c->out, F_SETFD, FD_CLOEXEC);
}

/* Read its output until needle shows up, it closes, or WAIT_MS pass.
 * 1 when needle is in the output. */
static int child_wait_for(child *c, const char *needle)
{
    long long end = now_ms() + WAIT_MS;

    while (!strstr(c->buf, needle) && now_ms() < end) {
        struct pollfd pf = {c->out, POLLIN, 0};
        ssize_t n;
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if (c->len + 1 >= sizeof(c->buf))
            break;
        n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            c->eof = 1;
            break;
        }
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return strstr(c->buf, needle) != NULL;
}

/* Close its stdin, read everything until it exits (WAIT_MS at most, then
 * SIGKILL); the wait status. */
static int child_finish(child *c)
{
    int status = 0;

    if (c->in >= 0)
        close(c->in);
    c->in = -1;
    child_wait_for(c, "\x01never");
    if (!c->eof)
        kill(c->pid, SIGKILL); /* still running after WAIT_MS */
    ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
    close(c->out);
    return status;
}

/* Run argv to completion (stdin empty); its output in c->buf. */
static int run_prog(child *c, const char *const argv[])
{
    child_start(c, argv);
    return child_finish(c);
}

static void child_kill(child *c)
{
    kill(c->pid, SIGTERM);
    child_finish(c);
}

/* A daemon with TLS on 127.0.0.1:0 (extra: NULL-terminated); its port. */
static int start_daemon(tu_proc *p, const char *path, const char *name, const char *const *extra)
{
    const char *argv[24] = {name, "--listen", "127.0.0.1:0", "--tls-cert", NULL, "--tls-key",
                            NULL};
    int n = 7, port;

    argv[4] = certf("server.pem");
    argv[6] = certf("server.key");
    while (extra && *extra && n < 23)
        argv[n++] = *extra++;
    argv[n] = NULL;
    tu_spawn(p, path, argv);
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "%s: no start-up line: %s", name, p->out);
    return port;
}

static void stop_daemon(tu_proc *p)
{
    int status;

    ck_assert_int_eq(kill(p->pid, SIGTERM), 0);
    status = tu_finish(p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, p->out);
}

/* A document root with one file, under the build folder. */
static const char *make_root(void)
{
    static char dir[256];
    char path[300];
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/tls-demos-www.%d", SB_TEST_BUILD_DIR, (int)getpid());
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/hello.txt", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("hello over TLS\n", f);
    fclose(f);
    return dir;
}

static void remove_root(const char *dir)
{
    tu_rm_tree(dir);
}

/* ------------------------------------------------------------- tests */

/* openssl s_client (verifying against the test CA) against sb-echod. */
START_TEST(test_echod_s_client)
{
    const char *openssl = find_prog("/usr/bin/openssl", "/usr/local/bin/openssl");
    char addr[64];
    tu_proc d;
    child c;
    int port;

    if (!openssl) {
        printf("tls_demos: openssl not installed; skipping echod_s_client\n");
        return;
    }
    port = start_daemon(&d, ECHOD, "sb-echod", NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    {
        const char *argv[] = {openssl, "s_client", "-connect", addr, "-CAfile", certf("ca.pem"),
                              "-verify_return_error", "-verify_hostname", "localhost",
                              "-ign_eof", NULL};
        child_start(&c, argv);
    }
    ck_assert_msg(child_wait_for(&c, "Verify return code: 0 (ok)"), "s_client: %s", c.buf);
    ck_assert_int_eq(write(c.in, "ping over tls 12345\n", 20), 20);
    /* s_client prints only what comes back: the echo. */
    ck_assert_msg(child_wait_for(&c, "ping over tls 12345\n"), "no echo: %s", c.buf);
    child_kill(&c);
    stop_daemon(&d);
}
END_TEST

/* sb-echo --tls against openssl s_server -rev (a palindrome comes back as
 * sent), verified against the test CA; then refused against a CA that did
 * not sign it, and with the wrong name. */
START_TEST(test_echo_s_server)
{
    const char *openssl = find_prog("/usr/bin/openssl", "/usr/local/bin/openssl");
    char port_s[16], addr[64];
    child s, e;
    int port, status;

    if (!openssl) {
        printf("tls_demos: openssl not installed; skipping echo_s_server\n");
        return;
    }
    port = tu_closed_port(SOCK_STREAM);
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    {
        const char *argv[] = {openssl, "s_server", "-accept", port_s, "-cert",
                              certf("server.pem"), "-key", certf("server.key"), "-rev", NULL};
        child_start(&s, argv);
    }
    ck_assert_msg(child_wait_for(&s, "ACCEPT"), "s_server did not start: %s", s.buf);
    {
        const char *argv[] = {ECHO, "--tls", "--ca", certf("ca.pem"), addr, "racecar", NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sb-echo: status %d: %s", status,
                  e.buf);
    ck_assert_msg(strstr(e.buf, "racecar\n") != NULL, "sb-echo printed: %s", e.buf);
    ck_assert_msg(child_wait_for(&s, "TLSv1.3"), "s_server: %s", s.buf);

    /* The wrong CA: verification fails, said in words, status 1. */
    {
        const char *argv[] = {ECHO, "--tls", "--ca", certf("selfsigned.pem"), addr, "racecar",
                              NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, e.buf);
    ck_assert_msg(strstr(e.buf, "verif") != NULL, "no verification message: %s", e.buf);
    /* The wrong name. */
    {
        const char *argv[] = {ECHO, "--tls", "--ca", certf("ca.pem"), "--servername",
                              "other.test", addr, "racecar", NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, e.buf);
    ck_assert_msg(strstr(e.buf, "hostname mismatch") != NULL, "%s", e.buf);
    child_kill(&s);
}
END_TEST

/* sb-echo --tls against sb-echod --tls-cert, and --insecure against the
 * self-signed certificate. */
START_TEST(test_echo_echod)
{
    const char *extra[] = {NULL};
    char addr[64];
    tu_proc d;
    child e;
    int port = start_daemon(&d, ECHOD, "sb-echod", extra), status;

    snprintf(addr, sizeof(addr), "localhost:%d", port);
    {
        const char *argv[] = {ECHO, "--tls", "--ca", certf("ca.pem"), addr, "one", "two", NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, e.buf);
    ck_assert_str_eq(e.buf, "one\ntwo\n");
    {
        /* No --ca: the system store does not know the test CA. */
        const char *argv[] = {ECHO, "--tls", addr, "one", NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, e.buf);
    {
        const char *argv[] = {ECHO, "--tls", "--insecure", addr, "three", NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, e.buf);
    ck_assert_str_eq(e.buf, "three\n");
    stop_daemon(&d);
}
END_TEST

/* curl https against sb-httpd: the file, ALPN http/1.1 in curl -v. */
START_TEST(test_httpd_curl)
{
    const char *curl = find_prog("/usr/bin/curl", "/usr/local/bin/curl");
    const char *root = make_root();
    const char *extra[] = {"--root", root, NULL};
    char url[128];
    tu_proc d;
    child c;
    int port, status;

    if (!curl) {
        printf("tls_demos: curl not installed; skipping httpd_curl\n");
        remove_root(root);
        return;
    }
    port = start_daemon(&d, HTTPD, "sb-httpd", extra);
    snprintf(url, sizeof(url), "https://localhost:%d/hello.txt", port);
    {
        const char *argv[] = {curl, "-sS", "-v", "--cacert", certf("ca.pem"), url, url, NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "curl: status %d: %s", status,
                  c.buf);
    ck_assert_msg(strstr(c.buf, "hello over TLS\n") != NULL, "%s", c.buf);
    /* curl 7.88: "ALPN: server accepted http/1.1"; older: "ALPN, server
     * accepted to use http/1.1". */
    ck_assert_msg(strstr(c.buf, "server accepted http/1.1") ||
                      strstr(c.buf, "server accepted to use http/1.1"),
                  "no ALPN http/1.1 in curl -v: %s", c.buf);
    /* Two requests, one connection (keep-alive over TLS). */
    ck_assert_msg(strstr(c.buf, "Re-using existing connection") ||
                      strstr(c.buf, "Reusing existing connection"),
                  "the second request did not reuse the connection: %s", c.buf);
    /* Without -v: only the body on stdout. */
    {
        const char *argv[] = {curl, "-sS", "--cacert", certf("ca.pem"), url, NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "curl: %s", c.buf);
    ck_assert_str_eq(c.buf, "hello over TLS\n");
    stop_daemon(&d);

    /* Two certificate pairs: curl verifies each name against the one SNI
     * chose (localhost: the first, the default; other.test and a
     * *.wild.test name: the second). */
    {
        const char *two[] = {"--root", root, "--tls-cert", certf("other.pem"), "--tls-key",
                             certf("other.key"), NULL};
        static const char *const names[] = {"localhost", "other.test", "a.wild.test"};
        int i;

        port = start_daemon(&d, HTTPD, "sb-httpd", two);
        for (i = 0; i < 3; i++) {
            char resolve[128];
            snprintf(url, sizeof(url), "https://%s:%d/hello.txt", names[i], port);
            snprintf(resolve, sizeof(resolve), "%s:%d:127.0.0.1", names[i], port);
            {
                const char *argv[] = {curl, "-sS", "--resolve", resolve, "--cacert",
                                      certf("ca.pem"), url, NULL};
                status = run_prog(&c, argv);
            }
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "curl %s: %s", names[i],
                          c.buf);
            ck_assert_str_eq(c.buf, "hello over TLS\n");
        }
        stop_daemon(&d);
    }
    remove_root(root);
}
END_TEST

/* redis-cli --tls against sb-kvd. */
START_TEST(test_kvd_redis_cli)
{
    const char *cli = find_prog("/usr/bin/redis-cli", "/usr/local/bin/redis-cli");
    char port_s[16];
    tu_proc d;
    child c;
    int port, status;

    if (!cli) {
        printf("tls_demos: redis-cli not installed; skipping kvd_redis_cli\n");
        return;
    }
    port = start_daemon(&d, KVD, "sb-kvd", NULL);
    snprintf(port_s, sizeof(port_s), "%d", port);
    {
        const char *argv[] = {cli, "--tls", "--cacert", certf("ca.pem"), "-h", "127.0.0.1", "-p",
                              port_s, "SET", "tls-key", "tls value", NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "redis-cli: %d: %s", status,
                  c.buf);
    if (strstr(c.buf, "not supported") || strstr(c.buf, "Unrecognized option")) {
        printf("tls_demos: this redis-cli has no TLS; skipping kvd_redis_cli\n");
        stop_daemon(&d);
        return;
    }
    ck_assert_msg(strstr(c.buf, "OK") != NULL, "SET: %s", c.buf);
    {
        const char *argv[] = {cli, "--tls", "--cacert", certf("ca.pem"), "-h", "127.0.0.1", "-p",
                              port_s, "GET", "tls-key", NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "redis-cli: %s", c.buf);
    ck_assert_str_eq(c.buf, "tls value\n");
    /* Plain RESP to a TLS port is garbage to it: that connection ends. */
    {
        const char *argv[] = {cli, "-h", "127.0.0.1", "-p", port_s, "PING", NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(!strstr(c.buf, "PONG"), "plain PING answered on the TLS port: %s", c.buf);
    stop_daemon(&d);
}
END_TEST

/* curl https to sb-proxyd (terminating TLS) in front of a plain sb-httpd. */
START_TEST(test_proxyd_curl)
{
    const char *curl = find_prog("/usr/bin/curl", "/usr/local/bin/curl");
    const char *root = make_root();
    char up[64], url[128];
    tu_proc h, p;
    child c;
    int hport, pport, status;

    if (!curl) {
        printf("tls_demos: curl not installed; skipping proxyd_curl\n");
        remove_root(root);
        return;
    }
    {
        const char *argv[] = {"sb-httpd", "--listen", "127.0.0.1:0", "--root", root, NULL};
        tu_spawn(&h, HTTPD, argv);
        hport = tu_proc_port(&h);
        ck_assert_msg(hport > 0, "sb-httpd: %s", h.out);
    }
    snprintf(up, sizeof(up), "127.0.0.1:%d", hport);
    {
        const char *extra[] = {"--upstream", up, NULL};
        pport = start_daemon(&p, PROXYD, "sb-proxyd", extra);
    }
    snprintf(url, sizeof(url), "https://localhost:%d/hello.txt", pport);
    {
        const char *argv[] = {curl, "-sS", "--cacert", certf("ca.pem"), url, url, NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "curl: %d: %s", status, c.buf);
    ck_assert_str_eq(c.buf, "hello over TLS\nhello over TLS\n");
    stop_daemon(&p);
    stop_daemon(&h);
    remove_root(root);
}
END_TEST

static int count_fds(pid_t pid)
{
    char path[64], link[64];
    int n = 0, fd;

    for (fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
        if (readlink(path, link, sizeof(link)) >= 0)
            n++;
    }
    return n;
}

/* Send one of four kinds of garbage instead of a ClientHello; the
 * connection must end (EOF or a reset, not the 10 s receive timeout). */
static void garbage_once(int port, int i)
{
    static const char *const garbage[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x16\x03\x01\x00\x05garbage-after-a-record-header",
        "\x16\x03\x01\xff\xff", /* a record header that promises too much; then EOF */
        "PING\r\n",
    };
    {
        const char *g = garbage[i % 4];
        size_t len = i % 4 == 1 ? 34 : i % 4 == 2 ? 5 : strlen(g);
        int fd = tu_blocking_client(port);
        char buf[512];
        ssize_t n;
        ck_assert_int_eq(send(fd, g, len, TU_NOSIGNAL), (ssize_t)len);
        if (i % 4 == 2)
            shutdown(fd, SHUT_WR);
        /* An alert may come first; then the end of the stream. */
        do
            n = recv(fd, buf, sizeof(buf), 0);
        while (n > 0);
        ck_assert_msg(n == 0 || errno == ECONNRESET, "garbage %d: recv: %s", i % 4,
                      n < 0 ? strerror(errno) : "?");
        close(fd);
    }
}

/* Garbage instead of a ClientHello: each such connection is closed, the
 * daemon keeps its descriptors at the count it had, its memory does not
 * grow with more of them, and it keeps serving TLS. */
START_TEST(test_garbage_client_hello)
{
    char addr[64];
    tu_proc d;
    child e;
    int port, fds0, i, status;
    long rss0, rss1;

    if (!tu_have_proc("garbage_client_hello"))
        return;
    {
        /* A grace period of 1 s: the drain below must not need it. */
        static const char *const grace[] = {"--grace", "1", NULL};
        port = start_daemon(&d, ECHOD, "sb-echod", grace);
    }
    fds0 = count_fds(d.pid);
    for (i = 0; i < 40; i++)
        garbage_once(port, i);
    ck_assert_int_eq(count_fds(d.pid), fds0);
    /* Warmed up: 400 more may not make it grow (allocator noise aside). */
    rss0 = tu_proc_rss_kib(d.pid);
    for (i = 0; i < (tu_slow() ? 40 : 400); i++)
        garbage_once(port, i);
    rss1 = tu_proc_rss_kib(d.pid);
    ck_assert_int_eq(count_fds(d.pid), fds0);
    if (!tu_slow() && !TU_SANITIZED_ADDRESS)
        ck_assert_msg(rss1 - rss0 < 256, "RSS grew from %ld to %ld KiB over 400 garbage "
                      "connections", rss0, rss1);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    {
        const char *argv[] = {ECHO, "--tls", "--ca", certf("ca.pem"), addr, "still serving",
                              NULL};
        status = run_prog(&e, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, e.buf);
    ck_assert_str_eq(e.buf, "still serving\n");
    /* Failed handshakes were never clients: with none left, SIGTERM ends
     * it at once (they once counted out without counting in, and the
     * drain waited out the grace period for "18446744073709551615"). */
    stop_daemon(&d);
    ck_assert_msg(strstr(d.out, "grace period over") == NULL, "%s", d.out);
}
END_TEST

/* Bad TLS options: a missing key file (exit 1, said), --tls-cert alone
 * (exit 2), sb-echo --ca without --tls (exit 2). */
START_TEST(test_bad_options)
{
    child c;
    int status;

    {
        const char *argv[] = {ECHOD, "--listen", "127.0.0.1:0", "--tls-cert",
                              certf("server.pem"), "--tls-key", "/nonexistent/key.pem", NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, c.buf);
    ck_assert_msg(strstr(c.buf, "sb-echod: TLS: ") != NULL, "%s", c.buf);
    {
        const char *argv[] = {HTTPD, "--tls-cert", certf("server.pem"), NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d: %s", status, c.buf);
    ck_assert_msg(strstr(c.buf, "go together") != NULL, "%s", c.buf);
    {
        /* Two certificates, one key. */
        const char *argv[] = {KVD, "--tls-cert", certf("server.pem"), "--tls-key",
                              certf("server.key"), "--tls-cert", certf("other.pem"), NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d: %s", status, c.buf);
    ck_assert_msg(strstr(c.buf, "one --tls-key for each --tls-cert") != NULL, "%s", c.buf);
    {
        const char *argv[] = {ECHO, "--ca", certf("ca.pem"), "127.0.0.1:1", "x", NULL};
        status = run_prog(&c, argv);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d: %s", status, c.buf);
}
END_TEST

Suite *sb_tls_demos_suite(void);

Suite *sb_tls_demos_suite(void)
{
    Suite *s = suite_create("tls_demos");
    TCase *tc = tcase_create("tls_demos");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_echod_s_client);
    tcase_add_test(tc, test_echo_s_server);
    tcase_add_test(tc, test_echo_echod);
    tcase_add_test(tc, test_httpd_curl);
    tcase_add_test(tc, test_kvd_redis_cli);
    tcase_add_test(tc, test_proxyd_curl);
    tcase_add_test(tc, test_garbage_client_hello);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    return s;
}
