/* sb__buf: the growable byte buffer behind connection input and output. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF_INIT {NULL, 0, 0, 0}

/* Structural invariants that must hold after every operation. */
static void buf_check_invariants(const sb__buf *b)
{
    ck_assert_uint_le(b->off, b->cap);
    ck_assert_uint_le(b->len, b->cap - b->off);
    if (b->cap == 0) {
        ck_assert_ptr_null(b->data);
        ck_assert_uint_eq(b->off, 0);
        ck_assert_uint_eq(b->len, 0);
    } else {
        /* (head/tail would do arithmetic on NULL for an unallocated buffer) */
        ck_assert_ptr_nonnull(b->data);
        ck_assert_ptr_eq(sb__buf_head(b), b->data + b->off);
        ck_assert_ptr_eq(sb__buf_tail(b), b->data + b->off + b->len);
    }
    ck_assert_uint_eq(sb__buf_room(b), b->cap - b->off - b->len);
}

/* The buffer holds exactly the n bytes of p. */
static void buf_check_contents(const sb__buf *b, const unsigned char *p, size_t n)
{
    buf_check_invariants(b);
    ck_assert_uint_eq(b->len, n);
    if (n)
        ck_assert_msg(memcmp(sb__buf_head(b), p, n) == 0,
                      "buffer contents differ from the reference (%zu bytes)", n);
}

/* --------------------------------------------------------------- append */

START_TEST(test_buf_empty_init)
{
    sb__buf b = BUF_INIT;

    buf_check_invariants(&b);
    ck_assert_uint_eq(sb__buf_room(&b), 0);
    sb__buf_consume(&b, 0);
    sb__buf_consume(&b, 10);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);
    sb__buf_trim(&b, 0);
    ck_assert_ptr_null(b.data);
    sb__buf_free(&b);
    sb__buf_free(&b); /* freeing twice is harmless */
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_buf_append_basic)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[300];

    tu_fill(ref, sizeof(ref), 1);
    ck_assert_int_eq(sb__buf_append(&b, ref, 100), 0);
    buf_check_contents(&b, ref, 100);
    ck_assert_uint_eq(b.off, 0);
    ck_assert_uint_ge(b.cap, 100);
    ck_assert_int_eq(sb__buf_append(&b, ref + 100, 1), 0);
    ck_assert_int_eq(sb__buf_append(&b, ref + 101, 199), 0);
    buf_check_contents(&b, ref, 300);
    sb__buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_buf_append_zero_length)
{
    sb__buf b = BUF_INIT;
    const char x[1] = {'x'};

    /* On an empty buffer: success, and no allocation. */
    ck_assert_int_eq(sb__buf_append(&b, x, 0), 0);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(sb__buf_append(&b, NULL, 0), 0);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);

    /* On a full buffer (no room left): nothing changes, no growth. */
    {
        unsigned char *ref;
        size_t cap;
        char *data;

        ck_assert_int_eq(sb__buf_append(&b, "abc", 3), 0);
        cap = b.cap;
        ref = malloc(cap);
        ck_assert_ptr_nonnull(ref);
        tu_fill(ref, cap, 2);
        memcpy(ref, "abc", 3);
        ck_assert_int_eq(sb__buf_append(&b, ref + 3, cap - 3), 0);
        ck_assert_uint_eq(b.cap, cap);
        ck_assert_uint_eq(sb__buf_room(&b), 0);
        data = b.data;
        ck_assert_int_eq(sb__buf_append(&b, x, 0), 0);
        ck_assert_ptr_eq(b.data, data);
        ck_assert_uint_eq(b.cap, cap);
        buf_check_contents(&b, ref, cap);
        free(ref);
    }
    sb__buf_free(&b);
}
END_TEST

/* ------------------------------------------------------- reserve/commit */

START_TEST(test_buf_reserve_commit)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[5000];

    tu_fill(ref, sizeof(ref), 3);
    ck_assert_int_eq(sb__buf_reserve(&b, 0), 0);
    buf_check_invariants(&b);
    ck_assert_uint_eq(b.len, 0);

    ck_assert_int_eq(sb__buf_reserve(&b, 1000), 0);
    buf_check_invariants(&b);
    ck_assert_uint_ge(sb__buf_room(&b), 1000);
    ck_assert_uint_eq(b.len, 0);
    memcpy(sb__buf_tail(&b), ref, 600);
    sb__buf_commit(&b, 600);
    buf_check_contents(&b, ref, 600);

    /* A reserve that fits already changes nothing. */
    {
        char *data = b.data;
        size_t cap = b.cap, room = sb__buf_room(&b);
        ck_assert_int_eq(sb__buf_reserve(&b, room), 0);
        ck_assert_ptr_eq(b.data, data);
        ck_assert_uint_eq(b.cap, cap);
    }

    /* A reserve past the capacity grows, keeping the data. */
    ck_assert_int_eq(sb__buf_reserve(&b, 4400), 0);
    ck_assert_uint_ge(sb__buf_room(&b), 4400);
    buf_check_contents(&b, ref, 600);
    memcpy(sb__buf_tail(&b), ref + 600, 4400);
    sb__buf_commit(&b, 4400);
    buf_check_contents(&b, ref, 5000);

    /* Committing less than reserved, then appending after it. */
    ck_assert_int_eq(sb__buf_reserve(&b, 100), 0);
    sb__buf_commit(&b, 0);
    buf_check_contents(&b, ref, 5000);
    sb__buf_free(&b);
}
END_TEST

