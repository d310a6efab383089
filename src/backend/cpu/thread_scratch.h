#pragma once
// Per-thread scratch buffers for kernels that reorder their operands into a library's layout (oneDNN's
// blocked formats) or need a temporary of the size of an activation. Kernels run one at a time on the thread
// that runs the executable, so every kernel of a deep network shares the same few buffers instead of each
// holding its own copies (which would double the activation and weight memory). A kernel must not keep a
// pointer from one run to the next: another kernel may grow (reallocate) the buffer in between.
#include <cstddef>

namespace graft::cpu {

// Distinct roles of one kernel run, each its own buffer.
enum class ScratchRole { Weights, Source, Result, Extra, Count };

// A 64-byte aligned buffer of at least `bytes` for `role` on the calling thread (grown as needed, freed when the
// thread ends); fails with a graft::Error naming `who` if it cannot be allocated.
void* thread_scratch(ScratchRole role, size_t bytes, const char* who);

}  // namespace graft::cpu
