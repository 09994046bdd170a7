/*
 * sb-echo — a client for echo servers (Python in a Nutshell, Examples 19-2
 * and 19-4), built only on the public API.
 *
 * Stream mode sends each MESSAGE followed by a newline (or stdin as it
 * comes), checks that every byte comes back unchanged, and prints what
 * comes back.  Datagram mode (--udp) sends each MESSAGE (or stdin line) as
 * one datagram and waits for its reply before sending the next.
 * --half-close sends everything, shuts down the sending side and prints all
 * that arrives until the server closes (the HOWTO's HTTP-like exchange).
 *
 * Exit status: 0 when every echo matched, 1 on a network failure (refused,
 * timed out, reset, mismatched or missing echo), 2 on bad arguments.  A
 * failure is one line on stderr.
 */
#include "switchboard.h"
#include "tlsopt.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

#define DEFAULT_TIMEOUT_MS 10000
#define IN_CHUNK 65536
#define MAX_BACKLOG (1u << 20) /* unanswered bytes before stdin pauses */
enum { OPT_TLS = 0x200, OPT_CA, OPT_INSECURE, OPT_SERVERNAME };

typedef struct client {
    sb_loop *loop;
    const char *addr;
    unsigned timeout_ms;
    int udp, half_close;
    char **msgs;         /* MESSAGE arguments, or NULL: stdin */
    int nmsgs, next_msg;
    sb_io *in;           /* stdin watcher */
    int in_eof;
    char *pend;          /* stdin bytes not yet sent (datagram mode: lines) */
    size_t pend_len;
    char *expect;        /* sent bytes (or the datagram) not yet echoed */
    size_t exp_len, exp_cap;
    unsigned long long echoed; /* bytes that came back as sent */
    sb_timer *timer;     /* waiting for an echo, or for anything (--half-close) */
    sb_conn *c;
    int opened;
    sb_udp *u;
    int awaiting;        /* datagram mode: a reply is due */
    int status;          /* exit status, -1 while running */
    sbd_tls tls;         /* --tls, --ca, --insecure, --servername */
} client;

