/*
 * The per-connection state machine.
 *
 * Input:  one recv() per readiness event into the loop's shared 64 KiB
 *         scratch buffer.  The connection's framer cuts messages straight
 *         from there; only an incomplete tail (or messages left over after
 *         the per-pass cap) is copied into the connection's own input
 *         buffer, so an idle connection holds no input memory.
 * Output: sb_write() appends to the connection's queue and puts it on the
 *         loop's flush list; the loop sends each listed connection's whole
 *         queue with one send() at the end of the iteration -- or, for the
 *         replies a connection queued while handling its own read, right
 *         after that read.  Write interest is registered only after a
 *         partial send.
 * Close:  every close is deferred to the end of the iteration (DEAD flag);
 *         a DEAD connection gets no further callbacks, and on_close runs
 *         exactly once when the fd is released.
 *
 * Read interest is derived from the flags by conn_update(), never set ad hoc.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * Output buffers live only while output is pending: a connection takes one
 * from the loop's pool when it queues into an empty queue and gives it back
 * as soon as the queue empties.  Busy connections recycle buffers without
 * allocating; idle ones, however many, hold none.
 */
static void out_take(sb_conn *c)
{
    sb_loop *loop = c->loop;

    if (c->out.data || loop->npool == 0)
        return;
    loop->npool--;
    loop->pool_used = 1;
    c->out.data = loop->pool[loop->npool].data;
    c->out.cap = loop->pool[loop->npool].cap;
    c->out.off = c->out.len = 0;
}

/* Give c's output buffer (its contents discarded) back to the pool. */
static void out_give(sb_conn *c)
{
    sb_loop *loop = c->loop;

    if (!c->out.data)
        return;
    if (c->out.cap > SB__OUT_KEEP || loop->npool == SB__POOL_MAX) {
        sb__buf_free(&c->out);
        return;
    }
    loop->pool[loop->npool].data = c->out.data;
    loop->pool[loop->npool].cap = c->out.cap;
    loop->npool++;
    c->out.data = NULL;
    c->out.cap = c->out.off = c->out.len = 0;
}

void sb__conn_pool_free(sb_loop *loop)
{
    while (loop->npool)
        free(loop->pool[--loop->npool].data);
    while (loop->seg_free) {
        sb__seg *s = loop->seg_free;
        loop->seg_free = s->next;
        free(s);
    }
    loop->nseg_free = 0;
}

/* Everything c has queued: copied bytes and the caller's. */
static inline size_t out_len(const sb_conn *c)
{
    return c->out.len + c->out_ext;
}

/* ------------------------------------------------------- output segments */

#define SEG_FREE_MAX 64 /* segments a loop keeps for reuse */

static sb__seg *seg_new(sb_loop *loop, int kind)
{
    sb__seg *s = loop->seg_free;

    if (s) {
        loop->seg_free = s->next;
        loop->nseg_free--;
    } else if (!(s = sb__malloc(sizeof(*s)))) {
        return NULL;
    }
    memset(s, 0, sizeof(*s));
    s->kind = (uint8_t)kind;
    s->fd = -1;
    return s;
}

static void seg_put(sb_loop *loop, sb__seg *s)
{
    if (loop->nseg_free == SEG_FREE_MAX) {
        free(s);
        return;
    }
    s->next = loop->seg_free;
    loop->seg_free = s;
    loop->nseg_free++;
}

static void seg_append(sb_conn *c, sb__seg *s)
{
    s->next = NULL;
    if (c->seg_tail)
        c->seg_tail->next = s;
    else
        c->seg_head = s;
    c->seg_tail = s;
}

/*
 * n more bytes were appended to c->out: in segment mode they belong to the
 * tail COPY segment (a new one after a REF or FILE).  0 or -ENOMEM.
 */
static int seg_note_copy(sb_conn *c, size_t n)
{
    sb__seg *s;

    if (!c->seg_head || n == 0)
        return 0;
    if (c->seg_tail->kind == SB__SEG_COPY) {
        c->seg_tail->len += n;
        return 0;
    }
    if (!(s = seg_new(c->loop, SB__SEG_COPY)))
        return -ENOMEM;
    s->len = n;
    seg_append(c, s);
    return 0;
}

/* Unlink and recycle the head segment; its release runs last (it may
 * write to c again: the queue is consistent by then). */
static void seg_pop(sb_conn *c)
{
    sb__seg *s = c->seg_head;
    sb_release_fn release = s->release;
    void *arg = s->arg;

    c->seg_head = s->next;
    if (!c->seg_head)
        c->seg_tail = NULL;
    seg_put(c->loop, s);
    if (release)
        release(arg);
}

/* The connection ends: every segment is dropped, its release called (a
 * DEAD connection refuses what a release might queue). */
static void seg_drop_all(sb_conn *c)
{
    while (c->seg_head)
        seg_pop(c);
    c->out_ext = 0;
}

/* n bytes left the socket: consume them from the front of the queue. */
static void seg_consume(sb_conn *c, size_t n)
{
    while (n && c->seg_head) {
        sb__seg *s = c->seg_head;
        size_t k = n < s->len ? n : s->len;
        n -= k;
        s->len -= k;
        if (s->kind == SB__SEG_COPY) {
            sb__buf_consume(&c->out, k);
        } else {
            c->out_ext -= k;
            if (s->kind == SB__SEG_REF)
                s->ptr += k;
            else
                s->off += k;
        }
        if (s->len == 0)
            seg_pop(c);
    }
}

