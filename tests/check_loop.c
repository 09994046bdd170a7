/* The loop object: run / run_once / stop / free, raw fd watchers (also on
 * fds above FD_SETSIZE), signals, EBADF handling, fd reuse inside one
 * dispatch pass, error strings. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

static void count_timer(sb_timer *t, void *udata)
{
    int *n = udata;
    (void)t;
    (*n)++;
}

static void noop_io(sb_io *io, sb_socket_t fd, unsigned events, void *udata)
{
    (void)io;
    (void)fd;
    (void)events;
    (void)udata;
}

START_TEST(test_new_free_empty)
{
    sb_loop *loop = sb_loop_new();

    ck_assert_ptr_nonnull(loop);
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    /* Nothing to watch: one iteration reports nothing alive, run returns. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(sb_loop_run(loop), 0);
    ck_assert_int_eq(sb_loop_free(loop), 0);
    ck_assert_int_eq(sb_loop_free(NULL), 0);
}
END_TEST

START_TEST(test_free_refused_with_live_handles)
{
    sb_loop *loop = sb_loop_new();
    int n = 0, p[2];
    sb_timer *t = sb_timer_new(loop, count_timer, &n);
    sb_io *io;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(sb_loop_free(loop), SB_EBUSY);
    sb_timer_free(t);
    ck_assert_int_eq(pipe(p), 0);
    io = sb_io_new(loop, p[0], noop_io, NULL, NULL);
    ck_assert_ptr_nonnull(io);
    ck_assert_int_eq(sb_loop_free(loop), SB_EBUSY);
    sb_io_free(io);
    close(p[0]);
    close(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct stopper {
    sb_loop *loop;
    int fired;
    int stop_at;
} stopper;

static void stop_timer(sb_timer *t, void *udata)
{
    stopper *s = udata;
    (void)t;
    if (++s->fired == s->stop_at)
        sb_loop_stop(s->loop);
}

START_TEST(test_stop_from_callback)
{
    tu_clock clk = {1000};
    sb_loop *loop = sb_loop_new();
    stopper s = {loop, 0, 3};
    sb_timer *t = sb_timer_new(loop, stop_timer, &s);

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    sb_timer_start(t, 0, 1);
    while (s.fired < 3) {
        clk.now++;
        sb_loop_run_once(loop, 0);
    }
    ck_assert_int_eq(s.fired, 3);
    /* That stop is still pending: run() returns at once and clears it. */
    ck_assert_int_eq(sb_loop_run(loop), 0);
    ck_assert_int_eq(s.fired, 3);
    /* run() honours a stop made inside a callback and returns. */
    s.fired = 0;
    s.stop_at = 1;
    clk.now += 10;
    ck_assert_int_eq(sb_loop_run(loop), 0);
    ck_assert_int_eq(s.fired, 1);
    ck_assert_int_eq(sb_timer_active(t), 1);
    sb_timer_free(t);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct io_rec {
    int calls;
    unsigned events;
    int fd;
} io_rec;

static void rec_io(sb_io *io, sb_socket_t sock, unsigned events, void *udata)
{
    io_rec *r = udata;
    char buf[64];
    int fd = tu_io_fd(sock);
    (void)io;
    r->calls++;
    r->events = events;
    r->fd = fd;
    if (events & SB_READ)
        (void)!read(fd, buf, sizeof(buf));
}

