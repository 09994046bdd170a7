/*
 * The loop object and its iteration:
 *
 *   0. send output queued outside the loop, finish closes requested there
 *   1. compute the select() timeout from the earliest timer
 *   2. select() on copies of the master bitsets (EINTR: just iterate again)
 *   3. dispatch the ready fds (accept, recv -> on_data, writable -> flush)
 *   4. run due timers (idle timeouts, user timers)
 *   5. send what this iteration queued: one send per connection
 *   6. finish deferred closes: release fds and memory, call on_close once
 *
 * Raw fd watchers (sb_io) live here too: they are the thinnest handle.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const sb__backend *sb__backend_find(const char *name)
{
    static const sb__backend *const all[] = {&sb__backend_select, &sb__backend_poll,
                                             &sb__backend_epoll};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

sb_loop *sb_loop_new(void)
{
    return sb_loop_new_opts(NULL, NULL);
}

sb_loop *sb_loop_new_opts(const sb_loop_opts *opts, int *err)
{
    const char *name = opts && opts->backend ? opts->backend : getenv("SB_BACKEND");
    const sb__backend *b = sb__backend_find(name && *name ? name : "select");
    sb_loop *loop;
    int rc;

    if (!b) {
        rc = -EINVAL;
        goto fail;
    }
    loop = sb__calloc(1, sizeof(*loop));
    if (!loop) {
        rc = -ENOMEM;
        goto fail;
    }
    loop->backend = b;
    rc = sb__os_loop_init(); /* Windows: WSAStartup, counted (os.h) */
    if (rc) {
        free(loop);
        goto fail;
    }
    rc = b->init(loop);
    if (rc) {
        sb__os_loop_fini();
        free(loop);
        goto fail;
    }
    loop->clock = sb__clock_real;
    loop->spare_fd = -1;
    loop->sig_rd = loop->sig_wr = -1;
    loop->wake_rd = loop->wake_wr = -1;
    loop->rbuf = sb__malloc(SB__READ_CHUNK);
    if (!loop->rbuf) {
        b->free(loop);
        sb__os_loop_fini();
        free(loop);
        rc = -ENOMEM;
        goto fail;
    }
    loop->now = loop->clock(NULL);
    sb__timer_init(&loop->reclaim, loop, sb__conn_reclaim, loop);
    SB__BIRTH(loop, magic, SB__K_LOOP);
#ifdef SB_DEBUG
    sb__debug_loop_alive(loop, 1);
#endif
    return loop;
fail:
    if (err)
        *err = rc;
    return NULL;
}

const char *sb_loop_backend(const sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    return loop ? loop->backend->name : NULL;
}

size_t sb_loop_handles(const sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    return loop ? loop->nhandles : 0;
}

uint64_t sb__clock_now(sb_loop *loop)
{
    uint64_t now = loop->clock(loop->clock_udata);

    return now > loop->now ? now : loop->now;
}

uint64_t sb_loop_now(const sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    return loop->now;
}

void sb_loop_set_clock(sb_loop *loop, sb_clock_fn fn, void *udata)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    loop->clock = fn ? fn : sb__clock_real;
    loop->clock_udata = fn ? udata : NULL;
    loop->now = loop->clock(loop->clock_udata);
}

void sb_loop_set_log(sb_loop *loop, sb_log_fn fn, int max_level, void *udata)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    loop->log = fn;
    loop->log_level = max_level;
    loop->log_udata = udata;
}

void sb__log(sb_loop *loop, int level, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (!loop->log || level > loop->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    loop->log(level, msg, loop->log_udata);
}

void sb_loop_get_stats(const sb_loop *loop, sb_loop_stats *out)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    *out = loop->stats;
}

void sb_loop_stop(sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    loop->stop = 1;
}

void sb_loop_walk(sb_loop *loop, void (*fn)(sb_conn *c, void *udata), void *udata)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_conn *c, *next;

    /* Closes are deferred, so the list cannot lose members under us. */
    for (c = loop->conns; c; c = next) {
        next = c->next;
        if (c->state != SB__S_DEAD)
            fn(c, udata);
    }
}

