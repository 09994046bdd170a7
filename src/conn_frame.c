/*
 * Framing on connections: shorthands that set a connection's framer, and
 * the write-side encoders of the same framings.  Kept apart from
 * framing.c so the framers stay pure (fuzz targets link framing.c alone).
 */
#include "internal.h"

#include <errno.h>

/* ------------------------------------------------- connection shorthands */

int sb_conn_framer_raw(sb_conn *c)
{
    sb_framer f;
    sb_framer_raw(&f);
    return sb_conn_set_framer(c, &f);
}

int sb_conn_framer_delim(sb_conn *c, const void *delim, size_t delim_len, size_t max_len,
                         unsigned flags)
{
    sb_framer f;
    int rc = sb_framer_delim(&f, delim, delim_len, max_len, flags);
    return rc ? rc : sb_conn_set_framer(c, &f);
}

int sb_conn_framer_line(sb_conn *c, size_t max_len)
{
    return sb_conn_framer_delim(c, "\n", 1, max_len, SB_FRAMER_STRIP_CR);
}

int sb_conn_framer_fixed(sb_conn *c, size_t len)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    /* The hot switch of request/body protocols: set the fields in place
     * rather than build and copy a whole framer. */
    if (!c)
        return -EINVAL;
    if (c->framer.kind != SB_FRAMER_FIXED || (c->framer.flags & SB_FRAMER_STREAM)) {
        sb_framer f;
        sb_framer_fixed(&f, len);
        return sb_conn_set_framer(c, &f);
    }
    c->framer.len = len;
    c->framer.max_len = len;
    sb__framer_reset(&c->framer);
    c->framer_set = 1; /* as sb_conn_set_framer (on_frame_error) */
    if (!c->in_input)
        sb__conn_queue_pending(c);
    return 0;
}

int sb_conn_framer_prefix(sb_conn *c, int nbytes, size_t max_len)
{
    sb_framer f;
    int rc = sb_framer_prefix(&f, nbytes, max_len);
    return rc ? rc : sb_conn_set_framer(c, &f);
}

int sb_conn_framer_digits(sb_conn *c, int ndigits, size_t max_len)
{
    sb_framer f;
    int rc = sb_framer_digits(&f, ndigits, max_len);
    return rc ? rc : sb_conn_set_framer(c, &f);
}

int sb_conn_framer_eof(sb_conn *c, size_t max_len)
{
    sb_framer f;
    int rc = sb_framer_eof(&f, max_len);
    return rc ? rc : sb_conn_set_framer(c, &f);
}

/* ---------------------------------------------------- write-side encoders */

int sb_write_prefix(sb_conn *c, int nbytes, const void *data, size_t len)
{
    unsigned char hdr[8];
    uint64_t v = len;
    int i;

    if (nbytes != 1 && nbytes != 2 && nbytes != 4 && nbytes != 8)
        return -EINVAL;
    if (nbytes < 8 && v >> (8 * nbytes))
        return SB_ETOOLONG;
    for (i = nbytes - 1; i >= 0; i--, v >>= 8)
        hdr[i] = (unsigned char)v;
    return sb__conn_write3(c, hdr, (size_t)nbytes, data, len, NULL, 0);
}

int sb_write_digits(sb_conn *c, int ndigits, const void *data, size_t len)
{
    char hdr[20];
    uint64_t v = len;
    int i;

    if (ndigits < 1 || ndigits > 19)
        return -EINVAL;
    for (i = ndigits - 1; i >= 0; i--, v /= 10)
        hdr[i] = (char)('0' + v % 10);
    if (v)
        return SB_ETOOLONG; /* does not fit in ndigits */
    return sb__conn_write3(c, hdr, (size_t)ndigits, data, len, NULL, 0);
}

int sb_write_delim(sb_conn *c, const void *data, size_t len, const void *delim, size_t delim_len)
{
    return sb__conn_write3(c, NULL, 0, data, len, delim, delim_len);
}
