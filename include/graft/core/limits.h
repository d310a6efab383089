#pragma once
// Resource limits, so that a hostile or broken model fails with a clear error instead of exhausting the
// machine. graft reads files from strangers (models, tokenizers, checkpoints, .npy inputs); the sizes and
// nesting depths those files declare are checked against these limits before anything is allocated.
//
//   graft::set_memory_limit(size_t(2) << 30);   // or GRAFT_MEMORY_LIMIT=2G in the environment
#include <cstddef>
#include <cstdint>
#include <string>

namespace graft {

// The most bytes one tensor may need, and one compiled executable's planned intermediate memory. Checked
// when a graph op is recorded (its results: a Constant, ConstantOfShape, Expand, Tile, Range, Resize ...
// whose shape is computed while tracing) and when an executable's memory is planned, so an oversized
// model fails while tracing or compiling, before allocating. Default: GRAFT_MEMORY_LIMIT (bytes, or a
// number with a K/M/G/T suffix, powers of 1024) when set, else the machine's physical memory.
size_t memory_limit();
// Sets the limit for the whole process (thread-safe); 0 restores the default.
void set_memory_limit(size_t bytes);
// Throws graft::Error "<what> needs N bytes, more than the memory limit of L bytes (...)" when bytes > limit.
void check_memory(uint64_t bytes, const std::string& what);

// Nesting bounds for parsers of untrusted files: sub-graphs (If/Loop/Scan bodies, functions calling
// functions) in an ONNX model, and nested components in JSON (tokenizer.json normalizer sequences ...).
inline constexpr int kMaxGraphNesting = 64;
inline constexpr int kMaxJsonNesting = 64;

}  // namespace graft
