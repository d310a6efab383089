#!/usr/bin/env bash
# `mpirun -np 2 graft finetune` against `graft finetune` in one process, on the built-in demo (CTest:
# distributed.finetune_two_ranks): the per-update losses of the global batches must agree within 1e-5
# relative, and the data-parallel run must leave a model that `graft classify` runs.
#   bash finetune_two_ranks.sh GRAFT MPIEXEC WORKDIR
set -euo pipefail
GRAFT=$1 MPIEXEC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
"$GRAFT" finetune --demo --max-steps 8 --threads 1 --output-dir "$WORK/one" >"$WORK/one.log" 2>&1
"$MPIEXEC" -np 2 --oversubscribe "$GRAFT" finetune --demo --max-steps 8 --output-dir "$WORK/two" >"$WORK/two.log" 2>&1
loss() { sed -E 's/.*"loss":([0-9.eE+-]+).*/\1/' "$1"; }
paste <(loss "$WORK/one/train_log.jsonl") <(loss "$WORK/two/train_log.jsonl") | awk '
  { n++; d = $1 - $2; if (d < 0) d = -d; r = d / ($1 < 0 ? -$1 : $1); if (r > worst) worst = r
    printf "update %d: one process %s, two ranks %s\n", n, $1, $2 }
  END { printf "%d updates, max relative difference %.3g\n", n, worst; exit !(n == 8 && worst <= 1e-5) }'
"$GRAFT" classify --model "$WORK/two" "The referee stopped the match after the goal" | grep -q .
echo "finetune_two_ranks: ok"
