/*
 * The select() backend: the only caller of select().
 *
 * glibc's fd_set holds FD_SETSIZE (1024) bits and its fortified FD_SET /
 * FD_ISSET abort on larger fds.  The kernel accepts any nfds as long as the
 * bitmaps are that long (macOS only with _DARWIN_UNLIMITED_SELECT, set
 * here and in os.h), so the sets here are plain arrays of the platform's
 * fd_set words (sb__fdword, os.h: 64 bits on glibc and musl, 32 on macOS,
 * OpenBSD and NetBSD), grown to cover the highest fd, in the same bit
 * layout as fd_set (bit fd % BITS of word fd / BITS).  The result is
 * scanned a word at a time.
 */
#if defined(__APPLE__) && !defined(_DARWIN_UNLIMITED_SELECT)
#define _DARWIN_UNLIMITED_SELECT 1
#endif
#ifndef _WIN32 /* Windows: fdset_win32.c */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

/* The words are the platform's own (os.h); under PORTABLE on little-endian
 * Linux, 32-bit halves of them, which are the same bytes. */
#ifdef NFDBITS
_Static_assert(NFDBITS % SB__WORD_BITS == 0, "fd_set words are whole sb__fdwords");
#endif
_Static_assert(sizeof(SB__FD_MASK) % sizeof(sb__fdword) == 0, "fd_mask is whole sb__fdwords");
#ifndef SB_PORTABLE
_Static_assert(sizeof(SB__FD_MASK) == sizeof(sb__fdword), "sb__fdword is the platform's fd_mask");
#endif
/* Words copied per wait are rounded up to whole fd_masks, which is what
 * the kernel reads and writes back. */
#define MASK_WORDS (sizeof(SB__FD_MASK) / sizeof(sb__fdword))

void sb__fdset_init(sb__fdset *s)
{
    memset(s, 0, sizeof(*s));
    s->maxfd = -1;
}

void sb__fdset_free(sb__fdset *s)
{
    free(s->rd);
    sb__fdset_init(s);
}

/* Grow all four sets to hold fd.  One allocation carries the four. */
static int fdset_grow(sb__fdset *s, int fd)
{
    size_t words = (size_t)fd / SB__WORD_BITS + 1, n = s->nwords ? s->nwords : 16;
    sb__fdword *p;

    while (n < words)
        n *= 2;
    p = sb__calloc(4 * n, sizeof(sb__fdword));
    if (!p)
        return -ENOMEM;
    if (s->nwords) {
        /* The results too: growing can happen inside a dispatch pass. */
        memcpy(p, s->rd, s->nwords * sizeof(sb__fdword));
        memcpy(p + n, s->wr, s->nwords * sizeof(sb__fdword));
        memcpy(p + 2 * n, s->rd_out, s->nwords * sizeof(sb__fdword));
        memcpy(p + 3 * n, s->wr_out, s->nwords * sizeof(sb__fdword));
        free(s->rd);
    }
    s->rd = p;
    s->wr = p + n;
    s->rd_out = p + 2 * n;
    s->wr_out = p + 3 * n;
    s->nwords = n;
    return 0;
}

/* Make sure the sets cover fd, so setting its interest later cannot fail. */
int sb__fdset_reserve(sb__fdset *s, int fd)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd / SB__WORD_BITS >= s->nwords)
        return fdset_grow(s, fd);
    return 0;
}

/*
 * Set fd's interest to events (SB_READ | SB_WRITE, 0 to remove).
 * Returns 0 or -ENOMEM.  O(1), except O(maxfd / BITS) when the highest fd
 * loses its interest.
 */
