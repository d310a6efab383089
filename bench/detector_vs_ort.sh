#!/usr/bin/env bash
# A detector on a new image every run: torchvision's Faster R-CNN (MobileNetV3 320 FPN, 160x160, random
# weights; tests/zoo/gen_torchvision_zoo.py, case tv_fasterrcnn_mobilenet), graft (bench_detector) vs ONNX
# Runtime (npm onnxruntime-node, graph optimizations on, bench/ort/time_detector.js), same thread count,
# alternating the two, ROUNDS times; each round is a fresh process of each timing RUNS new images after
# WARMUP others (graft's warm-up compiles the stages; later images reuse them when their staged shapes
# were seen). Prints each round and the medians.
#   bash bench/detector_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS] [WARMUP] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
WARMUP=${4:-10}
RUNS=${5:-20}
BENCH=$BUILD/bench/bench_detector
[ -x "$BENCH" ] || { echo "build it first: cmake --build $BUILD --target bench_detector" >&2; exit 1; }
require_ort
MODEL=$BUILD/torchvision-zoo/zoo/tv_fasterrcnn_mobilenet/model.onnx
[ -f "$MODEL" ] || /usr/bin/python3 tests/zoo/gen_torchvision_zoo.py "$BUILD/torchvision-zoo" >/dev/null
[ -f "$MODEL" ] || { echo "no $MODEL (needs python3-torchvision and bench/ort)" >&2; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
g_list=""; o_list=""
for r in $(seq "$ROUNDS"); do
  gj=$("$BENCH" "$MODEL" "$THREADS" "$WARMUP" "$RUNS" "$r")
  oj=$(node bench/ort/time_detector.js "$MODEL" "$THREADS" "$WARMUP" "$RUNS" "$r")
  g=$(echo "$gj" | field median_ms); o=$(echo "$oj" | field median_ms)
  echo "round $r: graft ${g} ms (traces $(echo "$gj" | field traces), stage compiles $(echo "$gj" | field stage_compiles), runs without a trace $(echo "$gj" | field cache_hits) of $((WARMUP + RUNS))), onnxruntime ${o} ms"
  g_list="$g_list $g"; o_list="$o_list $o"
done
gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Faster R-CNN, new image per run, median of $ROUNDS rounds: graft ${gm} ms, onnxruntime ${om} ms, graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}")"
