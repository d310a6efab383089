#!/usr/bin/env bash
# Time per update of `graft finetune` (MiniLM from ../shared + mean pooling + linear head, classify, AdamW)
# against the library's TrainStep alone on the same model and batch size (bench_train), batch x seq
# (default 32 x 128), same thread count, alternating the two ROUNDS times in one run.
#   finetune: the marginal cost of an update as the command runs it (data batching, collation, the step,
#             gradient clipping, logging): (wall time of --max-steps 2+STEPS - wall time of --max-steps 2) / STEPS,
#             so start-up, tokenization, compiling and the export cancel out. Every text is longer than SEQ
#             tokens, so each batch is exactly SEQ long (one compiled step).
#   TrainStep: bench_train's median of STEPS steps after the compiling one (all-ones mask, no clipping).
#   bash bench/finetune_vs_trainstep.sh [BUILD_DIR=build] [THREADS=2] [ROUNDS=3] [STEPS=4] [BATCH=32] [SEQ=128]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
BUILD=${1:-build}; THREADS=${2:-2}; ROUNDS=${3:-3}; STEPS=${4:-4}; BATCH=${5:-32}; SEQ=${6:-128}
BENCH=$BUILD/bench/bench_train GRAFT=$BUILD/tools/graft/graft
for b in "$BENCH" "$GRAFT"; do
  [ -x "$b" ] || { echo "build it first: cmake --build $BUILD --target bench_train graft_cli" >&2; exit 1; }
done
require_minilm "$BUILD"
MODEL=$MINILM
TOKENIZER=../shared/tokenizers/minilm_tokenizer.json
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Two labels, 4 * BATCH * (STEPS + 2) rows of 2 * SEQ words each (more than SEQ tokens after truncation),
# so no epoch ends (and no checkpoint is written) while timing.
/usr/bin/python3 - "$WORK/train.csv" $((4 * BATCH * (STEPS + 2))) $((2 * SEQ)) <<'EOF'
import random, sys
words = "the a match goal rain snow bread soup team coach wind storm cheese pasta score cloud".split()
rng = random.Random(0)
with open(sys.argv[1], "w") as f:
    f.write("text,label\n")
    for i in range(int(sys.argv[2])):
        f.write(" ".join(rng.choice(words) for _ in range(int(sys.argv[3]))) + "," + ("ab"[i % 2]) + "\n")
EOF
run_finetune() {  # wall seconds of one `graft finetune --max-steps $1`
  local s e
  rm -rf "$WORK/out"
  s=$(date +%s.%N)
  "$GRAFT" finetune --model "$MODEL" --tokenizer "$TOKENIZER" --task classify --train "$WORK/train.csv" \
    --batch "$BATCH" --max-length "$SEQ" --max-steps "$1" --lr 1e-5 --threads "$THREADS" \
    --output-dir "$WORK/out" > /dev/null 2>&1
  e=$(date +%s.%N)
  awk "BEGIN {print $e - $s}"
}
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
f_list=""; t_list=""
for r in $(seq "$ROUNDS"); do
  short=$(run_finetune 2)
  long=$(run_finetune $((2 + STEPS)))
  f=$(awk "BEGIN {printf \"%.0f\", 1000 * ($long - $short) / $STEPS}")
  t=$("$BENCH" "$MODEL" "$BATCH" "$SEQ" "$STEPS" "$THREADS" | field median_ms)
  echo "b$BATCH x s$SEQ round $r: graft finetune ${f} ms/update (runs of 2 and $((2 + STEPS)) updates: ${short} s, ${long} s), TrainStep ${t} ms/step"
  f_list="$f_list $f"; t_list="$t_list $t"
done
fm=$(echo $f_list | tr ' ' '\n' | median); tm=$(echo $t_list | tr ' ' '\n' | median)
echo "b$BATCH x s$SEQ median of $ROUNDS rounds: graft finetune ${fm} ms/update, TrainStep ${tm} ms/step, finetune/TrainStep = $(awk "BEGIN {printf \"%.2f\", $fm/$tm}")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
