/*
 * libFuzzer target for one framer kind (FUZZ_KIND, set by the Makefile).
 *
 * Input layout: byte 0..1 parameters (max_len, delimiter / header size),
 * byte 2 a chunking seed, the rest the stream.  The stream is fed the way a
 * connection feeds it: appended chunk by chunk into an exactly-sized heap
 * copy (so ASan catches any read past the bytes offered), cutting messages
 * after each chunk, skipping over errors when possible.
 *
 * Invariants checked (abort on violation):
 *  - every message lies inside the bytes offered, and is no longer than
 *    max_len (FIXED: exactly len);
 *  - bytes consumed + bytes still pending + bytes abandoned after a fatal
 *    error == bytes fed;
 *  - the framer never asks to consume more than it was offered.
 */
#include "switchboard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_KIND
#define FUZZ_KIND SB_FRAMER_DELIM
#endif

#define CHECK(x)                                                                          \
    do {                                                                                  \
        if (!(x))                                                                         \
            abort();                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int make_framer(sb_framer *f, const uint8_t *p, size_t *fixed)
{
    size_t max_len = 1 + (size_t)(p[0] % 64) * 3; /* 1..190: errors are easy to reach */
    static const char *const delims[] = {"\n", "\r\n", "\r\n\r\n", "\0", "ab", "aab"};
    static const size_t dlens[] = {1, 2, 4, 1, 2, 3};
    static const int widths[] = {1, 2, 4, 8};

    *fixed = 0;
    switch (FUZZ_KIND) {
    case SB_FRAMER_RAW:
        return sb_framer_raw(f);
    case SB_FRAMER_DELIM:
        return sb_framer_delim(f, delims[p[1] % 6], dlens[p[1] % 6], max_len,
                               (p[1] & 0x80) ? SB_FRAMER_KEEP_DELIM : 0);
    case SB_FRAMER_FIXED:
        *fixed = 1 + p[0] % 32;
        return sb_framer_fixed(f, *fixed);
    case SB_FRAMER_PREFIX:
        return sb_framer_prefix(f, widths[p[1] % 4], max_len);
    case SB_FRAMER_DIGITS:
        return sb_framer_digits(f, 1 + p[1] % 6, max_len);
    default:
        return sb_framer_eof(f, max_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sb_framer f;
    size_t fixed, fed = 0, pos = 0, consumed = 0, abandoned = 0, n;
    uint32_t seed;
    const uint8_t *stream;
    int fatal = 0;

    if (size < 3)
        return 0;
    CHECK(make_framer(&f, data, &fixed) == 0);
    /* Streamed bodies, for the kinds that have them: pieces of 1..40. */
    if ((data[1] & 0x40) && (f.kind == SB_FRAMER_FIXED || f.kind == SB_FRAMER_PREFIX ||
                             f.kind == SB_FRAMER_DIGITS)) {
        CHECK(sb_framer_stream(&f, 1 + data[2] % 40) == 0);
        fixed = 0;
    }
    seed = data[2] * 2654435761u + 1;
    stream = data + 3;
    n = size - 3;
    while (fed < n && !fatal) {
        size_t chunk = 1 + (seed = seed * 1103515245u + 12345u) % 17, have;
        char *buf;
        int last;
        if (chunk > n - fed)
            chunk = n - fed;
        fed += chunk;
        last = fed == n;
        /* The unconsumed bytes, in a buffer of exactly that size. */
        have = fed - pos;
        buf = malloc(have ? have : 1);
        CHECK(buf);
        memcpy(buf, stream + pos, have);
        {
            size_t at = 0;
            for (;;) {
                sb_framer_cut fr;
                int r = sb_framer_next(&f, buf + at, have - at, last, &fr);
                CHECK(fr.consumed <= have - at);
                if (r == 1) {
                    CHECK(fr.off + fr.len <= have - at);
                    CHECK(fr.off + fr.len <= fr.consumed);
                    if (f.flags & SB_FRAMER_STREAM) {
                        CHECK(fr.flags & SB_CUT_PIECE);
                        CHECK(fr.len <= f.piece);
                        CHECK(!(fr.flags & SB_CUT_LAST) == (fr.left != 0));
                    } else if (fixed)
                        CHECK(fr.len == fixed);
                    else if (FUZZ_KIND != SB_FRAMER_RAW)
                        CHECK(fr.len <= f.max_len + ((f.flags & SB_FRAMER_KEEP_DELIM)
                                                         ? f.delim_len
                                                         : 0));
                    at += fr.consumed;
                    if (fr.consumed == 0)
                        break; /* an empty EOF message */
                    continue;
                }
                if (r == 0) {
                    at += fr.consumed;
                    if (fr.consumed == 0)
                        break;
                    continue;
                }
                CHECK(r == SB_ETOOLONG || r == SB_EFRAME);
                CHECK(fr.consumed == 0);
                if (sb_framer_skip(&f) == 0)
                    continue;
                fatal = 1;
                break;
            }
            pos += at;
            consumed += at;
        }
        free(buf);
    }
    if (fatal)
        abandoned = n - fed;
    CHECK(consumed + (fed - pos) + abandoned == n);
    return 0;
}
