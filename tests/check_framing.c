/* Framers as pure functions (every chunk size 1..64 and random splits give
 * the same messages; boundaries; hostile headers) and framing on real
 * connections (switching, floods, errors, encoders). */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ pure driver */

typedef struct msgs {
    char *data[64];
    size_t len[64];
    int n;
    int err;         /* first error returned, 0 if none */
    size_t consumed; /* bytes consumed (delivered or skipped) */
    size_t pending;  /* bytes fed and not consumed */
} msgs;

static void msgs_free(msgs *m)
{
    int i;
    for (i = 0; i < m->n; i++)
        free(m->data[i]);
    memset(m, 0, sizeof(*m));
}

/*
 * Feed `stream` to a copy of `proto` the way a connection does: append each
 * chunk (size `chunk`, or random 1..97 when 0), then cut as many messages as
 * the buffered bytes allow.  With skip_errors, SB_ETOOLONG is skipped
 * (sb_framer_skip) instead of stopping.  eof: offer the rest as end of stream.
 */
static void feed(const sb_framer *proto, const char *stream, size_t slen, size_t chunk,
                 uint32_t seed, int eof, int skip_errors, msgs *m)
{
    sb_framer f = *proto;
    char *buf = malloc(slen + 1);
    size_t have = 0, pos = 0;
    int done = 0;

    memset(m, 0, sizeof(*m));
    while (!done) {
        size_t n = chunk ? chunk : 1 + tu_rand(&seed) % 97;
        int last = have + n >= slen;
        if (last)
            n = slen - have;
        memcpy(buf + have, stream + have, n);
        have += n;
        for (;;) {
            sb_framer_cut fr;
            int r = sb_framer_next(&f, buf + pos, have - pos, last && eof, &fr);
            ck_assert_uint_le(fr.consumed, have - pos);
            if (r == 1) {
                ck_assert_uint_le(fr.off + fr.len, have - pos);
                ck_assert_int_lt(m->n, 64);
                m->data[m->n] = malloc(fr.len + 1);
                memcpy(m->data[m->n], buf + pos + fr.off, fr.len);
                m->len[m->n++] = fr.len;
                pos += fr.consumed;
                m->consumed += fr.consumed;
                continue;
            }
            if (r == 0) {
                pos += fr.consumed;
                m->consumed += fr.consumed;
                if (fr.consumed == 0)
                    break;
                continue;
            }
            ck_assert_uint_eq(fr.consumed, 0);
            if (!m->err)
                m->err = r;
            if (skip_errors && sb_framer_skip(&f) == 0)
                continue;
            done = 1;
            break;
        }
        if (last)
            done = 1;
    }
    m->pending = have - pos;
    free(buf);
}

/* Every chunk size 1..64 and 20 random splits produce `want` exactly. */
static void expect_all_splits(const sb_framer *f, const char *stream, size_t slen,
                              const char *const *want, const size_t *wlen, int nwant, int eof,
                              int want_err)
{
    size_t chunk;
    int i, k;

    for (k = 0; k < 64 + 20; k++) {
        msgs m;
        chunk = k < 64 ? (size_t)k + 1 : 0;
        feed(f, stream, slen, chunk, (uint32_t)k * 2654435761u, eof, 0, &m);
        ck_assert_msg(m.n == nwant, "chunk %zu: %d messages, want %d", chunk, m.n, nwant);
        for (i = 0; i < nwant; i++) {
            ck_assert_msg(m.len[i] == wlen[i], "chunk %zu msg %d: len %zu want %zu", chunk, i,
                          m.len[i], wlen[i]);
            ck_assert_int_eq(memcmp(m.data[i], want[i], wlen[i]), 0);
        }
        ck_assert_int_eq(m.err, want_err);
        msgs_free(&m);
    }
}

START_TEST(test_raw_any_split)
{
    const char s[] = "raw bytes arrive as they come";
    sb_framer f;
    int k;

    sb_framer_raw(&f);
    for (k = 1; k <= 64; k++) {
        msgs m;
        char all[64];
        size_t at = 0;
        int i;
        feed(&f, s, sizeof(s) - 1, (size_t)k, 1, 0, 0, &m);
        for (i = 0; i < m.n; i++) {
            memcpy(all + at, m.data[i], m.len[i]);
            at += m.len[i];
        }
        ck_assert_uint_eq(at, sizeof(s) - 1);
        ck_assert_int_eq(memcmp(all, s, at), 0);
        msgs_free(&m);
    }
}
END_TEST

START_TEST(test_delim_lines)
{
    static const char s[] = "hello\nworld\n\nlast line\n";
    static const char *const want[] = {"hello", "world", "", "last line"};
    static const size_t wlen[] = {5, 5, 0, 9};
    static const char *const keep[] = {"hello\n", "world\n", "\n", "last line\n"};
    static const size_t klen[] = {6, 6, 1, 10};
    sb_framer f;

    ck_assert_int_eq(sb_framer_delim(&f, "\n", 1, 100, 0), 0);
    expect_all_splits(&f, s, sizeof(s) - 1, want, wlen, 4, 0, 0);
    ck_assert_int_eq(sb_framer_delim(&f, "\n", 1, 100, SB_FRAMER_KEEP_DELIM), 0);
    expect_all_splits(&f, s, sizeof(s) - 1, keep, klen, 4, 0, 0);
}
END_TEST

