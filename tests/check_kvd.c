/* sb-kvd end to end: redis-cli for every command and its error replies
 * (the expected outputs are those of redis-server 7.0), redis-benchmark
 * with and without pipelining, protocol errors and limits over raw
 * sockets (KEYS' glob rules and work budget, --max-query, --max-output,
 * memory held per client and given back after a burst), expiry,
 * --max-memory, pipelining, commands fed one byte at a time, and its
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
#include <time.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif
#define KVD SB_TEST_BUILD_DIR "/sb-kvd"
#define REDIS_CLI "/usr/bin/redis-cli"
#define REDIS_BENCHMARK "/usr/bin/redis-benchmark"

/* Start sb-kvd on 127.0.0.1:0 with extra arguments (NULL-terminated). */
static int start_kvd(tu_proc *p, const char *const *extra)
{
    const char *argv[16] = {"sb-kvd", "--listen", "127.0.0.1:0"};
    int n = 3, port;

    while (extra && *extra && n < 15)
        argv[n++] = *extra++;
    argv[n] = NULL;
    tu_spawn(p, KVD, argv);
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "no start-up line: %s", p->out);
    return port;
}

/* It must exit 0 (after the SIGTERM sent by stop_kvd or the test). */
static void reap_kvd(tu_proc *p)
{
    int status = tu_finish(p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, p->out);
}

static void stop_kvd(tu_proc *p)
{
    ck_assert_int_eq(kill(p->pid, SIGTERM), 0);
    reap_kvd(p);
}

/*
 * Under valgrind, `make valgrind` traces every child, redis-cli and
 * redis-benchmark included: they then print their own leak reports on
 * stderr and exit 99.  So under tu_slow() only their stdout is kept and
 * status 99 is accepted.
 */
static int tool_ok(int status)
{
    return WIFEXITED(status) &&
           (WEXITSTATUS(status) == 0 || (tu_slow() && WEXITSTATUS(status) == 99));
}

/*
 * Run a client program (argv[0] a path) with `input` (or nothing) on its
 * stdin, and collect its stdout, and its stderr unless tu_slow(), into out
 * (NUL-terminated, at most cap - 1 bytes).  Returns its wait status.
 */
static int run_tool_input(const char *const argv[], const char *input, char *out, size_t cap)
{
    size_t len = 0;
    int fds[2], in[2], status = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pipe(in), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(in[0], 0);
        dup2(fds[1], 1);
        dup2(tu_slow() ? null : fds[1], 2);
        close(null);
        close(in[0]);
        close(in[1]);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    if (input) /* small: fits in the pipe, so no deadlock with the reading */
        ck_assert_int_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
    close(in[1]);
    close(fds[1]);
    for (;;) {
        struct pollfd pf = {fds[0], POLLIN, 0};
        char junk[4096];
        ssize_t n;
        ck_assert_msg(poll(&pf, 1, 60000) == 1, "%s hangs", argv[0]);
        if (len < cap - 1)
            n = read(fds[0], out + len, cap - 1 - len);
        else
            n = read(fds[0], junk, sizeof(junk)); /* keep draining */
        if (n <= 0)
            break;
        if (len < cap - 1)
            len += (size_t)n;
    }
    out[len] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static int run_tool(const char *const argv[], char *out, size_t cap)
{
    return run_tool_input(argv, NULL, out, cap);
}

/* redis-cli -p port WORDS... (split at spaces); its output must be want. */
static void cli_expect(int port, const char *words, const char *want)
{
    char line[512], portbuf[16], out[8192], *save = NULL, *w;
    const char *argv[40] = {REDIS_CLI, "-p", portbuf};
    int n = 3, status;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(line, sizeof(line), "%s", words);
    for (w = strtok_r(line, " ", &save); w && n < 39; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    status = run_tool(argv, out, sizeof(out));
    ck_assert_msg(tool_ok(status), "redis-cli %s: status %d: %s", words, status, out);
    ck_assert_msg(strcmp(out, want) == 0, "redis-cli %s:\n got: '%s'\nwant: '%s'", words, out,
                  want);
}

/* ------------------------------------------------------ raw connections */

static void send_all(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(tu_send(fd, p, n), (ssize_t)n);
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Read exactly strlen(want) bytes (10 s at most) and compare. */
static void expect_bytes(int fd, const char *want)
{
    size_t n = strlen(want), got = 0;
    char *buf = malloc(n + 1);

    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        ck_assert_msg(r > 0, "waiting for '%s': %s after '%.*s'", want,
                      r == 0 ? "EOF" : strerror(errno), (int)got, buf);
        got += (size_t)r;
    }
    buf[n] = '\0';
    ck_assert_msg(memcmp(buf, want, n) == 0, "got '%s', want '%s'", buf, want);
    free(buf);
}

/* The server must close the connection now (EOF or reset, nothing more). */
static void expect_eof(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, 0);

    ck_assert_msg(r == 0 || (r < 0 && errno == ECONNRESET), "expected EOF, got %zd (%s)", r,
                  r < 0 ? strerror(errno) : "data");
}

/* One reply line (through its LF) into buf, NUL-terminated. */
static void read_line(int fd, char *buf, size_t cap)
{
    size_t i = 0;

    do
        ck_assert_msg(recv(fd, buf + i, 1, 0) == 1, "no reply line: %s", strerror(errno));
    while (buf[i] != '\n' && ++i < cap - 1);
    buf[i + 1 < cap ? i + 1 : i] = '\0';
}

/* One request on a fresh connection: the reply, then (closed) EOF. */
static void exchange(int port, const char *req, const char *reply, int closed)
{
    int fd = tu_blocking_client(port);

    send_str(fd, req);
    expect_bytes(fd, reply);
    if (closed)
        expect_eof(fd);
    close(fd);
}

/* Read one bulk reply ("$n\r\n...\r\n") into a malloc'd string. */
static char *read_bulk(int fd)
{
    char hdr[32], *body;
    size_t i, n;

    read_line(fd, hdr, sizeof(hdr));
    ck_assert_msg(hdr[0] == '$', "not a bulk reply: %s", hdr);
    n = strtoul(hdr + 1, NULL, 10);
    body = malloc(n + 3);
    for (i = 0; i < n + 2;) {
        ssize_t r = recv(fd, body + i, n + 2 - i, 0);
        ck_assert_int_gt(r, 0);
        i += (size_t)r;
    }
    body[n] = '\0';
    return body;
}

/* A field of an INFO reply ("name:value"), as a number. */
static unsigned long long info_field(int fd, const char *section, const char *name)
{
    char req[64], key[64], *info, *at;
    unsigned long long v;

    snprintf(req, sizeof(req), "INFO %s\r\n", section);
    send_str(fd, req);
    info = read_bulk(fd);
    snprintf(key, sizeof(key), "\r\n%s:", name);
    at = strstr(info, key);
    ck_assert_msg(at != NULL, "no %s in INFO %s: %s", name, section, info);
    v = strtoull(at + strlen(key), NULL, 10);
    free(info);
    return v;
}

/* A short pause for bounded polling loops (never used to order events). */
static void tick(void)
{
    poll(NULL, 0, 5);
}

/* Append one bulk string ("$n\r\n" bytes "\r\n") to buf at *len. */
static void put_bulk(char *buf, size_t *len, const char *p, size_t n)
{
    *len += (size_t)sprintf(buf + *len, "$%zu\r\n", n);
    memcpy(buf + *len, p, n);
    *len += n;
    memcpy(buf + *len, "\r\n", 2);
    *len += 2;
}

/* Send one multibulk command: "*2" NAME ARG, ARG of n bytes (any bytes). */
static void send_cmd2(int fd, const char *name, const char *a, size_t n)
{
    char *req = malloc(n + 64);
    size_t len = (size_t)sprintf(req, "*2\r\n");

    put_bulk(req, &len, name, strlen(name));
    put_bulk(req, &len, a, n);
    send_all(fd, req, len);
    free(req);
}

/* Read exactly n bytes and compare them with want (any bytes); what names
 * the exchange in the failure message. */
static void expect_mem(int fd, const char *want, size_t n, const char *what)
{
    char *buf = malloc(n + 1);
    size_t got = 0;

    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        ck_assert_msg(r > 0, "%s: %s after %zu of %zu bytes", what,
                      r == 0 ? "EOF" : strerror(errno), got, n);
        got += (size_t)r;
    }
    ck_assert_msg(memcmp(buf, want, n) == 0, "%s: got '%.*s', want '%.*s'", what, (int)n, buf,
                  (int)n, want);
    free(buf);
}

/* Reset a connection (RST, not FIN), as a crashing or hostile client does. */
static void reset_close(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}


/*
 * Whether a daemon's resident size says something about its buffers: not
 * under valgrind, nor with AddressSanitizer (both keep freed blocks in a
 * quarantine, and ASan's allocator ignores glibc's trimming), and only
 * with glibc, whose malloc_trim the daemon uses.
 */
#if defined(__SANITIZE_ADDRESS__)
#define KVD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define KVD_SANITIZED 1
#endif
#endif
#ifndef KVD_SANITIZED
#define KVD_SANITIZED 0
#endif
static int rss_meaningful(void)
{
#ifdef __GLIBC__
    return !KVD_SANITIZED && !tu_slow();
#else
    return 0;
#endif
}

/* Wait (bounded) until the server has read `total` bytes in all, as INFO
 * on ctl counts them; *total grows by the INFO requests themselves. */
static void wait_input(int ctl, unsigned long long *total)
{
    unsigned long long got = 0;
    int i;

    for (i = 0; i < 2000; i++) {
        *total += strlen("INFO stats\r\n");
        if ((got = info_field(ctl, "stats", "total_net_input_bytes")) >= *total)
            return;
        tick();
    }
    ck_abort_msg("the server read %llu of %llu bytes", got, *total);
}

/* ----------------------------------------------------------------- tests */

/* Every command and its error replies, through redis-cli; the expected
 * outputs were recorded against redis-server 7.0.15 (redis-cli prints an
 * error reply's text and a blank line, nil as an empty line). */
typedef struct cli_case {
    const char *cmd, *out;
} cli_case;