/* Report the first failure (one stderr line) and set the exit status. */
static void fail(client *cl, const char *fmt, ...)
{
    va_list ap;

    if (cl->status >= 0)
        return;
    cl->status = 1;
    fputs("sb-echo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void print(const char *data, size_t len)
{
    fwrite(data, 1, len, stdout);
    fflush(stdout);
}

static int expect_add(client *cl, const char *data, size_t len)
{
    if (cl->exp_len + len > cl->exp_cap) {
        size_t cap = cl->exp_cap ? cl->exp_cap : 4096;
        char *p;
        while (cap < cl->exp_len + len)
            cap *= 2;
        p = realloc(cl->expect, cap);
        if (!p)
            return -ENOMEM;
        cl->expect = p;
        cl->exp_cap = cap;
    }
    memcpy(cl->expect + cl->exp_len, data, len);
    cl->exp_len += len;
    return 0;
}

/* Stop every watcher: the loop then runs out of work and returns. */
static void finish(client *cl)
{
    sb_timer_stop(cl->timer);
    sb_io_free(cl->in);
    cl->in = NULL;
    if (cl->u) {
        sb_udp_free(cl->u);
        cl->u = NULL;
    }
}

static void arm(client *cl)
{
    if (cl->timeout_ms)
        sb_timer_start(cl->timer, cl->timeout_ms, 0);
}

static double secs(unsigned ms)
{
    return ms / 1000.0;
}

/* ------------------------------------------------------------- streams */

/* Queue bytes for the server; in echo mode remember them for checking. */
static void stream_send(client *cl, const char *data, size_t len)
{
    int rc = sb_write(cl->c, data, len);

    if (rc == 0 && !cl->half_close)
        rc = expect_add(cl, data, len);
    if (rc < 0) {
        fail(cl, "cannot send to %s: %s", cl->addr, sb_strerror(rc));
        sb_abort(cl->c);
        return;
    }
    if (!cl->half_close && !sb_timer_active(cl->timer))
        arm(cl);
}

/* Everything is sent: half-close, or close once every echo is back. */
static void stream_input_done(client *cl)
{
    cl->in_eof = 1;
    if (cl->half_close) {
        sb_shutdown(cl->c);
        arm(cl);
    } else if (cl->exp_len == 0) {
        sb_close(cl->c);
    }
}

#ifndef _WIN32
static void stream_stdin(sb_io *io, int fd, unsigned events, void *udata)
{
    client *cl = udata;
    char buf[IN_CHUNK];
    ssize_t n;

    (void)events;
    n = read(fd, buf, sizeof(buf));
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        fail(cl, "cannot read standard input: %s", strerror(errno));
        sb_abort(cl->c);
        return;
    }
    if (n == 0) {
        sb_io_free(io);
        cl->in = NULL;
        stream_input_done(cl);
        return;
    }
    stream_send(cl, buf, (size_t)n);
    /* Do not read faster than the server answers. */
    if (cl->in && (sb_conn_queued(cl->c) > MAX_BACKLOG || cl->exp_len > MAX_BACKLOG))
        sb_io_set(cl->in, 0);
}
#endif

static void stream_open(sb_conn *c, void *udata)
{
    client *cl = udata;
    int i;

    cl->opened = 1;
    if (!cl->msgs) {
#ifdef _WIN32
        /* select() watches sockets only on Windows: standard input is read
         * here, all of it, before the echo is checked. */
        char buf[IN_CHUNK];
        int n;
        while ((n = read(0, buf, sizeof(buf))) > 0 && cl->status < 0)
            stream_send(cl, buf, (size_t)n);
        if (n < 0) {
            fail(cl, "cannot read standard input: %s", strerror(errno));
            sb_abort(c);
            return;
        }
        if (cl->status < 0)
            stream_input_done(cl);
#else
        int err = 0;
        cl->in = sb_io_new(cl->loop, 0, stream_stdin, cl, &err);
        if (!cl->in) {
            fail(cl, "cannot watch standard input: %s", sb_strerror(err));
            sb_abort(c);
            return;
        }
        sb_io_set(cl->in, SB_READ);
#endif
        return;
    }
    for (i = 0; i < cl->nmsgs && cl->status < 0; i++) {
        stream_send(cl, cl->msgs[i], strlen(cl->msgs[i]));
        stream_send(cl, "\n", 1);
    }
    if (cl->status < 0)
        stream_input_done(cl);
}

static void stream_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    client *cl = udata;

    if (cl->half_close) {
        print(data, len);
        arm(cl);
        return;
    }
    if (len > cl->exp_len || memcmp(data, cl->expect, len) != 0) {
        size_t i = 0;
        while (i < len && i < cl->exp_len && data[i] == cl->expect[i])
            i++;
        print(data, i); /* what did come back */
        if (i == cl->exp_len)
            fail(cl, "mismatched echo from %s: unexpected bytes after byte %llu", cl->addr,
                 cl->echoed + i);
        else
            fail(cl, "mismatched echo from %s at byte %llu: sent 0x%02x, got 0x%02x",
                 cl->addr, cl->echoed + i, (unsigned char)cl->expect[i],
                 (unsigned char)data[i]);
        sb_abort(c);
        return;
    }
    print(data, len);
    memmove(cl->expect, cl->expect + len, cl->exp_len - len);
    cl->exp_len -= len;
    cl->echoed += len;
    if (cl->exp_len)
        arm(cl);
    else
        sb_timer_stop(cl->timer);
    if (cl->in && cl->exp_len <= MAX_BACKLOG / 2 && sb_conn_queued(c) <= MAX_BACKLOG)
        sb_io_set(cl->in, SB_READ);
    if (cl->in_eof && cl->exp_len == 0)
        sb_close(c);
}

static void stream_drain(sb_conn *c, void *udata)
{
    client *cl = udata;

    (void)c;
    if (cl->in && cl->exp_len <= MAX_BACKLOG)
        sb_io_set(cl->in, SB_READ);
}

