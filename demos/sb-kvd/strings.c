/*
 * sb-kvd's string commands: GET and SET with their variants, counters,
 * ranges, bits and LCS.  Every value is a string; integers and floats are
 * parsed when INCR & co. need them.  A value never grows past --max-bulk
 * (Redis' proto-max-bulk-len), whatever the command.
 */
#include "cmd.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

/* ============================================================== helpers */

/* Whether a value of total bytes may exist (Redis' checkStringLength):
 * 0, or the error replied. */
static int check_length(client *cl, unsigned long long total)
{
    if (total > cl->srv->max_bulk) {
        reply_error(cl, ERR_TOO_BIG);
        return -1;
    }
    return 0;
}

/*
 * Give *pp's value `need` bytes (need <= --max-bulk), the new ones zeroed
 * (SETRANGE, SETBIT) unless it is already that long.  Grows geometrically,
 * as appending usually goes on.  Returns the entry, or NULL (out of memory:
 * unchanged).
 */
static entry *grow_value(kvd *s, entry **pp, size_t need, int zero)
{
    entry *e = *pp;

    if (need > e->vcap) {
        size_t cap = need < (1u << 20) ? need * 2 : need + (1u << 20);
        if (cap > s->max_bulk)
            cap = s->max_bulk;
        if (cap < need)
            cap = need;
        if (!(e = ent_resize(&s->db, pp, cap)))
            return NULL;
    }
    if (zero && need > e->vlen) {
        memset(ent_val(e) + e->vlen, 0, need - e->vlen);
        e->vlen = (uint32_t)need;
    }
    return e;
}

/* A new, empty value for an absent key (h its hash); its link in *pp. */
static entry **create_empty(kvd *s, const arg *key, uint64_t h)
{
    entry *e = db_store(&s->db, NULL, h, key->p, key->len, "", 0);

    return e ? db_link_to(&s->db, e) : NULL;
}

/* ==================================================================== GET */

void cmd_get(client *cl, arg *av, int ac)
{
    entry *e = lookup_read(cl->srv, &av[1]);

    (void)ac;
    if (e)
        reply_bulk(cl, ent_val(e), e->vlen);
    else
        reply_nil(cl);
}

/* GETDEL key: the value, and the key is gone. */
void cmd_getdel(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    entry **pp = lookup(s, &av[1], NULL);

    (void)ac;
    if (!pp) {
        s->misses++;
        reply_nil(cl);
        return;
    }
    s->hits++;
    reply_bulk(cl, ent_val(*pp), (*pp)->vlen);
    db_unlink(&s->db, pp);
}

/* ==================================================================== SET */

enum {
    OBJ_NX = 1,
    OBJ_XX = 2,
    OBJ_GET = 4,
    OBJ_KEEPTTL = 8,
    OBJ_EX = 16,
    OBJ_PX = 32,
    OBJ_EXAT = 64,
    OBJ_PXAT = 128,
    OBJ_PERSIST = 256
};
#define OBJ_TTL (OBJ_EX | OBJ_PX | OBJ_EXAT | OBJ_PXAT)

/* Which TTL option a word is, or 0. */
static int ttl_option(const arg *a)
{
    return is(a, "ex") ? OBJ_EX : is(a, "px") ? OBJ_PX : is(a, "exat") ? OBJ_EXAT
         : is(a, "pxat") ? OBJ_PXAT : 0;
}

/*
 * SET's options from av[3] (NX XX GET KEEPTTL EX PX EXAT PXAT), or
 * GETEX's from av[2] (EX PX EXAT PXAT PERSIST), with Redis' rules for
 * which combine (its parseExtendedStringArgumentsOrReply: an option may
 * repeat, two TTLs may not).  0, or the syntax error replied.
 */
static int parse_set_options(client *cl, arg *av, int ac, int set, int *flags,
                             const arg **expire)
{
    int j, f = 0, ttl;

    for (j = set ? 3 : 2; j < ac; j++) {
        const arg *o = &av[j];
        if (set && is(o, "nx") && !(f & OBJ_XX)) {
            f |= OBJ_NX;
        } else if (set && is(o, "xx") && !(f & OBJ_NX)) {
            f |= OBJ_XX;
        } else if (set && is(o, "get")) {
            f |= OBJ_GET;
        } else if (set && is(o, "keepttl") && !(f & OBJ_TTL)) {
            f |= OBJ_KEEPTTL;
        } else if (!set && is(o, "persist") && !(f & OBJ_TTL)) {
            f |= OBJ_PERSIST;
        } else if ((ttl = ttl_option(o)) && j + 1 < ac && !(f & (OBJ_KEEPTTL | OBJ_PERSIST)) &&
                   !(f & OBJ_TTL & ~ttl)) {
            f |= ttl;
            *expire = &av[++j];
        } else {
            reply_error(cl, ERR_SYNTAX);
            return -1;
        }
    }
    *flags = f;
    return 0;
}

