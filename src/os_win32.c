/*
 * The OS seam on Windows (os.h's _WIN32 section): the library's int fds
 * as numbers for SOCKETs, winsock's calls behind the POSIX names the
 * modules use, its errors as POSIX errno names, the loopback socket pair
 * that stands in for pipes, console control events as SIGINT/SIGTERM, and
 * WSAStartup counted by the loops.  Built by make TARGET=mingw only.
 */
#ifdef _WIN32
#include "internal.h"

/* The real winsock and CRT calls, under the names os.h took over. */
#undef socket
#undef accept
#undef bind
#undef listen
#undef connect
#undef shutdown
#undef recv
#undef send
#undef sendto
#undef recvfrom
#undef sendmsg
#undef recvmsg
#undef getsockname
#undef getpeername
#undef getsockopt
#undef setsockopt
#undef close
#undef read
#undef write
#undef pread
#undef fcntl
#undef poll
#undef lstat
#undef open

/* ------------------------------------------------------------ errors */

/* errno for a winsock error code, as a POSIX name. */
static int map_wsa(int e)
{
    switch (e) {
    case WSAEWOULDBLOCK: return EAGAIN;
    case WSAEINPROGRESS: return EINPROGRESS;
    case WSAEALREADY: return EALREADY;
    case WSAEINTR: return EINTR;
    case WSAEBADF:
    case WSAENOTSOCK: return EBADF;
    case WSAEACCES: return EACCES;
    case WSAEFAULT: return EFAULT;
    case WSAEINVAL: return EINVAL;
    case WSAEMFILE: return EMFILE;
    case WSAENOBUFS: return ENOBUFS;
    case WSAEMSGSIZE: return EMSGSIZE;
    case WSAEPROTOTYPE: return EPROTOTYPE;
    case WSAENOPROTOOPT: return ENOPROTOOPT;
    case WSAEPROTONOSUPPORT: return EPROTONOSUPPORT;
    case WSAEOPNOTSUPP: return EOPNOTSUPP;
    case WSAEAFNOSUPPORT:
    case WSAEPFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENETDOWN: return ENETDOWN;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAENETRESET: return ENETRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAECONNRESET: return ECONNRESET;
    case WSAEISCONN: return EISCONN;
    case WSAENOTCONN: return ENOTCONN;
    case WSAESHUTDOWN: return EPIPE;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAEHOSTDOWN:
    case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case WSAENAMETOOLONG: return ENAMETOOLONG;
    case WSANOTINITIALISED: return EINVAL;
    case WSA_NOT_ENOUGH_MEMORY: return ENOMEM;
    case 0: return 0;
    default: return EIO;
    }
}

static int wsa_fail(void)
{
    errno = map_wsa(WSAGetLastError());
    return -1;
}

/* A receive's failure: on a datagram socket WSAECONNRESET is Windows'
 * report of an ICMP port unreachable, which POSIX calls ECONNREFUSED. */
static int recv_fail(SOCKET s)
{
    int e = WSAGetLastError(), type = 0, len = sizeof(type);

    if (e == WSAECONNRESET &&
        getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0 && type == SOCK_DGRAM)
        errno = ECONNREFUSED;
    else
        errno = map_wsa(e);
    return -1;
}

/* ------------------------------------------------------- the fd table */

/*
 * fd -> SOCKET, in chunks that are allocated once and never move or go
 * away, so a lookup from another thread (the console control handler,
 * sb_async_send) needs no lock; allocation and release take the lock.
 * Freed numbers are reused last-freed first.  A reverse index (open
 * addressing on the SOCKET value) serves the select backend, which gets
 * SOCKETs back from select().
 */
#define CHUNK 1024
#define NCHUNKS 1024 /* 1,048,576 fds */
#define MOVED ((SOCKET)-2) /* sb__os_dup_cloexec gave the SOCKET away */

static SOCKET *volatile chunks[NCHUNKS];
static unsigned char *adopted[NCHUNKS]; /* per fd: made by sb__os_adopt */
static int *free_list;
static size_t nfree, free_cap;
static int next_fd;
static INIT_ONCE lock_once = INIT_ONCE_STATIC_INIT;
static CRITICAL_SECTION lock;

