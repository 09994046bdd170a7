/*
 * The OS seam on POSIX systems (os.h): the Linux-only calls where they
 * exist, their POSIX fallbacks elsewhere and under make PORTABLE=1.
 *
 * The fallbacks set the flags after the fact (socket/accept/pipe/dup2,
 * then fcntl), so a fork+exec on another thread between the two calls
 * can inherit the new fd: the window accept4, pipe2 and dup3 were made
 * to close, and the reason they are used where they exist.
 */
#ifndef _WIN32 /* Windows: os_win32.c */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef SB__HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#if !defined(SB_NO_THREADS)
#include <pthread.h>
#define os_sigmask pthread_sigmask
#else
#define os_sigmask sigprocmask
#endif

#if (defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
     defined(__NetBSD__) || defined(__DragonFly__)) &&                                         \
    !defined(SB_PORTABLE)
#define HAVE_INITGROUPS 1
#endif

/* Close fd keeping errno: the error being reported is the earlier one. */
static void close_keep_errno(int fd)
{
    int e = errno;
    sb__sys_close(fd);
    errno = e;
}

#if !defined(SB__HAVE_SOCK_FLAGS) || !defined(SB__HAVE_ACCEPT4) || !defined(SB__HAVE_PIPE2)
/*
 * Close-on-exec, and non-blocking when asked.  The fd is new, so it has
 * no other status flag worth keeping: F_SETFL sets O_NONBLOCK without an
 * F_GETFL first (the access mode bits are ignored by F_SETFL).
 */
