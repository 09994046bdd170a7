/*
 * Signals as ordinary loop callbacks, through a self-pipe: the handler only
 * writes the signal number to a non-blocking pipe; the loop reads it and
 * runs the watcher's callback like any other event.  A process has one
 * disposition per signal, so one loop owns a given signal at a time.
 *
 * Windows: SIGINT and SIGTERM only, from console control events.
 * os_win32.c's console handler, which runs on a thread of its own, writes
 * the signal number to the loop's socket pair (the pipe here).  Ctrl-C and
 * Ctrl-Break are SIGINT; the console window closing, log-off and shut-down
 * are SIGTERM (Windows ends the process a few seconds after those).  No
 * other signal exists there: sb_signal_new fails with SB_ESIGNAL.  The
 * three sig_* functions below are all that differs.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NSIG
#define NSIG 65
#endif

struct sb_signal {
    SB__MAGIC_FIELD
    sb_loop *loop;
    int signum;
    sb_signal_cb cb;
    void *udata;
#ifndef _WIN32
    struct sigaction old;
#endif
    sb_signal *next;
};

/* Write end of the owning loop's pipe for each signal, -1 when unwatched
 * (on Windows the console handler has its own copy, os_win32.c). */
static volatile sig_atomic_t sb__sig_fd[NSIG];
static int sb__sig_init;

#ifdef _WIN32
static int sig_valid(int signum)
{
    return signum == SIGINT || signum == SIGTERM;
}

static int sig_watch(sb_signal *s, int wr)
{
    return sb__os_console_watch(s->signum, wr) < 0 ? -errno : 0;
}

static void sig_unwatch(sb_signal *s)
{
    sb__os_console_watch(s->signum, -1);
}
#else
static void sig_handler(int signum)
{
    int saved = errno;
    unsigned char b = (unsigned char)signum;
    int fd = (signum > 0 && signum < NSIG) ? (int)sb__sig_fd[signum] : -1;

    /* A full pipe already holds a wake-up: dropping this byte is fine. */
    if (fd >= 0 && write(fd, &b, 1) < 0) {
    }
    errno = saved;
}

static int sig_valid(int signum)
{
    return signum > 0 && signum < NSIG && signum != SIGKILL && signum != SIGSTOP;
}

/* The handler, the previous disposition kept in s (wr is in sb__sig_fd). */
static int sig_watch(sb_signal *s, int wr)
{
    struct sigaction sa;

    (void)wr;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sig_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(s->signum, &sa, &s->old) < 0 ? -errno : 0;
}

static void sig_unwatch(sb_signal *s)
{
    sigaction(s->signum, &s->old, NULL);
}
#endif

static void sigpipe_ready(sb__handle *h, unsigned events)
{
    sb_loop *loop = (sb_loop *)((char *)h - offsetof(sb_loop, sig_h));
    unsigned char buf[64];
    ssize_t n, i;

    (void)events;
    while ((n = read(loop->sig_rd, buf, sizeof(buf))) > 0) {
        for (i = 0; i < n; i++) {
            sb_signal *s, *next;
            for (s = loop->signals; s; s = next) {
                next = s->next;
                if (s->signum == buf[i]) {
                    s->cb(s, s->signum, s->udata);
                    break; /* s may be freed now */
                }
            }
        }
    }
}

static void sigpipe_badfd(sb__handle *h)
{
    sb_loop *loop = (sb_loop *)((char *)h - offsetof(sb_loop, sig_h));

    sb__log(loop, SB_LOG_ERROR, "signal pipe closed behind the loop's back");
    sb__loop_unregister(loop, h);
}

static int sigpipe_open(sb_loop *loop)
{
    int p[2], rc;

    if (loop->sig_rd >= 0)
        return 0;
    if (sb__os_pipe(p) < 0)
        return -errno;
    memset(&loop->sig_h, 0, sizeof(loop->sig_h));
    loop->sig_h.type = SB__H_SIGPIPE;
    loop->sig_h.ready = sigpipe_ready;
    loop->sig_h.badfd = sigpipe_badfd;
    rc = sb__loop_register(loop, &loop->sig_h, p[0], SB_READ);
    if (rc) {
        sb__sys_close(p[0]);
        sb__sys_close(p[1]);
        return rc;
    }
    loop->sig_rd = p[0];
    loop->sig_wr = p[1];
    return 0;
}

sb_signal *sb_signal_new(sb_loop *loop, int signum, sb_signal_cb cb, void *udata, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    sb_signal *s = NULL;
    int rc, i;

    if (!sb__sig_init) {
        for (i = 0; i < NSIG; i++)
            sb__sig_fd[i] = -1;
        sb__sig_init = 1;
    }
    if (!loop || !cb || !sig_valid(signum) || sb__sig_fd[signum] >= 0) {
        rc = SB_ESIGNAL;
        goto fail;
    }
    rc = sigpipe_open(loop);
    if (rc)
        goto fail;
    s = sb__calloc(1, sizeof(*s));
    if (!s) {
        rc = -ENOMEM;
        goto fail;
    }
    SB__BIRTH(s, magic, SB__K_SIGNAL);
    s->loop = loop;
    s->signum = signum;
    s->cb = cb;
    s->udata = udata;
    sb__sig_fd[signum] = loop->sig_wr;
    if ((rc = sig_watch(s, loop->sig_wr)) != 0) {
        sb__sig_fd[signum] = -1;
        goto fail;
    }
    s->next = loop->signals;
    loop->signals = s;
    loop->nhandles++;
    return s;
fail:
    free(s);
    if (err)
        *err = rc;
    return NULL;
}

void sb_signal_free(sb_signal *s)
{
    SB__CHECK(s, magic, SB__K_SIGNAL);
    sb_signal **pp;

    if (!s)
        return;
    sig_unwatch(s);
    sb__sig_fd[s->signum] = -1;
    for (pp = &s->loop->signals; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->loop->nhandles--;
    sb__retire(s, &s->magic, SB__K_SIGNAL, s->loop);
}

/* Close the self-pipe at loop teardown (all watchers are already freed). */
void sb__signal_loop_free(sb_loop *loop)
{
    if (loop->sig_rd < 0)
        return;
    sb__loop_unregister(loop, &loop->sig_h);
    sb__sys_close(loop->sig_rd);
    sb__sys_close(loop->sig_wr);
    loop->sig_rd = loop->sig_wr = -1;
}

sb_signal *sb__signal_next(const sb_signal *s)
{
    return s->next;
}
