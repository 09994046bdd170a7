/*
 * Outbound connections: the other half of the HOWTO's switchboard, "if you
 * have created a new socket to connect to someone else, put it in the
 * potential_writers list; if it shows up in the writable list, you have a
 * decent chance that it has connected".
 *
 * sb_connect() resolves the address, starts a non-blocking connect() and
 * returns a connection in the CONNECTING state: write interest only, and
 * output queued by sb_write() but not sent (conn.c's flush skips it).  When
 * the socket turns writable, getsockopt(SO_ERROR) tells how the connect
 * ended.  Success hands the connection to conn.c (sb__conn_connected: the
 * normal readiness handler, the queued output, on_open); failure moves on
 * to the next address, and after the last one closes the connection with
 * the reason.  No outcome is ever reported from inside sb_connect(): even a
 * connect() that completes or fails at once is reported from the loop.
 *
 * While connecting, a record (sb__connect) holds the addresses left to try,
 * the per-address timer and a name lookup in progress.  The connection
 * owns it (c->connect); it is freed when the connect succeeds or, from
 * conn.c's close path (sb__connect_closed, before on_close), when the
 * connection ends before that (failure, sb_abort, a timeout...).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sb__connect sb__connect;
struct sb__connect {
    sb_conn *c;
    sb__addr *addrs;     /* every address to try, in order */
    size_t naddrs;
    size_t tried;        /* addresses started so far */
    unsigned timeout_ms; /* per address; 0 = the kernel's own limit */
    sb_timer timer;
    sb_resolve *lookup;  /* the host name's resolution, while it runs */
};

/*
 * The address of a destination that needs no resolver: "unix:/path",
 * "[v6]:port", numeric IPv4 (every malformed string goes through
 * sb__addr_parse, for the same error codes as sb_listen).  "*:port" is no
 * destination.  Returns 0, SB_EINVAL_ADDR, SB_EPORT or -ENAMETOOLONG.
 */
static int parse_numeric(const char *s, sb__addr *a)
{
    int rc = sb__addr_parse(s, 0, a);

    if (rc == 0 && a->any)
        rc = SB_EINVAL_ADDR;
    return rc;
}

/*
 * Open a non-blocking socket for a and start connecting it.  Returns the
 * fd, with *cerr set to 0 when the connect is under way (or already done),
 * or to connect()'s error; the fd is returned either way, since it can
 * carry a failure to on_close.  Returns a negative code when no socket
 * could be opened.
 */
