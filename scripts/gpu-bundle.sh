#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a GPU machine (the CUDA tests, the GPU test suite, graft's side
# of the benchmark) and packs it, with the shared libraries it loads (CUDA's own excepted: the GPU machine
# has them) and the shared test models' recipes, into .gpu-bundle/graft-gpu.tar.xz (git-ignored; carried to
# the GPU machine by the device tool, see docs/gpu.md). Run it here, on the development machine.
#
#   scripts/gpu-bundle.sh [BUILD_DIR=build]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SHARED=${GRAFT_SHARED_DIR:-$(pwd)/../shared}
[ -x "$SHARED/tools/device-bundle.sh" ] || { echo "gpu-bundle: $SHARED/tools/device-bundle.sh not found (set GRAFT_SHARED_DIR)" >&2; exit 2; }
cmake --build "$BUILD" -j"${JOBS:-2}" --target test_cuda test_gpu bench_gpu
mkdir -p .gpu-bundle
out=.gpu-bundle/graft-gpu.tar.xz
"$SHARED/tools/device-bundle.sh" "$out.tmp" "$BUILD/tests/test_cuda" "$BUILD/tests/test_gpu" "$BUILD/bench/bench_gpu" \
  --extra "$SHARED/models"
mv "$out.tmp" "$out"
size=$(stat -c %s "$out")
limit=$((60 * 1024 * 1024))  # the device tool carries at most 64 MiB with the working tree
if [ "$size" -gt "$limit" ]; then
  echo "gpu-bundle: $out is $((size / 1048576)) MiB, over the $((limit / 1048576)) MiB budget" >&2
  exit 1
fi
echo "gpu-bundle: $out ($((size / 1048576)) MiB): carry .gpu-bundle and run scripts/gpu-check.sh (docs/gpu.md)"