/* errno as a code: -EAGAIN for "would block", whichever name it has. */
static inline ssize_t sys_code(void)
{
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static void conn_update(sb_conn *c);
static void conn_queue_more(sb_conn *c);
static void conn_fail(sb_conn *c, int code);

/*
 * Send n bytes from buf on c: straight to the socket, or through c's
 * transport.  Bytes taken, or a negative code (-EAGAIN: nothing now).
 */
static ssize_t conn_send(sb_conn *c, const void *buf, size_t n)
{
    long r;

    if (!c->xt) {
        ssize_t k;
        do
            k = sb__os_send(c->h.fd, buf, n);
        while (k < 0 && errno == EINTR);
        return k < 0 ? sys_code() : k;
    }
    r = c->xt->send(c->xctx, buf, n);
    if (c->x_write_wr != (r == SB_WANT_READ)) {
        c->x_write_wr = r == SB_WANT_READ;
        conn_update(c);
    }
    if (r == SB_WANT_READ || r == SB_WANT_WRITE)
        return -EAGAIN;
    return (ssize_t)r;
}

/*
 * Receive up to n bytes into buf, as conn_send.  0 is the end of the
 * stream: the peer's FIN, or the transport's own close (a FIN without it
 * is noted for on_close, SB_ETRUNCATED).
 */
static ssize_t conn_recv(sb_conn *c, void *buf, size_t n)
{
    long r;

    if (!c->xt) {
        ssize_t k;
        do
            k = sb__sys_recv(c->h.fd, buf, n, 0);
        while (k < 0 && errno == EINTR);
        return k < 0 ? sys_code() : k;
    }
    r = c->xt->recv(c->xctx, buf, n);
    if (c->x_read_ww != (r == SB_WANT_WRITE)) {
        c->x_read_ww = r == SB_WANT_WRITE;
        conn_update(c);
    }
    if (r == SB_WANT_READ || r == SB_WANT_WRITE)
        return -EAGAIN;
    if (r == SB_ETRUNCATED) {
        if (!c->shut_done)
            c->x_truncated = 1; /* after our own close, a bare FIN is fine */
        return 0;
    }
    if (r > 0 && c->xt->pending && c->xt->pending(c->xctx))
        conn_queue_more(c);
    return (ssize_t)r;
}

/*
 * Send the front of a FILE segment: sendfile(2), or pread(2) into the
 * loop's scratch buffer and send(2) where sendfile is missing or refuses
 * the fd (or a transport must see the bytes).  Returns the bytes sent or
 * a negative code (SB_ESHORTFILE's condition reported as 0 with *shortfile
 * set).
 */
static ssize_t seg_send_file(sb_conn *c, sb__seg *s, size_t want, size_t *asked,
                             int *shortfile)
{
    size_t n = s->len < want ? s->len : want;
    ssize_t r;

    *asked = n;
#ifdef SB__HAVE_SENDFILE
    /* sendfile(2) has no MSG_NOSIGNAL: the OS seam blocks SIGPIPE around
     * it (the library promises never to raise it). */
    if (!s->no_sendfile && !c->xt) {
        off_t off = (off_t)s->off;
        do
            r = sb__os_sendfile(c->h.fd, s->fd, &off, n);
        while (r < 0 && errno == EINTR);
        if (r > 0)
            return r;
        if (r == 0) {
            *shortfile = 1;
            return -EIO;
        }
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return sys_code();
        s->no_sendfile = 1; /* not a file sendfile can map: copy it */
    }
#endif
    if (n > SB__READ_CHUNK)
        n = SB__READ_CHUNK;
    *asked = n;
    do
        r = sb__sys_pread(s->fd, c->loop->rbuf, n, (off_t)s->off);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        *shortfile = r == 0;
        return r == 0 ? -EIO : sys_code();
    }
    /* A transport that had to wait must be offered at least the bytes it
     * was offered before: read all n (a file is short only at its end). */
    while (c->xt && (size_t)r < n) {
        ssize_t k = sb__sys_pread(s->fd, c->loop->rbuf + r, n - (size_t)r,
                                  (off_t)(s->off + (uint64_t)r));
        if (k == 0) {
            *shortfile = 1;
            return -EIO;
        }
        if (k < 0 && errno != EINTR)
            return sys_code();
        if (k > 0)
            r += k;
    }
    /* What the socket does not take is read again next time (page cache). */
    *asked = (size_t)r;
    return conn_send(c, c->loop->rbuf, (size_t)r);
}

#define SEG_IOV_MAX 64

/*
 * Send up to want bytes from the front of a segmented queue: one sendmsg()
 * over the COPY and REF segments up to the first FILE one, or the FILE
 * segment at the front on its own.
 */
static ssize_t seg_send(sb_conn *c, size_t want, size_t *asked, int *shortfile)
{
    struct iovec iov[SEG_IOV_MAX];
    struct msghdr msg;
    const char *copy = sb__buf_head(&c->out);
    size_t total = 0;
    int niov = 0;
    sb__seg *s;
    ssize_t r;

    if (c->seg_head->kind == SB__SEG_FILE)
        return seg_send_file(c, c->seg_head, want, asked, shortfile);
    if (c->xt) {
        /* A transport takes one run at a time. */
        s = c->seg_head;
        *asked = s->len < want ? s->len : want;
        return conn_send(c, s->kind == SB__SEG_COPY ? copy : s->ptr, *asked);
    }
    for (s = c->seg_head; s && s->kind != SB__SEG_FILE && niov < SEG_IOV_MAX && total < want;
         s = s->next) {
        size_t k = s->len < want - total ? s->len : want - total;
        if (s->kind == SB__SEG_COPY) {
            iov[niov].iov_base = (void *)copy;
            copy += s->len;
        } else {
            iov[niov].iov_base = (void *)s->ptr;
        }
        iov[niov].iov_len = k;
        niov++;
        total += k;
    }
    *asked = total;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)niov;
    do
        r = sb__os_sendmsg(c->h.fd, &msg);
    while (r < 0 && errno == EINTR);
    return r < 0 ? sys_code() : r;
}

/*
 * Send up to want bytes of a segmented queue, consuming what left: piece
 * after piece (a run of copies and references, a file range) while the
 * socket takes each whole, so a response head and the file behind it go
 * out in one flush.  Returns the bytes sent, or a negative code (or
 * *shortfile) when the first piece failed; a later failure waits for the
 * next flush.
 */
static ssize_t seg_flush(sb_conn *c, size_t want, int *shortfile)
{
    size_t sent = 0, asked = 0;

    while (sent < want && c->seg_head) {
        ssize_t r = seg_send(c, want - sent, &asked, shortfile);
        if (r < 0) {
            if (sent == 0)
                return r;
            *shortfile = 0;
            break;
        }
        seg_consume(c, (size_t)r);
        sent += (size_t)r;
        if ((size_t)r < asked || c->state == SB__S_DEAD)
            break;
    }
    return (ssize_t)sent;
}

static void conn_update(sb_conn *c)
{
    unsigned ev = 0;

    if (c->state == SB__S_DEAD)
        return;
    if (c->state == SB__S_CONNECTING) {
        /* Connect completion is reported as writability. */
        sb__loop_interest(c->loop, &c->h, SB_WRITE);
        return;
    }
    if (c->state == SB__S_HANDSHAKE) {
        sb__loop_interest(c->loop, &c->h, c->x_hs_write ? SB_WRITE : SB_READ);
        return;
    }
    /* Lingering, input is read (and dropped) until the peer's EOF. */
    if (!c->eof_in &&
        (c->state == SB__S_LINGER || (c->state == SB__S_OPEN && !c->pause && !c->in_pending)))
        ev |= SB_READ;
    if (c->want_write && (out_len(c) || c->x_shut_due))
        ev |= SB_WRITE;
    /* A transport's own exchanges: a read that must write, a write (or
     * its close) that must read. */
    if (c->x_read_ww && (ev & SB_READ))
        ev |= SB_WRITE;
    if (c->x_write_wr)
        ev |= SB_READ;
    sb__loop_interest(c->loop, &c->h, ev);
}

/* Schedule the close: no more callbacks; on_close runs at the end of the
 * iteration.  The first reason given wins. */
void sb__conn_kill(sb_conn *c, int reason)
{
    sb_loop *loop = c->loop;

    if (c->state == SB__S_DEAD)
        return;
    c->state = SB__S_DEAD;
    c->reason = reason;
    sb__loop_interest(loop, &c->h, 0);
    sb__timer_disarm(&c->timer);
    c->close_next = loop->close_head;
    loop->close_head = c;
}

static void conn_queue_flush(sb_conn *c)
{
    if (c->in_flush || c->state == SB__S_DEAD)
        return;
    c->in_flush = 1;
    c->flush_next = c->loop->flush_head;
    c->loop->flush_head = c;
}

/* Cut buffered input on the next pass (read interest is off meanwhile, so
 * input is never reordered and EOF is seen only after it). */
/* A fixed framer of length 0: its empty message needs no input. */
static inline int fixed_empty(const sb_framer *f)
{
    return f->kind == SB_FRAMER_FIXED && f->len == 0;
}

