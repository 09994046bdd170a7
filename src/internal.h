/*
 * Private structures and sb__ prototypes shared by the library's modules.
 * Nothing here is part of the public API.
 */
#ifndef SB_INTERNAL_H
#define SB_INTERNAL_H

#include "os.h" /* first: it may set feature macros for the system headers */
#include "switchboard.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SB__READ_CHUNK (64 * 1024)     /* bytes per recv() */
#define SB__HANDSHAKE_MS 10000         /* a transport's handshake limit by default */
#define SB__OUT_KEEP (64 * 1024)       /* output capacity kept when idle */
#define SB__MAX_SEND (256 * 1024)      /* bytes per send() per connection per iteration */
#define SB__EARLY_MAX (8 * 1024)       /* replies up to this leave right after their read */
#define SB__RECLAIM_MS 1000            /* empty buffers idle this long are freed */
#define SB__POOL_MAX 32                /* empty output buffers a loop keeps for reuse */
#define SB__DEFAULT_BACKLOG 4096
#define SB__DEFAULT_MAX_ACCEPT 64
#define SB__DEFAULT_HIGH_WATER (1024 * 1024)
#define SB__DEFAULT_LINGER_MS 2000
#define SB__EMFILE_BACKOFF_MS 100
#define SB__MAX_MSGS_PER_EVENT 1024  /* messages delivered per connection per pass */
#define SB__IN_KEEP (16 * 1024)       /* input capacity kept when empty */
#define SB__RELAY_MAX (256 * 1024)    /* sb_relay: bytes queued per direction by default */

/*
 * The seam around the system calls and allocations the library makes.  In
 * a normal build these are the libc functions themselves: zero cost.  The
 * test build (-DSB_FAULTS) links tests/fault.c, whose versions can fail on
 * a schedule: short counts, EAGAIN, EINTR, EMFILE, ECONNRESET, ENOMEM...
 * Set-up calls (socket, bind, listen, shutdown, dup3/dup2, pipe2/pipe,
 * getaddrinfo, the fallbacks' fcntl) go through it too, so every failure
 * branch behind them is tested.  The platform's calls are made by the OS
 * seam (os.h), through these: a Linux-only one exists here only where
 * os.h says the platform has it, so a fallback build that still calls it
 * does not compile.
 */
struct addrinfo;
#ifdef SB_FAULTS
#include <sys/select.h>
int sb__sys_socket(int domain, int type, int protocol);
int sb__sys_bind(int fd, const struct sockaddr *sa, socklen_t len);
int sb__sys_listen(int fd, int backlog);
int sb__sys_shutdown(int fd, int how);
int sb__sys_getaddrinfo(const char *host, const char *serv, const struct addrinfo *hints,
                        struct addrinfo **res);
ssize_t sb__sys_recv(int fd, void *buf, size_t n, int flags);
ssize_t sb__sys_send(int fd, const void *buf, size_t n, int flags);
ssize_t sb__sys_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t sb__sys_pread(int fd, void *buf, size_t n, off_t off);
ssize_t sb__sys_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t sb__sys_sendto(int fd, const void *buf, size_t n, int flags,
                       const struct sockaddr *to, socklen_t tolen);
