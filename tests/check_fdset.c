/* sb__fdset: the select() backend with bitsets sized past FD_SETSIZE.
 * (sb_io watchers on such fds, through the loop, are in check_loop.c.) */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

/* A first free fd number >= target that stays free (nothing is opened at
 * such high numbers by the kernel's lowest-free allocation). */
static int free_fd_number(int target)
{
    int n;

    for (n = target; tu_fd_is_open(n); n++)
        ;
    return n;
}

static int bit_is_set(const sb__fdword *set, int fd)
{
    return (set[(size_t)fd / SB__WORD_BITS] >> ((unsigned)fd % SB__WORD_BITS)) & SB__FDWORD_ONE;
}

/*
 * In the first `words` words of set, exactly the fds listed are set.
 * `what` names the set in the failure message.
 */
static void expect_bits(const sb__fdword *set, size_t words, const int *fds, int nfds,
                        const char *what)
{
    size_t w;
    int i;

    for (i = 0; i < nfds; i++) {
        ck_assert_uint_lt((size_t)fds[i] / SB__WORD_BITS, words);
        ck_assert_msg(bit_is_set(set, fds[i]), "%s: fd %d is not set", what, fds[i]);
    }
    for (w = 0; w < words; w++) {
        sb__fdword bits = set[w];
        for (i = 0; i < nfds; i++)
            if ((size_t)fds[i] / SB__WORD_BITS == w)
                bits &= ~(SB__FDWORD_ONE << ((unsigned)fds[i] % SB__WORD_BITS));
        ck_assert_msg(bits == 0, "%s: unexpected fd %d set", what,
                      bits ? (int)(w * SB__WORD_BITS) + SB__FDWORD_CTZ(bits) : -1);
    }
}

/* Words the kernel looked at in the last wait. */
static size_t used_words(const sb__fdset *s)
{
    return s->maxfd < 0 ? 0 : (size_t)s->maxfd / SB__WORD_BITS + 1;
}

/* ------------------------------------------------------- pure bitsets */

