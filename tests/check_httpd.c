/* sb-httpd end to end: curl and raw sockets against a document root made
 * here (files, an index.html in a subdirectory, a file far larger than one
 * write, symlinks leading out, a name that needs percent-encoding), then
 * keep-alive, pipelining, every error status, traversal attempts, a slow
 * reader of the large file (server memory stays bounded), a request fed
 * one byte per send, a short wrk run, signals and bad arguments. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif
#define HTTPD SB_TEST_BUILD_DIR "/sb-httpd"
#define CURL "/usr/bin/curl"
#define HELLO "hello, world\n"
#define SECRET "top secret, never served\n"

/* ---------------------------------------------------------- the fixture */

typedef struct site {
    char base[64];  /* mkdtemp: holds secret.txt, outside/ and root/ */
    char root[96];
    size_t big;     /* size of root/big.bin, 0 if not made */
    tu_proc proc;
    int port;
} site;

/* Byte i of big.bin: changes every byte and every 64 KiB piece. */
static unsigned char pattern(uint64_t i)
{
    return (unsigned char)(i ^ (i >> 8) ^ (i >> 16) ^ 0x5a);
}

static void put_file(const site *s, const char *rel, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", s->base, rel);
    f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void make_big(site *s, size_t size)
{
    char path[256];
    unsigned char *buf = malloc(1 << 16);
    size_t off, i, n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/big.bin", s->root);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (off = 0; off < size; off += n) {
        n = size - off < 1u << 16 ? size - off : 1u << 16;
        for (i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    }
    ck_assert_int_eq(fclose(f), 0);
    free(buf);
    s->big = size;
}

/* The test document root; big > 0 also makes root/big.bin of that size. */
static void make_site(site *s, size_t big)
{
    char path[256];

    memset(s, 0, sizeof(*s));
    strcpy(s->base, "/tmp/sb-httpd-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->base));
    snprintf(s->root, sizeof(s->root), "%s/root", s->base);
    ck_assert_int_eq(mkdir(s->root, 0755), 0);
    put_file(s, "secret.txt", SECRET);
    snprintf(path, sizeof(path), "%s/outside", s->base);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    put_file(s, "outside/secret.txt", SECRET);
    put_file(s, "root/hello.txt", HELLO);
    put_file(s, "root/index.html", "<h1>root</h1>\n");
    put_file(s, "root/style.css", "body{}\n");
    put_file(s, "root/data.json", "{}\n");
    put_file(s, "root/noext", "raw\n");
    put_file(s, "root/hello world \xc3\xbc.txt", "encoded\n");
    snprintf(path, sizeof(path), "%s/sub", s->root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    put_file(s, "root/sub/index.html", "<h1>sub</h1>\n");
    snprintf(path, sizeof(path), "%s/empty", s->root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/fifo", s->root);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    /* Symlinks: relative and absolute ones leading out, one staying in. */
    snprintf(path, sizeof(path), "%s/link-out", s->root);
    ck_assert_int_eq(symlink("../secret.txt", path), 0);
    {
        char target[128];
        snprintf(target, sizeof(target), "%s/secret.txt", s->base);
        snprintf(path, sizeof(path), "%s/link-abs", s->root);
        ck_assert_int_eq(symlink(target, path), 0);
    }
    snprintf(path, sizeof(path), "%s/link-dir", s->root);
    ck_assert_int_eq(symlink("../outside", path), 0);
    snprintf(path, sizeof(path), "%s/sub/link-in", s->root);
    ck_assert_int_eq(symlink("../hello.txt", path), 0);
    if (big)
        make_big(s, big);
}

/* Start sb-httpd on 127.0.0.1:0 over the site, extra arguments NULL-ended;
 * nofile > 0: under that open-file limit. */
static void start_nofile(site *s, const char *const *extra, int nofile)
{
    const char *argv[24] = {"sb-httpd", "--listen", "127.0.0.1:0", "--root", s->root};
    int n = 5;

    while (extra && *extra && n < 23)
        argv[n++] = *extra++;
    argv[n] = NULL;
    tu_spawn_limited(&s->proc, HTTPD, argv, nofile);
    s->port = tu_proc_port(&s->proc);
    ck_assert_msg(s->port > 0, "sb-httpd did not start: %s", s->proc.out);
}

static void start(site *s, const char *const *extra)
{
    start_nofile(s, extra, 0);
}

/* SIGTERM: it must exit 0.  Then remove the site. */
static void stop(site *s)
{
    int status;

    ck_assert_int_eq(kill(s->proc.pid, SIGTERM), 0);
    status = tu_finish(&s->proc);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status,
                  s->proc.out);
    ck_assert_int_eq(tu_rm_tree(s->base), 0);
}

/* -------------------------------------------------------- a raw client */

typedef struct client {
    int fd;
    char buf[1 << 16];
    size_t len; /* received, not yet consumed */
} client;

typedef struct response {
    int status;
    char head[8192];     /* status line and fields, NUL-terminated */
    uint64_t length;     /* Content-Length */
    char body[4096];     /* the body's first bytes, NUL-terminated */
    uint64_t got;        /* body bytes received */
    int pattern_ok;      /* the body is big.bin's pattern */
} response;

static void client_open(client *cl, int port)
{
    cl->fd = tu_blocking_client(port);
    cl->len = 0;
}

static void send_all(client *cl, const char *p, size_t n)
{
    ck_assert_int_eq(tu_send(cl->fd, p, n), (ssize_t)n);
}

/* Receive more; returns the byte count, 0 at EOF.  Fails on error. */
static size_t fill(client *cl)
{
    ssize_t r;

    ck_assert_msg(cl->len < sizeof(cl->buf), "response head too large");
    do
        r = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, 0);
    while (r < 0 && errno == EINTR);
    ck_assert_msg(r >= 0, "recv: %s", strerror(errno));
    cl->len += (size_t)r;
    return (size_t)r;
}

/* A field's value in a response head ("" if absent), in out. */
static const char *field(const response *rs, const char *name, char *out, size_t cap)
{
    char key[64];
    const char *at, *end;
    size_t n;

    snprintf(key, sizeof(key), "\r\n%s:", name);
    out[0] = '\0';
    at = strcasestr(rs->head, key);
    if (!at)
        return out;
    at += strlen(key);
    while (*at == ' ')
        at++;
    end = strstr(at, "\r\n");
    n = end ? (size_t)(end - at) : strlen(at);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, at, n);
    out[n] = '\0';
    return out;
}

/*
 * Read one response (the head, then Content-Length bytes of body unless
 * head_only).  Returns its status, or -1 at EOF before any byte of it.
 */
static int read_response(client *cl, response *rs, int head_only)
{
    char *end, val[32];
    size_t hlen, take;

    memset(rs, 0, sizeof(*rs));
    rs->pattern_ok = 1;
    while (!(end = tu_memmem(cl->buf, cl->len, "\r\n\r\n", 4)))
        if (fill(cl) == 0) {
            ck_assert_msg(cl->len == 0, "EOF inside a response head: %.*s", (int)cl->len,
                          cl->buf);
            return -1;
        }
    hlen = (size_t)(end - cl->buf) + 4;
    ck_assert_uint_lt(hlen, sizeof(rs->head));
    memcpy(rs->head, cl->buf, hlen);
    ck_assert_msg(sscanf(rs->head, "HTTP/1.1 %d ", &rs->status) == 1, "status line: %s",
                  rs->head);
    rs->length = strtoull(field(rs, "Content-Length", val, sizeof(val)), NULL, 10);
    memmove(cl->buf, cl->buf + hlen, cl->len - hlen);
    cl->len -= hlen;
    if (head_only)
        return rs->status;
    while (rs->got < rs->length) {
        size_t i;
        if (cl->len == 0)
            ck_assert_msg(fill(cl) > 0, "EOF after %llu of %llu body bytes",
                          (unsigned long long)rs->got, (unsigned long long)rs->length);
        take = cl->len < rs->length - rs->got ? cl->len : (size_t)(rs->length - rs->got);
        for (i = 0; i < take && rs->pattern_ok; i++)
            rs->pattern_ok = (unsigned char)cl->buf[i] == pattern(rs->got + i);
        if (rs->got < sizeof(rs->body) - 1) {
            size_t n = sizeof(rs->body) - 1 - rs->got;
            memcpy(rs->body + rs->got, cl->buf, take < n ? take : n);
        }
        rs->got += take;
        memmove(cl->buf, cl->buf + take, cl->len - take);
        cl->len -= take;
    }
    return rs->status;
}

/* The server closed the connection: nothing more, then EOF. */
static void expect_eof(client *cl)
{
    ck_assert_msg(cl->len == 0, "unexpected bytes: %.*s", (int)cl->len, cl->buf);
    ck_assert_msg(fill(cl) == 0, "no EOF; got: %.*s", (int)cl->len, cl->buf);
}

/* One request on a fresh connection; returns the status (the body in rs). */
static int one_shot(int port, const char *req, size_t len, response *rs)
{
    static client cl;
    int status;

    client_open(&cl, port);
    send_all(&cl, req, len);
    status = read_response(&cl, rs, strncmp(req, "HEAD ", 5) == 0);
    close(cl.fd);
    return status;
}

/* Send a string literal. */
#define SEND(cl, lit) send_all(cl, lit, sizeof(lit) - 1)

#define ONE_SHOT(port, req, rs) one_shot(port, req, sizeof(req) - 1, rs)

/* ----------------------------------------------------- running programs */

/* fork/exec argv with stdout captured into out (NUL-terminated) and stderr
 * to /dev/null; returns the wait status. */
static int run(const char *const argv[], char *out, size_t cap)
{
    int pfd[2], status = 0;
    size_t len = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(pfd[1], 1);
        dup2(null, 2);
        close(pfd[0]);
        close(pfd[1]);
        close(null);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t n = read(pfd[0], out + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(pfd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void url(char *buf, size_t cap, const site *s, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", s->port, path);
}

/* curl -s -o /dev/null -w FORMAT [extra] URL: the -w output in out. */
static void curl_w(const site *s, const char *path, const char *fmt, const char *extra1,
                   const char *extra2, char *out, size_t cap)
{
    char u[16384];
    const char *argv[] = {CURL, "-s", "-o", "/dev/null", "-w", fmt, u, extra1, extra2, NULL};
    int status;

    url(u, sizeof(u), s, path);
    status = run(argv, out, cap);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "curl %s: status %d", path,
                  status);
}

static int curl_code(const site *s, const char *path, const char *extra1, const char *extra2)
{
    char out[64];

    curl_w(s, path, "%{http_code}", extra1, extra2, out, sizeof(out));
    return atoi(out);
}

/* ----------------------------------------------------------------- tests */

START_TEST(test_httpd_get_head)
{
    char out[4096], body[256], u[256], hfile[160];
    site s;
    FILE *f;

    make_site(&s, 100000);
    start(&s, NULL);
    snprintf(hfile, sizeof(hfile), "%s/body.out", s.base);
    {
        /* GET: the body, status line, Content-Length, type, dates. */
        const char *argv[] = {CURL, "-s", "-D", "-", "-o", hfile, u, NULL};
        url(u, sizeof(u), &s, "/hello.txt");
        ck_assert_int_eq(run(argv, out, sizeof(out)), 0);
        ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
        ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 13\r\n"));
        ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
        ck_assert_ptr_nonnull(strstr(out, "\r\nDate: "));
        ck_assert_ptr_nonnull(strstr(out, " GMT\r\n"));
        ck_assert_ptr_nonnull(strstr(out, "\r\nLast-Modified: "));
        f = fopen(hfile, "r");
        ck_assert_ptr_nonnull(f);
        body[fread(body, 1, sizeof(body) - 1, f)] = '\0';
        fclose(f);
        ck_assert_str_eq(body, HELLO);
    }
    {
        /* HEAD: the same head, no body. */
        const char *argv[] = {CURL, "-s", "-I", u, NULL};
        url(u, sizeof(u), &s, "/big.bin");
        ck_assert_int_eq(run(argv, out, sizeof(out)), 0);
        ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
        ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 100000\r\n"));
        ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: application/octet-stream\r\n"));
        ck_assert_ptr_nonnull(strstr(out, "\r\nLast-Modified: "));
    }
    /* Content types and sizes; index.html for directories, a redirect to
     * the slash without it; a percent-encoded name; no listings, no FIFOs. */
    curl_w(&s, "/style.css", "%{http_code} %{content_type} %{size_download}", NULL, NULL, out,
           sizeof(out));
    ck_assert_str_eq(out, "200 text/css; charset=utf-8 7");
    curl_w(&s, "/data.json", "%{http_code} %{content_type}", NULL, NULL, out, sizeof(out));
    ck_assert_str_eq(out, "200 application/json");
    curl_w(&s, "/noext", "%{http_code} %{content_type}", NULL, NULL, out, sizeof(out));
    ck_assert_str_eq(out, "200 application/octet-stream");
    curl_w(&s, "/", "%{http_code} %{content_type} %{size_download}", NULL, NULL, out,
           sizeof(out));
    ck_assert_str_eq(out, "200 text/html; charset=utf-8 14");
    curl_w(&s, "/sub/", "%{http_code} %{size_download}", NULL, NULL, out, sizeof(out));
    ck_assert_str_eq(out, "200 13");
    curl_w(&s, "/sub", "%{http_code} %{redirect_url}", NULL, NULL, out, sizeof(out));
    ck_assert_msg(strncmp(out, "301 http://127.0.0.1:", 21) == 0 && strstr(out, "/sub/"), "%s",
                  out);
    curl_w(&s, "/sub?a=1", "%{http_code} %{size_download} %{num_redirects}", "-L", NULL, out,
           sizeof(out));
    ck_assert_str_eq(out, "200 13 1");
    curl_w(&s, "/hello%20world%20%C3%BC.txt", "%{http_code} %{size_download}", NULL, NULL, out,
           sizeof(out));
    ck_assert_str_eq(out, "200 8");
    curl_w(&s, "/big.bin", "%{http_code} %{size_download}", NULL, NULL, out, sizeof(out));
    ck_assert_str_eq(out, "200 100000");
    ck_assert_int_eq(curl_code(&s, "/missing.txt", NULL, NULL), 404);
    ck_assert_int_eq(curl_code(&s, "/empty/", NULL, NULL), 404);
    ck_assert_int_eq(curl_code(&s, "/fifo", NULL, NULL), 404);
    ck_assert_int_eq(curl_code(&s, "/hello.txt/", NULL, NULL), 404);
    stop(&s);
}
END_TEST

/* Two URLs on one curl command line share one connection (num_connects 1
 * then 0), and the access log shows both requests from the same peer. */
START_TEST(test_httpd_keep_alive)
{
    const char *extra[] = {"--log-level", "info", NULL};
    char out[256], u1[128], u2[128];
    const char *argv[] = {CURL, "-s", "-o", "/dev/null", "-o", "/dev/null", "-w",
                          "%{http_code} %{num_connects} %{local_port}\n", u1, u2, NULL};
    char port1[16], port2[16], needle[64];
    int code1, code2, n1, n2;
    response rs;
    client cl;
    site s;

    make_site(&s, 0);
    start(&s, extra);
    url(u1, sizeof(u1), &s, "/hello.txt");
    url(u2, sizeof(u2), &s, "/sub/");
    ck_assert_int_eq(run(argv, out, sizeof(out)), 0);
    ck_assert_int_eq(sscanf(out, "%d %d %15s\n%d %d %15s", &code1, &n1, port1, &code2, &n2, port2),
                     6);
    ck_assert_int_eq(code1, 200);
    ck_assert_int_eq(code2, 200);
    ck_assert_int_eq(n1, 1);
    ck_assert_int_eq(n2, 0);
    ck_assert_str_eq(port1, port2);
    snprintf(needle, sizeof(needle), "127.0.0.1:%s \"GET /sub/ HTTP/1.1\" 200 13", port1);
    ck_assert_msg(tu_wait_for(&s.proc, needle), "access log: %s", s.proc.out);
    snprintf(needle, sizeof(needle), "127.0.0.1:%s \"GET /hello.txt HTTP/1.1\" 200 13", port1);
    ck_assert_msg(strstr(s.proc.out, needle), "access log: %s", s.proc.out);

    /* HTTP/1.0: closed after the response unless keep-alive is asked for. */
    client_open(&cl, s.port);
    SEND(&cl, "GET /hello.txt HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, HELLO);
    ck_assert_str_eq(field(&rs, "Connection", out, sizeof(out)), "close");
    expect_eof(&cl);
    close(cl.fd);
    client_open(&cl, s.port);
    SEND(&cl, "GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(field(&rs, "Connection", out, sizeof(out)), "keep-alive");
    SEND(&cl, "HEAD /hello.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 1), 200);
    ck_assert_uint_eq(rs.length, 13);
    SEND(&cl, "GET /sub/ HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    expect_eof(&cl);
    close(cl.fd);
    /* HTTP/1.1: kept by default, Connection: close honoured. */
    client_open(&cl, s.port);
    SEND(&cl, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(field(&rs, "Connection", out, sizeof(out)), "");
    SEND(&cl, "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 404); /* still kept */
    SEND(&cl, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(field(&rs, "Connection", out, sizeof(out)), "close");
    expect_eof(&cl);
    close(cl.fd);
    stop(&s);
}
END_TEST

/* Error statuses through curl where curl can send the request. */
START_TEST(test_httpd_errors_curl)
{
    char *longpath = malloc(9100), *bighdr = malloc(20100), out[256];
    site s;

    make_site(&s, 0);
    start(&s, NULL);
    ck_assert_int_eq(curl_code(&s, "/nope.html", NULL, NULL), 404);
    ck_assert_int_eq(curl_code(&s, "/hello.txt", "-X", "DELETE"), 405);
    curl_w(&s, "/hello.txt", "%{http_code} %header{allow}", "-X", "POST", out, sizeof(out));
    ck_assert_str_eq(out, "405 GET, HEAD");
    ck_assert_int_eq(curl_code(&s, "/hello.txt", "-H", "Host:"), 400); /* no Host */
    ck_assert_int_eq(curl_code(&s, "/hello.txt", "-H", "Content-Length: 5000000"), 413);
    ck_assert_int_eq(curl_code(&s, "/hello.txt", "-H", "Transfer-Encoding: chunked"), 411);
    longpath[0] = '/';
    memset(longpath + 1, 'a', 9000);
    longpath[9001] = '\0';
    ck_assert_int_eq(curl_code(&s, longpath, NULL, NULL), 414);
    strcpy(bighdr, "X-Big: ");
    memset(bighdr + 7, 'b', 20000);
    bighdr[20007] = '\0';
    ck_assert_int_eq(curl_code(&s, "/hello.txt", "-H", bighdr), 431);
    ck_assert_int_eq(curl_code(&s, "/../secret.txt", "--path-as-is", NULL), 400);
    free(longpath);
    free(bighdr);
    stop(&s);
}
END_TEST

/* Raw requests: the status each gets, and whether the connection closes
 * after it (else it must still answer a GET). */
typedef struct raw_case {
    const char *req;
    int status;
    int closes;
} raw_case;

static void raw_cases(const site *s, const raw_case *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        static client cl;
        response rs;
        int head = strncmp(cases[i].req, "HEAD ", 5) == 0;

        client_open(&cl, s->port);
        send_all(&cl, cases[i].req, strlen(cases[i].req));
        ck_assert_msg(read_response(&cl, &rs, head) == cases[i].status, "'%s': got %d: %s",
                      cases[i].req, rs.status, rs.head);
        ck_assert_msg(!strstr(rs.body, "secret"), "'%s' leaked the secret", cases[i].req);
        if (cases[i].closes) {
            expect_eof(&cl);
        } else {
            /* Still usable: the next request is answered. */
            SEND(&cl, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
            ck_assert_msg(read_response(&cl, &rs, 0) == 200, "after '%s'", cases[i].req);
            ck_assert_str_eq(rs.body, HELLO);
        }
        close(cl.fd);
    }
}

START_TEST(test_httpd_errors_raw)
{
    static const raw_case cases[] = {
        /* Malformed: 400 and close. */
        {"GET /\r\n\r\n", 400, 1},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, 1},
        {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400, 1},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nBad : space\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1\r\nHost: a\rX: bare cr\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1\r\n\r\n", 400, 1},                     /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 1}, /* two */
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400, 1},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, 1},
        {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"HEAD /% HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        /* Versions: 505 for other majors; 1.x above 1 is served as 1.1. */
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, 1},
        {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, 1},
        {"GET /hello.txt HTTP/1.7\r\nHost: a\r\n\r\n", 200, 0},
        /* Bodies: 413 past 1 MiB, chunked 411, other codings 501. */
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413, 1},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
         1},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, 1},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, 1},
        /* 405 with a body: the body is read and discarded, the
         * connection kept; with Expect: 100-continue it closes instead. */
        {"POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", 405, 0},
        {"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", 405,
         1},
        {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 405, 0},
        {"get /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 405, 0}, /* methods are case-sensitive */
        /* A GET with a body: served, body discarded. */
        {"GET /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody", 200, 0},
        {"\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0}, /* empty lines first */
        {"HEAD /missing HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
    };
    const char *extra[] = {"--max-header-bytes", "1024", NULL};
    char req[24000];
    response rs;
    size_t n;
    site s;

    make_site(&s, 0);
    start(&s, NULL);
    raw_cases(&s, cases, sizeof(cases) / sizeof(cases[0]));
    /* 405 carries Allow; a HEAD error carries no body. */
    ck_assert_int_eq(ONE_SHOT(s.port, "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", &rs), 405);
    ck_assert_ptr_nonnull(strstr(rs.head, "\r\nAllow: GET, HEAD\r\n"));
    ck_assert_str_eq(rs.body, "405 Method Not Allowed\n");
    /* 414: a target longer than 8192 bytes, 8192 itself is fine. */
    strcpy(req, "GET /");
    memset(req + 5, 'a', 8192);
    strcpy(req + 5 + 8192, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(one_shot(s.port, req, strlen(req), &rs), 414);
    req[5 + 8191] = ' ';
    strcpy(req + 5 + 8191, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(one_shot(s.port, req, strlen(req), &rs), 404);
    stop(&s);

    /* 431: a head over --max-header-bytes, with or without its end. */
    make_site(&s, 0);
    start(&s, extra);
    strcpy(req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    n = strlen(req);
    memset(req + n, 'p', 1000);
    strcpy(req + n + 1000, "\r\n\r\n");
    ck_assert_int_eq(one_shot(s.port, req, strlen(req), &rs), 431);
    ck_assert_ptr_nonnull(strstr(rs.head, "\r\nConnection: close\r\n"));
    req[strlen(req) - 4] = '\0';
    ck_assert_int_eq(one_shot(s.port, req, strlen(req), &rs), 431);
    req[n + 900] = '\0'; /* under the limit: fine */
    strcat(req, "\r\n\r\n");
    ck_assert_int_eq(one_shot(s.port, req, strlen(req), &rs), 200);
    stop(&s);
}
END_TEST

/* Bare-LF line ends are accepted (RFC 9112, 2.2), alone or mixed with
 * CRLF, also for the head's last line and empty lines before a request;
 * a bare CR is still malformed.  A head known to be bad is answered at
 * once, not when (if ever) its blank line comes.  (The old server, cutting
 * heads at "\r\n\r\n", never answered a bare-LF head at all.) */
START_TEST(test_httpd_bare_lf)
{
    static const raw_case cases[] = {
        {"GET /hello.txt HTTP/1.1\nHost: a\n\n", 200, 0},
        {"GET /hello.txt HTTP/1.1\r\nHost: a\n\n", 200, 0},
        {"GET /hello.txt HTTP/1.1\nHost: a\r\n\r\n", 200, 0},
        {"\n\r\nGET /hello.txt HTTP/1.1\nHost: a\nX-A: b\n\n", 200, 0},
        {"GET /hello.txt HTTP/1.1\nHost: a\nConnection: close\n\n", 200, 1},
        {"GET /hello.txt HTTP/1.0\n\n", 200, 1},
        {"GET /hello.txt HTTP/1.1\nHost: a\r\rX: y\n\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: a\rX: y\n\n", 400, 1},
        {"GET /hello.txt\rHTTP/1.1\nHost: a\n\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\n\n", 400, 1}, /* still no Host */
    };
    response rs;
    client cl;
    site s;

    make_site(&s, 0);
    start(&s, NULL);
    raw_cases(&s, cases, sizeof(cases) / sizeof(cases[0]));
    /* Pipelined bare-LF requests, answered in order. */
    client_open(&cl, s.port);
    SEND(&cl, "GET /hello.txt HTTP/1.1\nHost: a\n\nGET /sub/ HTTP/1.1\nHost: a\n\n"
              "HEAD /style.css HTTP/1.1\nHost: a\nConnection: close\n\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, HELLO);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, "<h1>sub</h1>\n");
    ck_assert_int_eq(read_response(&cl, &rs, 1), 200);
    ck_assert_uint_eq(rs.length, 7);
    expect_eof(&cl);
    close(cl.fd);
    /* A bad field, the head not finished: 400 now, then EOF. */
    client_open(&cl, s.port);
    SEND(&cl, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nBad : x\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 400);
    expect_eof(&cl);
    close(cl.fd);
    stop(&s);
}
END_TEST

/* A directory named without its trailing slash: 301 to the name with it
 * (as sent, still encoded), the query kept, the connection kept; HEAD gets
 * no body.  (The old server served the index as 200, so relative links in
 * it resolved against the parent.) */
START_TEST(test_httpd_redirect)
{
    static const struct {
        const char *req, *location;
    } cases[] = {
        {"GET /sub HTTP/1.1\r\nHost: a\r\n\r\n", "/sub/"},
        {"GET /sub?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n", "/sub/?x=1&y=%20"},
        {"GET /su%62 HTTP/1.1\r\nHost: a\r\n\r\n", "/su%62/"},
        {"GET /sub/../sub HTTP/1.1\r\nHost: a\r\n\r\n", "/sub/../sub/"},
        {"GET http://a/sub?q HTTP/1.1\r\nHost: a\r\n\r\n", "/sub/?q"},
        {"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n", "/empty/"},
        {"HEAD /sub HTTP/1.1\r\nHost: a\r\n\r\n", "/sub/"},
        {"GET /sub HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "/sub/"},
    };
    char val[256];
    response rs;
    client cl;
    size_t i;
    site s;

    make_site(&s, 0);
    start(&s, NULL);
    client_open(&cl, s.port);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int head = strncmp(cases[i].req, "HEAD ", 5) == 0;
        send_all(&cl, cases[i].req, strlen(cases[i].req));
        ck_assert_msg(read_response(&cl, &rs, head) == 301, "'%s': %s", cases[i].req, rs.head);
        ck_assert_str_eq(field(&rs, "Location", val, sizeof(val)), cases[i].location);
        if (!head)
            ck_assert_str_eq(rs.body, "301 Moved Permanently\n");
    }
    /* Still the same connection: the slash form is served. */
    SEND(&cl, "GET /sub/ HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, "<h1>sub</h1>\n");
    SEND(&cl, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, "<h1>root</h1>\n");
    expect_eof(&cl);
    close(cl.fd);
    stop(&s);
}
END_TEST

/* Send "GET path" with extra fields (each ending in CRLF) on cl; returns
 * the status, the response in rs. */
static int get_with(client *cl, const char *method, const char *path, const char *fields,
                    response *rs)
{
    char req[2048];

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: a\r\n%s\r\n", method, path, fields);
    send_all(cl, req, strlen(req));
    return read_response(cl, rs, strcmp(method, "HEAD") == 0);
}

/* Validators and conditional GET: a strong ETag and Last-Modified on every
 * file; If-None-Match (any listed tag, weak comparison, "*") and
 * If-Modified-Since (all three date forms; an invalid one ignored) give
 * 304 with the validators and no body, the connection kept; If-None-Match
 * wins over If-Modified-Since; a file stamped in the future says no later
 * Last-Modified than Date.  (The old server sent no ETag, and answered
 * every conditional GET with 200.) */
START_TEST(test_httpd_conditional)
{
    char etag[96], lastmod[64], date[64], val[128], fields[512], path[256];
    struct timespec ts[2];
    response rs;
    client cl;
    site s;

    make_site(&s, 0);
    put_file(&s, "root/future.txt", "from the future\n");
    snprintf(path, sizeof(path), "%s/future.txt", s.root);
    ts[0].tv_sec = ts[1].tv_sec = time(NULL) + 86400 * 400;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    start(&s, NULL);
    client_open(&cl, s.port);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "", &rs), 200);
    field(&rs, "ETag", etag, sizeof(etag));
    field(&rs, "Last-Modified", lastmod, sizeof(lastmod));
    ck_assert_msg(strlen(etag) > 2 && etag[0] == '"' && etag[strlen(etag) - 1] == '"', "ETag '%s'",
                  etag);
    ck_assert_str_ne(lastmod, "");

    snprintf(fields, sizeof(fields), "If-None-Match: %s\r\n", etag);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 304);
    ck_assert_str_eq(field(&rs, "ETag", val, sizeof(val)), etag);
    ck_assert_str_eq(field(&rs, "Last-Modified", val, sizeof(val)), lastmod);
    ck_assert_str_eq(field(&rs, "Content-Length", val, sizeof(val)), "");
    ck_assert_uint_eq(rs.got, 0);
    snprintf(fields, sizeof(fields), "If-None-Match: \"nope\", W/%s\r\n", etag);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 304);
    snprintf(fields, sizeof(fields), "If-None-Match: \"nope\"\r\nIf-None-Match: %s\r\n", etag);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 304);
    ck_assert_int_eq(get_with(&cl, "HEAD", "/hello.txt", "If-None-Match: *\r\n", &rs), 304);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "If-None-Match: \"nope\"\r\n", &rs), 200);
    ck_assert_str_eq(rs.body, HELLO);
    /* If-None-Match first: no match means 200 whatever the date says. */
    snprintf(fields, sizeof(fields), "If-None-Match: \"nope\"\r\nIf-Modified-Since: %s\r\n",
             lastmod);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 200);
    ck_assert_str_eq(rs.body, HELLO);
    /* If-Modified-Since alone. */
    snprintf(fields, sizeof(fields), "If-Modified-Since: %s\r\n", lastmod);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 304);
    ck_assert_uint_eq(rs.got, 0);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt",
                              "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &rs),
                     200);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt",
                              "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n", &rs),
                     304);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt",
                              "If-Modified-Since: Friday, 01-Jan-60 00:00:00 GMT\r\n", &rs),
                     304);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt",
                              "If-Modified-Since: Fri Jan  1 00:00:00 2100\r\n", &rs),
                     304);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "If-Modified-Since: tomorrow\r\n", &rs),
                     200);
    ck_assert_str_eq(rs.body, HELLO);
    /* Stamped 400 days ahead: Last-Modified is Date, not the future. */
    ck_assert_int_eq(get_with(&cl, "GET", "/future.txt", "", &rs), 200);
    field(&rs, "Date", date, sizeof(date));
    ck_assert_str_eq(field(&rs, "Last-Modified", val, sizeof(val)), date);
    close(cl.fd);
    stop(&s);
}
END_TEST

