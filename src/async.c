/*
 * Waking the loop from another thread or a signal handler (sb_async).
 *
 * One pipe per loop, made with the first sb_async: its read end is watched
 * like any fd.  sb_async_send() marks its handle pending and, only when the
 * loop has no wake-up in flight yet, writes one byte: sends coalesce both
 * per handle and per loop, and the pipe never holds more than a byte or
 * two.  Both marks are atomic exchanges, so a send is lock-free and
 * async-signal-safe.  The loop clears its mark before it looks at the
 * handles: a send that races with the scan either is seen by the scan or
 * writes a new byte, never neither.
 *
 * The resolver (resolve.c) delivers its results through an internal
 * sb_async, which neither counts as a handle nor keeps the loop running.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void wake_ready(sb__handle *h, unsigned events)
{
    sb_loop *loop = (sb_loop *)((char *)h - offsetof(sb_loop, wake_h));
    char buf[64];
    sb_async *a, *next;

    (void)events;
    while (read(loop->wake_rd, buf, sizeof(buf)) > 0) {
    }
    atomic_store(&loop->wake_pending, 0);
    /* A callback may free any handle: freed ones are unlinked but their
     * memory (and next pointer) lives until the end of the iteration. */
    for (a = loop->asyncs; a; a = next) {
        next = a->next;
        if (!a->dead && atomic_exchange(&a->pending, 0))
            a->cb(a, a->udata);
    }
}

static void wake_badfd(sb__handle *h)
{
    sb_loop *loop = (sb_loop *)((char *)h - offsetof(sb_loop, wake_h));

    sb__log(loop, SB_LOG_ERROR, "wake-up pipe closed behind the loop's back");
    sb__loop_unregister(loop, h);
}

static int wake_open(sb_loop *loop)
{
    int p[2], rc;

    if (loop->wake_rd >= 0)
        return 0;
    if (sb__os_pipe(p) < 0)
        return -errno;
    memset(&loop->wake_h, 0, sizeof(loop->wake_h));
    loop->wake_h.type = SB__H_WAKE;
    loop->wake_h.ready = wake_ready;
    loop->wake_h.badfd = wake_badfd;
    rc = sb__loop_register(loop, &loop->wake_h, p[0], SB_READ);
    if (rc) {
        sb__sys_close(p[0]);
        sb__sys_close(p[1]);
        return rc;
    }
    loop->wake_rd = p[0];
    loop->wake_wr = p[1];
    return 0;
}

void sb__wake_close(sb_loop *loop)
{
    if (loop->wake_rd < 0)
        return;
    sb__loop_unregister(loop, &loop->wake_h);
    sb__sys_close(loop->wake_rd);
    sb__sys_close(loop->wake_wr);
    loop->wake_rd = loop->wake_wr = -1;
}

sb_async *sb__async_new(sb_loop *loop, sb_async_cb cb, void *udata, int internal, int *err)
{
    sb_async *a;
    int rc;

    if (!loop || !cb) {
        rc = -EINVAL;
        goto fail;
    }
    rc = wake_open(loop);
    if (rc)
        goto fail;
    a = sb__calloc(1, sizeof(*a));
    if (!a) {
        rc = -ENOMEM;
        goto fail;
    }
    SB__BIRTH(a, h.magic, SB__K_ASYNC);
    a->h.type = SB__H_ASYNC;
    a->h.fd = -1;
    a->loop = loop;
    a->cb = cb;
    a->udata = udata;
    a->internal = internal;
    atomic_init(&a->pending, 0);
    a->next = loop->asyncs;
    if (a->next)
        a->next->prev = a;
    loop->asyncs = a;
    if (!internal) {
        loop->nhandles++;
        loop->nasync_alive++;
    }
    return a;
fail:
    if (err)
        *err = rc;
    return NULL;
}

sb_async *sb_async_new(sb_loop *loop, sb_async_cb cb, void *udata, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    return sb__async_new(loop, cb, udata, 0, err);
}

int sb_async_send(sb_async *a)
{
    int saved = errno;
    sb_loop *loop;

    if (!a)
        return -EINVAL;
    loop = a->loop;
    if (atomic_exchange(&a->pending, 1) == 0 && atomic_exchange(&loop->wake_pending, 1) == 0) {
        /* A full pipe already holds a wake-up: a short write is fine. */
        if (write(loop->wake_wr, "", 1) < 0) {
        }
    }
    errno = saved;
    return 0;
}

void sb_async_free(sb_async *a)
{
    SB__CHECK(a, h.magic, SB__K_ASYNC);
    sb_loop *loop;

    if (!a)
        return;
    loop = a->loop;
    a->dead = 1;
    /* Unlinked now; a->next stays, for a scan in progress (wake_ready). */
    if (a->prev)
        a->prev->next = a->next;
    else
        loop->asyncs = a->next;
    if (a->next)
        a->next->prev = a->prev;
    if (!a->internal) {
        loop->nhandles--;
        loop->nasync_alive--;
    }
    sb__loop_defer_free(loop, &a->h);
}

sb_async *sb__async_next(const sb_async *a)
{
    return a->next;
}
