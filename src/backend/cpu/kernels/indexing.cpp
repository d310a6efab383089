// Gather and scatter with XLA dimension numbers (and so Take, TakeAlongAxis, ScatterAlongAxis, which the
// builder lowers onto them).
//
// Both ops pair a "big" side (the operand) with a "small" side (gather's output, scatter's updates):
// every index vector b picks a start in the operand, and a window of the operand starting there maps
// element by element onto a window of the small side. The factory turns the dimension numbers into
//   - where index vector b lies in the indices buffer,
//   - an odometer over the small side's batch axes (the base offset of window b there),
//   - a table of contiguous runs inside one window (operand offset, small-side offset, run length),
// so a run is: validate + compute the start of each index vector, then copy (or combine) runs.
// An embedding lookup (Take on axis 0) is one memcpy of a whole row per index.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backend/cpu/kernel.h"
#include "backend/cpu/parallel.h"

namespace graft::cpu {


namespace {


// Walks a row-major index space and keeps one linear offset (with arbitrary per-axis strides) in step.
struct Odometer {
  std::vector<int64_t> dims, strides;  // axes of extent > 1 only
  std::vector<int64_t> idx;
  int64_t off = 0;

  void seek(int64_t linear) {
    idx.assign(dims.size(), 0);
    off = 0;
    for (size_t a = dims.size(); a-- > 0;) {
      idx[a] = linear % dims[a];
      linear /= dims[a];
      off += idx[a] * strides[a];
    }
  }
  void next() {
    for (size_t a = dims.size(); a-- > 0;) {
      off += strides[a];
      if (++idx[a] < dims[a]) return;
      off -= idx[a] * strides[a];
      idx[a] = 0;
    }
  }
};

// Everything shape-dependent about a gather or scatter, computed once in the factory.
struct IndexPlan {
  // Operand.
  std::vector<int64_t> operand_dims, operand_strides;
  std::vector<int64_t> window_sizes;  // per operand axis: the extent of the window along it
  // Index vectors: vector b starts at (b / post) * len * post + b % post, components `post` apart.
  int64_t num_vectors = 0, len = 0, post = 1;
  std::vector<int64_t> start_map;  // component k is the start on operand axis start_map[k]
  // Small side (gather output / scatter updates).
  Odometer batch;  // base offset of window b on the small side
  // Runs inside one window.
  int64_t run_len = 1;
  std::vector<int64_t> run_operand, run_small;  // offsets of each run's first element
  int64_t window_elems = 0;                     // elements in one window
};

// window_axes: for each operand axis in order, the small-side axis it maps to, or -1 when the axis is
// collapsed (gather) / inserted (scatter). small_batch_axes: the small side's axes that enumerate index
// vectors, in order.
IndexPlan make_plan(const Shape& operand, const Shape& indices, int64_t index_vector_dim,
                    const std::vector<int64_t>& start_map, const Shape& small,
                    const std::vector<int64_t>& window_sizes, const std::vector<int64_t>& window_axes,
                    const std::vector<int64_t>& small_batch_axes) {
  IndexPlan p;
  p.operand_dims = operand.dims();
  p.operand_strides = operand.strides();
  p.window_sizes = window_sizes;
  p.start_map = start_map;
  int ir = indices.rank();
  p.len = index_vector_dim == ir ? 1 : indices[int(index_vector_dim)];
  p.post = 1;
  for (int i = int(index_vector_dim) + 1; i < ir; ++i) p.post *= indices[i];
  p.num_vectors = 1;
  for (int i = 0; i < ir; ++i)
    if (i != index_vector_dim) p.num_vectors *= indices[i];
  if (p.post == 0) p.post = 1;  // no vectors at all then; keep the divisions defined

  std::vector<int64_t> small_strides = small.strides();
  for (int64_t ax : small_batch_axes) {
    if (small[int(ax)] == 1) continue;
    p.batch.dims.push_back(small[int(ax)]);
    p.batch.strides.push_back(small_strides[size_t(ax)]);
  }

  // Window axes as (size, operand stride, small stride), outermost first; merge where both sides are
  // contiguous across the pair, and peel off a trailing run that is contiguous on both sides.
  struct Axis { int64_t size, op_stride, small_stride; };
  std::vector<Axis> axes;
  p.window_elems = 1;
  for (size_t d = 0; d < window_axes.size(); ++d) {
    p.window_elems *= window_sizes[d];
    if (window_axes[d] < 0 || window_sizes[d] == 1) continue;
    Axis a{window_sizes[d], p.operand_strides[d], small_strides[size_t(window_axes[d])]};
    if (!axes.empty() && axes.back().op_stride == a.size * a.op_stride &&
        axes.back().small_stride == a.size * a.small_stride) {
      axes.back() = Axis{axes.back().size * a.size, a.op_stride, a.small_stride};
    } else {
      axes.push_back(a);
    }
  }
  if (!axes.empty() && axes.back().op_stride == 1 && axes.back().small_stride == 1) {
    p.run_len = axes.back().size;
    axes.pop_back();
  }
  if (p.window_elems > 0) {
    Odometer op_odo, small_odo;
    int64_t runs = 1;
    for (const Axis& a : axes) {
      op_odo.dims.push_back(a.size);
      op_odo.strides.push_back(a.op_stride);
      small_odo.dims.push_back(a.size);
      small_odo.strides.push_back(a.small_stride);
      runs *= a.size;
    }
    op_odo.seek(0);
    small_odo.seek(0);
    for (int64_t r = 0; r < runs; ++r) {
      p.run_operand.push_back(op_odo.off);
      p.run_small.push_back(small_odo.off);
      op_odo.next();
      small_odo.next();
    }
  }
  return p;
}

// The operand offset of the window of index vector b, or -1 when it lies outside the operand.
inline int64_t window_start(const IndexPlan& p, const int64_t* indices, int64_t b) {
  const int64_t* v = indices + (b / p.post) * p.len * p.post + b % p.post;
  int64_t off = 0;
  for (size_t k = 0; k < p.start_map.size(); ++k) {
    int64_t i = v[int64_t(k) * p.post];
    size_t ax = size_t(p.start_map[k]);
    if (i < 0 || i > p.operand_dims[ax] - p.window_sizes[ax]) return -1;
    off += i * p.operand_strides[ax];
  }
  return off;
}

// Fills starts[b] for every index vector; throws naming the first out-of-range index (never from
// inside the parallel region).
void compute_starts(const IndexPlan& p, const int64_t* indices, std::vector<int64_t>& starts, const char* verb) {
  starts.resize(size_t(p.num_vectors));
  int64_t first_bad = std::numeric_limits<int64_t>::max();
  int64_t n = p.num_vectors;
  int64_t* s = starts.data();
  // Every range computes its starts; the first bad index overall is the smallest a range saw.
  std::atomic<int64_t> bad{first_bad};
  parallel_for(n, n * int64_t(p.start_map.size()), [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      s[b] = window_start(p, indices, b);
      if (s[b] < 0) {
        int64_t seen = bad.load();
        while (b < seen && !bad.compare_exchange_weak(seen, b)) {
        }
        break;
      }
    }
  });
  first_bad = bad.load();
  if (first_bad == std::numeric_limits<int64_t>::max()) return;
  const int64_t* v = indices + (first_bad / p.post) * p.len * p.post + first_bad % p.post;
  for (size_t k = 0; k < p.start_map.size(); ++k) {
    int64_t i = v[int64_t(k) * p.post];
    size_t ax = size_t(p.start_map[k]);
    int64_t extent = p.operand_dims[ax], w = p.window_sizes[ax];
    if (i < 0 || i > extent - w)
      fail("index ", i, " is out of range for axis ", ax, " of extent ", extent,
           w == 1 ? std::string() : " (window of " + std::to_string(w) + " from there)", " (index vector ",
           first_bad, " of ", n, ", ", verb, ")");
  }
}

template <size_t ES>
inline void copy_run(char* dst, const char* src, int64_t n) {
  if (n == 1) {
    std::memcpy(dst, src, ES);  // a fixed-size copy: compiles to one move
  } else {
    std::memcpy(dst, src, size_t(n) * ES);
  }
}

template <size_t ES>
std::unique_ptr<Kernel> gather_kernel(IndexPlan plan) {
  auto scratch = std::make_shared<std::vector<int64_t>>();
  return lambda_kernel([plan = std::move(plan), scratch](std::span<const void* const> in,
                                                         std::span<void* const> out) {
    const IndexPlan& p = plan;
    if (p.num_vectors == 0 || p.window_elems == 0) return;
    const char* x = static_cast<const char*>(in[0]);
    const int64_t* indices = static_cast<const int64_t*>(in[1]);
    char* y = static_cast<char*>(out[0]);
    std::vector<int64_t>& starts = *scratch;
    compute_starts(p, indices, starts, "gathering");
    const int64_t runs = int64_t(p.run_operand.size());
    const int64_t total = p.num_vectors * runs;
    parallel_for(total, total * p.run_len, [&](int64_t lo, int64_t hi) {
      Odometer odo = p.batch;
      int64_t b = lo / runs, r = lo % runs;
      odo.seek(b);
      for (int64_t i = lo; i < hi; ++i) {
        copy_run<ES>(y + (odo.off + p.run_small[size_t(r)]) * int64_t(ES),
                     x + (starts[size_t(b)] + p.run_operand[size_t(r)]) * int64_t(ES), p.run_len);
        if (++r == runs) {
          r = 0;
          ++b;
          odo.next();
        }
      }
    });
  });
}

std::unique_ptr<Kernel> gather(const KernelArgs& a) {
  const auto& at = std::get<GatherAttrs>(a.op.attrs);
  const Shape& operand = a.inputs[0].shape;
  const Shape& indices = a.inputs[1].shape;
  const Shape& out = a.outputs[0].shape;
  GRAFT_CHECK(a.inputs[1].dtype == DType::I64, a.describe(), ": indices are ", a.inputs[1].str(),
              ", expected int64");
  std::vector<int64_t> offset_dims = at.offset_dims;
  std::sort(offset_dims.begin(), offset_dims.end());
  std::vector<int64_t> window_axes(size_t(operand.rank()), -1);
  size_t j = 0;
  for (int d = 0; d < operand.rank(); ++d) {
    bool collapsed = std::find(at.collapsed_slice_dims.begin(), at.collapsed_slice_dims.end(), d) !=
                     at.collapsed_slice_dims.end();
    if (!collapsed) window_axes[size_t(d)] = offset_dims[j++];
  }
  std::vector<int64_t> batch_axes;
  for (int i = 0; i < out.rank(); ++i)
    if (!std::binary_search(offset_dims.begin(), offset_dims.end(), int64_t(i))) batch_axes.push_back(i);
  IndexPlan plan = make_plan(operand, indices, at.index_vector_dim, at.start_index_map, out, at.slice_sizes,
                             window_axes, batch_axes);
  switch (dtype_size(a.outputs[0].dtype)) {
    case 1: return gather_kernel<1>(std::move(plan));
    case 2: return gather_kernel<2>(std::move(plan));
    case 4: return gather_kernel<4>(std::move(plan));
    case 8: return gather_kernel<8>(std::move(plan));
    default: return nullptr;
  }
}

// ---- scatter -----------------------------------------------------------------------------------------

// Combines a run of updates into the destination. NaN propagates through Max/Min; integer sums and
// products wrap (two's complement); bool treats Sum/Max as "or" and Prod/Min as "and".
template <typename T, ReduceOp OP>
inline void combine_run(T* d, const T* s, int64_t n) {
  if constexpr (OP == ReduceOp::Replace) {
    std::memcpy(d, s, size_t(n) * sizeof(T));
  } else if constexpr (std::is_same_v<T, bool>) {
    for (int64_t i = 0; i < n; ++i)
      d[i] = (OP == ReduceOp::Sum || OP == ReduceOp::Max) ? (d[i] || s[i]) : (d[i] && s[i]);
  } else if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (OP == ReduceOp::Sum) d[i] = T(U(U(d[i]) + U(s[i])));
      else if constexpr (OP == ReduceOp::Prod) d[i] = T(U(U(d[i]) * U(s[i])));
      else if constexpr (OP == ReduceOp::Max) d[i] = s[i] > d[i] ? s[i] : d[i];
      else d[i] = s[i] < d[i] ? s[i] : d[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      auto x = to_compute(d[i]), v = to_compute(s[i]);
      decltype(x) r;
      if constexpr (OP == ReduceOp::Sum) r = x + v;
      else if constexpr (OP == ReduceOp::Prod) r = x * v;
      else if constexpr (OP == ReduceOp::Max) r = (v != v || v > x) ? v : x;
      else r = (v != v || v < x) ? v : x;
      d[i] = T(r);
    }
  }
}

