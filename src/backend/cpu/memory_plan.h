#pragma once
// Static memory planning: every intermediate value gets an offset in one arena, chosen from the
// values' live ranges so that buffers whose lifetimes do not overlap share memory. Planned once at
// compile time; a run then allocates nothing but its outputs.
#include <cstddef>
#include <vector>

namespace graft::cpu {

struct BufferRequest {
  size_t bytes = 0;
  int first_step = 0;  // step that writes it
  int last_step = 0;   // last step that reads it
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // one per request, 64-byte aligned
  size_t arena_bytes = 0;
  size_t naive_bytes = 0;  // the sum of all requests
};

// Greedy best-fit by decreasing size over live-range conflicts (the usual offset-assignment heuristic).
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

}  // namespace graft::cpu
