/*
 * Forced into the Windows runner's test files (mk/mingw.mk: -include):
 * their fds are the library's numbers (os.h's seam), so sb_io_new, which
 * takes a SOCKET there, is given the SOCKET behind the number.
 */
#ifndef SB_TESTS_WIN32_SHIM_H
#define SB_TESTS_WIN32_SHIM_H
#include "switchboard.h"
sb_io *tu_w32_io_new(sb_loop *loop, int fd, sb_io_cb cb, void *udata, int *err);
#define sb_io_new(loop, fd, cb, udata, err) tu_w32_io_new((loop), (fd), (cb), (udata), (err))
#endif
