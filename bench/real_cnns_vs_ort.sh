#!/usr/bin/env bash
# Real CNNs graft has not been tuned on, graft vs ONNX Runtime (npm onnxruntime-node 1.30, graph
# optimizations on), same input, same thread count, alternating, ROUNDS times; medians (issue 11):
#   isnet_int8  @imgly/background-removal-data 1.4.5 "/models/small": ISNet 1024x1024 in ONNX Runtime's
#               quantize_dynamic layout (DynamicQuantizeLinear + ConvInteger + Cast + Mul), 119 convolutions
#   isnet_fp16  the same package's "/models/medium": float16 weights and compute, float32 in and out
# The models come from npm (scripts/fetch-test-models.sh --bench); nothing is committed.
#   bash bench/real_cnns_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS] [MODEL...]
# Target (issue 11): graft <= 1.0x ORT on each.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 3 "$@"
shift $(( $# < 3 ? $# : 3 ))
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(isnet_int8 isnet_fp16)
require_graft "$BUILD"
DIR=$BUILD/test-models
bash scripts/fetch-test-models.sh "$DIR" --bench >/dev/null
require_ort
INPUT=$DIR/isnet_input_1024.npy
# A seeded image-like input in [0, 1), written by node so that no Python is needed.
[ -f "$INPUT" ] || node -e '
  const fs = require("fs");
  const n = 3 * 1024 * 1024, header = "{\x27descr\x27: \x27<f4\x27, \x27fortran_order\x27: False, \x27shape\x27: (1, 3, 1024, 1024), }";
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(header + " ".repeat(pad % 64) + "\n", "latin1");
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; ++i) { s = (s * 1103515245 + 12345) % 2147483648; data[i] = s / 2147483648; }
  fs.writeFileSync(process.argv[1], Buffer.concat([pre, h, Buffer.from(data.buffer)]));
' "$INPUT"
echo "load before: $(uptime)"
for m in "${MODELS[@]}"; do
  model=$DIR/$m.onnx
  [ -f "$model" ] || { echo "$m: $model missing (npm unreachable?); skipped"; continue; }
  g_list=""; o_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$model" --input input="$INPUT" --threads "$THREADS" --warmup 1 --runs 3 --json | field median_ms)
    o=$(node bench/ort/time_model.js "$model" "$THREADS" 1 3 input="$INPUT" | field median_ms)
    echo "$m round $r: graft ${g} ms, onnxruntime ${o} ms"
    g_list="$g_list $g"; o_list="$o_list $o"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median)
  echo "$m median of $ROUNDS: graft ${gm} ms, onnxruntime ${om} ms, graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}")"
done
echo "load after: $(uptime)"
