/*
 * switchboard — single-threaded network servers and clients on one select()
 * reactor.
 *
 * One loop object multiplexes listening sockets, buffered connections, raw fd
 * watchers, timers and signals.  Applications supply protocol handlers as
 * plain callbacks.  Every function here must be called from the thread that
 * runs the loop.  Errors are 0 / negative codes (see sb_strerror()).
 */
#ifndef SWITCHBOARD_H
#define SWITCHBOARD_H

#include <stddef.h>
#include <stdint.h>
#ifdef _WIN32
#include <winsock2.h> /* SOCKET, fd_set */
#else
#include <sys/select.h> /* fd_set, for sb_loop_fdset() */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of this header: the one source of the version (the Makefile
 * reads these three lines).  sb_version() and sb_version_number() give the
 * library's, for a runtime check that the two match:
 *     if (sb_version_number() / 100 != SB_VERSION_NUMBER / 100) ...
 */
#define SB_VERSION_MAJOR 0
#define SB_VERSION_MINOR 2
#define SB_VERSION_PATCH 0
#define SB__STR2(x) #x
#define SB__STR(x) SB__STR2(x)
#define SB_VERSION_STRING                                                                     \
    SB__STR(SB_VERSION_MAJOR) "." SB__STR(SB_VERSION_MINOR) "." SB__STR(SB_VERSION_PATCH)
#define SB_VERSION_NUMBER (SB_VERSION_MAJOR * 10000 + SB_VERSION_MINOR * 100 + SB_VERSION_PATCH)

/* What the library exports; everything else in it is hidden. */
#ifndef SB_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define SB_API __attribute__((visibility("default")))
#else
#define SB_API
#endif
#endif

/* ---------------------------------------------------------------- errors */

/*
 * Every function that can fail returns 0 (or a non-negative value) on
 * success and a negative code on failure.  System errors are reported as
 * -errno (e.g. -ECONNRESET); the library's own conditions use the reserved
 * range below.  sb_strerror() names both.
 */
enum {
    SB_EINVAL_ADDR = -30001, /* address string does not parse */
    SB_EPORT = -30002,       /* port missing or outside 0..65535 */
    SB_ECLOSED = -30003,     /* connection is closing or closed */
    SB_EABORTED = -30004,    /* connection was aborted locally (sb_abort) */
    SB_EBUSY = -30005,       /* object still has live handles */
    SB_ERESOLVE = -30006,    /* host name could not be resolved */
    SB_EBUFFULL = -30007,    /* output queue is at its hard cap */
    SB_ESIGNAL = -30008,     /* signal cannot be watched (bad number, taken) */
    SB_ETOOLONG = -30010,    /* message longer than the framer's maximum */
    SB_EFRAME = -30011,      /* malformed frame header */
    SB_ENESTED = -30012,     /* sb_loop_run/run_once/free during an iteration of that loop */
    SB_EFDSET = -30013,      /* an fd does not fit in an fd_set (>= FD_SETSIZE) */
    SB_ESHORTFILE = -30014,  /* sb_write_file: the file ended before the queued length */
    SB_ETRUNCATED = -30015,  /* the peer ended the stream without the transport's own
                                close (TLS: TCP EOF without close_notify) */
    SB_ETLS = -30016,        /* TLS protocol error after the handshake */
    SB_ETLSHANDSHAKE = -30017, /* TLS handshake failed (no common version, cipher,
                                  ALPN protocol; not TLS at all...) */
    SB_ETLSVERIFY = -30018,  /* TLS: the peer's certificate did not verify */
    SB_WANT_READ = -30019,   /* transports only: call again once readable */
    SB_WANT_WRITE = -30020,  /* transports only: call again once writable */
};

/* A human-readable message for any code returned or reported by the library. */
SB_API const char *sb_strerror(int code);

/* The library's version, "MAJOR.MINOR.PATCH", and as MAJOR*10000 + MINOR*100
 * + PATCH (compare with SB_VERSION_NUMBER, the header's). */
SB_API const char *sb_version(void);
SB_API int sb_version_number(void);

/* ----------------------------------------------------------------- types */

typedef struct sb_loop sb_loop;
typedef struct sb_conn sb_conn;
typedef struct sb_listener sb_listener;
typedef struct sb_timer sb_timer;
typedef struct sb_io sb_io;
typedef struct sb_signal sb_signal;

/*
 * A socket as the platform names it: an int fd on POSIX, a SOCKET on
 * Windows (where an int cannot hold one).  sb_conn_fd, sb_listener_fd,
 * sb_udp_fd and sb_io_new use it; on POSIX it is int, so code and ABI are
 * what they were.  SB_INVALID_SOCKET is -1 on POSIX, INVALID_SOCKET there.
 */
#ifdef _WIN32
typedef uintptr_t sb_socket_t;
#define SB_INVALID_SOCKET ((sb_socket_t)~(uintptr_t)0)
#else
typedef int sb_socket_t;
#define SB_INVALID_SOCKET (-1)
#endif

/* ------------------------------------------------------------------ loop */

/*
 * Create a loop waiting with select(), or with the backend named by the
 * environment variable SB_BACKEND when it is set (for testing a program on
 * every backend).  Returns NULL when out of memory (or SB_BACKEND names no
 * backend).
 */
SB_API sb_loop *sb_loop_new(void);

/* Loop settings (0 / NULL: the default in brackets). */
typedef struct sb_loop_opts {
    /* How the loop waits for readiness: "select" (every platform; O(highest
     * fd) per wait), "poll" (POSIX; O(watched fds)), "epoll" (Linux;
     * O(ready fds)) [SB_BACKEND if set, else "select"].  The behaviour is
     * the same on each, except that epoll cannot see an fd closed behind
     * the loop's back (the kernel drops it from the set silently). */
    const char *backend;
} sb_loop_opts;

/*
 * Create a loop with settings.  Returns NULL with *err set: -EINVAL for an
 * unknown backend name, -ENOSYS for a backend this platform lacks,
 * -ENOMEM, or the backend's own -errno (epoll_create1: -EMFILE...); err
 * may be NULL.
 */
SB_API sb_loop *sb_loop_new_opts(const sb_loop_opts *opts, int *err);

/* The name of the loop's backend ("select", "poll" or "epoll"). */
SB_API const char *sb_loop_backend(const sb_loop *loop);

/*
 * Run iterations until sb_loop_stop() is called or nothing is left to watch
 * (no listener, connection, UDP endpoint, started timer or io watcher with
 * interest;
 * signal watchers alone do not keep the loop running).
 * Returns 0, -EINVAL for a NULL loop, SB_ENESTED when called during an
 * iteration of the same loop (from any of its callbacks: nothing is done),
 * or a negative code when select() fails unrecoverably.
 */
SB_API int sb_loop_run(sb_loop *loop);

/*
 * Run exactly one iteration, waiting at most timeout_ms for readiness
 * (-1 = until the next timer or event, 0 = poll).  Returns a non-negative
 * set of flags: SB_RUN_ALIVE while something is left to watch (0 when
 * nothing is), SB_RUN_WORKED when the iteration did something (delivered
 * readiness, ran a timer, sent output, closed a connection): a host that
 * ticks the loop can tell an idle tick.  SB_ENESTED from inside one of the
 * loop's callbacks (no nested iteration is run), or a negative code.
 */
