/*
 * The OS seam: every platform difference the library has lives behind
 * these sb__os_* calls and SB__HAVE_* feature macros, implemented for POSIX
 * systems in os_posix.c (a later os_win32.c is meant to sit beside it).
 * They fail the way system calls do, -1 with errno set to a POSIX errno
 * name (EAGAIN, EMFILE, ECONNRESET...), so the rest of the library, its
 * public -errno contract and the fault-injection seam (internal.h) stay as
 * they are.  The calls go through the sb__sys_* seam, so the test build
 * can still fail each of them on a schedule.
 *
 * Each Linux-only call has a POSIX fallback:
 *
 *   socket(SOCK_NONBLOCK | SOCK_CLOEXEC)  socket() + fcntl()
 *   accept4()                             accept() + fcntl()
 *   pipe2()                               pipe() + fcntl()
 *   dup3(O_CLOEXEC)                       dup2() + fcntl(FD_CLOEXEC)
 *   send flag MSG_NOSIGNAL                SO_NOSIGPIPE on each new socket
 *                                         (macOS, the BSDs), else SIGPIPE
 *                                         blocked around each send
 *   sendfile(2) (Linux's)                 pread() + send() (conn.c)
 *   epoll                                 not built: the backend reports
 *                                         -ENOSYS (epoll.c)
 *   unix datagram autobind ("unix:")      bind to a generated unique path
 *                                         in $TMPDIR or /tmp, removed by
 *                                         sb_udp_free
 *   initgroups()                          getgrent() scan + setgroups()
 *
 * make PORTABLE=1 (-DSB_PORTABLE) takes every fallback on Linux too, as
 * if the Linux-only calls did not exist, so that `make PORTABLE=1 check`
 * runs each of them.  A normal Linux build makes the same system calls as
 * before the seam existed: the fast paths are macros and inline functions.
 */
#ifndef SB_OS_H
#define SB_OS_H

#ifdef _WIN32
/* ================================================================ Windows
 *
 * mingw-w64 (make TARGET=mingw, mk/mingw.mk), src/os_win32.c.  The library
 * keeps its int fds: on Windows they are small numbers that os_win32.c
 * maps to SOCKETs (a table that never moves, so other threads -- the
 * console control handler, sb_async_send -- can read it).  The POSIX
 * names the modules call are renamed here to os_win32.c's versions, which
 * take those numbers, call winsock and report failures through errno as
 * POSIX names (WSAEWOULDBLOCK -> EAGAIN, WSAECONNRESET -> ECONNRESET...).
 * Every system header the modules include is included first, so that the
 * renaming touches only the library's own calls.  The select backend is
 * fdset_win32.c (winsock's fd_set is a list of SOCKETs).
 *
 *   sockets         WSASocket(WSA_FLAG_NO_HANDLE_INHERIT) + FIONBIO
 *   close()         closesocket()
 *   pipe2()         a connected loopback TCP pair (wake-ups, signals)
 *   dup3()          the SOCKET moves to the other number
 *   signals         SIGINT and SIGTERM only, from console control events
 *                   (SetConsoleCtrlHandler): Ctrl-C, Ctrl-Break, close,
 *                   log-off, shut-down
 *   WSAStartup      once per live loop (reference-counted)
 *   unix sockets, sb_drop_privileges, sendfile, the EMFILE spare fd, epoll:
 *                   not there (EAFNOSUPPORT, ENOSYS, pread + send, none, ENOSYS)
 */
#include "win32/compat.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SB__FDWORD_BITS 64 /* unused: no bitsets (fdset_win32.c) */
#define SB__SEND_FLAGS 0   /* no SIGPIPE on Windows */

int sb__w32_socket(int domain, int type, int protocol);
int sb__w32_accept(int fd, struct sockaddr *sa, socklen_t *len);
int sb__w32_bind(int fd, const struct sockaddr *sa, socklen_t len);
int sb__w32_listen(int fd, int backlog);
int sb__w32_connect(int fd, const struct sockaddr *sa, socklen_t len);
int sb__w32_shutdown(int fd, int how);
ssize_t sb__w32_recv(int fd, void *buf, size_t n, int flags);
ssize_t sb__w32_send(int fd, const void *buf, size_t n, int flags);
ssize_t sb__w32_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
                       socklen_t tolen);
ssize_t sb__w32_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
                         socklen_t *fromlen);
ssize_t sb__w32_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t sb__w32_recvmsg(int fd, struct msghdr *msg, int flags);
int sb__w32_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int sb__w32_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int sb__w32_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int sb__w32_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int sb__w32_close(int fd);
ssize_t sb__w32_read(int fd, void *buf, size_t n);
ssize_t sb__w32_write(int fd, const void *buf, size_t n);
ssize_t sb__w32_pread(int fd, void *buf, size_t n, off_t off);
int sb__w32_fcntl(int fd, int cmd, ...);
int sb__w32_poll(struct pollfd *fds, unsigned long n, int timeout_ms);
int sb__w32_lstat(const char *path, struct stat *st);
int sb__w32_open(const char *path, int flags, ...);