void sb__conn_queue_pending(sb_conn *c)
{
    if (c->xt && c->xt->pending && c->state != SB__S_DEAD && c->xt->pending(c->xctx))
        c->x_more = 1;
    if (c->in_pending || c->state == SB__S_DEAD ||
        (c->in.len == 0 && !fixed_empty(&c->framer) && !c->x_more))
        return;
    c->in_pending = 1;
    c->pending_next = c->loop->pending_head;
    c->loop->pending_head = c;
    conn_update(c);
}

static void conn_timer_arm(sb_conn *c, uint64_t when)
{
    if (sb__timer_arm(&c->timer, when, 0))
        sb__conn_kill(c, -ENOMEM);
}

/*
 * The connection's one timer: the lingering-close deadline while
 * lingering, else the idle timeout, checked lazily against the
 * last-activity stamp (I/O only updates the stamp, never the heap).
 */
static void conn_timer_cb(sb_timer *t, void *udata)
{
    sb_conn *c = udata;
    sb_loop *loop = c->loop;

    (void)t;
    if (c->state == SB__S_LINGER) {
        sb__conn_kill(c, c->err);
        return;
    }
    if (c->state == SB__S_HANDSHAKE) {
        loop->stats.timeouts++;
        sb__log(loop, SB_LOG_INFO, "fd %d: %s handshake timed out", c->h.fd, c->xt->name);
        sb__conn_kill(c, -ETIMEDOUT);
        return;
    }
    if (!c->idle_ms)
        return;
    if (loop->now - c->last_active >= c->idle_ms) {
        loop->stats.timeouts++;
        sb__conn_kill(c, -ETIMEDOUT);
        return;
    }
    conn_timer_arm(c, c->last_active + c->idle_ms);
}

/*
 * Our end of the stream, once the queued output is out: the transport's
 * close (TLS close_notify), then FIN (unless fin is 0: the close() that
 * follows at once sends it).  0 done; 1 the transport's close waits for
 * the socket (the flush comes back here).
 */
static int conn_send_fin(sb_conn *c, int fin)
{
    if (c->xt && c->xt->shutdown && !c->x_closed) {
        int r = c->xt->shutdown(c->xctx);
        if (r == SB_WANT_WRITE || r == SB_WANT_READ) {
            c->x_shut_due = 1;
            c->want_write = r == SB_WANT_WRITE;
            c->x_write_wr = r == SB_WANT_READ;
            conn_update(c);
            return 1;
        }
        /* Sent, or it cannot be (the peer is gone): FIN either way. */
        c->x_shut_due = 0;
        c->x_write_wr = 0;
        c->x_closed = 1;
    }
    if (fin)
        sb__sys_shutdown(c->h.fd, SHUT_WR);
    c->shut_done = 1;
    return 0;
}

/* Output is fully sent and the app asked to close: FIN, then linger. */
static void conn_finish_close(sb_conn *c)
{
    if (c->eof_in) {
        /* A transport still says goodbye (TLS: close_notify in reply). */
        if (c->xt && !c->shut_done && conn_send_fin(c, 0))
            return;
        sb__conn_kill(c, c->err);
        return;
    }
    /*
     * Closing with unread input would make the kernel send RST, which can
     * destroy the reply still in flight.  Send FIN, discard input until the
     * peer's EOF or the linger deadline, then close.
     */
    if (!c->shut_done && conn_send_fin(c, 1))
        return;
    c->state = SB__S_LINGER;
    conn_timer_arm(c, c->loop->now + c->linger_ms);
    conn_update(c);
}

/* Call on_drain, or (right after a read: early) leave it to step 5, so
 * what it writes goes out next iteration like any write on_drain makes. */
static void conn_drain(sb_conn *c, int early)
{
    if (early) {
        c->drain_due = 1;
        conn_queue_flush(c);
        return;
    }
    c->handler->on_drain(c, c->udata);
}

/*
 * Send the queue with one send().  Handles partial sends (wait for
 * writability), errors (close with the reason), and what follows an empty
 * queue: backpressure release, pending FIN / close, on_drain.
 */
static void conn_flush(sb_conn *c, int early)
{
    sb_loop *loop = c->loop;
    int had = out_len(c) > 0 || c->drain_due;

    c->drain_due = 0;
    if (c->state == SB__S_CONNECTING || c->state == SB__S_HANDSHAKE)
        return; /* sent once connected (sb__conn_connected, conn_handshake) */
    if (out_len(c)) {
        /* At most SB__MAX_SEND bytes per iteration: a bulk transfer must not
         * hold up the replies of every other connection. */
        size_t want = out_len(c) < SB__MAX_SEND ? out_len(c) : SB__MAX_SEND;
        int shortfile = 0;
        ssize_t n;
        int segs = c->seg_head != NULL;
        if (!segs)
            n = conn_send(c, sb__buf_head(&c->out), want);
        else
            n = seg_flush(c, want, &shortfile);
        if (n < 0) {
            if (shortfile) {
                sb__conn_kill(c, SB_ESHORTFILE);
                return;
            }
            if (n == -EAGAIN) {
                c->want_write = !c->x_write_wr;
                conn_update(c);
                return;
            }
            conn_fail(c, (int)n);
            return;
        }
        if (!segs)
            sb__buf_consume(&c->out, (size_t)n); /* (seg_flush consumed its own) */
        loop->stats.bytes_out += (uint64_t)n;
        c->last_active = loop->now;
        if (c->state == SB__S_DEAD)
            return; /* a release callback aborted it */
    }
    /* Relayed: the source reads again once half the room is free, before
     * the queue is empty (no stop-and-go). */
    if (c->relay && (c->relay->pause & SB_PAUSE_RELAY) && out_len(c) <= c->relay_max / 2)
        sb__conn_release(c->relay, SB_PAUSE_RELAY);
    if ((c->pause & SB_PAUSE_BACKPRESSURE) && out_len(c) <= c->low_water) {
        c->pause &= (uint8_t)~SB_PAUSE_BACKPRESSURE;
        sb__conn_queue_pending(c);
    }
    if (out_len(c)) {
        c->want_write = 1;
        conn_update(c);
        /* drain_at_low: the writer refills before the queue runs dry. */
        if (c->drain_at_low && had && out_len(c) <= c->low_water && c->handler->on_drain &&
            c->state == SB__S_OPEN && !c->shut_req)
            conn_drain(c, early);
        return;
    }
    c->want_write = 0;
    out_give(c);
    if (c->state == SB__S_CLOSING) {
        conn_finish_close(c);
        return;
    }
    if (c->shut_req && !c->shut_done) {
        if (conn_send_fin(c, 1))
            return;
        if (c->eof_in) {
            sb__conn_kill(c, 0);
            return;
        }
    }
    conn_update(c);
    if (!had || !c->handler->on_drain)
        return;
    conn_drain(c, early);
}

/* Step 5 of the iteration: flush every listed connection once. */
void sb__conn_flush_all(sb_loop *loop)
{
    sb_conn *list = loop->flush_head;

    /* Writes made by on_drain land on a fresh list, sent next iteration. */
    loop->flush_head = NULL;
    while (list) {
        sb_conn *c = list;
        list = c->flush_next;
        c->in_flush = 0;
        if (c->state != SB__S_DEAD)
            conn_flush(c, 0);
    }
}