int sb__sys_connect(int fd, const struct sockaddr *sa, socklen_t len);
int sb__sys_close(int fd);
int sb__sys_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
struct pollfd;
int sb__sys_poll(struct pollfd *fds, unsigned long n, int timeout_ms);
#ifdef SB__HAVE_ACCEPT4
int sb__sys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
#else
int sb__sys_accept(int fd, struct sockaddr *sa, socklen_t *len);
#endif
#ifdef SB__HAVE_DUP3
int sb__sys_dup3(int oldfd, int newfd, int flags);
#else
int sb__sys_dup2(int oldfd, int newfd);
#endif
#ifdef SB__HAVE_PIPE2
int sb__sys_pipe2(int fds[2], int flags);
#else
int sb__sys_pipe(int fds[2]);
#endif
int sb__sys_fcntl(int fd, int cmd, int arg); /* the fallbacks' F_SETFD / F_SETFL */
#ifdef SB__HAVE_SENDFILE
ssize_t sb__sys_sendfile(int out, int in, off_t *off, size_t n);
#endif
#ifdef SB__HAVE_EPOLL
struct epoll_event;
int sb__sys_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout_ms);
#endif
void *sb__malloc(size_t n);
void *sb__calloc(size_t n, size_t size);
void *sb__realloc(void *p, size_t n);
#else
#define sb__sys_socket socket
#define sb__sys_bind bind
#define sb__sys_listen listen
#define sb__sys_shutdown shutdown
#define sb__sys_getaddrinfo getaddrinfo
#define sb__sys_recv recv
#define sb__sys_send send
#define sb__sys_sendmsg sendmsg
#define sb__sys_pread pread
#define sb__sys_recvmsg recvmsg
#define sb__sys_sendto sendto
#define sb__sys_connect connect
#define sb__sys_close close
#define sb__sys_select select
#define sb__sys_poll poll
#ifdef SB__HAVE_ACCEPT4
#define sb__sys_accept4 accept4
#else
#define sb__sys_accept accept
#endif
#ifdef SB__HAVE_DUP3
#define sb__sys_dup3 dup3
#else
#define sb__sys_dup2 dup2
#endif
#ifdef SB__HAVE_PIPE2
#define sb__sys_pipe2 pipe2
#else
#define sb__sys_pipe pipe
#endif
#define sb__sys_fcntl fcntl
#ifdef SB__HAVE_SENDFILE
#define sb__sys_sendfile sendfile
#endif
#ifdef SB__HAVE_EPOLL
#define sb__sys_epoll_wait epoll_wait
#endif
#define sb__malloc malloc
#define sb__calloc calloc
#define sb__realloc realloc
#endif

#if defined(__GNUC__)
#define SB__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SB__PRINTF(f, a)
#endif

/*
 * Debug mode (make DEBUG=1: -DSB_DEBUG, src/debug.c).  Every public handle
 * carries a magic number saying what it is and that it is alive; every
 * public function checks the handle it is given (SB__CHECK); freeing a
 * handle marks it dead and keeps its memory in a quarantine of the last
 * SB__QUARANTINE handles instead of freeing it (sb__retire), so a use after
 * close/free or a double free is reported through the loop's log hook and
 * stderr, then abort(), before anything is corrupted.  In a normal build
 * all of it compiles to nothing: no field, no check, plain free().
 */
enum {
    SB__K_LOOP = 1,
    SB__K_CONN,
    SB__K_LISTENER,
    SB__K_TIMER,
    SB__K_IO,
    SB__K_SIGNAL,
    SB__K_UDP,
    SB__K_ASYNC,
    SB__K_RESOLVE
};
#ifdef SB_DEBUG
#define SB__QUARANTINE 4096
#define SB__ALIVE(kind) (0x5b5b0000u | (unsigned)(kind))
#define SB__DEAD(kind) (0xdead0000u | (unsigned)(kind))
#define SB__MAGIC_FIELD uint32_t magic;
#define SB__BIRTH(obj, field, kind) ((obj)->field = SB__ALIVE(kind))
#define SB__CHECK(obj, field, kind)                                                           \
    do {                                                                                      \
        if ((obj) && (obj)->field != SB__ALIVE(kind))                                         \
            sb__misuse((obj), (obj)->field, (kind), __func__);                                \
    } while (0)
struct sb_loop;
/* Mark obj dead and quarantine it (the oldest quarantined one is freed). */
void sb__retire(void *obj, uint32_t *magic, int kind, struct sb_loop *loop);
/* Report a handle that is not alive, through the log hook and stderr; abort. */
void sb__misuse(const void *obj, uint32_t magic, int kind, const char *fn)
    __attribute__((noreturn));
void sb__debug_loop_alive(struct sb_loop *loop, int alive);
#else
#define SB__MAGIC_FIELD
#define SB__BIRTH(obj, field, kind) ((void)0)
#define SB__CHECK(obj, field, kind) ((void)0)
#define sb__retire(obj, magic, kind, loop) free(obj)
#endif

/* ------------------------------------------------------------- buffer.c */

/* A growable byte buffer holding the bytes [off, off + len) of data. */
typedef struct sb__buf {
    char *data;
    size_t off;
    size_t len;
    size_t cap;
} sb__buf;

