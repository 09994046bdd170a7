/*
 * The readiness backends (select, poll, epoll): choosing one, and what
 * must hold on each.  The whole suite also runs once per backend
 * (`make check-backends`: SB_BACKEND=poll, SB_BACKEND=epoll); these tests
 * make a loop of every backend explicitly.
 */
#include "fault.h"
#include "testutil.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const backends[] = {"select", "poll", "epoll"};

/* A loop of backends[i], or NULL (the skip printed) where the build has
 * none (epoll off Linux and under PORTABLE). */
static sb_loop *loop_of(int i, const char *test)
{
    sb_loop_opts o = {backends[i]};
    int err = 0;
    sb_loop *loop;

    if (!tu_have_backend(backends[i], test))
        return NULL;
    loop = sb_loop_new_opts(&o, &err);

    ck_assert_msg(loop != NULL, "%s: %s", backends[i], sb_strerror(err));
    ck_assert_str_eq(sb_loop_backend(loop), backends[i]);
    return loop;
}

START_TEST(test_backend_choice)
{
    sb_loop_opts bad = {"kqueue-on-linux"};
    const char *env = getenv("SB_BACKEND");
    int err = 0;
    sb_loop *loop;

    ck_assert_ptr_null(sb_loop_new_opts(&bad, &err));
    ck_assert_int_eq(err, -EINVAL);
    /* sb_loop_new: select, or what SB_BACKEND says (the per-backend runs). */
    loop = sb_loop_new();
    ck_assert_str_eq(sb_loop_backend(loop), env && *env ? env : "select");
    tu_loop_teardown(loop);
    loop = sb_loop_new_opts(NULL, NULL);
    ck_assert_str_eq(sb_loop_backend(loop), env && *env ? env : "select");
    tu_loop_teardown(loop);
}
END_TEST

/* Echo on each backend, with fds past FD_SETSIZE. */
START_TEST(test_backend_echo_high_fds)
{
    sb_loop *loop = loop_of(_i, "backend/echo_high_fds");
    int hog[1100], nhog = 0, fd;
    tu_server s;

    if (!loop)
        return;
    /* Push the numbers past 1024 (FD_SETSIZE). */
    while (nhog < 1100 && (hog[nhog] = dup(0)) >= 0)
        nhog++;
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    fd = tu_connect_tcp(s.port);
    ck_assert_int_gt(fd, 1024);
    ck_assert_uint_eq(tu_echo_stream(&s, fd, 200000, 3000, 1 << 20, 11, 1), 200000);
    close(fd);
    tu_run_until(loop, &s.closes, 500);
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
    while (nhog > 0)
        close(hog[--nhog]);
}
END_TEST

typedef struct pz {
    sb_conn *c;
    int datas, closes;
} pz;

static void pz_open(sb_conn *c, void *u)
{
    ((pz *)u)->c = c;
    sb_conn_pause(c);
}

static void pz_data(sb_conn *c, const char *d, size_t n, void *u)
{
    (void)c, (void)d, (void)n;
    ((pz *)u)->datas++;
}

static void pz_close(sb_conn *c, int r, void *u)
{
    (void)c, (void)r;
    ((pz *)u)->closes++;
}

/*
 * A paused connection whose peer sent data and hung up costs no wake-ups:
 * poll reports POLLHUP even for events 0, so it must leave the set.
 */
