/*
 * sb-kvd — an in-memory key-value server speaking RESP2, the Redis
 * protocol, on switchboard.  Built only on the public API; one file, read
 * from top to bottom:
 *
 *   1. the keyspace: a chained hash table with incremental rehashing (two
 *      tables; a few buckets move per operation and per timer tick, so a
 *      growing table never stalls the loop), TTLs kept in an index that the
 *      periodic timer samples (Redis' "active expire"), lazy expiry on access;
 *   2. replies: each one built in a stack buffer and queued with one
 *      sb_write(); the library sends everything a read produced in one send();
 *   3. the RESP parser, a worked example of switching framers inside
 *      on_data: a "*N" line (delimiter framer), then per argument a "$len"
 *      line (same framer) and a fixed-length body (fixed framer, len + 2
 *      bytes for the trailing CRLF).  A line not starting with '*' is an
 *      inline command (telnet, redis-benchmark's PING_INLINE);
 *   4. the commands and their table;
 *   5. the daemon: options, signals, start-up and shutdown.
 *
 * Values are strings; integers are parsed when INCR & co. need them.
 * SIGTERM / SIGINT: stop accepting, flush every client, exit 0.
 * SIGUSR1: print the reactor's counters on stderr.
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
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1:6380"
#define CRON_MS 100                      /* active expiry, rehashing, shrinking */
#define CRON_BUDGET_NS 1000000           /* work per tick: about 1 ms */
#define EXPIRE_SAMPLE 20                 /* TTL keys looked at per expiry round */
#define MAX_INLINE (64 * 1024)           /* longest inline command / header line */
#define MAX_MULTIBULK (1024 * 1024)      /* most arguments in one command */
#define DEFAULT_MAX_BULK (64ull << 20)   /* longest bulk string (Redis: 512 MiB) */
#define LIMIT_MAX_BULK (512ull << 20)
#define DEFAULT_MAX_QUERY (128ull << 20) /* one command's arguments, buffered */
#define DEFAULT_MAX_CONNS 10000          /* as Redis' maxclients */
#define TABLE_MIN 16                     /* buckets */
#define ARGS_KEEP 64                     /* argument slots a client keeps */
#define ABUF_KEEP (16 * 1024)            /* argument bytes a client keeps */
#define REPLY_STACK 4096                 /* replies up to this size: one write */

/* ================================================================ keyspace */

/* One key and its value, in a single allocation: key bytes, then value. */
typedef struct entry entry;
struct entry {
    entry *next;       /* bucket chain */
    uint64_t hash;
    int64_t expire_at; /* loop clock, ms; 0 = no TTL */
    uint32_t klen, vlen, vcap;
    uint32_t vol;      /* index in db.vol while expire_at != 0 */
    char data[];
};

typedef struct table {
    entry **b;
    size_t size; /* buckets: 0 or a power of two */
    size_t used;
} table;

/*
 * The keyspace.  While t[1] has buckets a rehash is in progress: the
 * buckets of t[0] below `rehash` have moved to t[1], the others not yet,
 * so a key lives in exactly one table, found by home().
 */
typedef struct db {
    table t[2];
    size_t rehash;
    entry **vol; /* every entry with a TTL, for sampling */
    size_t nvol, volcap;
    size_t mem;  /* bytes of entries, bucket arrays and the TTL index */
    uint64_t seed;
} db;

static inline char *ent_val(entry *e)
{
    return e->data + e->klen;
}

static inline size_t ent_size(size_t klen, size_t vcap)
{
    return sizeof(entry) + klen + vcap;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

/*
 * A seeded 64-bit hash, eight bytes at a time (multiply-rotate rounds and
 * the murmur3 finaliser).  Fast on short keys; the random seed keeps
 * collisions from being predictable, though it is no SipHash.
 */
static uint64_t hash_key(uint64_t seed, const char *p, size_t n)
{
    const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xc2b2ae3d27d4eb4full;
    uint64_t h = seed ^ (n * k1), v;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&v, p, 8);
        h = rotl64(h ^ rotl64(v * k2, 31) * k1, 27) * 5 + 0x52dce729;
    }
    v = 0;
    memcpy(&v, p, n);
    h ^= rotl64(v * k2, 31) * k1;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static int table_alloc(db *d, table *t, size_t size)
{
    t->b = calloc(size, sizeof(*t->b));
    if (!t->b)
        return -1;
    t->size = size;
    t->used = 0;
    d->mem += size * sizeof(*t->b);
    return 0;
}

static void table_release(db *d, table *t)
{
    free(t->b);
    d->mem -= t->size * sizeof(*t->b);
    memset(t, 0, sizeof(*t));
}

static inline int rehashing(const db *d)
{
    return d->t[1].size != 0;
}

static inline size_t db_count(const db *d)
{
    return d->t[0].used + d->t[1].used;
}

/* The table a key with hash h lives in (see struct db). */
static inline table *home(db *d, uint64_t h)
{
    if (rehashing(d) && (h & (d->t[0].size - 1)) < d->rehash)
        return &d->t[1];
    return &d->t[0];
}

/*
 * Move up to n non-empty buckets of t[0] to t[1], looking at no more than
 * 10 * n empty ones, and finish the rehash once t[0] is empty.  O(n) plus
 * the chains moved.  Returns 1 while the rehash goes on.
 */
static int rehash_step(db *d, size_t n)
{
    size_t empty = n * 10 + 1;

    if (!rehashing(d))
        return 0;
    while (n-- && d->t[0].used) {
        entry *e;
        while (!d->t[0].b[d->rehash]) {
            d->rehash++;
            if (--empty == 0)
                return 1;
        }
        for (e = d->t[0].b[d->rehash]; e;) {
            entry *next = e->next;
            size_t i = e->hash & (d->t[1].size - 1);
            e->next = d->t[1].b[i];
            d->t[1].b[i] = e;
            d->t[0].used--;
            d->t[1].used++;
            e = next;
        }
        d->t[0].b[d->rehash++] = NULL;
    }
    if (d->t[0].used)
        return 1;
    table_release(d, &d->t[0]);
    d->t[0] = d->t[1];
    memset(&d->t[1], 0, sizeof(d->t[1]));
    d->rehash = 0;
    return 0;
}

/* Start moving to a table of `size` buckets (no-op if one is in progress or
 * memory is short: the old table keeps working, with longer chains). */
static void start_rehash(db *d, size_t size)
{
    if (rehashing(d) || size == d->t[0].size || table_alloc(d, &d->t[1], size))
        return;
    d->rehash = 0;
    rehash_step(d, 0); /* an empty t[0] is swapped at once */
}

/* The link pointing at the key's entry (to replace or unlink it), or NULL.
 * Moves one bucket of a rehash in progress first, as every access does. */
static entry **db_find(db *d, const char *key, size_t klen, uint64_t h)
{
    table *t;
    entry **pp;

    if (rehashing(d))
        rehash_step(d, 1);
    t = home(d, h);
    if (!t->size)
        return NULL;
    for (pp = &t->b[h & (t->size - 1)]; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->data, key, klen) == 0)
            return pp;
    return NULL;
}