void sb__buf_free(sb__buf *b);
int sb__buf_reserve(sb__buf *b, size_t n);
int sb__buf_append(sb__buf *b, const void *p, size_t n);
void sb__buf_consume(sb__buf *b, size_t n);
void sb__buf_trim(sb__buf *b, size_t keep);
void sb__buf_shrink(sb__buf *b, size_t keep);
static inline char *sb__buf_head(const sb__buf *b) { return b->data + b->off; }
static inline char *sb__buf_tail(const sb__buf *b) { return b->data + b->off + b->len; }
static inline size_t sb__buf_room(const sb__buf *b) { return b->cap - b->off - b->len; }
static inline void sb__buf_commit(sb__buf *b, size_t n) { b->len += n; }

/* ------------------------------------------------------------- fdset.c */

/*
 * The select() backend.  Own bitsets of the platform's fd_set words
 * (sb__fdword, os.h) sized to the highest fd (never FD_SET on fd >=
 * FD_SETSIZE).  rd/wr are the master sets; rd_out/wr_out receive
 * select()'s result.
 */
#ifdef _WIN32
/*
 * Windows (fdset_win32.c): winsock's fd_set is a count and a list of
 * SOCKETs.  rd/wr are the master lists, in structs laid out like fd_set
 * but as long as needed; rpos/wpos give each fd's place in them (-1: not
 * there), so removal swaps in the last entry, O(1).  The three result
 * lists receive select()'s answer (the write list is also the except
 * list: a refused non-blocking connect shows up there only).
 */
struct sb__wset;
typedef struct sb__fdset {
    struct sb__wset *rd, *wr, *rd_out, *wr_out, *ex_out;
    int *rfd, *wfd;       /* the fd of each list entry */
    int *rpos, *wpos;     /* per fd */
    unsigned char *ev;    /* per fd: events gathered while dispatching */
    size_t cap;           /* entries each list can hold */
    size_t npos;          /* fds rpos/wpos/ev cover */
    size_t nreg;          /* fds added (the lists never need more room) */
    int maxfd;
} sb__fdset;
void sb__fdset_init(sb__fdset *s);
void sb__fdset_free(sb__fdset *s);
int sb__fdset_reserve(sb__fdset *s, int fd);
int sb__fdset_set(sb__fdset *s, int fd, unsigned events);
int sb__fdset_wait(sb__fdset *s, int timeout_ms);
int sb__fdset_find_bad(const sb__fdset *s, int start);
static inline unsigned sb__fdset_get(const sb__fdset *s, int fd)
{
    if (fd < 0 || (size_t)fd >= s->npos)
        return 0;
    return (s->rpos[fd] >= 0 ? SB_READ : 0u) | (s->wpos[fd] >= 0 ? SB_WRITE : 0u);
}
#else
typedef struct sb__fdset {
    sb__fdword *rd, *wr, *rd_out, *wr_out;
    size_t nwords; /* allocated words per set */
    int maxfd;     /* highest fd with any interest, -1 if none */
} sb__fdset;

#define SB__WORD_BITS SB__FDWORD_BITS

void sb__fdset_init(sb__fdset *s);
void sb__fdset_free(sb__fdset *s);
int sb__fdset_reserve(sb__fdset *s, int fd);
int sb__fdset_set(sb__fdset *s, int fd, unsigned events);
int sb__fdset_wait(sb__fdset *s, int timeout_ms);
int sb__fdset_find_bad(const sb__fdset *s, int start);
static inline unsigned sb__fdset_get(const sb__fdset *s, int fd)
{
    size_t w = (size_t)fd / SB__WORD_BITS;
    sb__fdword m = SB__FDWORD_ONE << ((unsigned)fd % SB__WORD_BITS);
    if (fd < 0 || w >= s->nwords)
        return 0;
    return ((s->rd[w] & m) ? SB_READ : 0u) | ((s->wr[w] & m) ? SB_WRITE : 0u);
}
#endif /* _WIN32 */

/* ------------------------------------------------------------ backends */

