# Helpers shared by the bench/*_vs_*.sh scripts; sourced (`. bench/common.sh`) from the repository root.

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The number in field NAME of the JSON object on the last line of standard input.
field() { tail -1 | sed -E "s/.*\"$1\": ?([0-9.eE+-]+).*/\1/"; }

# Sets GRAFT to BUILD_DIR's graft binary, or stops with what to build.
require_graft() {
  GRAFT=$1/tools/graft/graft
  [ -x "$GRAFT" ] || { echo "build graft first: cmake --build $1 --target graft_cli" >&2; exit 1; }
}

# Installs onnxruntime-node (bench/ort/package.json) unless it is there.
require_ort() {
  [ -d bench/ort/node_modules/onnxruntime-node ] || (cd bench/ort && npm install --no-audit --no-fund --ignore-scripts >/dev/null)
}

# Sets BUILD, THREADS and ROUNDS from the script's first three arguments: bench_args DEFAULT_ROUNDS "$@"
# (defaults: build, 2 threads, DEFAULT_ROUNDS rounds).
bench_args() {
  local default_rounds=$1; shift
  BUILD=${1:-build}
  THREADS=${2:-2}
  ROUNDS=${3:-$default_rounds}
}

# Sets MINILM to the shared MiniLM's ONNX file under BUILD_DIR, writing it from ../shared when missing; stops
# without ../shared unless the second argument is "optional" (then MINILM may not exist: check it).
require_minilm() {
  MINILM=$1/minilm_l6/minilm_l6_opset14.onnx
  if [ ! -d ../shared/models ]; then
    [ "${2:-}" = optional ] && return 0
    echo "needs ../shared/models (the shared MiniLM)" >&2
    exit 1
  fi
  [ -f "$MINILM" ] || /usr/bin/python3 ../shared/models/materialize.py "$1" >/dev/null
}

# Sets MODELS to BUILD_DIR/bench-models, generating bench/gen_bench_models.py's models when missing (dbnet_b1 is
# the newest of them: an older folder without it is regenerated).
require_bench_models() {
  MODELS=$1/bench-models
  [ -d "$MODELS/dbnet_b1" ] || /usr/bin/python3 bench/gen_bench_models.py "$MODELS" >/dev/null
}