START_TEST(test_backend_paused_costs_nothing)
{
    static const sb_handler h = {.on_open = pz_open, .on_data = pz_data, .on_close = pz_close};
    sb_loop *loop = loop_of(_i, "backend/paused_costs_nothing");
    pz p = {NULL, 0, 0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &p, NULL, NULL);
    sb_loop_stats st;
    uint64_t before;
    unsigned long ready;
    int fd, i;

    if (!loop)
        return;
    fd = tu_connect_tcp(sb_listener_port(l));
    for (i = 0; i < 200 && !p.c; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_ptr_nonnull(p.c);
    ck_assert_int_eq(tu_send(fd, "data", 4), 4);
    close(fd); /* FIN: the socket is readable and hung up */
    sb_loop_run_once(loop, 0);
    sb_loop_get_stats(loop, &st);
    before = st.iterations;
    ready = tu_fault_ready_waits();
    /* 20 iterations of up to 20 ms each: no wait may wake for it. */
    for (i = 0; i < 20; i++)
        ck_assert_int_eq(sb_loop_run_once(loop, 20), SB_RUN_ALIVE);
    ck_assert_uint_eq(tu_fault_ready_waits() - ready, 0);
    ck_assert_int_eq(p.datas, 0);
    sb_loop_get_stats(loop, &st);
    ck_assert_uint_eq(st.iterations - before, 20);
    sb_conn_resume(p.c); /* now the data, the EOF and the close */
    for (i = 0; i < 200 && !p.closes; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_int_eq(p.datas, 1);
    ck_assert_int_eq(p.closes, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

/*
 * A connection's fd closed behind the loop's back, its number then reused
 * by the next accepted client: the old connection is failed (-EBADF) and
 * the new one served, on every backend (epoll never reports the close
 * itself; the reuse shows it).
 */
/*
 * The same with a peer that reset: epoll reports EPOLLHUP|EPOLLERR even
 * for events 0, so a paused connection must leave the epoll set.
 */
START_TEST(test_backend_paused_reset_costs_nothing)
{
    static const sb_handler h = {.on_open = pz_open, .on_data = pz_data, .on_close = pz_close};
    struct linger lg = {1, 0};
    sb_loop *loop = loop_of(_i, "backend/paused_reset_costs_nothing");
    pz p = {NULL, 0, 0};
    sb_listener *l = sb_listen(loop, "127.0.0.1:0", &h, &p, NULL, NULL);
    unsigned long ready;
    int fd, i;

    if (!loop)
        return;
    fd = tu_connect_tcp(sb_listener_port(l));
    for (i = 0; i < 200 && !p.c; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_ptr_nonnull(p.c);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd); /* RST */
    sb_loop_run_once(loop, 0);
    ready = tu_fault_ready_waits();
    for (i = 0; i < 20; i++)
        ck_assert_int_eq(sb_loop_run_once(loop, 20), SB_RUN_ALIVE);
    ck_assert_uint_eq(tu_fault_ready_waits() - ready, 0);
    sb_conn_resume(p.c); /* now the reset is seen */
    for (i = 0; i < 200 && !p.closes; i++)
        sb_loop_run_once(loop, 10);
    ck_assert_int_eq(p.closes, 1);
    sb_listener_close(l);
    tu_loop_teardown(loop);
}
END_TEST

START_TEST(test_backend_reused_number_fails_old_owner)
{
    sb_loop *loop = loop_of(_i, "backend/reused_number_fails_old_owner");
    tu_server s;
    int a, b, stale;
    sb_conn *old;

    if (!loop)
        return;
    tu_server_start(&s, loop, "127.0.0.1:0", NULL);
    s.lenient = 1;
    a = tu_connect_tcp(s.port);
    tu_run_until(loop, &s.opens, 500);
    old = s.last;
    stale = sb_conn_fd(old);
    b = tu_connect_tcp(s.port); /* queued, not accepted yet */
    close(stale);               /* behind the loop's back: the lowest free number */
    while (s.opens < 2) {
        int i, before = s.opens;
        for (i = 0; i < 50 && s.opens == before; i++)
            sb_loop_run_once(loop, 10);
        ck_assert_int_gt(s.opens, before);
    }
    ck_assert_int_eq(sb_conn_fd(s.last), stale); /* the number was reused */
    ck_assert_int_eq(s.closes, 1);
    ck_assert_int_eq(s.last_reason, -EBADF);
    ck_assert_uint_eq(tu_echo_stream(&s, b, 5000, 500, 1 << 20, 3, 0), 5000);
    close(a);
    close(b);
    tu_run_until(loop, &s.closes, 500);
    {
        int i;
        for (i = 0; i < 500 && s.closes < 2; i++)
            sb_loop_run_once(loop, 10);
    }
    sb_listener_close(s.l);
    tu_loop_teardown(loop);
}
END_TEST

Suite *sb_backend_suite(void)
{
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("each");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_backend_choice);
    tcase_add_loop_test(tc, test_backend_echo_high_fds, 0, 3);
    tcase_add_loop_test(tc, test_backend_paused_costs_nothing, 0, 3);
    tcase_add_loop_test(tc, test_backend_paused_reset_costs_nothing, 0, 3);
    tcase_add_loop_test(tc, test_backend_reused_number_fails_old_owner, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
