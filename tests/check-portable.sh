#!/bin/sh
# make PORTABLE=1 check: the library built with -DSB_PORTABLE must not call
# a single Linux-only function the OS seam (src/os.h) has a fallback for.
# Usage: check-portable.sh libswitchboard.a
set -eu
lib=$1
bad=$(nm -u "$lib" | awk '{ print $NF }' | sort -u |
      grep -E '^(accept4|pipe2|dup3|sendfile|sendfile64|epoll_[a-z0-9_]*|initgroups)$' || true)
if [ -n "$bad" ]; then
    echo "check-portable: $lib (PORTABLE) still calls:" $bad >&2
    exit 1
fi
echo "check-portable: $lib calls none of accept4, pipe2, dup3, sendfile, epoll_*, initgroups"