START_TEST(test_fdset_init_empty)
{
    sb__fdset s;

    sb__fdset_init(&s);
    ck_assert_int_eq(s.maxfd, -1);
    ck_assert_uint_eq(s.nwords, 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 0), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 63), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5000), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, -1), 0);
    ck_assert_int_eq(sb__fdset_find_bad(&s, 0), -1);
    sb__fdset_free(&s);
    ck_assert_ptr_null(s.rd);
    ck_assert_int_eq(s.maxfd, -1);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_set_get)
{
    sb__fdset s;

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_set(&s, 5, SB_READ), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, 4), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 6), 0);
    ck_assert_int_eq(s.maxfd, 5);
    ck_assert_uint_gt(s.nwords, 0);

    /* Setting replaces the interest, it does not add to it. */
    ck_assert_int_eq(sb__fdset_set(&s, 5, SB_WRITE), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5), SB_WRITE);
    ck_assert_int_eq(sb__fdset_set(&s, 5, SB_READ | SB_WRITE), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5), SB_READ | SB_WRITE);
    ck_assert_int_eq(sb__fdset_set(&s, 5, SB_READ), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5), SB_READ);
    ck_assert_int_eq(s.maxfd, 5);

    /* Bit 0 and the top bit of a word. */
    ck_assert_int_eq(sb__fdset_set(&s, 0, SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_set(&s, SB__WORD_BITS - 1, SB_READ | SB_WRITE), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 0), SB_WRITE);
    ck_assert_uint_eq(sb__fdset_get(&s, SB__WORD_BITS - 1), SB_READ | SB_WRITE);
    ck_assert_uint_eq(sb__fdset_get(&s, SB__WORD_BITS), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5), SB_READ);
    ck_assert_int_eq(s.maxfd, SB__WORD_BITS - 1);

    /* Bits other than READ/WRITE do not leak into the sets. */
    ck_assert_int_eq(sb__fdset_set(&s, 7, SB_READ | SB_ERROR), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 7), SB_READ);

    /* Removal. */
    ck_assert_int_eq(sb__fdset_set(&s, 5, 0), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 5), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 0), SB_WRITE);
    ck_assert_uint_eq(sb__fdset_get(&s, 7), SB_READ);
    ck_assert_int_eq(sb__fdset_set(&s, 5, 0), 0); /* twice: harmless */
    ck_assert_uint_eq(sb__fdset_get(&s, 5), 0);
    ck_assert_int_eq(s.maxfd, SB__WORD_BITS - 1);
    ck_assert_int_eq(sb__fdset_set(&s, 0, 0), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 7, 0), 0);
    ck_assert_int_eq(sb__fdset_set(&s, SB__WORD_BITS - 1, 0), 0);
    ck_assert_int_eq(s.maxfd, -1);
    ck_assert_uint_eq(sb__fdset_get(&s, SB__WORD_BITS - 1), 0);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_bad_args)
{
    sb__fdset s;

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_set(&s, -1, SB_READ), -EBADF);
    ck_assert_int_eq(sb__fdset_set(&s, -1000, 0), -EBADF);
    ck_assert_int_eq(sb__fdset_reserve(&s, -1), -EBADF);
    ck_assert_int_eq(s.maxfd, -1);
    ck_assert_uint_eq(s.nwords, 0);

    /* Removing an fd the sets never covered: nothing to do, no growth. */
    ck_assert_int_eq(sb__fdset_set(&s, 5000, 0), 0);
    ck_assert_uint_eq(s.nwords, 0);
    ck_assert_ptr_null(s.rd);
    ck_assert_int_eq(sb__fdset_set(&s, 10, SB_READ), 0);
    {
        size_t nwords = s.nwords;
        ck_assert_int_eq(sb__fdset_set(&s, 100000, 0), 0);
        ck_assert_uint_eq(s.nwords, nwords);
    }
    ck_assert_int_eq(s.maxfd, 10);
    ck_assert_uint_eq(sb__fdset_get(&s, 10), SB_READ);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_maxfd_tracking)
{
    sb__fdset s;

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_set(&s, 3, SB_READ), 0);
    ck_assert_int_eq(s.maxfd, 3);
    ck_assert_int_eq(sb__fdset_set(&s, 10, SB_WRITE), 0);
    ck_assert_int_eq(s.maxfd, 10);
    ck_assert_int_eq(sb__fdset_set(&s, 7, SB_READ), 0);
    ck_assert_int_eq(s.maxfd, 10);

    /* Changing the highest fd's interest keeps it the highest. */
    ck_assert_int_eq(sb__fdset_set(&s, 10, SB_READ), 0);
    ck_assert_int_eq(s.maxfd, 10);
    /* Removing a lower one changes nothing. */
    ck_assert_int_eq(sb__fdset_set(&s, 7, 0), 0);
    ck_assert_int_eq(s.maxfd, 10);
    /* Removing the highest drops to the next highest. */
    ck_assert_int_eq(sb__fdset_set(&s, 7, SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 10, 0), 0);
    ck_assert_int_eq(s.maxfd, 7);
    ck_assert_int_eq(sb__fdset_set(&s, 7, 0), 0);
    ck_assert_int_eq(s.maxfd, 3);
    ck_assert_int_eq(sb__fdset_set(&s, 3, 0), 0);
    ck_assert_int_eq(s.maxfd, -1);
    /* Removing from an empty set keeps -1. */
    ck_assert_int_eq(sb__fdset_set(&s, 3, 0), 0);
    ck_assert_int_eq(s.maxfd, -1);
    /* fd 0 alone. */
    ck_assert_int_eq(sb__fdset_set(&s, 0, SB_READ), 0);
    ck_assert_int_eq(s.maxfd, 0);
    ck_assert_int_eq(sb__fdset_set(&s, 0, 0), 0);
    ck_assert_int_eq(s.maxfd, -1);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_maxfd_scan_words)
{
    static const int fds[] = {0, 1, 63, 64, 65, 127, 128, 1000, 1023,
                              1024, 1025, 4095, 4096, 4097, 9000};
    const int n = (int)(sizeof(fds) / sizeof(fds[0]));
    sb__fdset s;
    int i;

    sb__fdset_init(&s);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(sb__fdset_set(&s, fds[i], (i % 3 == 0) ? SB_WRITE : SB_READ), 0);
    ck_assert_int_eq(s.maxfd, 9000);
    /* Remove from the top: each time the next highest, even many words
     * below. */
    for (i = n - 1; i > 0; i--) {
        ck_assert_int_eq(sb__fdset_set(&s, fds[i], 0), 0);
        ck_assert_msg(s.maxfd == fds[i - 1], "after removing %d: maxfd %d, expected %d",
                      fds[i], s.maxfd, fds[i - 1]);
    }
    ck_assert_int_eq(sb__fdset_set(&s, 0, 0), 0);
    ck_assert_int_eq(s.maxfd, -1);

    /* Only a low fd and a far high one: the scan crosses many empty words. */
    ck_assert_int_eq(sb__fdset_set(&s, 2, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 8191, SB_WRITE), 0);
    ck_assert_int_eq(s.maxfd, 8191);
    ck_assert_int_eq(sb__fdset_set(&s, 8191, 0), 0);
    ck_assert_int_eq(s.maxfd, 2);
    sb__fdset_free(&s);
}
END_TEST

