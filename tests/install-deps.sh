#!/bin/sh
# Make sure Check (libcheck) and pkg-config are there for `make check`.
# On Debian/Ubuntu they are installed through apt-get (with sudo when not
# root); elsewhere this stops with the name of the package to install.
set -e
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
if command -v "$PKG_CONFIG" >/dev/null 2>&1 && "$PKG_CONFIG" --exists check; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "switchboard: the tests need Check: run 'apt-get install check pkg-config' as root" >&2
        exit 1
    fi
    echo "switchboard: installing Check (apt-get install check pkg-config)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq check pkg-config >&2
    if "$PKG_CONFIG" --exists check; then
        exit 0
    fi
fi
echo "switchboard: the tests need Check (libcheck) and pkg-config; install the package" >&2
echo "  'check' (Debian/Ubuntu/Arch/Homebrew) or 'check-devel' (Fedora/RHEL)." >&2
exit 1