enum { SB_RUN_ALIVE = 1, SB_RUN_WORKED = 2 };
SB_API int sb_loop_run_once(sb_loop *loop, int timeout_ms);

/*
 * Make sb_loop_run() return after the current iteration.  Safe from any
 * callback, including signal watchers.  Only sets a flag.
 */
SB_API void sb_loop_stop(sb_loop *loop);

/*
 * Free the loop.  Refuses with SB_EBUSY while any handle (listener,
 * connection, UDP endpoint, timer, io or signal watcher) is alive: close or free them and
 * run the loop until their close callbacks have run (sb_loop_walk_handles
 * lists them).  SB_ENESTED during an iteration of the loop.
 * sb_loop_free(NULL) is a no-op returning 0.
 */
SB_API int sb_loop_free(sb_loop *loop);

/* Number of live handles (all kinds) owned by the loop. */
SB_API size_t sb_loop_handles(const sb_loop *loop);

/*
 * Every live handle of the loop, for finding out what keeps sb_loop_free()
 * refusing with SB_EBUSY: fn(kind, fd, handle, udata) for each listener,
 * connection (also those still closing), UDP endpoint, io watcher, signal
 * watcher, timer and sb_async.  fd is the handle's descriptor, or -1
 * (timers, signal watchers, sb_asyncs, a connection, listener or UDP endpoint whose fd was closed
 * behind the loop's back); handle is the object, to be compared, not freed,
 * inside fn.
 */
enum {
    SB_HANDLE_LISTENER = 1,
    SB_HANDLE_CONN,
    SB_HANDLE_UDP,
    SB_HANDLE_IO,
    SB_HANDLE_SIGNAL,
    SB_HANDLE_TIMER,
    SB_HANDLE_ASYNC
};
typedef void (*sb_handle_fn)(int kind, int fd, void *handle, void *udata);
SB_API void sb_loop_walk_handles(sb_loop *loop, sb_handle_fn fn, void *udata);
/* The name of a SB_HANDLE_* kind ("listener", "connection"...). */
SB_API const char *sb_handle_kind_name(int kind);

/* Start sb_close() on every connection of the loop (graceful shutdown). */
SB_API void sb_loop_close_all(sb_loop *loop);

/*
 * Call fn for every connection whose close is not yet scheduled (those
 * flushing after sb_close are included; those aborted, failed or done are
 * not).  fn may close or abort the connection it is given.
 */
SB_API void sb_loop_walk(sb_loop *loop, void (*fn)(sb_conn *c, void *udata), void *udata);

/* Cached monotonic time of the current iteration, in milliseconds. */
SB_API uint64_t sb_loop_now(const sb_loop *loop);

/*
 * Replace the loop's monotonic clock (milliseconds).  For tests: timeouts
 * can then be driven without waiting.  NULL restores the real clock.
 */
typedef uint64_t (*sb_clock_fn)(void *udata);
SB_API void sb_loop_set_clock(sb_loop *loop, sb_clock_fn fn, void *udata);

/* Log hook: the library reports rare events (EMFILE, EBADF...) through it. */
enum { SB_LOG_ERROR = 0, SB_LOG_WARN = 1, SB_LOG_INFO = 2, SB_LOG_DEBUG = 3 };
typedef void (*sb_log_fn)(int level, const char *msg, void *udata);
SB_API void sb_loop_set_log(sb_loop *loop, sb_log_fn fn, int max_level, void *udata);

/* Counters, cumulative since sb_loop_new(). */
typedef struct sb_loop_stats {
    uint64_t iterations;    /* loop iterations (backend waits, plus
                               sb_loop_dispatch calls) */
    uint64_t accepted;      /* connections accepted and opened */
    uint64_t rejected;      /* accepted then closed at once (max_conns,
                               EMFILE shedding, out of memory) */
    uint64_t emfile;        /* accept() failed for lack of fds or memory
                               (EMFILE, ENFILE, ENOBUFS, ENOMEM) */
    uint64_t accept_calls;  /* accept4() calls, successful or not */
    uint64_t bytes_in;      /* bytes received on connections */
    uint64_t bytes_out;     /* bytes sent on connections */
    uint64_t timeouts;      /* connections closed by idle timeout */
    uint64_t closes;        /* connections closed, any reason */
    uint64_t close_errors;  /* of which with a non-zero reason: */
    uint64_t close_reset;   /*   the peer reset (ECONNRESET, EPIPE) */
    uint64_t close_aborted; /*   sb_abort() */
    uint64_t close_frame;   /*   framing errors (SB_ETOOLONG, SB_EFRAME) */
    uint64_t conns;         /* connections alive now */
    uint64_t timers_fired;  /* timer callbacks run */
} sb_loop_stats;
SB_API void sb_loop_get_stats(const sb_loop *loop, sb_loop_stats *out);

/*
 * The counters as one line of "name=value" pairs (for a daemon's SIGUSR1
 * report or a log).  Returns the length it needed, like snprintf.
 */
SB_API int sb_loop_stats_format(const sb_loop_stats *st, char *buf, size_t len);

/*
 * For daemons started as root: switch to user's uid, gid and supplementary
 * groups (after binding privileged ports).  Returns 0, -ENOENT for an
 * unknown user, or the -errno of the failing call.  Refuses (-EPERM) to
 * "drop" to root.
 */
SB_API int sb_drop_privileges(const char *user);

/* ------------------------------------------------------------- embedding */

/*
 * Driving the loop from a host's own event loop (GLib, a poll() loop, a GUI
 * toolkit): the host waits on switchboard's fds together with its own, then
 * hands the readiness over.  docs/embedding.md has complete programs.
 *
 *     sb_loop_set_watch(loop, fn, udata);        // learn the fds
 *     for (;;) {
 *         wait on the watched fds, at most sb_loop_timeout(loop) ms;
 *         sb_loop_dispatch(loop, ready, nready);  // also when it timed out
 *     }
 */

/*
 * fn(fd, events, udata) is called whenever the interest of one of the
 * loop's fds changes: events is SB_READ, SB_WRITE or both, or 0 when the
 * fd is no longer watched (about to be closed, or idle: a paused or
 * backpressured connection, a connection with input still to cut, a
 * listener backing off).  Installing fn calls it once for each fd watched
 * now.  Interest changes are reported exactly once each, from whatever
 * function made them (a callback, sb_conn_pause() outside the loop...);
 * fn must not call back into the loop.  NULL uninstalls.  The loop's own
 * backend keeps its bookkeeping either way, so sb_loop_run_once() still
 * works.  Returns 0, or -EINVAL for a NULL loop.
 */
typedef void (*sb_watch_fn)(int fd, unsigned events, void *udata);
SB_API int sb_loop_set_watch(sb_loop *loop, sb_watch_fn fn, void *udata);

