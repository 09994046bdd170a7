/*
 * Embedding: a host loop driving switchboard through sb_loop_set_watch /
 * sb_loop_timeout / sb_loop_dispatch (and the fd_set helpers), sb_async
 * from threads and signal handlers, and name resolution on worker threads
 * (a fake resolver through the fault seam: no network).
 */
#include "fault.h"
#include "testutil.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ the host */

#define HOST_FDS 4096

/*
 * What a host knows: the interest the watch hook reported for each fd.
 * The hook checks that every call changes something (exactly one report
 * per change) and counts the calls.
 */
typedef struct host {
    sb_loop *loop;
    unsigned interest[HOST_FDS];
    unsigned calls;
    unsigned redundant; /* calls that changed nothing */
    unsigned spins;     /* dispatches with readiness that did no work */
} host;

static void host_watch(int fd, unsigned events, void *udata)
{
    host *h = udata;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_lt(fd, HOST_FDS);
    ck_assert_uint_eq(events & ~(unsigned)(SB_READ | SB_WRITE), 0);
    if (h->interest[fd] == events)
        h->redundant++;
    h->interest[fd] = events;
    h->calls++;
}

static void host_init(host *h, sb_loop *loop)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    ck_assert_int_eq(sb_loop_set_watch(loop, host_watch, h), 0);
}

/* The host's view must be exactly the loop's (sb_loop_fdset's). */
static void host_check_view(host *h)
{
    fd_set rd, wr;
    int fd, maxfd = -1;

    FD_ZERO(&rd);
    FD_ZERO(&wr);
    ck_assert_int_ge(sb_loop_fdset(h->loop, &rd, &wr, &maxfd), 0);
    for (fd = 0; fd < FD_SETSIZE; fd++) {
        unsigned want = (FD_ISSET(fd, &rd) ? SB_READ : 0u) | (FD_ISSET(fd, &wr) ? SB_WRITE : 0u);
        ck_assert_msg(h->interest[fd] == want, "fd %d: host has %u, loop has %u", fd,
                      h->interest[fd], want);
    }
    ck_assert_uint_eq(h->redundant, 0);
}

/* One host iteration: poll() the watched fds (at most cap_ms, and never
 * past sb_loop_timeout()), then hand the readiness over.  Returns what
 * sb_loop_dispatch returned. */
static int host_step(host *h, int cap_ms)
{
    static struct pollfd pfd[HOST_FDS];
    static sb_ready ready[HOST_FDS];
    int fd, n = 0, i, rc, timeout = sb_loop_timeout(h->loop);
    size_t nready = 0;

    for (fd = 0; fd < HOST_FDS; fd++) {
        if (!h->interest[fd])
            continue;
        pfd[n].fd = fd;
        pfd[n].events = (short)(((h->interest[fd] & SB_READ) ? POLLIN : 0) |
                                ((h->interest[fd] & SB_WRITE) ? POLLOUT : 0));
        pfd[n].revents = 0;
        n++;
    }
    if (timeout < 0 || timeout > cap_ms)
        timeout = cap_ms;
    rc = poll(pfd, (nfds_t)n, timeout);
    ck_assert_int_ge(rc, 0);
    for (i = 0; i < n && rc > 0; i++) {
        unsigned ev = 0;
        if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
            ev |= SB_READ;
        if (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR))
            ev |= SB_WRITE;
        if (pfd[i].revents & POLLNVAL)
            ev = SB_ERROR;
        if (ev) {
            ready[nready].fd = pfd[i].fd;
            ready[nready].events = ev;
            nready++;
        }
    }
    rc = sb_loop_dispatch(h->loop, ready, nready);
    ck_assert_int_ge(rc, 0);
    if (nready && !(rc & SB_RUN_WORKED))
        h->spins++;
    return rc;
}

#define HOST_UNTIL(h, cond)                                                                   \
    do {                                                                                      \
        int hu_left_ = 2000;                                                                  \
        while (!(cond) && hu_left_-- > 0)                                                     \
            host_step((h), 10);                                                               \
        if (!(cond))                                                                          \
            ck_abort_msg("timed out waiting for: %s", #cond);                                 \
    } while (0)

/* A connection recorder for the host-driven server. */
typedef struct rec {
    sb_conn *c;
    int opens, closes, reason;
    size_t bytes;
    int echo;
} rec;

static void rec_open(sb_conn *c, void *udata)
{
    rec *r = udata;

    r->c = c;
    r->opens++;
}

static void rec_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    rec *r = udata;

    r->bytes += len;
    if (r->echo)
        ck_assert_int_eq(sb_write(c, data, len), 0);
}

static void rec_close(sb_conn *c, int reason, void *udata)
{
    rec *r = udata;

    r->closes++;
    r->reason = reason;
    r->c = NULL;
}

static const sb_handler rec_handler = {
    .on_open = rec_open, .on_data = rec_data, .on_close = rec_close};

