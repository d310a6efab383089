#!/usr/bin/env bash
# Configures, builds (ccache-friendly, -j2) and runs graft's whole test suite (CTest), then the sanitizer runs and
# the fuzz harnesses that CI affords (scripts/sanitize.sh --ci).
# Usage: bash scripts/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
# Paths under the checkout are hashed relative to it, so clones in other folders share the compiler cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
JOBS=${GRAFT_JOBS:-2}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j"$JOBS"
bash scripts/check-install.sh "$BUILD"
# Tests run two at a time; each test binary uses one thread of OpenMP so they do not fight for the cores.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" --timeout 600
# Sanitizer builds and the fuzz harnesses on their corpora (docs/robustness.md says what runs where and how
# long it takes). GRAFT_SKIP_SANITIZERS=1 leaves them out, e.g. for a quick local run.
if [ "${GRAFT_SKIP_SANITIZERS:-0}" != 1 ]; then
  bash scripts/sanitize.sh --ci
fi