/*
 * How long the host may wait before calling sb_loop_dispatch() even if no
 * fd is ready, in milliseconds: the time to switchboard's earliest timer
 * (idle timeouts, linger and connect deadlines, sb_timer), 0 when work is
 * already due (buffered input to cut, output queued outside a callback,
 * closes to finish), -1 when nothing but readiness can give it work.
 */
SB_API int sb_loop_timeout(const sb_loop *loop);

/* Readiness the host saw: SB_READ and/or SB_WRITE (map POLLHUP and
 * POLLERR to both: the library finds the error itself), or SB_ERROR for an
 * fd reported closed (POLLNVAL, EBADF). */
typedef struct sb_ready {
    int fd;
    unsigned events;
} sb_ready;

/*
 * One full iteration with readiness supplied by the host instead of
 * waiting: the ready fds are dispatched (an fd the loop does not watch, or
 * events it does not want, are ignored: readiness may be stale), then due
 * timers run, output is sent and closes finish.  Call it after each wait of
 * the host's, and when sb_loop_timeout() has expired (n = 0).  Returns what
 * sb_loop_run_once() does: SB_RUN_ALIVE | SB_RUN_WORKED flags, SB_ENESTED,
 * -EINVAL for a NULL loop or NULL ready with n > 0.
 */
SB_API int sb_loop_dispatch(sb_loop *loop, const sb_ready *ready, size_t n);

/*
 * For hosts that wait with select() themselves: add every fd the loop
 * watches to rd / wr (either may be NULL; the sets are not cleared first,
 * so the host's own fds can be in them) and raise *maxfd (may be NULL) to
 * the highest one.  Returns the number of fds added, or SB_EFDSET, with
 * nothing added, when one of them is >= FD_SETSIZE (such a host must use
 * sb_loop_set_watch()).
 */
SB_API int sb_loop_fdset(const sb_loop *loop, fd_set *rd, fd_set *wr, int *maxfd);

/*
 * sb_loop_dispatch() from the sets select() returned: every watched fd up
 * to maxfd that is in rd / wr (either may be NULL) is dispatched.
 */
SB_API int sb_loop_dispatch_fdset(sb_loop *loop, const fd_set *rd, const fd_set *wr,
                                  int maxfd);

/* ---------------------------------------------------------------- wake-up */

/*
 * Waking the loop from another thread or a signal handler.  sb_async_send()
 * makes cb(async, udata) run on the loop's thread in a coming iteration;
 * sends before that run coalesce into one call.  A live sb_async keeps
 * sb_loop_run() running (it can always be woken).
 */
typedef struct sb_async sb_async;
typedef void (*sb_async_cb)(sb_async *async, void *udata);

/* On the loop's thread.  Returns NULL with *err set (-EINVAL, -ENOMEM,
 * -EMFILE: it needs the loop's wake-up pipe); err may be NULL. */
SB_API sb_async *sb_async_new(sb_loop *loop, sb_async_cb cb, void *udata, int *err);
/*
 * Safe from any thread and from a signal handler (lock-free: two atomic
 * exchanges and at most one write()).  errno is preserved.  Returns 0, or
 * -EINVAL for NULL.
 */
SB_API int sb_async_send(sb_async *async);
/*
 * On the loop's thread, from anywhere (also its own callback); a pending
 * call is dropped.  No sb_async_send() may run during or after it: stop
 * the senders first.  NULL is a no-op.
 */
SB_API void sb_async_free(sb_async *async);

/* ---------------------------------------------------------------- timers */

typedef void (*sb_timer_cb)(sb_timer *timer, void *udata);

/* Create a stopped timer.  Returns NULL when out of memory. */
SB_API sb_timer *sb_timer_new(sb_loop *loop, sb_timer_cb cb, void *udata);

/*
 * (Re)arm: first fire after timeout_ms, then every repeat_ms (0 = one-shot).
 * Timers with the same deadline fire in the order they were armed.  A timer
 * armed from inside a timer callback fires on a later iteration, never in
 * the same pass, so I/O is never starved.  O(log n).
 */
SB_API int sb_timer_start(sb_timer *timer, uint64_t timeout_ms, uint64_t repeat_ms);

/* Disarm; safe from any callback, including the timer's own. */
SB_API void sb_timer_stop(sb_timer *timer);

/* 1 while armed, else 0. */
SB_API int sb_timer_active(const sb_timer *timer);

/* Stop and free; safe from the timer's own callback.  NULL is a no-op. */
SB_API void sb_timer_free(sb_timer *timer);

/* ----------------------------------------------------- raw fd watchers */

enum { SB_READ = 1, SB_WRITE = 2, SB_ERROR = 4 };

/*
 * events: SB_READ and/or SB_WRITE as reported ready, or SB_ERROR when the
 * fd was found closed behind the loop's back (EBADF); interest is then
 * cleared and the watcher should be freed.
 */
typedef void (*sb_io_cb)(sb_io *io, sb_socket_t fd, unsigned events, void *udata);

/*
 * Watch any fd select() can watch (pipe, tty, another library's socket).
 * The fd stays the caller's: it is never closed by the library.
 * Returns NULL with *err set (-EINVAL for a negative fd, -EEXIST if the fd
 * is already watched, -ENOMEM); err may be NULL.
 */
SB_API sb_io *sb_io_new(sb_loop *loop, sb_socket_t fd, sb_io_cb cb, void *udata, int *err);

/* Set interest to SB_READ, SB_WRITE, both, or 0. */
SB_API void sb_io_set(sb_io *io, unsigned events);

/*
 * Stop watching and free.  Safe from any callback; the fd may be closed
 * and its number reused immediately afterwards.  NULL is a no-op.
 */
SB_API void sb_io_free(sb_io *io);

/* --------------------------------------------------------------- signals */

typedef void (*sb_signal_cb)(sb_signal *sig, int signum, void *udata);

/*
 * Deliver signum as an ordinary loop callback (self-pipe).  One loop owns a
 * given signal at a time; the previous disposition is restored on free.
 * Returns NULL with *err set (SB_ESIGNAL, -ENOMEM); err may be NULL.
 */
SB_API sb_signal *sb_signal_new(sb_loop *loop, int signum, sb_signal_cb cb, void *udata,
                         int *err);

/* Restore the signal's previous disposition and free.  NULL is a no-op. */
SB_API void sb_signal_free(sb_signal *sig);

/* ------------------------------------------------------- protocol handler */

/*
 * The application's protocol: plain callbacks, connection first, user data
 * last.  Any member may be NULL.  Closing any connection from inside any
 * callback is safe.
 *
 * on_open    connection established (accepted).
 * on_data    the bytes that arrived (raw framing: one recv()'s worth, at
 *            most 64 KiB).  `data` is valid only during the call.
 * on_eof     the peer shut down its sending side.  Writing still works.  If
 *            NULL, the library calls sb_close() (flush, then close).
 * on_drain   the output queue has just been flushed completely (with
 *            sb_conn_opts.drain_at_low: down to the low watermark, so a
 *            writer can refill it before it runs dry).
 * on_close   exactly once per connection: reason 0 for an orderly close,
 *            else a negative code (-ECONNRESET, -ETIMEDOUT, SB_EABORTED,
 *            SB_ETOOLONG...).  The connection is freed when it returns.
 * on_frame_error
 *            the input broke the current framer (SB_ETOOLONG, SB_EFRAME).
 *            Return 1 to keep the connection: the offending message is
 *            skipped (an over-long line up to its delimiter, an over-long
 *            prefixed message by its declared length) and framing goes on.
 *            Return 0, or leave it NULL, to close: queued output is flushed,
 *            then on_close reports the error.  A malformed header cannot be
 *            skipped: returning 1 then keeps the connection only if the
 *            callback also set a new framer (sb_conn_set_framer), which
 *            cuts the bytes from the offending one on; else it closes.
 */