/*
 * The readiness backend: the only code that knows how the loop waits.
 * select (fdset.c) is the default everywhere; poll (poll.c) and epoll
 * (epoll.c, Linux, not under PORTABLE) are chosen at sb_loop_new_opts() or by SB_BACKEND.
 * The loop keeps each fd's interest in its handle and tells the backend
 * every change; the backend reports ready fds through sb__loop_deliver().
 */
typedef struct sb__backend {
    const char *name;
    int (*init)(sb_loop *loop);
    void (*free)(sb_loop *loop);
    int (*add)(sb_loop *loop, int fd, unsigned events);       /* may allocate */
    void (*set)(sb_loop *loop, int fd, unsigned old, unsigned events); /* cannot fail */
    void (*del)(sb_loop *loop, int fd, unsigned old);
    int (*wait)(sb_loop *loop, int timeout_ms);               /* ready count or -errno */
    void (*dispatch)(sb_loop *loop);                          /* sb__loop_deliver each */
    int (*find_bad)(sb_loop *loop, int start);                /* after -EBADF, or -1 */
} sb__backend;

extern const sb__backend sb__backend_select;
extern const sb__backend sb__backend_poll;
extern const sb__backend sb__backend_epoll; /* name "epoll"; init fails with -ENOSYS
                                               where os.h has no SB__HAVE_EPOLL */
/* A backend for a name ("select", "poll", "epoll"), or NULL. */
const sb__backend *sb__backend_find(const char *name);

/* ------------------------------------------------------------ framing.c */

/* Forget the scanning state (a new framer, or the same one restarted). */
void sb__framer_reset(sb_framer *f);
/* Whether f is a framer the initialisers could have made. */
int sb__framer_valid(const sb_framer *f);

/* -------------------------------------------------------------- timer.c */

struct sb_timer {
    SB__MAGIC_FIELD
    sb_loop *loop;
    sb_timer_cb cb;
    void *udata;
    uint64_t when;
    uint64_t repeat;
    uint64_t seq;    /* arm order: FIFO among equal deadlines */
    uint32_t index;    /* position in the heap, SB__NOT_ARMED if stopped */
    uint32_t internal; /* embedded in another object, not a public handle */
};
#define SB__NOT_ARMED ((uint32_t)-1)

/* A timer made by sb_timer_new: on the loop's list of public timers (for
 * sb_loop_walk_handles); internal timers are bare sb_timers. */
typedef struct sb__utimer {
    sb_timer t; /* first: the public handle */
    struct sb__utimer *next, *prev;
} sb__utimer;

typedef struct sb__heap {
    sb_timer **a;
    size_t n;
    size_t cap;
} sb__heap;

void sb__timer_init(sb_timer *t, sb_loop *loop, sb_timer_cb cb, void *udata);
int sb__timer_arm(sb_timer *t, uint64_t when, uint64_t repeat);
void sb__timer_disarm(sb_timer *t);
int sb__timers_next(const sb_loop *loop, int64_t *delay_ms);
void sb__timers_run(sb_loop *loop);
uint64_t sb__clock_real(void *udata);
/* The clock's current reading, never before the iteration's cached time
 * (deadlines armed outside the loop's stages count from now). */
uint64_t sb__clock_now(sb_loop *loop);

/* -------------------------------------------------------------- handles */

enum { SB__H_IO = 1, SB__H_LISTENER, SB__H_CONN, SB__H_SIGPIPE };

/*
 * What the fd table points at.  Every fd-owning object starts with one.
 * epoch is the loop iteration in which the handle was registered: readiness
 * from a select() issued before that (a stale result for a reused fd number)
 * is never delivered to it.
 */
typedef struct sb__handle sb__handle;
struct sb__handle {
    SB__MAGIC_FIELD /* debug mode: conn, listener, io and udp handles */
    int fd;
    uint16_t type;
    uint16_t interest; /* SB_READ | SB_WRITE as told to the backend */
    uint64_t epoch;
    void (*ready)(sb__handle *h, unsigned events);
    union {
        void (*badfd)(sb__handle *h); /* while registered */
        sb__handle *free_next;        /* once unregistered: deferred free list */
    };
};

struct sb_io {
    sb__handle h;
    sb_loop *loop;
    sb_socket_t sock; /* the caller's, as given to sb_io_new: its callbacks get it */
    sb_io_cb cb;
    void *udata;
    unsigned interest;
};