#define socket sb__w32_socket
#define accept sb__w32_accept
#define bind sb__w32_bind
#define listen sb__w32_listen
#define connect sb__w32_connect
#define shutdown sb__w32_shutdown
#define recv sb__w32_recv
#define send sb__w32_send
#define sendto sb__w32_sendto
#define recvfrom sb__w32_recvfrom
#define sendmsg sb__w32_sendmsg
#define recvmsg sb__w32_recvmsg
#define getsockname sb__w32_getsockname
#define getpeername sb__w32_getpeername
#define getsockopt sb__w32_getsockopt
#define setsockopt sb__w32_setsockopt
#define close sb__w32_close
#define read sb__w32_read
#define write sb__w32_write
#define pread sb__w32_pread
#define fcntl sb__w32_fcntl
#define poll sb__w32_poll
#define lstat sb__w32_lstat
#define open sb__w32_open
#define pipe sb__w32_pipe /* a loopback socket pair */
#define dup2 sb__w32_dup2 /* the SOCKET moves to the other number */

/* The SOCKET behind one of the library's fds (INVALID_SOCKET if none), and
 * a number for a SOCKET the library did not make (sb_io_new): -1 with
 * errno EMFILE when the table is full. */
SOCKET sb__w32_sock(int fd);
/* What pipe() and dup2() are: the loopback pair, and moving a SOCKET to
 * another number.  sb__os_pipe and sb__os_dup_cloexec make them through
 * the fault seam (sb__sys_pipe, sb__sys_dup2), as socket, accept and the
 * fcntl(F_SETFL, O_NONBLOCK) after them, so that the test build's
 * schedules apply on Windows too. */
int sb__w32_pipe(int fds[2]);
int sb__w32_dup2(int oldfd, int newfd);
int sb__w32_fd_of(SOCKET s);
/* The public sb_socket_t for fd (SB_INVALID_SOCKET for -1); a number for
 * the caller's SOCKET s (sb_io_new): its own number for a SOCKET the
 * library made, -1 if invalid, -ENOTSOCK for a handle that is no socket,
 * -EMFILE / -ENOMEM; and forgetting a number adopt made, without closing
 * the SOCKET. */
uintptr_t sb__os_public(int fd);
int sb__os_adopt(uintptr_t s);
void sb__os_unadopt(int fd);

int sb__os_socket(int domain, int type, int nonblock);
int sb__os_accept(int fd, struct sockaddr *sa, socklen_t *len);
int sb__os_pipe(int fds[2]);
int sb__os_dup_cloexec(int oldfd, int newfd);
int sb__os_initgroups(const char *user, gid_t gid);
struct sb__addr;
int sb__os_unnamed_unix(struct sb__addr *a);
#define sb__os_send(fd, buf, n) sb__sys_send((fd), (buf), (n), 0)
#define sb__os_sendmsg(fd, msg) sb__sys_sendmsg((fd), (msg), 0)
#define sb__os_sendto(fd, buf, n, to, tolen) sb__sys_sendto((fd), (buf), (n), 0, (to), (tolen))

/* WSAStartup / WSACleanup, reference-counted by the loops.  0 or -errno. */
int sb__os_loop_init(void);
void sb__os_loop_fini(void);
/* Deliver signum (SIGINT or SIGTERM) as a byte written to fd, from the
 * console control handler; fd -1 stops.  0, or -1 with errno (EINVAL for
 * any other signal). */
int sb__os_console_watch(int signum, int fd);

#else /* ============================================================ POSIX */

/* Nothing to set up per loop on POSIX. */
#define sb__os_loop_init() 0
#define sb__os_loop_fini() ((void)0)
/* The public sb_socket_t is the fd itself (Windows: the SOCKET behind it).
 * sb__os_adopt gives sb_io_new the number to use for a caller's socket,
 * or -1 (invalid) or -errno; sb__os_unadopt forgets it without closing. */
#define sb__os_public(fd) (fd)
#define sb__os_adopt(fd) ((fd) < 0 ? -1 : (fd))
#define sb__os_unadopt(fd) ((void)(fd))

/* macOS: select() on more than FD_SETSIZE fds (fdset.c).  Before any
 * system header, which is why os.h comes first in internal.h. */
#if defined(__APPLE__) && !defined(_DARWIN_UNLIMITED_SELECT)
#define _DARWIN_UNLIMITED_SELECT 1
#endif

#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

/* ------------------------------------------------------ feature macros */

