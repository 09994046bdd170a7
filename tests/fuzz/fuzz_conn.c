/*
 * libFuzzer target for the connection state machine (src/conn.c and what
 * it drives: framing, buffers, the loop's flush / pending / close lists,
 * timers), built with the whole library compiled with -DSB_FAULTS and
 * tests/fault.c linked, so system calls and allocations can fail or come
 * up short on a schedule the input chooses.
 *
 * One loop (with a fake clock: timers fire when the input advances it)
 * and one listener on 127.0.0.1 per backend (select, poll, epoll), made
 * once and kept.  Each input's first byte picks the backend; one client
 * connects, and the rest of the input is a script of at most MAX_OPS
 * operations on the accepted connection and that client (see the OP_*
 * list): client sends / reads / half-close / close / reset;
 * server-side sb_write (plain and the prefix / digits / delim encoders),
 * sb_shutdown, sb_close, sb_abort, pause / resume, watermarks, idle
 * timeout, framers of every kind with small maxima, the handler's
 * behaviour (echo, discard, close / abort / shutdown / pause / switch
 * framers from on_data, what on_frame_error, on_eof and on_drain do), a
 * fault schedule, loop iterations, clock steps.
 *
 * At the end the fault schedule is reset, the client half-closes and keeps
 * reading, the connection is closed (sb_close) if it is still open, and the
 * loop runs until its on_close ran.  Invariants (abort() on violation):
 *  - on_close exactly once per connection, no callback after it, and
 *    callbacks only for the connection of the current input;
 *  - every message matches the framer in force (raw: 1..64 KiB; fixed:
 *    exactly its length; delimited: at most max_len, no delimiter inside,
 *    ends with it when kept; prefix / digits / until-EOF: at most max_len);
 *  - on_frame_error only from framers that can fail, with SB_ETOOLONG or
 *    SB_EFRAME;
 *  - while the framer stayed raw, the bytes delivered are a prefix of the
 *    bytes the client sent, and all of them when on_eof runs;
 *  - echo mode on the raw framer with no write refused: the bytes echoed
 *    are a prefix of the bytes sent;
 *  - the bytes the client receives are always a prefix of the bytes the
 *    server's writes accepted (in order: echo, sb_write*, on_drain...), and
 *    all of them when the close was orderly (reason 0) and the client read
 *    up to a clean EOF;
 *  - sb_conn_queued() never exceeds what was accepted and not received;
 *  - sb_write* return only 0, SB_ECLOSED, SB_EBUFFULL or -ENOMEM here;
 *  - a connection closes once sb_close was called and the peer half-closed
 *    and reads (bounded number of iterations);
 *  - afterwards: sb_loop_handles(), the listener's connection count, the
 *    live-connection counter and the process's fd count are back to their
 *    baseline.
 */
#include "switchboard.h"
#include "fault.h"

#include "fuzz_client.h"

#include <poll.h>
#include <signal.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 64
#define SENT_CAP (64 * 1024)   /* bytes the client sends per input */
#define OUT_CAP (1024 * 1024)  /* bytes the server writes per input */
#define DRAIN_WRITES 8         /* on_drain writes per input at most */

/* ------------------------------------------------------------ the world */

/*
 * One loop and listener per backend, made once; the input's first byte
 * picks the one its connection goes through.  Their connection settings
 * differ too: select has the defaults; poll an output cap (sb_write's
 * SB_EBUFFULL); epoll an idle timeout and a short linger from the options,
 * and no on_eof in its handler (the library's own close at EOF).
 */
typedef struct world {
    const char *backend;
    size_t max_output;
    unsigned idle_ms, linger_ms;
    int no_eof;
    sb_loop *loop;
    sb_listener *lst;
    int port;
    size_t base_handles;
} world;
static world worlds[] = {{"select", 0, 0, 0, 0, NULL, NULL, 0, 0},
                         {"poll", 48 * 1024, 0, 0, 0, NULL, NULL, 0, 0},
                         {"epoll", 0, 5000, 100, 1, NULL, NULL, 0, 0}};
#define NWORLDS (sizeof(worlds) / sizeof(worlds[0]))

/* The current input's. */
static sb_loop *loop;
static sb_listener *lst;
static int port;
static size_t base_handles;
static uint64_t fake_now = 1000000;
static int trace; /* FUZZ_TRACE=1: one line per input on stderr */

static uint64_t fake_clock(void *udata)
{
    (void)udata;
    return fake_now;
}