static SOCKET *rev_sock; /* reverse index: SOCKET, INVALID_SOCKET if empty */
static int *rev_fd;
static size_t rev_cap, rev_n;

static BOOL CALLBACK lock_init(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
    (void)once;
    (void)arg;
    (void)ctx;
    InitializeCriticalSection(&lock);
    return TRUE;
}

static void lock_take(void)
{
    InitOnceExecuteOnce(&lock_once, lock_init, NULL, NULL);
    EnterCriticalSection(&lock);
}

static void lock_give(void)
{
    LeaveCriticalSection(&lock);
}

static SOCKET *slot(int fd)
{
    SOCKET *c;

    if (fd < 0 || fd >= CHUNK * NCHUNKS)
        return NULL;
    c = chunks[fd / CHUNK];
    return c ? &c[fd % CHUNK] : NULL;
}

SOCKET sb__w32_sock(int fd)
{
    SOCKET *p = slot(fd);
    return p && *p != MOVED ? *p : INVALID_SOCKET;
}

static size_t rev_hash(SOCKET s, size_t cap)
{
    return (size_t)(((uint64_t)s >> 2) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static int rev_put(SOCKET s, int fd);

static int rev_grow(void)
{
    size_t cap = rev_cap ? rev_cap * 2 : 256, i;
    SOCKET *os = rev_sock;
    int *ofd = rev_fd;
    size_t ocap = rev_cap;

    rev_sock = malloc(cap * sizeof(*rev_sock));
    rev_fd = malloc(cap * sizeof(*rev_fd));
    if (!rev_sock || !rev_fd) {
        free(rev_sock);
        free(rev_fd);
        rev_sock = os;
        rev_fd = ofd;
        return -1;
    }
    for (i = 0; i < cap; i++)
        rev_sock[i] = INVALID_SOCKET;
    rev_cap = cap;
    rev_n = 0;
    for (i = 0; i < ocap; i++)
        if (os[i] != INVALID_SOCKET)
            rev_put(os[i], ofd[i]);
    free(os);
    free(ofd);
    return 0;
}

static int rev_put(SOCKET s, int fd)
{
    size_t i;

    if ((rev_n + 1) * 2 > rev_cap && rev_grow() < 0)
        return -1;
    for (i = rev_hash(s, rev_cap); rev_sock[i] != INVALID_SOCKET; i = (i + 1) & (rev_cap - 1))
        if (rev_sock[i] == s)
            break;
    if (rev_sock[i] == INVALID_SOCKET)
        rev_n++;
    rev_sock[i] = s;
    rev_fd[i] = fd;
    return 0;
}

/* Linear probing: remove by shifting the rest of the run back. */
static void rev_del(SOCKET s)
{
    size_t i, j, k;

    if (!rev_cap)
        return;
    for (i = rev_hash(s, rev_cap); rev_sock[i] != s; i = (i + 1) & (rev_cap - 1))
        if (rev_sock[i] == INVALID_SOCKET)
            return;
    rev_sock[i] = INVALID_SOCKET;
    rev_n--;
    for (j = (i + 1) & (rev_cap - 1); rev_sock[j] != INVALID_SOCKET; j = (j + 1) & (rev_cap - 1)) {
        k = rev_hash(rev_sock[j], rev_cap);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        rev_sock[i] = rev_sock[j];
        rev_fd[i] = rev_fd[j];
        rev_sock[j] = INVALID_SOCKET;
        i = j;
    }
}

/* Under the lock (recursive: fd_release holds it already), since loops on
 * other threads may grow the index meanwhile. */
int sb__w32_fd_of(SOCKET s)
{
    size_t i;
    int fd = -1;

    if (s == INVALID_SOCKET)
        return -1;
    lock_take();
    if (rev_cap)
        for (i = rev_hash(s, rev_cap); rev_sock[i] != INVALID_SOCKET;
             i = (i + 1) & (rev_cap - 1))
            if (rev_sock[i] == s) {
                fd = rev_fd[i];
                break;
            }
    lock_give();
    return fd;
}

/* A number for s.  fd, or -1 with errno EMFILE or ENOMEM. */
static int fd_new(SOCKET s)
{
    int fd = -1, reused = 0;
    SOCKET *p;

    lock_take();
    if (nfree) {
        fd = free_list[--nfree];
        reused = 1;
    } else if (next_fd < CHUNK * NCHUNKS) {
        if (!chunks[next_fd / CHUNK]) {
            SOCKET *c = malloc(CHUNK * sizeof(*c));
            int i;
            if (!c) {
                lock_give();
                errno = ENOMEM;
                return -1;
            }
            adopted[next_fd / CHUNK] = calloc(CHUNK, 1);
            if (!adopted[next_fd / CHUNK]) {
                free(c);
                lock_give();
                errno = ENOMEM;
                return -1;
            }
            for (i = 0; i < CHUNK; i++)
                c[i] = INVALID_SOCKET;
            chunks[next_fd / CHUNK] = c;
        }
        fd = next_fd++;
    }
    if (fd < 0) {
        lock_give();
        errno = EMFILE;
        return -1;
    }
    if (rev_put(s, fd) < 0) {
        if (reused)
            free_list[nfree++] = fd; /* room: it was just taken from there */
        else
            next_fd--;
        lock_give();
        errno = ENOMEM;
        return -1;
    }
    p = slot(fd);
    *p = s;
    lock_give();
    return fd;
}

/* A number for a socket just made: fd, or -1 with errno and s closed. */
static int fd_new_or_close(SOCKET s)
{
    int fd = fd_new(s);

    if (fd < 0) {
        int e = errno;
        closesocket(s);
        errno = e;
    }
    return fd;
}

static void fd_release(int fd)
{
    SOCKET *p = slot(fd);

    if (!p || *p == INVALID_SOCKET)
        return;
    lock_take();
    if (*p != MOVED && sb__w32_fd_of(*p) == fd)
        rev_del(*p);
    *p = INVALID_SOCKET;
    adopted[fd / CHUNK][fd % CHUNK] = 0;
    if (nfree == free_cap) {
        size_t cap = free_cap ? free_cap * 2 : 256;
        int *n = realloc(free_list, cap * sizeof(*n));
        if (!n) { /* the number is lost, nothing else */
            lock_give();
            return;
        }
        free_list = n;
        free_cap = cap;
    }
    free_list[nfree++] = fd;
    lock_give();
}

/* The SOCKET for fd, or INVALID_SOCKET with errno EBADF. */
static SOCKET sock_of(int fd)
{
    SOCKET s = sb__w32_sock(fd);
    if (s == INVALID_SOCKET)
        errno = EBADF;
    return s;
}

/* -------------------------------------------------- the public socket */

uintptr_t sb__os_public(int fd)
{
    return (uintptr_t)sb__w32_sock(fd);
}

int sb__os_adopt(uintptr_t u)
{
    SOCKET s = (SOCKET)u;
    int type, len = sizeof(type), fd;

    if (s == INVALID_SOCKET)
        return -1;
    /* One the library made (sb_conn_fd's...): its own number; the loop
     * says -EEXIST if a handle has it. */
    fd = sb__w32_fd_of(s);
    if (fd >= 0)
        return fd;
    if (getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == SOCKET_ERROR) {
        int e = WSAGetLastError();
        return e == WSAENOTSOCK ? -ENOTSOCK : -map_wsa(e);
    }
    fd = fd_new(s);
    if (fd < 0)
        return -errno;
    adopted[fd / CHUNK][fd % CHUNK] = 1;
    return fd;
}

void sb__os_unadopt(int fd)
{
    /* Forget a number sb__os_adopt made; the SOCKET stays open (it is the
     * caller's).  The library's own numbers stay as they are. */
    if (slot(fd) && adopted[fd / CHUNK][fd % CHUNK])
        fd_release(fd);
}

/* -------------------------------------------------------- WSAStartup */

static LONG wsa_refs;

int sb__os_loop_init(void)
{
    WSADATA wd;
    int rc;

    lock_take();
    if (wsa_refs == 0 && (rc = WSAStartup(MAKEWORD(2, 2), &wd)) != 0) {
        lock_give();
        return -map_wsa(rc);
    }
    wsa_refs++;
    lock_give();
    return 0;
}

void sb__os_loop_fini(void)
{
    lock_take();
    if (wsa_refs > 0 && --wsa_refs == 0)
        WSACleanup();
    lock_give();
}

/* ----------------------------------------------------------- sockets */

static int nonblock(SOCKET s, int on)
{
    u_long v = on ? 1 : 0;
    return ioctlsocket(s, FIONBIO, &v) == SOCKET_ERROR ? wsa_fail() : 0;
}

int sb__w32_socket(int domain, int type, int protocol)
{
    SOCKET s;

    if (domain == AF_UNIX) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    s = WSASocketW(domain, type, protocol, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET)
        return wsa_fail();
    return fd_new_or_close(s);
}

int sb__w32_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    SOCKET l = sock_of(fd), s;

    if (l == INVALID_SOCKET)
        return -1;
    s = accept(l, sa, len);
    if (s == INVALID_SOCKET)
        return wsa_fail();
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    return fd_new_or_close(s);
}

#define CALL(fd, expr)                                                                         \
    do {                                                                                       \
        SOCKET s_ = sock_of(fd);                                                               \
        if (s_ == INVALID_SOCKET)                                                              \
            return -1;                                                                         \
        if ((expr) == SOCKET_ERROR)                                                            \
            return wsa_fail();                                                                 \
    } while (0)

int sb__w32_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    CALL(fd, bind(s_, sa, len));
    return 0;
}

