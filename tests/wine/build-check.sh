#!/bin/sh
# Check (libcheck) cross-built for mingw-w64 from Debian's source package,
# installed into DEST (make TARGET=mingw: $(BUILD)/check), once: a second
# run finds DEST/lib/libcheck.a and does nothing.
#
#   sh tests/wine/build-check.sh DEST
#
# The source comes from the same archive as the machine's packages: a
# deb-src entry is added beside the deb ones when there is none (Debian's
# deb822 .sources, else sources.list), then `apt-get source check`.  CMake
# builds it with the mingw-w64 compiler; Check has no fork() on Windows,
# so its suites run with CK_FORK=no there.
set -eu
dest=${1:?usage: build-check.sh DEST}
[ -f "$dest/lib/libcheck.a" ] && exit 0
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
MINGW=${MINGW:-x86_64-w64-mingw32}
sh "$(dirname "$0")/../install-deps.sh" cmake:cmake dpkg-source:dpkg-dev "$MINGW-gcc:gcc-mingw-w64-x86-64"
[ "$(id -u)" -eq 0 ] && SUDO= || SUDO=sudo

if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
        for f in /etc/apt/sources.list.d/*.sources; do
            sed 's/^Types:.*/Types: deb-src/' "$f"
            echo
        done > /tmp/sb-deb-src.sources.$$
        $SUDO mv /tmp/sb-deb-src.sources.$$ /etc/apt/sources.list.d/sb-deb-src.sources
    else
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /tmp/sb-deb-src.list.$$
        $SUDO mv /tmp/sb-deb-src.list.$$ /etc/apt/sources.list.d/sb-deb-src.list
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi

work=$dest.src
rm -rf "$work"
mkdir -p "$work"
(cd "$work" && apt-get source -qq --download-only check >/dev/null 2>&1 || \
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get source -qq --download-only check; })
(cd "$work" && dpkg-source -x --no-check ./*.dsc src >/dev/null)
src=$(cd "$work/src" && pwd)
mkdir -p "$work/build"
cd "$work/build"
cmake -S "$src" -B . -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_C_COMPILER="$MINGW-gcc" \
    -DCMAKE_RC_COMPILER="$MINGW-windres" -DCMAKE_FIND_ROOT_PATH=/usr/$MINGW \
    -DCMAKE_INSTALL_PREFIX="$dest" -DCMAKE_BUILD_TYPE=Release \
    -DCHECK_ENABLE_TESTS=OFF -DBUILD_TESTING=OFF -DENABLE_MEMORY_LEAKING_TESTS=OFF \
    -DCHECK_ENABLE_SUBUNIT=OFF -DHAVE_SUBUNIT=0 -DBUILD_SHARED_LIBS=OFF >cmake.log 2>&1 ||
    { cat cmake.log; exit 1; }
cmake --build . -j4 >build.log 2>&1 || { tail -40 build.log; exit 1; }
cmake --install . >install.log 2>&1 || { cat install.log; exit 1; }
[ -f "$dest/lib/libcheck.a" ] || { echo "build-check: no libcheck.a in $dest/lib" >&2; ls -R "$dest" >&2; exit 1; }
echo "build-check: Check for $MINGW in $dest"