/* The client side of the current input. */
static int cfd = -1;
static int c_shut, c_closed, c_eof, c_err;
static unsigned char sent[SENT_CAP]; /* what the client queued for sending */
static size_t sent_len, sent_off;    /* queued / taken by the kernel */
static unsigned char model[OUT_CAP]; /* what the server's writes accepted */
static size_t model_len;
static size_t recv_len;              /* how much of it the client received */
static int echo_pure;                /* every server write so far echoed its input */
static unsigned out_seq;             /* pattern position of server writes */

/* A framer the input asked for, as built (max_len resolved). */
typedef struct fspec {
    sb_framer f;
    int shorthand; /* set with an sb_conn_framer_* shorthand, not sb_conn_set_framer */
} fspec;

/* The server side: the one connection of the current input. */
typedef struct cstate {
    sb_conn *c;
    int opened, closed, reason;
    int raw_all;       /* the framer was raw all along */
    size_t delivered;  /* bytes on_data got while raw_all */
    unsigned msgs;
    sb_framer cur;     /* the framer in force */
    fspec alt;         /* the other one, for switching from on_data */
    int use_alt;       /* which of cur/alt on_data sets next */
    /* handler behaviour */
    int data_act, data_k, fe_act, eof_act, drain_act;
    unsigned drain_writes;
    unsigned fe_switches;
    int eof_seen;
} cstate;

static cstate st;
static unsigned long opens, closes;

static int conn_live(void)
{
    return st.c != NULL;
}

/* ----------------------------------------------------- server writes */

/* Bytes of the server's own writes: a function of their position, so a
 * lost, doubled or reordered piece shows in the prefix check. */
static void pattern(unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++, out_seq++)
        p[i] = (unsigned char)((out_seq * 2654435761u) >> 24);
}

static void accept_rc(int rc)
{
    CHECK(rc == 0 || rc == SB_ECLOSED || rc == SB_EBUFFULL || rc == -ENOMEM);
}

static void model_add(const void *p, size_t n)
{
    CHECK(model_len + n <= OUT_CAP);
    memcpy(model + model_len, p, n);
    model_len += n;
}

/* sb_write, and the model follows it when it was accepted. */
static int swrite(sb_conn *c, const void *p, size_t n)
{
    int rc;

    echo_pure = 0;
    if (model_len + n > OUT_CAP)
        return -ENOSPC;
    rc = sb_write(c, p, n);
    accept_rc(rc);
    if (rc == 0)
        model_add(p, n);
    return rc;
}

/* on_data echoing its message: the output stays a copy of the input as
 * long as every write is an echo and none fails. */
static void echo(sb_conn *c, const char *d, size_t n)
{
    int pure = echo_pure;

    echo_pure = pure && swrite(c, d, n) == 0;
}

/* A server write of n pattern bytes through one of the encoders. */
static void swrite_enc(sb_conn *c, int how, size_t n, uint8_t arg)
{
    static unsigned char buf[16384 + 32];
    static const int widths[] = {1, 2, 4, 8};
    unsigned char hdr[24];
    size_t hlen = 0, i;
    int rc;

    echo_pure = 0;
    if (n > 16384)
        n = 16384;
    if (model_len + n + 24 > OUT_CAP)
        return;
    pattern(buf, n);
    switch (how) {
    case 0:
        swrite(c, buf, n);
        return;
    case 1: { /* prefix; too long for the width: SB_ETOOLONG, nothing queued */
        int w = widths[arg % 4];
        uint64_t v = n;
        rc = sb_write_prefix(c, w, buf, n);
        if (w < 8 && (v >> (8 * w))) {
            CHECK(rc == SB_ETOOLONG);
            return;
        }
        for (i = (size_t)w; i-- > 0; v >>= 8)
            hdr[i] = (unsigned char)v;
        hlen = (size_t)w;
        break;
    }
    case 2: { /* digits */
        int w = 1 + arg % 6;
        uint64_t v = n;
        rc = sb_write_digits(c, w, buf, n);
        for (i = (size_t)w; i-- > 0; v /= 10)
            hdr[i] = (unsigned char)('0' + v % 10);
        if (v) {
            CHECK(rc == SB_ETOOLONG);
            return;
        }
        hlen = (size_t)w;
        break;
    }
    default: { /* delim: the payload, then the delimiter */
        static const char *const delims[] = {"\n", "\r\n", "\r\n\r\n", "|"};
        const char *d = delims[arg % 4];
        size_t dl = strlen(d);
        rc = sb_write_delim(c, buf, n, d, dl);
        accept_rc(rc);
        if (rc == 0) {
            model_add(buf, n);
            model_add(d, dl);
        }
        return;
    }
    }
    accept_rc(rc);
    if (rc == 0) {
        model_add(hdr, hlen);
        model_add(buf, n);
    }
}

