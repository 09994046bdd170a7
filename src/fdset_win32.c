/*
 * The select() backend on Windows (fdset.c is the POSIX one).
 *
 * winsock's fd_set is not a bitset: it is a count and an array of
 * SOCKETs, FD_SETSIZE (64) long as declared, but select() reads as many
 * entries as the count says.  The lists here are structs of that layout,
 * grown to hold every registered fd; each fd's position in them is
 * indexed (rpos/wpos), so removing one moves the last entry into its
 * place.  Each wait copies the master lists into the result lists; the
 * write list is also passed as the except list, because a non-blocking
 * connect that fails is reported there and not as writable.  select()
 * with no socket at all fails on Windows (WSAEINVAL) instead of sleeping,
 * so an empty wait sleeps.  select() hands back SOCKETs; os_win32.c's
 * reverse index turns them back into the library's fds.
 */
#ifdef _WIN32
#include "internal.h"

#undef select
#undef getsockopt /* winsock's, on the SOCKETs select() takes */

struct sb__wset {
    u_int fd_count;
    SOCKET fd_array[1]; /* as long as the set's cap */
};

_Static_assert(offsetof(struct sb__wset, fd_array) == offsetof(fd_set, fd_array),
               "the lists are laid out like winsock's fd_set");

static struct sb__wset *wset_alloc(size_t cap)
{
    struct sb__wset *w = sb__malloc(offsetof(struct sb__wset, fd_array) + cap * sizeof(SOCKET));
    if (w)
        w->fd_count = 0;
    return w;
}

void sb__fdset_init(sb__fdset *s)
{
    memset(s, 0, sizeof(*s));
    s->maxfd = -1;
}

void sb__fdset_free(sb__fdset *s)
{
    free(s->rd);
    free(s->wr);
    free(s->rd_out);
    free(s->wr_out);
    free(s->ex_out);
    free(s->rfd);
    free(s->wfd);
    free(s->rpos);
    free(s->wpos);
    free(s->ev);
    sb__fdset_init(s);
}

/* Lists for cap entries each (the old entries kept). */
static int grow_lists(sb__fdset *s, size_t cap)
{
    struct sb__wset *l[5] = {NULL};
    int *rfd, *wfd, i;

    for (i = 0; i < 5; i++) {
        l[i] = wset_alloc(cap);
        if (!l[i])
            goto fail;
    }
    rfd = sb__malloc(cap * sizeof(int));
    wfd = rfd ? sb__malloc(cap * sizeof(int)) : NULL;
    if (!wfd) {
        free(rfd);
        goto fail;
    }
    if (s->cap) {
        l[0]->fd_count = s->rd->fd_count;
        memcpy(l[0]->fd_array, s->rd->fd_array, s->rd->fd_count * sizeof(SOCKET));
        l[1]->fd_count = s->wr->fd_count;
        memcpy(l[1]->fd_array, s->wr->fd_array, s->wr->fd_count * sizeof(SOCKET));
        /* Results too: growing can happen inside a dispatch pass. */
        l[2]->fd_count = s->rd_out->fd_count;
        memcpy(l[2]->fd_array, s->rd_out->fd_array, s->rd_out->fd_count * sizeof(SOCKET));
        l[3]->fd_count = s->wr_out->fd_count;
        memcpy(l[3]->fd_array, s->wr_out->fd_array, s->wr_out->fd_count * sizeof(SOCKET));
        l[4]->fd_count = s->ex_out->fd_count;
        memcpy(l[4]->fd_array, s->ex_out->fd_array, s->ex_out->fd_count * sizeof(SOCKET));
        memcpy(rfd, s->rfd, s->rd->fd_count * sizeof(int));
        memcpy(wfd, s->wfd, s->wr->fd_count * sizeof(int));
    }
    free(s->rd);
    free(s->wr);
    free(s->rd_out);
    free(s->wr_out);
    free(s->ex_out);
    free(s->rfd);
    free(s->wfd);
    s->rd = l[0];
    s->wr = l[1];
    s->rd_out = l[2];
    s->wr_out = l[3];
    s->ex_out = l[4];
    s->rfd = rfd;
    s->wfd = wfd;
    s->cap = cap;
    return 0;
fail:
    for (i = 0; i < 5; i++)
        free(l[i]);
    return -ENOMEM;
}

