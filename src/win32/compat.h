/*
 * The POSIX names the library and the Windows-capable demos use, for
 * mingw-w64 (make TARGET=mingw, mk/mingw.mk): winsock's headers, and the
 * types and constants POSIX has and Windows does not.  The headers beside
 * this one (sys/socket.h, netinet/in.h, sys/un.h...) stand in for the
 * POSIX ones and include only this; they are on the include path of the
 * Windows build alone.  What behaves differently lives in src/os_win32.c.
 */
#ifndef SB_WIN32_COMPAT_H
#define SB_WIN32_COMPAT_H

#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* Vista: inet_ntop, WSAPoll, AI_ADDRCONFIG */
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <iphlpapi.h> /* if_nametoindex */

typedef unsigned short sa_family_t;
typedef unsigned long nfds_t;
typedef unsigned int uid_t;
typedef unsigned int gid_t;

struct iovec {
    void *iov_base;
    size_t iov_len;
};

struct msghdr {
    void *msg_name;
    socklen_t msg_namelen;
    struct iovec *msg_iov;
    int msg_iovlen;
    void *msg_control;
    socklen_t msg_controllen;
    int msg_flags;
};

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#ifndef MSG_TRUNC
#define MSG_TRUNC 0x0100 /* recvmsg's flag (winsock: WSAEMSGSIZE) */
#endif
#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0 /* every library socket is non-blocking already */
#endif

/* No unix-domain sockets in this build: sb__os_socket fails with
 * EAFNOSUPPORT.  The address type exists so that the code compiles. */
#ifndef AF_UNIX
#define AF_UNIX 1
#endif
struct sockaddr_un {
    sa_family_t sun_family;
    char sun_path[108];
};

#ifndef SHUT_RD
#define SHUT_RD SD_RECEIVE
#define SHUT_WR SD_SEND
#define SHUT_RDWR SD_BOTH
#endif

#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define FD_CLOEXEC 1
#ifndef O_NONBLOCK
#define O_NONBLOCK 0x4000
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0 /* _O_NOINHERIT where it matters */
#endif
#ifndef S_ISSOCK
#define S_ISSOCK(m) 0
#endif

/* Signals a POSIX program names that Windows has not; never raised. */
#ifndef SIGPIPE
#define SIGPIPE 13
#endif
#ifndef SIGHUP
#define SIGHUP 1
#endif
#ifndef SIGUSR1
#define SIGUSR1 30
#endif
#ifndef SIGUSR2
#define SIGUSR2 31
#endif
#ifndef SIGKILL
#define SIGKILL 9
#endif
#ifndef SIGSTOP
#define SIGSTOP 19
#endif

#endif /* SB_WIN32_COMPAT_H */
