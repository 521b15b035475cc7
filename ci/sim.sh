#!/usr/bin/env bash
# ci/sim.sh [SEEDS] - a bounded random range of simulated worlds
# (harness/sim, docs/simulation.md): SEEDS worlds (default 100000) from a
# random start, split over the machine's cores, each part a tsl-sim
# --seeds run.  Prints the ranges it ran, so that any of them can be run
# again; a failing seed prints its step, its trace and its replay, and
# fails the job.  SIM_START fixes the start (replaying a whole CI run);
# SIM_BUILD names the build directory (default build/default, built if
# tsl-sim is missing).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seeds=${1:-100000}
build=${SIM_BUILD:-build/default}
sim=$build/harness/sim/tsl-sim
if [[ ! -x $sim ]]; then
  cmake --preset default >/dev/null
  cmake --build --preset default -j"$(nproc)" --target tsl-sim
fi
start=${SIM_START:-$(( $(od -An -N6 -tu8 /dev/urandom | tr -d ' ') % 1000000000000 ))}
jobs=$(nproc)
(( jobs > seeds )) && jobs=$seeds
per=$(( (seeds + jobs - 1) / jobs ))
echo "tsl-sim: $seeds worlds from seed $start, $jobs parts (SIM_START=$start replays this run)"
t0=$SECONDS
pids=()
for ((j = 0; j < jobs; j++)); do
  a=$(( start + j * per ))
  b=$(( a + per - 1 ))
  (( b > start + seeds - 1 )) && b=$(( start + seeds - 1 ))
  (( a > b )) && continue
  echo "part $j: --seeds $a..$b"
  "$sim" --seeds "$a..$b" > "$build/sim-part-$j.log" 2>&1 &
  pids+=($!)
done
rc=0
for ((j = 0; j < ${#pids[@]}; j++)); do
  if wait "${pids[$j]}"; then
    tail -n 1 "$build/sim-part-$j.log" | sed "s/^/part $j: /"
  else
    rc=1
    head -n 600 "$build/sim-part-$j.log" | sed "s/^/part $j: /"
    tail -n 1 "$build/sim-part-$j.log" | sed "s/^/part $j: /"
  fi
done
echo "tsl-sim: seeds $start..$(( start + seeds - 1 )) in $((SECONDS - t0)) s: $([[ $rc == 0 ]] && echo ok || echo FAILED)"
exit $rc
