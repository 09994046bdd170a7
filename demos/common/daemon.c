/* The demo daemons' shared scaffolding (see daemon.h). */
#include "daemon.h"

#include <ctype.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif
#include <getopt.h>
#include <unistd.h>

void sbd_init(sbd *d, const char *name, unsigned max_conns, unsigned idle_s)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->max_conns = max_conns;
    d->idle_ms = idle_s * 1000u;
    opterr = 0;
    d->log_level = SB_LOG_WARN;
    d->grace_ms = SBD_GRACE_MS;
}

/* ------------------------------------------------------------- options */

static int parse_number(const sbd *d, const char *opt, const char *s, int suffix,
                        unsigned long long min, unsigned long long max, unsigned long long *out)
{
    unsigned long long v, mul = 1;
    char *end;

    errno = 0;
    if (!isdigit((unsigned char)*s))
        goto bad;
    v = strtoull(s, &end, 10);
    if (suffix && *end && !end[1]) {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mul = 1ull << 10;
            break;
        case 'm':
            mul = 1ull << 20;
            break;
        case 'g':
            mul = 1ull << 30;
            break;
        default:
            goto bad;
        }
    } else if (*end) {
        goto bad;
    }
    if (errno || v > ULLONG_MAX / mul || v * mul < min || v * mul > max)
        goto bad;
    *out = v * mul;
    return 0;
bad:
    fprintf(stderr, "%s: invalid %s '%s' (want an integer %llu..%llu%s)\n", d->name, opt, s, min,
            max, suffix ? ", suffix k, m or g allowed" : "");
    return -1;
}

int sbd_parse_uint(const sbd *d, const char *opt, const char *s, unsigned long long min,
                   unsigned long long max, unsigned long long *out)
{
    return parse_number(d, opt, s, 0, min, max, out);
}

int sbd_parse_size(const sbd *d, const char *opt, const char *s, unsigned long long min,
                   unsigned long long max, unsigned long long *out)
{
    return parse_number(d, opt, s, 1, min, max, out);
}

int sbd_parse_level(sbd *d, const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    int i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            d->log_level = i;
            return 0;
        }
    }
    fprintf(stderr, "%s: invalid --log-level '%s' (want error, warn, info or debug)\n", d->name,
            s);
    return -1;
}

int sbd_option(sbd *d, int opt, const char *arg, char **argv, void (*usage)(FILE *))
{
    unsigned long long v;

    switch (opt) {
    case 'l':
        return sbd_add_listen(d, arg) ? 2 : SBD_OPT_NEXT;
    case 'c':
        if (sbd_parse_uint(d, "--max-conns", arg, 0, UINT_MAX, &v))
            return 2;
        d->max_conns = (unsigned)v;
        return SBD_OPT_NEXT;
    case 't':
        if (sbd_parse_uint(d, "--idle-timeout", arg, 0, UINT_MAX / 1000, &v))
            return 2;
        d->idle_ms = (unsigned)v * 1000u;
        return SBD_OPT_NEXT;
    case 'U':
        d->user = arg;
        return SBD_OPT_NEXT;
    case 'L':
        return sbd_parse_level(d, arg) ? 2 : SBD_OPT_NEXT;
    case 'G':
        if (sbd_parse_uint(d, "--grace", arg, 0, 86400, &v))
            return 2;
        d->grace_ms = (unsigned)v * 1000u;
        return SBD_OPT_NEXT;
    case SBD_OPT_BACKEND:
        if (strcmp(arg, "select") && strcmp(arg, "poll") && strcmp(arg, "epoll")) {
            fprintf(stderr, "%s: invalid --backend '%s' (want select, poll or epoll)\n", d->name,
                    arg);
            return 2;
        }
        d->backend = arg;
        return SBD_OPT_NEXT;
    case 'h':
        usage(stdout);
        return 0;
    case 'V':
        return sbd_version(d);
    default:
        return sbd_bad_option(d, opt, argv);
    }
}

int sbd_add_listen(sbd *d, const char *addr)
{
    if (d->naddrs == SBD_MAX_LISTEN) {
        fprintf(stderr, "%s: at most %d --listen addresses\n", d->name, SBD_MAX_LISTEN);
        return -1;
    }
    d->addrs[d->naddrs++] = addr;
    return 0;
}

int sbd_bad_option(const sbd *d, int opt, char **argv)
{

    if (opt == ':')
        fprintf(stderr, "%s: option '%s' needs a value (see --help)\n", d->name,
                argv[optind - 1]);
    else
        fprintf(stderr, "%s: unknown option '%s' (see --help)\n", d->name, argv[optind - 1]);
    return 2;
}

int sbd_no_operands(const sbd *d, int argc, char **argv)
{

    if (optind >= argc)
        return 0;
    fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", d->name, argv[optind]);
    return 2;
}

int sbd_version(const sbd *d)
{
    printf("%s (switchboard) %s\n", d->name, SB_VERSION_STRING);
    return 0;
}

