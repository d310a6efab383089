#!/usr/bin/env bash
# float16 CNNs (ResNet-18 and MobileNetV2 shapes from bench/gen_bench_models.py, converted to the float16
# form of browser exports by bench/fp16_convert.py: f16 weights and compute, f32 in and out), graft vs ONNX
# Runtime (npm onnxruntime-node, graph optimizations on), same inputs, same thread count, alternating the
# two, ROUNDS times; prints the median ratio per model, and graft's time on the f32 original beside it.
#   bash bench/fp16_cnn_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
require_graft "$BUILD"
require_bench_models "$BUILD"
require_ort
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in resnet18_b1 mobilenetv2_b1; do
  dir=$MODELS/$name
  fp16=$MODELS/fp16_$name.onnx
  [ -f "$fp16" ] || /usr/bin/python3 bench/fp16_convert.py "$dir/model.onnx" "$fp16"
  inputs=()
  for npy in "$dir"/*.npy; do inputs+=("$(basename "$npy" .npy)=$npy"); done
  g_args=(); for i in "${inputs[@]}"; do g_args+=(--input "$i"); done
  g_list=""; o_list=""; f_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$fp16" "${g_args[@]}" --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms)
    o=$(node bench/ort/time_model.js "$fp16" "$THREADS" 3 10 "${inputs[@]}" | field median_ms)
    f=$("$GRAFT" bench "$dir/model.onnx" "${g_args[@]}" --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms)
    echo "fp16 $name round $r: graft ${g} ms, onnxruntime ${o} ms (graft on the f32 model: ${f} ms)"
    g_list="$g_list $g"; o_list="$o_list $o"; f_list="$f_list $f"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median); fm=$(echo $f_list | tr ' ' '\n' | median)
  echo "fp16 $name median of $ROUNDS: graft ${gm} ms, onnxruntime ${om} ms, graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}"); graft f32 model ${fm} ms"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