/* Add a new entry (its key is known to be absent); grows the table when it
 * holds as many keys as buckets. */
static void db_link(db *d, entry *e)
{
    table *t;
    size_t i;

    if (!rehashing(d) && d->t[0].used >= d->t[0].size)
        start_rehash(d, d->t[0].size * 2);
    t = home(d, e->hash);
    i = e->hash & (t->size - 1);
    e->next = t->b[i];
    t->b[i] = e;
    t->used++;
    d->mem += ent_size(e->klen, e->vcap);
}

/* TTL index: the entries with a TTL, so the timer can sample them. */
static int vol_add(db *d, entry *e)
{
    if (d->nvol == d->volcap) {
        size_t cap = d->volcap ? d->volcap * 2 : 64;
        entry **v = realloc(d->vol, cap * sizeof(*v));
        if (!v)
            return -1;
        d->mem += (cap - d->volcap) * sizeof(*v);
        d->vol = v;
        d->volcap = cap;
    }
    e->vol = (uint32_t)d->nvol;
    d->vol[d->nvol++] = e;
    return 0;
}

static void vol_del(db *d, entry *e)
{
    entry *last = d->vol[--d->nvol];
    d->vol[e->vol] = last;
    last->vol = e->vol;
}

/* Set (when > 0) or clear (0) an entry's TTL.  Returns 0, or -1 when the
 * TTL index cannot grow. */
static int set_expire(db *d, entry *e, int64_t when)
{
    if (when && !e->expire_at && vol_add(d, e))
        return -1;
    if (!when && e->expire_at)
        vol_del(d, e);
    e->expire_at = when;
    return 0;
}

/* Unlink *pp from its chain and free it. */
static void db_unlink(db *d, entry **pp)
{
    entry *e = *pp;

    *pp = e->next;
    home(d, e->hash)->used--;
    if (e->expire_at)
        vol_del(d, e);
    d->mem -= ent_size(e->klen, e->vcap);
    free(e);
}

/* Delete an entry known only by its address (active expiry). */
static void db_delete_entry(db *d, entry *e)
{
    table *t = home(d, e->hash);
    entry **pp = &t->b[e->hash & (t->size - 1)];

    while (*pp != e)
        pp = &(*pp)->next;
    db_unlink(d, pp);
}

/* Give *pp's value exactly cap bytes of room (the entry may move: the link
 * and the TTL index follow).  Returns the entry, or NULL (unchanged). */
static entry *ent_resize(db *d, entry **pp, size_t cap)
{
    entry *e = *pp, *ne;
    size_t old = ent_size(e->klen, e->vcap);

    ne = realloc(e, ent_size(e->klen, cap));
    if (!ne)
        return NULL;
    d->mem = d->mem - old + ent_size(ne->klen, cap);
    ne->vcap = (uint32_t)cap;
    *pp = ne;
    if (ne->expire_at)
        d->vol[ne->vol] = ne;
    return ne;
}

/*
 * Store a value: in place when it fits without wasting much, else in a
 * resized entry, or in a new entry when pp is NULL (the key is absent and
 * h is its hash).  The TTL is left as it is.  The value is copied once.
 * Returns the entry, or NULL when out of memory (nothing changed).
 */
static entry *db_store(db *d, entry **pp, uint64_t h, const char *key, size_t klen,
                       const char *val, size_t vlen)
{
    entry *e;

    if (pp) {
        e = *pp;
        if (vlen > e->vcap || e->vcap > 2 * vlen + 64)
            if (!(e = ent_resize(d, pp, vlen)))
                return NULL;
    } else {
        if (!d->t[0].size && table_alloc(d, &d->t[0], TABLE_MIN))
            return NULL;
        if (!(e = malloc(ent_size(klen, vlen))))
            return NULL;
        e->hash = h;
        e->expire_at = 0;
        e->klen = (uint32_t)klen;
        e->vcap = (uint32_t)vlen;
        memcpy(e->data, key, klen);
        db_link(d, e);
    }
    e->vlen = (uint32_t)vlen;
    if (vlen)
        memcpy(ent_val(e), val, vlen);
    return e;
}

/* Free every entry; keep (or make) an empty table of TABLE_MIN buckets. */
static void db_clear(db *d, int keep_table)
{
    int i;
    size_t j;

    for (i = 0; i < 2; i++) {
        for (j = 0; j < d->t[i].size; j++) {
            entry *e = d->t[i].b[j];
            while (e) {
                entry *next = e->next;
                free(e);
                e = next;
            }
        }
        table_release(d, &d->t[i]);
    }
    free(d->vol);
    d->vol = NULL;
    d->nvol = d->volcap = 0;
    d->rehash = 0;
    d->mem = 0;
    if (keep_table)
        table_alloc(d, &d->t[0], TABLE_MIN);
}

/* ================================================================= glob */

static inline int same_char(unsigned char a, unsigned char b, int nocase)
{
    return a == b || (nocase && tolower(a) == tolower(b));
}

/* A [...] class at p[*pi] (Redis' rules: ^ negates, a-z ranges, \ escapes,
 * an unclosed class ends with the pattern).  Advances *pi past it. */
static int class_match(const char *p, size_t plen, size_t *pi, unsigned char c, int nocase)
{
    size_t i = *pi + 1;
    int neg = 0, match = 0;

    if (i < plen && p[i] == '^') {
        neg = 1;
        i++;
    }
    for (; i < plen && p[i] != ']'; i++) {
        if (p[i] == '\\' && i + 1 < plen) {
            i++;
            match |= (unsigned char)p[i] == c;
        } else if (i + 2 < plen && p[i + 1] == '-') {
            unsigned char lo = (unsigned char)p[i], hi = (unsigned char)p[i + 2], x = c;
            if (lo > hi) {
                unsigned char tmp = lo;
                lo = hi;
                hi = tmp;
            }
            if (nocase) {
                lo = (unsigned char)tolower(lo);
                hi = (unsigned char)tolower(hi);
                x = (unsigned char)tolower(x);
            }
            match |= x >= lo && x <= hi;
            i += 2;
        } else {
            match |= same_char((unsigned char)p[i], c, nocase);
        }
    }
    *pi = i < plen ? i + 1 : plen;
    return match != neg;
}

/*
 * Glob matching as Redis' KEYS does it: * ? [...] and \ escapes.  One
 * backtracking point (the last *), so O(plen * slen) at worst, never
 * exponential.
 */
