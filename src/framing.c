/*
 * Framers: how a byte stream is cut into messages (the HOWTO's fixed
 * length, delimited, length-prefixed, or until shutdown).  Pure functions
 * over a byte buffer: no sockets, no allocation, unit-testable and fuzzable.
 *
 * Maximum lengths are checked as soon as the evidence is there (a prefix
 * header, the max_len + 1 first bytes of a line), so the caller never needs
 * to buffer more than max_len + header/delimiter bytes for one message.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define SKIP_TO_DELIM UINT64_MAX /* skip_next marker: skip past a delimiter */

void sb__framer_reset(sb_framer *f)
{
    f->scanned = 0;
    f->skip = 0;
    f->skip_next = 0;
    f->skip_to_delim = 0;
    f->body_left = 0;
    f->body_state = 0;
}

/*
 * max_len 0 means the default of the kind (switchboard.h): what a user of
 * that framing expects, never more than its header can announce.
 */
static size_t default_max(int kind, int arg)
{
    uint64_t most = 1;
    int i;

    switch (kind) {
    case SB_FRAMER_DELIM:
        return SB_FRAMER_DEFAULT_MAX_DELIM;
    case SB_FRAMER_PREFIX:
        if (arg < 4)
            return ((size_t)1 << (8 * arg)) - 1; /* 255, 65535 */
        return SB_FRAMER_DEFAULT_MAX_SIZED;
    case SB_FRAMER_DIGITS:
        for (i = 0; i < arg && most <= SB_FRAMER_DEFAULT_MAX_SIZED; i++)
            most *= 10;
        return most - 1 < SB_FRAMER_DEFAULT_MAX_SIZED ? (size_t)(most - 1)
                                                      : SB_FRAMER_DEFAULT_MAX_SIZED;
    case SB_FRAMER_EOF:
        return SB_FRAMER_DEFAULT_MAX_EOF;
    default:
        return 0;
    }
}

static int framer_init(sb_framer *f, int kind, size_t max_len, int arg)
{
    if (!f)
        return -EINVAL;
    memset(f, 0, sizeof(*f));
    f->kind = (uint8_t)kind;
    f->max_len = max_len ? max_len : default_max(kind, arg);
    return 0;
}

int sb__framer_valid(const sb_framer *f)
{
    if (f->flags & SB_FRAMER_STREAM) {
        if (f->piece == 0 || (f->kind != SB_FRAMER_FIXED && f->kind != SB_FRAMER_PREFIX &&
                              f->kind != SB_FRAMER_DIGITS))
            return 0;
    }
    switch (f->kind) {
    case SB_FRAMER_RAW:
        return 1;
    case SB_FRAMER_DELIM:
        return f->delim_len >= 1 && f->delim_len <= SB_FRAMER_MAX_DELIM && f->max_len > 0;
    case SB_FRAMER_FIXED:
        return f->max_len == f->len;
    case SB_FRAMER_PREFIX:
        return (f->len == 1 || f->len == 2 || f->len == 4 || f->len == 8) && f->max_len > 0;
    case SB_FRAMER_DIGITS:
        return f->len >= 1 && f->len <= 19 && f->max_len > 0;
    case SB_FRAMER_EOF:
        return f->max_len > 0;
    default:
        return 0;
    }
}

int sb_framer_raw(sb_framer *f)
{
    return framer_init(f, SB_FRAMER_RAW, 0, 0);
}

int sb_framer_delim(sb_framer *f, const void *delim, size_t delim_len, size_t max_len,
                    unsigned flags)
{
    if (!delim || delim_len == 0 || delim_len > SB_FRAMER_MAX_DELIM ||
        (flags & ~(SB_FRAMER_KEEP_DELIM | SB_FRAMER_STRIP_CR)) ||
        ((flags & SB_FRAMER_STRIP_CR) && (delim_len != 1 || *(const char *)delim != '\n')) ||
        framer_init(f, SB_FRAMER_DELIM, max_len, 0))
        return -EINVAL;
    memcpy(f->delim, delim, delim_len);
    f->delim_len = (uint8_t)delim_len;
    f->flags = (uint8_t)flags;
    return 0;
}

int sb_framer_line(sb_framer *f, size_t max_len)
{
    return sb_framer_delim(f, "\n", 1, max_len, SB_FRAMER_STRIP_CR);
}

int sb_framer_fixed(sb_framer *f, size_t len)
{
    if (framer_init(f, SB_FRAMER_FIXED, len, 0))
        return -EINVAL;
    f->len = len;
    f->max_len = len;
    return 0;
}