int sb__w32_listen(int fd, int backlog)
{
    CALL(fd, listen(s_, backlog > SOMAXCONN ? SOMAXCONN : backlog));
    return 0;
}

int sb__w32_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    SOCKET s = sock_of(fd);

    if (s == INVALID_SOCKET)
        return -1;
    if (connect(s, sa, len) == SOCKET_ERROR) {
        int e = WSAGetLastError();
        /* A non-blocking connect under way. */
        errno = e == WSAEWOULDBLOCK ? EINPROGRESS : map_wsa(e);
        return -1;
    }
    return 0;
}

int sb__w32_shutdown(int fd, int how)
{
    CALL(fd, shutdown(s_, how));
    return 0;
}

static int clamp(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

ssize_t sb__w32_recv(int fd, void *buf, size_t n, int flags)
{
    SOCKET s = sock_of(fd);
    int r;

    if (s == INVALID_SOCKET)
        return -1;
    r = recv(s, buf, clamp(n), flags);
    return r == SOCKET_ERROR ? recv_fail(s) : r;
}

ssize_t sb__w32_send(int fd, const void *buf, size_t n, int flags)
{
    SOCKET s = sock_of(fd);
    int r;

    if (s == INVALID_SOCKET)
        return -1;
    r = send(s, buf, clamp(n), flags);
    return r == SOCKET_ERROR ? wsa_fail() : r;
}

ssize_t sb__w32_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
                       socklen_t tolen)
{
    SOCKET s = sock_of(fd);
    int r;

    if (s == INVALID_SOCKET)
        return -1;
    r = sendto(s, buf, clamp(n), flags, to, tolen);
    return r == SOCKET_ERROR ? wsa_fail() : r;
}