static void stream_eof(sb_conn *c, void *udata)
{
    client *cl = udata;

    if (!cl->half_close && cl->exp_len)
        fail(cl, "%s closed the connection with %zu echoed bytes missing", cl->addr,
             cl->exp_len);
    else if (!cl->half_close && !cl->in_eof)
        fail(cl, "%s closed the connection before everything was sent", cl->addr);
    sb_close(c);
}

static void stream_close(sb_conn *c, int reason, void *udata)
{
    client *cl = udata;
    const char *why = sbd_tls_error(c);

    cl->c = NULL;
    if (!cl->opened && reason == -ETIMEDOUT)
        fail(cl, "cannot connect to %s: timed out after %g s", cl->addr, secs(cl->timeout_ms));
    else if (!cl->opened)
        fail(cl, "cannot connect to %s: %s%s%s", cl->addr, sb_strerror(reason), *why ? ": " : "",
             why);
    else if (reason)
        fail(cl, "connection to %s failed: %s%s%s", cl->addr, sb_strerror(reason),
             *why ? ": " : "", why);
    else if (!cl->half_close && (cl->exp_len || !cl->in_eof))
        fail(cl, "connection to %s closed before every echo arrived", cl->addr);
    if (cl->status < 0)
        cl->status = 0;
    finish(cl);
}

static void stream_timeout(sb_timer *t, void *udata)
{
    client *cl = udata;

    (void)t;
    if (cl->half_close)
        fail(cl, "nothing from %s for %g s", cl->addr, secs(cl->timeout_ms));
    else
        fail(cl, "no echo from %s within %g s (%zu bytes missing)", cl->addr,
             secs(cl->timeout_ms), cl->exp_len);
    sb_abort(cl->c);
}

static int run_stream(client *cl)
{
    static const sb_handler h = {.on_open = stream_open,
                                 .on_data = stream_data,
                                 .on_eof = stream_eof,
                                 .on_drain = stream_drain,
                                 .on_close = stream_close};
    sb_connect_opts o;
    int err = 0;

    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = cl->timeout_ms;
    cl->timer = sb_timer_new(cl->loop, stream_timeout, cl);
    cl->c = cl->timer ? sb_connect(cl->loop, cl->addr, &h, cl, &o, &err) : NULL;
    if (!cl->c) {
        fail(cl, "cannot connect to %s: %s", cl->addr, sb_strerror(cl->timer ? err : -ENOMEM));
        if (err == SB_EINVAL_ADDR || err == SB_EPORT)
            cl->status = 2; /* a bad argument, not a network failure */
        return 1;
    }
    if (cl->tls.tls) {
        /* The host of ADDR is the name checked (and sent as SNI unless it
         * is an address literal); --servername overrides it. */
        char host[256];
        const char *colon = strrchr(cl->addr, ':');
        size_t n = colon && strncmp(cl->addr, "unix:", 5) != 0 ? (size_t)(colon - cl->addr) : 0;
        const char *start = cl->addr;
        if (n >= 2 && start[0] == '[' && start[n - 1] == ']') {
            start++;
            n -= 2;
        }
        if (n >= sizeof(host))
            n = 0;
        memcpy(host, start, n);
        host[n] = '\0';
        err = sbd_tls_connect(&cl->tls, cl->c, n ? host : NULL);
        if (err) {
            fail(cl, "cannot speak TLS to %s: %s%s", cl->addr, sb_strerror(err),
                 err == -EINVAL ? " (no host name to verify: give --servername or --insecure)"
                                : "");
            cl->status = 2;
            sb_abort(cl->c);
            return 1;
        }
    }
    return 0;
}

/* ----------------------------------------------------------- datagrams */