static int open_connect(const sb__addr *a, int *cerr)
{
    int fd, rc, one = 1;

    fd = sb__os_socket(a->ss.ss_family, SOCK_STREAM, 1);
    if (fd < 0)
        return -errno;
    if (a->ss.ss_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rc = sb__sys_connect(fd, (const struct sockaddr *)&a->ss, a->len);
    /* EINTR: the connect goes on in the background, like EINPROGRESS. */
    *cerr = (rc == 0 || errno == EINPROGRESS || errno == EINTR) ? 0 : -errno;
    return fd;
}

/*
 * Start the next address whose connect does not fail at once.  Returns its
 * fd, or -1 once every address is used up: *err then holds the last error
 * and *failed the last socket whose connect() failed (or -1), which the
 * caller owns.  *err is left alone when nothing was tried.
 */
static int start_next(sb__connect *k, int *err, int *failed)
{
    *failed = -1;
    while (k->tried < k->naddrs) {
        int cerr = 0, fd = open_connect(&k->addrs[k->tried++], &cerr);
        if (fd < 0) {
            *err = fd;
            continue;
        }
        if (*failed >= 0)
            sb__sys_close(*failed);
        *failed = -1;
        if (cerr == 0)
            return fd;
        *err = cerr;
        *failed = fd;
    }
    return -1;
}

/* Detach and free a record. */
static void record_free(sb__connect *k)
{
    if (k->lookup)
        sb__resolve_cancel(k->lookup); /* aborted or closed while resolving */
    sb__timer_disarm(&k->timer);
    k->c->connect = NULL;
    free(k->addrs);
    free(k);
}

void sb__connect_closed(sb_conn *c)
{
    if (c->connect)
        record_free(c->connect);
}

/*
 * Arm the timeout for the attempt that just started.  The deadline counts
 * from the clock's current reading, not the iteration's cached time: a
 * connect started after a slow name lookup must still get its full time.
 */
static void arm_timeout(sb__connect *k)
{
    sb_loop *loop = k->c->loop;
    uint64_t now = loop->clock(loop->clock_udata);

    if (!k->timeout_ms)
        return;
    if (now < loop->now)
        now = loop->now;
    if (sb__timer_arm(&k->timer, now + k->timeout_ms, 0))
        sb__conn_kill(k->c, -ENOMEM);
}

/* The peer address reported by sb_conn_peer: the one being tried. */
static void set_peer(sb_conn *c, const sb__addr *a)
{
    sb__conn_set_peer(c, (const struct sockaddr *)&a->ss, a->len);
}

/*
 * The current attempt failed with err: move to the next address, or close
 * the connection with the last error once there is none.  The new socket
 * takes over the connection's fd number with dup3() (os.h: or dup2()), so its entry in the
 * loop's table and its write interest stay as they are; no stale readiness
 * can reach it, since this runs from the fd's own dispatch or from the
 * timer stage, after dispatch.
 */
static void attempt_failed(sb__connect *k, int err)
{
    sb_conn *c = k->c;
    int failed, fd = start_next(k, &err, &failed);

    if (failed >= 0)
        sb__sys_close(failed);
    if (fd < 0) {
        sb__timer_disarm(&k->timer);
        sb__conn_kill(c, err);
        return;
    }
    if (sb__os_dup_cloexec(fd, c->h.fd) < 0) {
        err = -errno;
        sb__sys_close(fd);
        sb__conn_kill(c, err);
        return;
    }
    sb__sys_close(fd);
    /* epoll registered the old socket, not the number: register the new. */
    err = sb__loop_rearm(c->loop, &c->h);
    if (err) {
        sb__conn_kill(c, err);
        return;
    }
    set_peer(c, &k->addrs[k->tried - 1]);
    arm_timeout(k);
}

/* Connected: the connection becomes an ordinary one. */
static void attempt_done(sb__connect *k)
{
    sb_conn *c = k->c;

    record_free(k);
    /* Closed before it opened (close_req): the queued output still goes
     * out, but sb__conn_open() calls no on_open. */
    sb__conn_connected(c);
}

/* Readiness handler while connecting: writable means the connect ended. */
static void connect_ready(sb__handle *h, unsigned events)
{
    sb_conn *c = (sb_conn *)h;
    sb__connect *k;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    (void)events;
    if (c->state == SB__S_DEAD)
        return;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr == EINPROGRESS || soerr == EALREADY || soerr == EINTR)
        return; /* not finished after all: keep waiting */
    k = c->connect;
    if (!k)
        return;
    if (soerr == 0)
        attempt_done(k);
    else
        attempt_failed(k, -soerr);
}

static void connect_timeout(sb_timer *t, void *udata)
{
    sb__connect *k = udata;

    (void)t;
    if (k->c->state == SB__S_DEAD)
        return;
    if (k->lookup) {
        sb__log(k->c->loop, SB_LOG_INFO, "connect: name lookup timed out");
        sb__resolve_cancel(k->lookup);
        k->lookup = NULL;
        sb__conn_kill(k->c, -ETIMEDOUT);
        return;
    }
    attempt_failed(k, -ETIMEDOUT);
}

/*
 * The host name resolved (on a worker): try its addresses.  The first
 * socket takes over the placeholder's fd number, as a fallback does.
 */
static void connect_resolved(sb_resolve *r, int status, const sb__addr *addrs, size_t n,
                             void *udata)
{
    sb__connect *k = udata;
    sb_conn *c = k->c;

    (void)r;
    k->lookup = NULL;
    sb__timer_disarm(&k->timer);
    if (c->state == SB__S_DEAD)
        return;
    if (status) {
        sb__conn_kill(c, status);
        return;
    }
    k->addrs = sb__malloc(n * sizeof(*addrs));
    if (!k->addrs) {
        sb__conn_kill(c, -ENOMEM);
        return;
    }
    memcpy(k->addrs, addrs, n * sizeof(*addrs));
    k->naddrs = n;
    k->tried = 0;
    attempt_failed(k, SB_ERESOLVE);
    if (c->state != SB__S_DEAD)
        sb__loop_interest(c->loop, &c->h, SB_WRITE);
}

