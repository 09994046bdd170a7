/*
 * Growable byte buffer.  Data lives in [off, off + len); consuming from the
 * front only moves off, and the bytes are moved back to the start only when
 * room is needed at the end (so a stream of partial sends costs no memmove).
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SB__BUF_MIN 2048

void sb__buf_free(sb__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

/*
 * Make room for at least n more bytes after the data.  Compacts when the
 * free space at the front is enough, else grows geometrically.
 * Returns 0 or -ENOMEM (the buffer is then unchanged).
 */
int sb__buf_reserve(sb__buf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->cap - b->off - b->len >= n)
        return 0;
    if (n > SIZE_MAX - b->len)
        return -ENOMEM;
    need = b->len + n;
    if (need <= b->cap && b->off >= b->len) {
        /* Cheap compaction: the live data is no bigger than the hole. */
        memcpy(b->data, b->data + b->off, b->len);
        b->off = 0;
        return 0;
    }
    if (need <= b->cap) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        return 0;
    }
    cap = b->cap ? b->cap : SB__BUF_MIN;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->off) {
        p = sb__malloc(cap);
        if (!p)
            return -ENOMEM;
        if (b->len)
            memcpy(p, b->data + b->off, b->len);
        free(b->data);
    } else {
        p = sb__realloc(b->data, cap);
        if (!p)
            return -ENOMEM;
    }
    b->data = p;
    b->off = 0;
    b->cap = cap;
    return 0;
}

/* Append n bytes.  Returns 0 or -ENOMEM (nothing appended). */
int sb__buf_append(sb__buf *b, const void *p, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    rc = sb__buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->off + b->len, p, n);
    b->len += n;
    return 0;
}

/* Drop n bytes from the front (n <= len).  An emptied buffer rewinds. */
void sb__buf_consume(sb__buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = 0;
        b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

/* Release the memory of an empty buffer whose capacity exceeds keep. */
void sb__buf_trim(sb__buf *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep)
        sb__buf_free(b);
}

/*
 * Give back the capacity the data does not need (the reclaim sweep of idle
 * connections): an empty buffer is freed, a buffer more than twice as large
 * as its data (and larger than keep) is shrunk to fit.
 */
void sb__buf_shrink(sb__buf *b, size_t keep)
{
    size_t want;
    char *p;

    if (b->len == 0) {
        sb__buf_free(b);
        return;
    }
    want = b->len < SB__BUF_MIN ? SB__BUF_MIN : b->len;
    if (b->cap <= keep || b->cap <= 2 * want)
        return;
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    p = sb__realloc(b->data, want);
    if (p) { /* else keep the larger block: nothing is lost */
        b->data = p;
        b->cap = want;
    }
}
