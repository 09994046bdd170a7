/*
 * sb-kvd's RESP2 replies and request parser (see resp.h).
 */
#include "resp.h"
#include "commands.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MULTIBULK (1024 * 1024)      /* most arguments in one command */
#define ARGS_KEEP 64                     /* argument slots a client keeps */
#define ABUF_KEEP (16 * 1024)            /* argument bytes a client keeps */
#define REPLY_STACK 4096                 /* replies up to this size: one write */

/* ============================================================== replies */

void client_log(client *cl, const char *fmt, ...)
{
    char peer[128] = "?", msg[256];
    va_list ap;

    if (cl->srv->sbd.log_level < SB_LOG_INFO)
        return;
    sb_conn_peer(cl->conn, peer, sizeof(peer));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "sb-kvd: client %s: %s\n", peer, msg);
}

/*
 * A write failed.  SB_ECLOSED: the connection is closing already.  Past
 * --max-output (SB_EBUFFULL), or out of memory: the client is reset at
 * once and its queued replies dropped, as Redis drops a client past its
 * client-output-buffer-limit.  Either way cl->gone tells the command to
 * stop making replies (what it still writes is refused without cost).
 */
static void write_failed(client *cl, int rc, size_t n)
{
    if (cl->gone)
        return;
    cl->gone = 1;
    if (rc == SB_ECLOSED)
        return;
    if (rc == SB_EBUFFULL) {
        cl->srv->output_closed++;
        client_log(cl, "closed: output limit reached (%zu bytes queued, %zu more refused, "
                       "--max-output %zu)",
                   sb_conn_queued(cl->conn), n, cl->srv->max_output);
    } else {
        client_log(cl, "closed: cannot queue a reply: %s", sb_strerror(rc));
    }
    sb_abort(cl->conn);
}

/* Queue one reply. */
void out(client *cl, const void *p, size_t n)
{
    int rc;

    if (cl->gone)
        return;
    if ((rc = sb_write(cl->conn, p, n)) < 0)
        write_failed(cl, rc, n);
}

size_t fmt_ll(char *buf, long long v)
{
    char tmp[24];
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    size_t n = 0, i = 0;

    do
        tmp[n++] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        buf[i++] = '-';
    while (n)
        buf[i++] = tmp[--n];
    return i;
}

/* ":v\r\n", "*n\r\n", "$n\r\n": a type byte, a number, CRLF. */
static size_t fmt_num(char *buf, char type, long long v)
{
    size_t n = 1 + fmt_ll(buf + 1, v);
    buf[0] = type;
    buf[n] = '\r';
    buf[n + 1] = '\n';
    return n + 2;
}

void reply_int(client *cl, long long v)
{
    char buf[32];
    out(cl, buf, fmt_num(buf, ':', v));
}

void reply_array(client *cl, long long n)
{
    char buf[32];
    out(cl, buf, fmt_num(buf, '*', n));
}

void reply_bulk(client *cl, const char *p, size_t n)
{
    char buf[REPLY_STACK];
    size_t h;
    int rc;

    if (n + 32 <= sizeof(buf)) { /* the common case: one write */
        h = fmt_num(buf, '$', (long long)n);
        memcpy(buf + h, p, n);
        memcpy(buf + h + n, "\r\n", 2);
        out(cl, buf, h + n + 2);
        return;
    }
    out(cl, buf, fmt_num(buf, '$', (long long)n));
    if (!cl->gone && (rc = sb_write_delim(cl->conn, p, n, "\r\n", 2)) < 0)
        write_failed(cl, rc, n + 2);
}

void reply_nil(client *cl)
{
    OUT_LIT(cl, "$-1\r\n");
}

void reply_ok(client *cl)
{
    OUT_LIT(cl, "+OK\r\n");
}

/* INFO errorstats: one more reply whose first word is code[0..n). */
static void count_error(kvd *s, const char *code, size_t n)
{
    size_t i;

    s->errors++;
    if (n >= sizeof(s->errstat[0].code))
        n = sizeof(s->errstat[0].code) - 1;
    for (i = 0; i < s->nerrstat; i++)
        if (strlen(s->errstat[i].code) == n && memcmp(s->errstat[i].code, code, n) == 0)
            break;
    if (i == s->nerrstat) {
        if (i == ERROR_CODES)
            return; /* sb-kvd has fewer codes than that */
        memcpy(s->errstat[i].code, code, n);
        s->errstat[i].code[n] = '\0';
        s->errstat[i].count = 0;
        s->nerrstat++;
    }
    s->errstat[i].count++;
}

/* "-CODE message\r\n"; CR and LF inside the message become spaces, as Redis
 * does, so a reply can never break the protocol.  Counted in INFO stats and
 * errorstats, and as a failed call of the running command. */
