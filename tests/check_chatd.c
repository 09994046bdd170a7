/* sb-chatd end to end: three talking clients (join, broadcast, nick, who,
 * an over-long line, quit) and a fourth that never reads. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* build/sb-chatd, or the Windows one under wine (tu_demo, SB_DEMO_DIR) */
#define CHATD tu_demo("sb-chatd")

/* One client's transcript: everything received, and how far we looked. */
typedef struct peer {
    int fd;
    char *all;
    size_t len, seen;
} peer;

static void peer_open(peer *p, int port)
{
    p->fd = tu_blocking_client(port);
    p->all = calloc(1, 1 << 20);
    p->len = p->seen = 0;
}

static void peer_close(peer *p)
{
    close(p->fd);
    free(p->all);
}

/* Receive until needle appears after the last match; fail after 10 s. */
static void expect(peer *p, const char *needle)
{
    char *at;

    while (!(at = strstr(p->all + p->seen, needle))) {
        ssize_t r = recv(p->fd, p->all + p->len, (1 << 20) - 1 - p->len, 0);
        ck_assert_msg(r > 0, "waiting for '%s': %s; last bytes: %s", needle,
                      r == 0 ? "EOF" : strerror(errno),
                      p->all + (p->len > 200 ? p->len - 200 : 0));
        p->len += (size_t)r;
        p->all[p->len] = '\0';
    }
    p->seen = (size_t)(at - p->all) + strlen(needle);
}

/* Take whatever has arrived, without waiting; keep only a recent tail. */
static void drain(peer *p)
{
    ssize_t r;
    if (p->len > (512u << 10)) {
        size_t keep = 64u << 10, cut = p->len - keep;
        memmove(p->all, p->all + cut, keep + 1);
        p->len = keep;
        p->seen = p->seen > cut ? p->seen - cut : 0;
    }
    while ((r = recv(p->fd, p->all + p->len, (1 << 20) - 1 - p->len, MSG_DONTWAIT)) > 0) {
        p->len += (size_t)r;
        p->all[p->len] = '\0';
    }
}

static void say(peer *p, const char *line)
{
    ck_assert_int_eq(tu_send(p->fd, line, strlen(line)), (ssize_t)strlen(line));
}

/* Start sb-chatd with argv, then connect guest1 (a) and guest2 (b). */
static int start_two(tu_proc *p, const char *const *argv, peer *a, peer *b)
{
    int port;

    tu_spawn(p, CHATD, argv);
    port = tu_proc_port(p);
    ck_assert_msg(port > 0, "sb-chatd did not start: %s", p->out);
    peer_open(a, port);
    expect(a, "* welcome, guest1");
    peer_open(b, port);
    expect(b, "* welcome, guest2");
    expect(a, "* guest2 joined");
    return port;
}

START_TEST(test_chatd_conversation)
{
    const char *argv[] = {"sb-chatd", "--listen", "127.0.0.1:0", "--max-line", "64",
                          "--max-output", "262144", NULL};
    char line[128], *flood;
    peer a, b, c;
    tu_proc p;
    int port, status, d, small = 1024, i;

    port = start_two(&p, argv, &a, &b);
    peer_open(&c, port);
    expect(&c, "* welcome, guest3");
    expect(&a, "* guest3 joined");
    expect(&b, "* guest3 joined");

    say(&a, "/nick alice\r\n"); /* telnet line ending */
    expect(&a, "* you are now alice\n");
    expect(&b, "* guest1 is now known as alice\n");
    expect(&c, "* guest1 is now known as alice\n");
    say(&c, "/nick alice\n");
    expect(&c, "* alice is taken\n");
    say(&c, "/nick bad name!\n");
    expect(&c, "* invalid name");

    say(&b, "hi there\n");
    expect(&a, "guest2: hi there\n");
    expect(&c, "guest2: hi there\n");

    say(&a, "/who\n");
    expect(&a, "* online:");
    ck_assert_ptr_nonnull(strstr(a.all + a.seen - 40, "alice"));
    expect(&a, "guest2");

    /* An over-long line: a notice, the line is dropped, the client stays. */
    memset(line, 'x', 100);
    line[100] = '\n';
    line[101] = '\0';
    say(&c, line);
    expect(&c, "* line too long");
    say(&c, "still here\n");
    expect(&a, "guest3: still here\n");
    expect(&b, "guest3: still here\n");
    say(&c, "/bogus\n");
    expect(&c, "* unknown command /bogus");

    /* A fourth client that never reads: once its output passes the cap it
     * is disconnected, and the others are told; nobody else stalls. */
    d = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(d, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    {
        int tmp = tu_connect_tcp(port); /* for the address only */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getpeername(tmp, (struct sockaddr *)&ss, &sl);
        close(tmp);
        expect(&a, "left\n"); /* that probe came and went */
        ck_assert_int_eq(connect(d, (struct sockaddr *)&ss, sl), 0);
    }
    expect(&a, " joined\n");
    flood = malloc(61);
    memset(flood, 'f', 59);
    flood[59] = '\n';
    flood[60] = '\0';
    /* The kernel buffers a lot for D first; at most 12 MB is sent. */
    for (i = 0; i < 200000 && !strstr(a.all + a.seen, "was disconnected"); i++) {
        say(&b, flood);
        if (i % 20 == 0) {
            drain(&a);
            drain(&c);
        }
    }
    expect(&a, "was disconnected (not reading)\n");
    expect(&c, "was disconnected (not reading)\n");
    free(flood);
    close(d);

    say(&a, "/quit\n");
    expect(&a, "* bye, alice\n");
    expect(&b, "* alice left\n");
    expect(&c, "* alice left\n");
    ck_assert_int_eq(recv(a.fd, line, sizeof(line), 0), 0); /* then EOF */

    kill(p.pid, tu_stop_signal());
    expect(&b, "* server shutting down\n");
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, p.out);
    peer_close(&a);
    peer_close(&b);
    peer_close(&c);
}
END_TEST