/* Random set/remove against a reference array. */
START_TEST(test_fdset_random_model)
{
    enum { NFD = 6000, OPS = 20000 };
    unsigned char *ref = calloc(NFD, 1);
    uint32_t rng = 777;
    sb__fdset s;
    int i, fd;

    ck_assert_ptr_nonnull(ref);
    sb__fdset_init(&s);
    for (i = 0; i < OPS; i++) {
        unsigned ev;
        int expect_max = -1;

        /* Mostly low fds, sometimes high ones; removals half the time so
         * the highest fd is removed often. */
        fd = (int)(tu_rand(&rng) % ((tu_rand(&rng) & 7) ? 300 : NFD));
        ev = (tu_rand(&rng) & 1) ? 0 : tu_rand(&rng) % 4;
        ck_assert_int_eq(sb__fdset_set(&s, fd, ev), 0);
        ref[fd] = (unsigned char)ev;
        ck_assert_uint_eq(sb__fdset_get(&s, fd), ev);
        for (fd = NFD - 1; fd >= 0; fd--)
            if (ref[fd]) {
                expect_max = fd;
                break;
            }
        ck_assert_int_eq(s.maxfd, expect_max);
        if (i % 500 == 0)
            for (fd = 0; fd < NFD; fd++)
                ck_assert_uint_eq(sb__fdset_get(&s, fd), ref[fd]);
    }
    for (fd = 0; fd < NFD; fd++)
        ck_assert_uint_eq(sb__fdset_get(&s, fd), ref[fd]);
    free(ref);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_high_fds)
{
    sb__fdset s;
    sb__fdword *rd;

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_set(&s, 3, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 70, SB_WRITE), 0);

    /* Above FD_SETSIZE. */
    ck_assert_int_eq(sb__fdset_set(&s, 1025, SB_READ), 0);
    ck_assert_uint_gt(s.nwords * SB__WORD_BITS, 1025);
    ck_assert_int_eq(s.maxfd, 1025);
    ck_assert_uint_eq(sb__fdset_get(&s, 1025), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, 1024), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 1026), 0);

    /* Above 4096: the sets grow again, earlier interest survives. */
    ck_assert_int_eq(sb__fdset_set(&s, 4097, SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 1500, SB_READ | SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 70000, SB_READ), 0);
    ck_assert_uint_gt(s.nwords * SB__WORD_BITS, 70000);
    ck_assert_int_eq(s.maxfd, 70000);
    ck_assert_uint_eq(sb__fdset_get(&s, 3), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, 70), SB_WRITE);
    ck_assert_uint_eq(sb__fdset_get(&s, 1025), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, 1500), SB_READ | SB_WRITE);
    ck_assert_uint_eq(sb__fdset_get(&s, 4097), SB_WRITE);
    ck_assert_uint_eq(sb__fdset_get(&s, 4096), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 4098), 0);
    ck_assert_uint_eq(sb__fdset_get(&s, 70000), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, 69999), 0);

    /* The raw bits are where select() expects them: the platform's own
     * FD_ISSET finds them (below FD_SETSIZE, where it may look). */
    rd = s.rd;
    ck_assert(FD_ISSET(3, (fd_set *)(void *)s.rd));
    ck_assert(!FD_ISSET(70, (fd_set *)(void *)s.rd));
    ck_assert(FD_ISSET(70, (fd_set *)(void *)s.wr));
    ck_assert(!FD_ISSET(71, (fd_set *)(void *)s.wr));
    ck_assert(bit_is_set(rd, 1025));
    ck_assert(bit_is_set(rd, 70000));
    ck_assert(!bit_is_set(rd, 4097));
    ck_assert(bit_is_set(s.wr, 4097));
    {
        int only_rd[] = {3, 1025, 1500, 70000};
        int only_wr[] = {70, 1500, 4097};
        expect_bits(s.rd, s.nwords, only_rd, 4, "rd");
        expect_bits(s.wr, s.nwords, only_wr, 3, "wr");
    }

    ck_assert_int_eq(sb__fdset_set(&s, 70000, 0), 0);
    ck_assert_int_eq(s.maxfd, 4097);
    ck_assert_int_eq(sb__fdset_set(&s, 4097, 0), 0);
    ck_assert_int_eq(s.maxfd, 1500);
    ck_assert_int_eq(sb__fdset_set(&s, 1500, 0), 0);
    ck_assert_int_eq(s.maxfd, 1025);
    ck_assert_int_eq(sb__fdset_set(&s, 1025, 0), 0);
    ck_assert_int_eq(s.maxfd, 70);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_reserve)
{
    sb__fdset s;
    sb__fdword *rd;
    size_t nwords;

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_reserve(&s, 3000), 0);
    ck_assert_uint_gt(s.nwords * SB__WORD_BITS, 3000);
    ck_assert_int_eq(s.maxfd, -1);
    ck_assert_uint_eq(sb__fdset_get(&s, 3000), 0);
    /* Reserved: setting the interest needs no reallocation. */
    rd = s.rd;
    nwords = s.nwords;
    ck_assert_int_eq(sb__fdset_set(&s, 3000, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 17, SB_WRITE), 0);
    ck_assert_ptr_eq(s.rd, rd);
    ck_assert_uint_eq(s.nwords, nwords);
    ck_assert_int_eq(s.maxfd, 3000);
    /* A reserve below the current size is a no-op. */
    ck_assert_int_eq(sb__fdset_reserve(&s, 5), 0);
    ck_assert_ptr_eq(s.rd, rd);
    /* Growing by reserve keeps the interest. */
    ck_assert_int_eq(sb__fdset_reserve(&s, 20000), 0);
    ck_assert_uint_gt(s.nwords * SB__WORD_BITS, 20000);
    ck_assert_uint_eq(sb__fdset_get(&s, 3000), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, 17), SB_WRITE);
    ck_assert_int_eq(s.maxfd, 3000);
    sb__fdset_free(&s);
}
END_TEST

