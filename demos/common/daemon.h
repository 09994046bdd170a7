/*
 * What every switchboard demo daemon shares, written once: option parsing
 * helpers, the listen loop, the open-file limit, signals (SIGTERM/SIGINT
 * shutdown with a grace period, SIGUSR1 counters), --user, the log hook,
 * and the teardown.  Each daemon's main() keeps only what is its own.
 *
 * Shutdown, the same in every daemon:
 *   first SIGTERM/SIGINT  close the listeners, call on_stop (default:
 *                         sb_loop_close_all: flush and close every client);
 *                         sb_loop_run returns once the last client is gone
 *   --grace      the loop stops; sbd_cleanup resets the clients
 *   later (default 5 s),  still open (sb_abort) and reaps them
 *   or a second signal
 * The exit status is 0 in all three cases.
 *
 * Built on the public header only, like the demos themselves.
 */
#ifndef SB_DEMO_DAEMON_H
#define SB_DEMO_DAEMON_H

#include "switchboard.h"

#include <stdio.h>

#define SBD_MAX_LISTEN 16
#define SBD_GRACE_MS 5000
/* Descriptors kept beside the clients: listeners, the loop's self-pipe and
 * spare fd, logs, files a daemon opens for itself. */
#define SBD_FD_RESERVE 32

typedef struct sbd sbd;

struct sbd {
    const char *name; /* "sb-echod": starts every message */
    sb_loop *loop;
    int log_level;    /* SB_LOG_*, from --log-level */
    const char *addrs[SBD_MAX_LISTEN]; /* --listen, in order */
    int naddrs;
    sb_listener *listeners[SBD_MAX_LISTEN];
    int nlisteners;
    unsigned long conns; /* clients open: sbd_conn_opened / sbd_conn_closed */
    int stopping;        /* the first signal arrived */
    unsigned grace_ms;   /* --grace (default SBD_GRACE_MS) */
    unsigned max_conns;  /* --max-conns (0: no limit; set a default before parsing) */
    unsigned fds_per_conn; /* descriptors a client costs (0: 1; a proxy: 2) */
    unsigned idle_ms;    /* --idle-timeout in ms (0: never; the same) */
    const char *user;    /* --user, or NULL */
    const char *backend; /* --backend, or NULL (SB_BACKEND, else select) */
    /* First signal, after the listeners are closed: free what keeps the
     * loop running besides the clients (timers, UDP endpoints) and start
     * closing the clients.  NULL: sb_loop_close_all. */
    void (*on_stop)(sbd *d);
    void *app; /* the daemon's own state, for on_stop */
    sb_signal *sigs[3];
    sb_timer *grace;
    sb_timer *trim; /* gives memory back once the last client is gone */
    uint64_t trimmed_at; /* loop clock of the last trim (0: none yet) */
};

/* Zero d; set its name, the defaults of --max-conns and --idle-timeout
 * (seconds) and the log level (warn); quiet getopt's own messages. */
void sbd_init(sbd *d, const char *name, unsigned max_conns, unsigned idle_s);

/* --------------------------------------------------------------- options */

/* An integer in min..max.  0, or -1 with one line on stderr. */
int sbd_parse_uint(const sbd *d, const char *opt, const char *s, unsigned long long min,
                   unsigned long long max, unsigned long long *out);
/* The same with an optional k, m or g suffix (KiB, MiB, GiB). */
int sbd_parse_size(const sbd *d, const char *opt, const char *s, unsigned long long min,
                   unsigned long long max, unsigned long long *out);