#if defined(__linux__) && !defined(SB_PORTABLE)
#define SB__HAVE_ACCEPT4 1
#define SB__HAVE_PIPE2 1
#define SB__HAVE_DUP3 1
#define SB__HAVE_SENDFILE 1 /* Linux's sendfile(out, in, &off, n) */
#define SB__HAVE_EPOLL 1
#define SB__HAVE_AUTOBIND 1 /* bind(AF_UNIX, no path) picks an abstract name */
#endif
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC) && !defined(SB_PORTABLE)
#define SB__HAVE_SOCK_FLAGS 1
#endif
#if defined(MSG_NOSIGNAL) && !defined(SB_PORTABLE)
#define SB__HAVE_MSG_NOSIGNAL 1
#elif defined(SO_NOSIGPIPE)
#define SB__HAVE_SO_NOSIGPIPE 1
#endif

/* --------------------------------------------------------- select words */

/*
 * The select() bitsets (fdset.c) are arrays of the platform's fd_set
 * words, fd in bit fd % SB__FDWORD_BITS of word fd / SB__FDWORD_BITS:
 * 64-bit longs on glibc, musl and FreeBSD, 32-bit words on macOS, OpenBSD
 * and NetBSD.  sb__fdword is that word as an unsigned type.  PORTABLE on a
 * little-endian Linux uses 32-bit words (the same bytes as 64-bit ones
 * there), so the 32-bit code is what its suite runs.
 */
#if defined(__APPLE__) || defined(__OpenBSD__) || defined(__NetBSD__) ||                      \
    (defined(SB_PORTABLE) && defined(__linux__) && defined(__BYTE_ORDER__) &&                  \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
typedef uint32_t sb__fdword;
#define SB__FDWORD_CTZ(x) __builtin_ctz(x)
#define SB__FDWORD_CLZ(x) __builtin_clz(x)
#else
typedef unsigned long sb__fdword;
#define SB__FDWORD_CTZ(x) __builtin_ctzl(x)
#define SB__FDWORD_CLZ(x) __builtin_clzl(x)
#endif
#define SB__FDWORD_BITS ((int)(sizeof(sb__fdword) * 8))
#define SB__FDWORD_ONE ((sb__fdword)1)
/* The platform's own word, which the kernel reads in whole (os_posix.c
 * checks sb__fdword against it). */
#if defined(__GLIBC__)
#define SB__FD_MASK __fd_mask
#else
#define SB__FD_MASK fd_mask
#endif

/* --------------------------------------------------------------- calls */

/* A socket, close-on-exec, and non-blocking when nonblock is set (and
 * SO_NOSIGPIPE where that is how SIGPIPE is avoided).  fd or -1. */
int sb__os_socket(int domain, int type, int nonblock);
/* accept() a non-blocking close-on-exec socket.  fd or -1. */
int sb__os_accept(int fd, struct sockaddr *sa, socklen_t *len);
/* A pipe, both ends non-blocking and close-on-exec.  0 or -1. */
int sb__os_pipe(int fds[2]);
/* Put oldfd's file on number newfd, close-on-exec.  newfd or -1 (on -1,
 * newfd may have been closed). */
int sb__os_dup_cloexec(int oldfd, int newfd);
/* initgroups() or its fallback.  0 or -1. */
int sb__os_initgroups(const char *user, gid_t gid);

/*
 * The address sb_udp_new() binds for "unix:" (an unnamed endpoint replies
 * can reach): the autobind form (no path) where the kernel names it, else
 * a generated unique path.  0 or -errno.
 */
struct sb__addr;
int sb__os_unnamed_unix(struct sb__addr *a);

/*
 * Sends that never raise SIGPIPE (-1 with EPIPE instead).  With
 * MSG_NOSIGNAL or SO_NOSIGPIPE these are the seam's calls themselves.
 */
struct msghdr;
#if defined(SB__HAVE_MSG_NOSIGNAL) || defined(SB__HAVE_SO_NOSIGPIPE)
#ifdef SB__HAVE_MSG_NOSIGNAL
#define SB__SEND_FLAGS MSG_NOSIGNAL
#else
#define SB__SEND_FLAGS 0
#endif
#define sb__os_send(fd, buf, n) sb__sys_send((fd), (buf), (n), SB__SEND_FLAGS)
#define sb__os_sendmsg(fd, msg) sb__sys_sendmsg((fd), (msg), SB__SEND_FLAGS)
#define sb__os_sendto(fd, buf, n, to, tolen)                                                    \
    sb__sys_sendto((fd), (buf), (n), SB__SEND_FLAGS, (to), (tolen))
#else
#define SB__SEND_FLAGS 0
#define SB__SEND_BLOCKS_SIGPIPE 1
ssize_t sb__os_send(int fd, const void *buf, size_t n);
ssize_t sb__os_sendmsg(int fd, const struct msghdr *msg);
ssize_t sb__os_sendto(int fd, const void *buf, size_t n, const struct sockaddr *to,
                      socklen_t tolen);
#endif

#ifdef SB__HAVE_SENDFILE
/* Linux's sendfile(2) with SIGPIPE blocked around it (it has no
 * MSG_NOSIGNAL).  Bytes sent or -1. */
ssize_t sb__os_sendfile(int out, int in, off_t *off, size_t n);
#endif

#endif /* _WIN32 */

#endif /* SB_OS_H */
