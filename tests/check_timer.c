/* Timers, driven by a fake clock: no test waits on real time. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1000u /* fake clock start */
#define MAXREC 64

/* ------------------------------------------------------------- helpers */

typedef struct trec {
    int order[MAXREC]; /* ids in firing order */
    int n;
} trec;

enum {
    ACT_NONE = 0,
    ACT_STOP_SELF,    /* sb_timer_stop(self) on fire number stop_after */
    ACT_FREE_SELF,    /* sb_timer_free(self) */
    ACT_STOP_OTHER,   /* sb_timer_stop(other) */
    ACT_FREE_OTHER,   /* sb_timer_free(other) */
    ACT_START_OTHER0, /* sb_timer_start(other, 0, 0) */
    ACT_REARM_SELF0,  /* sb_timer_start(self, 0, 0) while fired < limit */
    ACT_REARM_SELF,   /* sb_timer_start(self, delay, 0) while fired < limit */
};

typedef struct tctx {
    sb_loop *loop;
    sb_timer *t;
    int id;
    int fired;
    uint64_t fired_at[MAXREC];   /* sb_loop_now() at each fire */
    uint64_t iter_at[MAXREC];    /* stats.iterations at each fire */
    int active_in_cb;            /* sb_timer_active(self) on entry */
    trec *rec;
    int action;
    int stop_after;
    int limit;
    uint64_t delay;
    struct tctx *other;
} tctx;

static void tcb(sb_timer *t, void *udata)
{
    tctx *c = udata;
    sb_loop_stats st;

    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_eq(t, c->t);
    sb_loop_get_stats(c->loop, &st);
    if (c->fired < MAXREC) {
        c->fired_at[c->fired] = sb_loop_now(c->loop);
        c->iter_at[c->fired] = st.iterations;
    }
    c->fired++;
    c->active_in_cb = sb_timer_active(t);
    if (c->rec && c->rec->n < MAXREC)
        c->rec->order[c->rec->n++] = c->id;

    switch (c->action) {
    case ACT_STOP_SELF:
        if (c->fired == c->stop_after) {
            sb_timer_stop(t);
            ck_assert_int_eq(sb_timer_active(t), 0);
        }
        break;
    case ACT_FREE_SELF:
        sb_timer_free(t);
        c->t = NULL;
        break;
    case ACT_STOP_OTHER:
        sb_timer_stop(c->other->t);
        ck_assert_int_eq(sb_timer_active(c->other->t), 0);
        break;
    case ACT_FREE_OTHER:
        sb_timer_free(c->other->t);
        c->other->t = NULL;
        break;
    case ACT_START_OTHER0:
        ck_assert_int_eq(sb_timer_start(c->other->t, 0, 0), 0);
        ck_assert_int_eq(sb_timer_active(c->other->t), 1);
        break;
    case ACT_REARM_SELF0:
        if (c->fired < c->limit)
            ck_assert_int_eq(sb_timer_start(t, 0, 0), 0);
        break;
    case ACT_REARM_SELF:
        if (c->fired < c->limit)
            ck_assert_int_eq(sb_timer_start(t, c->delay, 0), 0);
        break;
    default:
        break;
    }
}

/* A loop on a fake clock starting at `start`. */
static sb_loop *fake_loop(tu_clock *clk, uint64_t start)
{
    sb_loop *loop = sb_loop_new();

    ck_assert_ptr_nonnull(loop);
    clk->now = start;
    sb_loop_set_clock(loop, tu_clock_fn, clk);
    ck_assert_uint_eq(sb_loop_now(loop), start);
    return loop;
}

/* Create the timer of c (cb tcb). */
static void tnew(sb_loop *loop, tctx *c, int id, trec *rec)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->id = id;
    c->rec = rec;
    c->t = sb_timer_new(loop, tcb, c);
    ck_assert_ptr_nonnull(c->t);
    ck_assert_int_eq(sb_timer_active(c->t), 0);
}

/* Set the fake time and run one polling iteration. */
static int step_to(sb_loop *loop, tu_clock *clk, uint64_t t)
{
    int rc;

    clk->now = t;
    rc = sb_loop_run_once(loop, 0);
    ck_assert_int_ge(rc, 0);
    ck_assert_uint_eq(sb_loop_now(loop), t);
    return rc & SB_RUN_ALIVE; /* whether the pass did work is tested in check_embed.c */
}

static uint64_t timers_fired(const sb_loop *loop)
{
    sb_loop_stats st;

    sb_loop_get_stats(loop, &st);
    return st.timers_fired;
}