/*
 * A TTL argument as an absolute time on the server clock (Redis'
 * getExpireMillisecondsOrReply): a positive number, seconds for EX and
 * EXAT; EX and PX are added to now.  Past LLONG_MAX ms, or not positive:
 * "invalid expire time in 'CMD' command".  0, or the error replied.
 */
static int expire_ms(client *cl, const arg *a, int flags, const char *cmd, int64_t *when)
{
    long long v;
    int64_t now;

    if (!arg_ll(cl, a, &v))
        return -1;
    if (v <= 0 || ((flags & (OBJ_EX | OBJ_EXAT)) && v > LLONG_MAX / 1000))
        goto invalid;
    if (flags & (OBJ_EX | OBJ_EXAT))
        v *= 1000;
    if (flags & (OBJ_EX | OBJ_PX)) {
        now = srv_ms(cl->srv);
        if (v > INT64_MAX - now)
            goto invalid;
        v += now;
    }
    *when = v;
    return 0;
invalid:
    reply_error(cl, "ERR invalid expire time in '%s' command", cmd);
    return -1;
}

/*
 * SET and its variants (Redis' setGenericCommand): the TTL checked first,
 * then GET's old value, then NX / XX; ok and abort are the replies for a
 * set made or prevented (NULL: +OK and nil).  A SET without KEEPTTL
 * leaves the key with the new TTL or none.  An absolute time already past
 * sets a key that is expired at once, as in Redis 7.0.
 */
static void set_generic(client *cl, int flags, const arg *key, const arg *val,
                        const arg *expire, const char *cmd, const char *ok, const char *abort)
{
    kvd *s = cl->srv;
    int64_t when = 0;
    uint64_t h;
    entry **pp, *e;

    if (expire && expire_ms(cl, expire, flags, cmd, &when))
        return;
    pp = lookup(s, key, &h);
    if (flags & OBJ_GET) {
        if (pp) {
            s->hits++;
            reply_bulk(cl, ent_val(*pp), (*pp)->vlen);
        } else {
            s->misses++;
            reply_nil(cl);
        }
    }
    if (((flags & OBJ_NX) && pp) || ((flags & OBJ_XX) && !pp)) {
        if (!(flags & OBJ_GET)) {
            if (abort)
                out(cl, abort, strlen(abort));
            else
                reply_nil(cl);
        }
        return;
    }
    e = db_store(&s->db, pp, h, key->p, key->len, val->p, val->len);
    if (!e || (!(flags & OBJ_KEEPTTL) && set_expire(&s->db, e, when))) {
        if (!(flags & OBJ_GET))
            reply_error(cl, ERR_NOMEM);
        return;
    }
    if (!(flags & OBJ_GET)) {
        if (ok)
            out(cl, ok, strlen(ok));
        else
            reply_ok(cl);
    }
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t-ms|KEEPTTL] */
void cmd_set(client *cl, arg *av, int ac)
{
    const arg *expire = NULL;
    int flags;

    if (!parse_set_options(cl, av, ac, 1, &flags, &expire))
        set_generic(cl, flags, &av[1], &av[2], expire, "set", NULL, NULL);
}

void cmd_setex(client *cl, arg *av, int ac)
{
    (void)ac;
    set_generic(cl, OBJ_EX, &av[1], &av[3], &av[2], "setex", NULL, NULL);
}

void cmd_psetex(client *cl, arg *av, int ac)
{
    (void)ac;
    set_generic(cl, OBJ_PX, &av[1], &av[3], &av[2], "psetex", NULL, NULL);
}

void cmd_setnx(client *cl, arg *av, int ac)
{
    (void)ac;
    set_generic(cl, OBJ_NX, &av[1], &av[2], NULL, "setnx", ":1\r\n", ":0\r\n");
}

