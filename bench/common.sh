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