/*
 * Cut and deliver messages from buf[0, len).  from_in says whether buf is
 * the connection's own input buffer (else the shared scratch buffer, whose
 * unconsumed tail is then copied into the input buffer).  Delivery stops
 * when the connection closes, pauses or hits backpressure, or after
 * SB__MAX_MSGS_PER_EVENT messages: the rest waits on the pending list, so
 * a flood of tiny messages neither recurses nor starves other connections.
 * The handler may switch framers in on_data; the loop simply continues
 * with the new framer on the remaining bytes.
 */
static void conn_input(sb_conn *c, const char *buf, size_t len, int from_in)
{
    size_t pos = 0;
    int count = 0, capped = 0;

    c->in_input = 1;
    while (c->state == SB__S_OPEN && !c->pause) {
        sb_framer_cut fr;
        int r;

        if (pos == len && !fixed_empty(&c->framer))
            break; /* every byte is delivered: no framer call needed */
        if (count == SB__MAX_MSGS_PER_EVENT) {
            capped = 1;
            break;
        }
        r = sb_framer_next(&c->framer, buf + pos, len - pos, 0, &fr);
        if (r == 1) {
            size_t at = pos + fr.off;
            pos += fr.consumed;
            count++;
            if (c->handler->on_data) {
                c->cut_flags = (uint8_t)fr.flags;
                c->cut_left = fr.left;
                c->handler->on_data(c, buf + at, fr.len, c->udata);
                c->cut_flags = 0;
            }
            continue;
        }
        if (r == 0) {
            pos += fr.consumed;
            if (fr.consumed == 0)
                break;
            continue;
        }
        /* A framing error: skip the message if the handler says so (or
         * go on with the framer the handler set instead). */
        c->framer_set = 0;
        if (c->handler->on_frame_error && c->handler->on_frame_error(c, r, c->udata) &&
            c->state != SB__S_DEAD && (c->framer_set || sb_framer_skip(&c->framer) == 0)) {
            /* Counted like a message: a handler that keeps setting framers
             * failing on the same bytes cannot hold the loop in one pass. */
            count++;
            continue;
        }
        if (c->state != SB__S_DEAD) {
            sb__log(c->loop, SB_LOG_INFO, "fd %d: %s; closing", c->h.fd, sb_strerror(r));
            if (!c->err)
                c->err = r;
            sb_close(c);
        }
        break;
    }
    c->in_input = 0;
    if (c->state == SB__S_DEAD)
        return;
    if (from_in) {
        sb__buf_consume(&c->in, pos);
        sb__buf_trim(&c->in, SB__IN_KEEP);
    } else if (pos < len && sb__buf_append(&c->in, buf + pos, len - pos)) {
        sb__conn_kill(c, -ENOMEM);
        return;
    }
    if (capped && c->in.len)
        sb__conn_queue_pending(c);
}

/* Step 3a: cut input left buffered by the previous pass. */
void sb__conn_process_pending(sb_loop *loop)
{
    sb_conn *list = loop->pending_head;

    loop->pending_head = NULL;
    while (list) {
        sb_conn *c = list;
        list = c->pending_next;
        c->in_pending = 0;
        if (c->state == SB__S_DEAD)
            continue;
        loop->work++;
        conn_update(c);
        if (c->in.len)
            conn_input(c, sb__buf_head(&c->in), c->in.len, 1);
        else if (fixed_empty(&c->framer))
            conn_input(c, "", 0, 1);
        /* Then what the transport holds, as if the socket were readable. */
        if (c->x_more && !c->in_pending && !c->eof_in &&
            (c->state == SB__S_LINGER || (c->state == SB__S_OPEN && !c->pause))) {
            c->x_more = 0;
            sb__conn_ready(&c->h, SB_READ);
        }
    }
}

/* The transport holds plaintext the socket will not announce: read it on
 * the next pass. */
static void conn_queue_more(sb_conn *c)
{
    c->x_more = 1;
    sb__conn_queue_pending(c);
}

static void conn_eof(sb_conn *c)
{
    c->eof_in = 1;
    conn_update(c);
    if (c->state == SB__S_LINGER) {
        sb__conn_kill(c, c->err);
        return;
    }
    if (c->state == SB__S_CLOSING)
        return; /* the flush will finish the close */
    if (c->framer.kind == SB_FRAMER_EOF) {
        /* The whole stream is the message, delivered once and consumed. */
        const char *p = c->in.len ? sb__buf_head(&c->in) : "";
        sb_framer_cut fr;
        if (sb_framer_next(&c->framer, p, c->in.len, 1, &fr) == 1) {
            if (c->handler->on_data)
                c->handler->on_data(c, p + fr.off, fr.len, c->udata);
            if (c->state != SB__S_DEAD)
                sb__buf_consume(&c->in, fr.consumed);
        }
        if (c->state != SB__S_OPEN)
            return;
    } else if (c->in.len) {
        sb__log(c->loop, SB_LOG_DEBUG, "fd %d: EOF inside a message; %zu bytes dropped",
                c->h.fd, c->in.len);
    }
    /* The peer's EOF is always reported, whatever our side has done (a
     * relay forwards it); then, if our FIN is out too, the close. */
    if (c->handler->on_eof) {
        c->handler->on_eof(c, c->udata);
        if (c->state != SB__S_OPEN)
            return;
    } else if (!c->shut_done) {
        sb_close(c);
        return;
    }
    if (c->shut_done && !out_len(c))
        sb__conn_kill(c, 0); /* both directions are done */
}

/*
 * How many of the n new bytes in buf the message begun in c->in still
 * needs, as far as the framer can tell without cutting: the rest of a
 * fixed or sized message once its header is known, up to the end of the
 * delimiter, or everything (raw, until EOF, a header still incomplete, no
 * delimiter in sight).
 */
static size_t partial_needs(const sb_conn *c, const char *buf, size_t n)
{
    const sb_framer *f = &c->framer;
    const char *have = sb__buf_head(&c->in);
    size_t in = c->in.len, hdr = f->len, i;
    uint64_t mlen = 0;

    if (f->body_state)
        return n; /* streaming inside a body: any bytes make a piece */
    switch (f->kind) {
    case SB_FRAMER_FIXED:
        if (f->flags & SB_FRAMER_STREAM)
            return n;
        return f->len > in && f->len - in < n ? f->len - in : n;
    case SB_FRAMER_PREFIX:
    case SB_FRAMER_DIGITS:
        if (in < hdr)
            return hdr - in < n ? hdr - in : n; /* the header first */
        for (i = 0; i < hdr; i++)
            mlen = f->kind == SB_FRAMER_PREFIX ? mlen << 8 | (unsigned char)have[i]
                                               : mlen * 10 + (uint64_t)(have[i] - '0');
        if (mlen > f->max_len || hdr + mlen <= in || (f->flags & SB_FRAMER_STREAM))
            return n; /* the framer reports it, skips, or streams */
        return hdr + mlen - in < n ? (size_t)(hdr + mlen - in) : n;
    case SB_FRAMER_DELIM: {
        size_t dl = f->delim_len, j;
        const unsigned char *d = f->delim;
        if (f->skip_to_delim || f->skip)
            return n;
        /* A delimiter straddling the old and the new bytes. */
        for (j = dl > in + 1 ? dl - 1 - in : 0; j + 1 < dl && j < n + 0; j++) {
            size_t from_old = dl - 1 - j; /* delimiter bytes taken from c->in */
            if (from_old > in || dl - from_old > n)
                continue;
            if (memcmp(have + in - from_old, d, from_old) == 0 &&
                memcmp(buf, d + from_old, dl - from_old) == 0)
                return dl - from_old;
        }
        for (i = 0; i + dl <= n; i++) {
            const char *p = memchr(buf + i, d[0], n - dl + 1 - i);
            if (!p)
                break;
            i = (size_t)(p - buf);
            if (memcmp(p, d, dl) == 0)
                return i + dl;
        }
        return n;
    }
    default:
        return n;
    }
}