static void put_pattern(const site *s, const char *rel, size_t n);

/* Whether the body in rs (its first bytes) is big.bin from offset from. */
static int pattern_at(const response *rs, uint64_t from)
{
    uint64_t i, n = rs->got < sizeof(rs->body) - 1 ? rs->got : sizeof(rs->body) - 1;

    for (i = 0; i < n; i++)
        if ((unsigned char)rs->body[i] != pattern(from + i))
            return 0;
    return 1;
}

/* Byte ranges: Accept-Ranges on 200; one range (A-B, A-, -N, clipped to
 * the file) gives 206 with Content-Range, from memory, from the cache and
 * streamed; several ranges, another unit or a malformed one the whole file
 * (200); a range past the end 416 with "bytes *" and the size; If-Range
 * with the ETag or the exact date gives the part, with anything else the
 * whole file; HEAD ignores Range; curl -C - resumes a download.  (The old
 * server ignored Range and sent no Accept-Ranges.) */
START_TEST(test_httpd_range)
{
    static const struct {
        const char *path, *range;
        int status;
        const char *content_range; /* NULL: none expected */
        uint64_t from, length;
    } cases[] = {
        {"/hello.txt", "bytes=0-4", 206, "bytes 0-4/13", 0, 5},
        {"/hello.txt", "bytes=7-", 206, "bytes 7-12/13", 7, 6},
        {"/hello.txt", "bytes=-6", 206, "bytes 7-12/13", 7, 6},
        {"/hello.txt", "bytes=-100", 206, "bytes 0-12/13", 0, 13},
        {"/hello.txt", "bytes=5-1000", 206, "bytes 5-12/13", 5, 8},
        {"/hello.txt", "bytes=13-", 416, "bytes */13", 0, 0},
        {"/hello.txt", "bytes=-0", 416, "bytes */13", 0, 0},
        {"/hello.txt", "bytes=0-1,3-4", 200, NULL, 0, 13},
        {"/hello.txt", "bytes=4-2", 200, NULL, 0, 13},
        {"/hello.txt", "lines=1-2", 200, NULL, 0, 13},
        {"/hello.txt", "bytes=x-", 200, NULL, 0, 13},
        {"/big.bin", "bytes=70000-70009", 206, "bytes 70000-70009/300000", 70000, 10},
        {"/big.bin", "bytes=100000-", 206, "bytes 100000-299999/300000", 100000, 200000},
        {"/big.bin", "bytes=-5", 206, "bytes 299995-299999/300000", 299995, 5},
        {"/mid.bin", "bytes=30000-30099", 206, "bytes 30000-30099/40000", 30000, 100},
        {"/mid.bin", "bytes=30000-30099", 206, "bytes 30000-30099/40000", 30000, 100}, /* cached */
    };
    char fields[512], etag[96], lastmod[64], val[128], u[256], part[160], out[64];
    response rs;
    client cl;
    size_t i;
    site s;
    FILE *f;

    make_site(&s, 300000);
    put_pattern(&s, "mid.bin", 40000);
    {
        /* A file modified within the server's current second is sent with
         * Last-Modified clamped to Date, which the next second no longer
         * clamps: the If-Range date below would then differ by a second
         * (a flake).  Give hello.txt an mtime well in the past. */
        char path[300];
        struct timespec ts[2] = {{0, UTIME_OMIT}, {0, 0}};
        ts[1].tv_sec = time(NULL) - 100;
        snprintf(path, sizeof(path), "%s/hello.txt", s.root);
        ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
    start(&s, NULL);
    client_open(&cl, s.port);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "", &rs), 200);
    ck_assert_str_eq(field(&rs, "Accept-Ranges", val, sizeof(val)), "bytes");
    field(&rs, "ETag", etag, sizeof(etag));
    field(&rs, "Last-Modified", lastmod, sizeof(lastmod));
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(fields, sizeof(fields), "Range: %s\r\n", cases[i].range);
        ck_assert_msg(get_with(&cl, "GET", cases[i].path, fields, &rs) == cases[i].status,
                      "%s %s: %s", cases[i].path, cases[i].range, rs.head);
        ck_assert_str_eq(field(&rs, "Content-Range", val, sizeof(val)),
                         cases[i].content_range ? cases[i].content_range : "");
        if (cases[i].status == 416)
            continue;
        ck_assert_uint_eq(rs.length, cases[i].length);
        if (strcmp(cases[i].path, "/hello.txt") == 0)
            ck_assert_int_eq(memcmp(rs.body, &HELLO[cases[i].from], cases[i].length), 0);
        else
            ck_assert_msg(pattern_at(&rs, cases[i].from), "%s %s: wrong bytes", cases[i].path,
                          cases[i].range);
    }
    /* HEAD ignores Range. */
    ck_assert_int_eq(get_with(&cl, "HEAD", "/hello.txt", "Range: bytes=0-1\r\n", &rs), 200);
    ck_assert_uint_eq(rs.length, 13);
    /* If-Range: the ETag or the exact date give the part; a weak or other
     * tag, another date, or nonsense the whole file. */
    snprintf(fields, sizeof(fields), "Range: bytes=0-4\r\nIf-Range: %s\r\n", etag);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 206);
    ck_assert_str_eq(rs.body, "hello");
    snprintf(fields, sizeof(fields), "Range: bytes=0-4\r\nIf-Range: %s\r\n", lastmod);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 206);
    snprintf(fields, sizeof(fields), "Range: bytes=0-4\r\nIf-Range: W/%s\r\n", etag);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", fields, &rs), 200);
    ck_assert_str_eq(rs.body, HELLO);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt",
                              "Range: bytes=0-4\r\nIf-Range: \"other\"\r\n", &rs),
                     200);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt",
                              "Range: bytes=0-4\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
                              &rs),
                     200);
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "Range: bytes=0-4\r\nIf-Range: soon\r\n",
                              &rs),
                     200);
    ck_assert_str_eq(rs.body, HELLO);
    /* A 416 keeps the connection. */
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "Range: bytes=99-\r\n", &rs), 416);
    ck_assert_str_eq(rs.body, "416 Range Not Satisfiable\n");
    ck_assert_int_eq(get_with(&cl, "GET", "/hello.txt", "Connection: close\r\n", &rs), 200);
    expect_eof(&cl);
    close(cl.fd);
    /* curl -C -: a download cut after 123457 bytes is resumed from there. */
    {
        const char *argv[] = {CURL, "-s", "-C", "-", "-o", part, "-w", "%{http_code}", u, NULL};
        unsigned char *buf = malloc(300000);
        size_t n;
        snprintf(part, sizeof(part), "%s/part.bin", s.base);
        f = fopen(part, "w");
        ck_assert_ptr_nonnull(f);
        for (n = 0; n < 123457; n++)
            fputc(pattern(n), f);
        ck_assert_int_eq(fclose(f), 0);
        url(u, sizeof(u), &s, "/big.bin");
        ck_assert_int_eq(run(argv, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "206");
        f = fopen(part, "r");
        ck_assert_ptr_nonnull(f);
        n = fread(buf, 1, 300000, f);
        ck_assert_int_eq(fgetc(f), EOF);
        fclose(f);
        ck_assert_uint_eq(n, 300000);
        for (n = 0; n < 300000; n++)
            if (buf[n] != pattern(n))
                break;
        ck_assert_uint_eq(n, 300000);
        free(buf);
    }
    stop(&s);
}
END_TEST