int sb_framer_prefix(sb_framer *f, int nbytes, size_t max_len)
{
    if ((nbytes != 1 && nbytes != 2 && nbytes != 4 && nbytes != 8) ||
        framer_init(f, SB_FRAMER_PREFIX, max_len, nbytes))
        return -EINVAL;
    f->len = (size_t)nbytes;
    return 0;
}

int sb_framer_digits(sb_framer *f, int ndigits, size_t max_len)
{
    /* 19 digits is the most a 64-bit length can hold without overflow. */
    if (ndigits < 1 || ndigits > 19 || framer_init(f, SB_FRAMER_DIGITS, max_len, ndigits))
        return -EINVAL;
    f->len = (size_t)ndigits;
    return 0;
}

int sb_framer_eof(sb_framer *f, size_t max_len)
{
    return framer_init(f, SB_FRAMER_EOF, max_len, 0);
}

int sb_framer_stream(sb_framer *f, size_t piece_max)
{
    if (!f || (f->kind != SB_FRAMER_FIXED && f->kind != SB_FRAMER_PREFIX &&
               f->kind != SB_FRAMER_DIGITS))
        return -EINVAL;
    f->flags |= SB_FRAMER_STREAM;
    f->piece = piece_max ? piece_max : SB_FRAMER_DEFAULT_PIECE;
    sb__framer_reset(f);
    return 0;
}

/*
 * Streaming: the next piece of the body, after hdr header bytes (only when
 * the header is in this buffer).  A body begun but with no byte here yet
 * consumes the header alone and waits.
 */
static int next_piece(sb_framer *f, size_t hdr, size_t len, sb_framer_cut *out)
{
    size_t n = len - hdr;

    if (n > f->body_left)
        n = (size_t)f->body_left;
    if (n > f->piece)
        n = f->piece;
    if (n == 0 && f->body_left > 0) {
        out->consumed = hdr;
        return 0;
    }
    out->off = hdr;
    out->len = n;
    out->consumed = hdr + n;
    out->flags = SB_CUT_PIECE | (f->body_state == 1 ? SB_CUT_FIRST : 0u);
    f->body_left -= n;
    out->left = f->body_left;
    if (f->body_left == 0) {
        out->flags |= SB_CUT_LAST;
        f->body_state = 0;
    } else {
        f->body_state = 2;
    }
    return 1;
}

/* Streaming: a body of mlen bytes begins after hdr header bytes. */
static int begin_body(sb_framer *f, uint64_t mlen, size_t hdr, size_t len, sb_framer_cut *out)
{
    if (mlen > f->max_len) {
        f->skip_next = mlen > UINT64_MAX - hdr - 1 ? UINT64_MAX - 1 : mlen + hdr;
        return SB_ETOOLONG;
    }
    f->body_left = mlen;
    f->body_state = 1;
    return next_piece(f, hdr, len, out);
}

/*
 * Search buf for the delimiter, starting at the first start position not
 * yet checked (f->scanned), so a line arriving a byte at a time costs O(n)
 * in total.  Returns the start index, or -1; f->scanned is advanced past
 * every position checked.  Only positions <= limit are candidates.
 */
static ptrdiff_t find_delim(sb_framer *f, const char *buf, size_t len, size_t limit)
{
    const unsigned char *d = f->delim;
    size_t dl = f->delim_len, i = f->scanned, last;

    if (len < dl)
        return -1;
    last = len - dl < limit ? len - dl : limit;
    while (i <= last) {
        const char *p = memchr(buf + i, d[0], last - i + 1);
        if (!p)
            break;
        i = (size_t)(p - buf);
        if (dl == 1 || memcmp(p + 1, d + 1, dl - 1) == 0)
            return (ptrdiff_t)i;
        i++;
    }
    f->scanned = last + 1 > f->scanned ? last + 1 : f->scanned;
    return -1;
}