/* ------------------------------------------------------------ addr.c */

typedef struct sb__addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int any; /* "*:port": dual-stack wildcard */
} sb__addr;

int sb__addr_parse(const char *s, int passive, sb__addr *out);
int sb__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t n);
/* bind(), replacing a stale unix socket file (a socket nobody is bound to
 * any more; never another kind of file).  0 or -errno. */
int sb__addr_bind(int fd, const sb__addr *a, int socktype);
/* The TCP/UDP port of an IP address, 0 for anything else. */
int sb__addr_port(const sb__addr *a);

/* ---------------------------------------------------------- listener.c */

struct sb_listener {
    sb__handle h;
    sb_loop *loop;
    sb_handler handler;
    void *udata;
    sb_listen_opts opts;
    unsigned nconns;
    unsigned refs;      /* 1 while open + 1 per connection: freed at 0 */
    int paused;         /* EMFILE back-off in progress */
    int closed;         /* sb_listener_close() done; freed with its last conn */
    sb_timer backoff;
    sb__addr addr;      /* as bound (port filled in) */
    const sb_transport *xt; /* every accepted connection's transport, or NULL */
    void *xarg;
    unsigned hs_ms;
    sb_listener *next, *prev;
};

/* -------------------------------------------------------------- conn.c */

/*
 * A connection's life: CONNECTING (outbound, connect() in progress) ->
 * HANDSHAKE (a transport's opening exchange, sb_transport) -> OPEN -> CLOSING (sb_close: queued output still going out, no more input
 * delivered) -> LINGER (our FIN sent, input discarded until the peer's EOF
 * or the deadline) -> DEAD (close scheduled: no callback but on_close).
 * Any state may go straight to DEAD (errors, sb_abort, timeouts).  What is
 * orthogonal to it -- EOF seen, shutdown requested or sent, why reading is
 * held, list membership -- are separate fields of struct sb_conn.
 */
enum { SB__S_CONNECTING, SB__S_HANDSHAKE, SB__S_OPEN, SB__S_CLOSING, SB__S_LINGER, SB__S_DEAD };

/*
 * The output queue beyond plain copies.  While a connection has only
 * copied bytes, its queue is c->out alone and seg_head is NULL (the fast
 * path).  Once a caller-owned buffer (sb_write_ref) or a file range
 * (sb_write_file) is queued, the queue is this list, in order: a COPY
 * segment stands for the next len bytes of c->out, so every byte of c->out
 * belongs to one.  Segments come from a small per-loop free list.
 */
enum { SB__SEG_COPY, SB__SEG_REF, SB__SEG_FILE };

typedef struct sb__seg {
    struct sb__seg *next;
    uint8_t kind;         /* SB__SEG_* */
    uint8_t no_sendfile;  /* FILE: sendfile() refused this fd: pread() + send() */
    int fd;               /* FILE */
    size_t len;           /* bytes still to send */
    const char *ptr;      /* REF: the next byte */
    uint64_t off;         /* FILE: the next offset */
    sb_release_fn release;
    void *arg;
} sb__seg;

