#!/bin/sh
# Make sure what `make check` needs is installed: Check (libcheck) and
# pkg-config to build the suites, and the real clients the end-to-end tests
# drive (curl, wrk, redis-cli, redis-benchmark).  On Debian/Ubuntu the
# missing ones are installed through apt-get (with sudo when not root);
# elsewhere this stops with the names of the packages to install.
set -e
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
missing=
if ! command -v "$PKG_CONFIG" >/dev/null 2>&1 || ! "$PKG_CONFIG" --exists check; then
    missing="$missing check pkg-config"
fi
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then
    missing="$missing redis-tools"
fi
[ -z "$missing" ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "switchboard: the tests need:$missing; run 'apt-get install$missing' as root" >&2
        exit 1
    fi
    echo "switchboard: installing test dependencies (apt-get install$missing)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
    if "$PKG_CONFIG" --exists check; then
        exit 0
    fi
fi
echo "switchboard: the tests need Check (libcheck), pkg-config, curl, wrk and redis-tools;" >&2
echo "  install:$missing (Check is 'check-devel' on Fedora/RHEL)." >&2
exit 1