/* rpos/wpos/ev to cover fd. */
static int grow_pos(sb__fdset *s, int fd)
{
    size_t n = s->npos ? s->npos : 64, i;
    int *r, *w;
    unsigned char *ev;

    while (n <= (size_t)fd)
        n *= 2;
    r = sb__realloc(s->rpos, n * sizeof(int));
    if (!r)
        return -ENOMEM;
    s->rpos = r;
    w = sb__realloc(s->wpos, n * sizeof(int));
    if (!w)
        return -ENOMEM;
    s->wpos = w;
    ev = sb__realloc(s->ev, n);
    if (!ev)
        return -ENOMEM;
    s->ev = ev;
    for (i = s->npos; i < n; i++) {
        r[i] = w[i] = -1;
        ev[i] = 0;
    }
    s->npos = n;
    return 0;
}

/* Make sure fd can be given interest without allocating. */
int sb__fdset_reserve(sb__fdset *s, int fd)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd >= s->npos && grow_pos(s, fd))
        return -ENOMEM;
    return 0;
}

static void list_add(struct sb__wset *l, int *lfd, int *pos, int fd, SOCKET sock)
{
    if (pos[fd] >= 0)
        return;
    pos[fd] = (int)l->fd_count;
    l->fd_array[l->fd_count] = sock;
    lfd[l->fd_count++] = fd;
}

static void list_del(struct sb__wset *l, int *lfd, int *pos, int fd)
{
    int i = pos[fd];
    u_int last;

    if (i < 0)
        return;
    last = --l->fd_count;
    if ((u_int)i != last) {
        l->fd_array[i] = l->fd_array[last];
        lfd[i] = lfd[last];
        pos[lfd[i]] = i;
    }
    pos[fd] = -1;
}

/*
 * Set fd's interest to events (0 removes).  The lists hold every fd the
 * backend was told to add (nreg), so this allocates only for an fd that
 * was not reserved.  0 or -ENOMEM / -EBADF.
 */
int sb__fdset_set(sb__fdset *s, int fd, unsigned events)
{
    SOCKET sock;

    events &= SB_READ | SB_WRITE;
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd >= s->npos) {
        if (!events)
            return 0;
        if (grow_pos(s, fd))
            return -ENOMEM;
    }
    if (events && s->rpos[fd] < 0 && s->wpos[fd] < 0 && s->cap < s->nreg + 1 &&
        grow_lists(s, (s->nreg + 1) * 2))
        return -ENOMEM;
    sock = sb__w32_sock(fd);
    if (events & SB_READ)
        list_add(s->rd, s->rfd, s->rpos, fd, sock);
    else
        list_del(s->rd, s->rfd, s->rpos, fd);
    if (events & SB_WRITE)
        list_add(s->wr, s->wfd, s->wpos, fd, sock);
    else
        list_del(s->wr, s->wfd, s->wpos, fd);
    if (events && fd > s->maxfd)
        s->maxfd = fd;
    return 0;
}

/*
 * select() on copies of the master lists.  timeout_ms < 0 blocks.  The
 * count of ready entries (0 on timeout) or -errno.
 */
int sb__fdset_wait(sb__fdset *s, int timeout_ms)
{
    struct timeval tv, *tvp = NULL;
    u_int nr = s->rd ? s->rd->fd_count : 0, nw = s->wr ? s->wr->fd_count : 0;
    int n;

    if (s->cap) {
        s->rd_out->fd_count = s->wr_out->fd_count = s->ex_out->fd_count = 0;
    }
    if (nr + nw == 0) {
        /* Nothing to watch: winsock's select() would fail; sleep. */
        Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
        return 0;
    }
    if (timeout_ms >= 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        tvp = &tv;
    }
    s->rd_out->fd_count = nr;
    memcpy(s->rd_out->fd_array, s->rd->fd_array, nr * sizeof(SOCKET));
    s->wr_out->fd_count = nw;
    memcpy(s->wr_out->fd_array, s->wr->fd_array, nw * sizeof(SOCKET));
    s->ex_out->fd_count = nw;
    memcpy(s->ex_out->fd_array, s->wr->fd_array, nw * sizeof(SOCKET));
    /* Through the fault seam (TU_F_SELECT), whose injected failures set
     * errno and leave the winsock error at 0. */
    WSASetLastError(0);
    n = sb__sys_select(0, nr ? (fd_set *)(void *)s->rd_out : NULL,
                       nw ? (fd_set *)(void *)s->wr_out : NULL,
                       nw ? (fd_set *)(void *)s->ex_out : NULL, tvp);
    if (n == SOCKET_ERROR) {
        int e = WSAGetLastError();
        s->rd_out->fd_count = s->wr_out->fd_count = s->ex_out->fd_count = 0;
        if (e == 0)
            return errno ? -errno : -EINVAL;
        return e == WSAENOTSOCK ? -EBADF : e == WSAEINTR ? -EINTR : e == WSAENOBUFS ? -ENOMEM
                                                                                      : -EINVAL;
    }
    return n;
}

