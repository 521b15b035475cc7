#!/bin/sh
# expect.sh REGEX [REGEX...] -- COMMAND...: runs COMMAND (a tsl-conform
# run), shows its output, and succeeds only if it exits 0 and every
# extended REGEX matches a line of its output, and no line matches a
# REGEX written !REGEX.  For the ctest entries that check what a report
# says, not only which cases failed.
set -u
pats=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    pats="$pats$1
"
    shift
done
[ $# -gt 1 ] || { echo "usage: expect.sh REGEX... -- COMMAND..." >&2; exit 2; }
shift
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
fail=0
if [ "$rc" -ne 0 ]; then
    echo "expect.sh: the command exited with status $rc"
    fail=1
fi
printf '%s' "$pats" | while IFS= read -r p; do
    case $p in
    !*)
        if grep -Eq -- "${p#!}" "$out"; then
            echo "expect.sh: a line of the output matches: ${p#!}"
            exit 1
        fi ;;
    *)
        if ! grep -Eq -- "$p" "$out"; then
            echo "expect.sh: no line of the output matches: $p"
            exit 1
        fi ;;
    esac
done || fail=1
exit $fail