static sb_listener *rec_listen(sb_loop *loop, rec *r, const sb_listen_opts *o, int *port)
{
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &rec_handler, r, o, NULL);

    ck_assert_ptr_nonnull(l);
    *port = sb_listener_port(l);
    return l;
}

/* ----------------------------------------------------- interest reports */

/*
 * Every change of interest reaches the host exactly once: installing the
 * hook reports what is watched already; accept, pause, resume, close each
 * report theirs; a paused connection is not watched for reading.
 */
START_TEST(test_watch_reports_exactly)
{
    sb_loop *loop = sb_loop_new();
    rec r = {0};
    host h;
    sb_listener *l;
    int port, cfd, lfd;

    l = rec_listen(loop, &r, NULL, &port);
    lfd = sb_listener_fd(l);
    host_init(&h, loop);
    ck_assert_uint_eq(h.calls, 1); /* the listener, reported on installation */
    ck_assert_uint_eq(h.interest[lfd], SB_READ);
    host_check_view(&h);

    cfd = tu_connect_tcp(port);
    HOST_UNTIL(&h, r.opens == 1);
    ck_assert_uint_eq(h.interest[sb_conn_fd(r.c)], SB_READ);
    host_check_view(&h);

    sb_conn_pause(r.c);
    ck_assert_uint_eq(h.interest[sb_conn_fd(r.c)], 0);
    host_check_view(&h);
    ck_assert_int_eq(tu_send(cfd, "abc", 3), 3);
    /* Paused: its readable socket is not the host's business. */
    host_step(&h, 20);
    host_step(&h, 20);
    ck_assert_uint_eq(r.bytes, 0);
    ck_assert_uint_eq(h.spins, 0);

    sb_conn_resume(r.c);
    ck_assert_uint_eq(h.interest[sb_conn_fd(r.c)], SB_READ);
    HOST_UNTIL(&h, r.bytes == 3);
    host_check_view(&h);

    {
        int fd = sb_conn_fd(r.c);
        sb_abort(r.c);
        HOST_UNTIL(&h, r.closes == 1);
        ck_assert_uint_eq(h.interest[fd], 0);
    }
    host_check_view(&h);
    sb_listener_close(l);
    ck_assert_uint_eq(h.interest[lfd], 0);
    ck_assert_int_eq(sb_loop_set_watch(loop, NULL, NULL), 0);
    close(cfd);
    tu_loop_teardown(loop);
}
END_TEST

/* Backpressure drops read interest (no spinning host), and it comes back
 * once the peer reads. */
START_TEST(test_watch_backpressure)
{
    sb_listen_opts o = {.conn = {.high_water = 64 * 1024, .low_water = 16 * 1024}};
    sb_loop *loop = sb_loop_new();
    static char big[256 * 1024];
    rec r = {0};
    host h;
    sb_listener *l;
    int port, cfd, fd, rcv = 4096, eof = 0;

    l = rec_listen(loop, &r, &o, &port);
    host_init(&h, loop);
    cfd = tu_connect_tcp(port);
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    HOST_UNTIL(&h, r.opens == 1);
    fd = sb_conn_fd(r.c);
    /* Until the kernel's buffers are full and the queue stays above the
     * high watermark (a bounded amount: the kernel holds a few MiB). */
    {
        size_t written = 0;
        while (h.interest[fd] != SB_WRITE && written < 256u * 1024 * 1024) {
            if (sb_conn_queued(r.c) < 512 * 1024) {
                ck_assert_int_eq(sb_write(r.c, big, sizeof(big)), 0);
                written += sizeof(big);
            }
            host_step(&h, 1);
        }
        ck_assert_uint_eq(h.interest[fd], SB_WRITE);
    }
    host_check_view(&h);
    ck_assert_int_eq(tu_send(cfd, "more", 4), 4);
    host_step(&h, 20);
    host_step(&h, 20);
    ck_assert_uint_eq(r.bytes, 0);
    ck_assert_uint_eq(h.spins, 0);
    /* The peer reads it all: the output drains and reading resumes. */
    while (sb_conn_queued(r.c) > 0 || h.interest[fd] != SB_READ) {
        char buf[65536];
        ck_assert_int_ge(tu_drain(cfd, buf, sizeof(buf), &eof), 0);
        ck_assert_int_eq(eof, 0);
        host_step(&h, 10);
    }
    HOST_UNTIL(&h, r.bytes == 4);
    host_check_view(&h);
    sb_listener_close(l);
    close(cfd);
    HOST_UNTIL(&h, r.closes == 1);
    tu_loop_teardown(loop);
}
END_TEST