struct sb_conn {
    sb__handle h;
    sb_loop *loop;
    sb_listener *listener; /* kept alive, even once closed, while c lives */
    sb_handler *handler;   /* the listener's, or owned (SB__C_OWN_HANDLER) */
    void *udata;
    uint8_t state;         /* SB__S_* */
    uint8_t pause;         /* SB_PAUSE_*: why reading is held (any one holds it) */
    /* Conditions, orthogonal to the state. */
    unsigned eof_in : 1;      /* the peer's FIN received */
    unsigned shut_req : 1;    /* sb_shutdown(): FIN after the queued output */
    unsigned shut_done : 1;   /* our FIN sent */
    unsigned close_req : 1;   /* sb_close() while CONNECTING: CLOSING once connected */
    unsigned want_write : 1;  /* the last send was partial: wait for writability */
    unsigned abort : 1;       /* close with RST */
    unsigned opened : 1;      /* on_open was due (sb_conn_opened) */
    unsigned fd_gone : 1;     /* fd closed behind our back: do not close it */
    /* List membership. */
    unsigned in_flush : 1;    /* on the loop's flush list */
    unsigned in_pending : 1;  /* complete input buffered, on the pending list */
    /* Bookkeeping of the call in progress, and ownership. */
    unsigned in_input : 1;    /* inside conn_input(): it goes on cutting by itself */
    unsigned framer_set : 1;  /* sb_conn_set_framer() ran (in on_frame_error) */
    unsigned drain_due : 1;   /* flushed right after its read: on_drain at step 5 */
    unsigned own_handler : 1; /* c->handler is c's own copy: freed with it */
    unsigned drain_at_low : 1; /* on_drain at the low watermark (sb_conn_opts) */
    /* A transport's needs (sb_transport), orthogonal to the rest. */
    unsigned x_read_ww : 1;   /* its recv wants the socket writable */
    unsigned x_write_wr : 1;  /* its send (or shutdown) wants the socket readable */
    unsigned x_hs_write : 1;  /* HANDSHAKE: it waits for writability (else readability) */
    unsigned x_shut_due : 1;  /* its close (close_notify) is still to be sent */
    unsigned x_closed : 1;    /* its close is sent (or could not be) */
    unsigned x_truncated : 1; /* the peer's EOF came without the transport's close */
    unsigned x_more : 1;      /* plaintext held inside it: on the pending list to read */
    struct sb__connect *connect; /* connect.c's record while CONNECTING, else NULL */
    const sb_transport *xt; /* the transport (TLS...), else NULL */
    void *xctx;             /* its per-connection state */
    unsigned hs_ms;         /* its handshake time limit */
    sb_conn *relay;        /* sb_relay(): the other connection, else NULL */
    size_t relay_max;      /* relayed: bytes queued here before the peer's reading holds */
    uint8_t cut_flags;    /* inside on_data: the cut's SB_CUT_* flags */
    uint64_t cut_left;    /* inside on_data: streamed body bytes still to come */
    int reason;           /* close reason once DEAD */
    int err;              /* reason for a graceful close forced by an error */
    sb_framer framer;
    sb__buf in;           /* bytes received and not yet delivered */
    sb__buf out;          /* bytes queued and not yet sent (copied ones) */
    sb__seg *seg_head, *seg_tail; /* the queue, once not only copies (above) */
    size_t out_ext;       /* bytes of REF and FILE segments still to send */
    size_t high_water, low_water, max_output;
    unsigned idle_ms, linger_ms;
    uint64_t last_active;
    sb_timer timer;       /* idle timeout / linger deadline */
    sb_conn *next, *prev; /* all connections of the loop */
    sb_conn *flush_next;
    sb_conn *close_next;
    sb_conn *pending_next; /* complete input buffered, to cut next pass */
    /* The peer's IP address (unix peers: looked up when asked). */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    socklen_t peer_len;
};

/* A connection on fd, registered with interest (accepted: SB_READ). */
sb_conn *sb__conn_new(sb_loop *loop, int fd, unsigned interest, sb_listener *l,
                      const struct sockaddr *peer, socklen_t peer_len);
void sb__conn_open(sb_conn *c);
/* Accepted (or connected) c starts with a transport: attach, handshake. */
void sb__conn_start_transport(sb_conn *c);
void sb__conn_set_peer(sb_conn *c, const struct sockaddr *sa, socklen_t len);
/* Settings with their defaults resolved (sb_conn_opts). */
void sb__conn_apply_opts(sb_conn *c, const sb_conn_opts *o);
/* Cut c's buffered input on the next pass (read interest off meanwhile). */
void sb__conn_queue_pending(sb_conn *c);
/* The normal readiness handler, for connect.c to install once connected. */
void sb__conn_ready(sb__handle *h, unsigned events);
/* Schedule the close with a reason (no more callbacks but on_close). */
void sb__conn_kill(sb_conn *c, int reason);
/* Hold reading for one reason (SB_PAUSE_*) / drop it: reading resumes once
 * no reason is left.  Reasons never cancel one another. */
void sb__conn_hold(sb_conn *c, unsigned reason);
void sb__conn_release(sb_conn *c, unsigned reason);
/* connect.c: the connection ends while its record still exists (before
 * on_close runs): free the record, cancel a lookup. */
