#!/bin/sh
# server_start.sh TSL-CONFORM TSL-ECHO: the server is started as
# docs/conformance.md says - in a process group of its own, with at most
# 128 open files, stdin from /dev/null and every signal at its default
# action, unblocked - whatever tsl-conform itself was started with: here
# SIGPIPE ignored and SIGUSR1 blocked (by Python's exec), and a pipe with
# bytes in it as stdin.  The server command writes what it got to files.
set -u
conform=$1 echo_bin=$2
py=$(command -v python3) || { echo "skipped: no python3"; exit 77; }
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
printf 'the runner input\n' | "$py" -c '
import os, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
os.execv(sys.argv[1], sys.argv[1:])' "$conform" --cases 1.1 --server \
    "sh -c 'cat >$dir/stdin; ulimit -n >$dir/nofile; grep -E \"^Sig(Blk|Ign)\" /proc/self/status >$dir/sig; echo \$\$ \$(cut -d\" \" -f5 /proc/\$\$/stat) >$dir/pgrp; exec $echo_bin --listen 127.0.0.1:{port}'" \
    >"$dir/out" 2>&1
rc=$?
fail=0
check() { # WHAT TEST...
    what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fail=1
    fi
}
check "tsl-conform passes 1.1 (status $rc)" grep -q '^points: 1 of 1$' "$dir/out"
check "stdin is /dev/null: read nothing ($(wc -c <"$dir/stdin" 2>/dev/null) bytes)" \
    test -f "$dir/stdin" -a ! -s "$dir/stdin"
check "at most 128 open files ($(cat "$dir/nofile" 2>/dev/null))" \
    [ "$(cat "$dir/nofile" 2>/dev/null)" = 128 ]
check "no signal blocked or ignored: $(tr '\n\t' '  ' <"$dir/sig" 2>/dev/null)" \
    [ "$(grep -c ':[[:space:]]*0000000000000000$' "$dir/sig" 2>/dev/null)" = 2 ]
check "a process group of its own (pid, pgrp: $(cat "$dir/pgrp" 2>/dev/null))" \
    awk '$1 != $2 { exit 1 } END { if (NR != 1) exit 1 }' "$dir/pgrp"
[ $fail -eq 0 ] || sed 's/^/  | /' "$dir/out"
exit $fail
