/*
 * Timers: a binary min-heap ordered by (deadline, arm sequence), so equal
 * deadlines fire first-armed-first.  The clock is monotonic milliseconds,
 * replaceable for tests (sb_loop_set_clock).
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

uint64_t sb__clock_real(void *udata)
{
    struct timespec ts;

    (void)udata;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int timer_less(const sb_timer *a, const sb_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_place(sb__heap *h, size_t i, sb_timer *t)
{
    h->a[i] = t;
    t->index = (uint32_t)i;
}

static void heap_up(sb__heap *h, size_t i)
{
    sb_timer *t = h->a[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_less(t, h->a[parent]))
            break;
        heap_place(h, i, h->a[parent]);
        i = parent;
    }
    heap_place(h, i, t);
}

static void heap_down(sb__heap *h, size_t i)
{
    sb_timer *t = h->a[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && timer_less(h->a[c + 1], h->a[c]))
            c++;
        if (!timer_less(h->a[c], t))
            break;
        heap_place(h, i, h->a[c]);
        i = c;
    }
    heap_place(h, i, t);
}

void sb__timer_init(sb_timer *t, sb_loop *loop, sb_timer_cb cb, void *udata)
{
    t->loop = loop;
    t->cb = cb;
    t->udata = udata;
    t->when = t->repeat = t->seq = 0;
    t->index = SB__NOT_ARMED;
    t->internal = 1;
}

/* Remove t from the heap if it is there.  O(log n). */
void sb__timer_disarm(sb_timer *t)
{
    sb__heap *h = &t->loop->timers;
    size_t i = t->index;
    sb_timer *last;

    if (i == SB__NOT_ARMED)
        return;
    t->index = SB__NOT_ARMED;
    if (!t->internal)
        t->loop->user_timers--;
    last = h->a[--h->n];
    if (i == h->n)
        return;
    heap_place(h, i, last);
    if (i > 0 && timer_less(last, h->a[(i - 1) / 2]))
        heap_up(h, i);
    else
        heap_down(h, i);
}

/*
 * (Re)arm t for the absolute time `when`, clamped to the loop's current
 * time: a deadline in the past is due now, and sorts after the timers
 * already due (which keeps sb__timers_run's cut-off exact).
 * Returns 0 or -ENOMEM.
 */
int sb__timer_arm(sb_timer *t, uint64_t when, uint64_t repeat)
{
    sb__heap *h = &t->loop->timers;

    sb__timer_disarm(t);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        sb_timer **a = sb__realloc(h->a, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        h->a = a;
        h->cap = cap;
    }
    if (h->n >= SB__NOT_ARMED)
        return -ENOMEM;
    t->when = when < t->loop->now ? t->loop->now : when;
    t->repeat = repeat;
    t->seq = t->loop->timer_seq++;
    if (!t->internal)
        t->loop->user_timers++;
    h->a[h->n] = t;
    t->index = (uint32_t)h->n++;
    heap_up(h, t->index);
    return 0;
}

/*
 * Delay until the earliest timer, clamped at 0.  Returns 0 when no timer is
 * armed, 1 with *delay_ms set otherwise.
 */
int sb__timers_next(const sb_loop *loop, int64_t *delay_ms)
{
    const sb_timer *t;

    if (loop->timers.n == 0)
        return 0;
    t = loop->timers.a[0];
    if (t->when <= loop->now)
        *delay_ms = 0;
    else if (t->when - loop->now > (uint64_t)INT64_MAX)
        *delay_ms = INT64_MAX;
    else
        *delay_ms = (int64_t)(t->when - loop->now);
    return 1;
}

/*
 * Run every timer due at the loop's current time that was armed before
 * this pass began.  Timers armed by callbacks (sequence >= the pass's first
 * new sequence) sort after every older due timer, so stopping at the first
 * of them is exact and they fire on a later iteration.  A repeating timer is
 * re-armed before its callback runs, so the callback may stop or free it.
 */
void sb__timers_run(sb_loop *loop)
{
    sb__heap *h = &loop->timers;
    uint64_t first_new = loop->timer_seq;

    while (h->n) {
        sb_timer *t = h->a[0];
        if (t->when > loop->now || t->seq >= first_new)
            break;
        if (t->repeat) {
            uint64_t next = t->repeat > UINT64_MAX - loop->now ? UINT64_MAX
                                                               : loop->now + t->repeat;
            if (sb__timer_arm(t, next, t->repeat))
                sb__timer_disarm(t);
        } else {
            sb__timer_disarm(t);
        }
        loop->stats.timers_fired++;
        t->cb(t, t->udata);
    }
}

/* ------------------------------------------------------------ public API */

sb_timer *sb_timer_new(sb_loop *loop, sb_timer_cb cb, void *udata)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb__utimer *u;

    if (!loop || !cb)
        return NULL;
    u = sb__malloc(sizeof(*u));
    if (!u)
        return NULL;
    sb__timer_init(&u->t, loop, cb, udata);
    SB__BIRTH(&u->t, magic, SB__K_TIMER);
    u->t.internal = 0;
    u->prev = NULL;
    u->next = loop->utimers;
    if (u->next)
        u->next->prev = u;
    loop->utimers = u;
    loop->nhandles++;
    return &u->t;
}

int sb_timer_start(sb_timer *t, uint64_t timeout_ms, uint64_t repeat_ms)
{
    SB__CHECK(t, magic, SB__K_TIMER);
    if (!t)
        return -EINVAL;
    if (timeout_ms > UINT64_MAX - t->loop->now)
        timeout_ms = UINT64_MAX - t->loop->now;
    return sb__timer_arm(t, t->loop->now + timeout_ms, repeat_ms);
}

void sb_timer_stop(sb_timer *t)
{
    SB__CHECK(t, magic, SB__K_TIMER);
    if (t)
        sb__timer_disarm(t);
}

int sb_timer_active(const sb_timer *t)
{
    SB__CHECK(t, magic, SB__K_TIMER);
    return t && t->index != SB__NOT_ARMED;
}

void sb_timer_free(sb_timer *t)
{
    SB__CHECK(t, magic, SB__K_TIMER);
    if (!t)
        return;
    sb__utimer *u = (sb__utimer *)t;

    sb__timer_disarm(t);
    if (u->prev)
        u->prev->next = u->next;
    else
        t->loop->utimers = u->next;
    if (u->next)
        u->next->prev = u->prev;
    t->loop->nhandles--;
    sb__retire(u, &u->t.magic, SB__K_TIMER, t->loop);
}
