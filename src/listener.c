/*
 * Listening sockets: bind/listen for TCP (v4, v6, dual-stack wildcard) and
 * unix sockets, and the accept loop.  A listener only produces connections
 * (the HOWTO's "switchboard operator").
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void listener_pause(sb_listener *l, int paused)
{
    l->paused = paused;
    sb__loop_interest(l->loop, &l->h, paused ? 0u : SB_READ);
}

static void backoff_done(sb_timer *t, void *udata)
{
    (void)t;
    listener_pause(udata, 0);
}

/*
 * accept() failed with EMFILE/ENFILE: the queued clients cannot be taken.
 * Leaving them queued is worse than refusing them: select() reports the
 * listener ready forever, and once the accept queue overflows the kernel
 * drops SYNs and (with tcp_syncookies) completes connections from cookies,
 * which can silently lose a client's first data segment.  So shed, and keep
 * the queue drained (as libuv's EMFILE handling does): for each queued
 * client, free the reserved spare fd, accept the client and close it at
 * once (it sees a prompt close instead of a hang), take the spare back;
 * until EAGAIN, at most backlog clients per call (what the queue can hold),
 * so a flood cannot keep the loop here.  Only the log is rate-limited.
 *
 * Without a spare fd (it could not be opened), or for a lack of memory
 * (ENOBUFS, ENOMEM: closing one fd does not help), stop watching the
 * listener for a short back-off instead, so it does not spin.
 */
static void accept_emfile(sb_listener *l, int err)
{
    sb_loop *loop = l->loop;
    int fd, n, shed = 0, last = 0;
    int drain = (err == -EMFILE || err == -ENFILE) && loop->spare_fd >= 0;

    loop->stats.emfile++;
    for (n = 0; drain && n < l->opts.backlog && loop->spare_fd >= 0; n++) {
        sb__sys_close(loop->spare_fd);
        loop->spare_fd = -1;
        loop->stats.accept_calls++;
        fd = sb__os_accept(l->h.fd, NULL, NULL);
        if (fd >= 0) {
            sb__sys_close(fd);
            loop->stats.rejected++;
            shed++;
        }
        last = fd < 0 ? errno : 0;
        sb__spare_fd_open(loop);
        if (last && last != EINTR && last != ECONNABORTED && last != EPROTO)
            break; /* EAGAIN: drained */
    }
    /* The spare did not help (another thread took the fd?): back off. */
    if (drain && shed == 0 && last != EAGAIN && last != EWOULDBLOCK)
        drain = 0;
    if (loop->now - loop->last_emfile_log >= 1000 || loop->last_emfile_log == 0) {
        loop->last_emfile_log = loop->now ? loop->now : 1;
        if (drain)
            sb__log(loop, SB_LOG_WARN,
                    "accept: %s; shedding clients (accepted and closed at once), %d now",
                    sb_strerror(err), shed);
        else
            sb__log(loop, SB_LOG_WARN, "accept: %s; not accepting for %d ms", sb_strerror(err),
                    SB__EMFILE_BACKOFF_MS);
    }
    if (drain)
        return;
    listener_pause(l, 1);
    if (sb__timer_arm(&l->backoff, loop->now + SB__EMFILE_BACKOFF_MS, 0))
        listener_pause(l, 0);
}

/* Accept up to max_accept pending clients. */
static void listener_ready(sb__handle *h, unsigned events)
{
    sb_listener *l = (sb_listener *)h;
    sb_loop *loop = l->loop;
    unsigned i;

    (void)events;
    for (i = 0; i < l->opts.max_accept && !l->paused && l->h.fd >= 0; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        sb_conn *c;
        int fd;

        loop->stats.accept_calls++;
        fd = sb__os_accept(h->fd, (struct sockaddr *)&ss, &len);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                break;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                accept_emfile(l, -e);
                break;
            }
            sb__log(loop, SB_LOG_ERROR, "accept: %s", sb_strerror(-e));
            break;
        }
        if (l->opts.max_conns && l->nconns >= l->opts.max_conns) {
            sb__sys_close(fd);
            loop->stats.rejected++;
            continue;
        }
        if (ss.ss_family != AF_UNIX) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        c = sb__conn_new(loop, fd, SB_READ, l, (struct sockaddr *)&ss, len);
        if (!c) {
            sb__sys_close(fd);
            loop->stats.rejected++;
            continue;
        }
        loop->stats.accepted++;
        if (l->xt)
            sb__conn_start_transport(c);
        else
            sb__conn_open(c);
    }
}

static void listener_badfd(sb__handle *h)
{
    sb_listener *l = (sb_listener *)h;

    /* Dead from now on: no longer keeps the loop running.  The application
     * still owns the object and frees it with sb_listener_close(). */
    sb__timer_disarm(&l->backoff);
    sb__loop_unregister(l->loop, h);
    h->fd = -1;
    l->loop->nlisteners--;
}