/* After -EBADF: the first watched fd >= start that is no socket, or -1. */
int sb__fdset_find_bad(const sb__fdset *s, int start)
{
    size_t fd;

    for (fd = start < 0 ? 0 : (size_t)start; fd < s->npos; fd++) {
        int type, len = sizeof(type);
        SOCKET sock;
        if (s->rpos[fd] < 0 && s->wpos[fd] < 0)
            continue;
        sock = sb__w32_sock((int)fd);
        if (sock == INVALID_SOCKET ||
            (getsockopt(sock, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == SOCKET_ERROR &&
             WSAGetLastError() == WSAENOTSOCK))
            return (int)fd;
    }
    return -1;
}

/* ------------------------------------------------- the select backend */

static int sel_init(sb_loop *loop)
{
    sb__fdset_init(&loop->fds);
    return 0;
}

static void sel_free(sb_loop *loop)
{
    sb__fdset_free(&loop->fds);
}

static int sel_add(sb_loop *loop, int fd, unsigned events)
{
    sb__fdset *s = &loop->fds;

    if (sb__fdset_reserve(s, fd))
        return -ENOMEM;
    if (s->cap < s->nreg + 1 && grow_lists(s, (s->nreg + 1) * 2))
        return -ENOMEM;
    s->nreg++;
    if (sb__fdset_set(s, fd, events)) {
        s->nreg--;
        return -ENOMEM;
    }
    return 0;
}

static void sel_set(sb_loop *loop, int fd, unsigned old, unsigned events)
{
    (void)old;
    (void)sb__fdset_set(&loop->fds, fd, events); /* reserved: cannot fail */
}

static void sel_del(sb_loop *loop, int fd, unsigned old)
{
    (void)old;
    (void)sb__fdset_set(&loop->fds, fd, 0);
    if (loop->fds.nreg)
        loop->fds.nreg--;
}

static int sel_wait(sb_loop *loop, int timeout_ms)
{
    return sb__fdset_wait(&loop->fds, timeout_ms);
}

static void gather(sb__fdset *s, const struct sb__wset *l, unsigned ev, int *list, size_t *n)
{
    u_int i;

    for (i = 0; l && i < l->fd_count; i++) {
        int fd = sb__w32_fd_of(l->fd_array[i]);
        if (fd < 0 || (size_t)fd >= s->npos)
            continue;
        if (!s->ev[fd])
            list[(*n)++] = fd;
        s->ev[fd] |= (unsigned char)ev;
    }
}

/*
 * Deliver select()'s answer: each fd once, with its read and write (or
 * except: a failed connect, for the connection to find in SO_ERROR)
 * readiness together.  The fds are gathered first, since a callback may
 * change the lists.
 */
static void sel_dispatch(sb_loop *loop)
{
    sb__fdset *s = &loop->fds;
    size_t n = 0, i, total;
    int *list;

    if (!s->cap)
        return;
    total = (size_t)s->rd_out->fd_count + s->wr_out->fd_count + s->ex_out->fd_count;
    if (!total)
        return;
    list = sb__malloc(total * sizeof(int));
    if (!list)
        return; /* the same readiness is reported again next time */
    gather(s, s->rd_out, SB_READ, list, &n);
    gather(s, s->wr_out, SB_WRITE, list, &n);
    gather(s, s->ex_out, SB_WRITE, list, &n);
    s->rd_out->fd_count = s->wr_out->fd_count = s->ex_out->fd_count = 0;
    for (i = 0; i < n; i++) {
        unsigned ev = s->ev[list[i]];
        s->ev[list[i]] = 0;
        sb__loop_deliver(loop, list[i], ev);
    }
    free(list);
}

static int sel_find_bad(sb_loop *loop, int start)
{
    return sb__fdset_find_bad(&loop->fds, start);
}

const sb__backend sb__backend_select = {
    "select", sel_init, sel_free, sel_add, sel_set, sel_del, sel_wait, sel_dispatch, sel_find_bad,
};

#else
typedef int sb__fdset_win32_only_on_windows; /* not an empty translation unit */
#endif /* _WIN32 */
