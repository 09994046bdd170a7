/*
 * Name resolution that never blocks the loop.
 *
 * getaddrinfo() has no asynchronous form in POSIX, so it runs on worker
 * threads.  The workers belong to the process, not to a loop: at most
 * SB_RESOLVE_THREADS of them, started on demand, each taking jobs from one
 * queue until it is empty and then exiting (no thread is left behind once
 * the lookups are done, none is ever joined).  A finished job goes onto its
 * loop's done list and the loop is woken through an internal sb_async; the
 * loop delivers the result on its own thread.
 *
 * One mutex guards the queue, every job's state and every loop's done
 * list.  A job is QUEUED, RUNNING, DONE (on its loop's done list) or
 * CANCELLED (running, owner gone: the worker frees it and never touches the
 * loop).  Cancelling under the mutex is what makes sb_loop_free() safe
 * while a worker is stuck in a slow lookup: once a job is CANCELLED no
 * worker reaches its loop again.
 *
 * Why not c-ares: it is a dependency (the core library needs only libc),
 * and it answers from DNS and /etc/hosts only, where getaddrinfo() follows
 * nsswitch.conf (mDNS, LDAP, systemd-resolved, containers' own setups): a
 * program gets the same answers it would get blocking.  The costs are a
 * thread per concurrent lookup (bounded) and no way to abort a lookup that
 * is running, only to drop its result.  docs/embedding.md shows how to
 * drive c-ares with sb_io and timers instead.
 */
#include "internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SB_NO_THREADS
#include <pthread.h>
#include <signal.h>
#endif

enum { J_QUEUED, J_RUNNING, J_DONE, J_CANCELLED };

typedef struct sb__job sb__job;
struct sb__job {
    sb__job *next;   /* the queue or the done list */
    int state;
    char host[256];
    char serv[8];
    int passive;
    sb_loop *loop;   /* whose done list (never touched once CANCELLED) */
    sb_resolve *owner;
    int status;      /* 0, SB_ERESOLVE, -ENOMEM */
    int gai;         /* getaddrinfo()'s code when it failed */
    sb__addr *addrs; /* malloc'ed */
    size_t n;
};

typedef struct sb__resolver {
    sb_async *async; /* wakes the loop when a job is done */
    sb__job *done_head, *done_tail;
    sb_resolve *pending; /* requests whose callback has not run */
} sb__resolver;

struct sb_resolve {
    sb__handle h; /* deferred freeing and debug checks only (fd -1) */
    sb_loop *loop;
    sb_resolve_cb cb;    /* public */
    sb__resolved_fn fn;  /* internal (connect.c) */
    void *udata;
    sb__job *job;
    sb_timer timer;
    int internal;
    sb_resolve *next, *prev;
};

#ifndef SB_NO_THREADS
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sb__job *queue_head, *queue_tail;
static int nworkers;
#define LOCK() pthread_mutex_lock(&lock)
#define UNLOCK() pthread_mutex_unlock(&lock)
#else
#define LOCK() ((void)0)
#define UNLOCK() ((void)0)
#endif

/* ------------------------------------------------------------- the work */

/* getaddrinfo() and its results copied out (plain malloc: this may run on
 * a worker, where the test build's fault schedule must not be consumed). */
static void lookup(sb__job *j)
{
    struct addrinfo hints, *res = NULL, *ai;
    size_t i = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (j->passive ? AI_PASSIVE : 0);
    j->gai = sb__sys_getaddrinfo(j->host, j->serv, &hints, &res);
    if (j->gai != 0 || !res) {
        j->status = SB_ERESOLVE;
        if (res)
            freeaddrinfo(res);
        return;
    }
    for (ai = res; ai; ai = ai->ai_next)
        i++;
    j->addrs = calloc(i, sizeof(*j->addrs));
    if (!j->addrs) {
        j->status = -ENOMEM;
        freeaddrinfo(res);
        return;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(j->addrs[0].ss))
            continue;
        memcpy(&j->addrs[j->n].ss, ai->ai_addr, ai->ai_addrlen);
        j->addrs[j->n].len = ai->ai_addrlen;
        j->n++;
    }
    freeaddrinfo(res);
    j->status = j->n ? 0 : SB_ERESOLVE;
}

static void job_free(sb__job *j)
{
    free(j->addrs);
    free(j);
}

/* Under the lock: put a finished job on its loop's done list, wake it. */
static void job_done(sb__job *j)
{
    sb__resolver *r = j->loop->resolver;

    j->state = J_DONE;
    j->next = NULL;
    if (r->done_tail)
        r->done_tail->next = j;
    else
        r->done_head = j;
    r->done_tail = j;
    sb_async_send(r->async);
}

