/*
 * libevent-echo — an echo server on libevent bufferevents, written the way
 * libevent's documentation writes one: the read callback moves the input
 * buffer to the output buffer (evbuffer_add_buffer) and the bufferevent
 * sends it.  The event base uses libevent's default backend (epoll).
 *
 *   libevent-echo ADDR     (host:port or unix:/path)
 */
#include "common.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    (void)arg;
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct bufferevent *bev;

    (void)sa;
    (void)salen;
    (void)arg;
    bench_nodelay(fd);
    bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct evconnlistener *l;
    int fd;

    if (argc != 2) {
        fprintf(stderr, "usage: libevent-echo ADDR   (host:port or unix:/path)\n");
        return 2;
    }
    fd = bench_listen("libevent-echo", argv[1]);
    base = event_base_new();
    if (!base) {
        fprintf(stderr, "libevent-echo: event_base_new failed\n");
        return 1;
    }
    /* backlog 0: the socket is listening already. */
    l = evconnlistener_new(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (!l) {
        fprintf(stderr, "libevent-echo: evconnlistener_new failed\n");
        return 1;
    }
    event_base_dispatch(base);
    evconnlistener_free(l);
    event_base_free(base);
    return 0;
}
