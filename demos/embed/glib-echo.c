/*
 * glib-echo — switchboard inside the GLib main loop (what GTK and many
 * daemons run), as one custom GSource.
 *
 * The source's fds are switchboard's: the watch callback adds, modifies
 * and removes them (g_source_add_unix_fd / _modify_ / _remove_).
 * prepare() hands GLib sb_loop_timeout() as the longest wait; check() says
 * whether one of the fds is ready or switchboard's timers are due;
 * dispatch() collects the ready fds (g_source_query_unix_fd) and calls
 * sb_loop_dispatch().  GLib runs its own sources meanwhile: here a
 * g_timeout_add() timer ticking every 100 ms.
 *
 * The protocol is an echo, as in poll-echo.c.  An fd switchboard is not
 * interested in (a paused client) is removed from the source, not kept
 * with no condition: GLib reports G_IO_HUP whatever the condition.
 *
 * The signals are switchboard's (sb_signal), so they arrive through the
 * source too, on its self-pipe.  (g_unix_signal_add() would do as well,
 * but starts a GLib worker thread that is never joined.)  SIGUSR1 prints
 * "ticks N", the timer's count, on stdout.  SIGINT / SIGTERM: stop
 * listening, close the clients, quit the main loop once switchboard holds
 * no handle, exit 0.
 *
 *   glib-echo [-l ADDR] [-t SECS]     (defaults 127.0.0.1:7792, 300 s)
 *   make GLIB=1 build/embed/glib-echo  (needs libglib2.0-dev)
 */
#include "switchboard.h"

#include <glib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fd_slot {
    gpointer tag; /* g_source_add_unix_fd()'s, or NULL */
    size_t index; /* the fd's place in fds */
} fd_slot;

/* The source: GLib's part first, so that a GSource * is one of these. */
typedef struct sb_gsource {
    GSource source;
    sb_loop *loop;
    int *fds;        /* the fds switchboard watches, dense */
    size_t n, cap;
    fd_slot *slot;   /* by fd */
    size_t nslot;
    sb_ready *ready;  /* what one poll found, for sb_loop_dispatch */
    size_t nready_cap;
} sb_gsource;

typedef struct app {
    sb_loop *loop;
    sb_listener *l;
    sb_signal *sigs[3];
    GMainLoop *main;
    unsigned long ticks;
    int stop;     /* SIGINT or SIGTERM arrived */
    int stopping; /* and the shutdown has begun */
} app;

/* switchboard's interest in fd changed: tell GLib. */
static void watch(int fd, unsigned events, void *udata)
{
    sb_gsource *s = udata;
    GIOCondition cond = (GIOCondition)((events & SB_READ ? G_IO_IN : 0) |
                                       (events & SB_WRITE ? G_IO_OUT : 0));

    if ((size_t)fd >= s->nslot) {
        size_t n = s->nslot ? s->nslot : 64;
        while (n <= (size_t)fd)
            n *= 2;
        s->slot = g_renew(fd_slot, s->slot, n); /* aborts when out of memory */
        memset(s->slot + s->nslot, 0, (n - s->nslot) * sizeof(*s->slot));
        s->nslot = n;
    }
    if (!cond) {
        if (s->slot[fd].tag) { /* unwatched: the last fd fills the hole */
            size_t i = s->slot[fd].index;
            g_source_remove_unix_fd(&s->source, s->slot[fd].tag);
            s->slot[fd].tag = NULL;
            s->fds[i] = s->fds[--s->n];
            s->slot[s->fds[i]].index = i;
        }
    } else if (s->slot[fd].tag) {
        g_source_modify_unix_fd(&s->source, s->slot[fd].tag, cond);
    } else {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->fds = g_renew(int, s->fds, s->cap);
        }
        s->slot[fd].tag = g_source_add_unix_fd(&s->source, fd, cond);
        s->slot[fd].index = s->n;
        s->fds[s->n++] = fd;
    }
}

static gboolean prepare(GSource *source, gint *timeout)
{
    *timeout = sb_loop_timeout(((sb_gsource *)source)->loop);
    return *timeout == 0;
}

/* After the poll: an fd is ready, or switchboard's timers are due. */
static gboolean check(GSource *source)
{
    sb_gsource *s = (sb_gsource *)source;
    size_t i;

    for (i = 0; i < s->n; i++)
        if (g_source_query_unix_fd(source, s->slot[s->fds[i]].tag))
            return TRUE;
    return sb_loop_timeout(s->loop) == 0;
}

static gboolean dispatch(GSource *source, GSourceFunc cb, gpointer udata)
{
    sb_gsource *s = (sb_gsource *)source;
    size_t i, n = 0;

    /* Copied out: the watch callback reorders fds during the dispatch. */
    if (s->nready_cap < s->n) {
        s->nready_cap = s->cap;
        s->ready = g_renew(sb_ready, s->ready, s->nready_cap);
    }
    for (i = 0; i < s->n; i++) {
        GIOCondition re = g_source_query_unix_fd(source, s->slot[s->fds[i]].tag);
        unsigned ev = 0;

        if (re & G_IO_NVAL)
            ev = SB_ERROR;
        if (re & (G_IO_HUP | G_IO_ERR))
            ev = SB_READ | SB_WRITE; /* switchboard finds the error itself */
        if (re & G_IO_IN)
            ev |= SB_READ;
        if (re & G_IO_OUT)
            ev |= SB_WRITE;
        if (ev) {
            s->ready[n].fd = s->fds[i];
            s->ready[n++].events = ev;
        }
    }
    sb_loop_dispatch(s->loop, s->ready, n);
    if (cb)
        cb(udata);
    return G_SOURCE_CONTINUE;
}