static const cli_case transcript[] = {
    {"FLUSHALL", "OK\n"},
    {"PING", "PONG\n"},
    {"PING hello", "hello\n"},
    {"PING a b", "ERR wrong number of arguments for 'ping' command\n\n"},
    {"ECHO", "ERR wrong number of arguments for 'echo' command\n\n"},
    {"ECHO hi", "hi\n"},
    {"ECHO a b", "ERR wrong number of arguments for 'echo' command\n\n"},
    {"SET foo bar", "OK\n"},
    {"SET foo bar baz", "ERR syntax error\n\n"},
    {"SET foo bar EX", "ERR syntax error\n\n"},
    {"SET foo bar EX abc", "ERR value is not an integer or out of range\n\n"},
    {"SET foo bar EX -1", "ERR invalid expire time in 'set' command\n\n"},
    {"SET foo bar PX 0", "ERR invalid expire time in 'set' command\n\n"},
    {"SET foo bar EX 9223372036854775807", "ERR invalid expire time in 'set' command\n\n"},
    {"SET foo bar PX 9223372036854775807", "ERR invalid expire time in 'set' command\n\n"},
    {"SET foo bar EX 10 PX 10", "ERR syntax error\n\n"},
    {"SET foo bar EX 10 EX 20", "OK\n"},
    {"SET foo bar KEEPTTL EX 10", "ERR syntax error\n\n"},
    {"SET foo bar NX XX", "ERR syntax error\n\n"},
    {"SET foo bar NX", "\n"},
    {"SET new1 v XX", "\n"},
    {"SET new1 v NX", "OK\n"},
    {"SET new1 w GET", "v\n"},
    {"SET new2 w NX GET", "\n"},
    {"SET new2 z NX GET", "w\n"},
    {"GET new2", "w\n"},
    {"SET foo bar xx get", "bar\n"},
    {"GET", "ERR wrong number of arguments for 'get' command\n\n"},
    {"GET foo", "bar\n"},
    {"GET foo bar", "ERR wrong number of arguments for 'get' command\n\n"},
    {"DEL", "ERR wrong number of arguments for 'del' command\n\n"},
    {"DEL foo nokey foo", "1\n"},
    {"EXISTS", "ERR wrong number of arguments for 'exists' command\n\n"},
    {"EXISTS new1 new1 nokey", "2\n"},
    {"SET n 10", "OK\n"},
    {"INCR n", "11\n"},
    {"INCR n x", "ERR wrong number of arguments for 'incr' command\n\n"},
    {"DECR n", "10\n"},
    {"INCRBY n", "ERR wrong number of arguments for 'incrby' command\n\n"},
    {"INCRBY n 5", "15\n"},
    {"INCRBY n x", "ERR value is not an integer or out of range\n\n"},
    {"INCRBY n 1.5", "ERR value is not an integer or out of range\n\n"},
    {"DECRBY n 3", "12\n"},
    {"DECRBY n -9223372036854775808", "ERR decrement would overflow\n\n"},
    {"SET big 9223372036854775807", "OK\n"},
    {"INCR big", "ERR increment or decrement would overflow\n\n"},
    {"DECRBY big -1", "ERR increment or decrement would overflow\n\n"},
    {"SET small -9223372036854775808", "OK\n"},
    {"DECR small", "ERR increment or decrement would overflow\n\n"},
    {"INCRBY small -1", "ERR increment or decrement would overflow\n\n"},
    {"SET s abc", "OK\n"},
    {"INCR s", "ERR value is not an integer or out of range\n\n"},
    {"SET lz 007", "OK\n"},
    {"INCR lz", "ERR value is not an integer or out of range\n\n"},
    {"SET pl +5", "OK\n"},
    {"INCR pl", "ERR value is not an integer or out of range\n\n"},
    {"APPEND", "ERR wrong number of arguments for 'append' command\n\n"},
    {"APPEND s def", "6\n"},
    {"APPEND newapp xyz", "3\n"},
    {"STRLEN s", "6\n"},
    {"STRLEN nokey", "0\n"},
    {"STRLEN", "ERR wrong number of arguments for 'strlen' command\n\n"},
    {"MGET", "ERR wrong number of arguments for 'mget' command\n\n"},
    {"MGET s nokey newapp", "abcdef\n\nxyz\n"},
    {"MSET", "ERR wrong number of arguments for 'mset' command\n\n"},
    {"MSET a", "ERR wrong number of arguments for 'mset' command\n\n"},
    {"MSET a 1 b", "ERR wrong number of arguments for 'mset' command\n\n"},
    {"MSET a 1 b 2", "OK\n"},
    {"MGET a b", "1\n2\n"},
    {"EXPIRE", "ERR wrong number of arguments for 'expire' command\n\n"},
    {"EXPIRE a", "ERR wrong number of arguments for 'expire' command\n\n"},
    {"EXPIRE a x", "ERR value is not an integer or out of range\n\n"},
    {"EXPIRE nokey 10", "0\n"},
    {"EXPIRE a 100", "1\n"},
    {"EXPIRE a 100 NX", "0\n"},
    {"EXPIRE a 200 XX", "1\n"},
    {"EXPIRE a 50 GT", "0\n"},
    {"EXPIRE a 300 GT", "1\n"},
    {"EXPIRE a 400 LT", "0\n"},
    {"EXPIRE a 100 LT", "1\n"},
    {"EXPIRE a 100 NX XX", "ERR NX and XX, GT or LT options at the same time are not compatible\n\n"},
    {"EXPIRE a 100 GT LT", "ERR GT and LT options at the same time are not compatible\n\n"},
    {"EXPIRE a 100 FOO", "ERR Unsupported option FOO\n\n"},
    {"EXPIRE a 9223372036854775807", "ERR invalid expire time in 'expire' command\n\n"},
    {"EXPIRE a -9223372036854775807", "ERR invalid expire time in 'expire' command\n\n"},
    {"PEXPIRE b 100000", "1\n"},
    {"PEXPIRE b 9223372036854775807", "ERR invalid expire time in 'pexpire' command\n\n"},
    {"PEXPIRE b x", "ERR value is not an integer or out of range\n\n"},
    {"TTL", "ERR wrong number of arguments for 'ttl' command\n\n"},
    {"TTL nokey", "-2\n"},
    {"PERSIST b", "1\n"},
    {"PERSIST b", "0\n"},
    {"PERSIST nokey", "0\n"},
    {"PERSIST", "ERR wrong number of arguments for 'persist' command\n\n"},
    {"TTL b", "-1\n"},
    {"EXPIRE b -1", "1\n"},
    {"EXISTS b", "0\n"},
    {"PTTL", "ERR wrong number of arguments for 'pttl' command\n\n"},
    {"PTTL nokey", "-2\n"},
    {"SET t v", "OK\n"},
    {"KEYS", "ERR wrong number of arguments for 'keys' command\n\n"},
    {"KEYS nomatch*", "\n"},
    {"KEYS s", "s\n"},
    {"KEYS s?", "\n"},
    {"KEYS [s]", "s\n"},
    {"KEYS n[^o]w1", "new1\n"},
    {"KEYS \\s", "s\n"},
    {"DBSIZE", "11\n"},
    {"DBSIZE x", "ERR wrong number of arguments for 'dbsize' command\n\n"},
    {"SELECT", "ERR wrong number of arguments for 'select' command\n\n"},
    {"SELECT 0", "OK\n"},
    {"SELECT 1", "ERR DB index is out of range\n\n"},
    {"SELECT -1", "ERR DB index is out of range\n\n"},
    {"SELECT x", "ERR value is not an integer or out of range\n\n"},
    {"SELECT 99999999999999999999", "ERR value is not an integer or out of range\n\n"},
    {"QUIT x", "OK\n"},
    {"CLIENT", "ERR wrong number of arguments for 'client' command\n\n"},
    {"CLIENT GETNAME", "\n"},
    {"CLIENT GETNAME x", "ERR wrong number of arguments for 'client|getname' command\n\n"},
    {"CLIENT SETNAME", "ERR wrong number of arguments for 'client|setname' command\n\n"},
    {"CLIENT SETNAME myname", "OK\n"},
    {"CLIENT FOO", "ERR unknown subcommand 'FOO'. Try CLIENT HELP.\n\n"},
    {"CONFIG", "ERR wrong number of arguments for 'config' command\n\n"},
    {"CONFIG GET", "ERR wrong number of arguments for 'config|get' command\n\n"},
    {"CONFIG GET appendonly", "appendonly\nno\n"},
    {"CONFIG GET save", "save\n\n"},
    {"CONFIG FOO", "ERR unknown subcommand 'FOO'. Try CONFIG HELP.\n\n"},
    {"FOO", "ERR unknown command 'FOO', with args beginning with: \n\n"},
    {"FOO bar baz", "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \n\n"},
    {"flushall x", "ERR syntax error\n\n"},
    {"FLUSHALL ASYNC", "OK\n"},
    {"FLUSHALL SYNC", "OK\n"},
    {"DBSIZE", "0\n"},
    {"INCRBY x 9223372036854775808", "ERR value is not an integer or out of range\n\n"},
    {"SET x 1 px 100 keepttl", "ERR syntax error\n\n"},
    {"SET x 1 get nx", "\n"},
    {"SET x 1 nx get", "1\n"},
};

/* Run a transcript through redis-cli against a fresh sb-kvd (extra: its
 * options, or NULL). */
static void run_transcript(const cli_case *t, size_t n, const char *const *extra)
{
    size_t i, il = 0, wl = 0, cap = 65536;
    char *input = calloc(1, cap), *want = calloc(1, cap), *out = malloc(cap);
    char portbuf[16];
    const char *argv[] = {REDIS_CLI, "-p", portbuf, NULL};
    tu_proc p;
    int port = start_kvd(&p, extra), status;

    if (!tu_slow()) { /* one redis-cli per command */
        for (i = 0; i < n; i++)
            cli_expect(port, t[i].cmd, t[i].out);
    } else {
        /* One redis-cli reading every command from its stdin (a traced
         * redis-cli takes a second to start); QUIT would end its session. */
        for (i = 0; i < n; i++) {
            if (strncmp(t[i].cmd, "QUIT", 4) == 0)
                continue;
            il += (size_t)snprintf(input + il, cap - il, "%s\n", t[i].cmd);
            wl += (size_t)snprintf(want + wl, cap - wl, "%s", t[i].out);
        }
        ck_assert_uint_lt(il, 60000); /* fits in the pipe: see run_tool_input */
        ck_assert_uint_lt(wl, cap - 1);
        snprintf(portbuf, sizeof(portbuf), "%d", port);
        status = run_tool_input(argv, input, out, cap);
        ck_assert_msg(tool_ok(status), "status %d", status);
        ck_assert_str_eq(out, want);
    }
    free(input);
    free(want);
    free(out);
    stop_kvd(&p);
}

START_TEST(test_kvd_cli_transcript)
{
    run_transcript(transcript, sizeof(transcript) / sizeof(transcript[0]), NULL);
}
END_TEST

/*
 * The commands Redis clients rely on beyond the basics: SET's EXAT / PXAT,
 * SETEX, PSETEX, SETNX, GETSET, GETDEL, GETEX, INCRBYFLOAT (values exact in
 * binary, so that valgrind's 64-bit long double gives the same digits),
 * MSETNX, GETRANGE, SETRANGE, SETBIT, GETBIT, BITCOUNT, LCS, TYPE, TOUCH,
 * RENAME[NX], COPY, EXPIREAT & co., SCAN's arguments, RANDOMKEY, COMMAND
 * GETKEYS / LIST / INFO, CONFIG SET / REWRITE / RESETSTAT / HELP, CLIENT
 * KILL's and LIST's arguments, HELLO and AUTH without --requirepass.
 * Every expected output was recorded from redis-cli against redis-server
 * 7.0.15 (the limits that differ, such as --max-bulk, are tested apart).
 */
