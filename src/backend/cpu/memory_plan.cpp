#include "backend/cpu/memory_plan.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace graft::cpu {

namespace {
size_t align64(size_t n) { return (n + 63) / 64 * 64; }
}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  // Big buffers first: they are hardest to place, and small ones then fill the gaps.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  std::vector<size_t> placed;
  for (size_t id : order) {
    const BufferRequest& r = requests[id];
    size_t need = align64(r.bytes);
    plan.naive_bytes += need;
    // Intervals [offset, offset+size) taken by buffers alive at the same time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> taken;
    for (size_t p : placed) {
      const BufferRequest& o = requests[p];
      if (o.last_step < r.first_step || r.last_step < o.first_step) continue;
      taken.emplace_back(plan.offsets[p], plan.offsets[p] + align64(o.bytes));
    }
    std::sort(taken.begin(), taken.end());
    // Best fit: the smallest gap that holds the buffer, else the end.
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (auto [lo, hi] : taken) {
      if (lo > cursor && lo - cursor >= need && lo - cursor < best_gap) {
        best = cursor;
        best_gap = lo - cursor;
      }
      cursor = std::max(cursor, hi);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[id] = best;
    plan.arena_bytes = std::max(plan.arena_bytes, best + need);
    placed.push_back(id);
  }
  return plan;
}

}  // namespace graft::cpu
