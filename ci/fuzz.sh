#!/usr/bin/env bash
# ci/fuzz.sh TARGET SECONDS
#   Builds the `fuzz` preset if needed and runs fuzz_TARGET for SECONDS
#   over fuzz/corpus/TARGET with its dictionary; new interesting inputs are
#   kept in the corpus (minimise before committing: see fuzz/README.md).
# ci/fuzz.sh --ctest TARGET SECONDS BINARY
#   The bounded run ctest uses: the committed corpus is copied to a scratch
#   folder first, so a test run never changes the tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

if [[ ${1:-} == --ctest ]]; then
  target=$2 secs=$3 bin=$4
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  cp -r "$top/fuzz/corpus/$target/." "$scratch/"
  exec "$bin" -max_total_time="$secs" -seed=1 -print_final_stats=1 \
    -dict="$top/fuzz/dict/$target.dict" "$scratch"
fi

target=${1:?usage: ci/fuzz.sh TARGET SECONDS}
secs=${2:?usage: ci/fuzz.sh TARGET SECONDS}
cd "$top"
if [[ ! -x build/fuzz/fuzz/fuzz_$target ]]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j"$(nproc)" --target "fuzz_$target"
fi
mkdir -p "fuzz/corpus/$target"
seed=${TSL_SEED:-$RANDOM}
echo "fuzz_$target: ${secs}s, seed $seed (replay with TSL_SEED=$seed)"
build/fuzz/fuzz/fuzz_"$target" -max_total_time="$secs" -seed="$seed" \
  -print_final_stats=1 -dict="fuzz/dict/$target.dict" "fuzz/corpus/$target"