void reply_error(client *cl, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;
    size_t i;

    va_start(ap, fmt);
    n = vsnprintf(buf + 1, sizeof(buf) - 3, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 4)
        n = (int)sizeof(buf) - 4;
    buf[0] = '-';
    for (i = 1; i <= (size_t)n; i++)
        if (buf[i] == '\r' || buf[i] == '\n')
            buf[i] = ' ';
    for (i = 1; i <= (size_t)n && buf[i] != ' '; i++)
        ;
    count_error(cl->srv, buf + 1, i - 1);
    cl->failed = 1;
    memcpy(buf + n + 1, "\r\n", 2);
    out(cl, buf, (size_t)n + 3);
}

void reply_arity(client *cl, const char *fullname)
{
    reply_error(cl, "ERR wrong number of arguments for '%s' command", fullname);
}

/* ========================================================= argument utils */

/* Redis' string2ll: an optional '-', no leading zeros or spaces, fits in
 * a long long.  Returns 1 with *out set, or 0. */
int str2ll(const char *s, size_t n, long long *out)
{
    unsigned long long v = 0;
    size_t i = 0;
    int neg = 0;

    if (n == 0 || n > 20)
        return 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    if (s[0] == '-') {
        neg = 1;
        if (++i == n)
            return 0;
    }
    if (s[i] < '1' || s[i] > '9')
        return 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > ULLONG_MAX / 10 || v * 10 > ULLONG_MAX - d)
            return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

/* ========================================================== RESP parser */

/*
 * The protocol, as messages cut by the library:
 *
 *   ST_LINE    delimiter framer "\n" (a trailing "\r" dropped), at most
 *              64 KiB: "*N" starts a multibulk command, anything else is
 *              an inline command (words, "quoted" or 'quoted').
 *   ST_HEADER  same framer: "$len" announces the next argument; the
 *              framer becomes fixed-length, len + 2 bytes.
 *   ST_BODY    the argument and its CRLF.  Back to the delimiter framer,
 *              for the next "$len" or, after the last argument, "*N".
 *
 * Arguments are copied into the client's buffer as they arrive (a message
 * is only valid during on_data), except the last one: the command runs
 * while it is still in the library's buffer, so a SET's value is copied
 * exactly once, into the table.
 */

static void protocol_error(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void protocol_error(client *cl, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_error(cl, "ERR Protocol error: %s", msg);
    sb_close(cl->conn); /* flush, then close: the stream cannot be resynchronised */
    free_args(cl);      /* no more input comes: the arguments go now, not after the linger */
}

void free_args(client *cl)
{
    free(cl->av);
    free(cl->abuf);
    cl->av = NULL;
    cl->abuf = NULL;
    cl->argc = cl->argcap = cl->alen = cl->acap = 0;
}

/* Room for one more argument of n bytes.  0, or -1 (out of memory). */
static int reserve_arg(client *cl, size_t n)
{
    if (cl->argc == cl->argcap) {
        size_t cap = cl->argcap ? cl->argcap * 2 : 8;
        arg *a = realloc(cl->av, cap * sizeof(*a));
        if (!a)
            return -1;
        cl->av = a;
        cl->argcap = cap;
    }
    if (n > cl->acap - cl->alen) {
        size_t cap = cl->acap ? cl->acap : 256;
        char *b;
        while (cap < cl->alen + n)
            cap *= 2;
        if (!(b = realloc(cl->abuf, cap)))
            return -1;
        cl->abuf = b;
        cl->acap = cap;
    }
    return 0;
}

/* Start an argument of up to n bytes in the buffer; returns where to
 * write them (then close it with end_arg), or NULL when out of memory. */
static char *begin_arg(client *cl, size_t n)
{
    if (reserve_arg(cl, n ? n : 1)) { /* never NULL, even for "" */
        sb_abort(cl->conn);
        return NULL;
    }
    cl->av[cl->argc].off = cl->alen;
    return cl->abuf + cl->alen;
}

static void end_arg(client *cl, size_t n)
{
    cl->av[cl->argc++].len = n;
    cl->alen += n;
}

/* Run the command in cl->av (plus `last`, if given, not copied) and get
 * ready for the next one, giving back memory a huge command needed. */
static void run(client *cl, const char *last, size_t last_len)
{
    size_t i, ac = cl->argc;

    for (i = 0; i < ac; i++)
        cl->av[i].p = cl->abuf + cl->av[i].off;
    if (last) {
        cl->av[ac].p = last;
        cl->av[ac++].len = last_len;
    }
    execute(cl, cl->av, (int)ac);
    cl->argc = cl->alen = 0;
    cl->state = ST_LINE;
    if (cl->acap > ABUF_KEEP) {
        cl->srv->shrunk = 1;
        free(cl->abuf);
        cl->abuf = NULL;
        cl->acap = 0;
    }
    if (cl->argcap > ARGS_KEEP) {
        cl->srv->shrunk = 1;
        free(cl->av);
        cl->av = NULL;
        cl->argcap = 0;
    }
}

/*
 * An inline command, split like Redis' sdssplitargs(): words separated by
 * blanks; "double quotes" with \n \r \t \b \a \xHH and \c escapes;
 * 'single quotes' with \' only; a closing quote must end the word.  The
 * line stops at a NUL byte, as it does for Redis.
 */
static void inline_command(client *cl, const char *p, size_t n)
{
    const char *end;
    char *w;
    size_t wl;

    n = strnlen(p, n);
    end = p + n;
    for (;;) {
        int dq = 0, sq = 0, done = 0;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p == end)
            break;
        if (!(w = begin_arg(cl, (size_t)(end - p))))
            return;
        wl = 0;
        while (!done) {
            char c = p < end ? *p : '\0';
            if (dq) {
                if (c == '\\' && end - p >= 4 && p[1] == 'x' && isxdigit((unsigned char)p[2]) &&
                    isxdigit((unsigned char)p[3])) {
                    char hex[3] = {p[2], p[3], '\0'};
                    w[wl++] = (char)strtol(hex, NULL, 16);
                    p += 3;
                } else if (c == '\\' && end - p >= 2) {
                    c = *++p;
                    w[wl++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t'
                            : c == 'b' ? '\b' : c == 'a' ? '\a' : c;
                } else if (c == '"') {
                    if (end - p >= 2 && !isspace((unsigned char)p[1]))
                        goto unbalanced;
                    done = 1;
                } else if (p == end) {
                    goto unbalanced;
                } else {
                    w[wl++] = c;
                }
            } else if (sq) {
                if (c == '\\' && end - p >= 2 && p[1] == '\'') {
                    w[wl++] = *++p;
                } else if (c == '\'') {
                    if (end - p >= 2 && !isspace((unsigned char)p[1]))
                        goto unbalanced;
                    done = 1;
                } else if (p == end) {
                    goto unbalanced;
                } else {
                    w[wl++] = c;
                }
            } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || p == end) {
                done = 1;
            } else if (c == '"') {
                dq = 1;
            } else if (c == '\'') {
                sq = 1;
            } else {
                w[wl++] = c;
            }
            if (p < end)
                p++;
        }
        end_arg(cl, wl);
    }
    if (cl->argc)
        run(cl, NULL, 0);
    return;
unbalanced:
    cl->argc = cl->alen = 0;
    protocol_error(cl, "unbalanced quotes in request");
}

