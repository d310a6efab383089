#!/usr/bin/env bash
# MiniLM (all-MiniLM-L6-v2 architecture from ../shared) latency: graft vs ONNX Runtime (npm
# onnxruntime-node 1.30, graph optimizations on), same model, same shapes, same thread count, measured
# in the same run, alternating the two, ROUNDS times. Prints each measurement and the median ratio.
#   bash bench/minilm_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
require_graft "$BUILD"
require_minilm "$BUILD"
MODEL=$MINILM
# The CPU library ships inside the npm package; --ignore-scripts skips its optional CUDA download.
require_ort
for shape in "1 128" "32 128"; do
  set -- $shape
  g_list=""; o_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$MODEL" --dims batch=$1,sequence=$2 --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms)
    o=$(node bench/ort/minilm_ort.js "$MODEL" "$1" "$2" "$THREADS" 3 10 | field median_ms)
    echo "b$1 x s$2 round $r: graft ${g} ms, onnxruntime ${o} ms"
    g_list="$g_list $g"; o_list="$o_list $o"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median)
  echo "b$1 x s$2 median of $ROUNDS: graft ${gm} ms, onnxruntime ${om} ms, graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}")"
done
