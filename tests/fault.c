/*
 * The test build's versions of the library's system-call seam
 * (src/internal.h): each call is counted and may be made to fail or come up
 * short according to the schedule set with tu_fault_set().
 */
#if defined(__APPLE__) && !defined(_DARWIN_UNLIMITED_SELECT)
#define _DARWIN_UNLIMITED_SELECT 1 /* select() past FD_SETSIZE, as fdset.c */
#endif
#include "fault.h"

#include <pthread.h>
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#ifdef SB__HAVE_EPOLL
#include <sys/epoll.h>
#endif
#ifdef SB__HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct slot {
    tu_fault f;
    int on;
    unsigned long calls, hits;
    size_t pos; /* script position */
} slot;

static slot slots[TU_F_N];
static unsigned long paths[TU_P_N];
static uint32_t rng = 0x2545f491u;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

void tu_fault_set(int call, const tu_fault *f)
{
    slot *s = &slots[call];
    s->on = f != NULL;
    if (f)
        s->f = *f;
    s->pos = 0;
}

static size_t short_max; /* tu_fault_short_max(): 0, no cap */

void tu_fault_reset(void)
{
    short_max = 0;
    memset(slots, 0, sizeof(slots));
    memset(paths, 0, sizeof(paths));
    rng = 0x2545f491u;
}

void tu_fault_seed(uint32_t seed)
{
    rng = seed ? seed : 1;
}

unsigned long tu_fault_calls(int call)
{
    return slots[call].calls;
}

unsigned long tu_fault_hits(int call)
{
    return slots[call].hits;
}

unsigned long tu_fault_path_calls(int path)
{
    return paths[path];
}

static void send_path(int flags)
{
#ifdef MSG_NOSIGNAL
    if (flags & MSG_NOSIGNAL) {
        paths[TU_P_SEND_NOSIGNAL]++;
        return;
    }
#endif
    (void)flags;
    paths[TU_P_SEND_PLAIN]++;
}

/* 0: let the call through; 's': make it short; 'e': fail it. */
static int decide(int call)
{
    slot *s = &slots[call];
    int what = 0;

    s->calls++;
    if (!s->on || s->calls <= s->f.skip || (s->f.limit && s->hits >= s->f.limit))
        return 0;
    if (s->f.script && s->f.script[0]) {
        char c = s->f.script[s->pos++];
        if (!s->f.script[s->pos])
            s->pos = 0;
        what = c == 's' ? 's' : c == 'e' ? 'e' : 0;
    } else if (s->f.every) {
        if ((s->calls - s->f.skip) % s->f.every == 0)
            what = s->f.err ? 'e' : 's';
    } else if (s->f.percent) {
        if (next_rand() % 100 < s->f.percent)
            what = s->f.err ? 'e' : 's';
    }
    if (what == 'e' && !s->f.err)
        what = 's';
    if (what)
        s->hits++;
    return what;
}

static int fail_with(int call)
{
    errno = slots[call].f.err;
    return -1;
}

void tu_fault_short_max(size_t n)
{
    short_max = n;
}

static size_t shorter(size_t n)
{
    n = n > 1 ? 1 + next_rand() % (n / 2) : n;
    return short_max && n > short_max ? short_max : n;
}

ssize_t sb__sys_recv(int fd, void *buf, size_t n, int flags)
{
    switch (decide(TU_F_RECV)) {
    case 'e':
        return fail_with(TU_F_RECV);
    case 's':
        n = shorter(n);
        break;
    }
    return recv(fd, buf, n, flags);
}

ssize_t sb__sys_send(int fd, const void *buf, size_t n, int flags)
{
    send_path(flags);
    switch (decide(TU_F_SEND)) {
    case 'e':
        return fail_with(TU_F_SEND);
    case 's':
        n = shorter(n);
        break;
    }
    return send(fd, buf, n, flags);
}

/* A vector send, made short by cutting the vector (a copy of it). */
ssize_t sb__sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct iovec iov[64];
    struct msghdr m;
    size_t total = 0, want, i;

    send_path(flags);
    switch (decide(TU_F_SEND)) {
    case 'e':
        return fail_with(TU_F_SEND);
    case 's':
        if (msg->msg_iovlen > 64)
            break;
        m = *msg;
        for (i = 0; i < msg->msg_iovlen; i++)
            total += msg->msg_iov[i].iov_len;
        want = shorter(total);
        for (i = 0; i < msg->msg_iovlen && want; i++) {
            iov[i] = msg->msg_iov[i];
            if (iov[i].iov_len > want)
                iov[i].iov_len = want;
            want -= iov[i].iov_len;
        }
        m.msg_iov = iov;
        m.msg_iovlen = i;
        return sendmsg(fd, &m, flags);
    }
    return sendmsg(fd, msg, flags);
}

