/*
 * The part of tests/testutil.c the Windows runner's suites use
 * (tests/wine/check_win32.c), for the mingw-w64 build: no fork(), no
 * pipes, no /proc.  The tests' socket calls go through the library's OS
 * seam (testutil.h includes internal.h, whose os.h renames them), so the
 * fds here are the library's numbers, as in the library itself.
 */
#include "testutil.h"
#include "win32_shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A socket pair stands in for a pipe (os_win32.c's sb__os_pipe). */
void tu_pipe(int p[2], int nonblock)
{
    (void)nonblock; /* both ends are non-blocking, as the tests ask */
    ck_assert_int_eq(sb__w32_pipe(p), 0); /* the tests' own: not through the fault seam */
}

int tu_socket(int domain, int type)
{
    return sb__os_socket(domain, type, 0);
}

void tu_set_cloexec(int fd)
{
    (void)fd; /* the library's sockets are never inherited */
}

int tu_connect_addr(const char *addr)
{
    sb__addr a;
    int fd, rc;

    ck_assert_int_eq(sb__addr_parse(addr, 0, &a), 0);
    fd = tu_socket(a.ss.ss_family, SOCK_STREAM);
    ck_assert_int_ge(fd, 0);
    rc = connect(fd, (struct sockaddr *)&a.ss, a.len);
    ck_assert_msg(rc == 0, "connect %s: %s", addr, strerror(errno));
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

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

int tu_slow(void)
{
    return 0;
}

int tu_skip_on_epoll(const char *test)
{
    (void)test;
    return 0; /* no epoll on Windows: the select backend runs */
}

ssize_t tu_send(int fd, const void *p, size_t n)
{
    ssize_t r;
    do
        r = send(fd, p, n, 0);
    while (r < 0 && errno == EINTR);
    return r;
}

ssize_t tu_drain(int fd, void *buf, size_t max, int *eof)
{
    size_t got = 0;

    while (got < max) {
        ssize_t r = recv(fd, (char *)buf + got, max - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            *eof = 1;
        else if (errno == EINTR)
            continue;
        else if (errno != EAGAIN)
            *eof = -errno;
        break;
    }
    return (ssize_t)got;
}

int tu_under_wine(void)
{
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

#undef sb_conn_fd
#undef sb_listener_fd
#undef sb_udp_fd
int tu_w32_num(sb_socket_t s)
{
    return s == SB_INVALID_SOCKET ? -1 : sb__w32_fd_of((SOCKET)s);
}

static void to_sockets(fd_set *set)
{
    u_int i;
    for (i = 0; set && i < set->fd_count; i++)
        set->fd_array[i] = sb__w32_sock((int)set->fd_array[i]);
}

static void to_numbers(fd_set *set)
{
    u_int i;
    for (i = 0; set && i < set->fd_count; i++)
        set->fd_array[i] = (SOCKET)(intptr_t)sb__w32_fd_of(set->fd_array[i]);
}

#undef select
int tu_w32_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    int n;

    (void)nfds;
    to_sockets(r);
    to_sockets(w);
    to_sockets(e);
    n = select(0, r, w, e, tv);
    if (n == SOCKET_ERROR)
        errno = WSAGetLastError() == WSAENOTSOCK ? EBADF : EINVAL;
    to_numbers(r);
    to_numbers(w);
    to_numbers(e);
    return n == SOCKET_ERROR ? -1 : n;
}

/* sb_io_new takes the SOCKET behind one of the library's numbers. */
#undef sb_io_new
sb_io *tu_w32_io_new(sb_loop *loop, int fd, sb_io_cb cb, void *udata, int *err)
{
    return sb_io_new(loop, (sb_socket_t)sb__os_public(fd), cb, udata, err);
}

/* ---- the portable helpers, as in tests/testutil.c (kept in step by hand) */

void tu_make_pipe(int p[2])
{
    tu_pipe(p, 1);
}

/* fds above FD_SETSIZE: the library's numbers, which have no limit
 * (sys/resource.h here) and which dup2 moves a SOCKET to (os_win32.c). */
int tu_fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

int tu_ensure_fd_limit(int highest, const char *test)
{
    (void)highest;
    (void)test;
    return 1;
}

/* As tests/testutil.c's: the SOCKET moves to a free number >= target and
 * fd is closed (which, after the move, only frees its number). */
int tu_move_fd_high(int fd, int target)
{
    int n;

    for (n = target; n < target + 64; n++) {
        if (tu_fd_is_open(n))
            continue;
        if (dup2(fd, n) != n)
            return -1;
        ck_assert_int_eq(close(fd), 0);
        return n;
    }
    return -1;
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

/* The library's socket numbers in use (os_win32.c's table). */
int tu_count_fds(void)
{
    int fd, n = 0;

    for (fd = 0; fd < 1 << 16; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}
