#!/bin/sh
# The markdown manuals (the web-readable form) kept true to the programs,
# as tests/man-check.sh keeps the man pages: every usage block copied into
# a document must be the program's --help, to the byte, and every option
# table must name exactly the program's long options.
#   sh tests/doc-check.sh [BUILD]
set -eu
build=${1:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sb-doc-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0 checked=0
fail() { echo "doc-check: $*" >&2; failed=1; }

help_options() { "$build/$1" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }

# A ```-fenced block starting with "usage: PROG" in FILE must be PROG --help.
usage_block() { # PROG FILE
    awk -v prog="$1" '
        /^```/ { if (on) exit; fence = 1; next }
        fence && !on && $0 ~ "^usage: " prog "( |$)" { on = 1 }
        { fence = 0 }
        on { print }' "$2" > "$tmp/doc"
    "$build/$1" --help > "$tmp/help"
    if [ ! -s "$tmp/doc" ]; then
        fail "$2 has no usage block for $1"
    elif ! cmp -s "$tmp/doc" "$tmp/help"; then
        fail "the usage block for $1 in $2 differs from '$1 --help':"
        diff "$tmp/help" "$tmp/doc" | sed 's/^/    /' >&2 || true
    fi
    checked=$((checked + 1))
}

# The option rows of one section of FILE (from a line matching START to the
# next heading of the same level) must list exactly PROG's long options.
option_table() { # PROG FILE START-REGEX HEADING-PREFIX
    awk -v start="$3" -v level="$4" '
        $0 ~ start { on = 1; next }
        on && index($0, level) == 1 { exit }
        on && (/^\| `-/ || /^`-/) { print }' "$2" |
        grep -o -- '--[a-z][a-z0-9-]*' | sort -u > "$tmp/doc" || true
    help_options "$1" > "$tmp/help"
    if ! cmp -s "$tmp/doc" "$tmp/help"; then
        comm -23 "$tmp/help" "$tmp/doc" |
            sed "s|^|doc-check: $1: in --help, not in $2: |" >&2
        comm -13 "$tmp/help" "$tmp/doc" |
            sed "s|^|doc-check: $1: in $2, not in --help: |" >&2
        failed=1
    fi
    checked=$((checked + 1))
}

usage_block sb-echod README.md
usage_block sb-echo docs/client.md
option_table sb-echod docs/tutorial.md '^## sb-echod\(1\)' '## '
option_table sb-chatd docs/tutorial.md '^## sb-chatd\(1\)' '## '
option_table sb-httpd docs/sb-httpd.md '^### OPTIONS' '### '
option_table sb-kvd docs/sb-kvd.md '^## OPTIONS' '## '
option_table sb-proxyd docs/proxy.md '^## Run it' '## '

if [ "$failed" -ne 0 ]; then
    echo "doc-check: FAILED ($checked manuals checked)" >&2
    exit 1
fi
echo "doc-check: $checked markdown manuals match --help"
