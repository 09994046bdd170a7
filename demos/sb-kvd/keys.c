/*
 * sb-kvd's keyspace commands: existence and deletion, TTLs relative and
 * absolute, KEYS and SCAN, RANDOMKEY, RENAME and COPY, DBSIZE and FLUSHALL.
 * TTLs are kept on the server clock (srv_ms: Unix time in ms, read once at
 * start-up and carried on by the monotonic clock), and every time limit is
 * checked as redis-server 7.0 checks it against its own clock.
 */
#include "cmd.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================= existence, DEL */

/* DEL / EXISTS / TOUCH: how many of the keys exist (DEL removes them). */
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

void cmd_del(client *cl, arg *av, int ac)
{
    count_keys(cl, av, ac, 1);
}

void cmd_exists(client *cl, arg *av, int ac)
{
    count_keys(cl, av, ac, 0);
}

void cmd_touch(client *cl, arg *av, int ac)
{
    count_keys(cl, av, ac, 0);
}

/* TYPE key: every value is a string. */
void cmd_type(client *cl, arg *av, int ac)
{
    (void)ac;
    if (lookup(cl->srv, &av[1], NULL))
        OUT_LIT(cl, "+string\r\n");
    else
        OUT_LIT(cl, "+none\r\n");
}

/* ================================================================ expiry */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/*
 * EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT], as
 * Redis 7.0's expireGenericCommand: seconds past LLONG_MAX / 1000 ms, or a
 * relative time that would pass LLONG_MAX once now is added, are "invalid
 * expire time"; a time at or before now deletes the key (reply 1).
 */
static void expire_generic(client *cl, arg *av, int ac, int unit_ms, int absolute,
                           const char *name)
{
    kvd *s = cl->srv;
    long long t;
    int64_t when, cur, base;
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
        if (t > LLONG_MAX / 1000 || t < LLONG_MIN / 1000)
            goto invalid;
        t *= 1000;
    }
    base = absolute ? 0 : srv_ms(s);
    if (t > INT64_MAX - base)
        goto invalid;
    when = t + base;
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
    if (when <= srv_ms(s)) {
        db_unlink(&s->db, pp);
        s->expired++;
    } else if (set_expire(&s->db, *pp, when)) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    reply_int(cl, 1);
    return;
invalid:
    reply_error(cl, "ERR invalid expire time in '%s' command", name);
}

void cmd_expire(client *cl, arg *av, int ac)
{
    expire_generic(cl, av, ac, 0, 0, "expire");
}

void cmd_pexpire(client *cl, arg *av, int ac)
{
    expire_generic(cl, av, ac, 1, 0, "pexpire");
}

void cmd_expireat(client *cl, arg *av, int ac)
{
    expire_generic(cl, av, ac, 0, 1, "expireat");
}

void cmd_pexpireat(client *cl, arg *av, int ac)
{
    expire_generic(cl, av, ac, 1, 1, "pexpireat");
}

/* TTL / PTTL / EXPIRETIME / PEXPIRETIME: -2 for a missing key, -1 without
 * a TTL, else the time left or the time of expiry (seconds rounded). */
static void ttl_generic(client *cl, arg *av, int in_ms, int absolute)
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
    ttl = absolute ? (*pp)->expire_at : (*pp)->expire_at - srv_ms(cl->srv);
    if (ttl < 0)
        ttl = 0;
    reply_int(cl, in_ms ? ttl : ttl / 1000 + (ttl % 1000 >= 500));
}

void cmd_ttl(client *cl, arg *av, int ac)
{
    (void)ac;
    ttl_generic(cl, av, 0, 0);
}

void cmd_pttl(client *cl, arg *av, int ac)
{
    (void)ac;
    ttl_generic(cl, av, 1, 0);
}

void cmd_expiretime(client *cl, arg *av, int ac)
{
    (void)ac;
    ttl_generic(cl, av, 0, 1);
}

void cmd_pexpiretime(client *cl, arg *av, int ac)
{
    (void)ac;
    ttl_generic(cl, av, 1, 1);
}

void cmd_persist(client *cl, arg *av, int ac)
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

/* ================================================================= KEYS */

/* Whether a live key e matches the pattern (all: "*"): 1, 0, or -1 once
 * the budget ran out.  Each key adds GLOB_PER_BYTE per byte to it. */