/* The absolute form, http or https (RFC 9112, 3.2.2: a server must accept
 * it), its authority taking Host's place; an empty or malformed Host (or
 * authority, or one with userinfo) is 400.  (The old server answered an
 * https:// target with 400, and served an empty or junk Host.) */
START_TEST(test_httpd_host)
{
    static const raw_case cases[] = {
        {"GET https://a/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET HTTPS://example.com:443/hello.txt?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET https://a HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET https://a?q HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET http://[::1]:8080/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET http://a/hello.txt HTTP/1.1\r\nHost: not a host\r\n\r\n", 200, 0},
        {"GET https:///hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET http://user@a/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET http://a:b/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET ftp://a/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, 0},
        {"GET /hello.txt HTTP/1.1\r\nHost: a.example:\r\n\r\n", 200, 0},
        {"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", 200, 0},
        {"GET /hello.txt HTTP/1.1\r\nHost:\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost:   \r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.0\r\nHost:\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: a b\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: a:x\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, 1},
        {"GET /hello.txt HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, 1},
    };
    char val[128];
    response rs;
    site s;

    make_site(&s, 0);
    start(&s, NULL);
    raw_cases(&s, cases, sizeof(cases) / sizeof(cases[0]));
    ck_assert_int_eq(ONE_SHOT(s.port, "GET https://a/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", &rs),
                     200);
    ck_assert_str_eq(rs.body, HELLO);
    ck_assert_int_eq(ONE_SHOT(s.port, "GET https://a/sub?q HTTP/1.1\r\nHost: a\r\n\r\n", &rs),
                     301);
    ck_assert_str_eq(field(&rs, "Location", val, sizeof(val)), "/sub/?q");
    stop(&s);
}
END_TEST

/* Content types: the common ones the built-in table lacked, then a
 * --mime-types file (/etc/mime.types format: comments, several
 * extensions, a type with none, case-insensitive, the file before the
 * built-in table, the last line naming an extension winning, text/ with a
 * charset); a missing or malformed file is exit 2 with one line naming it.
 * (The old server sent application/octet-stream for avif, ogg and opus,
 * and refused --mime-types.) */
static void strip_valgrind(tu_proc *p);

START_TEST(test_httpd_mime_types)
{
    static const struct {
        const char *path, *builtin, *custom;
    } cases[] = {
        {"/a.avif", "image/avif", "image/avif"},
        {"/a.ogg", "audio/ogg", "audio/x-override"},
        {"/a.opus", "audio/opus", "audio/opus"},
        {"/a.webm", "video/webm", "video/webm"},
        {"/a.wasm", "application/wasm", "application/wasm"},
        {"/a.woff2", "font/woff2", "font/woff2"},
        {"/a.mjs", "text/javascript; charset=utf-8", "text/javascript; charset=utf-8"},
        {"/a.svg", "image/svg+xml", "image/svg+xml"},
        {"/a.json", "application/json", "application/json"},
        {"/a.foo", "application/octet-stream", "text/x-foo; charset=utf-8"},
        {"/a.BAR", "application/octet-stream", "text/x-foo; charset=utf-8"},
        {"/a.thing", "application/octet-stream", "application/x-thing2"},
    };
    static const struct {
        const char *text, *expect;
    } bad[] = {
        {"text/plain txt\nnotatype foo\n", "mt:2: 'notatype' is not a MIME type"},
        {"text/plain txt\n/x foo\n", "mt:2: '/x'"},
        {"text/x-a a/b\n", "mt:1: 'a/b' is not a file name extension"},
    };
    const char *extra[3] = {"--mime-types", NULL, NULL};
    char mt[160], out[256], rel[64];
    size_t i;
    site s;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        make_site(&s, 0);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            snprintf(rel, sizeof(rel), "root%s", cases[i].path);
            put_file(&s, rel, "x\n");
        }
        snprintf(mt, sizeof(mt), "%s/mime.types", s.base);
        put_file(&s, "mime.types",
                 "# comment\n\ntext/x-foo\tfoo  bar # trailing comment\n"
                 "application/x-thing thing\nimage/avif\n  audio/x-override OGG\n"
                 "application/x-thing2 thing\n");
        extra[1] = mt;
        start(&s, pass ? extra : NULL);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            curl_w(&s, cases[i].path, "%{content_type}", NULL, NULL, out, sizeof(out));
            ck_assert_msg(strcmp(out, pass ? cases[i].custom : cases[i].builtin) == 0,
                          "%s%s: %s", pass ? "--mime-types " : "", cases[i].path, out);
        }
        curl_w(&s, "/hello.txt", "%{content_type}", NULL, NULL, out, sizeof(out));
        ck_assert_str_eq(out, "text/plain; charset=utf-8");
        stop(&s);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]) + 1; i++) {
        const char *argv[] = {"sb-httpd", "--mime-types", mt, NULL};
        tu_proc p;
        int status;
        FILE *f;
        snprintf(mt, sizeof(mt), "/tmp/sb-httpd-test-%d.mt", (int)getpid());
        if (i < sizeof(bad) / sizeof(bad[0])) {
            f = fopen(mt, "w");
            ck_assert_ptr_nonnull(f);
            fputs(bad[i].text, f);
            ck_assert_int_eq(fclose(f), 0);
        }
        tu_spawn(&p, HTTPD, argv);
        status = tu_finish(&p);
        strip_valgrind(&p);
        unlink(mt);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "exit %d: %s", status, p.out);
        ck_assert_msg(strstr(p.out, i < sizeof(bad) / sizeof(bad[0]) ? bad[i].expect
                                                                    : "No such file"),
                      "stderr: %s", p.out);
        ck_assert_msg(strchr(p.out, '\n') == p.out + p.len - 1, "not one line: %s", p.out);
    }
}
END_TEST