static int glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, star_s = 0;

    while (si < slen) {
        if (pi < plen) {
            size_t at = pi;
            switch (p[pi]) {
            case '*':
                star = ++pi;
                star_s = si;
                continue;
            case '?':
                pi++;
                si++;
                continue;
            case '[':
                if (class_match(p, plen, &at, (unsigned char)s[si], nocase)) {
                    pi = at;
                    si++;
                    continue;
                }
                break;
            case '\\':
                if (pi + 1 < plen)
                    at++;
                /* fall through */
            default:
                if (same_char((unsigned char)p[at], (unsigned char)s[si], nocase)) {
                    pi = at + 1;
                    si++;
                    continue;
                }
            }
        }
        if (star == SIZE_MAX)
            return 0;
        pi = star; /* let the last * swallow one more byte */
        si = ++star_s;
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

/* ============================================================== server */

typedef struct arg {
    const char *p; /* valid while the command runs */
    size_t len;
    size_t off;    /* where it was saved in the client's argument buffer */
} arg;

enum { ST_LINE, ST_HEADER, ST_BODY }; /* what the next message is */

typedef struct kvd kvd;

/* One connection's parser state and arguments.  udata of its sb_conn. */
typedef struct client {
    kvd *srv;
    sb_conn *conn;
    int state;
    long want;    /* arguments announced by "*N" */
    size_t bulk;  /* length announced by "$len" */
    arg *av;      /* arguments received so far */
    size_t argc, argcap;
    char *abuf;   /* their bytes */
    size_t alen, acap;
    char *name;   /* CLIENT SETNAME */
} client;

struct kvd {
    sbd sbd;        /* the daemon scaffolding: loop, listeners, signals */
    sb_loop *loop;  /* d.loop */
    sb_timer *cron;
    db db;
    sb_framer line;    /* "*N", "$len" and inline lines, made once */
    size_t max_bulk, max_query;
    unsigned long long max_memory;
    unsigned max_conns, idle_s;
    unsigned long nclients;
    uint64_t commands, expired, hits, misses, rejected;
    uint64_t started;  /* loop clock at start-up */
    uint64_t rng;
    int port;
};

static kvd *the_server; /* one per process: tells a client's udata apart */

static inline int64_t now_ms(const kvd *s)
{
    return (int64_t)sb_loop_now(s->loop);
}

static uint64_t next_rand(kvd *s)
{
    uint64_t x = s->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

static inline int expired(const kvd *s, const entry *e)
{
    return e->expire_at && e->expire_at <= now_ms(s);
}

/* Find a live key: an expired one is deleted on the way (lazy expiry).
 * *hp receives the key's hash, for a db_store() that follows. */
static entry **lookup(kvd *s, const arg *k, uint64_t *hp)
{
    uint64_t h = hash_key(s->db.seed, k->p, k->len);
    entry **pp = db_find(&s->db, k->p, k->len, h);

    if (hp)
        *hp = h;
    if (pp && expired(s, *pp)) {
        db_unlink(&s->db, pp);
        s->expired++;
        return NULL;
    }
    return pp;
}

/* lookup() for reading commands: counts keyspace hits and misses. */
static entry *lookup_read(kvd *s, const arg *k)
{
    entry **pp = lookup(s, k, NULL);

    if (!pp) {
        s->misses++;
        return NULL;
    }
    s->hits++;
    return *pp;
}

/* ============================================================== replies */

/* Queue one reply.  A failed write means the client is beyond help. */
static void out(client *cl, const void *p, size_t n)
{
    int rc = sb_write(cl->conn, p, n);
    if (rc < 0 && rc != SB_ECLOSED)
        sb_abort(cl->conn);
}

#define OUT_LIT(cl, s) out(cl, s, sizeof(s) - 1)

static size_t fmt_ll(char *buf, long long v)
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

static void reply_int(client *cl, long long v)
{
    char buf[32];
    out(cl, buf, fmt_num(buf, ':', v));
}

static void reply_array(client *cl, long long n)
{
    char buf[32];
    out(cl, buf, fmt_num(buf, '*', n));
}

static void reply_bulk(client *cl, const char *p, size_t n)
{
    char buf[REPLY_STACK];
    size_t h;

    if (n + 32 <= sizeof(buf)) { /* the common case: one write */
        h = fmt_num(buf, '$', (long long)n);
        memcpy(buf + h, p, n);
        memcpy(buf + h + n, "\r\n", 2);
        out(cl, buf, h + n + 2);
        return;
    }
    out(cl, buf, fmt_num(buf, '$', (long long)n));
    if (sb_write_delim(cl->conn, p, n, "\r\n", 2) < 0)
        sb_abort(cl->conn);
}

static void reply_nil(client *cl)
{
    OUT_LIT(cl, "$-1\r\n");
}

static void reply_ok(client *cl)
{
    OUT_LIT(cl, "+OK\r\n");
}

/* "-CODE message\r\n"; CR and LF inside the message become spaces, as Redis
 * does, so a reply can never break the protocol. */
static void reply_error(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(client *cl, const char *fmt, ...)
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
    memcpy(buf + n + 1, "\r\n", 2);
    out(cl, buf, (size_t)n + 3);
}

#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_SYNTAX "ERR syntax error"
#define ERR_NOMEM "ERR out of memory"

static void reply_arity(client *cl, const char *fullname)
{
    reply_error(cl, "ERR wrong number of arguments for '%s' command", fullname);
}

/* An argument as C would print it with %s: up to its first NUL. */
static inline int cstr_len(const arg *a, size_t max)
{
    size_t n = strnlen(a->p, a->len < max ? a->len : max);
    return (int)n;
}

/* ========================================================= argument utils */

/* Redis' string2ll: an optional '-', no leading zeros or spaces, fits in
 * a long long.  Returns 1 with *out set, or 0. */
static int str2ll(const char *s, size_t n, long long *out)
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

static int arg_ll(client *cl, const arg *a, long long *v)
{
    if (str2ll(a->p, a->len, v))
        return 1;
    reply_error(cl, ERR_NOT_INT);
    return 0;
}

/* Case-insensitive comparison of an argument with a lower-case word. */
static int is(const arg *a, const char *word)
{
    return a->len == strlen(word) && strncasecmp(a->p, word, a->len) == 0;
}

/* ============================================================= commands */

static void cmd_ping(client *cl, arg *av, int ac)
{
    if (ac > 2)
        reply_arity(cl, "ping");
    else if (ac == 2)
        reply_bulk(cl, av[1].p, av[1].len);
    else
        OUT_LIT(cl, "+PONG\r\n");
}

static void cmd_echo(client *cl, arg *av, int ac)
{
    (void)ac;
    reply_bulk(cl, av[1].p, av[1].len);
}

static void cmd_get(client *cl, arg *av, int ac)
{
    entry *e = lookup_read(cl->srv, &av[1]);

    (void)ac;
    if (e)
        reply_bulk(cl, ent_val(e), e->vlen);
    else
        reply_nil(cl);
}

/* A relative TTL given in ms: 0 on success, else an error was replied. */
static int expire_when(client *cl, long long ms, const char *cmd, int64_t *when)
{
    int64_t now = now_ms(cl->srv);

    if (ms > INT64_MAX - now) {
        reply_error(cl, "ERR invalid expire time in '%s' command", cmd);
        return -1;
    }
    *when = now + ms;
    return 0;
}

enum { SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_KEEPTTL = 8, SET_EX = 16, SET_PX = 32 };

/* SET key value [NX|XX] [GET] [EX s|PX ms|KEEPTTL], with Redis' rules for
 * which options combine. */
static void cmd_set(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const arg *ttl = NULL;
    int flags = 0, i;
    long long ms = 0;
    int64_t when = 0;
    uint64_t h;
    entry **pp, *e;

    for (i = 3; i < ac; i++) {
        const arg *o = &av[i];
        int has_next = i + 1 < ac;
        if (is(o, "nx") && !(flags & SET_XX)) {
            flags |= SET_NX;
        } else if (is(o, "xx") && !(flags & SET_NX)) {
            flags |= SET_XX;
        } else if (is(o, "get")) {
            flags |= SET_GET;
        } else if (is(o, "keepttl") && !(flags & (SET_EX | SET_PX))) {
            flags |= SET_KEEPTTL;
        } else if (is(o, "ex") && !(flags & (SET_KEEPTTL | SET_PX)) && has_next) {
            flags |= SET_EX;
            ttl = &av[++i];
        } else if (is(o, "px") && !(flags & (SET_KEEPTTL | SET_EX)) && has_next) {
            flags |= SET_PX;
            ttl = &av[++i];
        } else {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
    }
    if (ttl) {
        if (!arg_ll(cl, ttl, &ms))
            return;
        if (ms <= 0 || ((flags & SET_EX) && ms > LLONG_MAX / 1000)) {
            reply_error(cl, "ERR invalid expire time in 'set' command");
            return;
        }
        if ((flags & SET_EX))
            ms *= 1000;
        if (expire_when(cl, ms, "set", &when))
            return;
    }
    pp = lookup(s, &av[1], &h);
    if (flags & SET_GET) {
        if (pp)
            reply_bulk(cl, ent_val(*pp), (*pp)->vlen);
        else
            reply_nil(cl);
    }
    if (((flags & SET_NX) && pp) || ((flags & SET_XX) && !pp)) {
        if (!(flags & SET_GET))
            reply_nil(cl);
        return;
    }
    e = db_store(&s->db, pp, h, av[1].p, av[1].len, av[2].p, av[2].len);
    if (!e || (!(flags & SET_KEEPTTL) && set_expire(&s->db, e, when))) {
        if (!(flags & SET_GET))
            reply_error(cl, ERR_NOMEM);
        return;
    }
    if (!(flags & SET_GET))
        reply_ok(cl);
}

/* DEL / EXISTS: how many of the keys exist (DEL removes them). */
static void count_keys(client *cl, arg *av, int ac, int del)
{
    long long n = 0;
    int i;

    for (i = 1; i < ac; i++) {
        entry **pp = lookup(cl->srv, &av[i], NULL);
        if (!pp)
            continue;
        n++;
        if (del)
            db_unlink(&cl->srv->db, pp);
    }
    reply_int(cl, n);
}

static void cmd_del(client *cl, arg *av, int ac)
{
    count_keys(cl, av, ac, 1);
}

static void cmd_exists(client *cl, arg *av, int ac)
{
    count_keys(cl, av, ac, 0);
}

/* INCR, DECR, INCRBY, DECRBY: the value as a decimal long long. */
static void incr_by(client *cl, const arg *key, long long by)
{
    kvd *s = cl->srv;
    char buf[24];
    long long v = 0;
    uint64_t h;
    entry **pp = lookup(s, key, &h);

    if (pp && !str2ll(ent_val(*pp), (*pp)->vlen, &v)) {
        reply_error(cl, ERR_NOT_INT);
        return;
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        reply_error(cl, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    if (!db_store(&s->db, pp, h, key->p, key->len, buf, fmt_ll(buf, v)))
        reply_error(cl, ERR_NOMEM);
    else
        reply_int(cl, v);
}

static void cmd_incr(client *cl, arg *av, int ac)
{
    (void)ac;
    incr_by(cl, &av[1], 1);
}

static void cmd_decr(client *cl, arg *av, int ac)
{
    (void)ac;
    incr_by(cl, &av[1], -1);
}

static void cmd_incrby(client *cl, arg *av, int ac)
{
    long long by;

    (void)ac;
    if (arg_ll(cl, &av[2], &by))
        incr_by(cl, &av[1], by);
}

static void cmd_decrby(client *cl, arg *av, int ac)
{
    long long by;

    (void)ac;
    if (!arg_ll(cl, &av[2], &by))
        return;
    if (by == LLONG_MIN)
        reply_error(cl, "ERR decrement would overflow");
    else
        incr_by(cl, &av[1], -by);
}

static void cmd_append(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    uint64_t h;
    entry **pp = lookup(s, &av[1], &h), *e;
    size_t need;

    (void)ac;
    if (!pp) {
        e = db_store(&s->db, NULL, h, av[1].p, av[1].len, av[2].p, av[2].len);
        if (e)
            reply_int(cl, (long long)e->vlen);
        else
            reply_error(cl, ERR_NOMEM);
        return;
    }
    e = *pp;
    need = (size_t)e->vlen + av[2].len;
    if (need > s->max_bulk) {
        reply_error(cl, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return;
    }
    /* Grow geometrically, as appending usually goes on. */
    if (need > e->vcap) {
        size_t cap = need < (1u << 20) ? need * 2 : need + (1u << 20);
        if (cap > s->max_bulk)
            cap = s->max_bulk;
        if (!(e = ent_resize(&s->db, pp, cap))) {
            reply_error(cl, ERR_NOMEM);
            return;
        }
    }
    memcpy(ent_val(e) + e->vlen, av[2].p, av[2].len);
    e->vlen = (uint32_t)need;
    reply_int(cl, (long long)need);
}

static void cmd_strlen(client *cl, arg *av, int ac)
{
    entry *e = lookup_read(cl->srv, &av[1]);

    (void)ac;
    reply_int(cl, e ? (long long)e->vlen : 0);
}

static void cmd_mget(client *cl, arg *av, int ac)
{
    int i;

    reply_array(cl, ac - 1);
    for (i = 1; i < ac; i++) {
        entry *e = lookup_read(cl->srv, &av[i]);
        if (e)
            reply_bulk(cl, ent_val(e), e->vlen);
        else
            reply_nil(cl);
    }
}

static void cmd_mset(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    int i;

    if (ac % 2 == 0) {
        reply_arity(cl, "mset");
        return;
    }
    for (i = 1; i < ac; i += 2) {
        uint64_t h;
        entry **pp = lookup(s, &av[i], &h);
        entry *e = db_store(&s->db, pp, h, av[i].p, av[i].len, av[i + 1].p, av[i + 1].len);
        if (!e) {
            reply_error(cl, ERR_NOMEM);
            return;
        }
        set_expire(&s->db, e, 0); /* a plain set drops the TTL */
    }
    reply_ok(cl);
}

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* EXPIRE / PEXPIRE key time [NX|XX|GT|LT]: a time in the past deletes. */
static void expire_generic(client *cl, arg *av, int ac, int unit_ms, const char *name)
{
    kvd *s = cl->srv;
    long long t;
    int64_t when, cur;
    int flags = 0, i;
    entry **pp;

    for (i = 3; i < ac; i++) {
        if (is(&av[i], "nx"))
            flags |= EXP_NX;
        else if (is(&av[i], "xx"))
            flags |= EXP_XX;
        else if (is(&av[i], "gt"))
            flags |= EXP_GT;
        else if (is(&av[i], "lt"))
            flags |= EXP_LT;
        else {
            reply_error(cl, "ERR Unsupported option %.*s", cstr_len(&av[i], 128), av[i].p);
            return;
        }
    }
    if ((flags & EXP_NX) && (flags & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_error(cl, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((flags & EXP_GT) && (flags & EXP_LT)) {
        reply_error(cl, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    if (!arg_ll(cl, &av[2], &t))
        return;
    if (!unit_ms) {
        if (t > LLONG_MAX / 1000 || t < LLONG_MIN / 1000) {
            reply_error(cl, "ERR invalid expire time in '%s' command", name);
            return;
        }
        t *= 1000;
    }
    if (t > 0 && expire_when(cl, t, name, &when))
        return;
    if (t <= 0)
        when = now_ms(s) + t; /* in the past or now: cannot overflow */
    if (!(pp = lookup(s, &av[1], NULL))) {
        reply_int(cl, 0);
        return;
    }
    cur = (*pp)->expire_at ? (*pp)->expire_at : -1;
    if (((flags & EXP_NX) && cur != -1) || ((flags & EXP_XX) && cur == -1) ||
        ((flags & EXP_GT) && (cur == -1 || when <= cur)) ||
        ((flags & EXP_LT) && cur != -1 && when >= cur)) {
        reply_int(cl, 0);
        return;
    }
    if (when <= now_ms(s)) {
        db_unlink(&s->db, pp);
        s->expired++;
    } else if (set_expire(&s->db, *pp, when)) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    reply_int(cl, 1);
}

static void cmd_expire(client *cl, arg *av, int ac)
{
    expire_generic(cl, av, ac, 0, "expire");
}

static void cmd_pexpire(client *cl, arg *av, int ac)
{
    expire_generic(cl, av, ac, 1, "pexpire");
}

static void ttl_generic(client *cl, arg *av, int in_ms)
{
    entry **pp = lookup(cl->srv, &av[1], NULL);
    int64_t ttl;

    if (!pp) {
        reply_int(cl, -2);
        return;
    }
    if (!(*pp)->expire_at) {
        reply_int(cl, -1);
        return;
    }
    ttl = (*pp)->expire_at - now_ms(cl->srv);
    if (ttl < 0)
        ttl = 0;
    reply_int(cl, in_ms ? ttl : (ttl + 500) / 1000);
}

static void cmd_ttl(client *cl, arg *av, int ac)
{
    (void)ac;
    ttl_generic(cl, av, 0);
}

static void cmd_pttl(client *cl, arg *av, int ac)
{
    (void)ac;
    ttl_generic(cl, av, 1);
}

static void cmd_persist(client *cl, arg *av, int ac)
{
    entry **pp = lookup(cl->srv, &av[1], NULL);

    (void)ac;
    if (!pp || !(*pp)->expire_at) {
        reply_int(cl, 0);
        return;
    }
    set_expire(&cl->srv->db, *pp, 0);
    reply_int(cl, 1);
}

/* KEYS pattern: every live key matching, in table order.  O(keys). */
static void cmd_keys(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    db *d = &s->db;
    size_t n = 0, cap = 0, j;
    entry **hits = NULL, *e;
    int i, all = av[1].len == 1 && av[1].p[0] == '*';

    (void)ac;
    for (i = 0; i < 2; i++)
        for (j = 0; j < d->t[i].size; j++)
            for (e = d->t[i].b[j]; e; e = e->next) {
                if (expired(s, e) ||
                    (!all && !glob_match(av[1].p, av[1].len, e->data, e->klen, 0)))
                    continue;
                if (n == cap) {
                    entry **m = realloc(hits, (cap = cap ? cap * 2 : 64) * sizeof(*m));
                    if (!m) {
                        free(hits);
                        reply_error(cl, ERR_NOMEM);
                        return;
                    }
                    hits = m;
                }
                hits[n++] = e;
            }
    reply_array(cl, (long long)n);
    for (j = 0; j < n; j++)
        reply_bulk(cl, hits[j]->data, hits[j]->klen);
    free(hits);
}

static void cmd_dbsize(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_int(cl, (long long)db_count(&cl->srv->db));
}

static void cmd_flushall(client *cl, arg *av, int ac)
{
    if (ac > 2 || (ac == 2 && !is(&av[1], "async") && !is(&av[1], "sync"))) {
        reply_error(cl, ERR_SYNTAX);
        return;
    }
    db_clear(&cl->srv->db, 1);
    reply_ok(cl);
}

static void cmd_select(client *cl, arg *av, int ac)
{
    long long id;

    (void)ac;
    if (!str2ll(av[1].p, av[1].len, &id) || id < INT_MIN || id > INT_MAX)
        reply_error(cl, ERR_NOT_INT);
    else if (id != 0)
        reply_error(cl, "ERR DB index is out of range");
    else
        reply_ok(cl);
}

static void cmd_quit(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_ok(cl);
    sb_close(cl->conn); /* flush the +OK, then close; later input is ignored */
}

/* A small appender for INFO and CONFIG replies built in one buffer. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < t->cap - t->len ? (size_t)n : t->cap - t->len - 1;
}

/* Whether INFO's arguments ask for a section; if so, its title is added. */
static int section(text *t, arg *av, int ac, const char *name, const char *title)
{
    int i, want = ac == 1;

    for (i = 1; i < ac && !want; i++)
        want = is(&av[i], name) || is(&av[i], "all") || is(&av[i], "everything") ||
               is(&av[i], "default");
    if (want)
        text_add(t, "%s# %s\r\n", t->len ? "\r\n" : "", title);
    return want;
}

/* INFO [section ...]: Redis' layout; "reactor" holds sb_loop_stats(). */
static void cmd_info(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    char buf[4096];
    text t = {buf, 0, sizeof(buf)};
    sb_stats st;
    uint64_t up = (sb_loop_now(s->loop) - s->started) / 1000;

    sb_loop_stats(s->loop, &st);
    if (section(&t, av, ac, "server", "Server"))
        text_add(&t,
                 "redis_version:7.0.0\r\nsb_kvd_version:%s\r\nredis_mode:standalone\r\n"
                 "multiplexing_api:select\r\nprocess_id:%ld\r\ntcp_port:%d\r\n"
                 "uptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n",
                 SB_VERSION_STRING, (long)getpid(), s->port, (unsigned long long)up,
                 (unsigned long long)up / 86400);
    if (section(&t, av, ac, "clients", "Clients"))
        text_add(&t, "connected_clients:%lu\r\nmaxclients:%u\r\n", s->nclients, s->max_conns);
    if (section(&t, av, ac, "memory", "Memory"))
        text_add(&t,
                 "used_memory:%zu\r\nmaxmemory:%llu\r\nmaxmemory_policy:noeviction\r\n"
                 "proto_max_bulk_len:%zu\r\nclient_query_buffer_limit:%zu\r\n",
                 s->db.mem, s->max_memory, s->max_bulk, s->max_query);
    if (section(&t, av, ac, "stats", "Stats"))
        text_add(&t,
                 "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
                 "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n"
                 "rejected_connections:%llu\r\nexpired_keys:%llu\r\nkeyspace_hits:%llu\r\n"
                 "keyspace_misses:%llu\r\n",
                 (unsigned long long)st.accepted, (unsigned long long)s->commands,
                 (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
                 (unsigned long long)(s->rejected + st.rejected),
                 (unsigned long long)s->expired, (unsigned long long)s->hits,
                 (unsigned long long)s->misses);
    if (section(&t, av, ac, "reactor", "Reactor"))
        text_add(&t,
                 "loop_iterations:%llu\r\nconnections_accepted:%llu\r\n"
                 "connections_open:%llu\r\nconnections_rejected:%llu\r\n"
                 "connections_closed:%llu\r\nconnection_close_errors:%llu\r\n"
                 "idle_timeouts:%llu\r\naccept_calls:%llu\r\naccept_emfile:%llu\r\n"
                 "bytes_in:%llu\r\nbytes_out:%llu\r\ntimers_fired:%llu\r\n",
                 (unsigned long long)st.iterations, (unsigned long long)st.accepted,
                 (unsigned long long)st.conns, (unsigned long long)st.rejected,
                 (unsigned long long)st.closes, (unsigned long long)st.close_errors,
                 (unsigned long long)st.timeouts, (unsigned long long)st.accept_calls,
                 (unsigned long long)st.emfile, (unsigned long long)st.bytes_in,
                 (unsigned long long)st.bytes_out, (unsigned long long)st.timers_fired);
    if (section(&t, av, ac, "keyspace", "Keyspace") && db_count(&s->db))
        text_add(&t, "db0:keys=%zu,expires=%zu,avg_ttl=0\r\n", db_count(&s->db), s->db.nvol);
    reply_bulk(cl, t.p, t.len);
}

/* CLIENT SETNAME name | GETNAME.  Names as Redis allows them: no spaces,
 * no control characters. */
static void cmd_client(client *cl, arg *av, int ac)
{
    size_t i;

    if (is(&av[1], "setname")) {
        char *name = NULL;
        if (ac != 3) {
            reply_arity(cl, "client|setname");
            return;
        }
        for (i = 0; i < av[2].len; i++)
            if (av[2].p[i] < '!' || av[2].p[i] > '~') {
                reply_error(cl, "ERR Client names cannot contain spaces, newlines or special "
                                "characters.");
                return;
            }
        if (av[2].len && !(name = strndup(av[2].p, av[2].len))) {
            reply_error(cl, ERR_NOMEM);
            return;
        }
        free(cl->name);
        cl->name = name;
        reply_ok(cl);
    } else if (is(&av[1], "getname")) {
        if (ac != 2)
            reply_arity(cl, "client|getname");
        else if (cl->name)
            reply_bulk(cl, cl->name, strlen(cl->name));
        else
            reply_nil(cl);
    } else {
        reply_error(cl, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.", cstr_len(&av[1], 128),
                    av[1].p);
    }
}

typedef struct command {
    const char *name;
    void (*fn)(client *cl, arg *av, int ac);
    int arity;          /* N: exactly N words; -N: at least N */
    unsigned flags;
    int first, last, step; /* key positions, for COMMAND */
} command;

enum { CMD_WRITE = 1, CMD_DENYOOM = 2, CMD_READONLY = 4, CMD_FAST = 8 };

static void cmd_command(client *cl, arg *av, int ac);
static void cmd_config(client *cl, arg *av, int ac);

#define W (CMD_WRITE | CMD_DENYOOM)
/* Sorted by name: looked up by binary search. */
static const command commands[] = {
    {"append", cmd_append, 3, W, 1, 1, 1},
    {"client", cmd_client, -2, 0, 0, 0, 0},
    {"command", cmd_command, -1, 0, 0, 0, 0},
    {"config", cmd_config, -2, 0, 0, 0, 0},
    {"dbsize", cmd_dbsize, 1, CMD_READONLY | CMD_FAST, 0, 0, 0},
    {"decr", cmd_decr, 2, W | CMD_FAST, 1, 1, 1},
    {"decrby", cmd_decrby, 3, W | CMD_FAST, 1, 1, 1},
    {"del", cmd_del, -2, CMD_WRITE, 1, -1, 1},
    {"echo", cmd_echo, 2, CMD_FAST, 0, 0, 0},
    {"exists", cmd_exists, -2, CMD_READONLY | CMD_FAST, 1, -1, 1},
    {"expire", cmd_expire, -3, CMD_WRITE | CMD_FAST, 1, 1, 1},
    {"flushall", cmd_flushall, -1, CMD_WRITE, 0, 0, 0},
    {"flushdb", cmd_flushall, -1, CMD_WRITE, 0, 0, 0},
    {"get", cmd_get, 2, CMD_READONLY | CMD_FAST, 1, 1, 1},
    {"incr", cmd_incr, 2, W | CMD_FAST, 1, 1, 1},
    {"incrby", cmd_incrby, 3, W | CMD_FAST, 1, 1, 1},
    {"info", cmd_info, -1, 0, 0, 0, 0},
    {"keys", cmd_keys, 2, CMD_READONLY, 0, 0, 0},
    {"mget", cmd_mget, -2, CMD_READONLY | CMD_FAST, 1, -1, 1},
    {"mset", cmd_mset, -3, W, 1, -1, 2},
    {"persist", cmd_persist, 2, CMD_WRITE | CMD_FAST, 1, 1, 1},
    {"pexpire", cmd_pexpire, -3, CMD_WRITE | CMD_FAST, 1, 1, 1},
    {"ping", cmd_ping, -1, CMD_FAST, 0, 0, 0},
    {"pttl", cmd_pttl, 2, CMD_READONLY | CMD_FAST, 1, 1, 1},
    {"quit", cmd_quit, -1, CMD_FAST, 0, 0, 0},
    {"select", cmd_select, 2, CMD_FAST, 0, 0, 0},
    {"set", cmd_set, -3, W, 1, 1, 1},
    {"strlen", cmd_strlen, 2, CMD_READONLY | CMD_FAST, 1, 1, 1},
    {"ttl", cmd_ttl, 2, CMD_READONLY | CMD_FAST, 1, 1, 1},
};
#undef W
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const command *find_command(const char *name, size_t len)
{
    char low[16];
    size_t i, lo = 0, hi = NCOMMANDS;

    if (len >= sizeof(low))
        return NULL;
    for (i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = '\0';
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, commands[mid].name);
        if (c == 0)
            return &commands[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* One command's COMMAND INFO entry, Redis 7 shape (ten fields). */
static void reply_command_info(client *cl, const command *c)
{
    static const char *const names[] = {"write", "denyoom", "readonly", "fast"};
    char buf[512];
    size_t n = 0, i, nflags = 0;

    for (i = 0; i < 4; i++)
        nflags += (c->flags >> i) & 1;
    n += (size_t)snprintf(buf, sizeof(buf), "*10\r\n$%zu\r\n%s\r\n:%d\r\n*%zu\r\n",
                          strlen(c->name), c->name, c->arity, nflags);
    for (i = 0; i < 4; i++)
        if (c->flags & (1u << i))
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "+%s\r\n", names[i]);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ":%d\r\n:%d\r\n:%d\r\n*0\r\n*0\r\n*0\r\n*0\r\n",
                          c->first, c->last, c->step);
    out(cl, buf, n);
}

/* COMMAND [COUNT | LIST | INFO name...]: enough for clients to start;
 * every other subcommand (DOCS, which redis-cli 7 asks for) gets []. */
static void cmd_command(client *cl, arg *av, int ac)
{
    size_t i;
    int j;

    if (ac == 1 || (is(&av[1], "info") && ac == 2)) {
        reply_array(cl, (long long)NCOMMANDS);
        for (i = 0; i < NCOMMANDS; i++)
            reply_command_info(cl, &commands[i]);
    } else if (is(&av[1], "count")) {
        reply_int(cl, (long long)NCOMMANDS);
    } else if (is(&av[1], "list")) {
        reply_array(cl, (long long)NCOMMANDS);
        for (i = 0; i < NCOMMANDS; i++)
            reply_bulk(cl, commands[i].name, strlen(commands[i].name));
    } else if (is(&av[1], "info")) {
        reply_array(cl, ac - 2);
        for (j = 2; j < ac; j++) {
            const command *c = find_command(av[j].p, av[j].len);
            if (c)
                reply_command_info(cl, c);
            else
                OUT_LIT(cl, "*-1\r\n");
        }
    } else {
        OUT_LIT(cl, "*0\r\n");
    }
}

/* CONFIG GET pattern...: a few read-only parameters, so that tools which
 * ask (redis-benchmark asks for "save" and "appendonly") are answered. */
static void cmd_config(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    char vals[5][32], buf[1024];
    const char *names[] = {"save", "appendonly", "databases", "maxmemory",
                           "maxclients", "timeout", "proto-max-bulk-len",
                           "client-query-buffer-limit"};
    const char *v[8];
    text t = {buf, 0, sizeof(buf)};
    int i, j, n = 0;
    size_t nnames = sizeof(names) / sizeof(names[0]);

    if (!is(&av[1], "get")) {
        reply_error(cl, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.", cstr_len(&av[1], 128),
                    av[1].p);
        return;
    }
    if (ac < 3) {
        reply_arity(cl, "config|get");
        return;
    }
    snprintf(vals[0], sizeof(vals[0]), "%llu", s->max_memory);
    snprintf(vals[1], sizeof(vals[1]), "%u", s->max_conns);
    snprintf(vals[2], sizeof(vals[2]), "%u", s->idle_s);
    snprintf(vals[3], sizeof(vals[3]), "%zu", s->max_bulk);
    snprintf(vals[4], sizeof(vals[4]), "%zu", s->max_query);
    v[0] = "";
    v[1] = "no";
    v[2] = "1";
    for (i = 0; i < 5; i++)
        v[3 + i] = vals[i];
    for (i = 0; i < (int)nnames; i++)
        for (j = 2; j < ac; j++)
            if (glob_match(av[j].p, av[j].len, names[i], strlen(names[i]), 1)) {
                text_add(&t, "$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(names[i]), names[i],
                         strlen(v[i]), v[i]);
                n += 2;
                break;
            }
    reply_array(cl, n);
    out(cl, t.p, t.len);
}

/* Look the command up, check arity and memory, run it. */
static void execute(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const command *c = find_command(av[0].p, av[0].len);

    s->commands++;
    if (!c) {
        char args[160] = "";
        size_t n = 0;
        int i;
        for (i = 1; i < ac && n < 128; i++)
            n += (size_t)snprintf(args + n, sizeof(args) - n, "'%.*s' ",
                                  cstr_len(&av[i], 128 - n), av[i].p);
        reply_error(cl, "ERR unknown command '%.*s', with args beginning with: %s",
                    cstr_len(&av[0], 128), av[0].p, args);
        return;
    }
    if ((c->arity > 0 && ac != c->arity) || ac < -c->arity) {
        reply_arity(cl, c->name);
        return;
    }
    if ((c->flags & CMD_DENYOOM) && s->max_memory && s->db.mem > s->max_memory) {
        reply_error(cl, "OOM command not allowed when used memory > 'maxmemory'.");
        return;
    }
    c->fn(cl, av, ac);
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
        free(cl->abuf);
        cl->abuf = NULL;
        cl->acap = 0;
    }
    if (cl->argcap > ARGS_KEEP) {
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
static void got_body(client *cl, const char *d)
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
static void got_header(client *cl, const char *d, size_t n)
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
    /* The query buffer cap, checked before a byte of the body is read. */
    if (cl->alen + (size_t)v + (cl->argc + 1) * sizeof(arg) > s->max_query) {
        sb_close(cl->conn);
        return;
    }
    cl->bulk = (size_t)v;
    cl->state = ST_BODY;
    sb_frame_fixed(cl->conn, cl->bulk + 2);
}

/* ST_LINE: "*N" starts a multibulk command; anything else is inline. */
static void got_line(client *cl, const char *d, size_t n)
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

/* Each call is one message, cut by the framer the state asked for. */
static void kv_data(sb_conn *c, const char *d, size_t n, void *udata)
{
    client *cl = udata;

    (void)c;
    if (cl->state == ST_BODY) {
        got_body(cl, d);
        return;
    }
    if (n && d[n - 1] == '\r')
        n--; /* lines end in CRLF, or LF alone as Redis allows */
    if (cl->state == ST_HEADER)
        got_header(cl, d, n);
    else
        got_line(cl, d, n);
}

/* A line longer than 64 KiB: answered like Redis, then the close. */
static int kv_frame_error(sb_conn *c, int err, void *udata)
{
    client *cl = udata;

    (void)c;
    (void)err;
    if ((void *)cl != (void *)the_server)
        reply_error(cl, "ERR Protocol error: %s",
                    cl->state == ST_HEADER ? "too big bulk count string"
                                           : "too big inline request");
    return 0;
}

static void kv_open(sb_conn *c, void *udata)
{
    kvd *s = udata;
    client *cl;

    sbd_conn_opened(&s->sbd);
    if (s->nclients >= s->max_conns && s->max_conns) {
        static const char full[] = "-ERR max number of clients reached\r\n";
        s->rejected++;
        sb_write(c, full, sizeof(full) - 1);
        sb_close(c);
        return;
    }
    if (!(cl = calloc(1, sizeof(*cl)))) {
        sb_abort(c);
        return;
    }
    cl->srv = s;
    cl->conn = c;
    s->nclients++;
    sb_conn_set_udata(c, cl);
    sb_conn_set_framer(c, &s->line);
}

static void kv_close(sb_conn *c, int reason, void *udata)
{
    client *cl = udata;
    kvd *s = the_server;

    (void)c;
    (void)reason;
    if ((void *)cl != (void *)s) {
        free(cl->av);
        free(cl->abuf);
        free(cl->name);
        free(cl);
        s->nclients--;
    }
    sbd_conn_closed(&s->sbd);
}

/* =============================================================== timers */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Every 100 ms: active expiry (sample 20 keys with a TTL, delete the
 * expired ones, go again while more than a quarter of a sample had
 * expired), then move rehash buckets, or start shrinking a table that is
 * less than 10% full.  About 1 ms of work at most.
 */
static void cron(sb_timer *t, void *udata)
{
    kvd *s = udata;
    db *d = &s->db;
    uint64_t deadline = mono_ns() + CRON_BUDGET_NS;
    int64_t now = now_ms(s);

    (void)t;
    while (d->nvol) {
        size_t n = d->nvol < EXPIRE_SAMPLE ? d->nvol : EXPIRE_SAMPLE, i, gone = 0;
        for (i = 0; i < n && d->nvol; i++) {
            entry *e = d->vol[next_rand(s) % d->nvol];
            if (e->expire_at <= now) {
                db_delete_entry(d, e);
                s->expired++;
                gone++;
            }
        }
        if (gone * 4 <= n || mono_ns() > deadline)
            break;
    }
    while (rehash_step(d, 100) && mono_ns() < deadline)
        ;
    if (!rehashing(d) && d->t[0].size > TABLE_MIN && db_count(d) * 10 < d->t[0].size) {
        size_t size = TABLE_MIN;
        while (size < db_count(d))
            size *= 2;
        start_rehash(d, size);
    }
}

/* First SIGTERM/SIGINT: the cron goes, every client is flushed and closed. */
static void kv_stop(sbd *d)
{
    kvd *s = d->app;

    sb_timer_free(s->cron);
    s->cron = NULL;
    sb_loop_close_all(d->loop);
}

/* ================================================================ daemon */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sb-kvd [options]\n"
            "An in-memory key-value server speaking the Redis protocol (RESP2).\n\n"
            "  -l, --listen ADDR         listen on ADDR (repeatable; default " DEFAULT_ADDR ")\n"
            "                            ADDR: host:port, [v6addr]:port, *:port, unix:/path\n"
            "  -c, --max-conns N         at most N clients (default 10000; 0 = no limit)\n"
            "  -t, --idle-timeout SECS   close clients idle this long (0 = never; default 0)\n"
            "  -m, --max-memory BYTES    refuse writes once keys and values use more\n"
            "                            (suffix k, m or g: KiB, MiB, GiB; 0 = no limit)\n"
            "  -B, --max-bulk BYTES      longest string argument (default 64m, at most 512m)\n"
            "  -Q, --max-query BYTES     most bytes one command may buffer (default 128m)\n"
            "  -U, --user NAME           drop root privileges to NAME after binding\n"
            "  -G, --grace SECS          on SIGTERM/SIGINT, wait this long for clients\n"
            "                            to finish, then reset them (default 5)\n"
            "  -h, --help                show this help\n"
            "  -V, --version             show the version\n");
}

static void cleanup(kvd *s)
{
    sb_timer_free(s->cron);
    s->cron = NULL;
    sbd_cleanup(&s->sbd);
    db_clear(&s->db, 0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"max-conns", required_argument, NULL, 'c'},
        {"idle-timeout", required_argument, NULL, 't'},
        {"max-memory", required_argument, NULL, 'm'},
        {"max-bulk", required_argument, NULL, 'B'},
        {"max-query", required_argument, NULL, 'Q'},
        {"user", required_argument, NULL, 'U'},
        {"grace", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL;
    int opt, rc;
    unsigned long long v;
    sb_listen_opts lo;
    sb_handler h;
    kvd s;

    memset(&s, 0, sizeof(s));
    memset(&lo, 0, sizeof(lo));
    sbd_init(&s.sbd, "sb-kvd");
    s.max_conns = DEFAULT_MAX_CONNS;
    s.max_bulk = DEFAULT_MAX_BULK;
    s.max_query = DEFAULT_MAX_QUERY;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":l:c:t:m:B:Q:U:G:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (sbd_add_listen(&s.sbd, optarg))
                return 2;
            break;
        case 'c':
            if (sbd_parse_uint(&s.sbd, "--max-conns", optarg, 0, UINT_MAX, &v))
                return 2;
            s.max_conns = (unsigned)v;
            break;
        case 't':
            if (sbd_parse_uint(&s.sbd, "--idle-timeout", optarg, 0, UINT_MAX / 1000, &v))
                return 2;
            s.idle_s = (unsigned)v;
            lo.idle_timeout_ms = (unsigned)v * 1000u;
            break;
        case 'm':
            if (sbd_parse_size(&s.sbd, "--max-memory", optarg, 0, ULLONG_MAX, &s.max_memory))
                return 2;
            break;
        case 'B':
            if (sbd_parse_size(&s.sbd, "--max-bulk", optarg, 1, LIMIT_MAX_BULK, &v))
                return 2;
            s.max_bulk = (size_t)v;
            break;
        case 'Q':
            if (sbd_parse_size(&s.sbd, "--max-query", optarg, 1024, SIZE_MAX / 4, &v))
                return 2;
            s.max_query = (size_t)v;
            break;
        case 'U':
            user = optarg;
            break;
        case 'G':
            if (sbd_parse_grace(&s.sbd, optarg))
                return 2;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            return sbd_version(&s.sbd);
        default:
            return sbd_bad_option(&s.sbd, opt, argv);
        }
    }
    if (sbd_no_operands(&s.sbd, argc, argv))
        return 2;
    if (s.max_query < s.max_bulk + 2) {
        fprintf(stderr, "sb-kvd: --max-query (%zu) must exceed --max-bulk (%zu)\n", s.max_query,
                s.max_bulk);
        return 2;
    }
    the_server = &s;
    s.rng = mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    s.rng |= 1;
    s.db.seed = next_rand(&s);
    sb_framer_delim(&s.line, "\n", 1, MAX_INLINE, 0);
    s.sbd.on_stop = kv_stop;
    s.sbd.app = &s;
    memset(&h, 0, sizeof(h));
    h.on_open = kv_open;
    h.on_data = kv_data;
    h.on_close = kv_close;
    h.on_frame_error = kv_frame_error;
    rc = sbd_open(&s.sbd, s.max_conns);
    if (rc == 0 && table_alloc(&s.db, &s.db.t[0], TABLE_MIN)) {
        fprintf(stderr, "sb-kvd: cannot allocate the keyspace: out of memory\n");
        rc = 1;
    }
    if (rc == 0) {
        s.loop = s.sbd.loop;
        s.started = sb_loop_now(s.loop);
        rc = sbd_listen(&s.sbd, DEFAULT_ADDR, &h, &s, &lo);
    }
    if (rc == 0) {
        s.port = sb_listener_port(s.sbd.listeners[0]);
        s.cron = sb_timer_new(s.loop, cron, &s);
        if (!s.cron || sb_timer_start(s.cron, CRON_MS, CRON_MS)) {
            fprintf(stderr, "sb-kvd: cannot start the cron timer: out of memory\n");
            rc = 1;
        }
    }
    if (rc == 0)
        rc = sbd_start(&s.sbd, user, NULL);
    if (rc == 0)
        rc = sbd_run(&s.sbd);
    cleanup(&s);
    return rc;
}
