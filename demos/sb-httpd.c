/*
 * sb-httpd — an HTTP/1.1 static file server on switchboard, built only on
 * the public API.  A model of how to write a protocol handler:
 *
 *   - The request head is cut line by line by the library's delimiter
 *     framer (up to "\n", a CR before it dropped, so bare-LF clients work
 *     too), each line parsed as it comes; at most --max-header-bytes in
 *     all, beyond: 431 and close.
 *   - A request body is read and discarded through the fixed framer, in
 *     pieces of at most 64 KiB, then the header framer takes over again.
 *   - A file that does not fit in one 64 KiB write is queued as a file
 *     range (sb_write_file): the library sends it with sendfile(2), so a
 *     slow reader of a large file costs no buffer here.  Input is paused
 *     until it is sent (sb_conn_pause; the range's release callback
 *     resumes), so pipelined requests wait their turn and are answered in
 *     order, with at most one file descriptor in flight per connection.
 *     Where no descriptor can be spared for that, each piece is read with
 *     pread() and queued as the output drains (on_drain) instead.
 *
 * GET and HEAD of regular files under --root; a directory serves its
 * index.html (no listings); one named without its trailing slash is
 * redirected (301) to the name with it.  Keep-alive by default in
 * HTTP/1.1, on request in HTTP/1.0.  Paths are percent-decoded, "." and
 * ".." resolved without leaving the root, and the file is opened with
 * openat2(RESOLVE_BENEATH), so no symlink leads out either (where openat2
 * is missing, the opened file's real path is checked against the root).
 * Chunked request bodies are not supported: 411 Length Required, close.
 *
 * Per request: no allocation, and one sb_write for the head plus the file
 * (or the head and one sb_write_file for a large file).  Small files are kept open for up to a second (an
 * open-file cache) and the smallest ones (up to 16 KiB) kept in memory with
 * it, so a repeated request costs one recv and one send.  The cache holds
 * at most a quarter of the open-file limit, a sweep closes what has
 * expired, and when open() runs out of descriptors the cache is emptied
 * and the open retried, so it never starves the requests it serves.
 *
 * Each request head must be complete within --header-timeout of the
 * moment the server started waiting for it (408 and close): the idle
 * timeout alone restarts with every byte, so it cannot stop a head
 * trickled one byte at a time.
 *
 * SIGTERM / SIGINT: stop accepting, finish the responses in flight, exit 0.
 * SIGUSR1: print the reactor's counters on stderr.
 */
#include "daemon.h"
#include "tlsopt.h"
#include "switchboard.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/openat2.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IOBUF (64 * 1024)        /* one write: response head + file bytes */
#define MAX_TARGET 8192          /* longest request-target; beyond: 414 */
#define MAX_BODY (1024 * 1024)   /* longest request body discarded; beyond: 413 */
#define DEFAULT_MAX_HEADER 16384 /* --max-header-bytes */
#define DEFAULT_IDLE_S 60        /* --idle-timeout */
#define DEFAULT_HEADER_S 20      /* --header-timeout (nginx: 60, Apache: 20-40) */
#define DEFAULT_MAX_CONNS 10000  /* --max-conns */
#define SERVER "sb-httpd/" SB_VERSION_STRING
#define SMALL_FILE (IOBUF - 1024) /* fits in one write with its head */
#define CACHE_SLOTS 64
#define CACHE_PATH 120
#define CACHE_BODY (16 * 1024) /* files up to this size are cached in memory too */
#define CACHE_FD_SHARE 4       /* the cache holds at most 1/4 of RLIMIT_NOFILE */
#define SWEEP_MS 1000          /* how often expired cache entries are closed */
#define TRIM_MIN_CONNS 32      /* a burst worth giving its memory back */
#define TRIM_DELAY_MS 3000     /* after the burst has halved: let it finish */
#define HEAD_MAX 1024          /* longest response head format_head writes */
#define MAX_INM 512            /* longest If-None-Match list kept */
#define OPT_MIME_TYPES 0x200   /* --mime-types (no short form) */
#define OPT_TLS_CERT 0x201     /* --tls-cert */
#define OPT_TLS_KEY 0x202      /* --tls-key */

/* A cached file always leaves in the write that carries its head, so no
 * response in progress ever holds a cached fd after serve_file returns:
 * the cache may close any of its fds at any time between two callbacks. */
_Static_assert(SMALL_FILE + HEAD_MAX <= IOBUF, "a cached file fits in one write");

/* A file found for a request: what the response needs. */
typedef struct file {
    int fd;
    int cached; /* fd belongs to the cache: never closed by a session */
    off_t size;
    char lastmod[32]; /* Last-Modified, formatted when the file is opened */
    time_t mtime;     /* what it says: the mtime, but never after Date */
    char etag[80];    /* a strong ETag: inode, mtime (ns) and size */
    const char *type;
    const char *data; /* the whole content, held by the cache, or NULL */
} file;

/*
 * The open-file cache: a small file is served from it for the rest of the
 * wall-clock second it was opened in (like nginx's open_file_cache with a
 * 1 s validity), so a hit costs one pread, no open/fstat/close; a file of
 * up to CACHE_BODY bytes is read once when cached and then served from
 * memory, so a hit costs no system call at all.  A changed file is seen
 * within a second.  Direct-mapped: a new file evicts the one in its slot
 * (its memory is kept for the next one: at most CACHE_SLOTS x CACHE_BODY).
 *
 * Descriptors: at most cache_max (a quarter of the open-file limit) are
 * held; a file that finds its slot empty and the cache full is served
 * uncached.  A sweep every SWEEP_MS, armed only while the cache holds
 * anything, closes the entries of past seconds and frees their memory, so
 * an fd is held less than 2 s after its open.  When open() fails for lack
 * of fds, every cached fd is closed and the open retried once.
 */
typedef struct cached {
    char path[CACHE_PATH]; /* as asked for ("sub/" for sub/index.html); "" = free */
    time_t when;
    file f;
    char *body; /* f.data points here when the content is cached */
    size_t body_cap;
} cached;

/* One extension of a --mime-types file, and its Content-Type. */
typedef struct mime_ext {
    char *ext;
    const char *type;  /* points into types */
    unsigned line;     /* where it was defined: the last definition wins */
} mime_ext;

typedef struct httpd {
    sbd sbd;                 /* the daemon scaffolding: loop, listeners, signals */
    mime_ext *mime;          /* --mime-types, sorted by extension; NULL: none */
    size_t nmime;
    char **types;            /* the types it names (with a charset for text/) */
    size_t ntypes;
    size_t max_header;
    unsigned header_ms;      /* --header-timeout in ms (0: none) */
    int rootfd;              /* the --root directory */
    char root[PATH_MAX];     /* its canonical path (for the fallback check) */
    size_t rootlen;
    int have_openat2;        /* else: check /proc/self/fd/N after openat */
    time_t date_sec;         /* the Date header, formatted once a second */
    char date[32];
    cached cache[CACHE_SLOTS];
    unsigned cache_max;      /* fds the cache may hold: a quarter of the limit */
    unsigned cache_fds;      /* fds it holds (slots in use) */
    sb_timer *sweep;         /* closes expired entries; armed while cache_fds > 0 */
    sb_timer *trim;          /* gives a burst's memory back (TRIM_DELAY_MS) */
    unsigned long conns_mark; /* most clients at once since the last trim */
    char io[IOBUF];          /* where each write is assembled (one thread) */
} httpd;

/* What the parser found in a request head. */
typedef struct request {
    const char *line; /* the request line, for the access log */
    size_t line_len;
    const char *method, *target;
    size_t method_len, target_len;
    int minor;           /* HTTP/1.minor (1 for any 1.x above 1) */
    int head;            /* HEAD: no body in the response */
    int keep_alive;      /* by version and Connection: */
    int hosts;           /* Host fields seen */
    int host_bad;        /* one was empty or not a host[:port] */
    int absolute;        /* absolute-form target: its authority is the host */
    int chunked, te;     /* Transfer-Encoding: last coding chunked / any */
    int expect_continue; /* Expect: 100-continue */
    int has_length;
    uint64_t length;     /* Content-Length */
    /* Preconditions (RFC 9110, 13.1).  The fields' lines are gone once
     * parsed, so what is needed is kept: If-None-Match's list up to
     * MAX_INM bytes (a longer one is taken as matching nothing, which
     * only costs a full answer), If-Modified-Since parsed. */
    int has_inm, inm_long;
    size_t inm_len;
    char inm[MAX_INM];
    int has_ims;         /* a valid If-Modified-Since (an invalid one is ignored) */
    time_t ims;
    /* Range: one byte range is served (206), anything else ignored (the
     * whole file, 200).  If-Range: its entity-tag as sent, or its date. */
    int range;           /* R_NONE, R_ONE, R_IGNORE */
    int64_t range_first; /* -1: a suffix range of range_last bytes */
    int64_t range_last;  /* -1: to the end */
    int if_range;        /* 0: none, 1: an entity-tag, 2: a date, 3: invalid */
    time_t if_range_date;
    char if_range_tag[96];
} request;
enum { R_NONE, R_ONE, R_IGNORE };