static const cli_case transcript2[] = {
    {"FLUSHALL", "OK\n"},
    {"SET k v EXAT 1", "OK\n"},
    {"EXISTS k", "0\n"},
    {"SET k v EXAT 0", "ERR invalid expire time in 'set' command\n\n"},
    {"SET k v PXAT -5", "ERR invalid expire time in 'set' command\n\n"},
    {"SET k v EXAT 9223372036854776", "ERR invalid expire time in 'set' command\n\n"},
    {"SET k v PX 9223370399119966000", "ERR invalid expire time in 'set' command\n\n"},
    {"SET k v EX 9223370399119966", "ERR invalid expire time in 'set' command\n\n"},
    {"SET k v EXAT 4000000000", "OK\n"},
    {"EXPIRETIME k", "4000000000\n"},
    {"PEXPIRETIME k", "4000000000000\n"},
    {"SET k v PXAT 4000000000123", "OK\n"},
    {"PEXPIRETIME k", "4000000000123\n"},
    {"EXPIRETIME k", "4000000000\n"},
    {"SET k w KEEPTTL", "OK\n"},
    {"PEXPIRETIME k", "4000000000123\n"},
    {"SET k v EXAT 10 PXAT 10", "ERR syntax error\n\n"},
    {"SET k v EXAT 10 EXAT 20", "OK\n"},
    {"SET k v PERSIST", "ERR syntax error\n\n"},
    {"SET k v EX 10 KEEPTTL", "ERR syntax error\n\n"},
    {"SET k2 w XX GET", "\n"},
    {"SETEX", "ERR wrong number of arguments for 'setex' command\n\n"},
    {"SETEX a 10", "ERR wrong number of arguments for 'setex' command\n\n"},
    {"SETEX a 10 v", "OK\n"},
    {"TTL a", "10\n"},
    {"SETEX a -1 v", "ERR invalid expire time in 'setex' command\n\n"},
    {"SETEX a 0 v", "ERR invalid expire time in 'setex' command\n\n"},
    {"SETEX a x v", "ERR value is not an integer or out of range\n\n"},
    {"SETEX a 9223372036854775807 v", "ERR invalid expire time in 'setex' command\n\n"},
    {"SETEX a 9223370399119966 v", "ERR invalid expire time in 'setex' command\n\n"},
    {"PSETEX a 1000000 v", "OK\n"},
    {"PTTL nokey", "-2\n"},
    {"PSETEX a 0 v", "ERR invalid expire time in 'psetex' command\n\n"},
    {"PSETEX a 9223370399119966000 v", "ERR invalid expire time in 'psetex' command\n\n"},
    {"SETNX a v", "0\n"},
    {"SETNX newk v", "1\n"},
    {"SETNX newk w", "0\n"},
    {"GET newk", "v\n"},
    {"SETNX a", "ERR wrong number of arguments for 'setnx' command\n\n"},
    {"GETSET newk z", "v\n"},
    {"GETSET nope z", "\n"},
    {"TTL a", "1000\n"},
    {"GETSET a q", "v\n"},
    {"TTL a", "-1\n"},
    {"GETDEL a", "q\n"},
    {"GETDEL a", "\n"},
    {"GETDEL", "ERR wrong number of arguments for 'getdel' command\n\n"},
    {"GETEX", "ERR wrong number of arguments for 'getex' command\n\n"},
    {"GETEX nokey", "\n"},
    {"GETEX nokey EX -1", "\n"},
    {"GETEX nokey FOO", "ERR syntax error\n\n"},
    {"SET g val", "OK\n"},
    {"GETEX g", "val\n"},
    {"GETEX g EX 100", "val\n"},
    {"TTL g", "100\n"},
    {"GETEX g EXAT 4000000000", "val\n"},
    {"EXPIRETIME g", "4000000000\n"},
    {"GETEX g PXAT 4000000000000", "val\n"},
    {"PEXPIRETIME g", "4000000000000\n"},
    {"GETEX g PERSIST", "val\n"},
    {"TTL g", "-1\n"},
    {"GETEX g EX 0", "ERR invalid expire time in 'getex' command\n\n"},
    {"GETEX g EX x", "ERR value is not an integer or out of range\n\n"},
    {"GETEX g EX 9223372036854775807", "ERR invalid expire time in 'getex' command\n\n"},
    {"GETEX g EX 10 PX 10", "ERR syntax error\n\n"},
    {"GETEX g PERSIST EX 10", "ERR syntax error\n\n"},
    {"GETEX g KEEPTTL", "ERR syntax error\n\n"},
    {"GETEX g EX", "ERR syntax error\n\n"},
    {"GETEX g EXAT 1", "val\n"},
    {"EXISTS g", "0\n"},
    {"SET f 10.50", "OK\n"},
    {"INCRBYFLOAT f 0.25", "10.75\n"},
    {"INCRBYFLOAT f -5", "5.75\n"},
    {"INCRBYFLOAT f 0", "5.75\n"},
    {"SET f 5.0e3", "OK\n"},
    {"INCRBYFLOAT f 2.0e2", "5200\n"},
    {"INCRBYFLOAT f abc", "ERR value is not a valid float\n\n"},
    {"INCRBYFLOAT f nan", "ERR value is not a valid float\n\n"},
    {"INCRBYFLOAT newf 3", "3\n"},
    {"INCRBYFLOAT newf2 -0", "0\n"},
    {"INCRBYFLOAT newf3 0x10", "16\n"},
    {"SET s abc", "OK\n"},
    {"INCRBYFLOAT s 1", "ERR value is not a valid float\n\n"},
    {"INCRBYFLOAT f", "ERR wrong number of arguments for 'incrbyfloat' command\n\n"},
    {"SET f 1.5", "OK\n"},
    {"EXPIRE f 100", "1\n"},
    {"INCRBYFLOAT f 1", "2.5\n"},
    {"TTL f", "100\n"},
    {"MSETNX", "ERR wrong number of arguments for 'msetnx' command\n\n"},
    {"MSETNX a 1 b", "ERR wrong number of arguments for 'msetnx' command\n\n"},
    {"MSETNX m1 1 m2 2", "1\n"},
    {"MSETNX m2 3 m3 3", "0\n"},
    {"MGET m1 m2 m3", "1\n2\n\n"},
    {"MSETNX m4 1 m4 2", "1\n"},
    {"GET m4", "2\n"},
    {"SET r Thisisastring", "OK\n"},
    {"GETRANGE r 0 3", "This\n"},
    {"GETRANGE r -3 -1", "ing\n"},
    {"GETRANGE r 0 -1", "Thisisastring\n"},
    {"GETRANGE r 10 100", "ing\n"},
    {"GETRANGE r -1 -5", "\n"},
    {"GETRANGE r 5 3", "\n"},
    {"GETRANGE r -100 2", "Thi\n"},
    {"GETRANGE nokey 0 -1", "\n"},
    {"GETRANGE r x 1", "ERR value is not an integer or out of range\n\n"},
    {"GETRANGE r 0 9223372036854775807", "Thisisastring\n"},
    {"GETRANGE r -9223372036854775808 5", "Thisis\n"},
    {"SUBSTR r 0 3", "This\n"},
    {"SET sr HelloWorld", "OK\n"},
    {"SETRANGE sr 5 Redis", "10\n"},
    {"GET sr", "HelloRedis\n"},
    {"SETRANGE sr2 6 Redis", "11\n"},
    {"STRLEN sr2", "11\n"},
    {"SETRANGE sr -1 x", "ERR offset is out of range\n\n"},
    {"SETRANGE sr x x", "ERR value is not an integer or out of range\n\n"},
    {"SETRANGE sr 9223372036854775807 x",
     "ERR string exceeds maximum allowed size (proto-max-bulk-len)\n\n"},
    {"SETBIT b 7 1", "0\n"},
    {"GET b", "\n"},
    {"SETBIT b 7 0", "1\n"},
    {"SETBIT b 7 1", "0\n"},
    {"SETBIT b 100 1", "0\n"},
    {"STRLEN b", "13\n"},
    {"GETBIT b 100", "1\n"},
    {"GETBIT b 101", "0\n"},
    {"GETBIT b 100000", "0\n"},
    {"GETBIT nob 0", "0\n"},
    {"GETBIT b -1", "ERR bit offset is not an integer or out of range\n\n"},
    {"GETBIT b x", "ERR bit offset is not an integer or out of range\n\n"},
    {"SETBIT b 1 2", "ERR bit is not an integer or out of range\n\n"},
    {"SETBIT b 1 x", "ERR bit is not an integer or out of range\n\n"},
    {"SETBIT b -1 1", "ERR bit offset is not an integer or out of range\n\n"},
    {"SETBIT b 9223372036854775807 1", "ERR bit offset is not an integer or out of range\n\n"},
    {"SET bc foobar", "OK\n"},
    {"BITCOUNT bc", "26\n"},
    {"BITCOUNT bc 0 0", "4\n"},
    {"BITCOUNT bc 1 1 BYTE", "6\n"},
    {"BITCOUNT bc 5 30 BIT", "17\n"},
    {"BITCOUNT bc 0 -1 BIT", "26\n"},
    {"BITCOUNT bc -5 -1 BIT", "2\n"},
    {"BITCOUNT bc 7 9 BIT", "1\n"},
    {"BITCOUNT bc -1 -2", "0\n"},
    {"BITCOUNT bc 0", "ERR syntax error\n\n"},
    {"BITCOUNT bc 0 1 FOO", "ERR syntax error\n\n"},
    {"BITCOUNT bc a b", "ERR value is not an integer or out of range\n\n"},
    {"BITCOUNT nokey a b", "0\n"},
    {"BITCOUNT bc 100 200", "0\n"},
    {"BITCOUNT bc -100 100 BIT", "26\n"},
    {"MSET l1 ohmytext l2 mynewtext", "OK\n"},
    {"LCS l1 l2", "mytext\n"},
    {"LCS l1 l2 LEN", "6\n"},
    {"LCS l1 l2 IDX", "matches\n4\n7\n5\n8\n2\n3\n0\n1\nlen\n6\n"},
    {"LCS l1 l2 IDX MINMATCHLEN 4", "matches\n4\n7\n5\n8\nlen\n6\n"},
    {"LCS l1 l2 IDX MINMATCHLEN 4 WITHMATCHLEN", "matches\n4\n7\n5\n8\n4\nlen\n6\n"},
    {"LCS l1 l2 LEN IDX", "ERR If you want both the length and indexes, please just use IDX.\n\n"},
    {"LCS l1 l2 FOO", "ERR syntax error\n\n"},
    {"LCS l1 l2 MINMATCHLEN x", "ERR value is not an integer or out of range\n\n"},
    {"LCS l1 nokey", "\n"},
    {"LCS l1 l1 IDX", "matches\n0\n7\n0\n7\nlen\n8\n"},
    {"LCS l1", "ERR wrong number of arguments for 'lcs' command\n\n"},
    {"FLUSHALL", "OK\n"},
    {"SET a 1", "OK\n"},
    {"TYPE a", "string\n"},
    {"TYPE nokey", "none\n"},
    {"TOUCH a a nokey", "2\n"},
    {"RENAME a b", "OK\n"},
    {"GET b", "1\n"},
    {"EXISTS a", "0\n"},
    {"RENAME a b", "ERR no such key\n\n"},
    {"RENAME b b", "OK\n"},
    {"RENAMENX b b", "0\n"},
    {"SET c 2", "OK\n"},
    {"RENAMENX b c", "0\n"},
    {"RENAMENX b d", "1\n"},
    {"EXPIRE d 1000", "1\n"},
    {"RENAME d e", "OK\n"},
    {"TTL e", "1000\n"},
    {"SET f 3", "OK\n"},
    {"RENAME e f", "OK\n"},
    {"TTL f", "1000\n"},
    {"COPY f g", "1\n"},
    {"GET g", "1\n"},
    {"TTL g", "1000\n"},
    {"COPY f g", "0\n"},
    {"COPY f g REPLACE", "1\n"},
    {"COPY f f", "ERR source and destination objects are the same\n\n"},
    {"COPY nokey g", "0\n"},
    {"COPY f h DB 0", "1\n"},
    {"COPY f h3 DB x", "ERR value is not an integer or out of range\n\n"},
    {"COPY f h4 DB 99999999999",
     "ERR value is out of range, value must between -2147483648 and 2147483647\n\n"},
    {"COPY f h5 FOO", "ERR syntax error\n\n"},
    {"COPY f h6 DB", "ERR syntax error\n\n"},
    {"EXPIREAT f 4000000000", "1\n"},
    {"EXPIRETIME f", "4000000000\n"},
    {"PEXPIRETIME f", "4000000000000\n"},
    {"PEXPIREAT f 4000000000123", "1\n"},
    {"PEXPIRETIME f", "4000000000123\n"},
    {"EXPIRETIME f", "4000000000\n"},
    {"EXPIREAT f 4000000001 NX", "0\n"},
    {"EXPIREAT f 4000000001 XX", "1\n"},
    {"EXPIREAT f 3000000000 GT", "0\n"},
    {"EXPIREAT f 4100000000 GT", "1\n"},
    {"EXPIREAT f 4200000000 LT", "0\n"},
    {"EXPIREAT f 3900000000 LT", "1\n"},
    {"EXPIRETIME f", "3900000000\n"},
    {"EXPIREAT f 9223372036854775807", "ERR invalid expire time in 'expireat' command\n\n"},
    {"EXPIREAT f -9223372036854776", "ERR invalid expire time in 'expireat' command\n\n"},
    {"EXPIRETIME nokey", "-2\n"},
    {"EXPIRETIME c", "-1\n"},
    {"EXPIREAT c 1", "1\n"},
    {"EXISTS c", "0\n"},
    {"SET c 2", "OK\n"},
    {"PEXPIREAT c -9223372036854775808", "1\n"},
    {"EXISTS c", "0\n"},
    {"SET c 2", "OK\n"},
    {"EXPIRE c 9223370399119966", "ERR invalid expire time in 'expire' command\n\n"},
    {"PEXPIRE c 9223370399119966000", "ERR invalid expire time in 'pexpire' command\n\n"},
    {"EXPIRE c 9223372036854775", "ERR invalid expire time in 'expire' command\n\n"},
    {"PEXPIRE c -9223372036854775808", "1\n"},
    {"EXISTS c", "0\n"},
    {"SELECT 99999999999",
     "ERR value is out of range, value must between -2147483648 and 2147483647\n\n"},
    {"SCAN x", "ERR invalid cursor\n\n"},
    {"SCAN 0x", "ERR invalid cursor\n\n"},
    {"SCAN 18446744073709551616", "ERR invalid cursor\n\n"},
    {"SCAN 0 COUNT 0", "ERR syntax error\n\n"},
    {"SCAN 0 COUNT x", "ERR value is not an integer or out of range\n\n"},
    {"SCAN 0 FOO bar", "ERR syntax error\n\n"},
    {"FLUSHALL", "OK\n"},
    {"SCAN 0", "0\n\n"},
    {"RANDOMKEY", "\n"},
    {"SET only 1", "OK\n"},
    {"RANDOMKEY", "only\n"},
    {"SCAN 0", "0\nonly\n"},
    {"SCAN 0 TYPE STRING", "0\nonly\n"},
    {"SCAN 0 TYPE list", "0\n\n"},
    {"SCAN 0 MATCH o*", "0\nonly\n"},
    {"SCAN 0 MATCH x*", "0\n\n"},
    {"SCAN 0 COUNT 1000 MATCH * TYPE string", "0\nonly\n"},
    {"SCAN -0", "0\nonly\n"},
    {"COMMAND FOO", "ERR unknown subcommand 'FOO'. Try COMMAND HELP.\n\n"},
    {"COMMAND GETKEYS mset a 1 b", "a\nb\n"},
    {"COMMAND GETKEYS get a", "a\n"},
    {"COMMAND GETKEYS ping x", "ERR The command has no key arguments\n\n"},
    {"COMMAND GETKEYS client foo", "ERR Invalid command specified\n\n"},
    {"COMMAND GETKEYS MSET a", "ERR Invalid number of arguments specified for command\n\n"},
    {"COMMAND GETKEYS lcs a b", "a\nb\n"},
    {"COMMAND COUNT x", "ERR wrong number of arguments for 'command|count' command\n\n"},
    {"COMMAND INFO client|id",
     "client|id\n2\nnoscript\nloading\nstale\n0\n0\n0\n@slow\n@connection\n\n\n\n"},
    {"COMMAND INFO foo|bar", "\n"},
    {"COMMAND LIST FILTERBY", "ERR syntax error\n\n"},
    {"COMMAND LIST x", "ERR syntax error\n\n"},
    {"COMMAND LIST FILTERBY ACLCAT foo", "\n"},
    {"COMMAND LIST FILTERBY PATTERN getr*", "getrange\n"},
    {"COMMAND LIST FILTERBY PATTERN client|k*", "client|kill\n"},
    {"COMMAND LIST FILTERBY MODULE x", "\n"},
    {"CONFIG SET foo 1", "ERR Unknown option or number of arguments for CONFIG SET - 'foo'\n\n"},
    {"CONFIG SET maxmemory", "ERR wrong number of arguments for 'config|set' command\n\n"},
    {"CONFIG SET daemonize yes",
     "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set "
     "immutable config\n\n"},
    {"CONFIG SET appendonly no", "OK\n"},
    {"CONFIG REWRITE", "ERR The server is running without a config file\n\n"},
    {"CONFIG RESETSTAT", "OK\n"},
    {"CONFIG GET requirepass", "requirepass\n\n"},
    {"CONFIG GET maxmemory-policy", "maxmemory-policy\nnoeviction\n"},
    {"CONFIG GET nonexistent", "\n"},
    {"CONFIG HELP",
     "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\nGET <pattern>\n"
     "    Return parameters matching the glob-like <pattern> and their values.\n"
     "SET <directive> <value>\n    Set the configuration <directive> to <value>.\n"
     "RESETSTAT\n    Reset statistics reported by the INFO command.\nREWRITE\n"
     "    Rewrite the configuration file.\nHELP\n    Prints this help.\n"},
    {"CLIENT KILL 1.2.3.4:5", "ERR No such client\n\n"},
    {"CLIENT KILL ID 0", "ERR client-id should be greater than 0\n\n"},
    {"CLIENT KILL ID 99999", "0\n"},
    {"CLIENT KILL ADDR 1.2.3.4:5 ID", "ERR syntax error\n\n"},
    {"CLIENT KILL TYPE foo", "ERR Unknown client type 'foo'\n\n"},
    {"CLIENT KILL TYPE normal SKIPME maybe", "ERR syntax error\n\n"},
    {"CLIENT KILL USER bob", "ERR No such user 'bob'\n\n"},
    {"CLIENT KILL FOO bar", "ERR syntax error\n\n"},
    {"CLIENT KILL TYPE master", "0\n"},
    {"CLIENT LIST TYPE foo", "ERR Unknown client type 'foo'\n"},
    {"CLIENT LIST ID x", "ERR Invalid client ID\n"},
    {"CLIENT LIST ID 999", ""},
    {"CLIENT LIST TYPE replica", ""},
    {"HELLO 4", "NOPROTO unsupported protocol version\n\n"},
    {"HELLO 3x", "ERR Protocol version is not an integer or out of range\n\n"},
    {"HELLO 2 FOO", "ERR Syntax error in HELLO option 'FOO'\n\n"},
    {"HELLO 2 AUTH a", "ERR Syntax error in HELLO option 'AUTH'\n\n"},
    {"AUTH x",
     "ERR AUTH <password> called without any password configured for the default user. Are "
     "you sure your configuration is correct?\n\n"},
    {"AUTH default x", "OK\n"},
    {"AUTH a b c", "ERR syntax error\n\n"},
    {"HELLO 2 AUTH bob x", "WRONGPASS invalid username-password pair or user is disabled.\n\n"},
};

START_TEST(test_kvd_cli_commands)
{
    run_transcript(transcript2, sizeof(transcript2) / sizeof(transcript2[0]), NULL);
}
END_TEST

/* TTL rounding, KEYS with several matches, INFO, COMMAND, CONFIG, and
 * names kept per connection. */