#ifdef SB__HAVE_SENDFILE
ssize_t sb__sys_sendfile(int out, int in, off_t *off, size_t n)
{
    paths[TU_P_SENDFILE]++;
    switch (decide(TU_F_SENDFILE)) {
    case 'e':
        return fail_with(TU_F_SENDFILE);
    case 's':
        n = shorter(n);
        break;
    }
    return sendfile(out, in, off, n);
}
#endif

ssize_t sb__sys_pread(int fd, void *buf, size_t n, off_t off)
{
    switch (decide(TU_F_PREAD)) {
    case 'e':
        return fail_with(TU_F_PREAD);
    case 's':
        n = shorter(n);
        break;
    }
    return pread(fd, buf, n, off);
}

ssize_t sb__sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (decide(TU_F_RECVMSG) == 'e')
        return fail_with(TU_F_RECVMSG);
    return recvmsg(fd, msg, flags);
}

ssize_t sb__sys_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
                       socklen_t tolen)
{
    send_path(flags);
    if (decide(TU_F_SENDTO) == 'e')
        return fail_with(TU_F_SENDTO);
    return sendto(fd, buf, n, flags, to, tolen);
}

/* Only the calls os.h says the platform has exist here, so a library
 * that calls another one does not link. */
#ifdef SB__HAVE_ACCEPT4
int sb__sys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    paths[TU_P_ACCEPT4]++;
    if (decide(TU_F_ACCEPT) == 'e')
        return fail_with(TU_F_ACCEPT);
    return accept4(fd, sa, len, flags);
}
#else
int sb__sys_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    paths[TU_P_ACCEPT]++;
    if (decide(TU_F_ACCEPT) == 'e')
        return fail_with(TU_F_ACCEPT);
    return accept(fd, sa, len);
}
#endif

int sb__sys_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (decide(TU_F_CONNECT) == 'e')
        return fail_with(TU_F_CONNECT);
    return connect(fd, sa, len);
}

int sb__sys_close(int fd)
{
    /* Linux releases the fd even when close() reports an error. */
    int rc = close(fd);
    if (decide(TU_F_CLOSE) == 'e')
        return fail_with(TU_F_CLOSE);
    return rc;
}

/* Waits that returned something ready (the loop's wake-ups). */
static unsigned long ready_waits;

static int count_ready(int rc)
{
    if (rc > 0)
        ready_waits++;
    return rc;
}

unsigned long tu_fault_ready_waits(void)
{
    return ready_waits;
}

#ifdef _WIN32
/* winsock's select(): the library's sets hold SOCKETs (fdset_win32.c), not
 * the fd numbers the tests' own select() takes (win32_shim.h). */
#undef select
#endif
int sb__sys_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (decide(TU_F_SELECT) == 'e')
        return fail_with(TU_F_SELECT);
    return count_ready(select(nfds, r, w, e, tv));
}