static int key_matches(const arg *pat, int all, const entry *e, uint64_t *left,
                       uint64_t *granted)
{
    uint64_t more = GLOB_PER_BYTE * ((uint64_t)e->klen + 1);

    if (all)
        return 1;
    *left += more;
    *granted += more;
    return glob_match(pat->p, pat->len, e->data, e->klen, 0, left);
}

/* KEYS pattern: every live key matching, in table order.  O(keys), with
 * the matching work bounded (GLOB_BUDGET): past it, an error reply and
 * no keys. */
void cmd_keys(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    db *d = &s->db;
    size_t n = 0, cap = 0, j;
    entry **hits = NULL, *e;
    int i, all = av[1].len == 1 && av[1].p[0] == '*';
    uint64_t left = GLOB_BUDGET, granted = GLOB_BUDGET;

    (void)ac;
    for (i = 0; i < 2; i++)
        for (j = 0; j < d->t[i].size; j++)
            for (e = d->t[i].b[j]; e; e = e->next) {
                int m;
                if (expired(s, e))
                    continue;
                if ((m = key_matches(&av[1], all, e, &left, &granted)) < 0) {
                    free(hits);
                    reply_too_expensive(cl, granted);
                    return;
                }
                if (!m)
                    continue;
                if (n == cap) {
                    entry **g = realloc(hits, (cap = cap ? cap * 2 : 64) * sizeof(*g));
                    if (!g) {
                        free(hits);
                        reply_error(cl, ERR_NOMEM);
                        return;
                    }
                    hits = g;
                }
                hits[n++] = e;
            }
    reply_array(cl, (long long)n);
    for (j = 0; j < n && !cl->gone; j++)
        reply_bulk(cl, hits[j]->data, hits[j]->klen);
    free(hits);
}

/* ================================================================= SCAN */

static uint64_t rev64(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
    v = ((v >> 8) & 0x00ff00ff00ff00ffull) | ((v & 0x00ff00ff00ff00ffull) << 8);
    v = ((v >> 16) & 0x0000ffff0000ffffull) | ((v & 0x0000ffff0000ffffull) << 16);
    return v >> 32 | v << 32;
}

/* The cursor's next value: the reversed bits above mask m incremented. */
static uint64_t next_cursor(uint64_t v, uint64_t m)
{
    v |= ~m;
    return rev64(rev64(v) + 1);
}

typedef struct collected {
    entry **e;
    size_t n, cap;
    int nomem;
} collected;

static void collect_bucket(collected *c, entry *e)
{
    for (; e; e = e->next) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 64;
            entry **g = realloc(c->e, cap * sizeof(*g));
            if (!g) {
                c->nomem = 1;
                return;
            }
            c->e = g;
            c->cap = cap;
        }
        c->e[c->n++] = e;
    }
}

/*
 * One step of Redis' dictScan: the buckets at cursor v, and the next
 * cursor.  The cursor counts with its bits reversed, so a bucket's
 * expansions in a larger table (and its image in a smaller one) come
 * right after it: every key present for a whole scan is returned at least
 * once, whether the table grows, shrinks or is half-way through a rehash
 * (then the buckets of the smaller table at v, and every bucket of the
 * larger one that v expands to; the buckets already moved out of t[0] are
 * empty).  A key may come more than once.
 */
static uint64_t scan_step(db *d, uint64_t v, collected *c)
{
    const table *t0 = &d->t[0], *t1 = &d->t[1];
    uint64_t m0, m1;

    if (!rehashing(d)) {
        m0 = t0->size - 1;
        collect_bucket(c, t0->b[v & m0]);
        return next_cursor(v, m0);
    }
    if (t0->size > t1->size) {
        const table *x = t0;
        t0 = t1;
        t1 = x;
    }
    m0 = t0->size - 1;
    m1 = t1->size - 1;
    collect_bucket(c, t0->b[v & m0]);
    do {
        collect_bucket(c, t1->b[v & m1]);
        v = next_cursor(v, m1);
    } while (v & (m0 ^ m1));
    return v;
}

/* Redis' cursor parsing (strtoul): no leading blank, a sign allowed, the
 * whole argument digits ("" is 0), no overflow.  0, or -1. */