START_TEST(test_kvd_cli_more)
{
    char portbuf[16], out[65536];
    const char *info[] = {REDIS_CLI, "-p", portbuf, "INFO", NULL};
    const char *cmdinfo[] = {REDIS_CLI, "-p", portbuf, "COMMAND", "INFO", "get", NULL};
    tu_proc p;
    int port = start_kvd(&p, NULL), a, b, n;
    long ttl;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    cli_expect(port, "SET k v EX 1000", "OK\n");
    {
        const char *argv[] = {REDIS_CLI, "-p", portbuf, "TTL", "k", NULL};
        run_tool(argv, out, sizeof(out));
        ttl = strtol(out, NULL, 10);
        ck_assert_msg(ttl > 900 && ttl <= 1000, "TTL %s", out);
    }
    cli_expect(port, "MSET user:1 a user:2 b user:10 c other d", "OK\n");
    {
        const char *argv[] = {REDIS_CLI, "-p", portbuf, "KEYS", "user:?", NULL};
        run_tool(argv, out, sizeof(out));
        ck_assert_msg(strcmp(out, "user:1\nuser:2\n") == 0 || strcmp(out, "user:2\nuser:1\n") == 0,
                      "KEYS user:? gave '%s'", out);
    }
    {
        const char *argv[] = {REDIS_CLI, "-p", portbuf, "KEYS", "*", NULL};
        run_tool(argv, out, sizeof(out));
        for (n = 0, a = 0; out[a]; a++)
            n += out[a] == '\n';
        ck_assert_msg(n == 5, "KEYS * gave '%s'", out);
    }
    cli_expect(port, "KEYS user:1[0-9]", "user:10\n");
    cli_expect(port, "KEYS *:3*", "\n"); /* an empty array */
    cli_expect(port, "DBSIZE", "5\n");
    run_tool(info, out, sizeof(out));
    ck_assert_msg(strstr(out, "# Server\r\nredis_version:") && strstr(out, "# Reactor\r\n") &&
                      strstr(out, "loop_iterations:") && strstr(out, "total_commands_processed:") &&
                      strstr(out, "total_net_input_bytes:") && strstr(out, "connected_clients:1") &&
                      strstr(out, "db0:keys=5,expires=1"),
                  "INFO: %s", out);
    cli_expect(port, "COMMAND COUNT", "58\n");
    run_tool(cmdinfo, out, sizeof(out));
    /* Redis 7.0's entry, but for the key specs (none here). */
    ck_assert_msg(strcmp(out, "get\n2\nreadonly\nfast\n1\n1\n1\n@read\n@string\n@fast\n\n\n\n") == 0,
                  "COMMAND INFO: %s", out);
    cli_expect(port, "CONFIG GET max*",
               "maxmemory-policy\nnoeviction\nmaxmemory\n0\nmaxclients\n10000\n"
               "maxmemory-samples\n5\n");

    /* CLIENT SETNAME is per connection. */
    a = tu_blocking_client(port);
    b = tu_blocking_client(port);
    send_str(a, "CLIENT SETNAME alpha\r\nCLIENT GETNAME\r\n");
    expect_bytes(a, "+OK\r\n$5\r\nalpha\r\n");
    send_str(b, "CLIENT GETNAME\r\nCLIENT SETNAME beta\r\n");
    expect_bytes(b, "$-1\r\n+OK\r\n");
    send_str(a, "CLIENT GETNAME\r\nCLIENT SETNAME \"a b\"\r\n");
    expect_bytes(a, "$5\r\nalpha\r\n-ERR Client names cannot contain spaces, newlines or special "
                    "characters.\r\n");
    /* redis-cli 7 asks for COMMAND DOCS when it starts interactively: an
     * error makes it fall back to COMMAND. */
    send_str(b, "COMMAND DOCS\r\nCOMMAND\r\n");
    expect_bytes(b, "-ERR unknown subcommand 'DOCS'. Try COMMAND HELP.\r\n*58\r\n*10\r\n"
                    "$6\r\nappend\r\n:3\r\n");
    close(a);
    close(b);
    stop_kvd(&p);
}
END_TEST

/* redis-benchmark -q: every test line reports requests per second. */
static void benchmark(int port, const char *pipeline)
{
    char portbuf[16], nbuf[16], out[16384], *line, *save = NULL;
    const char *argv[20] = {REDIS_BENCHMARK, "-q", "-p", portbuf, "-n", nbuf, "-c", "50",
                            "-t", "ping,set,get,incr,mset"};
    int n = 10, lines = 0, status;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(nbuf, sizeof(nbuf), "%d", tu_slow() ? 500 : 20000);
    if (pipeline) {
        argv[n++] = "-P";
        argv[n++] = pipeline;
    }
    argv[n] = NULL;
    status = run_tool(argv, out, sizeof(out));
    ck_assert_msg(tool_ok(status), "status %d: %s", status, out);
    ck_assert_msg(!strstr(out, "ERR") && !strstr(out, "WARN"), "%s", out);
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *last = strrchr(line, '\r'); /* progress lines end with \r */
        last = last ? last + 1 : line;
        if (!*last)
            continue;
        ck_assert_msg(strstr(last, "requests per second") != NULL, "line: %s", last);
        lines++;
    }
    /* PING_INLINE, PING_MBULK, SET, GET, INCR, MSET */
    ck_assert_int_eq(lines, 6);
}

START_TEST(test_kvd_benchmark)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), fd;

    benchmark(port, NULL);
    benchmark(port, "16");
    fd = tu_blocking_client(port);
    ck_assert_uint_gt(info_field(fd, "stats", "total_commands_processed"), 6 * 500);
    ck_assert_uint_eq(info_field(fd, "stats", "rejected_connections"), 0);
    close(fd);
    stop_kvd(&p);
}
END_TEST

/* A broken stream is answered with "-ERR Protocol error: ..." and closed
 * after the replies already due. */
START_TEST(test_kvd_protocol_errors)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), fd;

    /* Desync: a bulk header cut short, then garbage where "$" belongs. */
    fd = tu_blocking_client(port);
    send_str(fd, "PING\r\n*2\r\n$3\r\nGET\r\n$");
    expect_bytes(fd, "+PONG\r\n");
    send_str(fd, "1x\r\nabc\r\n");
    expect_bytes(fd, "-ERR Protocol error: invalid bulk length\r\n");
    expect_eof(fd);
    close(fd);
    exchange(port, "*2\r\n$3\r\nGET\r\nxyz\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n", 1);
    exchange(port, "*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n", 1);
    exchange(port, "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n", 1);
    exchange(port, "*1048577\r\n", "-ERR Protocol error: invalid multibulk length\r\n", 1);
    exchange(port, "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n", 1);
    exchange(port, "*1\r\n$4\r\nPINGxx", "-ERR Protocol error: bulk string not terminated by CRLF\r\n",
             1);
    exchange(port, "SET a \"b\"c\r\nPING\r\n",
             "-ERR Protocol error: unbalanced quotes in request\r\n", 1);
    exchange(port, "ECHO 'abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n", 1);
    /* What is not an error: empty lines, "*0", "*-1", LF-only lines. */
    exchange(port, "\r\n\n*0\r\n*-1\r\nPING\nECHO \"a\\x41\\n\" 'b\\'c'\r\n",
             "+PONG\r\n-ERR wrong number of arguments for 'echo' command\r\n", 0);
    exchange(port, "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\r\n\r\n",
             "$0\r\n\r\n$4\r\n\r\n\r\n\r\n", 0);
    exchange(port, "QUIT\r\nPING\r\n", "+OK\r\n", 1);
    stop_kvd(&p);
}
END_TEST