static void close_one(sb_conn *c, void *udata)
{
    (void)udata;
    sb_close(c);
}

void sb_loop_walk_handles(sb_loop *loop, sb_handle_fn fn, void *udata)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_listener *l, *lnext;
    sb_conn *c, *cnext;
    sb__utimer *t, *tnext;
    sb_signal *s, *snext;
    sb_udp *u, *unext;
    sb_async *a, *anext;
    size_t fd;

    if (!loop || !fn)
        return;
    /* Each list is read one step ahead: fn may not free, but be safe. */
    for (l = loop->listeners; l; l = lnext) {
        lnext = l->next;
        fn(SB_HANDLE_LISTENER, l->h.fd, l, udata);
    }
    for (c = loop->conns; c; c = cnext) {
        cnext = c->next;
        fn(SB_HANDLE_CONN, c->fd_gone ? -1 : c->h.fd, c, udata);
    }
    for (u = loop->udps; u; u = unext) {
        unext = sb__udp_next(u);
        fn(SB_HANDLE_UDP, ((sb__handle *)u)->fd, u, udata); /* -1 once its fd is gone */
    }
    for (fd = 0; fd < loop->table_len; fd++) {
        sb__handle *h = loop->table[fd];
        if (h && h->type == SB__H_IO)
            fn(SB_HANDLE_IO, (int)fd, h, udata);
    }
    for (s = loop->signals; s; s = snext) {
        snext = sb__signal_next(s);
        fn(SB_HANDLE_SIGNAL, -1, s, udata);
    }
    for (t = loop->utimers; t; t = tnext) {
        tnext = t->next;
        fn(SB_HANDLE_TIMER, -1, &t->t, udata);
    }
    for (a = loop->asyncs; a; a = anext) {
        anext = sb__async_next(a);
        if (!a->internal)
            fn(SB_HANDLE_ASYNC, -1, a, udata);
    }
}

const char *sb_handle_kind_name(int kind)
{
    static const char *const names[] = {"?", "listener", "connection", "udp endpoint",
                                        "io watcher", "signal watcher", "timer", "async"};
    return kind >= SB_HANDLE_LISTENER && kind <= SB_HANDLE_ASYNC ? names[kind] : names[0];
}

void sb_loop_close_all(sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_loop_walk(loop, close_one, NULL);
}

/* ------------------------------------------------------------ fd table */

/*
 * Put h in the fd table with interest `events`.  The handle's epoch is the
 * current iteration, so a select() result computed before now is never
 * delivered to it.  Returns 0, -EEXIST, or -ENOMEM.
 */
int sb__loop_register(sb_loop *loop, sb__handle *h, int fd, unsigned events)
{
    int rc;

    if (fd < 0)
        return -EBADF;
    if ((size_t)fd >= loop->table_len) {
        size_t n = loop->table_len ? loop->table_len : 64;
        sb__handle **t;
        while (n <= (size_t)fd)
            n *= 2;
        t = sb__realloc(loop->table, n * sizeof(*t));
        if (!t)
            return -ENOMEM;
        memset(t + loop->table_len, 0, (n - loop->table_len) * sizeof(*t));
        loop->table = t;
        loop->table_len = n;
    }
    if (loop->table[fd]) {
        sb__handle *old = loop->table[fd];
        /* The same open fd given twice to sb_io_new: refused.  But a socket
         * the kernel just made cannot share its number with an open one:
         * the old owner's fd was closed behind the loop's back (which epoll
         * never reports, and select misses when the number is reused
         * before the next wait).  Fail the old owner, keep the new. */
        if (h->type == SB__H_IO)
            return -EEXIST;
        sb__log(loop, SB_LOG_ERROR,
                "fd %d was closed behind the loop's back (its number is reused); failing its "
                "owner",
                fd);
        old->badfd(old);
        if (loop->table[fd] == old) { /* an io watcher its callback kept */
            sb__loop_unregister(loop, old);
            old->fd = -1; /* its later calls must not touch the new fd */
        }
    }
    events &= SB_READ | SB_WRITE;
    rc = loop->backend->add(loop, fd, events);
    if (rc)
        return rc;
    h->fd = fd;
    h->interest = (uint16_t)events;
    h->epoch = loop->iter;
    loop->table[fd] = h;
    if (events && loop->watch)
        loop->watch(fd, events, loop->watch_udata);
    return 0;
}