/* One connection.  state says what the next framed message is. */
enum { S_HEAD, S_BODY };
typedef struct session {
    httpd *d;
    sb_conn *c;
    int state;
    int keep_alive;     /* keep the connection after the current response */
    uint64_t body_left; /* S_BODY: request body bytes still to discard */
    int fd;             /* the file being sent, or -1 */
    int fd_cached;      /* fd belongs to the open-file cache */
    int fd_queued;      /* fd is queued with sb_write_file: file_sent() ends it */
    off_t off, end;     /* its next byte to send, and its size */
    sb_timer *head_timer; /* --header-timeout: armed while a head is awaited */
    int head_on_drain;  /* arm it once the response before has drained */
    /* S_HEAD: the head is parsed line by line as it arrives. */
    request req;        /* what its lines said so far */
    int req_started;    /* its request line has arrived */
    size_t head_bytes;  /* its bytes so far, line ends included */
    char *line;         /* a copy of the request line: req points into it */
    size_t line_cap;    /* (grown to the longest line seen, kept) */
} session;


/* ------------------------------------------------------------ formatting */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;

    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_2(char *p, int v)
{
    *p++ = (char)('0' + v / 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (an IMF-fixdate) at p, NUL-terminated;
 * returns the end.  Locale-free and cheaper than strftime. */
static char *http_date(char *p, time_t t)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;

    if (!gmtime_r(&t, &tm) || tm.tm_year < 0 || tm.tm_year > 8099) {
        t = 0; /* a date no calendar can show: the epoch */
        gmtime_r(&t, &tm);
    }
    memcpy(p, days + 3 * tm.tm_wday, 3);
    p = stpcpy(p + 3, ", ");
    p = put_2(p, tm.tm_mday);
    *p++ = ' ';
    memcpy(p, months + 3 * tm.tm_mon, 3);
    p += 3;
    *p++ = ' ';
    p = put_u64(p, (uint64_t)tm.tm_year + 1900);
    *p++ = ' ';
    p = put_2(p, tm.tm_hour);
    *p++ = ':';
    p = put_2(p, tm.tm_min);
    *p++ = ':';
    p = put_2(p, tm.tm_sec);
    return stpcpy(p, " GMT");
}

/*
 * Parse an HTTP-date in any of its three forms (RFC 9110, 5.6.7: a
 * recipient must accept all): "Sun, 06 Nov 1994 08:49:37 GMT",
 * "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994".  Returns 0
 * with *t, or -1 for anything else.
 */
static int parse_http_date(const char *v, size_t n, time_t *t)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char buf[64], mon[4], tail[4];
    const char *m;
    struct tm tm;
    int end = 0;

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    memset(&tm, 0, sizeof(tm));
    if (sscanf(buf, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", &tm.tm_mday, mon,
               &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tail, &end) == 7 &&
        end == (int)n && strcmp(tail, "GMT") == 0) {
        tm.tm_year -= 1900;
    } else if (sscanf(buf, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3[A-Z]%n", &tm.tm_mday,
                      mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tail, &end) == 7 &&
               end == (int)n && strcmp(tail, "GMT") == 0) {
        if (tm.tm_year < 70)
            tm.tm_year += 100; /* two digits: 1970..2069 */
    } else if (sscanf(buf, "%*3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tm.tm_year, &end) == 6 &&
               end == (int)n) {
        tm.tm_year -= 1900;
    } else {
        return -1;
    }
    m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
    if (!m || (m - months) % 3 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 70)
        return -1;
    tm.tm_mon = (int)(m - months) / 3;
    *t = timegm(&tm);
    return *t == (time_t)-1 ? -1 : 0;
}

static const char *date_now(httpd *d)
{
    time_t now = time(NULL);

    if (now != d->date_sec) {
        d->date_sec = now;
        http_date(d->date, now);
    }
    return d->date;
}

static int mime_cmp(const void *a, const void *b)
{
    const mime_ext *x = a, *y = b;
    int c = strcasecmp(x->ext, y->ext);

    return c ? c : x->line > y->line ? -1 : x->line < y->line; /* latest first */
}

/* The Content-Type for path: from --mime-types first (a binary search),
 * then the built-in table. */
static const char *content_type(const httpd *d, const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"json", "application/json"},
        {"xml", "application/xml"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tar", "application/x-tar"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"mp3", "audio/mpeg"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        /* What browsers need for today's media and pages (as nginx 1.22's
         * mime.types or the IANA registry name them). */
        {"avif", "image/avif"},
        {"apng", "image/apng"},
        {"jxl", "image/jxl"},
        {"bmp", "image/bmp"},
        {"tif", "image/tiff"},
        {"tiff", "image/tiff"},
        {"ogg", "audio/ogg"},
        {"oga", "audio/ogg"},
        {"opus", "audio/opus"},
        {"flac", "audio/flac"},
        {"wav", "audio/wav"},
        {"m4a", "audio/mp4"},
        {"aac", "audio/aac"},
        {"weba", "audio/webm"},
        {"ogv", "video/ogg"},
        {"m4v", "video/mp4"},
        {"mov", "video/quicktime"},
        {"mkv", "video/x-matroska"},
        {"mpeg", "video/mpeg"},
        {"mpg", "video/mpeg"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"xhtml", "application/xhtml+xml"},
        {"rss", "application/rss+xml"},
        {"atom", "application/atom+xml"},
        {"webmanifest", "application/manifest+json"},
        {"jsonld", "application/ld+json"},
        {"map", "application/json"},
        {"ics", "text/calendar; charset=utf-8"},
        {"yaml", "application/yaml"},
        {"yml", "application/yaml"},
        {"toml", "application/toml"},
        {"epub", "application/epub+zip"},
        {"rtf", "application/rtf"},
        {"7z", "application/x-7z-compressed"},
        {"bz2", "application/x-bzip2"},
        {"xz", "application/x-xz"},
        {"zst", "application/zstd"},
    };
    const char *dot = strrchr(path, '.');
    size_t i;

    if (dot && !strchr(dot, '/') && d->nmime) {
        mime_ext key, *m;
        size_t lo = 0, hi = d->nmime;
        key.ext = (char *)(uintptr_t)(dot + 1); /* not written: the key only */
        key.line = UINT_MAX;                    /* before every entry of its extension */
        /* The first entry not below key: the latest of that extension. */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (mime_cmp(&d->mime[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        m = lo < d->nmime ? &d->mime[lo] : NULL;
        if (m && strcasecmp(m->ext, dot + 1) == 0)
            return m->type;
    }
    if (dot && !strchr(dot, '/'))
        for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/*
 * Format a response head into buf (at least 1 KiB): status line, Server,
 * Date, then the optional fields, then the blank line.  type NULL: no
 * Content-Type and Content-Length (a 304).  f: the file's Last-Modified and
 * ETag.  conn says which Connection field to send (NULL: none, the HTTP/1.1
 * default).  Returns its length.
 */
static size_t format_head(httpd *d, char *buf, int status, const char *type, uint64_t length,
                          const file *f, const char *conn, const char *extra)
{
    char *p = buf;

    p = stpcpy(p, "HTTP/1.1 ");
    p = put_u64(p, (uint64_t)status);
    *p++ = ' ';
    p = stpcpy(p, reason_phrase(status));
    p = stpcpy(p, "\r\nServer: " SERVER "\r\nDate: ");
    p = stpcpy(p, date_now(d));
    if (type) {
        p = stpcpy(p, "\r\nContent-Type: ");
        p = stpcpy(p, type);
        p = stpcpy(p, "\r\nContent-Length: ");
        p = put_u64(p, length);
    }
    if (f) {
        p = stpcpy(p, "\r\nLast-Modified: ");
        p = stpcpy(p, f->lastmod);
        p = stpcpy(p, "\r\nETag: ");
        p = stpcpy(p, f->etag);
        p = stpcpy(p, "\r\nAccept-Ranges: bytes");
    }
    if (conn) {
        p = stpcpy(p, "\r\nConnection: ");
        p = stpcpy(p, conn);
    }
    p = stpcpy(p, "\r\n");
    if (extra)
        p = stpcpy(p, extra);
    p = stpcpy(p, "\r\n");
    return (size_t)(p - buf);
}

/* One access-log line (--log-level info): peer, request line (control
 * bytes shown as '?'), status, body bytes. */
static void log_access(sb_conn *c, const request *r, int status, uint64_t bytes)
{
    char peer[128], line[256];
    size_t n = 0;

    if (sb_conn_peer(c, peer, sizeof(peer)) < 0)
        strcpy(peer, "?");
    if (r && r->line)
        for (n = 0; n < r->line_len && n < sizeof(line) - 1; n++)
            line[n] = r->line[n] >= 0x20 && r->line[n] < 0x7f ? r->line[n] : '?';
    line[n] = '\0';
    fprintf(stderr, "%s \"%s\" %d %llu\n", peer, n ? line : "-", status,
            (unsigned long long)bytes);
}

/* -------------------------------------------------------------- parsing */

static int is_tchar(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return n > 0;
}

static int field_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Whether a comma-separated list (Connection:, Transfer-Encoding:) holds
 * tok; with last, only as its last element. */
static int list_has(const char *v, size_t n, const char *tok, int last)
{
    const char *end = v + n;
    int found = 0;

    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v)), *e = comma ? comma : end;
        const char *s = v;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        found = field_is(s, (size_t)(e - s), tok) || (found && !last);
        v = comma ? comma + 1 : end;
    }
    return found;
}