/* Over-long lines, hostile lengths, the bulk and query caps. */
START_TEST(test_kvd_limits)
{
    const char *extra[] = {"--max-bulk", "1k", "--max-query", "4k", NULL};
    char *big = malloc(70000), hdr[64];
    tu_proc p;
    int port = start_kvd(&p, extra), fd;

    /* An inline command longer than 64 KiB, no newline in sight. */
    memset(big, 'x', 70000);
    fd = tu_blocking_client(port);
    send_all(fd, big, 70000);
    expect_bytes(fd, "-ERR Protocol error: too big inline request\r\n");
    expect_eof(fd);
    close(fd);
    /* A "$" line longer than 64 KiB. */
    fd = tu_blocking_client(port);
    send_str(fd, "*1\r\n$");
    memset(big, '1', 70000);
    send_all(fd, big, 70000);
    expect_bytes(fd, "-ERR Protocol error: too big bulk count string\r\n");
    expect_eof(fd);
    close(fd);
    /* Hostile lengths are refused from the header alone, at once. */
    exchange(port, "*2\r\n$3\r\nGET\r\n$99999999999\r\n",
             "-ERR Protocol error: invalid bulk length\r\n", 1);
    exchange(port, "*1\r\n$1025\r\n", "-ERR Protocol error: invalid bulk length\r\n", 1);
    /* The longest bulk allowed, and APPEND beyond it. */
    fd = tu_blocking_client(port);
    send_str(fd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1024\r\n");
    memset(big, 'v', 1024);
    send_all(fd, big, 1024);
    send_str(fd, "\r\nSTRLEN k\r\nAPPEND k x\r\n");
    expect_bytes(fd, "+OK\r\n:1024\r\n"
                     "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    /* A command whose arguments would pass the query cap: a protocol
     * error, then the close, from the headers alone (test_kvd_query_limit
     * has the exact bound). */
    snprintf(hdr, sizeof(hdr), "*9\r\n$4\r\nMSET\r\n");
    send_str(fd, hdr);
    for (int i = 0; i < 4; i++) {
        send_str(fd, "$1\r\nk\r\n$1000\r\n");
        send_all(fd, big, 1000);
        send_str(fd, "\r\n");
    }
    expect_bytes(fd, "-ERR Protocol error: query buffer limit exceeded\r\n");
    expect_eof(fd);
    close(fd);
    free(big);
    stop_kvd(&p);
}
END_TEST

/*
 * KEYS against a 128 KiB key with 64 KiB patterns.  Matching is iterative
 * and backtracks to the last '*' only, so "*a*a*...*b" is answered at
 * once; "*aaa...ab" would cost 2^32 steps (the last '*' retried at every
 * offset, each try matching up to 64 KiB of a's): it gets an error reply
 * within the work budget, and the server goes on answering everyone.
 */
START_TEST(test_kvd_keys_budget)
{
    size_t klen = 128 * 1024, plen = 64 * 1024, i, len = 0;
    char *key = malloc(klen), *pat = malloc(plen), *req = malloc(klen + 64), line[256], *got;
    tu_proc p;
    int port = start_kvd(&p, NULL), fd, other;

    memset(key, 'a', klen);
    fd = tu_blocking_client(port);
    other = tu_blocking_client(port);
    len = (size_t)sprintf(req, "*3\r\n");
    put_bulk(req, &len, "SET", 3);
    put_bulk(req, &len, key, klen);
    put_bulk(req, &len, "v", 1);
    send_all(fd, req, len);
    expect_bytes(fd, "+OK\r\n");
    /* 32767 stars, then "b": linear work, the right answer. */
    for (i = 0; i + 2 < plen; i += 2)
        memcpy(pat + i, "*a", 2);
    memcpy(pat + plen - 2, "*b", 2);
    send_cmd2(fd, "KEYS", pat, plen);
    expect_bytes(fd, "*0\r\n");
    /* Long but within the budget: "*" 100 a's "b", about 13 M steps. */
    pat[0] = '*';
    memset(pat + 1, 'a', 100);
    pat[101] = 'b';
    send_cmd2(fd, "KEYS", pat, 102);
    expect_bytes(fd, "*0\r\n");
    /* Quadratic: refused with an error reply. */
    memset(pat + 1, 'a', plen - 2);
    pat[plen - 1] = 'b';
    send_cmd2(fd, "KEYS", pat, plen);
    read_line(fd, line, sizeof(line));
    ck_assert_msg(strncmp(line, "-ERR pattern too expensive: matching stopped after ", 51) == 0,
                  "KEYS *aaa...ab: %s", line);
    send_str(other, "PING\r\n");
    expect_bytes(other, "+PONG\r\n");
    send_str(fd, "PING\r\n");
    expect_bytes(fd, "+PONG\r\n");
    /* Patterns that only scan the long key still match it. */
    send_cmd2(fd, "KEYS", "*a", 2);
    expect_bytes(fd, "*1\r\n");
    got = read_bulk(fd);
    ck_assert(memcmp(got, key, klen) == 0);
    free(got);
    send_cmd2(fd, "KEYS", "a?*a", 4);
    expect_bytes(fd, "*1\r\n");
    free(read_bulk(fd));
    close(other);
    close(fd);
    free(key);
    free(pat);
    free(req);
    stop_kvd(&p);
}
END_TEST

/*
 * The matcher against Redis' rules (its stringmatchlen in util.c, as
 * redis-server 7 on x86-64 answers KEYS): each key is stored alone and
 * KEYS either returns it or not.  Besides the plain cases: only "*"
 * itself lists the empty key (Redis answers "*" without matching, and
 * matches an empty string with the empty pattern only); "[]" matches
 * nothing and "[^]" any byte; ']' right after '[' closes the class; a
 * class left open takes the rest of the pattern; "a-]" is a range;
 * '\' escapes inside and outside classes, and a final '\' is itself;
 * ranges compare bytes as signed chars, so "[a-\xff]" is -1..'a'.
 */
#define S(x) x, sizeof(x) - 1
static const struct {
    const char *pat;
    size_t plen;
    const char *key;
    size_t klen;
    int match;
} glob_rules[] = {
    {S("hello"), S("hello"), 1}, {S("hello"), S("hell"), 0}, {S("hello"), S("helloo"), 0},
    {S("h?llo"), S("hello"), 1}, {S("h?llo"), S("hllo"), 0}, {S("h*llo"), S("hllo"), 1},
    {S("h*llo"), S("heeeello"), 1}, {S("h*llo"), S("hello world"), 0}, {S("*"), S(""), 1},
    {S("**"), S(""), 0}, {S("?"), S(""), 0}, {S(""), S(""), 1}, {S(""), S("a"), 0},
    {S("*"), S("anything"), 1}, {S("a*"), S("a"), 1}, {S("*a"), S("a"), 1},
    {S("*a"), S("ba"), 1}, {S("*a"), S("ab"), 0}, {S("a*b*c"), S("abc"), 1},
    {S("a*b*c"), S("aXbYc"), 1}, {S("a*b*c"), S("acb"), 0}, {S("a*b*c"), S("abcbc"), 1},
    {S("*a*a*b"), S("aaaab"), 1}, {S("*a*a*b"), S("aab"), 1}, {S("*a*a*b"), S("ab"), 0},
    {S("*a*a*b"), S("aaba"), 0}, {S("a**?"), S("a"), 0}, {S("a**?"), S("ab"), 1},
    {S("*?*"), S("x"), 1}, {S("?*?"), S("a"), 0}, {S("?*?"), S("ab"), 1},
    {S("a*?b"), S("ab"), 0}, {S("a*?b"), S("axb"), 1}, {S("*ab*ab"), S("abab"), 1},
    {S("*ab*ab"), S("aabab"), 1}, {S("*ab*ab"), S("ababa"), 0},
    {S("*a*b*c*d"), S("xaxbxcxd"), 1}, {S("*a*b*c*d"), S("xaxbxdxc"), 0},
    {S("h[ae]llo"), S("hello"), 1}, {S("h[ae]llo"), S("hallo"), 1},
    {S("h[ae]llo"), S("hillo"), 0}, {S("h[^e]llo"), S("hallo"), 1},
    {S("h[^e]llo"), S("hello"), 0}, {S("h[^e]llo"), S("hllo"), 0},
    {S("h[a-b]llo"), S("hbllo"), 1}, {S("h[b-a]llo"), S("hallo"), 1},
    {S("h[a-b]llo"), S("hcllo"), 0}, {S("[0-9][0-9]"), S("42"), 1},
    {S("[0-9][0-9]"), S("4x"), 0}, {S("[^0-9]*"), S("x42"), 1}, {S("[^0-9]*"), S("42"), 0},
    {S("[]"), S("x"), 0}, {S("[^]"), S("x"), 1}, {S("[^]"), S("xy"), 0}, {S("[]]"), S("]"), 0},
    {S("[\\]]"), S("]"), 1}, {S("[a-]"), S("a"), 1}, {S("[a-]"), S("_"), 1},
    {S("[a-]"), S("-"), 0}, {S("[-a]"), S("-"), 1}, {S("[abc"), S("b"), 1},
    {S("[abc"), S("bx"), 0}, {S("x[abc"), S("xc"), 1}, {S("[a-c-e]"), S("d"), 0},
    {S("[a-c-e]"), S("e"), 1}, {S("[a-c-e]"), S("-"), 1}, {S("[\\a]"), S("a"), 1},
    {S("[a\\-z]"), S("-"), 1}, {S("[a\\-z]"), S("b"), 0}, {S("[\\^a]"), S("^"), 1},
    {S("[^\\^]"), S("^"), 0}, {S("*[ab]"), S("xxb"), 1}, {S("\\*"), S("*"), 1},
    {S("\\*"), S("a"), 0}, {S("\\?"), S("?"), 1}, {S("\\?"), S("x"), 0},
    {S("\\[a]"), S("[a]"), 1}, {S("a\\"), S("a\\"), 1}, {S("\\\\"), S("\\"), 1},
    {S("*\\*"), S("abc*"), 1}, {S("*\\*"), S("abc"), 0}, {S("a?c"), S("a\0c"), 1},
    {S("a\0*"), S("a\0b"), 1}, {S("a*"), S("b\0"), 0}, {S("HELLO"), S("hello"), 0},
    {S("[H]ello"), S("hello"), 0}, {S("[A-Z]"), S("q"), 0}, {S("[a-\xff]"), S("b"), 0},
    {S("[a-\xff]"), S("A"), 1}, {S("[a-\xff]"), S("\xff"), 1}, {S("[a-\xff]"), S("\x80"), 0},
    {S("caf\xe9"), S("caf\xe9"), 1}, {S("caf?"), S("caf\xe9"), 1},
    {S("[\x80-\xff]"), S("\xe9"), 1},
};

START_TEST(test_kvd_glob_rules)
{
    /* CONFIG GET matches without case, except for a '\'-escaped byte. */
    static const struct {
        const char *pat;
        int match;
    } config[] = {{"MAXCLIENTS", 1}, {"Max[C]lients", 1}, {"max[\\C]lients", 0},
                  {"max[A-C]lients", 1}, {"M?XCLIENTS", 1}, {"maxclient", 0}, {"*CLIENTS", 1}};
    static const char maxclients[] = "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n";
    char req[256], want[256], what[160];
    size_t i, len, wl;
    tu_proc p;
    int port = start_kvd(&p, NULL), fd;

    fd = tu_blocking_client(port);
    for (i = 0; i < sizeof(glob_rules) / sizeof(glob_rules[0]); i++) {
        len = (size_t)sprintf(req, "*3\r\n");
        put_bulk(req, &len, "SET", 3);
        put_bulk(req, &len, glob_rules[i].key, glob_rules[i].klen);
        put_bulk(req, &len, "v", 1);
        len += (size_t)sprintf(req + len, "*2\r\n");
        put_bulk(req, &len, "KEYS", 4);
        put_bulk(req, &len, glob_rules[i].pat, glob_rules[i].plen);
        len += (size_t)sprintf(req + len, "*2\r\n");
        put_bulk(req, &len, "DEL", 3);
        put_bulk(req, &len, glob_rules[i].key, glob_rules[i].klen);
        send_all(fd, req, len);
        wl = (size_t)sprintf(want, "+OK\r\n*%d\r\n", glob_rules[i].match);
        if (glob_rules[i].match)
            put_bulk(want, &wl, glob_rules[i].key, glob_rules[i].klen);
        wl += (size_t)sprintf(want + wl, ":1\r\n");
        snprintf(what, sizeof(what), "row %zu: KEYS '%.*s' with the key '%.*s'", i,
                 (int)glob_rules[i].plen, glob_rules[i].pat, (int)glob_rules[i].klen,
                 glob_rules[i].key);
        expect_mem(fd, want, wl, what);
    }
    for (i = 0; i < sizeof(config) / sizeof(config[0]); i++) {
        snprintf(req, sizeof(req), "CONFIG GET %s\r\n", config[i].pat);
        send_str(fd, req);
        snprintf(what, sizeof(what), "CONFIG GET %s", config[i].pat);
        if (config[i].match)
            expect_mem(fd, maxclients, strlen(maxclients), what);
        else
            expect_mem(fd, "*0\r\n", 4, what);
    }
    close(fd);
    stop_kvd(&p);
}
END_TEST
#undef S

/*
 * --max-output: a short MGET that would queue 10 MB of replies resets the
 * client once 1 MiB waits for it, before the rest is even made: it
 * receives less than the limit plus one reply.  Others are served, the
 * close is counted (INFO) and logged at --log-level info.
 */
START_TEST(test_kvd_max_output)
{
    const char *extra[] = {"--max-bulk", "256k", "--max-output", "1m", "--log-level", "info",
                           NULL};
    size_t vlen = 100000, copies = 100, len = 0, got = 0, i;
    char *val = malloc(vlen), *req = malloc(vlen + 64), buf[65536], *v;
    tu_proc p;
    int port = start_kvd(&p, extra), fd, other;
    ssize_t r;

    memset(val, 'v', vlen);
    fd = tu_blocking_client(port);
    len = (size_t)sprintf(req, "*3\r\n");
    put_bulk(req, &len, "SET", 3);
    put_bulk(req, &len, "k", 1);
    put_bulk(req, &len, val, vlen);
    send_all(fd, req, len);
    expect_bytes(fd, "+OK\r\n");
    /* Within the limit: 500 KB of replies, whole. */
    send_str(fd, "MGET k k k k k\r\n");
    expect_bytes(fd, "*5\r\n");
    for (i = 0; i < 5; i++) {
        v = read_bulk(fd);
        ck_assert(memcmp(v, val, vlen) == 0);
        free(v);
    }
    /* 205 bytes asking for 10 MB. */
    len = (size_t)sprintf(req, "MGET");
    for (i = 0; i < copies; i++)
        len += (size_t)sprintf(req + len, " k");
    len += (size_t)sprintf(req + len, "\r\n");
    send_all(fd, req, len);
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
        got += (size_t)r;
    ck_assert_msg(r == 0 || errno == ECONNRESET, "recv: %s after %zu bytes", strerror(errno), got);
    ck_assert_msg(got <= (1u << 20) + vlen + 64, "received %zu bytes of a 10 MB reply", got);
    close(fd);
    other = tu_blocking_client(port);
    send_str(other, "PING\r\nCONFIG GET client-output-buffer-limit\r\n");
    expect_bytes(other, "+PONG\r\n*2\r\n$26\r\nclient-output-buffer-limit\r\n"
                        "$18\r\nnormal 1048576 0 0\r\n");
    ck_assert_uint_eq(info_field(other, "stats", "client_output_buffer_limit_disconnections"), 1);
    ck_assert_msg(tu_wait_for(&p, "output limit reached"), "not logged: %s", p.out);
    close(other);
    free(val);
    free(req);
    stop_kvd(&p);
}
END_TEST

/*
 * --max-query: a command may hold its arguments plus 24 bytes per
 * argument up to the limit, counted from each "$len" header before the
 * body is read.  With --max-bulk 1k --max-query 4k, MSET k v k v k v k
 * (1000-byte values) holds 3008 bytes in 8 arguments, so the last value
 * may have 4096 - 3008 - 9 * 24 = 872 bytes: 873 is a protocol error
 * reply, then the close, before any of the body is read.
 */
START_TEST(test_kvd_query_limit)
{
    const char *extra[] = {"--max-bulk", "1k", "--max-query", "4k", NULL};
    char *req = malloc(8192), val[1000];
    size_t len, n, i;
    tu_proc p;
    int port = start_kvd(&p, extra), fd;

    memset(val, 'x', sizeof(val));
    for (n = 872; n <= 873; n++) {
        len = (size_t)sprintf(req, "*9\r\n");
        put_bulk(req, &len, "MSET", 4);
        for (i = 0; i < 3; i++) {
            put_bulk(req, &len, "k", 1);
            put_bulk(req, &len, val, sizeof(val));
        }
        put_bulk(req, &len, "k", 1);
        len += (size_t)sprintf(req + len, "$%zu\r\n", n);
        fd = tu_blocking_client(port);
        send_all(fd, req, len);
        if (n == 873) {
            expect_bytes(fd, "-ERR Protocol error: query buffer limit exceeded\r\n");
            expect_eof(fd);
        } else {
            send_all(fd, val, n);
            send_str(fd, "\r\nSTRLEN k\r\n");
            expect_bytes(fd, "+OK\r\n:872\r\n");
        }
        close(fd);
    }
    fd = tu_blocking_client(port);
    ck_assert_uint_eq(info_field(fd, "stats", "client_query_buffer_limit_disconnections"), 1);
    close(fd);
    stop_kvd(&p);
    free(req);
}
END_TEST

/*
 * The bound in memory: 16 clients each hold a partial command as large as
 * --max-query 2m allows (a 1 MiB argument, then 1 MiB of the next one).
 * Each costs the server at least the 2 MiB it holds and at most
 * --max-query + --max-bulk (the library's input buffer may still occupy
 * the pages of the previous argument): 16 x 3 MiB.
 */
START_TEST(test_kvd_query_memory)
{
    const char *extra[] = {"--max-bulk", "1m", "--max-query", "2m", NULL};
    enum { N = 16 };
    size_t big = 1u << 20, last, len, i;
    char *req = malloc(2 * big + 256), *val = malloc(big);
    unsigned long long sent = 0;
    int fds[N], ctl, port;
    long base, held;
    tu_proc p;

    if (!rss_meaningful()) {
        fprintf(stderr, "kvd/query_memory: RSS not meaningful here; skipped\n");
        free(req);
        free(val);
        return;
    }
    port = start_kvd(&p, extra);
    ctl = tu_blocking_client(port);
    send_str(ctl, "PING\r\n");
    expect_bytes(ctl, "+PONG\r\n");
    sent += 6;
    base = tu_proc_rss_kib(p.pid);
    memset(val, 'x', big);
    /* MSET k <1 MiB> j <last>: 4 + 1 + 1048576 + 1 bytes held, 5 arguments. */
    last = (2u << 20) - (4 + 1 + big + 1) - 5 * 24;
    for (i = 0; i < N; i++) {
        len = (size_t)sprintf(req, "*5\r\n");
        put_bulk(req, &len, "MSET", 4);
        put_bulk(req, &len, "k", 1);
        put_bulk(req, &len, val, big);
        put_bulk(req, &len, "j", 1);
        len += (size_t)sprintf(req + len, "$%zu\r\n", last);
        memcpy(req + len, val, last - 10);
        len += last - 10;
        fds[i] = tu_blocking_client(port);
        send_all(fds[i], req, len);
        sent += len;
    }
    wait_input(ctl, &sent);
    held = tu_proc_rss_kib(p.pid) - base;
    ck_assert_msg(held > N * 1024 && held < N * (2048 + 1024),
                  "%d clients of 2 MiB hold %ld KiB", (int)N, held);
    for (i = 0; i < N; i++)
        reset_close(fds[i]);
    send_str(ctl, "PING\r\n");
    expect_bytes(ctl, "+PONG\r\n");
    close(ctl);
    stop_kvd(&p);
    free(req);
    free(val);
}
END_TEST

/*
 * Memory comes back after a burst, also while a client stays connected
 * (a connection pool: the daemon module's own trim, when the last client
 * leaves, never runs then).  1000 clients, 250 at a time, each send
 * 100 KB of a command (about 1300 small arguments, then part of a large
 * one) and reset; afterwards the resident size must come back to within
 * 8 MiB of where it started.
 */
START_TEST(test_kvd_memory_returns)
{
    enum { WAVE = 250 };
    int waves = tu_slow() ? 1 : 4, w, i, port, ctl, *fds = malloc(WAVE * sizeof(int));
    size_t len = 0, n;
    char *req = malloc(128 * 1024), arg40[40];
    unsigned long long sent = 0;
    long base = 0, now = 0;
    tu_proc p;

    port = start_kvd(&p, NULL);
    ctl = tu_blocking_client(port);
    send_str(ctl, "PING\r\n");
    expect_bytes(ctl, "+PONG\r\n");
    sent += 6;
    if (rss_meaningful())
        base = tu_proc_rss_kib(p.pid);
    memset(arg40, 'a', sizeof(arg40));
    len = (size_t)sprintf(req, "*2000\r\n");
    for (n = 0; n < 1300; n++)
        put_bulk(req, &len, arg40, sizeof(arg40));
    len += (size_t)sprintf(req + len, "$100000\r\n");
    memset(req + len, 'b', 100000 - len);
    len = 100000;
    for (w = 0; w < waves; w++) {
        int nc = tu_slow() ? 20 : WAVE;
        for (i = 0; i < nc; i++) {
            fds[i] = tu_blocking_client(port);
            send_all(fds[i], req, len);
            sent += len;
        }
        wait_input(ctl, &sent); /* all of it buffered in the server */
        for (i = 0; i < nc; i++)
            reset_close(fds[i]);
    }
    send_str(ctl, "PING\r\n");
    expect_bytes(ctl, "+PONG\r\n");
    if (rss_meaningful()) {
        for (i = 0; i < 1000; i++) { /* 5 s at most */
            if ((now = tu_proc_rss_kib(p.pid)) < base + 8192)
                break;
            tick();
        }
        ck_assert_msg(i < 1000, "resident size %ld KiB after the burst, %ld KiB before", now,
                      base);
    }
    close(ctl);
    stop_kvd(&p);
    free(req);
    free(fds);
}
END_TEST

/* --max-conns 2: the third client is told, then closed (as Redis does). */
START_TEST(test_kvd_max_conns)
{
    const char *extra[] = {"--max-conns", "2", NULL};
    tu_proc p;
    int port = start_kvd(&p, extra), fd, fd2, fd3;

    fd = tu_blocking_client(port);
    fd2 = tu_blocking_client(port);
    send_str(fd, "PING\r\n");
    expect_bytes(fd, "+PONG\r\n");
    send_str(fd2, "PING\r\n");
    expect_bytes(fd2, "+PONG\r\n");
    fd3 = tu_blocking_client(port);
    expect_bytes(fd3, "-ERR max number of clients reached\r\n");
    expect_eof(fd3);
    close(fd3);
    close(fd2);
    close(fd);
    stop_kvd(&p);
}
END_TEST

/* Bounded polling: the key with a 50 ms TTL goes away; keys nobody touches
 * are removed by the periodic sampler, not only on access. */
START_TEST(test_kvd_expiry)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), fd, i, n = tu_slow() ? 20 : 200;
    char buf[64];

    fd = tu_blocking_client(port);
    send_str(fd, "SET k v PX 50\r\nPTTL k\r\n");
    expect_bytes(fd, "+OK\r\n");
    read_line(fd, buf, sizeof(buf));
    ck_assert_msg(atoi(buf + 1) > 0 && atoi(buf + 1) <= 50, "PTTL %s", buf);
    for (i = 0; i < 2000; i++) {
        send_str(fd, "EXISTS k\r\n");
        read_line(fd, buf, sizeof(buf));
        if (strcmp(buf, ":0\r\n") == 0)
            break;
        ck_assert_str_eq(buf, ":1\r\n");
        tick();
    }
    ck_assert_msg(i < 2000, "k never expired");
    send_str(fd, "PTTL k\r\nTTL k\r\nGET k\r\n");
    expect_bytes(fd, ":-2\r\n:-2\r\n$-1\r\n");
    /* Active expiry: DBSIZE does not touch keys, so only the timer can
     * bring it to 0. */
    for (i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "SET key:%d v PX 20\r\n", i);
        send_str(fd, buf);
    }
    send_str(fd, "SET keep v\r\nEXPIRE keep 1000\r\nSET gone v\r\nPEXPIRE gone -1\r\n");
    for (i = 0; i < n; i++)
        expect_bytes(fd, "+OK\r\n");
    expect_bytes(fd, "+OK\r\n:1\r\n+OK\r\n:1\r\n");
    for (i = 0; i < 2000; i++) {
        send_str(fd, "DBSIZE\r\n");
        read_line(fd, buf, sizeof(buf));
        if (strcmp(buf, ":1\r\n") == 0)
            break;
        tick();
    }
    ck_assert_msg(i < 2000, "the timer never expired the keys");
    ck_assert_uint_ge(info_field(fd, "stats", "expired_keys"), (unsigned)n + 2);
    send_str(fd, "TTL keep\r\nPERSIST keep\r\nTTL keep\r\n");
    expect_bytes(fd, ":1000\r\n:1\r\n:-1\r\n");
    close(fd);
    stop_kvd(&p);
}
END_TEST

