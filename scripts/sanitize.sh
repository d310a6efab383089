#!/usr/bin/env bash
# Sanitizer runs of graft's tests (docs/robustness.md says what runs where):
#   asan   build-asan: clang-14 with AddressSanitizer + UndefinedBehaviorSanitizer (every UBSan finding
#          fatal) and libFuzzer's coverage hooks, so the same instrumented libraries also serve the fuzz
#          harnesses (scripts/fuzz.sh uses this folder). Runs the whole CTest suite.
#   tsan   build-tsan: clang-14 with ThreadSanitizer. Runs the concurrency tests (tests/concurrency and the
#          Hub's HubConcurrency suite).
#   --ci   the part CI affords (.ci/run -> scripts/test.sh; CI has 2 cores and also builds everything in
#          Release): the layers that parse untrusted input without a backend under asan (core: .npy;
#          text: tokenizer.json; hub: HTTP responses and the cache) with their tests and fuzz harnesses for a
#          few seconds each, and the Hub's concurrency tests under tsan. An instrumented CPU backend (which
#          the ONNX, checkpoint, robustness and concurrency tests need) would be two more full builds; run
#          `bash scripts/sanitize.sh` (everything) before submitting changes to kernels, the executor or
#          parsers (docs/robustness.md).
# Usage: bash scripts/sanitize.sh [asan] [tsan] [--ci]      (no kind: both)
# Reports make the run fail; suppressions (scripts/sanitizers/*.supp) name third-party libraries only.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${GRAFT_JOBS:-2}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=1  # -g builds otherwise hash the build folder: keep ccache shared between clones
CI=0
KINDS=""
for a in "$@"; do
  case "$a" in
    --ci) CI=1 ;;
    asan | tsan) KINDS="$KINDS $a" ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
[ -n "$KINDS" ] || KINDS="asan tsan"
command -v clang++-14 >/dev/null || { echo "sanitize: clang++-14 missing (scripts/install-deps.sh)" >&2; exit 1; }

SUPP=$PWD/scripts/sanitizers
# One OpenMP thread: libgomp (oneDNN) and libomp (graft under clang) are not instrumented, and their thread
# pools would otherwise be invisible synchronization to TSan. Threads of graft's own (sessions shared by
# threads, the tokenizer's batch pool, the Hub's downloads) are what the concurrency tests exercise.
export OMP_NUM_THREADS=1
export ASAN_OPTIONS="exitcode=86:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:suppressions=$SUPP/asan.supp"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="exitcode=87:print_stacktrace=1:halt_on_error=1:suppressions=$SUPP/ubsan.supp"
export TSAN_OPTIONS="exitcode=88:halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp"

configure() {  # configure DIR SANITIZERS EXTRA...
  local dir=$1 san=$2
  shift 2
  CXX=clang++-14 CC=clang-14 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGRAFT_SANITIZE="$san" -DGRAFT_BUILD_BENCH=OFF -DGRAFT_WITH_CUDA=OFF -DGRAFT_WITH_MPI=OFF "$@" >/dev/null
}

for kind in $KINDS; do
  start=$(date +%s)
  if [ "$kind" = asan ]; then
    configure build-asan address,undefined -DGRAFT_BUILD_FUZZERS=ON -DGRAFT_BUILD_TESTS=ON -DGRAFT_BUILD_TOOLS=ON
    if [ $CI = 1 ]; then
      # The parsers of untrusted input that need no backend, their tests and their fuzz harnesses.
      cmake --build build-asan -j"$JOBS" --target test_core test_text test_hub
      ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 900 -L '^(core|text|hub)$'
      GRAFT_FUZZ_BUILD=build-asan GRAFT_FUZZ_HARNESSES="npy tokenizer hub" bash scripts/fuzz.sh --ci
    else
      cmake --build build-asan -j"$JOBS"
      ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 3600
      GRAFT_FUZZ_BUILD=build-asan bash scripts/fuzz.sh --ci  # the fuzz corpora and past findings
    fi
  else
    configure build-tsan thread -DGRAFT_BUILD_TESTS=ON -DGRAFT_BUILD_TOOLS=OFF
    if [ $CI = 1 ]; then
      cmake --build build-tsan -j"$JOBS" --target test_hub
    else
      cmake --build build-tsan -j"$JOBS" --target test_concurrency test_hub test_distributed
      build-tsan/tests/test_concurrency
      build-tsan/tests/test_distributed  # data-parallel groups of threads (graft/distributed)
    fi
    build-tsan/tests/test_hub --gtest_filter='HubConcurrency.*:HubChild.*'
  fi
  echo "sanitize: $kind done in $(( $(date +%s) - start )) s"
done
