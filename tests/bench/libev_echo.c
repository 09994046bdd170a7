/*
 * libev-echo — an echo server on libev's select() backend
 * (ev_default_loop(EVBACKEND_SELECT)): the best-known select() loop to
 * measure switchboard's against.  The same logic as epoll-echo: per
 * readiness event one read() of up to 64 KiB and one write() straight back;
 * a partial write keeps the rest and waits for writability.
 *
 *   libev-echo ADDR        (host:port or unix:/path)
 */
#include "common.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536

typedef struct conn {
    ev_io io;
    char *pend;
    size_t off, len;
} conn;

static char buf[BUF_SIZE];

static void drop(struct ev_loop *loop, conn *c)
{
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c->pend);
    free(c);
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    conn *c = (conn *)w;
    ssize_t n, m;

    if (revents & EV_WRITE) {
        m = write(w->fd, c->pend + c->off, c->len - c->off);
        if (m < 0) {
            if (errno != EAGAIN && errno != EINTR)
                drop(loop, c);
            return;
        }
        c->off += (size_t)m;
        if (c->off < c->len)
            return;
        free(c->pend);
        c->pend = NULL;
        ev_io_stop(loop, w);
        ev_io_set(w, w->fd, EV_READ);
        ev_io_start(loop, w);
        return;
    }
    n = read(w->fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        drop(loop, c);
        return;
    }
    m = write(w->fd, buf, (size_t)n);
    if (m == n)
        return;
    if (m < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            drop(loop, c);
            return;
        }
        m = 0;
    }
    c->pend = malloc((size_t)(n - m));
    if (!c->pend) {
        drop(loop, c);
        return;
    }
    memcpy(c->pend, buf + m, (size_t)(n - m));
    c->off = 0;
    c->len = (size_t)(n - m);
    ev_io_stop(loop, w);
    ev_io_set(w, w->fd, EV_WRITE);
    ev_io_start(loop, w);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    int fd;

    (void)revents;
    while ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        bench_nodelay(fd);
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

int main(int argc, char **argv)
{
    struct ev_loop *loop;
    ev_io lio;
    int lfd;

    if (argc != 2) {
        fprintf(stderr, "usage: libev-echo ADDR   (host:port or unix:/path)\n");
        return 2;
    }
    loop = ev_default_loop(EVBACKEND_SELECT);
    if (!loop || ev_backend(loop) != EVBACKEND_SELECT) {
        fprintf(stderr, "libev-echo: libev's select backend is not available\n");
        return 1;
    }
    lfd = bench_listen("libev-echo", argv[1]);
    ev_io_init(&lio, accept_cb, lfd, EV_READ);
    ev_io_start(loop, &lio);
    ev_run(loop, 0);
    return 0;
}
