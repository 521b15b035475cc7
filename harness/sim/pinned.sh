#!/bin/sh
# harness/sim/pinned.sh TSL_SIM PINNED [--update]
# - sim.pinned: the worlds some seeds generate are the worlds they
#   generated when PINNED was written.  PINNED (harness/sim/pinned.txt)
#   holds runs, each a line "$ ARGS" (tsl-sim's options) followed by the
#   "seed N digest ..." and "seed N world ..." lines that
#   `tsl-sim ARGS --digest --describe --no-replay` printed; this runs each
#   again and fails, with the differences, unless every line is the same.
#   A seed names a world and a replay line must reproduce it: a change
#   that moves what a seed generates (its streams, its chaos, the order of
#   its draws) or how it runs (the steps, the time) shows here.
#   When the generator or the simulated OS changes on purpose, update the
#   file and say so in the commit:
#     harness/sim/pinned.sh build/default/harness/sim/tsl-sim \
#         harness/sim/pinned.txt --update
#   Whether the worlds pass is the other sim entries' business: a failing
#   world's lines are pinned as they are.
set -u
sim=$1 pinned=$2 update=${3:-}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

grep -v '^seed ' "$pinned" >"$tmp/head"
: >"$tmp/now"
while IFS= read -r line; do
    case $line in
    '$ '*)
        printf '%s\n' "$line" >>"$tmp/now"
        # shellcheck disable=SC2086 # ARGS are words on purpose
        timeout 120 "$sim" ${line#\$ } --digest --describe --no-replay \
            >"$tmp/out" 2>&1
        st=$?
        if [ $st -gt 1 ]; then
            echo "pinned.sh: tsl-sim ${line#\$ } ended with status $st:"
            tail -5 "$tmp/out"
            exit 1
        fi
        grep -E '^seed [0-9]+ (digest|world) ' "$tmp/out" >>"$tmp/now"
        ;;
    esac
done <"$tmp/head"
grep -v '^#' "$pinned" >"$tmp/was"
if [ "$update" = --update ]; then
    { grep '^#' "$pinned"; cat "$tmp/now"; } >"$tmp/new" &&
        cp "$tmp/new" "$pinned"
    echo "pinned.sh: $pinned updated ($(grep -c '^seed ' "$pinned") lines)"
    exit 0
fi
if ! diff -u "$tmp/was" "$tmp/now" >"$tmp/diff"; then
    echo "pinned.sh: worlds differ from $pinned (- pinned, + now):"
    head -40 "$tmp/diff"
    echo "pinned.sh: $(grep -c '^+seed' "$tmp/diff") lines differ; if the" \
        "generator changed on purpose: $0 $sim $pinned --update"
    exit 1
fi
echo "pinned.sh: $(grep -c '^seed ' "$tmp/now") lines as pinned"
