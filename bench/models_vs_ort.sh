#!/usr/bin/env bash
# Latency of realistic-size CNN and speech models (bench/gen_bench_models.py: ResNet-18, ResNet-50 (b2) and
# MobileNetV2 shapes at 224x224, a conv + BiLSTM speech encoder, a DBNet-style text detector at 384x512), graft vs ONNX Runtime (npm onnxruntime-node,
# graph optimizations on), same inputs, same thread count, alternating the two, ROUNDS times; prints the
# median ratio per model.
#   bash bench/models_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS] [MODEL...]   (MODEL: e.g. dbnet_b1; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
require_graft "$BUILD"
require_bench_models "$BUILD"
require_ort
shift $(( $# < 3 ? $# : 3 ))
DIRS=()
for m in "$@"; do DIRS+=("$MODELS/$m/"); done
[ ${#DIRS[@]} -gt 0 ] || DIRS=("$MODELS"/*/)
for dir in "${DIRS[@]}"; do
  [ -f "$dir/model.onnx" ] || { echo "no model in $dir" >&2; exit 1; }
  name=$(basename "$dir")
  inputs=()
  for npy in "$dir"*.npy; do inputs+=("$(basename "$npy" .npy)=$npy"); done
  g_args=(); for i in "${inputs[@]}"; do g_args+=(--input "$i"); done
  g_list=""; o_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$dir/model.onnx" "${g_args[@]}" --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms)
    o=$(node bench/ort/time_model.js "$dir/model.onnx" "$THREADS" 3 10 "${inputs[@]}" | field median_ms)
    echo "$name round $r: graft ${g} ms, onnxruntime ${o} ms"
    g_list="$g_list $g"; o_list="$o_list $o"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median)
  echo "$name median of $ROUNDS: graft ${gm} ms, onnxruntime ${om} ms, graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}")"
done
