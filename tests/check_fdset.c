/* sb__fdset: the select() backend with bitsets sized past FD_SETSIZE, and
 * sb_io watchers on fds above FD_SETSIZE through the loop. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/*
 * Make sure fd numbers up to `highest` can be created: raise the soft
 * RLIMIT_NOFILE (never above the hard limit).  Returns 1 when possible,
 * else 0 after printing why.
 */
static int ensure_fd_limit(int highest, const char *test)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)highest + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "%s: SKIPPED: getrlimit(RLIMIT_NOFILE): %s\n", test,
                strerror(errno));
        return 0;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return 1;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= (rlim_t)highest) {
        fprintf(stderr,
                "%s: SKIPPED: needs fd %d but the RLIMIT_NOFILE hard limit is %llu\n",
                test, highest, (unsigned long long)rl.rlim_max);
        return 0;
    }
    rl.rlim_cur = (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "%s: SKIPPED: setrlimit(RLIMIT_NOFILE, %llu): %s\n", test,
                (unsigned long long)rl.rlim_cur, strerror(errno));
        return 0;
    }
    return 1;
}

/*
 * Move fd to the first free fd number >= target (close-on-exec kept).
 * Returns the new fd (fd itself is closed), or -1 with fd left untouched.
 * The caller has made sure the limit allows it (ensure_fd_limit).
 */
static int move_fd_high(int fd, int target)
{
    int n;

    for (n = target; n < target + 64; n++) {
        if (fd_is_open(n))
            continue;
        if (dup3(fd, n, O_CLOEXEC) != n)
            return -1;
        ck_assert_int_eq(close(fd), 0);
        return n;
    }
    return -1;
}

/* A first free fd number >= target that stays free (nothing is opened at
 * such high numbers by the kernel's lowest-free allocation). */
static int free_fd_number(int target)
{
    int n;

    for (n = target; fd_is_open(n); n++)
        ;
    return n;
}

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

static void close_fd(int fd)
{
    if (fd >= 0)
        ck_assert_int_eq(close(fd), 0);
}

static void write_byte(int fd, char c)
{
    ck_assert_int_eq(write(fd, &c, 1), 1);
}

static int bit_is_set(const unsigned long *set, int fd)
{
    return (set[(size_t)fd / SB__WORD_BITS] >> ((unsigned)fd % SB__WORD_BITS)) & 1UL;
}

/*
 * In the first `words` words of set, exactly the fds listed are set.
 * `what` names the set in the failure message.
 */
static void expect_bits(const unsigned long *set, size_t words, const int *fds, int nfds,
                        const char *what)
{
    size_t w;
    int i;

    for (i = 0; i < nfds; i++) {
        ck_assert_uint_lt((size_t)fds[i] / SB__WORD_BITS, words);
        ck_assert_msg(bit_is_set(set, fds[i]), "%s: fd %d is not set", what, fds[i]);
    }
    for (w = 0; w < words; w++) {
        unsigned long bits = set[w];
        for (i = 0; i < nfds; i++)
            if ((size_t)fds[i] / SB__WORD_BITS == w)
                bits &= ~(1UL << ((unsigned)fds[i] % SB__WORD_BITS));
        ck_assert_msg(bits == 0, "%s: unexpected fd %d set", what,
                      bits ? (int)(w * SB__WORD_BITS) + __builtin_ctzl(bits) : -1);
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
    unsigned long *rd;

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

    /* The raw bits are where select() expects them. */
    rd = s.rd;
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
    unsigned long *rd;
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
    ck_assert_uint_ge(s.nwords * sizeof(unsigned long), sizeof(fd_set));
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

    if (!ensure_fd_limit(3100, "test_fdset_wait_high_read"))
        return;
    make_pipe(p);
    make_pipe(q);
    make_pipe(z);
    rp = move_fd_high(p[0], 3000);
    ck_assert_msg(rp >= 3000, "cannot dup2 a pipe to fd 3000: %s", strerror(errno));
    rq = move_fd_high(q[0], 1500);
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
    write_byte(p[1], 'x');
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
    write_byte(q[1], 'y');
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
    write_byte(p[1], 'x');
    ck_assert_int_eq(sb__fdset_set(&s, rp, 0), 0);
    ck_assert_int_eq(s.maxfd, rq);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), 0);
    expect_bits(s.rd_out, used_words(&s), NULL, 0, "rd_out (no interest)");

    sb__fdset_free(&s);
    close_fd(rp);
    close_fd(p[1]);
    close_fd(rq);
    close_fd(q[1]);
    close_fd(z[0]);
    close_fd(z[1]);
}
END_TEST