/* --max-memory: writes are refused once it is exceeded, reads and
 * deletes go on, and room made by deleting is usable again. */
START_TEST(test_kvd_oom)
{
    const char *extra[] = {"--max-memory", "16k", NULL};
    const char *oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    char cmd[1200], reply[1200];
    tu_proc p;
    int port = start_kvd(&p, extra), fd, i;

    fd = tu_blocking_client(port);
    for (i = 0; i < 100; i++) {
        snprintf(cmd, sizeof(cmd), "SET k%d %0999d\r\n", i, i);
        send_str(fd, cmd);
        read_line(fd, reply, sizeof(reply));
        if (reply[0] == '-')
            break;
        ck_assert_str_eq(reply, "+OK\r\n");
    }
    ck_assert_msg(i > 5 && i < 100, "OOM after %d keys", i);
    ck_assert_str_eq(reply, oom);
    ck_assert_uint_gt(info_field(fd, "memory", "used_memory"), 16384);
    send_str(fd, "INCR n\r\nAPPEND k0 x\r\nMSET a b\r\nGET k1\r\nEXISTS k0\r\n");
    expect_bytes(fd, oom);
    expect_bytes(fd, oom);
    expect_bytes(fd, oom);
    snprintf(reply, sizeof(reply), "$999\r\n%0999d\r\n:1\r\n", 1);
    expect_bytes(fd, reply);
    send_str(fd, "FLUSHALL\r\nSET k v\r\nGET k\r\n");
    expect_bytes(fd, "+OK\r\n+OK\r\n$1\r\nv\r\n");
    close(fd);
    stop_kvd(&p);
}
END_TEST

/* Many commands, multibulk and inline, in one write: replies in order. */
START_TEST(test_kvd_pipeline)
{
    char *req = malloc(1 << 16), *want = malloc(1 << 16), buf[128];
    size_t rl = 0, wl = 0;
    tu_proc p;
    int port = start_kvd(&p, NULL), fd, i;

    for (i = 0; i < 200; i++) {
        switch (i % 4) {
        case 0:
            snprintf(buf, sizeof(buf), "*3\r\n$3\r\nSET\r\n$4\r\nk%03d\r\n$3\r\n%03d\r\n", i % 100, i);
            rl += (size_t)sprintf(req + rl, "%s", buf);
            wl += (size_t)sprintf(want + wl, "+OK\r\n");
            break;
        case 1:
            rl += (size_t)sprintf(req + rl, "GET k%03d\r\n", (i - 1) % 100);
            wl += (size_t)sprintf(want + wl, "$3\r\n%03d\r\n", i - 1);
            break;
        case 2:
            rl += (size_t)sprintf(req + rl, "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n");
            wl += (size_t)sprintf(want + wl, ":%d\r\n", i / 4 + 1);
            break;
        default:
            rl += (size_t)sprintf(req + rl, "ECHO %d\r\n", i);
            wl += (size_t)sprintf(want + wl, "$%d\r\n%d\r\n", i < 10 ? 1 : i < 100 ? 2 : 3, i);
        }
    }
    want[wl] = '\0';
    fd = tu_blocking_client(port);
    send_all(fd, req, rl);
    expect_bytes(fd, want);
    close(fd);
    free(req);
    free(want);
    stop_kvd(&p);
}
END_TEST

/*
 * Send cmd one byte at a time; after each byte, wait until the server has
 * read it (INFO's total_net_input_bytes, asked on a second connection,
 * counts every byte sent so far), so every split point really is one.
 * *sent tracks all bytes sent to this server on both connections.
 */
static void send_bytewise(int fd, int ctl, const char *cmd, unsigned long long *sent)
{
    unsigned long long got = 0;
    size_t i;
    int tries;

    for (i = 0; cmd[i]; i++) {
        send_all(fd, cmd + i, 1);
        *sent += 1;
        for (tries = 0; tries < 1000; tries++) {
            *sent += strlen("INFO stats\r\n");
            if ((got = info_field(ctl, "stats", "total_net_input_bytes")) == *sent)
                break;
            if (tries > 10)
                tick();
        }
        ck_assert_msg(tries < 1000, "byte %zu of '%s' never arrived (%llu of %llu bytes)", i,
                      cmd, got, *sent);
    }
}

START_TEST(test_kvd_split_every_byte)
{
    /* A value holding CRLF, '$' and '*': only the lengths frame it. */
    const char *set = "*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$10\r\n$4\r\n*1\r\nab\r\n";
    const char *get = "GET \"sp\\x6c\\x69t\"\r\n";
    tu_proc p;
    int port = start_kvd(&p, NULL), fd, ctl;
    unsigned long long sent = 0;

    fd = tu_blocking_client(port);
    ctl = tu_blocking_client(port);
    send_bytewise(fd, ctl, set, &sent);
    expect_bytes(fd, "+OK\r\n");
    send_bytewise(fd, ctl, get, &sent);
    expect_bytes(fd, "$10\r\n$4\r\n*1\r\nab\r\n");
    send_bytewise(fd, ctl, "*2\r\n$6\r\nSTRLEN\r\n$5\r\nsplit\r\n", &sent);
    expect_bytes(fd, ":10\r\n");
    close(fd);
    close(ctl);
    stop_kvd(&p);
}
END_TEST

/* Enough keys to grow the table through several incremental rehashes,
 * then shrink it: every key stays reachable throughout. */
START_TEST(test_kvd_many_keys)
{
    int n = tu_slow() ? 2000 : 20000, i;
    size_t cap = (size_t)n * 64, rl = 0;
    char *req = malloc(cap), buf[64];
    tu_proc p;
    int port = start_kvd(&p, NULL), fd;

    fd = tu_blocking_client(port);
    for (i = 0; i < n; i += 2)
        rl += (size_t)sprintf(req + rl, "MSET key:%d %d key:%d %d\r\n", i, i, i + 1, i + 1);
    send_all(fd, req, rl);
    for (i = 0; i < n; i += 2)
        expect_bytes(fd, "+OK\r\n");
    snprintf(buf, sizeof(buf), ":%d\r\n", n);
    send_str(fd, "DBSIZE\r\n");
    expect_bytes(fd, buf);
    for (i = 0; i < n; i += 97) {
        snprintf(buf, sizeof(buf), "GET key:%d\r\n", i);
        send_str(fd, buf);
        snprintf(buf, sizeof(buf), "$%d\r\n%d\r\n", snprintf(NULL, 0, "%d", i), i);
        expect_bytes(fd, buf);
    }
    /* Delete all but ten keys; the timer shrinks the table meanwhile. */
    rl = 0;
    for (i = 10; i < n; i++)
        rl += (size_t)sprintf(req + rl, "DEL key:%d\r\n", i);
    send_all(fd, req, rl);
    for (i = 10; i < n; i++)
        expect_bytes(fd, ":1\r\n");
    send_str(fd, "DBSIZE\r\nKEYS key:?\r\n");
    expect_bytes(fd, ":10\r\n*10\r\n");
    for (i = 0; i < 10; i++)
        free(read_bulk(fd));
    for (i = 0; i < 1000 && info_field(fd, "memory", "used_memory") > 4096; i++)
        tick();
    ck_assert_msg(i < 1000, "the table never shrank");
    send_str(fd, "GET key:7\r\nEXISTS key:10\r\n");
    expect_bytes(fd, "$1\r\n7\r\n:0\r\n");
    close(fd);
    free(req);
    stop_kvd(&p);
}
END_TEST

/* --idle-timeout: a silent client is closed; SIGTERM closes the rest. */
START_TEST(test_kvd_idle_and_sigterm)
{
    const char *extra[] = {"--idle-timeout", "1", NULL};
    tu_proc p;
    int port = start_kvd(&p, extra), idle, busy;

    idle = tu_blocking_client(port);
    busy = tu_blocking_client(port);
    send_str(busy, "PING\r\n");
    expect_bytes(busy, "+PONG\r\n");
    expect_eof(idle); /* within the 10 s receive timeout */
    close(idle);
    ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
    expect_eof(busy);
    close(busy);
    reap_kvd(&p);
}
END_TEST

/* --user drops root after binding; SIGUSR1 prints the counters. */
START_TEST(test_kvd_user_and_stats)
{
    const char *extra[] = {"--user", "nobody", NULL};
    char path[64], status_text[4096];
    tu_proc p;
    FILE *f;
    size_t n;
    int port;

    if (geteuid() != 0) {
        fprintf(stderr, "kvd/user: not root; skipped\n");
        return;
    }
    port = start_kvd(&p, extra);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)p.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(status_text, 1, sizeof(status_text) - 1, f);
    status_text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(status_text, "\nUid:\t65534\t65534\t65534\t65534") != NULL, "%s",
                  strstr(status_text, "Uid:"));
    exchange(port, "PING\r\n", "+PONG\r\n", 0);
    kill(p.pid, SIGUSR1);
    ck_assert_msg(tu_wait_for(&p, "stats: conns="), "%s", p.out);
    stop_kvd(&p);
}
END_TEST

START_TEST(test_kvd_bad_arguments)
{
    static const struct {
        const char *a, *b, *expect;
    } cases[] = {
        /* Exit status 1 (the first three): cannot listen, cannot switch
         * user; 2: bad usage. */
        {"--listen", "nonsense", "nonsense"},
        {"--listen", "127.0.0.1:70000", "port"},
        {"--user", "no-such-user-here", "no such user"},
        {"--max-conns", "-1", "--max-conns"},
        {"--max-conns", "ten", "--max-conns"},
        {"--idle-timeout", "1x", "--idle-timeout"},
        {"--max-memory", "12q", "--max-memory"},
        {"--max-memory", "", "--max-memory"},
        {"--max-bulk", "0", "--max-bulk"},
        {"--max-bulk", "1g", "--max-bulk"},
        {"--max-query", "100", "--max-query"},
        {"--max-query", "1m", "--max-query"}, /* below the 16 MiB --max-bulk */
        {"--max-output", "1k", "--max-output"}, /* below 64 KiB */
        {"--max-output", "8m", "--max-output"}, /* below the 16 MiB --max-bulk + 64 */
        {"-O", "2x", "--max-output"},
        {"-m", NULL, "-m"},
        {"--bogus", NULL, "--bogus"},
        {"extra-arg", NULL, "extra-arg"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sb-kvd", cases[i].a, cases[i].b, NULL};
        tu_proc p;
        int status;
        tu_spawn(&p, KVD, argv);
        status = tu_finish(&p);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == (i < 3 ? 1 : 2),
                      "'%s %s' exited %d", cases[i].a, cases[i].b ? cases[i].b : "", status);
        ck_assert_msg(strstr(p.out, cases[i].expect) != NULL, "'%s': stderr was: %s", cases[i].a,
                      p.out);
        ck_assert_msg(strchr(p.out, '\n') == p.out + p.len - 1, "not one line: %s", p.out);
        ck_assert_ptr_null(strstr(p.out, "listening"));
    }
}
END_TEST

/* ------------------------------------------------- raw tests, new commands */

/* One request (inline) and one reply line, which must be want. */
static void expect_line(int fd, const char *req, const char *want)
{
    char line[1024];

    send_str(fd, req);
    read_line(fd, line, sizeof(line));
    ck_assert_msg(strcmp(line, want) == 0, "%s: got '%s', want '%s'", req, line, want);
}

/* One request whose reply is an integer: its value. */
static long long int_reply(int fd, const char *req)
{
    char line[128];

    send_str(fd, req);
    read_line(fd, line, sizeof(line));
    ck_assert_msg(line[0] == ':', "%s: not an integer: %s", req, line);
    return strtoll(line + 1, NULL, 10);
}

/* One request whose reply is a bulk string: a malloc'd copy. */
static char *bulk_reply(int fd, const char *req)
{
    send_str(fd, req);
    return read_bulk(fd);
}

