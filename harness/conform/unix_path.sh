#!/bin/sh
# unix_path.sh TSL-CONFORM TSL-ECHO: what tsl-conform --unix does with a
# socket already at its path (docs/conformance.md).  One that nobody
# listens on, left by a server killed before it could remove it, is
# removed and the run goes on; one that another program listens on is
# left alone, that program keeps it, and the case fails saying so, also
# when tsl-conform runs with its standard input closed.
set -u
conform=$1 echo_bin=$2
dir=$(mktemp -d) || exit 2
sock=$dir/s.sock
other=
trap '[ -n "$other" ] && kill -9 "$other" 2>/dev/null; rm -rf "$dir"' EXIT
fail=0

# listener: starts tsl-echo on $sock in the background ($other) and waits
# until it says it listens (10 s at most).
listener() {
    "$echo_bin" --listen "unix:$sock" >"$dir/other.out" 2>&1 &
    other=$!
    i=0
    until grep -q '^tsl-echo: listening on' "$dir/other.out"; do
        i=$((i + 1))
        if [ $i -gt 500 ] || ! kill -0 "$other" 2>/dev/null; then
            echo "FAIL: tsl-echo did not start listening on $sock:"
            sed 's/^/  | /' "$dir/other.out"
            exit 1
        fi
        sleep 0.02
    done
}
run() { # the run against a fresh tsl-echo on the same path, case 1.1
    "$conform" --server "$echo_bin --listen unix:$sock" --unix "$sock" \
        --cases 1.1 "$@" >"$dir/run.out" 2>&1
}
check() { # WHAT STATUS REGEX: the last run's status and a line of it
    if [ "$rc" -ne "$2" ] || ! grep -Eq -- "$3" "$dir/run.out"; then
        echo "FAIL: $1: status $rc, wanted $2 and /$3/:"
        sed 's/^/  | /' "$dir/run.out"
        fail=1
    else
        echo "ok: $1"
    fi
}

# A stale socket: its server was killed (SIGKILL removes nothing).
listener
kill -9 "$other"
wait "$other" 2>/dev/null
other=
[ -S "$sock" ] || { echo "FAIL: no socket left at $sock after SIGKILL"; exit 1; }
run
rc=$?
check "a socket nobody listens on is replaced" 0 '^points: 1 of 1$'

# Another program's socket: refused before any server starts, and kept.
rm -f "$sock"
listener
run --expect-fail-only 1.1
rc=$?
check "a socket another program listens on is refused" 0 \
    "^1\\.1 +FAIL .*something already listens at unix:$sock before the server starts"
if [ ! -S "$sock" ] || ! kill -0 "$other" 2>/dev/null; then
    echo "FAIL: the other program's socket or process is gone"
    fail=1
fi
# The same with tsl-conform's standard input closed (a grading job run
# from cron or a CI runner may start it so): its probe socket is then
# descriptor 0, which is a descriptor like any other.
run --expect-fail-only 1.1 <&-
rc=$?
check "the same with standard input closed" 0 \
    "^1\\.1 +FAIL .*something already listens at unix:$sock before the server starts"
exit $fail
