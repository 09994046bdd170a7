/*
 * The poll() backend (POSIX): O(watched fds) per wait instead of select's
 * O(highest fd), and no FD_SETSIZE anywhere.  Only fds with interest are in
 * the pollfd array (poll reports POLLHUP and POLLERR even for events 0, so
 * a paused connection must not be there); an index maps fd -> position.
 * Room for every registered fd is made when it is registered, so changing
 * interest never allocates.  The ready fds are copied out of the array
 * before they are delivered: callbacks may change the array meanwhile.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct pollset {
    struct pollfd *pfd; /* the fds with interest, [0, n) */
    size_t n, cap;
    int *pos;           /* fd -> index in pfd, -1 when not there */
    size_t pos_len;
    size_t nreg;        /* registered fds (cap >= nreg) */
    struct {
        int fd;
        unsigned events;
    } *ready;           /* copied out of pfd after poll() */
    size_t nready;
} pollset;

static int ps_init(sb_loop *loop)
{
    loop->bstate = sb__calloc(1, sizeof(pollset));
    return loop->bstate ? 0 : -ENOMEM;
}

static void ps_free(sb_loop *loop)
{
    pollset *p = loop->bstate;

    if (!p)
        return;
    free(p->pfd);
    free(p->pos);
    free(p->ready);
    free(p);
    loop->bstate = NULL;
}

static short to_poll(unsigned events)
{
    return (short)(((events & SB_READ) ? POLLIN : 0) | ((events & SB_WRITE) ? POLLOUT : 0));
}

static void append(pollset *p, int fd, unsigned events)
{
    p->pos[fd] = (int)p->n;
    p->pfd[p->n].fd = fd;
    p->pfd[p->n].events = to_poll(events);
    p->pfd[p->n].revents = 0;
    p->n++;
}

static void remove_at(pollset *p, int fd)
{
    size_t i = (size_t)p->pos[fd];

    p->pos[fd] = -1;
    if (i != --p->n) {
        p->pfd[i] = p->pfd[p->n];
        p->pos[p->pfd[i].fd] = (int)i;
    }
}

static int ps_add(sb_loop *loop, int fd, unsigned events)
{
    pollset *p = loop->bstate;

    if ((size_t)fd >= p->pos_len) {
        size_t n = p->pos_len ? p->pos_len : 64, i;
        int *np;
        while (n <= (size_t)fd)
            n *= 2;
        np = sb__realloc(p->pos, n * sizeof(*np));
        if (!np)
            return -ENOMEM;
        for (i = p->pos_len; i < n; i++)
            np[i] = -1;
        p->pos = np;
        p->pos_len = n;
    }
    if (p->nreg + 1 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct pollfd *nf = sb__realloc(p->pfd, cap * sizeof(*nf));
        void *nr;
        if (!nf)
            return -ENOMEM;
        p->pfd = nf;
        nr = sb__realloc(p->ready, cap * sizeof(*p->ready));
        if (!nr)
            return -ENOMEM; /* pfd grew: harmless, cap unchanged */
        p->ready = nr;
        p->cap = cap;
    }
    p->nreg++;
    if (events)
        append(p, fd, events);
    return 0;
}

static void ps_set(sb_loop *loop, int fd, unsigned old, unsigned events)
{
    pollset *p = loop->bstate;

    (void)old;
    if (p->pos[fd] < 0) {
        if (events)
            append(p, fd, events); /* room was made at registration */
    } else if (!events) {
        remove_at(p, fd);
    } else {
        p->pfd[p->pos[fd]].events = to_poll(events);
    }
}

static void ps_del(sb_loop *loop, int fd, unsigned old)
{
    pollset *p = loop->bstate;

    (void)old;
    if ((size_t)fd < p->pos_len && p->pos[fd] >= 0)
        remove_at(p, fd);
    if (p->nreg)
        p->nreg--;
}

static int ps_wait(sb_loop *loop, int timeout_ms)
{
    pollset *p = loop->bstate;
    int n = sb__sys_poll(p->pfd, (nfds_t)p->n, timeout_ms), bad = 0;
    size_t i;

    p->nready = 0;
    if (n <= 0)
        return n < 0 ? -errno : 0;
    for (i = 0; i < p->n; i++) {
        short r = p->pfd[i].revents;
        unsigned ev = 0;
        if (!r)
            continue;
        if (r & POLLNVAL)
            bad = 1;
        if (r & (POLLIN | POLLHUP | POLLERR))
            ev |= SB_READ;
        /* As select: an error or hang-up also makes the fd writable (a
         * refused connect shows up there). */
        if (r & (POLLOUT | POLLHUP | POLLERR))
            ev |= SB_WRITE;
        p->ready[p->nready].fd = p->pfd[i].fd;
        p->ready[p->nready].events = ev;
        p->nready++;
    }
    if (bad) {
        p->nready = 0;
        return -EBADF; /* as select(): the loop finds and fails the owners */
    }
    return n;
}

static void ps_dispatch(sb_loop *loop)
{
    pollset *p = loop->bstate;
    size_t i;

    for (i = 0; i < p->nready; i++)
        sb__loop_deliver(loop, p->ready[i].fd, p->ready[i].events);
    p->nready = 0;
}

const sb__backend sb__backend_poll = {
    "poll", ps_init, ps_free, ps_add, ps_set, ps_del, ps_wait, ps_dispatch, sb__loop_find_bad,
};
