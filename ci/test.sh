#!/usr/bin/env bash
# ci/test.sh - the README's test command: installs what is missing, builds
# the `default` preset, checks it for new cycles between core files
# (ci/cycles.sh) and runs the whole suite (unit, integration, fuzz
# corpus replay, and the Valgrind memcheck twins), then the unit and
# integration labels again on the epoll backend.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
ci/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)"
# No new call or include cycle among core/src files (ci/cycles.allowed).
ci/cycles.sh build/default
ctest --preset default "$@"
# The whole unit and integration suite again on the epoll backend (every
# server made without an explicit backend takes TSL_BACKEND).
TSL_BACKEND=epoll ctest --preset default -L 'unit|integration' "$@"