/*
 * New bytes while part of a message waits in c->in: append only what
 * completes that message, cut it, and go on with the rest straight from
 * the shared read buffer; only the last partial message is copied into
 * c->in.  So a framed connection's input buffer holds at most one message
 * (max_len plus its header or delimiter), never that plus a whole read.
 */
static void conn_input_after_partial(sb_conn *c, const char *buf, size_t n)
{
    int round;

    /* A sized message takes two rounds: its header, then its body. */
    for (round = 0; round < 3 && n > 0 && c->in.len > 0; round++) {
        size_t need = partial_needs(c, buf, n);
        if (sb__buf_append(&c->in, buf, need)) {
            sb__conn_kill(c, -ENOMEM);
            return;
        }
        buf += need;
        n -= need;
        conn_input(c, sb__buf_head(&c->in), c->in.len, 1);
        if (c->state != SB__S_OPEN || c->pause)
            break; /* input is held (or dropped) now: keep the rest below */
    }
    if (n == 0 || c->state == SB__S_DEAD)
        return;
    if (c->in.len == 0) {
        conn_input(c, buf, n, 0);
        return;
    }
    /* Held input, or a framer that wanted more than it seemed. */
    if (sb__buf_append(&c->in, buf, n)) {
        sb__conn_kill(c, -ENOMEM);
        return;
    }
    conn_input(c, sb__buf_head(&c->in), c->in.len, 1);
}

static void relay_read(sb_conn *c);

static void conn_readable(sb_conn *c)
{
    sb_loop *loop = c->loop;
    ssize_t n;

    if (c->relay && c->state == SB__S_OPEN) {
        relay_read(c);
        return;
    }
    n = conn_recv(c, loop->rbuf, SB__READ_CHUNK);
    if (n > 0) {
        loop->stats.bytes_in += (uint64_t)n;
        c->last_active = loop->now;
        if (c->state == SB__S_LINGER)
            return; /* discarded: we are closing */
        if (c->in.len == 0) {
            conn_input(c, loop->rbuf, (size_t)n, 0);
        } else {
            conn_input_after_partial(c, loop->rbuf, (size_t)n);
        }
        return;
    }
    if (n == 0) {
        conn_eof(c);
        return;
    }
    if (n == -EAGAIN)
        return;
    /* After our FIN the reply is out; a reset while lingering is no error. */
    if (c->state == SB__S_LINGER)
        sb__conn_kill(c, c->err);
    else
        conn_fail(c, (int)n);
}

/* Close c for an I/O error; a transport's words for it go to the log. */
static void conn_fail(sb_conn *c, int code)
{
    if (c->xt && c->xt->detail && c->state != SB__S_DEAD) {
        const char *d = c->xt->detail(c->xctx);
        sb__log(c->loop, SB_LOG_INFO, "fd %d: %s%s%s", c->h.fd, sb_strerror(code),
                d && *d ? ": " : "", d ? d : "");
    }
    sb__conn_kill(c, code);
}

/* Drive the transport's handshake; once done, the connection opens. */
static void conn_handshake(sb_conn *c)
{
    int r = c->xt->handshake(c->xctx);

    if (r == SB_WANT_READ || r == SB_WANT_WRITE) {
        c->x_hs_write = r == SB_WANT_WRITE;
        conn_update(c);
        return;
    }
    if (r < 0) {
        conn_fail(c, r);
        return;
    }
    c->state = c->close_req ? SB__S_CLOSING : SB__S_OPEN;
    sb__timer_disarm(&c->timer);
    c->last_active = c->loop->now;
    conn_update(c);
    if (out_len(c) || c->state == SB__S_CLOSING || c->shut_req)
        conn_queue_flush(c);
    /* Data that came with the handshake's last flight. */
    sb__conn_queue_pending(c);
    sb__conn_open(c);
}

void sb__conn_start_transport(sb_conn *c)
{
    sb_listener *l = c->listener;

    if (!c->xctx) {
        /* Accepted: the listener's transport, attached now. */
        void *ctx = NULL;
        int r = l->xt->attach(l->xarg, c, c->h.fd, &ctx);
        if (r < 0) {
            sb__conn_kill(c, r);
            return;
        }
        c->xt = l->xt;
        c->xctx = ctx;
        c->hs_ms = l->hs_ms;
    }
    if (c->close_req && !out_len(c)) {
        sb__conn_kill(c, 0); /* closed while connecting, nothing queued */
        return;
    }
    c->state = SB__S_HANDSHAKE;
    c->last_active = c->loop->now;
    conn_timer_arm(c, c->loop->now + (c->hs_ms ? c->hs_ms : SB__HANDSHAKE_MS));
    /* A client speaks first; a server waits for the ClientHello (a call
     * now would mostly cost a recv() that finds nothing). */
    if (c->listener) {
        c->x_hs_write = 0;
        conn_update(c);
        return;
    }
    conn_handshake(c);
}