/* ST_BODY: the argument and the CRLF the fixed framer counted in. */
void got_body(client *cl, const char *d)
{
    int last = cl->argc + 1 == (size_t)cl->want;
    char *w;

    if (d[cl->bulk] != '\r' || d[cl->bulk + 1] != '\n') {
        protocol_error(cl, "bulk string not terminated by CRLF");
        return;
    }
    if (!(w = begin_arg(cl, last ? 0 : cl->bulk)))
        return;
    sb_conn_set_framer(cl->conn, &cl->srv->line); /* lines again */
    if (last) {
        run(cl, d, cl->bulk); /* the last argument: used in place */
        return;
    }
    memcpy(w, d, cl->bulk);
    end_arg(cl, cl->bulk);
    cl->state = ST_HEADER;
}

/* ST_HEADER: "$len" announces the next argument; read len + 2 bytes. */
void got_header(client *cl, const char *d, size_t n)
{
    kvd *s = cl->srv;
    long long v;

    if (n == 0 || d[0] != '$') {
        protocol_error(cl, "expected '$', got '%c'", n ? d[0] : ' ');
        return;
    }
    if (!str2ll(d + 1, n - 1, &v) || v < 0 || (unsigned long long)v > s->max_bulk) {
        protocol_error(cl, "invalid bulk length");
        return;
    }
    /* The query buffer cap, checked before a byte of the body is read:
     * what the command holds, with this argument, stays within it. */
    if (cl->alen + (size_t)v + (cl->argc + 1) * sizeof(arg) > s->max_query) {
        s->query_closed++;
        client_log(cl, "closed: query buffer limit reached (%zu bytes held, %lld announced, "
                       "--max-query %zu)",
                   cl->alen + cl->argc * sizeof(arg), v, s->max_query);
        protocol_error(cl, "query buffer limit exceeded");
        return;
    }
    cl->bulk = (size_t)v;
    cl->state = ST_BODY;
    sb_conn_framer_fixed(cl->conn, cl->bulk + 2);
}

/* ST_LINE: "*N" starts a multibulk command; anything else is inline. */
void got_line(client *cl, const char *d, size_t n)
{
    long long v;

    if (n == 0)
        return; /* an empty line is no command */
    if (d[0] != '*') {
        inline_command(cl, d, n);
        return;
    }
    if (!str2ll(d + 1, n - 1, &v) || v > MAX_MULTIBULK) {
        protocol_error(cl, "invalid multibulk length");
        return;
    }
    if (v <= 0)
        return; /* "*0" and "*-1": nothing to do */
    cl->want = (long)v;
    cl->state = ST_HEADER;
}