/*
 * TTLs follow Unix time as Redis' do: TIME is the wall clock, a TTL's
 * EXPIRETIME is now plus the TTL, EXPIREAT round-trips through
 * PEXPIRETIME, a time already past deletes, and the overflow checks add
 * the wall clock (the EXPIRE 9223370399119966 passes on a clock
 * that counts from boot).
 */
START_TEST(test_kvd_wall_clock)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), fd = tu_blocking_client(port);
    long long now = (long long)time(NULL), t, at;
    char req[128], hdr[32], *sec, *usec;

    send_str(fd, "TIME\r\n");
    read_line(fd, hdr, sizeof(hdr));
    ck_assert_str_eq(hdr, "*2\r\n");
    sec = read_bulk(fd);
    usec = read_bulk(fd);
    t = strtoll(sec, NULL, 10);
    ck_assert_msg(t >= now - 5 && t <= now + 5, "TIME %s, time() %lld", sec, now);
    ck_assert_int_lt(strtoll(usec, NULL, 10), 1000000);
    free(sec);
    free(usec);

    expect_line(fd, "SET k v\r\n", "+OK\r\n");
    expect_line(fd, "EXPIRE k 9223370399119966\r\n",
                "-ERR invalid expire time in 'expire' command\r\n");
    expect_line(fd, "PEXPIRE k 9223370399119966000\r\n",
                "-ERR invalid expire time in 'pexpire' command\r\n");
    expect_line(fd, "SET k v PX 9223370399119966000\r\n",
                "-ERR invalid expire time in 'set' command\r\n");
    expect_line(fd, "SETEX k 9223370399119966 v\r\n",
                "-ERR invalid expire time in 'setex' command\r\n");
    expect_line(fd, "TTL k\r\n", ":-1\r\n");

    expect_line(fd, "SET k v EX 100\r\n", "+OK\r\n");
    at = int_reply(fd, "EXPIRETIME k\r\n");
    ck_assert_msg(at >= now + 95 && at <= now + 105, "EXPIRETIME %lld, now %lld", at, now);
    snprintf(req, sizeof(req), "EXPIREAT k %lld\r\n", now + 50);
    ck_assert_int_eq(int_reply(fd, req), 1);
    t = int_reply(fd, "TTL k\r\n");
    ck_assert_msg(t >= 40 && t <= 55, "TTL %lld after EXPIREAT now + 50", t);
    snprintf(req, sizeof(req), "PEXPIREAT k %lld\r\n", now * 1000 + 123456);
    ck_assert_int_eq(int_reply(fd, req), 1);
    snprintf(req, sizeof(req), ":%lld\r\n", now * 1000 + 123456);
    expect_line(fd, "PEXPIRETIME k\r\n", req);
    snprintf(req, sizeof(req), ":%lld\r\n", now + 123);
    expect_line(fd, "EXPIRETIME k\r\n", req);
    snprintf(req, sizeof(req), "SET k2 v PXAT %lld\r\n", now * 1000 + 60000);
    expect_line(fd, req, "+OK\r\n");
    t = int_reply(fd, "PTTL k2\r\n");
    ck_assert_msg(t > 50000 && t <= 65000, "PTTL %lld after PXAT now + 60 s", t);
    /* A time already past deletes (EXPIREAT), or leaves a key expired at
     * once (SET ... EXAT, GETEX ... EXAT). */
    snprintf(req, sizeof(req), "EXPIREAT k %lld\r\n", now - 10);
    ck_assert_int_eq(int_reply(fd, req), 1);
    ck_assert_int_eq(int_reply(fd, "EXISTS k\r\n"), 0);
    snprintf(req, sizeof(req), "SET k v EXAT %lld\r\n", now - 10);
    expect_line(fd, req, "+OK\r\n");
    expect_line(fd, "GET k\r\n", "$-1\r\n");
    snprintf(req, sizeof(req), "GETEX k2 EXAT %lld\r\n", now - 10);
    expect_line(fd, req, "$1\r\n");
    expect_line(fd, "", "v\r\n");
    ck_assert_int_eq(int_reply(fd, "EXISTS k2\r\n"), 0);
    close(fd);
    stop_kvd(&p);
}
END_TEST

#define SCAN_STABLE 3000

/* One SCAN; marks the stable keys ("s:N") it returns in seen[], checks
 * that each key matches prefix (NULL: any).  Returns the next cursor. */
static unsigned long long scan_call(int fd, unsigned long long cursor, const char *opts,
                                    unsigned char *seen, const char *prefix)
{
    char req[128], line[64], *cur, *key;
    unsigned long long next;
    long n, i;

    snprintf(req, sizeof(req), "SCAN %llu%s\r\n", cursor, opts);
    send_str(fd, req);
    read_line(fd, line, sizeof(line));
    ck_assert_msg(strcmp(line, "*2\r\n") == 0, "SCAN: %s", line);
    cur = read_bulk(fd);
    next = strtoull(cur, NULL, 10);
    free(cur);
    read_line(fd, line, sizeof(line));
    ck_assert(line[0] == '*');
    n = strtol(line + 1, NULL, 10);
    for (i = 0; i < n; i++) {
        key = read_bulk(fd);
        if (prefix)
            ck_assert_msg(strncmp(key, prefix, strlen(prefix)) == 0, "SCAN gave %s", key);
        if (strncmp(key, "s:", 2) == 0) {
            long k = strtol(key + 2, NULL, 10);
            ck_assert(k >= 0 && k < SCAN_STABLE);
            seen[k] = 1;
        }
        free(key);
    }
    return next;
}

/* Keys PREFIX:from .. PREFIX:to-1 set (MSET) or deleted (DEL), in
 * pipelined batches. */
static void bulk_keys(int fd, const char *verb, const char *prefix, long from, long to)
{
    char *req = malloc(65536), line[64];
    long i = from, batches = 0, b;

    while (i < to) {
        size_t len = (size_t)sprintf(req, "%s", verb);
        for (b = 0; b < 500 && i < to; b++, i++)
            len += (size_t)sprintf(req + len, strcmp(verb, "MSET") == 0 ? " %s:%ld 1" : " %s:%ld",
                                   prefix, i);
        memcpy(req + len, "\r\n", 3);
        send_str(fd, req);
        batches++;
    }
    while (batches--)
        read_line(fd, line, sizeof(line));
    free(req);
}

/*
 * SCAN's guarantee while the table changes under it: 3000 keys stay for
 * the whole scan while 18,000 others come (the table doubles twice, and
 * SCAN calls meet rehashes half done) and then go (the table shrinks to
 * an eighth, the scan going on during that rehash and after it).  Every
 * stable key must come back at least once.  Then MATCH and TYPE.
 */
START_TEST(test_kvd_scan)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), fd = tu_blocking_client(port), calls = 0, i;
    unsigned char *seen = calloc(SCAN_STABLE, 1);
    unsigned long long cursor = 0, mem, before;

    bulk_keys(fd, "MSET", "s", 0, SCAN_STABLE);
    bulk_keys(fd, "MSET", "t", 0, 3000);
    do {
        cursor = scan_call(fd, cursor, " COUNT 20", seen, NULL);
        calls++;
        if (calls <= 30) /* growth: 500 new keys after each call */
            bulk_keys(fd, "MSET", "g", (calls - 1) * 500L, calls * 500L);
        if (calls == 31) { /* all but the stable keys go: the table shrinks */
            bulk_keys(fd, "DEL", "g", 0, 15000);
            bulk_keys(fd, "DEL", "t", 0, 3000);
            before = info_field(fd, "memory", "used_memory");
        }
        if (calls == 36) { /* after a few calls, wait for the shrink to end */
            for (i = 0; i < 2000; i++) {
                if ((mem = info_field(fd, "memory", "used_memory")) + 150000 < before)
                    break;
                tick();
            }
            ck_assert_msg(i < 2000, "the table did not shrink: %llu -> %llu bytes", before, mem);
        }
    } while (cursor != 0);
    ck_assert_msg(calls > 36, "the scan ended after %d calls", calls);
    for (i = 0; i < SCAN_STABLE; i++)
        ck_assert_msg(seen[i], "SCAN never returned s:%d (%d calls)", i, calls);

    /* MATCH and TYPE filter; COUNT large enough gives everything at once. */
    memset(seen, 0, SCAN_STABLE);
    bulk_keys(fd, "MSET", "x", 0, 100);
    ck_assert_uint_eq(scan_call(fd, 0, " MATCH s:* COUNT 100000", seen, "s:"), 0);
    for (i = 0; i < SCAN_STABLE; i++)
        ck_assert_msg(seen[i], "SCAN MATCH s:* missed s:%d", i);
    memset(seen, 0, SCAN_STABLE);
    ck_assert_uint_eq(scan_call(fd, 0, " TYPE hash COUNT 100000", seen, "none"), 0);
    ck_assert_uint_eq(scan_call(fd, 0, " MATCH x:1? TYPE string COUNT 100000", seen, "x:1"), 0);
    free(seen);
    close(fd);
    stop_kvd(&p);
}
END_TEST

/* --requirepass: nothing but AUTH, HELLO (with AUTH) and QUIT before
 * authentication, Redis 7.0's errors, redis-cli -a, and the password
 * blanked in the command line. */
