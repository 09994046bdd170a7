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
#include "daemon.h"
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

#define NICK_MAX 20
#define DEFAULT_MAX_CONNS 1000
#define DEFAULT_IDLE_S 3600

typedef struct client client;
struct client {
    sb_conn *conn;
    char nick[NICK_MAX + 1];
    int gone; /* disconnected or leaving: skip in broadcasts */
    client *next, *prev;
};

typedef struct chatd {
    sbd sbd; /* the daemon scaffolding: loop, listeners, signals */
    client *clients;
    unsigned long next_guest;
    size_t max_line;
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

/* "nick: text\n" to everyone but the sender, whole however long the line
 * (--max-line bounds it). */
static void relay(chatd *d, client *from, const char *text, size_t len)
{
    size_t nl = strlen(from->nick), total = nl + 2 + len + 1;
    char stack[2048], *buf = total <= sizeof(stack) ? stack : malloc(total);
    client *c;

    if (!buf)
        return;
    memcpy(buf, from->nick, nl);
    memcpy(buf + nl, ": ", 2);
    memcpy(buf + nl + 2, text, len);
    buf[total - 1] = '\n';
    for (c = d->clients; c; c = c->next)
        if (c != from && !c->gone)
            send_text(c, buf, total);
    if (buf != stack)
        free(buf);
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

    sbd_conn_opened(&d->sbd);
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
    sb_conn_framer_line(conn, d->max_line);
    say(c, "* welcome, %s. Commands: /nick NAME, /who, /quit\n", c->nick);
    broadcast(d, c, "* %s joined\n", c->nick);
}


static void chat_line(sb_conn *conn, const char *line, size_t len, void *udata)
{
    client *c = udata;
    chatd *d = sbd_server(conn);

    if (len == 0 || c->gone) /* the line framer strips "\n" and "\r\n" alike */
        return;
    if (line[0] != '/') {
        relay(d, c, line, len);
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
    (void)err;
    say(c, "* line too long (at most %zu bytes); ignored\n", ((chatd *)sbd_server(conn))->max_line);
    return 1; /* skip the line, keep the client */
}

static void chat_close(sb_conn *conn, int reason, void *udata)
{
    client *c = udata;
    chatd *d = sbd_server(conn);

    sbd_conn_closed(&d->sbd, conn);
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
    if (d->sbd.log_level >= SB_LOG_INFO)
        fprintf(stderr, "sb-chatd: %s closed: %s\n", c->nick, sb_strerror(reason));
    free(c);
}

/* First SIGTERM/SIGINT: tell everyone, then flush and close each client. */
static void chat_stop(sbd *sd)
{
    chatd *d = sd->app;

    broadcast(d, NULL, "* server shutting down\n");
    for (client *c = d->clients; c; c = c->next) {
        c->gone = 1;
        sb_close(c->conn);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-chatd [options]\n"
            "A line-based chat server (use telnet or nc as clients).\n\n"
            "  -l, --listen ADDR        listen on ADDR (repeatable; default 127.0.0.1:7778)\n"
            "                           ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -c, --max-conns N        at most N clients at once (default 1000;\n"
            "                           0 = no limit)\n"
            "  -m, --max-line BYTES     longest line accepted (default 1024)\n"
            "  -o, --max-output BYTES   output queued for a client before it is\n"
            "                           disconnected as too slow (default 262144)\n"
            "  -t, --idle-timeout SECS  disconnect clients idle this long (0 = never;\n"
            "                           default 3600)\n"
            "  -U, --user NAME          drop root privileges to NAME after binding\n"
            "  -L, --log-level LEVEL    error, warn, info or debug (default warn)\n"
            "  -G, --grace SECS         on SIGTERM/SIGINT, wait this long for clients\n"
            "                           to finish, then reset them (default 5)\n"
            "      --backend NAME       how to wait for readiness: select (default),\n"
            "                           poll or epoll\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"max-line", required_argument, NULL, 'm'},
        {"max-output", required_argument, NULL, 'o'},
        SBD_LONG_OPTIONS,
    };
    int opt, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    chatd d;

    memset(&d, 0, sizeof(d));
    memset(&lo, 0, sizeof(lo));
    sbd_init(&d.sbd, "sb-chatd", DEFAULT_MAX_CONNS, DEFAULT_IDLE_S);
    d.max_line = 1024;
    lo.conn.max_output = 256 * 1024;
    while ((opt = getopt_long(argc, argv, ":m:o:" SBD_SHORT_OPTIONS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (sbd_parse_uint(&d.sbd, "--max-line", optarg, 1, 1 << 24, &v))
                return 2;
            d.max_line = (size_t)v;
            break;
        case 'o':
            if (sbd_parse_uint(&d.sbd, "--max-output", optarg, 1024, SIZE_MAX / 2, &v))
                return 2;
            lo.conn.max_output = (size_t)v;
            break;
        default:
            if ((rc = sbd_option(&d.sbd, opt, optarg, argv, usage)) != SBD_OPT_NEXT)
                return rc;
        }
    }
    if (sbd_no_operands(&d.sbd, argc, argv))
        return 2;
    lo.max_conns = d.sbd.max_conns;
    lo.conn.idle_timeout_ms = d.sbd.idle_ms;
    /* The output cap must leave room above the read-pause mark. */
    lo.conn.high_water = lo.conn.max_output / 2;

    memset(&h, 0, sizeof(h));
    h.on_open = chat_open;
    h.on_data = chat_line;
    h.on_close = chat_close;
    h.on_frame_error = chat_too_long;
    d.sbd.on_stop = chat_stop;
    d.sbd.app = &d;
    rc = sbd_open(&d.sbd, lo.max_conns);
    if (rc == 0)
        rc = sbd_listen(&d.sbd, "127.0.0.1:7778", &h, &d, &lo);
    if (rc == 0)
        rc = sbd_start(&d.sbd, NULL);
    if (rc == 0)
        rc = sbd_run(&d.sbd);
    sbd_cleanup(&d.sbd);
    return rc;
}