#ifndef SB_NO_THREADS
static void *worker(void *arg)
{
    (void)arg;
    LOCK();
    for (;;) {
        sb__job *j = queue_head;
        if (!j)
            break;
        queue_head = j->next;
        if (!queue_head)
            queue_tail = NULL;
        j->state = J_RUNNING;
        UNLOCK();
        lookup(j);
        LOCK();
        if (j->state == J_CANCELLED)
            job_free(j);
        else
            job_done(j);
    }
    nworkers--;
    UNLOCK();
    return NULL;
}

/* Queue j; start a worker if there is room for one.  0 or -errno (then j
 * is not queued). */
static int enqueue(sb__job *j)
{
    pthread_attr_t attr;
    pthread_t t;
#ifndef _WIN32
    sigset_t all, old;
#endif
    int rc = 0;

    LOCK();
    j->state = J_QUEUED;
    j->next = NULL;
    if (queue_tail)
        queue_tail->next = j;
    else
        queue_head = j;
    queue_tail = j;
    if (nworkers < SB_RESOLVE_THREADS) {
        /* Workers take no signals: they belong to the program's threads
         * (Windows has none to block). */
#ifndef _WIN32
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
#endif
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 512 * 1024);
        rc = -pthread_create(&t, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
#ifndef _WIN32
        pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
        if (rc == 0) {
            nworkers++;
        } else if (nworkers > 0) {
            rc = 0; /* a running worker will get to it */
        } else {
            queue_head = queue_tail = NULL; /* j was the only one queued */
        }
    }
    UNLOCK();
    return rc;
}
#endif

/* ------------------------------------------------------------- delivery */

static void unlink_pending(sb_resolve *r)
{
    sb__resolver *rs = r->loop->resolver;

    if (r->prev)
        r->prev->next = r->next;
    else
        rs->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    r->loop->nresolving--;
}

static void resolve_release(sb_resolve *r)
{
    sb__timer_disarm(&r->timer);
    unlink_pending(r);
    sb__loop_defer_free(r->loop, &r->h);
}

static void deliver(sb_resolve *r, int status, const sb__addr *addrs, size_t n)
{
    resolve_release(r); /* memory lives to the end of the iteration */
    if (r->fn) {
        r->fn(r, status, addrs, n, r->udata);
        return;
    }
    if (status == 0) {
        sb_addr *out = sb__calloc(n, sizeof(*out));
        size_t i;
        if (!out) {
            r->cb(r, -ENOMEM, NULL, 0, r->udata);
            return;
        }
        for (i = 0; i < n; i++) {
            memcpy(&out[i].sa, &addrs[i].ss, addrs[i].len);
            out[i].len = addrs[i].len;
        }
        r->cb(r, 0, out, n, r->udata);
        free(out);
        return;
    }
    r->cb(r, status, NULL, 0, r->udata);
}

static void resolver_wake(sb_async *a, void *udata)
{
    sb_loop *loop = udata;
    sb__resolver *rs = loop->resolver;

    (void)a;
    /* One job at a time off the shared list: a callback may cancel any
     * other request, whose job must then still be found there. */
    for (;;) {
        sb__job *j;
        sb_resolve *r;
        LOCK();
        j = rs->done_head;
        if (j) {
            rs->done_head = j->next;
            if (!rs->done_head)
                rs->done_tail = NULL;
        }
        UNLOCK();
        if (!j)
            break;
        r = j->owner;
        if (j->status == SB_ERESOLVE && j->gai)
            sb__log(loop, SB_LOG_INFO, "resolving %s: %s", j->host, gai_strerror(j->gai));
        r->job = NULL;
        deliver(r, j->status, j->addrs, j->n);
        job_free(j);
    }
}

/* Take r's job away from the workers: freed now, or by its worker. */
static void job_cancel(sb_resolve *r)
{
    sb__resolver *rs = r->loop->resolver;
    sb__job *j = r->job, **pp;

    if (!j)
        return;
    r->job = NULL;
    LOCK();
    switch (j->state) {
    case J_RUNNING:
        j->state = J_CANCELLED;
        j = NULL;
        break;
    case J_DONE:
        for (pp = &rs->done_head, rs->done_tail = NULL; *pp;) {
            if (*pp == j)
                *pp = j->next;
            else {
                rs->done_tail = *pp;
                pp = &(*pp)->next;
            }
        }
        break;
#ifndef SB_NO_THREADS
    case J_QUEUED: {
        sb__job *prev = NULL, *q;
        for (q = queue_head; q && q != j; q = q->next)
            prev = q;
        if (q) {
            if (prev)
                prev->next = j->next;
            else
                queue_head = j->next;
            if (queue_tail == j)
                queue_tail = prev;
        }
        break;
    }
#endif
    default:
        break;
    }
    UNLOCK();
    if (j)
        job_free(j);
}

static void resolve_timeout(sb_timer *t, void *udata)
{
    sb_resolve *r = udata;

    (void)t;
    job_cancel(r);
    deliver(r, -ETIMEDOUT, NULL, 0);
}

/* ---------------------------------------------------------------- start */