START_TEST(test_kvd_auth)
{
    static const char *const extra[] = {"--requirepass", "s3cret", NULL};
    char path[64], cmdline[512], idline[64];
    tu_proc p;
    int port = start_kvd(&p, extra), fd = tu_blocking_client(port);
    long long id;
    ssize_t n;
    FILE *f;

    expect_line(fd, "GET x\r\n", "-NOAUTH Authentication required.\r\n");
    expect_line(fd, "PING\r\n", "-NOAUTH Authentication required.\r\n");
    expect_line(fd, "SELECT 0\r\n", "-NOAUTH Authentication required.\r\n");
    expect_line(fd, "CLIENT SETNAME x\r\n", "-NOAUTH Authentication required.\r\n");
    /* Unknown commands and wrong arities are told first, as in Redis. */
    expect_line(fd, "GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n");
    expect_line(fd, "CLIENT SETNAME\r\n",
                "-ERR wrong number of arguments for 'client|setname' command\r\n");
    expect_line(fd, "HELLO 2\r\n",
                "-NOAUTH HELLO must be called with the client already authenticated, otherwise "
                "the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                "select the RESP protocol version at the same time\r\n");
    expect_line(fd, "AUTH wrong\r\n",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    expect_line(fd, "AUTH default wrong\r\n",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    expect_line(fd, "AUTH bob s3cret\r\n",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    expect_line(fd, "AUTH s3cre\r\n",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    expect_line(fd, "HELLO 2 AUTH default s3cretx\r\n",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    expect_line(fd, "GET x\r\n", "-NOAUTH Authentication required.\r\n");
    expect_line(fd, "AUTH s3cret\r\n", "+OK\r\n");
    expect_line(fd, "GET x\r\n", "$-1\r\n");
    expect_line(fd, "AUTH wrong\r\n",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    expect_line(fd, "GET x\r\n", "$-1\r\n"); /* a failed AUTH keeps the client in */
    expect_line(fd, "CONFIG GET requirepass\r\n", "*2\r\n");
    close(fd);

    /* HELLO with AUTH and SETNAME at once. */
    fd = tu_blocking_client(port);
    send_str(fd, "HELLO 2 AUTH default s3cret SETNAME app\r\n");
    expect_bytes(fd, "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
                     "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n");
    read_line(fd, idline, sizeof(idline));
    expect_bytes(fd, "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                     "$7\r\nmodules\r\n*0\r\n");
    id = strtoll(idline + 1, NULL, 10);
    ck_assert_int_eq(int_reply(fd, "CLIENT ID\r\n"), id);
    expect_line(fd, "CLIENT GETNAME\r\n", "$3\r\n");
    expect_line(fd, "", "app\r\n");
    expect_line(fd, "HELLO 3\r\n", "-NOPROTO unsupported protocol version\r\n");
    close(fd);

    /* QUIT needs no password. */
    fd = tu_blocking_client(port);
    send_str(fd, "QUIT\r\n");
    expect_bytes(fd, "+OK\r\n");
    expect_eof(fd);
    close(fd);

    cli_expect(port, "PING", "NOAUTH Authentication required.\n\n");
    cli_expect(port, "-a s3cret --no-auth-warning PING", "PONG\n");
    cli_expect(port, "--user default --pass s3cret --no-auth-warning SET k v", "OK\n");

    /* The password does not stay in ps's view of the command line (under
     * valgrind that view is valgrind's own). */
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = (ssize_t)fread(cmdline, 1, sizeof(cmdline) - 1, f);
    fclose(f);
    ck_assert_int_gt(n, 0);
    if (!tu_slow())
        ck_assert_ptr_null(memmem(cmdline, (size_t)n, "s3cret", 6));
    ck_assert_ptr_nonnull(memmem(cmdline, (size_t)n, "--requirepass", 13));
    stop_kvd(&p);
}
END_TEST

/* A field of a CLIENT INFO / LIST line ("addr=..."), copied into buf. */
static void client_field(const char *line, const char *name, char *buf, size_t cap)
{
    char key[32];
    const char *at;
    size_t n;

    snprintf(key, sizeof(key), " %s=", name);
    at = strstr(line, key);
    if (!at && strncmp(line, key + 1, strlen(key) - 1) == 0)
        at = line - 1;
    ck_assert_msg(at != NULL, "no %s in %s", name, line);
    at += strlen(key);
    n = strcspn(at, " \n");
    ck_assert_uint_lt(n, cap);
    memcpy(buf, at, n);
    buf[n] = '\0';
}

/* CLIENT ID, INFO, LIST (and its ID filter), and KILL in both forms: by
 * address (old form: +OK or an error), by ID and ADDR (new form: a count,
 * the caller skipped unless SKIPME no).  A killed client gets its EOF
 * and is gone from the list at once. */
START_TEST(test_kvd_clients)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), a = tu_blocking_client(port), b = tu_blocking_client(port),
        c = tu_blocking_client(port), d;
    long long ida, idb, idc;
    char *info, *list, addr_a[64], addr_b[64], req[128], field[64];

    ida = int_reply(a, "CLIENT ID\r\n");
    idb = int_reply(b, "CLIENT ID\r\n");
    idc = int_reply(c, "CLIENT ID\r\n");
    ck_assert(ida > 0 && idb > ida && idc > idb);
    expect_line(b, "CLIENT SETNAME bee\r\n", "+OK\r\n");
    info = bulk_reply(b, "CLIENT INFO\r\n");
    client_field(info, "id", field, sizeof(field));
    ck_assert_int_eq(strtoll(field, NULL, 10), idb);
    client_field(info, "name", field, sizeof(field));
    ck_assert_str_eq(field, "bee");
    client_field(info, "cmd", field, sizeof(field));
    ck_assert_str_eq(field, "client|info");
    client_field(info, "addr", addr_b, sizeof(addr_b));
    ck_assert_ptr_nonnull(strstr(addr_b, "127.0.0.1:"));
    client_field(info, "laddr", field, sizeof(field));
    snprintf(req, sizeof(req), "127.0.0.1:%d", port);
    ck_assert_str_eq(field, req);
    ck_assert_msg(strstr(info, " flags=N db=0 ") && strstr(info, " user=default ") &&
                      strstr(info, " resp=2\n"),
                  "%s", info);
    free(info);
    info = bulk_reply(a, "CLIENT INFO\r\n");
    client_field(info, "addr", addr_a, sizeof(addr_a));
    free(info);

    list = bulk_reply(a, "CLIENT LIST\r\n");
    ck_assert_msg(strstr(list, "name=bee") && strstr(list, "cmd=client|list"), "%s", list);
    ck_assert_msg(strchr(list, '\n') && strchr(strchr(list, '\n') + 1, '\n') &&
                      strchr(strchr(strchr(list, '\n') + 1, '\n') + 1, '\n'),
                  "three lines: %s", list);
    ck_assert_msg(strncmp(list, "id=", 3) == 0 && strtoll(list + 3, NULL, 10) == ida,
                  "oldest first: %s", list);
    free(list);
    snprintf(req, sizeof(req), "CLIENT LIST ID %lld 99999\r\n", idc);
    list = bulk_reply(a, req);
    client_field(list, "id", field, sizeof(field));
    ck_assert_int_eq(strtoll(field, NULL, 10), idc);
    ck_assert_ptr_eq(strchr(list, '\n'), list + strlen(list) - 1);
    free(list);

    /* Old form, by address. */
    snprintf(req, sizeof(req), "CLIENT KILL %s\r\n", addr_b);
    expect_line(a, req, "+OK\r\n");
    expect_eof(b);
    expect_line(a, req, "-ERR No such client\r\n");
    /* New form, by ID. */
    snprintf(req, sizeof(req), "CLIENT KILL ID %lld\r\n", idc);
    ck_assert_int_eq(int_reply(a, req), 1);
    expect_eof(c);
    ck_assert_int_eq(int_reply(a, req), 0);
    /* By ADDR: the caller is skipped, unless SKIPME no. */
    snprintf(req, sizeof(req), "CLIENT KILL ADDR %s\r\n", addr_a);
    ck_assert_int_eq(int_reply(a, req), 0);
    d = tu_blocking_client(port);
    list = bulk_reply(d, "CLIENT LIST\r\n");
    ck_assert_msg(!strstr(list, "name=bee") && strstr(list, addr_a), "%s", list);
    free(list);
    snprintf(req, sizeof(req), "CLIENT KILL ADDR %s SKIPME no\r\n", addr_a);
    ck_assert_int_eq(int_reply(a, req), 1);
    expect_eof(a);
    list = bulk_reply(d, "CLIENT LIST\r\n");
    ck_assert_msg(!strstr(list, addr_a) && !strchr(list, '\n')[1], "only d: %s", list);
    free(list);
    close(a);
    close(b);
    close(c);
    close(d);
    stop_kvd(&p);
}
END_TEST

/* COMMAND's subcommands, CONFIG GET * and SET, INFO's sections with the
 * command and error counters, CONFIG RESETSTAT. */
START_TEST(test_kvd_introspection)
{
    tu_proc p;
    int port = start_kvd(&p, NULL), fd = tu_blocking_client(port), i;
    char line[256], *info, *v;

    expect_line(fd, "COMMAND DOCS\r\n", "-ERR unknown subcommand 'DOCS'. Try COMMAND HELP.\r\n");
    expect_line(fd, "command getkeysandflags set k v\r\n",
                "-ERR unknown subcommand 'getkeysandflags'. Try COMMAND HELP.\r\n");
    send_str(fd, "COMMAND GETKEYS SET k v EX 10\r\n");
    expect_bytes(fd, "*1\r\n$1\r\nk\r\n");
    send_str(fd, "COMMAND GETKEYS MSET a 1 b 2\r\n");
    expect_bytes(fd, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    expect_line(fd, "COMMAND GETKEYS PING x\r\n", "-ERR The command has no key arguments\r\n");
    send_str(fd, "COMMAND LIST FILTERBY ACLCAT bitmap\r\n");
    expect_bytes(fd, "*3\r\n$8\r\nbitcount\r\n$6\r\ngetbit\r\n$6\r\nsetbit\r\n");
    send_str(fd, "COMMAND LIST FILTERBY PATTERN config*\r\n");
    expect_bytes(fd, "*6\r\n$6\r\nconfig\r\n$10\r\nconfig|get\r\n");
    for (i = 0; i < 4; i++)
        free(read_bulk(fd));
    expect_line(fd, "COMMAND LIST\r\n", "*75\r\n"); /* 58 commands, 17 subcommands */
    for (i = 0; i < 75; i++)
        free(read_bulk(fd));
    expect_line(fd, "CONFIG GET *\r\n", "*42\r\n");
    for (i = 0; i < 42; i++)
        free(read_bulk(fd));
    expect_line(fd, "CONFIG SET maxmemory 1\r\n",
                "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - can't set "
                "immutable config\r\n");
    expect_line(fd, "CONFIG SET maxmemory 0 save \"\"\r\n", "+OK\r\n");

    /* The counters: a GET, an INCR that fails, an arity error, a NOAUTH-free
     * unknown command. */
    expect_line(fd, "CONFIG RESETSTAT\r\n", "+OK\r\n");
    expect_line(fd, "GET nokey\r\n", "$-1\r\n");
    expect_line(fd, "SET s abc\r\n", "+OK\r\n");
    expect_line(fd, "INCR s\r\n", "-ERR value is not an integer or out of range\r\n");
    expect_line(fd, "GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n");
    expect_line(fd, "CLIENT SETNAME \"a b\"\r\n",
                "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    info = bulk_reply(fd, "INFO commandstats errorstats\r\n");
    ck_assert_msg(strstr(info, "# Commandstats\r\ncmdstat_client|setname:calls=1,usec=") &&
                      strstr(info, "cmdstat_get:calls=1,") &&
                      strstr(info, ",rejected_calls=1,failed_calls=0\r\ncmdstat_incr:calls=1,") &&
                      strstr(info, ",rejected_calls=0,failed_calls=1\r\n") &&
                      strstr(info, "\r\n\r\n# Errorstats\r\nerrorstat_ERR:count=3\r\n") &&
                      !strstr(info, "# Server"),
                  "%s", info);
    free(info);
    info = bulk_reply(fd, "INFO\r\n");
    ck_assert_msg(strstr(info, "# Persistence\r\nloading:0\r\n") &&
                      strstr(info, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n") &&
                      strstr(info, "# CPU\r\nused_cpu_sys:") && strstr(info, "used_cpu_user:") &&
                      strstr(info, "# Errorstats\r\nerrorstat_ERR:count=3\r\n") &&
                      strstr(info, "# Cluster\r\ncluster_enabled:0\r\n") &&
                      strstr(info, "total_error_replies:3\r\n") &&
                      !strstr(info, "# Commandstats"),
                  "%s", info);
    v = strstr(info, "run_id:");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(strcspn(v + 7, "\r"), 40);
    free(info);
    expect_line(fd, "CONFIG RESETSTAT\r\n", "+OK\r\n");
    info = bulk_reply(fd, "INFO errorstats\r\n");
    ck_assert_str_eq(info, "# Errorstats\r\n");
    free(info);
    info = bulk_reply(fd, "INFO commandstats\r\n");
    ck_assert_msg(strncmp(info, "# Commandstats\r\ncmdstat_config|resetstat:calls=1,", 48) == 0 &&
                      !strstr(info, "cmdstat_get"),
                  "%s", info);
    free(info);
    (void)line;
    close(fd);
    stop_kvd(&p);
}
END_TEST

/* SET key value, the value any n bytes. */
static void set_raw(int fd, const char *key, const char *v, size_t n)
{
    char *req = malloc(n + 128);
    size_t len = (size_t)sprintf(req, "*3\r\n");

    put_bulk(req, &len, "SET", 3);
    put_bulk(req, &len, key, strlen(key));
    put_bulk(req, &len, v, n);
    send_all(fd, req, len);
    free(req);
    expect_bytes(fd, "+OK\r\n");
}

/* Every command that grows a value stays within --max-bulk, as Redis'
 * stay within proto-max-bulk-len: SETRANGE, SETBIT, APPEND, INCRBYFLOAT;
 * and LCS's table within its bound of 2^23 cells. */
START_TEST(test_kvd_string_limits)
{
    static const char *const extra[] = {"--max-bulk", "4k", "--max-query", "16k", NULL};
    tu_proc p;
    int port = start_kvd(&p, extra), fd = tu_blocking_client(port);
    char *big = malloc(8192);

    ck_assert_int_eq(int_reply(fd, "SETRANGE k 4095 x\r\n"), 4096);
    expect_line(fd, "SETRANGE k 4096 x\r\n",
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    expect_line(fd, "SETRANGE k2 4090 abcdefg\r\n",
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    ck_assert_int_eq(int_reply(fd, "EXISTS k2\r\n"), 0);
    ck_assert_int_eq(int_reply(fd, "SETRANGE k2 4096 \"\"\r\n"), 0);
    ck_assert_int_eq(int_reply(fd, "STRLEN k\r\n"), 4096);
    expect_line(fd, "APPEND k x\r\n",
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    ck_assert_int_eq(int_reply(fd, "SETBIT b 32767 1\r\n"), 0);
    ck_assert_int_eq(int_reply(fd, "STRLEN b\r\n"), 4096);
    ck_assert_int_eq(int_reply(fd, "GETBIT b 32767\r\n"), 1);
    expect_line(fd, "SETBIT b 32768 1\r\n", "-ERR bit offset is not an integer or out of range\r\n");
    expect_line(fd, "GETBIT b 32768\r\n", "-ERR bit offset is not an integer or out of range\r\n");
    ck_assert_int_eq(int_reply(fd, "BITCOUNT b\r\n"), 1);
    ck_assert_int_eq(int_reply(fd, "BITCOUNT b -1 -1\r\n"), 1);
    ck_assert_int_eq(int_reply(fd, "BITCOUNT b 32767 32767 BIT\r\n"), 1);
    ck_assert_int_eq(int_reply(fd, "BITCOUNT b 0 32766 BIT\r\n"), 0);
    if (!tu_slow()) { /* valgrind's long double is a double: 1e4200 overflows, inf is not */
        expect_line(fd, "INCRBYFLOAT f inf\r\n", "-ERR increment would produce NaN or Infinity\r\n");
        expect_line(fd, "SET f 1e4200\r\n", "+OK\r\n");
        expect_line(fd, "INCRBYFLOAT f 1\r\n",
                    "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    }

    /* LCS: (2895 + 1)^2 cells fit, (2896 + 1)^2 do not. */
    memset(big, 'a', 2896);
    set_raw(fd, "l1", big, 2895);
    set_raw(fd, "l2", big, 2895);
    set_raw(fd, "l3", big, 2896);
    set_raw(fd, "l4", big, 2896);
    ck_assert_int_eq(int_reply(fd, "LCS l1 l2 LEN\r\n"), 2895);
    expect_line(fd, "LCS l3 l4 LEN\r\n",
                "-ERR String too long for LCS: (2896+1)*(2896+1) cells, at most 8388608\r\n");
    expect_line(fd, "LCS l1 l4 IDX\r\n",
                "-ERR String too long for LCS: (2895+1)*(2896+1) cells, at most 8388608\r\n");
    send_str(fd, "LCS l1 l2 IDX MINMATCHLEN 2896\r\n");
    expect_bytes(fd, "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:2895\r\n");
    free(big);
    close(fd);
    stop_kvd(&p);
}
END_TEST

START_TEST(test_kvd_help_version)
{
    char out[4096];
    const char *h[] = {KVD, "--help", NULL};
    const char *v[] = {KVD, "-V", NULL};
    int status;

    status = run_tool(h, out, sizeof(out));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(strstr(out, "--max-memory") && strstr(out, "--max-output") &&
                      strstr(out, "127.0.0.1:6380"),
                  "%s", out);
    status = run_tool(v, out, sizeof(out));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_str_eq(out, "sb-kvd (switchboard) " SB_VERSION_STRING "\n");
}
END_TEST

Suite *sb_kvd_suite(void)
{
    Suite *s = suite_create("kvd");
    TCase *tc = tcase_create("daemon");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kvd_cli_transcript);
    tcase_add_test(tc, test_kvd_cli_commands);
    tcase_add_test(tc, test_kvd_cli_more);
    tcase_add_test(tc, test_kvd_benchmark);
    tcase_add_test(tc, test_kvd_protocol_errors);
    tcase_add_test(tc, test_kvd_limits);
    tcase_add_test(tc, test_kvd_keys_budget);
    tcase_add_test(tc, test_kvd_glob_rules);
    tcase_add_test(tc, test_kvd_max_output);
    tcase_add_test(tc, test_kvd_query_limit);
    tcase_add_test(tc, test_kvd_query_memory);
    tcase_add_test(tc, test_kvd_memory_returns);
    tcase_add_test(tc, test_kvd_max_conns);
    tcase_add_test(tc, test_kvd_expiry);
    tcase_add_test(tc, test_kvd_oom);
    tcase_add_test(tc, test_kvd_pipeline);
    tcase_add_test(tc, test_kvd_split_every_byte);
    tcase_add_test(tc, test_kvd_many_keys);
    tcase_add_test(tc, test_kvd_idle_and_sigterm);
    tcase_add_test(tc, test_kvd_user_and_stats);
    tcase_add_test(tc, test_kvd_bad_arguments);
    tcase_add_test(tc, test_kvd_help_version);
    tcase_add_test(tc, test_kvd_wall_clock);
    tcase_add_test(tc, test_kvd_scan);
    tcase_add_test(tc, test_kvd_auth);
    tcase_add_test(tc, test_kvd_clients);
    tcase_add_test(tc, test_kvd_introspection);
    tcase_add_test(tc, test_kvd_string_limits);
    suite_add_tcase(s, tc);
    return s;
}
