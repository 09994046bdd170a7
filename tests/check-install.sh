#!/bin/sh
# make install / uninstall into scratch DESTDIRs: the pkg-config file follows
# PREFIX (relative to ${prefix}) and is rewritten when PREFIX changes, a
# program builds and runs against the installed library (shared and
# static), and uninstall removes exactly what was installed.
#   sh tests/check-install.sh [make arguments such as BUILD=...]
set -eu
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sb-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "check-install: $*" >&2; exit 1; }

$MAKE -s "$@" install DESTDIR="$tmp/a" PREFIX=/opt/sb > /dev/null
pc=$tmp/a/opt/sb/lib/pkgconfig/switchboard.pc
[ -f "$pc" ] || fail "no $pc"
grep -qx 'prefix=/opt/sb' "$pc" || fail "prefix in $pc: $(grep prefix= "$pc")"
grep -qx 'libdir=${prefix}/lib' "$pc" || fail "libdir not relative: $(grep libdir= "$pc")"
grep -qx 'includedir=${prefix}/include' "$pc" || fail "includedir not relative"

# A second install with another PREFIX rewrites the .pc.
$MAKE -s "$@" install DESTDIR="$tmp/b" PREFIX=/usr/local LIBDIR=/usr/local/lib64 > /dev/null
grep -qx 'prefix=/usr/local' "$tmp/b/usr/local/lib64/pkgconfig/switchboard.pc" ||
    fail "the .pc was not rewritten for PREFIX=/usr/local"
grep -qx 'libdir=${prefix}/lib64' "$tmp/b/usr/local/lib64/pkgconfig/switchboard.pc" ||
    fail "LIBDIR=/usr/local/lib64 not in the .pc"

# Build the README's example against the installed copy, both ways.
awk '/^```c$/{on=1;next} /^```$/{if(on)exit} on' README.md > "$tmp/upcase.c"
export PKG_CONFIG_PATH="$tmp/a/opt/sb/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/a"
flags=$(pkg-config --cflags --libs switchboard)
${CC:-cc} -std=c11 "$tmp/upcase.c" $flags -o "$tmp/upcase-shared"
LD_LIBRARY_PATH="$tmp/a/opt/sb/lib" ldd "$tmp/upcase-shared" | grep -q "libswitchboard.so.0" ||
    fail "the shared build does not use the installed libswitchboard.so"
sflags=$(pkg-config --static --cflags switchboard)
slibdir=$(pkg-config --variable=libdir switchboard)
${CC:-cc} -std=c11 "$tmp/upcase.c" $sflags "$slibdir/libswitchboard.a" -o "$tmp/upcase-static"
if ldd "$tmp/upcase-static" 2>/dev/null | grep -q libswitchboard; then
    fail "the static build still needs libswitchboard.so"
fi

# uninstall removes exactly what install put there, not another version's files.
touch "$tmp/a/opt/sb/lib/libswitchboard.so.0.1.0" "$tmp/a/opt/sb/bin/not-ours"
$MAKE -s "$@" uninstall DESTDIR="$tmp/a" PREFIX=/opt/sb > /dev/null
left=$(cd "$tmp/a" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
[ "$left" = "./opt/sb/bin/not-ours ./opt/sb/lib/libswitchboard.so.0.1.0 " ] ||
    fail "after uninstall: $left"
echo "check-install: prefix relative and rewritten, shared and static builds link, uninstall exact"
