#!/usr/bin/env bash
# Configures, builds (ccache-friendly, -j2) and runs graft's whole test suite, ending with CTest's summary.
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