static uint64_t iterations(const sb_loop *loop)
{
    sb_loop_stats st;

    sb_loop_get_stats(loop, &st);
    return st.iterations;
}

static void check_order(const trec *rec, const int *want, int n)
{
    int i;

    ck_assert_int_eq(rec->n, n);
    for (i = 0; i < n; i++)
        ck_assert_msg(rec->order[i] == want[i], "firing #%d: timer %d, expected %d", i,
                      rec->order[i], want[i]);
}

/* ------------------------------------------------------------ one-shot */

START_TEST(test_timer_oneshot_deadline)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a;

    tnew(loop, &a, 0, NULL);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    /* Created but not started: does not keep the loop alive. */
    ck_assert_int_eq(step_to(loop, &clk, T0), 0);

    ck_assert_int_eq(sb_timer_start(a.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 50), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 99), 1);
    ck_assert_int_eq(a.fired, 0);
    ck_assert_int_eq(sb_timer_active(a.t), 1);

    /* At the deadline: fired once, and nothing is left alive. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_uint_eq(a.fired_at[0], T0 + 100);
    ck_assert_int_eq(a.active_in_cb, 0);
    ck_assert_int_eq(sb_timer_active(a.t), 0);
    ck_assert_uint_eq(timers_fired(loop), 1);

    /* Never again. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100000), 0);
    ck_assert_int_eq(a.fired, 1);

    /* Late iteration: a deadline long past fires once, on the next pass. */
    ck_assert_int_eq(sb_timer_start(a.t, 10, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 900000), 0);
    ck_assert_int_eq(a.fired, 2);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 900001), 0);
    ck_assert_int_eq(a.fired, 2);

    sb_timer_free(a.t);
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    tu_loop_teardown(loop);
}
END_TEST

/* A zero timeout with zero repeat is a one-shot for the next iteration,
 * not a timer that fires forever. */
START_TEST(test_timer_zero_timeout_oneshot)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a;
    int i;

    tnew(loop, &a, 0, NULL);
    ck_assert_int_eq(sb_timer_start(a.t, 0, 0), 0);
    ck_assert_int_eq(a.fired, 0); /* starting never calls back directly */
    ck_assert_int_eq(step_to(loop, &clk, T0), 0);
    ck_assert_int_eq(a.fired, 1);
    for (i = 0; i < 5; i++)
        step_to(loop, &clk, T0 + (uint64_t)i * 1000);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(sb_timer_active(a.t), 0);
    sb_timer_free(a.t);
    tu_loop_teardown(loop);
}
END_TEST

/* Restarting an armed timer replaces its deadline. */
START_TEST(test_timer_restart_replaces)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a;

    tnew(loop, &a, 0, NULL);
    ck_assert_int_eq(sb_timer_start(a.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(a.t, 500, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 499), 1);
    ck_assert_int_eq(a.fired, 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 500), 0);
    ck_assert_int_eq(a.fired, 1);

    /* Shortening works as well; relative to the current time. */
    ck_assert_int_eq(sb_timer_start(a.t, 1000, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 600), 1);
    ck_assert_int_eq(sb_timer_start(a.t, 10, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 609), 1);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 610), 0);
    ck_assert_int_eq(a.fired, 2);
    ck_assert_uint_eq(a.fired_at[1], T0 + 610);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 1600), 0);
    ck_assert_int_eq(a.fired, 2);

    sb_timer_free(a.t);
    tu_loop_teardown(loop);
}
END_TEST

/* -------------------------------------------------------------- repeat */

START_TEST(test_timer_repeat)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a;
    uint64_t t;
    int i;

    tnew(loop, &a, 0, NULL);
    ck_assert_int_eq(sb_timer_start(a.t, 50, 20), 0);
    for (t = T0; t <= T0 + 200; t += 10)
        ck_assert_int_eq(step_to(loop, &clk, t), 1);
    /* 1050, 1070, ..., 1190 */
    ck_assert_int_eq(a.fired, 8);
    for (i = 0; i < 8; i++)
        ck_assert_uint_eq(a.fired_at[i], T0 + 50 + 20 * (uint64_t)i);
    ck_assert_int_eq(a.active_in_cb, 1); /* re-armed before its callback */
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    ck_assert_uint_eq(timers_fired(loop), 8);

    /* Not before the period: 1210 is next. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 209), 1);
    ck_assert_int_eq(a.fired, 8);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 210), 1);
    ck_assert_int_eq(a.fired, 9);

    /* Stopped from outside: no more, and the loop has nothing left. */
    sb_timer_stop(a.t);
    ck_assert_int_eq(sb_timer_active(a.t), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 230), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 10000), 0);
    ck_assert_int_eq(a.fired, 9);

    /* Zero first timeout with a period: fires at once, then every period. */
    ck_assert_int_eq(sb_timer_start(a.t, 0, 30), 0);
    a.fired = 0;
    ck_assert_int_eq(step_to(loop, &clk, T0 + 20000), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 20029), 1);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 20030), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 20060), 1);
    ck_assert_int_eq(a.fired, 3);
    ck_assert_uint_eq(a.fired_at[0], T0 + 20000);
    ck_assert_uint_eq(a.fired_at[1], T0 + 20030);
    ck_assert_uint_eq(a.fired_at[2], T0 + 20060);

    sb_timer_free(a.t);
    tu_loop_teardown(loop);
}
END_TEST

