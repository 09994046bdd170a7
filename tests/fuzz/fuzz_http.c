/*
 * libFuzzer target for sb-httpd's request side: the head parser, the
 * target-to-path mapping, the body discarding through the fixed framer,
 * file serving (in-memory cache, cached fds, files streamed from on_drain
 * with the input paused), keep-alive and pipelining, behind the daemon's
 * real callbacks on the real library, over loopback TCP.
 *
 * The daemon's main() runs once, on a thread of its own that it never
 * leaves (tests/fuzz/fuzz_daemon.h), with --listen 127.0.0.1:0 and --root
 * a directory made once under /tmp (small files, one cached in memory, one
 * cached as an fd, one streamed, an empty one, a name with a space, an
 * index.html, a symlink inside the root and one out of it); the fuzz
 * thread drives its loop.  Per input:
 *   byte 0     how the rest is cut into sends (one send, or chunks of
 *              1..N bytes with loop iterations between them);
 *   the rest   the request stream, sent by one client, which then
 *              half-closes and reads until the server closes (bounded).
 * Then "GET /small HTTP/1.1\r\nHost: x\r\n\r\n" on a fresh connection
 * must get 200 and the file.
 *
 * Invariants (abort() on violation):
 *  - the server closes a half-closed connection within the bound, and
 *    never resets it;
 *  - what it sent is a sequence of complete responses, each starting with
 *    "HTTP/1.1 " and a known status, with a Content-Length and that many
 *    body bytes (none after HEAD; a 304 has neither); a 200's body is the
 *    file of that size;
 *    nothing follows a response that says "Connection: close";
 *  - GET /small on a fresh connection: 200 and the file's bytes;
 *  - afterwards no client left (the daemon's count, the loop's handles back
 *    to their baseline), and the process holds no fd beyond the open-file
 *    cache's.
 */
#define main sb_httpd_main
#define sbd_run fuzz_sbd_run
int main(int argc, char **argv);
#include "../../demos/sb-httpd.c"
#undef main
#undef sbd_run

#include "fuzz_client.h"
#include "fuzz_daemon.h"

#include <ftw.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_INPUT (64 * 1024)
#define RESP_KEEP (16u << 20) /* received bytes kept for the response check */

static sbd *daemon_;
static httpd *srv;
static int port;
static size_t base_handles;
static int trace;
static char root[64] = "/tmp/sb-fuzz-httpd.XXXXXX";

/* The files under the root: every size distinct, so a 200's body can be
 * told by its length.  No content starts with "HTTP/". */
typedef struct rfile {
    const char *name;
    size_t size;
    char *data;
} rfile;
static rfile files[] = {
    {"small", 13, NULL},          /* the liveness check's file */
    {"index.html", 19, NULL},
    {"sub/index.html", 23, NULL},
    {"a b.txt", 7, NULL},
    {"empty", 0, NULL},
    {"mid.txt", 30000, NULL},     /* cached fd, read with pread */
    {"big.bin", 150000, NULL},    /* streamed from on_drain */
    {"dir/x.css", 41, NULL},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_root(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_root(void)
{
    char path[256];
    size_t i, j;

    CHECK(mkdtemp(root) != NULL);
    atexit(remove_root);
    snprintf(path, sizeof(path), "%s/sub", root);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/dir", root);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/nodir", root); /* no index.html: 404 */
    CHECK(mkdir(path, 0755) == 0);
    for (i = 0; i < NFILES; i++) {
        FILE *f;
        rfile *r = &files[i];
        r->data = malloc(r->size + 1);
        CHECK(r->data != NULL);
        for (j = 0; j < r->size; j++)
            r->data[j] = (char)('a' + (j * 7 + i) % 26);
        if (r->size)
            r->data[r->size - 1] = '\n';
        snprintf(path, sizeof(path), "%s/%s", root, r->name);
        CHECK((f = fopen(path, "wb")) != NULL);
        CHECK(fwrite(r->data, 1, r->size, f) == r->size);
        CHECK(fclose(f) == 0);
    }
    snprintf(path, sizeof(path), "%s/in", root);
    CHECK(symlink("small", path) == 0);
    snprintf(path, sizeof(path), "%s/out", root);
    CHECK(symlink("/etc/passwd", path) == 0);
}

static const rfile *file_of_size(uint64_t n)
{
    size_t i;

    for (i = 0; i < NFILES; i++)
        if (files[i].size == n)
            return &files[i];
    return NULL;
}


/* ---------------------------------------------------- response checks */

static int known_status(int s)
{
    static const int ok[] = {200, 206, 301, 304, 400, 403, 404, 405, 408,
                             411, 413, 414, 416, 431, 500, 501, 505};
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ok[i] == s)
            return 1;
    return 0;
}

/* A field's value in a head (name with its ": "), or NULL. */
static const char *head_field(const char *h, size_t n, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = h, *end = h + n;

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0) {
            *vlen = (size_t)(eol - p) - nl;
            return p + nl;
        }
        p = eol + 2;
    }
    return NULL;
}

