/*
 * What a framed connection holds for input: at most one message (max_len
 * plus its header or delimiter), never that plus a whole 64 KiB read; and
 * an idle connection's partial message is fitted by the reclaim sweep.
 * (0.1 appended every read behind a partial message: ~140 KB per busy
 * connection in line or prefix4 framing, against ~7 KB raw.)
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct msrv {
    int kind; /* 0 lines of at most 1000 bytes, 1 prefix4 of at most 1000 */
    sb_conn *c;
    unsigned long msgs;
    size_t bytes;
} msrv;

static void m_open(sb_conn *c, void *u)
{
    msrv *s = u;
    s->c = c;
    if (s->kind == 0)
        ck_assert_int_eq(sb_conn_framer_line(c, 1000), 0);
    else
        ck_assert_int_eq(sb_conn_framer_prefix(c, 4, 1000), 0);
}

static void m_data(sb_conn *c, const char *d, size_t n, void *u)
{
    msrv *s = u;
    (void)c;
    ck_assert(n == 0 || d[0] == 'a' + (int)(s->msgs % 26));
    s->msgs++;
    s->bytes += n;
}

static void m_close(sb_conn *c, int reason, void *u)
{
    (void)c;
    (void)reason;
    ((msrv *)u)->c = NULL;
}

static const sb_handler m_handler = {.on_open = m_open, .on_data = m_data, .on_close = m_close};

/* Messages 0..count-1 of 1..999 bytes, framed; returns the stream length. */
static size_t build(int kind, unsigned long count, char *out, uint32_t seed)
{
    size_t at = 0;
    unsigned long i;

    for (i = 0; i < count; i++) {
        size_t n = 1 + tu_rand(&seed) % 999;
        if (kind == 1) {
            sb_put_be32((unsigned char *)out + at, (uint32_t)n);
            at += 4;
        }
        memset(out + at, 'a' + (int)(i % 26), n);
        at += n;
        if (kind == 0)
            out[at++] = '\n';
    }
    return at;
}

START_TEST(test_framed_input_holds_one_message)
{
    enum { COUNT = 2000 };
    sb_loop *loop = sb_loop_new();
    tu_clock clk = {1000};
    msrv s = {_i, NULL, 0, 0};
    char *stream = malloc(COUNT * 1004 + 16);
    size_t len = build(_i, COUNT, stream, 7), sent = 0, peak = 0, chunk;
    sb_listener *l;
    int fd, i;

    sb_loop_set_clock(loop, tu_clock_fn, &clk);
    l = sb_listen(loop, "127.0.0.1:0", &m_handler, &s, NULL, NULL);
    ck_assert_ptr_nonnull(l);
    fd = tu_connect_tcp(sb_listener_port(l));
    for (i = 0; i < 200 && !s.c; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_ptr_nonnull(s.c);
    /* Odd-sized writes so that reads end inside messages. */
    for (chunk = 40000; sent < len; chunk = chunk == 40000 ? 65521 : 40000) {
        size_t n = len - sent < chunk ? len - sent : chunk;
        ssize_t w = tu_send(fd, stream + sent, n);
        if (w > 0)
            sent += (size_t)w;
        sb_loop_run_once(loop, 0);
        if (s.c && s.c->in.cap > peak)
            peak = s.c->in.cap;
    }
    for (i = 0; i < 2000 && s.msgs < COUNT; i++) {
        sb_loop_run_once(loop, 10);
        if (s.c && s.c->in.cap > peak)
            peak = s.c->in.cap;
    }
    ck_assert_uint_eq(s.msgs, COUNT);
    /* One message of at most 1004 bytes fits in the smallest buffer
     * doubling: nowhere near a whole read. */
    ck_assert_msg(peak <= 4096, "input buffer peaked at %zu bytes", peak);

    /* A partial message left on an idle connection is fitted. */
    ck_assert_int_eq(tu_send(fd, _i == 0 ? "abc" : "\0\0\0\x09zz", _i == 0 ? 3 : 6),
                     _i == 0 ? 3 : 6);
    for (i = 0; i < 200 && (!s.c || s.c->in.len == 0); i++)
        sb_loop_run_once(loop, 10);
    ck_assert_ptr_nonnull(s.c);
    ck_assert_uint_gt(s.c->in.len, 0);
    clk.now += 5000; /* idle past the reclaim period */
    for (i = 0; i < 5; i++)
        sb_loop_run_once(loop, 0);
    ck_assert_uint_le(s.c->in.cap, 2048);
    close(fd);
    for (i = 0; i < 200 && s.c; i++)
        sb_loop_run_once(loop, 10);
    sb_listener_close(l);
    tu_loop_teardown(loop);
    free(stream);
}
END_TEST

Suite *sb_input_memory_suite(void)
{
    Suite *s = suite_create("input_memory");
    TCase *tc = tcase_create("framed");

    tcase_add_loop_test(tc, test_framed_input_holds_one_message, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