/* ------------------------------------------------------------ framers */

static size_t small_len(uint8_t v)
{
    static const size_t big[] = {0, 1, 255, 256, 4096, 65536};
    return v < 250 ? v : big[v - 250];
}

/* Build the framer a 3-byte spec asks for.  0, or -EINVAL (delimiter
 * flags that do not fit): then nothing is set. */
static int make_fspec(fspec *s, uint8_t k, uint8_t a, uint8_t b)
{
    static const char *const delims[] = {"\n", "\r\n", "\r\n\r\n", "\0", "ab", "aab",
                                         "0123456789abcdef"};
    static const int widths[] = {1, 2, 4, 8};

    memset(s, 0, sizeof(*s));
    s->shorthand = (k & 8) != 0; /* set with sb_conn_framer_* rather than built */
    switch (k % 8) {
    case 0:
        return sb_framer_raw(&s->f);
    case 1:
        return sb_framer_line(&s->f, small_len(b));
    case 2: {
        const char *d = delims[a % 7];
        size_t dl = a % 7 == 3 ? 1 : strlen(d);
        return sb_framer_delim(&s->f, d, dl, small_len(b), (a >> 4) & 3);
    }
    case 3:
        return sb_framer_fixed(&s->f, a % 33);
    case 4:
        s->shorthand = 1;
        return sb_framer_fixed(&s->f, a % 33);
    case 5:
        return sb_framer_prefix(&s->f, widths[a % 4], small_len(b));
    case 6:
        return sb_framer_digits(&s->f, 1 + a % 6, small_len(b));
    default:
        return sb_framer_eof(&s->f, small_len(b));
    }
}

/* Put s in force on c; the model of the framer follows on success. */
static int apply_fspec(sb_conn *c, const fspec *s)
{
    const sb_framer *f = &s->f;
    int rc;

    if (!s->shorthand)
        rc = sb_conn_set_framer(c, f);
    else if (f->kind == SB_FRAMER_RAW)
        rc = sb_conn_framer_raw(c);
    else if (f->kind == SB_FRAMER_FIXED)
        rc = sb_conn_framer_fixed(c, f->len); /* in place when fixed already */
    else if (f->kind == SB_FRAMER_DELIM && f->flags == SB_FRAMER_STRIP_CR)
        rc = sb_conn_framer_line(c, f->max_len);
    else if (f->kind == SB_FRAMER_DELIM)
        rc = sb_conn_framer_delim(c, f->delim, f->delim_len, f->max_len, f->flags);
    else if (f->kind == SB_FRAMER_PREFIX)
        rc = sb_conn_framer_prefix(c, (int)f->len, f->max_len);
    else if (f->kind == SB_FRAMER_DIGITS)
        rc = sb_conn_framer_digits(c, (int)f->len, f->max_len);
    else
        rc = sb_conn_framer_eof(c, f->max_len);
    CHECK(rc == 0);
    st.cur = s->f;
    if (s->f.kind != SB_FRAMER_RAW)
        st.raw_all = 0;
    return rc;
}

/* A message must be what the framer in force can cut. */
static void check_message(const sb_framer *f, const char *d, size_t n)
{
    size_t dl = f->delim_len;
    volatile unsigned sum = 0;
    size_t i;

    for (i = 0; i < n; i++) /* every byte offered must be readable */
        sum += (unsigned char)d[i];
    (void)sum;
    switch (f->kind) {
    case SB_FRAMER_RAW:
        CHECK(n >= 1 && n <= 64 * 1024);
        break;
    case SB_FRAMER_FIXED:
        CHECK(n == f->len);
        break;
    case SB_FRAMER_DELIM:
        if (f->flags & SB_FRAMER_KEEP_DELIM) {
            CHECK(n >= dl && n <= f->max_len + dl + ((f->flags & SB_FRAMER_STRIP_CR) ? 1 : 0));
            CHECK(memcmp(d + n - dl, f->delim, dl) == 0);
            n -= dl;
        } else {
            CHECK(n <= f->max_len);
        }
        /* The message ends at the first delimiter. */
        CHECK(n < dl || memmem(d, n, f->delim, dl) == NULL);
        break;
    default: /* prefix, digits, until EOF */
        CHECK(n <= f->max_len);
        break;
    }
}

/* --------------------------------------------------------- callbacks */