/* Remove h from the table and the sets.  Its fd is not touched. */
void sb__loop_unregister(sb_loop *loop, sb__handle *h)
{
    if (h->fd >= 0 && (size_t)h->fd < loop->table_len && loop->table[h->fd] == h) {
        loop->table[h->fd] = NULL;
        loop->backend->del(loop, h->fd, h->interest);
        if (h->interest && loop->watch)
            loop->watch(h->fd, 0, loop->watch_udata);
        h->interest = 0;
    }
}

int sb__loop_rearm(sb_loop *loop, sb__handle *h)
{
    loop->backend->del(loop, h->fd, h->interest);
    /* A host that registers files (epoll-like) must register the new one. */
    if (h->interest && loop->watch) {
        loop->watch(h->fd, 0, loop->watch_udata);
        loop->watch(h->fd, h->interest, loop->watch_udata);
    }
    return loop->backend->add(loop, h->fd, h->interest);
}

int sb__loop_find_bad(sb_loop *loop, int start)
{
    size_t fd;

    for (fd = start < 0 ? 0 : (size_t)start; fd < loop->table_len; fd++) {
        sb__handle *h = loop->table[fd];
        if (h && h->interest && fcntl((int)fd, F_GETFD) < 0 && errno == EBADF)
            return (int)fd;
    }
    return -1;
}

/* The debug-mode kind of a handle that is freed through the deferred list. */
static int deferred_kind(const sb__handle *h)
{
    switch (h->type) {
    case SB__H_LISTENER:
        return SB__K_LISTENER;
    case SB__H_IO:
        return SB__K_IO;
    case SB__H_ASYNC:
        return SB__K_ASYNC;
    case SB__H_RESOLVE:
        return SB__K_RESOLVE;
    default:
        return SB__K_UDP;
    }
}

/* Free h's memory at the end of the iteration (it may be on the stack of a
 * dispatch that still reads it). */
void sb__loop_defer_free(sb_loop *loop, sb__handle *h)
{
#ifdef SB_DEBUG
    /* Dead from now on: a second free or a later use is caught at once. */
    h->magic = SB__DEAD(deferred_kind(h));
#endif
    h->free_next = loop->free_head;
    loop->free_head = h;
}

static void free_deferred(sb_loop *loop)
{
    while (loop->free_head) {
        sb__handle *h = loop->free_head;
        loop->free_head = h->free_next;
        (void)deferred_kind;
        sb__retire(h, &h->magic, deferred_kind(h), loop);
    }
}

/* ---------------------------------------------------------- iteration */

/* Is there anything that could produce an event? */
static int loop_alive(const sb_loop *loop)
{
    return loop->conns || loop->nlisteners || loop->user_timers || loop->io_active ||
           loop->flush_head || loop->close_head || loop->nudp || loop->nasync_alive ||
           loop->nresolving;
}

static void handle_badfd(sb_loop *loop)
{
    int fd = -1;

    /* Fail only the owners of fds that are closed behind the loop's back. */
    while ((fd = loop->backend->find_bad(loop, fd + 1)) >= 0) {
        sb__handle *h = (size_t)fd < loop->table_len ? loop->table[fd] : NULL;
        sb__log(loop, SB_LOG_ERROR, "fd %d was closed behind the loop's back; failing its owner",
                fd);
        if (h)
            h->badfd(h);
        else
            loop->backend->del(loop, fd, SB_READ | SB_WRITE);
    }
}

static int update_time(sb_loop *loop)
{
    uint64_t t = loop->clock(loop->clock_udata);
    /* Monotonic by contract; a fake clock going back is ignored. */
    if (t > loop->now)
        loop->now = t;
    return 0;
}