/* ----------------------------------------------------------- lifecycle */

static void log_cb(int level, const char *msg, void *udata)
{
    sbd *d = udata;
    fprintf(stderr, "%s: %s%s\n", d->name, level == SB_LOG_ERROR ? "error: " : "", msg);
}

/*
 * Servers raise their soft open-file limit at start (nginx's
 * worker_rlimit_nofile, Redis' maxclients adjustment): the common default
 * of 1,024 would shed clients long before --max-conns.
 */
#ifdef _WIN32
/* Windows: no open-file limit for sockets. */
static void raise_fd_limit(sbd *d, unsigned max_conns)
{
    (void)d;
    (void)max_conns;
}
#else
static void raise_fd_limit(sbd *d, unsigned max_conns)
{
    unsigned per = d->fds_per_conn ? d->fds_per_conn : 1;
    unsigned long long need = (unsigned long long)max_conns * per + SBD_FD_RESERVE;
    struct rlimit rl;
    rlim_t want, was;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    was = rl.rlim_cur;
    want = max_conns ? (rlim_t)need : rl.rlim_max;
    if (want > rl.rlim_max)
        want = rl.rlim_max;
    if (want > was) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur != was)
        fprintf(stderr, "%s: open-file limit raised from %llu to %llu\n", d->name,
                (unsigned long long)was, (unsigned long long)rl.rlim_cur);
    if (max_conns && (rlim_t)need > rl.rlim_cur)
        fprintf(stderr,
                "%s: warning: --max-conns %u needs %llu open files but the limit is %llu (hard "
                "limit %llu); clients past about %llu are shed\n",
                d->name, max_conns, need, (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_max,
                rl.rlim_cur > SBD_FD_RESERVE
                    ? ((unsigned long long)rl.rlim_cur - SBD_FD_RESERVE) / per
                    : 0ull);
}
#endif

int sbd_open(sbd *d, unsigned max_conns)
{
    sb_loop_opts lo = {d->backend};
    int err = 0;

    d->loop = sb_loop_new_opts(&lo, &err);
    if (!d->loop) {
        const char *b = d->backend ? d->backend
                        : getenv("SB_BACKEND") ? getenv("SB_BACKEND")
                                               : "select";
        if (err == -ENOSYS)
            fprintf(stderr,
                    "%s: backend %s is not available on this platform or build "
                    "(epoll: Linux only, not in a PORTABLE build); use select or poll\n",
                    d->name, b);
        else
            fprintf(stderr, "%s: cannot create the event loop (backend %s): %s\n", d->name, b,
                    sb_strerror(err));
        return 1;
    }
    sb_loop_set_log(d->loop, log_cb, d->log_level, d);
    raise_fd_limit(d, max_conns);
    return 0;
}

int sbd_listen(sbd *d, const char *default_addr, const sb_handler *h, void *udata,
               const sb_listen_opts *lo)
{
    int i, err = 0;

    if (d->naddrs == 0)
        d->addrs[d->naddrs++] = default_addr;
    for (i = 0; i < d->naddrs; i++) {
        d->listeners[i] = sb_listen(d->loop, d->addrs[i], h, udata, lo, &err);
        if (!d->listeners[i]) {
            fprintf(stderr, "%s: cannot listen on '%s': %s\n", d->name, d->addrs[i],
                    sb_strerror(err));
            return 1;
        }
        d->nlisteners++;
    }
    return 0;
}

static void close_listeners(sbd *d)
{
    int i;

    for (i = 0; i < d->nlisteners; i++) {
        sb_listener_close(d->listeners[i]);
        d->listeners[i] = NULL;
    }
}

#ifndef _WIN32
static void on_usr1(sb_signal *s, int signum, void *udata)
{
    sbd *d = udata;
    sb_loop_stats st;
    char buf[512];

    (void)s;
    (void)signum;
    sb_loop_get_stats(d->loop, &st);
    sb_loop_stats_format(&st, buf, sizeof(buf));
    fprintf(stderr, "%s: stats: %s\n", d->name, buf);
}
#endif

#ifdef _WIN32
/* No strsignal() on Windows: the two signals there are. */
static const char *strsignal(int signum)
{
    return signum == SIGINT ? "Interrupt" : signum == SIGTERM ? "Terminated" : "Signal";
}
#endif

static void grace_expired(sb_timer *t, void *udata)
{
    sbd *d = udata;

    (void)t;
    fprintf(stderr, "%s: shutdown grace period over; resetting %lu clients\n", d->name, d->conns);
    sb_loop_stop(d->loop);
}

/* At most one trim a second: under connect-and-close churn the count
 * touches 0 again and again, and each trim unmaps pages the next burst
 * faults back in (3% of sb-httpd's CPU in a TLS handshake run). */
#define TRIM_EVERY_MS 1000