static void cb_enter(sb_conn *c, void *udata)
{
    CHECK(udata == &st);
    CHECK(st.opened && !st.closed); /* no callback after on_close */
    CHECK(c == st.c);
}

static void on_open(sb_conn *c, void *udata)
{
    CHECK(udata == &st);
    CHECK(!st.opened && !st.c); /* one connection per input */
    opens++;
    st.c = c;
    st.opened = 1;
    st.raw_all = 1;
    sb_framer_raw(&st.cur);
}

static void on_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    cb_enter(c, udata);
    check_message(&st.cur, data, len);
    if (st.raw_all) {
        CHECK(st.cur.kind == SB_FRAMER_RAW);
        CHECK(st.delivered + len <= sent_off);
        CHECK(memcmp(sent + st.delivered, data, len) == 0);
        st.delivered += len;
    }
    st.msgs++;
    CHECK(sb_conn_queued(c) <= model_len - recv_len);
    switch (st.data_act) {
    case 1: /* discard (the output is no copy of the input from here) */
        echo_pure = 0;
        break;
    case 2: /* echo, close after k messages */
        echo(c, data, len);
        if (st.msgs > (unsigned)st.data_k)
            sb_close(c);
        break;
    case 3: /* echo, abort after k messages */
        echo(c, data, len);
        if (st.msgs > (unsigned)st.data_k)
            sb_abort(c);
        break;
    case 4: { /* echo, switch framers every message (request / body) */
        fspec cur;
        echo(c, data, len);
        memset(&cur, 0, sizeof(cur));
        cur.f = st.cur;
        {
            fspec next = st.alt;
            st.alt = cur;
            apply_fspec(c, &next);
        }
        break;
    }
    case 5: /* echo, pause (an op resumes) */
        echo(c, data, len);
        sb_conn_pause(c);
        break;
    case 6: /* echo, half-close after k messages */
        echo(c, data, len);
        if (st.msgs > (unsigned)st.data_k)
            sb_shutdown(c);
        break;
    case 7: { /* echo plus k pattern bytes */
        unsigned char extra[40];
        size_t n = 1 + (size_t)st.data_k;
        echo(c, data, len);
        pattern(extra, n);
        swrite(c, extra, n);
        break;
    }
    default: /* echo */
        echo(c, data, len);
        break;
    }
}

static int on_frame_error(sb_conn *c, int err, void *udata)
{
    cb_enter(c, udata);
    CHECK(err == SB_ETOOLONG || err == SB_EFRAME);
    CHECK(st.cur.kind != SB_FRAMER_RAW);
    CHECK(st.cur.kind != SB_FRAMER_FIXED || st.cur.len == 0);
    if (err == SB_EFRAME)
        CHECK(st.cur.kind == SB_FRAMER_DIGITS || st.cur.kind == SB_FRAMER_FIXED);
    switch (st.fe_act) {
    case 1: /* skip the message if possible */
        return 1;
    case 2: { /* go on with the other framer */
        fspec next = st.alt;
        /* Two framers that both fail on the same bytes would take turns
         * for ever: the handler's loop (nothing is consumed), not the
         * library's.  A handler gives up at some point. */
        if (++st.fe_switches > 16)
            return 0;
        st.alt.f = st.cur;
        st.alt.shorthand = 0;
        apply_fspec(c, &next);
        return 1;
    }
    case 3: /* answer, then let the library close */
        swrite(c, "ERR\n", 4);
        return 0;
    default:
        return 0;
    }
}

static void on_eof(sb_conn *c, void *udata)
{
    cb_enter(c, udata);
    CHECK(c_shut || c_closed); /* the client really half-closed */
    CHECK(!st.eof_seen);
    st.eof_seen = 1;
    if (st.raw_all)
        CHECK(st.delivered == sent_off); /* every byte before the FIN */
    switch (st.eof_act) {
    case 1: /* keep the connection half-open */
        break;
    case 2: {
        unsigned char b[16];
        pattern(b, sizeof(b));
        swrite(c, b, sizeof(b));
        sb_close(c);
        break;
    }
    case 3:
        sb_shutdown(c);
        break;
    default: /* what the library does without on_eof */
        sb_close(c);
        break;
    }
}

static void drain_write(sb_conn *c)
{
    unsigned char b[64];
    size_t n = 1 + st.drain_writes * 7;

    if (st.drain_writes >= DRAIN_WRITES)
        return;
    st.drain_writes++;
    pattern(b, n);
    swrite(c, b, n);
}

