#!/usr/bin/env bash
# ci/sanitize.sh [PRESET...] - builds and runs the suite under ASan+UBSan
# and TSan (default: both).  Any report fails the run: ASan/UBSan abort
# (no recovery) and TSan exits non-zero at the end of a reporting process.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
presets=("$@")
((${#presets[@]})) || presets=(asan tsan)
# Full unwinding for allocation stacks, so that suppressions can see the
# caller through libraries built without frame pointers.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# One documented suppression, for a leak inside libedit (see the file).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/ci/lsan.supp:print_suppressions=0}
for p in "${presets[@]}"; do
  echo "== $p"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j"$(nproc)"
  ctest --preset "$p" -LE valgrind
  echo "== $p, epoll backend"
  TSL_BACKEND=epoll ctest --preset "$p" -L 'unit|integration'
done