void sb__conn_ready(sb__handle *h, unsigned events)
{
    sb_conn *c = (sb_conn *)h;

    if (c->state == SB__S_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if (c->xt) {
        /* A transport's read that waited to write, and the other way. */
        if ((events & SB_WRITE) && c->x_read_ww)
            events |= SB_READ;
        if ((events & SB_READ) && c->x_write_wr)
            events |= SB_WRITE;
    }
    if ((events & SB_READ) && c->state != SB__S_DEAD) {
        conn_readable(c);
        /*
         * Replies to what was just read leave now, with one send, while the
         * socket is still in cache (and the ACK rides on the reply).  c is
         * at the head of the flush list when it queued output during its
         * own read; if other connections queued theirs afterwards it simply
         * waits for step 5.  So does bulk output (over SB__EARLY_MAX): for
         * streams, reading every ready connection before the large sends
         * measured ~15% more throughput (pump, 50 connections).
         */
        if (c->loop->flush_head == c && out_len(c) <= SB__EARLY_MAX &&
            c->state != SB__S_DEAD) {
            c->loop->flush_head = c->flush_next;
            c->in_flush = 0;
            conn_flush(c, 1);
            return;
        }
    }
    if ((events & SB_WRITE) && c->state != SB__S_DEAD)
        conn_queue_flush(c);
}

static void conn_badfd(sb__handle *h)
{
    sb_conn *c = (sb_conn *)h;

    c->fd_gone = 1;
    sb__loop_unregister(c->loop, h);
    sb__conn_kill(c, -EBADF);
}

/*
 * Create a connection object around an accepted (or connected) fd and
 * register it for reading.  Returns NULL on allocation failure (the caller
 * closes fd).
 */
sb_conn *sb__conn_new(sb_loop *loop, int fd, unsigned interest, sb_listener *l,
                      const struct sockaddr *peer, socklen_t peer_len)
{
    sb_conn *c = sb__calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    SB__BIRTH(c, h.magic, SB__K_CONN);
    c->h.type = SB__H_CONN;
    c->h.ready = sb__conn_ready;
    c->h.badfd = conn_badfd;
    c->loop = loop;
    c->state = SB__S_OPEN; /* connect.c makes it CONNECTING */
    if (sb__loop_register(loop, &c->h, fd, interest)) {
        free(c);
        return NULL;
    }
    c->listener = l;
    if (l) {
        c->handler = &l->handler;
        c->udata = l->udata;
        sb__conn_apply_opts(c, &l->opts.conn);
        l->nconns++;
        l->refs++;
    }
    sb__conn_set_peer(c, peer, peer_len);
    c->last_active = loop->now;
    sb__timer_init(&c->timer, loop, conn_timer_cb, c);
    c->next = loop->conns;
    if (c->next)
        c->next->prev = c;
    loop->conns = c;
    loop->nhandles++;
    loop->stats.conns++;
    if (loop->reclaim.index == SB__NOT_ARMED)
        sb__timer_arm(&loop->reclaim, loop->now + SB__RECLAIM_MS, 0);
    return c;
}

/* Remember an IP peer address (a unix one is looked up when asked). */
void sb__conn_set_peer(sb_conn *c, const struct sockaddr *sa, socklen_t len)
{
    c->peer_len = 0;
    if (sa && len <= sizeof(c->peer) && sa->sa_family != AF_UNIX) {
        memcpy(&c->peer, sa, len);
        c->peer_len = len;
    }
}

/*
 * Every SB__RECLAIM_MS while connections exist: free the empty input
 * buffers of connections idle that long (output buffers go back to the pool
 * as soon as they empty).  O(connections) once a second.
 */
void sb__conn_reclaim(sb_timer *t, void *udata)
{
    sb_loop *loop = udata;
    sb_conn *c;

    for (c = loop->conns; c; c = c->next) {
        if (loop->now - c->last_active < SB__RECLAIM_MS)
            continue;
        /* Framed connections often hold part of a message: fit it. */
        if (c->in.data)
            sb__buf_shrink(&c->in, 0);
    }
    /* Nobody needed a spare output buffer for a whole period: free them. */
    if (!loop->pool_used)
        sb__conn_pool_free(loop);
    loop->pool_used = 0;
    if (loop->conns && sb__timer_arm(t, loop->now + SB__RECLAIM_MS, 0))
        sb__log(loop, SB_LOG_WARN, "out of memory re-arming the buffer reclaim timer");
}

/* Arm the idle timer and tell the application. */
void sb__conn_open(sb_conn *c)
{
    if (c->idle_ms)
        conn_timer_arm(c, c->loop->now + c->idle_ms);
    /* close_req: sb_close came while connecting or handshaking; the
     * application said goodbye already, so there is no on_open. */
    if (c->state == SB__S_DEAD || c->close_req)
        return;
    c->opened = 1;
    if (c->handler->on_open)
        c->handler->on_open(c, c->udata);
}

void sb__conn_connected(sb_conn *c)
{
    c->h.ready = sb__conn_ready;
    if (c->xt) {
        sb__conn_start_transport(c);
        return;
    }
    c->state = c->close_req ? SB__S_CLOSING : SB__S_OPEN;
    c->last_active = c->loop->now;
    conn_update(c);
    if (out_len(c) || c->state == SB__S_CLOSING || c->shut_req)
        conn_queue_flush(c);
    sb__conn_open(c);
}

/*
 * Step 6: release every killed connection — fd, memory — and call its
 * on_close.  Callbacks may kill more connections; they are handled in the
 * same pass.  Returns the number closed.
 */
int sb__conn_close_pending(sb_loop *loop)
{
    int n = 0;

    while (loop->close_head) {
        sb_conn *c = loop->close_head;
        loop->close_head = c->close_next;

        sb__loop_unregister(loop, &c->h);
        if (!c->fd_gone) {
            if (c->abort) {
                struct linger lg = {1, 0};
                setsockopt(c->h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            }
            sb__sys_close(c->h.fd);
        }
        c->h.fd = -1;
        if (c->prev)
            c->prev->next = c->next;
        else
            loop->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        if (c->listener)
            c->listener->nconns--; /* freed below if it was its last */
        loop->nhandles--;
        loop->stats.conns--;
        loop->stats.closes++;
        if (c->reason == 0 && c->x_truncated)
            c->reason = SB_ETRUNCATED;
        if (c->reason) {
            loop->stats.close_errors++;
            if (c->reason == -ECONNRESET || c->reason == -EPIPE)
                loop->stats.close_reset++;
            else if (c->reason == SB_EABORTED)
                loop->stats.close_aborted++;
            else if (c->reason == SB_ETOOLONG || c->reason == SB_EFRAME)
                loop->stats.close_frame++;
        }
        if (c->connect)
            sb__connect_closed(c); /* ended while connecting */
        if (c->relay) {
            /* A relay's reset travels as a reset, an orderly end as one. */
            sb_conn *p = c->relay;
            c->relay = NULL;
            p->relay = NULL;
            if (c->reason)
                sb_abort(p);
            else
                sb_close(p);
        }
        seg_drop_all(c); /* every release runs before on_close */
        if (c->handler->on_close)
            c->handler->on_close(c, c->reason, c->udata);
        if (c->xt && c->xt->detach)
            c->xt->detach(c->xctx); /* its detail stays readable in on_close */
        c->xt = NULL;
        if (c->in_flush) {
            /* Queued by on_drain, then killed: unlink (the list is short). */
            sb_conn **pp = &loop->flush_head;
            while (*pp != c)
                pp = &(*pp)->flush_next;
            *pp = c->flush_next;
        }
        if (c->in_pending) {
            sb_conn **pp = &loop->pending_head;
            while (*pp != c)
                pp = &(*pp)->pending_next;
            *pp = c->pending_next;
        }
        sb__buf_free(&c->in);
        out_give(c);
        if (!loop->conns)
            sb__conn_pool_free(loop); /* idle: no spare buffers kept */
        if (c->own_handler)
            free(c->handler);
        /* Released after on_close, which may close the listener itself. */
        if (c->listener && --c->listener->refs == 0)
            sb__retire(c->listener, &c->listener->h.magic, SB__K_LISTENER, loop);
        sb__retire(c, &c->h.magic, SB__K_CONN, loop);
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------- relay */

/*
 * A relayed connection's input is read straight into its peer's output
 * queue: one copy (the kernel's into the queue), none in user space.  The
 * source is held (SB_PAUSE_RELAY) while the peer has more than relay_max
 * bytes queued and released once it is down to half (conn_flush).  EOF is
 * forwarded as a FIN after the peer's queue; an error closes the peer with
 * a reset, an orderly close closes it in order (sb__conn_close_pending).
 */
static void relay_eof(sb_conn *c)
{
    sb_conn *d = c->relay;

    c->eof_in = 1;
    conn_update(c);
    if (d->state < SB__S_CLOSING)
        sb_shutdown(d);
    if (c->shut_done && !out_len(c))
        sb__conn_kill(c, 0); /* both directions are done */
}

static void relay_read(sb_conn *c)
{
    sb_loop *loop = c->loop;
    sb_conn *d = c->relay;
    size_t room;
    ssize_t n;

    if (d->state >= SB__S_CLOSING || d->shut_req || d->close_req) {
        sb__conn_hold(c, SB_PAUSE_RELAY); /* nowhere to go: its close follows */
        return;
    }
    out_take(d);
    if (sb__buf_reserve(&d->out, SB__READ_CHUNK)) {
        sb__conn_kill(c, -ENOMEM);
        return;
    }
    room = sb__buf_room(&d->out);
    if (room > SB__MAX_SEND)
        room = SB__MAX_SEND;
    n = conn_recv(c, sb__buf_tail(&d->out), room);
    if (n > 0) {
        loop->stats.bytes_in += (uint64_t)n;
        c->last_active = loop->now;
        sb__buf_commit(&d->out, (size_t)n);
        if (seg_note_copy(d, (size_t)n)) {
            sb__conn_kill(c, -ENOMEM);
            return;
        }
        if (!d->want_write)
            conn_queue_flush(d);
        if (out_len(d) > d->relay_max)
            sb__conn_hold(c, SB_PAUSE_RELAY);
        return;
    }
    if (!d->out.len)
        out_give(d);
    if (n == 0) {
        relay_eof(c);
        return;
    }
    if (n == -EAGAIN)
        return;
    conn_fail(c, (int)n);
}

/* Start relaying a's input to b and b's to a. */
static int relay_link(sb_conn *a, sb_conn *b, size_t max)
{
    int rc;

    a->relay = b;
    a->relay_max = max;
    /* The request/reply rule pauses a connection for its own output: a
     * relay holds the other side instead. */
    a->high_water = SIZE_MAX;
    a->low_water = SIZE_MAX;
    a->pause &= (uint8_t)~SB_PAUSE_BACKPRESSURE;
    if (a->in.len) { /* what was received and not delivered goes first */
        rc = sb__conn_write3(b, NULL, 0, sb__buf_head(&a->in), a->in.len, NULL, 0);
        if (rc)
            return rc;
        sb__buf_consume(&a->in, a->in.len);
    }
    sb__buf_shrink(&a->in, 0);
    return 0;
}

int sb_relay(sb_conn *a, sb_conn *b, const sb_relay_opts *opts)
{
    SB__CHECK(a, h.magic, SB__K_CONN);
    SB__CHECK(b, h.magic, SB__K_CONN);
    size_t max = opts && opts->max_buffer ? opts->max_buffer : SB__RELAY_MAX;
    int rc;

    if (!a || !b || a == b || a->loop != b->loop || a->relay || b->relay)
        return -EINVAL;
    if (a->state >= SB__S_CLOSING || b->state >= SB__S_CLOSING || a->close_req || b->close_req)
        return SB_ECLOSED;
    if ((rc = relay_link(a, b, max)) != 0 || (rc = relay_link(b, a, max)) != 0) {
        a->relay = b->relay = NULL;
        return rc;
    }
    /* An EOF seen before the relay began travels now. */
    if (a->eof_in)
        sb_shutdown(b);
    if (b->eof_in)
        sb_shutdown(a);
    if (out_len(b) > max)
        sb__conn_hold(a, SB_PAUSE_RELAY);
    if (out_len(a) > max)
        sb__conn_hold(b, SB_PAUSE_RELAY);
    conn_update(a);
    conn_update(b);
    return 0;
}

unsigned sb_conn_piece(const sb_conn *c, uint64_t *left)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (left)
        *left = c && c->cut_flags ? c->cut_left : 0;
    return c ? c->cut_flags : 0;
}

sb_conn *sb_relay_peer(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c ? c->relay : NULL;
}

/* ------------------------------------------------------------ public API */

static void out_queued(sb_conn *c);

/*
 * Queue up to three pieces as one unit (header, payload, trailer): either
 * all are queued or none.  Returns 0, SB_ECLOSED, SB_EBUFFULL or -ENOMEM.
 */
int sb__conn_write3(sb_conn *c, const void *a, size_t alen, const void *b, size_t blen,
                    const void *d, size_t dlen)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    size_t len = alen + blen + dlen;
    int rc;

    if (!c || (!a && alen) || (!b && blen) || (!d && dlen))
        return -EINVAL;
    if (c->state >= SB__S_CLOSING || c->close_req || c->shut_req)
        return SB_ECLOSED;
    if (len < blen)
        return -ENOMEM;
    if (len == 0)
        return 0;
    if (c->max_output && (len > c->max_output || c->out.len > c->max_output - len))
        return SB_EBUFFULL;
    out_take(c);
    rc = sb__buf_reserve(&c->out, len);
    if (rc)
        return rc;
    if ((rc = seg_note_copy(c, len)) != 0)
        return rc;
    {
        char *p = c->out.data + c->out.off + c->out.len;
        if (alen)
            memcpy(p, a, alen);
        if (blen)
            memcpy(p + alen, b, blen);
        if (dlen)
            memcpy(p + alen + blen, d, dlen);
        c->out.len += len;
    }
    out_queued(c);
    return 0;
}

/* Bytes were queued: backpressure past the high watermark, and a flush. */
static void out_queued(sb_conn *c)
{
    if (out_len(c) > c->high_water && !(c->pause & SB_PAUSE_BACKPRESSURE)) {
        c->pause |= SB_PAUSE_BACKPRESSURE;
        conn_update(c);
    }
    if (!c->want_write)
        conn_queue_flush(c);
}

/* Queue a REF or FILE segment (sb_write_ref, sb_write_file). */
static int write_seg(sb_conn *c, int kind, const void *data, int fd, uint64_t off, size_t len,
                     sb_release_fn release, void *arg)
{
    sb__seg *s;

    if (c->state >= SB__S_CLOSING || c->close_req || c->shut_req)
        return SB_ECLOSED;
    if (len > SIZE_MAX - out_len(c))
        return -ENOMEM;
    if (len == 0) {
        if (release)
            release(arg);
        return 0;
    }
    s = c->seg_tail;
    if (kind == SB__SEG_REF && s && s->kind == SB__SEG_REF && !s->release && !release &&
        s->ptr + s->len == (const char *)data) {
        /* The bytes right after the last reference (a ring of static
         * slots): the same segment grows, one iovec for both. */
        s->len += len;
        c->out_ext += len;
        out_queued(c);
        return 0;
    }
    if (!c->seg_head && c->out.len) {
        /* Entering segment mode: what is queued so far becomes a COPY. */
        sb__seg *first = seg_new(c->loop, SB__SEG_COPY);
        if (!first)
            return -ENOMEM;
        if (!(s = seg_new(c->loop, kind))) {
            seg_put(c->loop, first);
            return -ENOMEM;
        }
        first->len = c->out.len;
        seg_append(c, first);
    } else if (!(s = seg_new(c->loop, kind))) {
        return -ENOMEM;
    }
    s->ptr = data;
    s->fd = fd;
    s->off = off;
    s->len = len;
    s->release = release;
    s->arg = arg;
    seg_append(c, s);
    c->out_ext += len;
    out_queued(c);
    return 0;
}

int sb_write_ref(sb_conn *c, const void *data, size_t len, sb_release_fn release, void *arg)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || (!data && len))
        return -EINVAL;
    return write_seg(c, SB__SEG_REF, data, -1, 0, len, release, arg);
}