/*
 * Whether v is a host with an optional port (RFC 3986 uri-host [":"
 * port]): a reg-name or IPv4 address (unreserved, sub-delims and %XX),
 * or an IP literal in brackets.  Not empty (RFC 9110, 4.2.1: an http URI
 * has a non-empty host; nginx answers an empty Host with 400 too), and no
 * userinfo (4.2.4: a recipient should treat it as an error).
 */
static int valid_authority(const char *v, size_t n)
{
    size_t i = 0;

    if (n && v[0] == '[') {
        for (i = 1; i < n && v[i] != ']'; i++)
            if (!strchr("0123456789abcdefABCDEF:.vV", v[i]) || !v[i])
                return 0;
        if (i == n || i == 1)
            return 0;
        i++;
    } else {
        for (; i < n && v[i] != ':'; i++) {
            int ch = (unsigned char)v[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  (ch && strchr("-._~!$&'()*+,;=%", ch))))
                return 0;
        }
        if (i == 0)
            return 0;
    }
    if (i < n) { /* ":" and the port, digits (maybe none: RFC 3986, 3.2.3) */
        if (v[i++] != ':')
            return 0;
        for (; i < n; i++)
            if (v[i] < '0' || v[i] > '9')
                return 0;
    }
    return 1;
}

/* The length of an absolute-form target's "http://" or "https://" (RFC
 * 9112, 3.2.2: a server must accept the absolute form; https too, as a
 * TLS-terminating proxy in front may forward it), or 0. */
static size_t scheme_len(const char *t, size_t n)
{
    if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
        return 7;
    if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
        return 8;
    return 0;
}

/*
 * Parse the request line: METHOD SP request-target SP HTTP/1.x.
 * Returns 0, or the status to answer: 400, 505, 414.
 */
