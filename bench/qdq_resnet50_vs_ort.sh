#!/usr/bin/env bash
# QDQ-quantized ResNet-50 latency: graft vs ONNX Runtime (npm onnxruntime-node 1.30, graph optimizations on) on
# the same model — torchvision's ResNet-50 with random weights (bench/gen_resnet50.py), quantized by
# `graft quantize --static` (QuantizeLinear/DequantizeLinear around every Conv, MatMul and Gemm input, int8
# weights per output channel, calibrated on a few generated input sets) — b1 and b2, THREADS threads, measured
# in the same run, alternating, ROUNDS times; medians. Also the fp32 model under both, for reference, and the
# cosine of graft's int8 logits against ORT's int8 and against ORT's fp32 logits.
#   bash bench/qdq_resnet50_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS]
# Target (issue 11): graft <= 1.0x ORT on the QDQ model.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
require_graft "$BUILD"
require_ort
DIR=$BUILD/qdq_resnet50
[ -f "$DIR/resnet50.onnx" ] || /usr/bin/python3 bench/gen_resnet50.py "$DIR" 4
[ -f "$DIR/resnet50_qdq.onnx" ] || "$GRAFT" quantize "$DIR/resnet50.onnx" "$DIR/resnet50_qdq.onnx" \
  --calibration "$DIR/calibration" >/dev/null
# Agreement: graft's int8 logits vs ORT's on the same QDQ model, and vs the fp32 model under ORT.
rm -rf "$DIR/out_graft" "$DIR/out_ort_q" "$DIR/out_ort_f" && mkdir -p "$DIR/out_graft" "$DIR/out_ort_q" "$DIR/out_ort_f"
"$GRAFT" run "$DIR/resnet50_qdq.onnx" --input input="$DIR/input_b2.npy" --output-dir "$DIR/out_graft" --threads "$THREADS" >/dev/null
node bench/ort/run_npy.js "$DIR/resnet50_qdq.onnx" "$DIR/out_ort_q" input="$DIR/input_b2.npy" >/dev/null
node bench/ort/run_npy.js "$DIR/resnet50.onnx" "$DIR/out_ort_f" input="$DIR/input_b2.npy" >/dev/null
/usr/bin/python3 - "$DIR" <<'PY'
import sys, numpy as np
d = sys.argv[1]
g, q, f = (np.load(f"{d}/{s}/logits.npy").ravel().astype(np.float64) for s in ("out_graft", "out_ort_q", "out_ort_f"))
cos = lambda a, b: float(a @ b / np.sqrt((a @ a) * (b @ b)))
print(f"cosine of logits (b2): graft int8 vs ort int8 {cos(g, q):.6f}, graft int8 vs ort fp32 {cos(g, f):.6f},"
      f" ort int8 vs ort fp32 {cos(q, f):.6f}")
PY
echo "load before: $(uptime)"
for b in 1 2; do
  in="input=$DIR/input_b$b.npy"
  runs=$([ "$b" = 1 ] && echo 20 || echo 10)
  g_list=""; o_list=""; gf_list=""; of_list=""
  for r in $(seq "$ROUNDS"); do
    g=$("$GRAFT" bench "$DIR/resnet50_qdq.onnx" --input "$in" --threads "$THREADS" --warmup 3 --runs $runs --json | field median_ms)
    o=$(node bench/ort/time_model.js "$DIR/resnet50_qdq.onnx" "$THREADS" 3 $runs "$in" | field median_ms)
    gf=$("$GRAFT" bench "$DIR/resnet50.onnx" --input "$in" --threads "$THREADS" --warmup 3 --runs $runs --json | field median_ms)
    of=$(node bench/ort/time_model.js "$DIR/resnet50.onnx" "$THREADS" 3 $runs "$in" | field median_ms)
    echo "b$b round $r: graft int8 ${g} ms, onnxruntime int8 ${o} ms; graft fp32 ${gf} ms, onnxruntime fp32 ${of} ms"
    g_list="$g_list $g"; o_list="$o_list $o"; gf_list="$gf_list $gf"; of_list="$of_list $of"
  done
  gm=$(echo $g_list | tr ' ' '\n' | median); om=$(echo $o_list | tr ' ' '\n' | median)
  gfm=$(echo $gf_list | tr ' ' '\n' | median); ofm=$(echo $of_list | tr ' ' '\n' | median)
  echo "b$b median of $ROUNDS: graft int8 ${gm} ms, ort int8 ${om} ms (graft/ort = $(awk "BEGIN {printf \"%.2f\", $gm/$om}"));" \
       "graft fp32 ${gfm} ms, ort fp32 ${ofm} ms (graft/ort = $(awk "BEGIN {printf \"%.2f\", $gfm/$ofm}"))"
done
echo "load after: $(uptime)"
