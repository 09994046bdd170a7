#!/bin/sh
# Make sure what the build's test targets need is installed.
#
#   sh tests/install-deps.sh            what `make check` needs: Check and
#                                       pkg-config, and the real clients the
#                                       end-to-end tests drive (curl, wrk,
#                                       redis-cli, redis-benchmark) and
#                                       mandoc for the man-page lint
#   sh tests/install-deps.sh CMD:PKG... these commands, from these packages;
#                                       a CMD that starts with '/' is a file
#                                       path (a header, /usr/sbin/nginx) that
#                                       must exist instead of a command
#
# On Debian/Ubuntu missing packages are installed through apt-get (with sudo
# when not root); elsewhere this stops with the names of the packages.
set -e
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
missing=
if [ $# -eq 0 ]; then
    if ! command -v "$PKG_CONFIG" >/dev/null 2>&1 || ! "$PKG_CONFIG" --exists check; then
        missing="$missing check pkg-config"
    fi
    set -- curl:curl wrk:wrk redis-cli:redis-tools redis-benchmark:redis-tools mandoc:mandoc
fi
for need in "$@"; do
    cmd=${need%%:*}
    pkg=${need#*:}
    case $cmd in
    /*) [ -e "$cmd" ] && continue ;;
    *) command -v "$cmd" >/dev/null 2>&1 && continue ;;
    esac
    case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
done
[ -z "$missing" ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "switchboard: missing:$missing; run 'apt-get install$missing' as root" >&2
        exit 1
    fi
    echo "switchboard: installing$missing (apt-get)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    # shellcheck disable=SC2086
    if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2; then
        exit 0
    fi
fi
echo "switchboard: please install:$missing (Check is 'check-devel' on Fedora/RHEL)" >&2
exit 1
