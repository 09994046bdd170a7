/*
 * sb-chatd — a line-based chat server on switchboard (telnet / nc clients).
 *
 *   /nick NAME   change your name          /who    list who is here
 *   /quit        leave                     text    said to everyone else
 *
 * Lines are framed by the library (delimiter "\n", a trailing "\r" is
 * dropped, at most --max-line bytes; an over-long line is answered with a
 * notice and skipped).  Each client's pending output is capped
 * (--max-output): a client that stops reading is disconnected once it falls
 * that far behind, with a notice to the others, so it never stalls them.
 */
#include "switchboard.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTEN 16
#define NICK_MAX 20

typedef struct client client;
struct client {
    sb_conn *conn;
    char nick[NICK_MAX + 1];
    int gone; /* disconnected or leaving: skip in broadcasts */
    client *next, *prev;
};

typedef struct chatd {
    sb_loop *loop;
    sb_listener *listeners[MAX_LISTEN];
    int nlisteners;
    sb_signal *sigs[3];
    client *clients;
    unsigned long next_guest;
    size_t max_line;
    int log_level;
} chatd;

static void say(client *to, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void broadcast(chatd *d, client *except, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Queue text for one client.  A client whose output is at its cap has
 * stopped reading: drop it (sb_abort discards what it never read).
 */
static void send_text(client *to, const char *text, size_t len)
{
    int rc;

    if (to->gone)
        return;
    rc = sb_write(to->conn, text, len);
    if (rc == 0)
        return;
    to->gone = 1;
    if (rc != SB_ECLOSED)
        sb_abort(to->conn); /* on_close tells the others */
}

static void vsay(client *to, const char *fmt, va_list ap)
{
    char buf[1024];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);

    if (n < 0)
        return;
    send_text(to, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void say(client *to, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(to, fmt, ap);
    va_end(ap);
}

static void broadcast(chatd *d, client *except, const char *fmt, ...)
{
    char buf[2048];
    client *c;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = (int)sizeof(buf) - 1;
    for (c = d->clients; c; c = c->next)
        if (c != except && !c->gone)
            send_text(c, buf, (size_t)n);
}

static client *find_nick(chatd *d, const char *nick)
{
    client *c;
    for (c = d->clients; c; c = c->next)
        if (!c->gone && strcmp(c->nick, nick) == 0)
            return c;
    return NULL;
}

static int valid_nick(const char *s, size_t len)
{
    size_t i;
    if (len == 0 || len > NICK_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static void chat_open(sb_conn *conn, void *udata)
{
    chatd *d = udata;
    client *c = calloc(1, sizeof(*c));

    if (!c) {
        sb_abort(conn);
        return;
    }
    c->conn = conn;
    do
        snprintf(c->nick, sizeof(c->nick), "guest%lu", ++d->next_guest);
    while (find_nick(d, c->nick));
    c->next = d->clients;
    if (c->next)
        c->next->prev = c;
    d->clients = c;
    /* From now on this connection's callbacks get its client. */
    sb_conn_set_udata(conn, c);
    sb_frame_line(conn, d->max_line);
    say(c, "* welcome, %s. Commands: /nick NAME, /who, /quit\n", c->nick);
    broadcast(d, c, "* %s joined\n", c->nick);
}

static chatd *the_server; /* one server per process */

static void chat_line(sb_conn *conn, const char *line, size_t len, void *udata)
{
    client *c = udata;
    chatd *d = the_server;

    (void)conn;
    if (len && line[len - 1] == '\r')
        len--; /* telnet sends CRLF */
    if (len == 0 || c->gone)
        return;
    if (line[0] != '/') {
        broadcast(d, c, "%s: %.*s\n", c->nick, (int)len, line);
        return;
    }
    if (len > 6 && strncmp(line, "/nick ", 6) == 0) {
        const char *name = line + 6;
        size_t nlen = len - 6;
        char old[NICK_MAX + 1], want[NICK_MAX + 1];
        if (!valid_nick(name, nlen)) {
            say(c, "* invalid name (1-%d letters, digits, _ or -)\n", NICK_MAX);
            return;
        }
        memcpy(want, name, nlen);
        want[nlen] = '\0';
        if (find_nick(d, want)) {
            say(c, "* %s is taken\n", want);
            return;
        }
        strcpy(old, c->nick);
        strcpy(c->nick, want);
        say(c, "* you are now %s\n", c->nick);
        broadcast(d, c, "* %s is now known as %s\n", old, c->nick);
    } else if (len == 4 && strncmp(line, "/who", 4) == 0) {
        char buf[1024];
        size_t at = 0;
        client *o;
        at += (size_t)snprintf(buf, sizeof(buf), "* online:");
        for (o = d->clients; o && at < sizeof(buf) - NICK_MAX - 8; o = o->next)
            if (!o->gone)
                at += (size_t)snprintf(buf + at, sizeof(buf) - at, " %s", o->nick);
        say(c, "%s\n", buf);
    } else if (len == 5 && strncmp(line, "/quit", 5) == 0) {
        say(c, "* bye, %s\n", c->nick);
        broadcast(d, c, "* %s left\n", c->nick);
        c->gone = 1;
        sb_close(c->conn);
    } else {
        say(c, "* unknown command %.*s (try /nick NAME, /who, /quit)\n",
            (int)(len > 32 ? 32 : len), line);
    }
}

static int chat_too_long(sb_conn *conn, int err, void *udata)
{
    client *c = udata;
    (void)conn;
    (void)err;
    say(c, "* line too long (at most %zu bytes); ignored\n", the_server->max_line);
    return 1; /* skip the line, keep the client */
}

static void chat_close(sb_conn *conn, int reason, void *udata)
{
    client *c = udata;
    chatd *d = the_server;

    (void)conn;
    if ((void *)c == (void *)d)
        return; /* on_open could not allocate: udata is still the server */
    if (c->prev)
        c->prev->next = c->next;
    else
        d->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (reason == SB_EABORTED)
        broadcast(d, NULL, "* %s was disconnected (not reading)\n", c->nick);
    else if (!c->gone || reason)
        broadcast(d, NULL, "* %s left\n", c->nick);
    if (d->log_level >= SB_LOG_INFO)
        fprintf(stderr, "sb-chatd: %s closed: %s\n", c->nick, sb_strerror(reason));
    free(c);
}

static void on_signal(sb_signal *s, int signum, void *udata)
{
    chatd *d = udata;
    int i;

    (void)s;
    fprintf(stderr, "sb-chatd: %s: shutting down\n", strsignal(signum));
    for (i = 0; i < d->nlisteners; i++) {
        sb_listener_close(d->listeners[i]);
        d->listeners[i] = NULL;
    }
    broadcast(d, NULL, "* server shutting down\n");
    for (client *c = d->clients; c; c = c->next) {
        c->gone = 1;
        sb_close(c->conn);
    }
    for (i = 0; i < 3; i++) {
        sb_signal_free(d->sigs[i]);
        d->sigs[i] = NULL;
    }
}

/* SIGUSR1: the reactor's counters on stderr. */
static void on_usr1(sb_signal *s, int signum, void *udata)
{
    chatd *d = udata;
    sb_stats st;
    char buf[512];

    (void)s;
    (void)signum;
    sb_loop_stats(d->loop, &st);
    sb_stats_format(&st, buf, sizeof(buf));
    fprintf(stderr, "sb-chatd: stats: %s\n", buf);
}

static void log_cb(int level, const char *msg, void *udata)
{
    (void)udata;
    fprintf(stderr, "sb-chatd: %s%s\n", level == SB_LOG_ERROR ? "error: " : "", msg);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-chatd [options]\n"
            "A line-based chat server (use telnet or nc as clients).\n\n"
            "  -l, --listen ADDR        listen on ADDR (repeatable; default 127.0.0.1:7778)\n"
            "  -c, --max-conns N        at most N clients at once (0 = no limit)\n"
            "  -m, --max-line BYTES     longest line accepted (default 1024)\n"
            "  -o, --max-output BYTES   output queued for a client before it is\n"
            "                           disconnected as too slow (default 262144)\n"
            "  -t, --idle-timeout SECS  disconnect clients idle this long (0 = never)\n"
            "  -u, --user NAME          drop root privileges to NAME after binding\n"
            "  -L, --log-level LEVEL    error, warn, info or debug (default warn)\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n");
}

static int parse_num(const char *opt, const char *s, unsigned long long min,
                     unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (!*s || *s == '-' || *s == '+')
        goto bad;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "sb-chatd: invalid %s '%s' (want an integer %llu..%llu)\n", opt, s, min,
            max);
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"max-conns", required_argument, NULL, 'c'},
        {"max-line", required_argument, NULL, 'm'},
        {"max-output", required_argument, NULL, 'o'},
        {"idle-timeout", required_argument, NULL, 't'},
        {"user", required_argument, NULL, 'u'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const char *levels[] = {"error", "warn", "info", "debug"};
    const char *addrs[MAX_LISTEN], *user = NULL;
    int naddrs = 0, opt, i, err = 0, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    chatd d;

    memset(&d, 0, sizeof(d));
    memset(&lo, 0, sizeof(lo));
    d.max_line = 1024;
    d.log_level = SB_LOG_WARN;
    lo.max_output = 256 * 1024;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":l:c:m:o:t:u:L:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (naddrs == MAX_LISTEN) {
                fprintf(stderr, "sb-chatd: at most %d --listen addresses\n", MAX_LISTEN);
                return 2;
            }
            addrs[naddrs++] = optarg;
            break;
        case 'c':
            if (parse_num("--max-conns", optarg, 0, UINT_MAX, &v))
                return 2;
            lo.max_conns = (unsigned)v;
            break;
        case 'm':
            if (parse_num("--max-line", optarg, 1, 1 << 24, &v))
                return 2;
            d.max_line = (size_t)v;
            break;
        case 'o':
            if (parse_num("--max-output", optarg, 1024, SIZE_MAX / 2, &v))
                return 2;
            lo.max_output = (size_t)v;
            break;
        case 't':
            if (parse_num("--idle-timeout", optarg, 0, UINT_MAX / 1000, &v))
                return 2;
            lo.idle_timeout_ms = (unsigned)v * 1000u;
            break;
        case 'u':
            user = optarg;
            break;
        case 'L':
            for (d.log_level = 3; d.log_level >= 0; d.log_level--)
                if (strcmp(optarg, levels[d.log_level]) == 0)
                    break;
            if (d.log_level < 0) {
                fprintf(stderr,
                        "sb-chatd: invalid --log-level '%s' (want error, warn, info or debug)\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("sb-chatd (switchboard) %s\n", SB_VERSION_STRING);
            return 0;
        case ':':
            fprintf(stderr, "sb-chatd: option '%s' needs a value (see --help)\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "sb-chatd: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sb-chatd: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (naddrs == 0)
        addrs[naddrs++] = "127.0.0.1:7778";
    /* The output cap must leave room above the read-pause mark. */
    lo.high_water = lo.max_output / 2;

    the_server = &d;
    d.loop = sb_loop_new();
    if (!d.loop) {
        fprintf(stderr, "sb-chatd: cannot create the event loop: out of memory\n");
        return 1;
    }
    sb_loop_set_log(d.loop, log_cb, d.log_level, &d);
    memset(&h, 0, sizeof(h));
    h.on_open = chat_open;
    h.on_data = chat_line;
    h.on_close = chat_close;
    h.on_frame_error = chat_too_long;
    rc = 0;
    for (i = 0; i < naddrs && rc == 0; i++) {
        d.listeners[i] = sb_listen(d.loop, addrs[i], &h, &d, &lo, &err);
        if (!d.listeners[i]) {
            fprintf(stderr, "sb-chatd: cannot listen on '%s': %s\n", addrs[i], sb_strerror(err));
            rc = 1;
        } else {
            d.nlisteners++;
        }
    }
    if (rc == 0) {
        d.sigs[0] = sb_signal_new(d.loop, SIGTERM, on_signal, &d, &err);
        d.sigs[1] = sb_signal_new(d.loop, SIGINT, on_signal, &d, &err);
        d.sigs[2] = sb_signal_new(d.loop, SIGUSR1, on_usr1, &d, &err);
        if (!d.sigs[0] || !d.sigs[1] || !d.sigs[2]) {
            fprintf(stderr, "sb-chatd: cannot watch signals: %s\n", sb_strerror(err));
            rc = 1;
        }
    }
    if (rc == 0 && user && (err = sb_drop_privileges(user)) != 0) {
        fprintf(stderr, "sb-chatd: cannot switch to user '%s': %s\n", user,
                err == -ENOENT ? "no such user" : sb_strerror(err));
        rc = 1;
    }
    if (rc == 0) {
        for (i = 0; i < d.nlisteners; i++) {
            char buf[160];
            sb_listener_addr(d.listeners[i], buf, sizeof(buf));
            fprintf(stderr, "sb-chatd %s: listening on %s\n", SB_VERSION_STRING, buf);
        }
        rc = sb_loop_run(d.loop) < 0 ? 1 : 0;
    }
    for (i = 0; i < d.nlisteners; i++)
        sb_listener_close(d.listeners[i]);
    for (i = 0; i < 3; i++)
        sb_signal_free(d.sigs[i]);
    if (sb_loop_free(d.loop) == SB_EBUSY) {
        for (client *c = d.clients; c; c = c->next)
            sb_abort(c->conn);
        sb_loop_run_once(d.loop, 0);
        sb_loop_free(d.loop);
    }
    return rc;
}