/* Below FD_SETSIZE the layout is exactly glibc's fd_set. */
START_TEST(test_fdset_layout_is_fd_set)
{
    static const int rfds[] = {0, 3, 64, 100, 1023};
    static const int wfds[] = {1, 64, 511, 1000};
    sb__fdset s;
    int i, fd;

    sb__fdset_init(&s);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(sb__fdset_set(&s, rfds[i], SB_READ), 0);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(sb__fdset_set(&s, wfds[i], sb__fdset_get(&s, wfds[i]) | SB_WRITE),
                         0);
    ck_assert_uint_ge(s.nwords * sizeof(sb__fdword), sizeof(fd_set));
    for (fd = 0; fd < FD_SETSIZE; fd++) {
        ck_assert_int_eq(FD_ISSET(fd, (fd_set *)(void *)s.rd) != 0,
                         (sb__fdset_get(&s, fd) & SB_READ) != 0);
        ck_assert_int_eq(FD_ISSET(fd, (fd_set *)(void *)s.wr) != 0,
                         (sb__fdset_get(&s, fd) & SB_WRITE) != 0);
    }
    ck_assert(FD_ISSET(1023, (fd_set *)(void *)s.rd));
    ck_assert(FD_ISSET(64, (fd_set *)(void *)s.rd));
    ck_assert(FD_ISSET(64, (fd_set *)(void *)s.wr));
    ck_assert(!FD_ISSET(2, (fd_set *)(void *)s.rd));
    sb__fdset_free(&s);
}
END_TEST

/* --------------------------------------------------------- select() */

START_TEST(test_fdset_wait_nothing)
{
    sb__fdset s;

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 0);
    /* Interest removed again: the sets exist but nothing is watched. */
    ck_assert_int_eq(sb__fdset_set(&s, 40, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, 40, 0), 0);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 0);
    sb__fdset_free(&s);
}
END_TEST