/*
 * The connection and its record: for addresses already resolved (tried in
 * order), or (n == 0) for host:serv, to be resolved first.  While it
 * resolves, the connection holds a placeholder socket with no interest, so
 * it has an fd number from the start: the first real socket takes it over
 * with dup3, as any fallback does.  Fails synchronously only when no
 * socket can be opened or memory runs out; every connect outcome, even one
 * known at once, is reported from the loop.
 */
static sb_conn *connect_start(sb_loop *loop, const sb__addr *addrs, size_t n, const char *host,
                              const char *serv, const sb_handler *handler, void *udata,
                              const sb_connect_opts *opts, int *err)
{
    static const sb_connect_opts defaults;
    sb__connect *k = NULL;
    sb_handler *hc = NULL; /* the connection's own copy of the handler */
    sb_conn *c;
    int rc = -ENOMEM, fd = -1, failed = -1, cerr = 0;

    k = sb__calloc(1, sizeof(*k));
    if (!k || (n && !(k->addrs = sb__malloc(n * sizeof(*addrs)))) ||
        !(hc = sb__malloc(sizeof(*hc))))
        goto fail;
    if (n)
        memcpy(k->addrs, addrs, n * sizeof(*addrs));
    k->naddrs = n;
    if (!opts)
        opts = &defaults;
    k->timeout_ms = opts->connect_timeout_ms;
    if (!n) {
        fd = sb__os_socket(AF_INET, SOCK_STREAM, 1);
        if (fd < 0) {
            rc = -errno;
            goto fail;
        }
    } else {
        fd = start_next(k, &rc, &failed);
        if (fd < 0) {
            if (failed < 0)
                goto fail; /* not even a socket: nothing can carry the outcome */
            fd = failed;
            cerr = rc;
        }
    }
    c = sb__conn_new(loop, fd, n ? SB_WRITE : 0, NULL,
                     n ? (const struct sockaddr *)&k->addrs[k->tried - 1].ss : NULL,
                     n ? k->addrs[k->tried - 1].len : 0);
    if (!c) {
        rc = -ENOMEM;
        goto fail;
    }
    c->handler = hc;
    *hc = *handler;
    hc = NULL;
    c->own_handler = 1;
    c->udata = udata;
    sb__conn_apply_opts(c, &opts->conn);
    c->state = SB__S_CONNECTING;
    c->h.ready = connect_ready;
    k->c = c;
    c->connect = k;
    sb__timer_init(&k->timer, loop, connect_timeout, k);
    if (!n) {
        k->lookup = sb__resolve_start(loop, host, serv, connect_resolved, k, &rc);
        if (!k->lookup) {
            sb__conn_kill(c, rc); /* reported from the loop, like any outcome */
            return c;
        }
    }
    if (cerr)
        sb__conn_kill(c, cerr); /* on_close runs from the loop, like any outcome */
    else
        arm_timeout(k);
    return c;
fail:
    if (fd >= 0)
        sb__sys_close(fd);
    if (k)
        free(k->addrs);
    free(k);
    free(hc);
    if (err)
        *err = rc;
    return NULL;
}

sb_conn *sb__connect_addrs(sb_loop *loop, const sb__addr *addrs, size_t n,
                           const sb_handler *handler, void *udata,
                           const sb_connect_opts *opts, int *err)
{
    if (!loop || !addrs || n == 0 || !handler) {
        if (err)
            *err = -EINVAL;
        return NULL;
    }
    return connect_start(loop, addrs, n, NULL, NULL, handler, udata, opts, err);
}

sb_conn *sb_connect(sb_loop *loop, const char *addr, const sb_handler *handler, void *udata,
                    const sb_connect_opts *opts, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    char host[256];
    const char *port;
    sb__addr a;
    int rc;

    if (!loop || !addr || !handler) {
        if (err)
            *err = -EINVAL;
        return NULL;
    }
    if (sb__addr_is_name(addr, host, sizeof(host), &port))
        return connect_start(loop, NULL, 0, host, port, handler, udata, opts, err);
    rc = parse_numeric(addr, &a);
    if (rc) {
        if (err)
            *err = rc;
        return NULL;
    }
    return connect_start(loop, &a, 1, NULL, NULL, handler, udata, opts, err);
}

int sb_conn_connecting(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    /* The record lives from sb_connect to on_open, or to on_close when the
     * connect fails (even one known to fail at once). */
    return c && c->connect ? 1 : 0;
}