START_TEST(test_delim_multibyte)
{
    /* Partial delimiter matches inside the message must not confuse it. */
    static const char s[] = "a\r\n\r\r\n\r\nb\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char *const want[] = {"a\r\n\r", "b", "", "GET / HTTP/1.1\r\nHost: x"};
    static const size_t wlen[] = {4, 1, 0, 23};
    static const char z[] = "one\0two\0\0";
    static const char *const zwant[] = {"one", "two", ""};
    static const size_t zlen[] = {3, 3, 0};
    sb_framer f;

    ck_assert_int_eq(sb_framer_delim(&f, "\r\n\r\n", 4, 100, 0), 0);
    expect_all_splits(&f, s, sizeof(s) - 1, want, wlen, 4, 0, 0);
    ck_assert_int_eq(sb_framer_delim(&f, "\0", 1, 100, 0), 0);
    expect_all_splits(&f, z, sizeof(z) - 1, zwant, zlen, 3, 0, 0);
}
END_TEST

START_TEST(test_delim_max_length_boundary)
{
    /* Exactly max_len bytes with a split CRLF delimiter: accepted. */
    static const char ok[] = "0123456789\r\nnext\r\n";
    static const char *const want[] = {"0123456789", "next"};
    static const size_t wlen[] = {10, 4};
    /* One byte more: rejected, before the delimiter even arrives. */
    static const char bad[] = "01234567890\r\n";
    sb_framer f;
    msgs m;

    ck_assert_int_eq(sb_framer_delim(&f, "\r\n", 2, 10, 0), 0);
    expect_all_splits(&f, ok, sizeof(ok) - 1, want, wlen, 2, 0, 0);
    expect_all_splits(&f, bad, sizeof(bad) - 1, NULL, NULL, 0, 0, SB_ETOOLONG);
    feed(&f, bad, 12, 1, 0, 0, 0, &m); /* 12 bytes: no CRLF can start by 10 */
    ck_assert_int_eq(m.err, SB_ETOOLONG);
    msgs_free(&m);
    feed(&f, bad, 11, 1, 0, 0, 0, &m); /* 11 bytes: still undecided */
    ck_assert_int_eq(m.err, 0);
    msgs_free(&m);
}
END_TEST

START_TEST(test_delim_skip_long_line)
{
    static const char s[] = "way too long for five\nok\nalso far too long\nyes\n";
    sb_framer f;
    int k;

    ck_assert_int_eq(sb_framer_delim(&f, "\n", 1, 5, 0), 0);
    for (k = 1; k <= 64; k++) {
        msgs m;
        feed(&f, s, sizeof(s) - 1, (size_t)k, 0, 0, 1, &m);
        ck_assert_int_eq(m.err, SB_ETOOLONG);
        ck_assert_int_eq(m.n, 2);
        ck_assert_uint_eq(m.len[0], 2);
        ck_assert_int_eq(memcmp(m.data[0], "ok", 2), 0);
        ck_assert_int_eq(memcmp(m.data[1], "yes", 3), 0);
        ck_assert_uint_eq(m.consumed + m.pending, sizeof(s) - 1);
        ck_assert_uint_eq(m.pending, 0);
        msgs_free(&m);
    }
}
END_TEST

/* A long line arriving one byte at a time is searched once, not O(n^2):
 * the framer's scan position always equals the bytes buffered. */
START_TEST(test_delim_never_rescans)
{
    enum { N = 100000 };
    char *line = malloc(N + 1);
    sb_framer f;
    size_t i;

    memset(line, 'x', N);
    line[N] = '\n';
    sb_framer_delim(&f, "\n", 1, N, 0);
    for (i = 1; i <= N; i++) {
        sb_framer_cut fr;
        ck_assert_int_eq(sb_framer_next(&f, line, i, 0, &fr), 0);
        ck_assert_uint_eq(f.scanned, i);
    }
    {
        sb_framer_cut fr;
        ck_assert_int_eq(sb_framer_next(&f, line, N + 1, 0, &fr), 1);
        ck_assert_uint_eq(fr.len, N);
    }
    free(line);
}
END_TEST

START_TEST(test_fixed)
{
    static const char s[] = "abcdeFGHIJ12345";
    static const char *const want[] = {"abcde", "FGHIJ", "12345"};
    static const size_t wlen[] = {5, 5, 5};
    sb_framer f;
    msgs m;

    ck_assert_int_eq(sb_framer_fixed(&f, 5), 0);
    expect_all_splits(&f, s, sizeof(s) - 1, want, wlen, 3, 0, 0);
    feed(&f, s, 13, 3, 0, 0, 0, &m); /* a partial third message stays pending */
    ck_assert_int_eq(m.n, 2);
    ck_assert_uint_eq(m.pending, 3);
    msgs_free(&m);
}
END_TEST

/* fixed(0): one empty message at once, without input; then SB_EFRAME
 * until a new framer is set (the input cannot be cut otherwise). */
START_TEST(test_fixed_zero)
{
    sb_framer f;
    sb_framer_cut fr;

    ck_assert_int_eq(sb_framer_fixed(&f, 0), 0);
    ck_assert_int_eq(sb_framer_next(&f, "", 0, 0, &fr), 1);
    ck_assert_uint_eq(fr.len, 0);
    ck_assert_uint_eq(fr.consumed, 0);
    ck_assert_int_eq(sb_framer_next(&f, "abc", 3, 0, &fr), SB_EFRAME);
    ck_assert_int_eq(sb_framer_skip(&f), SB_EFRAME);
    ck_assert_int_eq(sb_framer_fixed(&f, 0), 0); /* set again: one more */
    ck_assert_int_eq(sb_framer_next(&f, "abc", 3, 0, &fr), 1);
    ck_assert_uint_eq(fr.len, 0);
}
END_TEST

