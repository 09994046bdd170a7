/*
 * Datagram endpoints on the loop (Python in a Nutshell's UDP echo, Examples
 * 19-3 and 19-4): one bound socket, a receive callback with the sender's
 * address, and sb__sys_sendto().  Nothing is buffered by the library in either
 * direction, so nothing is hidden:
 *
 *   - a datagram longer than the endpoint's max_datagram is delivered cut,
 *     with err = -EMSGSIZE (recvmsg's MSG_TRUNC flag), never silently;
 *   - a send the socket cannot take now fails with -EAGAIN, and on_writable
 *     (if set) says when to try again.
 *
 * Each endpoint owns its receive buffer (allocated with it, max_datagram
 * bytes), and reads at most max_recv datagrams per readiness event so a
 * flood cannot starve the other fds.  Also here: the public sb_addr value
 * type, a socket address callers can keep and pass back.
 */
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(sizeof(((sb_addr *)0)->sa) >= sizeof(struct sockaddr_storage),
               "sb_addr must hold any socket address");

struct sb_udp {
    sb__handle h;           /* first: the fd table and deferred free use it */
    sb_loop *loop;
    sb_udp_handler handler;
    void *udata;
    sb__addr addr;          /* as bound (port filled in) */
    int path_bound;         /* a socket file to remove on free */
    int want_write;         /* a send hit EAGAIN: on_writable is due */
    unsigned max_recv;
    size_t max_datagram;
    sb_udp_stats stats;
    sb_udp *next, *prev;    /* loop->udps */
    char buf[];             /* max_datagram bytes */
};

/* ------------------------------------------------------------ addresses */

int sb_addr_resolve(sb_addr *out, const char *addr)
{
    sb__addr a;
    int rc;

    if (!out || !addr)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    rc = sb__addr_parse(addr, 0, &a);
    if (rc)
        return rc;
    memcpy(&out->sa, &a.ss, a.len);
    out->len = a.len;
    return 0;
}

int sb_addr_format(const sb_addr *a, char *buf, size_t len)
{
    if (!a || a->len < sizeof(sa_family_t) || a->len > sizeof(a->sa))
        return -EINVAL;
    return sb__addr_format((const struct sockaddr *)&a->sa, a->len, buf, len);
}

/*
 * Point *sa at the address to send to.  An IPv4 address given to a dual-
 * stack IPv6 endpoint is rewritten as ::ffff:a.b.c.d into *mapped.
 */
static int dest(const sb_udp *u, const sb_addr *to, struct sockaddr_in6 *mapped,
                const struct sockaddr **sa, socklen_t *len)
{
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&to->sa;

    if (to->len < sizeof(sa_family_t) || to->len > sizeof(to->sa))
        return -EINVAL;
    *sa = (const struct sockaddr *)&to->sa;
    *len = to->len;
    if (a4->sin_family == AF_INET && u->addr.ss.ss_family == AF_INET6) {
        memset(mapped, 0, sizeof(*mapped));
        mapped->sin6_family = AF_INET6;
        mapped->sin6_port = a4->sin_port;
        mapped->sin6_addr.s6_addr[10] = 0xff;
        mapped->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&mapped->sin6_addr.s6_addr[12], &a4->sin_addr, 4);
        *sa = (const struct sockaddr *)mapped;
        *len = sizeof(*mapped);
    }
    return 0;
}

/* ------------------------------------------------------------ the loop */

/*
 * Readiness: first on_writable if a send was refused with EAGAIN, then up
 * to max_recv datagrams.  The endpoint may be freed from any callback; its
 * memory stays valid until the end of the iteration and h.fd is -1 then.
 */