START_TEST(test_buf_reserve_overflow)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[64];
    char *data;
    size_t cap;

    tu_fill(ref, sizeof(ref), 4);
    ck_assert_int_eq(sb__buf_append(&b, ref, sizeof(ref)), 0);
    data = b.data;
    cap = b.cap;
    /* len + n does not fit in size_t: refused without touching the buffer. */
    ck_assert_int_eq(sb__buf_reserve(&b, SIZE_MAX), -ENOMEM);
    ck_assert_int_eq(sb__buf_reserve(&b, SIZE_MAX - sizeof(ref) + 1), -ENOMEM);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    buf_check_contents(&b, ref, sizeof(ref));
    sb__buf_free(&b);
}
END_TEST

/* -------------------------------------------------------------- consume */

START_TEST(test_buf_consume_front)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[1000];
    char *data;
    size_t cap;

    tu_fill(ref, sizeof(ref), 5);
    ck_assert_int_eq(sb__buf_append(&b, ref, sizeof(ref)), 0);
    data = b.data;
    cap = b.cap;
    sb__buf_consume(&b, 0);
    buf_check_contents(&b, ref, 1000);
    sb__buf_consume(&b, 1);
    buf_check_contents(&b, ref + 1, 999);
    sb__buf_consume(&b, 299);
    buf_check_contents(&b, ref + 300, 700);
    /* Consuming only moves the offset: no copy, no reallocation. */
    ck_assert_uint_eq(b.off, 300);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    sb__buf_consume(&b, 699);
    buf_check_contents(&b, ref + 999, 1);
    ck_assert_uint_eq(b.off, 999);
    sb__buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_all_rewinds)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[500];
    size_t cap;
    char *data;

    tu_fill(ref, sizeof(ref), 6);

    /* n == len */
    ck_assert_int_eq(sb__buf_append(&b, ref, 100), 0);
    sb__buf_consume(&b, 30);
    ck_assert_uint_eq(b.off, 30);
    sb__buf_consume(&b, 70);
    buf_check_invariants(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);

    /* n > len */
    ck_assert_int_eq(sb__buf_append(&b, ref, 100), 0);
    sb__buf_consume(&b, 40);
    ck_assert_uint_eq(b.off, 40);
    sb__buf_consume(&b, 1000);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);
    sb__buf_consume(&b, SIZE_MAX);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);

    /* The memory is kept (only trim releases it) and the whole capacity is
     * room again. */
    ck_assert_ptr_nonnull(b.data);
    cap = b.cap;
    data = b.data;
    ck_assert_uint_eq(sb__buf_room(&b), cap);
    ck_assert_int_eq(sb__buf_append(&b, ref, 500), 0);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.off, 0);
    buf_check_contents(&b, ref, 500);
    sb__buf_free(&b);
}
END_TEST

/* ----------------------------------------------------------- compaction */

START_TEST(test_buf_no_compaction_while_room)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[200];

    tu_fill(ref, sizeof(ref), 7);
    ck_assert_int_eq(sb__buf_append(&b, ref, 100), 0);
    sb__buf_consume(&b, 50);
    /* Room remains at the end: appending does not move the data. */
    ck_assert_int_eq(sb__buf_append(&b, ref + 100, 10), 0);
    ck_assert_uint_eq(b.off, 50);
    buf_check_contents(&b, ref + 50, 60);
    /* Not even when the append fills the room exactly. */
    {
        size_t room = sb__buf_room(&b);
        unsigned char *more = malloc(room);
        unsigned char *all = malloc(60 + room);
        char *data = b.data;
        size_t cap = b.cap;

        ck_assert_ptr_nonnull(more);
        ck_assert_ptr_nonnull(all);
        tu_fill(more, room, 77);
        memcpy(all, ref + 50, 60);
        memcpy(all + 60, more, room);
        ck_assert_int_eq(sb__buf_append(&b, more, room), 0);
        ck_assert_uint_eq(b.off, 50);
        ck_assert_ptr_eq(b.data, data);
        ck_assert_uint_eq(b.cap, cap);
        ck_assert_uint_eq(sb__buf_room(&b), 0);
        buf_check_contents(&b, all, 60 + room);
        free(more);
        free(all);
    }
    sb__buf_free(&b);
}
END_TEST

