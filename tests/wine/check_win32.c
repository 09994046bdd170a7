/*
 * The Windows test runner (make TARGET=mingw check, under wine): the Check
 * suites of tests/ that apply on Windows, in-process (Check has no fork()
 * there: CK_FORK=no), linked with the fault-injection build of the library
 * and tests/wine/testutil_win32.c.  The suites that do not apply are named
 * below with the reason; single tests that do not apply skip themselves
 * (TU_WIN32_SKIP, win32_shim.h).  The demos' end-to-end cases are
 * tests/wine/run.sh and the Linux suites echod, echo, chatd and shutdown
 * run against the .exe demos (tests/wine/run-suites.sh).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const skipped[][2] = {
    {"fdset", "POSIX bitsets of fd_set words (Windows: fdset_win32.c, a SOCKET list)"},
    {"zerocopy", "its SIGPIPE checks (sigpending, sigset_t) and pipes are POSIX"},
    {"shutdown", "spawns the daemons with fork()/exec(): the Linux runner runs it against "
                 "sb-echod.exe and sb-chatd.exe under wine instead (tests/wine/run-suites.sh)"},
    {"echod, echo, chatd",
     "spawn the demos with fork()/exec(): the Linux runner runs them against sb-echod.exe, "
     "sb-echo.exe and sb-chatd.exe under wine instead (tests/wine/run-suites.sh)"},
    {"httpd, kvd, proxyd, embed_demos",
     "spawn the demos with fork()/exec(); sb-httpd, sb-kvd, sb-proxyd and the embedding "
     "demos are POSIX-only"},
    {"debug", "its tests exist in a DEBUG=1 build only, and expect SIGABRT in a forked child "
              "(no fork here: CK_FORK=no)"},
    {"backend, embed", "poll/epoll and sb_loop_fdset's POSIX fd_set are POSIX-only"},
    {"os", "checks the POSIX fallbacks of os_posix.c"},
};

int main(void)
{
    SRunner *sr;
    WSADATA wd;
    int failed;
    size_t i;

    /* Winsock for the tests' own sockets, also those made before a loop
     * (the library's WSAStartup is counted by its loops: gone with the
     * last one). */
    if (WSAStartup(MAKEWORD(2, 2), &wd) != 0)
        return EXIT_FAILURE;

    for (i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
        printf("skipped on Windows: %s: %s\n", skipped[i][0], skipped[i][1]);
    fflush(stdout);
    sr = srunner_create(sb_buffer_suite());
    srunner_add_suite(sr, sb_framing_suite());
    srunner_add_suite(sr, sb_timer_suite());
    srunner_add_suite(sr, sb_loop_suite());
    srunner_add_suite(sr, sb_flow_suite());
    srunner_add_suite(sr, sb_relay_suite());
    srunner_add_suite(sr, sb_listener_suite());
    srunner_add_suite(sr, sb_conn_suite());
    srunner_add_suite(sr, sb_stream_suite());
    srunner_add_suite(sr, sb_client_suite());
    srunner_add_suite(sr, sb_udp_suite());
    srunner_add_suite(sr, sb_faults_suite());
    srunner_add_suite(sr, sb_setup_faults_suite());
    srunner_add_suite(sr, sb_input_memory_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