START_TEST(test_io_watcher_pipe)
{
    sb_loop *loop = sb_loop_new();
    io_rec r = {0, 0, -1};
    int p[2], err = 0;
    sb_io *io;

    ck_assert_int_eq(pipe(p), 0);
    io = sb_io_new(loop, p[0], rec_io, &r, &err);
    ck_assert_ptr_nonnull(io);
    /* No interest: not watched, loop has nothing alive. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);
    sb_io_set(io, SB_READ);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(r.calls, 0); /* nothing readable yet: not reported */
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    sb_loop_run_once(loop, 1000);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_uint_eq(r.events, SB_READ);
    ck_assert_int_eq(r.fd, p[0]);
    /* A second watcher on the same fd is refused. */
    ck_assert_ptr_null(sb_io_new(loop, p[0], rec_io, &r, &err));
    ck_assert_int_eq(err, -EEXIST);
    ck_assert_ptr_null(sb_io_new(loop, -1, rec_io, &r, &err));
    ck_assert_int_eq(err, -EINVAL);
    /* Write interest on the write end of the pipe. */
    {
        io_rec w = {0, 0, -1};
        sb_io *wio = sb_io_new(loop, p[1], rec_io, &w, NULL);
        sb_io_set(wio, SB_WRITE);
        sb_loop_run_once(loop, 1000);
        ck_assert_int_eq(w.calls, 1);
        ck_assert_uint_eq(w.events, SB_WRITE);
        sb_io_free(wio);
    }
    sb_io_free(io);
    close(p[0]);
    close(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * fd reuse inside one dispatch pass: A and B are both readable.  A's
 * callback frees B's watcher, closes B's fd, opens a new pipe that gets the
 * same fd number, and watches it.  The stale "readable" bit of the old fd
 * must not be delivered to the new watcher (its pipe is empty).
 */
typedef struct reuse {
    sb_loop *loop;
    int a[2], b[2], c[2];
    sb_io *wa, *wb, *wc;
    int a_calls, b_calls, c_calls;
    int reused;
} reuse;

static void reuse_c(sb_io *io, sb_socket_t sock, unsigned events, void *udata)
{
    int fd = tu_io_fd(sock);
    reuse *r = udata;
    char buf[8];
    (void)io;
    (void)events;
    r->c_calls++;
    ck_assert_int_eq(read(fd, buf, sizeof(buf)), 1);
}

static void reuse_b(sb_io *io, sb_socket_t fd, unsigned events, void *udata)
{
    reuse *r = udata;
    (void)io;
    (void)fd;
    (void)events;
    r->b_calls++;
}

static void reuse_a(sb_io *io, sb_socket_t sock, unsigned events, void *udata)
{
    int fd = tu_io_fd(sock);
    reuse *r = udata;
    char buf[8];
    int old = r->b[0];
    (void)io;
    (void)events;
    r->a_calls++;
    ck_assert_int_eq(read(fd, buf, sizeof(buf)), 1);
    sb_io_free(r->wb);
    r->wb = NULL;
    close(r->b[0]);
    ck_assert_int_eq(pipe(r->c), 0);
    r->reused = (r->c[0] == old);
    r->wc = sb_io_new(r->loop, r->c[0], reuse_c, r, NULL);
    ck_assert_ptr_nonnull(r->wc);
    sb_io_set(r->wc, SB_READ);
}

START_TEST(test_fd_reuse_same_pass)
{
    reuse r;

    memset(&r, 0, sizeof(r));
    r.loop = sb_loop_new();
    ck_assert_int_eq(pipe(r.a), 0);
    ck_assert_int_eq(pipe(r.b), 0);
    ck_assert_int_lt(r.a[0], r.b[0]); /* A is dispatched before B */
    r.wa = sb_io_new(r.loop, r.a[0], reuse_a, &r, NULL);
    r.wb = sb_io_new(r.loop, r.b[0], reuse_b, &r, NULL);
    sb_io_set(r.wa, SB_READ);
    sb_io_set(r.wb, SB_READ);
    ck_assert_int_eq(write(r.a[1], "a", 1), 1);
    ck_assert_int_eq(write(r.b[1], "b", 1), 1);
    sb_loop_run_once(r.loop, 1000);
    ck_assert_int_eq(r.a_calls, 1);
    ck_assert_int_eq(r.b_calls, 0); /* freed before its turn */
    ck_assert_int_eq(r.reused, 1);  /* the number really was reused */
    ck_assert_int_eq(r.c_calls, 0); /* stale readiness not delivered */
    /* The new watcher works on the next pass. */
    ck_assert_int_eq(write(r.c[1], "c", 1), 1);
    sb_loop_run_once(r.loop, 1000);
    ck_assert_int_eq(r.c_calls, 1);
    sb_io_free(r.wa);
    sb_io_free(r.wc);
    close(r.a[0]);
    close(r.a[1]);
    close(r.b[1]);
    close(r.c[0]);
    close(r.c[1]);
    tu_loop_teardown(r.loop);
}
END_TEST

/*
 * Registering a high fd from a callback grows the bitsets in the middle of a
 * dispatch pass; the rest of that pass's results must survive the growth.
 */
typedef struct grow {
    sb_loop *loop;
    int a[2], b[2], c[2], hi;
    sb_io *wa, *wb, *whi;
    int a_calls, b_calls;
} grow;

static void grow_b(sb_io *io, sb_socket_t sock, unsigned events, void *udata)
{
    int fd = tu_io_fd(sock);
    grow *g = udata;
    char c;
    (void)io;
    (void)events;
    g->b_calls++;
    ck_assert_int_eq(read(fd, &c, 1), 1);
}

static void grow_a(sb_io *io, sb_socket_t sock, unsigned events, void *udata)
{
    int fd = tu_io_fd(sock);
    grow *g = udata;
    char c;
    (void)io;
    (void)events;
    g->a_calls++;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    g->whi = sb_io_new(g->loop, g->hi, grow_b, g, NULL);
    ck_assert_ptr_nonnull(g->whi);
    sb_io_set(g->whi, SB_READ);
}

START_TEST(test_grow_sets_during_dispatch)
{
    grow g;

    memset(&g, 0, sizeof(g));
    if (!tu_ensure_fd_limit(5000, "test_grow_sets_during_dispatch"))
        return;
    g.loop = sb_loop_new();
    ck_assert_int_eq(pipe(g.a), 0);
    ck_assert_int_eq(pipe(g.b), 0);
    tu_make_pipe(g.c);
    /* An empty pipe's read end, at a number far above the sets' size. */
    g.hi = tu_move_fd_high(g.c[0], 5000);
    ck_assert_msg(g.hi >= 5000, "cannot dup2 a pipe to fd 5000: %s", strerror(errno));
    g.wa = sb_io_new(g.loop, g.a[0], grow_a, &g, NULL);
    g.wb = sb_io_new(g.loop, g.b[0], grow_b, &g, NULL);
    sb_io_set(g.wa, SB_READ);
    sb_io_set(g.wb, SB_READ);
    ck_assert_int_eq(write(g.a[1], "a", 1), 1);
    ck_assert_int_eq(write(g.b[1], "b", 1), 1);
    sb_loop_run_once(g.loop, 1000);
    ck_assert_int_eq(g.a_calls, 1);
    ck_assert_int_eq(g.b_calls, 1); /* B, after A in the same pass */
    sb_io_free(g.wa);
    sb_io_free(g.wb);
    sb_io_free(g.whi);
    close(g.a[0]);
    close(g.a[1]);
    close(g.b[0]);
    close(g.b[1]);
    close(g.hi);
    close(g.c[1]);
    tu_loop_teardown(g.loop);
}
END_TEST

/* A watched fd closed behind the loop's back: select() fails with EBADF;
 * only that watcher is told (SB_ERROR), the others keep working. */
START_TEST(test_ebadf_fails_only_owner)
{
    sb_loop *loop = sb_loop_new();
    io_rec bad = {0, 0, -1}, good = {0, 0, -1};
    int p[2], q[2];
    sb_io *wbad, *wgood;

    if (tu_skip_on_epoll("test_ebadf_fails_only_owner"))
        return;
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(pipe(q), 0);
    wbad = sb_io_new(loop, p[0], rec_io, &bad, NULL);
    wgood = sb_io_new(loop, q[0], rec_io, &good, NULL);
    sb_io_set(wbad, SB_READ);
    sb_io_set(wgood, SB_READ);
    close(p[0]);
    sb_loop_run_once(loop, 0);
    ck_assert_int_eq(bad.calls, 1);
    ck_assert_uint_eq(bad.events, SB_ERROR);
    ck_assert_int_eq(good.calls, 0);
    ck_assert_int_eq(write(q[1], "x", 1), 1);
    sb_loop_run_once(loop, 1000);
    ck_assert_int_eq(good.calls, 1);
    ck_assert_uint_eq(good.events, SB_READ);
    ck_assert_int_eq(bad.calls, 1);
    sb_io_free(wbad);
    sb_io_free(wgood);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct sigrec {
    sb_loop *loop;
    int got;
    int signum;
} sigrec;

static void on_sig(sb_signal *s, int signum, void *udata)
{
    sigrec *r = udata;
    (void)s;
    r->got++;
    r->signum = signum;
    sb_loop_stop(r->loop);
}

START_TEST(test_signal_as_callback)
{
#ifdef _WIN32
    /* The refusals, on a signal Windows has; then the delivery is skipped. */
    sb_loop *loop = sb_loop_new();
    sigrec r = {loop, 0, 0};
    int err = 0;
    sb_signal *s = sb_signal_new(loop, SIGINT, on_sig, &r, &err);

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(sb_signal_new(loop, SIGINT, on_sig, &r, &err));
    ck_assert_int_eq(err, SB_ESIGNAL);
    ck_assert_ptr_null(sb_signal_new(loop, SIGKILL, on_sig, &r, &err));
    ck_assert_int_eq(err, SB_ESIGNAL);
    sb_signal_free(s);
    tu_loop_teardown(loop);
    TU_WIN32_SKIP("signal_as_callback (its delivery part)",
                  "no kill() or sigaction(): Windows has SIGINT/SIGTERM as console events "
                  "only (tests/wine/run.sh sends them to the demos)");
#else
    sb_loop *loop = sb_loop_new();
    sigrec r = {loop, 0, 0};
    struct sigaction before, after;
    int err = 0, n = 0;
    sb_signal *s;
    sb_timer *keepalive = sb_timer_new(loop, count_timer, &n);

    sigaction(SIGUSR1, NULL, &before);
    s = sb_signal_new(loop, SIGUSR1, on_sig, &r, &err);
    ck_assert_ptr_nonnull(s);
    /* One owner per signal. */
    ck_assert_ptr_null(sb_signal_new(loop, SIGUSR1, on_sig, &r, &err));
    ck_assert_int_eq(err, SB_ESIGNAL);
    ck_assert_ptr_null(sb_signal_new(loop, SIGKILL, on_sig, &r, &err));
    ck_assert_int_eq(err, SB_ESIGNAL);
    /* The signal arrives before run(): run() stops from its callback. */
    sb_timer_start(keepalive, 60000, 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(sb_loop_run(loop), 0);
    ck_assert_int_eq(r.got, 1);
    ck_assert_int_eq(r.signum, SIGUSR1);
    ck_assert_int_eq(n, 0);
    sb_signal_free(s);
    sigaction(SIGUSR1, NULL, &after);
    ck_assert(after.sa_handler == before.sa_handler);
    sb_timer_free(keepalive);
    tu_loop_teardown(loop);
#endif
}
END_TEST

START_TEST(test_strerror)
{
    ck_assert_str_eq(sb_strerror(0), "success");
#ifdef _WIN32
    /* The C runtime has no text for the POSIX socket errors: the library's own. */
    ck_assert_str_eq(sb_strerror(-ECONNRESET), "Connection reset by peer");
#else
    ck_assert_str_eq(sb_strerror(-ECONNRESET), strerror(ECONNRESET));
#endif
    ck_assert_ptr_nonnull(strstr(sb_strerror(SB_EPORT), "port"));
    ck_assert_ptr_nonnull(strstr(sb_strerror(SB_ECLOSED), "clos"));
    ck_assert_str_eq(sb_strerror(12345), "unknown error");
}
END_TEST

/* ---------------------------------------------------- misuse, caught */

typedef struct nested {
    sb_loop *loop;
    int run_once, run, free_rc, fired;
} nested;

static void nested_timer(sb_timer *t, void *udata)
{
    nested *n = udata;
    (void)t;
    n->fired++;
    n->run_once = sb_loop_run_once(n->loop, 0);
    n->run = sb_loop_run(n->loop);
    n->free_rc = sb_loop_free(n->loop);
}

/* sb_loop_run_once / sb_loop_run / sb_loop_free from a callback of the same
 * loop: SB_ENESTED, and nothing happens (no nested iteration). */
START_TEST(test_nested_run_refused)
{
    sb_loop *loop = sb_loop_new();
    nested n = {loop, 0, 0, 0, 0};
    sb_timer *t = sb_timer_new(loop, nested_timer, &n);
    sb_loop_stats st;

    ck_assert_int_eq(sb_timer_start(t, 0, 0), 0);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), SB_RUN_WORKED);
    ck_assert_int_eq(n.fired, 1);
    ck_assert_int_eq(n.run_once, SB_ENESTED);
    ck_assert_int_eq(n.run, SB_ENESTED);
    ck_assert_int_eq(n.free_rc, SB_ENESTED);
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.iterations, 1); /* the nested calls ran none */
    ck_assert_ptr_nonnull(strstr(sb_strerror(SB_ENESTED), "inside a callback"));
    /* Outside callbacks it works again. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);
    sb_timer_free(t);
    tu_loop_teardown(loop);
}
END_TEST

/* NULL data with a non-zero length is -EINVAL everywhere, never a crash. */
START_TEST(test_null_data_einval)
{
    sb_loop *loop = sb_loop_new();
    tu_server s;
    sb_framer f;
    sb_framer_cut cut;
    int fd;

    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    fd = tu_connect_tcp(s.port);
    TU_RUN_UNTIL(loop, s.last != NULL, 200);
    ck_assert_ptr_nonnull(s.last);
    ck_assert_int_eq(sb_write(s.last, NULL, 5), -EINVAL);
    ck_assert_int_eq(sb_write(s.last, NULL, 0), 0);
    ck_assert_int_eq(sb_write_prefix(s.last, 4, NULL, 5), -EINVAL);
    ck_assert_int_eq(sb_write_digits(s.last, 3, NULL, 5), -EINVAL);
    ck_assert_int_eq(sb_write_delim(s.last, NULL, 5, "\n", 1), -EINVAL);
    ck_assert_int_eq(sb_write_delim(s.last, "x", 1, NULL, 1), -EINVAL);
    ck_assert_int_eq(sb_write(NULL, "x", 1), -EINVAL);
    ck_assert_uint_eq(sb_conn_queued(s.last), 0); /* nothing was queued */
    ck_assert_int_eq(sb_framer_raw(&f), 0);
    ck_assert_int_eq(sb_framer_next(&f, NULL, 5, 0, &cut), -EINVAL);
    ck_assert_int_eq(sb_framer_delim(&f, NULL, 1, 0, 0), -EINVAL);
    close(fd);
    TU_RUN_UNTIL(loop, s.closes >= s.opens, 200);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct seen {
    int count[SB_HANDLE_TIMER + 1];
    int fds[16], nfds;
} seen;

static void see_handle(int kind, int fd, void *handle, void *udata)
{
    seen *w = udata;
    ck_assert_ptr_nonnull(handle);
    ck_assert_int_ge(kind, SB_HANDLE_LISTENER);
    ck_assert_int_le(kind, SB_HANDLE_TIMER);
    w->count[kind]++;
    if (fd >= 0 && w->nfds < 16)
        w->fds[w->nfds++] = fd;
}

static void no_datagram(sb_udp *u, const char *d, size_t n, const sb_addr *a, int e, void *x)
{
    (void)u, (void)d, (void)n, (void)a, (void)e, (void)x;
}

static void noop_signal(sb_signal *sig, int signum, void *udata)
{
    (void)sig, (void)signum, (void)udata;
}

/* A signal that nothing sends during the test (Windows has SIGINT and
 * SIGTERM only, as console events). */
#ifdef _WIN32
#define WALK_SIG SIGTERM
#else
#define WALK_SIG SIGUSR2
#endif

/* sb_loop_walk_handles names every live handle, by kind, with its fd. */
START_TEST(test_walk_handles)
{
    sb_loop *loop = sb_loop_new();
    static const sb_udp_handler uh = {.on_datagram = no_datagram};
    int n = 0, p[2], fd, i, k;
    sb_timer *t1 = sb_timer_new(loop, count_timer, &n), *t2 = sb_timer_new(loop, count_timer, &n);
    sb_signal *sig = sb_signal_new(loop, WALK_SIG, NULL, NULL, NULL);
    sb_udp *u = sb_udp_new(loop, "127.0.0.1:0", &uh, NULL, NULL, NULL);
    seen w;
    sb_io *io;
    tu_server s;

    ck_assert_int_eq(pipe(p), 0);
    io = sb_io_new(loop, p[0], noop_io, NULL, NULL);
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    fd = tu_connect_tcp(s.port);
    TU_RUN_UNTIL(loop, s.last != NULL, 200);
    ck_assert_ptr_nonnull(s.last);
    ck_assert_ptr_null(sig); /* a NULL callback is refused */
    sig = sb_signal_new(loop, WALK_SIG, noop_signal, NULL, NULL);
    ck_assert_ptr_nonnull(sig);
    ck_assert_int_eq(sb_timer_start(t1, 100000, 0), 0);

    memset(&w, 0, sizeof(w));
    sb_loop_walk_handles(loop, see_handle, &w);
    ck_assert_int_eq(w.count[SB_HANDLE_LISTENER], 1);
    ck_assert_int_eq(w.count[SB_HANDLE_CONN], 1);
    ck_assert_int_eq(w.count[SB_HANDLE_UDP], 1);
    ck_assert_int_eq(w.count[SB_HANDLE_IO], 1);
    ck_assert_int_eq(w.count[SB_HANDLE_SIGNAL], 1);
    ck_assert_int_eq(w.count[SB_HANDLE_TIMER], 2); /* armed or not */
    ck_assert_int_eq(w.nfds, 4);
    for (k = 0, i = 0; i < w.nfds; i++)
        k += w.fds[i] == p[0] || w.fds[i] == sb_udp_fd(u) || w.fds[i] == sb_conn_fd(s.last);
    ck_assert_int_eq(k, 3);
    ck_assert_str_eq(sb_handle_kind_name(SB_HANDLE_TIMER), "timer");
    ck_assert_str_eq(sb_handle_kind_name(99), "?");

    /* Freed handles are gone from the walk. */
    sb_timer_free(t1);
    sb_io_free(io);
    sb_udp_free(u);
    sb_signal_free(sig);
    memset(&w, 0, sizeof(w));
    sb_loop_walk_handles(loop, see_handle, &w);
    ck_assert_int_eq(w.count[SB_HANDLE_TIMER] + w.count[SB_HANDLE_IO] +
                         w.count[SB_HANDLE_UDP] + w.count[SB_HANDLE_SIGNAL],
                     1);
    sb_timer_free(t2);
    close(fd);
    close(p[0]);
    close(p[1]);
    TU_RUN_UNTIL(loop, s.closes >= s.opens, 200);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

/* ---------------------------------------- sb_io on fds above FD_SETSIZE */

typedef struct io_state {
    sb_io *io;
    int calls;
    int last_fd;
    sb_socket_t last_sock; /* as the callback was given it */
    unsigned last_events;
    unsigned all_events;
    int drain;      /* read what is there */
    int free_in_cb; /* sb_io_free on SB_ERROR */
} io_state;

static void io_cb(sb_io *io, sb_socket_t sock, unsigned events, void *udata)
{
    io_state *st = udata;
    int fd = tu_io_fd(sock);

    ck_assert_ptr_eq(io, st->io);
    st->calls++;
    st->last_fd = fd;
    st->last_sock = sock;
    st->last_events = events;
    st->all_events |= events;
    if ((events & SB_READ) && st->drain) {
        char buf[64];
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    }
    if ((events & SB_ERROR) && st->free_in_cb) {
        sb_io_free(io);
        st->io = NULL;
    }
}

typedef struct log_state {
    int errors;
    char last[256];
} log_state;

static void log_cb(int level, const char *msg, void *udata)
{
    log_state *ls = udata;

    if (level == SB_LOG_ERROR)
        ls->errors++;
    snprintf(ls->last, sizeof(ls->last), "%s", msg);
}

START_TEST(test_io_above_fd_setsize)
{
    int p[2], q[2], w[2], rp, wq;
    io_state hi = {0}, lo = {0}, wr = {0};
    sb_loop *loop;
    int err = 0, i;

    if (!tu_ensure_fd_limit(2100, "test_io_above_fd_setsize"))
        return;
    tu_make_pipe(p);
    tu_make_pipe(q);
    tu_make_pipe(w);
    rp = tu_move_fd_high(p[0], 2000);
    ck_assert_msg(rp >= 2000, "cannot dup2 a pipe to fd 2000: %s", strerror(errno));
    ck_assert_int_gt(rp, FD_SETSIZE);
    wq = tu_move_fd_high(w[1], 2050);
    ck_assert_msg(wq >= 2050, "cannot dup2 a pipe to fd 2050: %s", strerror(errno));

    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    hi.drain = 1;
    hi.io = sb_io_new(loop, rp, io_cb, &hi, &err);
    ck_assert_msg(hi.io != NULL, "sb_io_new(%d): %s", rp, sb_strerror(err));
    lo.io = sb_io_new(loop, q[0], io_cb, &lo, &err);
    ck_assert_ptr_nonnull(lo.io);
    wr.io = sb_io_new(loop, wq, io_cb, &wr, &err);
    ck_assert_ptr_nonnull(wr.io);
    sb_io_set(hi.io, SB_READ);
    sb_io_set(lo.io, SB_READ);
    ck_assert_uint_eq(sb_loop_handles(loop), 3);

    /* Nothing written yet: no callback. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(hi.calls, 0);
    ck_assert_int_eq(lo.calls, 0);
    ck_assert_int_eq(wr.calls, 0);

    tu_write_byte(p[1], 'a');
    for (i = 0; i < 10 && hi.calls == 0; i++)
        ck_assert_int_eq(sb_loop_run_once(loop, 5000), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(hi.calls, 1);
    ck_assert_int_eq(hi.last_fd, rp);
    ck_assert_uint_eq(hi.last_events, SB_READ);
    ck_assert_int_eq(lo.calls, 0);
    ck_assert_int_eq(wr.calls, 0); /* no interest set */

    /* Drained by the callback: no further callback. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(hi.calls, 1);

    /* Write interest on another fd above FD_SETSIZE. */
    sb_io_set(wr.io, SB_WRITE);
    TU_RUN_UNTIL_MS(loop, wr.calls != 0, 10, 5000);
    ck_assert_int_eq(wr.calls, 1);
    ck_assert_int_eq(wr.last_fd, wq);
    ck_assert_uint_eq(wr.last_events, SB_WRITE);
    sb_io_set(wr.io, 0);
    ck_assert_int_eq(hi.calls, 1);
    ck_assert_int_eq(lo.calls, 0);

    /* A high and a low fd, both ready before select(): one iteration
     * delivers both. */
    tu_write_byte(p[1], 'b');
    tu_write_byte(q[1], 'c');
    lo.drain = 1;
    ck_assert_int_eq(sb_loop_run_once(loop, 5000), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(hi.calls, 2);
    ck_assert_int_eq(lo.calls, 1);
    ck_assert_int_eq(lo.last_fd, q[0]);
    ck_assert_uint_eq(lo.last_events, SB_READ);
    ck_assert_int_eq(wr.calls, 1);

    sb_io_free(hi.io);
    sb_io_free(lo.io);
    sb_io_free(wr.io);
    tu_close_fd(rp);
    tu_close_fd(p[1]);
    tu_close_fd(q[0]);
    tu_close_fd(q[1]);
    tu_close_fd(w[0]);
    tu_close_fd(wq);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_io_closed_behind_back)
{
    int h[2], b1[2], b2[2], hr, v1, v2, i, rc;
    sb_socket_t v1s, v2s; /* what sb_io_new was given for v1 and v2 */
    io_state healthy = {0}, victim1 = {0}, victim2 = {0};
    log_state ls = {0, ""};
    sb_loop *loop;
    int err = 0;

    if (tu_skip_on_epoll("test_io_closed_behind_back"))
        return;
    if (!tu_ensure_fd_limit(2300, "test_io_closed_behind_back"))
        return;
    tu_make_pipe(h);
    tu_make_pipe(b1);
    tu_make_pipe(b2);
    hr = tu_move_fd_high(h[0], 2200);
    ck_assert_msg(hr >= 2200, "cannot dup2 a pipe to fd 2200: %s", strerror(errno));
    v1 = tu_move_fd_high(b1[0], 2100);
    ck_assert_msg(v1 >= 2100, "cannot dup2 a pipe to fd 2100: %s", strerror(errno));
    v2 = b2[0]; /* below FD_SETSIZE */
    v1s = tu_io_sock(v1);
    v2s = tu_io_sock(v2);

    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    sb_loop_set_log(loop, log_cb, SB_LOG_DEBUG, &ls);
    healthy.drain = 1;
    healthy.io = sb_io_new(loop, hr, io_cb, &healthy, &err);
    victim1.io = sb_io_new(loop, v1, io_cb, &victim1, &err);
    victim1.free_in_cb = 1;
    victim2.io = sb_io_new(loop, v2, io_cb, &victim2, &err);
    ck_assert_ptr_nonnull(healthy.io);
    ck_assert_ptr_nonnull(victim1.io);
    ck_assert_ptr_nonnull(victim2.io);
    sb_io_set(healthy.io, SB_READ);
    sb_io_set(victim1.io, SB_READ);
    sb_io_set(victim2.io, SB_READ);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(healthy.calls + victim1.calls + victim2.calls, 0);

    /* Close the victims' fds behind the loop's back; data for the healthy
     * watcher. */
    tu_close_fd(v1);
    tu_close_fd(v2);
    tu_write_byte(h[1], 'z');
    for (i = 0; i < 10 && (healthy.calls == 0 || victim1.calls == 0 || victim2.calls == 0);
         i++) {
        rc = sb_loop_run_once(loop, 5000);
        ck_assert_int_ge(rc, 0);
    }
    ck_assert_int_eq(victim1.calls, 1);
    ck_assert_uint_eq(victim1.last_events, SB_ERROR);
    ck_assert(victim1.last_sock == v1s); /* its callback names the socket it watched */
    ck_assert_ptr_null(victim1.io); /* freed from its callback */
    ck_assert_int_eq(victim2.calls, 1);
    ck_assert_uint_eq(victim2.last_events, SB_ERROR);
    ck_assert(victim2.last_sock == v2s);
    ck_assert_int_eq(healthy.calls, 1);
    ck_assert_uint_eq(healthy.last_events, SB_READ);
    ck_assert_int_eq(healthy.last_fd, hr);
    ck_assert_uint_eq(healthy.all_events & SB_ERROR, 0);
    ck_assert_int_eq(ls.errors, 2); /* one line per closed fd, no more */
    ck_assert_uint_eq(sb_loop_handles(loop), 2);

    /* The failed watchers are not reported again, and the healthy one keeps
     * working. */
    tu_write_byte(h[1], 'y');
    for (i = 0; i < 10 && healthy.calls < 2; i++)
        ck_assert_int_eq(sb_loop_run_once(loop, 5000), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(healthy.calls, 2);
    ck_assert_uint_eq(healthy.last_events, SB_READ);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(victim1.calls, 1);
    ck_assert_int_eq(victim2.calls, 1);

    sb_io_free(victim2.io);
    sb_io_free(healthy.io);
    tu_close_fd(hr);
    tu_close_fd(h[1]);
    tu_close_fd(b1[1]);
    tu_close_fd(b2[1]);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_io_log_names_fd)
{
    int p[2], v;
    io_state st = {0};
    log_state ls = {0, ""};
    sb_loop *loop;
    char want[32];

    if (tu_skip_on_epoll("test_io_log_names_fd"))
        return;
    if (!tu_ensure_fd_limit(2700, "test_io_log_names_fd"))
        return;
    tu_make_pipe(p);
    v = tu_move_fd_high(p[0], 2600);
    ck_assert_msg(v >= 2600, "cannot dup2 a pipe to fd 2600: %s", strerror(errno));
    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    sb_loop_set_log(loop, log_cb, SB_LOG_ERROR, &ls);
    st.io = sb_io_new(loop, v, io_cb, &st, NULL);
    ck_assert_ptr_nonnull(st.io);
    sb_io_set(st.io, SB_READ);
    tu_close_fd(v);
    TU_RUN_UNTIL_MS(loop, st.calls != 0, 10, 1000);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_uint_eq(st.last_events, SB_ERROR);
    ck_assert_int_eq(ls.errors, 1);
    snprintf(want, sizeof(want), "%d", v);
    ck_assert_msg(strstr(ls.last, want) != NULL, "log message '%s' does not name fd %d",
                  ls.last, v);
    /* Interest was cleared: nothing keeps the loop alive any more. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(st.calls, 1);
    sb_io_free(st.io);
    tu_close_fd(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * Watcher A's callback frees watcher B (also ready in the same select()),
 * closes B's fd and puts a watcher C on a new, empty pipe that reuses B's fd
 * number.  The stale readiness of B must not be delivered to C.
 */
typedef struct reuse_state {
    sb_loop *loop;
    io_state *b, *c;
    int b_fd;      /* B's fd number, reused for C */
    int c_pipe[2]; /* C's pipe; c_pipe[0] == b_fd once reused */
    int done;
} reuse_state;

static void reuse_cb(sb_io *io, sb_socket_t fd, unsigned events, void *udata)
{
    reuse_state *r = udata;
    int q[2], err = 0;

    (void)io;
    (void)fd;
    ck_assert_uint_eq(events, SB_READ);
    if (r->done++)
        return;
    ck_assert_int_eq(r->b->calls, 0); /* A's fd is lower: dispatched first */
    sb_io_free(r->b->io);
    r->b->io = NULL;
    ck_assert_int_eq(close(r->b_fd), 0);
    tu_make_pipe(q);
    if (q[0] != r->b_fd) { /* POSIX: the lowest free number; Windows: the last freed */
        ck_assert_int_eq(dup2(q[0], r->b_fd), r->b_fd);
        tu_set_cloexec(r->b_fd);
        ck_assert_int_eq(close(q[0]), 0);
    }
    r->c_pipe[0] = r->b_fd;
    r->c_pipe[1] = q[1];
    r->c->io = sb_io_new(r->loop, r->b_fd, io_cb, r->c, &err);
    ck_assert_msg(r->c->io != NULL, "sb_io_new on a reused fd: %s", sb_strerror(err));
    sb_io_set(r->c->io, SB_READ);
}

START_TEST(test_io_fd_reuse_in_callback)
{
    int a[2], b[2], bfd;
    io_state bs = {0}, cs = {0};
    reuse_state r;
    sb_loop *loop;
    sb_io *aio;

    if (!tu_ensure_fd_limit(2500, "test_io_fd_reuse_in_callback"))
        return;
    tu_make_pipe(a);
    tu_make_pipe(b);
    bfd = tu_move_fd_high(b[0], 2400);
    ck_assert_msg(bfd >= 2400, "cannot dup2 a pipe to fd 2400: %s", strerror(errno));
    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    memset(&r, 0, sizeof(r));
    r.loop = loop;
    r.b = &bs;
    r.c = &cs;
    r.b_fd = bfd;
    r.c_pipe[0] = r.c_pipe[1] = -1;
    aio = sb_io_new(loop, a[0], reuse_cb, &r, NULL);
    ck_assert_ptr_nonnull(aio);
    bs.io = sb_io_new(loop, bfd, io_cb, &bs, NULL);
    ck_assert_ptr_nonnull(bs.io);
    sb_io_set(aio, SB_READ);
    sb_io_set(bs.io, SB_READ);
    tu_write_byte(a[1], 'a');
    tu_write_byte(b[1], 'b');

    ck_assert_int_eq(sb_loop_run_once(loop, 5000), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(bs.calls, 0);                 /* freed before its turn */
    ck_assert_ptr_nonnull(cs.io);
    ck_assert_int_eq(cs.calls, 0);                 /* stale result not delivered */

    /* C's pipe is empty: still nothing; once written, C is called. */
    sb_io_set(aio, 0);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(cs.calls, 0);
    tu_write_byte(r.c_pipe[1], 'c');
    cs.drain = 1;
    ck_assert_int_eq(sb_loop_run_once(loop, 5000), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(cs.calls, 1);
    ck_assert_int_eq(cs.last_fd, bfd);
    ck_assert_uint_eq(cs.last_events, SB_READ);

    sb_io_free(aio);
    sb_io_free(cs.io);
    tu_close_fd(a[0]);
    tu_close_fd(a[1]);
    tu_close_fd(b[1]);
    tu_close_fd(r.c_pipe[0]);
    tu_close_fd(r.c_pipe[1]);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_io_new_errors)
{
    int p[2], err = 0;
    io_state st = {0};
    sb_loop *loop = sb_loop_new();
    sb_io *io;

    ck_assert_ptr_nonnull(loop);
    tu_make_pipe(p);
    ck_assert_ptr_null(sb_io_new(loop, -1, io_cb, &st, &err));
    ck_assert_int_eq(err, -EINVAL);
    err = 0;
    ck_assert_ptr_null(sb_io_new(loop, p[0], NULL, &st, &err));
    ck_assert_int_eq(err, -EINVAL);
    io = sb_io_new(loop, p[0], io_cb, &st, &err);
    ck_assert_ptr_nonnull(io);
    err = 0;
    ck_assert_ptr_null(sb_io_new(loop, p[0], io_cb, &st, &err));
    ck_assert_int_eq(err, -EEXIST);
    ck_assert_ptr_null(sb_io_new(loop, p[0], io_cb, &st, NULL));
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    sb_io_free(io);
    sb_io_free(NULL);
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    tu_close_fd(p[0]);
    tu_close_fd(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("core");
    TCase *io = tcase_create("io");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_new_free_empty);
    tcase_add_test(tc, test_free_refused_with_live_handles);
    tcase_add_test(tc, test_stop_from_callback);
    tcase_add_test(tc, test_io_watcher_pipe);
    tcase_add_test(tc, test_fd_reuse_same_pass);
    tcase_add_test(tc, test_grow_sets_during_dispatch);
    tcase_add_test(tc, test_ebadf_fails_only_owner);
    tcase_add_test(tc, test_signal_as_callback);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_nested_run_refused);
    tcase_add_test(tc, test_null_data_einval);
    tcase_add_test(tc, test_walk_handles);
    suite_add_tcase(s, tc);

    tcase_set_timeout(io, 30);
    tcase_add_test(io, test_io_above_fd_setsize);
    tcase_add_test(io, test_io_closed_behind_back);
    tcase_add_test(io, test_io_log_names_fd);
    tcase_add_test(io, test_io_fd_reuse_in_callback);
    tcase_add_test(io, test_io_new_errors);
    suite_add_tcase(s, io);
    return s;
}
