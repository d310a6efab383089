#!/usr/bin/env bash
# The whole GPU verification of graft's CUDA backend in one run of at most 8 minutes, on a GPU machine
# with CUDA 13, Python + PyTorch, and none of Debian's -dev packages (docs/gpu.md says how to run it with
# the device tool). It unpacks the bundle made here by scripts/gpu-bundle.sh, finds the machine's
# cuBLASLt and NVRTC, runs the CUDA unit tests and the GPU test suite (every op against the CPU backend,
# MiniLM against PyTorch, a 10-step AdamW fine-tune against the CPU), then the benchmark against PyTorch
# (bench/gpu/run_bench.py), and writes to $OUT: gpu-check.log (everything), results.md (the summary),
# test_cuda.xml, test_gpu.xml, bench.md, bench.json.
#
#   scripts/gpu-check.sh [BUNDLE=.gpu-bundle/graft-gpu.tar.xz]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=${1:-$ROOT/.gpu-bundle/graft-gpu.tar.xz}
OUT=${OUT:-/tmp/graft-gpu-check}
BUDGET=${GPU_CHECK_BUDGET_S:-470}  # seconds for everything
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
left() { echo $(( BUDGET - $(elapsed) )); }
section() { echo; echo "=== $* (at $(elapsed) s)"; }
export PYTHONUNBUFFERED=1

section machine
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>&1 | head -3
PY=$(command -v python3)
$PY -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())' 2>&1

section "unpack $BUNDLE"
[ -f "$BUNDLE" ] || { echo "no bundle at $BUNDLE: run scripts/gpu-bundle.sh on the development machine and carry .gpu-bundle"; exit 2; }
W=/tmp/graft-gpu
rm -rf "$W" && mkdir -p "$W" && tar xJf "$BUNDLE" -C "$W" || exit 2
# cuBLASLt and NVRTC 13 from this machine: the toolkit, or the wheels PyTorch uses.
dirs=""
site=$($PY -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
for lib in libcublasLt.so.13 libnvrtc.so.13 libnvrtc-builtins.so.13.0; do
  found=$(find /usr/local/cuda/lib64/ /usr/local/cuda/targets/x86_64-linux/lib/ /usr/local/cuda-13*/ $site /usr/lib/x86_64-linux-gnu \
    -name "$lib" 2>/dev/null | head -1)
  echo "$lib: ${found:-NOT FOUND}"
  [ -n "$found" ] && dirs="$dirs:$(dirname "$found")"
done
export LD_LIBRARY_PATH="$W/lib$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
missing=$(for b in "$W"/bin/*; do ldd "$b" | grep "not found"; done | sort -u)
[ -z "$missing" ] || { echo "missing libraries:"; echo "$missing"; exit 3; }
export GRAFT_SHARED_DIR="$W/extra"  # extra/models: the shared test models' recipes
export GRAFT_PYTHON="$PY"
export GRAFT_CUDA_CACHE=/tmp/graft-cuda-cache

section "test_cuda (NVRTC code generation, device choice)"
timeout 90 "$W/bin/test_cuda" --gtest_output="xml:$OUT/test_cuda.xml"
rc_cuda=$?

section "test_gpu (every op vs the CPU backend, MiniLM vs PyTorch, AdamW vs the CPU)"
t=$(( $(left) - 200 )); [ $t -gt 240 ] && t=240; [ $t -lt 60 ] && t=60
timeout $t "$W/bin/test_gpu" --gtest_output="xml:$OUT/test_gpu.xml"
rc_gpu=$?

section "benchmark against PyTorch"
t=$(( $(left) - 10 )); quick=""; [ $t -lt 180 ] && quick=--quick
if [ $t -gt 30 ]; then
  timeout $t $PY "$ROOT/bench/gpu/run_bench.py" "$W/bin/bench_gpu" /tmp/graft-bench "$OUT" $quick
  rc_bench=$?
else
  echo "no time left for the benchmark"; rc_bench=124
fi

section summary
{
  echo "# graft GPU check ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $(elapsed) s)"
  echo
  for x in test_cuda test_gpu; do
    if [ -f "$OUT/$x.xml" ]; then
      $PY - "$OUT/$x.xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
name = sys.argv[1].rsplit("/", 1)[-1][:-4]
cases = list(r.iter("testcase"))
t = len(cases)
f = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
s = sum(1 for c in cases if c.get("result") == "skipped" or c.find("skipped") is not None)
print(f"- {name}: {t - f - s} of {t} passed, {f} failed, {s} skipped")
for c in r.iter("testcase"):
    for fl in c.findall("failure"):
        print(f"  - FAILED {c.get('classname')}.{c.get('name')}: {(fl.get('message') or '').splitlines()[0][:200]}")
PYEOF
    else
      echo "- $x: no result (crashed or timed out)"
    fi
  done
  echo "- exit codes: test_cuda $rc_cuda, test_gpu $rc_gpu, benchmark $rc_bench"
  echo
  [ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
} > "$OUT/results.md"
cat "$OUT/results.md"
[ $rc_cuda -eq 0 ] && [ $rc_gpu -eq 0 ] && [ $rc_bench -eq 0 ]