static void on_drain(sb_conn *c, void *udata)
{
    cb_enter(c, udata);
    CHECK(sb_conn_queued(c) == 0);
    switch (st.drain_act) {
    case 1: /* more output (sent next iteration) */
        drain_write(c);
        break;
    case 2:
        sb_close(c);
        break;
    case 3:
        sb_conn_resume(c);
        break;
    case 4: /* queued, then reset in the same pass */
        drain_write(c);
        sb_abort(c);
        break;
    case 5:
        drain_write(c);
        sb_close(c);
        break;
    case 6: { /* the other framer, on bytes maybe buffered */
        fspec next = st.alt;
        st.alt.f = st.cur;
        st.alt.shorthand = 0;
        apply_fspec(c, &next);
        break;
    }
    case 7:
        sb_conn_pause(c);
        break;
    default:
        break;
    }
}

static void on_close(sb_conn *c, int reason, void *udata)
{
    cb_enter(c, udata);
    CHECK(reason <= 0);
    st.closed = 1;
    st.reason = reason;
    st.c = NULL;
    closes++;
}

static const sb_handler handler = {on_open, on_data, on_eof, on_drain, on_close,
                                   on_frame_error};
/* Without on_eof: the library closes at the peer's EOF by itself. */
static const sb_handler handler_no_eof = {on_open, on_data, NULL, on_drain, on_close,
                                          on_frame_error};

/* ------------------------------------------------------------- client */