/* A whole echo stream through the host, verified byte for byte. */
START_TEST(test_host_echo_stream)
{
    sb_loop *loop = sb_loop_new();
    const size_t total = tu_slow() ? 256 * 1024 : 4 * 1024 * 1024;
    unsigned char *out = malloc(total), *in = malloc(total);
    size_t sent = 0, got = 0;
    rec r = {.echo = 1};
    host h;
    sb_listener *l;
    int port, cfd, eof = 0;

    tu_fill(out, total, 7);
    l = rec_listen(loop, &r, NULL, &port);
    host_init(&h, loop);
    cfd = tu_connect_tcp(port);
    while (got < total) {
        if (sent < total) {
            ssize_t n = send(cfd, out + sent, total - sent > 65536 ? 65536 : total - sent,
                             TU_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        host_step(&h, 5);
        {
            ssize_t n = tu_drain(cfd, in + got, total - got, &eof);
            ck_assert_int_ge(n, 0);
            ck_assert_int_eq(eof, 0);
            got += (size_t)n;
        }
    }
    ck_assert_int_eq(memcmp(in, out, total), 0);
    host_check_view(&h);
    close(cfd);
    HOST_UNTIL(&h, r.closes == 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
    free(in);
    free(out);
}
END_TEST

/* ------------------------------------------------------------ timeouts */

static void count_timer(sb_timer *t, void *udata)
{
    (*(int *)udata)++;
}

/* sb_loop_timeout: -1 with nothing due, the earliest timer, 0 for work
 * already due; it follows the clock between dispatches. */
START_TEST(test_timeout_values)
{
    tu_clock clk = {1000};
    sb_loop *loop = sb_loop_new();
    sb_timer *t;
    int fired = 0;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    ck_assert_int_eq(sb_loop_timeout(loop), -1);
    t = sb_timer_new(loop, count_timer, &fired);
    ck_assert_int_eq(sb_timer_start(t, 50, 0), 0);
    ck_assert_int_eq(sb_loop_timeout(loop), 50);
    clk.now += 20;
    ck_assert_int_eq(sb_loop_timeout(loop), 30); /* the clock moved, no dispatch yet */
    clk.now += 40;
    ck_assert_int_eq(sb_loop_timeout(loop), 0);
    ck_assert_int_eq(sb_loop_dispatch(loop, NULL, 0), SB_RUN_WORKED);
    ck_assert_int_eq(fired, 1);
    ck_assert_int_eq(sb_loop_timeout(loop), -1);
    ck_assert_int_eq(sb_loop_dispatch(loop, NULL, 1), -EINVAL);
    sb_timer_free(t);
    tu_loop_teardown(loop);
}
END_TEST

/* Output queued outside a callback makes the timeout 0: the host must
 * dispatch at once for it to go out. */
START_TEST(test_timeout_zero_for_queued_output)
{
    sb_loop *loop = sb_loop_new();
    rec r = {0};
    host h;
    sb_listener *l;
    int port, cfd, eof = 0;
    char buf[16];

    l = rec_listen(loop, &r, NULL, &port);
    host_init(&h, loop);
    cfd = tu_connect_tcp(port);
    HOST_UNTIL(&h, r.opens == 1);
    while (sb_loop_timeout(loop) == 0)
        host_step(&h, 0);
    ck_assert_int_ne(sb_loop_timeout(loop), 0);
    ck_assert_int_eq(sb_write(r.c, "hi", 2), 0);
    ck_assert_int_eq(sb_loop_timeout(loop), 0);
    ck_assert_int_ne(sb_loop_dispatch(loop, NULL, 0) & SB_RUN_WORKED, 0);
    ck_assert_int_eq(tu_drain(cfd, buf, sizeof(buf), &eof), 2);
    close(cfd);
    HOST_UNTIL(&h, r.closes == 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* The library's own idle timeout fires in host-driven mode, on time. */
START_TEST(test_host_idle_timeout)
{
    sb_listen_opts o = {.conn = {.idle_timeout_ms = 1000}};
    tu_clock clk = {5000};
    sb_loop *loop = sb_loop_new();
    rec r = {0};
    host h;
    sb_listener *l;
    int port, cfd, t;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    l = rec_listen(loop, &r, &o, &port);
    host_init(&h, loop);
    cfd = tu_connect_tcp(port);
    HOST_UNTIL(&h, r.opens == 1);
    while (sb_loop_timeout(loop) == 0)
        host_step(&h, 0);
    t = sb_loop_timeout(loop);
    ck_assert_int_gt(t, 0);
    ck_assert_int_le(t, 1000);
    clk.now += (uint64_t)t - 1;
    ck_assert_int_eq(sb_loop_timeout(loop), 1);
    host_step(&h, 0);
    ck_assert_int_eq(r.closes, 0);
    clk.now += 1;
    ck_assert_int_eq(sb_loop_timeout(loop), 0);
    host_step(&h, 0);
    HOST_UNTIL(&h, r.closes == 1);
    ck_assert_int_eq(r.reason, -ETIMEDOUT);
    close(cfd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* --------------------------------------------------- stale readiness */

typedef struct ioc {
    int calls;
    unsigned last;
} ioc;

static void io_count(sb_io *io, int fd, unsigned events, void *udata)
{
    ioc *c = udata;

    c->calls++;
    c->last = events;
}

/* Readiness for an fd nobody watches, events not asked for, SB_ERROR for
 * an fd that is open: all ignored.  SB_ERROR for one really closed fails
 * its owner, as EBADF from a wait does. */
START_TEST(test_dispatch_stale)
{
    sb_loop *loop = sb_loop_new();
    ioc c = {0};
    int p[2];
    sb_io *io;
    sb_ready r[4];

    tu_make_pipe(p);
    io = sb_io_new(loop, p[0], io_count, &c, NULL);
    ck_assert_ptr_nonnull(io);
    sb_io_set(io, SB_READ);
    sb_loop_run_once(loop, 0); /* past the registration's iteration */
    r[0] = (sb_ready){.fd = 1000, .events = SB_READ};
    r[1] = (sb_ready){.fd = p[0], .events = SB_WRITE}; /* not wanted */
    r[2] = (sb_ready){.fd = p[0], .events = SB_ERROR}; /* but it is open */
    r[3] = (sb_ready){.fd = -1, .events = SB_READ};
    ck_assert_int_eq(sb_loop_dispatch(loop, r, 4), SB_RUN_ALIVE);
    ck_assert_int_eq(c.calls, 0);
    r[0] = (sb_ready){.fd = p[0], .events = SB_READ | SB_WRITE};
    ck_assert_int_eq(sb_loop_dispatch(loop, r, 1), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_uint_eq(c.last, SB_READ);
    if (!tu_skip_on_epoll("test_dispatch_stale (closed fd)")) {
        close(p[0]);
        r[0] = (sb_ready){.fd = p[0], .events = SB_ERROR};
        sb_loop_dispatch(loop, r, 1);
        ck_assert_int_eq(c.calls, 2);
        ck_assert_uint_eq(c.last, SB_ERROR);
    } else {
        close(p[0]);
    }
    sb_io_free(io);
    close(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

/* sb_loop_run_once says whether a pass did anything. */
START_TEST(test_run_once_reports_work)
{
    sb_loop *loop = sb_loop_new();
    int p[2], fired = 0;
    sb_timer *t = sb_timer_new(loop, count_timer, &fired);
    ioc c = {0};
    sb_io *io;

    tu_make_pipe(p);
    io = sb_io_new(loop, p[0], io_count, &c, NULL);
    sb_io_set(io, SB_READ);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), SB_RUN_ALIVE);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), SB_RUN_ALIVE);
    tu_write_byte(p[1], 'x');
    ck_assert_int_eq(sb_loop_run_once(loop, 1000), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(c.calls, 1);
    sb_io_free(io);
    ck_assert_int_eq(sb_timer_start(t, 0, 0), 0);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), SB_RUN_WORKED); /* fired; nothing left */
    ck_assert_int_eq(fired, 1);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);
    sb_timer_free(t);
    close(p[0]);
    close(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

/* ---------------------------------------------------- fd_set helpers */

START_TEST(test_fdset_helpers)
{
    sb_loop *loop = sb_loop_new();
    ioc c = {0};
    int p[2], q[2], maxfd = 2;
    fd_set rd, wr;
    sb_io *a, *b;

    tu_make_pipe(p);
    tu_make_pipe(q);
    a = sb_io_new(loop, p[0], io_count, &c, NULL);
    b = sb_io_new(loop, q[1], io_count, &c, NULL);
    sb_io_set(a, SB_READ);
    sb_io_set(b, SB_WRITE);
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(0, &rd); /* the host's own: kept */
    ck_assert_int_eq(sb_loop_fdset(loop, &rd, &wr, &maxfd), 2);
    ck_assert(FD_ISSET(0, &rd));
    ck_assert(FD_ISSET(p[0], &rd) && !FD_ISSET(p[0], &wr));
    ck_assert(FD_ISSET(q[1], &wr) && !FD_ISSET(q[1], &rd));
    ck_assert_int_eq(maxfd, p[0] > q[1] ? p[0] : q[1]);
    /* select() as the host would, then hand its sets over. */
    tu_write_byte(p[1], 'x');
    ck_assert_int_eq(sb_loop_run_once(loop, 0) & SB_RUN_ALIVE, SB_RUN_ALIVE); /* settle */
    c.calls = 0;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    maxfd = -1;
    sb_loop_fdset(loop, &rd, &wr, &maxfd);
    ck_assert_int_ge(select(maxfd + 1, &rd, &wr, NULL, NULL), 1);
    ck_assert_int_ne(sb_loop_dispatch_fdset(loop, &rd, &wr, maxfd) & SB_RUN_WORKED, 0);
    ck_assert_int_eq(c.calls, 2); /* p[0] readable, q[1] writable */
    /* An fd above FD_SETSIZE: refused, nothing added. */
    if (tu_ensure_fd_limit(FD_SETSIZE + 16, "test_fdset_helpers")) {
        int high = tu_move_fd_high(dup(q[0]), FD_SETSIZE + 8);
        sb_io *x = sb_io_new(loop, high, io_count, &c, NULL);
        sb_io_set(x, SB_READ);
        FD_ZERO(&rd);
        maxfd = -1;
        ck_assert_int_eq(sb_loop_fdset(loop, &rd, NULL, &maxfd), SB_EFDSET);
        ck_assert_int_eq(maxfd, -1);
        ck_assert(!FD_ISSET(p[0], &rd));
        sb_io_free(x);
        close(high);
    }
    /* Only what went into a set counts: q[1] wants writing, wr is NULL. */
    FD_ZERO(&rd);
    maxfd = -1;
    ck_assert_int_eq(sb_loop_fdset(loop, &rd, NULL, &maxfd), 1);
    ck_assert_int_eq(maxfd, p[0]);
    {
    }
    sb_io_free(a);
    sb_io_free(b);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    tu_loop_teardown(loop);
}
END_TEST

/* --------------------------------------------------------------- async */

typedef struct actx {
    sb_loop *loop;
    sb_async *a;
    int calls;
    volatile int value; /* written by the thread before each send */
    int seen;
    int stop_at;
    sb_async *victim; /* freed by the callback */
} actx;

static void async_cb(sb_async *a, void *udata)
{
    actx *x = udata;

    x->calls++;
    x->seen = x->value;
    if (x->victim) {
        sb_async_free(x->victim);
        x->victim = NULL;
    }
    if (x->stop_at && x->seen >= x->stop_at) {
        sb_async_free(a);
        x->a = NULL;
    }
}

/* Sends before the loop runs coalesce into one call. */
START_TEST(test_async_coalesces)
{
    sb_loop *loop = sb_loop_new();
    actx x = {0};

    x.a = sb_async_new(loop, async_cb, &x, NULL);
    ck_assert_ptr_nonnull(x.a);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), SB_RUN_ALIVE); /* alive: it can be woken */
    ck_assert_int_eq(sb_async_send(x.a), 0);
    ck_assert_int_eq(sb_async_send(x.a), 0);
    ck_assert_int_eq(sb_async_send(x.a), 0);
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 100);
    sb_loop_run_once(loop, 0);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(x.calls, 1);
    ck_assert_int_eq(sb_async_send(NULL), -EINVAL);
    ck_assert_int_eq(sb_loop_free(loop), SB_EBUSY);
    sb_async_free(x.a);
    tu_loop_teardown(loop);
}
END_TEST

static void *sender(void *arg)
{
    actx *x = arg;
    int i;

    for (i = 1; i <= x->stop_at; i++) {
        x->value = i;
        sb_async_send(x->a);
    }
    return NULL;
}

/* From another thread: the last value sent is always seen; sb_loop_run
 * blocks until then, and returns once the callback frees the handle. */
START_TEST(test_async_from_thread)
{
    sb_loop *loop = sb_loop_new();
    actx x = {0};
    pthread_t t;

    x.stop_at = tu_slow() ? 2000 : 100000;
    x.a = sb_async_new(loop, async_cb, &x, NULL);
    ck_assert_int_eq(pthread_create(&t, NULL, sender, &x), 0);
    ck_assert_int_eq(sb_loop_run(loop), 0); /* returns when the handle is freed */
    pthread_join(t, NULL);
    ck_assert_int_eq(x.seen, x.stop_at);
    ck_assert_int_ge(x.calls, 1);
    ck_assert_int_le(x.calls, x.stop_at);
    tu_loop_teardown(loop);
}
END_TEST

static sb_async *sig_async;

static void on_usr1(int signum)
{
    (void)signum;
    sb_async_send(sig_async);
}

/* From a signal handler. */
START_TEST(test_async_from_signal)
{
    sb_loop *loop = sb_loop_new();
    struct sigaction sa, old;
    actx x = {0};

    x.a = sig_async = sb_async_new(loop, async_cb, &x, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
    errno = 1234;
    raise(SIGUSR1);
    ck_assert_int_eq(errno, 1234); /* preserved */
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 100);
    sigaction(SIGUSR1, &old, NULL);
    sb_async_free(x.a);
    tu_loop_teardown(loop);
}
END_TEST

/* A callback freeing another pending handle: that one never runs. */
START_TEST(test_async_free_other_in_cb)
{
    sb_loop *loop = sb_loop_new();
    actx x = {0}, y = {0};

    y.a = sb_async_new(loop, async_cb, &y, NULL);
    x.a = sb_async_new(loop, async_cb, &x, NULL); /* scanned first */
    x.victim = y.a;
    sb_async_send(y.a);
    sb_async_send(x.a);
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 100);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(y.calls, 0);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    sb_async_free(x.a);
    tu_loop_teardown(loop);
}
END_TEST

/* ------------------------------------------------------------ resolver */

/* A fake resolver: every lookup blocks until released, then answers
 * 127.0.0.1 (or fails for names starting with "bad"). */
static pthread_mutex_t gai_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gai_cv = PTHREAD_COND_INITIALIZER;
static int gai_calls, gai_open, gai_returned;

static int slow_gai(const char *name, const char *serv, const struct addrinfo *hints,
                    struct addrinfo **res)
{
    struct addrinfo h = *hints;
    int bad = strncmp(name, "bad", 3) == 0;

    pthread_mutex_lock(&gai_mu);
    gai_calls++;
    pthread_cond_broadcast(&gai_cv);
    while (!gai_open)
        pthread_cond_wait(&gai_cv, &gai_mu);
    pthread_mutex_unlock(&gai_mu);
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_family = AF_INET;
    {
        int rc = bad ? EAI_NONAME : getaddrinfo("127.0.0.1", serv, &h, res);
        pthread_mutex_lock(&gai_mu);
        gai_returned++;
        pthread_cond_broadcast(&gai_cv);
        pthread_mutex_unlock(&gai_mu);
        return rc;
    }
}

static void gai_setup(void)
{
    pthread_mutex_lock(&gai_mu);
    gai_calls = gai_returned = 0;
#ifdef SB_NO_THREADS
    gai_open = 1; /* lookups run inside sb_resolve_start: never block them */
#else
    gai_open = 0;
#endif
    pthread_mutex_unlock(&gai_mu);
    tu_fault_gai_hook(slow_gai);
}

static void gai_release(void)
{
    pthread_mutex_lock(&gai_mu);
    gai_open = 1;
    pthread_cond_broadcast(&gai_cv);
    pthread_mutex_unlock(&gai_mu);
}

/* Wait (bounded) for the fake to have been entered / to have returned n
 * times: the worker threads' progress, not the loop's. */
static int gai_wait(int *counter, int n)
{
    struct timespec ts;
    int ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&gai_mu);
    while (*counter < n && pthread_cond_timedwait(&gai_cv, &gai_mu, &ts) == 0) {
    }
    ok = *counter >= n;
    pthread_mutex_unlock(&gai_mu);
    return ok;
}

static void gai_teardown(void)
{
    gai_release();
    /* Every lookup started has finished before the next test. */
    pthread_mutex_lock(&gai_mu);
    {
        int started = gai_calls;
        pthread_mutex_unlock(&gai_mu);
        ck_assert(gai_wait(&gai_returned, started));
    }
    tu_fault_gai_hook(NULL);
}

typedef struct rctx {
    int calls, status;
    size_t n;
    char first[64];
} rctx;

static void resolved(sb_resolve *r, int status, const sb_addr *addrs, size_t n, void *udata)
{
    rctx *x = udata;

    x->calls++;
    x->status = status;
    x->n = n;
    if (n)
        sb_addr_format(&addrs[0], x->first, sizeof(x->first));
}

/* A slow lookup never holds the loop up: a 5 ms timer keeps firing while
 * it blocks; the answer arrives through the loop afterwards. */
START_TEST(test_resolve_does_not_block)
{
    sb_loop *loop = sb_loop_new();
    int fired = 0;
    sb_timer *t = sb_timer_new(loop, count_timer, &fired);
    rctx x = {0};

    sb_timer_start(t, 5, 5);
    ck_assert_ptr_nonnull(sb_resolve_start(loop, "slow.test:8080", NULL, resolved, &x, NULL));
    ck_assert(gai_wait(&gai_calls, 1));
    TU_ASSERT_EVENTUALLY(loop, fired >= 5, 1000);
    ck_assert_int_eq(x.calls, 0);
    gai_release();
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 1000);
    ck_assert_int_eq(x.status, 0);
    ck_assert_uint_eq(x.n, 1);
    ck_assert_str_eq(x.first, "127.0.0.1:8080");
    sb_timer_free(t);
    tu_loop_teardown(loop);
}
END_TEST

