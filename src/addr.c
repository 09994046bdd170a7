/*
 * Address strings: "host:port", "[v6addr]:port", "*:port", "unix:/path".
 * Numeric hosts are parsed with inet_pton and never touch the resolver;
 * names go through getaddrinfo(), which blocks.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int parse_port(const char *p, unsigned *port)
{
    unsigned long v = 0;

    if (!*p)
        return SB_EPORT;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return SB_EPORT;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return SB_EPORT;
    }
    *port = (unsigned)v;
    return 0;
}

/*
 * Parse s into out.  passive selects the wildcard semantics of a listening
 * address for host names.  Returns 0, SB_EINVAL_ADDR, SB_EPORT,
 * SB_ERESOLVE or -ENAMETOOLONG (unix path too long).
 */
int sb__addr_parse(const char *s, int passive, sb__addr *out)
{
    char host[256];
    const char *colon, *hs, *he;
    unsigned port;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return SB_EINVAL_ADDR;
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
        size_t n = strlen(s + 5);
        if (n == 0)
            return SB_EINVAL_ADDR;
        if (n >= sizeof(un->sun_path))
            return -ENAMETOOLONG;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, s + 5, n + 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
    }
    if (s[0] == '[') {
        he = strchr(s, ']');
        if (!he || he[1] != ':')
            return he ? SB_EPORT : SB_EINVAL_ADDR;
        hs = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return SB_EPORT;
        hs = s;
        he = colon;
        if (memchr(hs, ':', (size_t)(he - hs)))
            return SB_EINVAL_ADDR; /* bare IPv6 needs brackets */
    }
    if ((rc = parse_port(colon + 1, &port)) != 0)
        return rc;
    if (he == hs || (size_t)(he - hs) >= sizeof(host))
        return SB_EINVAL_ADDR;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';

    if (strcmp(host, "*") == 0 && s[0] != '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*a6);
        out->any = 1;
        return 0;
    }
    if (s[0] != '[') {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            out->len = sizeof(*a4);
            return 0;
        }
    } else {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
        char *pct = strchr(host, '%');
        if (pct) {
            /* Scoped link-local address: fe80::1%eth0 */
            a6->sin6_scope_id = if_nametoindex(pct + 1);
            if (!a6->sin6_scope_id)
                return SB_EINVAL_ADDR;
            *pct = '\0';
        }
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return SB_EINVAL_ADDR;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*a6);
        return 0;
    }
    {
        struct addrinfo hints, *res = NULL;
        char portstr[8];
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = passive ? AI_PASSIVE : 0;
        snprintf(portstr, sizeof(portstr), "%u", port);
        if (sb__sys_getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
            return SB_ERESOLVE;
        memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
        out->len = res->ai_addrlen;
        freeaddrinfo(res);
        return 0;
    }
}

int sb__addr_is_name(const char *s, char *host, size_t hostlen, const char **port)
{
    const char *colon = strrchr(s, ':');
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    struct in_addr v4;
    unsigned p;

    if (strncmp(s, "unix:", 5) == 0 || s[0] == '[' || hlen == 0 || hlen >= hostlen ||
        memchr(s, ':', hlen) || parse_port(colon + 1, &p) != 0)
        return 0;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "*") == 0 || inet_pton(AF_INET, host, &v4) == 1)
        return 0;
    *port = colon + 1;
    return 1;
}

/*
 * Format a socket address as "1.2.3.4:80", "[::1]:80" or "unix:/path".
 * Returns the length written (truncated to fit n) or a negative code.
 */
int sb__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    int w;

    if (!buf || n == 0)
        return -EINVAL;
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        w = snprintf(buf, n, "%s:%u", ip, ntohs(a->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        w = snprintf(buf, n, "[%s]:%u", ip, ntohs(a->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *a = (const struct sockaddr_un *)sa;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (plen > sizeof(a->sun_path))
            plen = sizeof(a->sun_path);
        w = snprintf(buf, n, "unix:%.*s", (int)strnlen(a->sun_path, plen), a->sun_path);
        break;
    }
    default:
        return -EAFNOSUPPORT;
    }
    if (w < 0)
        return -EINVAL;
    return (size_t)w >= n ? (int)n - 1 : w;
}

int sb__addr_port(const sb__addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

int sb__addr_bind(int fd, const sb__addr *a, int socktype)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
    struct stat st;
    int probe, stale;

    if (sb__sys_bind(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
        return 0;
    if (errno != EADDRINUSE || a->ss.ss_family != AF_UNIX)
        return -errno;
    /* Only ever replace a socket file, and only one nobody answers on. */
    if (lstat(un->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -EADDRINUSE;
    probe = sb__os_socket(AF_UNIX, socktype, 0);
    if (probe < 0)
        return -errno;
    stale = connect(probe, (const struct sockaddr *)&a->ss, a->len) < 0 && errno == ECONNREFUSED;
    sb__sys_close(probe);
    if (!stale)
        return -EADDRINUSE;
    unlink(un->sun_path);
    if (sb__sys_bind(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
        return 0;
    return -errno;
}
