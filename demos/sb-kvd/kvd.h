/*
 * sb-kvd's shared types: an argument of a command, one client (its parser
 * state and arguments) and the server.  Every module of the demo uses them.
 */
#ifndef SB_KVD_KVD_H
#define SB_KVD_KVD_H

#include "daemon.h"
#include "keyspace.h"
#include "switchboard.h"

#include <stddef.h>
#include <stdint.h>

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
    int gone;     /* a write failed (closing, or reset): more replies are moot */
    int authed;   /* AUTH passed (or no --requirepass) */
    int killed;   /* CLIENT KILL: closing, out of the client list */
    int failed;   /* the running command replied with an error */
    uint64_t id;  /* CLIENT ID: 1, 2, ... in the order of connection */
    int64_t created, last_io; /* loop clock (ms): connected, last command */
    const char *last_cmd;     /* full name of the last command ("client|list") */
    struct client *prev, *next; /* every client: kvd.clients */
} client;

/* INFO errorstats: replies counted by their first word ("ERR", "NOAUTH"). */
#define ERROR_CODES 32
typedef struct error_stat {
    char code[24];
    uint64_t count;
} error_stat;

struct kvd {
    sbd sbd;        /* the daemon scaffolding: loop, listeners, signals */
    sb_loop *loop;  /* d.loop */
    sb_timer *cron;
    db db;
    sb_framer line;    /* "*N", "$len" and inline lines, made once */
    size_t max_bulk, max_query, max_output; /* --max-output: 0 = no limit */
    unsigned long long max_memory;
    unsigned max_conns, idle_s;
    unsigned long nclients;
    uint64_t commands, expired, hits, misses, rejected;
    uint64_t output_closed, query_closed; /* clients closed at --max-output, --max-query */
    int shrunk;         /* a client left or freed a big buffer: see give_back() */
    int64_t trim_after; /* loop clock (ms): no malloc_trim before */
    uint64_t started;  /* loop clock at start-up */
    uint64_t rng;
    int port;
    int64_t clock_off; /* the wall clock at start-up less the loop clock: see srv_ms() */
    char *requirepass; /* --requirepass, or NULL */
    size_t passlen;
    client *clients;   /* every connected client not killed, newest first */
    uint64_t next_id;  /* the next client's CLIENT ID */
    uint64_t errors;   /* INFO stats total_error_replies */
    error_stat errstat[ERROR_CODES];
    size_t nerrstat;
    char run_id[41];   /* INFO server run_id, also master_replid */
};

/* main.c: CLIENT KILL: out of the client list at once, closed once its
 * replies are flushed; input after this is ignored. */
void kvd_kill_client(client *c);

static inline int64_t now_ms(const kvd *s)
{
    return (int64_t)sb_loop_now(s->loop);
}

/*
 * The server clock, in ms since the epoch: the wall clock as read at
 * start-up plus the monotonic time since.  Every TTL is kept on it (an
 * entry's expire_at), so EXPIREAT and EXPIRETIME speak Unix time as Redis
 * does, while a step of the system clock later moves no TTL.
 */
static inline int64_t srv_ms(const kvd *s)
{
    return now_ms(s) + s->clock_off;
}

#endif
