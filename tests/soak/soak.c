/*
 * make soak: churn many connections against a running sb-echod for a
 * bounded time — random sizes, half-closes and resets — verifying every
 * echoed byte; then check that the daemon's fd count and RSS come back to
 * their starting level.
 *
 *   build/soak PATH-TO-SB-ECHOD SECONDS CONNECTIONS
 *
 * The clients are raw non-blocking sockets driven by switchboard's own loop
 * (sb_io watchers, a timer for the deadline).  Loopback only.
 */
#include "switchboard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MODE_CLOSE, MODE_HALF, MODE_RESET };

/* "Back to its starting level": within 1 MiB of the RSS before the churn. */
#define RSS_SLACK_KIB 1024

typedef struct client {
    struct soak *s;
    sb_io *io;
    int fd, mode;
    uint32_t seed;
    size_t len, sent, got, reset_at;
} client;

typedef struct soak {
    sb_loop *loop;
    struct sockaddr_in addr;
    client *c;
    int n, active, stopping;
    unsigned long done, resets, half, errors;
    unsigned long long bytes;
    uint32_t rng;
} soak;

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Byte i of a connection's stream: a cheap hash of (seed, i). */
static unsigned char pattern(uint32_t seed, size_t i)
{
    uint32_t x = seed ^ (uint32_t)(i * 2654435761u);
    x ^= x >> 15;
    return (unsigned char)(x * 2246822519u >> 24);
}

static void client_start(client *c);

static void client_end(client *c, int reset)
{
    sb_io_free(c->io);
    c->io = NULL;
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    c->fd = -1;
    c->s->active--;
    if (!c->s->stopping)
        client_start(c);
}

static void fail(client *c, const char *what)
{
    fprintf(stderr, "soak: connection (mode %d, %zu bytes): %s after %zu sent, %zu verified\n",
            c->mode, c->len, what, c->sent, c->got);
    c->s->errors++;
    client_end(c, 1);
}

static void client_io(sb_io *io, int fd, unsigned ev, void *udata)
{
    client *c = udata;
    unsigned char buf[65536];
    ssize_t n;
    size_t i;

    (void)io;
    if (ev & SB_WRITE) {
        size_t want = c->len - c->sent, k;
        if (c->mode == MODE_RESET && c->sent + want > c->reset_at)
            want = c->reset_at - c->sent;
        if (want > sizeof(buf))
            want = sizeof(buf);
        for (k = 0; k < want; k++)
            buf[k] = pattern(c->seed, c->sent + k);
        n = send(fd, buf, want, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) {
            fail(c, strerror(errno));
            return;
        }
        if (n > 0)
            c->sent += (size_t)n;
        if (c->mode == MODE_RESET && c->sent >= c->reset_at) {
            c->s->resets++;
            client_end(c, 1); /* reset mid-stream */
            return;
        }
        if (c->sent == c->len) {
            if (c->mode == MODE_HALF)
                shutdown(fd, SHUT_WR);
            sb_io_set(c->io, SB_READ);
        }
    }
    if (ev & SB_READ) {
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno != EAGAIN)
                fail(c, strerror(errno));
            return;
        }
        if (n == 0) {
            if (c->mode == MODE_HALF && c->got == c->len) {
                c->s->half++;
                c->s->done++;
                client_end(c, 0);
            } else {
                fail(c, "early EOF");
            }
            return;
        }
        for (i = 0; i < (size_t)n; i++) {
            if (c->got + i >= c->len || buf[i] != pattern(c->seed, c->got + i)) {
                fail(c, "echo mismatch");
                return;
            }
        }
        c->got += (size_t)n;
        c->s->bytes += (unsigned long long)n;
        if (c->got == c->len && c->mode == MODE_CLOSE) {
            c->s->done++;
            client_end(c, 0);
        }
    }
}

