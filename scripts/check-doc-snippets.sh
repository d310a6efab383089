#!/usr/bin/env bash
# Compiles every ```cpp snippet of README.md and docs/*.md against an installed graft (as a user's project
# would: find_package(graft) + graft::graft) and runs it, so the documentation cannot drift from the code.
# A snippet with a `main` is a whole program; any other runs as the body of one (its #include lines go on
# top, <graft/graft.h> and <iostream> are always included).
#
# Snippets run in a folder holding what they name: model.onnx (all-MiniLM-L6-v2, from ../shared via
# materialize.py) and tokenizer.json, with HF_HUB_OFFLINE=1 and a Hugging Face cache holding
# sentence-transformers/all-MiniLM-L6-v2 (tokenizer.json, onnx/model.onnx) and the dataset org/data at
# refs/pr/1. Without ../shared the snippets are compiled but not run, and the script exits 77 (skip).
#
# Usage: bash scripts/check-doc-snippets.sh [BUILD_DIR]     (CTest: doc_snippets)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
SHARED=${GRAFT_SHARED_DIR:-$SRC/../shared}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- extract -----------------------------------------------------------------------------------------
mkdir -p "$WORK/project" "$WORK/raw"
names=()
for md in "$SRC/README.md" "$SRC"/docs/*.md; do
  base=$(basename "$md" .md | tr -c 'A-Za-z0-9\n' '_')
  # Each ```cpp block to raw/<base>_<n>.snippet.
  awk -v out="$WORK/raw/$base" 'BEGIN { inside = 0; n = 0 }
       /^```cpp[[:space:]]*$/ { inside = 1; n++; file = sprintf("%s_%d.snippet", out, n); printf "" > file; next }
       /^```/ && inside { inside = 0; close(file); next }
       inside { print >> file }' "$md"
  n=0
  while [ -f "$WORK/raw/${base}_$((n + 1)).snippet" ]; do
    n=$((n + 1))
    name="${base}_${n}"
    block="$WORK/raw/$name.snippet"
    {
      echo "// ${md#"$SRC"/}, C++ snippet $n (extracted by scripts/check-doc-snippets.sh)"
      if grep -q 'int main(' "$block"; then
        cat "$block"
      else
        echo '#include <graft/graft.h>'
        echo '#include <iostream>'
        grep -E '^#include' "$block" || true
        echo 'int main() try {'
        grep -vE '^#include' "$block" || true
        echo '  return 0;'
        echo '} catch (const std::exception& e) {'
        echo "  std::cerr << \"${md#"$SRC"/} snippet $n: \" << e.what() << \"\\n\";"
        echo '  return 1;'
        echo '}'
      fi
    } >"$WORK/project/$name.cpp"
    names+=("$name")
  done
done
if [ ${#names[@]} -eq 0 ]; then
  echo "check-doc-snippets: no C++ snippets found" >&2
  exit 1
fi

# ---- build against the installed library ---------------------------------------------------------------
cmake --install "$BUILD" --prefix "$WORK/install" >/dev/null
{
  echo 'cmake_minimum_required(VERSION 3.25)'
  echo 'project(graft_doc_snippets LANGUAGES CXX)'
  echo 'set(CMAKE_CXX_STANDARD 20)'
  echo 'find_package(graft REQUIRED)'
  for name in "${names[@]}"; do
    echo "add_executable($name $name.cpp)"
    echo "target_link_libraries($name PRIVATE graft::graft)"
  done
} >"$WORK/project/CMakeLists.txt"
cmake -S "$WORK/project" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/install" >/dev/null
if ! cmake --build "$WORK/build" -j"${GRAFT_JOBS:-2}" >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log" >&2
  echo "check-doc-snippets: a documentation snippet does not compile (sources above)" >&2
  for name in "${names[@]}"; do echo "---- $name.cpp" >&2; cat "$WORK/project/$name.cpp" >&2; done
  exit 1
fi
echo "check-doc-snippets: ${#names[@]} snippets compile"

# ---- run ---------------------------------------------------------------------------------------------
if [ ! -f "$SHARED/models/materialize.py" ] || [ ! -f "$SHARED/tokenizers/minilm_tokenizer.json" ]; then
  echo "check-doc-snippets: $SHARED not found; snippets compiled but not run"
  exit 77
fi
RUN="$WORK/run"
mkdir -p "$RUN"
/usr/bin/python3 "$SHARED/models/materialize.py" "$WORK/models" >/dev/null
MODEL_DIR="$WORK/models/minilm_l6"
cp "$MODEL_DIR/minilm_l6_opset14.onnx" "$RUN/model.onnx"
cp "$MODEL_DIR/minilm_l6_opset14.data" "$RUN/"
cp "$SHARED/tokenizers/minilm_tokenizer.json" "$RUN/tokenizer.json"

# A Hugging Face cache as huggingface_hub lays it out (refs -> commit, snapshots -> ../blobs).
CACHE="$WORK/hf"
commit=0123456789abcdef0123456789abcdef01234567
repo="$CACHE/models--sentence-transformers--all-MiniLM-L6-v2"
mkdir -p "$repo/refs" "$repo/blobs" "$repo/snapshots/$commit/onnx"
printf '%s' "$commit" >"$repo/refs/main"
cp "$SHARED/tokenizers/minilm_tokenizer.json" "$repo/blobs/tokenizer"
cp "$RUN/model.onnx" "$repo/blobs/model"
cp "$RUN/minilm_l6_opset14.data" "$repo/blobs/data"
ln -s ../../blobs/tokenizer "$repo/snapshots/$commit/tokenizer.json"
ln -s ../../../blobs/model "$repo/snapshots/$commit/onnx/model.onnx"
ln -s ../../../blobs/data "$repo/snapshots/$commit/onnx/minilm_l6_opset14.data"
dataset="$CACHE/datasets--org--data"
dcommit=89abcdef0123456789abcdef0123456789abcdef
mkdir -p "$dataset/refs/refs/pr" "$dataset/blobs" "$dataset/snapshots/$dcommit"
printf '%s' "$dcommit" >"$dataset/refs/refs/pr/1"
printf 'a,b\n1,2\n' >"$dataset/blobs/csv"
ln -s ../../blobs/csv "$dataset/snapshots/$dcommit/data.csv"

failed=0
for name in "${names[@]}"; do
  if (cd "$RUN" && HF_HUB_OFFLINE=1 HF_HUB_CACHE="$CACHE" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
      timeout 600 "$WORK/build/$name" >"$WORK/$name.out" 2>&1); then
    echo "  ok   $name"
  else
    echo "  FAIL $name" >&2
    cat "$WORK/$name.out" >&2
    failed=1
  fi
done
if [ "$failed" != 0 ]; then
  echo "check-doc-snippets: a documentation snippet failed to run" >&2
  exit 1
fi
echo "check-doc-snippets: ${#names[@]} snippets compile and run"
