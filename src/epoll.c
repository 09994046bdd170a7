/*
 * The epoll backend (Linux): O(ready fds) per wait, so idle connections
 * cost nothing.  Level-triggered, like select and poll.  One epoll fd per
 * loop (close-on-exec).  Differences the rest of the library handles:
 *   - an fd closed behind the loop's back leaves the set silently (no
 *     EBADF, ever): its owner is not told until it next uses the fd;
 *   - epoll refuses regular files (EPERM): sb_io_new fails on them;
 *   - a registration belongs to the file description, so after dup3()
 *     puts another socket on a watched number (connect.c's address
 *     fallback), the loop registers it again (sb__loop_rearm).
 * Elsewhere (no SB__HAVE_EPOLL in os.h: off Linux, and in the PORTABLE
 * build) it is absent: choosing it fails with -ENOSYS.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#ifdef SB__HAVE_EPOLL
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EP_BATCH 1024 /* events taken per epoll_wait at most */

typedef struct epset {
    int epfd; /* made with the first registration, as the spare fd is */
    int n; /* events from the last wait */
    struct epoll_event ev[EP_BATCH];
} epset;

static int ep_init(sb_loop *loop)
{
    epset *e = sb__malloc(sizeof(*e));

    if (!e)
        return -ENOMEM;
    e->epfd = -1; /* made with the first registration, as the spare fd is */
    e->n = 0;
    loop->bstate = e;
    return 0;
}

static void ep_free(sb_loop *loop)
{
    epset *e = loop->bstate;

    if (!e)
        return;
    if (e->epfd >= 0)
        sb__sys_close(e->epfd);
    free(e);
    loop->bstate = NULL;
}

static uint32_t to_epoll(unsigned events)
{
    return ((events & SB_READ) ? (uint32_t)EPOLLIN : 0u) |
           ((events & SB_WRITE) ? (uint32_t)EPOLLOUT : 0u);
}

/*
 * An fd is in the epoll set only while it has interest: epoll reports
 * EPOLLHUP and EPOLLERR even for events 0, so a paused connection whose
 * peer reset (or a connect's placeholder socket) would wake every wait.
 */
static int ep_ctl(epset *e, int op, int fd, unsigned events)
{
    struct epoll_event ev;

    ev.events = to_epoll(events);
    ev.data.u64 = 0;
    ev.data.fd = fd;
    if (epoll_ctl(e->epfd, op, fd, &ev) == 0)
        return 0;
    return errno == ENOSPC ? -ENOMEM : -errno;
}

static int ep_add(sb_loop *loop, int fd, unsigned events)
{
    epset *e = loop->bstate;

    if (e->epfd < 0 && (e->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        e->epfd = -1;
        return -errno;
    }
    return events ? ep_ctl(e, EPOLL_CTL_ADD, fd, events) : 0;
}

static void ep_set(sb_loop *loop, int fd, unsigned old, unsigned events)
{
    epset *e = loop->bstate;
    int rc;

    if (!events) {
        (void)ep_ctl(e, EPOLL_CTL_DEL, fd, 0); /* gone already: fine */
        return;
    }
    /* MOD fails only for an fd closed behind our back: nothing to tell. */
    if (old) {
        (void)ep_ctl(e, EPOLL_CTL_MOD, fd, events);
        return;
    }
    rc = ep_ctl(e, EPOLL_CTL_ADD, fd, events);
    if (rc && rc != -EBADF)
        sb__log(loop, SB_LOG_ERROR, "epoll_ctl(ADD, fd %d): %s: the fd is not watched", fd,
                sb_strerror(rc));
}

static void ep_del(sb_loop *loop, int fd, unsigned old)
{
    epset *e = loop->bstate;

    if (old)
        (void)ep_ctl(e, EPOLL_CTL_DEL, fd, 0); /* gone already: fine */
}

static int ep_wait(sb_loop *loop, int timeout_ms)
{
    epset *e = loop->bstate;
    int n;

    if (e->epfd < 0) /* nothing was ever watched: just wait */
        return sb__sys_poll(NULL, 0, timeout_ms) < 0 ? -errno : 0;
    n = sb__sys_epoll_wait(e->epfd, e->ev, EP_BATCH, timeout_ms);

    e->n = n > 0 ? n : 0;
    return n < 0 ? -errno : n;
}

static void ep_dispatch(sb_loop *loop)
{
    epset *e = loop->bstate;
    int i;

    for (i = 0; i < e->n; i++) {
        uint32_t r = e->ev[i].events;
        unsigned ev = 0;
        if (r & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
            ev |= SB_READ;
        if (r & (EPOLLOUT | EPOLLHUP | EPOLLERR)) /* as select: errors are writable too */
            ev |= SB_WRITE;
        sb__loop_deliver(loop, e->ev[i].data.fd, ev);
    }
    e->n = 0;
}

const sb__backend sb__backend_epoll = {
    "epoll", ep_init, ep_free, ep_add, ep_set, ep_del, ep_wait, ep_dispatch, sb__loop_find_bad,
};

#else /* no epoll here */

static int ep_none(sb_loop *loop)
{
    (void)loop;
    return -ENOSYS;
}

static void ep_void(sb_loop *loop)
{
    (void)loop;
}

const sb__backend sb__backend_epoll = {"epoll", ep_none, ep_void, NULL, NULL, NULL, NULL, NULL,
                                       NULL};
#endif
