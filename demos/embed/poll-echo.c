/*
 * poll-echo — switchboard embedded in a host's own poll() loop.
 *
 * The program owns the event loop: one poll() over a pollfd array it keeps
 * itself.  switchboard says which of its fds to watch (sb_loop_set_watch),
 * how long the host may wait (sb_loop_timeout), and takes the readiness
 * back (sb_loop_dispatch).  A timer of the host's own, a 1 s tick, shares
 * the wait.  The protocol is an echo: every byte a client sends comes back
 * (the default raw framing: on_data gets what each read returned).
 *
 * The pollfd array is dense, since poll() costs O(entries), and slot[fd]
 * is an fd's entry, so adding, changing and removing an fd are O(1) (a
 * removal moves the last entry into the hole).  The arrays grow by
 * doubling and never shrink; nothing is allocated per message.
 *
 * An fd whose interest drops to 0 (a paused or backpressured client) is
 * taken out of the array, not kept with events 0: poll() reports POLLHUP
 * whatever the events, and a hung-up client that switchboard is not
 * reading would wake the host again and again.
 *
 * SIGINT / SIGTERM (sb_signal, delivered through the same loop): stop
 * listening, give every client 5 s without progress to take the rest of its
 * echo, close them, and exit 0 once switchboard holds no handle.
 *
 *   poll-echo [-l ADDR] [-t SECS] [-c N]
 */
#include "switchboard.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define GRACE_MS 5000
#define FD_RESERVE 32 /* fds besides the clients: listener, pipes, stdio */

typedef struct host {
    struct pollfd *pfd; /* the fds switchboard wants watched, dense */
    size_t n, cap;
    int *slot;          /* slot[fd]: fd's index in pfd, or -1 */
    size_t nslot;
    sb_ready *ready;    /* what one poll() found, for sb_loop_dispatch */
    size_t nready_cap;
    unsigned long ticks; /* the host's own timer */
    int stop;            /* a signal asked for shutdown */
} host;

/* Room for `need` elements of `size` bytes in p (capacity *cap, doubled as
 * needed).  The watch callback has no way to fail, so running out of
 * memory ends the program. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 64;

    while (n < need)
        n *= 2;
    if (n == *cap)
        return p;
    p = realloc(p, n * size);
    if (!p) {
        fputs("poll-echo: out of memory\n", stderr);
        exit(1);
    }
    *cap = n;
    return p;
}

/* switchboard's interest in fd changed: add, update or remove its entry. */
static void watch(int fd, unsigned events, void *udata)
{
    host *h = udata;
    short want = (short)((events & SB_READ ? POLLIN : 0) | (events & SB_WRITE ? POLLOUT : 0));
    int i;

    if ((size_t)fd >= h->nslot) {
        size_t old = h->nslot;
        h->slot = grow(h->slot, &h->nslot, (size_t)fd + 1, sizeof(*h->slot));
        while (old < h->nslot)
            h->slot[old++] = -1;
    }
    i = h->slot[fd];
    if (!want) {
        if (i >= 0) { /* unwatched: the last entry fills the hole */
            h->pfd[i] = h->pfd[--h->n];
            h->slot[h->pfd[i].fd] = i;
            h->slot[fd] = -1;
        }
        return;
    }
    if (i < 0) {
        h->pfd = grow(h->pfd, &h->cap, h->n + 1, sizeof(*h->pfd));
        i = (int)h->n++;
        h->pfd[i].fd = fd;
        h->slot[fd] = i;
    }
    h->pfd[i].events = want;
}

static void echo(sb_conn *c, const char *data, size_t len, void *udata)
{
    if (sb_write(c, data, len) < 0) /* out of memory */
        sb_abort(c);
}

static void on_signal(sb_signal *sig, int signum, void *udata)
{
    host *h = udata;
    h->stop = 1;
}