/* Send the next message or complete stdin line; finish when none is left. */
static void dgram_next(client *cl)
{
    const char *msg;
    size_t len;
    int rc;

    if (cl->awaiting || cl->status >= 0)
        return;
    if (cl->msgs) {
        if (cl->next_msg == cl->nmsgs) {
            cl->status = 0;
            finish(cl);
            return;
        }
        msg = cl->msgs[cl->next_msg];
        len = strlen(msg);
    } else {
        char *nl = cl->pend_len ? memchr(cl->pend, '\n', cl->pend_len) : NULL;
        if (!nl && !cl->in_eof)
            return; /* wait for the rest of the line */
        if (!nl && cl->pend_len == 0) {
            cl->status = 0;
            finish(cl);
            return;
        }
        msg = cl->pend;
        len = nl ? (size_t)(nl - cl->pend) : cl->pend_len;
    }
    rc = sb_udp_send(cl->u, NULL, msg, len);
    if (rc == -EAGAIN)
        return; /* on_writable calls again */
    if (rc < 0) {
        fail(cl, "cannot send a %zu-byte datagram to %s: %s", len, cl->addr, sb_strerror(rc));
        finish(cl);
        return;
    }
    cl->exp_len = 0;
    if (expect_add(cl, msg, len) < 0) {
        fail(cl, "out of memory");
        finish(cl);
        return;
    }
    if (cl->msgs) {
        cl->next_msg++;
    } else {
        size_t used = len < cl->pend_len ? len + 1 : len;
        memmove(cl->pend, cl->pend + used, cl->pend_len - used);
        cl->pend_len -= used;
    }
    cl->awaiting = 1;
    arm(cl);
}

#ifndef _WIN32
static void dgram_stdin(sb_io *io, int fd, unsigned events, void *udata)
{
    client *cl = udata;
    ssize_t n;
    char *p;

    (void)events;
    p = realloc(cl->pend, cl->pend_len + IN_CHUNK);
    if (!p) {
        fail(cl, "out of memory");
        finish(cl);
        return;
    }
    cl->pend = p;
    n = read(fd, cl->pend + cl->pend_len, IN_CHUNK);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        fail(cl, "cannot read standard input: %s", strerror(errno));
        finish(cl);
        return;
    }
    if (n == 0) {
        cl->in_eof = 1;
        sb_io_free(io);
        cl->in = NULL;
    } else {
        cl->pend_len += (size_t)n;
        /* Hold stdin while a whole line waits for its turn. */
        if (memchr(cl->pend, '\n', cl->pend_len))
            sb_io_set(io, 0);
    }
    dgram_next(cl);
}
#endif

static void dgram_reply(sb_udp *u, const char *data, size_t len, const sb_addr *from, int err,
                        void *udata)
{
    client *cl = udata;

    (void)u;
    (void)from;
    if (!data) {
        fail(cl, "%s: %s", cl->addr, sb_strerror(err));
        finish(cl);
        return;
    }
    if (!cl->awaiting)
        return; /* a late duplicate: ignore */
    if (err == -EMSGSIZE) {
        fail(cl, "reply from %s truncated at %zu bytes", cl->addr, len);
        finish(cl);
        return;
    }
    if (len != cl->exp_len || memcmp(data, cl->expect, len) != 0) {
        fail(cl, "mismatched echo from %s: sent %zu bytes, got %zu different ones", cl->addr,
             cl->exp_len, len);
        finish(cl);
        return;
    }
    print(data, len);
    print("\n", 1);
    cl->awaiting = 0;
    sb_timer_stop(cl->timer);
    if (cl->in && !memchr(cl->pend, '\n', cl->pend_len))
        sb_io_set(cl->in, SB_READ);
    dgram_next(cl);
}

static void dgram_writable(sb_udp *u, void *udata)
{
    (void)u;
    dgram_next(udata);
}

