/* Listening socket shared by the reference servers (see common.h). */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *prog, const char *addr, const char *what)
{
    fprintf(stderr, "%s: cannot listen on '%s': %s\n", prog, addr, what);
    exit(2);
}

int bench_listen(const char *prog, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char host[128];
    const char *colon;
    int fd, one = 1;
    struct rlimit rl;

    /* A write to a client that reset must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(&ss, 0, sizeof(ss));
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        if (strlen(addr + 5) >= sizeof(un->sun_path) || !addr[5])
            die(prog, addr, "bad unix socket path");
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, addr + 5);
        unlink(un->sun_path);
        len = sizeof(*un);
    } else {
        char *end;
        long port;
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof(host))
            die(prog, addr, "want host:port or unix:/path");
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535 || colon[1] == '\0')
            die(prog, addr, "bad port");
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
        if (host[0] == '[') {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            size_t n = strlen(host);
            if (n < 3 || host[n - 1] != ']')
                die(prog, addr, "bad IPv6 address");
            host[n - 1] = '\0';
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((unsigned short)port);
            if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
                die(prog, addr, "bad IPv6 address");
            len = sizeof(*s6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            s4->sin_port = htons((unsigned short)port);
            if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
                die(prog, addr, "bad IPv4 address");
            len = sizeof(*s4);
        }
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die(prog, addr, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0)
        die(prog, addr, strerror(errno));
    fprintf(stderr, "%s: listening on %s\n", prog, addr);
    return fd;
}

void bench_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
