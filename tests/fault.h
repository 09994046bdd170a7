/*
 * Fault injection for the test build: the library's system calls and
 * allocations (src/internal.h, SB_FAULTS) are routed through tests/fault.c,
 * which can make them fail or come up short on a schedule.
 */
#ifndef SB_FAULT_H
#define SB_FAULT_H

#include <stddef.h>
#include <stdint.h>

enum {
    TU_F_RECV,
    TU_F_SEND,
    TU_F_RECVMSG,
    TU_F_SENDTO,
    TU_F_ACCEPT, /* accept4, or accept where the OS seam has no accept4 (PORTABLE) */
    TU_F_CONNECT,
    TU_F_CLOSE,
    TU_F_SELECT, /* the loop's wait: select, poll or epoll_wait */
    TU_F_ALLOC,
    /* set-up calls */
    TU_F_SOCKET,
    TU_F_BIND,
    TU_F_LISTEN,
    TU_F_SHUTDOWN,
    TU_F_DUP3,  /* dup3, or dup2 where the OS seam has no dup3 (PORTABLE) */
    TU_F_PIPE2, /* pipe2, or pipe */
    TU_F_GETADDRINFO, /* err ENOMEM: EAI_MEMORY; anything else: EAI_FAIL */
    /* file output (sb_write_file); sendmsg() is TU_F_SEND's */
    TU_F_SENDFILE,
    TU_F_PREAD,
    /* the OS seam's fallbacks (PORTABLE): F_SETFD / F_SETFL after socket,
     * accept, pipe, dup2 */
    TU_F_FCNTL,
    TU_F_N
};

/*
 * Which way each call went, counted per system call (src/os.h): the
 * Linux-only ones and their POSIX fallbacks.  A PORTABLE build must show
 * only fallbacks, a normal Linux build only the Linux calls.
 */
enum {
    TU_P_ACCEPT4,
    TU_P_ACCEPT,
    TU_P_SOCKET_FLAGS,   /* socket() with SOCK_NONBLOCK or SOCK_CLOEXEC in type */
    TU_P_SOCKET_PLAIN,
    TU_P_PIPE2,
    TU_P_PIPE,
    TU_P_DUP3,
    TU_P_DUP2,
    TU_P_FCNTL,
    TU_P_SEND_NOSIGNAL,  /* send, sendmsg, sendto with MSG_NOSIGNAL */
    TU_P_SEND_PLAIN,
    TU_P_SENDFILE,
    TU_P_N
};
unsigned long tu_fault_path_calls(int path);

typedef struct tu_fault {
    unsigned every;      /* inject on every Nth call (1 = every call) */
    unsigned percent;    /* or: on each call with this probability (seeded) */
    const char *script;  /* or: one char per call, cycled: '.' pass, 's' short, 'e' error */
    int err;             /* errno to fail with; 0 = a short count (recv/send only) */
    unsigned long skip;  /* let this many calls through first */
    unsigned long limit; /* inject at most this many times (0 = no limit) */
} tu_fault;

/* Install a schedule for one kind of call (NULL turns it off). */
void tu_fault_set(int call, const tu_fault *f);
/* Everything off, counters zeroed, seed reset. */
void tu_fault_reset(void);
void tu_fault_seed(uint32_t seed);
/* Calls seen / faults injected since the last reset. */
unsigned long tu_fault_calls(int call);
unsigned long tu_fault_hits(int call);
/* Waits (select, poll, epoll_wait) that returned readiness, ever: a loop
 * that wakes for nothing shows here. */
unsigned long tu_fault_ready_waits(void);

/*
 * A fake resolver in getaddrinfo()'s place (NULL: the real one).  It runs
 * on the library's resolver threads, so it must be thread-safe; results it
 * returns are freed with freeaddrinfo().  tu_fault_reset() keeps it.
 */
struct addrinfo;
typedef int (*tu_gai_fn)(const char *host, const char *serv, const struct addrinfo *hints,
                         struct addrinfo **res);
void tu_fault_gai_hook(tu_gai_fn fn);

/* Cap every short count at n bytes (1: one byte at a time); 0 turns the
 * cap off.  tu_fault_reset() turns it off too. */
void tu_fault_short_max(size_t n);

/* A partial-I/O schedule: short recv and send, spurious EAGAIN and EINTR. */
void tu_fault_partial_io(uint32_t seed);

#endif
