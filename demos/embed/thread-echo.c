/*
 * thread-echo — switchboard on a thread of its own, woken by sb_async.
 *
 * The loop thread runs sb_loop_run() and is the only one that touches the
 * loop, its listener and its clients while it runs.  The main thread reads
 * standard input and hands what it read over: it appends the bytes to a
 * buffer under a mutex and calls sb_async_send(), the one switchboard
 * function safe from any thread; on the loop thread, the async's callback
 * writes the buffer to every client.  Clients are echoed meanwhile.
 *
 * SIGINT / SIGTERM: the handler calls sb_async_send() as well (it is
 * async-signal-safe), and that callback stops the loop.  Both signals are
 * blocked everywhere except inside the main thread's ppoll(), so the
 * handler always runs there and the main thread sees the request at once.
 *
 * The loop changes hands twice: at pthread_create() (the main thread set it
 * up) and at pthread_join() (the main thread closes the clients and frees
 * it once the loop thread has returned).
 *
 *   thread-echo [-l ADDR]        (default 127.0.0.1:7791)
 */
#include "switchboard.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct shared {
    sb_loop *loop;
    sb_async *wake;       /* the main thread has put bytes in buf */
    pthread_mutex_t lock; /* guards buf and len */
    char buf[65536];
    size_t len;
} shared;

static sb_async *quit; /* for the signal handler */
static volatile sig_atomic_t quitting;

static void on_signal(int signum)
{
    quitting = 1;
    sb_async_send(quit);
}

static void echo(sb_conn *c, const char *data, size_t len, void *udata)
{
    if (sb_write(c, data, len) < 0)
        sb_abort(c);
}

static void write_one(sb_conn *c, void *udata)
{
    shared *s = udata;

    if (sb_write(c, s->buf, s->len) < 0)
        sb_abort(c);
}

/* On the loop thread: what the main thread read goes to every client. */
static void broadcast(sb_async *a, void *udata)
{
    shared *s = udata;

    pthread_mutex_lock(&s->lock);
    sb_loop_walk(s->loop, write_one, s);
    s->len = 0;
    pthread_mutex_unlock(&s->lock);
}

/* At shutdown: 5 s without progress is all a client gets to take the
 * rest of what it is sent. */
static void hurry(sb_conn *c, void *udata)
{
    sb_conn_set_timeout(c, 5000);
}

static void stop_loop(sb_async *a, void *loop)
{
    sb_loop_stop(loop);
}

static void *run_loop(void *loop)
{
    int rc = sb_loop_run(loop);

    if (rc < 0) { /* the wait itself failed: nothing left to do */
        fprintf(stderr, "thread-echo: %s\n", sb_strerror(rc));
        exit(1);
    }
    return NULL;
}

/* Until a signal: read standard input and hand it to the loop thread. */
static void feed(shared *s, const sigset_t *waitmask)
{
    struct pollfd in = {0, POLLIN, 0};
    nfds_t nin = 1;
    char chunk[4096];
    ssize_t n;

    while (!quitting) {
        if (ppoll(&in, nin, NULL, waitmask) < 0) /* EINTR: the handler ran */
            continue;
        n = read(0, chunk, sizeof(chunk));
        if (n <= 0) { /* end of input: only wait for the signal */
            nin = 0;
            continue;
        }
        pthread_mutex_lock(&s->lock);
        if (s->len + (size_t)n <= sizeof(s->buf)) {
            memcpy(s->buf + s->len, chunk, (size_t)n);
            s->len += (size_t)n;
        } else {
            fprintf(stderr, "thread-echo: %zd bytes dropped (the loop is behind)\n", n);
        }
        pthread_mutex_unlock(&s->lock);
        sb_async_send(s->wake);
    }
}

int main(int argc, char **argv)
{
    static shared s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *addr = "127.0.0.1:7791";
    sb_handler handler = {.on_data = echo};
    struct sigaction sa;
    sigset_t block, waitmask;
    sb_listener *l;
    pthread_t tid;
    char local[128];
    int opt, err = 0;

    while ((opt = getopt(argc, argv, "l:h")) != -1) {
        if (opt == 'l') {
            addr = optarg;
        } else {
            fputs("usage: thread-echo [-l ADDR]\n"
                  "Echo server on a thread of its own; standard input goes to every client.\n",
                  opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }

    s.loop = sb_loop_new();
    if (!s.loop)
        return 1;
    l = sb_listen(s.loop, addr, &handler, NULL, NULL, &err);
    if (!l) {
        fprintf(stderr, "thread-echo: cannot listen on %s: %s\n", addr, sb_strerror(err));
        return 1;
    }
    if (!(s.wake = sb_async_new(s.loop, broadcast, &s, &err)) ||
        !(quit = sb_async_new(s.loop, stop_loop, s.loop, &err))) {
        fprintf(stderr, "thread-echo: %s\n", sb_strerror(err));
        return 1;
    }
    sb_listener_local(l, local, sizeof(local));
    printf("listening on %s\n", local);
    fflush(stdout);

    /* Blocked in every thread (the loop thread inherits the mask), taken
     * only during the main thread's ppoll(). */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &waitmask);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (pthread_create(&tid, NULL, run_loop, s.loop) != 0) {
        fputs("thread-echo: cannot start the loop thread\n", stderr);
        return 1;
    }

    feed(&s, &waitmask);

    /* The loop is the main thread's again.  The senders have stopped: the
     * handler cannot run (the signals are blocked), feed() has returned. */
    pthread_join(tid, NULL);
    sb_async_free(s.wake);
    sb_async_free(quit);
    sb_listener_close(l);
    sb_loop_walk(s.loop, hurry, NULL);
    sb_loop_close_all(s.loop);
    sb_loop_run(s.loop); /* until the clients are closed */
    return sb_loop_free(s.loop) == 0 ? 0 : 1;
}
