/*
 * libFuzzer target for sb-kvd's request side: the RESP parser that
 * switches framers inside on_data (demos/sb-kvd/resp.c), the commands and
 * the keyspace, behind the daemon's real connection callbacks (main.c)
 * on the real library, over loopback TCP.
 *
 * The daemon's main() runs once, on a thread of its own that it never
 * leaves (tests/fuzz/fuzz_daemon.h), with --listen 127.0.0.1:0; the fuzz
 * thread drives its loop.  Per input:
 *   byte 0     how the rest is cut into sends (one send, or chunks of
 *              1..N bytes with loop iterations between them);
 *   the rest   the request stream, sent by one client, which then
 *              half-closes and reads until the server closes (bounded).
 * Then a fresh connection sends FLUSHALL and PING and must get exactly
 * "+OK\r\n+PONG\r\n": the server still works, and the keyspace is empty
 * again for the next input.
 *
 * Invariants (abort() on violation):
 *  - the server closes a half-closed connection within the bound;
 *  - everything it sent is a sequence of complete, well-formed RESP2
 *    replies (a partial last reply only after a reset);
 *  - FLUSHALL + PING on a fresh connection: "+OK\r\n+PONG\r\n";
 *  - afterwards no client left (the daemon's count, sb-kvd's, the loop's
 *    handles back to their baseline), the keyspace empty, its memory
 *    back to that of an empty keyspace, no key left with a TTL.
 */
#define main sb_kvd_main
#define sbd_run fuzz_sbd_run
int main(int argc, char **argv);
#include "../../demos/sb-kvd/main.c"
#undef main
#undef sbd_run

#include "fuzz_client.h"
#include "fuzz_daemon.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_INPUT (64 * 1024)
#define REPLY_KEEP (8u << 20) /* received bytes kept for the reply check */

static sbd *daemon_;
static kvd *srv;
static int port;
static size_t base_handles, base_mem;
static int trace;


/* ------------------------------------------------------- reply checks */

/* One RESP2 line at p[*at]: its bytes up to CRLF, none of CR or LF in it.
 * 1 with *at past it, 0 when incomplete; aborts when malformed. */
static int resp_line(const char *p, size_t n, size_t *at, const char **s, size_t *len)
{
    size_t i;

    for (i = *at; i < n; i++) {
        if (p[i] == '\r') {
            if (i + 1 == n)
                return 0;
            CHECK(p[i + 1] == '\n');
            *s = p + *at;
            *len = i - *at;
            *at = i + 2;
            return 1;
        }
        CHECK(p[i] != '\n'); /* a bare LF inside a reply line */
    }
    return 0;
}

static long long resp_number(const char *s, size_t len)
{
    long long v;

    CHECK(str2ll(s, len, &v));
    return v;
}

/* One reply at p[*at]: 1 with *at past it, 0 when incomplete. */
static int resp_value(const char *p, size_t n, size_t *at, int depth)
{
    const char *s;
    size_t len, pos = *at;
    long long v, i;

    CHECK(depth < 8);
    if (pos >= n)
        return 0;
    CHECK(p[pos] == '+' || p[pos] == '-' || p[pos] == ':' || p[pos] == '$' || p[pos] == '*');
    pos++;
    if (!resp_line(p, n, &pos, &s, &len))
        return 0;
    switch (p[*at]) {
    case '+':
    case '-':
        break;
    case ':':
        (void)resp_number(s, len);
        break;
    case '$':
        v = resp_number(s, len);
        CHECK(v >= -1);
        if (v >= 0) {
            if (n - pos < (size_t)v + 2)
                return 0;
            CHECK(p[pos + (size_t)v] == '\r' && p[pos + (size_t)v + 1] == '\n');
            pos += (size_t)v + 2;
        }
        break;
    default:
        v = resp_number(s, len);
        CHECK(v >= -1);
        for (i = 0; i < v; i++)
            if (!resp_value(p, n, &pos, depth + 1))
                return 0;
        break;
    }
    *at = pos;
    return 1;
}

/* Every reply complete and well formed; a cut-off last one only when the
 * connection was reset.  Returns the number of replies. */
static unsigned check_replies(const fz_client *cl)
{
    size_t at = 0;
    unsigned n = 0;

    if (cl->in_total > cl->in.len)
        return 0; /* more than kept: not checked */
    while (at < cl->in.len) {
        if (!resp_value(cl->in.p, cl->in.len, &at, 0)) {
            if (!cl->err) {
                fprintf(stderr, "fuzz_resp: reply %u cut off at byte %zu of %zu, no reset\n",
                        n, at, cl->in.len);
                abort();
            }
            break;
        }
        n++;
    }
    return n;
}