static int next_delim(sb_framer *f, const char *buf, size_t len, sb_framer_cut *out)
{
    size_t dl = f->delim_len, cr;
    ptrdiff_t at;

    if (f->skip_to_delim) {
        at = find_delim(f, buf, len, SIZE_MAX);
        if (at >= 0) {
            out->consumed = (size_t)at + dl;
            f->skip_to_delim = 0;
            f->scanned = 0;
            return 0;
        }
        /* Drop what cannot hold the start of a delimiter. */
        out->consumed = len >= dl ? len - (dl - 1) : 0;
        f->scanned -= out->consumed < f->scanned ? out->consumed : f->scanned;
        return 0;
    }
    /* A line framer's "\r" before the "\n" is not part of the message: it
     * may sit one byte past max_len. */
    cr = (f->flags & SB_FRAMER_STRIP_CR) != 0;
    at = find_delim(f, buf, len, f->max_len + cr);
    if (at >= 0) {
        int has_cr = cr && at > 0 && buf[at - 1] == '\r';
        if ((size_t)at > f->max_len + (size_t)has_cr) {
            f->skip_next = SKIP_TO_DELIM; /* max_len + 1 bytes, no "\r" */
            return SB_ETOOLONG;
        }
        out->off = 0;
        out->len = (f->flags & SB_FRAMER_KEEP_DELIM) ? (size_t)at + dl : (size_t)(at - has_cr);
        out->consumed = (size_t)at + dl;
        f->scanned = 0;
        return 1;
    }
    if (f->scanned > f->max_len + cr) {
        /* Every allowed start position checked: the line is too long. */
        f->skip_next = SKIP_TO_DELIM;
        return SB_ETOOLONG;
    }
    return 0;
}

/* A length header was read: deliver, wait, or reject before buffering. */
static int next_sized(sb_framer *f, uint64_t mlen, size_t hdr, size_t len, sb_framer_cut *out)
{
    if (f->flags & SB_FRAMER_STREAM)
        return begin_body(f, mlen, hdr, len, out);
    if (mlen > f->max_len) {
        f->skip_next = mlen > UINT64_MAX - hdr - 1 ? UINT64_MAX - 1 : mlen + hdr;
        return SB_ETOOLONG;
    }
    if (len - hdr < mlen)
        return 0;
    out->off = hdr;
    out->len = (size_t)mlen;
    out->consumed = hdr + (size_t)mlen;
    return 1;
}

int sb_framer_next(sb_framer *f, const char *buf, size_t len, int eof, sb_framer_cut *out)
{
    size_t i, n;

    if (!f || !out || (!buf && len))
        return -EINVAL;
    out->off = out->len = out->consumed = 0;
    out->flags = 0;
    out->left = 0;
    if (f->skip) {
        n = f->skip < len ? (size_t)f->skip : len;
        f->skip -= n;
        out->consumed = n;
        return 0;
    }
    if (f->body_state) /* streaming, inside a body */
        return next_piece(f, 0, len, out);
    switch (f->kind) {
    case SB_FRAMER_RAW:
        if (len == 0)
            return 0;
        out->len = out->consumed = len;
        return 1;
    case SB_FRAMER_FIXED:
        if (f->len == 0) {
            /* One empty message; the next one is up to a new framer. */
            if (f->scanned) {
                f->skip_next = 0;
                return SB_EFRAME;
            }
            f->scanned = 1;
            out->flags = (f->flags & SB_FRAMER_STREAM) ? SB_CUT_PIECE | SB_CUT_FIRST | SB_CUT_LAST
                                                       : 0u;
            return 1;
        }
        if (f->flags & SB_FRAMER_STREAM)
            return begin_body(f, f->len, 0, len, out);
        if (len < f->len)
            return 0;
        out->len = out->consumed = f->len;
        return 1;
    case SB_FRAMER_DELIM:
        return next_delim(f, buf, len, out);
    case SB_FRAMER_PREFIX: {
        uint64_t mlen = 0;
        if (len < f->len)
            return 0;
        for (i = 0; i < f->len; i++)
            mlen = mlen << 8 | (unsigned char)buf[i];
        return next_sized(f, mlen, f->len, len, out);
    }
    case SB_FRAMER_DIGITS: {
        uint64_t mlen = 0;
        /* Reject a bad header byte as soon as it arrives. */
        for (i = 0; i < f->len && i < len; i++) {
            if (buf[i] < '0' || buf[i] > '9') {
                f->skip_next = 0;
                return SB_EFRAME;
            }
            mlen = mlen * 10 + (uint64_t)(buf[i] - '0');
        }
        if (len < f->len)
            return 0;
        return next_sized(f, mlen, f->len, len, out);
    }
    case SB_FRAMER_EOF:
        if (f->scanned)
            return 0; /* already delivered */
        if (len > f->max_len) {
            f->skip_next = 0;
            return SB_ETOOLONG;
        }
        if (!eof)
            return 0;
        f->scanned = 1;
        out->len = out->consumed = len;
        return 1;
    default:
        return SB_EFRAME;
    }
}

int sb_framer_skip(sb_framer *f)
{
    uint64_t n = f->skip_next;

    f->skip_next = 0;
    if (n == 0 || f->kind == SB_FRAMER_EOF)
        return SB_EFRAME;
    if (n == SKIP_TO_DELIM) {
        f->skip_to_delim = 1; /* f->scanned still marks what has no delimiter */
        return 0;
    }
    f->skip = n;
    return 0;
}