static int parse_cursor(const arg *a, uint64_t *cur)
{
    size_t n = strnlen(a->p, a->len), i = 0;
    uint64_t v = 0;
    int neg = 0;

    if (n && isspace((unsigned char)a->p[0]))
        return -1;
    if (n && (a->p[0] == '+' || a->p[0] == '-')) {
        neg = a->p[0] == '-';
        if (++i == n)
            return -1;
    }
    for (; i < n; i++) {
        unsigned d = (unsigned)(a->p[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *cur = neg ? 0 - v : v;
    return 0;
}

/*
 * SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]: about n buckets' keys
 * (at most 10 * n buckets looked at), filtered by the pattern (with KEYS'
 * work budget), the type ("string" keeps them all, another none) and
 * expiry (an expired key is deleted on the way), and the next cursor;
 * 0 when the scan is done.
 */
void cmd_scan(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    db *d = &s->db;
    const arg *pat = NULL, *type = NULL;
    long long count = 10, iters;
    uint64_t cursor, left = GLOB_BUDGET, granted = GLOB_BUDGET;
    collected c = {NULL, 0, 0, 0};
    size_t i, n;
    int j, all;
    char buf[24];

    if (parse_cursor(&av[1], &cursor)) {
        reply_error(cl, "ERR invalid cursor");
        return;
    }
    for (j = 2; j < ac; j += 2) {
        if (is(&av[j], "count") && j + 1 < ac) {
            if (!arg_ll(cl, &av[j + 1], &count))
                return;
            if (count < 1) {
                reply_error(cl, ERR_SYNTAX);
                return;
            }
        } else if (is(&av[j], "match") && j + 1 < ac) {
            pat = &av[j + 1];
        } else if (is(&av[j], "type") && j + 1 < ac) {
            type = &av[j + 1];
        } else {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
    }
    all = !pat || (pat->len == 1 && pat->p[0] == '*');
    iters = count > LLONG_MAX / 10 ? LLONG_MAX : count * 10;
    if (db_count(d)) {
        do
            cursor = scan_step(d, cursor, &c);
        while (cursor && !c.nomem && iters-- && c.n < (size_t)count);
    } else {
        cursor = 0;
    }
    if (c.nomem) {
        free(c.e);
        reply_error(cl, ERR_NOMEM);
        return;
    }
    /* Filter in place: the pattern, the type, then expiry. */
    for (i = n = 0; i < c.n; i++) {
        entry *e = c.e[i];
        int m = key_matches(pat, all, e, &left, &granted);
        if (m < 0) {
            free(c.e);
            reply_too_expensive(cl, granted);
            return;
        }
        if (!m || (type && !is(type, "string")))
            continue;
        if (expired(s, e)) {
            db_delete_entry(d, e);
            s->expired++;
            continue;
        }
        c.e[n++] = e;
    }
    OUT_LIT(cl, "*2\r\n");
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)cursor);
    reply_bulk(cl, buf, strlen(buf));
    reply_array(cl, (long long)n);
    for (i = 0; i < n && !cl->gone; i++)
        reply_bulk(cl, c.e[i]->data, c.e[i]->klen);
    free(c.e);
}

/* ============================================================ RANDOMKEY */

static uint64_t rand64(kvd *s)
{
    uint64_t x = s->rng; /* xorshift64, the server's generator */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

/* Bucket i of both tables seen as one array. */
static entry *bucket(const db *d, size_t i)
{
    return i < d->t[0].size ? d->t[0].b[i] : d->t[1].b[i - d->t[0].size];
}

/* A random entry of a chain. */
static entry *pick_in_chain(kvd *s, entry *e)
{
    size_t n = 0;
    entry *x;

    for (x = e; x; x = x->next)
        n++;
    for (n = (size_t)(rand64(s) % n); n--;)
        e = e->next;
    return e;
}

/* A random entry (expired or not), or NULL for an empty keyspace: random
 * buckets first (a table is at least 10% full once the timer has shrunk
 * it), then, after 1000 empty ones, a walk from a random bucket. */
static entry *random_entry(kvd *s)
{
    db *d = &s->db;
    size_t total = d->t[0].size + d->t[1].size, i, k;

    if (!db_count(d) || !total)
        return NULL;
    for (k = 0; k < 1000; k++) {
        entry *e = bucket(d, (size_t)(rand64(s) % total));
        if (e)
            return pick_in_chain(s, e);
    }
    i = (size_t)(rand64(s) % total);
    for (k = 0; k < total; k++) {
        entry *e = bucket(d, (i + k) % total);
        if (e)
            return pick_in_chain(s, e);
    }
    return NULL;
}

/* RANDOMKEY: a random live key, or nil.  Expired keys met are deleted;
 * after 16 of them, one walk over the table takes the first live key. */
void cmd_randomkey(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    db *d = &s->db;
    entry *e;
    int tries;
    size_t total, i, k;

    (void)av;
    (void)ac;
    for (tries = 0; tries < 16; tries++) {
        if (!(e = random_entry(s))) {
            reply_nil(cl);
            return;
        }
        if (!expired(s, e)) {
            reply_bulk(cl, e->data, e->klen);
            return;
        }
        db_delete_entry(d, e);
        s->expired++;
    }
    total = d->t[0].size + d->t[1].size;
    i = total ? (size_t)(rand64(s) % total) : 0;
    for (k = 0; k < total; k++)
        for (e = bucket(d, (i + k) % total); e; e = e->next)
            if (!expired(s, e)) {
                reply_bulk(cl, e->data, e->klen);
                return;
            }
    reply_nil(cl);
}

/* ========================================================= RENAME, COPY */

static int same_arg(const arg *a, const arg *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * Give key dst (absent, or at *dpp) the value and TTL of entry e; the
 * value is copied.  0, or -1 when out of memory (nothing changed).
 */
static int store_copy(kvd *s, entry *e, const arg *dst, entry **dpp, uint64_t hd)
{
    entry *ne;

    if (e->expire_at && vol_reserve(&s->db))
        return -1;
    if (!(ne = db_store(&s->db, dpp, hd, dst->p, dst->len, ent_val(e), e->vlen)))
        return -1;
    set_expire(&s->db, ne, e->expire_at); /* cannot fail: reserved */
    return 0;
}

/* RENAME / RENAMENX src dst: the TTL goes along (Redis' rules: a missing
 * src is an error even when dst is the same key). */
static void rename_generic(client *cl, arg *av, int nx)
{
    kvd *s = cl->srv;
    entry **pp = lookup(s, &av[1], NULL), **dpp, *e;
    uint64_t hd;

    if (!pp) {
        reply_error(cl, "ERR no such key");
        return;
    }
    if (same_arg(&av[1], &av[2])) {
        if (nx)
            reply_int(cl, 0);
        else
            reply_ok(cl);
        return;
    }
    e = *pp; /* the link may move with the next lookup; the entry does not */
    dpp = lookup(s, &av[2], &hd);
    if (dpp && nx) {
        reply_int(cl, 0);
        return;
    }
    if (store_copy(s, e, &av[2], dpp, hd)) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    db_delete_entry(&s->db, e);
    if (nx)
        reply_int(cl, 1);
    else
        reply_ok(cl);
}

void cmd_rename(client *cl, arg *av, int ac)
{
    (void)ac;
    rename_generic(cl, av, 0);
}

void cmd_renamenx(client *cl, arg *av, int ac)
{
    (void)ac;
    rename_generic(cl, av, 1);
}

/* COPY src dst [DB index] [REPLACE]: 1 if copied (value and TTL), 0 if
 * src is missing or dst exists without REPLACE.  Database 0 only. */
void cmd_copy(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    int replace = 0, j;
    entry *e, **dpp;
    uint64_t hd;

    for (j = 3; j < ac; j++) {
        long long id;
        if (is(&av[j], "replace")) {
            replace = 1;
        } else if (is(&av[j], "db") && j + 1 < ac) {
            if (!arg_int(cl, &av[j + 1], &id))
                return;
            if (id != 0) {
                reply_error(cl, "ERR DB index is out of range");
                return;
            }
            j++;
        } else {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
    }
    if (same_arg(&av[1], &av[2])) {
        reply_error(cl, "ERR source and destination objects are the same");
        return;
    }
    if (!(e = lookup_read(s, &av[1]))) {
        reply_int(cl, 0);
        return;
    }
    dpp = lookup(s, &av[2], &hd);
    if (dpp && !replace) {
        reply_int(cl, 0);
        return;
    }
    if (store_copy(s, e, &av[2], dpp, hd)) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    reply_int(cl, 1);
}

/* ======================================================= DBSIZE, FLUSH */

void cmd_dbsize(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_int(cl, (long long)db_count(&cl->srv->db));
}

void cmd_flushall(client *cl, arg *av, int ac)
{
    if (ac > 2 || (ac == 2 && !is(&av[1], "async") && !is(&av[1], "sync"))) {
        reply_error(cl, ERR_SYNTAX);
        return;
    }
    db_clear(&cl->srv->db, 1);
    reply_ok(cl);
}
