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
#      A link page is the exception: a file holding the one line
#      `.so manS/PAGE.S` (the usual way to give a page more names; man-db
#      and mandoc follow it) is not linted, but PAGE.S must be a page in
#      docs/man/, not another link.
#   3. For each section-1 page NAME.1 whose program BUILD/NAME exists: the
#      long options that `NAME --help` prints (every --name in its output)
#      and those the page documents (the --name forms, written \-\-name, in
#      the tag lines of the .TP/.TQ items of its OPTIONS section) must be the
#      same; each option that one side has and the other lacks is named.
#      A page whose program is not in BUILD is linted only, and said so.
#   4. Section 3: every name the public header declares, that is every
#      function marked SB_API (taken as tests/check-exports.sh takes them:
#      `${CC:-cc} -E -P -DSB_API=SB_API_MARK` and the marker) and every
#      `static inline` sb_ function, must be reachable as `man NAME`:
#      docs/man/NAME.3 is a page or a link to one, and the NAME section of
#      that page lists NAME.  Each name that is not is named.
#   5. One summary line; the exit status is 0 only if everything passed.
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

# The target PAGE.S of a link page $1 (one line `.so manS/PAGE.S`), printed;
# status 1 when $1 is no link page, 2 when it starts with .so but is not
# exactly that one line.
link_target() {
    head -n 1 "$1" | grep -q '^\.so[[:space:]]' || return 1
    [ "$(wc -l < "$1")" -eq 1 ] || return 2
    sed -n 's|^\.so man\([1-9]\)/\([A-Za-z0-9_.+-]*\.\1\)$|\2|p' "$1" | grep . || return 2
}

# The names in the NAME section of page $1, one a line: the comma-separated
# list before the \- of its first lines.
page_names() {
    awk '
        /^\.SH[ \t]/ { if (in_name) exit; in_name = ($2 == "NAME"); next }
        in_name && !/^\.\\"/ { text = text " " $0 }
        END {
            sub(/\\-.*/, "", text)
            n = split(text, parts, ",")
            for (i = 1; i <= n; i++) {
                gsub(/^[ \t]+|[ \t]+$/, "", parts[i])
                if (parts[i] != "")
                    print parts[i]
            }
        }
    ' "$1"
}

fail=0
npages=0
nlinks=0
nlint_bad=0
ncompared=0
nmatch=0
nskipped=0

for page in "$mandir"/*.[13]; do
    [ -e "$page" ] || continue
    base=${page##*/}

    # A link page: only its target is checked.
    target=$(link_target "$page")
    case $? in
    0)
        nlinks=$((nlinks + 1))
        if [ ! -f "$mandir/$target" ]; then
            echo "man-check: $page: links to $target, which is not a page in $mandir/"
            fail=1
        elif link_target "$mandir/$target" > /dev/null; then
            echo "man-check: $page: links to $target, which is itself a link"
            fail=1
        fi
        continue
        ;;
    2)
        echo "man-check: $page: a link page must hold only the line .so manS/PAGE.S"
        fail=1
        continue
        ;;
    esac
    npages=$((npages + 1))

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

# 4. Every name of the headers reachable as `man NAME` (each with its
# export macro).
: > "$tmp/names"
for hm in include/switchboard.h:SB_API include/switchboard_tls.h:SB_TLS_API; do
    header=${hm%%:*}
    macro=${hm#*:}
    if ! ${CC:-cc} -E -P -D"$macro"=SB_API_MARK -Iinclude -x c "$header" > "$tmp/header.i" 2> "$tmp/header.err"; then
        cat "$tmp/header.err"
        echo "man-check: ${CC:-cc} -E could not preprocess $header"
        exit 1
    fi
    tr '\n' ' ' < "$tmp/header.i" > "$tmp/header.line"
    {
        grep -o 'SB_API_MARK [^;(]*(' "$tmp/header.line"
        grep -o 'static inline [^;(]*(' "$tmp/header.line"
    } | sed 's/.*[ *]\([A-Za-z_][A-Za-z0-9_]*\) *($/\1/' | grep '^sb_' >> "$tmp/names" || true
done
sort -u "$tmp/names" > "$tmp/names.s" && mv "$tmp/names.s" "$tmp/names"
header="include/switchboard.h or include/switchboard_tls.h"
nnames=$(wc -l < "$tmp/names")
if [ "$nnames" -eq 0 ]; then
    echo "man-check: found no function in $header (SB_API_MARK, static inline)"
    exit 1
fi
ncovered=0
while read -r name; do
    file=$mandir/$name.3
    if [ ! -f "$file" ]; then
        echo "man-check: $name (declared in $header) has no $file (a page, or a link .so man3/PAGE.3)"
        continue
    fi
    if target=$(link_target "$file"); then
        file=$mandir/$target
        # A link to no page, or to another link: named above.
        [ -f "$file" ] && ! link_target "$file" > /dev/null || continue
    elif [ $? -eq 2 ]; then
        continue # a malformed link page: named above
    fi
    if ! page_names "$file" | grep -qx "$name"; then
        echo "man-check: $name: $file does not list it in its NAME section"
        continue
    fi
    ncovered=$((ncovered + 1))
done < "$tmp/names"
[ "$ncovered" -eq "$nnames" ] || fail=1

summary="$npages pages linted"
[ $nlint_bad -gt 0 ] && summary="$summary ($nlint_bad with messages)"
if [ $nmatch -eq $ncompared ]; then
    summary="$summary, $nmatch --help lists match"
else
    summary="$summary, $nmatch of $ncompared --help lists match"
fi
[ $nskipped -gt 0 ] && summary="$summary ($nskipped programs not in $bin)"
if [ "$ncovered" -eq "$nnames" ]; then
    summary="$summary, $nnames section-3 names covered"
else
    summary="$summary, $ncovered of $nnames section-3 names covered"
fi
summary="$summary ($nlinks .so links)"
if [ $fail -ne 0 ]; then
    echo "man-check: FAILED: $summary"
    exit 1
fi
echo "man-check: $summary"
exit 0