/* GETSET key value: the old value (or nil); the new one has no TTL. */
void cmd_getset(client *cl, arg *av, int ac)
{
    (void)ac;
    set_generic(cl, OBJ_GET, &av[1], &av[2], NULL, "getset", NULL, NULL);
}

/* GETEX key [EX s|PX ms|EXAT t|PXAT t-ms|PERSIST]: the value, its TTL
 * changed.  A missing key is nil before the time is even parsed (Redis). */
void cmd_getex(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const arg *expire = NULL;
    int flags;
    int64_t when = 0;
    entry *e;

    if (parse_set_options(cl, av, ac, 0, &flags, &expire))
        return;
    if (!(e = lookup_read(s, &av[1]))) {
        reply_nil(cl);
        return;
    }
    if (expire && expire_ms(cl, expire, flags, "getex", &when))
        return;
    reply_bulk(cl, ent_val(e), e->vlen);
    if ((flags & (OBJ_EXAT | OBJ_PXAT)) && when <= srv_ms(s)) {
        db_delete_entry(&s->db, e);
        s->expired++;
    } else if (expire) {
        set_expire(&s->db, e, when); /* out of memory: the TTL stays as it was */
    } else if (flags & OBJ_PERSIST) {
        set_expire(&s->db, e, 0);
    }
}

/* ================================================================ numbers */

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

void cmd_incr(client *cl, arg *av, int ac)
{
    (void)ac;
    incr_by(cl, &av[1], 1);
}

void cmd_decr(client *cl, arg *av, int ac)
{
    (void)ac;
    incr_by(cl, &av[1], -1);
}

void cmd_incrby(client *cl, arg *av, int ac)
{
    long long by;

    (void)ac;
    if (arg_ll(cl, &av[2], &by))
        incr_by(cl, &av[1], by);
}

void cmd_decrby(client *cl, arg *av, int ac)
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

#define MAX_LONG_DOUBLE_CHARS (5 * 1024) /* Redis' limit on a float's text */

/* Redis' string2ld: the whole string a long double (no leading blank, not
 * NaN, no overflow).  1 with *v set, or 0. */
static int str2ld(const char *p, size_t n, long double *v)
{
    char buf[MAX_LONG_DOUBLE_CHARS], *end;
    long double x;

    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    errno = 0;
    x = strtold(buf, &end);
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r') || *end != '\0' ||
        (size_t)(end - buf) != n || isnan(x) ||
        (errno == ERANGE && (x == HUGE_VALL || x == -HUGE_VALL || x == 0)) || errno == EINVAL)
        return 0;
    *v = x;
    return 1;
}

/* INCRBYFLOAT key increment: long double arithmetic, the result written
 * as Redis writes it (%.17Lf, trailing zeros cut).  The TTL is kept. */
void cmd_incrbyfloat(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double v = 0, by;
    uint64_t h;
    entry **pp = lookup(s, &av[1], &h);
    int n;

    (void)ac;
    if ((pp && !str2ld(ent_val(*pp), (*pp)->vlen, &v)) || !str2ld(av[2].p, av[2].len, &by)) {
        reply_error(cl, "ERR value is not a valid float");
        return;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        reply_error(cl, "ERR increment would produce NaN or Infinity");
        return;
    }
    n = snprintf(buf, sizeof(buf), "%.17Lf", v);
    if (n <= 0 || (size_t)n >= sizeof(buf)) {
        reply_error(cl, "ERR value is not a valid float");
        return;
    }
    if (strchr(buf, '.')) {
        while (buf[n - 1] == '0')
            n--;
        if (buf[n - 1] == '.')
            n--;
    }
    if (n == 2 && buf[0] == '-' && buf[1] == '0')
        buf[0] = '0', n = 1;
    if (check_length(cl, (unsigned long long)n))
        return;
    if (!db_store(&s->db, pp, h, av[1].p, av[1].len, buf, (size_t)n))
        reply_error(cl, ERR_NOMEM);
    else
        reply_bulk(cl, buf, (size_t)n);
}

/* ================================================================ strings */

void cmd_append(client *cl, arg *av, int ac)
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
    need = (size_t)(*pp)->vlen + av[2].len;
    if (check_length(cl, need))
        return;
    if (!(e = grow_value(s, pp, need, 0))) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    memcpy(ent_val(e) + e->vlen, av[2].p, av[2].len);
    e->vlen = (uint32_t)need;
    reply_int(cl, (long long)need);
}