ssize_t sb__w32_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
                         socklen_t *fromlen)
{
    SOCKET s = sock_of(fd);
    int r;

    if (s == INVALID_SOCKET)
        return -1;
    r = recvfrom(s, buf, clamp(n), flags, from, fromlen);
    return r == SOCKET_ERROR ? recv_fail(s) : r;
}

#define MAX_BUFS 64

ssize_t sb__w32_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    SOCKET s = sock_of(fd);
    WSABUF b[MAX_BUFS];
    DWORD sent = 0, i, n = msg->msg_iovlen > MAX_BUFS ? MAX_BUFS : (DWORD)msg->msg_iovlen;
    int r;

    if (s == INVALID_SOCKET)
        return -1;
    for (i = 0; i < n; i++) {
        b[i].buf = msg->msg_iov[i].iov_base;
        b[i].len = msg->msg_iov[i].iov_len > ULONG_MAX ? ULONG_MAX : (ULONG)msg->msg_iov[i].iov_len;
    }
    if (msg->msg_name)
        r = WSASendTo(s, b, n, &sent, (DWORD)flags, msg->msg_name, (int)msg->msg_namelen, NULL,
                      NULL);
    else
        r = WSASend(s, b, n, &sent, (DWORD)flags, NULL, NULL);
    return r == SOCKET_ERROR ? wsa_fail() : (ssize_t)sent;
}