static void client_start(client *c)
{
    soak *s = c->s;
    uint32_t r = rnd(&s->rng);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0) {
        fprintf(stderr, "soak: connect: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        s->errors++;
        return;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    c->fd = fd;
    c->seed = rnd(&s->rng);
    c->mode = r % 10 < 6 ? MODE_CLOSE : r % 10 < 9 ? MODE_HALF : MODE_RESET;
    c->len = 1 + rnd(&s->rng) % (r % 7 == 0 ? 1u << 20 : 16u << 10);
    c->reset_at = c->len / 2;
    c->sent = c->got = 0;
    c->io = sb_io_new(s->loop, fd, client_io, c, NULL);
    sb_io_set(c->io, SB_READ | SB_WRITE);
    s->active++;
}

static void deadline(sb_timer *t, void *udata)
{
    soak *s = udata;
    (void)t;
    s->stopping = 1;
}

static long count_fds(pid_t pid)
{
    char path[64];
    struct dirent *e;
    long n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if (!(d = opendir(path)))
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int main(int argc, char **argv)
{
    soak s;
    int p[2], status, i, seconds, port = 0;
    long fds0, rss0, fds1 = 0, rss1 = 0;
    char out[512] = "";
    size_t len = 0;
    struct rlimit rl;
    sb_timer *t;
    pid_t pid;

    if (argc != 4 || (seconds = atoi(argv[2])) <= 0 || atoi(argv[3]) <= 0) {
        fprintf(stderr, "usage: soak PATH-TO-SB-ECHOD SECONDS CONNECTIONS\n");
        return 2;
    }
    memset(&s, 0, sizeof(s));
    s.n = atoi(argv[3]);
    s.rng = 0x12345678u;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    if (pipe(p) < 0)
        return 1;
    pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(argv[1], "sb-echod", "--listen", "127.0.0.1:0", "--max-buffer", "262144",
              (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    while (len < sizeof(out) - 1 && !strchr(out, '\n')) {
        ssize_t n = read(p[0], out + len, sizeof(out) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = '\0';
    }
    if (strstr(out, "127.0.0.1:"))
        port = atoi(strstr(out, "127.0.0.1:") + 10);
    if (port <= 0) {
        fprintf(stderr, "soak: sb-echod did not start: %s\n", out);
        return 1;
    }
    s.addr.sin_family = AF_INET;
    s.addr.sin_port = htons((uint16_t)port);
    s.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds0 = count_fds(pid);
    rss0 = rss_kib(pid);

    s.loop = sb_loop_new();
    s.c = calloc((size_t)s.n, sizeof(client));
    t = sb_timer_new(s.loop, deadline, &s);
    sb_timer_start(t, (uint64_t)seconds * 1000, 0);
    for (i = 0; i < s.n; i++) {
        s.c[i].s = &s;
        s.c[i].fd = -1;
        client_start(&s.c[i]);
    }
    printf("soak: %d connections against sb-echod pid %d for %d s\n", s.n, (int)pid, seconds);
    while (!s.stopping || s.active > 0) {
        sb_loop_run_once(s.loop, 100);
        if (s.errors > 100)
            break;
    }
    for (i = 0; i < s.n; i++)
        if (s.c[i].io)
            client_end(&s.c[i], 1);
    sb_timer_free(t);
    while (sb_loop_run_once(s.loop, 0) > 0)
        ;
    sb_loop_free(s.loop);
    free(s.c);

    /* The daemon closes lingering connections within its linger time, then
     * gives its memory back (sb-echod trims the heap once idle).  Poll for
     * at most 10 s. */
    for (i = 0; i < 100; i++) {
        fds1 = count_fds(pid);
        rss1 = rss_kib(pid);
        if (fds1 <= fds0 && rss1 <= rss0 + RSS_SLACK_KIB)
            break;
        usleep(100000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    printf("soak: %lu exchanges completed (%lu half-closed), %lu resets, %llu bytes verified, "
           "%lu errors\n",
           s.done, s.half, s.resets, s.bytes, s.errors);
    printf("soak: daemon fds %ld -> %ld, RSS %ld -> %ld KiB, exit status %d\n", fds0, fds1, rss0,
           rss1, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (s.errors || fds1 > fds0 || rss1 > rss0 + RSS_SLACK_KIB || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        printf("soak: FAILED\n");
        return 1;
    }
    printf("soak: passed\n");
    return 0;
}