/* --log-level: error, warn, info or debug into d->log_level. */
int sbd_parse_level(sbd *d, const char *s);
/*
 * The options every daemon has, for getopt_long: append SBD_LONG_OPTIONS to
 * the daemon's own struct option table and SBD_SHORT_OPTIONS to its option
 * string (after the leading ':'), and hand every getopt result the daemon
 * does not take itself to sbd_option():
 *   -l --listen ADDR   -c --max-conns N   -t --idle-timeout SECS
 *   -U --user NAME     -L --log-level LEVEL   -G --grace SECS
 *   --backend select|poll|epoll (no short form)
 *   -h --help (usage(stdout))   -V --version
 * Returns SBD_OPT_NEXT when it took the option, else the exit status: 0
 * after --help or --version, 2 for a bad value or an unknown option (one
 * line on stderr).
 */
#define SBD_OPT_NEXT (-1)
#define SBD_OPT_BACKEND 0x100
#define SBD_SHORT_OPTIONS "l:c:t:U:L:G:hV"
#define SBD_LONG_OPTIONS                                                                       \
    {"listen", required_argument, NULL, 'l'}, {"max-conns", required_argument, NULL, 'c'},     \
        {"idle-timeout", required_argument, NULL, 't'},                                        \
        {"user", required_argument, NULL, 'U'}, {"log-level", required_argument, NULL, 'L'},   \
        {"grace", required_argument, NULL, 'G'}, {"help", no_argument, NULL, 'h'},             \
        {"backend", required_argument, NULL, SBD_OPT_BACKEND},                                 \
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}
int sbd_option(sbd *d, int opt, const char *arg, char **argv, void (*usage)(FILE *));
/* --listen ADDR (repeatable). */
int sbd_add_listen(sbd *d, const char *addr);
/* getopt_long returned ':' or '?': print why.  Returns 2, the exit status. */
int sbd_bad_option(const sbd *d, int opt, char **argv);
/* Arguments left after the options: print the first.  0 when none, else 2. */
int sbd_no_operands(const sbd *d, int argc, char **argv);
/* -V: "NAME (switchboard) VERSION" on stdout.  Returns 0. */
int sbd_version(const sbd *d);

/* ------------------------------------------------------------- lifecycle */

/*
 * Create the loop with the log hook, and raise the soft open-file limit
 * toward the hard one: to max_conns * fds_per_conn + SBD_FD_RESERVE, or to the hard limit
 * when max_conns is 0 (no limit).  Says on stderr what it got.  0, or 1
 * (the exit status) with a message.
 */
int sbd_open(sbd *d, unsigned max_conns);

/* Listen on every --listen address (default_addr when none was given).
 * 0, or 1 with a message naming the address. */
int sbd_listen(sbd *d, const char *default_addr, const sb_handler *h, void *udata,
               const sb_listen_opts *lo);

/*
 * Watch SIGTERM, SIGINT and SIGUSR1, drop privileges to d->user (NULL: stay),
 * print "NAME VERSION: listening on ADDR" for each listener, followed by
 * what (NULL: nothing).  0, or 1 with a message.
 */
int sbd_start(sbd *d, const char *what);

/* sb_loop_run; returns the exit status (0, or 1 if the loop failed). */
int sbd_run(sbd *d);

/* The server a connection belongs to: its listener's udata (what the
 * daemon gave sb_listen), also while the listener is closing. */
static inline void *sbd_server(const sb_conn *c)
{
    return sb_listener_udata(sb_conn_listener(c));
}

/* Count a client in on_open, and out in on_close: call it from on_close of
 * every accepted connection, even one whose on_open could not set it up;
 * it counts out only those that opened (sb_conn_opened: a failed TLS
 * handshake has an on_close and no on_open).  When the last client is
 * gone, the memory of past bursts is given back to the system (malloc_trim,
 * glibc) right after that iteration, or a second after the previous trim
 * if that was sooner. */
void sbd_conn_opened(sbd *d);
void sbd_conn_closed(sbd *d, const sb_conn *c);

/*
 * Close what is left: listeners, signal watchers, the grace timer; reset
 * the clients still open and let their on_close run; free the loop.  The
 * daemon frees its own timers and UDP endpoints first (on_stop did, on the
 * way out through a signal), and its own state after.
 */
void sbd_cleanup(sbd *d);

#endif