/* The line framer: "\n" or "\r\n", either stripped; max_len counts neither. */
START_TEST(test_line_lf_or_crlf)
{
    static const char s[] = "a\r\nbb\n\r\n\nc\r\r\n";
    static const char *const want[] = {"a", "bb", "", "", "c\r"};
    static const size_t wlen[] = {1, 2, 0, 0, 2};
    sb_framer f;
    sb_framer_cut fr;

    ck_assert_int_eq(sb_framer_line(&f, 0), 0);
    ck_assert_uint_eq(f.max_len, SB_FRAMER_DEFAULT_MAX_DELIM);
    expect_all_splits(&f, s, sizeof(s) - 1, want, wlen, 5, 0, 0);
    /* At max_len: "abc\r\n" and "abc\n" fit in 3, "abcd\n" does not. */
    ck_assert_int_eq(sb_framer_line(&f, 3), 0);
    ck_assert_int_eq(sb_framer_next(&f, "abc\r\n", 5, 0, &fr), 1);
    ck_assert_uint_eq(fr.len, 3);
    ck_assert_uint_eq(fr.consumed, 5);
    ck_assert_int_eq(sb_framer_line(&f, 3), 0);
    ck_assert_int_eq(sb_framer_next(&f, "abc\n", 4, 0, &fr), 1);
    ck_assert_uint_eq(fr.len, 3);
    ck_assert_int_eq(sb_framer_line(&f, 3), 0);
    ck_assert_int_eq(sb_framer_next(&f, "abcd\n", 5, 0, &fr), SB_ETOOLONG);
    ck_assert_int_eq(sb_framer_line(&f, 3), 0);
    ck_assert_int_eq(sb_framer_next(&f, "abcd", 4, 0, &fr), 0); /* "\r" may follow */
    ck_assert_int_eq(sb_framer_next(&f, "abcde", 5, 0, &fr), SB_ETOOLONG);
    ck_assert_int_eq(sb_framer_skip(&f), 0);
    /* KEEP_DELIM keeps what was there; STRIP_CR needs the "\n" delimiter. */
    ck_assert_int_eq(sb_framer_delim(&f, "\n", 1, 8, SB_FRAMER_KEEP_DELIM | SB_FRAMER_STRIP_CR), 0);
    ck_assert_int_eq(sb_framer_next(&f, "ab\r\n", 4, 0, &fr), 1);
    ck_assert_uint_eq(fr.len, 4);
    ck_assert_int_eq(sb_framer_delim(&f, "\r\n", 2, 8, SB_FRAMER_STRIP_CR), -EINVAL);
}
END_TEST

/* max_len 0: each framing's own default, what its users expect. */
START_TEST(test_default_max_per_kind)
{
    sb_framer f;
    sb_framer_cut fr;
    char hdr[4] = {0, 1, 0x11, 0x70}; /* 70,000 */
    char *msg = calloc(1, 4 + 70000);

    ck_assert_int_eq(sb_framer_delim(&f, "\n", 1, 0, 0), 0);
    ck_assert_uint_eq(f.max_len, 65536);
    ck_assert_int_eq(sb_framer_prefix(&f, 1, 0), 0);
    ck_assert_uint_eq(f.max_len, 255);
    ck_assert_int_eq(sb_framer_prefix(&f, 2, 0), 0);
    ck_assert_uint_eq(f.max_len, 65535);
    ck_assert_int_eq(sb_framer_prefix(&f, 8, 0), 0);
    ck_assert_uint_eq(f.max_len, 16u << 20);
    ck_assert_int_eq(sb_framer_digits(&f, 3, 0), 0);
    ck_assert_uint_eq(f.max_len, 999);
    ck_assert_int_eq(sb_framer_digits(&f, 19, 0), 0);
    ck_assert_uint_eq(f.max_len, 16u << 20);
    ck_assert_int_eq(sb_framer_eof(&f, 0), 0);
    ck_assert_uint_eq(f.max_len, 1u << 20);
    /* A 70,000-byte message behind a 4-byte prefix is accepted by default;
     * a hostile 4 GiB one is refused from its header. */
    ck_assert_int_eq(sb_framer_prefix(&f, 4, 0), 0);
    memcpy(msg, hdr, 4);
    ck_assert_int_eq(sb_framer_next(&f, msg, 4 + 70000, 0, &fr), 1);
    ck_assert_uint_eq(fr.len, 70000);
    ck_assert_int_eq(sb_framer_next(&f, "\xff\xff\xff\xff", 4, 0, &fr), SB_ETOOLONG);
    free(msg);
}
END_TEST

/* Build a stream of nbytes-prefixed messages of the given lengths. */
static size_t build_prefixed(int nbytes, const size_t *lens, int n, char *out)
{
    size_t at = 0;
    int i, b;
    for (i = 0; i < n; i++) {
        uint64_t v = lens[i];
        for (b = nbytes - 1; b >= 0; b--, v >>= 8)
            out[at + (size_t)b] = (char)(unsigned char)v;
        at += (size_t)nbytes;
        memset(out + at, 'a' + i, lens[i]);
        at += lens[i];
    }
    return at;
}

START_TEST(test_prefix_all_widths)
{
    static const size_t lens[] = {0, 1, 5, 200, 0, 255};
    static const int widths[] = {1, 2, 4, 8};
    char stream[1024], *want[6];
    size_t n;
    int w, i;

    for (w = 0; w < 4; w++) {
        sb_framer f;
        ck_assert_int_eq(sb_framer_prefix(&f, widths[w], 300), 0);
        n = build_prefixed(widths[w], lens, 6, stream);
        for (i = 0; i < 6; i++) {
            want[i] = malloc(lens[i] + 1);
            memset(want[i], 'a' + i, lens[i]);
        }
        expect_all_splits(&f, stream, n, (const char *const *)want, lens, 6, 0, 0);
        for (i = 0; i < 6; i++)
            free(want[i]);
    }
    {
        sb_framer f;
        ck_assert_int_eq(sb_framer_prefix(&f, 3, 10), -EINVAL);
    }
}
END_TEST