START_TEST(test_fdset_wait_high_write)
{
    int p[2], q[2], wp, rq, n;
    sb__fdset s;

    if (!ensure_fd_limit(3100, "test_fdset_wait_high_write"))
        return;
    make_pipe(p);
    make_pipe(q);
    wp = move_fd_high(p[1], 3000);
    ck_assert_msg(wp >= 3000, "cannot dup2 a pipe to fd 3000: %s", strerror(errno));
    rq = move_fd_high(q[0], 1500);
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
    close_fd(p[0]);
    close_fd(wp);
    close_fd(rq);
    close_fd(q[1]);
}
END_TEST

START_TEST(test_fdset_find_bad)
{
    int p[2], hp, bad1, bad2, unwatched;
    sb__fdset s;

    if (!ensure_fd_limit(1600, "test_fdset_find_bad"))
        return;
    make_pipe(p);
    hp = move_fd_high(p[0], 1500);
    ck_assert_msg(hp >= 1500, "cannot dup2 a pipe to fd 1500: %s", strerror(errno));
    /* Closed numbers below hp: select() checks every number below nfds
     * against the open fds (the fd table reaches past hp, since hp is open). */
    bad1 = free_fd_number(1200);
    unwatched = free_fd_number(bad1 + 1);
    bad2 = free_fd_number(unwatched + 1);
    ck_assert_int_lt(bad2, hp);
    ck_assert(!fd_is_open(bad1));
    ck_assert(!fd_is_open(bad2));

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
    close_fd(hp);
    ck_assert_int_eq(sb__fdset_find_bad(&s, 0), hp);
    ck_assert_int_eq(sb__fdset_wait(&s, 0), -EBADF);

    sb__fdset_free(&s);
    close_fd(p[1]);
}
END_TEST

/* ------------------------------------------------- sb_io through the loop */

typedef struct io_state {
    sb_io *io;
    int calls;
    int last_fd;
    unsigned last_events;
    unsigned all_events;
    int drain;      /* read what is there */
    int free_in_cb; /* sb_io_free on SB_ERROR */
} io_state;

static void io_cb(sb_io *io, int fd, unsigned events, void *udata)
{
    io_state *st = udata;

    ck_assert_ptr_eq(io, st->io);
    st->calls++;
    st->last_fd = fd;
    st->last_events = events;
    st->all_events |= events;
    if ((events & SB_READ) && st->drain) {
        char buf[64];
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    }
    if ((events & SB_ERROR) && st->free_in_cb) {
        sb_io_free(io);
        st->io = NULL;
    }
}

typedef struct log_state {
    int errors;
    char last[256];
} log_state;

static void log_cb(int level, const char *msg, void *udata)
{
    log_state *ls = udata;

    if (level == SB_LOG_ERROR)
        ls->errors++;
    snprintf(ls->last, sizeof(ls->last), "%s", msg);
}

