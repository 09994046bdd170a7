/*
 * sb-kvd's connection and server commands: PING, ECHO, SELECT, QUIT,
 * AUTH (--requirepass) and HELLO, TIME, CLIENT, INFO and CONFIG, with the
 * replies and error texts of redis-server 7.0.
 */
#include "cmd.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define REDIS_VERSION "7.0.0" /* what INFO and HELLO claim to be */

void reply_help(client *cl, const char *cmd, const char *const *lines)
{
    size_t n = 0, i;
    char head[128];

    while (lines[n])
        n++;
    reply_array(cl, (long long)n + 3);
    snprintf(head, sizeof(head), "+%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n",
             cmd);
    out(cl, head, strlen(head));
    for (i = 0; i < n; i++) {
        out(cl, "+", 1);
        out(cl, lines[i], strlen(lines[i]));
        OUT_LIT(cl, "\r\n");
    }
    OUT_LIT(cl, "+HELP\r\n+    Prints this help.\r\n");
}

/* ============================================================ connection */

void cmd_ping(client *cl, arg *av, int ac)
{
    if (ac > 2)
        reply_arity(cl, "ping");
    else if (ac == 2)
        reply_bulk(cl, av[1].p, av[1].len);
    else
        OUT_LIT(cl, "+PONG\r\n");
}

void cmd_echo(client *cl, arg *av, int ac)
{
    (void)ac;
    reply_bulk(cl, av[1].p, av[1].len);
}

void cmd_select(client *cl, arg *av, int ac)
{
    long long id;

    (void)ac;
    if (!arg_int(cl, &av[1], &id))
        return;
    if (id != 0)
        reply_error(cl, "ERR DB index is out of range");
    else
        reply_ok(cl);
}

void cmd_quit(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_ok(cl);
    sb_close(cl->conn); /* flush the +OK, then close; later input is ignored */
}

#define ERR_WRONGPASS "WRONGPASS invalid username-password pair or user is disabled."

/* The user "default" with the password (any password without
 * --requirepass, as Redis' nopass default user).  1, or 0. */
static int authenticate(client *cl, const arg *user, const arg *pass)
{
    kvd *s = cl->srv;

    if (user->len != 7 || memcmp(user->p, "default", 7) != 0 ||
        (s->requirepass && !check_password(s, pass))) {
        reply_error(cl, ERR_WRONGPASS);
        return 0;
    }
    cl->authed = 1;
    return 1;
}

/* AUTH [username] password */
void cmd_auth(client *cl, arg *av, int ac)
{
    static const arg def = {"default", 7, 0};

    if (ac > 3) {
        reply_error(cl, ERR_SYNTAX);
        return;
    }
    if (ac == 2 && !cl->srv->requirepass) {
        reply_error(cl, "ERR AUTH <password> called without any password configured for the "
                        "default user. Are you sure your configuration is correct?");
        return;
    }
    if (authenticate(cl, ac == 2 ? &def : &av[1], &av[ac - 1]))
        reply_ok(cl);
}

/* A client name as Redis allows it (no spaces, no control characters);
 * "" clears it.  0, or the error replied. */
static int set_name(client *cl, const arg *a)
{
    char *name = NULL;
    size_t i;

    for (i = 0; i < a->len; i++)
        if (a->p[i] < '!' || a->p[i] > '~') {
            reply_error(cl, "ERR Client names cannot contain spaces, newlines or special "
                            "characters.");
            return -1;
        }
    if (a->len && !(name = strndup(a->p, a->len))) {
        reply_error(cl, ERR_NOMEM);
        return -1;
    }
    free(cl->name);
    cl->name = name;
    return 0;
}

/*
 * HELLO [protover [AUTH username password] [SETNAME name]]: Redis' map of
 * the server, as a flat array in RESP2.  Only protocol 2 is spoken: HELLO 3
 * is answered -NOPROTO (where Redis would switch to RESP3), and clients
 * fall back to RESP2.
 */