static void trim_memory(sb_timer *t, void *udata)
{
    sbd *d = udata;

    (void)t;
    if (d->conns)
        return; /* clients came back meanwhile */
    d->trimmed_at = sb_loop_now(d->loop);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void on_signal(sb_signal *s, int signum, void *udata)
{
    sbd *d = udata;

    (void)s;
    if (d->stopping) {
        fprintf(stderr, "%s: %s again: resetting %lu clients\n", d->name, strsignal(signum),
                d->conns);
        sb_loop_stop(d->loop);
        return;
    }
    d->stopping = 1;
    sb_timer_free(d->trim); /* it would keep the loop running */
    d->trim = NULL;
    fprintf(stderr, "%s: %s: closing listeners, flushing clients\n", d->name, strsignal(signum));
    close_listeners(d);
    if (d->on_stop)
        d->on_stop(d);
    else
        sb_loop_close_all(d->loop);
    /* With no client left, nothing keeps sb_loop_run going. */
    if (d->conns > 0 && sb_timer_start(d->grace, d->grace_ms, 0) != 0)
        sb_loop_stop(d->loop); /* cannot time the grace period: do not wait */
}

int sbd_start(sbd *d, const char *what)
{
    const char *user = d->user;
    int i, err = 0;

    d->grace = sb_timer_new(d->loop, grace_expired, d);
    d->trim = sb_timer_new(d->loop, trim_memory, d);
    d->sigs[0] = sb_signal_new(d->loop, SIGTERM, on_signal, d, &err);
    if (d->sigs[0])
        d->sigs[1] = sb_signal_new(d->loop, SIGINT, on_signal, d, &err);
#ifdef _WIN32
    /* Windows: SIGTERM and SIGINT are console events; there is no SIGUSR1. */
    if (!d->grace || !d->trim || !d->sigs[1]) {
#else
    if (d->sigs[1])
        d->sigs[2] = sb_signal_new(d->loop, SIGUSR1, on_usr1, d, &err);
    if (!d->grace || !d->trim || !d->sigs[2]) {
#endif
        fprintf(stderr, "%s: cannot watch signals: %s\n", d->name,
                sb_strerror(err ? err : -ENOMEM));
        return 1;
    }
    if (user && (err = sb_drop_privileges(user)) != 0) {
        fprintf(stderr, "%s: cannot switch to user '%s': %s\n", d->name, user,
                err == -ENOENT ? "no such user" : sb_strerror(err));
        return 1;
    }
    for (i = 0; i < d->nlisteners; i++) {
        char buf[160];
        sb_listener_local(d->listeners[i], buf, sizeof(buf));
        fprintf(stderr, "%s %s: listening on %s%s%s%s%s\n", d->name, SB_VERSION_STRING, buf,
                what ? what : "", strcmp(sb_loop_backend(d->loop), "select") ? " (" : "",
                strcmp(sb_loop_backend(d->loop), "select") ? sb_loop_backend(d->loop) : "",
                strcmp(sb_loop_backend(d->loop), "select") ? ")" : "");
    }
    return 0;
}

int sbd_run(sbd *d)
{
    int rc = sb_loop_run(d->loop);

    if (rc < 0)
        fprintf(stderr, "%s: event loop failed: %s\n", d->name, sb_strerror(rc));
    return rc < 0 ? 1 : 0;
}

void sbd_conn_opened(sbd *d)
{
    d->conns++;
}

void sbd_conn_closed(sbd *d, const sb_conn *c)
{
    if (!sb_conn_opened(c))
        return; /* never counted in (a handshake that failed) */
    if (--d->conns > 0)
        return;
    if (d->stopping)
        sb_timer_stop(d->grace); /* nothing left to wait for */
    else if (d->trim && !sb_timer_active(d->trim)) {
        /* After this connection is freed, and a second after the last. */
        uint64_t since = sb_loop_now(d->loop) - d->trimmed_at;
        sb_timer_start(d->trim, d->trimmed_at && since < TRIM_EVERY_MS ? TRIM_EVERY_MS - since : 0,
                       0);
    }
}

static void abort_conn(sb_conn *c, void *udata)
{
    (void)udata;
    sb_abort(c);
}

void sbd_cleanup(sbd *d)
{
    int i;

    close_listeners(d);
    for (i = 0; i < 3; i++) {
        sb_signal_free(d->sigs[i]);
        d->sigs[i] = NULL;
    }
    sb_timer_free(d->grace);
    d->grace = NULL;
    sb_timer_free(d->trim);
    d->trim = NULL;
    if (!d->loop)
        return;
    if (sb_loop_free(d->loop) == SB_EBUSY) {
        /* Clients left after the grace period or a second signal: reset
         * them; their on_close runs at the end of this iteration. */
        sb_loop_walk(d->loop, abort_conn, NULL);
        sb_loop_run_once(d->loop, 0);
        if (sb_loop_free(d->loop) != 0)
            fprintf(stderr, "%s: error: handles still open at exit\n", d->name);
    }
    d->loop = NULL;
}