/*
 * Where an iteration's readiness comes from: the backend's wait (NULL), or
 * the host (sb_loop_dispatch: an array, or select()'s fd_sets).
 */
typedef struct sb__source {
    const sb_ready *ready;
    size_t n;
    const fd_set *rd, *wr;
    int maxfd;
} sb__source;

/* The host says fd is closed: fail its owner if it really is. */
static void host_badfd(sb_loop *loop, int fd)
{
    sb__handle *h = (size_t)fd < loop->table_len ? loop->table[fd] : NULL;

    if (!h || !h->interest || h->epoch == loop->iter || fcntl(fd, F_GETFD) >= 0 ||
        errno != EBADF)
        return;
    sb__log(loop, SB_LOG_ERROR, "fd %d was closed behind the loop's back; failing its owner",
            fd);
    h->badfd(h);
}

static void host_deliver(sb_loop *loop, const sb__source *src)
{
    size_t i;
    int fd, top;

    for (i = 0; i < src->n; i++) {
        if (src->ready[i].fd < 0)
            continue;
        if (src->ready[i].events & SB_ERROR)
            host_badfd(loop, src->ready[i].fd);
        else
            sb__loop_deliver(loop, src->ready[i].fd, src->ready[i].events);
    }
    if (!src->rd && !src->wr)
        return;
    top = src->maxfd < FD_SETSIZE ? src->maxfd : FD_SETSIZE - 1;
    if ((size_t)top >= loop->table_len)
        top = (int)loop->table_len - 1;
    for (fd = 0; fd <= top; fd++) {
        unsigned ev = 0;
        if (!loop->table[fd] || !loop->table[fd]->interest)
            continue;
        if (src->rd && FD_ISSET(fd, src->rd))
            ev |= SB_READ;
        if (src->wr && FD_ISSET(fd, src->wr))
            ev |= SB_WRITE;
        if (ev)
            sb__loop_deliver(loop, fd, ev);
    }
}

/* How long the next wait may last given the timers and pending work (ms,
 * -1 = no limit); now is the clock's reading. */
static int next_timeout(const sb_loop *loop, uint64_t now, int timeout)
{
    int64_t delay;

    if (loop->flush_head || loop->close_head || loop->pending_head)
        return 0;
    if (sb__timers_next(loop, &delay)) {
        delay -= (int64_t)(now - loop->now); /* delay is from loop->now */
        if (delay > INT32_MAX)
            delay = INT32_MAX;
        if (delay < 0)
            delay = 0;
        if (timeout < 0 || delay < timeout)
            timeout = (int)delay;
    }
    return timeout;
}

/* Something done: readiness delivered, a timer fired, output sent, a close. */
static uint64_t work_mark(const sb_loop *loop)
{
    return loop->work + loop->stats.timers_fired + loop->stats.bytes_out +
           loop->stats.closes + loop->stats.accepted;
}

/* One iteration: the six stages (docs/design.md). */
static int loop_iteration(sb_loop *loop, int timeout_ms, const sb__source *src)
{
    uint64_t mark = work_mark(loop);
    int n = 0, timeout;

    /* 0: what was queued or closed outside callbacks. */
    sb__conn_flush_all(loop);
    sb__conn_close_pending(loop);
    free_deferred(loop);

    /* 1: timeout */
    update_time(loop);
    timeout = next_timeout(loop, loop->now, timeout_ms);
    /* Nothing that could ever wake a blocking wait. */
    if (!loop_alive(loop))
        timeout = 0;

    /* 2: wait (unless the host has done it) */
    loop->iter++;
    loop->stats.iterations++;
    if (!src) {
        n = loop->backend->wait(loop, timeout);
        update_time(loop);
    }

    /* 3: dispatch (first, input left buffered by the previous pass) */
    sb__conn_process_pending(loop);
    if (src) {
        host_deliver(loop, src);
    } else if (n > 0) {
        loop->backend->dispatch(loop);
    } else if (n == -EBADF) {
        handle_badfd(loop);
    } else if (n < 0 && n != -EINTR) {
        sb__log(loop, SB_LOG_ERROR, "%s: %s", loop->backend->name, sb_strerror(n));
        return n;
    }

    /* 4: timers, 5: output, 6: closes */
    sb__timers_run(loop);
    sb__conn_flush_all(loop);
    sb__conn_close_pending(loop);
    free_deferred(loop);
    return (loop_alive(loop) ? SB_RUN_ALIVE : 0) | (work_mark(loop) != mark ? SB_RUN_WORKED : 0);
}