/* Walk the responses; returns how many. */
static unsigned check_responses(const fz_client *cl, const char *what)
{
    const char *p, *end;
    unsigned n = 0;
    int closed = 0;

    if (cl->in_total > cl->in.len || cl->in.len == 0)
        return 0; /* nothing, or more than kept (not checked) */
    p = cl->in.p;
    end = p + cl->in.len;
    while (p < end) {
        const char *hend, *v;
        size_t hlen, vlen, i;
        uint64_t clen = 0;
        int status;
        const rfile *f;

        if (closed) {
            fprintf(stderr, "fuzz_http: %s: bytes after a 'Connection: close' response\n", what);
            abort();
        }
        if ((size_t)(end - p) < 9 || memcmp(p, "HTTP/1.1 ", 9) != 0) {
            fprintf(stderr, "fuzz_http: %s: response %u starts with '%.*s'\n", what, n,
                    (int)((size_t)(end - p) < 40 ? end - p : 40), p);
            abort();
        }
        hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) {
            fprintf(stderr, "fuzz_http: %s: response %u: head cut off\n", what, n);
            abort();
        }
        hlen = (size_t)(hend - p) + 4;
        CHECK(p[9] >= '1' && p[9] <= '5' && p[12] == ' ');
        status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        CHECK(known_status(status));
        v = head_field(p, hlen - 2, "Content-Length: ", &vlen);
        if (status == 304) { /* no body, and no Content-Length (RFC 9110, 15.4.5) */
            CHECK(v == NULL);
            vlen = 0;
        } else {
            CHECK(v != NULL && vlen > 0 && vlen < 20);
        }
        for (i = 0; i < vlen; i++) {
            CHECK(v[i] >= '0' && v[i] <= '9');
            clen = clen * 10 + (uint64_t)(v[i] - '0');
        }
        v = head_field(p, hlen - 2, "Connection: ", &vlen);
        closed = v && vlen == 5 && memcmp(v, "close", 5) == 0;
        p += hlen;
        /* After HEAD the next response follows at once (no body starts
         * with "HTTP/"); else Content-Length bytes of body. */
        if (clen && p < end && !((size_t)(end - p) >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
            if ((uint64_t)(end - p) < clen) {
                fprintf(stderr, "fuzz_http: %s: response %u (%d): %zu of %llu body bytes\n",
                        what, n, status, (size_t)(end - p), (unsigned long long)clen);
                abort();
            }
            if (status == 200) {
                f = file_of_size(clen);
                CHECK(f != NULL);
                CHECK(memcmp(p, f->data, clen) == 0);
            }
            p += clen;
        } else if (status == 200) {
            CHECK(file_of_size(clen) != NULL);
        }
        n++;
    }
    return n;
}

/* -------------------------------------------------------------- input */

/* GET /small on a fresh connection: 200 and the file. */
static void check_alive(const char *when)
{
    static const char req[] = "GET /small HTTP/1.1\r\nHost: x\r\n\r\n";
    fz_client cl;
    const char *body;

    memset(&cl, 0, sizeof(cl));
    cl.fd = fz_connect(port);
    cl.out = req;
    cl.out_len = sizeof(req) - 1;
    cl.shut = 1;
    cl.in_max = 1 << 20;
    run_until_closed(&cl, when);
    body = cl.in.p ? memmem(cl.in.p, cl.in.len, "\r\n\r\n", 4) : NULL;
    if (cl.err || cl.in.len < 17 || memcmp(cl.in.p, "HTTP/1.1 200 OK\r\n", 17) != 0 || !body ||
        (size_t)(cl.in.p + cl.in.len - body - 4) != files[0].size ||
        memcmp(body + 4, files[0].data, files[0].size) != 0) {
        fprintf(stderr, "fuzz_http: %s: GET /small answered '%.*s' (err %d)\n", when,
                (int)cl.in.len, cl.in.p ? cl.in.p : "", cl.err);
        abort();
    }
    close(cl.fd);
    free(cl.in.p);
    CHECK(daemon_->conns == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char a0[] = "sb-httpd", a1[] = "--listen", a2[] = "127.0.0.1:0", a3[] = "--root",
                a5[] = "--log-level", a6[] = "error";
    static char *args[] = {a0, a1, a2, a3, root, a5, a6, NULL};

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    trace = getenv("FUZZ_TRACE") != NULL;
    make_root();
    daemon_ = fz_start_daemon(sb_httpd_main, 7, args);
    srv = daemon_->app;
    CHECK(srv != NULL);
    port = sb_listener_port(daemon_->listeners[0]);
    CHECK(port > 0);
    base_handles = sb_loop_handles(daemon_->loop);
    check_alive("start");
    CHECK(sb_loop_handles(daemon_->loop) == base_handles);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunk_max[] = {1, 2, 3, 7, 16, 64, 512, 65536};
    fz_client cl;
    uint32_t rng;
    size_t pos = 0, chunk;
    unsigned responses;
    /* Descriptors besides the cache's: these must not change. */
    int base_fds = fz_count_fds() - (int)srv->cache_fds, fds;

    if (size < 1 || size > FZ_MAX_INPUT)
        return 0;
    memset(&cl, 0, sizeof(cl));
    cl.fd = fz_connect(port);
    cl.in_max = RESP_KEEP;
    chunk = chunk_max[data[0] % 8];
    rng = data[0] * 2654435761u + 1;
    data++;
    size--;
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
                fprintf(stderr, "fuzz_http: the server stopped reading (%zu bytes unsent)\n",
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
    if (cl.err) {
        fprintf(stderr, "fuzz_http: the server reset the connection (%s)\n", strerror(cl.err));
        abort();
    }
    responses = check_responses(&cl, "input");
    if (trace)
        fprintf(stderr, "fuzz_http: %zu bytes in, %zu bytes / %u responses out\n", size,
                cl.in_total, responses);
    if (trace && getenv("FUZZ_TRACE")[0] == '2')
        fprintf(stderr, "%.*s\n", (int)(cl.in.len < 2000 ? cl.in.len : 2000),
                cl.in.p ? cl.in.p : "");
    close(cl.fd);
    free(cl.in.p);

    check_alive("after the input");
    CHECK(sb_loop_handles(daemon_->loop) == base_handles);
    fds = fz_count_fds() - (int)srv->cache_fds;
    if (fds != base_fds) {
        fprintf(stderr, "fuzz_http: %d fds besides the cache's, %d before the input\n", fds,
                base_fds);
        abort();
    }
    return 0;
}
