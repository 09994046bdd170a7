/*
 * Streamed bodies (SB_FRAMER_STREAM): fixed, prefix and digits framers
 * deliver a body in bounded pieces, the first and last marked, for every
 * split of the input; on a connection a body far larger than memory would
 * allow buffered whole passes through with the input buffer bounded by one
 * header and one read.
 */
#include "fault.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What a stream of cuts adds up to: bodies reassembled, flags checked. */
typedef struct asm_ {
    unsigned char body[8][4096];
    size_t blen[8];
    int nbodies;   /* bodies completed (a LAST seen) */
    int open;      /* inside a body (FIRST seen, LAST not yet) */
    size_t maxpiece;
    int bad;       /* a flag or left value out of order */
} asm_;

static void asm_cut(asm_ *a, const char *p, const sb_framer_cut *fr, size_t piece_max)
{
    unsigned f = fr->flags;

    if (!(f & SB_CUT_PIECE) || fr->len > piece_max || a->nbodies >= 8) {
        a->bad = 1;
        return;
    }
    if (f & SB_CUT_FIRST) {
        if (a->open)
            a->bad = 1;
        a->open = 1;
        a->blen[a->nbodies] = 0;
    } else if (!a->open) {
        a->bad = 1;
        return;
    }
    if (fr->len > 4096 - a->blen[a->nbodies]) {
        a->bad = 1;
        return;
    }
    memcpy(a->body[a->nbodies] + a->blen[a->nbodies], p, fr->len);
    a->blen[a->nbodies] += fr->len;
    if (a->maxpiece < fr->len)
        a->maxpiece = fr->len;
    if (((f & SB_CUT_LAST) != 0) != (fr->left == 0))
        a->bad = 1;
    if (f & SB_CUT_LAST) {
        a->open = 0;
        a->nbodies++;
    }
}

/*
 * Feed in[0, n) in the chunks given by the cut points (sorted, < n),
 * keeping the unconsumed bytes as a connection does, and cut everything.
 */
