/* The one test runner: every module's suite.  CK_FORK=no runs them
 * in-process (for valgrind). */
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(void)
{
    SRunner *sr;
    int failed;

#ifndef MSG_NOSIGNAL
    /* The tests' own sends cannot ask for no SIGPIPE (TU_NOSIGNAL is 0);
     * the tests of the library's promise set SIG_DFL themselves. */
    signal(SIGPIPE, SIG_IGN);
#endif

    sr = srunner_create(sb_buffer_suite());
    srunner_add_suite(sr, sb_fdset_suite());
    srunner_add_suite(sr, sb_timer_suite());
    srunner_add_suite(sr, sb_loop_suite());
    srunner_add_suite(sr, sb_listener_suite());
    srunner_add_suite(sr, sb_conn_suite());
    srunner_add_suite(sr, sb_echod_suite());
    srunner_add_suite(sr, sb_framing_suite());
    srunner_add_suite(sr, sb_chatd_suite());
    srunner_add_suite(sr, sb_httpd_suite());
    srunner_add_suite(sr, sb_kvd_suite());
    srunner_add_suite(sr, sb_shutdown_suite());
    srunner_add_suite(sr, sb_faults_suite());
    srunner_add_suite(sr, sb_client_suite());
    srunner_add_suite(sr, sb_echo_suite());
    srunner_add_suite(sr, sb_udp_suite());
    srunner_add_suite(sr, sb_debug_suite());
    srunner_add_suite(sr, sb_setup_faults_suite());
    srunner_add_suite(sr, sb_input_memory_suite());
    srunner_add_suite(sr, sb_backend_suite());
    srunner_add_suite(sr, sb_embed_suite());
    srunner_add_suite(sr, sb_embed_demos_suite());
    srunner_add_suite(sr, sb_flow_suite());
    srunner_add_suite(sr, sb_relay_suite());
    srunner_add_suite(sr, sb_proxyd_suite());
    srunner_add_suite(sr, sb_zerocopy_suite());
    srunner_add_suite(sr, sb_stream_suite());
    srunner_add_suite(sr, sb_os_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
