/*
 * bulk-source — the upstream of make bench's proxy memory check: each
 * client that sends a byte gets BYTES of the periodic pattern (pattern.h,
 * from offset 0) as fast as it takes them, then an orderly close.  What the
 * client sends after its first byte is read and dropped.  A connection that
 * sends nothing (a probe) is closed when its peer closes.  Level-triggered
 * epoll, one write() of up to 256 KiB per writable event.
 *
 *   bulk-source ADDR BYTES     (host:port or unix:/path)
 */
#include "common.h"
#include "pattern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (256u << 10)
#define MAX_EVENTS 256

typedef struct src {
    int sending;
    unsigned long long sent;
} src;

static src *s;
static size_t ns;
static int ep;
static unsigned long long total;
static unsigned char *pat;

static void watch(int fd, unsigned events, int op)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        close(fd);
}

static int slot(int fd)
{
    if ((size_t)fd >= ns) {
        size_t n = ns ? ns : 1024;
        src *p;
        while (n <= (size_t)fd)
            n *= 2;
        if (!(p = realloc(s, n * sizeof(*p))))
            return -1;
        memset(p + ns, 0, (n - ns) * sizeof(*p));
        s = p;
        ns = n;
    }
    memset(&s[fd], 0, sizeof(s[fd]));
    return 0;
}

/* Input: the first byte starts the stream; EOF or an error ends it. */
static void readable(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0) {
        if (!s[fd].sending) {
            s[fd].sending = 1;
            watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        }
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    close(fd);
}

static void writable(int fd)
{
    unsigned long long left = total - s[fd].sent;
    size_t len = left < CHUNK ? (size_t)left : CHUNK;
    ssize_t n;

    n = write(fd, pat + s[fd].sent % PAT_PERIOD, len);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            close(fd);
        return;
    }
    s[fd].sent += (unsigned long long)n;
    if (s[fd].sent == total) {
        /* All sent: an orderly close once the client has read it (what it
         * still sends is dropped first, so the close is no reset). */
        shutdown(fd, SHUT_WR);
        s[fd].sending = 2;
        watch(fd, EPOLLIN, EPOLL_CTL_MOD);
    }
}

int main(int argc, char **argv)
{
    struct epoll_event events[MAX_EVENTS];
    char *end;
    int lfd, i, n;

    if (argc != 3 || !(total = strtoull(argv[2], &end, 10)) || *end) {
        fprintf(stderr, "usage: bulk-source ADDR BYTES   (host:port or unix:/path)\n");
        return 2;
    }
    pat = pat_period(CHUNK);
    if (!pat) {
        fprintf(stderr, "bulk-source: out of memory\n");
        return 1;
    }
    lfd = bench_listen("bulk-source", argv[1]);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("bulk-source: epoll_create1");
        return 1;
    }
    watch(lfd, EPOLLIN, EPOLL_CTL_ADD);
    for (;;) {
        n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("bulk-source: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (slot(c) < 0) {
                        close(c);
                        continue;
                    }
                    bench_nodelay(c);
                    watch(c, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            if ((events[i].events & EPOLLOUT) && s[fd].sending == 1)
                writable(fd);
            else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                readable(fd);
        }
    }
}