typedef struct sb_handler {
    void (*on_open)(sb_conn *c, void *udata);
    void (*on_data)(sb_conn *c, const char *data, size_t len, void *udata);
    void (*on_eof)(sb_conn *c, void *udata);
    void (*on_drain)(sb_conn *c, void *udata);
    void (*on_close)(sb_conn *c, int reason, void *udata);
    int (*on_frame_error)(sb_conn *c, int err, void *udata);
} sb_handler;

/* ------------------------------------------------------------- listeners */

/*
 * Per-connection settings, the same for accepted connections
 * (sb_listen_opts.conn) and outbound ones (sb_connect_opts.conn).  In every
 * settings struct of the library, 0 means the default given in brackets,
 * and a zeroed struct (or NULL) means all the defaults.
 */
typedef struct sb_conn_opts {
    unsigned idle_timeout_ms; /* close after this long without I/O [0: never] */
    size_t high_water;        /* output bytes above which reading pauses [1 MiB];
                                 SIZE_MAX: never pause (no built-in backpressure) */
    size_t low_water;         /* output bytes at or below which reading resumes
                                 [high_water / 4; clamped to high_water] */
    size_t max_output;        /* hard cap: sb_write fails past it [0: no cap] */
    unsigned linger_ms;       /* sb_close: drain input after FIN at most [2000] */
    int drain_at_low;         /* 1: on_drain once a flush leaves low_water bytes or
                                 fewer queued, not only an empty queue [0] */
} sb_conn_opts;

/* Listener settings (0: the default in brackets). */
typedef struct sb_listen_opts {
    int backlog;         /* listen() backlog [4096; capped by somaxconn] */
    unsigned max_conns;  /* live connections; beyond: accept+close [0: no cap] */
    unsigned max_accept; /* accepts per readiness event [64] */
    sb_conn_opts conn;   /* each accepted connection's settings */
} sb_listen_opts;

/*
 * Listen on addr: "host:port", "[v6addr]:port", "*:port" (any address, IPv6
 * dual-stack where available), or "unix:/path".  Port 0 picks a free port
 * (read it back with sb_listener_port()).  SO_REUSEADDR is set; a stale unix
 * socket file (nothing accepting on it) is replaced.  Host names are
 * resolved with getaddrinfo(), which blocks.  udata becomes each accepted
 * connection's initial user data.  Returns NULL with *err set (SB_EINVAL_ADDR,
 * SB_EPORT, SB_ERESOLVE, -EADDRINUSE, -EACCES, ...); err may be NULL.
 */
SB_API sb_listener *sb_listen(sb_loop *loop, const char *addr, const sb_handler *handler,
                       void *udata, const sb_listen_opts *opts, int *err);

/* Bound TCP port, or 0 for a unix socket. */
SB_API int sb_listener_port(const sb_listener *l);
/* The listening socket's fd (-1 once closed); it stays the library's. */
SB_API sb_socket_t sb_listener_fd(const sb_listener *l);

/* Bound address as text ("127.0.0.1:7777", "[::1]:80", "unix:/p"). */
SB_API int sb_listener_local(const sb_listener *l, char *buf, size_t len);

/* Live connections accepted through this listener. */
SB_API unsigned sb_listener_conns(const sb_listener *l);

/*
 * The listener's own user data: the udata given to sb_listen (each accepted
 * connection also starts with it as its udata, and may replace that with
 * its own).  A connection reaches it through sb_conn_listener(), also
 * after the listener was closed: the server's context, without a global.
 */
SB_API void *sb_listener_udata(const sb_listener *l);
SB_API void sb_listener_set_udata(sb_listener *l, void *udata);

/*
 * Stop listening and free the listener; its connections live on.
 * A unix socket file is removed.  Safe from any callback.  NULL is a no-op.
 * The memory is freed once its last connection is gone: until then
 * sb_conn_listener() still returns it, its port, address, connection count
 * and udata can still be read, and a second sb_listener_close is a no-op.
 */
SB_API void sb_listener_close(sb_listener *l);

/* ----------------------------------------------------------- connections */

/*
 * Queue len bytes for sending (copied; never blocks).  Output leaves at the
 * end of the loop iteration: one send per connection for everything queued
 * (at most 256 KiB per iteration; the rest follows as the socket drains).
 * Replies of up to 8 KiB written from on_data to its own connection leave
 * sooner, right after that read, still as one send.
 * Returns 0, SB_ECLOSED once sb_close/sb_shutdown/sb_abort was called or the
 * peer failed, SB_EBUFFULL past max_output, -EINVAL for NULL data with a
 * non-zero len, or -ENOMEM.
 */
SB_API int sb_write(sb_conn *c, const void *data, size_t len);

/*
 * Zero-copy output.  Both queue bytes in order with sb_write's, without
 * copying them: the library reads them when the socket takes them.
 *   sb_write_ref   len bytes at data, which must stay valid and unchanged
 *                  until release(arg) is called.  sb_write_ref(c, p, n,
 *                  free, p) hands a malloc'd buffer over.
 *   sb_write_file  len bytes of the file open on fd, from offset, with
 *                  sendfile(2) where the platform has it (else pread(2)
 *                  into the loop's scratch buffer and send: still no
 *                  queue memory).  The file is read when it is sent: it
 *                  must still hold len bytes from offset then (else the
 *                  connection closes with SB_ESHORTFILE; a read error
 *                  closes it with that -errno).  fd stays the caller's:
 *                  close it from release, or after it.
 * release(arg) (may be NULL) is called exactly once when the library no
 * longer needs the bytes: all sent, or the connection closing (before its
 * on_close).  It is never called from inside the sb_write_* call that
 * queued them, except for len 0 (nothing to queue: called at once).  On a
 * failure return nothing was queued and release is not called.
 * These bytes count in sb_conn_queued() and the watermarks, not in
 * max_output (they are not the library's memory).  The per-iteration send
 * limit and every other connection's fairness apply as to sb_write.
 * Returns 0, SB_ECLOSED, -EINVAL (NULL data or fd < 0 with a non-zero
 * len), -ENOMEM.
 */
typedef void (*sb_release_fn)(void *arg);
SB_API int sb_write_ref(sb_conn *c, const void *data, size_t len, sb_release_fn release,
                        void *arg);
SB_API int sb_write_file(sb_conn *c, int fd, uint64_t offset, size_t len,
                         sb_release_fn release, void *arg);

