/*
 * Running a demo daemon's real main() inside a fuzz target (fuzz_resp.c,
 * fuzz_http.c).  The target includes the daemon's main source textually
 * with
 *     #define main    <daemon>_main
 *     #define sbd_run fuzz_sbd_run
 * so main() parses its options, makes its server state, listens and starts
 * exactly as the daemon does -- whatever options and defaults it has today
 * -- and, instead of running the loop, calls fuzz_sbd_run(), which hands
 * the daemon (struct sbd: loop, listeners, app state) over and parks that
 * thread for good.  The fuzz thread then drives the loop itself, one
 * sb_loop_run_once() at a time; the two never run at the same time (the
 * parked thread waits on a condition that never comes).  The daemon thread
 * blocks every signal, so timeouts and crashes are reported on the fuzz
 * thread; SIGTERM and SIGINT are given back to libFuzzer.
 */
#ifndef SB_FUZZ_DAEMON_H
#define SB_FUZZ_DAEMON_H

#include "daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int fuzz_sbd_run(sbd *d);

static pthread_mutex_t fz_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fz_cv = PTHREAD_COND_INITIALIZER;
static sbd *fz_sbd;
static int fz_state; /* 0 starting, 1 handed over, 2 main() returned */
static int fz_main_rc;

/* main()'s call of sbd_run: hand the daemon over, never return. */
int fuzz_sbd_run(sbd *d)
{
    pthread_mutex_lock(&fz_mu);
    fz_sbd = d;
    fz_state = 1;
    pthread_cond_broadcast(&fz_cv);
    for (;;)
        pthread_cond_wait(&fz_cv, &fz_mu);
    return 0;
}

typedef struct fz_args {
    int (*main_fn)(int, char **);
    int argc;
    char **argv;
} fz_args;

static void *fz_daemon_thread(void *p)
{
    fz_args *a = p;
    int rc = a->main_fn(a->argc, a->argv);

    pthread_mutex_lock(&fz_mu);
    fz_state = 2;
    fz_main_rc = rc;
    pthread_cond_broadcast(&fz_cv);
    pthread_mutex_unlock(&fz_mu);
    return NULL;
}

/* Start main_fn(argc, argv) and return the daemon once it is listening. */
static sbd *fz_start_daemon(int (*main_fn)(int, char **), int argc, char **argv)
{
    static fz_args a;
    pthread_t t;
    sigset_t all, old;
    int i;

    a.main_fn = main_fn;
    a.argc = argc;
    a.argv = argv;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, NULL, fz_daemon_thread, &a) != 0) {
        fprintf(stderr, "fuzz: cannot start the daemon thread\n");
        abort();
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_detach(t);
    pthread_mutex_lock(&fz_mu);
    while (fz_state == 0)
        pthread_cond_wait(&fz_cv, &fz_mu);
    pthread_mutex_unlock(&fz_mu);
    if (fz_state != 1) {
        fprintf(stderr, "fuzz: the daemon's main() returned %d before running its loop\n",
                fz_main_rc);
        abort();
    }
    /* SIGTERM and SIGINT back to libFuzzer (a daemon's shutdown would only
     * close the listeners under the harness); SIGUSR1 stays the daemon's. */
    for (i = 0; i < 2; i++) {
        sb_signal_free(fz_sbd->sigs[i]);
        fz_sbd->sigs[i] = NULL;
    }
    return fz_sbd;
}

/* -------------------------------------------- driving one client (fuzz_client.h) */

/* One loop iteration; the client sends and reads around it. */
static void step(fz_client *cl, int timeout_ms)
{
    int rc;

    fz_client_send(cl);
    rc = sb_loop_run_once(fz_sbd->loop, timeout_ms);
    CHECK(rc >= 0);
    fz_client_recv(cl);
}

/* Iterate until the server closed cl (its EOF or reset seen) and the
 * daemon counts no client.  A few polls, then short waits; bounded by
 * progress: aborts after 300 iterations (about 3 s) in which the client
 * neither sent nor received a byte.  The client has half-closed, or will
 * once its bytes are out. */
static void run_until_closed(fz_client *cl, const char *what)
{
    size_t seen_in = cl->in_total, seen_out = cl->out_len;
    int idle = 0;

    while (!((cl->eof || cl->err) && fz_sbd->conns == 0)) {
        if (idle == 20 + 300) {
            fprintf(stderr,
                    "fuzz: %s: connection not closed by the server (client eof %d err %d, "
                    "%zu bytes unsent, %lu clients)\n",
                    what, cl->eof, cl->err, cl->out_len, fz_sbd->conns);
            abort();
        }
        step(cl, idle < 20 ? 0 : 10);
        if (cl->in_total != seen_in || cl->out_len != seen_out) {
            seen_in = cl->in_total;
            seen_out = cl->out_len;
            idle = 0;
        } else {
            idle++;
        }
    }
}

#endif