void *sb__malloc(size_t n)
{
    if (decide(TU_F_ALLOC) == 'e') {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}

void *sb__calloc(size_t n, size_t size)
{
    if (decide(TU_F_ALLOC) == 'e') {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

void *sb__realloc(void *p, size_t n)
{
    if (decide(TU_F_ALLOC) == 'e') {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

void tu_fault_partial_io(uint32_t seed)
{
    static const tu_fault recv_short = {0, 0, "s.s.es..", EAGAIN, 0, 0};
    static const tu_fault send_short = {0, 0, "s.e.s.s.", EAGAIN, 0, 0};
    static const tu_fault sel_intr = {7, 0, NULL, EINTR, 0, 0};
    static const tu_fault pread_short = {0, 0, "s..", 0, 0, 0};

    tu_fault_reset();
    tu_fault_seed(seed);
    tu_fault_set(TU_F_RECV, &recv_short);
    tu_fault_set(TU_F_SEND, &send_short);
    tu_fault_set(TU_F_SENDFILE, &send_short);
    tu_fault_set(TU_F_PREAD, &pread_short);
    tu_fault_set(TU_F_SELECT, &sel_intr);
}

/* ------------------------------------------------------------ set-up calls */

int sb__sys_socket(int domain, int type, int protocol)
{
    int flagged = 0;

#ifdef SOCK_NONBLOCK
    flagged |= type & SOCK_NONBLOCK;
#endif
#ifdef SOCK_CLOEXEC
    flagged |= type & SOCK_CLOEXEC;
#endif
    paths[flagged ? TU_P_SOCKET_FLAGS : TU_P_SOCKET_PLAIN]++;
    if (decide(TU_F_SOCKET) == 'e')
        return fail_with(TU_F_SOCKET);
    return socket(domain, type, protocol);
}

int sb__sys_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (decide(TU_F_BIND) == 'e')
        return fail_with(TU_F_BIND);
    return bind(fd, sa, len);
}

int sb__sys_listen(int fd, int backlog)
{
    if (decide(TU_F_LISTEN) == 'e')
        return fail_with(TU_F_LISTEN);
    return listen(fd, backlog);
}

int sb__sys_shutdown(int fd, int how)
{
    if (decide(TU_F_SHUTDOWN) == 'e')
        return fail_with(TU_F_SHUTDOWN);
    return shutdown(fd, how);
}

#ifdef SB__HAVE_DUP3
int sb__sys_dup3(int oldfd, int newfd, int flags)
{
    paths[TU_P_DUP3]++;
    if (decide(TU_F_DUP3) == 'e')
        return fail_with(TU_F_DUP3);
    return dup3(oldfd, newfd, flags);
}
#else
int sb__sys_dup2(int oldfd, int newfd)
{
    paths[TU_P_DUP2]++;
    if (decide(TU_F_DUP3) == 'e')
        return fail_with(TU_F_DUP3);
    return dup2(oldfd, newfd);
}
#endif

#ifdef SB__HAVE_PIPE2
int sb__sys_pipe2(int fds[2], int flags)
{
    paths[TU_P_PIPE2]++;
    if (decide(TU_F_PIPE2) == 'e')
        return fail_with(TU_F_PIPE2);
    return pipe2(fds, flags);
}
#else
int sb__sys_pipe(int fds[2])
{
    paths[TU_P_PIPE]++;
    if (decide(TU_F_PIPE2) == 'e')
        return fail_with(TU_F_PIPE2);
    return pipe(fds);
}
#endif

int sb__sys_fcntl(int fd, int cmd, int arg)
{
    paths[TU_P_FCNTL]++;
    if (decide(TU_F_FCNTL) == 'e')
        return fail_with(TU_F_FCNTL);
    return fcntl(fd, cmd, arg);
}

/*
 * getaddrinfo() runs on the resolver's worker threads: its schedule is
 * decided under a lock (the other calls are the loop thread's alone), and
 * a test may put a fake resolver in its place.
 */
static pthread_mutex_t gai_lock = PTHREAD_MUTEX_INITIALIZER;
static tu_gai_fn gai_hook;

void tu_fault_gai_hook(tu_gai_fn fn)
{
    pthread_mutex_lock(&gai_lock);
    gai_hook = fn;
    pthread_mutex_unlock(&gai_lock);
}

int sb__sys_getaddrinfo(const char *host, const char *serv, const struct addrinfo *hints,
                        struct addrinfo **res)
{
    tu_gai_fn hook;
    int d, err;

    pthread_mutex_lock(&gai_lock);
    d = decide(TU_F_GETADDRINFO);
    err = slots[TU_F_GETADDRINFO].f.err;
    hook = gai_hook;
    pthread_mutex_unlock(&gai_lock);
    if (d == 'e')
        return err == ENOMEM ? EAI_MEMORY : EAI_FAIL;
    if (hook)
        return hook(host, serv, hints, res);
    return getaddrinfo(host, serv, hints, res);
}

/* poll and epoll waits count as the loop's wait call, as select does. */
int sb__sys_poll(struct pollfd *fds, unsigned long n, int timeout_ms)
{
    if (decide(TU_F_SELECT) == 'e')
        return fail_with(TU_F_SELECT);
    return count_ready(poll(fds, (nfds_t)n, timeout_ms));
}

#ifdef SB__HAVE_EPOLL
int sb__sys_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
    if (decide(TU_F_SELECT) == 'e')
        return fail_with(TU_F_SELECT);
    return count_ready(epoll_wait(epfd, ev, max, timeout_ms));
}
#endif