ssize_t sb__w32_recvmsg(int fd, struct msghdr *msg, int flags)
{
    SOCKET s = sock_of(fd);
    WSABUF b[MAX_BUFS];
    DWORD got = 0, fl = (DWORD)flags, i, n = msg->msg_iovlen > MAX_BUFS ? MAX_BUFS
                                                                         : (DWORD)msg->msg_iovlen;
    INT namelen = (INT)msg->msg_namelen;
    int r;

    if (s == INVALID_SOCKET)
        return -1;
    for (i = 0; i < n; i++) {
        b[i].buf = msg->msg_iov[i].iov_base;
        b[i].len = msg->msg_iov[i].iov_len > ULONG_MAX ? ULONG_MAX : (ULONG)msg->msg_iov[i].iov_len;
    }
    msg->msg_flags = 0;
    msg->msg_controllen = 0;
    r = WSARecvFrom(s, b, n, &got, &fl, msg->msg_name, msg->msg_name ? &namelen : NULL, NULL,
                    NULL);
    if (r == SOCKET_ERROR) {
        int e = WSAGetLastError();
        if (e == WSAEMSGSIZE) { /* a datagram longer than the buffers: cut */
            msg->msg_flags = MSG_TRUNC;
            if (msg->msg_name)
                msg->msg_namelen = (socklen_t)namelen;
            for (got = 0, i = 0; i < n; i++)
                got += b[i].len;
            return (ssize_t)got;
        }
        WSASetLastError(e);
        return recv_fail(s);
    }
    if (msg->msg_name)
        msg->msg_namelen = (socklen_t)namelen;
    return (ssize_t)got;
}

int sb__w32_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    CALL(fd, getsockname(s_, sa, len));
    return 0;
}

int sb__w32_getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    CALL(fd, getpeername(s_, sa, len));
    return 0;
}

int sb__w32_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    CALL(fd, getsockopt(s_, level, name, val, len));
    /* SO_ERROR holds a winsock code: the callers expect an errno. */
    if (level == SOL_SOCKET && name == SO_ERROR && *len >= (socklen_t)sizeof(int))
        *(int *)val = map_wsa(*(int *)val);
    return 0;
}

int sb__w32_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    /*
     * SO_REUSEADDR means something else here: another socket may bind the
     * same port and take its connections.  Windows lets a listener rebind
     * a port with connections in TIME_WAIT without it, so the option is
     * replaced by SO_EXCLUSIVEADDRUSE, which keeps the port ours.
     */
    if (level == SOL_SOCKET && name == SO_REUSEADDR) {
        int one = 1;
        CALL(fd, setsockopt(s_, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof(one)));
        return 0;
    }
    CALL(fd, setsockopt(s_, level, name, val, len));
    return 0;
}

int sb__w32_close(int fd)
{
    SOCKET *p = slot(fd);
    SOCKET s;

    if (!p || *p == INVALID_SOCKET) {
        errno = EBADF;
        return -1;
    }
    s = *p;
    fd_release(fd);
    if (s != MOVED && closesocket(s) == SOCKET_ERROR)
        return wsa_fail();
    return 0;
}

/* read() and write() are only ever made on the socket pairs. */
ssize_t sb__w32_read(int fd, void *buf, size_t n)
{
    return sb__w32_recv(fd, buf, n, 0);
}