void sb__connect_closed(sb_conn *c);
/*
 * connect.c: the connect finished.  Leaves CONNECTING, installs
 * sb__conn_ready, sends what was queued meanwhile, calls on_open.
 */
void sb__conn_connected(sb_conn *c);
void sb__conn_flush_all(sb_loop *loop);
void sb__conn_reclaim(sb_timer *t, void *udata);
void sb__conn_pool_free(sb_loop *loop);
void sb__conn_process_pending(sb_loop *loop);
int sb__conn_write3(sb_conn *c, const void *a, size_t alen, const void *b, size_t blen,
                    const void *d, size_t dlen);
int sb__conn_close_pending(sb_loop *loop);

/* -------------------------------------------------------------- loop.c */

struct sb_loop {
    SB__MAGIC_FIELD
#ifdef SB_DEBUG
    sb_loop *debug_next; /* the live loops (debug.c) */
#endif
    const sb__backend *backend;
    sb__fdset fds;       /* the select backend's sets */
    void *bstate;        /* the poll and epoll backends' state */
    sb__handle **table; /* fd -> handle */
    size_t table_len;
    sb__heap timers;
    uint64_t timer_seq;
    uint64_t now;
    uint64_t iter;
    sb_clock_fn clock;
    void *clock_udata;
    volatile sig_atomic_t stop;
    int running;         /* inside sb_loop_run_once: no nested iteration */
    size_t nhandles;     /* public handles alive */
    size_t io_active;    /* io watchers with interest */
    size_t user_timers;  /* public timers armed */
    size_t nlisteners;
    size_t nudp;         /* UDP endpoints with a socket (udp.c) */
    sb_udp *udps;        /* every UDP endpoint, for sb_loop_walk_handles */
    sb_conn *conns;      /* all connections */
    sb_conn *flush_head; /* connections with output to send */
    sb_conn *close_head; /* connections to finish closing */
    sb_conn *pending_head; /* connections with buffered input to cut */
    sb__handle *free_head;
    sb_listener *listeners;
    char *rbuf;          /* shared recv scratch, SB__READ_CHUNK bytes */
    int spare_fd;        /* reserved for the EMFILE trick */
    sb_timer reclaim;    /* gives idle connections' buffers back (conn.c) */
    struct {
        char *data;
        size_t cap;
    } pool[SB__POOL_MAX]; /* output buffers not in use (conn.c) */
    size_t npool;
    struct sb__seg *seg_free; /* output segments not in use (conn.c) */
    size_t nseg_free;
    int pool_used;        /* a buffer was taken since the last reclaim sweep */
    int sig_rd, sig_wr;  /* self-pipe */
    sb__handle sig_h;
    sb_signal *signals;
    sb__utimer *utimers; /* public timers (timer.c) */
    uint64_t last_emfile_log;
    sb_log_fn log;
    int log_level;
    void *log_udata;
    sb_watch_fn watch;   /* the host's interest hook (sb_loop_set_watch) */
    void *watch_udata;
    uint64_t work;       /* readiness delivered (SB_RUN_WORKED) */
    /* Wake-up (async.c): a pipe whose reader runs the sb_async callbacks. */
    int wake_rd, wake_wr;
    sb__handle wake_h;
    _Atomic int wake_pending; /* a byte is in the pipe, or about to be */
    struct sb_async *asyncs;  /* every sb_async (internal ones too) */
    size_t nasync_alive;      /* public ones: they keep the loop running */
    struct sb__resolver *resolver; /* resolve.c, made on first use */
    size_t nresolving;        /* requests pending: they keep it running */
    sb_loop_stats stats;
};

int sb__loop_register(sb_loop *loop, sb__handle *h, int fd, unsigned events);
/* Set h's interest; a no-op when it is already that (the common case).
 * Cannot fail: registration made room for h->fd in the backend. */