/* Half-close: send FIN once queued output is flushed; keep reading. */
SB_API void sb_shutdown(sb_conn *c);

/*
 * Graceful close: stop delivering input, flush queued output, send FIN,
 * discard input until the peer's EOF (at most linger_ms), then close.
 * on_close reports 0, or the error that made the flush fail.  There is no
 * flush deadline beyond the idle timeout.  Idempotent; safe from any callback.
 */
SB_API void sb_close(sb_conn *c);

/* Close now with a reset; queued output is dropped.  on_close: SB_EABORTED. */
SB_API void sb_abort(sb_conn *c);

/* Bytes queued and not yet accepted by the kernel (copied, referenced and
 * file bytes alike). */
SB_API size_t sb_conn_queued(const sb_conn *c);

/* Idle timeout for this connection in ms (0 = none); replaces the value it
 * got from its sb_conn_opts (accepted or outbound). */
SB_API void sb_conn_set_timeout(sb_conn *c, unsigned idle_ms);

/* Output watermarks, as in sb_conn_opts: reading pauses above high (0: 1 MiB;
 * SIZE_MAX: never), resumes at or below low (0: high / 4; clamped to high). */
SB_API void sb_conn_set_watermarks(sb_conn *c, size_t low, size_t high);

/*
 * Pause / resume delivery of input for the application's own reason.
 * Reading is held while any reason holds it: the application's pause,
 * a relay's (sb_relay), the built-in backpressure (output above the high
 * watermark).  Each is set and cleared by its owner alone, so resuming
 * never lifts another reason.  Idempotent.
 */
SB_API void sb_conn_pause(sb_conn *c);
SB_API void sb_conn_resume(sb_conn *c);

/* Why reading is held: a mask of SB_PAUSE_* (0: reading). */
enum { SB_PAUSE_APP = 1, SB_PAUSE_RELAY = 2, SB_PAUSE_BACKPRESSURE = 4 };
SB_API unsigned sb_conn_paused(const sb_conn *c);

/* Bytes received and held in the connection's input buffer (not yet
 * delivered: a partial message, or input held while paused). */
SB_API size_t sb_conn_buffered(const sb_conn *c);

/* The output watermarks in force (the defaults resolved); low or high may
 * be NULL. */
SB_API void sb_conn_watermarks(const sb_conn *c, size_t *low, size_t *high);

/*
 * Relay: from now on every byte a receives is queued on b, and every byte
 * b receives on a, read straight into the other's output queue (no copy
 * in user space).  Flow control both ways: while b has more than
 * max_buffer bytes queued, a is not read (SB_PAUSE_RELAY), and it reads
 * again once b is down to half; the request/reply backpressure rule is off
 * for both (it would hold the wrong side).  Memory is bounded by
 * max_buffer + 64 KiB per direction, whatever the peers do.  Half-close
 * propagates: a's EOF becomes b's FIN once b's queue is sent (sb_shutdown),
 * and each closes, reason 0, once both directions are done.  An error on
 * one (reset, timeout, sb_abort) aborts the other (RST, SB_EABORTED); an
 * orderly close of one (sb_close) closes the other after its queue.
 * Input a or b had buffered and not delivered is queued first; b may still
 * be connecting (sb_connect), a's bytes wait in its queue.  Once linked,
 * on_data and on_eof are no longer called for either (the relay consumes
 * input and forwards EOF); on_close is, for each, and on_drain.  sb_write
 * still works on both.  Returns 0, -EINVAL (NULL, the same connection,
 * other loops, already relayed), SB_ECLOSED, -ENOMEM.
 */
typedef struct sb_relay_opts {
    size_t max_buffer; /* bytes queued toward each side before the other pauses [256 KiB] */
} sb_relay_opts;
SB_API int sb_relay(sb_conn *a, sb_conn *b, const sb_relay_opts *opts);

/* The connection c is relayed with, or NULL. */
SB_API sb_conn *sb_relay_peer(const sb_conn *c);

SB_API void sb_conn_set_udata(sb_conn *c, void *udata);
SB_API void *sb_conn_udata(const sb_conn *c);

/* Peer / local address as text; returns length or a negative code. */
SB_API int sb_conn_peer(const sb_conn *c, char *buf, size_t len);
SB_API int sb_conn_local(const sb_conn *c, char *buf, size_t len);

SB_API sb_socket_t sb_conn_fd(const sb_conn *c);
SB_API sb_loop *sb_conn_loop(const sb_conn *c);
/* The listener that accepted c (also once it was closed: see
 * sb_listener_close), or NULL for an outbound connection. */
SB_API sb_listener *sb_conn_listener(const sb_conn *c);
/*
 * 1 once c's on_open has been called (or was due, for a handler without
 * one), 0 before.  In on_close, 0 means the connection never opened: a
 * connect or a transport's handshake that failed, a close before it
 * opened.  Applications that count open connections count with it.
 */
SB_API int sb_conn_opened(const sb_conn *c);

/* --------------------------------------------------------------- framing */

/*
 * How a connection's input is cut into messages.  Each on_data call then
 * receives exactly one complete message.  The framer can be changed at any
 * time, also from inside on_data: bytes already buffered are cut by the new
 * framer.  Maximum lengths are enforced before anything is buffered past
 * them, so a hostile length prefix costs nothing.
 */
enum {
    SB_FRAMER_RAW = 0,    /* whatever bytes arrived (the default) */
    SB_FRAMER_DELIM = 1,  /* up to a 1..16-byte delimiter */
    SB_FRAMER_FIXED = 2,  /* exactly len bytes (0: one empty message at once) */
    SB_FRAMER_PREFIX = 3, /* 1, 2, 4 or 8-byte big-endian length, then the bytes */
    SB_FRAMER_DIGITS = 4, /* len ASCII decimal digits giving the length, then the bytes */
    SB_FRAMER_EOF = 5     /* everything until the peer shuts down, delivered once */
};
#define SB_FRAMER_KEEP_DELIM 1u /* deliver the delimiter with the message */
#define SB_FRAMER_STRIP_CR 2u   /* delimiter "\n": a "\r" before it is dropped too */
#define SB_FRAMER_STREAM 4u     /* fixed/prefix/digits: the body in pieces (sb_framer_stream) */
#define SB_FRAMER_MAX_DELIM 16
/*
 * max_len 0 means the default of the framing, what its users expect:
 *   delimited (lines)       64 KiB   (SB_FRAMER_DEFAULT_MAX_DELIM)
 *   prefix 1 / 2 bytes      255 / 65535 (all the header can announce)
 *   prefix 4 / 8 bytes      16 MiB   (SB_FRAMER_DEFAULT_MAX_SIZED)
 *   digits N                10^N - 1, at most 16 MiB
 *   until EOF               1 MiB    (SB_FRAMER_DEFAULT_MAX_EOF)
 * A message is buffered whole before on_data (unless streamed:
 * sb_framer_stream), so the maximum is also the memory one message may take; a hostile length beyond it costs nothing
 * (rejected from the header alone).
 */