/* Numeric addresses never reach the resolver, and are delivered from the
 * loop too; errors that can be seen at once are returned at once. */
START_TEST(test_resolve_numeric_and_errors)
{
    sb_loop *loop = sb_loop_new();
    rctx x = {0};
    int err = 0;

    ck_assert_ptr_nonnull(sb_resolve_start(loop, "[::1]:99", NULL, resolved, &x, NULL));
    ck_assert_int_eq(x.calls, 0);
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 100);
    ck_assert_int_eq(x.status, 0);
    ck_assert_str_eq(x.first, "[::1]:99");
    ck_assert_ptr_null(sb_resolve_start(loop, "host:99999", NULL, resolved, &x, &err));
    ck_assert_int_eq(err, SB_EPORT);
    ck_assert_ptr_null(sb_resolve_start(loop, "*:80", NULL, resolved, &x, &err));
    ck_assert_int_eq(err, SB_EINVAL_ADDR);
    ck_assert_ptr_null(sb_resolve_start(loop, NULL, NULL, resolved, &x, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_int_eq(gai_calls, 0);
    /* A name that does not resolve. */
    gai_release();
    x.calls = 0;
    ck_assert_ptr_nonnull(sb_resolve_start(loop, "bad.test:80", NULL, resolved, &x, NULL));
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 1000);
    ck_assert_int_eq(x.status, SB_ERESOLVE);
    ck_assert_uint_eq(x.n, 0);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct pair {
    int calls;
    sb_resolve *other;
} pair;

static void resolved_cancel_other(sb_resolve *r, int status, const sb_addr *addrs, size_t n,
                                  void *udata)
{
    pair *p = udata;

    p->calls++;
    if (p->other) {
        sb_resolve_cancel(p->other);
        p->other = NULL;
    }
}

/* A callback cancelling a request whose result came in the same wake-up:
 * that one's callback never runs. */
START_TEST(test_resolve_cancel_other_in_cb)
{
    sb_loop *loop = sb_loop_new();
    pair a = {0}, b = {0};
    sb_resolve *ra, *rb;

    ra = sb_resolve_start(loop, "127.0.0.1:1", NULL, resolved_cancel_other, &a, NULL);
    rb = sb_resolve_start(loop, "127.0.0.1:2", NULL, resolved_cancel_other, &b, NULL);
    ck_assert_ptr_nonnull(ra);
    ck_assert_ptr_nonnull(rb);
    a.other = rb;
    TU_ASSERT_EVENTUALLY(loop, a.calls == 1, 100);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(b.calls, 0);
    tu_loop_teardown(loop);
}
END_TEST

/* Cancelled while queued or running: the callback never comes. */
START_TEST(test_resolve_cancel)
{
    sb_loop *loop = sb_loop_new();
    rctx x = {0};
    sb_resolve *r[SB_RESOLVE_THREADS + 4];
    int i;

    /* More than there are workers: some run (blocked), some wait. */
    for (i = 0; i < SB_RESOLVE_THREADS + 4; i++) {
        r[i] = sb_resolve_start(loop, "slow.test:1", NULL, resolved, &x, NULL);
        ck_assert_ptr_nonnull(r[i]);
    }
    ck_assert(gai_wait(&gai_calls, SB_RESOLVE_THREADS));
    for (i = 0; i < SB_RESOLVE_THREADS + 4; i++)
        sb_resolve_cancel(r[i]);
    sb_loop_run_once(loop, 0);
    gai_release();
    ck_assert(gai_wait(&gai_returned, SB_RESOLVE_THREADS));
    for (i = 0; i < 5; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_int_eq(x.calls, 0);
    ck_assert_int_eq(gai_calls, SB_RESOLVE_THREADS); /* the queued ones never ran */
    tu_loop_teardown(loop);
}
END_TEST

/* A resolve timeout; the lookup's late answer is dropped. */
START_TEST(test_resolve_timeout)
{
    sb_resolve_opts o = {.timeout_ms = 30};
    sb_loop *loop = sb_loop_new();
    rctx x = {0};

    ck_assert_ptr_nonnull(sb_resolve_start(loop, "slow.test:1", &o, resolved, &x, NULL));
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 1000);
    ck_assert_int_eq(x.status, -ETIMEDOUT);
    gai_release();
    ck_assert(gai_wait(&gai_returned, 1));
    sb_loop_run_once(loop, 10);
    ck_assert_int_eq(x.calls, 1);
    tu_loop_teardown(loop);
}
END_TEST

/* Freeing the loop while a worker is stuck in a lookup. */
START_TEST(test_resolve_loop_freed)
{
    sb_loop *loop = sb_loop_new();
    rctx x = {0};

    ck_assert_ptr_nonnull(sb_resolve_start(loop, "slow.test:1", NULL, resolved, &x, NULL));
    ck_assert(gai_wait(&gai_calls, 1));
    ck_assert_int_eq(sb_loop_free(loop), 0);
    gai_release();
    ck_assert(gai_wait(&gai_returned, 1));
    ck_assert_int_eq(x.calls, 0);
}
END_TEST

typedef struct cctx {
    int opens, closes, reason;
} cctx;

static void c_open(sb_conn *c, void *udata)
{
    ((cctx *)udata)->opens++;
    sb_close(c);
}

static void c_close(sb_conn *c, int reason, void *udata)
{
    ((cctx *)udata)->closes++;
    ((cctx *)udata)->reason = reason;
}

static const sb_handler c_handler = {.on_open = c_open, .on_close = c_close};

/* sb_connect with a host name: the loop runs on during the lookup, then
 * the connection opens; abort and timeout while resolving are clean. */
START_TEST(test_connect_name)
{
    sb_connect_opts co = {.connect_timeout_ms = 40};
    sb_loop *loop = sb_loop_new();
    int fds = tu_count_fds(), port, fired = 0;
    sb_timer *t = sb_timer_new(loop, count_timer, &fired);
    cctx a = {0}, b = {0}, d = {0};
    char addr[64];
    rec r = {0};
    sb_listener *l = rec_listen(loop, &r, NULL, &port);
    sb_conn *c;

    snprintf(addr, sizeof(addr), "slow.test:%d", port);
    ck_assert_ptr_nonnull(sb_connect(loop, addr, &c_handler, &a, NULL, NULL));
    c = sb_connect(loop, addr, &c_handler, &b, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(sb_conn_connecting(c), 1);
    ck_assert_ptr_nonnull(sb_connect(loop, addr, &c_handler, &d, &co, NULL));
    ck_assert(gai_wait(&gai_calls, 3));
    sb_timer_start(t, 5, 5);
    TU_ASSERT_EVENTUALLY(loop, fired >= 3, 1000);
    sb_abort(c);
    TU_ASSERT_EVENTUALLY(loop, b.closes == 1 && d.closes == 1, 1000);
    ck_assert_int_eq(b.reason, SB_EABORTED);
    ck_assert_int_eq(d.reason, -ETIMEDOUT);
    ck_assert_int_eq(a.opens + a.closes, 0);
    gai_release();
    TU_ASSERT_EVENTUALLY(loop, a.closes == 1, 1000);
    ck_assert_int_eq(a.opens, 1);
    ck_assert_int_eq(a.reason, 0);
    ck_assert(gai_wait(&gai_returned, 3));
    TU_ASSERT_EVENTUALLY(loop, r.closes == 1, 1000);
    ck_assert_int_eq(b.opens + d.opens, 0);
    sb_timer_free(t);
    sb_listener_close(l);
    tu_loop_teardown(loop);
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

#ifdef SB_NO_THREADS
/* Built without threads: the lookup runs inside sb_resolve_start (and
 * sb_connect), but the result still comes from the loop. */
START_TEST(test_resolve_blocking_path)
{
    sb_loop *loop = sb_loop_new();
    rctx x = {0};
    cctx a = {0};
    rec r = {0};
    int port;
    sb_listener *l = rec_listen(loop, &r, NULL, &port);
    char addr[64];

    ck_assert_ptr_nonnull(sb_resolve_start(loop, "slow.test:8080", NULL, resolved, &x, NULL));
    ck_assert_int_eq(gai_calls, 1); /* already looked up */
    ck_assert_int_eq(x.calls, 0);   /* not delivered from inside the call */
    TU_ASSERT_EVENTUALLY(loop, x.calls == 1, 100);
    ck_assert_str_eq(x.first, "127.0.0.1:8080");
    snprintf(addr, sizeof(addr), "slow.test:%d", port);
    ck_assert_ptr_nonnull(sb_connect(loop, addr, &c_handler, &a, NULL, NULL));
    ck_assert_int_eq(gai_calls, 2);
    TU_ASSERT_EVENTUALLY(loop, a.closes == 1, 1000);
    ck_assert_int_eq(a.opens, 1);
    TU_ASSERT_EVENTUALLY(loop, r.closes == 1, 1000);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST
#endif

Suite *sb_embed_suite(void)
{
    Suite *s = suite_create("embed");
    TCase *tc = tcase_create("host");
    TCase *ta = tcase_create("async");
    TCase *tr = tcase_create("resolve");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_watch_reports_exactly);
    tcase_add_test(tc, test_watch_backpressure);
    tcase_add_test(tc, test_host_echo_stream);
    tcase_add_test(tc, test_timeout_values);
    tcase_add_test(tc, test_timeout_zero_for_queued_output);
    tcase_add_test(tc, test_host_idle_timeout);
    tcase_add_test(tc, test_dispatch_stale);
    tcase_add_test(tc, test_run_once_reports_work);
    tcase_add_test(tc, test_fdset_helpers);
    suite_add_tcase(s, tc);

    tcase_set_timeout(ta, 60);
    tcase_add_test(ta, test_async_coalesces);
    tcase_add_test(ta, test_async_from_thread);
    tcase_add_test(ta, test_async_from_signal);
    tcase_add_test(ta, test_async_free_other_in_cb);
    suite_add_tcase(s, ta);

    tcase_set_timeout(tr, 60);
    tcase_add_checked_fixture(tr, gai_setup, gai_teardown);
    tcase_add_test(tr, test_resolve_numeric_and_errors);
    tcase_add_test(tr, test_resolve_cancel_other_in_cb);
#ifdef SB_NO_THREADS
    tcase_add_test(tr, test_resolve_blocking_path);
    (void)test_resolve_does_not_block, (void)test_resolve_cancel, (void)test_resolve_timeout;
    (void)test_resolve_loop_freed, (void)test_connect_name;
    fprintf(stderr, "embed: built without threads (THREADS=0): the tests of lookups on worker "
                    "threads are skipped, the blocking path is tested instead\n");
#else
    tcase_add_test(tr, test_resolve_does_not_block);
    tcase_add_test(tr, test_resolve_cancel);
    tcase_add_test(tr, test_resolve_timeout);
    tcase_add_test(tr, test_resolve_loop_freed);
    tcase_add_test(tr, test_connect_name);
#endif
    suite_add_tcase(s, tr);
    return s;
}