/* Fill the buffer to exactly its first capacity, consume `drop` from the
 * front, append `more` (which does not fit at the end but fits after
 * compaction).  The data must be moved to the start without reallocating. */
static void compaction_case(size_t drop_pct, size_t more_pct, uint32_t seed)
{
    sb__buf b = BUF_INIT;
    unsigned char *ref;
    size_t cap, drop, more;
    char *data;

    ck_assert_int_eq(sb__buf_reserve(&b, 1), 0);
    cap = b.cap;
    ck_assert_uint_ge(cap, 100);
    data = b.data;
    drop = cap * drop_pct / 100;
    more = cap * more_pct / 100;
    ck_assert_uint_gt(more, 0);
    ck_assert_uint_le(more, drop);
    ref = malloc(cap + more);
    ck_assert_ptr_nonnull(ref);
    tu_fill(ref, cap + more, seed);

    ck_assert_int_eq(sb__buf_append(&b, ref, cap), 0);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_uint_eq(sb__buf_room(&b), 0);
    sb__buf_consume(&b, drop);
    ck_assert_uint_eq(b.off, drop);
    ck_assert_int_eq(sb__buf_append(&b, ref + cap, more), 0);
    ck_assert_uint_eq(b.off, 0);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_eq(b.data, data);
    buf_check_contents(&b, ref + drop, cap - drop + more);
    free(ref);
    sb__buf_free(&b);
}

START_TEST(test_buf_compaction_disjoint)
{
    /* Live data (25%) smaller than the hole in front (75%). */
    compaction_case(75, 50, 8);
}
END_TEST

START_TEST(test_buf_compaction_overlapping)
{
    /* Live data (70%) larger than the hole in front (30%): overlapping move. */
    compaction_case(30, 20, 9);
}
END_TEST

START_TEST(test_buf_compaction_exact_fit)
{
    /* After compaction the buffer is exactly full. */
    compaction_case(50, 50, 10);
}
END_TEST

START_TEST(test_buf_grow_with_offset)
{
    sb__buf b = BUF_INIT;
    unsigned char *ref;
    size_t cap, total;

    ck_assert_int_eq(sb__buf_reserve(&b, 1), 0);
    cap = b.cap;
    total = cap * 3;
    ref = malloc(total);
    ck_assert_ptr_nonnull(ref);
    tu_fill(ref, total, 11);
    ck_assert_int_eq(sb__buf_append(&b, ref, cap), 0);
    sb__buf_consume(&b, 10);
    /* Needs more than the capacity even after compaction: grows, and the
     * new block starts with the live data. */
    ck_assert_int_eq(sb__buf_append(&b, ref + cap, total - cap), 0);
    ck_assert_uint_gt(b.cap, cap);
    ck_assert_uint_eq(b.off, 0);
    buf_check_contents(&b, ref + 10, total - 10);
    free(ref);
    sb__buf_free(&b);
}
END_TEST

/* Many small appends and consumes at varying sizes, checked against a
 * reference model. */
START_TEST(test_buf_stream_model)
{
    sb__buf b = BUF_INIT;
    enum { TOTAL = 1 << 20 };
    unsigned char *src = malloc(TOTAL);
    size_t produced = 0, consumed = 0;
    uint32_t rng = 12345;
    int rounds = 0;

    ck_assert_ptr_nonnull(src);
    tu_fill(src, TOTAL, 12);
    while (consumed < TOTAL) {
        size_t n = tu_rand(&rng) % 9000;
        if (n > TOTAL - produced)
            n = TOTAL - produced;
        if (tu_rand(&rng) & 1) {
            ck_assert_int_eq(sb__buf_append(&b, src + produced, n), 0);
        } else {
            ck_assert_int_eq(sb__buf_reserve(&b, n), 0);
            ck_assert_uint_ge(sb__buf_room(&b), n);
            if (n)
                memcpy(sb__buf_tail(&b), src + produced, n);
            sb__buf_commit(&b, n);
        }
        produced += n;
        buf_check_contents(&b, src + consumed, produced - consumed);
        n = tu_rand(&rng) % 10000;
        if (produced == TOTAL && n < 4096)
            n = 4096; /* make sure the tail end drains */
        if (n > produced - consumed)
            n = produced - consumed;
        sb__buf_consume(&b, n);
        consumed += n;
        buf_check_contents(&b, src + consumed, produced - consumed);
        rounds++;
    }
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);
    ck_assert_int_gt(rounds, 100);
    free(src);
    sb__buf_free(&b);
}
END_TEST

/* --------------------------------------------------------------- growth */

