/*
 * sb-kvd's commands and their table (see commands.h).  KEYS and CONFIG GET
 * match with Redis' glob rules, below.
 */
#include "commands.h"
#include "resp.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ================================================================= glob */

static inline int same_char(unsigned char a, unsigned char b, int nocase)
{
    return a == b || (nocase && tolower(a) == tolower(b));
}

/* A byte as redis-server compares it in a range: a (signed) char, as on
 * x86-64, lower-cased for CONFIG GET. */
static inline int range_char(char c, int nocase)
{
    int v = (signed char)c;
    return nocase && v >= 0 ? tolower(v) : v;
}

/*
 * A [...] class at p[*pi], against the byte c (Redis' rules: ^ right after
 * the [ negates, a-z is a range either way round, \ escapes the next byte
 * (compared exactly, even without case), a class left open takes the rest
 * of the pattern).  Advances *pi past it.
 */
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
            int lo = range_char(p[i], nocase), hi = range_char(p[i + 2], nocase);
            int x = range_char((char)c, nocase);
            if (lo > hi) {
                int tmp = lo;
                lo = hi;
                hi = tmp;
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
 * Glob matching with Redis' rules (its stringmatchlen): '*' any run of
 * bytes, '?' one byte, '[...]' a class (above), '\' makes the next byte
 * literal (a '\' that ends the pattern is itself).  Only the empty pattern
 * matches the empty string (KEYS answers "*" without matching, as Redis).
 *
 * Iterative, without recursion: on a mismatch it goes back to the last '*'
 * only, and lets that one swallow one more byte.  This is exact, because
 * every other element matches exactly one byte: the parts between stars
 * are placed as early as they fit, and whatever an earlier '*' could take
 * more, the last one can take as well.  (Redis recurses at each '*',
 * exponential in the stars before its CVE-2022-36021 fix.)  One match
 * costs O(plen * slen) steps at most, and each step (one element tried
 * against one byte; a class costs its length) is taken from *budget.
 * Returns 1 (match), 0, or -1 once the budget ran out (*budget is then 0).
 */
static int glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase,
                      uint64_t *budget)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, star_s = 0;
    uint64_t left = *budget;
    int rc;

    if (slen == 0)
        return plen == 0;
    while (si < slen) {
        if (left == 0)
            goto spent;
        left--;
        if (pi < plen) {
            size_t at = pi;
            switch (p[pi]) {
            case '*':
                if (pi + 1 == plen) { /* a final '*' takes the rest */
                    rc = 1;
                    goto out;
                }
                star = ++pi;
                star_s = si;
                continue;
            case '?':
                pi++;
                si++;
                continue;
            case '[': {
                int m = class_match(p, plen, &at, (unsigned char)s[si], nocase);
                if (at - pi > left)
                    goto spent;
                left -= at - pi;
                if (m) {
                    pi = at;
                    si++;
                    continue;
                }
                break;
            }
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
        if (star == SIZE_MAX) {
            rc = 0;
            goto out;
        }
        pi = star; /* let the last '*' swallow one more byte */
        si = ++star_s;
    }
    while (pi < plen && p[pi] == '*') {
        if (left == 0)
            goto spent;
        left--;
        pi++;
    }
    rc = pi == plen;
out:
    *budget = left;
    return rc;
spent:
    *budget = 0;
    return -1;
}

/*
 * The work one KEYS may spend matching: GLOB_BUDGET steps, plus
 * GLOB_PER_BYTE for each key it looks at and for each byte of it.
 * A pattern that scans a key costs a step or two per byte, so KEYS with an
 * ordinary pattern is never cut short, however large the keyspace; one
 * that makes the matching quadratic is stopped after some 20 ms of work
 * (about 1.2 ns a step).
 * CONFIG GET has GLOB_BUDGET alone (its names are short).
 */
#define GLOB_BUDGET (1u << 24)
#define GLOB_PER_BYTE 16

static void reply_too_expensive(client *cl, uint64_t spent)
{
    reply_error(cl, "ERR pattern too expensive: matching stopped after %llu steps",
                (unsigned long long)spent);
}

/* ============================================================== lookups */

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

/* ========================================================= argument utils */

/* An argument as C would print it with %s: up to its first NUL. */
static inline int cstr_len(const arg *a, size_t max)
{
    size_t n = strnlen(a->p, a->len < max ? a->len : max);
    return (int)n;
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
    for (i = 1; i < ac && !cl->gone; i++) { /* gone: past --max-output */
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

/* KEYS pattern: every live key matching, in table order.  O(keys), with
 * the matching work bounded (GLOB_BUDGET): past it, an error reply and
 * no keys. */
static void cmd_keys(client *cl, arg *av, int ac)
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
                if (expired(s, e))
                    continue;
                if (!all) {
                    uint64_t more = GLOB_PER_BYTE * ((uint64_t)e->klen + 1);
                    int m;
                    left += more;
                    granted += more;
                    m = glob_match(av[1].p, av[1].len, e->data, e->klen, 0, &left);
                    if (m < 0) {
                        free(hits);
                        reply_too_expensive(cl, granted);
                        return;
                    }
                    if (!m)
                        continue;
                }
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
    for (j = 0; j < n && !cl->gone; j++)
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

/* INFO [section ...]: Redis' layout; "reactor" holds sb_loop_get_stats(). */
static void cmd_info(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    char buf[4096];
    text t = {buf, 0, sizeof(buf)};
    sb_loop_stats st;
    uint64_t up = (sb_loop_now(s->loop) - s->started) / 1000;

    sb_loop_get_stats(s->loop, &st);
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
                 "proto_max_bulk_len:%zu\r\nclient_query_buffer_limit:%zu\r\n"
                 "client_output_buffer_limit:%zu\r\n",
                 s->db.mem, s->max_memory, s->max_bulk, s->max_query, s->max_output);
    if (section(&t, av, ac, "stats", "Stats"))
        text_add(&t,
                 "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
                 "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n"
                 "rejected_connections:%llu\r\nexpired_keys:%llu\r\nkeyspace_hits:%llu\r\n"
                 "keyspace_misses:%llu\r\nclient_query_buffer_limit_disconnections:%llu\r\n"
                 "client_output_buffer_limit_disconnections:%llu\r\n",
                 (unsigned long long)st.accepted, (unsigned long long)s->commands,
                 (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
                 (unsigned long long)(s->rejected + st.rejected),
                 (unsigned long long)s->expired, (unsigned long long)s->hits,
                 (unsigned long long)s->misses, (unsigned long long)s->query_closed,
                 (unsigned long long)s->output_closed);
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
    char vals[6][48], buf[1024];
    const char *names[] = {"save", "appendonly", "databases", "maxmemory",
                           "maxclients", "timeout", "proto-max-bulk-len",
                           "client-query-buffer-limit", "client-output-buffer-limit"};
    const char *v[9];
    text t = {buf, 0, sizeof(buf)};
    int i, j, n = 0;
    size_t nnames = sizeof(names) / sizeof(names[0]);
    uint64_t left = GLOB_BUDGET; /* no allowance per name: the names are short */

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
    snprintf(vals[5], sizeof(vals[5]), "normal %zu 0 0", s->max_output); /* hard limit only */
    v[0] = "";
    v[1] = "no";
    v[2] = "1";
    for (i = 0; i < 6; i++)
        v[3 + i] = vals[i];
    for (i = 0; i < (int)nnames; i++)
        for (j = 2; j < ac; j++) {
            int m = glob_match(av[j].p, av[j].len, names[i], strlen(names[i]), 1, &left);
            if (m < 0) {
                reply_too_expensive(cl, GLOB_BUDGET);
                return;
            }
            if (m) {
                text_add(&t, "$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(names[i]), names[i],
                         strlen(v[i]), v[i]);
                n += 2;
                break;
            }
        }
    reply_array(cl, n);
    out(cl, t.p, t.len);
}

/* Look the command up, check arity and memory, run it. */
void execute(client *cl, arg *av, int ac)
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