static inline void sb__loop_interest(sb_loop *loop, sb__handle *h, unsigned events)
{
    events &= SB_READ | SB_WRITE;
    if (h->interest != events && h->fd >= 0) {
        loop->backend->set(loop, h->fd, h->interest, events);
        h->interest = (uint16_t)events;
        if (loop->watch)
            loop->watch(h->fd, events, loop->watch_udata);
    }
}
void sb__loop_unregister(sb_loop *loop, sb__handle *h);
/* Register h's fd with the backend again (another file now has its number:
 * dup3).  0 or -errno. */
int sb__loop_rearm(sb_loop *loop, sb__handle *h);
/* A registered fd >= start with interest that is not open, or -1 (after
 * EBADF from a wait: backends without their own way use this). */
int sb__loop_find_bad(sb_loop *loop, int start);

/*
 * A backend found fd ready with events: hand it to its handle.  Nothing for
 * an fd closed in this pass or a new handle on a reused number (registered
 * in this iteration: the readiness predates it), nor for what an earlier
 * callback of this pass stopped wanting.
 */
static inline void sb__loop_deliver(sb_loop *loop, int fd, unsigned events)
{
    sb__handle *h;

    if ((size_t)fd >= loop->table_len || !(h = loop->table[fd]) || h->epoch == loop->iter)
        return;
    events &= h->interest;
    if (events) {
        loop->work++;
        h->ready(h, events);
    }
}
void sb__loop_defer_free(sb_loop *loop, sb__handle *h);
void sb__log(sb_loop *loop, int level, const char *fmt, ...) SB__PRINTF(3, 4);
int sb__spare_fd_open(sb_loop *loop);

/* ------------------------------------------------------------ signal.c */

void sb__signal_loop_free(sb_loop *loop);
sb_signal *sb__signal_next(const sb_signal *s);

/* ----------------------------------------------------- connect.c, udp.c */

/* The next endpoint on loop->udps, and an endpoint's fd (-1 once gone). */
sb_udp *sb__udp_next(const sb_udp *u);

enum { SB__H_UDP = SB__H_SIGPIPE + 1, SB__H_WAKE, SB__H_ASYNC, SB__H_RESOLVE };

/* ------------------------------------------------------------- async.c */

/* The sb__handle is for deferred freeing only (fd -1, never registered). */
struct sb_async {
    sb__handle h;
    sb_loop *loop;
    sb_async_cb cb;
    void *udata;
    _Atomic int pending;
    int internal; /* the library's own: no handle, does not keep the loop running */
    int dead;     /* freed: skipped by a scan in progress */
    struct sb_async *next, *prev;
};
sb_async *sb__async_new(sb_loop *loop, sb_async_cb cb, void *udata, int internal, int *err);
sb_async *sb__async_next(const sb_async *a);
void sb__wake_close(sb_loop *loop);

/* ----------------------------------------------------------- resolve.c */

/*
 * Where a resolution goes when done: the public callback, or (connect.c)
 * an internal one that gets the addresses in the library's own form.
 */
typedef void (*sb__resolved_fn)(sb_resolve *r, int status, const sb__addr *addrs, size_t n,
                                void *udata);
sb_resolve *sb__resolve_start(sb_loop *loop, const char *host, const char *serv,
                              sb__resolved_fn fn, void *udata, int *err);
void sb__resolve_cancel(sb_resolve *r);
/* sb_loop_free(): cancel every request and free the resolver. */
void sb__resolver_free(sb_loop *loop);
/*
 * Split "host:port" when host is a name the resolver must look up: 1 with
 * host and port copied out; 0 for everything sb__addr_parse() handles
 * without it (numeric, unix:, "*", or malformed: it reports the error).
 */
int sb__addr_is_name(const char *s, char *host, size_t hostlen, const char **port);
#define SB__UDP_MAX_DATAGRAM (64 * 1024) /* default receive limit per datagram */
#define SB__UDP_MAX_RECV 64              /* datagrams read per readiness event */
#define SB__UDP_LIMIT (16 * 1024 * 1024) /* largest max_datagram accepted */

/*
 * sb_connect() on addresses already resolved, tried in order (tests use it
 * to check the fallback from one address to the next).
 */
sb_conn *sb__connect_addrs(sb_loop *loop, const sb__addr *addrs, size_t n,
                           const sb_handler *handler, void *udata,
                           const sb_connect_opts *opts, int *err);

#endif /* SB_INTERNAL_H */