ssize_t sb__w32_write(int fd, const void *buf, size_t n)
{
    return sb__w32_send(fd, buf, n, 0);
}

/* A file's bytes at off (sb_write_file's fallback to sendfile): fd is a
 * C runtime descriptor here, not a socket number. */
ssize_t sb__w32_pread(int fd, void *buf, size_t n, off_t off)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    OVERLAPPED ov;
    DWORD got = 0;

    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    memset(&ov, 0, sizeof(ov));
    ov.Offset = (DWORD)((uint64_t)off & 0xffffffffu);
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    if (!ReadFile(h, buf, n > 0x7fffffff ? 0x7fffffff : (DWORD)n, &got, &ov)) {
        DWORD e = GetLastError();
        if (e == ERROR_HANDLE_EOF)
            return 0;
        errno = e == ERROR_ACCESS_DENIED ? EACCES : e == ERROR_INVALID_HANDLE ? EBADF : EIO;
        return -1;
    }
    return (ssize_t)got;
}

int sb__w32_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    int arg;
    SOCKET s = sock_of(fd);

    va_start(ap, cmd);
    arg = (cmd == F_SETFD || cmd == F_SETFL) ? va_arg(ap, int) : 0;
    va_end(ap);
    if (s == INVALID_SOCKET)
        return -1;
    switch (cmd) {
    case F_GETFD:
        return FD_CLOEXEC;
    case F_SETFD: /* the library's sockets are never inherited */
        return 0;
    case F_GETFL:
        return 0;
    case F_SETFL:
        return nonblock(s, arg & O_NONBLOCK);
    default:
        errno = EINVAL;
        return -1;
    }
}

/* poll() over WSAPoll: struct pollfd is winsock's, whose fd member is a
 * SOCKET; the numbers are swapped for their SOCKETs around the call. */
int sb__w32_poll(struct pollfd *fds, unsigned long n, int timeout_ms)
{
    unsigned long i;
    int r, e = 0, nbad = 0;

    if (n == 0) {
        Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
        return 0;
    }
    /* A number that has no SOCKET (closed behind the loop's back): POLLNVAL
     * at once, as POSIX poll() says of a closed fd; WSAPoll would be given
     * INVALID_SOCKET, which it skips (wine) or fails whole. */
    for (i = 0; i < n; i++) {
        int fd = (int)fds[i].fd;
        fds[i].revents = fd >= 0 && sb__w32_sock(fd) == INVALID_SOCKET ? POLLNVAL : 0;
        nbad += fds[i].revents != 0;
    }
    if (nbad)
        return nbad;
    for (i = 0; i < n; i++) {
        int fd = (int)fds[i].fd;
        fds[i].fd = (int)fds[i].fd < 0 ? INVALID_SOCKET : sb__w32_sock(fd);
    }
    r = WSAPoll(fds, n, timeout_ms);
    if (r == SOCKET_ERROR)
        e = map_wsa(WSAGetLastError());
    for (i = 0; i < n; i++)
        fds[i].fd = fds[i].fd == INVALID_SOCKET ? (SOCKET)-1 : (SOCKET)(intptr_t)sb__w32_fd_of(fds[i].fd);
    if (r == SOCKET_ERROR) {
        errno = e;
        return -1;
    }
    return r;
}

int sb__w32_lstat(const char *path, struct stat *st)
{
    return stat(path, st);
}

int sb__w32_open(const char *path, int flags, ...)
{
    (void)path;
    (void)flags;
    errno = ENOSYS; /* the library opens no files on Windows */
    return -1;
}

/* ------------------------------------------------------------ the seam */

/* The calls below go through the fault seam in the test build (SB_FAULTS:
 * tests/fault.c counts them, may fail them, then calls the sb__w32_
 * versions that os.h names socket, accept, fcntl, pipe and dup2); in a
 * normal build they are those versions directly. */