/* ----------------------------------------------------------- checks */

/* FLUSHALL and PING on a fresh connection: the exact answers. */
static void check_alive(const char *when)
{
    static const char req[] = "*1\r\n$8\r\nFLUSHALL\r\nPING\r\n";
    static const char want[] = "+OK\r\n+PONG\r\n";
    fz_client cl;

    memset(&cl, 0, sizeof(cl));
    cl.fd = fz_connect(port);
    cl.out = req;
    cl.out_len = sizeof(req) - 1;
    cl.shut = 1;
    cl.in_max = 4096;
    run_until_closed(&cl, when);
    if (cl.err || cl.in.len != sizeof(want) - 1 || memcmp(cl.in.p, want, cl.in.len) != 0) {
        fprintf(stderr, "fuzz_resp: %s: FLUSHALL+PING answered '%.*s' (err %d)\n", when,
                (int)cl.in.len, cl.in.p ? cl.in.p : "", cl.err);
        abort();
    }
    close(cl.fd);
    free(cl.in.p);
    CHECK(srv->nclients == 0);
    CHECK(daemon_->conns == 0);
    CHECK(db_count(&srv->db) == 0);
    CHECK(srv->db.nvol == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char a0[] = "sb-kvd", a1[] = "--listen", a2[] = "127.0.0.1:0", a3[] = "--log-level",
                a4[] = "error";
    static char *args[] = {a0, a1, a2, a3, a4, NULL};

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    trace = getenv("FUZZ_TRACE") != NULL;
    daemon_ = fz_start_daemon(sb_kvd_main, 5, args);
    srv = daemon_->app;
    CHECK(srv != NULL && srv->loop == daemon_->loop);
    port = sb_listener_port(daemon_->listeners[0]);
    CHECK(port > 0);
    base_handles = sb_loop_handles(srv->loop);
    check_alive("start");
    base_mem = srv->db.mem;
    CHECK(sb_loop_handles(srv->loop) == base_handles);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunk_max[] = {1, 2, 3, 7, 16, 64, 512, 65536};
    fz_client cl;
    uint32_t rng;
    size_t pos = 0, chunk;
    unsigned replies;

    if (size < 1 || size > FZ_MAX_INPUT)
        return 0;
    memset(&cl, 0, sizeof(cl));
    cl.fd = fz_connect(port);
    cl.in_max = REPLY_KEEP;
    chunk = chunk_max[data[0] % 8];
    rng = data[0] * 2654435761u + 1;
    data++;
    size--;
    /* The stream in chunks, a loop iteration or two after each. */
    while (pos < size) {
        size_t n = chunk == 65536 ? size : 1 + (rng = rng * 1103515245u + 12345u) % chunk;
        int idle;
        if (n > size - pos)
            n = size - pos;
        cl.out = (const char *)data + pos;
        cl.out_len = n;
        pos += n;
        /* Until the chunk is out; aborts when nothing moves for 3 s. */
        for (idle = 0; cl.out_len && !cl.err;) {
            size_t left = cl.out_len, got = cl.in_total;
            step(&cl, idle < 10 ? 0 : 10);
            idle = cl.out_len != left || cl.in_total != got ? 0 : idle + 1;
            if (idle == 10 + 300) {
                fprintf(stderr, "fuzz_resp: the server stopped reading (%zu bytes unsent)\n",
                        cl.out_len);
                abort();
            }
        }
        if (cl.err)
            break;
        step(&cl, 0);
    }
    cl.shut = 1;
    run_until_closed(&cl, "input");
    replies = check_replies(&cl);
    if (trace)
        fprintf(stderr, "fuzz_resp: %zu bytes in, %zu bytes / %u replies out, eof %d err %d\n",
                size, cl.in_total, replies, cl.eof, cl.err);
    if (trace && getenv("FUZZ_TRACE")[0] == '2')
        fprintf(stderr, "%.*s\n", (int)(cl.in.len < 2000 ? cl.in.len : 2000),
                cl.in.p ? cl.in.p : "");
    close(cl.fd);
    free(cl.in.p);

    check_alive("after the input");
    CHECK(srv->db.mem == base_mem);
    CHECK(sb_loop_handles(srv->loop) == base_handles);
    return 0;
}
