#!/bin/sh
# Check the manual pages in docs/man/ against mandoc and against the programs.
#
#   sh tests/man-check.sh [BUILD]    BUILD: the folder holding the programs
#                                    (default build; make check passes $(BUILD))
#
# The pages are not installed as they are: each carries the placeholder
# @VERSION@ (in .TH, and wherever the version is shown), which the build
# replaces with the version from the header's SB_VERSION_* lines when it
# writes build/man/*.1 (make man; make install puts those under
# $(MANDIR)/man1).  This script makes the same substitution before it lints,
# with $VERSION when set, else the header's version.
#
#   1. mandoc is installed when missing (tests/install-deps.sh mandoc:mandoc).
#   2. Every page docs/man/*.[13] must keep @VERSION@ in its .TH line and,
#      once @VERSION@ is substituted, pass `mandoc -T lint -W warning` with
#      no message at all: any warning or error fails, and is printed.
#   3. For each section-1 page NAME.1 whose program BUILD/NAME exists: the
#      long options that `NAME --help` prints (every --name in its output)
#      and those the page documents (the --name forms, written \-\-name, in
#      the tag lines of the .TP/.TQ items of its OPTIONS section) must be the
#      same; each option that one side has and the other lacks is named.
#      A page whose program is not in BUILD is linted only, and said so.
#   4. One summary line; the exit status is 0 only if everything passed.
set -u
LC_ALL=C
export LC_ALL

bin=${1:-build}
case $bin in
/*) ;;
*) bin=$PWD/$bin ;;
esac
if [ ! -d "$bin" ]; then
    echo "man-check: no folder $bin (build first, or name the build folder)" >&2
    exit 1
fi
cd "$(dirname "$0")/.." || exit 1
mandir=docs/man

sh tests/install-deps.sh mandoc:mandoc || {
    echo "man-check: mandoc is missing and could not be installed" >&2
    exit 1
}

if [ -z "${VERSION:-}" ]; then
    VERSION=
    for part in MAJOR MINOR PATCH; do
        n=$(sed -n "s/^#define SB_VERSION_$part \([0-9][0-9]*\)\$/\1/p" include/switchboard.h)
        VERSION=${VERSION:+$VERSION.}${n:-0}
    done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The long options (--name, one a line, sorted) in the OPTIONS section of
# page $1: the first line after each .TP or .TQ is the item's tag.
page_options() {
    awk '
        /^\.SH[ \t]/ {
            name = $0
            sub(/^\.SH[ \t]+/, "", name)
            gsub(/"/, "", name)
            sub(/[ \t]+$/, "", name)
            inopt = (name == "OPTIONS")
            tag = 0
            next
        }
        !inopt || /^\.\\"/ { next }
        /^\.(TP|TQ)([ \t]|$)/ { tag = 1; next }
        tag { print; tag = 0 }
    ' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\f\[[^]]*\]//g' -e 's/\\f(..//g' -e 's/\\f.//g' \
            -e 's/\\[&%]//g' |
        grep -o -e '--[A-Za-z0-9][A-Za-z0-9-]*' | sed 's/-*$//' | sort -u
}

# The long options in the text $1 --help prints.
help_options() {
    grep -o -e '--[A-Za-z0-9][A-Za-z0-9-]*' "$1" | sed 's/-*$//' | sort -u
}

fail=0
npages=0
nlint_bad=0
ncompared=0
nmatch=0
nskipped=0

for page in "$mandir"/*.[13]; do
    [ -e "$page" ] || continue
    npages=$((npages + 1))
    base=${page##*/}

    # 2. The placeholder, then the lint of the substituted page.
    if ! grep -q '^\.TH[[:space:]].*@VERSION@' "$page"; then
        echo "man-check: $page: the .TH line must carry @VERSION@ (the build substitutes it)"
        fail=1
    fi
    sed "s/@VERSION@/$VERSION/g" "$page" > "$tmp/$base"
    out=$(cd "$tmp" && mandoc -T lint -W warning "$base" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] || [ -n "$out" ]; then
        [ -n "$out" ] && printf '%s\n' "$out" | sed "s|$base:|$page:|"
        echo "man-check: $page: mandoc -T lint -W warning failed (status $rc)"
        nlint_bad=$((nlint_bad + 1))
        fail=1
    fi

    # 3. Section 1: the options of --help against those of the page.
    case $base in
    *.1) ;;
    *) continue ;;
    esac
    prog=${base%.1}
    if [ ! -x "$bin/$prog" ]; then
        echo "man-check: $page: no $bin/$prog, its --help not compared"
        nskipped=$((nskipped + 1))
        continue
    fi
    ncompared=$((ncompared + 1))
    if ! "$bin/$prog" --help > "$tmp/$prog.help" 2> "$tmp/$prog.err"; then
        echo "man-check: $prog: '$prog --help' failed:"
        cat "$tmp/$prog.err"
        fail=1
        continue
    fi
    help_options "$tmp/$prog.help" > "$tmp/$prog.help-opts"
    page_options "$page" > "$tmp/$prog.page-opts"
    if [ ! -s "$tmp/$prog.help-opts" ]; then
        echo "man-check: $prog: '$prog --help' lists no long option"
        fail=1
        continue
    fi
    mismatch=0
    for opt in $(comm -23 "$tmp/$prog.help-opts" "$tmp/$prog.page-opts"); do
        echo "man-check: $prog: $opt is in '$prog --help' but not in the OPTIONS of $page"
        mismatch=1
    done
    for opt in $(comm -13 "$tmp/$prog.help-opts" "$tmp/$prog.page-opts"); do
        echo "man-check: $prog: $opt is in the OPTIONS of $page but not in '$prog --help'"
        mismatch=1
    done
    if [ $mismatch -eq 0 ]; then
        nmatch=$((nmatch + 1))
    else
        fail=1
    fi
done

if [ $npages -eq 0 ]; then
    echo "man-check: no page in $mandir/ (*.1, *.3)"
    exit 1
fi
summary="$npages pages linted"
[ $nlint_bad -gt 0 ] && summary="$summary ($nlint_bad with messages)"
if [ $nmatch -eq $ncompared ]; then
    summary="$summary, $nmatch --help lists match"
else
    summary="$summary, $nmatch of $ncompared --help lists match"
fi
[ $nskipped -gt 0 ] && summary="$summary ($nskipped programs not in $bin)"
if [ $fail -ne 0 ]; then
    echo "man-check: FAILED: $summary"
    exit 1
fi
echo "man-check: $summary"
exit 0