static void udp_ready(sb__handle *h, unsigned events)
{
    sb_udp *u = (sb_udp *)h;
    unsigned i;

    if ((events & SB_WRITE) && u->want_write) {
        u->want_write = 0;
        sb__loop_interest(u->loop, h, SB_READ);
        if (u->handler.on_writable)
            u->handler.on_writable(u, u->udata);
    }
    if (!(events & SB_READ))
        return;
    for (i = 0; i < u->max_recv && h->fd >= 0; i++) {
        struct iovec iov;
        struct msghdr m;
        sb_addr from;
        ssize_t n;
        int err = 0;

        memset(&m, 0, sizeof(m));
        memset(&from, 0, sizeof(from));
        iov.iov_base = u->buf;
        iov.iov_len = u->max_datagram;
        m.msg_name = &from.sa;
        m.msg_namelen = sizeof(from.sa);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        do
            n = sb__sys_recvmsg(h->fd, &m, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            /* An asynchronous error, e.g. ECONNREFUSED on a connected
             * endpoint after an ICMP port unreachable. */
            err = -errno;
            u->stats.recv_errors++;
            if (u->handler.on_datagram)
                u->handler.on_datagram(u, NULL, 0, NULL, err, u->udata);
            continue;
        }
        from.len = m.msg_namelen <= sizeof(from.sa) ? (uint32_t)m.msg_namelen : 0;
        if (m.msg_flags & MSG_TRUNC) {
            err = -EMSGSIZE;
            u->stats.truncated++;
        }
        u->stats.datagrams_in++;
        u->stats.bytes_in += (uint64_t)n;
        if (u->handler.on_datagram)
            u->handler.on_datagram(u, u->buf, (size_t)n, &from, err, u->udata);
    }
}

/* The fd was closed behind the loop's back: report it, stop keeping the
 * loop alive.  The application still frees the endpoint. */
static void udp_badfd(sb__handle *h)
{
    sb_udp *u = (sb_udp *)h;

    sb__log(u->loop, SB_LOG_ERROR, "udp fd %d closed behind the loop's back", h->fd);
    sb__loop_unregister(u->loop, h);
    h->fd = -1;
    u->want_write = 0;
    u->loop->nudp--;
    u->stats.recv_errors++;
    if (u->handler.on_datagram)
        u->handler.on_datagram(u, NULL, 0, NULL, -EBADF, u->udata);
}

/* --------------------------------------------------------------- setup */

/*
 * Open and bind the datagram socket for a (updated with what was bound).
 * "*:port" is dual-stack IPv6, or 0.0.0.0 on a host without IPv6.
 */
static int open_udp(sb__addr *a, const sb_udp_opts *o, int *out)
{
    int family = a->ss.ss_family, fd, zero = 0, one = 1, rc;

    fd = sb__os_socket(family, SOCK_DGRAM, 1);
    if (fd < 0 && a->any && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&a->ss;
        uint16_t port = ((struct sockaddr_in6 *)&a->ss)->sin6_port;
        memset(&a->ss, 0, sizeof(a->ss));
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        a4->sin_port = port;
        a->len = sizeof(*a4);
        family = AF_INET;
        fd = sb__os_socket(family, SOCK_DGRAM, 1);
    }
    if (fd < 0)
        return -errno;
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, a->any ? &zero : &one, sizeof(int));
    if (o->rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf));
    if (o->sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf));
    rc = sb__addr_bind(fd, a, SOCK_DGRAM);
    if (rc) {
        sb__sys_close(fd);
        return rc;
    }
    if (family != AF_UNIX) {
        socklen_t len = sizeof(a->ss);
        if (getsockname(fd, (struct sockaddr *)&a->ss, &len) == 0)
            a->len = len;
    }
    *out = fd;
    return 0;
}

sb_udp *sb_udp_new(sb_loop *loop, const char *addr, const sb_udp_handler *handler,
                   void *udata, const sb_udp_opts *opts, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_udp_opts o;
    sb__addr a;
    sb_udp *u = NULL;
    int rc, fd = -1;

    memset(&o, 0, sizeof(o));
    if (!loop || !addr || !handler) {
        rc = -EINVAL;
        goto fail;
    }
    if (opts)
        o = *opts;
    if (o.max_datagram == 0)
        o.max_datagram = SB__UDP_MAX_DATAGRAM;
    if (o.max_recv == 0)
        o.max_recv = SB__UDP_MAX_RECV;
    if (o.max_datagram > SB__UDP_LIMIT) {
        rc = -EINVAL;
        goto fail;
    }
    if (strcmp(addr, "unix:") == 0) {
        /* An unnamed client: Linux autobinds an abstract address; elsewhere
         * (and under PORTABLE) the OS seam makes up a unique path, bound
         * and removed as a named one is. */
        if ((rc = sb__os_unnamed_unix(&a)) != 0)
            goto fail;
    } else if ((rc = sb__addr_parse(addr, 1, &a)) != 0) {
        goto fail;
    }
    u = sb__calloc(1, sizeof(*u) + o.max_datagram);
    if (!u) {
        rc = -ENOMEM;
        goto fail;
    }
    SB__BIRTH(u, h.magic, SB__K_UDP);
    rc = open_udp(&a, &o, &fd);
    if (rc)
        goto fail;
    u->addr = a;
    u->path_bound = a.ss.ss_family == AF_UNIX && a.len > sizeof(sa_family_t);
    if (a.ss.ss_family == AF_UNIX) {
        /* Read back the autobound name; the path of a named one is as given. */
        socklen_t len = sizeof(u->addr.ss);
        if (!u->path_bound && getsockname(fd, (struct sockaddr *)&u->addr.ss, &len) == 0)
            u->addr.len = len;
    }
    u->h.type = SB__H_UDP;
    u->h.ready = udp_ready;
    u->h.badfd = udp_badfd;
    rc = sb__loop_register(loop, &u->h, fd, SB_READ);
    if (rc)
        goto fail;
    u->loop = loop;
    u->handler = *handler;
    u->udata = udata;
    u->max_recv = o.max_recv;
    u->max_datagram = o.max_datagram;
    loop->nudp++;
    loop->nhandles++;
    u->next = loop->udps;
    if (u->next)
        u->next->prev = u;
    loop->udps = u;
    return u;
fail:
    if (fd >= 0) {
        if (u && u->path_bound)
            unlink(((struct sockaddr_un *)&u->addr.ss)->sun_path);
        sb__sys_close(fd);
    }
    free(u);
    if (err)
        *err = rc;
    return NULL;
}