/* --user drops root after binding; SIGUSR1 prints the counters. */
/* A line longer than any stack buffer reaches the others whole, with its
 * newline, and the next line is its own (0.2 cut lines past 2047 bytes). */
START_TEST(test_chatd_long_line)
{
    const char *argv[] = {"sb-chatd", "--listen", "127.0.0.1:0", "--max-line", "5000", NULL};
    char *line = malloc(3002), *want = malloc(3100);
    peer a, b;
    tu_proc p;
    int status;

    start_two(&p, argv, &a, &b);
    memset(line, 'x', 3000);
    strcpy(line + 3000, "\n");
    say(&a, line);
    say(&a, "after\r\n");
    snprintf(want, 3100, "guest1: %s", line);
    expect(&b, want);
    expect(&b, "guest1: after\n"); /* its own line, "\r" stripped */
    peer_close(&a);
    peer_close(&b);
    kill(p.pid, tu_stop_signal());
    status = tu_finish(&p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", p.out);
    free(line);
    free(want);
}
END_TEST

START_TEST(test_chatd_user_and_stats)
{
    const char *argv[] = {"sb-chatd", "--listen", "127.0.0.1:0", "--user", "nobody", NULL};
    char path[64], status_text[4096];
    tu_proc p;
    FILE *f;
    size_t n;
    int port, status;

    if (tu_demo_skip("chatd/user_and_stats",
                     "no --user (sb_drop_privileges is -ENOSYS), no SIGUSR1, no /proc of a "
                     "Windows process"))
        return;
    if (geteuid() != 0) {
        fprintf(stderr, "chatd/user: not root; skipped\n");
        return;
    }
    if (!tu_have_proc("chatd/user"))
        return;
    tu_spawn(&p, CHATD, argv);
    port = tu_proc_port(&p);
    ck_assert_msg(port > 0, "%s", p.out);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)p.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(status_text, 1, sizeof(status_text) - 1, f);
    status_text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(status_text, "\nUid:\t65534\t65534\t65534\t65534") != NULL, "%s",
                  strstr(status_text, "Uid:"));
    kill(p.pid, SIGUSR1);
    ck_assert(tu_wait_for(&p, "stats: conns=0 accepted=0"));
    kill(p.pid, tu_stop_signal());
    status = tu_finish(&p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(test_chatd_bad_arguments)
{
    static const char *const cases[][3] = {
        {"--max-line", "0", "--max-line"},
        {"--max-output", "10", "--max-output"},
        {"--listen", "127.0.0.1:99999", "port"},
        {"--nope", NULL, "--nope"},
        {"--user", "no-such-user-here", "no such user"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sb-chatd", cases[i][0], cases[i][1], NULL};
        /* Windows has no users to switch to: sb_drop_privileges is -ENOSYS. */
        const char *want = tu_demos_win32() && strcmp(cases[i][0], "--user") == 0
                               ? "cannot switch to user 'no-such-user-here': Function not "
                                 "implemented"
                               : cases[i][2];
        tu_proc p;
        int status;
        tu_spawn(&p, CHATD, argv);
        status = tu_finish(&p);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        ck_assert_msg(strstr(p.out, want) != NULL, "stderr: %s", p.out);
        ck_assert_ptr_null(strstr(p.out, "listening"));
    }
}
END_TEST

Suite *sb_chatd_suite(void)
{
    Suite *s = suite_create("chatd");
    TCase *tc = tcase_create("daemon");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_chatd_conversation);
    tcase_add_test(tc, test_chatd_long_line);
    tcase_add_test(tc, test_chatd_user_and_stats);
    tcase_add_test(tc, test_chatd_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