static int open_socket(sb__addr *a, int backlog, int *out)
{
    int fd, one = 1, zero = 0, rc;
    int family = a->ss.ss_family;

    fd = sb__os_socket(family, SOCK_STREAM, 1);
    if (fd < 0 && a->any && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        /* No IPv6 on this host: the wildcard falls back to 0.0.0.0. */
        struct sockaddr_in *a4 = (struct sockaddr_in *)&a->ss;
        uint16_t port = ((struct sockaddr_in6 *)&a->ss)->sin6_port;
        memset(&a->ss, 0, sizeof(a->ss));
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        a4->sin_port = port;
        a->len = sizeof(*a4);
        family = AF_INET;
        fd = sb__os_socket(family, SOCK_STREAM, 1);
    }
    if (fd < 0)
        return -errno;
    if (family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, a->any ? &zero : &one, sizeof(int));
    rc = sb__addr_bind(fd, a, SOCK_STREAM);
    if (rc == 0 && sb__sys_listen(fd, backlog) < 0) {
        rc = -errno;
        if (family == AF_UNIX)
            unlink(((struct sockaddr_un *)&a->ss)->sun_path);
    }
    if (rc == 0) {
        /* Read back what was bound (port 0 becomes a real port). */
        socklen_t len = sizeof(a->ss);
        if (family != AF_UNIX && getsockname(fd, (struct sockaddr *)&a->ss, &len) == 0)
            a->len = len;
        *out = fd;
        return 0;
    }
    sb__sys_close(fd);
    return rc;
}

sb_listener *sb_listen(sb_loop *loop, const char *addr, const sb_handler *handler,
                       void *udata, const sb_listen_opts *opts, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_listener *l = NULL;
    int rc, fd = -1;

    if (!loop || !addr || !handler) {
        rc = -EINVAL;
        goto fail;
    }
    l = sb__calloc(1, sizeof(*l));
    if (!l) {
        rc = -ENOMEM;
        goto fail;
    }
    if (opts)
        l->opts = *opts;
    if (l->opts.backlog <= 0)
        l->opts.backlog = SB__DEFAULT_BACKLOG;
    if (l->opts.max_accept == 0)
        l->opts.max_accept = SB__DEFAULT_MAX_ACCEPT;
    rc = sb__addr_parse(addr, 1, &l->addr);
    if (rc)
        goto fail;
    rc = open_socket(&l->addr, l->opts.backlog, &fd);
    if (rc)
        goto fail;
    SB__BIRTH(l, h.magic, SB__K_LISTENER);
    l->h.type = SB__H_LISTENER;
    l->h.ready = listener_ready;
    l->h.badfd = listener_badfd;
    rc = sb__loop_register(loop, &l->h, fd, SB_READ);
    if (rc)
        goto fail;
    sb__spare_fd_open(loop);
    l->loop = loop;
    l->refs = 1;
    l->handler = *handler;
    l->udata = udata;
    sb__timer_init(&l->backoff, loop, backoff_done, l);
    l->next = loop->listeners;
    if (l->next)
        l->next->prev = l;
    loop->listeners = l;
    loop->nlisteners++;
    loop->nhandles++;
    return l;
fail:
    if (fd >= 0) {
        if (l && l->addr.ss.ss_family == AF_UNIX)
            unlink(((struct sockaddr_un *)&l->addr.ss)->sun_path);
        sb__sys_close(fd);
    }
    free(l);
    if (err)
        *err = rc;
    return NULL;
}

int sb_listener_port(const sb_listener *l)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    return sb__addr_port(&l->addr);
}

sb_socket_t sb_listener_fd(const sb_listener *l)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    return sb__os_public(l && !l->closed ? l->h.fd : -1);
}

int sb_listener_local(const sb_listener *l, char *buf, size_t len)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    return sb__addr_format((const struct sockaddr *)&l->addr.ss, l->addr.len, buf, len);
}

unsigned sb_listener_conns(const sb_listener *l)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    return l->nconns;
}

void *sb_listener_udata(const sb_listener *l)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    return l ? l->udata : NULL;
}

void sb_listener_set_udata(sb_listener *l, void *udata)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    if (l)
        l->udata = udata;
}

/* The listener lets go of its transport's arg (each accepted connection
 * has its own ctx from attach). */
static void release_transport(const sb_transport *t, void *arg)
{
    if (t && t->release)
        t->release(arg);
}

void sb_listener_close(sb_listener *l)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    sb_loop *loop;

    if (!l || l->closed)
        return; /* closed already, kept for its connections: a no-op */
    loop = l->loop;
    sb__timer_disarm(&l->backoff);
    if (l->h.fd >= 0) {
        sb__loop_unregister(loop, &l->h);
        sb__sys_close(l->h.fd);
        if (l->addr.ss.ss_family == AF_UNIX)
            unlink(((struct sockaddr_un *)&l->addr.ss)->sun_path);
        loop->nlisteners--;
    }
    l->h.fd = -1;
    l->closed = 1;
    {
        const sb_transport *t = l->xt;
        void *arg = l->xarg;
        l->xt = NULL; /* nothing more is accepted */
        l->xarg = NULL;
        release_transport(t, arg);
    }
    if (l->prev)
        l->prev->next = l->next;
    else
        loop->listeners = l->next;
    if (l->next)
        l->next->prev = l->prev;
    loop->nhandles--;
    /* Its connections use its handler: the last one to close frees it. */
    if (--l->refs == 0)
        sb__loop_defer_free(loop, &l->h);
}

int sb_listener_set_transport(sb_listener *l, const sb_transport *t, void *arg,
                              unsigned handshake_ms)
{
    SB__CHECK(l, h.magic, SB__K_LISTENER);
    const sb_transport *old_t;
    void *old_arg;

    if (!l || (t && (!t->attach || !t->handshake || !t->recv || !t->send)))
        return -EINVAL;
    if (l->closed)
        return SB_ECLOSED;
    old_t = l->xt;
    old_arg = l->xarg;
    l->xt = t;
    l->xarg = t ? arg : NULL;
    l->hs_ms = handshake_ms;
    release_transport(old_t, old_arg);
    return 0;
}