int sb__fdset_set(sb__fdset *s, int fd, unsigned events)
{
    size_t w = (size_t)fd / SB__WORD_BITS;
    sb__fdword m = SB__FDWORD_ONE << ((unsigned)fd % SB__WORD_BITS);

    events &= SB_READ | SB_WRITE;
    if (fd < 0)
        return -EBADF;
    if (w >= s->nwords) {
        if (!events)
            return 0;
        if (fdset_grow(s, fd))
            return -ENOMEM;
    }
    s->rd[w] = (events & SB_READ) ? (s->rd[w] | m) : (s->rd[w] & ~m);
    s->wr[w] = (events & SB_WRITE) ? (s->wr[w] | m) : (s->wr[w] & ~m);
    if (events && fd > s->maxfd) {
        s->maxfd = fd;
    } else if (!events && fd == s->maxfd) {
        /* Find the new highest fd, scanning words downwards. */
        size_t i = w + 1;
        s->maxfd = -1;
        while (i-- > 0) {
            sb__fdword bits = s->rd[i] | s->wr[i];
            if (bits) {
                s->maxfd = (int)(i * SB__WORD_BITS) + SB__WORD_BITS - 1 -
                           SB__FDWORD_CLZ(bits);
                break;
            }
        }
    }
    return 0;
}

/*
 * Copy the master sets into the result sets and select() on them.
 * timeout_ms < 0 blocks.  Returns select()'s count (0 on timeout) with the
 * result in rd_out / wr_out, or -errno (EINTR included; the caller decides).
 * With nothing watched it simply sleeps for the timeout.
 */
int sb__fdset_wait(sb__fdset *s, int timeout_ms)
{
    struct timeval tv, *tvp = NULL;
    int nfds = s->maxfd + 1, n;
    size_t words = nfds ? ((size_t)nfds + SB__WORD_BITS - 1) / SB__WORD_BITS : 0;

    words = (words + MASK_WORDS - 1) / MASK_WORDS * MASK_WORDS; /* nwords is a multiple */
    fd_set *r = NULL, *w = NULL;

    if (timeout_ms >= 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        tvp = &tv;
    }
    if (words) {
        memcpy(s->rd_out, s->rd, words * sizeof(sb__fdword));
        memcpy(s->wr_out, s->wr, words * sizeof(sb__fdword));
        r = (fd_set *)(void *)s->rd_out;
        w = (fd_set *)(void *)s->wr_out;
    }
    n = sb__sys_select(nfds, r, w, NULL, tvp);
    if (n < 0) {
        int e = errno;
        if (words) {
            memset(s->rd_out, 0, words * sizeof(sb__fdword));
            memset(s->wr_out, 0, words * sizeof(sb__fdword));
        }
        return -e;
    }
    return n;
}

/*
 * After select() failed with EBADF: the first watched fd >= start that is
 * not open, or -1.  O(maxfd) fcntl() calls, on an error path only.
 */
int sb__fdset_find_bad(const sb__fdset *s, int start)
{
    int fd;

    for (fd = start < 0 ? 0 : start; fd <= s->maxfd; fd++)
        if (sb__fdset_get(s, fd) && fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            return fd;
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
    return sb__fdset_reserve(&loop->fds, fd) || sb__fdset_set(&loop->fds, fd, events) ? -ENOMEM
                                                                                        : 0;
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
}

static int sel_wait(sb_loop *loop, int timeout_ms)
{
    return sb__fdset_wait(&loop->fds, timeout_ms);
}

/* Deliver select()'s result, scanning it a word at a time. */
static void sel_dispatch(sb_loop *loop)
{
    sb__fdset *s = &loop->fds;
    size_t nwords = s->maxfd < 0 ? 0 : (size_t)s->maxfd / SB__WORD_BITS + 1, w;

    /* s->nwords is re-read: a callback may grow the sets. */
    for (w = 0; w < nwords && w < s->nwords; w++) {
        sb__fdword r = s->rd_out[w], wr = s->wr_out[w], bits = r | wr;
        while (bits) {
            int b = SB__FDWORD_CTZ(bits);
            sb__fdword m = SB__FDWORD_ONE << b;

            bits &= ~m;
            sb__loop_deliver(loop, (int)w * SB__WORD_BITS + b,
                             ((r & m) ? SB_READ : 0u) | ((wr & m) ? SB_WRITE : 0u));
        }
    }
}

static int sel_find_bad(sb_loop *loop, int start)
{
    return sb__fdset_find_bad(&loop->fds, start);
}

const sb__backend sb__backend_select = {
    "select", sel_init, sel_free, sel_add, sel_set, sel_del, sel_wait, sel_dispatch, sel_find_bad,
};

#else
typedef int sb__fdset_not_on_windows; /* not an empty translation unit */
#endif /* !_WIN32 */
