#!/usr/bin/env bash
# Dynamically quantized MiniLM (all-MiniLM-L6-v2 architecture from ../shared, rewritten in ONNX Runtime's
# quantize_dynamic layout by bench/quantize_dynamic_layout.py) latency: graft vs ONNX Runtime (npm
# onnxruntime-node 1.30, graph optimizations on) on the same int8 model, and ONNX Runtime's fp32 time on the
# fp32 model, same shapes and threads, measured in the same run, alternating, ROUNDS times; medians.
#   bash bench/quantized_minilm_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS] [--per-channel | --weight-only-int4]
# Targets (issue 11): graft <= 0.8x ORT int8 and <= 0.5x ORT fp32.
# --weight-only-int4: the model is written by `graft quantize --weight-only int4` instead (com.microsoft
# MatMulNBits, 4-bit weights, block 32; ORT runs its MLAS 4-bit kernels on it), and the script also prints the
# peak RSS of one graft bench run per shape. BASELINE=/path/to/graft times a second graft binary (another build,
# e.g. main's) on the same file in the same rounds.
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
if [ "$PER_CHANNEL" = --weight-only-int4 ]; then
  INT8=$BUILD/minilm_l6/minilm_l6_int4_weight_only.onnx
  [ -f "$INT8" ] || "$GRAFT" quantize "$FP32" "$INT8" --weight-only int4 >/dev/null
else
  INT8=$BUILD/minilm_l6/minilm_l6_int8${PER_CHANNEL:+_per_channel}.onnx
  [ -f "$INT8" ] || /usr/bin/python3 bench/quantize_dynamic_layout.py "$FP32" "$INT8" $PER_CHANNEL
fi
BASELINE=${BASELINE:-}
require_ort
echo "load before: $(uptime)"
for shape in "1 128" "32 128"; do
  set -- $shape
  runs=$([ "$1" = 1 ] && echo 20 || echo 5)
  g_list=""; o_list=""; f_list=""; b_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$INT8" --dims batch=$1,sequence=$2 --threads "$THREADS" --warmup 3 --runs $runs --json | field median_ms)
    o=$(node bench/ort/minilm_ort.js "$INT8" "$1" "$2" "$THREADS" 3 $runs | field median_ms)
    f=$(node bench/ort/minilm_ort.js "$FP32" "$1" "$2" "$THREADS" 3 $runs | field median_ms)
    b=""
    [ -n "$BASELINE" ] && b=$("$BASELINE" bench "$INT8" --dims batch=$1,sequence=$2 --threads "$THREADS" --warmup 3 --runs $runs --json | field median_ms)
    echo "b$1 x s$2 round $r: graft ${g} ms, onnxruntime ${o} ms, onnxruntime fp32 ${f} ms${b:+, baseline graft $b ms}"
    g_list="$g_list $g"; o_list="$o_list $o"; f_list="$f_list $f"; b_list="$b_list $b"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median); fm=$(echo $f_list | tr ' ' '\n' | median)
  echo "b$1 x s$2 median of $ROUNDS: graft ${gm} ms, ort ${om} ms (same model), ort fp32 ${fm} ms;" \
       "graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}"), graft/ort_fp32 = $(awk "BEGIN {printf \"%.2f\", $gm/$fm}")"
  if [ -n "$BASELINE" ]; then
    bm=$(echo $b_list | tr ' ' '\n' | median)
    echo "b$1 x s$2 baseline graft median ${bm} ms; baseline/ort = $(awk "BEGIN {printf \"%.2f\", $bm/$om}")"
  fi
  if [ "$PER_CHANNEL" = --weight-only-int4 ]; then
    for bin in "$GRAFT" $BASELINE; do
      rss=$( { /usr/bin/time -f "%M" "$bin" bench "$INT8" --dims batch=$1,sequence=$2 --threads "$THREADS" --warmup 1 --runs 2 --json >/dev/null; } 2>&1 | tail -1)
      echo "b$1 x s$2 peak RSS of one bench run ($bin): $((rss / 1024)) MiB"
    done
  fi
done
echo "load after: $(uptime)"