#undef pipe
#undef dup2
#ifdef SB_FAULTS
#define SYS_SOCKET sb__sys_socket
#define SYS_ACCEPT sb__sys_accept
#define SYS_FCNTL sb__sys_fcntl
#define SYS_PIPE sb__sys_pipe
#define SYS_DUP2 sb__sys_dup2
#else
#define SYS_SOCKET sb__w32_socket
#define SYS_ACCEPT sb__w32_accept
#define SYS_FCNTL sb__w32_fcntl
#define SYS_PIPE sb__w32_pipe
#define SYS_DUP2 sb__w32_dup2
#endif

int sb__os_socket(int domain, int type, int nb)
{
    int fd = SYS_SOCKET(domain, type, 0);

    if (fd < 0)
        return -1;
    if (nb && SYS_FCNTL(fd, F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        sb__w32_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int sb__os_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int c = SYS_ACCEPT(fd, sa, len);

    if (c < 0)
        return -1;
    if (SYS_FCNTL(c, F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        sb__w32_close(c);
        errno = e;
        return -1;
    }
    return c;
}

/*
 * A pipe: a TCP connection over 127.0.0.1, both ends non-blocking (and
 * no Nagle, so a wake-up byte leaves at once).  The accepted end must be
 * the one the connect made: its peer is the connecting socket's address.
 */
int sb__os_pipe(int fds[2])
{
    return SYS_PIPE(fds);
}

int sb__w32_pipe(int fds[2])
{
    struct sockaddr_in a, b, peer;
    int la = sizeof(a), lb = sizeof(b), lp = sizeof(peer), one = 1, e;
    SOCKET l = INVALID_SOCKET, c = INVALID_SOCKET, s = INVALID_SOCKET;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = WSASocketW(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (l == INVALID_SOCKET)
        goto fail;
    setsockopt(l, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof(one));
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) == SOCKET_ERROR ||
        getsockname(l, (struct sockaddr *)&a, &la) == SOCKET_ERROR || listen(l, 1) == SOCKET_ERROR)
        goto fail;
    c = WSASocketW(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (c == INVALID_SOCKET || connect(c, (struct sockaddr *)&a, sizeof(a)) == SOCKET_ERROR ||
        getsockname(c, (struct sockaddr *)&b, &lb) == SOCKET_ERROR)
        goto fail;
    for (;;) {
        s = accept(l, (struct sockaddr *)&peer, &lp);
        if (s == INVALID_SOCKET)
            goto fail;
        if (peer.sin_port == b.sin_port && peer.sin_addr.s_addr == b.sin_addr.s_addr)
            break;
        closesocket(s); /* someone else's connection: not ours */
        s = INVALID_SOCKET;
        lp = sizeof(peer);
    }
    closesocket(l);
    l = INVALID_SOCKET;
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
    if (nonblock(s, 1) < 0 || nonblock(c, 1) < 0)
        goto fail_errno;
    fds[0] = fd_new(s);
    if (fds[0] < 0)
        goto fail_errno;
    fds[1] = fd_new(c);
    if (fds[1] < 0) {
        e = errno;
        sb__w32_close(fds[0]);
        closesocket(c);
        errno = e;
        return -1;
    }
    return 0;
fail:
    errno = map_wsa(WSAGetLastError());
fail_errno:
    e = errno;
    if (l != INVALID_SOCKET)
        closesocket(l);
    if (c != INVALID_SOCKET)
        closesocket(c);
    if (s != INVALID_SOCKET)
        closesocket(s);
    errno = e;
    return -1;
}

/* newfd's SOCKET is closed and oldfd's moves to newfd; oldfd stays a
 * number whose close() only frees it (what connect.c does next).  A free
 * newfd is taken for it, as POSIX dup2 does (the tests move sockets to
 * numbers past FD_SETSIZE so). */
int sb__os_dup_cloexec(int oldfd, int newfd)
{
    return SYS_DUP2(oldfd, newfd);
}

/* Under the lock: take the free number fd out of the free list, or, past
 * the numbers handed out so far, hand out the ones before it (they go on
 * the free list, lowest first out) and fd itself.  Its slot is MOVED (in
 * use, no SOCKET) until the caller puts one there.  0, or -1 ENOMEM. */
static int fd_claim(int fd)
{
    int i;

    if (fd < next_fd) {
        for (i = (int)nfree - 1; i >= 0 && free_list[i] != fd; i--)
            ;
        if (i < 0) /* a number lost to a failed realloc: in use, no SOCKET */
            return -1;
        memmove(&free_list[i], &free_list[i + 1], (nfree - (size_t)i - 1) * sizeof(*free_list));
        nfree--;
    } else {
        size_t need = nfree + (size_t)(fd - next_fd);
        int c;
        if (need > free_cap) {
            int *n = realloc(free_list, need * sizeof(*n));
            if (!n)
                return -1;
            free_list = n;
            free_cap = need;
        }
        for (c = next_fd / CHUNK; c <= fd / CHUNK; c++) {
            if (chunks[c])
                continue;
            SOCKET *cs = malloc(CHUNK * sizeof(*cs));
            unsigned char *ad = calloc(CHUNK, 1);
            if (!cs || !ad) {
                free(cs);
                free(ad);
                return -1;
            }
            for (i = 0; i < CHUNK; i++)
                cs[i] = INVALID_SOCKET;
            adopted[c] = ad;
            chunks[c] = cs;
        }
        for (i = fd - 1; i >= next_fd; i--)
            free_list[nfree++] = i;
        next_fd = fd + 1;
    }
    *slot(fd) = MOVED;
    return 0;
}

int sb__w32_dup2(int oldfd, int newfd)
{
    SOCKET *from = slot(oldfd), *to, s;

    if (!from || *from == INVALID_SOCKET || *from == MOVED || newfd < 0 ||
        newfd >= CHUNK * NCHUNKS) {
        errno = EBADF;
        return -1;
    }
    if (oldfd == newfd)
        return newfd;
    lock_take();
    to = slot(newfd);
    if ((!to || *to == INVALID_SOCKET) && fd_claim(newfd) < 0) {
        lock_give();
        errno = ENOMEM;
        return -1;
    }
    to = slot(newfd);
    s = *from;
    if (*to != MOVED) {
        rev_del(*to);
        closesocket(*to);
    }
    rev_del(s);
    if (rev_put(s, newfd) < 0) {
        rev_put(s, oldfd); /* the entry just freed: cannot fail */
        *to = MOVED;
        lock_give();
        errno = ENOMEM;
        return -1;
    }
    *to = s;
    *from = MOVED;
    lock_give();
    return newfd;
}

int sb__os_initgroups(const char *user, gid_t gid)
{
    (void)user;
    (void)gid;
    errno = ENOSYS;
    return -1;
}

int sb__os_unnamed_unix(struct sb__addr *a)
{
    (void)a;
    return -EAFNOSUPPORT;
}

/* ---------------------------------------------------- console events */

/* The write end each of SIGINT and SIGTERM is delivered to, -1 if none. */
static volatile LONG console_fd[2] = {-1, -1};
static LONG console_installed;

static BOOL WINAPI console_handler(DWORD ev)
{
    int which = (ev == CTRL_C_EVENT || ev == CTRL_BREAK_EVENT) ? 0 : 1;
    unsigned char b = (unsigned char)(which == 0 ? SIGINT : SIGTERM);
    LONG fd = console_fd[which];
    SOCKET s;

    if (fd < 0)
        return FALSE; /* the default: the process ends */
    s = sb__w32_sock((int)fd);
    if (s != INVALID_SOCKET)
        send(s, (const char *)&b, 1, 0); /* a full pair already holds a wake-up */
    return TRUE;
}

int sb__os_console_watch(int signum, int fd)
{
    int which = signum == SIGINT ? 0 : signum == SIGTERM ? 1 : -1;

    if (which < 0) {
        errno = EINVAL;
        return -1;
    }
    if (fd >= 0 && InterlockedCompareExchange(&console_installed, 1, 0) == 0 &&
        !SetConsoleCtrlHandler(console_handler, TRUE)) {
        console_installed = 0;
        errno = EINVAL;
        return -1;
    }
    InterlockedExchange(&console_fd[which], fd);
    return 0;
}

#else
typedef int sb__os_win32_only_on_windows; /* not an empty translation unit */
#endif /* _WIN32 */
