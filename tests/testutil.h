/* Shared helpers for the Check suites: loopback clients, fd counting,
 * driving the loop until a condition holds. */
#ifndef SB_TESTUTIL_H
#define SB_TESTUTIL_H

#include "internal.h"
#include "switchboard.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *sb_buffer_suite(void);
Suite *sb_fdset_suite(void);
Suite *sb_timer_suite(void);
Suite *sb_loop_suite(void);
Suite *sb_listener_suite(void);
Suite *sb_conn_suite(void);
Suite *sb_echod_suite(void);
Suite *sb_framing_suite(void);
Suite *sb_client_suite(void);
Suite *sb_echo_suite(void);
Suite *sb_udp_suite(void);
Suite *sb_chatd_suite(void);
Suite *sb_httpd_suite(void);
Suite *sb_kvd_suite(void);
Suite *sb_faults_suite(void);
Suite *sb_shutdown_suite(void);
Suite *sb_debug_suite(void);
Suite *sb_setup_faults_suite(void);
Suite *sb_input_memory_suite(void);
Suite *sb_backend_suite(void);
Suite *sb_embed_suite(void);
Suite *sb_embed_demos_suite(void);
Suite *sb_flow_suite(void);
Suite *sb_relay_suite(void);
Suite *sb_proxyd_suite(void);
Suite *sb_zerocopy_suite(void);
Suite *sb_stream_suite(void);
Suite *sb_os_suite(void);

/* Number of open fds in this process: fcntl(F_GETFD) on every number up
 * to the fd limit (no /proc/self/fd, which is Linux's). */
int tu_count_fds(void);

/*
 * Portable stand-ins for the Linux-only calls the tests used to make (the
 * suite also runs where they are missing; see src/os.h):
 *   TU_NOSIGNAL    MSG_NOSIGNAL where it exists, else 0 (the runner then
 *                  ignores SIGPIPE: check_main.c)
 *   tu_socket      socket() + FD_CLOEXEC (SOCK_CLOEXEC)
 *   tu_pipe        pipe() + FD_CLOEXEC, and O_NONBLOCK if asked (pipe2)
 *   tu_set_cloexec fcntl(F_SETFD, FD_CLOEXEC), failing the test on error
 *   tu_memmem      memmem()
 *   tu_rm_tree     rm -rf by opendir/readdir (nftw)
 */
#ifdef MSG_NOSIGNAL
#define TU_NOSIGNAL MSG_NOSIGNAL
#else
#define TU_NOSIGNAL 0
#endif
int tu_socket(int domain, int type);
void tu_pipe(int p[2], int nonblock);
void tu_set_cloexec(int fd);
void *tu_memmem(const void *hay, size_t hlen, const void *needle, size_t nlen);
int tu_rm_tree(const char *path);
/* 1 when /proc/PID files exist (Linux); otherwise prints that test skips
 * for want of them and returns 0. */
int tu_have_proc(const char *test);

/* Blocking-connect a TCP client to 127.0.0.1:port, then make it
 * non-blocking.  Fails the test on error. */
int tu_connect_tcp(int port);
/* Same for an arbitrary address string understood by sb_listen. */
int tu_connect_addr(const char *addr);

/* Run loop iterations (timeout 10 ms each) until *flag becomes non-zero or
 * max_iter iterations passed.  Returns the flag. */
int tu_run_until(sb_loop *loop, volatile int *flag, int max_iter);

/*
 * TU_RUN_UNTIL(loop, cond, max_iter): run the loop until the expression
 * `cond` holds.  cond is evaluated first (when it already holds, the loop
 * does not run at all), then again after each sb_loop_run_once(loop, 10),
 * for at most max_iter iterations.  The value is 1 when cond held at its
 * last evaluation, 0 when max_iter iterations ran out first.
 *
 * Each iteration waits at most its select() timeout (10 ms) for something
 * to happen and returns as soon as anything does; nothing else sleeps.  So
 * the whole wait is bounded by about max_iter * 10 ms of idle time (500
 * iterations: 5 s), and ends on the first iteration after cond came true.
 *
 * TU_RUN_UNTIL_MS is the same with another select() timeout per iteration
 * (0: poll without blocking).  TU_ASSERT_EVENTUALLY runs TU_RUN_UNTIL and
 * fails the test, naming cond, when it never held.
 *
 * cond may be evaluated max_iter + 1 times: give it no side effects.  A GNU
 * C statement expression (gcc, clang), marked __extension__ for -pedantic.
 */
