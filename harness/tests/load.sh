#!/usr/bin/env bash
# harness/tests/load.sh BUILD_DIR - tsl-load's own contract, against
# tsl-echo: a run with every option left to its default verifies its
# echoes and ends with a replay command naming each option's value; that
# command, run as printed, gives the same line; bad options exit 2 with
# a message naming the option.
set -u
build=$(cd "${1:?usage: load.sh BUILD_DIR}" && pwd)
load=$build/harness/tsl-load
work=$(mktemp -d)
srv=
trap '[[ -n $srv ]] && { kill -KILL $srv; wait $srv; } 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL load: $*"; exit 1; }

"$build/core/tsl-echo" --listen 127.0.0.1:0 --events >"$work/srv" 2>&1 &
srv=$!
for ((i = 0; i < 200; i++)); do
  grep -q '"event":"listening"' "$work/srv" && break
  sleep 0.05
done
port=$(grep -o '"port":[0-9]*' "$work/srv" | head -1 | cut -d: -f2)
[[ -n $port ]] || fail "tsl-echo did not start: $(cat "$work/srv")"

timeout 60 "$load" --server "127.0.0.1:$port" >"$work/out" 2>&1 ||
  fail "a default run failed: $(cat "$work/out")"
want="tsl-load: 1 passed, 0 failed (replay: tsl-load --server 127.0.0.1:$port --clients 1 --messages 100 --batch 10 --framing 'variable' --chunking whole --end close --seed 1 --timeout-ms 5000)"
[[ $(tail -1 "$work/out") == "$want" ]] ||
  fail "closing line '$(tail -1 "$work/out")', expected '$want'"

# Given options come back in the replay command, and it replays.
timeout 60 "$load" --server "127.0.0.1:$port" --clients 3 --messages 40 \
  --batch 7 --framing variable --chunking random --end half-close \
  --seed 9 --timeout-ms 4000 >"$work/out" 2>&1 ||
  fail "a run with options failed: $(cat "$work/out")"
line=$(tail -1 "$work/out")
cmd=${line#*(replay: tsl-load }
cmd=${cmd%)}
eval "timeout 60 \"\$load\" $cmd" >"$work/again" 2>&1 ||
  fail "the replay command failed: $cmd: $(cat "$work/again")"
[[ $(tail -1 "$work/again") == "$line" ]] ||
  fail "the replay printed '$(tail -1 "$work/again")', the run '$line'"
[[ $line == *"--clients 3 --messages 40 --batch 7 --framing 'variable' --chunking random --end half-close --seed 9 --timeout-ms 4000)" ]] ||
  fail "the replay command lost an option: '$line'"

for bad in "--batch 0" "--chunking sideways" "--end never" "--clients x" \
  "--framing none" "--seed" "--what"; do
  # shellcheck disable=SC2086 # each case is several words
  "$load" --server "127.0.0.1:$port" $bad >"$work/bad" 2>&1
  rc=$?
  ((rc == 2)) || fail "'$bad' exited $rc, expected 2: $(cat "$work/bad")"
  grep -q "^tsl-load: .*'" "$work/bad" || fail "'$bad' gave no message: $(cat "$work/bad")"
done
"$load" >"$work/bad" 2>&1
(($? == 2)) || fail "no --server did not exit 2"
echo "tsl-load: defaults, replay and bad options as documented"
