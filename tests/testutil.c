#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int tu_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static int make_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int tu_connect_addr(const char *addr)
{
    sb__addr a;
    int fd, rc;

    ck_assert_int_eq(sb__addr_parse(addr, 0, &a), 0);
    fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    do
        rc = connect(fd, (struct sockaddr *)&a.ss, a.len);
    while (rc < 0 && errno == EINTR);
    ck_assert_msg(rc == 0, "connect %s: %s", addr, strerror(errno));
    make_nonblock(fd);
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
    int i;

    for (i = 0; i < max_iter && !*flag; i++)
        sb_loop_run_once(loop, 10);
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
    return getenv("SB_UNDER_VALGRIND") != NULL;
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
    if (!s->no_echo)
        ck_assert_int_eq(sb_write(c, data, len), 0);
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

ssize_t tu_send(int fd, const void *p, size_t n)
{
    ssize_t r;
    do
        r = send(fd, p, n, MSG_NOSIGNAL);
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
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            *eof = -errno;
        break;
    }
    return (ssize_t)got;
}
