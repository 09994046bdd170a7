#include "testutil.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SB_TEST_BUILD_DIR
#define SB_TEST_BUILD_DIR "build"
#endif

int tu_count_fds(void)
{
    /* Up to the highest limit seen: a test may lower it with fds open
     * above the new one. */
    static long bound;
    struct rlimit rl;
    long fd, lim = 1L << 16;
    int n = 0;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        lim = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? 1L << 20
                                                                       : (long)rl.rlim_cur;
    if (lim > bound)
        bound = lim;
    for (fd = 0; fd < bound; fd++)
        if (fcntl((int)fd, F_GETFD) >= 0)
            n++;
    return n;
}

void tu_set_cloexec(int fd)
{
    ck_assert_int_eq(fcntl(fd, F_SETFD, FD_CLOEXEC), 0);
}

int tu_socket(int domain, int type)
{
    int fd = socket(domain, type, 0);

    if (fd >= 0)
        tu_set_cloexec(fd);
    return fd;
}

void tu_pipe(int p[2], int nonblock)
{
    int i;

    ck_assert_int_eq(pipe(p), 0);
    for (i = 0; i < 2; i++) {
        tu_set_cloexec(p[i]);
        if (nonblock)
            ck_assert_int_eq(fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK), 0);
    }
}

void *tu_memmem(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
    const char *h = hay;
    size_t i;

    if (nlen == 0)
        return (void *)h;
    for (i = 0; nlen <= hlen && i <= hlen - nlen; i++)
        if (h[i] == *(const char *)needle && memcmp(h + i, needle, nlen) == 0)
            return (void *)(h + i);
    return NULL;
}

int tu_rm_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= sizeof(sub) ||
            tu_rm_tree(sub) < 0)
            rc = -1;
    }
    closedir(d);
    return rmdir(path) < 0 ? -1 : rc;
}

int tu_have_proc(const char *test)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/status", (int)getpid());
    if (access(path, R_OK) == 0)
        return 1;
    fprintf(stderr, "%s: skipped: needs /proc/PID (Linux) to look into a process\n", test);
    return 0;
}

static int make_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int tu_connect_addr(const char *addr)
{
    sb__addr a;
    int fd, rc;

    ck_assert_int_eq(sb__addr_parse(addr, 0, &a), 0);
    fd = tu_socket(a.ss.ss_family, SOCK_STREAM);
    ck_assert_int_ge(fd, 0);
    do
        rc = connect(fd, (struct sockaddr *)&a.ss, a.len);
    while (rc < 0 && errno == EINTR);
    ck_assert_msg(rc == 0, "connect %s: %s", addr, strerror(errno));
    make_nonblock(fd);
    return fd;
}

int tu_fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

int tu_ensure_fd_limit(int highest, const char *test)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)highest + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "%s: SKIPPED: getrlimit(RLIMIT_NOFILE): %s\n", test,
                strerror(errno));
        return 0;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return 1;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= (rlim_t)highest) {
        fprintf(stderr,
                "%s: SKIPPED: needs fd %d but the RLIMIT_NOFILE hard limit is %llu\n",
                test, highest, (unsigned long long)rl.rlim_max);
        return 0;
    }
    rl.rlim_cur = (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "%s: SKIPPED: setrlimit(RLIMIT_NOFILE, %llu): %s\n", test,
                (unsigned long long)rl.rlim_cur, strerror(errno));
        return 0;
    }
    return 1;
}

int tu_move_fd_high(int fd, int target)
{
    int n;

    for (n = target; n < target + 64; n++) {
        if (tu_fd_is_open(n))
            continue;
        if (dup2(fd, n) != n)
            return -1;
        tu_set_cloexec(n);
        ck_assert_int_eq(close(fd), 0);
        return n;
    }
    return -1;
}

int tu_slow(void)
{
    return getenv("SB_UNDER_VALGRIND") != NULL;
}

