/* <sys/resource.h> for the Windows test build: no descriptor limit for
 * sockets there, so the limit is infinite and setting it does nothing (the
 * tests of EMFILE skip on Windows). */
#ifndef SB_TESTS_WIN32_RESOURCE_H
#define SB_TESTS_WIN32_RESOURCE_H
#include <errno.h>
typedef unsigned long long rlim_t;
struct rlimit {
    rlim_t rlim_cur, rlim_max;
};
#define RLIMIT_NOFILE 7
#define RLIM_INFINITY (~(rlim_t)0)
static inline int getrlimit(int r, struct rlimit *l)
{
    (void)r;
    l->rlim_cur = l->rlim_max = RLIM_INFINITY;
    return 0;
}
static inline int setrlimit(int r, const struct rlimit *l)
{
    (void)r;
    (void)l;
    return 0;
}
#endif