static void feed(const sb_framer *tmpl, const unsigned char *in, size_t n, const size_t *cuts,
                 int ncuts, size_t piece_max, asm_ *a)
{
    static char buf[8192];
    sb_framer fresh = *tmpl, *f = &fresh;
    size_t have = 0, fed = 0;
    int k;

    memset(a, 0, sizeof(*a));
    for (k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        size_t pos = 0;
        memcpy(buf + have, in + fed, end - fed);
        have += end - fed;
        fed = end;
        for (;;) {
            sb_framer_cut fr;
            int r = sb_framer_next(f, buf + pos, have - pos, 0, &fr);
            if (r < 0) { /* (ck_assert per cut would cost a syscall each) */
                a->bad = 1;
                return;
            }
            if (r == 1) {
                asm_cut(a, buf + pos + fr.off, &fr, piece_max);
                pos += fr.consumed;
                continue;
            }
            pos += fr.consumed;
            if (fr.consumed == 0)
                break;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    /* Streaming keeps at most a header unconsumed. */
    if (have > (f->kind == SB_FRAMER_FIXED ? 0 : f->len))
        a->bad = 1;
}

/* The wire form of the bodies under framer kind (hdr: prefix / digit bytes). */
static size_t encode(int kind, size_t hdr, const size_t *lens, int nb, const unsigned char *pat,
                     unsigned char *out)
{
    size_t o = 0, i;
    int b;

    for (b = 0; b < nb; b++) {
        uint64_t l = lens[b];
        if (kind == SB_FRAMER_PREFIX)
            for (i = 0; i < hdr; i++)
                out[o + i] = (unsigned char)(l >> (8 * (hdr - 1 - i)));
        else if (kind == SB_FRAMER_DIGITS)
            for (i = 0; i < hdr; i++, l /= 10)
                out[o + hdr - 1 - i] = (unsigned char)('0' + l % 10);
        o += kind == SB_FRAMER_FIXED ? 0 : hdr;
        memcpy(out + o, pat + b * 97, lens[b]);
        o += lens[b];
    }
    return o;
}

static int g_ci, g_q;
static size_t g_k;

static void check_bodies(const asm_ *a, const size_t *lens, int nb, const unsigned char *pat)
{
    int b;

    int ok = !a->bad && !a->open && a->nbodies == nb;

    for (b = 0; ok && b < nb; b++)
        ok = a->blen[b] == lens[b] && memcmp(a->body[b], pat + b * 97, lens[b]) == 0;
    if (!ok)
        ck_abort_msg("case %d piece #%d split %zu: bad %d open %d bodies %d of %d", g_ci, g_q,
                     g_k, a->bad, a->open, a->nbodies, nb);
}

/*
 * Every split of the input into two chunks, and into three (every pair of
 * cut points on a shorter input), and one byte at a time: the same bodies,
 * with pieces no larger than piece_max, FIRST and LAST once per body (a
 * 0-length body is one FIRST|LAST piece).
 */
START_TEST(test_every_split)
{
    static unsigned char pat[4096], in[8192];
    static const size_t sized[] = {0, 1, 300, 17, 0, 1000};
    static const size_t small[] = {0, 1, 200, 17, 0, 255};
    static const size_t fixed[] = {40, 40, 40};
    static const struct {
        int kind, hdr;
        const size_t *lens;
        int nb;
    } cases[] = {
        {SB_FRAMER_PREFIX, 4, sized, 6},
        {SB_FRAMER_PREFIX, 1, small, 6}, /* lengths that fit one byte */
        {SB_FRAMER_DIGITS, 5, sized, 6},
        {SB_FRAMER_FIXED, 0, fixed, 3},
    };
    size_t pieces[] = {1, 7, 64, 100000};
    size_t k, j, q, n, cuts[2];
    int ci;
    asm_ a;

    tu_fill(pat, sizeof(pat), 5);
    for (ci = 0; ci < 4; ci++) {
        for (q = 0; q < 4; q++) {
            sb_framer f;
            n = encode(cases[ci].kind, (size_t)cases[ci].hdr, cases[ci].lens, cases[ci].nb, pat,
                       in);
            switch (cases[ci].kind) {
            case SB_FRAMER_PREFIX:
                ck_assert_int_eq(sb_framer_prefix(&f, cases[ci].hdr, 0), 0);
                break;
            case SB_FRAMER_DIGITS:
                ck_assert_int_eq(sb_framer_digits(&f, cases[ci].hdr, 0), 0);
                break;
            default:
                ck_assert_int_eq(sb_framer_fixed(&f, 40), 0);
            }
            ck_assert_int_eq(sb_framer_stream(&f, pieces[q]), 0);
            g_ci = ci;
            g_q = (int)q;
            for (k = 0; k <= n; k++) {
                g_k = k;
                cuts[0] = k;
                feed(&f, in, n, cuts, k < n ? 1 : 0, pieces[q], &a);
                check_bodies(&a, cases[ci].lens, cases[ci].nb, pat);
            }
            /* Three chunks over the first 120 bytes' cut points. */
            for (k = 1; k < 120 && k < n; k++)
                for (j = k + 1; j < 120 && j < n; j++) {
                    cuts[0] = k;
                    cuts[1] = j;
                    feed(&f, in, n, cuts, 2, pieces[q], &a);
                    check_bodies(&a, cases[ci].lens, cases[ci].nb, pat);
                }
            {
                static size_t ones[8192];
                for (k = 0; k + 1 < n; k++)
                    ones[k] = k + 1;
                feed(&f, in, n, ones, (int)(n - 1), pieces[q], &a);
                check_bodies(&a, cases[ci].lens, cases[ci].nb, pat);
                if (pieces[q] == 1 && a.maxpiece != 1)
                    ck_abort_msg("a piece of %zu bytes with piece_max 1", a.maxpiece);
            }
        }
    }
}
END_TEST

/* The announced length is still checked from the header alone, and a
 * rejected body can be skipped; other framers refuse streaming. */
START_TEST(test_stream_limits)
{
    sb_framer f;
    sb_framer_cut fr;
    unsigned char in[] = {0, 0, 0x10, 0, 'x', 0, 0, 0, 2, 'h', 'i'};

    ck_assert_int_eq(sb_framer_prefix(&f, 4, 1000), 0);
    ck_assert_int_eq(sb_framer_stream(&f, 0), 0);
    ck_assert_uint_eq(f.piece, SB_FRAMER_DEFAULT_PIECE);
    ck_assert_int_eq(sb_framer_next(&f, (const char *)in, 4, 0, &fr), SB_ETOOLONG);
    ck_assert_int_eq(sb_framer_skip(&f), 0);
    /* 4 + 4096 bytes skipped; give the first 5 here, as if more follow. */
    ck_assert_int_eq(sb_framer_next(&f, (const char *)in, 5, 0, &fr), 0);
    ck_assert_uint_eq(fr.consumed, 5);
    ck_assert_uint_eq(f.skip, 4095);
    f.skip = 0; /* (the rest of the skipped body) */
    ck_assert_int_eq(sb_framer_next(&f, (const char *)in + 5, 6, 0, &fr), 1);
    ck_assert_uint_eq(fr.flags, SB_CUT_PIECE | SB_CUT_FIRST | SB_CUT_LAST);
    ck_assert_uint_eq(fr.len, 2);
    ck_assert_int_eq(memcmp(in + 5 + fr.off, "hi", 2), 0);

    ck_assert_int_eq(sb_framer_line(&f, 0), 0);
    ck_assert_int_eq(sb_framer_stream(&f, 10), -EINVAL);
    ck_assert_int_eq(sb_framer_raw(&f), 0);
    ck_assert_int_eq(sb_framer_stream(&f, 10), -EINVAL);
    ck_assert_int_eq(sb_framer_eof(&f, 0), 0);
    ck_assert_int_eq(sb_framer_stream(&f, 10), -EINVAL);
    ck_assert_int_eq(sb_framer_stream(NULL, 10), -EINVAL);
    /* A whole-message framer's cuts carry no flags. */
    ck_assert_int_eq(sb_framer_fixed(&f, 2), 0);
    ck_assert_int_eq(sb_framer_next(&f, "ab", 2, 0, &fr), 1);
    ck_assert_uint_eq(fr.flags, 0);
}
END_TEST

/* ------------------------------------------------------ on a connection */

typedef struct sx {
    sb_conn *c;
    int opens, closes, eofs, reason;
    uint64_t got, want_left;
    uint32_t hash;
    int firsts, lasts, bad;
    size_t max_buffered;
    uint64_t bodies_done;
} sx;

static uint32_t fnv(uint32_t h, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static void sx_open(sb_conn *c, void *u)
{
    sx *x = u;
    sb_framer f;

    x->c = c;
    x->opens++;
    x->hash = 2166136261u;
    ck_assert_int_eq(sb_framer_prefix(&f, 8, (size_t)1 << 30), 0); /* 1 GiB accepted */
    ck_assert_int_eq(sb_framer_stream(&f, 16384), 0);
    ck_assert_int_eq(sb_conn_set_framer(c, &f), 0);
    ck_assert_uint_eq(sb_conn_piece(c, NULL), 0); /* outside on_data */
}

static void sx_data(sb_conn *c, const char *d, size_t n, void *u)
{
    sx *x = u;
    uint64_t left = 99;
    unsigned fl = sb_conn_piece(c, &left);

    if (!(fl & SB_CUT_PIECE) || n > 16384)
        x->bad++;
    if (fl & SB_CUT_FIRST)
        x->firsts++;
    if (fl & SB_CUT_LAST) {
        x->lasts++;
        if (left != 0)
            x->bad++;
    }
    x->got += n;
    x->hash = fnv(x->hash, d, n);
    if (sb_conn_buffered(c) > x->max_buffered)
        x->max_buffered = sb_conn_buffered(c);
    x->want_left = left;
}

static void sx_eof(sb_conn *c, void *u)
{
    ((sx *)u)->eofs++;
    sb_close(c);
}

static void sx_close(sb_conn *c, int reason, void *u)
{
    sx *x = u;

    x->closes++;
    x->reason = reason;
    x->c = NULL;
}

static const sb_handler sx_handler = {
    .on_open = sx_open, .on_data = sx_data, .on_eof = sx_eof, .on_close = sx_close};

/*
 * A large body behind an 8-byte length (the framer accepts 1 GiB): it
 * arrives in pieces of at most 16 KiB, byte-exact (hashed), one FIRST and
 * one LAST; the connection's input buffer never holds more than a header
 * and one read, however the input is split (random chunks, and forced
 * short reads through the fault seam).
 */
static void big_body_run(int partial)
{
    /* 16 MiB (4 MiB under valgrind; a quarter with forced short reads):
     * the bound checked is one read, whatever the body. */
    const uint64_t BODY = (uint64_t)(tu_slow() ? 4 : 16) << 20 >> (partial ? 2 : 0);
    sb_loop *loop = sb_loop_new();
    sx x = {0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &sx_handler, &x, NULL, NULL);
    static char chunk[100000];
    unsigned char hdr[8];
    uint32_t want = 2166136261u, rs = 77;
    uint64_t sent = 0;
    int fd, i;

    ck_assert_ptr_nonnull(l);
    fd = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    if (partial)
        tu_fault_partial_io(partial);
    sb_put_be64(hdr, BODY);
    ck_assert_int_eq(tu_send(fd, hdr, 3), 3); /* the header split too */
    sb_loop_run_once(loop, 1);
    ck_assert_int_eq(tu_send(fd, hdr + 3, 5), 5);
    tu_fill((unsigned char *)chunk, sizeof(chunk), 9);
    for (i = 0; i < 200000 && sent < BODY; i++) {
        size_t n = 1 + tu_rand(&rs) % sizeof(chunk);
        ssize_t w;
        if (n > BODY - sent)
            n = (size_t)(BODY - sent);
        w = tu_send(fd, chunk, n);
        if (w > 0) {
            want = fnv(want, chunk, (size_t)w);
            sent += (uint64_t)w;
        }
        sb_loop_run_once(loop, 0);
    }
    ck_assert_uint_eq(sent, BODY);
    TU_ASSERT_EVENTUALLY(loop, x.got == BODY, 100000);
    tu_fault_reset();
    ck_assert_int_eq(x.bad, 0);
    ck_assert_int_eq(x.firsts, 1);
    ck_assert_int_eq(x.lasts, 1);
    ck_assert_uint_eq(x.hash, want);
    ck_assert_uint_le(x.max_buffered, 8 + 64 * 1024);
    shutdown(fd, SHUT_WR);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.eofs, 1);
    ck_assert_int_eq(x.reason, 0);
    close(fd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}

START_TEST(test_big_body_on_conn)
{
    big_body_run(0);
}
END_TEST

START_TEST(test_big_body_partial_io)
{
    big_body_run(3);
}
END_TEST

/* An EOF inside a streamed body: on_eof, with no LAST piece delivered. */
START_TEST(test_eof_inside_body)
{
    sb_loop *loop = sb_loop_new();
    sx x = {0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &sx_handler, &x, NULL, NULL);
    unsigned char hdr[8];
    int fd;

    fd = tu_connect_tcp(sb_listener_port(l));
    TU_ASSERT_EVENTUALLY(loop, x.opens == 1, 1000);
    sb_put_be64(hdr, 1000);
    ck_assert_int_eq(tu_send(fd, hdr, 8), 8);
    ck_assert_int_eq(tu_send(fd, "0123456789", 10), 10);
    TU_ASSERT_EVENTUALLY(loop, x.got == 10, 1000);
    ck_assert_uint_eq(x.want_left, 990);
    shutdown(fd, SHUT_WR);
    TU_ASSERT_EVENTUALLY(loop, x.closes == 1, 1000);
    ck_assert_int_eq(x.eofs, 1);
    ck_assert_int_eq(x.firsts, 1);
    ck_assert_int_eq(x.lasts, 0);
    close(fd);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("bodies");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_split);
    tcase_add_test(tc, test_stream_limits);
    tcase_add_test(tc, test_big_body_on_conn);
    tcase_add_test(tc, test_big_body_partial_io);
    tcase_add_test(tc, test_eof_inside_body);
    suite_add_tcase(s, tc);
    return s;
}
