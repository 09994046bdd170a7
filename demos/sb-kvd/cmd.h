/*
 * What sb-kvd's command modules share: the command table's entry, the key
 * lookups with lazy expiry, argument parsing, glob matching and a growing
 * text buffer.  commands.c holds the table, the dispatcher and COMMAND;
 * strings.c the string commands; keys.c the keyspace commands (expiry,
 * SCAN, RENAME...); server.c the connection and server commands (AUTH,
 * HELLO, CLIENT, INFO, CONFIG...).
 */
#ifndef SB_KVD_CMD_H
#define SB_KVD_CMD_H

#include "kvd.h"
#include "resp.h"

#include <stddef.h>
#include <stdint.h>

typedef void cmd_fn(client *cl, arg *av, int ac);

/* Command flags, in the order COMMAND INFO names them (Redis' order). */
enum {
    CMD_WRITE = 1 << 0,
    CMD_READONLY = 1 << 1,
    CMD_DENYOOM = 1 << 2,
    CMD_ADMIN = 1 << 3,
    CMD_NOSCRIPT = 1 << 4,
    CMD_LOADING = 1 << 5,
    CMD_STALE = 1 << 6,
    CMD_FAST = 1 << 7,
    CMD_NOAUTH = 1 << 8,
    CMD_ALLOW_BUSY = 1 << 9,
    CMD_NFLAGS = 10
};

/* ACL categories, in Redis' order (those sb-kvd's commands carry). */
enum {
    ACL_KEYSPACE = 1 << 0,
    ACL_READ = 1 << 1,
    ACL_WRITE = 1 << 2,
    ACL_STRING = 1 << 3,
    ACL_BITMAP = 1 << 4,
    ACL_ADMIN = 1 << 5,
    ACL_FAST = 1 << 6,
    ACL_SLOW = 1 << 7,
    ACL_DANGEROUS = 1 << 8,
    ACL_CONNECTION = 1 << 9,
    ACL_NCATS = 10
};

typedef struct command command;
struct command {
    const char *name;      /* lower case; a subcommand's is "container|sub" */
    cmd_fn *fn;
    int arity;             /* N: exactly N words; -N: at least N */
    unsigned flags;        /* CMD_* */
    unsigned acl;          /* ACL_* */
    int first, last, step; /* key positions (COMMAND INFO, COMMAND GETKEYS) */
    command *sub;          /* a container's subcommands (CLIENT, CONFIG, COMMAND) */
    size_t nsub;
    /* INFO commandstats */
    uint64_t calls, usec, rejected, failed;
};

/* commands.c: the tables, for COMMAND and INFO commandstats. */
extern command commands[];
extern const size_t ncommands;
const command *find_command(const char *name, size_t len);
const command *find_subcommand(const command *c, const arg *a);
extern const char *const acl_names[ACL_NCATS];
void reset_command_stats(void);

/* ------------------------------------------------------------ lookups */

static inline int expired(const kvd *s, const entry *e)
{
    return e->expire_at && e->expire_at <= srv_ms(s);
}

/* Find a live key: an expired one is deleted on the way (lazy expiry).
 * *hp receives the key's hash, for a db_store() that follows.  The link
 * returned is valid until the next lookup (which may move a bucket of a
 * rehash); the entry itself until it is deleted or resized. */
entry **lookup(kvd *s, const arg *k, uint64_t *hp);
/* lookup() for reading commands: counts keyspace hits and misses. */
entry *lookup_read(kvd *s, const arg *k);

/* --------------------------------------------------------- arguments */

/* An argument as C would print it with %s: up to its first NUL. */
int cstr_len(const arg *a, size_t max);
/* A long long argument, or ERR_NOT_INT replied (0). */
int arg_ll(client *cl, const arg *a, long long *v);
/* An int argument (Redis' getIntFromObjectOrReply), or the error replied:
 * ERR_NOT_INT, or "value is out of range" past an int (0). */
int arg_int(client *cl, const arg *a, long long *v);
/* Case-insensitive comparison of an argument with a lower-case word. */
int is(const arg *a, const char *word);

/* --------------------------------------------------------------- glob */

/* Redis' glob rules with a work budget (see commands.c): 1, 0, or -1 once
 * the budget ran out. */
int glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase,
               uint64_t *budget);
#define GLOB_BUDGET (1u << 24)
#define GLOB_PER_BYTE 16
void reply_too_expensive(client *cl, uint64_t spent);

/* --------------------------------------------------------------- text */

/* A growing buffer for INFO, CLIENT LIST and the like (text_add never
 * fails: out of memory, the text is cut, and text_nomem says so). */
typedef struct text {
    char *p;
    size_t len, cap;
    int nomem;
} text;

void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void text_free(text *t);

/* ---------------------------------------------------------- commands */

/* strings.c */
cmd_fn cmd_get, cmd_set, cmd_setex, cmd_psetex, cmd_setnx, cmd_getset, cmd_getdel, cmd_getex,
    cmd_incr, cmd_decr, cmd_incrby, cmd_decrby, cmd_incrbyfloat, cmd_append, cmd_strlen,
    cmd_mget, cmd_mset, cmd_msetnx, cmd_getrange, cmd_setrange, cmd_setbit, cmd_getbit,
    cmd_bitcount, cmd_lcs;
/* keys.c */
cmd_fn cmd_del, cmd_exists, cmd_touch, cmd_type, cmd_expire, cmd_pexpire, cmd_expireat,
    cmd_pexpireat, cmd_ttl, cmd_pttl, cmd_expiretime, cmd_pexpiretime, cmd_persist, cmd_keys,
    cmd_scan, cmd_randomkey, cmd_rename, cmd_renamenx, cmd_copy, cmd_dbsize, cmd_flushall;
/* server.c */
cmd_fn cmd_ping, cmd_echo, cmd_select, cmd_quit, cmd_auth, cmd_hello, cmd_time, cmd_info,
    cmd_client_getname, cmd_client_setname, cmd_client_id, cmd_client_info, cmd_client_list,
    cmd_client_kill, cmd_client_help, cmd_config_get, cmd_config_set, cmd_config_resetstat,
    cmd_config_rewrite, cmd_config_help;
/* commands.c */
cmd_fn cmd_command, cmd_command_count, cmd_command_list, cmd_command_info,
    cmd_command_getkeys, cmd_command_help;

/* commands.c: a password against --requirepass, in constant time.  1 if
 * it is the one. */
int check_password(const kvd *s, const arg *a);

/* server.c: "+line" status replies, as Redis' HELP subcommands give. */
void reply_help(client *cl, const char *cmd, const char *const *lines);

#endif
