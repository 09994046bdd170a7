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
    ck_assert_int_eq(sb__os_pipe(p), 0);
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

/* sb_io_new takes the SOCKET behind one of the library's numbers. */
#undef sb_io_new
sb_io *tu_w32_io_new(sb_loop *loop, int fd, sb_io_cb cb, void *udata, int *err)
{
    return sb_io_new(loop, (sb_socket_t)sb__os_public(fd), cb, udata, err);
}