START_TEST(test_buf_grow_large)
{
    sb__buf b = BUF_INIT;
    const size_t total = (size_t)8 << 20; /* 8 MiB */
    unsigned char *ref = malloc(total);
    size_t done = 0;
    size_t last_cap = 0;
    uint32_t rng = 99;
    int grows = 0, appends = 0;

    ck_assert_ptr_nonnull(ref);
    tu_fill(ref, total, 13);
    /* About 2000 appends of 1..8191 bytes. */
    while (done < total) {
        size_t n = 1 + tu_rand(&rng) % 8191;
        if (n > total - done)
            n = total - done;
        ck_assert_int_eq(sb__buf_append(&b, ref + done, n), 0);
        appends++;
        done += n;
        ck_assert_uint_eq(b.len, done);
        ck_assert_uint_ge(b.cap, done);
        if (b.cap != last_cap) {
            grows++;
            last_cap = b.cap;
        }
    }
    buf_check_contents(&b, ref, total);
    ck_assert_int_gt(appends, 1000);
    /* Geometric growth: a handful of reallocations, not one per append. */
    ck_assert_int_lt(grows, 20);
    /* Not wildly over-allocated. */
    ck_assert_uint_le(b.cap, 2 * total);

    /* One huge append into an empty buffer. */
    sb__buf_free(&b);
    ck_assert_int_eq(sb__buf_append(&b, ref, total), 0);
    buf_check_contents(&b, ref, total);

    /* Consume most of it, then append another 8 MiB: the data that is left
     * and the new data must both survive the move. */
    sb__buf_consume(&b, total - 1000);
    ck_assert_int_eq(sb__buf_append(&b, ref, total), 0);
    ck_assert_uint_eq(b.len, total + 1000);
    ck_assert_int_eq(memcmp(sb__buf_head(&b), ref + total - 1000, 1000), 0);
    ck_assert_int_eq(memcmp(sb__buf_head(&b) + 1000, ref, total), 0);
    buf_check_invariants(&b);
    free(ref);
    sb__buf_free(&b);
}
END_TEST

/* ----------------------------------------------------------------- trim */

START_TEST(test_buf_trim)
{
    sb__buf b = BUF_INIT;
    unsigned char ref[10000];
    size_t cap;
    char *data;

    tu_fill(ref, sizeof(ref), 14);
    ck_assert_int_eq(sb__buf_append(&b, ref, sizeof(ref)), 0);
    cap = b.cap;
    data = b.data;
    ck_assert_uint_ge(cap, sizeof(ref));

    /* Not empty: kept, whatever keep says. */
    sb__buf_trim(&b, 0);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    buf_check_contents(&b, ref, sizeof(ref));

    sb__buf_consume(&b, sizeof(ref) - 1);
    sb__buf_trim(&b, 0);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    buf_check_contents(&b, ref + sizeof(ref) - 1, 1);

    /* Empty, capacity not above keep: kept. */
    sb__buf_consume(&b, 1);
    ck_assert_uint_eq(b.len, 0);
    sb__buf_trim(&b, cap);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    sb__buf_trim(&b, cap + 1);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);

    /* Empty, capacity above keep: released. */
    sb__buf_trim(&b, cap - 1);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.off, 0);
    buf_check_invariants(&b);

    /* Usable again afterwards. */
    ck_assert_int_eq(sb__buf_append(&b, ref, 123), 0);
    buf_check_contents(&b, ref, 123);
    sb__buf_consume(&b, 123);
    sb__buf_trim(&b, 0);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);

    /* Trim on a never-allocated buffer is a no-op. */
    sb__buf_trim(&b, 0);
    ck_assert_ptr_null(b.data);
    sb__buf_free(&b);
}
END_TEST

Suite *sb_buffer_suite(void)
{
    Suite *s = suite_create("buffer");
    TCase *tc = tcase_create("core");
    TCase *big = tcase_create("large");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_buf_empty_init);
    tcase_add_test(tc, test_buf_append_basic);
    tcase_add_test(tc, test_buf_append_zero_length);
    tcase_add_test(tc, test_buf_reserve_commit);
    tcase_add_test(tc, test_buf_reserve_overflow);
    tcase_add_test(tc, test_buf_consume_front);
    tcase_add_test(tc, test_buf_consume_all_rewinds);
    tcase_add_test(tc, test_buf_no_compaction_while_room);
    tcase_add_test(tc, test_buf_compaction_disjoint);
    tcase_add_test(tc, test_buf_compaction_overlapping);
    tcase_add_test(tc, test_buf_compaction_exact_fit);
    tcase_add_test(tc, test_buf_grow_with_offset);
    tcase_add_test(tc, test_buf_trim);
    suite_add_tcase(s, tc);

    tcase_set_timeout(big, 120);
    tcase_add_test(big, test_buf_stream_model);
    tcase_add_test(big, test_buf_grow_large);
    suite_add_tcase(s, big);
    return s;
}