/* --------------------------------------------------------------- order */

START_TEST(test_timer_order_by_deadline)
{
    static const uint64_t timeouts[5] = {300, 100, 500, 200, 400};
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx c[5];
    trec rec = {{0}, 0};
    int i;

    for (i = 0; i < 5; i++)
        tnew(loop, &c[i], i, &rec);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(sb_timer_start(c[i].t, timeouts[i], 0), 0);

    /* All due in one pass: deadline order. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 10000), 0);
    {
        int want[5] = {1, 3, 0, 4, 2};
        check_order(&rec, want, 5);
    }

    /* One at a time: each at its own deadline. */
    rec.n = 0;
    for (i = 0; i < 5; i++) {
        c[i].fired = 0;
        ck_assert_int_eq(sb_timer_start(c[i].t, timeouts[i], 0), 0);
    }
    for (i = 1; i <= 5; i++) {
        int j;
        step_to(loop, &clk, T0 + 10000 + 100 * (uint64_t)i - 1);
        ck_assert_int_eq(rec.n, i - 1);
        step_to(loop, &clk, T0 + 10000 + 100 * (uint64_t)i);
        ck_assert_int_eq(rec.n, i);
        for (j = 0; j < 5; j++)
            if (timeouts[j] == 100 * (uint64_t)i) {
                ck_assert_int_eq(rec.order[i - 1], j);
                ck_assert_uint_eq(c[j].fired_at[0], T0 + 10000 + timeouts[j]);
            }
    }
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(c[i].fired, 1);
        sb_timer_free(c[i].t);
    }
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_timer_fifo_equal_deadlines)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx c[6];
    trec rec = {{0}, 0};
    int i;

    for (i = 0; i < 6; i++)
        tnew(loop, &c[i], i, &rec);

    /* Same timeout at the same time: arm order. */
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(sb_timer_start(c[i].t, 100, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    {
        int want[6] = {0, 1, 2, 3, 4, 5};
        check_order(&rec, want, 6);
    }

    /* Arm order, not creation order. */
    rec.n = 0;
    for (i = 5; i >= 0; i--)
        ck_assert_int_eq(sb_timer_start(c[i].t, 100, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 200), 0);
    {
        int want[6] = {5, 4, 3, 2, 1, 0};
        check_order(&rec, want, 6);
    }

    /* Re-arming for the same deadline moves a timer to the back. */
    rec.n = 0;
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(sb_timer_start(c[i].t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(c[1].t, 100, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 300), 0);
    {
        int want[4] = {0, 2, 3, 1};
        check_order(&rec, want, 4);
    }

    /* Same absolute deadline reached from different start times. */
    rec.n = 0;
    ck_assert_int_eq(sb_timer_start(c[3].t, 200, 0), 0); /* 1500 */
    step_to(loop, &clk, T0 + 350);
    ck_assert_int_eq(sb_timer_start(c[0].t, 150, 0), 0); /* 1500 */
    ck_assert_int_eq(sb_timer_start(c[5].t, 149, 0), 0); /* 1499 */
    step_to(loop, &clk, T0 + 450);
    ck_assert_int_eq(sb_timer_start(c[2].t, 50, 0), 0); /* 1500 */
    ck_assert_int_eq(rec.n, 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 600), 0);
    {
        int want[4] = {5, 3, 0, 2};
        check_order(&rec, want, 4);
    }
    for (i = 0; i < 6; i++)
        sb_timer_free(c[i].t);
    tu_loop_teardown(loop);
}
END_TEST

/* ------------------------------------------------ callbacks and the heap */

START_TEST(test_timer_stop_in_own_cb)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a, b;
    uint64_t t;

    /* A repeating timer stopping itself on its second fire. */
    tnew(loop, &a, 0, NULL);
    a.action = ACT_STOP_SELF;
    a.stop_after = 2;
    ck_assert_int_eq(sb_timer_start(a.t, 10, 10), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 10), 1);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 20), 0); /* stopped: loop empty */
    ck_assert_int_eq(a.fired, 2);
    ck_assert_int_eq(sb_timer_active(a.t), 0);
    for (t = T0 + 30; t <= T0 + 200; t += 10)
        ck_assert_int_eq(step_to(loop, &clk, t), 0);
    ck_assert_int_eq(a.fired, 2);

    /* A one-shot stopping itself: harmless. */
    tnew(loop, &b, 1, NULL);
    b.action = ACT_STOP_SELF;
    b.stop_after = 1;
    ck_assert_int_eq(sb_timer_start(b.t, 5, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 205), 0);
    ck_assert_int_eq(b.fired, 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 300), 0);
    ck_assert_int_eq(b.fired, 1);

    /* Restartable after stopping itself. */
    ck_assert_int_eq(sb_timer_start(a.t, 10, 0), 0);
    a.action = ACT_NONE;
    ck_assert_int_eq(step_to(loop, &clk, T0 + 310), 0);
    ck_assert_int_eq(a.fired, 3);

    sb_timer_free(a.t);
    sb_timer_free(b.t);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_timer_free_in_own_cb)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx rep, one, after;
    trec rec = {{0}, 0};

    tnew(loop, &rep, 0, &rec);
    tnew(loop, &one, 1, &rec);
    tnew(loop, &after, 2, &rec);
    rep.action = ACT_FREE_SELF;
    one.action = ACT_FREE_SELF;
    /* All three due in the same pass; the two that free themselves first. */
    ck_assert_int_eq(sb_timer_start(rep.t, 100, 10), 0);
    ck_assert_int_eq(sb_timer_start(one.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(after.t, 100, 0), 0);
    ck_assert_uint_eq(sb_loop_handles(loop), 3);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    {
        int want[3] = {0, 1, 2};
        check_order(&rec, want, 3);
    }
    ck_assert_ptr_null(rep.t);
    ck_assert_ptr_null(one.t);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    /* The freed repeating timer is gone from the heap. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 110), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 1000), 0);
    ck_assert_int_eq(rep.fired, 1);
    ck_assert_int_eq(after.fired, 1);
    sb_timer_free(after.t);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_timer_stop_other_due)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a, b, c, d, e;
    trec rec = {{0}, 0};

    tnew(loop, &a, 0, &rec);
    tnew(loop, &b, 1, &rec);
    tnew(loop, &c, 2, &rec);
    tnew(loop, &d, 3, &rec);
    tnew(loop, &e, 4, &rec);
    /* a stops b, d frees c; all due in the same pass, a first. */
    a.action = ACT_STOP_OTHER;
    a.other = &b;
    d.action = ACT_FREE_OTHER;
    d.other = &c;
    ck_assert_int_eq(sb_timer_start(a.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(d.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(b.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(c.t, 100, 5), 0);
    ck_assert_int_eq(sb_timer_start(e.t, 100, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    {
        int want[3] = {0, 3, 4};
        check_order(&rec, want, 3);
    }
    ck_assert_int_eq(b.fired, 0);
    ck_assert_int_eq(c.fired, 0);
    ck_assert_int_eq(sb_timer_active(b.t), 0);
    ck_assert_ptr_null(c.t);
    ck_assert_uint_eq(sb_loop_handles(loop), 4);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 10000), 0);
    ck_assert_int_eq(b.fired, 0);
    ck_assert_uint_eq(timers_fired(loop), 3);

    /* Stopping a timer due later from a callback works as well. */
    rec.n = 0;
    a.other = &e;
    ck_assert_int_eq(sb_timer_start(a.t, 10, 0), 0);
    ck_assert_int_eq(sb_timer_start(e.t, 20, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 10010), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 10020), 0);
    {
        int want[1] = {0};
        check_order(&rec, want, 1);
    }

    sb_timer_free(a.t);
    sb_timer_free(b.t);
    sb_timer_free(d.t);
    sb_timer_free(e.t);
    tu_loop_teardown(loop);
}
END_TEST

/* A timer armed from a timer callback, even due at once, fires on a later
 * iteration; timers that were due before the pass still fire in it. */
START_TEST(test_timer_armed_in_cb_next_iteration)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a, b, c;
    trec rec = {{0}, 0};
    uint64_t it0;

    tnew(loop, &a, 0, &rec);
    tnew(loop, &b, 1, &rec);
    tnew(loop, &c, 2, &rec);
    a.action = ACT_START_OTHER0;
    a.other = &b;
    ck_assert_int_eq(sb_timer_start(a.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(c.t, 100, 0), 0);

    it0 = iterations(loop);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 1);
    ck_assert_uint_eq(iterations(loop), it0 + 1);
    {
        int want[2] = {0, 2};
        check_order(&rec, want, 2);
    }
    ck_assert_int_eq(b.fired, 0);
    ck_assert_int_eq(sb_timer_active(b.t), 1);

    /* Same fake time: b fires on the very next iteration. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    ck_assert_int_eq(b.fired, 1);
    ck_assert_uint_eq(b.iter_at[0], a.iter_at[0] + 1);
    ck_assert_uint_eq(b.fired_at[0], T0 + 100);
    ck_assert_uint_eq(c.iter_at[0], a.iter_at[0]);
    {
        int want[3] = {0, 2, 1};
        check_order(&rec, want, 3);
    }

    sb_timer_free(a.t);
    sb_timer_free(b.t);
    sb_timer_free(c.t);
    tu_loop_teardown(loop);
}
END_TEST

typedef struct pipe_io {
    int calls;
    uint64_t last_iter;
    sb_loop *loop;
} pipe_io;

static void pipe_io_cb(sb_io *io, sb_socket_t fd, unsigned events, void *udata)
{
    pipe_io *p = udata;

    (void)io;
    (void)fd;
    ck_assert_uint_eq(events, SB_READ);
    p->calls++;
    p->last_iter = iterations(p->loop);
}

/* A one-shot re-arming itself with 0 from its callback fires once per
 * iteration, and I/O is still served in every one of those iterations. */
START_TEST(test_timer_rearm_zero_no_starvation)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a;
    pipe_io pio = {0, 0, NULL};
    sb_io *io;
    int p[2], i, err = 0;
    const int N = 50;
    char x = 'x';

    tu_pipe(p, 1);
    ck_assert_int_eq(write(p[1], &x, 1), 1); /* stays readable: never drained */
    pio.loop = loop;
    io = sb_io_new(loop, p[0], pipe_io_cb, &pio, &err);
    ck_assert_ptr_nonnull(io);
    sb_io_set(io, SB_READ);

    tnew(loop, &a, 0, NULL);
    a.action = ACT_REARM_SELF0;
    a.limit = 1000000;
    ck_assert_int_eq(sb_timer_start(a.t, 0, 0), 0);
    for (i = 1; i <= N; i++) {
        /* The clock does not move: everything happens "at once". */
        ck_assert_int_eq(sb_loop_run_once(loop, 0), SB_RUN_ALIVE | SB_RUN_WORKED);
        ck_assert_int_eq(a.fired, i);
        ck_assert_int_eq(pio.calls, i);
        if (i < MAXREC)
            ck_assert_uint_eq(a.iter_at[i - 1], pio.last_iter);
    }
    ck_assert_uint_eq(timers_fired(loop), (uint64_t)N);
    ck_assert_int_eq(sb_timer_active(a.t), 1);

    /* Same with the loop's own timeout computation (-1): the due timer
     * means no blocking. */
    ck_assert_int_eq(sb_loop_run_once(loop, -1), SB_RUN_ALIVE | SB_RUN_WORKED);
    ck_assert_int_eq(a.fired, N + 1);
    ck_assert_int_eq(pio.calls, N + 1);

    sb_timer_free(a.t);
    sb_io_free(io);
    ck_assert_int_eq(close(p[0]), 0);
    ck_assert_int_eq(close(p[1]), 0);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_timer_active_and_args)
{
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    tctx a, b;

    ck_assert_int_eq(sb_timer_active(NULL), 0);
    ck_assert_int_eq(sb_timer_start(NULL, 10, 0), -EINVAL);
    sb_timer_stop(NULL);
    sb_timer_free(NULL);
    ck_assert_ptr_null(sb_timer_new(NULL, tcb, NULL));
    ck_assert_ptr_null(sb_timer_new(loop, NULL, NULL));
    ck_assert_uint_eq(sb_loop_handles(loop), 0);

    tnew(loop, &a, 0, NULL);
    tnew(loop, &b, 1, NULL);
    ck_assert_uint_eq(sb_loop_handles(loop), 2);
    ck_assert_int_eq(sb_timer_active(a.t), 0);
    sb_timer_stop(a.t); /* stopping a stopped timer is harmless */
    ck_assert_int_eq(sb_timer_active(a.t), 0);

    ck_assert_int_eq(sb_timer_start(a.t, 100, 0), 0);
    ck_assert_int_eq(sb_timer_start(b.t, 50, 0), 0);
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    ck_assert_int_eq(sb_timer_active(b.t), 1);
    sb_timer_stop(b.t);
    ck_assert_int_eq(sb_timer_active(b.t), 0);
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    sb_timer_stop(b.t);
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    /* A stopped timer does not fire. */
    ck_assert_int_eq(step_to(loop, &clk, T0 + 60), 1);
    ck_assert_int_eq(b.fired, 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 100), 0);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(sb_timer_active(a.t), 0);

    /* Freeing an armed timer disarms it: the loop has nothing left. */
    ck_assert_int_eq(sb_timer_start(b.t, 10, 10), 0);
    ck_assert_int_eq(sb_timer_start(a.t, 10, 0), 0);
    sb_timer_free(b.t);
    ck_assert_uint_eq(sb_loop_handles(loop), 1);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 200), 0);
    ck_assert_int_eq(b.fired, 0);
    ck_assert_int_eq(a.fired, 2);

    /* A huge timeout does not wrap around into the past.  (b fires first
     * so that the huge deadline is never the earliest one when the loop
     * computes its select() timeout.) */
    b.t = sb_timer_new(loop, tcb, &b);
    ck_assert_ptr_nonnull(b.t);
    b.fired = 0;
    ck_assert_int_eq(sb_timer_start(b.t, 10, 0), 0);
    ck_assert_int_eq(sb_timer_start(a.t, UINT64_MAX, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 1000000), 1);
    ck_assert_int_eq(b.fired, 1);
    ck_assert_int_eq(a.fired, 2);
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    sb_timer_stop(a.t);
    /* 2^62 ms from now, alone: far future, the loop only polls. */
    ck_assert_int_eq(sb_timer_start(a.t, (uint64_t)1 << 62, 0), 0);
    ck_assert_int_eq(step_to(loop, &clk, T0 + 2000000), 1);
    ck_assert_int_eq(a.fired, 2);
    ck_assert_int_eq(sb_timer_active(a.t), 1);
    sb_timer_free(b.t);

    sb_timer_free(a.t);
    ck_assert_uint_eq(sb_loop_handles(loop), 0);
    tu_loop_teardown(loop);
}
END_TEST