#define SB_FRAMER_DEFAULT_MAX_DELIM 65536
#define SB_FRAMER_DEFAULT_MAX_SIZED (16u * 1024 * 1024)
#define SB_FRAMER_DEFAULT_MAX_EOF (1024u * 1024)

/*
 * A framer: configuration plus scanning state.  A pure function over a
 * byte buffer (sb_framer_next), usable without sockets.  Fill it with one
 * of the sb_framer_* initialisers.
 */
typedef struct sb_framer {
    uint8_t kind;          /* SB_FRAMER_* */
    uint8_t flags;         /* SB_FRAMER_KEEP_DELIM, SB_FRAMER_STRIP_CR */
    uint8_t delim_len;     /* 1..SB_FRAMER_MAX_DELIM */
    uint8_t skip_to_delim; /* state: discarding up to and including the next delimiter */
    size_t max_len;        /* longest message accepted (payload, no delimiter) */
    size_t len;            /* FIXED: message length; PREFIX/DIGITS: header bytes */
    unsigned char delim[SB_FRAMER_MAX_DELIM];
    /* state */
    size_t scanned;        /* DELIM: bytes already searched, never rescanned */
    uint64_t skip;         /* bytes still to discard after a skipped message */
    uint64_t skip_next;    /* what sb_framer_skip() will discard */
    size_t piece;          /* SB_FRAMER_STREAM: the largest piece delivered */
    uint64_t body_left;    /* state, streaming: body bytes not yet delivered */
    uint8_t body_state;    /* state, streaming: 0 header next, 1 body begun, 2 piece sent */
} sb_framer;

/* A cut's flags, for a streamed body (SB_FRAMER_STREAM); 0 for a whole message. */
#define SB_CUT_PIECE 1u /* a piece of a body, not a whole message */
#define SB_CUT_FIRST 2u /* the body's first piece */
#define SB_CUT_LAST 4u  /* its last piece (a 0-length body: one piece, FIRST|LAST) */

/* One cut: the message is buf[off, off + len); consume `consumed` bytes. */
typedef struct sb_framer_cut {
    size_t off;
    size_t len;
    size_t consumed;
    unsigned flags;        /* SB_CUT_* */
    uint64_t left;         /* streaming: body bytes still to come after this piece */
} sb_framer_cut;

/*
 * The initialisers; each returns 0 or -EINVAL.  max_len 0: the framing's
 * default (above).
 *   delim   any 1..16-byte delimiter; flags SB_FRAMER_KEEP_DELIM, and
 *           SB_FRAMER_STRIP_CR with the delimiter "\n"
 *   line    a text line: up to "\n", and a "\r" before it is dropped too,
 *           so bare-LF and CRLF clients both work; max_len counts neither
 *   fixed   exactly len bytes; len 0 delivers one empty message at once
 *           (an empty body) and needs no input for it: on_data then sets
 *           the next framer, as it does after any body; if it does not,
 *           the next cut fails with SB_EFRAME (the input cannot be cut)
 */
SB_API int sb_framer_raw(sb_framer *f);
SB_API int sb_framer_delim(sb_framer *f, const void *delim, size_t delim_len, size_t max_len,
                           unsigned flags);
SB_API int sb_framer_line(sb_framer *f, size_t max_len);
SB_API int sb_framer_fixed(sb_framer *f, size_t len);
SB_API int sb_framer_prefix(sb_framer *f, int nbytes, size_t max_len);
SB_API int sb_framer_digits(sb_framer *f, int ndigits, size_t max_len);
SB_API int sb_framer_eof(sb_framer *f, size_t max_len);

/*
 * Streamed bodies.  Turns an initialised fixed, prefix or digits framer into
 * one that delivers each body in pieces of at most piece_max bytes (0:
 * SB_FRAMER_DEFAULT_PIECE) as the bytes arrive, so a body of any size up to
 * max_len never takes more memory than a piece (none at all when pieces are
 * cut straight from the read buffer).  max_len still bounds the announced
 * length (a hostile header is rejected from itself), but it no longer costs
 * memory: set it to the largest body accepted.  Each piece is a cut with
 * SB_CUT_PIECE, the first also SB_CUT_FIRST, the last SB_CUT_LAST; on a
 * connection, sb_conn_piece() tells them apart inside on_data.  Returns 0,
 * or -EINVAL for another kind of framer.
 */
#define SB_FRAMER_DEFAULT_PIECE 65536
SB_API int sb_framer_stream(sb_framer *f, size_t piece_max);

/*
 * Find the next message in buf[0, len) (the bytes not yet consumed).
 * eof: the stream has ended (needed by SB_FRAMER_EOF).
 * Returns 1 with a message in *out; 0 when more bytes are needed, with
 * out->consumed bytes (possibly 0) that may be dropped (skipped input); or
 * SB_ETOOLONG / SB_EFRAME, with nothing consumed; -EINVAL for NULL f or
 * out, or NULL buf with a non-zero len.  Never reads outside buf.
 * Scanning state is kept in f, so the buffer must be offered again from the
 * same position with more bytes appended.
 */
SB_API int sb_framer_next(sb_framer *f, const char *buf, size_t len, int eof,
                          sb_framer_cut *out);

/*
 * After SB_ETOOLONG: arrange to skip the offending message and go on.
 * Returns 0, or SB_EFRAME when it cannot be skipped (malformed header,
 * FIXED/EOF framers).
 */
SB_API int sb_framer_skip(sb_framer *f);

/* Set c's framer (copied; scanning starts afresh on the buffered bytes). */
SB_API int sb_conn_set_framer(sb_conn *c, const sb_framer *f);

/*
 * Inside on_data: the SB_CUT_* flags of the data delivered -- 0 for a whole
 * message, SB_CUT_PIECE (with SB_CUT_FIRST, SB_CUT_LAST) for a piece of a
 * streamed body -- and in *left (may be NULL) the body bytes still to come.
 * Outside on_data: 0.  An EOF before the last piece reaches on_eof with no
 * SB_CUT_LAST piece delivered.
 */
SB_API unsigned sb_conn_piece(const sb_conn *c, uint64_t *left);

/* Shorthands for sb_framer_* + sb_conn_set_framer; 0 or -EINVAL. */
SB_API int sb_conn_framer_raw(sb_conn *c);
SB_API int sb_conn_framer_delim(sb_conn *c, const void *delim, size_t delim_len,
                                size_t max_len, unsigned flags);
SB_API int sb_conn_framer_line(sb_conn *c, size_t max_len); /* "\n" or "\r\n", stripped */
SB_API int sb_conn_framer_fixed(sb_conn *c, size_t len);
SB_API int sb_conn_framer_prefix(sb_conn *c, int nbytes, size_t max_len);
SB_API int sb_conn_framer_digits(sb_conn *c, int ndigits, size_t max_len);
SB_API int sb_conn_framer_eof(sb_conn *c, size_t max_len);

/* Write-side encoders: the same framings, one sb_write's worth each. */
SB_API int sb_write_prefix(sb_conn *c, int nbytes, const void *data, size_t len);
SB_API int sb_write_digits(sb_conn *c, int ndigits, const void *data, size_t len);
SB_API int sb_write_delim(sb_conn *c, const void *data, size_t len, const void *delim,
                          size_t delim_len);

