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
 * While connecting, a record (sb__connect) holds the addresses left to try
 * and the per-address timer.  Records sit on a per-loop list and are found
 * by connection, O(connects in progress) per lookup.  A record is freed when
 * its connect succeeds or, through a wrapper installed as the connection's
 * on_close, when the connection ends before that (failure, sb_abort, ...).
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
    void (*on_close)(sb_conn *c, int reason, void *udata); /* the application's */
    sb__addr *addrs;     /* every address to try, in order */
    size_t naddrs;
    size_t tried;        /* addresses started so far */
    unsigned timeout_ms; /* per address; 0 = the kernel's own limit */
    sb_timer timer;
    sb__connect *next, *prev;
};

/* A decimal port 0..65535 (what sb__addr_parse accepts). */
static int port_ok(const char *p)
{
    unsigned long v = 0;

    if (!*p)
        return 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return 0;
    }
    return 1;
}

/*
 * Resolve s into the list of addresses to try.  "unix:/path", "[v6]:port"
 * and numeric IPv4 give one address and never touch the resolver (they and
 * every malformed string go through sb__addr_parse, for the same error
 * codes as sb_listen).  A host name gives every getaddrinfo() result, in
 * its order; getaddrinfo() blocks.  "*:port" is no destination.
 * *out is malloc'ed and owned by the caller.  Returns 0, SB_EINVAL_ADDR,
 * SB_EPORT, SB_ERESOLVE, -ENAMETOOLONG or -ENOMEM.
 */