#define TU_RUN_UNTIL_MS(loop, cond, max_iter, timeout_ms)                                      \
    __extension__({                                                                            \
        int tu_ru_left_ = (max_iter), tu_ru_ok_;                                               \
        while (!(tu_ru_ok_ = !!(cond)) && tu_ru_left_-- > 0)                                   \
            sb_loop_run_once((loop), (timeout_ms));                                            \
        tu_ru_ok_;                                                                             \
    })
#define TU_RUN_UNTIL(loop, cond, max_iter) TU_RUN_UNTIL_MS(loop, cond, max_iter, 10)
#define TU_ASSERT_EVENTUALLY(loop, cond, max_iter)                                             \
    do {                                                                                       \
        if (!TU_RUN_UNTIL(loop, cond, max_iter))                                               \
            ck_abort_msg("timed out waiting for: %s", #cond);                                  \
    } while (0)

/* The fd an sb_io callback is given (an sb_socket_t) as the number the
 * test made it with: the fd itself on POSIX; on Windows the SOCKET's
 * number in the library's table (tests/wine/win32_shim.h). */
#ifndef tu_io_fd
#define tu_io_fd(s) ((int)(s))
#endif
/* The other way: what sb_io_new is given for the test's fd (and what its
 * callbacks get back). */
#ifndef tu_io_sock
#define tu_io_sock(fd) ((sb_socket_t)(fd))
#endif

/* ------------------------------------------------ fds above FD_SETSIZE */

/* Whether fd is an open descriptor. */
int tu_fd_is_open(int fd);
/*
 * Make sure fd numbers up to `highest` can be created: raise the soft
 * RLIMIT_NOFILE (never above the hard limit).  Returns 1 when possible,
 * else 0 after printing why (the caller skips: test names the test).
 */
int tu_ensure_fd_limit(int highest, const char *test);
/*
 * Move fd to the first free fd number >= target (close-on-exec kept).
 * Returns the new fd (fd itself is closed), or -1 with fd left untouched.
 * The caller has made sure the limit allows it (tu_ensure_fd_limit).
 */
int tu_move_fd_high(int fd, int target);
/* A close-on-exec non-blocking pipe (tu_pipe), close() (fd -1: nothing) and a one-byte
 * write, each failing the test on error. */
void tu_make_pipe(int p[2]);
void tu_close_fd(int fd);
void tu_write_byte(int fd, char c);

/* --------------------------------------------- peers that do not answer */

/* A loopback port nothing listens on (SOCK_STREAM or SOCK_DGRAM): bound,
 * read back, closed. */
int tu_closed_port(int type);

/*
 * A loopback listener whose accept queue is full: backlog 0 and one client
 * already queued, never accepted.  Linux (and gVisor) drop the SYNs of any
 * further client, so a connect to it stays in progress until it times out.
 */
typedef struct tu_hang {
    int lfd, filler, port;
    char addr[64]; /* "127.0.0.1:port" */
} tu_hang;
void tu_hang_open(tu_hang *h);
void tu_hang_close(tu_hang *h);

/* Deterministic pseudo-random bytes. */
void tu_fill(unsigned char *p, size_t n, uint32_t seed);
uint32_t tu_rand(uint32_t *state);

/* A manual clock for sb_loop_set_clock(). */
typedef struct tu_clock {
    uint64_t now;
} tu_clock;
uint64_t tu_clock_fn(void *udata);

/* Tear down: run until nothing is alive, free the loop, assert it worked. */
void tu_loop_teardown(sb_loop *loop);

/* Whether running under valgrind (SB_UNDER_VALGRIND set): scale loads down. */
int tu_slow(void);

/*
 * Whether the suite runs on the epoll backend (SB_BACKEND=epoll, make
 * check-backends).  epoll cannot see an fd closed behind the loop's back,
 * so the tests of that case skip there (the backend suite tests the rule
 * that covers it: a reused number fails the stale owner).  Prints the skip.
 */
int tu_skip_on_epoll(const char *test);
/* 1 when this build has the backend; otherwise prints that test skips
 * (epoll off Linux and in a PORTABLE build: -ENOSYS) and returns 0. */
int tu_have_backend(const char *name, const char *test);

/* 1 in a build with AddressSanitizer (its allocator keeps freed memory, so
 * RSS measurements mean nothing there). */
#if defined(__SANITIZE_ADDRESS__)
#define TU_SANITIZED_ADDRESS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_SANITIZED_ADDRESS 1
#endif
#endif
#ifndef TU_SANITIZED_ADDRESS
#define TU_SANITIZED_ADDRESS 0
#endif

/* A demo daemon run as a child process, its stderr captured. */
typedef struct tu_proc {
    pid_t pid;
    int err_fd; /* read end of its stderr */
    char out[8192];
    size_t len;
} tu_proc;
/*
 * The demo programs the end-to-end suites run (echod, echo, chatd):
 * tu_demo("sb-echod") is SB_TEST_BUILD_DIR/sb-echod, or SB_DEMO_DIR/sb-echod
 * when that variable names a folder (tests/wine/run-suites.sh: wrappers that
 * run the Windows builds under wine).  The string is the caller's until the
 * next call for another name (one buffer per name, up to 8 names).
 */
const char *tu_demo(const char *name);
/* 1 when SB_DEMOS_WIN32 is set: the demos are Windows programs. */
int tu_demos_win32(void);
/* With Windows demos: prints "TEST: skipped on Windows: WHY" and returns 1
 * (the caller returns, or leaves out that part); otherwise 0. */
int tu_demo_skip(const char *test, const char *why);
/* The signal that asks a daemon to stop (drain, exit 0): SIGTERM, or SIGINT
 * for Windows demos (wine turns a SIGINT into CTRL_C_EVENT for the console
 * handler; a SIGTERM ends the wine process). */
int tu_stop_signal(void);
/* fork + exec path with argv; stdout goes to /dev/null.  With Windows demos
 * the "\r\n" msvcrt writes for "\n" on the (text-mode) stderr is read as
 * "\n" (tu_wait_for), so the checks of the lines are the same. */
void tu_spawn(tu_proc *p, const char *path, const char *const argv[]);
/* The same under RLIMIT_NOFILE nofile (soft and hard; 0: unchanged), with
 * no descriptor but 0, 1 and 2 inherited. */
void tu_spawn_limited(tu_proc *p, const char *path, const char *const argv[], int nofile);
/* VmRSS of a process, in KiB (from /proc/PID/status). */
long tu_proc_rss_kib(pid_t pid);
/* "\r\n" to "\n" in buf[from..len) (from the "\r" before `from` too, so a
 * buffer filled piece by piece is folded piece by piece); returns the new
 * length and keeps the buffer terminated.  For the stderr of Windows demos. */
size_t tu_crlf_to_lf(char *buf, size_t len, size_t from);
/* Read its stderr until needle shows up or it closes (10 s at most). */
int tu_wait_for(tu_proc *p, const char *needle);
/* Collect the rest of its stderr and reap it; returns the wait status. */
int tu_finish(tu_proc *p);
/* After "listening on 127.0.0.1:" in its stderr: the port, or -1. */
int tu_proc_port(tu_proc *p);
/* A blocking TCP client with a 10 s receive timeout. */
int tu_blocking_client(int port);
/*
 * SIGUSR1 to a daemon, then the value of `key` ("bytes_in") in the stats
 * line it prints.  The line is dropped from p->out again, so a test can
 * poll as often as it likes.  Fails the test when no line comes in 10 s.
 */
unsigned long long tu_proc_stat(tu_proc *p, const char *key);

/* An echo server fixture with counters, for the socket suites. */
typedef struct tu_server {
    sb_loop *loop;
    sb_listener *l;
    int port;
    int opens, closes, eofs, drains, datas;
    int last_reason;
    size_t bytes;
    sb_conn *last; /* most recently opened connection (NULL once closed) */
    int no_echo;   /* count bytes but do not echo */
    int lenient;   /* a failing sb_write aborts the connection instead of failing the test */
} tu_server;

void tu_server_start(tu_server *s, sb_loop *loop, const char *addr, const sb_listen_opts *o);
extern const sb_handler tu_echo_handler;

/*
 * Drive one client against s's loop: send len pseudo-random bytes in random
 * chunks of 1..max_chunk, read the echo (at most read_cap bytes per
 * iteration: a slow reader when small), optionally half-close after the
 * last byte and wait for EOF; verify every byte.  Returns bytes verified.
 */
size_t tu_echo_stream(tu_server *s, int fd, size_t len, size_t max_chunk, size_t read_cap,
                      uint32_t seed, int half_close);

/* send() with TU_NOSIGNAL, retrying EINTR; returns send's result. */
ssize_t tu_send(int fd, const void *p, size_t n);
/* Read from non-blocking fd until EOF/error or max bytes; returns bytes read
 * this call, sets *eof to 1 on EOF and to -errno on a hard error. */
ssize_t tu_drain(int fd, void *buf, size_t max, int *eof);

#endif /* SB_TESTUTIL_H */