/* Network (big-endian) byte order for 16/32/64-bit values. */
static inline void sb_put_be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}
static inline void sb_put_be32(unsigned char *p, uint32_t v)
{
    sb_put_be16(p, (uint16_t)(v >> 16));
    sb_put_be16(p + 2, (uint16_t)v);
}
static inline void sb_put_be64(unsigned char *p, uint64_t v)
{
    sb_put_be32(p, (uint32_t)(v >> 32));
    sb_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t sb_get_be16(const unsigned char *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint32_t sb_get_be32(const unsigned char *p)
{
    return (uint32_t)sb_get_be16(p) << 16 | sb_get_be16(p + 2);
}
static inline uint64_t sb_get_be64(const unsigned char *p)
{
    return (uint64_t)sb_get_be32(p) << 32 | sb_get_be32(p + 4);
}

/* -------------------------------------------------- outbound connections */

/* sb_connect() settings (0: the default in brackets). */
typedef struct sb_connect_opts {
    unsigned connect_timeout_ms; /* give up on each address after this long
                                    [0: only the kernel's own limit] */
    sb_conn_opts conn;           /* the connection's settings once connected
                                    (the idle timeout starts then) */
} sb_connect_opts;

/*
 * Connect to addr: "host:port", "[v6addr]:port" or "unix:/path", without
 * blocking.  Numeric addresses never touch the resolver; a host name is
 * resolved on a worker thread as by sb_resolve_start() (within the
 * connect timeout, which then counts once for the lookup and once per
 * address; blocking in a library built without threads), and each
 * address is tried in turn until one connects.  The outcome is reported
 * later by the loop, never from inside this call: on_open once connected,
 * or on_close with the reason (SB_ERESOLVE for a name that does not
 * resolve, -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, -ENOENT...) and no
 * on_open.  Until then sb_write() queues (sent once connected),
 * sb_shutdown()/sb_close() take effect after the connect (no on_open after
 * sb_close), and sb_abort() gives up at once, cancelling a lookup in
 * progress.  Once connected the connection is like an accepted one.
 * Returns NULL with *err set only for what fails before connecting
 * (-EINVAL, SB_EINVAL_ADDR, SB_EPORT, -EMFILE, -ENOMEM...); err may be
 * NULL.
 */
SB_API sb_conn *sb_connect(sb_loop *loop, const char *addr, const sb_handler *handler,
                    void *udata, const sb_connect_opts *opts, int *err);

/* 1 while c's connect is in progress (from sb_connect to on_open), else 0. */
SB_API int sb_conn_connecting(const sb_conn *c);

/* ------------------------------------------------------------ transports */

/*
 * A transport sits between a connection's buffers and its socket and
 * rewrites the byte stream both ways: TLS (libswitchboard_tls,
 * switchboard_tls.h) is one.  The reactor keeps the connection's state
 * machine -- handler callbacks, framers, watermarks, timeouts, close
 * flavours -- and asks the transport to do the socket I/O:
 *
 *   attach     a connection starts using the transport (fd is its
 *              socket): make the per-connection state, *ctx.  0 or < 0
 *              (the connection then closes with that reason)
 *   handshake  drive the opening exchange: 0 done, SB_WANT_READ or
 *              SB_WANT_WRITE to be called again on that readiness, or
 *              < 0 to close with that reason.  on_open runs once it is
 *              done; until then writes queue, and the connection's
 *              handshake timeout runs
 *   recv       up to n plaintext bytes into buf: > 0 bytes, 0 the
 *              transport's own end of stream, SB_ETRUNCATED a socket EOF
 *              without it (delivered as EOF, on_close then reports
 *              SB_ETRUNCATED), SB_WANT_READ / SB_WANT_WRITE, or < 0 error
 *   send       up to n bytes from buf: > 0 bytes taken, SB_WANT_*, < 0.
 *              After SB_WANT_* the next call starts with the same bytes
 *              (maybe more of them, maybe at another address)
 *   shutdown   send the transport's close (TLS close_notify) after the
 *              queued output: 0 sent, SB_WANT_WRITE / SB_WANT_READ, < 0.
 *              The socket's FIN follows, as for plain TCP
 *   pending    plaintext held inside the transport that recv would return
 *              without the socket becoming readable (NULL: never any)
 *   detail     what went wrong, in words, for the log line the library
 *              writes when the transport closes a connection (NULL: none)
 *   detach     the connection is gone, after on_close: free ctx
 *
 * Transports do their socket I/O with sb_conn_sock_recv/sb_conn_sock_send,
 * which go through the library's own system-call layer.
 */
typedef struct sb_transport {
    const char *name;
    int (*attach)(void *arg, sb_conn *c, int fd, void **ctx);
    int (*handshake)(void *ctx);
    long (*recv)(void *ctx, void *buf, size_t n);
    long (*send)(void *ctx, const void *buf, size_t n);
    int (*shutdown)(void *ctx);
    size_t (*pending)(void *ctx);
    const char *(*detail)(void *ctx);
    void (*detach)(void *ctx);
    /* A listener lets go of arg: another transport set, or the listener
     * closed (its connections hold their own ctx).  May be NULL. */
    void (*release)(void *arg);
} sb_transport;

/* Every connection l accepts from now on uses t (arg is given to
 * t->attach), with a handshake limited to handshake_ms [0: 10000].  t
 * NULL: plain again.  The transport replaced, if any, gets release(arg).
 * 0, -EINVAL, or SB_ECLOSED (l is closed). */
SB_API int sb_listener_set_transport(sb_listener *l, const sb_transport *t, void *arg,
                                     unsigned handshake_ms);
/* An outbound connection uses t once connected: call it before on_open
 * (while sb_conn_connecting(c)).  0, -EINVAL, SB_ECLOSED, or -EBUSY
 * (connected already, or a transport is set). */
SB_API int sb_conn_set_transport(sb_conn *c, const sb_transport *t, void *arg,
                                 unsigned handshake_ms);
/* c's transport state (the attach's *ctx) if c uses t, else NULL. */
SB_API void *sb_conn_transport(const sb_conn *c, const sb_transport *t);
/* 1 from accept (or connect) until the transport's handshake is done. */
SB_API int sb_conn_handshaking(const sb_conn *c);
/* For transports: recv/send on c's socket (no SIGPIPE).  Bytes, 0 (EOF;
 * recv only), or -errno (-EAGAIN when it would block). */
SB_API long sb_conn_sock_recv(sb_conn *c, void *buf, size_t n);
SB_API long sb_conn_sock_send(sb_conn *c, const void *buf, size_t n);

/* ------------------------------------------------------------- addresses */

/*
 * A socket address (IPv4, IPv6 or unix) by value: keep it, copy it, pass
 * it back.  sa holds a struct sockaddr_storage; len is the length in use
 * (0: no address).
 */
typedef struct sb_addr {
    uint32_t len;
    union {
        unsigned char bytes[128];
        uint64_t align;
    } sa;
} sb_addr;

/*
 * Parse addr ("host:port", "[v6addr]:port", "unix:/path") into *out.  A
 * host name is resolved with getaddrinfo(), which blocks; the first result
 * is used.  Returns 0, SB_EINVAL_ADDR, SB_EPORT, SB_ERESOLVE, -EINVAL, or
 * -ENAMETOOLONG for a unix path of 108 bytes or more.
 */
SB_API int sb_addr_resolve(sb_addr *out, const char *addr);

/* As text, like sb_conn_peer(); returns the length, or -EINVAL (NULL or
 * empty address, NULL buf, len 0). */
SB_API int sb_addr_format(const sb_addr *a, char *buf, size_t len);

/*
 * Resolving without blocking the loop.  getaddrinfo() runs on a worker
 * thread (at most SB_RESOLVE_THREADS at a time for the whole process; more
 * requests wait their turn) and the result is delivered by the loop:
 * cb(r, status, addrs, n, udata) on the loop's thread, never from inside
 * sb_resolve_start().  status is 0 with every address found (n >= 1, in
 * getaddrinfo()'s order; addrs is valid during the call only), or
 * SB_ERESOLVE (the name does not resolve; the resolver's own reason goes to
 * the log hook), -ETIMEDOUT, -ENOMEM.  The request is freed once cb
 * returns.  Numeric addresses and "unix:/path" never reach the resolver.
 * A library built without threads (make THREADS=0) resolves inside
 * sb_resolve_start(), blocking, and still delivers from the loop.
 */
#define SB_RESOLVE_THREADS 8
typedef struct sb_resolve sb_resolve;
typedef void (*sb_resolve_cb)(sb_resolve *r, int status, const sb_addr *addrs, size_t n,
                              void *udata);

/* sb_resolve_start() settings (0: the default in brackets). */
typedef struct sb_resolve_opts {
    unsigned timeout_ms; /* give up with -ETIMEDOUT after this long [0: only
                            the resolver's own limits (resolv.conf)] */
    int passive;         /* 1: for binding ("*:port" and AI_PASSIVE) [0] */
} sb_resolve_opts;

/*
 * Resolve addr ("host:port", "[v6addr]:port", "unix:/path"; as
 * sb_connect() takes).  A pending request keeps sb_loop_run() running.
 * Returns NULL with *err set for what is wrong at once (-EINVAL,
 * SB_EINVAL_ADDR, SB_EPORT, -ENAMETOOLONG, -ENOMEM, -EMFILE/-ENFILE for the
 * loop's wake-up pipe, -EAGAIN when no worker thread can be started and
 * none runs); err may be NULL.
 */
SB_API sb_resolve *sb_resolve_start(sb_loop *loop, const char *addr, const sb_resolve_opts *opts,
                                    sb_resolve_cb cb, void *udata, int *err);

/*
 * Give up on a request whose callback has not run: it never will.  A
 * lookup already running on a worker finishes there and its result is
 * dropped.  sb_loop_free() cancels the requests still pending.  Call it
 * only before the callback (r is freed after it).  NULL is a no-op.
 */
SB_API void sb_resolve_cancel(sb_resolve *r);

/* ------------------------------------------------------------------- UDP */

typedef struct sb_udp sb_udp;

/*
 * on_datagram  one datagram: data/len (valid only during the call) and the
 *              sender.  err is 0, or -EMSGSIZE when the datagram was longer
 *              than max_datagram: data then holds its first max_datagram
 *              bytes and the rest is lost.  A receive error (ECONNREFUSED
 *              on a connected endpoint, EBADF) comes with data and from
 *              NULL and err < 0.
 * on_writable  after sb_udp_send() failed with -EAGAIN: the socket can
 *              take datagrams again.  Once per failure streak.
 */
typedef struct sb_udp_handler {
    void (*on_datagram)(sb_udp *u, const char *data, size_t len, const sb_addr *from,
                        int err, void *udata);
    void (*on_writable)(sb_udp *u, void *udata);
} sb_udp_handler;

/* A zeroed struct (or NULL) means the defaults in brackets. */
typedef struct sb_udp_opts {
    size_t max_datagram; /* longest datagram received whole [65536, at most 16 MiB] */
    unsigned max_recv;   /* datagrams read per readiness event [64] */
    int rcvbuf;          /* SO_RCVBUF bytes [0 = system default] */
    int sndbuf;          /* SO_SNDBUF bytes [0 = system default] */
} sb_udp_opts;

/* Counters of one endpoint, cumulative. */
typedef struct sb_udp_stats {
    uint64_t datagrams_in, bytes_in;
    uint64_t truncated;    /* datagrams delivered cut (-EMSGSIZE) */
    uint64_t recv_errors;  /* receive errors reported */
    uint64_t datagrams_out, bytes_out;
    uint64_t send_full;    /* sends refused with -EAGAIN */
    uint64_t send_errors;  /* other send failures */
} sb_udp_stats;

/*
 * Bind a datagram endpoint to addr: "host:port", "[v6addr]:port", "*:port"
 * (dual-stack), port 0 for any; "unix:/path" for a unix datagram socket,
 * or "unix:" for an unnamed one (an autobound abstract address).  Host
 * names are resolved with getaddrinfo(), which blocks.  Returns NULL with
 * *err set (SB_EINVAL_ADDR, SB_EPORT, SB_ERESOLVE, -EADDRINUSE, -EINVAL,
 * -ENOMEM...); err may be NULL.
 */
SB_API sb_udp *sb_udp_new(sb_loop *loop, const char *addr, const sb_udp_handler *handler,
                   void *udata, const sb_udp_opts *opts, int *err);

/*
 * Send one datagram now (never queued).  to may be NULL on a connected
 * endpoint.  Returns 0 once the kernel took it whole; -EAGAIN when the
 * socket buffer is full (nothing sent; on_writable follows if set);
 * -EMSGSIZE when too long; -EINVAL for NULL data with a non-zero len;
 * -EBADF once the socket was found closed; other -errno.
 */
SB_API int sb_udp_send(sb_udp *u, const sb_addr *to, const void *data, size_t len);

/*
 * Fix the peer (connect()): sends may omit it, only its datagrams arrive,
 * and errors it causes (ECONNREFUSED) are reported.  NULL dissolves it.
 */
SB_API int sb_udp_connect(sb_udp *u, const sb_addr *peer);

/* Bound port (0 for unix), bound address as text, the socket. */
SB_API int sb_udp_port(const sb_udp *u);
SB_API int sb_udp_local(const sb_udp *u, char *buf, size_t len);
SB_API sb_socket_t sb_udp_fd(const sb_udp *u);

SB_API void sb_udp_set_udata(sb_udp *u, void *udata);
SB_API void *sb_udp_udata(const sb_udp *u);
SB_API void sb_udp_get_stats(const sb_udp *u, sb_udp_stats *out);

/*
 * Close and free; a unix socket file is removed.  Safe from any callback,
 * including the endpoint's own.  NULL is a no-op.
 */
SB_API void sb_udp_free(sb_udp *u);

#ifdef __cplusplus
}
#endif
#endif /* SWITCHBOARD_H */