static sb__resolver *resolver_get(sb_loop *loop, int *err)
{
    sb__resolver *rs = loop->resolver;

    if (rs)
        return rs;
    rs = sb__calloc(1, sizeof(*rs));
    if (!rs) {
        *err = -ENOMEM;
        return NULL;
    }
    rs->async = sb__async_new(loop, resolver_wake, loop, 1, err);
    if (!rs->async) {
        free(rs);
        return NULL;
    }
    loop->resolver = rs;
    return rs;
}

/*
 * A request for host/serv (host NULL: an immediate result already in
 * imm/nimm, delivered from the loop all the same).
 */
static sb_resolve *start(sb_loop *loop, const char *host, const char *serv, int passive,
                         const sb__addr *imm, int *err)
{
    sb__resolver *rs;
    sb_resolve *r = NULL;
    sb__job *j = NULL;
    int rc = 0;

    if (!(rs = resolver_get(loop, &rc)))
        goto fail;
    rc = -ENOMEM;
    r = sb__calloc(1, sizeof(*r));
    j = sb__calloc(1, sizeof(*j));
    if (!r || !j)
        goto fail;
    SB__BIRTH(r, h.magic, SB__K_RESOLVE);
    r->h.type = SB__H_RESOLVE;
    r->h.fd = -1;
    r->loop = loop;
    r->job = j;
    sb__timer_init(&r->timer, loop, resolve_timeout, r);
    j->owner = r;
    j->loop = loop;
    j->passive = passive;
    if (!host) {
        if (!(j->addrs = sb__malloc(sizeof(*imm))))
            goto fail;
        *j->addrs = *imm;
        j->n = 1;
    } else {
        snprintf(j->host, sizeof(j->host), "%s", host);
        snprintf(j->serv, sizeof(j->serv), "%s", serv);
    }
    r->next = rs->pending;
    if (r->next)
        r->next->prev = r;
    rs->pending = r;
    loop->nresolving++;
#ifndef SB_NO_THREADS
    if (host) {
        rc = enqueue(j);
        if (rc) {
            unlink_pending(r);
            sb__log(loop, SB_LOG_ERROR, "resolving %s: no worker thread: %s", host,
                    sb_strerror(rc));
            goto fail;
        }
        return r;
    }
#else
    if (host)
        lookup(j); /* no threads: the blocking path */
#endif
    LOCK();
    job_done(j);
    UNLOCK();
    return r;
fail:
    if (j)
        free(j->addrs);
    free(j);
    free(r);
    if (err)
        *err = rc;
    return NULL;
}

sb_resolve *sb__resolve_start(sb_loop *loop, const char *host, const char *serv,
                              sb__resolved_fn fn, void *udata, int *err)
{
    sb_resolve *r = start(loop, host, serv, 0, NULL, err);

    if (r) {
        r->fn = fn;
        r->udata = udata;
        r->internal = 1;
    }
    return r;
}

sb_resolve *sb_resolve_start(sb_loop *loop, const char *addr, const sb_resolve_opts *opts,
                             sb_resolve_cb cb, void *udata, int *err)
{
    SB__CHECK(loop, magic, SB__K_LOOP);
    static const sb_resolve_opts defaults;
    char host[256];
    const char *port;
    sb_resolve *r;
    sb__addr a;
    int rc;

    if (!opts)
        opts = &defaults;
    if (!loop || !addr || !cb) {
        rc = -EINVAL;
        goto fail;
    }
    if (sb__addr_is_name(addr, host, sizeof(host), &port)) {
        r = start(loop, host, port, opts->passive, NULL, &rc);
    } else {
        rc = sb__addr_parse(addr, opts->passive, &a);
        if (rc == 0 && a.any && !opts->passive)
            rc = SB_EINVAL_ADDR; /* "*:port" is no destination */
        if (rc)
            goto fail;
        r = start(loop, NULL, NULL, opts->passive, &a, &rc);
    }
    if (!r)
        goto fail;
    r->cb = cb;
    r->udata = udata;
    if (opts->timeout_ms && sb__timer_arm(&r->timer, sb__clock_now(loop) + opts->timeout_ms, 0)) {
        sb__resolve_cancel(r);
        rc = -ENOMEM;
        goto fail;
    }
    return r;
fail:
    if (err)
        *err = rc;
    return NULL;
}

void sb__resolve_cancel(sb_resolve *r)
{
    job_cancel(r);
    resolve_release(r);
}

void sb_resolve_cancel(sb_resolve *r)
{
    SB__CHECK(r, h.magic, SB__K_RESOLVE);
    if (r)
        sb__resolve_cancel(r);
}

void sb__resolver_free(sb_loop *loop)
{
    sb__resolver *rs = loop->resolver;

    if (!rs)
        return;
    while (rs->pending)
        sb__resolve_cancel(rs->pending);
    sb_async_free(rs->async);
    free(rs);
    loop->resolver = NULL;
}