int sb_write_file(sb_conn *c, int fd, uint64_t offset, size_t len, sb_release_fn release,
                  void *arg)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || (fd < 0 && len) || offset > (uint64_t)INT64_MAX - len)
        return -EINVAL;
    return write_seg(c, SB__SEG_FILE, NULL, fd, offset, len, release, arg);
}

int sb_write(sb_conn *c, const void *data, size_t len)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return sb__conn_write3(c, NULL, 0, data, len, NULL, 0);
}

int sb_conn_set_framer(sb_conn *c, const sb_framer *f)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || !f || !sb__framer_valid(f))
        return -EINVAL;
    c->framer = *f;
    sb__framer_reset(&c->framer);
    c->framer_set = 1;
    /* Outside on_data, bytes already buffered are cut on the next pass;
     * inside it, conn_input() simply goes on with the new framer. */
    if (!c->in_input)
        sb__conn_queue_pending(c);
    return 0;
}

void sb_shutdown(sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || c->state >= SB__S_CLOSING || c->close_req || c->shut_req)
        return;
    c->shut_req = 1;
    conn_queue_flush(c);
}

void sb_close(sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || c->state >= SB__S_CLOSING || c->close_req)
        return;
    if (c->state == SB__S_HANDSHAKE && !out_len(c)) {
        /* Nothing to deliver: the handshake would be finished only to be
         * closed (no on_open either way). */
        sb__conn_kill(c, 0);
        return;
    }
    if (c->state == SB__S_CONNECTING || c->state == SB__S_HANDSHAKE)
        c->close_req = 1; /* CLOSING once connected (and no on_open) */
    else
        c->state = SB__S_CLOSING;
    conn_update(c);
    if (!c->want_write)
        conn_queue_flush(c);
}