/* ----------------------------------------------------- many timers */

typedef struct many {
    sb_loop *loop;
    int n;
    sb_timer **t;
    uint64_t *deadline; /* absolute, as last armed */
    uint64_t *armseq;   /* global arm order of the last arm */
    int *stopped;
    int *fired;         /* firing count per timer */
    int *order;         /* ids in firing order */
    uint64_t *fired_at;
    int nfired;
    int ids_base;
} many;

typedef struct many_ctx {
    many *m;
    int id;
} many_ctx;

static void many_cb(sb_timer *t, void *udata)
{
    many_ctx *c = udata;
    many *m = c->m;

    ck_assert_ptr_eq(t, m->t[c->id]);
    ck_assert_int_lt(m->nfired, m->n);
    m->fired[c->id]++;
    m->order[m->nfired] = c->id;
    m->fired_at[m->nfired] = sb_loop_now(m->loop);
    m->nfired++;
}

START_TEST(test_timer_many_random_order)
{
    const int N = 10000;
    const uint64_t SPAN = 5000; /* fewer distinct deadlines than timers: ties */
    const uint64_t MAXSTEP = 97;
    tu_clock clk;
    sb_loop *loop = fake_loop(&clk, T0);
    many m;
    many_ctx *ctx;
    uint32_t rng = 2024;
    uint64_t seq = 0, now = T0;
    int i, expect = 0;

    memset(&m, 0, sizeof(m));
    m.loop = loop;
    m.n = N;
    m.t = calloc((size_t)N, sizeof(*m.t));
    m.deadline = calloc((size_t)N, sizeof(*m.deadline));
    m.armseq = calloc((size_t)N, sizeof(*m.armseq));
    m.stopped = calloc((size_t)N, sizeof(*m.stopped));
    m.fired = calloc((size_t)N, sizeof(*m.fired));
    m.order = calloc((size_t)N, sizeof(*m.order));
    m.fired_at = calloc((size_t)N, sizeof(*m.fired_at));
    ctx = calloc((size_t)N, sizeof(*ctx));
    ck_assert(m.t && m.deadline && m.armseq && m.stopped && m.fired && m.order &&
              m.fired_at && ctx);

    for (i = 0; i < N; i++) {
        uint64_t to = tu_rand(&rng) % SPAN;
        ctx[i].m = &m;
        ctx[i].id = i;
        m.t[i] = sb_timer_new(loop, many_cb, &ctx[i]);
        ck_assert_ptr_nonnull(m.t[i]);
        ck_assert_int_eq(sb_timer_start(m.t[i], to, 0), 0);
        m.deadline[i] = T0 + to;
        m.armseq[i] = seq++;
    }
    /* Re-arm some (new deadline and a later place among equals), stop
     * others: exercises removal from the middle of the heap. */
    for (i = 0; i < N; i++) {
        if (i % 5 == 0) {
            uint64_t to = tu_rand(&rng) % SPAN;
            ck_assert_int_eq(sb_timer_start(m.t[i], to, 0), 0);
            m.deadline[i] = T0 + to;
            m.armseq[i] = seq++;
        } else if (i % 7 == 0) {
            sb_timer_stop(m.t[i]);
            m.stopped[i] = 1;
        }
    }
    for (i = 0; i < N; i++)
        expect += !m.stopped[i];
    ck_assert_uint_eq(sb_loop_handles(loop), (size_t)N);

    while (m.nfired < expect) {
        int before = m.nfired;
        now += 1 + tu_rand(&rng) % MAXSTEP;
        ck_assert_uint_le(now, T0 + SPAN + MAXSTEP);
        step_to(loop, &clk, now);
        /* Everything due has fired in this pass; nothing not yet due. */
        for (i = before; i < m.nfired; i++)
            ck_assert_uint_le(m.deadline[m.order[i]], now);
    }
    ck_assert_int_eq(m.nfired, expect);
    ck_assert_uint_eq(timers_fired(loop), (uint64_t)expect);
    ck_assert_int_eq(sb_loop_run_once(loop, 0), 0);

    for (i = 0; i < N; i++)
        ck_assert_int_eq(m.fired[i], m.stopped[i] ? 0 : 1);
    for (i = 0; i < expect; i++) {
        int id = m.order[i];
        /* On time: at the first iteration at or past the deadline. */
        ck_assert_uint_ge(m.fired_at[i], m.deadline[id]);
        ck_assert_uint_lt(m.fired_at[i] - m.deadline[id], MAXSTEP);
        if (i > 0) {
            int prev = m.order[i - 1];
            ck_assert_msg(m.deadline[prev] <= m.deadline[id],
                          "firing #%d: deadline %llu after %llu", i,
                          (unsigned long long)m.deadline[id],
                          (unsigned long long)m.deadline[prev]);
            if (m.deadline[prev] == m.deadline[id])
                ck_assert_msg(m.armseq[prev] < m.armseq[id],
                              "equal deadlines %llu fired out of arm order",
                              (unsigned long long)m.deadline[id]);
        }
    }
    for (i = 0; i < N; i++)
        sb_timer_free(m.t[i]);
    free(m.t);
    free(m.deadline);
    free(m.armseq);
    free(m.stopped);
    free(m.fired);
    free(m.order);
    free(m.fired_at);
    free(ctx);
    tu_loop_teardown(loop);
}
END_TEST

