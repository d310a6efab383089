#!/usr/bin/env bash
# How graft and ONNX Runtime (npm onnxruntime-node 1.30, graph optimizations on) hold up when other
# processes compete for the cores: each model is timed quiet, then with LOAD busy-loop processes per core
# started by this script, alternating graft and ORT, ROUNDS times each; prints per model the medians and
# each runtime's slowdown factor (loaded / quiet). Issue #11 asks for graft's factor <= ORT's.
#   bash bench/under_load_vs_ort.sh [BUILD_DIR] [THREADS] [ROUNDS] [LOAD]
#   (UNDER_LOAD_MODELS="minilm mobilenetv2_b1" limits the run to those models)
# Models: the shared MiniLM at b1 x s128 (needs ../shared) and bench/gen_bench_models.py's ResNet-18 (b1),
# ResNet-50 (b2) and MobileNetV2 (b1), 224x224. Run it alone: other work on the machine is load the script does not count.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_args 5 "$@"
LOAD=${4:-2}
require_graft "$BUILD"
require_bench_models "$BUILD"
require_ort
require_minilm "$BUILD" optional


busy=()
start_load() {
  local n=$(( LOAD * $(nproc) ))
  for _ in $(seq "$n"); do (while :; do :; done) & busy+=($!); done
  sleep 1
}
stop_load() {
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${busy[@]}" 2>/dev/null || true
  busy=()
}
trap stop_load EXIT

# time_pair NAME: sets g and o (median ms of one graft and one ORT measurement of model $name)
graft_ms() {
  if [ "$1" = minilm ]; then
    "$GRAFT" bench "$MINILM" --dims batch=1,sequence=128 --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms
  else
    local dir=$MODELS/$1 args=()
    for npy in "$dir"/*.npy; do args+=(--input "$(basename "$npy" .npy)=$npy"); done
    "$GRAFT" bench "$dir/model.onnx" "${args[@]}" --threads "$THREADS" --warmup 3 --runs 10 --json | field median_ms
  fi
}
ort_ms() {
  if [ "$1" = minilm ]; then
    node bench/ort/minilm_ort.js "$MINILM" 1 128 "$THREADS" 3 10 | field median_ms
  else
    local dir=$MODELS/$1 inputs=()
    for npy in "$dir"/*.npy; do inputs+=("$(basename "$npy" .npy)=$npy"); done
    node bench/ort/time_model.js "$dir/model.onnx" "$THREADS" 3 10 "${inputs[@]}" | field median_ms
  fi
}

models="resnet18_b1 resnet50_b2 mobilenetv2_b1"
[ -f "$MINILM" ] && models="minilm $models"
models=${UNDER_LOAD_MODELS:-$models}  # a subset, e.g. UNDER_LOAD_MODELS="mobilenetv2_b1 minilm"
for name in $models; do
  [ "$name" = minilm ] || [ -d "$MODELS/$name" ] || { echo "$name: not generated, skipped"; continue; }
  declare -A med
  for phase in quiet loaded; do
    [ "$phase" = loaded ] && start_load
    gl=""; ol=""
    for r in $(seq "$ROUNDS"); do
      g=$(graft_ms "$name"); o=$(ort_ms "$name")
      echo "$name $phase round $r: graft $g ms, onnxruntime $o ms"
      gl="$gl $g"; ol="$ol $o"
    done
    [ "$phase" = loaded ] && stop_load
    med[g_$phase]=$(echo $gl | tr ' ' '\n' | median)
    med[o_$phase]=$(echo $ol | tr ' ' '\n' | median)
  done
  awk -v n="$name" -v gq="${med[g_quiet]}" -v gl="${med[g_loaded]}" -v oq="${med[o_quiet]}" -v ol="${med[o_loaded]}" \
    -v load="$LOAD" 'BEGIN { printf "%s (%d busy loops per core): graft %.2f -> %.2f ms (x%.2f), onnxruntime %.2f -> %.2f ms (x%.2f)\n",
      n, load, gq, gl, gl / gq, oq, ol, ol / oq }'
  unset med
done