ssize_t tu_send(int fd, const void *p, size_t n)
{
    ssize_t r;
    do
        r = send(fd, p, n, TU_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r;
}

ssize_t tu_drain(int fd, void *buf, size_t max, int *eof)
{
    size_t got = 0;

    while (got < max) {
        ssize_t r = recv(fd, (char *)buf + got, max - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            *eof = 1;
        else if (errno == EINTR)
            continue;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            *eof = -errno;
        break;
    }
    return (ssize_t)got;
}

const char *tu_demo(const char *name)
{
    static struct {
        char name[32], path[1024];
    } cache[8];
    const char *dir = getenv("SB_DEMO_DIR");
    size_t i;

    if (!dir || !*dir)
        dir = SB_TEST_BUILD_DIR;
    for (i = 0; i < sizeof(cache) / sizeof(cache[0]) && cache[i].name[0]; i++)
        if (strcmp(cache[i].name, name) == 0)
            return cache[i].path;
    ck_assert_msg(i < sizeof(cache) / sizeof(cache[0]) && strlen(name) < sizeof(cache[i].name),
                  "tu_demo: too many names (%s)", name);
    snprintf(cache[i].name, sizeof(cache[i].name), "%s", name);
    ck_assert_msg((size_t)snprintf(cache[i].path, sizeof(cache[i].path), "%s/%s", dir, name) <
                      sizeof(cache[i].path),
                  "tu_demo: path too long: %s/%s", dir, name);
    return cache[i].path;
}

int tu_demos_win32(void)
{
    const char *w = getenv("SB_DEMOS_WIN32");
    return w && *w && strcmp(w, "0") != 0;
}

int tu_demo_skip(const char *test, const char *why)
{
    if (!tu_demos_win32())
        return 0;
    fprintf(stderr, "%s: skipped on Windows: %s\n", test, why);
    return 1;
}

int tu_stop_signal(void)
{
    return tu_demos_win32() ? SIGINT : SIGTERM;
}

size_t tu_crlf_to_lf(char *buf, size_t len, size_t from)
{
    size_t r, w;

    if (from > 0)
        from--;
    for (r = w = from; r < len; r++)
        if (!(buf[r] == '\r' && r + 1 < len && buf[r + 1] == '\n'))
            buf[w++] = buf[r];
    buf[w] = '\0';
    return w;
}

void tu_spawn_limited(tu_proc *p, const char *path, const char *const argv[], int nofile)
{
    int e[2];

    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(pipe(e), 0);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(e[1], 2);
        dup2(null, 1);
        close(null);
        close(e[0]);
        close(e[1]);
        if (nofile > 0) {
            /* Nothing but 0, 1 and 2 inherited: the whole budget is known. */
            struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
            long top = sysconf(_SC_OPEN_MAX), fd;
            for (fd = 3; fd < (top > 0 && top < 65536 ? top : 65536); fd++)
                close((int)fd);
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(126);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(e[1]);
    p->err_fd = e[0];
}

void tu_spawn(tu_proc *p, const char *path, const char *const argv[])
{
    tu_spawn_limited(p, path, argv, 0);
}

long tu_proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int tu_wait_for(tu_proc *p, const char *needle)
{
    int i;

    for (i = 0; i < 1000 && !strstr(p->out, needle); i++) {
        struct pollfd pf = {p->err_fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pf, 1, 10) <= 0)
            continue;
        n = read(p->err_fd, p->out + p->len, sizeof(p->out) - 1 - p->len);
        if (n <= 0)
            break;
        p->out[p->len + (size_t)n] = '\0';
        p->len = tu_demos_win32() ? tu_crlf_to_lf(p->out, p->len + (size_t)n, p->len)
                                  : p->len + (size_t)n;
    }
    return strstr(p->out, needle) != NULL;
}

int tu_finish(tu_proc *p)
{
    int status = 0;

    tu_wait_for(p, "\x01never"); /* collect everything until it closes */
    ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
    close(p->err_fd);
    return status;
}

int tu_proc_port(tu_proc *p)
{
    const char *key = "listening on 127.0.0.1:", *at;

    if (!tu_wait_for(p, key) || !tu_wait_for(p, "\n"))
        return -1;
    at = strstr(p->out, key);
    return atoi(at + strlen(key));
}

unsigned long long tu_proc_stat(tu_proc *p, const char *key)
{
    size_t mark = p->len;
    char *line = NULL, *at, want[64];
    unsigned long long v;
    int i;

    ck_assert_int_eq(kill(p->pid, SIGUSR1), 0);
    for (i = 0; i < 1000; i++) {
        struct pollfd pf = {p->err_fd, POLLIN, 0};
        ssize_t n;
        line = strstr(p->out + mark, "stats: ");
        if (line && strchr(line, '\n'))
            break;
        if (poll(&pf, 1, 10) <= 0)
            continue;
        n = read(p->err_fd, p->out + p->len, sizeof(p->out) - 1 - p->len);
        ck_assert_msg(n > 0, "the daemon closed its stderr: %s", p->out);
        p->len += (size_t)n;
        p->out[p->len] = '\0';
    }
    ck_assert_msg(line && strchr(line, '\n'), "no stats line after SIGUSR1: %s", p->out);
    snprintf(want, sizeof(want), " %s=", key);
    at = strstr(line, want);
    ck_assert_msg(at != NULL, "no %s in %s", key, line);
    v = strtoull(at + strlen(want), NULL, 10);
    p->len = mark;
    p->out[mark] = '\0';
    return v;
}

int tu_blocking_client(int port)
{
    int fd = tu_connect_tcp(port);
    struct timeval tv = {10, 0};

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

int tu_have_backend(const char *name, const char *test)
{
    sb_loop_opts o = {name};
    int err = 0;
    sb_loop *loop = sb_loop_new_opts(&o, &err);

    if (loop) {
        sb_loop_free(loop);
        return 1;
    }
    ck_assert_int_eq(err, -ENOSYS);
    fprintf(stderr, "%s: skipped: no %s backend in this build (-ENOSYS)\n", test, name);
    return 0;
}

int tu_skip_on_epoll(const char *test)
{
    const char *b = getenv("SB_BACKEND");

    if (!b || strcmp(b, "epoll") != 0)
        return 0;
    fprintf(stderr, "%s: skipped on epoll (it cannot see an fd closed behind the loop's back)\n",
            test);
    return 1;
}