/* ------------------------------------------------------- sb_loop_run */

/*
 * A fake clock that jumps to the next deadline the test still expects, so
 * that sb_loop_run() never has a reason to block: each read of the clock
 * returns max(now, deadline of the first timer not fired yet).
 */
typedef struct jump_clock {
    uint64_t now;
    const uint64_t *deadlines; /* sorted */
    int n;
    const int *nfired;
    int enabled;
} jump_clock;

static uint64_t jump_clock_fn(void *udata)
{
    jump_clock *j = udata;

    if (j->enabled && *j->nfired < j->n && j->deadlines[*j->nfired] > j->now)
        j->now = j->deadlines[*j->nfired];
    return j->now;
}

START_TEST(test_timer_loop_run_returns)
{
    static const uint64_t timeouts[3] = {250, 100, 400};
    uint64_t deadlines[3] = {T0 + 100, T0 + 250, T0 + 400};
    jump_clock jc;
    trec rec = {{0}, 0};
    sb_loop *loop = sb_loop_new();
    tctx c[3], idle;
    sb_io *io;
    int p[2], i, err = 0;
    uint64_t it0;

    ck_assert_ptr_nonnull(loop);
    memset(&jc, 0, sizeof(jc));
    jc.now = T0;
    jc.deadlines = deadlines;
    jc.n = 3;
    jc.nfired = &rec.n;
    sb_loop_set_clock(loop, jump_clock_fn, &jc);
    ck_assert_uint_eq(sb_loop_now(loop), T0);

    for (i = 0; i < 3; i++) {
        tnew(loop, &c[i], i, &rec);
        ck_assert_int_eq(sb_timer_start(c[i].t, timeouts[i], 0), 0);
    }
    /* Handles that do not keep the loop running: a stopped timer and an
     * io watcher without interest. */
    tnew(loop, &idle, 9, &rec);
    ck_assert_int_eq(sb_timer_start(idle.t, 50, 0), 0);
    sb_timer_stop(idle.t);
    tu_pipe(p, 1);
    io = sb_io_new(loop, p[0], pipe_io_cb, NULL, &err);
    ck_assert_ptr_nonnull(io);
    sb_io_set(io, SB_READ);
    sb_io_set(io, 0);

    jc.enabled = 1;
    it0 = iterations(loop);
    ck_assert_int_eq(sb_loop_run(loop), 0);
    {
        int want[3] = {1, 0, 2};
        check_order(&rec, want, 3);
    }
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(c[i].fired, 1);
        ck_assert_uint_eq(c[i].fired_at[0], T0 + timeouts[i]);
    }
    ck_assert_int_eq(idle.fired, 0);
    /* Returned right after the last timer: no extra iteration. */
    ck_assert_uint_eq(iterations(loop) - it0, 3);
    ck_assert_uint_eq(sb_loop_now(loop), T0 + 400);

    for (i = 0; i < 3; i++)
        sb_timer_free(c[i].t);
    sb_timer_free(idle.t);
    sb_io_free(io);
    ck_assert_int_eq(close(p[0]), 0);
    ck_assert_int_eq(close(p[1]), 0);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * A fake clock advancing by a fixed step on every read: timers re-armed
 * with a delay no longer than the step are always due at the next read.
 */