int sb_udp_connect(sb_udp *u, const sb_addr *peer)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    struct sockaddr_in6 mapped;
    const struct sockaddr *sa;
    struct sockaddr unspec;
    socklen_t len;
    int rc;

    if (!u)
        return -EINVAL;
    if (u->h.fd < 0)
        return -EBADF;
    if (peer) {
        rc = dest(u, peer, &mapped, &sa, &len);
        if (rc)
            return rc;
    } else {
        memset(&unspec, 0, sizeof(unspec));
        unspec.sa_family = AF_UNSPEC;
        sa = &unspec;
        len = sizeof(unspec);
    }
    if (sb__sys_connect(u->h.fd, sa, len) < 0)
        return -errno;
    return 0;
}

int sb_udp_send(sb_udp *u, const sb_addr *to, const void *data, size_t len)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    struct sockaddr_in6 mapped;
    const struct sockaddr *sa = NULL;
    socklen_t salen = 0;
    ssize_t n;
    int e;

    if (!u || (!data && len))
        return -EINVAL;
    if (u->h.fd < 0)
        return -EBADF;
    if (to && (e = dest(u, to, &mapped, &sa, &salen)) != 0)
        return e;
    do
        n = sb__os_sendto(u->h.fd, data, len, sa, salen);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
        u->stats.datagrams_out++;
        u->stats.bytes_out += (uint64_t)n;
        return 0;
    }
    e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) {
        u->stats.send_full++;
        if (u->handler.on_writable && !u->want_write) {
            u->want_write = 1;
            sb__loop_interest(u->loop, &u->h, SB_READ | SB_WRITE);
        }
        return -EAGAIN;
    }
    u->stats.send_errors++;
    return -e;
}

int sb_udp_port(const sb_udp *u)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    return sb__addr_port(&u->addr);
}

int sb_udp_local(const sb_udp *u, char *buf, size_t len)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    return sb__addr_format((const struct sockaddr *)&u->addr.ss, u->addr.len, buf, len);
}

sb_socket_t sb_udp_fd(const sb_udp *u)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    return sb__os_public(u->h.fd);
}

void sb_udp_set_udata(sb_udp *u, void *udata)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    u->udata = udata;
}

void *sb_udp_udata(const sb_udp *u)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    return u->udata;
}

void sb_udp_get_stats(const sb_udp *u, sb_udp_stats *out)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    *out = u->stats;
}

void sb_udp_free(sb_udp *u)
{
    SB__CHECK(u, h.magic, SB__K_UDP);
    sb_loop *loop;

    if (!u)
        return;
    loop = u->loop;
    if (u->prev)
        u->prev->next = u->next;
    else
        loop->udps = u->next;
    if (u->next)
        u->next->prev = u->prev;
    if (u->h.fd >= 0) {
        sb__loop_unregister(loop, &u->h);
        sb__sys_close(u->h.fd);
        loop->nudp--;
    }
    if (u->path_bound)
        unlink(((struct sockaddr_un *)&u->addr.ss)->sun_path);
    u->h.fd = -1;
    loop->nhandles--;
    sb__loop_defer_free(loop, &u->h);
}

sb_udp *sb__udp_next(const sb_udp *u)
{
    return u->next;
}