static int run_iteration(sb_loop *loop, int timeout_ms, const sb__source *src)
{
    int n;

    if (!loop)
        return -EINVAL;
    if (loop->running)
        return SB_ENESTED;
    loop->running = 1;
    n = loop_iteration(loop, timeout_ms, src);
    loop->running = 0;
    return n;
}

int sb_loop_run_once(sb_loop *loop, int timeout_ms)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    return run_iteration(loop, timeout_ms, NULL);
}

/* ----------------------------------------------------------- embedding */

int sb_loop_set_watch(sb_loop *loop, sb_watch_fn fn, void *udata)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    size_t fd;

    if (!loop)
        return -EINVAL;
    loop->watch = fn;
    loop->watch_udata = fn ? udata : NULL;
    if (!fn)
        return 0;
    for (fd = 0; fd < loop->table_len; fd++) {
        sb__handle *h = loop->table[fd];
        if (h && h->interest)
            fn((int)fd, h->interest, udata);
    }
    return 0;
}

int sb_loop_timeout(const sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    uint64_t now;

    if (!loop)
        return -1;
    now = loop->clock(loop->clock_udata);
    return next_timeout(loop, now > loop->now ? now : loop->now, -1);
}

int sb_loop_dispatch(sb_loop *loop, const sb_ready *ready, size_t n)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb__source src = {ready, n, NULL, NULL, -1};

    if (!ready && n)
        return -EINVAL;
    return run_iteration(loop, 0, &src);
}

int sb_loop_dispatch_fdset(sb_loop *loop, const fd_set *rd, const fd_set *wr, int maxfd)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb__source src = {NULL, 0, rd, wr, maxfd};

#ifdef _WIN32
    /* winsock's fd_set lists SOCKETs, not these numbers (docs/api.md). */
    (void)src;
    return -ENOSYS;
#endif
    return run_iteration(loop, 0, &src);
}

int sb_loop_fdset(const sb_loop *loop, fd_set *rd, fd_set *wr, int *maxfd)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    size_t fd, top = 0;
    int count = 0;

    if (!loop)
        return -EINVAL;
#ifdef _WIN32
    return -ENOSYS; /* as sb_loop_dispatch_fdset */
#endif
    /* The highest watched fd first: nothing is added when it cannot fit. */
    for (fd = loop->table_len; fd-- > 0;)
        if (loop->table[fd] && loop->table[fd]->interest) {
            top = fd + 1;
            break;
        }
    if (top > FD_SETSIZE)
        return SB_EFDSET;
    for (fd = 0; fd < top; fd++) {
        sb__handle *h = loop->table[fd];
        int added = 0;
        if (!h || !h->interest)
            continue;
        if (rd && (h->interest & SB_READ)) {
            FD_SET((int)fd, rd);
            added = 1;
        }
        if (wr && (h->interest & SB_WRITE)) {
            FD_SET((int)fd, wr);
            added = 1;
        }
        if (!added)
            continue;
        if (maxfd && (int)fd > *maxfd)
            *maxfd = (int)fd;
        count++;
    }
    return count;
}

int sb_loop_run(sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    int rc = 0;

    if (!loop)
        return -EINVAL;
    if (loop->running)
        return SB_ENESTED;
    /* A stop requested before run() makes it return at once. */
    while (!loop->stop) {
        rc = sb_loop_run_once(loop, -1);
        if (rc < 0 || !(rc & SB_RUN_ALIVE))
            break;
    }
    loop->stop = 0;
    return rc < 0 ? rc : 0;
}

