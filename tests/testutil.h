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
Suite *sb_udp_suite(void);
Suite *sb_chatd_suite(void);
Suite *sb_httpd_suite(void);
Suite *sb_kvd_suite(void);
Suite *sb_faults_suite(void);
Suite *sb_shutdown_suite(void);
Suite *sb_debug_suite(void);
Suite *sb_setup_faults_suite(void);

/* Number of open fds in this process (from /proc/self/fd). */
int tu_count_fds(void);

/* Blocking-connect a TCP client to 127.0.0.1:port, then make it
 * non-blocking.  Fails the test on error. */
int tu_connect_tcp(int port);
/* Same for an arbitrary address string understood by sb_listen. */
int tu_connect_addr(const char *addr);

/* Run loop iterations (timeout 10 ms each) until *flag becomes non-zero or
 * max_iter iterations passed.  Returns the flag. */
int tu_run_until(sb_loop *loop, volatile int *flag, int max_iter);

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

/* A demo daemon run as a child process, its stderr captured. */
typedef struct tu_proc {
    pid_t pid;
    int err_fd; /* read end of its stderr */
    char out[8192];
    size_t len;
} tu_proc;
/* fork + exec path with argv; stdout goes to /dev/null. */
void tu_spawn(tu_proc *p, const char *path, const char *const argv[]);
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

/* send() with MSG_NOSIGNAL, retrying EINTR; returns send's result. */
ssize_t tu_send(int fd, const void *p, size_t n);
/* Read from non-blocking fd until EOF/error or max bytes; returns bytes read
 * this call, sets *eof to 1 on EOF and to -errno on a hard error. */
ssize_t tu_drain(int fd, void *buf, size_t max, int *eof);

#endif /* SB_TESTUTIL_H */
