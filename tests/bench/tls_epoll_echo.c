/*
 * tls-epoll-echo -- the reference for the bulk TLS echo of `make bench`: a
 * minimal one-thread epoll echo server over OpenSSL, the same shape as
 * epoll_echo.c.  Level-triggered; non-blocking sockets; per readiness event
 * the handshake is driven, or SSL_read() of up to 64 KiB into a static
 * buffer (again while OpenSSL holds more) and SSL_write() of it straight
 * back.  SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER:
 * a partial write keeps the rest for that connection, reading stops, and
 * the readiness OpenSSL wants finishes it.  Session tickets on (OpenSSL's
 * default), TLS 1.2 and 1.3.
 *
 *   tls-epoll-echo PORT CERT KEY      (listens on 127.0.0.1:PORT)
 */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 1024

typedef struct tconn {
    SSL *ssl;
    int handshaking;
    char *data; /* what SSL_write did not take, or NULL */
    size_t off, len;
} tconn;

static char buf[BUF_SIZE];
static tconn *conns; /* by fd; ssl == NULL when unused */
static size_t nconns;
static int ep;

static void drop(int fd)
{
    tconn *t = &conns[fd];

    SSL_free(t->ssl);
    free(t->data);
    memset(t, 0, sizeof(*t));
    ERR_clear_error();
    close(fd); /* also leaves the epoll set */
}

static int watch(int fd, unsigned events, int op)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(ep, op, fd, &ev);
}

/* After an SSL call returned r <= 0: wait for what OpenSSL wants, or drop. */
static void want(int fd, int r)
{
    switch (SSL_get_error(conns[fd].ssl, r)) {
    case SSL_ERROR_WANT_READ:
        if (watch(fd, EPOLLIN, EPOLL_CTL_MOD) < 0)
            drop(fd);
        return;
    case SSL_ERROR_WANT_WRITE:
        if (watch(fd, EPOLLOUT, EPOLL_CTL_MOD) < 0)
            drop(fd);
        return;
    default:
        drop(fd);
    }
}

static int grow(int fd)
{
    size_t n;
    tconn *p;

    if ((size_t)fd < nconns)
        return 0;
    n = nconns ? nconns : 1024;
    while (n <= (size_t)fd)
        n *= 2;
    p = realloc(conns, n * sizeof(*p));
    if (!p)
        return -1;
    memset(p + nconns, 0, (n - nconns) * sizeof(*p));
    conns = p;
    nconns = n;
    return 0;
}

/* Write the pending bytes; 1 when all went, 0 when waiting (or dropped). */
static int flush(int fd)
{
    tconn *t = &conns[fd];

    while (t->off < t->len) {
        int w = SSL_write(t->ssl, t->data + t->off, (int)(t->len - t->off));
        if (w <= 0) {
            want(fd, w);
            return 0;
        }
        t->off += (size_t)w;
    }
    free(t->data);
    t->data = NULL;
    return 1;
}

static void keep(int fd, const char *data, size_t len)
{
    tconn *t = &conns[fd];

    t->data = malloc(len);
    if (!t->data) {
        drop(fd);
        return;
    }
    memcpy(t->data, data, len);
    t->off = 0;
    t->len = len;
}

static void serve(int fd)
{
    tconn *t = &conns[fd];
    int r;

    if (t->handshaking) {
        r = SSL_do_handshake(t->ssl);
        if (r <= 0) {
            want(fd, r);
            return;
        }
        t->handshaking = 0;
        if (watch(fd, EPOLLIN, EPOLL_CTL_MOD) < 0) {
            drop(fd);
            return;
        }
    }
    if (t->data) {
        if (!flush(fd))
            return;
        if (watch(fd, EPOLLIN, EPOLL_CTL_MOD) < 0) {
            drop(fd);
            return;
        }
    }
    do {
        int n = SSL_read(t->ssl, buf, sizeof(buf)), w, e;
        if (n <= 0) {
            if (SSL_get_error(t->ssl, n) == SSL_ERROR_ZERO_RETURN) {
                drop(fd);
                return;
            }
            want(fd, n);
            return;
        }
        w = SSL_write(t->ssl, buf, n);
        if (w == n)
            continue;
        /* Partial (or none): keep the rest, wait for what OpenSSL wants
         * (a partial write wants writability). */
        e = w <= 0 ? SSL_get_error(t->ssl, w) : SSL_ERROR_WANT_WRITE;
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
            drop(fd);
            return;
        }
        keep(fd, buf + (w > 0 ? w : 0), (size_t)(n - (w > 0 ? w : 0)));
        if (conns[fd].ssl &&
            watch(fd, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT, EPOLL_CTL_MOD) < 0)
            drop(fd);
        return;
    } while (SSL_pending(t->ssl) > 0);
}

int main(int argc, char **argv)
{
    struct epoll_event events[MAX_EVENTS];
    char addr[64];
    SSL_CTX *ctx;
    int lfd, i, n;

    if (argc != 4) {
        fprintf(stderr, "usage: tls-epoll-echo PORT CERT KEY   (listens on 127.0.0.1:PORT)\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "tls-epoll-echo: %s: ", argv[2]);
        ERR_print_errors_fp(stderr);
        return 2;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tls-epoll-echo", 14);
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", argv[1]);
    lfd = bench_listen("tls-epoll-echo", addr);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("tls-epoll-echo: epoll_create1");
        return 1;
    }
    watch(lfd, EPOLLIN, EPOLL_CTL_ADD);
    for (;;) {
        n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("tls-epoll-echo: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    SSL *ssl;
                    if (grow(c) < 0 || !(ssl = SSL_new(ctx))) {
                        close(c);
                        continue;
                    }
                    bench_nodelay(c);
                    SSL_set_fd(ssl, c);
                    SSL_set_accept_state(ssl);
                    conns[c].ssl = ssl;
                    conns[c].handshaking = 1;
                    if (watch(c, EPOLLIN, EPOLL_CTL_ADD) < 0)
                        drop(c);
                }
            } else if ((size_t)fd < nconns && conns[fd].ssl) {
                serve(fd);
            }
        }
    }
}