static int set_flags(int fd, int nonblock)
{
    if (sb__sys_fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    if (nonblock && sb__sys_fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        return -1;
    return 0;
}
#endif

/* Where MSG_NOSIGNAL is missing but SO_NOSIGPIPE exists (macOS, some
 * BSDs): set it on every socket the library opens or accepts. */
static int no_sigpipe(int fd)
{
#ifdef SB__HAVE_SO_NOSIGPIPE
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
    (void)fd;
    return 0;
#endif
}

int sb__os_socket(int domain, int type, int nonblock)
{
    int fd;

#ifdef SB__HAVE_SOCK_FLAGS
    fd = sb__sys_socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
#else
    fd = sb__sys_socket(domain, type, 0);
    if (fd < 0)
        return -1;
    if (set_flags(fd, nonblock) < 0) {
        close_keep_errno(fd);
        return -1;
    }
#endif
    if (no_sigpipe(fd) < 0) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

int sb__os_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int c;

#ifdef SB__HAVE_ACCEPT4
    c = sb__sys_accept4(fd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return -1;
#else
    c = sb__sys_accept(fd, sa, len);
    if (c < 0)
        return -1;
    if (set_flags(c, 1) < 0) {
        close_keep_errno(c);
        return -1;
    }
#endif
    if (no_sigpipe(c) < 0) {
        close_keep_errno(c);
        return -1;
    }
    return c;
}

int sb__os_pipe(int fds[2])
{
#ifdef SB__HAVE_PIPE2
    return sb__sys_pipe2(fds, O_NONBLOCK | O_CLOEXEC);
#else
    if (sb__sys_pipe(fds) < 0)
        return -1;
    if (set_flags(fds[0], 1) < 0 || set_flags(fds[1], 1) < 0) {
        close_keep_errno(fds[0]);
        close_keep_errno(fds[1]);
        return -1;
    }
    return 0;
#endif
}

int sb__os_dup_cloexec(int oldfd, int newfd)
{
#ifdef SB__HAVE_DUP3
    return sb__sys_dup3(oldfd, newfd, O_CLOEXEC);
#else
    int rc;

    do
        rc = sb__sys_dup2(oldfd, newfd);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -1;
    if (sb__sys_fcntl(newfd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return newfd;
#endif
}

int sb__os_initgroups(const char *user, gid_t gid)
{
#if defined(HAVE_INITGROUPS) && defined(__APPLE__)
    return initgroups(user, (int)gid);
#elif defined(HAVE_INITGROUPS)
    return initgroups(user, gid);
#else
    /* The groups that list user as a member, from the group database. */
    long max = sysconf(_SC_NGROUPS_MAX);
    struct group *g;
    gid_t *list;
    int n = 1, rc, e;

    if (max < 1 || max > 65536)
        max = NGROUPS_MAX;
    list = sb__malloc((size_t)max * sizeof(*list));
    if (!list) {
        errno = ENOMEM;
        return -1;
    }
    list[0] = gid;
    setgrent();
    while (n < max && (g = getgrent()) != NULL) {
        char **m;
        if (g->gr_gid == gid)
            continue;
        for (m = g->gr_mem; m && *m; m++) {
            if (strcmp(*m, user) == 0) {
                list[n++] = g->gr_gid;
                break;
            }
        }
    }
    endgrent();
    rc = setgroups(n, list);
    e = errno;
    free(list);
    errno = e;
    return rc;
#endif
}

int sb__os_unnamed_unix(struct sb__addr *a)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;

    memset(a, 0, sizeof(*a));
    un->sun_family = AF_UNIX;
#ifdef SB__HAVE_AUTOBIND
    a->len = sizeof(sa_family_t);
    return 0;
#else
    /*
     * A name nobody else makes: the pid, a per-process counter and the
     * clock's nanoseconds.  $TMPDIR if it is absolute and the name fits
     * (macOS's is long), else /tmp.  The endpoint removes the file.
     */
    static _Atomic unsigned long seq;
    const char *dir = getenv("TMPDIR");
    unsigned long nonce;
    struct timespec ts;
    int i, n = -1;

    clock_gettime(CLOCK_REALTIME, &ts);
    nonce = (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20);
    if (!dir || dir[0] != '/')
        dir = "/tmp";
    for (i = 0; i < 2; i++, dir = "/tmp") {
        size_t dl = strlen(dir);
        const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
        n = snprintf(un->sun_path, sizeof(un->sun_path), "%s%ssb-%ld-%lu-%lx.dgram", dir, sep,
                     (long)getpid(), ++seq, nonce & 0xffffffUL);
        if (n > 0 && (size_t)n < sizeof(un->sun_path))
            break;
        n = -1;
    }
    if (n < 0) {
        memset(un->sun_path, 0, sizeof(un->sun_path));
        return -ENAMETOOLONG;
    }
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    return 0;
#endif
}

/* ------------------------------------------------------------- SIGPIPE */

#if defined(SB__SEND_BLOCKS_SIGPIPE) || defined(SB__HAVE_SENDFILE)
/*
 * A send with SIGPIPE blocked: one the call raised is taken back (unless
 * one was pending already: that one is not ours).  Three cheap syscalls
 * around the send; the only way for sendfile(2), which has no
 * MSG_NOSIGNAL, and for sends where neither MSG_NOSIGNAL nor SO_NOSIGPIPE
 * exists.
 */
typedef struct nosig {
    sigset_t set, old;
    int was_pending;
} nosig;

static void nosig_begin(nosig *s)
{
    sigset_t pending;

    sigemptyset(&s->set);
    sigaddset(&s->set, SIGPIPE);
    sigpending(&pending);
    s->was_pending = sigismember(&pending, SIGPIPE);
    os_sigmask(SIG_BLOCK, &s->set, &s->old);
}

static void nosig_end(nosig *s, ssize_t r)
{
    int e = errno;

    if (r < 0 && e == EPIPE && !s->was_pending) {
        sigset_t pending;
        int sig;
        /* sigwait() rather than sigtimedwait(): it is in every POSIX, and
         * the signal is pending, so it does not block. */
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE))
            sigwait(&s->set, &sig);
    }
    os_sigmask(SIG_SETMASK, &s->old, NULL);
    errno = e;
}
#endif

#ifdef SB__HAVE_SENDFILE
ssize_t sb__os_sendfile(int out, int in, off_t *off, size_t n)
{
    nosig s;
    ssize_t r;

    nosig_begin(&s);
    r = sb__sys_sendfile(out, in, off, n);
    nosig_end(&s, r);
    return r;
}
#endif

#ifdef SB__SEND_BLOCKS_SIGPIPE
ssize_t sb__os_send(int fd, const void *buf, size_t n)
{
    nosig s;
    ssize_t r;

    nosig_begin(&s);
    r = sb__sys_send(fd, buf, n, 0);
    nosig_end(&s, r);
    return r;
}

ssize_t sb__os_sendmsg(int fd, const struct msghdr *msg)
{
    nosig s;
    ssize_t r;

    nosig_begin(&s);
    r = sb__sys_sendmsg(fd, msg, 0);
    nosig_end(&s, r);
    return r;
}

ssize_t sb__os_sendto(int fd, const void *buf, size_t n, const struct sockaddr *to,
                      socklen_t tolen)
{
    nosig s;
    ssize_t r;

    nosig_begin(&s);
    r = sb__sys_sendto(fd, buf, n, 0, to, tolen);
    nosig_end(&s, r);
    return r;
}
#endif

#else
typedef int sb__os_posix_not_on_windows; /* not an empty translation unit */
#endif /* !_WIN32 */