static void client_flush(void)
{
    while (cfd >= 0 && !c_shut && !c_closed && sent_off < sent_len) {
        ssize_t n = send(cfd, sent + sent_off, sent_len - sent_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        sent_len = sent_off; /* reset by the server: the rest never leaves */
        return;
    }
}

static void client_read(void)
{
    unsigned char buf[65536];

    while (cfd >= 0 && !c_eof && !c_err) {
        ssize_t n = recv(cfd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            /* What arrives is always the next part of what was accepted. */
            CHECK(recv_len + (size_t)n <= model_len);
            CHECK(memcmp(model + recv_len, buf, (size_t)n) == 0);
            recv_len += (size_t)n;
            continue;
        }
        if (n == 0) {
            c_eof = 1;
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            c_err = errno;
        return;
    }
}

static void client_queue(const unsigned char *p, size_t n)
{
    if (cfd < 0 || c_shut || c_closed)
        return;
    if (n > SENT_CAP - sent_len)
        n = SENT_CAP - sent_len;
    memcpy(sent + sent_len, p, n);
    sent_len += n;
    client_flush();
}

/* Stop sending: what the kernel did not take is dropped from the record. */
static void client_stop_sending(void)
{
    client_flush();
    sent_len = sent_off;
}

static void client_close(int reset)
{
    if (cfd < 0)
        return;
    client_stop_sending();
    if (reset)
        fz_close_reset(cfd);
    else
        close(cfd);
    cfd = -1;
    c_closed = 1;
}

/* One loop iteration (timeout_ms: how long select may wait), with the
 * client sending and reading around it. */
static void step(int timeout_ms)
{
    int rc;

    client_flush();
    rc = sb_loop_run_once(loop, timeout_ms);
    CHECK(rc != SB_ENESTED && rc != -EINVAL);
    client_read();
}

/* --------------------------------------------------------------- ops */

enum {
    OP_CSEND,   /* client sends the next n input bytes */
    OP_CFILL,   /* client sends up to 64 KiB of a pattern */
    OP_CREAD,   /* client reads what is there */
    OP_CSHUT,   /* client shutdown(SHUT_WR) */
    OP_CCLOSE,  /* client close() */
    OP_CRESET,  /* client close() with SO_LINGER 0 */
    OP_SWRITE,  /* server sb_write / sb_write_prefix / _digits / _delim */
    OP_SSHUT,   /* sb_shutdown */
    OP_SCLOSE,  /* sb_close */
    OP_SABORT,  /* sb_abort */
    OP_SPAUSE,  /* sb_conn_pause */
    OP_SRESUME, /* sb_conn_resume */
    OP_SWATER,  /* sb_conn_set_watermarks */
    OP_SFRAMER, /* set a framer now */
    OP_SALT,    /* the framer on_data / on_frame_error switch to */
    OP_SMODE,   /* handler behaviour */
    OP_FAULT,   /* a fault schedule for one kind of call */
    OP_RUN,     /* 1..8 loop iterations */
    OP_CLOCK,   /* advance the loop's clock */
    OP_STIMEOUT, /* sb_conn_set_timeout */
    OP_BUFS,    /* a small server send buffer: real partial sends */
    OP_QUERY,   /* the read-only accessors */
    OP_CLOSEALL, /* sb_loop_close_all */
    OP_N
};

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t get8(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static void walk_fn(sb_conn *c, void *udata)
{
    CHECK(c == st.c);
    (*(int *)udata)++;
}

static void handle_fn(int kind, int fd, void *h, void *udata)
{
    (void)fd;
    (void)h;
    CHECK(kind >= SB_HANDLE_LISTENER && kind <= SB_HANDLE_TIMER);
    (*(int *)udata)++;
}

static void op_fault(uint8_t a, uint8_t b, uint8_t p1, uint8_t p2)
{
    static const int calls[] = {TU_F_RECV, TU_F_SEND,   TU_F_CLOSE,
                                TU_F_SELECT, TU_F_ALLOC, TU_F_SHUTDOWN};
    static const int errs[] = {0, EAGAIN, EINTR, ECONNRESET, EPIPE, ENOMEM, EBADF, ETIMEDOUT};
    static const char *const scripts[] = {"s", "e", ".e", "s.", "se", "..e", "s.s.es..",
                                          "es"};
    tu_fault f;
    int call = calls[a % 6];

    memset(&f, 0, sizeof(f));
    f.err = errs[(b >> 2) % 8];
    switch (b & 3) {
    case 0:
        f.every = 1 + p1 % 8;
        break;
    case 1:
        f.percent = p1 % 101;
        break;
    case 2:
        f.script = scripts[p1 % 8];
        break;
    default:
        tu_fault_partial_io(p1 | (uint32_t)p2 << 8);
        return;
    }
    f.skip = p2 & 15;
    f.limit = p2 >> 4;
    if (call == TU_F_ALLOC && f.err == 0)
        f.err = ENOMEM;
    /* The library retries EINTR at once (a kernel does not fail forever):
     * an endless EINTR schedule would be the harness's hang, not its. */
    if (f.err == EINTR && (call == TU_F_RECV || call == TU_F_SEND) &&
        (f.limit == 0 || f.limit > 8))
        f.limit = 8;
    tu_fault_set(call, &f);
}

static void run_op(reader *r)
{
    uint8_t op = get8(r) % OP_N;
    sb_conn *c = st.c;

    switch (op) {
    case OP_CSEND: {
        size_t n = get8(r);
        if (n > r->n)
            n = r->n;
        client_queue(r->p, n);
        r->p += n;
        r->n -= n;
        break;
    }
    case OP_CFILL: {
        static unsigned char buf[SENT_CAP];
        static const char *const pats[] = {"x", "line\n", "a\r\n", "0005hello", "ab",
                                           "\r\n\r\n"};
        size_t n = (size_t)get8(r) << 8 | get8(r), i, pl;
        uint8_t k = get8(r);
        if (k % 7 == 6) {
            for (i = 0; i < n; i++)
                buf[i] = (unsigned char)(i * 7 + k);
        } else {
            const char *p = pats[k % 7];
            pl = strlen(p);
            for (i = 0; i < n; i++)
                buf[i] = (unsigned char)p[i % pl];
        }
        client_queue(buf, n);
        break;
    }
    case OP_CREAD:
        client_read();
        break;
    case OP_CSHUT:
        if (cfd >= 0 && !c_shut) {
            client_stop_sending();
            shutdown(cfd, SHUT_WR);
            c_shut = 1;
        }
        break;
    case OP_CCLOSE:
        client_close(0);
        break;
    case OP_CRESET:
        client_close(1);
        break;
    case OP_SWRITE: {
        size_t n = ((size_t)get8(r) << 8 | get8(r)) & 0x3fff;
        uint8_t how = get8(r);
        if (c)
            swrite_enc(c, how % 4, n, how >> 2);
        break;
    }
    case OP_SSHUT:
        if (c)
            sb_shutdown(c);
        break;
    case OP_SCLOSE:
        if (c)
            sb_close(c);
        break;
    case OP_SABORT:
        if (c)
            sb_abort(c);
        break;
    case OP_SPAUSE:
        if (c)
            sb_conn_pause(c);
        break;
    case OP_SRESUME:
        if (c)
            sb_conn_resume(c);
        break;
    case OP_SWATER: {
        uint8_t lo = get8(r), hi = get8(r);
        size_t l = lo == 255 ? SIZE_MAX : lo, h = hi == 255 ? SIZE_MAX : hi == 254 ? 1u << 20 : hi;
        if (c)
            sb_conn_set_watermarks(c, l, h);
        break;
    }
    case OP_SFRAMER: {
        fspec s;
        uint8_t k = get8(r), a = get8(r), b = get8(r);
        if (make_fspec(&s, k, a, b) == 0 && c)
            apply_fspec(c, &s);
        break;
    }
    case OP_SALT: {
        fspec s;
        uint8_t k = get8(r), a = get8(r), b = get8(r);
        if (make_fspec(&s, k, a, b) == 0)
            st.alt = s;
        break;
    }
    case OP_SMODE: {
        uint8_t m1 = get8(r), m2 = get8(r);
        st.data_act = m1 & 7;
        st.data_k = (m1 >> 3) & 31;
        st.fe_act = m2 & 3;
        st.eof_act = (m2 >> 2) & 3;
        st.drain_act = (m2 >> 4) & 7;
        break;
    }
    case OP_FAULT: {
        uint8_t a = get8(r), b = get8(r), p1 = get8(r), p2 = get8(r);
        op_fault(a, b, p1, p2);
        break;
    }
    case OP_RUN: {
        int n = 1 + get8(r) % 8, i;
        for (i = 0; i < n; i++)
            step(0);
        break;
    }
    case OP_CLOCK: {
        static const uint64_t steps[] = {1, 10, 100, 999, 1000, 2001, 60000, 300000};
        fake_now += steps[get8(r) % 8];
        step(0);
        break;
    }
    case OP_STIMEOUT: {
        uint8_t v = get8(r);
        if (c)
            sb_conn_set_timeout(c, v < 200 ? v * 10u : 0);
        break;
    }
    case OP_BUFS: {
        /* Only the server's send buffer: a receive buffer below the
         * loopback MSS (64 KiB) puts TCP into zero-window probing, with
         * stalls of seconds that are the kernel's, not the library's. */
        int small = 1024 + get8(r) * 64;
        if (c)
            setsockopt(sb_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        break;
    }
    case OP_QUERY: {
        char buf[128];
        int n = 0, h = 0;
        sb_loop_stats ls;
        if (c) {
            CHECK(sb_conn_queued(c) <= model_len - recv_len);
            CHECK(sb_conn_peer(c, buf, sizeof(buf)) > 0);
            (void)sb_conn_local(c, buf, sizeof(buf));
            CHECK(sb_conn_loop(c) == loop);
            CHECK(sb_conn_listener(c) == lst);
            CHECK(sb_conn_udata(c) == &st);
            CHECK(sb_conn_connecting(c) == 0);
        }
        sb_loop_walk(loop, walk_fn, &n);
        CHECK(n <= 1);
        sb_loop_walk_handles(loop, handle_fn, &h);
        CHECK((size_t)h == sb_loop_handles(loop));
        sb_loop_get_stats(loop, &ls);
        CHECK(ls.conns <= 1);
        CHECK(sb_loop_stats_format(&ls, buf, sizeof(buf)) > 0);
        break;
    }
    case OP_CLOSEALL:
        sb_loop_close_all(loop);
        break;
    }
}

/* -------------------------------------------------------------- input */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    sb_listen_opts lo;
    int err = 0;
    char addr[64];

    (void)argc;
    (void)argv;
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    trace = getenv("FUZZ_TRACE") != NULL;
    for (i = 0; i < NWORLDS; i++) {
        world *w = &worlds[i];
        sb_loop_opts o;
        memset(&o, 0, sizeof(o));
        o.backend = w->backend;
        w->loop = sb_loop_new_opts(&o, &err);
        if (!w->loop && err == -ENOSYS && i > 0) {
            *w = worlds[0]; /* not on this platform: select instead */
            continue;
        }
        CHECK(w->loop != NULL);
        CHECK(strcmp(sb_loop_backend(w->loop), w->backend) == 0);
        sb_loop_set_clock(w->loop, fake_clock, NULL);
        memset(&lo, 0, sizeof(lo));
        lo.conn.max_output = w->max_output;
        lo.conn.idle_timeout_ms = w->idle_ms;
        lo.conn.linger_ms = w->linger_ms;
        w->lst = sb_listen(w->loop, "127.0.0.1:0", w->no_eof ? &handler_no_eof : &handler, &st,
                           &lo, &err);
        CHECK(w->lst != NULL);
        w->port = sb_listener_port(w->lst);
        CHECK(sb_listener_local(w->lst, addr, sizeof(addr)) > 0);
        w->base_handles = sb_loop_handles(w->loop);
    }
    return 0;
}

/* Run until the connection's on_close ran: a few polls, then short waits;
 * false when it did not, and nothing moved for about two seconds. */
static int run_until_closed(int polls)
{
    size_t seen = recv_len;
    int idle = 0;

    /* Bounded by progress: give up after 200 iterations (about 2 s) in
     * which the client received nothing; a large output under a small
     * send buffer takes many iterations, but each one moves bytes. */
    while (idle < polls + 200 && conn_live()) {
        step(idle < polls ? 0 : 10);
        if (recv_len != seen) {
            seen = recv_len;
            idle = 0;
        } else {
            idle++;
        }
    }
    return !conn_live();
}

/* Read until the server's FIN or an error (the data is in flight at most). */
static void client_read_to_eof(void)
{
    int i;

    for (i = 0; i < 100 && cfd >= 0 && !c_eof && !c_err; i++) {
        struct pollfd p = {cfd, POLLIN, 0};
        client_read();
        if (c_eof || c_err)
            break;
        if (poll(&p, 1, 20) < 0 && errno != EINTR)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    int ops = 0, i, full;
    const world *w;
    sb_loop_stats ls;
    int base_fds = fz_count_fds();

    if (size < 1)
        return 0;
    w = &worlds[data[0] % NWORLDS];
    loop = w->loop;
    lst = w->lst;
    port = w->port;
    base_handles = w->base_handles;
    r.p++;
    r.n--;

    /* A fresh connection, accepted with no fault in the way. */
    tu_fault_reset();
    memset(&st, 0, sizeof(st));
    cfd = -1;
    c_shut = c_closed = c_eof = c_err = 0;
    sent_len = sent_off = model_len = recv_len = 0;
    echo_pure = 1;
    cfd = fz_connect(port);
    for (i = 0; i < 100 && !st.opened; i++)
        step(i < 3 ? 0 : 50);
    CHECK(st.opened && st.c);

    while (r.n && ops++ < MAX_OPS)
        run_op(&r);

    /* The end: no more faults; the client half-closes and reads. */
    tu_fault_reset();
    if (cfd >= 0 && !c_shut) {
        client_stop_sending();
        shutdown(cfd, SHUT_WR);
        c_shut = 1;
    }
    for (i = 0; i < 16 && conn_live(); i++)
        step(0);
    if (conn_live()) {
        /* Paused, half-open (on_eof kept it), flushing or lingering: close
         * it.  From here it must close: the peer has half-closed and reads. */
        sb_close(st.c);
        if (!run_until_closed(32)) {
            fprintf(stderr,
                    "fuzz_conn: %zu bytes queued; client: eof %d err %d received %zu of %zu\n",
                    sb_conn_queued(st.c), c_eof, c_err, recv_len, model_len);
            fprintf(stderr, "fuzz_conn: connection still open after sb_close, the peer "
                            "half-closed and reading\n");
            abort();
        }
    }
    CHECK(st.closed && !st.c);
    client_read_to_eof();
    /* Echo mode on the raw framer, no write lost: what came back is a
     * prefix of what was sent. */
    if (echo_pure && st.raw_all) {
        CHECK(model_len <= st.delivered);
        CHECK(memcmp(model, sent, model_len) == 0);
    }
    /* An orderly close hands every accepted byte to the kernel first. */
    full = st.reason == 0 && c_eof && !c_err && !c_closed;
    if (full && recv_len != model_len) {
        fprintf(stderr, "fuzz_conn: orderly close, clean EOF, but %zu of %zu bytes received\n",
                recv_len, model_len);
        abort();
    }
    if (trace)
        fprintf(stderr,
                "fuzz_conn: %s: %u messages, %zu raw bytes delivered of %zu sent, %zu of %zu "
                "written bytes received, on_eof %d, reason %d (%s), client eof %d err %d%s\n",
                w->backend, st.msgs, st.delivered, sent_off, recv_len, model_len, st.eof_seen,
                st.reason, sb_strerror(st.reason), c_eof, c_err, full ? ", full check" : "");
    client_close(c_eof ? 0 : 1);

    /* A few iterations for deferred frees, then the baselines. */
    step(0);
    CHECK(opens == closes);
    CHECK(sb_loop_handles(loop) == base_handles);
    CHECK(sb_listener_conns(lst) == 0);
    sb_loop_get_stats(loop, &ls);
    CHECK(ls.conns == 0);
    {
        int fds = fz_count_fds();
        if (fds != base_fds) {
            fprintf(stderr, "fuzz_conn: %d fds open, %d at the start\n", fds, base_fds);
            abort();
        }
    }
    return 0;
}