template <typename T, ReduceOp OP>
std::unique_ptr<Kernel> scatter_kernel(IndexPlan plan, int64_t operand_elems) {
  auto scratch = std::make_shared<std::vector<int64_t>>();
  return lambda_kernel(
      [plan = std::move(plan), scratch, operand_elems](std::span<const void* const> in, std::span<void* const> out) {
        const IndexPlan& p = plan;
        T* y = static_cast<T*>(out[0]);
        const int64_t* indices = static_cast<const int64_t*>(in[1]);
        const T* u = static_cast<const T*>(in[2]);
        // Validate before touching the output, so a failed run leaves no half-applied update behind
        // (matters when running in place).
        std::vector<int64_t>& starts = *scratch;
        bool any = p.num_vectors > 0 && p.window_elems > 0;
        if (any) compute_starts(p, indices, starts, "scattering");
        if (in[0] != out[0] && operand_elems > 0)
          std::memcpy(y, in[0], size_t(operand_elems) * sizeof(T));
        if (!any) return;
        const int64_t runs = int64_t(p.run_operand.size());
        Odometer odo = p.batch;
        odo.seek(0);
        // Index vectors are applied one after another, in order (later ones win for Replace, and
        // floating-point sums are reproducible). Inside one window no two elements collide, so a large
        // window is split across threads.
        bool split = runs > 1 && runs * p.run_len >= kParallelWork;
        for (int64_t b = 0; b < p.num_vectors; ++b, odo.next()) {
          T* d = y + starts[size_t(b)];
          const T* s = u + odo.off;
          if (split) {
            parallel_for(runs, runs * p.run_len, [&](int64_t lo, int64_t hi) {
              for (int64_t r = lo; r < hi; ++r)
                combine_run<T, OP>(d + p.run_operand[size_t(r)], s + p.run_small[size_t(r)], p.run_len);
            });
          } else {
            for (int64_t r = 0; r < runs; ++r)
              combine_run<T, OP>(d + p.run_operand[size_t(r)], s + p.run_small[size_t(r)], p.run_len);
          }
        }
      },
      1u /* output 0 may overwrite the operand */);
}

