#!/bin/sh
# The shared library must export exactly the functions the public header
# declares with SB_API: nothing internal (sb__*), nothing missing.
#   sh tests/check-exports.sh LIB HEADER OBJECT...
# The header's export macro is SB_API, or the one named by $EXPORT_MACRO
# (SB_TLS_API for switchboard_tls.h).
# Only symbols the library's own objects define count: an instrumented
# build (gcov, the sanitizers) links runtime symbols of its own into LIB.
set -eu
lib=$1
header=$2
shift 2
tmp=${TMPDIR:-/tmp}/sb-exports.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# The header preprocessed with SB_API as a marker (comments gone, lines
# joined): the name before the first '(' of every marked declaration.
${CC:-cc} -E -P -D"${EXPORT_MACRO:-SB_API}"=SB_API_MARK -x c "$header" | tr '\n' ' ' | grep -o 'SB_API_MARK [^;(]*(' |
    sed 's/.*[ *]\([A-Za-z_][A-Za-z0-9_]*\) *($/\1/' | sort -u > "$tmp.declared"
# The global symbols the library's objects define...
nm --defined-only -g "$@" | awk 'NF >= 3 { print $3 }' | sort -u > "$tmp.ours"
# ...and those of them the shared library exports.
nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sort -u |
    comm -12 - "$tmp.ours" > "$tmp.exported"

if ! cmp -s "$tmp.declared" "$tmp.exported"; then
    echo "check-exports: $lib does not export exactly what $header declares:" >&2
    comm -13 "$tmp.declared" "$tmp.exported" | sed 's/^/  exported, not declared: /' >&2
    comm -23 "$tmp.declared" "$tmp.exported" | sed 's/^/  declared, not exported: /' >&2
    exit 1
fi
echo "check-exports: $(wc -l < "$tmp.exported") symbols exported, all declared in $header"