void sb_abort(sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || c->state == SB__S_DEAD)
        return;
    c->abort = 1;
    sb__conn_kill(c, SB_EABORTED);
}

size_t sb_conn_queued(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return out_len(c);
}

void sb_conn_set_timeout(sb_conn *c, unsigned idle_ms)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (c->state == SB__S_DEAD)
        return;
    c->idle_ms = idle_ms;
    if (c->state == SB__S_LINGER)
        return;
    if (idle_ms)
        conn_timer_arm(c, c->last_active + idle_ms);
    else
        sb__timer_disarm(&c->timer);
}

/* The watermarks' defaults (sb_conn_opts). */
static void set_water(sb_conn *c, size_t low, size_t high)
{
    c->high_water = high ? high : SB__DEFAULT_HIGH_WATER;
    c->low_water = low == 0 ? c->high_water / 4 : low <= c->high_water ? low : c->high_water;
}

void sb__conn_apply_opts(sb_conn *c, const sb_conn_opts *o)
{
    c->idle_ms = o->idle_timeout_ms;
    set_water(c, o->low_water, o->high_water);
    c->max_output = o->max_output;
    c->linger_ms = o->linger_ms ? o->linger_ms : SB__DEFAULT_LINGER_MS;
    c->drain_at_low = o->drain_at_low ? 1 : 0;
}

void sb_conn_set_watermarks(sb_conn *c, size_t low, size_t high)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    set_water(c, low, high);
    if (out_len(c) > c->high_water) {
        c->pause |= SB_PAUSE_BACKPRESSURE;
    } else if (out_len(c) <= c->low_water && (c->pause & SB_PAUSE_BACKPRESSURE)) {
        c->pause &= (uint8_t)~SB_PAUSE_BACKPRESSURE;
        sb__conn_queue_pending(c); /* what was held back is cut now */
    }
    conn_update(c);
}

/* Hold reading for one reason; the others are untouched. */
void sb__conn_hold(sb_conn *c, unsigned reason)
{
    c->pause |= (uint8_t)reason;
    conn_update(c);
}

/* Drop one reason; reading resumes when none is left. */
void sb__conn_release(sb_conn *c, unsigned reason)
{
    if (!(c->pause & reason))
        return;
    c->pause &= (uint8_t)~reason;
    conn_update(c);
    sb__conn_queue_pending(c);
}

void sb_conn_pause(sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    sb__conn_hold(c, SB_PAUSE_APP);
}

void sb_conn_resume(sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    sb__conn_release(c, SB_PAUSE_APP);
}

unsigned sb_conn_paused(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c ? c->pause : 0;
}

size_t sb_conn_buffered(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c ? c->in.len : 0;
}

void sb_conn_watermarks(const sb_conn *c, size_t *low, size_t *high)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    if (low)
        *low = c->low_water;
    if (high)
        *high = c->high_water;
}

void sb_conn_set_udata(sb_conn *c, void *udata)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    c->udata = udata;
}

void *sb_conn_udata(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c->udata;
}

int sb_conn_peer(const sb_conn *c, char *buf, size_t len)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (c->peer_len)
        return sb__addr_format(&c->peer.sa, c->peer_len, buf, len);
    if (c->h.fd < 0 || getpeername(c->h.fd, (struct sockaddr *)&ss, &sl) < 0)
        return -ENOTCONN;
    return sb__addr_format((const struct sockaddr *)&ss, sl, buf, len);
}

int sb_conn_local(const sb_conn *c, char *buf, size_t len)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (c->h.fd < 0 || getsockname(c->h.fd, (struct sockaddr *)&ss, &sl) < 0)
        return -ENOTCONN;
    return sb__addr_format((const struct sockaddr *)&ss, sl, buf, len);
}

sb_socket_t sb_conn_fd(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return sb__os_public(c->h.fd);
}

sb_loop *sb_conn_loop(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c->loop;
}

sb_listener *sb_conn_listener(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c->listener;
}

/* ------------------------------------------------------------ transports */

int sb_conn_set_transport(sb_conn *c, const sb_transport *t, void *arg, unsigned handshake_ms)
{
    void *ctx = NULL;
    int r;

    SB__CHECK(c, h.magic, SB__K_CONN);
    if (!c || !t || !t->attach || !t->handshake || !t->recv || !t->send)
        return -EINVAL;
    if (c->state == SB__S_DEAD || c->close_req)
        return SB_ECLOSED;
    if (c->state != SB__S_CONNECTING || c->xt)
        return -EBUSY;
    r = t->attach(arg, c, c->h.fd, &ctx);
    if (r < 0)
        return r;
    c->xt = t;
    c->xctx = ctx;
    c->hs_ms = handshake_ms;
    return 0;
}

void *sb_conn_transport(const sb_conn *c, const sb_transport *t)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c && t && c->xt == t ? c->xctx : NULL;
}

int sb_conn_opened(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c && c->opened ? 1 : 0;
}

int sb_conn_handshaking(const sb_conn *c)
{
    SB__CHECK(c, h.magic, SB__K_CONN);
    return c && (c->state == SB__S_HANDSHAKE || (c->state == SB__S_CONNECTING && c->xt));
}

long sb_conn_sock_recv(sb_conn *c, void *buf, size_t n)
{
    ssize_t k;

    SB__CHECK(c, h.magic, SB__K_CONN);
    if (c->h.fd < 0)
        return -EBADF;
    do
        k = sb__sys_recv(c->h.fd, buf, n, 0);
    while (k < 0 && errno == EINTR);
    return k < 0 ? (long)sys_code() : (long)k;
}

long sb_conn_sock_send(sb_conn *c, const void *buf, size_t n)
{
    ssize_t k;

    SB__CHECK(c, h.magic, SB__K_CONN);
    if (c->h.fd < 0)
        return -EBADF;
    do
        k = sb__os_send(c->h.fd, buf, n);
    while (k < 0 && errno == EINTR);
    return k < 0 ? (long)sys_code() : (long)k;
}