void cmd_strlen(client *cl, arg *av, int ac)
{
    entry *e = lookup_read(cl->srv, &av[1]);

    (void)ac;
    reply_int(cl, e ? (long long)e->vlen : 0);
}

void cmd_mget(client *cl, arg *av, int ac)
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

/* MSET and MSETNX (which sets nothing, 0, if any key exists): each key set
 * loses its TTL. */
static void mset_generic(client *cl, arg *av, int ac, int nx)
{
    kvd *s = cl->srv;
    int i;

    if (ac % 2 == 0) {
        reply_arity(cl, nx ? "msetnx" : "mset");
        return;
    }
    if (nx)
        for (i = 1; i < ac; i += 2)
            if (lookup(s, &av[i], NULL)) {
                reply_int(cl, 0);
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
    if (nx)
        reply_int(cl, 1);
    else
        reply_ok(cl);
}

void cmd_mset(client *cl, arg *av, int ac)
{
    mset_generic(cl, av, ac, 0);
}

void cmd_msetnx(client *cl, arg *av, int ac)
{
    mset_generic(cl, av, ac, 1);
}

/* GETRANGE key start end (and SUBSTR): Redis' index rules, negative from
 * the end, clamped; "" when nothing is left. */
void cmd_getrange(client *cl, arg *av, int ac)
{
    long long start, end, len;
    entry *e;

    (void)ac;
    if (!arg_ll(cl, &av[2], &start) || !arg_ll(cl, &av[3], &end))
        return;
    if (!(e = lookup_read(cl->srv, &av[1]))) {
        reply_bulk(cl, "", 0);
        return;
    }
    len = e->vlen;
    if (start < 0 && end < 0 && start > end) {
        reply_bulk(cl, "", 0);
        return;
    }
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (start > end || len == 0)
        reply_bulk(cl, "", 0);
    else
        reply_bulk(cl, ent_val(e) + start, (size_t)(end - start + 1));
}

/* SETRANGE key offset value: the value written at offset, the string
 * zero-padded to reach it; offset + length at most --max-bulk. */
void cmd_setrange(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    long long off;
    uint64_t h;
    entry **pp, *e;
    size_t need;

    (void)ac;
    if (!arg_ll(cl, &av[2], &off))
        return;
    if (off < 0) {
        reply_error(cl, "ERR offset is out of range");
        return;
    }
    pp = lookup(s, &av[1], &h);
    if (av[3].len == 0) {
        reply_int(cl, pp ? (long long)(*pp)->vlen : 0);
        return;
    }
    if (check_length(cl, (unsigned long long)off + av[3].len))
        return;
    need = (size_t)off + av[3].len;
    if (!pp && !(pp = create_empty(s, &av[1], h))) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    if (!(e = grow_value(s, pp, need > (*pp)->vlen ? need : (*pp)->vlen, 1))) {
        if (!(*pp)->vlen) /* a key made for this: not left empty */
            db_unlink(&s->db, pp);
        reply_error(cl, ERR_NOMEM);
        return;
    }
    memcpy(ent_val(e) + off, av[3].p, av[3].len);
    reply_int(cl, (long long)e->vlen);
}

/* ================================================================= bits */

/* A bit offset (Redis' getBitOffsetFromArgument): 0 .. 8 * --max-bulk - 1. */
static int bit_offset(client *cl, const arg *a, uint64_t *off)
{
    long long v;

    if (!str2ll(a->p, a->len, &v) || v < 0 || (unsigned long long)(v >> 3) >= cl->srv->max_bulk) {
        reply_error(cl, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    *off = (uint64_t)v;
    return 0;
}

/* SETBIT key offset 0|1: the bit's old value; the string grows (zeroed)
 * to reach it. */
void cmd_setbit(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    uint64_t off, h;
    long long on;
    entry **pp, *e;
    size_t byte;
    int bit, old;
    unsigned char *p;

    (void)ac;
    if (bit_offset(cl, &av[2], &off))
        return;
    if (!str2ll(av[3].p, av[3].len, &on) || (on & ~1LL)) {
        reply_error(cl, "ERR bit is not an integer or out of range");
        return;
    }
    byte = (size_t)(off >> 3);
    pp = lookup(s, &av[1], &h);
    if (!pp && !(pp = create_empty(s, &av[1], h))) {
        reply_error(cl, ERR_NOMEM);
        return;
    }
    if (!(e = grow_value(s, pp, byte + 1 > (*pp)->vlen ? byte + 1 : (*pp)->vlen, 1))) {
        if (!(*pp)->vlen)
            db_unlink(&s->db, pp);
        reply_error(cl, ERR_NOMEM);
        return;
    }
    p = (unsigned char *)ent_val(e) + byte;
    bit = 7 - (int)(off & 7);
    old = (*p >> bit) & 1;
    *p = (unsigned char)((*p & ~(1u << bit)) | ((unsigned)on << bit));
    reply_int(cl, old);
}

void cmd_getbit(client *cl, arg *av, int ac)
{
    uint64_t off;
    entry *e;
    int v = 0;

    (void)ac;
    if (bit_offset(cl, &av[2], &off))
        return;
    e = lookup_read(cl->srv, &av[1]);
    if (e && (off >> 3) < e->vlen)
        v = ((unsigned char)ent_val(e)[off >> 3] >> (7 - (off & 7))) & 1;
    reply_int(cl, v);
}

static long long popcount(const unsigned char *p, size_t n)
{
    long long c = 0;
    size_t i;
    uint64_t w;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        w = w - ((w >> 1) & 0x5555555555555555ull);
        w = (w & 0x3333333333333333ull) + ((w >> 2) & 0x3333333333333333ull);
        w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0full;
        c += (long long)((w * 0x0101010101010101ull) >> 56);
    }
    for (; i < n; i++) {
        unsigned v = p[i];
        while (v) {
            c += v & 1;
            v >>= 1;
        }
    }
    return c;
}

/* BITCOUNT key [start end [BYTE|BIT]]: the bits set, in a range of bytes
 * or of bits (Redis 7's rules: negative from the end, clamped).  A missing
 * key is 0 whatever the arguments, as in Redis. */
void cmd_bitcount(client *cl, arg *av, int ac)
{
    entry *e = lookup_read(cl->srv, &av[1]);
    long long start, end, total;
    unsigned char first_mask = 0, last_mask = 0;
    const unsigned char *p;
    int bits = 0;
    long long n;

    if (!e) {
        reply_int(cl, 0);
        return;
    }
    p = (const unsigned char *)ent_val(e);
    total = e->vlen;
    if (ac == 2) {
        reply_int(cl, popcount(p, e->vlen));
        return;
    }
    if (ac != 4 && ac != 5) {
        reply_error(cl, ERR_SYNTAX);
        return;
    }
    if (!arg_ll(cl, &av[2], &start) || !arg_ll(cl, &av[3], &end))
        return;
    if (start < 0 && end < 0 && start > end) {
        reply_int(cl, 0);
        return;
    }
    if (ac == 5) {
        if (is(&av[4], "bit")) {
            bits = 1;
        } else if (!is(&av[4], "byte")) {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
    }
    if (bits)
        total <<= 3;
    if (start < 0)
        start += total;
    if (end < 0)
        end += total;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= total)
        end = total - 1;
    if (bits && start <= end) {
        first_mask = (unsigned char)(~((1u << (8 - (start & 7))) - 1) & 0xff);
        last_mask = (unsigned char)((1u << (7 - (end & 7))) - 1);
        start >>= 3;
        end >>= 3;
    }
    if (start > end) {
        reply_int(cl, 0);
        return;
    }
    n = popcount(p + start, (size_t)(end - start + 1));
    n -= popcount((const unsigned char[]){(unsigned char)(p[start] & first_mask),
                                          (unsigned char)(p[end] & last_mask)},
                  2);
    reply_int(cl, n);
}

/* ================================================================== LCS */

/*
 * LCS builds Redis' table of (len1 + 1) x (len2 + 1) lengths, 4 bytes a
 * cell, and walks it back as Redis does (so IDX gives the same matches).
 * That is O(len1 * len2) in time and memory: at most LCS_MAX_CELLS cells
 * (32 MiB, some 20 ms of work), past which the answer is an error.
 */
#define LCS_MAX_CELLS (1u << 23)

typedef struct lcs_range {
    uint32_t a0, a1, b0, b1;
} lcs_range;

/* LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN] */
void cmd_lcs(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    entry *ea = lookup_read(s, &av[1]), *eb = lookup_read(s, &av[2]);
    const char *a = ea ? ent_val(ea) : "", *b = eb ? ent_val(eb) : "";
    uint32_t alen = ea ? ea->vlen : 0, blen = eb ? eb->vlen : 0, i, j, idx;
    long long minlen = 0;
    int getlen = 0, getidx = 0, withlen = 0, k;
    uint32_t *t;
    char *str = NULL;
    lcs_range *r = NULL, cur;
    size_t nr = 0, x;
    text out_ = {NULL, 0, 0, 0};

    for (k = 3; k < ac; k++) {
        if (is(&av[k], "idx")) {
            getidx = 1;
        } else if (is(&av[k], "len")) {
            getlen = 1;
        } else if (is(&av[k], "withmatchlen")) {
            withlen = 1;
        } else if (is(&av[k], "minmatchlen") && k + 1 < ac) {
            if (!arg_ll(cl, &av[++k], &minlen))
                return;
            if (minlen < 0)
                minlen = 0;
        } else {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
    }
    if (getidx && getlen) {
        reply_error(cl, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    if ((uint64_t)(alen + 1) * (blen + 1) > LCS_MAX_CELLS) {
        reply_error(cl, "ERR String too long for LCS: (%u+1)*(%u+1) cells, at most %u", alen,
                    blen, LCS_MAX_CELLS);
        return;
    }
#define LCS(I, J) t[(size_t)(J) + (size_t)(I) * (blen + 1)]
    t = malloc(sizeof(*t) * (size_t)(alen + 1) * (blen + 1));
    if (!t) {
        reply_error(cl, "ERR Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
    for (i = 0; i <= alen; i++)
        for (j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS(i, j) = 0;
            else if (a[i - 1] == b[j - 1])
                LCS(i, j) = LCS(i - 1, j - 1) + 1;
            else
                LCS(i, j) = LCS(i - 1, j) > LCS(i, j - 1) ? LCS(i - 1, j) : LCS(i, j - 1);
        }
    idx = LCS(alen, blen);
    if (getlen) {
        free(t);
        reply_int(cl, idx);
        return;
    }
    str = malloc(idx + 1);
    if (getidx)
        r = malloc(sizeof(*r) * (idx + 1));
    if (!str || (getidx && !r)) {
        free(t);
        free(str);
        free(r);
        reply_error(cl, ERR_NOMEM);
        return;
    }
    /* Redis' walk back: a match extends the current range backwards, a
     * step without one closes it (and so does reaching a string's start). */
    cur.a0 = alen;
    cur.a1 = cur.b0 = cur.b1 = 0;
    i = alen;
    j = blen;
    while (i > 0 && j > 0) {
        int emit = 0;
        if (a[i - 1] == b[j - 1]) {
            str[idx - 1] = a[i - 1];
            if (cur.a0 == alen) {
                cur.a0 = cur.a1 = i - 1;
                cur.b0 = cur.b1 = j - 1;
            } else if (cur.a0 == i && cur.b0 == j) {
                cur.a0--;
                cur.b0--;
            } else {
                emit = 1;
            }
            if (cur.a0 == 0 || cur.b0 == 0)
                emit = 1;
            idx--;
            i--;
            j--;
        } else {
            if (LCS(i - 1, j) > LCS(i, j - 1))
                i--;
            else
                j--;
            if (cur.a0 != alen)
                emit = 1;
        }
        if (emit) {
            if (getidx && (minlen == 0 || cur.a1 - cur.a0 + 1 >= minlen))
                r[nr++] = cur;
            cur.a0 = alen;
        }
    }
    if (!getidx) {
        reply_bulk(cl, str, LCS(alen, blen));
    } else {
        text_add(&out_, "*4\r\n$7\r\nmatches\r\n*%zu\r\n", nr);
        for (x = 0; x < nr; x++) {
            text_add(&out_, "*%d\r\n*2\r\n:%u\r\n:%u\r\n*2\r\n:%u\r\n:%u\r\n", 2 + withlen,
                     r[x].a0, r[x].a1, r[x].b0, r[x].b1);
            if (withlen)
                text_add(&out_, ":%u\r\n", r[x].a1 - r[x].a0 + 1);
        }
        text_add(&out_, "$3\r\nlen\r\n:%u\r\n", LCS(alen, blen));
        if (out_.nomem)
            reply_error(cl, ERR_NOMEM);
        else
            out(cl, out_.p, out_.len);
        text_free(&out_);
    }
#undef LCS
    free(t);
    free(str);
    free(r);
}
