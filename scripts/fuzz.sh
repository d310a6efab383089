#!/usr/bin/env bash
# Builds graft's libFuzzer harnesses (fuzz/) with clang-14 + AddressSanitizer + UndefinedBehaviorSanitizer in
# their own build folder, and runs them. See docs/robustness.md.
#
#   bash scripts/fuzz.sh --ci                 build, then each harness for $GRAFT_FUZZ_CI_SECONDS (10) seconds
#                                             on its committed corpus (what CI does)
#   bash scripts/fuzz.sh HARNESS SECONDS [CPU_SECONDS]
#                                             one long run: nice -n 19, a working corpus in
#                                             build-asan/work/HARNESS (seeded from fuzz/corpus/HARNESS, past findings
#                                             and build-asan/extra/HARNESS when present: e.g. the ONNX conformance
#                                             models), crashes in build-asan/findings/HARNESS,
#                                             the final figures appended to build-asan/fuzz-log.tsv; it stops
#                                             after SECONDS of wall time or CPU_SECONDS of CPU time (user +
#                                             sys: at nice 19 on a busy machine the two differ a lot)
#   bash scripts/fuzz.sh --build-only
#   bash scripts/fuzz.sh --figures            per harness, from build-asan/fuzz-log.tsv: runs, wall and CPU time,
#                                             executions, the last run's coverage (cov, ft) and the working corpus
# Harnesses: npy tokenizer checkpoint onnx hub. Environment: GRAFT_FUZZ_BUILD (build-asan), GRAFT_JOBS (2),
# GRAFT_FUZZ_HARNESSES (a subset, e.g. "npy tokenizer hub").
set -euo pipefail
cd "$(dirname "$0")/.."
# The same instrumented build folder as scripts/sanitize.sh asan (its tests are only built there).
BUILD=${GRAFT_FUZZ_BUILD:-build-asan}
JOBS=${GRAFT_JOBS:-2}
# GRAFT_FUZZ_HARNESSES picks some (CI: the parsers that need no backend; scripts/sanitize.sh --ci).
HARNESSES=${GRAFT_FUZZ_HARNESSES:-npy tokenizer checkpoint onnx hub}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=1

build() {
  if ! command -v clang++-14 >/dev/null; then
    echo "fuzz: clang++-14 not found (bash scripts/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
    exit 1
  fi
  # Only the libraries the harnesses link are built (the `fuzzers` target): no autodiff, train, tests or tools.
  # Configured exactly as scripts/sanitize.sh configures it, so neither script makes the other rebuild.
  CXX=clang++-14 CC=clang-14 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGRAFT_SANITIZE=address,undefined -DGRAFT_BUILD_FUZZERS=ON -DGRAFT_BUILD_TESTS=ON -DGRAFT_BUILD_TOOLS=ON \
    -DGRAFT_BUILD_BENCH=OFF -DGRAFT_WITH_CUDA=OFF -DGRAFT_WITH_MPI=OFF >/dev/null
  local targets=""
  for h in $HARNESSES; do targets="$targets fuzz_$h"; done
  # shellcheck disable=SC2086
  cmake --build "$BUILD" -j"$JOBS" --target $targets
}

# Options every run gets: one thread of OpenMP (graft and oneDNN), bounded memory and time per input.
# The ONNX harness sets graft's own memory limit to 256 MiB, so any single allocation above
# -malloc_limit_mb is a tensor graft failed to refuse.
# libFuzzer's -timeout is wall-clock time: a long run at nice 19 on a busy machine can be starved for many
# seconds, so long runs allow 300 s per input (a report is then checked by rerunning the input alone);
# CI runs at normal priority with tight limits.
TIMEOUT_SCALE=1
options() {
  local h=$1
  local timeout=10
  [ "$h" = onnx ] && timeout=30
  [ "$h" = hub ] && timeout=20
  [ "$TIMEOUT_SCALE" = long ] && timeout=300
  echo "-rss_limit_mb=3072 -malloc_limit_mb=1024 -timeout=$timeout -max_len=65536 -print_final_stats=1"
  [ -f "fuzz/dicts/$h.dict" ] && echo "-dict=fuzz/dicts/$h.dict"
  return 0
}

