/*
 * epoll-echo — the practical ceiling for one thread: a minimal hand-tuned
 * epoll echo server.  Level-triggered; per readiness event one read() of
 * up to 64 KiB into a static buffer and one write() of it straight back.
 * Only a partial write costs anything more: the rest is kept for that
 * connection, reading stops, and write readiness finishes it.
 *
 *   epoll-echo ADDR        (host:port or unix:/path)
 */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 1024

typedef struct pending {
    char *data;
    size_t off, len;
} pending;

static char buf[BUF_SIZE];
static pending *pend; /* by fd; data == NULL when nothing is waiting */
static size_t npend;
static int ep;

static void drop(int fd)
{
    if ((size_t)fd < npend) {
        free(pend[fd].data);
        pend[fd].data = NULL;
    }
    close(fd); /* also leaves the epoll set */
}

static void watch(int fd, unsigned events, int op)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        drop(fd);
}

/* Keep what write() did not take; wait for writability instead of input. */
static void keep(int fd, const char *data, size_t len)
{
    if ((size_t)fd >= npend) {
        size_t n = npend ? npend : 1024;
        pending *p;
        while (n <= (size_t)fd)
            n *= 2;
        p = realloc(pend, n * sizeof(*p));
        if (!p) {
            drop(fd);
            return;
        }
        memset(p + npend, 0, (n - npend) * sizeof(*p));
        pend = p;
        npend = n;
    }
    pend[fd].data = malloc(len);
    if (!pend[fd].data) {
        drop(fd);
        return;
    }
    memcpy(pend[fd].data, data, len);
    pend[fd].off = 0;
    pend[fd].len = len;
    watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
}

static void readable(int fd)
{
    ssize_t n = read(fd, buf, sizeof(buf)), w;

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        drop(fd);
        return;
    }
    w = write(fd, buf, (size_t)n);
    if (w == n)
        return;
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            drop(fd);
            return;
        }
        w = 0;
    }
    keep(fd, buf + w, (size_t)(n - w));
}

static void writable(int fd)
{
    pending *p;
    ssize_t w;

    /* A stale event for a number closed and reused in this batch. */
    if ((size_t)fd >= npend || !pend[fd].data)
        return;
    p = &pend[fd];
    w = write(fd, p->data + p->off, p->len - p->off);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            drop(fd);
        return;
    }
    p->off += (size_t)w;
    if (p->off < p->len)
        return;
    free(p->data);
    p->data = NULL;
    watch(fd, EPOLLIN, EPOLL_CTL_MOD);
}

int main(int argc, char **argv)
{
    struct epoll_event events[MAX_EVENTS];
    int lfd, i, n;

    if (argc != 2) {
        fprintf(stderr, "usage: epoll-echo ADDR   (host:port or unix:/path)\n");
        return 2;
    }
    lfd = bench_listen("epoll-echo", argv[1]);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll-echo: epoll_create1");
        return 1;
    }
    watch(lfd, EPOLLIN, EPOLL_CTL_ADD);
    for (;;) {
        n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll-echo: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    bench_nodelay(c);
                    watch(c, EPOLLIN, EPOLL_CTL_ADD);
                }
            } else if (events[i].events & EPOLLOUT) {
                writable(fd);
            } else {
                readable(fd);
            }
        }
    }
}
