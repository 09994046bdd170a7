/*
 * Forced into the Windows runner's test files (mk/mingw.mk: -include):
 * their fds are the library's numbers (os.h's seam), so sb_io_new, which
 * takes a SOCKET there, is given the SOCKET behind the number.
 */
#ifndef SB_TESTS_WIN32_SHIM_H
#define SB_TESTS_WIN32_SHIM_H
#include "switchboard.h"

#include <stdio.h>
sb_io *tu_w32_io_new(sb_loop *loop, int fd, sb_io_cb cb, void *udata, int *err);
#define sb_io_new(loop, fd, cb, udata, err) tu_w32_io_new((loop), (fd), (cb), (udata), (err))
/* Whether this runs under wine (ntdll exports wine_get_version): for the
 * tests whose premise wine does not keep, which then skip with a reason. */
int tu_under_wine(void);

/* A test that cannot apply on Windows (or under wine) says so and returns. */
#define TU_WIN32_SKIP(test, why)                                                               \
    do {                                                                                       \
        fprintf(stderr, "%s: skipped on Windows: %s\n", (test), (why));                       \
        return;                                                                                \
    } while (0)
#define TU_WIN32_SKIP_UNDER_WINE(test, why)                                                    \
    do {                                                                                       \
        if (tu_under_wine()) {                                                                 \
            fprintf(stderr, "%s: skipped: %s\n", (test), (why));                              \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* The public calls give SOCKETs on Windows; the tests' fds are the
 * library's numbers (they close() them, pass them to the seam). */
int tu_w32_num(sb_socket_t s);
#define sb_conn_fd(c) tu_w32_num(sb_conn_fd(c))
#define sb_listener_fd(l) tu_w32_num(sb_listener_fd(l))
#define sb_udp_fd(u) tu_w32_num(sb_udp_fd(u))
/* An sb_io callback's SOCKET as the test's number (testutil.h: POSIX, the fd). */
#define tu_io_fd(s) tu_w32_num(s)
#define tu_io_sock(fd) ((sb_socket_t)sb__os_public(fd))
/* The tests' own select() calls name those numbers in winsock's fd_set. */
int tu_w32_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
#define select tu_w32_select
#endif