static int parse_request_line(const char *p, size_t n, request *r)
{
    const char *sp1 = memchr(p, ' ', n), *sp2, *v;

    if (!sp1)
        return 400;
    sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
    if (!sp2)
        return 400;
    r->method = p;
    r->method_len = (size_t)(sp1 - p);
    r->target = sp1 + 1;
    r->target_len = (size_t)(sp2 - r->target);
    v = sp2 + 1;
    if (!is_token(r->method, r->method_len) || r->target_len == 0)
        return 400;
    if (p + n - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    r->minor = v[7] == '0' ? 0 : 1;
    if (r->target_len > MAX_TARGET)
        return 414;
    for (v = r->target; v < sp2; v++)
        if (*v <= 0x20 || *v >= 0x7f)
            return 400;
    r->head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
    if ((v = r->target + scheme_len(r->target, r->target_len)) > r->target) {
        /* The authority: up to the path, query or fragment. */
        const char *a = v;
        while (v < sp2 && *v != '/' && *v != '?' && *v != '#')
            v++;
        if (!valid_authority(a, (size_t)(v - a)))
            return 400;
        r->absolute = 1;
    }
    return 0;
}

/* A decimal number of at most 18 digits at *p (before end); advances *p.
 * Returns it, or -1 when there is none (or it is longer). */
static int64_t parse_pos(const char **p, const char *end)
{
    int64_t v = 0;
    int digits = 0;

    while (*p < end && **p >= '0' && **p <= '9') {
        if (++digits > 18)
            return -1; /* past any file: RFC 9110 lets it be ignored */
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return digits ? v : -1;
}

/*
 * Range (RFC 9110, 14.2): "bytes=" and one range, "A-B", "A-" or "-N",
 * is kept for serve_file; several ranges, another unit or a malformed
 * value are ignored (R_IGNORE: the whole file, as the RFC allows) rather
 * than answered with multipart/byteranges.
 */
static void parse_range(const char *v, size_t n, request *r)
{
    const char *p = v + 6, *end = v + n;

    r->range = R_IGNORE;
    r->range_first = r->range_last = -1;
    if (n < 6 || strncasecmp(v, "bytes=", 6) != 0)
        return;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && *p == '-') {
        p++;
        if ((r->range_last = parse_pos(&p, end)) < 0)
            return;
    } else {
        if ((r->range_first = parse_pos(&p, end)) < 0 || p == end || *p++ != '-')
            return;
        if (p < end && *p >= '0' && *p <= '9' &&
            ((r->range_last = parse_pos(&p, end)) < 0 || r->range_last < r->range_first))
            return;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end)
        r->range = R_ONE; /* anything left: a second range, or junk */
}

/* Parse one header field line, noting the fields that matter here.
 * Returns 0, 400 (malformed) or 413 (a body over MAX_BODY). */
static int parse_field(const char *p, size_t n, request *r)
{
    const char *colon = memchr(p, ':', n), *v, *end = p + n;
    size_t nlen;

    /* No colon, an empty name, whitespace before the colon, or a folded
     * line (starting with whitespace): all malformed. */
    if (!colon || !is_token(p, (size_t)(colon - p)))
        return 400;
    nlen = (size_t)(colon - p);
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
        ;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    n = (size_t)(end - v);
    if (field_is(p, nlen, "Host")) {
        r->hosts++;
        if (!valid_authority(v, n))
            r->host_bad = 1;
    } else if (field_is(p, nlen, "Connection")) {
        if (list_has(v, n, "close", 0))
            r->keep_alive = 0;
        else if (list_has(v, n, "keep-alive", 0))
            r->keep_alive = 1;
    } else if (field_is(p, nlen, "Content-Length")) {
        uint64_t len = 0;
        size_t i;
        for (i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9')
                return 400;
            len = len * 10 + (uint64_t)(v[i] - '0');
            if (len > MAX_BODY)
                return 413; /* stops long before an overflow */
        }
        if (n == 0)
            return 400;
        if (r->has_length && r->length != len)
            return 400; /* conflicting lengths: a smuggling attempt */
        r->has_length = 1;
        r->length = len;
    } else if (field_is(p, nlen, "Transfer-Encoding")) {
        r->te = 1;
        r->chunked = list_has(v, n, "chunked", 1);
    } else if (field_is(p, nlen, "Expect")) {
        r->expect_continue = field_is(v, n, "100-continue");
    } else if (field_is(p, nlen, "If-None-Match")) {
        /* Several fields make one list (RFC 9110, 5.3). */
        size_t sep = r->has_inm ? 1 : 0;
        if (r->inm_len + sep + n > sizeof(r->inm)) {
            r->inm_long = 1;
        } else {
            if (sep)
                r->inm[r->inm_len++] = ',';
            memcpy(r->inm + r->inm_len, v, n);
            r->inm_len += n;
        }
        r->has_inm = 1;
    } else if (field_is(p, nlen, "If-Modified-Since")) {
        r->has_ims = parse_http_date(v, n, &r->ims) == 0;
    } else if (field_is(p, nlen, "Range")) {
        if (r->range != R_NONE)
            r->range = R_IGNORE; /* two Range fields: neither is trusted */
        else
            parse_range(v, n, r);
    } else if (field_is(p, nlen, "If-Range")) {
        /* An entity-tag, or a date (which may start with 'W' too). */
        if (n && (v[0] == '"' || (n > 1 && v[0] == 'W' && v[1] == '/')) &&
            n < sizeof(r->if_range_tag)) {
            memcpy(r->if_range_tag, v, n);
            r->if_range_tag[n] = '\0';
            r->if_range = 1;
        } else {
            r->if_range = parse_http_date(v, n, &r->if_range_date) == 0 ? 2 : 3;
        }
    }
    return 0;
}

/*
 * One line of a request head (the framer's message, its LF cut off).  A CR
 * before the LF is dropped: RFC 9112 (2.2) lets a recipient take a bare LF
 * as a line end, and clients that send them (scripts, netcat) are common;
 * a CR anywhere else, or a NUL, is malformed.  Returns -1 while the head
 * goes on, 0 at its end (the empty line after the fields), -2 out of
 * memory, or the status to answer at once (400, 411, 413, 414, 501, 505):
 * no need to wait for the rest of a head already known to be bad.
 */
static int head_line(session *s, const char *p, size_t n)
{
    request *r = &s->req;
    int rc;

    if (n && p[n - 1] == '\r')
        n--;
    if (memchr(p, '\r', n) || memchr(p, '\0', n))
        return 400;
    if (!s->req_started) {
        if (n == 0)
            return -1; /* empty lines before a request (RFC 9112, 2.2) */
        s->req_started = 1;
        r->line = p; /* for the access log if it is bad */
        r->line_len = n;
        if ((rc = parse_request_line(p, n, r)) != 0)
            return rc;
        /* Keep the line: the fields come in later callbacks.  Its length
         * is bounded by --max-header-bytes; the buffer is kept, so a
         * connection allocates once, not per request. */
        if (n > s->line_cap) {
            char *np = realloc(s->line, n);
            if (!np)
                return -2;
            s->line = np;
            s->line_cap = n;
        }
        memcpy(s->line, p, n);
        r->line = s->line;
        r->method = s->line + (r->method - p);
        r->target = s->line + (r->target - p);
        r->keep_alive = r->minor >= 1;
        return -1;
    }
    if (n > 0)
        return (rc = parse_field(p, n, r)) != 0 ? rc : -1;
    /* RFC 9112, 3.2: one Host, a valid one; with an absolute-form target
     * its authority is the host and Host is ignored (3.2.2). */
    if (r->hosts > 1 || (r->minor >= 1 && r->hosts == 0) || (r->host_bad && !r->absolute))
        return 400;
    if (r->te)
        return r->chunked ? 411 : 501;
    return 0;
}


static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20; /* lower case */
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* An absolute-form target ("http://host/p?q", "https://...") loses its
 * scheme and authority: *t, *n become its origin form ("/p?q"; "/" when it
 * has no path). */
static void target_origin(const char **t, size_t *n)
{
    size_t k = scheme_len(*t, *n);
    const char *p = *t + k, *end = *t + *n;

    if (k == 0)
        return;
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    if (p < end && *p == '/') {
        *n = (size_t)(end - p);
        *t = p;
    } else {
        *t = "/";
        *n = 1;
    }
}

/*
 * Map a request-target onto a path relative to the root, in out (at least
 * MAX_TARGET + 16 bytes).  An absolute-form target ("http://host/p") loses
 * its scheme and authority; the query goes; %XX escapes are decoded (an
 * encoded "/" separates like a literal one); then empty and "." segments
 * are dropped and ".." removes the segment before it.  The root itself is
 * "."; a trailing slash is kept.  Returns 0, or 400 for a target that is
 * not a path, a bad escape, an encoded NUL, or a ".." that would climb
 * above the root.
 */
static int target_to_path(const char *t, size_t n, char *out)
{
    char dec[MAX_TARGET];
    size_t dn = 0, len = 0, i;

    target_origin(&t, &n);
    if (n == 0 || t[0] != '/')
        return 400; /* "*", authority-form, or nonsense */
    for (i = 0; i < n && t[i] != '?' && t[i] != '#'; i++) {
        int ch = (unsigned char)t[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hex_value(t[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(t[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return 400;
            ch = hi << 4 | lo;
            if (ch == 0)
                return 400; /* no NUL in a path */
            i += 2;
        }
        dec[dn++] = (char)ch;
    }
    for (i = 0; i < dn;) {
        size_t start, seg;
        while (i < dn && dec[i] == '/')
            i++;
        for (start = i; i < dn && dec[i] != '/'; i++)
            ;
        seg = i - start;
        if (seg == 0 || (seg == 1 && dec[start] == '.'))
            continue;
        if (seg == 2 && dec[start] == '.' && dec[start + 1] == '.') {
            if (len == 0)
                return 400;
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* and the '/' before it */
            continue;
        }
        if (len)
            out[len++] = '/';
        memcpy(out + len, dec + start, seg);
        len += seg;
    }
    if (len == 0)
        out[len++] = '.';
    else if (dec[dn - 1] == '/')
        out[len++] = '/'; /* "file.txt/" is not the file */
    out[len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- files */

/* Whether real (an absolute canonical path, n bytes) lies inside the root. */
static int under_root(const httpd *d, const char *real, size_t n)
{
    if (n < d->rootlen || memcmp(real, d->root, d->rootlen) != 0)
        return 0;
    return n == d->rootlen || real[d->rootlen] == '/' || d->rootlen == 1;
}

/*
 * Open rel (a path from target_to_path) below the root and fstat it.
 * Whatever resolves outside the root — through "..", an absolute symlink,
 * or a symlink climbing out — fails (-EXDEV, or -ELOOP).  With openat2 the
 * kernel enforces it during resolution (RESOLVE_BENEATH); without it, the
 * real path of the opened file is read back from /proc/self/fd and checked.
 * O_NONBLOCK: opening a FIFO must not hang the server.
 * Returns an fd or -errno.
 */
static int open_file(httpd *d, const char *rel, struct stat *st)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, fd;

    if (d->have_openat2) {
        struct open_how how;
        memset(&how, 0, sizeof(how));
        how.flags = (uint64_t)flags;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        do /* EAGAIN: a concurrent rename raced the resolution */
            fd = (int)syscall(SYS_openat2, d->rootfd, rel, &how, sizeof(how));
        while (fd < 0 && (errno == EAGAIN || errno == EINTR));
        if (fd < 0)
            return -errno;
    } else {
        char link[32], real[PATH_MAX];
        ssize_t n;
        fd = openat(d->rootfd, rel, flags);
        if (fd < 0)
            return -errno;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, real, sizeof(real));
        if (n <= 0 || (size_t)n >= sizeof(real) || !under_root(d, real, (size_t)n)) {
            close(fd);
            return -EXDEV;
        }
    }
    if (fstat(fd, st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Give the memory of freed buffers back to the system (glibc keeps it
 * otherwise: what a burst freed below a live block stays mapped). */
static void trim_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Close a cache entry's fd and free its memory: the slot is free. */
static void cache_drop(httpd *d, cached *e)
{
    close(e->f.fd);
    e->path[0] = '\0';
    free(e->body);
    e->body = NULL;
    e->body_cap = 0;
    d->cache_fds--;
}

/* Close every cached fd (none is in use by a response: see SMALL_FILE).
 * Returns how many were closed. */
static unsigned cache_drop_all(httpd *d)
{
    unsigned n = 0;
    int i;

    for (i = 0; i < CACHE_SLOTS; i++)
        if (d->cache[i].path[0]) {
            cache_drop(d, &d->cache[i]);
            n++;
        }
    return n;
}

/*
 * Every SWEEP_MS while the cache holds anything: close the entries opened
 * in an earlier second (never served again: a hit needs the current one),
 * and free their memory.  Once the cache is empty the sweep stops, so an
 * idle server has no timer left; with no client either, what the entries
 * held is given back.
 */
static void cache_sweep(sb_timer *t, void *udata)
{
    httpd *d = udata;
    time_t now = time(NULL);
    int i;

    for (i = 0; i < CACHE_SLOTS; i++)
        if (d->cache[i].path[0] && d->cache[i].when != now)
            cache_drop(d, &d->cache[i]);
    if (d->cache_fds == 0) {
        sb_timer_stop(t);
        if (d->sbd.conns == 0)
            trim_memory();
    }
}

/*
 * Whether a newly opened file may go into slot e: not while shutting down,
 * not into an empty slot once the cache holds cache_max fds, and only
 * with the sweep armed (else nothing would ever close it).  On yes, the
 * slot's old fd is closed (its memory kept for the new file) and the slot
 * is counted in.
 */
static int cache_admit(httpd *d, cached *e)
{
    if (d->sbd.stopping || (!e->path[0] && d->cache_fds >= d->cache_max))
        return 0;
    if (!sb_timer_active(d->sweep) && sb_timer_start(d->sweep, SWEEP_MS, SWEEP_MS) != 0)
        return 0;
    if (e->path[0])
        close(e->f.fd);
    else
        d->cache_fds++;
    return 1;
}

/*
 * open_file, and when the process is out of descriptors (EMFILE, ENFILE)
 * while the cache holds some: close them all and try once more, so the
 * cache never costs a request its file.
 */
static int open_file_retry(httpd *d, const char *rel, struct stat *st)
{
    int fd = open_file(d, rel, st);

    if ((fd == -EMFILE || fd == -ENFILE) && cache_drop_all(d) > 0)
        fd = open_file(d, rel, st);
    return fd;
}

static uint32_t hash_path(const char *p)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    while (*p)
        h = (h ^ (unsigned char)*p++) * 16777619u;
    return h;
}

/*
 * Read a small file whole into its cache slot's memory.  Returns the
 * content, or NULL (out of memory, a read error, or a file that changed
 * size since its fstat): then it is read with pread for each request.
 */
static const char *cache_body(cached *e, int fd, size_t size)
{
    size_t got = 0;

    if (size > e->body_cap || !e->body) {
        char *p = realloc(e->body, size ? size : 1);
        if (!p)
            return NULL;
        e->body = p;
        e->body_cap = size ? size : 1;
    }
    while (got < size) {
        ssize_t n = pread(fd, e->body + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        got += (size_t)n;
    }
    return e->body;
}

/*
 * Find the file for path (from target_to_path; a directory means its
 * index.html): from the cache, or opened and, when small and the cache has
 * room, cached.  Returns 0 with *f filled, or the status to answer (301:
 * a directory without its trailing slash, 403, 404, 500: out of fds even
 * with the cache emptied).  May change path
 * (index.html appended).
 */
static int find_file(httpd *d, char *path, file *f)
{
    cached *e = &d->cache[hash_path(path) % CACHE_SLOTS];
    size_t keylen = strlen(path);
    struct stat st;
    int fd;

    date_now(d);
    if (e->path[0] && e->when == d->date_sec && strcmp(e->path, path) == 0) {
        *f = e->f;
        return 0;
    }
    fd = open_file_retry(d, path, &st);
    if (fd >= 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        /* A folder named without its slash: relative links in its index
         * would resolve against its parent, so send the client to the
         * name with the slash instead (as nginx and Apache do). */
        if (path[keylen - 1] != '/' && strcmp(path, ".") != 0)
            return 301;
        strcat(path, path[keylen - 1] == '/' ? "index.html" : "/index.html");
        fd = open_file_retry(d, path, &st);
    }
    if (fd >= 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        fd = -ENOENT; /* devices, FIFOs, sockets: not served */
    }
    if (fd < 0)
        return fd == -EACCES || fd == -EPERM ? 403 : fd == -EMFILE || fd == -ENFILE ? 500 : 404;
    f->fd = fd;
    f->cached = 0;
    f->size = st.st_size;
    /* A file stamped in the future (a clock set wrong, an archive) must not
     * claim to be newer than the response: Last-Modified never after Date
     * (RFC 9110, 8.8.2.1). */
    f->mtime = st.st_mtime < d->date_sec ? st.st_mtime : d->date_sec;
    *http_date(f->lastmod, f->mtime) = '\0';
    /* Strong: a change of content changes the mtime, and the nanoseconds
     * tell apart two writes in one second; the inode, a file replaced by
     * another with the same stamps (a rename over it). */
    snprintf(f->etag, sizeof(f->etag), "\"%llx-%llx.%lx-%llx\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
             (unsigned long long)st.st_size);
    f->type = content_type(d, path);
    f->data = NULL;
    if (f->size <= SMALL_FILE && keylen < CACHE_PATH && cache_admit(d, e)) {
        memcpy(e->path, path, keylen);
        e->path[keylen] = '\0';
        e->when = d->date_sec;
        f->cached = 1;
        if (f->size <= CACHE_BODY)
            f->data = cache_body(e, fd, (size_t)f->size);
        e->f = *f;
    }
    return 0;
}

/*
 * Queue d->io[0, hlen) — a response head, or nothing — followed by the next
 * bytes of the file being sent, at most IOBUF in all: one sb_write.  At the
 * end of the file the session lets go of it (s->fd = -1) and closes it
 * unless the cache owns it.  A read error, or a file that shrank since its
 * fstat, aborts the connection: the Content-Length already promised can no
 * longer be kept.
 */
static void send_piece(sb_conn *c, session *s, size_t hlen)
{
    httpd *d = s->d;
    size_t want = IOBUF - hlen, got = 0;

    if ((off_t)want > s->end - s->off)
        want = (size_t)(s->end - s->off);
    while (got < want) {
        ssize_t n = pread(s->fd, d->io + hlen + got, want - got, s->off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sb_abort(c);
            return;
        }
        got += (size_t)n;
    }
    s->off += (off_t)got;
    if (sb_write(c, d->io, hlen + got) < 0) {
        sb_abort(c);
        return;
    }
    if (s->off == s->end) {
        if (!s->fd_cached)
            close(s->fd);
        s->fd = -1;
    }
}

/*
 * The file range queued by queue_file() is sent (or the connection is
 * ending): close the session's descriptor and go on with the next request,
 * or close.
 */
static void close_conn(sb_conn *c, session *s);
static void await_head(sb_conn *c, session *s);

static void file_sent(void *arg)
{
    session *s = arg;

    close(s->fd);
    s->fd = -1;
    s->fd_queued = 0;
    if (s->keep_alive) {
        sb_conn_resume(s->c);
        if (s->state == S_HEAD)
            await_head(s->c, s);
    } else {
        close_conn(s->c, s);
    }
}

/*
 * Queue d->io[0, hlen) (the head) and the rest of the file, s->off to
 * s->end, as a file range: no copy of it is held here.  The range is sent
 * from a descriptor of the session's own (a duplicate of a cached one,
 * which the cache may close meanwhile).  Returns 1 when queued (or the
 * connection aborted), 0 when no descriptor could be spared: the caller
 * streams with pread instead.
 */
static int queue_file(sb_conn *c, session *s, size_t hlen)
{
    int fd = s->fd;

    if (s->fd_cached && (fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return 0;
    s->fd = fd;
    s->fd_cached = 0;
    if (sb_write(c, s->d->io, hlen) < 0 ||
        sb_write_file(c, fd, (uint64_t)s->off, (size_t)(s->end - s->off), file_sent, s) < 0) {
        sb_abort(c); /* on_close closes s->fd */
        return 1;
    }
    s->fd_queued = 1;
    s->off = s->end;
    sb_conn_pause(c);
    return 1;
}

/* ------------------------------------------------------------- responses */

/* The Connection field a response carries: close, keep-alive for an
 * HTTP/1.0 client that asked for it, none for HTTP/1.1's default. */
static const char *connection_field(const session *s, const request *r)
{
    if (!s->keep_alive)
        return "close";
    return r && r->minor == 0 ? "keep-alive" : NULL;
}

/*
 * Answer with an error status and a short text body.  After 400, 411, 413,
 * 414, 431, 501 and 505 the request stream cannot be trusted (or its body
 * will not be read), so the connection closes after the answer (the caller
 * closes it); after 403, 404, 405 and 500 it stays open when it may.
 */
static void respond_error(sb_conn *c, session *s, const request *r, int status)
{
    char *buf = s->d->io, body[64];
    int keep = status == 403 || status == 404 || status == 405 || status == 500;
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, reason_phrase(status));
    size_t hlen;

    if (!keep)
        s->keep_alive = 0;
    hlen = format_head(s->d, buf, status, "text/plain; charset=utf-8", (uint64_t)blen, NULL,
                       connection_field(s, r), status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
    if (!(r && r->head)) {
        memcpy(buf + hlen, body, (size_t)blen);
        hlen += (size_t)blen;
    }
    if (s->d->sbd.log_level >= SB_LOG_INFO)
        log_access(c, r, status, r && r->head ? 0 : (uint64_t)blen);
    if (sb_write(c, buf, hlen) < 0)
        sb_abort(c);
}

/*
 * 301 to the directory's name with its slash: the target as the client
 * sent it (still percent-encoded), a "/" after its path, then its query.
 * A relative Location (RFC 9110, 10.2.2), so no Host is needed to build
 * it.  The connection stays open.
 */
static void respond_redirect(sb_conn *c, session *s, const request *r)
{
    static const char body[] = "301 Moved Permanently\n";
    char loc[MAX_TARGET + 32], *buf = s->d->io, *p;
    const char *t = r->target, *q;
    size_t n = r->target_len, hlen;

    target_origin(&t, &n);
    q = memchr(t, '#', n);
    if (q)
        n = (size_t)(q - t); /* a fragment is not the server's */
    q = memchr(t, '?', n);
    if (!q)
        q = t + n;
    p = stpcpy(loc, "Location: ");
    memcpy(p, t, (size_t)(q - t));
    p += q - t;
    *p++ = '/';
    memcpy(p, q, (size_t)(t + n - q));
    p += t + n - q;
    strcpy(p, "\r\n");
    hlen = format_head(s->d, buf, 301, "text/plain; charset=utf-8", sizeof(body) - 1, NULL,
                       connection_field(s, r), loc);
    if (!r->head) {
        memcpy(buf + hlen, body, sizeof(body) - 1);
        hlen += sizeof(body) - 1;
    }
    if (s->d->sbd.log_level >= SB_LOG_INFO)
        log_access(c, r, 301, r->head ? 0 : sizeof(body) - 1);
    if (sb_write(c, buf, hlen) < 0)
        sb_abort(c);
}

/* Whether If-None-Match's list holds f's ETag, by weak comparison (RFC
 * 9110, 13.1.2: W/ ignored), or is "*". */
static int inm_matches(const request *r, const file *f)
{
    const char *v = r->inm, *end = r->inm + r->inm_len;
    size_t elen = strlen(f->etag);

    if (r->inm_long)
        return 0; /* not kept: a full answer is always right */
    while (v < end) {
        const char *q;
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        if (v == end)
            break;
        if (*v == '*')
            return 1;
        if (end - v >= 2 && v[0] == 'W' && v[1] == '/')
            v += 2;
        if (v == end || *v != '"' || !(q = memchr(v + 1, '"', (size_t)(end - v - 1))))
            return 0; /* malformed: no match, the full answer */
        if ((size_t)(q + 1 - v) == elen && memcmp(v, f->etag, elen) == 0)
            return 1;
        v = q + 1;
    }
    return 0;
}

/*
 * The preconditions of a GET or HEAD (RFC 9110, 13.2.2): If-None-Match
 * first, and only without it If-Modified-Since.  Returns 304 when the
 * client's copy is current, else 200.
 */
static int precondition(const request *r, const file *f)
{
    if (r->has_inm)
        return inm_matches(r, f) ? 304 : 200;
    if (r->has_ims && f->mtime <= r->ims)
        return 304;
    return 200;
}

/*
 * Which part of f a GET asks for (RFC 9110, 14.2 and 13.1.5): 200 for the
 * whole file (no Range, one ignored, or an If-Range that does not match:
 * the file changed since the client's part, so it gets all of it), 206
 * with [*first, *last], or 416 when the range starts past the end.
 * If-Range compares strongly: a weak tag never matches, and a date only
 * when it is exactly the Last-Modified sent.
 */
static int which_range(const request *r, const file *f, off_t *first, off_t *last)
{
    int64_t size = (int64_t)f->size;

    if (r->head || r->range != R_ONE)
        return 200;
    if (r->if_range == 1 && strcmp(r->if_range_tag, f->etag) != 0)
        return 200;
    if (r->if_range == 2 && r->if_range_date != f->mtime)
        return 200;
    if (r->if_range == 3)
        return 200;
    if (r->range_first < 0) { /* the last N bytes */
        if (r->range_last == 0 || size == 0)
            return 416;
        *first = (off_t)(r->range_last < size ? size - r->range_last : 0);
        *last = (off_t)(size - 1);
        return 206;
    }
    if (r->range_first >= size)
        return 416;
    *first = (off_t)r->range_first;
    *last = (off_t)(r->range_last < 0 || r->range_last >= size ? size - 1 : r->range_last);
    return 206;
}

/* 416: the range cannot be served; Content-Range says the size. */
static void respond_unsatisfiable(sb_conn *c, session *s, const request *r, const file *f)
{
    static const char body[] = "416 Range Not Satisfiable\n";
    char extra[64], *p;
    size_t hlen;

    p = stpcpy(extra, "Content-Range: bytes */");
    p = put_u64(p, (uint64_t)f->size);
    strcpy(p, "\r\n");
    hlen = format_head(s->d, s->d->io, 416, "text/plain; charset=utf-8", sizeof(body) - 1, f,
                       connection_field(s, r), extra);
    memcpy(s->d->io + hlen, body, sizeof(body) - 1);
    hlen += sizeof(body) - 1;
    if (s->d->sbd.log_level >= SB_LOG_INFO)
        log_access(c, r, 416, sizeof(body) - 1);
    if (sb_write(c, s->d->io, hlen) < 0)
        sb_abort(c);
}

/* 304: the validators, no body (RFC 9110, 15.4.5). */
static void respond_not_modified(sb_conn *c, session *s, const request *r, const file *f)
{
    size_t hlen = format_head(s->d, s->d->io, 304, NULL, 0, f, connection_field(s, r), NULL);

    if (s->d->sbd.log_level >= SB_LOG_INFO)
        log_access(c, r, 304, 0);
    if (sb_write(c, s->d->io, hlen) < 0)
        sb_abort(c);
}

/*
 * GET or HEAD: find the file, queue the head and, for GET, the file in one
 * write when it fits, else as a file range (queue_file: sendfile), or
 * failing that streamed from on_drain; input is paused until it is done,
 * so the next pipelined request waits.  Returns 0 once the response (or a 301) is queued, or the
 * error status to answer instead (400, 403, 404, 500).
 */
static int serve_file(sb_conn *c, session *s, const request *r)
{
    httpd *d = s->d;
    char path[MAX_TARGET + 16], extra[96];
    off_t first = 0, last = 0, len;
    size_t hlen;
    file f;
    int rc, status;

    if ((rc = target_to_path(r->target, r->target_len, path)) != 0 ||
        (rc = find_file(d, path, &f)) != 0) {
        if (rc != 301)
            return rc;
        respond_redirect(c, s, r);
        return 0;
    }
    if (precondition(r, &f) == 304) {
        respond_not_modified(c, s, r, &f);
        if (!f.cached)
            close(f.fd);
        return 0;
    }
    status = which_range(r, &f, &first, &last);
    if (status == 416) {
        respond_unsatisfiable(c, s, r, &f);
        if (!f.cached)
            close(f.fd);
        return 0;
    }
    if (status == 200) {
        first = 0;
        last = f.size - 1;
    }
    len = last - first + 1;
    if (status == 206) {
        char *p = stpcpy(extra, "Content-Range: bytes ");
        p = put_u64(p, (uint64_t)first);
        *p++ = '-';
        p = put_u64(p, (uint64_t)last);
        *p++ = '/';
        p = put_u64(p, (uint64_t)f.size);
        strcpy(p, "\r\n");
    }
    hlen = format_head(d, d->io, status, f.type, (uint64_t)len, &f, connection_field(s, r),
                       status == 206 ? extra : NULL);
    if (d->sbd.log_level >= SB_LOG_INFO)
        log_access(c, r, status, r->head ? 0 : (uint64_t)len);
    if (f.data) {
        /* In memory: the head and the whole file (or part) in one write,
         * no read. */
        if (!r->head) {
            memcpy(d->io + hlen, f.data + first, (size_t)len);
            hlen += (size_t)len;
        }
        if (sb_write(c, d->io, hlen) < 0)
            sb_abort(c);
        return 0;
    }
    s->fd = f.fd;
    s->fd_cached = f.cached;
    s->off = first;
    s->end = r->head ? first : last + 1;
    /* What fits in one write with its head goes out as one (pread); a
     * larger range is queued as a file range. */
    if (s->end - s->off > (off_t)(IOBUF - hlen) && queue_file(c, s, hlen))
        return 0;
    send_piece(c, s, hlen);
    if (s->fd >= 0)
        sb_conn_pause(c); /* the rest goes out from on_drain */
    return 0;
}

/* --------------------------------------------------------------- handler */


/* Expect the next line of a request head: up to LF, in what is left of
 * --max-header-bytes (beyond: http_frame_error, 431).  A head is cut line
 * by line rather than at its blank line, as no one delimiter ends both a
 * CRLF head ("\r\n\r\n") and a bare-LF one ("\n\n"). */
static int expect_line(sb_conn *c, session *s)
{
    if (s->head_bytes + 1 >= s->d->max_header)
        return -1;
    sb_conn_framer_delim(c, "\n", 1, s->d->max_header - s->head_bytes - 1, 0);
    return 0;
}

/* Expect the next request head, from its first line. */
static void expect_head(sb_conn *c, session *s)
{
    s->state = S_HEAD;
    memset(&s->req, 0, sizeof(s->req));
    s->req_started = 0;
    s->head_bytes = 0;
    expect_line(c, s);
}

/*
 * The server now waits for a request head: start its --header-timeout,
 * at once when nothing is queued (a new connection), else once the
 * response before it has drained (http_drain): a client still reading a
 * response is not late with its next request.  Not while a file is being
 * sent (http_drain calls this after its last piece).
 */
static void await_head(sb_conn *c, session *s)
{
    if (!s->head_timer || s->fd >= 0)
        return;
    s->head_on_drain = sb_conn_queued(c) > 0;
    if (!s->head_on_drain && sb_timer_start(s->head_timer, s->d->header_ms, 0) != 0)
        sb_abort(c); /* out of memory: no bound on the head, so no connection */
}

/* A head arrived (or the connection is closing): no deadline now. */
static void head_done(session *s)
{
    sb_timer_stop(s->head_timer);
    s->head_on_drain = 0;
}

/* Close after what is queued; no head is awaited any more. */
static void close_conn(sb_conn *c, session *s)
{
    head_done(s);
    sb_close(c);
}

/* --header-timeout passed without a complete head: 408, close. */
static void head_timeout(sb_timer *t, void *udata)
{
    sb_conn *c = udata;
    session *s = sb_conn_udata(c);

    (void)t;
    respond_error(c, s, NULL, 408);
    close_conn(c, s);
}

/* Expect (the next piece of) a request body to discard: the fixed framer,
 * at most 64 KiB at a time so a body is never buffered whole. */
static void expect_body(sb_conn *c, session *s)
{
    if (s->body_left == 0) {
        expect_head(c, s);
        return;
    }
    s->state = S_BODY;
    sb_conn_framer_fixed(c, s->body_left < IOBUF ? (size_t)s->body_left : IOBUF);
}

/* A request head is complete (status 0) or bad (the status to answer):
 * answer, then expect its body or the next head. */
static void handle_request(sb_conn *c, session *s, int status)
{
    request *r = &s->req;

    head_done(s);
    if (status == 0) {
        /* A 100-continue client may never send the body: do not wait. */
        s->keep_alive = r->keep_alive && !s->d->sbd.stopping && !(r->length && r->expect_continue);
        if ((r->method_len == 3 && memcmp(r->method, "GET", 3) == 0) || r->head)
            status = serve_file(c, s, r);
        else
            status = 405;
    }
    if (status)
        respond_error(c, s, r, status);
    if (!s->keep_alive) {
        if (s->fd < 0)
            close_conn(c, s); /* else once the file is sent */
        return;
    }
    if (r->length) {
        s->body_left = r->length;
        expect_body(c, s);
    } else {
        expect_head(c, s);
        await_head(c, s);
    }
}

/* One line of a request head: parse it; at the head's end (or at an
 * error) answer, else expect the next line. */
static void head_input(sb_conn *c, session *s, const char *line, size_t len)
{
    int status;

    s->head_bytes += len + 1;
    status = head_line(s, line, len);
    if (status == -2) {
        sb_abort(c); /* out of memory */
    } else if (status == -1) {
        if (expect_line(c, s) != 0) {
            head_done(s);
            respond_error(c, s, NULL, 431);
            close_conn(c, s);
        }
    } else {
        handle_request(c, s, status);
    }
}

static void http_open(sb_conn *c, void *udata)
{
    httpd *d = udata;
    session *s = calloc(1, sizeof(*s));

    sbd_conn_opened(&d->sbd);
    if (d->sbd.conns > d->conns_mark)
        d->conns_mark = d->sbd.conns;
    if (!s) {
        sb_abort(c);
        return;
    }
    s->d = d;
    s->c = c;
    s->fd = -1;
    sb_conn_set_udata(c, s);
    if (d->header_ms && !(s->head_timer = sb_timer_new(sb_conn_loop(c), head_timeout, c))) {
        sb_abort(c);
        return;
    }
    expect_head(c, s);
    await_head(c, s);
}

/* One framed message: a request head, or a piece of a body to discard. */
static void http_data(sb_conn *c, const char *data, size_t len, void *udata)
{
    session *s = udata;

    if (s->state == S_BODY) {
        s->body_left -= len;
        expect_body(c, s);
        if (s->state == S_HEAD)
            await_head(c, s);
        return;
    }
    head_input(c, s, data, len);
}

/* The output queue is empty: send the next piece of the file, if any;
 * after the last one, go on with the next request (or close).  Without a
 * file, a response has drained: the wait for the next head starts. */
static void http_drain(sb_conn *c, void *udata)
{
    session *s = udata;

    if (s->fd < 0 || s->fd_queued) {
        if (s->fd < 0 && s->head_on_drain)
            await_head(c, s);
        return;
    }
    send_piece(c, s, 0);
    if (s->fd >= 0)
        return;
    if (s->keep_alive) {
        sb_conn_resume(c);
        if (s->state == S_HEAD)
            await_head(c, s); /* this last piece drains first */
    } else {
        close_conn(c, s);
    }
}

/* The head grew past --max-header-bytes without its blank line: 431, and
 * return 0 so the library flushes the answer and closes. */
static int http_frame_error(sb_conn *c, int err, void *udata)
{
    (void)err;
    head_done(udata);
    respond_error(c, udata, NULL, 431);
    return 0;
}

static void http_close(sb_conn *c, int reason, void *udata)
{
    httpd *d = sbd_server(c);
    session *s = udata;

    (void)reason;
    if (udata != (void *)d) { /* else on_open could not allocate */
        if (s->fd >= 0 && !s->fd_cached)
            close(s->fd);
        sb_timer_free(s->head_timer);
        free(s->line);
        free(s);
    }
    sbd_conn_closed(&d->sbd, c);
    /* The shared code trims once the last client is gone; a server that
     * always keeps a few would hold a burst's memory for good.  So once a
     * burst of clients has halved, trim a little later (the rest of the
     * burst gone by then, and the library's spare buffers freed). */
    if (!d->sbd.stopping && d->conns_mark >= TRIM_MIN_CONNS &&
        d->sbd.conns <= d->conns_mark / 2 && !sb_timer_active(d->trim))
        sb_timer_start(d->trim, TRIM_DELAY_MS, 0);
}

/* TRIM_DELAY_MS after a burst halved.  With no client left the shared
 * code has trimmed already. */
static void trim_burst(sb_timer *t, void *udata)
{
    httpd *d = udata;

    (void)t;
    if (d->sbd.conns > 0)
        trim_memory();
    d->conns_mark = d->sbd.conns;
}

/* ------------------------------------------------------------- the daemon */

/* Shutdown: idle connections close now, those sending a file after it. */
static void stop_conn(sb_conn *c, void *udata)
{
    session *s = sb_conn_udata(c);

    (void)udata;
    if ((void *)s == (void *)sbd_server(c))
        return; /* on_open could not allocate */
    s->keep_alive = 0;
    if (s->fd < 0)
        close_conn(c, s);
}

/* First SIGTERM/SIGINT: idle connections close now, those sending a file
 * once it is sent.  The sweep and trim timers stop (they would keep the
 * loop running); the cache takes nothing more, and is closed at exit. */
static void http_stop(sbd *sd)
{
    httpd *d = sd->app;

    sb_timer_stop(d->sweep);
    sb_timer_stop(d->trim);
    sb_loop_walk(sd->loop, stop_conn, NULL);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-httpd [options]\n"
            "Serve the files under a directory over HTTP/1.1 (GET and HEAD).\n\n"
            "  -r, --root DIR             serve the files under DIR (default: the current\n"
            "                             directory)\n"
            "  -l, --listen ADDR          listen on ADDR (repeatable; default 127.0.0.1:8080)\n"
            "                             ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -c, --max-conns N          at most N clients at once (default 10000;\n"
            "                             0 = no limit)\n"
            "  -t, --idle-timeout SECS    close connections idle this long (0 = never;\n"
            "                             default %d)\n"
            "  -T, --header-timeout SECS  a request head must be complete this long after\n"
            "                             the connection opened or the previous response\n"
            "                             drained (0 = no limit; default %d; beyond: 408)\n"
            "  -H, --max-header-bytes N   longest request head accepted, 256..1048576\n"
            "                             (default %d; beyond: 431)\n"
            "      --mime-types FILE      Content-Types by extension, in the format of\n"
            "                             /etc/mime.types, before the built-in ones\n"
            "      --tls-cert FILE        serve HTTPS (ALPN http/1.1): the certificate\n"
            "                             chain (PEM, leaf first)\n"
            "      --tls-key FILE         and its private key (needs make TLS=1)\n"
            "                             (repeat both: the first pair is the default,\n"
            "                              others are chosen by SNI)\n"
            "  -U, --user NAME            drop root privileges to NAME after binding\n"
            "  -L, --log-level LEVEL      error, warn, info (access log) or debug\n"
            "                             (default warn)\n"
            "  -G, --grace SECS           on SIGTERM/SIGINT, wait this long for clients\n"
            "                             to finish, then reset them (default 5)\n"
            "      --backend NAME         how to wait for readiness: select (default),\n"
            "                             poll or epoll\n"
            "  -h, --help                 show this help\n"
            "  -V, --version              show the version\n",
            DEFAULT_IDLE_S, DEFAULT_HEADER_S, DEFAULT_MAX_HEADER);
}

/* Add one type or extension to the --mime-types tables; 0 or -1. */
static int mime_grow(void **v, size_t n, size_t size)
{
    void *p;

    if ((n & (n - 1)) != 0 && n != 0)
        return 0; /* room left: capacities are powers of two */
    p = realloc(*v, (n ? 2 * n : 16) * size);
    if (!p)
        return -1;
    *v = p;
    return 0;
}

static void mime_free(httpd *d)
{
    size_t i;

    for (i = 0; i < d->nmime; i++)
        free(d->mime[i].ext);
    for (i = 0; i < d->ntypes; i++)
        free(d->types[i]);
    free(d->mime);
    free(d->types);
    d->mime = NULL;
    d->types = NULL;
    d->nmime = d->ntypes = 0;
}

/*
 * --mime-types FILE, in the format of /etc/mime.types (and Apache's): one
 * "type/subtype ext ext..." per line, '#' to the end of a line a comment,
 * a type with no extensions allowed.  Its extensions come before the
 * built-in table (compared without case; the last line naming one wins);
 * a text/ type gets "; charset=utf-8", as the built-in ones have.
 * Returns 0, or -1 with one line on stderr (the exit status is 2).
 */
static int load_mime_types(httpd *d, const char *name)
{
    FILE *f = fopen(name, "r");
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = 0;

    if (!f) {
        fprintf(stderr, "sb-httpd: --mime-types '%s': %s\n", name, strerror(errno));
        return -1;
    }
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        char *p = strchr(line, '#'), *tok, *save = NULL, *slash, *type;
        lineno++;
        if (p)
            *p = '\0';
        if (!(tok = strtok_r(line, " \t\r\n", &save)))
            continue;
        slash = strchr(tok, '/');
        if (!slash || !is_token(tok, (size_t)(slash - tok)) || !is_token(slash + 1, strlen(slash + 1))) {
            fprintf(stderr, "sb-httpd: %s:%u: '%s' is not a MIME type (type/subtype)\n", name,
                    lineno, tok);
            rc = -1;
            break;
        }
        if (mime_grow((void **)&d->types, d->ntypes, sizeof(*d->types)) != 0 ||
            !(type = malloc(strlen(tok) + sizeof("; charset=utf-8")))) {
            rc = -2;
            break;
        }
        strcpy(type, tok);
        if (strncasecmp(tok, "text/", 5) == 0)
            strcat(type, "; charset=utf-8");
        d->types[d->ntypes++] = type;
        while (rc == 0 && (tok = strtok_r(NULL, " \t\r\n", &save))) {
            mime_ext *m;
            if (!is_token(tok, strlen(tok))) {
                fprintf(stderr, "sb-httpd: %s:%u: '%s' is not a file name extension\n", name,
                        lineno, tok);
                rc = -1;
            } else if (mime_grow((void **)&d->mime, d->nmime, sizeof(*d->mime)) != 0 ||
                       !(tok = strdup(tok))) {
                rc = -2;
            } else {
                m = &d->mime[d->nmime++];
                m->ext = tok;
                m->type = type;
                m->line = lineno;
            }
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "sb-httpd: --mime-types '%s': %s\n", name, strerror(errno));
        rc = -1;
    }
    if (rc == -2)
        fprintf(stderr, "sb-httpd: --mime-types '%s': %s\n", name, strerror(ENOMEM));
    free(line);
    fclose(f);
    if (d->nmime)
        qsort(d->mime, d->nmime, sizeof(*d->mime), mime_cmp);
    return rc ? -1 : 0;
}

/*
 * Open --root and remember its canonical path; probe openat2 (missing on
 * kernels before 5.6, or refused by a seccomp filter).  SB_HTTPD_NO_OPENAT2
 * in the environment forces the fallback (for the tests).  Returns 0 or -1
 * (message printed).
 */
static int open_root(httpd *d, const char *root)
{
    struct open_how how;
    int fd;

    if (!realpath(root, d->root) ||
        (d->rootfd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "sb-httpd: cannot serve --root '%s': %s\n", root, strerror(errno));
        return -1;
    }
    d->rootlen = strlen(d->root);
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;
    fd = getenv("SB_HTTPD_NO_OPENAT2")
             ? -1
             : (int)syscall(SYS_openat2, d->rootfd, ".", &how, sizeof(how));
    if (fd >= 0) {
        d->have_openat2 = 1;
        close(fd);
    }
    return 0;
}

/*
 * The cache's share of the open-file limit (read after sbd_open raised
 * it), and its timers.  0, or 1 (the exit status) with a message.
 */
static int cache_open(httpd *d)
{
    struct rlimit rl;

    d->cache_max = CACHE_SLOTS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / CACHE_FD_SHARE < CACHE_SLOTS)
        d->cache_max = (unsigned)(rl.rlim_cur / CACHE_FD_SHARE);
    d->sweep = sb_timer_new(d->sbd.loop, cache_sweep, d);
    d->trim = sb_timer_new(d->sbd.loop, trim_burst, d);
    if (!d->sweep || !d->trim) {
        fprintf(stderr, "sb-httpd: cannot create a timer: %s\n", strerror(ENOMEM));
        return 1;
    }
    return 0;
}

static void cleanup(httpd *d)
{
    int i;

    sb_timer_free(d->sweep); /* before the loop is freed */
    sb_timer_free(d->trim);
    sbd_cleanup(&d->sbd);
    for (i = 0; i < CACHE_SLOTS; i++) {
        if (d->cache[i].path[0])
            close(d->cache[i].f.fd);
        free(d->cache[i].body);
    }
    if (d->rootfd >= 0)
        close(d->rootfd);
    mime_free(d);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"max-header-bytes", required_argument, NULL, 'H'},
        {"header-timeout", required_argument, NULL, 'T'},
        {"mime-types", required_argument, NULL, OPT_MIME_TYPES},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        SBD_LONG_OPTIONS,
    };
    static httpd d; /* static: its 64 KiB I/O buffer stays off the stack */
    static sbd_tls tls;
    const char *root = ".", *mime_types = NULL;
    char what[PATH_MAX + 16];
    int opt, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;

    sbd_init(&d.sbd, "sb-httpd", DEFAULT_MAX_CONNS, DEFAULT_IDLE_S);
    d.rootfd = -1;
    d.max_header = DEFAULT_MAX_HEADER;
    d.header_ms = DEFAULT_HEADER_S * 1000u;
    memset(&lo, 0, sizeof(lo));
    while ((opt = getopt_long(argc, argv, ":r:H:T:" SBD_SHORT_OPTIONS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            root = optarg;
            break;
        case 'H':
            if (sbd_parse_uint(&d.sbd, "--max-header-bytes", optarg, 256, 1 << 20, &v))
                return 2;
            d.max_header = (size_t)v;
            break;
        case OPT_MIME_TYPES:
            mime_types = optarg;
            break;
        case OPT_TLS_CERT:
            if (sbd_tls_opt_cert("sb-httpd", &tls, optarg))
                return 2;
            break;
        case OPT_TLS_KEY:
            if (sbd_tls_opt_key("sb-httpd", &tls, optarg))
                return 2;
            break;
        case 'T':
            if (sbd_parse_uint(&d.sbd, "--header-timeout", optarg, 0, UINT_MAX / 1000, &v))
                return 2;
            d.header_ms = (unsigned)v * 1000u;
            break;
        default:
            if ((rc = sbd_option(&d.sbd, opt, optarg, argv, usage)) != SBD_OPT_NEXT)
                return rc;
        }
    }
    if (sbd_no_operands(&d.sbd, argc, argv) || sbd_tls_check("sb-httpd", &tls))
        return 2;
    lo.max_conns = d.sbd.max_conns;
    lo.conn.idle_timeout_ms = d.sbd.idle_ms;
    if ((mime_types && load_mime_types(&d, mime_types)) || open_root(&d, root)) {
        mime_free(&d);
        return 2;
    }

    memset(&h, 0, sizeof(h));
    h.on_open = http_open;
    h.on_data = http_data;
    h.on_drain = http_drain;
    h.on_close = http_close;
    h.on_frame_error = http_frame_error;
    d.sbd.on_stop = http_stop;
    d.sbd.app = &d;
    snprintf(what, sizeof(what), ", serving %s", d.root);
    rc = sbd_open(&d.sbd, lo.max_conns);
    if (rc == 0)
        rc = cache_open(&d);
    if (rc == 0)
        rc = sbd_listen(&d.sbd, "127.0.0.1:8080", &h, &d, &lo);
    if (rc == 0)
        rc = sbd_tls_listen(&d.sbd, &tls, "http/1.1");
    if (rc == 0)
        rc = sbd_start(&d.sbd, what);
    if (rc == 0)
        rc = sbd_run(&d.sbd);
    cleanup(&d);
    sbd_tls_free(&tls);
    return rc;
}