/* Paths that try to leave the root, over raw requests (curl would
 * normalise them).  Run against openat2 and against the fallback. */
static void traversal(int fallback)
{
    static const raw_case cases[] = {
        {"GET /../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /sub/../../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /%2E%2E%2Fsecret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /sub/..%2f..%2fsecret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /.%2e/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET http://a/../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /hello.txt%00.html HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET /hello.txt%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        {"GET ../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1},
        /* Symlinks leading out: not found.  Absolute paths stay inside. */
        {"GET /link-out HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
        {"GET /link-abs HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
        {"GET /link-dir/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
        {"GET /link-dir/ HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
        {"GET //etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
        {"GET /secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 404, 0},
        /* Inside the root, all of these are fine. */
        {"GET /sub/link-in HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET /sub/../hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET /sub/%2e%2e/./hello.txt?x=/../../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET http://a/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET HTTP://a HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
        {"GET /%68ello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 200, 0},
    };
    site s;

    make_site(&s, 0);
    if (fallback)
        setenv("SB_HTTPD_NO_OPENAT2", "1", 1);
    start(&s, NULL);
    unsetenv("SB_HTTPD_NO_OPENAT2");
    raw_cases(&s, cases, sizeof(cases) / sizeof(cases[0]));
    stop(&s);
}

START_TEST(test_httpd_traversal)
{
    traversal(0);
}
END_TEST

START_TEST(test_httpd_traversal_fallback)
{
    traversal(1);
}
END_TEST

/* Three requests in one send, the middle one for a file far larger than
 * one write: three answers, in order, the large one intact; then the same
 * with a discarded body in the middle of the pipeline. */
START_TEST(test_httpd_pipelined)
{
    static const char three[] = "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n"
                                "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"
                                "GET /sub/ HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char mixed[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n";
    size_t big = tu_slow() ? 3u << 20 : 12u << 20;
    char *body = calloc(1, 70000);
    static client cl;
    response rs;
    site s;

    make_site(&s, big);
    start(&s, NULL);
    client_open(&cl, s.port);
    send_all(&cl, three, sizeof(three) - 1);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, HELLO);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_uint_eq(rs.got, big);
    ck_assert(rs.pattern_ok);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, "<h1>sub</h1>\n");
    /* 405 with a 70000-byte body (two fixed-framer pieces), then two GETs,
     * then HEAD of the large file, all in one send. */
    {
        char *req = malloc(80000);
        size_t n = 0;
        memcpy(req, mixed, sizeof(mixed) - 1);
        n = sizeof(mixed) - 1;
        memcpy(req + n, body, 70000);
        n += 70000;
        n += (size_t)sprintf(req + n, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"
                                      "HEAD /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"
                                      "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        send_all(&cl, req, n);
        free(req);
    }
    ck_assert_int_eq(read_response(&cl, &rs, 0), 405);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_uint_eq(rs.got, big);
    ck_assert(rs.pattern_ok);
    ck_assert_int_eq(read_response(&cl, &rs, 1), 200);
    ck_assert_uint_eq(rs.length, big);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, HELLO);
    close(cl.fd);
    free(body);
    stop(&s);
}
END_TEST

/*
 * The open-file cache keeps files of up to 16 KiB in memory: 130 files
 * (more than its 64 slots, so slots and their memory are reused by files of
 * other sizes), an empty one, and files on both sides of the 16 KiB and
 * 63 KiB limits, asked for three times each, pipelined and interleaved;
 * every body must be exactly its own file.
 */
#define NFILES 130
static size_t cache_file(int k, char *buf)
{
    size_t n = 5 + (size_t)(k * 37) % 3900, i;

    snprintf(buf, 6, "f%03d:", k);
    for (i = 5; i < n; i++)
        buf[i] = (char)('a' + (i + (size_t)k) % 26);
    buf[n] = '\0';
    return n;
}

static void put_pattern(const site *s, const char *rel, size_t n)
{
    char path[256];
    unsigned char *buf = malloc(n + 1);
    size_t i;
    FILE *f;

    for (i = 0; i < n; i++)
        buf[i] = pattern(i);
    snprintf(path, sizeof(path), "%s/%s", s->root, rel);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    free(buf);
}

START_TEST(test_httpd_memory_cache)
{
    static const size_t edges[] = {16383, 16384, 16385, 64512, 64513};
    static client cl;
    char *req = malloc(NFILES * 64), want[4096], rel[64];
    response rs;
    size_t n, i, len;
    int round, k;
    site s;

    make_site(&s, 0);
    for (k = 0; k < NFILES; k++) {
        cache_file(k, want);
        snprintf(rel, sizeof(rel), "root/f%03d.txt", k);
        put_file(&s, rel, want);
    }
    put_file(&s, "root/empty.txt", "");
    for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        snprintf(rel, sizeof(rel), "e%zu.bin", edges[i]);
        put_pattern(&s, rel, edges[i]);
    }
    start(&s, NULL);
    client_open(&cl, s.port);
    for (round = 0; round < 3; round++) {
        for (n = 0, k = 0; k < NFILES; k++)
            n += (size_t)sprintf(req + n, "%s /f%03d.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                                 k % 7 == 3 ? "HEAD" : "GET", (k * 7 + round) % NFILES);
        send_all(&cl, req, n);
        for (k = 0; k < NFILES; k++) {
            int f = (k * 7 + round) % NFILES, head = k % 7 == 3;
            len = cache_file(f, want);
            ck_assert_int_eq(read_response(&cl, &rs, head), 200);
            ck_assert_uint_eq(rs.length, len);
            if (!head) {
                ck_assert_uint_eq(rs.got, len);
                ck_assert_msg(memcmp(rs.body, want, len) == 0, "f%03d: got %.16s...", f, rs.body);
            }
        }
        SEND(&cl, "GET /empty.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
        ck_assert_uint_eq(rs.length, 0);
        for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
            n = (size_t)sprintf(req, "GET /e%zu.bin HTTP/1.1\r\nHost: a\r\n\r\n", edges[i]);
            send_all(&cl, req, n);
            ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
            ck_assert_uint_eq(rs.got, edges[i]);
            ck_assert_msg(rs.pattern_ok, "e%zu.bin: wrong bytes", edges[i]);
        }
    }
    close(cl.fd);
    free(req);
    stop(&s);
}
END_TEST


/* A client with a small receive buffer reads a large file in small
 * pieces, sampling the server's memory as it goes: the file is streamed,
 * never held whole, so the server's RSS stays far below the file size. */
START_TEST(test_httpd_slow_reader)
{
    size_t big = tu_slow() ? 8u << 20 : 32u << 20, got = 0;
    long base, peak = 0, now;
    int small = 8192, fd, ok = 1;
    struct sockaddr_in sa;
    struct timeval tv = {10, 0};
    static client cl;
    response rs;
    char buf[4096];
    site s;

    if (!tu_have_proc("httpd/slow_reader"))
        return;
    make_site(&s, big);
    start(&s, NULL);
    /* Warm up (the server's buffers are touched), then measure. */
    ck_assert_int_eq(ONE_SHOT(s.port, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", &rs), 200);
    base = tu_proc_rss_kib(s.proc.pid);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cl.fd = fd;
    cl.len = 0;
    SEND(&cl, "GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 1), 200);
    ck_assert_uint_eq(rs.length, big);
    got = cl.len;
    for (size_t i = 0; i < cl.len; i++)
        ok &= (unsigned char)cl.buf[i] == pattern(i);
    while (got < big) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        ck_assert_msg(r > 0, "after %zu bytes: %s", got, r == 0 ? "EOF" : strerror(errno));
        for (ssize_t i = 0; i < r; i++)
            ok &= (unsigned char)buf[i] == pattern(got + (size_t)i);
        if (got / (256 << 10) != (got + (size_t)r) / (256 << 10)) {
            now = tu_proc_rss_kib(s.proc.pid);
            if (now > peak)
                peak = now;
        }
        got += (size_t)r;
    }
    ck_assert(ok);
    ck_assert_int_eq(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);
    /* 32 MiB sent; the server may grow by a few hundred KiB at most. */
    ck_assert_msg(peak - base < 4096, "server RSS grew from %ld to %ld KiB", base, peak);
    stop(&s);
}
END_TEST

/* The request bytes one per send (TCP_NODELAY): the header framer sees
 * every split of the head, the fixed framer every split of the body. */
START_TEST(test_httpd_byte_split)
{
    static const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /hello.txt HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
                              "\r\nHEAD /sub/ HTTP/1.0\r\n\r\n";
    static client cl;
    response rs;
    int one = 1;
    size_t i;
    site s;

    make_site(&s, 0);
    start(&s, NULL);
    client_open(&cl, s.port);
    setsockopt(cl.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (i = 0; i < sizeof(req) - 1; i++)
        send_all(&cl, req + i, 1);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 405);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, HELLO);
    ck_assert_int_eq(read_response(&cl, &rs, 1), 200);
    ck_assert_uint_eq(rs.length, 13);
    expect_eof(&cl);
    close(cl.fd);
    /* Every split of one request in two sends. */
    for (i = 1; i < 36; i++) {
        static const char get[] = "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n";
        client_open(&cl, s.port);
        setsockopt(cl.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        send_all(&cl, get, i);
        send_all(&cl, get + i, sizeof(get) - 1 - i);
        ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
        ck_assert_str_eq(rs.body, HELLO);
        close(cl.fd);
    }
    stop(&s);
}
END_TEST

/* ------------------------------------- descriptors, memory, deadlines */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Let ms pass (the pace of a test, or its bounded wait between polls). */
static void pause_ms(int ms)
{
    poll(NULL, 0, ms);
}

/* Open descriptors of process pid; with below, only those of files under
 * that (canonical) directory. */
static int proc_fds(pid_t pid, const char *below)
{
    char dir[64], link[64 + 256], target[PATH_MAX];
    struct dirent *de;
    int n = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        ssize_t len;
        if (de->d_name[0] == '.')
            continue;
        if (!below) {
            n++;
            continue;
        }
        snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        if (len > 0 && (size_t)len > strlen(below) && strncmp(target, below, strlen(below)) == 0 &&
            target[strlen(below)] == '/')
            n++;
    }
    closedir(d);
    return n;
}

/* Poll pid's descriptor count every 20 ms, at most tries times, until it is
 * at most want.  Returns the last count. */
static int wait_fds_at_most(pid_t pid, int want, int tries)
{
    int n;

    while ((n = proc_fds(pid, NULL)) > want && tries-- > 0)
        pause_ms(20);
    return n;
}

/* GET /<prefix>NNN.txt for NNN in [from, to), pipelined on cl: each must be
 * a 200 with its own body ("<prefix>NNN\n", as put_numbered wrote it). */
static void get_numbered(client *cl, const char *prefix, int from, int to)
{
    static char req[200 * 64];
    char want[32];
    response rs;
    size_t n = 0;
    int i;

    ck_assert_int_le(to - from, 200);
    for (i = from; i < to; i++)
        n += (size_t)sprintf(req + n, "GET /%s%03d.txt HTTP/1.1\r\nHost: a\r\n\r\n", prefix, i);
    send_all(cl, req, n);
    for (i = from; i < to; i++) {
        snprintf(want, sizeof(want), "%s%03d\n", prefix, i);
        ck_assert_msg(read_response(cl, &rs, 0) == 200, "/%s%03d.txt: %d %s", prefix, i,
                      rs.status, rs.body);
        ck_assert_str_eq(rs.body, want);
    }
}

static void put_numbered(const site *s, const char *prefix, int n)
{
    char rel[64], text[32];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(rel, sizeof(rel), "root/%s%03d.txt", prefix, i);
        snprintf(text, sizeof(text), "%s%03d\n", prefix, i);
        put_file(s, rel, text);
    }
}

/* SIGTERM: it must exit 0 within 5 s (nothing may keep its loop running). */
static void stop_promptly(site *s)
{
    int status = 0, i;
    pid_t r = 0;

    ck_assert_int_eq(kill(s->proc.pid, SIGTERM), 0);
    for (i = 0; i < 250 && (r = waitpid(s->proc.pid, &status, WNOHANG)) == 0; i++)
        pause_ms(20);
    if (r == 0) {
        kill(s->proc.pid, SIGKILL);
        waitpid(s->proc.pid, &status, 0);
        ck_abort_msg("sb-httpd still running 5 s after SIGTERM");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    close(s->proc.err_fd);
    ck_assert_int_eq(tu_rm_tree(s->base), 0);
}

/*
 * Under RLIMIT_NOFILE 48 (soft and hard) the open-file cache must not hold
 * the budget: 100 small files on one connection, then 40 others on fresh
 * connections, all 200, with the cache at a quarter of the limit at most.
 * Then clients take every descriptor left while the cache holds some: a
 * file not cached is still served (the cache makes room).  Once the load
 * is gone the cache expires: the descriptors are back, no timer fires in
 * the idle daemon, and SIGTERM with a file cached ends it at once.
 */
START_TEST(test_httpd_fd_limit)
{
    enum { LIMIT = 48, SHARE = LIMIT / 4, CLIENTS = LIMIT };
    static client k, one;
    static int idle[CLIENTS];
    char root[PATH_MAX], req[64];
    unsigned long long fired, again = 0;
    int base, cached, full = 0, after, i, attempt, n, tries;
    response rs;
    site s;

    if (tu_slow()) {
        fprintf(stderr, "httpd/fd_limit: skipped under valgrind (its own fd limits)\n");
        return;
    }
    if (!tu_have_proc("httpd/fd_limit"))
        return;
    make_site(&s, 0);
    put_numbered(&s, "c", 140);
    put_numbered(&s, "d", 10);
    ck_assert_ptr_nonnull(realpath(s.root, root));
    start_nofile(&s, NULL, LIMIT);
    base = proc_fds(s.proc.pid, NULL);

    client_open(&k, s.port);
    get_numbered(&k, "c", 0, 100);
    cached = proc_fds(s.proc.pid, root);
    ck_assert_msg(cached > 0 && cached <= SHARE, "%d files held open (limit %d: at most %d)",
                  cached, LIMIT, SHARE);
    for (i = 100; i < 140; i++) {
        n = snprintf(req, sizeof(req), "GET /c%03d.txt HTTP/1.1\r\nHost: a\r\n\r\n", i);
        ck_assert_msg(one_shot(s.port, req, (size_t)n, &rs) == 200, "/c%03d.txt: %d", i,
                      rs.status);
    }

    /* Every descriptor taken by clients while the cache holds files (the
     * sweep may empty it meanwhile: then again, a few times at most). */
    for (attempt = 0;; attempt++) {
        ck_assert_msg(attempt < 5, "the cache was empty whenever the limit was reached");
        get_numbered(&k, "c", 0, 20);
        for (i = 0; i < CLIENTS; i++)
            idle[i] = tu_connect_tcp(s.port);
        for (tries = 0; tries < 250 && (full = proc_fds(s.proc.pid, NULL)) < LIMIT; tries++)
            pause_ms(20);
        ck_assert_msg(full == LIMIT, "%d descriptors in use, not %d", full, LIMIT);
        if (proc_fds(s.proc.pid, root) > 0)
            break;
        for (i = 0; i < CLIENTS; i++)
            close(idle[i]);
        wait_fds_at_most(s.proc.pid, base + 1 + SHARE, 250);
    }
    get_numbered(&k, "d", 0, 10); /* not cached: open() fails until the cache is emptied */

    for (i = 0; i < CLIENTS; i++)
        close(idle[i]);
    close(k.fd);
    after = wait_fds_at_most(s.proc.pid, base, 250);
    fprintf(stderr,
            "httpd/fd_limit: %d fds at start, %d files cached after 100 requests, %d at the "
            "limit, %d after expiry\n",
            base, cached, full, after);
    ck_assert_msg(after == base, "%d descriptors 5 s after the load, %d at start", after, base);
    /* Idle: nothing fires (a sweep left running would, every second). */
    fired = tu_proc_stat(&s.proc, "timers_fired");
    for (i = 0; i < 4; i++) {
        pause_ms(1500);
        again = tu_proc_stat(&s.proc, "timers_fired");
        if (again == fired)
            break;
        fired = again;
    }
    ck_assert_msg(i < 4, "timers still firing in the idle daemon: %llu", again);
    client_open(&one, s.port);
    get_numbered(&one, "c", 0, 1);
    close(one.fd);
    stop_promptly(&s);
}
END_TEST

/*
 * 500 clients each start downloading an 8 MiB file and stop reading, then
 * reset, while one keep-alive client stays connected.  The files go out
 * as file ranges (sendfile), so 500 stalled downloads cost no buffer in
 * the server: its RSS grows by less than 4 MiB (with a 64 KiB piece
 * queued per reader, as before sendfile, it grew by over 30 MiB); and what
 * the burst took is given back although a client stays.
 */
START_TEST(test_httpd_burst_memory)
{
    enum { N = 500 };
    static int fds[N];
    static client k;
    struct linger lg = {1, 0};
    long base, peak, after = 0;
    response rs;
    char buf[4096];
    int i;
    site s;

    if (tu_slow() || TU_SANITIZED_ADDRESS) {
        /* valgrind's and ASan's allocators keep what glibc would return */
        fprintf(stderr, "httpd/burst_memory: skipped under valgrind or ASan (RSS meaningless)\n");
        return;
    }
    if (!tu_have_proc("httpd/burst_memory"))
        return;
    make_site(&s, 8u << 20);
    start(&s, NULL);
    client_open(&k, s.port);
    SEND(&k, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&k, &rs, 0), 200);
    base = tu_proc_rss_kib(s.proc.pid);
    for (i = 0; i < N; i++) {
        static const char get[] = "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n";
        fds[i] = tu_blocking_client(s.port);
        ck_assert_int_eq(tu_send(fds[i], get, sizeof(get) - 1), (ssize_t)sizeof(get) - 1);
    }
    for (i = 0; i < N; i++) {
        ssize_t r = recv(fds[i], buf, sizeof(buf), 0);
        ck_assert_msg(r > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0, "client %d: %zd", i, r);
    }
    peak = tu_proc_rss_kib(s.proc.pid);
    for (i = 0; i < N; i++) {
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fds[i]);
    }
    for (i = 0; i < 200 && (after = tu_proc_rss_kib(s.proc.pid)) >= base + 4096; i++)
        pause_ms(50);
    fprintf(stderr, "httpd/burst_memory: RSS %ld KiB before, %ld at the peak, %ld after\n", base,
            peak, after);
    ck_assert_msg(peak < base + 4096, "500 stalled downloads took %ld KiB (%ld -> %ld)",
                  peak - base, base, peak);
    ck_assert_msg(after < base + 4096, "RSS %ld KiB 10 s after the burst, %ld before", after,
                  base);
    SEND(&k, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&k, &rs, 0), 200);
    close(k.fd);
    stop(&s);
}
END_TEST

/*
 * Trickle a head that never ends, one byte per 200 ms (far inside the
 * idle timeout), until the server answers or max_ms pass.  Returns the ms
 * from `since` to the answer (read into rs), or -1 without one.
 */
static long long trickle(client *cl, long long since, response *rs, int max_ms)
{
    static const char head[] = "GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Slow: "
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t i = 0;
    int one = 1;

    setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (now_ms() - since < max_ms) {
        struct pollfd pf = {cl->fd, POLLIN, 0};
        if (i < sizeof(head) - 1)
            send_all(cl, head + i++, 1);
        if (poll(&pf, 1, 200) > 0) {
            long long t = now_ms() - since;
            read_response(cl, rs, 0);
            return t;
        }
    }
    return -1;
}

/* A client whose receive buffer is only 8 KiB: responses it does not read
 * stay queued in the server. */
static void client_open_small(client *cl, int port)
{
    int small = 8192;
    struct sockaddr_in sa;
    struct timeval tv = {10, 0};

    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(cl->fd, 0);
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cl->len = 0;
}

/*
 * --header-timeout 1 with --idle-timeout 5: a trickled head gets 408 and a
 * close after about a second, on a new connection and after a response.
 * The deadline starts only once the response before has left the server's
 * queue: 100 pipelined 60 KB responses (6 MB, more than the socket buffers
 * take), left unread for 1.5 s, are all answered, with no 408 between
 * them; a 32 MiB download (16 under valgrind) left unread for 1.5 s
 * completes, and the
 * connection goes on.  A head completed in time after a pause is served.
 */
START_TEST(test_httpd_header_timeout)
{
    const char *extra[] = {"--header-timeout", "1", "--idle-timeout", "5", NULL};
    static client cl;
    static char req[100 * 64];
    char val[32];
    long long t0, t;
    response rs;
    size_t n = 0;
    int pass, i;
    site s;

    make_site(&s, tu_slow() ? 16u << 20 : 32u << 20);
    put_pattern(&s, "mid.bin", 60000);
    start(&s, extra);
    for (pass = 0; pass < 2; pass++) {
        client_open(&cl, s.port);
        if (pass == 1) { /* keep-alive: the deadline starts after the response */
            SEND(&cl, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
            ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
        }
        t0 = now_ms();
        t = trickle(&cl, t0, &rs, 8000);
        ck_assert_msg(t >= 0, "pass %d: no answer to a head trickled for 8 s", pass);
        ck_assert_int_eq(rs.status, 408);
        ck_assert_str_eq(field(&rs, "Connection", val, sizeof(val)), "close");
        ck_assert_str_eq(rs.body, "408 Request Timeout\n");
        ck_assert_msg(t >= 900 && t < 4000, "pass %d: 408 after %lld ms (want ~1000)", pass, t);
        expect_eof(&cl);
        close(cl.fd);
    }
    /* Responses held up by the client, then read: no 408 among them (one
     * may follow the last: those the kernel took count as sent). */
    client_open_small(&cl, s.port);
    for (i = 0; i < 100; i++)
        n += (size_t)sprintf(req + n, "GET /mid.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    send_all(&cl, req, n);
    pause_ms(1500);
    for (i = 0; i < 100; i++) {
        ck_assert_msg(read_response(&cl, &rs, 0) == 200, "response %d: %d", i, rs.status);
        ck_assert_msg(rs.got == 60000 && rs.pattern_ok, "response %d: wrong body", i);
    }
    close(cl.fd);
    /* A download stalled for longer than the timeout (the file is larger
     * than what the socket buffers take): not cut. */
    client_open(&cl, s.port);
    SEND(&cl, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    pause_ms(1500);
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_uint_eq(rs.got, s.big);
    ck_assert(rs.pattern_ok);
    /* Half a head, a pause inside the timeout, the rest: served. */
    SEND(&cl, "GET /hello.txt HTTP/1.1\r\n");
    pause_ms(300);
    SEND(&cl, "Host: a\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 0), 200);
    ck_assert_str_eq(rs.body, HELLO);
    close(cl.fd);
    stop(&s);
}
END_TEST

/* wrk for a second: no socket errors, no non-2xx answers. */
START_TEST(test_httpd_wrk)
{
    char u[128], out[4096];
    const char *argv[] = {"/usr/bin/wrk", "-t1", "-c10", "-d1s", u, NULL};
    int status;
    site s;

    if (tu_slow())
        return; /* a benchmark under valgrind measures nothing */
    make_site(&s, 0);
    start(&s, NULL);
    url(u, sizeof(u), &s, "/index.html");
    status = run(argv, out, sizeof(out));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wrk: %d: %s", status, out);
    ck_assert_msg(strstr(out, "requests in") && strstr(out, "Requests/sec:"), "%s", out);
    ck_assert_msg(!strstr(out, "Non-2xx") && !strstr(out, "Socket errors"), "%s", out);
    stop(&s);
}
END_TEST

/* SIGTERM during a download: the listener goes, an idle keep-alive client
 * is closed, the download completes, then the server exits 0. */
START_TEST(test_httpd_sigterm_midstream)
{
    size_t big = 4u << 20;
    static client cl, idle;
    response rs;
    int status;
    site s;

    make_site(&s, big);
    start(&s, NULL);
    client_open(&idle, s.port);
    SEND(&idle, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&idle, &rs, 0), 200);
    client_open(&cl, s.port);
    SEND(&cl, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(read_response(&cl, &rs, 1), 200); /* the head only, so far */
    ck_assert_int_eq(kill(s.proc.pid, SIGTERM), 0);
    expect_eof(&idle);
    close(idle.fd);
    /* The rest of the body, then EOF. */
    {
        size_t got = cl.len;
        int ok = 1;
        char buf[65536];
        for (size_t i = 0; i < cl.len; i++)
            ok &= (unsigned char)cl.buf[i] == pattern(i);
        for (;;) {
            ssize_t r = recv(cl.fd, buf, sizeof(buf), 0);
            ck_assert_msg(r >= 0, "recv: %s", strerror(errno));
            if (r == 0)
                break;
            for (ssize_t i = 0; i < r; i++)
                ok &= (unsigned char)buf[i] == pattern(got + (size_t)i);
            got += (size_t)r;
        }
        ck_assert_uint_eq(got, big);
        ck_assert(ok);
    }
    close(cl.fd);
    status = tu_finish(&s.proc);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status,
                  s.proc.out);
    ck_assert_ptr_nonnull(strstr(s.proc.out, "closing listeners"));
    ck_assert_int_eq(tu_rm_tree(s.base), 0);
}
END_TEST

/* --user drops root after binding (the root stays served); SIGUSR1 prints
 * the counters. */
START_TEST(test_httpd_user_and_stats)
{
    const char *extra[] = {"--user", "nobody", NULL};
    char path[64], status_text[4096];
    response rs;
    FILE *f;
    size_t n;
    site s;

    if (geteuid() != 0) {
        fprintf(stderr, "httpd/user: not root; skipped\n");
        return;
    }
    if (!tu_have_proc("httpd/user"))
        return;
    make_site(&s, 0);
    start(&s, extra);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s.proc.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(status_text, 1, sizeof(status_text) - 1, f);
    status_text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(status_text, "\nUid:\t65534\t65534\t65534\t65534") != NULL, "%s",
                  strstr(status_text, "Uid:"));
    ck_assert_int_eq(ONE_SHOT(s.port, "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", &rs), 200);
    ck_assert_str_eq(rs.body, HELLO);
    kill(s.proc.pid, SIGUSR1);
    ck_assert_msg(tu_wait_for(&s.proc, "stats: conns="), "%s", s.proc.out);
    stop(&s);
}
END_TEST

/* Drop valgrind's own lines ("==PID==", "--PID--") from captured stderr. */
static void strip_valgrind(tu_proc *p)
{
    char *in = p->out, *out = p->out;

    while (*in) {
        char *nl = strchr(in, '\n');
        size_t n = nl ? (size_t)(nl + 1 - in) : strlen(in);
        if (!((in[0] == '=' && in[1] == '=') || (in[0] == '-' && in[1] == '-' && in[2] >= '0' &&
                                                 in[2] <= '9'))) {
            memmove(out, in, n);
            out += n;
        }
        in += n;
    }
    *out = '\0';
    p->len = (size_t)(out - p->out);
}

START_TEST(test_httpd_bad_arguments)
{
    static const struct {
        const char *a, *b, *expect;
    } cases[] = {
        {"--root", "/nonexistent/sb-httpd", "/nonexistent/sb-httpd"},
        {"--root", "/etc/hostname", "Not a directory"},
        {"--listen", "nonsense", "nonsense"},
        {"--listen", "127.0.0.1:70000", "port"},
        {"--max-conns", "-1", "--max-conns"},
        {"--idle-timeout", "1x", "--idle-timeout"},
        {"--header-timeout", "soon", "--header-timeout"},
        {"-T", "-1", "--header-timeout"},
        {"--max-header-bytes", "10", "--max-header-bytes"},
        {"--max-header-bytes", "99999999", "--max-header-bytes"},
        {"--log-level", "loud", "--log-level"},
        {"--bogus", NULL, "--bogus"},
        {"extra-arg", NULL, "extra-arg"},
        {"--root", NULL, "--root"},
        {"-H", NULL, "-H"},
        {"--user", "no-such-user-here", "no such user"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sb-httpd", cases[i].a, cases[i].b, NULL};
        tu_proc p;
        int status;
        tu_spawn(&p, HTTPD, argv);
        status = tu_finish(&p);
        strip_valgrind(&p);
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

START_TEST(test_httpd_help_version)
{
    char out[4096];
    const char *h[] = {HTTPD, "--help", NULL};
    const char *v[] = {HTTPD, "-V", NULL};

    ck_assert_int_eq(run(h, out, sizeof(out)), 0);
    ck_assert_ptr_nonnull(strstr(out, "--max-header-bytes"));
    ck_assert_ptr_nonnull(strstr(out, "--header-timeout"));
    ck_assert_ptr_nonnull(strstr(out, "--root"));
    ck_assert_int_eq(run(v, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "sb-httpd (switchboard) " SB_VERSION_STRING "\n");
}
END_TEST

Suite *sb_httpd_suite(void)
{
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("daemon");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_httpd_get_head);
    tcase_add_test(tc, test_httpd_keep_alive);
    tcase_add_test(tc, test_httpd_errors_curl);
    tcase_add_test(tc, test_httpd_errors_raw);
    tcase_add_test(tc, test_httpd_bare_lf);
    tcase_add_test(tc, test_httpd_redirect);
    tcase_add_test(tc, test_httpd_conditional);
    tcase_add_test(tc, test_httpd_range);
    tcase_add_test(tc, test_httpd_host);
    tcase_add_test(tc, test_httpd_mime_types);
    tcase_add_test(tc, test_httpd_traversal);
    tcase_add_test(tc, test_httpd_traversal_fallback);
    tcase_add_test(tc, test_httpd_pipelined);
    tcase_add_test(tc, test_httpd_memory_cache);
    tcase_add_test(tc, test_httpd_slow_reader);
    tcase_add_test(tc, test_httpd_byte_split);
    tcase_add_test(tc, test_httpd_fd_limit);
    tcase_add_test(tc, test_httpd_burst_memory);
    tcase_add_test(tc, test_httpd_header_timeout);
    tcase_add_test(tc, test_httpd_wrk);
    tcase_add_test(tc, test_httpd_sigterm_midstream);
    tcase_add_test(tc, test_httpd_user_and_stats);
    tcase_add_test(tc, test_httpd_bad_arguments);
    tcase_add_test(tc, test_httpd_help_version);
    suite_add_tcase(s, tc);
    return s;
}