static void dgram_timeout(sb_timer *t, void *udata)
{
    client *cl = udata;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    (void)t;
    /* An ICMP error may be waiting without having woken us. */
    if (cl->u && getsockopt(sb_udp_fd(cl->u), SOL_SOCKET, SO_ERROR, (void *)&soerr, &sl) == 0 && soerr) {
#ifdef _WIN32
        /* A winsock code: a port unreachable is WSAECONNRESET on a
         * datagram socket (the library reports it as ECONNREFUSED too). */
        if (soerr == WSAECONNRESET || soerr == WSAECONNREFUSED)
            soerr = ECONNREFUSED;
        else if (soerr >= WSABASEERR) {
            fail(cl, "%s: winsock error %d", cl->addr, soerr);
            finish(cl);
            return;
        }
#endif
        /* sb_strerror: msvcrt's strerror() lacks the socket errnos. */
        fail(cl, "%s: %s", cl->addr, sb_strerror(-soerr));
    } else
        fail(cl, "no reply from %s within %g s", cl->addr, secs(cl->timeout_ms));
    finish(cl);
}

static int run_dgram(client *cl)
{
    static const sb_udp_handler h = {.on_datagram = dgram_reply,
                                     .on_writable = dgram_writable};
    const char *local;
    sb_addr peer;
    int rc, err = 0;

    rc = sb_addr_resolve(&peer, cl->addr);
    if (rc) {
        fail(cl, "cannot resolve %s: %s", cl->addr, sb_strerror(rc));
        if (rc == SB_EINVAL_ADDR || rc == SB_EPORT)
            cl->status = 2; /* a bad argument, not a network failure */
        return 1;
    }
    switch (((const struct sockaddr *)&peer.sa)->sa_family) {
    case AF_INET6:
        local = "[::]:0";
        break;
    case AF_UNIX:
        local = "unix:";
        break;
    default:
        local = "0.0.0.0:0";
    }
    cl->timer = sb_timer_new(cl->loop, dgram_timeout, cl);
    cl->u = cl->timer ? sb_udp_new(cl->loop, local, &h, cl, NULL, &err) : NULL;
    if (!cl->u) {
        fail(cl, "cannot open a datagram socket: %s", sb_strerror(cl->timer ? err : -ENOMEM));
        return 1;
    }
    rc = sb_udp_connect(cl->u, &peer);
    if (rc) {
        fail(cl, "cannot reach %s: %s", cl->addr, sb_strerror(rc));
        return 1;
    }
    if (!cl->msgs) {
#ifdef _WIN32
        /* Windows: standard input read whole first (see stream_open). */
        for (;;) {
            char *p = realloc(cl->pend, cl->pend_len + IN_CHUNK);
            int n;
            if (!p) {
                fail(cl, "out of memory");
                return 1;
            }
            cl->pend = p;
            n = read(0, cl->pend + cl->pend_len, IN_CHUNK);
            if (n < 0) {
                fail(cl, "cannot read standard input: %s", strerror(errno));
                return 1;
            }
            if (n == 0)
                break;
            cl->pend_len += (size_t)n;
        }
        cl->in_eof = 1;
        dgram_next(cl);
#else
        cl->in = sb_io_new(cl->loop, 0, dgram_stdin, cl, &err);
        if (!cl->in) {
            fail(cl, "cannot watch standard input: %s", sb_strerror(err));
            return 1;
        }
        sb_io_set(cl->in, SB_READ);
#endif
    }
    dgram_next(cl);
    return 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-echo [options] ADDR [MESSAGE...]\n"
            "Send each MESSAGE (or each line of standard input) to the echo server at\n"
            "ADDR, check that it comes back unchanged, and print it.\n\n"
            "  -u, --udp            one datagram per message, each answered in turn\n"
            "                       (default: a stream connection, each MESSAGE + newline)\n"
            "  -t, --timeout SECS   give up connecting, or waiting for an echo, after\n"
            "                       SECS (decimals allowed; 0 = never; default 10)\n"
            "  -H, --half-close     send everything, shut down the sending side, print\n"
            "                       all that arrives until the server closes\n"
            "      --tls            speak TLS (needs make TLS=1); the server's certificate\n"
            "                       is verified against the system's CAs and ADDR's host\n"
            "      --ca FILE        verify against the CAs in FILE (PEM) instead\n"
            "      --insecure       do not verify the server's certificate at all\n"
            "      --servername NAME  the name sent as SNI and verified (default:\n"
            "                       ADDR's host)\n"
            "  -h, --help           show this help\n"
            "  -V, --version        show the version\n\n"
            "ADDR: host:port, [v6addr]:port or unix:/path.  Exit status: 0 when every\n"
            "echo matched, 1 on failure (refused, timed out, mismatched echo), 2 on\n"
            "bad arguments.\n");
}

