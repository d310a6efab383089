#!/usr/bin/env bash
# Train-step time, MiniLM (../shared, ONNX) + mean pooling + linear head under AdamW, batch x seq
# (default 32 x 128): graft's compiled TrainStep (bench_train) vs PyTorch (Debian python3-torch) on an
# encoder of the same sizes (bench/torch_train_step.py), same thread count, in the same run, alternating
# the two ROUNDS times. Each measurement is the median of STEPS steps after a warm-up step.
#   bash bench/train_vs_torch.sh [BUILD_DIR=build] [THREADS=2] [ROUNDS=3] [STEPS=5] [BATCH=32] [SEQ=128]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
BUILD=${1:-build}; THREADS=${2:-2}; ROUNDS=${3:-3}; STEPS=${4:-5}; BATCH=${5:-32}; SEQ=${6:-128}
BIN=$BUILD/bench/bench_train
[ -x "$BIN" ] || { echo "build it first: cmake --build $BUILD --target bench_train" >&2; exit 1; }
require_minilm "$BUILD"
MODEL=$MINILM
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "needs Debian's python3-torch (apt-get install python3-torch libopenblas0-pthread)" >&2; exit 1; }
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
g_list=""; t_list=""
for r in $(seq "$ROUNDS"); do
  g=$("$BIN" "$MODEL" "$BATCH" "$SEQ" "$STEPS" "$THREADS" | field median_ms)
  # Debian's OpenBLAS must pick its kernels itself: the build environment's overrides are unset here.
  t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$THREADS" \
      /usr/bin/python3 bench/torch_train_step.py "$BATCH" "$SEQ" "$STEPS" "$THREADS" | field median_ms)
  echo "b$BATCH x s$SEQ round $r: graft ${g} ms/step, torch ${t} ms/step"
  g_list="$g_list $g"; t_list="$t_list $t"
done
gm=$(echo $g_list | tr ' ' '\n' | median); tm=$(echo $t_list | tr ' ' '\n' | median)
echo "b$BATCH x s$SEQ median of $ROUNDS rounds: graft ${gm} ms/step, torch ${tm} ms/step, graft/torch = $(awk "BEGIN {printf \"%.2f\", $gm/$tm}")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