std::unique_ptr<Kernel> scatter(const KernelArgs& a) {
  const auto& at = std::get<ScatterAttrs>(a.op.attrs);
  const Shape& operand = a.inputs[0].shape;
  const Shape& indices = a.inputs[1].shape;
  const Shape& updates = a.inputs[2].shape;
  GRAFT_CHECK(a.inputs[1].dtype == DType::I64, a.describe(), ": indices are ", a.inputs[1].str(),
              ", expected int64");
  std::vector<int64_t> window_dims = at.update_window_dims;
  std::sort(window_dims.begin(), window_dims.end());
  std::vector<int64_t> window_axes(size_t(operand.rank()), -1), window_sizes(size_t(operand.rank()), 1);
  size_t j = 0;
  for (int d = 0; d < operand.rank(); ++d) {
    bool inserted = std::find(at.inserted_window_dims.begin(), at.inserted_window_dims.end(), d) !=
                    at.inserted_window_dims.end();
    if (inserted) continue;
    GRAFT_CHECK(j < window_dims.size(), a.describe(), ": update_window_dims do not cover operand axis ", d);
    window_axes[size_t(d)] = window_dims[j];
    window_sizes[size_t(d)] = updates[int(window_dims[j])];
    GRAFT_CHECK(window_sizes[size_t(d)] <= operand[d], a.describe(), ": update window of ", window_sizes[size_t(d)],
                " on operand axis ", d, " exceeds its extent ", operand[d]);
    ++j;
  }
  std::vector<int64_t> batch_axes;
  for (int i = 0; i < updates.rank(); ++i)
    if (!std::binary_search(window_dims.begin(), window_dims.end(), int64_t(i))) batch_axes.push_back(i);
  IndexPlan plan = make_plan(operand, indices, at.index_vector_dim, at.scatter_dims_to_operand_dims, updates,
                             window_sizes, window_axes, batch_axes);
  int64_t n = operand.size();
  ReduceOp op = at.combiner;
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::Replace: return scatter_kernel<T, ReduceOp::Replace>(std::move(plan), n);
      case ReduceOp::Sum: return scatter_kernel<T, ReduceOp::Sum>(std::move(plan), n);
      case ReduceOp::Prod: return scatter_kernel<T, ReduceOp::Prod>(std::move(plan), n);
      case ReduceOp::Max: return scatter_kernel<T, ReduceOp::Max>(std::move(plan), n);
      case ReduceOp::Min: return scatter_kernel<T, ReduceOp::Min>(std::move(plan), n);
      default: return nullptr;  // And/Or/Mean are no scatter combiners
    }
  });
}

}  // namespace

void register_indexing_kernels(KernelRegistry& r) {
  r.add(OpKind::Gather, gather);
  r.add(OpKind::Scatter, scatter);
}

}  // namespace graft::cpu
