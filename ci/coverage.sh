#!/usr/bin/env bash
# ci/coverage.sh - builds the `coverage` preset, runs the unit and
# integration labels on both backends and writes gcovr reports (HTML and Cobertura) to
# build/coverage/report/.  Fails below the thresholds for core/src.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
LINE_MIN=${LINE_MIN:-85}
BRANCH_MIN=${BRANCH_MIN:-70}
cmake --preset coverage >/dev/null
cmake --build --preset coverage -j"$(nproc)"
find build/coverage -name '*.gcda' -delete
ctest --preset coverage -L 'unit|integration'
# And on epoll, where the receiver also runs the acceptor: both count.
TSL_BACKEND=epoll ctest --preset coverage -L 'unit|integration'
mkdir -p build/coverage/report
gcovr --root "$top" --filter "$top/core/src/" \
  --exclude-unreachable-branches --exclude-throw-branches \
  --html-details build/coverage/report/index.html \
  --xml build/coverage/report/coverage.xml \
  --print-summary \
  --fail-under-line "$LINE_MIN" --fail-under-branch "$BRANCH_MIN" \
  build/coverage
