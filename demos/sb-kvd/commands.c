/*
 * sb-kvd's command table, the dispatcher and COMMAND (see commands.h and
 * cmd.h), with what every command module shares: the key lookups with
 * lazy expiry, argument parsing, Redis' glob matching (KEYS, SCAN, CONFIG
 * GET, COMMAND LIST) and a growing text buffer.
 */
#include "cmd.h"
#include "commands.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
int glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase,
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
 * The work one KEYS (or SCAN) may spend matching: GLOB_BUDGET steps, plus
 * GLOB_PER_BYTE for each key it looks at and for each byte of it (cmd.h).
 * A pattern that scans a key costs a step or two per byte, so KEYS with an
 * ordinary pattern is never cut short, however large the keyspace; one
 * that makes the matching quadratic is stopped after some 20 ms of work
 * (about 1.2 ns a step).  CONFIG GET and COMMAND LIST have GLOB_BUDGET
 * alone (their names are short).
 */
void reply_too_expensive(client *cl, uint64_t spent)
{
    reply_error(cl, "ERR pattern too expensive: matching stopped after %llu steps",
                (unsigned long long)spent);
}

/* ============================================================== lookups */

entry **lookup(kvd *s, const arg *k, uint64_t *hp)
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

entry *lookup_read(kvd *s, const arg *k)
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

int cstr_len(const arg *a, size_t max)
{
    size_t n = strnlen(a->p, a->len < max ? a->len : max);
    return (int)n;
}

int arg_ll(client *cl, const arg *a, long long *v)
{
    if (str2ll(a->p, a->len, v))
        return 1;
    reply_error(cl, ERR_NOT_INT);
    return 0;
}

int arg_int(client *cl, const arg *a, long long *v)
{
    if (!arg_ll(cl, a, v))
        return 0;
    if (*v < INT_MIN || *v > INT_MAX) {
        reply_error(cl, "ERR value is out of range, value must between %d and %d", INT_MIN,
                    INT_MAX);
        return 0;
    }
    return 1;
}

int is(const arg *a, const char *word)
{
    return a->len == strlen(word) && strncasecmp(a->p, word, a->len) == 0;
}

/* ================================================================= text */

void text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->p && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        if (t->nomem)
            return;
        {
            size_t cap = t->cap ? t->cap : 1024;
            char *p;
            while (cap - t->len <= (size_t)n)
                cap *= 2;
            if (!(p = realloc(t->p, cap))) {
                t->nomem = 1; /* keep what fits */
                if (t->p && room > 1) {
                    va_start(ap, fmt);
                    vsnprintf(t->p + t->len, room, fmt, ap);
                    va_end(ap);
                    t->len += room - 1;
                }
                return;
            }
            t->p = p;
            t->cap = cap;
        }
    }
}

void text_free(text *t)
{
    free(t->p);
    t->p = NULL;
    t->len = t->cap = 0;
}

/* ================================================================ table */

#define W (CMD_WRITE | CMD_DENYOOM)
#define RF (CMD_READONLY | CMD_FAST)
#define WF (CMD_WRITE | CMD_FAST)
#define LS (CMD_LOADING | CMD_STALE)
#define NLS (CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)
#define ANLS (CMD_ADMIN | NLS)
#define NOAUTH (NLS | CMD_FAST | CMD_NOAUTH | CMD_ALLOW_BUSY)
#define A_RS (ACL_READ | ACL_STRING | ACL_SLOW)
#define A_RF (ACL_READ | ACL_STRING | ACL_FAST)
#define A_WS (ACL_WRITE | ACL_STRING | ACL_SLOW)
#define A_WF (ACL_WRITE | ACL_STRING | ACL_FAST)
#define K_RF (ACL_KEYSPACE | ACL_READ | ACL_FAST)
#define K_RS (ACL_KEYSPACE | ACL_READ | ACL_SLOW)
#define K_WF (ACL_KEYSPACE | ACL_WRITE | ACL_FAST)
#define K_WS (ACL_KEYSPACE | ACL_WRITE | ACL_SLOW)
#define C_SLOW (ACL_SLOW | ACL_CONNECTION)
#define C_ADMIN (ACL_ADMIN | ACL_SLOW | ACL_DANGEROUS | ACL_CONNECTION)
#define ADMIN (ACL_ADMIN | ACL_SLOW | ACL_DANGEROUS)
#define SUB(t) t, sizeof(t) / sizeof(t[0])

