#pragma once
// The one way the CPU backend splits work across threads. Every parallel loop of its kernels goes
// through parallel_for, so the policy — when a loop is worth the pool, how items are split, how the
// threads wait — lives in this one place (oneDNN's primitives run on the same OpenMP pool).
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace graft::cpu {

// Below about this much work (elements touched, as callers measure it) one thread is faster than waking
// the pool.
inline constexpr int64_t kParallelWork = int64_t(1) << 15;

// Runs body(begin, end) over [0, items) in contiguous ranges, one per thread, when the whole job's `work`
// reaches `min_work` and more than one thread is available (and we are not already inside a parallel
// region); otherwise once on the calling thread over everything. At most `max_threads` threads when
// positive (callers with per-thread scratch pass its size; omp_get_thread_num() indexes it). body must
// not throw (it may run inside an OpenMP region): record errors and throw once it returns.
template <typename F>
void parallel_for(int64_t items, int64_t work, F&& body, int64_t min_work = kParallelWork, int max_threads = 0) {
  if (items <= 0) return;
  int threads = omp_get_max_threads();
  if (max_threads > 0) threads = std::min(threads, max_threads);
  if (items == 1 || work < min_work || threads <= 1 || omp_in_parallel()) {
    body(int64_t(0), items);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t lo = items / nt * t + std::min<int64_t>(t, items % nt);
    const int64_t hi = lo + items / nt + (t < items % nt ? 1 : 0);
    if (lo < hi) body(lo, hi);
  }
}

}  // namespace graft::cpu