void cmd_hello(client *cl, arg *av, int ac)
{
    long long ver = 0;
    const arg *user = NULL, *pass = NULL, *name = NULL;
    char buf[256];
    int j, n;

    if (ac >= 2) {
        if (!str2ll(av[1].p, av[1].len, &ver)) {
            reply_error(cl, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            reply_error(cl, "NOPROTO unsupported protocol version");
            return;
        }
    }
    for (j = 2; j < ac; j++) {
        if (is(&av[j], "auth") && ac - 1 - j >= 2) {
            user = &av[j + 1];
            pass = &av[j + 2];
            j += 2;
        } else if (is(&av[j], "setname") && ac - 1 - j >= 1) {
            name = &av[++j];
        } else {
            reply_error(cl, "ERR Syntax error in HELLO option '%.*s'", cstr_len(&av[j], 128),
                        av[j].p);
            return;
        }
    }
    if (user && !authenticate(cl, user, pass))
        return;
    if (cl->srv->requirepass && !cl->authed) {
        reply_error(cl, "NOAUTH HELLO must be called with the client already authenticated, "
                        "otherwise the HELLO AUTH <user> <pass> option can be used to "
                        "authenticate the client and select the RESP protocol version at the "
                        "same time");
        return;
    }
    if (ver == 3) {
        reply_error(cl, "NOPROTO unsupported protocol version");
        return;
    }
    if (name && set_name(cl, name))
        return;
    n = snprintf(buf, sizeof(buf),
                 "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$%zu\r\n%s\r\n"
                 "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:%llu\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
                 "$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
                 strlen(REDIS_VERSION), REDIS_VERSION, (unsigned long long)cl->id);
    out(cl, buf, (size_t)n);
}

void cmd_time(client *cl, arg *av, int ac)
{
    struct timespec ts;
    char sec[24], usec[24];

    (void)av;
    (void)ac;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(sec, sizeof(sec), "%lld", (long long)ts.tv_sec);
    snprintf(usec, sizeof(usec), "%ld", (long)(ts.tv_nsec / 1000));
    reply_array(cl, 2);
    reply_bulk(cl, sec, strlen(sec));
    reply_bulk(cl, usec, strlen(usec));
}

/* ================================================================ CLIENT */

void cmd_client_getname(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    if (cl->name)
        reply_bulk(cl, cl->name, strlen(cl->name));
    else
        reply_nil(cl);
}

void cmd_client_setname(client *cl, arg *av, int ac)
{
    (void)ac;
    if (!set_name(cl, &av[2]))
        reply_ok(cl);
}

void cmd_client_id(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_int(cl, (long long)cl->id);
}

/* One CLIENT LIST line, with Redis 7.0's fields (the buffer sizes are
 * sb-kvd's own: its argument buffer, the library's queue). */
static void client_line(text *t, const client *c)
{
    kvd *s = c->srv;
    char peer[128] = "?", local[128] = "?";
    int64_t now = now_ms(s);

    sb_conn_peer(c->conn, peer, sizeof(peer));
    sb_conn_local(c->conn, local, sizeof(local));
    text_add(t,
             "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=0 sub=0 "
             "psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=%zu multi-mem=0 rbs=0 "
             "rbp=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=r cmd=%s user=default redir=-1 "
             "resp=2\n",
             (unsigned long long)c->id, peer, local, sb_conn_fd(c->conn),
             c->name ? c->name : "", (long long)(now - c->created) / 1000,
             (long long)(now - c->last_io) / 1000, sb_conn_buffered(c->conn), c->alen,
             sb_conn_queued(c->conn),
             sizeof(*c) + c->acap + c->argcap * sizeof(arg) + sb_conn_queued(c->conn),
             c->last_cmd ? c->last_cmd : "NULL");
}

static void reply_text_bulk(client *cl, text *t)
{
    if (t->nomem)
        reply_error(cl, ERR_NOMEM);
    else
        reply_bulk(cl, t->p ? t->p : "", t->len);
    text_free(t);
}

void cmd_client_info(client *cl, arg *av, int ac)
{
    text t = {NULL, 0, 0, 0};

    (void)av;
    (void)ac;
    client_line(&t, cl);
    reply_text_bulk(cl, &t);
}

/* The client types of CLIENT LIST / KILL TYPE: 1 for normal (every sb-kvd
 * client), 0 for the others, -1 unknown (the error replied). */
static int client_type(client *cl, const arg *a)
{
    if (is(a, "normal"))
        return 1;
    if (is(a, "master") || is(a, "replica") || is(a, "slave") || is(a, "pubsub"))
        return 0;
    reply_error(cl, "ERR Unknown client type '%.*s'", cstr_len(a, 128), a->p);
    return -1;
}

/* CLIENT LIST [TYPE type] [ID id...] */
void cmd_client_list(client *cl, arg *av, int ac)
{
    text t = {NULL, 0, 0, 0};
    const client *c;
    int type = 1, j, ids = 0, k;

    if (ac == 4 && is(&av[2], "type")) {
        if ((type = client_type(cl, &av[3])) < 0)
            return;
    } else if (ac >= 4 && is(&av[2], "id")) {
        for (j = 3; j < ac; j++) {
            long long id;
            if (!str2ll(av[j].p, av[j].len, &id)) {
                reply_error(cl, "ERR Invalid client ID");
                return;
            }
        }
        ids = 1;
    } else if (ac != 2) {
        reply_error(cl, ERR_SYNTAX);
        return;
    }
    /* Oldest first, as Redis lists them. */
    for (c = cl->srv->clients; c && c->next; c = c->next)
        ;
    for (; c && type; c = c->prev) {
        int want = !ids;
        for (k = 3; ids && k < ac && !want; k++) {
            long long id;
            str2ll(av[k].p, av[k].len, &id);
            want = (unsigned long long)id == c->id;
        }
        if (want)
            client_line(&t, c);
    }
    reply_text_bulk(cl, &t);
}

/* Whether an address as CLIENT LIST shows it is a's. */
static int addr_is(const arg *a, const char *addr)
{
    return a->len == strlen(addr) && memcmp(a->p, addr, a->len) == 0;
}

/*
 * CLIENT KILL ip:port (the old form: +OK, or an error when nobody was
 * killed; the client may kill itself), or CLIENT KILL [ID id] [ADDR
 * ip:port] [LADDR ip:port] [TYPE type] [USER name] [SKIPME yes|no]: the
 * number killed, the calling client skipped unless SKIPME no.  A killed
 * client is closed after the replies it was already owed.
 */
void cmd_client_kill(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const arg *addr = NULL, *laddr = NULL;
    long long id = 0, killed = 0;
    int j, type = 1, skipme = 1, self = 0;
    client *c, *next;

    if (ac == 3) {
        addr = &av[2];
        skipme = 0;
    } else if (ac % 2 == 0) {
        for (j = 2; j < ac; j += 2) {
            const arg *v = &av[j + 1];
            if (is(&av[j], "id")) {
                if (!str2ll(v->p, v->len, &id) || id < 1) {
                    reply_error(cl, "ERR client-id should be greater than 0");
                    return;
                }
            } else if (is(&av[j], "type")) {
                if ((type = client_type(cl, v)) < 0)
                    return;
            } else if (is(&av[j], "addr")) {
                addr = v;
            } else if (is(&av[j], "laddr")) {
                laddr = v;
            } else if (is(&av[j], "user")) {
                if (!(v->len == 7 && memcmp(v->p, "default", 7) == 0)) {
                    reply_error(cl, "ERR No such user '%.*s'", cstr_len(v, 128), v->p);
                    return;
                }
            } else if (is(&av[j], "skipme")) {
                if (is(v, "yes"))
                    skipme = 1;
                else if (is(v, "no"))
                    skipme = 0;
                else {
                    reply_error(cl, ERR_SYNTAX);
                    return;
                }
            } else {
                reply_error(cl, ERR_SYNTAX);
                return;
            }
        }
    } else {
        reply_error(cl, ERR_SYNTAX);
        return;
    }
    for (c = s->clients; c && type; c = next) {
        char buf[128];
        next = c->next;
        if (addr && (sb_conn_peer(c->conn, buf, sizeof(buf)) < 0 || !addr_is(addr, buf)))
            continue;
        if (laddr && (sb_conn_local(c->conn, buf, sizeof(buf)) < 0 || !addr_is(laddr, buf)))
            continue;
        if (id && c->id != (unsigned long long)id)
            continue;
        if (c == cl) {
            if (skipme)
                continue;
            self = 1;
        } else {
            kvd_kill_client(c);
        }
        killed++;
    }
    if (ac == 3) {
        if (killed)
            reply_ok(cl);
        else
            reply_error(cl, "ERR No such client");
    } else {
        reply_int(cl, killed);
    }
    if (self)
        kvd_kill_client(cl); /* after its reply */
}

void cmd_client_help(client *cl, arg *av, int ac)
{
    static const char *const lines[] = {
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        NULL};

    (void)av;
    (void)ac;
    reply_help(cl, "CLIENT", lines);
}

/* ================================================================== INFO */

/* Whether INFO's arguments ask for a section; if so, its title is added.
 * extra: a section only "all" / "everything" or its name ask for. */
static int section(text *t, arg *av, int ac, const char *name, const char *title, int extra)
{
    int i, want = ac == 1 && !extra;

    for (i = 1; i < ac && !want; i++)
        want = is(&av[i], name) || is(&av[i], "all") || is(&av[i], "everything") ||
               (!extra && is(&av[i], "default"));
    if (want)
        text_add(t, "%s# %s\r\n", t->len ? "\r\n" : "", title);
    return want;
}

static void human(char *buf, size_t n, unsigned long long v)
{
    if (v < 1024)
        snprintf(buf, n, "%lluB", v);
    else if (v < 1024ull * 1024)
        snprintf(buf, n, "%.2fK", (double)v / 1024);
    else if (v < 1024ull * 1024 * 1024)
        snprintf(buf, n, "%.2fM", (double)v / (1024 * 1024));
    else
        snprintf(buf, n, "%.2fG", (double)v / (1024 * 1024 * 1024));
}

static void add_cpu(text *t, const char *name, int who)
{
    struct rusage ru;

    if (getrusage(who, &ru) != 0)
        memset(&ru, 0, sizeof(ru));
    text_add(t, "used_cpu_sys%s:%ld.%06ld\r\nused_cpu_user%s:%ld.%06ld\r\n", name,
             (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, name, (long)ru.ru_utime.tv_sec,
             (long)ru.ru_utime.tv_usec);
}

static void add_cmdstat(text *t, const command *c)
{
    if (!c->calls && !c->rejected && !c->failed)
        return;
    text_add(t, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                "failed_calls=%llu\r\n",
             c->name, (unsigned long long)c->calls, (unsigned long long)c->usec,
             c->calls ? (double)c->usec / (double)c->calls : 0.0,
             (unsigned long long)c->rejected, (unsigned long long)c->failed);
}

/* INFO [section ...]: Redis 7.0's sections and layout (the fields sb-kvd
 * has a value for), and "reactor", the loop's counters. */
void cmd_info(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    text t = {NULL, 0, 0, 0};
    sb_loop_stats st;
    uint64_t up = (sb_loop_now(s->loop) - s->started) / 1000;
    struct timespec ts;
    struct utsname un;
    char h1[32], h2[32];
    size_t i, j;

    sb_loop_get_stats(s->loop, &st);
    if (section(&t, av, ac, "server", "Server", 0)) {
        clock_gettime(CLOCK_REALTIME, &ts);
        if (uname(&un) != 0)
            memset(&un, 0, sizeof(un));
        text_add(&t,
                 "redis_version:" REDIS_VERSION "\r\nsb_kvd_version:%s\r\n"
                 "redis_mode:standalone\r\nos:%s %s %s\r\narch_bits:%d\r\n"
                 "multiplexing_api:%s\r\nprocess_id:%ld\r\nrun_id:%s\r\ntcp_port:%d\r\n"
                 "server_time_usec:%lld\r\nuptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n"
                 "hz:10\r\nconfigured_hz:10\r\nconfig_file:\r\nio_threads_active:0\r\n",
                 SB_VERSION_STRING, un.sysname, un.release, un.machine,
                 (int)(sizeof(void *) * 8), sb_loop_backend(s->loop), (long)getpid(), s->run_id,
                 s->port, (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                 (unsigned long long)up, (unsigned long long)up / 86400);
    }
    if (section(&t, av, ac, "clients", "Clients", 0))
        text_add(&t,
                 "connected_clients:%lu\r\ncluster_connections:0\r\nmaxclients:%u\r\n"
                 "blocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                 s->nclients, s->max_conns);
    if (section(&t, av, ac, "memory", "Memory", 0)) {
        human(h1, sizeof(h1), s->db.mem);
        human(h2, sizeof(h2), s->max_memory);
        text_add(&t,
                 "used_memory:%zu\r\nused_memory_human:%s\r\nmaxmemory:%llu\r\n"
                 "maxmemory_human:%s\r\nmaxmemory_policy:noeviction\r\n"
                 "proto_max_bulk_len:%zu\r\nclient_query_buffer_limit:%zu\r\n"
                 "client_output_buffer_limit:%zu\r\n",
                 s->db.mem, h1, s->max_memory, h2, s->max_bulk, s->max_query, s->max_output);
    }
    if (section(&t, av, ac, "persistence", "Persistence", 0))
        text_add(&t, "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n"
                     "rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n"
                     "aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n"
                     "aof_last_bgrewrite_status:ok\r\naof_last_write_status:ok\r\n");
    if (section(&t, av, ac, "stats", "Stats", 0))
        text_add(&t,
                 "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
                 "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n"
                 "rejected_connections:%llu\r\nexpired_keys:%llu\r\nevicted_keys:0\r\n"
                 "keyspace_hits:%llu\r\nkeyspace_misses:%llu\r\npubsub_channels:0\r\n"
                 "pubsub_patterns:0\r\ntotal_error_replies:%llu\r\n"
                 "client_query_buffer_limit_disconnections:%llu\r\n"
                 "client_output_buffer_limit_disconnections:%llu\r\n",
                 (unsigned long long)st.accepted, (unsigned long long)s->commands,
                 (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
                 (unsigned long long)(s->rejected + st.rejected),
                 (unsigned long long)s->expired, (unsigned long long)s->hits,
                 (unsigned long long)s->misses, (unsigned long long)s->errors,
                 (unsigned long long)s->query_closed, (unsigned long long)s->output_closed);
    if (section(&t, av, ac, "reactor", "Reactor", 0))
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
    if (section(&t, av, ac, "replication", "Replication", 0))
        text_add(&t,
                 "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"
                 "master_replid:%s\r\n"
                 "master_replid2:0000000000000000000000000000000000000000\r\n"
                 "master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n"
                 "repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\n"
                 "repl_backlog_histlen:0\r\n",
                 s->run_id);
    if (section(&t, av, ac, "cpu", "CPU", 0)) {
        add_cpu(&t, "", RUSAGE_SELF);
        add_cpu(&t, "_children", RUSAGE_CHILDREN);
#ifdef RUSAGE_THREAD
        add_cpu(&t, "_main_thread", RUSAGE_THREAD);
#endif
    }
    (void)section(&t, av, ac, "modules", "Modules", 0);
    if (section(&t, av, ac, "commandstats", "Commandstats", 1))
        for (i = 0; i < ncommands; i++) {
            add_cmdstat(&t, &commands[i]);
            for (j = 0; j < commands[i].nsub; j++)
                add_cmdstat(&t, &commands[i].sub[j]);
        }
    if (section(&t, av, ac, "errorstats", "Errorstats", 0))
        for (i = 0; i < s->nerrstat; i++)
            text_add(&t, "errorstat_%s:count=%llu\r\n", s->errstat[i].code,
                     (unsigned long long)s->errstat[i].count);
    if (section(&t, av, ac, "cluster", "Cluster", 0))
        text_add(&t, "cluster_enabled:0\r\n");
    if (section(&t, av, ac, "keyspace", "Keyspace", 0) && db_count(&s->db))
        text_add(&t, "db0:keys=%zu,expires=%zu,avg_ttl=0\r\n", db_count(&s->db), s->db.nvol);
    reply_text_bulk(cl, &t);
}

/* ================================================================ CONFIG */

/* The parameters CONFIG GET knows, with sb-kvd's values (fixed by the
 * command line; CONFIG SET changes none). */
enum { NPARAMS = 21 };

static void config_params(const kvd *s, const char *names[NPARAMS], char vals[NPARAMS][64])
{
    static const char *const fixed[][2] = {
        {"appendonly", "no"},         {"save", ""},
        {"databases", "1"},           {"maxmemory-policy", "noeviction"},
        {"hz", "10"},                 {"cluster-enabled", "no"},
        {"io-threads", "1"},          {"daemonize", "no"},
        {"notify-keyspace-events", ""}, {"replica-read-only", "yes"},
    };
    static const char *const loglevel[] = {"warning", "notice", "verbose", "debug"};
    size_t i, n = 0;
    int lv = s->sbd.log_level - SB_LOG_ERROR;

    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++, n++) {
        names[n] = fixed[i][0];
        snprintf(vals[n], sizeof(vals[n]), "%s", fixed[i][1]);
    }
    names[n] = "maxmemory";
    snprintf(vals[n++], sizeof(vals[0]), "%llu", s->max_memory);
    names[n] = "maxclients";
    snprintf(vals[n++], sizeof(vals[0]), "%u", s->max_conns);
    names[n] = "timeout";
    snprintf(vals[n++], sizeof(vals[0]), "%u", s->idle_s);
    names[n] = "proto-max-bulk-len";
    snprintf(vals[n++], sizeof(vals[0]), "%zu", s->max_bulk);
    names[n] = "client-query-buffer-limit";
    snprintf(vals[n++], sizeof(vals[0]), "%zu", s->max_query);
    names[n] = "client-output-buffer-limit"; /* a hard limit only */
    snprintf(vals[n++], sizeof(vals[0]), "normal %zu 0 0", s->max_output);
    names[n] = "port";
    snprintf(vals[n++], sizeof(vals[0]), "%d", s->port);
    names[n] = "loglevel";
    snprintf(vals[n++], sizeof(vals[0]), "%s",
             loglevel[lv < 0 ? 0 : lv > 3 ? 3 : lv]);
    names[n] = "requirepass";
    vals[n++][0] = '\0'; /* the value itself: config_value() */
    names[n] = "tcp-backlog";
    snprintf(vals[n++], sizeof(vals[0]), "%d", 511);
    names[n] = "maxmemory-samples";
    snprintf(vals[n++], sizeof(vals[0]), "%d", 5);
}

/* requirepass is longer than a value slot: it is given as it is. */
static const char *config_value(const kvd *s, const char *name, const char *val)
{
    if (strcmp(name, "requirepass") == 0)
        return s->requirepass ? s->requirepass : "";
    return val;
}

/* CONFIG GET pattern...: each parameter matching any pattern (Redis' glob,
 * without case), once. */
void cmd_config_get(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const char *names[NPARAMS];
    char vals[NPARAMS][64];
    text t = {NULL, 0, 0, 0};
    int i, j, n = 0;
    uint64_t left = GLOB_BUDGET; /* no allowance per name: the names are short */

    config_params(s, names, vals);
    for (i = 0; i < NPARAMS; i++)
        for (j = 2; j < ac; j++) {
            int m = glob_match(av[j].p, av[j].len, names[i], strlen(names[i]), 1, &left);
            if (m < 0) {
                text_free(&t);
                reply_too_expensive(cl, GLOB_BUDGET);
                return;
            }
            if (m) {
                const char *v = config_value(s, names[i], vals[i]);
                text_add(&t, "$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(names[i]), names[i],
                         strlen(v), v);
                n += 2;
                break;
            }
        }
    if (t.nomem) {
        text_free(&t);
        reply_error(cl, ERR_NOMEM);
        return;
    }
    reply_array(cl, n);
    if (t.len)
        out(cl, t.p, t.len);
    text_free(&t);
}

/* CONFIG SET name value [name value...]: sb-kvd's settings come from its
 * command line, so a known parameter is refused as Redis refuses an
 * immutable one, unless the value is the one in force (then +OK). */
void cmd_config_set(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;
    const char *names[NPARAMS];
    char vals[NPARAMS][64];
    int i, j;

    if (ac % 2) {
        reply_arity(cl, "config|set");
        return;
    }
    config_params(s, names, vals);
    for (j = 2; j < ac; j += 2) {
        for (i = 0; i < NPARAMS && !is(&av[j], names[i]); i++)
            ;
        if (i == NPARAMS) {
            reply_error(cl, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                        cstr_len(&av[j], 128), av[j].p);
            return;
        }
    }
    for (j = 2; j < ac; j += 2) {
        const char *v;
        for (i = 0; !is(&av[j], names[i]); i++)
            ;
        v = config_value(s, names[i], vals[i]);
        if (av[j + 1].len != strlen(v) || memcmp(av[j + 1].p, v, av[j + 1].len) != 0) {
            reply_error(cl, "ERR CONFIG SET failed (possibly related to argument '%s') - can't "
                            "set immutable config",
                        names[i]);
            return;
        }
    }
    reply_ok(cl);
}

/* CONFIG RESETSTAT: the counters of INFO stats, commandstats and
 * errorstats back to 0. */
void cmd_config_resetstat(client *cl, arg *av, int ac)
{
    kvd *s = cl->srv;

    (void)av;
    (void)ac;
    reset_command_stats();
    s->nerrstat = 0;
    s->errors = s->expired = s->hits = s->misses = s->rejected = s->commands = 0;
    s->output_closed = s->query_closed = 0;
    reply_ok(cl);
}

void cmd_config_rewrite(client *cl, arg *av, int ac)
{
    (void)av;
    (void)ac;
    reply_error(cl, "ERR The server is running without a config file");
}

void cmd_config_help(client *cl, arg *av, int ac)
{
    static const char *const lines[] = {
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        NULL};

    (void)av;
    (void)ac;
    reply_help(cl, "CONFIG", lines);
}