typedef struct step_clock {
    uint64_t now;
    uint64_t step;
} step_clock;

static uint64_t step_clock_fn(void *udata)
{
    step_clock *s = udata;

    s->now += s->step;
    return s->now;
}

/* A chain of one-shots (each callback re-arms its timer): sb_loop_run
 * returns after the last one. */
START_TEST(test_timer_loop_run_chain)
{
    step_clock sc = {T0, 10};
    sb_loop *loop = sb_loop_new();
    tctx a;
    int i;

    ck_assert_ptr_nonnull(loop);
    sb_loop_set_clock(loop, step_clock_fn, &sc);
    tnew(loop, &a, 0, NULL);
    a.action = ACT_REARM_SELF;
    a.limit = 5;
    a.delay = 10;
    ck_assert_int_eq(sb_timer_start(a.t, 10, 0), 0);
    ck_assert_int_eq(sb_loop_run(loop), 0);
    ck_assert_int_eq(a.fired, 5);
    ck_assert_int_eq(sb_timer_active(a.t), 0);
    for (i = 1; i < 5; i++)
        ck_assert_uint_ge(a.fired_at[i], a.fired_at[i - 1] + 10);
    sb_timer_free(a.t);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *basic = tcase_create("basic");
    TCase *cb = tcase_create("callbacks");
    TCase *many_tc = tcase_create("many");
    TCase *run = tcase_create("run");

    tcase_set_timeout(basic, 20);
    tcase_add_test(basic, test_timer_oneshot_deadline);
    tcase_add_test(basic, test_timer_zero_timeout_oneshot);
    tcase_add_test(basic, test_timer_restart_replaces);
    tcase_add_test(basic, test_timer_repeat);
    tcase_add_test(basic, test_timer_order_by_deadline);
    tcase_add_test(basic, test_timer_fifo_equal_deadlines);
    tcase_add_test(basic, test_timer_active_and_args);
    suite_add_tcase(s, basic);

    tcase_set_timeout(cb, 20);
    tcase_add_test(cb, test_timer_stop_in_own_cb);
    tcase_add_test(cb, test_timer_free_in_own_cb);
    tcase_add_test(cb, test_timer_stop_other_due);
    tcase_add_test(cb, test_timer_armed_in_cb_next_iteration);
    tcase_add_test(cb, test_timer_rearm_zero_no_starvation);
    suite_add_tcase(s, cb);

    tcase_set_timeout(many_tc, 120);
    tcase_add_test(many_tc, test_timer_many_random_order);
    suite_add_tcase(s, many_tc);

    tcase_set_timeout(run, 20);
    tcase_add_test(run, test_timer_loop_run_returns);
    tcase_add_test(run, test_timer_loop_run_chain);
    suite_add_tcase(s, run);
    return s;
}
