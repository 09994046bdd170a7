/*
 * The Windows version of tests/testutil.c's POSIX-only part, for the
 * Windows runner's suites (tests/wine/check_win32.c) in the mingw-w64
 * build: no fork(), no pipes, no /proc; what is the same on both is in
 * tests/testutil_common.c.  The tests' socket calls go through the library's OS
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

/* The library's socket numbers in use (os_win32.c's table). */
int tu_count_fds(void)
{
    int fd, n = 0;

    for (fd = 0; fd < 1 << 16; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}
