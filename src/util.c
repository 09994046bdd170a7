/*
 * Small helpers for daemons built on the library: the counters as text, and
 * dropping root after the listening sockets are bound.
 */
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

int sb_loop_stats_format(const sb_loop_stats *st, char *buf, size_t len)
{
    return snprintf(buf, len,
                    "conns=%llu accepted=%llu rejected=%llu emfile=%llu accept_calls=%llu "
                    "bytes_in=%llu bytes_out=%llu timeouts=%llu closes=%llu close_errors=%llu "
                    "close_reset=%llu close_aborted=%llu close_frame=%llu "
                    "iterations=%llu timers_fired=%llu",
                    (unsigned long long)st->conns, (unsigned long long)st->accepted,
                    (unsigned long long)st->rejected, (unsigned long long)st->emfile,
                    (unsigned long long)st->accept_calls, (unsigned long long)st->bytes_in,
                    (unsigned long long)st->bytes_out, (unsigned long long)st->timeouts,
                    (unsigned long long)st->closes, (unsigned long long)st->close_errors,
                    (unsigned long long)st->close_reset, (unsigned long long)st->close_aborted,
                    (unsigned long long)st->close_frame,
                    (unsigned long long)st->iterations, (unsigned long long)st->timers_fired);
}

int sb_drop_privileges(const char *user)
{
#ifdef _WIN32
    (void)user;
    return -ENOSYS; /* no uid to switch to (docs/api.md) */
#else
    struct passwd *pw;

    if (!user || !*user)
        return -EINVAL;
    errno = 0;
    pw = getpwnam(user);
    if (!pw)
        return errno ? -errno : -ENOENT;
    if (pw->pw_uid == 0)
        return -EPERM;
    /* Groups first: once the uid is dropped they can no longer change. */
    if (sb__os_initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0)
        return -errno;
    /* Make sure it cannot be undone. */
    if (setuid(0) == 0)
        return -EPERM;
    return 0;
#endif
}
