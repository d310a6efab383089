#!/usr/bin/env bash
# Dynamically quantized MiniLM (all-MiniLM-L6-v2 architecture from ../shared, rewritten in ONNX Runtime's
# quantize_dynamic layout by bench/quantize_dynamic_layout.py) latency: graft vs ONNX Runtime (npm
# onnxruntime-node 1.30, graph optimizations on) on the same int8 model, and ONNX Runtime's fp32 time on the
# fp32 model, same shapes and threads, measured in the same run, alternating, ROUNDS times; medians.
#   bash bench/quantized_minilm_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS] [--per-channel]
# Targets (issue 11): graft <= 0.8x ORT int8 and <= 0.5x ORT fp32.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
BUILD=${1:-build}
THREADS=${2:-2}
ROUNDS=${3:-5}
PER_CHANNEL=${4:-}
require_graft "$BUILD"
[ -d ../shared/models ] || { echo "needs ../shared/models (the shared MiniLM)" >&2; exit 1; }
FP32=$BUILD/minilm_l6/minilm_l6_opset14.onnx
[ -f "$FP32" ] || /usr/bin/python3 ../shared/models/materialize.py "$BUILD" >/dev/null
INT8=$BUILD/minilm_l6/minilm_l6_int8${PER_CHANNEL:+_per_channel}.onnx
[ -f "$INT8" ] || /usr/bin/python3 bench/quantize_dynamic_layout.py "$FP32" "$INT8" $PER_CHANNEL
require_ort
echo "load before: $(uptime)"
for shape in "1 128" "32 128"; do
  set -- $shape
  runs=$([ "$1" = 1 ] && echo 20 || echo 5)
  g_list=""; o_list=""; f_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$INT8" --dims batch=$1,sequence=$2 --threads "$THREADS" --warmup 3 --runs $runs --json | field median_ms)
    o=$(node bench/ort/minilm_ort.js "$INT8" "$1" "$2" "$THREADS" 3 $runs | field median_ms)
    f=$(node bench/ort/minilm_ort.js "$FP32" "$1" "$2" "$THREADS" 3 $runs | field median_ms)
    echo "b$1 x s$2 round $r: graft int8 ${g} ms, onnxruntime int8 ${o} ms, onnxruntime fp32 ${f} ms"
    g_list="$g_list $g"; o_list="$o_list $o"; f_list="$f_list $f"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median); fm=$(echo $f_list | tr ' ' '\n' | median)
  echo "b$1 x s$2 median of $ROUNDS: graft int8 ${gm} ms, ort int8 ${om} ms, ort fp32 ${fm} ms;" \
       "graft/ort_int8 = $(awk "BEGIN {printf \"%.2f\", $gm/$om}"), graft/ort_fp32 = $(awk "BEGIN {printf \"%.2f\", $gm/$fm}")"
done
echo "load after: $(uptime)"
