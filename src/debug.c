/*
 * Debug mode (make DEBUG=1): handles are checked at every public entry and
 * quarantined when freed, so misuse is reported instead of corrupting
 * memory.  See SB_DEBUG in internal.h.  Nothing here is built otherwise.
 */
#include "internal.h"

#ifdef SB_DEBUG

#include <stdio.h>
#include <stdlib.h>

static struct {
    void *obj;
    sb_loop *loop;
    int kind;
} quarantine[SB__QUARANTINE];
static size_t q_next;      /* the slot to fill next (the oldest entry) */
static sb_loop *live_loops; /* to know whether a log hook may be called */

void sb__debug_loop_alive(sb_loop *loop, int alive)
{
    sb_loop **pp;

    if (alive) {
        loop->debug_next = live_loops;
        live_loops = loop;
        return;
    }
    for (pp = &live_loops; *pp; pp = &(*pp)->debug_next) {
        if (*pp == loop) {
            *pp = loop->debug_next;
            return;
        }
    }
}

void sb__retire(void *obj, uint32_t *magic, int kind, sb_loop *loop)
{
    if (!obj)
        return;
    *magic = SB__DEAD(kind);
    free(quarantine[q_next].obj); /* the oldest goes for good */
    quarantine[q_next].obj = obj;
    quarantine[q_next].loop = loop;
    quarantine[q_next].kind = kind;
    q_next = (q_next + 1) % SB__QUARANTINE;
}

static const char *kind_name(int kind)
{
    static const char *const names[] = {"?",     "loop",        "connection",     "listener",
                                        "timer", "io watcher", "signal watcher", "udp endpoint"};
    return kind >= SB__K_LOOP && kind <= SB__K_UDP ? names[kind] : names[0];
}

void sb__misuse(const void *obj, uint32_t magic, int kind, const char *fn)
{
    sb_loop *loop = NULL, *l;
    char msg[256];
    size_t i;

    for (i = 0; i < SB__QUARANTINE; i++)
        if (quarantine[i].obj == obj)
            loop = quarantine[i].loop;
    if (magic == SB__DEAD(kind))
        snprintf(msg, sizeof(msg),
                 "misuse: %s(%p): this %s was already %s (use after free, or a second free)",
                 fn, obj, kind_name(kind),
                 kind == SB__K_CONN ? "closed: its on_close has returned" : "closed or freed");
    else if ((magic & 0xffff0000u) == 0xdead0000u || (magic & 0xffff0000u) == 0x5b5b0000u)
        snprintf(msg, sizeof(msg), "misuse: %s(%p): given a %s%s where %s %s is expected", fn,
                 obj, (magic & 0xffff0000u) == 0xdead0000u ? "dead " : "",
                 kind_name((int)(magic & 0xffffu)),
                 kind == SB__K_IO || kind == SB__K_UDP ? "an" : "a", kind_name(kind));
    else
        snprintf(msg, sizeof(msg), "misuse: %s(%p): not a %s made by this library", fn, obj,
                 kind_name(kind));
    /* The log hook of the loop the handle belonged to, if it still lives. */
    for (l = live_loops; l && loop; l = l->debug_next) {
        if (l == loop) {
            if (l->log)
                l->log(SB_LOG_ERROR, msg, l->log_udata);
            break;
        }
    }
    fprintf(stderr, "switchboard: %s\n", msg);
    abort();
}

#else
typedef int sb__debug_unused; /* ISO C wants a declaration in every file */
#endif
