/*
 * The byte streams of epoll-pump and bulk-source (make bench), header only.
 *
 * pat_fill(): a keyed pseudo-random stream that can be generated from any
 * offset (word w of stream key is splitmix64(key, w)), for checks that must
 * catch any reordering, loss or duplication: every connection gets its own
 * key, the receiver regenerates what it should have got and compares.
 *
 * pat_period(): the cheap form for bulk loads.  One buffer of that stream,
 * PAT_PERIOD bytes long plus room for the longest read or write; byte o of
 * a connection's stream is buf[(o + start) % PAT_PERIOD].  Writes come
 * straight out of it and an echo is checked with one memcmp() per read.
 * PAT_PERIOD is a prime above the 1 MiB a pump connection keeps in flight,
 * so a chunk lost, doubled or swapped within that window (or another
 * connection's start) never lines up with the expected bytes.
 */
#ifndef BENCH_PATTERN_H
#define BENCH_PATTERN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PAT_PERIOD 1048573u /* 2^20 - 3, the largest prime below 2^20 */

static inline uint64_t pat_word(uint64_t key, uint64_t w)
{
    uint64_t z = key + (w + 1) * 0x9E3779B97F4A7C15ull;

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* len bytes of stream key from offset off (the words' bytes in memory order). */
static inline void pat_fill(unsigned char *dst, uint64_t key, uint64_t off, size_t len)
{
    if (off & 7) {
        uint64_t w = pat_word(key, off >> 3);
        size_t at = (size_t)(off & 7), n = 8 - at;
        if (n > len)
            n = len;
        memcpy(dst, (unsigned char *)&w + at, n);
        dst += n;
        off += n;
        len -= n;
    }
    for (; len >= 8; dst += 8, off += 8, len -= 8) {
        uint64_t w = pat_word(key, off >> 3);
        memcpy(dst, &w, 8);
    }
    if (len) {
        uint64_t w = pat_word(key, off >> 3);
        memcpy(dst, &w, len);
    }
}

/* The periodic buffer: PAT_PERIOD bytes of stream 0, then their first
 * extra bytes again (extra <= PAT_PERIOD), or NULL. */
static inline unsigned char *pat_period(size_t extra)
{
    unsigned char *b = extra <= PAT_PERIOD ? malloc(PAT_PERIOD + extra) : NULL;

    if (b) {
        pat_fill(b, 0, 0, PAT_PERIOD);
        memcpy(b + PAT_PERIOD, b, extra);
    }
    return b;
}

#endif