export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "${1:-}" in
  --build-only)
    build
    ;;
  --ci)
    build
    seconds=${GRAFT_FUZZ_CI_SECONDS:-10}
    for h in $HARNESSES; do
      work=$(mktemp -d)
      # New inputs go to the scratch folder first on the command line; the committed corpus is only read.
      # shellcheck disable=SC2046
      findings=tests/robustness/fuzz_findings/$h
      [ -d "$findings" ] || findings=""
      # shellcheck disable=SC2086
      if ! "$BUILD/fuzz/fuzz_$h" $(options "$h") -max_total_time="$seconds" -artifact_prefix="$work/" \
          "$work" "fuzz/corpus/$h" $findings > "$work/log" 2>&1; then
        tail -60 "$work/log"
        echo "fuzz: harness $h failed; the input is in $work (reproduce: $BUILD/fuzz/fuzz_$h FILE)" >&2
        exit 1
      fi
      echo "fuzz: $h: $(grep -E '^#[0-9]+.*(DONE|pulse)' "$work/log" | tail -1)"
      rm -rf "$work"
    done
    ;;
  --figures)
    printf '%-11s %5s %9s %9s %10s %7s %7s %7s\n' harness runs wall_s cpu_s execs cov ft corpus
    for h in $HARNESSES; do
      corpus=$(find "$BUILD/work/$h" -type f 2>/dev/null | wc -l)
      awk -F'\t' -v h="$h" -v corpus="$corpus" '
        $2 == h {
          runs++; sub("wall=", "", $3); sub("cpu=", "", $4); wall += $3; cpu += $4
          if (match($0, /number_of_executed_units: *[0-9]+/)) { u = substr($0, RSTART, RLENGTH); sub(/.*: */, "", u); execs += u }
          if (match($0, /cov: [0-9]+/)) cov = substr($0, RSTART + 5, RLENGTH - 5)
          if (match($0, /ft: [0-9]+/)) ft = substr($0, RSTART + 4, RLENGTH - 4)
        }
        END { printf "%-11s %5d %9.0f %9.0f %10d %7s %7s %7d\n", h, runs, wall, cpu, execs, cov, ft, corpus }
      ' "$BUILD/fuzz-log.tsv"
    done
    ;;
  "" | -h | --help)
    sed -n '2,19p' "$0"
    ;;
  *)
    h=$1
    seconds=${2:?usage: fuzz.sh HARNESS SECONDS}
    TIMEOUT_SCALE=long
    # Always (a no-op when up to date): a harness older than the code fuzzes code that is gone (session 20 ran a
    # tokenizer harness from before a fix for 24 s). Start concurrent long runs a few seconds apart: two
    # builds in one folder at once would race.
    HARNESSES=$h build
    mkdir -p "$BUILD/work/$h" "$BUILD/findings/$h"
    seeds="fuzz/corpus/$h"
    # Past findings, where the harness has any (libFuzzer exits at once on a missing folder: the long hub
    # runs of sessions 17 and 18 stopped after a second for this).
    [ -d "tests/robustness/fuzz_findings/$h" ] && seeds="$seeds tests/robustness/fuzz_findings/$h"
    [ -d "$BUILD/extra/$h" ] && seeds="$seeds $BUILD/extra/$h"
    log="$BUILD/findings/$h/run-$(date +%Y%m%d-%H%M%S).log"
    # Wall time is what -max_total_time bounds; CPU time (user + sys, what docs/robustness.md reports)
    # is less on a shared machine at nice 19, so a CPU budget is enforced here: the fuzzer's CPU time is
    # polled and SIGINT stops it (libFuzzer then prints its final statistics).
    cpu_budget=${3:-0}
    # shellcheck disable=SC2046,SC2086
    /usr/bin/time -f '%e %U %S' -o "$log.time" nice -n 19 "$BUILD/fuzz/fuzz_$h" $(options "$h") \
      -max_total_time="$seconds" -artifact_prefix="$BUILD/findings/$h/" "$BUILD/work/$h" $seeds > "$log" 2>&1 &
    timer=$!
    if [ "$cpu_budget" != 0 ]; then
      ticks=$(getconf CLK_TCK)
      while kill -0 "$timer" 2>/dev/null; do
        sleep 5
        pid=$(pgrep -P "$timer" -n || true)
        [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || continue
        # Fields 14 and 15 of /proc/PID/stat (after the parenthesized name): user and system ticks.
        used=$(sed 's/.*) //' "/proc/$pid/stat" | awk -v t="$ticks" '{ print int(($12 + $13) / t) }')
        if [ "$used" -ge "$cpu_budget" ]; then
          kill -INT "$pid" 2>/dev/null || true
          break
        fi
      done
    fi
    wait "$timer" || true
    # GNU time puts "Command exited with non-zero status N" first when the fuzzer stopped on a finding.
    read -r wall user sys < <(tail -n 1 "$log.time")
    stats=$(grep -E '^stat::' "$log" | tr '\n' ' ' || true)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    printf '%s\t%s\twall=%s\tcpu=%s\t%s\t%s\t%s\n' "$(date -Is)" "$h" "$wall" \
      "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$last" "$stats" "$log" >> "$BUILD/fuzz-log.tsv"
    echo "fuzz: $h: $last"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*deadly signal|.*Test unit written)' "$log" || true
    ;;
esac