static void finalize(GSource *source)
{
    sb_gsource *s = (sb_gsource *)source;

    g_free(s->fds);
    g_free(s->slot);
    g_free(s->ready);
}

static GSourceFuncs sb_gsource_funcs = {prepare, check, dispatch, finalize, NULL, NULL};

/* A GSource driving loop; attach it to a GMainContext. */
static GSource *sb_gsource_new(sb_loop *loop)
{
    sb_gsource *s = (sb_gsource *)g_source_new(&sb_gsource_funcs, sizeof(sb_gsource));

    s->loop = loop;
    g_source_set_name(&s->source, "switchboard");
    sb_loop_set_watch(loop, watch, s); /* reports the fds watched already */
    return &s->source;
}

/* ------------------------------------------------------------ the app */

static void echo(sb_conn *c, const char *data, size_t len, void *udata)
{
    if (sb_write(c, data, len) < 0)
        sb_abort(c);
}

static void hurry(sb_conn *c, void *udata)
{
    sb_conn_set_timeout(c, 5000);
}

/* The source's callback, run after each of its dispatches, outside
 * switchboard's callbacks: start the shutdown a signal asked for, and quit
 * once nothing is left. */
static gboolean after_dispatch(gpointer udata)
{
    app *a = udata;
    int i;

    if (a->stop && !a->stopping) {
        a->stopping = 1;
        for (i = 0; i < 3; i++)
            sb_signal_free(a->sigs[i]);
        sb_listener_close(a->l);
        sb_loop_walk(a->loop, hurry, NULL); /* 5 s without progress at most */
        sb_loop_close_all(a->loop);
    }
    if (a->stopping && sb_loop_handles(a->loop) == 0)
        g_main_loop_quit(a->main);
    return G_SOURCE_CONTINUE;
}

static void on_signal(sb_signal *sig, int signum, void *udata)
{
    app *a = udata;

    if (signum != SIGUSR1) {
        a->stop = 1;
        return;
    }
    printf("ticks %lu\n", a->ticks);
    fflush(stdout);
}

static gboolean tick(gpointer udata)
{
    app *a = udata;

    a->ticks++;
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:7792";
    sb_handler handler = {.on_data = echo};
    sb_listen_opts lo = {.conn = {.idle_timeout_ms = 300 * 1000}};
    static const int signals[3] = {SIGINT, SIGTERM, SIGUSR1};
    app a = {0};
    guint tick_id;
    GSource *source;
    char local[128], *end;
    int opt, err = 0, i;

    while ((opt = getopt(argc, argv, "l:t:h")) != -1) {
        if (opt == 'l') {
            addr = optarg;
        } else if (opt == 't') {
            unsigned long s = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || s > UINT_MAX / 1000)
                goto bad;
            lo.conn.idle_timeout_ms = (unsigned)s * 1000;
        } else {
            goto bad;
        }
    }

    a.loop = sb_loop_new();
    if (!a.loop)
        return 1;
    a.l = sb_listen(a.loop, addr, &handler, NULL, &lo, &err);
    if (!a.l) {
        fprintf(stderr, "glib-echo: cannot listen on %s: %s\n", addr, sb_strerror(err));
        return 1;
    }
    for (i = 0; i < 3; i++) {
        a.sigs[i] = sb_signal_new(a.loop, signals[i], on_signal, &a, &err);
        if (!a.sigs[i]) {
            fprintf(stderr, "glib-echo: cannot watch signals: %s\n", sb_strerror(err));
            return 1;
        }
    }
    a.main = g_main_loop_new(NULL, FALSE);
    source = sb_gsource_new(a.loop);
    g_source_set_callback(source, after_dispatch, &a, NULL);
    g_source_attach(source, NULL);
    tick_id = g_timeout_add(100, tick, &a);
    sb_listener_local(a.l, local, sizeof(local));
    printf("listening on %s\n", local);
    fflush(stdout);

    g_main_loop_run(a.main);

    g_source_remove(tick_id);
    sb_loop_set_watch(a.loop, NULL, NULL); /* the source is going */
    g_source_destroy(source);
    g_source_unref(source);
    g_main_loop_unref(a.main);
    return sb_loop_free(a.loop) == 0 ? 0 : 1;
bad:
    fprintf(opt == 'h' ? stdout : stderr,
            "usage: glib-echo [-l ADDR] [-t SECS]\n"
            "Echo server inside the GLib main loop, next to a GLib timer (SIGUSR1: ticks).\n");
    return opt == 'h' ? 0 : 2;
}