static int resolve(const char *s, sb__addr **out, size_t *n)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    size_t hlen = colon ? (size_t)(colon - s) : 0, i = 0;
    struct addrinfo hints, *res = NULL, *ai;
    struct in_addr v4;
    int name = 0, rc;

    *out = NULL;
    *n = 0;
    if (strncmp(s, "unix:", 5) != 0 && s[0] != '[' && hlen > 0 && hlen < sizeof(host) &&
        !memchr(s, ':', hlen) && port_ok(colon + 1)) {
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        name = strcmp(host, "*") != 0 && inet_pton(AF_INET, host, &v4) != 1;
    }
    if (!name) {
        sb__addr *a = sb__calloc(1, sizeof(*a));
        if (!a)
            return -ENOMEM;
        rc = sb__addr_parse(s, 0, a);
        if (rc == 0 && a->any)
            rc = SB_EINVAL_ADDR;
        if (rc) {
            free(a);
            return rc;
        }
        *out = a;
        *n = 1;
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (sb__sys_getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return SB_ERESOLVE;
    for (ai = res; ai; ai = ai->ai_next)
        i++;
    *out = sb__calloc(i, sizeof(**out));
    if (!*out) {
        freeaddrinfo(res);
        return -ENOMEM;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof((*out)->ss))
            continue;
        memcpy(&(*out)[*n].ss, ai->ai_addr, ai->ai_addrlen);
        (*out)[*n].len = ai->ai_addrlen;
        (*n)++;
    }
    freeaddrinfo(res);
    if (*n == 0) {
        free(*out);
        *out = NULL;
        return SB_ERESOLVE;
    }
    return 0;
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

    fd = sb__sys_socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

static sb__connect *record_find(sb_conn *c)
{
    sb__connect *k;

    for (k = c->loop->connecting; k; k = k->next)
        if (k->c == c)
            return k;
    return NULL;
}

/* Unlink and free a record; the connection's own on_close is put back. */
static void record_free(sb__connect *k)
{
    sb_loop *loop = k->c->loop;

    k->c->handler->on_close = k->on_close;
    sb__timer_disarm(&k->timer);
    if (k->prev)
        k->prev->next = k->next;
    else
        loop->connecting = k->next;
    if (k->next)
        k->next->prev = k->prev;
    free(k->addrs);
    free(k);
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
 * takes over the connection's fd number with dup3(), so its entry in the
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
    if (sb__sys_dup3(fd, c->h.fd, O_CLOEXEC) < 0) {
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
    /* Closed before it opened: the queued output still goes out, but the
     * application said goodbye already, so there is no on_open. */
    if (c->flags & SB__C_CLOSING)
        c->handler->on_open = NULL;
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
    if (c->flags & SB__C_DEAD)
        return;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr == EINPROGRESS || soerr == EALREADY || soerr == EINTR)
        return; /* not finished after all: keep waiting */
    k = record_find(c);
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
    if (!(k->c->flags & SB__C_DEAD))
        attempt_failed(k, -ETIMEDOUT);
}

/* on_close while connecting: drop the record, then tell the application. */
static void connect_closed(sb_conn *c, int reason, void *udata)
{
    sb__connect *k = record_find(c);

    if (k)
        record_free(k); /* restores c->handler->on_close */
    if (c->handler->on_close && c->handler->on_close != connect_closed)
        c->handler->on_close(c, reason, udata);
}

/*
 * sb_connect() on addresses already resolved, tried in order.  Fails
 * synchronously only when no socket can be opened or memory runs out;
 * every connect outcome, even one known at once, is reported from the loop.
 */
sb_conn *sb__connect_addrs(sb_loop *loop, const sb__addr *addrs, size_t n,
                           const sb_handler *handler, void *udata,
                           const sb_connect_opts *opts, int *err)
{
    static const sb_connect_opts defaults;
    sb__connect *k = NULL;
    sb_handler *hc = NULL; /* the connection's own copy of the handler */
    sb_conn *c;
    int rc = -EINVAL, fd = -1, failed = -1, cerr = 0;

    if (!loop || !addrs || n == 0 || !handler)
        goto fail;
    rc = -ENOMEM;
    k = sb__calloc(1, sizeof(*k));
    if (!k || !(k->addrs = sb__malloc(n * sizeof(*addrs))) || !(hc = sb__malloc(sizeof(*hc))))
        goto fail;
    memcpy(k->addrs, addrs, n * sizeof(*addrs));
    k->naddrs = n;
    if (!opts)
        opts = &defaults;
    k->timeout_ms = opts->connect_timeout_ms;
    fd = start_next(k, &rc, &failed);
    if (fd < 0) {
        if (failed < 0)
            goto fail; /* not even a socket: nothing can carry the outcome */
        fd = failed;
        cerr = rc;
    }
    c = sb__conn_new(loop, fd, NULL, (const struct sockaddr *)&k->addrs[k->tried - 1].ss,
                     k->addrs[k->tried - 1].len);
    if (!c) {
        rc = -ENOMEM;
        goto fail;
    }
    c->handler = hc;
    *hc = *handler;
    hc = NULL;
    c->flags |= SB__C_OWN_HANDLER;
    c->udata = udata;
    sb__conn_apply_opts(c, &opts->conn);
    c->flags |= SB__C_CONNECTING;
    c->h.ready = connect_ready;
    sb__loop_interest(loop, &c->h, SB_WRITE);
    k->c = c;
    k->on_close = c->handler->on_close;
    c->handler->on_close = connect_closed;
    sb__timer_init(&k->timer, loop, connect_timeout, k);
    k->next = loop->connecting;
    if (k->next)
        k->next->prev = k;
    loop->connecting = k;
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

sb_conn *sb_connect(sb_loop *loop, const char *addr, const sb_handler *handler, void *udata,
                    const sb_connect_opts *opts, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb__addr *addrs;
    sb_conn *c;
    size_t n;
    int rc;

    if (!loop || !addr || !handler) {
        if (err)
            *err = -EINVAL;
        return NULL;
    }
    rc = resolve(addr, &addrs, &n);
    if (rc) {
        if (err)
            *err = rc;
        return NULL;
    }
    c = sb__connect_addrs(loop, addrs, n, handler, udata, opts, err);
    free(addrs);
    return c;
}

int sb_conn_connecting(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c && (c->flags & SB__C_CONNECTING) ? 1 : 0;
}