static int parse_timeout(const char *s, unsigned *ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400 * 7) {
        fprintf(stderr, "sb-echo: invalid --timeout '%s' (want seconds, 0..604800)\n", s);
        return -1;
    }
    *ms = (unsigned)(v * 1000 + 0.5);
    if (*ms == 0 && v > 0)
        *ms = 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"udp", no_argument, NULL, 'u'},
        {"timeout", required_argument, NULL, 't'},
        {"half-close", no_argument, NULL, 'H'},
        {"tls", no_argument, NULL, OPT_TLS},
        {"ca", required_argument, NULL, OPT_CA},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"servername", required_argument, NULL, OPT_SERVERNAME},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    client cl;
    int opt, rc;

#ifdef _WIN32
    /* The bytes as they are: the C runtime's text mode would turn "\n"
     * into "\r\n" on the way out and "\r\n" into "\n", and end the
     * input at the first Ctrl-Z byte, on the way in. */
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
#endif
    memset(&cl, 0, sizeof(cl));
    cl.status = -1;
    cl.timeout_ms = DEFAULT_TIMEOUT_MS;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ut:HhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            cl.udp = 1;
            break;
        case 't':
            if (parse_timeout(optarg, &cl.timeout_ms))
                return 2;
            break;
        case 'H':
            cl.half_close = 1;
            break;
        case OPT_TLS:
            cl.tls.client = 1;
            break;
        case OPT_CA:
            cl.tls.ca = optarg;
            break;
        case OPT_INSECURE:
            cl.tls.insecure = 1;
            break;
        case OPT_SERVERNAME:
            cl.tls.servername = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("sb-echo (switchboard) %s\n", SB_VERSION_STRING);
            return 0;
        case ':':
            fprintf(stderr, "sb-echo: option '%s' needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "sb-echo: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind == argc) {
        fprintf(stderr, "sb-echo: missing ADDR (see --help)\n");
        return 2;
    }
    if (cl.udp && cl.half_close) {
        fprintf(stderr, "sb-echo: --half-close needs a stream connection, not --udp\n");
        return 2;
    }
    if (sbd_tls_check("sb-echo", &cl.tls))
        return 2;
    if (cl.udp && cl.tls.client) {
        fprintf(stderr, "sb-echo: --tls needs a stream connection, not --udp\n");
        return 2;
    }
    if (sbd_tls_client("sb-echo", &cl.tls, NULL))
        return cl.tls.client && !sbd_tls_built() ? 2 : 1;
    cl.addr = argv[optind++];
    if (optind < argc) {
        cl.msgs = argv + optind;
        cl.nmsgs = argc - optind;
    }
    cl.loop = sb_loop_new();
    if (!cl.loop) {
        fprintf(stderr, "sb-echo: cannot create the event loop: %s\n", strerror(ENOMEM));
        return 1;
    }
    rc = cl.udp ? run_dgram(&cl) : run_stream(&cl);
    if (rc == 0) {
        rc = sb_loop_run(cl.loop);
        if (rc < 0)
            fail(&cl, "event loop failed: %s", sb_strerror(rc));
    }
    finish(&cl);
    if (cl.c)
        sb_abort(cl.c);
    sb_timer_free(cl.timer);
    sb_loop_run_once(cl.loop, 0); /* reap what is left */
    sb_loop_free(cl.loop);
    free(cl.expect);
    free(cl.pend);
    sbd_tls_free(&cl.tls);
    return cl.status < 0 ? 1 : cl.status;
}
