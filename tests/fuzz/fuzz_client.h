/*
 * Shared by the socket-level fuzz targets (fuzz_conn.c, fuzz_resp.c,
 * fuzz_http.c): a loopback TCP client, the count of open fds, CHECK().
 * Header-only (static functions): each target is one translation unit.
 */
#ifndef SB_FUZZ_CLIENT_H
#define SB_FUZZ_CLIENT_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An invariant: on violation say which one, then abort() (libFuzzer saves
 * the input and prints the stack). */
#define CHECK(x)                                                                          \
    do {                                                                                  \
        if (!(x)) {                                                                       \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #x);   \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* Open descriptors of the process, /proc/self/fd's entries minus the one
 * opendir uses. */
static __attribute__((unused)) int fz_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/*
 * A blocking connect to 127.0.0.1:port, then non-blocking.  The source
 * address cycles through 127.0.0.2..127.0.0.254 (IP_BIND_ADDRESS_NO_PORT:
 * the port is picked at connect time), so thousands of short connections
 * a second never run out of ephemeral ports because of TIME_WAIT.
 */
static __attribute__((unused)) int fz_connect(int port)
{
    static unsigned src;
    struct sockaddr_in a, b;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    memset(&b, 0, sizeof(b));
    b.sin_family = AF_INET;
    b.sin_addr.s_addr = htonl(0x7f000002u + (src++ % 253));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&b, sizeof(b)) < 0) {
        fprintf(stderr, "fuzz: bind 127.0.0.x: %s\n", strerror(errno));
        abort();
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Non-blocking, then wait: libFuzzer's SIGALRM watchdog would make a
     * blocking connect fail with EINTR. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        struct pollfd p = {fd, POLLOUT, 0};
        int err = errno, rc;
        socklen_t len = sizeof(err);
        if (err == EINPROGRESS) {
            while ((rc = poll(&p, 1, 5000)) < 0 && errno == EINTR)
                ;
            if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                err = 0;
            else if (rc == 0)
                err = ETIMEDOUT;
        }
        if (err) {
            fprintf(stderr, "fuzz: connect 127.0.0.1:%d: %s\n", port, strerror(err));
            abort();
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Close with a reset (SO_LINGER 0): no TIME_WAIT, the peer sees RST. */
static __attribute__((unused)) void fz_close_reset(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* A growable byte buffer for what a client received. */
typedef struct fz_buf {
    char *p;
    size_t len, cap;
} fz_buf;

static __attribute__((unused)) void fz_buf_add(fz_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/*
 * A client of the daemon targets: the bytes it still has to send, what it
 * received, and how its receiving side ended.
 */
typedef struct fz_client {
    int fd;
    const char *out; /* still to send (not owned) */
    size_t out_len;
    int shut;        /* shutdown(SHUT_WR) once out is sent */
    int eof;         /* read returned 0 */
    int err;         /* read or send failed: errno */
    fz_buf in;       /* everything received */
    size_t in_max;   /* past this, received bytes are counted, not kept */
    size_t in_total;
} fz_client;

/* Send what it can without blocking; half-close once all is out, if asked. */
static __attribute__((unused)) void fz_client_send(fz_client *cl)
{
    while (cl->fd >= 0 && cl->out_len && !cl->err) {
        ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            cl->out += n;
            cl->out_len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* The server closed early (QUIT, a protocol error): the rest is moot. */
        cl->err = errno;
        cl->out_len = 0;
    }
    if (cl->fd >= 0 && cl->shut == 1 && cl->out_len == 0) {
        shutdown(cl->fd, SHUT_WR);
        cl->shut = 2;
    }
}

/* Read what is there without blocking. */
static __attribute__((unused)) void fz_client_recv(fz_client *cl)
{
    char buf[65536];

    while (cl->fd >= 0 && !cl->eof && !cl->err) {
        ssize_t n = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            size_t keep = cl->in.len < cl->in_max ? cl->in_max - cl->in.len : 0;
            fz_buf_add(&cl->in, buf, (size_t)n < keep ? (size_t)n : keep);
            cl->in_total += (size_t)n;
            continue;
        }
        if (n == 0) {
            cl->eof = 1;
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            cl->err = errno;
        return;
    }
}

#endif
