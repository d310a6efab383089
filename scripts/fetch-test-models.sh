#!/usr/bin/env bash
# Fetches real-world models that some robustness tests run (tests/robustness/real_models_test.cpp) from npm,
# where their authors publish them. They are never committed. npm checks each tarball against the
# registry's integrity hash and keeps it in its cache (~/.npm), so later runs do not download again.
#
#   silero_vad_v5.onnx, silero_vad_v6.onnx   npm @ricky0123/vad-web@0.0.31 (dist/), 2.3 MB each
#   isnet_fp16.onnx                          npm @imgly/background-removal-data@1.4.5 ("/models/medium",
#                                            88 MB, stored as 4 MiB chunks listed in dist/resources.json;
#                                            the tarball is 136 MB): float16 weights and compute
#   isnet_int8.onnx (--bench only)           the same package's "/models/small", 44 MB: ONNX Runtime's
#                                            quantize_dynamic layout (DynamicQuantizeLinear + ConvInteger)
#
# Usage: bash scripts/fetch-test-models.sh OUT_DIR [--bench]
# Without npm or network it prints a note and exits 0: the tests that need the files skip.
set -uo pipefail
OUT=${1:?usage: fetch-test-models.sh OUT_DIR [--bench]}
BENCH=${2:-}
mkdir -p "$OUT"
if ! command -v npm >/dev/null || ! command -v tar >/dev/null; then
  echo "note: npm not found; real-model tests will skip"
  exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# pack PACKAGE@VERSION -> path of the tarball in $TMP (empty on failure)
pack() {
  local name
  name=$(cd "$TMP" && npm pack "$1" --silent 2>"$TMP/npm.err" | tail -1) || true
  if [ -z "$name" ] || [ ! -f "$TMP/$name" ]; then
    echo "note: npm pack $1 failed ($(tail -1 "$TMP/npm.err")); real-model tests that need it will skip" >&2
    return 1
  fi
  echo "$TMP/$name"
}

if [ ! -f "$OUT/silero_vad_v5.onnx" ] || [ ! -f "$OUT/silero_vad_v6.onnx" ]; then
  if tgz=$(pack @ricky0123/vad-web@0.0.31); then
    tar -xzf "$tgz" -C "$TMP" package/dist/silero_vad_v5.onnx package/dist/silero_vad_v6.onnx &&
      mv "$TMP/package/dist/silero_vad_v5.onnx" "$TMP/package/dist/silero_vad_v6.onnx" "$OUT/"
    rm -f "$tgz"
  fi
fi

# The background-removal models: which resources of the package to assemble, and under which names.
want=()
[ -f "$OUT/isnet_fp16.onnx" ] || want+=("/models/medium=isnet_fp16.onnx")
[ "$BENCH" = --bench ] && [ ! -f "$OUT/isnet_int8.onnx" ] && want+=("/models/small=isnet_int8.onnx")
if [ ${#want[@]} -gt 0 ]; then
  if tgz=$(pack @imgly/background-removal-data@1.4.5); then
    mkdir -p "$TMP/imgly" && tar -xzf "$tgz" -C "$TMP/imgly" && rm -f "$tgz"
    for w in "${want[@]}"; do
      # Concatenate the chunks of the resource in offset order; written under a temporary name first.
      node -e '
        const fs = require("fs"), path = require("path");
        const [dist, name, out] = process.argv.slice(1);
        const res = JSON.parse(fs.readFileSync(path.join(dist, "resources.json"), "utf8"))[name];
        if (!res) throw new Error("resources.json has no " + name);
        const chunks = res.chunks.slice().sort((a, b) => a.offsets[0] - b.offsets[0]);
        const fd = fs.openSync(out + ".tmp", "w");
        let at = 0;
        for (const c of chunks) {
          if (c.offsets[0] !== at) throw new Error("gap in the chunks of " + name + " at " + at);
          const b = fs.readFileSync(path.join(dist, c.hash));
          if (b.length !== c.offsets[1] - c.offsets[0]) throw new Error("chunk " + c.hash + " has the wrong size");
          fs.writeSync(fd, b);
          at += b.length;
        }
        fs.closeSync(fd);
        if (at !== res.size) throw new Error("assembled " + at + " bytes, resources.json says " + res.size);
        fs.renameSync(out + ".tmp", out);
      ' "$TMP/imgly/package/dist" "${w%%=*}" "$OUT/${w#*=}" || echo "note: could not assemble ${w#*=}" >&2
    done
  fi
fi
ls -l "$OUT" | sed 's/^/fetch-test-models: /'
exit 0