START_TEST(test_prefix_hostile)
{
    static const unsigned char huge4[] = {0xff, 0xff, 0xff, 0xff};
    static const unsigned char big8[] = {0, 0, 0, 1, 0, 0, 0, 0};
    static const unsigned char max8[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    sb_framer f;
    sb_framer_cut fr;

    /* Rejected from the header alone: nothing needs buffering. */
    sb_framer_prefix(&f, 4, 1 << 20);
    ck_assert_int_eq(sb_framer_next(&f, (const char *)huge4, 4, 0, &fr), SB_ETOOLONG);
    /* An HTTP request hitting a binary port: "GET " is 1.2 GB. */
    sb_framer_prefix(&f, 4, 1 << 20);
    ck_assert_int_eq(sb_framer_next(&f, "GET / HTTP/1.1\r\n", 16, 0, &fr), SB_ETOOLONG);
    sb_framer_prefix(&f, 8, 1 << 20);
    ck_assert_int_eq(sb_framer_next(&f, (const char *)big8, 8, 0, &fr), SB_ETOOLONG);
    sb_framer_prefix(&f, 8, 1 << 20);
    ck_assert_int_eq(sb_framer_next(&f, (const char *)max8, 8, 0, &fr), SB_ETOOLONG);
    ck_assert_int_eq(sb_framer_skip(&f), 0); /* saturates instead of wrapping */
    ck_assert(f.skip > ((uint64_t)1 << 62));
}
END_TEST

START_TEST(test_prefix_skip_too_long)
{
    static const size_t lens[] = {3, 50, 4};
    char stream[128];
    size_t n = build_prefixed(2, lens, 3, stream);
    sb_framer f;
    int k;

    sb_framer_prefix(&f, 2, 10);
    for (k = 1; k <= 64; k++) {
        msgs m;
        feed(&f, stream, n, (size_t)k, 0, 0, 1, &m);
        ck_assert_int_eq(m.err, SB_ETOOLONG);
        ck_assert_int_eq(m.n, 2);
        ck_assert_int_eq(memcmp(m.data[0], "aaa", 3), 0);
        ck_assert_int_eq(memcmp(m.data[1], "cccc", 4), 0);
        ck_assert_uint_eq(m.consumed, n);
        msgs_free(&m);
    }
}
END_TEST

START_TEST(test_digits)
{
    static const char s[] = "00005hello0000000003abc";
    static const char *const want[] = {"hello", "", "abc"};
    static const size_t wlen[] = {5, 0, 3};
    sb_framer f;
    msgs m;

    ck_assert_int_eq(sb_framer_digits(&f, 5, 100), 0);
    expect_all_splits(&f, s, sizeof(s) - 1, want, wlen, 3, 0, 0);
    /* A non-digit is an error as soon as it arrives, and cannot be skipped. */
    feed(&f, "00a", 3, 1, 0, 0, 1, &m);
    ck_assert_int_eq(m.err, SB_EFRAME);
    msgs_free(&m);
    feed(&f, "GET / HTTP/1.1", 14, 64, 0, 0, 0, &m);
    ck_assert_int_eq(m.err, SB_EFRAME);
    msgs_free(&m);
    feed(&f, "-0001x", 6, 64, 0, 0, 0, &m);
    ck_assert_int_eq(m.err, SB_EFRAME);
    msgs_free(&m);
    /* Over the maximum: rejected from the header, skippable. */
    feed(&f, "00101", 5, 1, 0, 0, 0, &m);
    ck_assert_int_eq(m.err, SB_ETOOLONG);
    msgs_free(&m);
    ck_assert_int_eq(sb_framer_digits(&f, 0, 10), -EINVAL);
    ck_assert_int_eq(sb_framer_digits(&f, 20, 10), -EINVAL);
}
END_TEST

START_TEST(test_until_eof)
{
    static const char s[] = "everything until the peer shuts down\nincluding newlines";
    static const char *const want[] = {s};
    static const size_t wlen[] = {sizeof(s) - 1};
    sb_framer f;
    msgs m;

    sb_framer_eof(&f, 1000);
    expect_all_splits(&f, s, sizeof(s) - 1, want, wlen, 1, 1, 0);
    /* Without the end of stream, nothing is delivered. */
    feed(&f, s, sizeof(s) - 1, 7, 0, 0, 0, &m);
    ck_assert_int_eq(m.n, 0);
    ck_assert_uint_eq(m.pending, sizeof(s) - 1);
    msgs_free(&m);
    /* Past the maximum: rejected without waiting for the end. */
    sb_framer_eof(&f, 10);
    feed(&f, s, sizeof(s) - 1, 4, 0, 0, 0, &m);
    ck_assert_int_eq(m.err, SB_ETOOLONG);
    msgs_free(&m);
    /* An empty stream is one empty message, delivered once. */
    {
        sb_framer_cut fr;
        sb_framer_eof(&f, 10);
        ck_assert_int_eq(sb_framer_next(&f, "", 0, 1, &fr), 1);
        ck_assert_uint_eq(fr.len, 0);
        ck_assert_int_eq(sb_framer_next(&f, "", 0, 1, &fr), 0);
    }
}
END_TEST

START_TEST(test_byte_order_helpers)
{
    unsigned char b[8];

    sb_put_be16(b, 0x0102);
    ck_assert(b[0] == 1 && b[1] == 2);
    ck_assert_uint_eq(sb_get_be16(b), 0x0102);
    sb_put_be32(b, 0x01020304u);
    ck_assert(b[0] == 1 && b[3] == 4);
    ck_assert_uint_eq(sb_get_be32(b), 0x01020304u);
    sb_put_be64(b, 0x0102030405060708ull);
    ck_assert(b[0] == 1 && b[7] == 8);
    ck_assert(sb_get_be64(b) == 0x0102030405060708ull);
}
END_TEST

/* ------------------------------------------------------ on connections */

/* What an fsrv's connections do with their messages. */
typedef enum fs_mode {
    FS_LINE_OK,        /* lines (16 max): "pong\n" for "ping", else "ok\n" */
    FS_SWITCHING,      /* "SIZE n" line, an n-byte body, then lines again */
    FS_COUNT_FLOOD,    /* "%05lu" lines checked in sequence; "ping" answered */
    FS_UNTIL_EOF,      /* the whole stream up to the peer's FIN: "got it\n" */
    FS_HOSTILE_PREFIX, /* 4-byte length prefix, 1 MiB max; nothing answered */
    FS_ENCODERS,       /* each line sent back through the write-side encoders */
} fs_mode;

typedef struct fsrv {
    sb_loop *loop;
    sb_listener *l;
    int port;
    int opens, closes, reason, nmsgs;
    char log[4096];
    size_t loglen;
    int keep_on_error;
    fs_mode mode;
    int in_body;
    unsigned long next_seq;
} fsrv;

static void fs_log(fsrv *s, const char *d, size_t n)
{
    if (s->loglen + n + 1 < sizeof(s->log)) {
        memcpy(s->log + s->loglen, d, n);
        s->loglen += n;
        s->log[s->loglen++] = '|';
        s->log[s->loglen] = '\0';
    }
}

static void fs_open(sb_conn *c, void *u)
{
    fsrv *s = u;
    s->opens++;
    switch (s->mode) {
    case FS_UNTIL_EOF:
        sb_conn_framer_eof(c, 1 << 20);
        break;
    case FS_HOSTILE_PREFIX:
        sb_conn_framer_prefix(c, 4, 1 << 20);
        break;
    default:
        sb_conn_framer_line(c, 16);
    }
}

static void fs_data(sb_conn *c, const char *d, size_t n, void *u)
{
    fsrv *s = u;
    s->nmsgs++;
    switch (s->mode) {
    case FS_LINE_OK:
        fs_log(s, d, n);
        if (n == 4 && memcmp(d, "ping", 4) == 0)
            sb_write(c, "pong\n", 5);
        else
            sb_write(c, "ok\n", 3);
        break;
    case FS_SWITCHING:
        fs_log(s, d, n);
        if (s->in_body) {
            s->in_body = 0;
            sb_conn_framer_line(c, 16);
        } else if (n > 5 && memcmp(d, "SIZE ", 5) == 0) {
            s->in_body = 1;
            sb_conn_framer_fixed(c, (size_t)atoi(d + 5));
        }
        break;
    case FS_COUNT_FLOOD: {
        char want[16];
        int w = snprintf(want, sizeof(want), "%05lu", s->next_seq);
        if (n == 4 && memcmp(d, "ping", 4) == 0) {
            sb_write(c, "pong\n", 5);
            break;
        }
        ck_assert_uint_eq(n, (size_t)w);
        ck_assert_int_eq(memcmp(d, want, n), 0);
        s->next_seq++;
        break;
    }
    case FS_UNTIL_EOF:
        fs_log(s, d, n);
        sb_write(c, "got it\n", 7);
        break;
    case FS_ENCODERS:
        sb_write_prefix(c, 2, d, n);
        sb_write_digits(c, 5, d, n);
        sb_write_delim(c, d, n, "\r\n", 2);
        ck_assert_int_eq(sb_write_prefix(c, 1, d, 256), SB_ETOOLONG);
        ck_assert_int_eq(sb_write_digits(c, 1, d, 10), SB_ETOOLONG);
        break;
    default:
        break;
    }
}

static int fs_frame_error(sb_conn *c, int err, void *u)
{
    fsrv *s = u;
    ck_assert_int_eq(err, SB_ETOOLONG);
    if (!s->keep_on_error)
        return 0;
    sb_write(c, "ERR line too long\n", 18);
    return 1;
}

static void fs_close(sb_conn *c, int reason, void *u)
{
    fsrv *s = u;
    (void)c;
    s->closes++;
    s->reason = reason;
}

static const sb_handler fs_handler = {fs_open, fs_data, NULL, NULL, fs_close, fs_frame_error};

static void fs_start(fsrv *s, fs_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->loop = sb_loop_new();
    s->l = sb_listen(s->loop, "127.0.0.1:0", &fs_handler, s, NULL, NULL);
    ck_assert_ptr_nonnull(s->l);
    s->port = sb_listener_port(s->l);
}

static void fs_stop(fsrv *s)
{
    TU_RUN_UNTIL(s->loop, s->closes >= s->opens, 500);
    ck_assert_int_eq(s->closes, s->opens);
    sb_listener_close(s->l);
    tu_loop_teardown(s->loop);
}

/* Run until the client has read `want` bytes (or EOF); returns bytes read. */
static size_t client_read(fsrv *s, int fd, char *buf, size_t max, size_t want, int *eof)
{
    size_t got = 0;
    int i;
    *eof = 0;
    for (i = 0; i < 1000 && got < want && !*eof; i++) {
        sb_loop_run_once(s->loop, 10);
        got += (size_t)tu_drain(fd, buf + got, max - got, eof);
    }
    return got;
}

/* Header line, fixed-length body, then lines again, all in one write: the
 * bytes already buffered are cut by each new framer in turn. */
START_TEST(test_switch_framers_mid_batch)
{
    static const char batch[] = "SIZE 11\nhello\nworld#next\nlast\n";
    fsrv s;
    int fd;

    fs_start(&s, FS_SWITCHING);
    fd = tu_connect_tcp(s.port);
    ck_assert_int_eq(tu_send(fd, batch, sizeof(batch) - 1), (ssize_t)sizeof(batch) - 1);
    TU_RUN_UNTIL(s.loop, s.nmsgs >= 4, 500);
    ck_assert_str_eq(s.log, "SIZE 11|hello\nworld|#next|last|");
    close(fd);
    fs_stop(&s);
}
END_TEST

/* An empty body (SIZE 0): its empty message comes at once, without more
 * input, and on_data's next framer takes the following line. */
START_TEST(test_fixed_zero_on_conn)
{
    fsrv s;
    int fd;

    fs_start(&s, FS_SWITCHING);
    fd = tu_connect_tcp(s.port);
    ck_assert_int_eq(tu_send(fd, "SIZE 0\n", 7), 7);
    TU_RUN_UNTIL(s.loop, s.nmsgs >= 2, 500);
    ck_assert_int_eq(s.nmsgs, 2);
    ck_assert_str_eq(s.log, "SIZE 0||");
    ck_assert_int_eq(tu_send(fd, "SIZE 3\nabcafter\r\n", 17), 17);
    TU_RUN_UNTIL(s.loop, s.nmsgs >= 5, 500);
    ck_assert_str_eq(s.log, "SIZE 0||SIZE 3|abc|after|"); /* "\r\n" stripped too */
    ck_assert_int_eq(s.closes, 0);
    close(fd);
    fs_stop(&s);
}
END_TEST

/* 100,000 tiny messages in one burst must not starve another connection:
 * its ping is answered while the flood is still being worked through, and
 * every flood message still arrives, in order. */
START_TEST(test_flood_does_not_starve)
{
    enum { N = 100000 };
    char *flood = malloc(N * 6 + 1), pong[8]; /* sprintf adds a NUL */
    size_t at = 0, sent = 0;
    fsrv s;
    int a, b, i, eof = 0, seen_at = -1;
    unsigned long at_pong = 0;

    fs_start(&s, FS_COUNT_FLOOD);
    for (i = 0; i < N; i++)
        at += (size_t)sprintf(flood + at, "%05d\n", i);
    a = tu_connect_tcp(s.port);
    b = tu_connect_tcp(s.port);
    TU_ASSERT_EVENTUALLY(s.loop, s.opens >= 2, 500);
    /* Put as much of the flood in flight as the socket takes, then ping. */
    while (sent < at) {
        ssize_t w = tu_send(a, flood + sent, at - sent);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    ck_assert_int_eq(tu_send(b, "ping\n", 5), 5);
    for (i = 0; i < 100000 && s.next_seq < N; i++) {
        if (sent < at) {
            ssize_t w = tu_send(a, flood + sent, at - sent);
            if (w > 0)
                sent += (size_t)w;
        }
        sb_loop_run_once(s.loop, 0);
        if (seen_at < 0 && tu_drain(b, pong, sizeof(pong), &eof) > 0) {
            seen_at = i;
            at_pong = s.next_seq;
        }
    }
    ck_assert_uint_eq(s.next_seq, N);
    ck_assert_int_ge(seen_at, 0);
    ck_assert_msg(at_pong < N / 2, "ping answered only after %lu flood messages", at_pong);
    close(a);
    close(b);
    fs_stop(&s);
    free(flood);
}
END_TEST

/* An over-long line closes only that connection, after flushing the replies
 * already queued; on_close reports SB_ETOOLONG. */
START_TEST(test_too_long_closes_after_flush)
{
    char buf[64], line[64];
    fsrv s;
    int a, b, eof;
    size_t got;

    fs_start(&s, FS_LINE_OK);
    a = tu_connect_tcp(s.port);
    b = tu_connect_tcp(s.port);
    memset(line, 'z', sizeof(line));
    ck_assert_int_eq(tu_send(a, "one\ntwo\n", 8), 8);
    ck_assert_int_eq(tu_send(a, line, sizeof(line)), (ssize_t)sizeof(line));
    got = client_read(&s, a, buf, sizeof(buf), sizeof(buf), &eof);
    ck_assert_int_eq(eof, 1);
    ck_assert_uint_eq(got, 6);
    ck_assert_int_eq(memcmp(buf, "ok\nok\n", 6), 0);
    close(a); /* ends the server's lingering close */
    TU_RUN_UNTIL(s.loop, s.closes, 500);
    ck_assert_int_eq(s.closes, 1);
    ck_assert_int_eq(s.reason, SB_ETOOLONG);
    {
        sb_loop_stats st;
        sb_loop_get_stats(s.loop, &st);
        ck_assert_uint_eq(st.close_frame, 1);
        ck_assert_uint_eq(st.close_errors, 1);
    }
    /* The other connection is untouched. */
    ck_assert_int_eq(tu_send(b, "ping\n", 5), 5);
    got = client_read(&s, b, buf, sizeof(buf), 5, &eof);
    ck_assert_uint_eq(got, 5);
    ck_assert_int_eq(memcmp(buf, "pong\n", 5), 0);
    close(b);
    fs_stop(&s);
}
END_TEST

/* A 10 MB line with no delimiter: rejected once max_len + delimiter bytes
 * hold none; the connection's input buffer never grows past max + a read. */
static void big_open(sb_conn *c, void *u)
{
    *(sb_conn **)u = c;
    sb_conn_framer_line(c, 65536);
}

static void big_close(sb_conn *c, int reason, void *u)
{
    (void)c;
    *(sb_conn **)u = NULL;
    ck_assert_int_eq(reason, SB_ETOOLONG);
}

START_TEST(test_ten_megabyte_line)
{
    static const sb_handler h = {big_open, NULL, NULL, NULL, big_close, NULL};
    sb_loop *loop = sb_loop_new();
    sb_conn *c = NULL;
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &c, NULL, NULL);
    int fd = tu_connect_tcp(sb_listener_port(l)), i, opened = 0;
    static char chunk[65536];
    size_t sent = 0, peak = 0;

    memset(chunk, 'x', sizeof(chunk));
    for (i = 0; i < 100000 && sent < (10u << 20); i++) {
        ssize_t w = tu_send(fd, chunk, sizeof(chunk));
        if (w > 0)
            sent += (size_t)w;
        else if (errno != EAGAIN)
            break; /* the server closed */
        sb_loop_run_once(loop, 0);
        if (c) {
            opened = 1;
            if (c->in.cap > peak)
                peak = c->in.cap;
        }
    }
    ck_assert_int_eq(opened, 1);
    ck_assert_uint_le(peak, 2 * 65536 + 4096);
    close(fd); /* ends the server's lingering close */
    TU_RUN_UNTIL(loop, c == NULL, 500);
    ck_assert_ptr_null(c); /* closed with SB_ETOOLONG (checked in big_close) */
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/* The handler chooses to be told and keep the connection. */
START_TEST(test_too_long_kept_by_handler)
{
    static const char in[] = "this line is far too long\nping\nanother overly long line\nx\n";
    static const char want[] = "ERR line too long\npong\nERR line too long\nok\n";
    char buf[128];
    fsrv s;
    int fd, eof;
    size_t got;

    fs_start(&s, FS_LINE_OK);
    s.keep_on_error = 1;
    fd = tu_connect_tcp(s.port);
    for (size_t i = 0; i < sizeof(in) - 1; i++) /* one byte at a time */
        ck_assert_int_eq(tu_send(fd, in + i, 1), 1);
    got = client_read(&s, fd, buf, sizeof(buf), sizeof(want) - 1, &eof);
    ck_assert_uint_eq(got, sizeof(want) - 1);
    ck_assert_int_eq(memcmp(buf, want, got), 0);
    ck_assert_int_eq(s.closes, 0);
    close(fd);
    fs_stop(&s);
    ck_assert_int_eq(s.reason, 0);
}
END_TEST

/* Until-EOF framing: the request is everything before the peer's FIN. */
START_TEST(test_until_eof_on_conn)
{
    char buf[32];
    fsrv s;
    int fd, eof;
    size_t got;

    fs_start(&s, FS_UNTIL_EOF);
    fd = tu_connect_tcp(s.port);
    ck_assert_int_eq(tu_send(fd, "part one, ", 10), 10);
    for (int i = 0; i < 5; i++)
        sb_loop_run_once(s.loop, 0);
    ck_assert_int_eq(s.nmsgs, 0);
    ck_assert_int_eq(tu_send(fd, "part two", 8), 8);
    shutdown(fd, SHUT_WR);
    got = client_read(&s, fd, buf, sizeof(buf), sizeof(buf), &eof);
    ck_assert_int_eq(eof, 1);
    ck_assert_uint_eq(got, 7);
    ck_assert_int_eq(memcmp(buf, "got it\n", 7), 0);
    ck_assert_str_eq(s.log, "part one, part two|");
    close(fd);
    fs_stop(&s);
}
END_TEST

/* A hostile length prefix closes the connection at once. */
START_TEST(test_hostile_prefix_on_conn)
{
    static const unsigned char hdr[] = {0xff, 0xff, 0xff, 0xff, 'x'};
    char buf[8];
    fsrv s;
    int fd, eof;

    fs_start(&s, FS_HOSTILE_PREFIX);
    fd = tu_connect_tcp(s.port);
    ck_assert_int_eq(tu_send(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    client_read(&s, fd, buf, sizeof(buf), sizeof(buf), &eof);
    ck_assert_int_ne(eof, 0);
    close(fd);
    TU_RUN_UNTIL(s.loop, s.closes, 500);
    ck_assert_int_eq(s.closes, 1);
    ck_assert_int_eq(s.reason, SB_ETOOLONG);
    ck_assert_int_eq(s.nmsgs, 0);
    fs_stop(&s);
}
END_TEST

/* The write-side encoders produce what the framers read. */
START_TEST(test_encoders_round_trip)
{
    static const char want[] = "\x00\x02hi00002hihi\r\n";
    char buf[64];
    fsrv s;
    int fd, eof;
    size_t got;

    fs_start(&s, FS_ENCODERS);
    fd = tu_connect_tcp(s.port);
    ck_assert_int_eq(tu_send(fd, "hi\n", 3), 3);
    got = client_read(&s, fd, buf, sizeof(buf), sizeof(want) - 1, &eof);
    ck_assert_uint_eq(got, sizeof(want) - 1);
    ck_assert_int_eq(memcmp(buf, want, got), 0);
    /* And the framers read them back. */
    {
        sb_framer f;
        msgs m;
        sb_framer_prefix(&f, 2, 10);
        feed(&f, buf, 4, 1, 0, 0, 0, &m);
        ck_assert_int_eq(m.n, 1);
        ck_assert_int_eq(memcmp(m.data[0], "hi", 2), 0);
        msgs_free(&m);
        sb_framer_digits(&f, 5, 10);
        feed(&f, buf + 4, 7, 1, 0, 0, 0, &m);
        ck_assert_int_eq(m.n, 1);
        msgs_free(&m);
    }
    close(fd);
    fs_stop(&s);
}
END_TEST

/* ---------------------------------------------- edge cases, one handler */

typedef enum edge_mode {
    EDGE_EOF_AFTER_OUR_FIN, /* until-EOF framing, after our own FIN went out */
    EDGE_EOF_THEN_LINES,    /* until-EOF framing; on_data switches to lines */
    EDGE_SHORT_LINES,       /* lines of 4 at most; on_frame_error switches to raw */
} edge_mode;

typedef struct edge {
    edge_mode mode;
    int opens, closes, datas, eofs, reason;
    size_t last_len;
    const char *last_ptr;
} edge;

static void edge_open(sb_conn *c, void *u)
{
    edge *e = u;
    e->opens++;
    switch (e->mode) {
    case EDGE_EOF_AFTER_OUR_FIN: /* our FIN first, then the peer's request until EOF */
        sb_conn_framer_eof(c, 1000);
        sb_shutdown(c);
        break;
    case EDGE_EOF_THEN_LINES:
        sb_conn_framer_eof(c, 1000);
        break;
    case EDGE_SHORT_LINES:
        sb_conn_framer_line(c, 4);
        break;
    }
}

static void edge_data(sb_conn *c, const char *d, size_t n, void *u)
{
    edge *e = u;
    e->datas++;
    e->last_len = n;
    e->last_ptr = d;
    if (e->mode == EDGE_EOF_THEN_LINES)
        sb_conn_framer_line(c, 100); /* the stream was consumed: nothing more */
}

static void edge_eof(sb_conn *c, void *u)
{
    edge *e = u;
    e->eofs++;
    sb_close(c);
}

static int edge_frame_error(sb_conn *c, int err, void *u)
{
    (void)err;
    (void)u;
    sb_conn_framer_raw(c); /* handled by switching framers: keep going */
    return 1;
}

static void edge_close(sb_conn *c, int reason, void *u)
{
    edge *e = u;
    (void)c;
    e->closes++;
    e->reason = reason;
}

static const sb_handler edge_handler = {edge_open, edge_data, edge_eof, NULL, edge_close,
                                        edge_frame_error};

/* One connection in `mode`: send in (and FIN, in the until-EOF modes), wait
 * for the first message, close; returns the messages delivered. */
static int edge_run(edge *e, edge_mode mode, const char *in, size_t n)
{
    sb_loop *loop = sb_loop_new();
    sb_listener *l;
    int fd;

    memset(e, 0, sizeof(*e));
    e->mode = mode;
    l = sb_listen(loop, "127.0.0.1:0", &edge_handler, e, NULL, NULL);
    ck_assert_ptr_nonnull(l);
    fd = tu_connect_tcp(sb_listener_port(l));
    TU_RUN_UNTIL(loop, e->opens, 500);
    if (n)
        ck_assert_int_eq(tu_send(fd, in, n), (ssize_t)n);
    if (mode == EDGE_EOF_AFTER_OUR_FIN || mode == EDGE_EOF_THEN_LINES)
        shutdown(fd, SHUT_WR);
    /* Every mode delivers a first message; any more arrive before on_close
     * (the peer's FIN comes after all its bytes), so e->datas is final
     * once the close below is seen. */
    TU_RUN_UNTIL(loop, e->datas, 500);
    close(fd);
    TU_RUN_UNTIL(loop, e->closes, 500);
    ck_assert_int_eq(e->closes, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
    return e->datas;
}

/* The until-EOF message still arrives when our FIN went out first. */
START_TEST(test_eof_message_after_our_fin)
{
    edge e;
    ck_assert_int_eq(edge_run(&e, EDGE_EOF_AFTER_OUR_FIN, "the request", 11), 1);
    ck_assert_uint_eq(e.last_len, 11);
}
END_TEST

/* The until-EOF message is consumed: switching to lines in its on_data
 * cuts nothing more from it; an empty stream is "" (not NULL). */
START_TEST(test_eof_message_consumed)
{
    edge e;
    ck_assert_int_eq(edge_run(&e, EDGE_EOF_THEN_LINES, "a\nb\nc\n", 6), 1);
    ck_assert_uint_eq(e.last_len, 6);
    ck_assert_int_eq(edge_run(&e, EDGE_EOF_THEN_LINES, "", 0), 1);
    ck_assert_uint_eq(e.last_len, 0);
    ck_assert_ptr_nonnull(e.last_ptr);
}
END_TEST

/* on_frame_error may handle the error by setting another framer. */
START_TEST(test_frame_error_handled_by_new_framer)
{
    edge e;
    edge_run(&e, EDGE_SHORT_LINES, "toolongline\n", 12);
    ck_assert_int_ge(e.datas, 1); /* raw bytes delivered after the switch */
    ck_assert_int_eq(e.reason, 0);
}
END_TEST

Suite *sb_framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tp = tcase_create("pure");
    TCase *tc = tcase_create("conn");

    tcase_set_timeout(tp, 30);
    tcase_add_test(tp, test_raw_any_split);
    tcase_add_test(tp, test_delim_lines);
    tcase_add_test(tp, test_delim_multibyte);
    tcase_add_test(tp, test_delim_max_length_boundary);
    tcase_add_test(tp, test_delim_skip_long_line);
    tcase_add_test(tp, test_delim_never_rescans);
    tcase_add_test(tp, test_fixed);
    tcase_add_test(tp, test_fixed_zero);
    tcase_add_test(tp, test_line_lf_or_crlf);
    tcase_add_test(tp, test_default_max_per_kind);
    tcase_add_test(tp, test_prefix_all_widths);
    tcase_add_test(tp, test_prefix_hostile);
    tcase_add_test(tp, test_prefix_skip_too_long);
    tcase_add_test(tp, test_digits);
    tcase_add_test(tp, test_until_eof);
    tcase_add_test(tp, test_byte_order_helpers);
    suite_add_tcase(s, tp);

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_switch_framers_mid_batch);
    tcase_add_test(tc, test_fixed_zero_on_conn);
    tcase_add_test(tc, test_flood_does_not_starve);
    tcase_add_test(tc, test_too_long_closes_after_flush);
    tcase_add_test(tc, test_too_long_kept_by_handler);
    tcase_add_test(tc, test_ten_megabyte_line);
    tcase_add_test(tc, test_eof_message_after_our_fin);
    tcase_add_test(tc, test_eof_message_consumed);
    tcase_add_test(tc, test_frame_error_handled_by_new_framer);
    tcase_add_test(tc, test_until_eof_on_conn);
    tcase_add_test(tc, test_hostile_prefix_on_conn);
    tcase_add_test(tc, test_encoders_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
