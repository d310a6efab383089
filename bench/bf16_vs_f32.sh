#!/usr/bin/env bash
# graft's bf16 autocast (--precision bf16: products, convolutions and attention on oneDNN's bf16
# primitives, f32 accumulation) vs its f32 path, on the CPU: MiniLM (../shared) at b1 x s128 and b32 x s128
# and the ResNet-18 / MobileNetV2-shaped CNNs of bench/gen_bench_models.py. Same run, alternating the two,
# ROUNDS times; prints the median ratio per model and the load average around it.
#   bash bench/bf16_vs_f32.sh [BUILD_DIR] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
require_graft "$BUILD"
require_minilm "$BUILD"
MODEL=$MINILM
require_bench_models "$BUILD"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
run_case() {  # NAME ARGS...
  local name=$1; shift
  local f_list="" b_list=""
  for r in $(seq "$ROUNDS"); do
    f=$("$GRAFT" bench "$@" --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms)
    b=$("$GRAFT" bench "$@" --threads "$THREADS" --warmup 3 --runs 10 --json --precision bf16 | field median_ms)
    echo "$name round $r: f32 ${f} ms, bf16 ${b} ms"
    f_list="$f_list $f"; b_list="$b_list $b"
  done
  fm=$(echo $f_list | tr ' ' '\n' | median); bm=$(echo $b_list | tr ' ' '\n' | median)
  echo "$name median of $ROUNDS: f32 ${fm} ms, bf16 ${bm} ms, bf16/f32 = $(awk "BEGIN {printf \"%.2f\", $bm/$fm}")"
}
run_case "minilm b1 x s128" "$MODEL" --dims batch=1,sequence=128
run_case "minilm b32 x s128" "$MODEL" --dims batch=32,sequence=128
for name in resnet18_b1 mobilenetv2_b1; do
  run_case "$name" "$MODELS/$name/model.onnx" --input "image=$MODELS/$name/image.npy"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
