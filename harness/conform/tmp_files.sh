#!/bin/sh
# tmp_files.sh TSL-CONFORM TSL-ECHO TSL-PROXY DECLARE: tsl-conform makes
# its temporary files (the server's output, tsl-proxy's log) in $TMPDIR,
# and a run that passes leaves none behind.  The server started lists
# the directory, so the test sees that the files were made there.
set -u
conform=$1 echo_bin=$2 proxy=$3 declare=$4
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir" "$dir.seen" "$dir.out"' EXIT
TMPDIR=$dir "$conform" \
    --server "sh -c 'ls \"\$TMPDIR\" >$dir.seen; exec $echo_bin --listen 127.0.0.1:{port} --ka-hold-ms 500'" \
    --declare "$declare" --proxy "$proxy" --cases 9.2 >"$dir.out" 2>&1
rc=$?
cat "$dir.out"
fail=0
if [ "$rc" -ne 0 ] || ! grep -q '^points: 2 of 2$' "$dir.out"; then
    echo "FAIL: tsl-conform exited with status $rc, not 0 with 2 of 2 points"
    fail=1
fi
if ! grep -q '^tsl-conform-' "$dir.seen" 2>/dev/null; then
    echo "FAIL: no tsl-conform-* file in \$TMPDIR while the server ran"
    fail=1
fi
left=$(ls -A "$dir")
if [ -n "$left" ]; then
    echo "FAIL: left in \$TMPDIR after the run: $left"
    fail=1
fi
[ $fail -eq 0 ] && echo "ok: temporary files in \$TMPDIR, none left"
exit $fail
