/*
 * libuv-echo — an echo server on libuv, written like libuv's own benchmark
 * server (test/echo-server.c in libuv's sources): alloc_cb hands out a
 * fresh 64 KiB buffer for each read, and each read is echoed with one
 * uv_write() whose request frees the buffer when the write completes.
 *
 *   libuv-echo ADDR        (host:port or unix:/path)
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct write_req {
    uv_write_t req;
    uv_buf_t buf;
} write_req;

static uv_loop_t *loop;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void close_cb(uv_handle_t *h)
{
    free(h);
}

static void after_write(uv_write_t *req, int status)
{
    write_req *wr = (write_req *)req;

    (void)status;
    free(wr->buf.base);
    free(wr);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    write_req *wr;

    if (nread < 0) {
        free(buf->base);
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, close_cb);
        return;
    }
    if (nread == 0) {
        free(buf->base);
        return;
    }
    wr = malloc(sizeof(*wr));
    if (!wr) {
        free(buf->base);
        uv_close((uv_handle_t *)s, close_cb);
        return;
    }
    wr->buf = uv_buf_init(buf->base, (unsigned)nread);
    if (uv_write(&wr->req, s, &wr->buf, 1, after_write)) {
        free(buf->base);
        free(wr);
        uv_close((uv_handle_t *)s, close_cb);
    }
}

static void connection_cb(uv_stream_t *server, int status)
{
    uv_stream_t *client;
    int is_tcp = server->type == UV_TCP;

    if (status)
        return;
    client = malloc(is_tcp ? sizeof(uv_tcp_t) : sizeof(uv_pipe_t));
    if (!client)
        return;
    if (is_tcp)
        uv_tcp_init(loop, (uv_tcp_t *)client);
    else
        uv_pipe_init(loop, (uv_pipe_t *)client, 0);
    if (uv_accept(server, client)) {
        uv_close((uv_handle_t *)client, close_cb);
        return;
    }
    if (is_tcp)
        uv_tcp_nodelay((uv_tcp_t *)client, 1);
    uv_read_start(client, alloc_cb, read_cb);
}

int main(int argc, char **argv)
{
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } server;
    int fd, rc;

    if (argc != 2) {
        fprintf(stderr, "usage: libuv-echo ADDR   (host:port or unix:/path)\n");
        return 2;
    }
    fd = bench_listen("libuv-echo", argv[1]);
    loop = uv_default_loop();
    if (strncmp(argv[1], "unix:", 5) == 0) {
        uv_pipe_init(loop, &server.pipe, 0);
        rc = uv_pipe_open(&server.pipe, fd);
    } else {
        uv_tcp_init(loop, &server.tcp);
        rc = uv_tcp_open(&server.tcp, fd);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 4096, connection_cb);
    if (rc) {
        fprintf(stderr, "libuv-echo: %s\n", uv_strerror(rc));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