/* Subcommands and commands, sorted by name: found by binary search.  The
 * flags, ACL categories and key positions are redis-server 7.0's. */
static command client_subs[] = {
    {"client|getname", cmd_client_getname, 2, NLS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"client|help", cmd_client_help, 2, LS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"client|id", cmd_client_id, 2, NLS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"client|info", cmd_client_info, 2, NLS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"client|kill", cmd_client_kill, -3, ANLS, C_ADMIN, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"client|list", cmd_client_list, -2, ANLS, C_ADMIN, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"client|setname", cmd_client_setname, 3, NLS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
};

static command command_subs[] = {
    {"command|count", cmd_command_count, 2, LS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"command|getkeys", cmd_command_getkeys, -4, LS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"command|help", cmd_command_help, 2, LS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"command|info", cmd_command_info, -2, LS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"command|list", cmd_command_list, -2, LS, C_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
};

static command config_subs[] = {
    {"config|get", cmd_config_get, -3, ANLS, ADMIN, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"config|help", cmd_config_help, 2, LS, ACL_SLOW, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"config|resetstat", cmd_config_resetstat, 2, ANLS, ADMIN, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"config|rewrite", cmd_config_rewrite, 2, ANLS, ADMIN, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"config|set", cmd_config_set, -4, ANLS, ADMIN, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
};

command commands[] = {
    {"append", cmd_append, 3, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"auth", cmd_auth, -2, NOAUTH, ACL_FAST | ACL_CONNECTION, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"bitcount", cmd_bitcount, -2, CMD_READONLY, ACL_READ | ACL_BITMAP | ACL_SLOW, 1, 1, 1,
     NULL, 0, 0, 0, 0, 0},
    {"client", NULL, -2, 0, ACL_SLOW, 0, 0, 0, SUB(client_subs), 0, 0, 0, 0},
    {"command", cmd_command, -1, LS, C_SLOW, 0, 0, 0, SUB(command_subs), 0, 0, 0, 0},
    {"config", NULL, -2, 0, ACL_SLOW, 0, 0, 0, SUB(config_subs), 0, 0, 0, 0},
    {"copy", cmd_copy, -3, W, K_WS, 1, 2, 1, NULL, 0, 0, 0, 0, 0},
    {"dbsize", cmd_dbsize, 1, RF, K_RF, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"decr", cmd_decr, 2, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"decrby", cmd_decrby, 3, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"del", cmd_del, -2, CMD_WRITE, K_WS, 1, -1, 1, NULL, 0, 0, 0, 0, 0},
    {"echo", cmd_echo, 2, LS | CMD_FAST, ACL_FAST | ACL_CONNECTION, 0, 0, 0, NULL, 0, 0, 0, 0,
     0},
    {"exists", cmd_exists, -2, RF, K_RF, 1, -1, 1, NULL, 0, 0, 0, 0, 0},
    {"expire", cmd_expire, -3, WF, K_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"expireat", cmd_expireat, -3, WF, K_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"expiretime", cmd_expiretime, 2, RF, K_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"flushall", cmd_flushall, -1, CMD_WRITE, K_WS | ACL_DANGEROUS, 0, 0, 0, NULL, 0, 0, 0, 0,
     0},
    {"flushdb", cmd_flushall, -1, CMD_WRITE, K_WS | ACL_DANGEROUS, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"get", cmd_get, 2, RF, A_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"getbit", cmd_getbit, 3, RF, ACL_READ | ACL_BITMAP | ACL_FAST, 1, 1, 1, NULL, 0, 0, 0, 0,
     0},
    {"getdel", cmd_getdel, 2, WF, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"getex", cmd_getex, -2, WF, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"getrange", cmd_getrange, 4, CMD_READONLY, A_RS, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"getset", cmd_getset, 3, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"hello", cmd_hello, -1, NOAUTH, ACL_FAST | ACL_CONNECTION, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"incr", cmd_incr, 2, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"incrby", cmd_incrby, 3, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"incrbyfloat", cmd_incrbyfloat, 3, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"info", cmd_info, -1, LS, ACL_SLOW | ACL_DANGEROUS, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"keys", cmd_keys, 2, CMD_READONLY, K_RS | ACL_DANGEROUS, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"lcs", cmd_lcs, -3, CMD_READONLY, A_RS, 1, 2, 1, NULL, 0, 0, 0, 0, 0},
    {"mget", cmd_mget, -2, RF, A_RF, 1, -1, 1, NULL, 0, 0, 0, 0, 0},
    {"mset", cmd_mset, -3, W, A_WS, 1, -1, 2, NULL, 0, 0, 0, 0, 0},
    {"msetnx", cmd_msetnx, -3, W, A_WS, 1, -1, 2, NULL, 0, 0, 0, 0, 0},
    {"persist", cmd_persist, 2, WF, K_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"pexpire", cmd_pexpire, -3, WF, K_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"pexpireat", cmd_pexpireat, -3, WF, K_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"pexpiretime", cmd_pexpiretime, 2, RF, K_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"ping", cmd_ping, -1, CMD_FAST, ACL_FAST | ACL_CONNECTION, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"psetex", cmd_psetex, 4, W, A_WS, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"pttl", cmd_pttl, 2, RF, K_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"quit", cmd_quit, -1, NOAUTH, ACL_FAST | ACL_CONNECTION, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"randomkey", cmd_randomkey, 1, CMD_READONLY, K_RS, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"rename", cmd_rename, 3, CMD_WRITE, K_WS, 1, 2, 1, NULL, 0, 0, 0, 0, 0},
    {"renamenx", cmd_renamenx, 3, WF, K_WF, 1, 2, 1, NULL, 0, 0, 0, 0, 0},
    {"scan", cmd_scan, -2, CMD_READONLY, K_RS, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"select", cmd_select, 2, LS | CMD_FAST, ACL_FAST | ACL_CONNECTION, 0, 0, 0, NULL, 0, 0, 0,
     0, 0},
    {"set", cmd_set, -3, W, A_WS, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"setbit", cmd_setbit, 4, W, ACL_WRITE | ACL_BITMAP | ACL_SLOW, 1, 1, 1, NULL, 0, 0, 0, 0,
     0},
    {"setex", cmd_setex, 4, W, A_WS, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"setnx", cmd_setnx, 3, W | CMD_FAST, A_WF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"setrange", cmd_setrange, 4, W, A_WS, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"strlen", cmd_strlen, 2, RF, A_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"substr", cmd_getrange, 4, CMD_READONLY, A_RS, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"time", cmd_time, 1, LS | CMD_FAST, ACL_FAST, 0, 0, 0, NULL, 0, 0, 0, 0, 0},
    {"touch", cmd_touch, -2, RF, K_RF, 1, -1, 1, NULL, 0, 0, 0, 0, 0},
    {"ttl", cmd_ttl, 2, RF, K_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
    {"type", cmd_type, 2, RF, K_RF, 1, 1, 1, NULL, 0, 0, 0, 0, 0},
};
const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

const char *const acl_names[ACL_NCATS] = {"keyspace", "read",  "write", "string",
                                          "bitmap",   "admin", "fast",  "slow",
                                          "dangerous", "connection"};
static const char *const flag_names[CMD_NFLAGS] = {
    "write", "readonly", "denyoom", "admin", "noscript",
    "loading", "stale", "fast", "no_auth", "allow_busy"};

const command *find_command(const char *name, size_t len)
{
    char low[16];
    size_t i, lo = 0, hi = ncommands;

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

/* A container's subcommand named by a (the part of its name after '|'). */
const command *find_subcommand(const command *c, const arg *a)
{
    size_t i;

    for (i = 0; i < c->nsub; i++)
        if (is(a, strchr(c->sub[i].name, '|') + 1))
            return &c->sub[i];
    return NULL;
}

/* A full name, "get" or "client|list", as COMMAND INFO takes it. */
static const command *find_fullname(const arg *a)
{
    const char *bar = memchr(a->p, '|', a->len);
    const command *c;
    arg sub;

    if (!bar)
        return find_command(a->p, a->len);
    if (!(c = find_command(a->p, (size_t)(bar - a->p))) || !c->nsub)
        return NULL;
    sub.p = bar + 1;
    sub.len = a->len - (size_t)(bar + 1 - a->p);
    return find_subcommand(c, &sub);
}

void reset_command_stats(void)
{
    size_t i, j;

    for (i = 0; i < ncommands; i++) {
        commands[i].calls = commands[i].usec = commands[i].rejected = commands[i].failed = 0;
        for (j = 0; j < commands[i].nsub; j++) {
            command *c = &commands[i].sub[j];
            c->calls = c->usec = c->rejected = c->failed = 0;
        }
    }
}

/* ============================================================== COMMAND */

/* One command's COMMAND INFO entry, Redis 7's ten fields: name, arity,
 * flags, first key, last key, step, ACL categories, tips (none), key specs
 * (none) and subcommands. */
static void add_command_info(text *t, const command *c)
{
    size_t i, n = 0;

    for (i = 0; i < CMD_NFLAGS; i++)
        n += (c->flags >> i) & 1;
    text_add(t, "*10\r\n$%zu\r\n%s\r\n:%d\r\n*%zu\r\n", strlen(c->name), c->name, c->arity, n);
    for (i = 0; i < CMD_NFLAGS; i++)
        if (c->flags & (1u << i))
            text_add(t, "+%s\r\n", flag_names[i]);
    for (i = 0, n = 0; i < ACL_NCATS; i++)
        n += (c->acl >> i) & 1;
    text_add(t, ":%d\r\n:%d\r\n:%d\r\n*%zu\r\n", c->first, c->last, c->step, n);
    for (i = 0; i < ACL_NCATS; i++)
        if (c->acl & (1u << i))
            text_add(t, "+@%s\r\n", acl_names[i]);
    text_add(t, "*0\r\n*0\r\n*%zu\r\n", c->nsub);
    for (i = 0; i < c->nsub; i++)
        add_command_info(t, &c->sub[i]);
}

static void reply_text(client *cl, text *t)
{
    if (t->nomem)
        reply_error(cl, ERR_NOMEM);
    else
        out(cl, t->p, t->len);
    text_free(t);
}

/* COMMAND: every command's entry. */
void cmd_command(client *cl, arg *av, int ac)
{
    text t = {NULL, 0, 0, 0};
    size_t i;

    (void)av;
    (void)ac;
    text_add(&t, "*%zu\r\n", ncommands);
    for (i = 0; i < ncommands; i++)
        add_command_info(&t, &commands[i]);
    reply_text(cl, &t);
}

void cmd_command_count(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_int(cl, (long long)ncommands);
}

/* COMMAND INFO [name...]: every command, or those named (nil if unknown). */
void cmd_command_info(client *cl, arg *av, int ac)
{
    text t = {NULL, 0, 0, 0};
    int j;

    if (ac == 2) {
        cmd_command(cl, av, ac);
        return;
    }
    text_add(&t, "*%d\r\n", ac - 2);
    for (j = 2; j < ac; j++) {
        const command *c = find_fullname(&av[j]);
        if (c)
            add_command_info(&t, c);
        else
            text_add(&t, "*-1\r\n");
    }
    reply_text(cl, &t);
}

/* Whether COMMAND LIST's filter keeps c: 1, 0, or -1 (budget spent). */
static int list_filter(const command *c, int kind, const arg *v, uint64_t *left)
{
    size_t i;

    if (kind == 1) /* MODULE: there are none */
        return 0;
    if (kind == 2) {
        for (i = 0; i < ACL_NCATS; i++)
            if ((c->acl & (1u << i)) && is(v, acl_names[i]))
                return 1;
        return 0;
    }
    if (kind == 3)
        return glob_match(v->p, v->len, c->name, strlen(c->name), 1, left);
    return 1;
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]:
 * the names of the commands and subcommands ("client|list"). */
void cmd_command_list(client *cl, arg *av, int ac)
{
    text t = {NULL, 0, 0, 0};
    uint64_t left = GLOB_BUDGET;
    size_t i, j, n = 0;
    int kind = 0;

    if (ac != 2) {
        if (ac != 5 || !is(&av[2], "filterby")) {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
        if (is(&av[3], "module"))
            kind = 1;
        else if (is(&av[3], "aclcat"))
            kind = 2;
        else if (is(&av[3], "pattern"))
            kind = 3;
        else {
            reply_error(cl, ERR_SYNTAX);
            return;
        }
    }
    for (i = 0; i < ncommands; i++)
        for (j = 0; j <= commands[i].nsub; j++) {
            const command *c = j ? &commands[i].sub[j - 1] : &commands[i];
            int m = list_filter(c, kind, &av[4], &left);
            if (m < 0) {
                text_free(&t);
                reply_too_expensive(cl, GLOB_BUDGET);
                return;
            }
            if (m) {
                text_add(&t, "$%zu\r\n%s\r\n", strlen(c->name), c->name);
                n++;
            }
        }
    reply_array(cl, (long long)n);
    reply_text(cl, &t);
}

/* The command that av[0..ac) names, its subcommand resolved, or NULL. */
static const command *resolve(const arg *av, int ac)
{
    const command *c = find_command(av[0].p, av[0].len);

    if (c && c->nsub && ac >= 2)
        return find_subcommand(c, &av[1]);
    return c;
}

static int arity_ok(const command *c, int ac)
{
    return c->arity > 0 ? ac == c->arity : ac >= -c->arity;
}

/* COMMAND GETKEYS command arg...: the keys that command would touch. */
void cmd_command_getkeys(client *cl, arg *av, int ac)
{
    const command *c = resolve(av + 2, ac - 2);
    int n = ac - 2, last, i, nkeys = 0;

    if (!c) {
        reply_error(cl, "ERR Invalid command specified");
        return;
    }
    if (c->first == 0) {
        reply_error(cl, "ERR The command has no key arguments");
        return;
    }
    if (!arity_ok(c, n)) {
        reply_error(cl, "ERR Invalid number of arguments specified for command");
        return;
    }
    last = c->last >= 0 ? c->last : n + c->last;
    for (i = c->first; i <= last && i < n; i += c->step)
        nkeys++;
    reply_array(cl, nkeys);
    for (i = c->first; i <= last && i < n; i += c->step)
        reply_bulk(cl, av[2 + i].p, av[2 + i].len);
}

void cmd_command_help(client *cl, arg *av, int ac)
{
    static const char *const lines[] = {
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        NULL};

    (void)av;
    (void)ac;
    reply_help(cl, "COMMAND", lines);
}

/* ============================================================ dispatch */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Constant-time comparison of a password with --requirepass. */
int check_password(const kvd *s, const arg *a)
{
    size_t i, n = a->len > s->passlen ? a->len : s->passlen;
    unsigned diff = a->len != s->passlen;

    for (i = 0; i < n; i++) {
        unsigned char x = i < a->len ? (unsigned char)a->p[i] : 0;
        unsigned char y = i < s->passlen ? (unsigned char)s->requirepass[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

/*
 * Look the command up and run it, in redis-server 7.0's order: QUIT at
 * once; an unknown command or subcommand, then a wrong number of
 * arguments, then (with --requirepass) a client not authenticated, then
 * --max-memory: each rejected before the command runs.
 */
void execute(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const command *top = find_command(av[0].p, av[0].len);
    command *c;
    uint64_t t0;

    s->commands++;
    cl->last_io = now_ms(s);
    if (top && top->fn == cmd_quit) {
        cl->last_cmd = top->name;
        cmd_quit(cl, av, ac);
        return;
    }
    if (!top) {
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
    c = (command *)top;
    if (top->nsub && ac >= 2) {
        if (!(c = (command *)find_subcommand(top, &av[1]))) {
            char up[16];
            size_t i;
            for (i = 0; i < av[0].len && i < sizeof(up) - 1; i++)
                up[i] = (char)toupper((unsigned char)av[0].p[i]);
            up[i] = '\0';
            reply_error(cl, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                        cstr_len(&av[1], 128), av[1].p, up);
            return;
        }
    }
    cl->last_cmd = c->name;
    if (!arity_ok(c, ac)) {
        c->rejected++;
        reply_arity(cl, c->name);
        return;
    }
    if (s->requirepass && !cl->authed && !(c->flags & CMD_NOAUTH)) {
        c->rejected++;
        reply_error(cl, "NOAUTH Authentication required.");
        return;
    }
    if ((c->flags & CMD_DENYOOM) && s->max_memory && s->db.mem > s->max_memory) {
        c->rejected++;
        reply_error(cl, "OOM command not allowed when used memory > 'maxmemory'.");
        return;
    }
    cl->failed = 0;
    t0 = mono_us();
    c->fn(cl, av, ac);
    c->usec += mono_us() - t0;
    c->calls++;
    c->failed += (uint64_t)cl->failed;
}