static void hurry(sb_conn *c, void *udata)
{
    sb_conn_set_timeout(c, GRACE_MS);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The host loop: wait for the fds and the earlier of the two timers, then
 * hand every ready fd to switchboard (also when nothing is ready: its
 * timers are due).  Returns the exit status once shutdown is complete.
 */
static int run(sb_loop *loop, host *h, sb_listener *l, sb_signal **sigs)
{
    uint64_t next_tick = now_ms() + 1000;
    int stopping = 0;

    for (;;) {
        uint64_t now = now_ms();
        int timeout, n, rc;
        size_t i, nready = 0;

        while (now >= next_tick) {
            h->ticks++;
            next_tick += 1000;
        }
        if (h->stop && !stopping) {
            stopping = 1;
            sb_listener_close(l);
            sb_signal_free(sigs[0]);
            sb_signal_free(sigs[1]);
            sb_loop_walk(loop, hurry, NULL);
            sb_loop_close_all(loop);
        }
        if (stopping && sb_loop_handles(loop) == 0)
            return 0;
        timeout = sb_loop_timeout(loop); /* after anything that gave it work */
        if (timeout < 0 || (uint64_t)timeout > next_tick - now)
            timeout = (int)(next_tick - now);

        n = poll(h->pfd, (nfds_t)h->n, timeout);
        if (n < 0 && errno != EINTR) {
            perror("poll-echo: poll");
            return 1;
        }
        /* Copied out: the watch callback reorders pfd during the dispatch. */
        h->ready = grow(h->ready, &h->nready_cap, h->n, sizeof(*h->ready));
        for (i = 0; n > 0 && i < h->n; i++) {
            short re = h->pfd[i].revents;
            unsigned ev = 0;

            if (!re)
                continue;
            n--;
            if (re & POLLNVAL)
                ev = SB_ERROR;
            if (re & (POLLHUP | POLLERR))
                ev = SB_READ | SB_WRITE; /* switchboard finds the error itself */
            if (re & POLLIN)
                ev |= SB_READ;
            if (re & POLLOUT)
                ev |= SB_WRITE;
            h->ready[nready].fd = h->pfd[i].fd;
            h->ready[nready++].events = ev;
        }
        rc = sb_loop_dispatch(loop, h->ready, nready);
        if (rc < 0) {
            fprintf(stderr, "poll-echo: %s\n", sb_strerror(rc));
            return 1;
        }
    }
}

/* Room for max_conns clients: raise the soft open-file limit (up to the
 * hard one). */
static void raise_fd_limit(unsigned max_conns)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < (rlim_t)max_conns + FD_RESERVE) {
        rl.rlim_cur = (rlim_t)max_conns + FD_RESERVE;
        if (rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(FILE *f)
{
    fputs("usage: poll-echo [-l ADDR] [-t SECS] [-c N]\n"
          "Echo server whose event loop is the program's own poll() loop.\n"
          "\n"
          "  -l ADDR  listen on ADDR (default 127.0.0.1:7790)\n"
          "  -t SECS  close clients idle this long (0 = never; default 300)\n"
          "  -c N     at most N clients at once (default 10000; 0 = no limit)\n"
          "  -h       show this help\n",
          f);
}

/* A number in 0..max, or -1. */
static long number(const char *s, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    return errno || end == s || *end || v < 0 || v > max ? -1 : v;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:7790";
    long idle_s = 300, max_conns = 10000;
    sb_handler handler = {.on_data = echo}; /* on_eof NULL: close after the echo */
    sb_listen_opts lo = {0};
    host h = {0};
    sb_signal *sigs[2] = {NULL, NULL};
    sb_listener *l = NULL;
    sb_loop *loop;
    char local[128];
    int opt, err = 0, status;

    while ((opt = getopt(argc, argv, "l:t:c:h")) != -1) {
        switch (opt) {
        case 'l':
            addr = optarg;
            break;
        case 't':
            if ((idle_s = number(optarg, INT_MAX / 1000)) < 0)
                goto bad;
            break;
        case 'c':
            if ((max_conns = number(optarg, INT_MAX - FD_RESERVE)) < 0)
                goto bad;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (optind < argc)
        goto bad;

    raise_fd_limit((unsigned)max_conns);
    loop = sb_loop_new();
    if (!loop) {
        fputs("poll-echo: out of memory\n", stderr);
        return 1;
    }
    sb_loop_set_watch(loop, watch, &h); /* before anything is watched */
    lo.max_conns = (unsigned)max_conns;
    lo.conn.idle_timeout_ms = (unsigned)idle_s * 1000;
    l = sb_listen(loop, addr, &handler, NULL, &lo, &err);
    if (!l) {
        fprintf(stderr, "poll-echo: cannot listen on %s: %s\n", addr, sb_strerror(err));
        return 1;
    }
    if (!(sigs[0] = sb_signal_new(loop, SIGINT, on_signal, &h, &err)) ||
        !(sigs[1] = sb_signal_new(loop, SIGTERM, on_signal, &h, &err))) {
        fprintf(stderr, "poll-echo: cannot watch signals: %s\n", sb_strerror(err));
        return 1;
    }
    sb_listener_local(l, local, sizeof(local));
    printf("listening on %s\n", local);
    fflush(stdout);

    status = run(loop, &h, l, sigs);
    fprintf(stderr, "poll-echo: %lu host ticks\n", h.ticks);
    if (sb_loop_free(loop) != 0)
        status = 1;
    free(h.pfd);
    free(h.slot);
    free(h.ready);
    return status;
bad:
    usage(stderr);
    return 2;
}
