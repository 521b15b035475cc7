#!/bin/sh
# mistakes.sh CONFORM BROKEN SELECT DECLARE [DOC]
#
# Runs tsl-conform (CONFORM) against every mode of tsl-broken-echo
# (BROKEN) and against tsl-select-echo (SELECT), all with the declaration
# DECLARE (the acceptspin mode without a keepalive, which would end its
# busy loop by freeing files), and prints the table of classic mistakes of docs/grading.md:
# each mistake and the cases that failed.  With DOC, checks the table
# between the "mistakes: begin/end" markers of DOC instead: for each row,
# every case of its "cases that fail" column must have failed, and no
# case outside it and its "may also fail" column (the cases a bug fails
# only with some timings); so the documentation says what the suite does.
set -u
[ $# -ge 4 ] || { echo "usage: mistakes.sh CONFORM BROKEN SELECT DECLARE [DOC]" >&2; exit 2; }
conform=$1 broken=$2 select=$3 declare=$4 doc=${5:-}

row() { # mistake, server command [declaration, default DECLARE]
    failed=$("$conform" --server "$2" --declare "${3:-$declare}" --jobs 2 2>&1 |
        sed -n 's/^\([0-9][0-9.]*\) *FAIL [0-9]*\/[0-9]*.*/\1/p' |
        paste -sd, - | sed 's/,/, /g')
    printf '| %s | %s | |\n' "$1" "${failed:-none}"
}

table() {
    row "none (\`tsl-broken-echo correct\`)" "$broken correct {port} 500"
    row "one \`read()\` is taken as one message (\`oneread\`)" "$broken oneread {port} 500"
    row "endless loop on a zero length, the course's bug (\`zeroloop\`)" "$broken zeroloop {port} 500"
    row "a gone client is never closed (\`leak\`)" "$broken leak {port} 500"
    row "no keepalive although declared (\`noka\`)" "$broken noka {port} 500"
    row "the client just served is read again, blocking: the course's duplicate list entries (\`hol\`)" "$broken hol {port} 500"
    row "one receive buffer shared by every client, the course's static buffer (\`stale\`)" "$broken stale {port} 500"
    row "a short \`send()\` is not retried (\`shortsend\`)" "$broken shortsend {port} 500"
    row "SIGPIPE not ignored, \`send()\` without MSG_NOSIGNAL (\`sigpipe\`)" "$broken sigpipe {port} 500"
    row "\`accept()\` failing with EMFILE retried at once (\`acceptspin\`)" "$broken acceptspin {port}" /dev/null
    row "\`assert()\` on odd input (\`assert\`)" "$broken assert {port} 500"
    row "no SIGTERM handler (\`tsl-select-echo\`, otherwise correct)" "$select {port} 500"
}

if [ -z "$doc" ]; then
    echo "| mistake | cases that fail | may also fail |"
    echo "|---|---|---|"
    table
    exit 0
fi
want=$(mktemp) got=$(mktemp) || exit 2
trap 'rm -f "$want" "$got"' EXIT
sed -n '/<!-- mistakes: begin -->/,/<!-- mistakes: end -->/p' "$doc" |
    sed '1,3d;$d' >"$want"
table >"$got"
echo "observed:"
cat "$got"
# Rows by their mistake (column 2 of "| a | b | c |"); sets of case ids.
awk -F' [|] ?' '
    function set(s, a,   n, i, f) {
        delete a
        gsub(/^[| ]+|[| ]+$/, "", s)
        n = split(s, f, /, */)
        for (i = 1; i <= n; i++)
            if (f[i] != "" && f[i] != "none")
                a[f[i]] = 1
    }
    FNR == NR { seen[$1] = $2; next }
    {
        rows++
        if (!($1 in seen)) {
            printf "no observed row for: %s\n", $1; bad = 1; next
        }
        set($2, must); set($3, may); set(seen[$1], got)
        for (c in must)
            if (!(c in got)) {
                printf "%s: %s did not fail\n", $1, c; bad = 1
            }
        for (c in got)
            if (!(c in must) && !(c in may)) {
                printf "%s: %s failed, and the document does not say so\n",
                       $1, c
                bad = 1
            }
        done[$1] = 1
    }
    END {
        for (m in seen)
            if (!(m in done)) {
                printf "the document has no row for: %s\n", m; bad = 1
            }
        exit bad
    }' "$got" "$want" || {
    echo "mistakes.sh: $doc says otherwise"
    exit 1
}
