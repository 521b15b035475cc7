#!/usr/bin/env bash
# ci/fuzz.sh [--add] TARGET SECONDS
#   Builds the `fuzz` preset if needed and runs fuzz_TARGET for SECONDS with
#   its dictionary over a working corpus, build/fuzz/corpus/TARGET, which
#   starts as a copy of the committed fuzz/corpus/TARGET and keeps what
#   earlier runs found.  The committed corpus is only read.  With --add,
#   the working corpus is then merged into the committed one: only inputs
#   that reach coverage the committed ones do not are added (review and
#   commit them; fuzz/README.md).  A crash is written to build/fuzz/artifacts/.
#   TSL_SEED sets libFuzzer's seed (printed either way).
# ci/fuzz.sh --ctest TARGET SECONDS BINARY
#   The bounded run ctest uses: the committed corpus is copied to a scratch
#   folder first, so a test run never changes the tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
usage() {
  sed -n '2p;11p' "$0" | sed 's/^# //' >&2
  exit 2
}
# The targets are the fuzz/fuzz_*.c files (fuzz/CMakeLists.txt builds each).
targets() {
  local f
  for f in "$top"/fuzz/fuzz_*.c; do
    f=${f##*/fuzz_}
    echo "${f%.c}"
  done
}
check_target() {
  if ! targets | grep -qx -- "$1"; then
    echo "fuzz: no target '$1'; the targets are: $(targets | tr '\n' ' ')" >&2
    exit 2
  fi
}

if [[ ${1:-} == --ctest ]]; then
  (($# == 4)) || usage
  target=$2 secs=$3 bin=$4
  check_target "$target"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  mkdir "$scratch/corpus"
  cp -r "$top/fuzz/corpus/$target/." "$scratch/corpus/"
  mkdir -p "$top/build/fuzz/artifacts"
  exec "$bin" -max_total_time="$secs" -seed=1 -print_final_stats=1 \
    -artifact_prefix="$top/build/fuzz/artifacts/$target-" \
    -dict="$top/fuzz/dict/$target.dict" "$scratch/corpus"
fi

add=0
if [[ ${1:-} == --add ]]; then
  add=1
  shift
fi
(($# == 2)) || usage
target=$1 secs=$2
check_target "$target"
[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS takes a number" >&2; exit 2; }
cd "$top"
bin=build/fuzz/fuzz/fuzz_$target
if [[ ! -x $bin ]]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j"$(nproc)" --target "fuzz_$target"
fi
work=build/fuzz/corpus/$target
mkdir -p "$work" build/fuzz/artifacts
cp -rn "fuzz/corpus/$target/." "$work/"
seed=${TSL_SEED:-$RANDOM}
echo "fuzz_$target: ${secs}s over $work, seed $seed (replay with TSL_SEED=$seed)"
"$bin" -max_total_time="$secs" -seed="$seed" -print_final_stats=1 \
  -artifact_prefix="build/fuzz/artifacts/$target-" \
  -dict="fuzz/dict/$target.dict" "$work"
if ((add)); then
  before=$(ls "fuzz/corpus/$target" | wc -l)
  "$bin" -merge=1 "fuzz/corpus/$target" "$work" 2>&1 | tail -n 1
  after=$(ls "fuzz/corpus/$target" | wc -l)
  echo "fuzz_$target: $((after - before)) inputs added to fuzz/corpus/$target"
fi
