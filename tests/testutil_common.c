/*
 * The part of the tests' helpers that is the same on POSIX and on Windows
 * (linked into the Linux runner with tests/testutil.c, and into the
 * Windows runner with tests/wine/testutil_win32.c): loop driving, the
 * pseudo-random pattern, the echo test server, sockets that hang or are
 * refused.  Its socket calls go through testutil.h, whose internal.h
 * renames them to the library's OS seam on Windows.
 */
#include "testutil.h"
#ifdef _WIN32
#include "win32_shim.h"
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tu_connect_tcp(int port)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "127.0.0.1:%d", port);
    return tu_connect_addr(buf);
}

int tu_run_until(sb_loop *loop, volatile int *flag, int max_iter)
{
    (void)TU_RUN_UNTIL(loop, *flag, max_iter);
    return *flag;
}

void tu_make_pipe(int p[2])
{
    tu_pipe(p, 1);
}

void tu_close_fd(int fd)
{
    if (fd >= 0)
        ck_assert_int_eq(close(fd), 0);
}

void tu_write_byte(int fd, char c)
{
    ck_assert_int_eq(write(fd, &c, 1), 1);
}

int tu_closed_port(int type)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = tu_socket(AF_INET, type), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void tu_hang_open(tu_hang *h)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    h->lfd = tu_socket(AF_INET, SOCK_STREAM);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(h->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(h->lfd, 0), 0);
    ck_assert_int_eq(getsockname(h->lfd, (struct sockaddr *)&a, &len), 0);
    h->port = ntohs(a.sin_port);
    snprintf(h->addr, sizeof(h->addr), "127.0.0.1:%d", h->port);
    h->filler = tu_connect_tcp(h->port); /* the queue had room for this one */
}

void tu_hang_close(tu_hang *h)
{
    close(h->filler);
    close(h->lfd);
}

uint32_t tu_rand(uint32_t *s)
{
    /* xorshift32 */
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

void tu_fill(unsigned char *p, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(tu_rand(&seed) >> 24);
}

uint64_t tu_clock_fn(void *udata)
{
    return ((tu_clock *)udata)->now;
}

void tu_loop_teardown(sb_loop *loop)
{
    int i;

    for (i = 0; i < 1000 && sb_loop_run_once(loop, 0) > 0; i++)
        ;
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    ck_assert_int_eq(sb_loop_free(loop), 0);
}

static void tus_open(sb_conn *c, void *udata)
{
    tu_server *s = udata;
    s->opens++;
    s->last = c;
}

static void tus_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    tu_server *s = udata;
    s->datas++;
    s->bytes += len;
    if (!s->no_echo && sb_write(c, data, len) != 0) {
        ck_assert_msg(s->lenient, "sb_write failed");
        sb_abort(c);
    }
}

static void tus_eof(sb_conn *c, void *udata)
{
    tu_server *s = udata;
    s->eofs++;
    sb_close(c);
}

static void tus_drain(sb_conn *c, void *udata)
{
    tu_server *s = udata;
    (void)c;
    s->drains++;
}

static void tus_close(sb_conn *c, int reason, void *udata)
{
    tu_server *s = udata;
    s->closes++;
    s->last_reason = reason;
    if (s->last == c)
        s->last = NULL;
}

const sb_handler tu_echo_handler = {tus_open, tus_data, tus_eof, tus_drain, tus_close, NULL};

void tu_server_start(tu_server *s, sb_loop *loop, const char *addr, const sb_listen_opts *o)
{
    int err = 0;

    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->l = sb_listen(loop, addr, &tu_echo_handler, s, o, &err);
    ck_assert_msg(s->l != NULL, "listen %s: %s", addr, sb_strerror(err));
    s->port = sb_listener_port(s->l);
}

/*
 * Drive one client against the loop: send `len` pseudo-random bytes in
 * random chunk sizes (1..max_chunk), reading the echo as it comes, reading
 * at most `read_cap` bytes per iteration (a slow reader when small), then
 * verify every byte.  Returns the bytes verified.
 */
size_t tu_echo_stream(tu_server *s, int fd, size_t len, size_t max_chunk, size_t read_cap,
                          uint32_t seed, int half_close)
{
    unsigned char *out = malloc(len ? len : 1), *in = malloc(len + 1);
    size_t sent = 0, got = 0;
    uint32_t rs = seed * 7 + 1;
    int eof = 0, iter, progress = 0;

    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(in);
    tu_fill(out, len, seed);
    for (iter = 0; iter < 2000000 && (got < len || (half_close && !eof)); iter++) {
        if (sent < len) {
            size_t n = 1 + tu_rand(&rs) % max_chunk;
            ssize_t w;
            if (n > len - sent)
                n = len - sent;
            w = tu_send(fd, out + sent, n);
            if (w > 0)
                sent += (size_t)w;
            else
                ck_assert_msg(errno == EAGAIN, "send: %s", strerror(errno));
            if (sent == len && half_close)
                ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
        }
        /* Block briefly only when the last round made no progress. */
        sb_loop_run_once(s->loop, sent < len || progress ? 0 : 10);
        {
            size_t cap = read_cap < len + 1 - got ? read_cap : len + 1 - got;
            ssize_t r = tu_drain(fd, in + got, cap, &eof);
            got += (size_t)r;
            progress = r > 0;
        }
        ck_assert_int_ge(eof, 0);
        if (eof && !half_close)
            break;
    }
    ck_assert_uint_eq(got, len);
    ck_assert_int_eq(memcmp(in, out, len), 0);
    free(out);
    free(in);
    return got;
}