START_TEST(test_fdset_wait_high_read)
{
    int p[2], q[2], z[2], rp, rq, n;
    char c;
    sb__fdset s;

    if (!tu_ensure_fd_limit(3100, "test_fdset_wait_high_read"))
        return;
    tu_make_pipe(p);
    tu_make_pipe(q);
    tu_make_pipe(z);
    rp = tu_move_fd_high(p[0], 3000);
    ck_assert_msg(rp >= 3000, "cannot dup2 a pipe to fd 3000: %s", strerror(errno));
    rq = tu_move_fd_high(q[0], 1500);
    ck_assert_msg(rq >= 1500, "cannot dup2 a pipe to fd 1500: %s", strerror(errno));

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_set(&s, rp, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, rq, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, z[0], SB_READ), 0);
    ck_assert_int_eq(s.maxfd, rp);

    /* Nothing ready yet. */
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 0);
    expect_bits(s.rd_out, used_words(&s), NULL, 0, "rd_out (idle)");
    expect_bits(s.wr_out, used_words(&s), NULL, 0, "wr_out (idle)");

    /* One byte in the pipe at the highest fd: exactly that fd readable. */
    tu_write_byte(p[1], 'x');
    n = sb__fdset_wait(&s, 5000);
    ck_assert_int_eq(n, 1);
    {
        int want[] = {rp};
        expect_bits(s.rd_out, used_words(&s), want, 1, "rd_out");
    }
    expect_bits(s.wr_out, used_words(&s), NULL, 0, "wr_out");
    /* The master sets are untouched by select(). */
    ck_assert_uint_eq(sb__fdset_get(&s, rp), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, rq), SB_READ);
    ck_assert_uint_eq(sb__fdset_get(&s, z[0]), SB_READ);

    /* Now the one in the middle as well. */
    tu_write_byte(q[1], 'y');
    n = sb__fdset_wait(&s, 5000);
    ck_assert_int_eq(n, 2);
    {
        int want[] = {rq, rp};
        expect_bits(s.rd_out, used_words(&s), want, 2, "rd_out (two)");
    }

    /* Drained: nothing again. */
    ck_assert_int_eq(read(rp, &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    ck_assert_int_eq(read(rq, &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 0);
    expect_bits(s.rd_out, used_words(&s), NULL, 0, "rd_out (drained)");

    /* Ready but without interest: not reported. */
    tu_write_byte(p[1], 'x');
    ck_assert_int_eq(sb__fdset_set(&s, rp, 0), 0);
    ck_assert_int_eq(s.maxfd, rq);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 0);
    expect_bits(s.rd_out, used_words(&s), NULL, 0, "rd_out (no interest)");

    sb__fdset_free(&s);
    tu_close_fd(rp);
    tu_close_fd(p[1]);
    tu_close_fd(rq);
    tu_close_fd(q[1]);
    tu_close_fd(z[0]);
    tu_close_fd(z[1]);
}
END_TEST

START_TEST(test_fdset_wait_high_write)
{
    int p[2], q[2], wp, rq, n;
    sb__fdset s;

    if (!tu_ensure_fd_limit(3100, "test_fdset_wait_high_write"))
        return;
    tu_make_pipe(p);
    tu_make_pipe(q);
    wp = tu_move_fd_high(p[1], 3000);
    ck_assert_msg(wp >= 3000, "cannot dup2 a pipe to fd 3000: %s", strerror(errno));
    rq = tu_move_fd_high(q[0], 1500);
    ck_assert_msg(rq >= 1500, "cannot dup2 a pipe to fd 1500: %s", strerror(errno));

    sb__fdset_init(&s);
    /* The write end of an empty pipe is writable, never readable; the read
     * end of an empty pipe is neither. */
    ck_assert_int_eq(sb__fdset_set(&s, wp, SB_READ | SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_set(&s, rq, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, p[0], SB_READ), 0);
    n = sb__fdset_wait(&s, 5000);
    ck_assert_int_eq(n, 1);
    {
        int want[] = {wp};
        expect_bits(s.wr_out, used_words(&s), want, 1, "wr_out");
    }
    expect_bits(s.rd_out, used_words(&s), NULL, 0, "rd_out");

    sb__fdset_free(&s);
    tu_close_fd(p[0]);
    tu_close_fd(wp);
    tu_close_fd(rq);
    tu_close_fd(q[1]);
}
END_TEST

START_TEST(test_fdset_find_bad)
{
    int p[2], hp, bad1, bad2, unwatched;
    sb__fdset s;

    if (!tu_ensure_fd_limit(1600, "test_fdset_find_bad"))
        return;
    tu_make_pipe(p);
    hp = tu_move_fd_high(p[0], 1500);
    ck_assert_msg(hp >= 1500, "cannot dup2 a pipe to fd 1500: %s", strerror(errno));
    /* Closed numbers below hp: select() checks every number below nfds
     * against the open fds (the fd table reaches past hp, since hp is open). */
    bad1 = free_fd_number(1200);
    unwatched = free_fd_number(bad1 + 1);
    bad2 = free_fd_number(unwatched + 1);
    ck_assert_int_lt(bad2, hp);
    ck_assert(!tu_fd_is_open(bad1));
    ck_assert(!tu_fd_is_open(bad2));

    sb__fdset_init(&s);
    ck_assert_int_eq(sb__fdset_set(&s, p[1], SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_set(&s, hp, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_find_bad(&s, 0), -1);
    ck_assert_int_eq(sb__fdset_find_bad(&s, -5), -1);

    /* Closed fd numbers with interest are found, in order; unwatched ones
     * are not. */
    ck_assert_int_eq(sb__fdset_set(&s, bad1, SB_READ), 0);
    ck_assert_int_eq(sb__fdset_set(&s, bad2, SB_WRITE), 0);
    ck_assert_int_eq(sb__fdset_find_bad(&s, 0), bad1);
    ck_assert_int_eq(sb__fdset_find_bad(&s, -1), bad1);
    ck_assert_int_eq(sb__fdset_find_bad(&s, bad1), bad1);
    ck_assert_int_eq(sb__fdset_find_bad(&s, bad1 + 1), bad2);
    ck_assert_int_eq(sb__fdset_find_bad(&s, bad2), bad2);
    ck_assert_int_eq(sb__fdset_find_bad(&s, bad2 + 1), -1);

    /* select() refuses the set, and the result sets are cleared. */
    ck_assert_int_eq(sb__fdset_wait(&s, 0), -EBADF);
    expect_bits(s.rd_out, used_words(&s), NULL, 0, "rd_out (EBADF)");
    expect_bits(s.wr_out, used_words(&s), NULL, 0, "wr_out (EBADF)");

    /* A watched fd closed behind our back. */
    ck_assert_int_eq(sb__fdset_set(&s, bad1, 0), 0);
    ck_assert_int_eq(sb__fdset_set(&s, bad2, 0), 0);
    ck_assert_int_eq(sb__fdset_find_bad(&s, 0), -1);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 1); /* p[1] writable */
    tu_close_fd(hp);
    ck_assert_int_eq(sb__fdset_find_bad(&s, 0), hp);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), -EBADF);

    sb__fdset_free(&s);
    tu_close_fd(p[1]);
}
END_TEST

Suite *sb_fdset_suite(void)
{
    Suite *s = suite_create("fdset");
    TCase *bits = tcase_create("bits");
    TCase *sel = tcase_create("select");

    tcase_set_timeout(bits, 60);
    tcase_add_test(bits, test_fdset_init_empty);
    tcase_add_test(bits, test_fdset_set_get);
    tcase_add_test(bits, test_fdset_bad_args);
    tcase_add_test(bits, test_fdset_maxfd_tracking);
    tcase_add_test(bits, test_fdset_maxfd_scan_words);
    tcase_add_test(bits, test_fdset_random_model);
    tcase_add_test(bits, test_fdset_high_fds);
    tcase_add_test(bits, test_fdset_reserve);
    tcase_add_test(bits, test_fdset_layout_is_fd_set);
    suite_add_tcase(s, bits);

    tcase_set_timeout(sel, 30);
    tcase_add_test(sel, test_fdset_wait_nothing);
    tcase_add_test(sel, test_fdset_wait_high_read);
    tcase_add_test(sel, test_fdset_wait_high_write);
    tcase_add_test(sel, test_fdset_find_bad);
    suite_add_tcase(s, sel);
    return s;
}