int sb_loop_free(sb_loop *loop)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    if (!loop)
        return 0;
    if (loop->running)
        return SB_ENESTED;
    if (loop->nhandles || loop->conns || loop->close_head)
        return SB_EBUSY;
    sb__resolver_free(loop);
    free_deferred(loop);
    sb__timer_disarm(&loop->reclaim);
    sb__conn_pool_free(loop);
    sb__signal_loop_free(loop);
    sb__wake_close(loop);
    if (loop->spare_fd >= 0)
        sb__sys_close(loop->spare_fd);
    loop->backend->free(loop);
    free(loop->table);
    free(loop->timers.a);
    free(loop->rbuf);
    sb__os_loop_fini();
#ifdef SB_DEBUG
    sb__debug_loop_alive(loop, 0);
#endif
    sb__retire(loop, &loop->magic, SB__K_LOOP, NULL);
    return 0;
}

/* Reserve an fd for the EMFILE accept-and-close trick (once per loop). */
int sb__spare_fd_open(sb_loop *loop)
{
#ifdef _WIN32
    /* No descriptor limit to shed load at: no spare (docs/design.md). */
    (void)loop;
    return -1;
#endif
    if (loop->spare_fd < 0)
        loop->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return loop->spare_fd;
}

/* ----------------------------------------------------- raw fd watchers */

static void io_ready(sb__handle *h, unsigned events)
{
    sb_io *io = (sb_io *)h;

    io->cb(io, io->sock, events, io->udata);
}

static void io_badfd(sb__handle *h)
{
    sb_io *io = (sb_io *)h;

    sb_io_set(io, 0);
    /* The socket the caller gave, also when it is closed (Windows: its
     * number has no SOCKET any more). */
    io->cb(io, io->sock, SB_ERROR, io->udata);
}

sb_io *sb_io_new(sb_loop *loop, sb_socket_t sock, sb_io_cb cb, void *udata, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_io *io;
    int rc, fd;

    if (!loop || !cb) {
        rc = -EINVAL;
        goto fail;
    }
    /* Windows: a number for the caller's SOCKET (-ENOTSOCK for anything
     * else, which winsock's select() cannot watch); POSIX: the fd. */
    fd = sb__os_adopt(sock);
    if (fd < 0) {
        rc = fd == -1 ? -EINVAL : fd;
        goto fail;
    }
    io = sb__calloc(1, sizeof(*io));
    if (!io) {
        sb__os_unadopt(fd);
        rc = -ENOMEM;
        goto fail;
    }
    SB__BIRTH(io, h.magic, SB__K_IO);
    io->h.type = SB__H_IO;
    io->h.ready = io_ready;
    io->h.badfd = io_badfd;
    io->loop = loop;
    io->sock = sock;
    io->cb = cb;
    io->udata = udata;
    rc = sb__loop_register(loop, &io->h, fd, 0);
    if (rc) {
        sb__os_unadopt(fd);
        free(io);
        goto fail;
    }
    loop->nhandles++;
    return io;
fail:
    if (err)
        *err = rc;
    return NULL;
}

void sb_io_set(sb_io *io, unsigned events)
{
    SB__CHECK(io, h.magic, SB__K_IO);
    events &= SB_READ | SB_WRITE;
    if (!io || io->h.fd < 0)
        return;
    if (events && !io->interest)
        io->loop->io_active++;
    else if (!events && io->interest)
        io->loop->io_active--;
    io->interest = events;
    sb__loop_interest(io->loop, &io->h, events);
}

void sb_io_free(sb_io *io)
{
    SB__CHECK(io, h.magic, SB__K_IO);
    if (!io)
        return;
    sb_io_set(io, 0);
    sb__loop_unregister(io->loop, &io->h);
    sb__os_unadopt(io->h.fd);
    io->h.fd = -1;
    io->loop->nhandles--;
    sb__loop_defer_free(io->loop, &io->h);
}