START_TEST(test_io_above_fd_setsize)
{
    int p[2], q[2], w[2], rp, wq;
    io_state hi = {0}, lo = {0}, wr = {0};
    sb_loop *loop;
    int err = 0, i;

    if (!ensure_fd_limit(2100, "test_io_above_fd_setsize"))
        return;
    make_pipe(p);
    make_pipe(q);
    make_pipe(w);
    rp = move_fd_high(p[0], 2000);
    ck_assert_msg(rp >= 2000, "cannot dup2 a pipe to fd 2000: %s", strerror(errno));
    ck_assert_int_gt(rp, FD_SETSIZE);
    wq = move_fd_high(w[1], 2050);
    ck_assert_msg(wq >= 2050, "cannot dup2 a pipe to fd 2050: %s", strerror(errno));

    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    hi.drain = 1;
    hi.io = sb_io_new(loop, rp, io_cb, &hi, &err);
    ck_assert_msg(hi.io != NULL, "sb_io_new(%d): %s", rp, sb_strerror(err));
    lo.io = sb_io_new(loop, q[0], io_cb, &lo, &err);
    ck_assert_ptr_nonnull(lo.io);
    wr.io = sb_io_new(loop, wq, io_cb, &wr, &err);
    ck_assert_ptr_nonnull(wr.io);
    sb_io_set(hi.io, SB_READ);
    sb_io_set(lo.io, SB_READ);
    ck_assert_uint_eq(sb_loop_handles(loop), 3);

    /* Nothing written yet: no callback. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(hi.calls, 0);
    ck_assert_int_eq(lo.calls, 0);
    ck_assert_int_eq(wr.calls, 0);

    write_byte(p[1], 'a');
    for (i = 0; i < 10 && hi.calls == 0; i++)
        ck_assert_int_eq(sb_loop_run_once(loop, 5000), 1);
    ck_assert_int_eq(hi.calls, 1);
    ck_assert_int_eq(hi.last_fd, rp);
    ck_assert_uint_eq(hi.last_events, SB_READ);
    ck_assert_int_eq(lo.calls, 0);
    ck_assert_int_eq(wr.calls, 0); /* no interest set */

    /* Drained by the callback: no further callback. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(hi.calls, 1);

    /* Write interest on another fd above FD_SETSIZE. */
    sb_io_set(wr.io, SB_WRITE);
    for (i = 0; i < 10 && wr.calls == 0; i++)
        sb_loop_run_once(loop, 5000);
    ck_assert_int_eq(wr.calls, 1);
    ck_assert_int_eq(wr.last_fd, wq);
    ck_assert_uint_eq(wr.last_events, SB_WRITE);
    sb_io_set(wr.io, 0);
    ck_assert_int_eq(hi.calls, 1);
    ck_assert_int_eq(lo.calls, 0);

    /* A high and a low fd, both ready before select(): one iteration
     * delivers both. */
    write_byte(p[1], 'b');
    write_byte(q[1], 'c');
    lo.drain = 1;
    ck_assert_int_eq(sb_loop_run_once(loop, 5000), 1);
    ck_assert_int_eq(hi.calls, 2);
    ck_assert_int_eq(lo.calls, 1);
    ck_assert_int_eq(lo.last_fd, q[0]);
    ck_assert_uint_eq(lo.last_events, SB_READ);
    ck_assert_int_eq(wr.calls, 1);

    sb_io_free(hi.io);
    sb_io_free(lo.io);
    sb_io_free(wr.io);
    close_fd(rp);
    close_fd(p[1]);
    close_fd(q[0]);
    close_fd(q[1]);
    close_fd(w[0]);
    close_fd(wq);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_io_closed_behind_back)
{
    int h[2], b1[2], b2[2], hr, v1, v2, i, rc;
    io_state healthy = {0}, victim1 = {0}, victim2 = {0};
    log_state ls = {0, ""};
    sb_loop *loop;
    int err = 0;

    if (!ensure_fd_limit(2300, "test_io_closed_behind_back"))
        return;
    make_pipe(h);
    make_pipe(b1);
    make_pipe(b2);
    hr = move_fd_high(h[0], 2200);
    ck_assert_msg(hr >= 2200, "cannot dup2 a pipe to fd 2200: %s", strerror(errno));
    v1 = move_fd_high(b1[0], 2100);
    ck_assert_msg(v1 >= 2100, "cannot dup2 a pipe to fd 2100: %s", strerror(errno));
    v2 = b2[0]; /* below FD_SETSIZE */

    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    sb_loop_set_log(loop, log_cb, SB_LOG_DEBUG, &ls);
    healthy.drain = 1;
    healthy.io = sb_io_new(loop, hr, io_cb, &healthy, &err);
    victim1.io = sb_io_new(loop, v1, io_cb, &victim1, &err);
    victim1.free_in_cb = 1;
    victim2.io = sb_io_new(loop, v2, io_cb, &victim2, &err);
    ck_assert_ptr_nonnull(healthy.io);
    ck_assert_ptr_nonnull(victim1.io);
    ck_assert_ptr_nonnull(victim2.io);
    sb_io_set(healthy.io, SB_READ);
    sb_io_set(victim1.io, SB_READ);
    sb_io_set(victim2.io, SB_READ);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(healthy.calls + victim1.calls + victim2.calls, 0);

    /* Close the victims' fds behind the loop's back; data for the healthy
     * watcher. */
    close_fd(v1);
    close_fd(v2);
    write_byte(h[1], 'z');
    for (i = 0; i < 10 && (healthy.calls == 0 || victim1.calls == 0 || victim2.calls == 0);
         i++) {
        rc = sb_loop_run_once(loop, 5000);
        ck_assert_int_ge(rc, 0);
    }
    ck_assert_int_eq(victim1.calls, 1);
    ck_assert_uint_eq(victim1.last_events, SB_ERROR);
    ck_assert_int_eq(victim1.last_fd, v1);
    ck_assert_ptr_null(victim1.io); /* freed from its callback */
    ck_assert_int_eq(victim2.calls, 1);
    ck_assert_uint_eq(victim2.last_events, SB_ERROR);
    ck_assert_int_eq(victim2.last_fd, v2);
    ck_assert_int_eq(healthy.calls, 1);
    ck_assert_uint_eq(healthy.last_events, SB_READ);
    ck_assert_int_eq(healthy.last_fd, hr);
    ck_assert_uint_eq(healthy.all_events & SB_ERROR, 0);
    ck_assert_int_eq(ls.errors, 2); /* one line per closed fd, no more */
    ck_assert_uint_eq(sb_loop_handles(loop), 2);

    /* The failed watchers are not reported again, and the healthy one keeps
     * working. */
    write_byte(h[1], 'y');
    for (i = 0; i < 10 && healthy.calls < 2; i++)
        ck_assert_int_eq(sb_loop_run_once(loop, 5000), 1);
    ck_assert_int_eq(healthy.calls, 2);
    ck_assert_uint_eq(healthy.last_events, SB_READ);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(victim1.calls, 1);
    ck_assert_int_eq(victim2.calls, 1);

    sb_io_free(victim2.io);
    sb_io_free(healthy.io);
    close_fd(hr);
    close_fd(h[1]);
    close_fd(b1[1]);
    close_fd(b2[1]);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_io_log_names_fd)
{
    int p[2], v, i;
    io_state st = {0};
    log_state ls = {0, ""};
    sb_loop *loop;
    char want[32];

    if (!ensure_fd_limit(2700, "test_io_log_names_fd"))
        return;
    make_pipe(p);
    v = move_fd_high(p[0], 2600);
    ck_assert_msg(v >= 2600, "cannot dup2 a pipe to fd 2600: %s", strerror(errno));
    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    sb_loop_set_log(loop, log_cb, SB_LOG_ERROR, &ls);
    st.io = sb_io_new(loop, v, io_cb, &st, NULL);
    ck_assert_ptr_nonnull(st.io);
    sb_io_set(st.io, SB_READ);
    close_fd(v);
    for (i = 0; i < 10 && st.calls == 0; i++)
        sb_loop_run_once(loop, 1000);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_uint_eq(st.last_events, SB_ERROR);
    ck_assert_int_eq(ls.errors, 1);
    snprintf(want, sizeof(want), "%d", v);
    ck_assert_msg(strstr(ls.last, want) != NULL, "log message '%s' does not name fd %d",
                  ls.last, v);
    /* Interest was cleared: nothing keeps the loop alive any more. */
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(st.calls, 1);
    sb_io_free(st.io);
    close_fd(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * Watcher A's callback frees watcher B (also ready in the same select()),
 * closes B's fd and puts a watcher C on a new, empty pipe that reuses B's fd
 * number.  The stale readiness of B must not be delivered to C.
 */
typedef struct reuse_state {
    sb_loop *loop;
    io_state *b, *c;
    int b_fd;      /* B's fd number, reused for C */
    int c_pipe[2]; /* C's pipe; c_pipe[0] == b_fd once reused */
    int done;
} reuse_state;

static void reuse_cb(sb_io *io, int fd, unsigned events, void *udata)
{
    reuse_state *r = udata;
    int q[2], err = 0;

    (void)io;
    (void)fd;
    ck_assert_uint_eq(events, SB_READ);
    if (r->done++)
        return;
    ck_assert_int_eq(r->b->calls, 0); /* A's fd is lower: dispatched first */
    sb_io_free(r->b->io);
    r->b->io = NULL;
    ck_assert_int_eq(close(r->b_fd), 0);
    make_pipe(q);
    ck_assert_int_eq(dup3(q[0], r->b_fd, O_CLOEXEC), r->b_fd);
    ck_assert_int_eq(close(q[0]), 0);
    r->c_pipe[0] = r->b_fd;
    r->c_pipe[1] = q[1];
    r->c->io = sb_io_new(r->loop, r->b_fd, io_cb, r->c, &err);
    ck_assert_msg(r->c->io != NULL, "sb_io_new on a reused fd: %s", sb_strerror(err));
    sb_io_set(r->c->io, SB_READ);
}

START_TEST(test_io_fd_reuse_in_callback)
{
    int a[2], b[2], bfd;
    io_state bs = {0}, cs = {0};
    reuse_state r;
    sb_loop *loop;
    sb_io *aio;

    if (!ensure_fd_limit(2500, "test_io_fd_reuse_in_callback"))
        return;
    make_pipe(a);
    make_pipe(b);
    bfd = move_fd_high(b[0], 2400);
    ck_assert_msg(bfd >= 2400, "cannot dup2 a pipe to fd 2400: %s", strerror(errno));
    loop = sb_loop_new();
    ck_assert_ptr_nonnull(loop);
    memset(&r, 0, sizeof(r));
    r.loop = loop;
    r.b = &bs;
    r.c = &cs;
    r.b_fd = bfd;
    r.c_pipe[0] = r.c_pipe[1] = -1;
    aio = sb_io_new(loop, a[0], reuse_cb, &r, NULL);
    ck_assert_ptr_nonnull(aio);
    bs.io = sb_io_new(loop, bfd, io_cb, &bs, NULL);
    ck_assert_ptr_nonnull(bs.io);
    sb_io_set(aio, SB_READ);
    sb_io_set(bs.io, SB_READ);
    write_byte(a[1], 'a');
    write_byte(b[1], 'b');

    ck_assert_int_eq(sb_loop_run_once(loop, 5000), 1);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(bs.calls, 0);                 /* freed before its turn */
    ck_assert_ptr_nonnull(cs.io);
    ck_assert_int_eq(cs.calls, 0);                 /* stale result not delivered */

    /* C's pipe is empty: still nothing; once written, C is called. */
    sb_io_set(aio, 0);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(cs.calls, 0);
    write_byte(r.c_pipe[1], 'c');
    cs.drain = 1;
    ck_assert_int_eq(sb_loop_run_once(loop, 5000), 1);
    ck_assert_int_eq(cs.calls, 1);
    ck_assert_int_eq(cs.last_fd, bfd);
    ck_assert_uint_eq(cs.last_events, SB_READ);

    sb_io_free(aio);
    sb_io_free(cs.io);
    close_fd(a[0]);
    close_fd(a[1]);
    close_fd(b[1]);
    close_fd(r.c_pipe[0]);
    close_fd(r.c_pipe[1]);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_io_new_errors)
{
    int p[2], err = 0;
    io_state st = {0};
    sb_loop *loop = sb_loop_new();
    sb_io *io;

    ck_assert_ptr_nonnull(loop);
    make_pipe(p);
    ck_assert_ptr_null(sb_io_new(loop, -1, io_cb, &st, &err));
    ck_assert_int_eq(err, -EINVAL);
    err = 0;
    ck_assert_ptr_null(sb_io_new(loop, p[0], NULL, &st, &err));
    ck_assert_int_eq(err, -EINVAL);
    io = sb_io_new(loop, p[0], io_cb, &st, &err);
    ck_assert_ptr_nonnull(io);
    err = 0;
    ck_assert_ptr_null(sb_io_new(loop, p[0], io_cb, &st, &err));
    ck_assert_int_eq(err, -EEXIST);
    ck_assert_ptr_null(sb_io_new(loop, p[0], io_cb, &st, NULL));
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    sb_io_free(io);
    sb_io_free(NULL);
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    close_fd(p[0]);
    close_fd(p[1]);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_fdset_suite(void)
{
    Suite *s = suite_create("fdset");
    TCase *bits = tcase_create("bits");
    TCase *sel = tcase_create("select");
    TCase *io = tcase_create("io");

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

    tcase_set_timeout(io, 30);
    tcase_add_test(io, test_io_above_fd_setsize);
    tcase_add_test(io, test_io_closed_behind_back);
    tcase_add_test(io, test_io_log_names_fd);
    tcase_add_test(io, test_io_fd_reuse_in_callback);
    tcase_add_test(io, test_io_new_errors);
    suite_add_tcase(s, io);
    return s;
}
