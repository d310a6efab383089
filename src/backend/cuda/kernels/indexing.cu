// Gather and scatter with XLA dimension numbers, one thread per element of the small side (the gather's
// output, the scatter's updates); IndexMap (launch.h) says where each element's index vector and window
// offset are. Out-of-range starts are reported through the error record, as the CPU backend throws; the
// element is then skipped (a gather writes 0 there).
#include "backend/cuda/kernels/common.cuh"

namespace graft::cuda {

namespace {

// The operand offset of element i's window element, or -1 (reported) when its index vector is out of range.
__device__ __forceinline__ int64_t operand_offset(const int64_t* __restrict__ indices, const IndexMap& m, int64_t i,
                                                  int64_t* vector, gs::ErrorRecord* errors) {
  int64_t rem = i, b = 0, off = 0;
  for (int k = m.rank - 1; k >= 0; --k) {
    const int64_t c = rem % m.dims[k];
    rem /= m.dims[k];
    b += c * m.batch_mul[k];
    off += c * m.window_stride[k];
  }
  *vector = b;
  const int64_t* v = indices + (b / m.post) * m.len * m.post + b % m.post;
  for (int j = 0; j < m.nstart; ++j) {
    const int64_t idx = v[j * m.post];
    if (idx < 0 || idx > m.start_limit[j]) {
      gs::report(errors, gs::kIndexOutOfRange, m.op_id, idx, m.start_axis[j], m.start_extent[j], b);
      return -1;
    }
    off += idx * m.start_stride[j];
  }
  return off;
}

template <class T>
__global__ void gather_kernel(const T* __restrict__ operand, const int64_t* __restrict__ indices, T* __restrict__ out,
                              IndexMap m, gs::ErrorRecord* errors) {
  GS_GRID_LOOP(i, m.count) {
    int64_t b;
    const int64_t off = operand_offset(indices, m, i, &b, errors);
    out[i] = off < 0 ? T{} : operand[off];
  }
}

template <class T, class W>
__device__ __forceinline__ T from_bits(W w) {
  T v;
  memcpy(&v, &w, sizeof(T));
  return v;
}
template <class W, class T>
__device__ __forceinline__ W to_bits(T v) {
  W w = 0;
  memcpy(&w, &v, sizeof(T));
  return w;
}

// *addr = combine(*addr, v) atomically, for every storage type: native atomics where they exist, else a
// compare-and-swap loop on the aligned 4- or 8-byte word holding the element.
template <class T>
__device__ void atomic_combine(T* addr, T v, int op) {
  typedef typename gs::compute<T>::type A;
  if constexpr (gs::same<T, float>::value || gs::same<T, double>::value) {
    if (op == gs::kSum) {
      atomicAdd(addr, v);
      return;
    }
  }
  if constexpr (gs::same<T, int>::value || gs::same<T, unsigned int>::value || gs::same<T, long long>::value ||
                gs::same<T, unsigned long long>::value) {
    typedef typename gs::unsigned_of<T>::type U;
    if (op == gs::kSum) {
      atomicAdd(reinterpret_cast<U*>(addr), U(v));  // wraps, as the CPU's unsigned arithmetic does
      return;
    }
    if (op == gs::kMax) {
      atomicMax(addr, v);
      return;
    }
    if (op == gs::kMin) {
      atomicMin(addr, v);
      return;
    }
  }
  if constexpr (sizeof(T) == 8 || sizeof(T) == 4) {
    typedef typename gs::unsigned_of<typename gs::conditional<sizeof(T) == 8, long long, int>::type>::type W;
    W* word = reinterpret_cast<W*>(addr);
    W old = *word, assumed;
    do {
      assumed = old;
      const T cur = from_bits<T>(assumed);
      const T next = gs::store<T>(gs::combine(op, A(gs::to_compute(cur)), A(gs::to_compute(v))));
      old = atomicCAS(word, assumed, to_bits<W>(next));
    } while (old != assumed);
  } else {
    unsigned int* word = reinterpret_cast<unsigned int*>(reinterpret_cast<size_t>(addr) & ~size_t(3));
    const unsigned shift = unsigned(reinterpret_cast<size_t>(addr) & 3) * 8;
    const unsigned mask = ((1u << (sizeof(T) * 8)) - 1u) << shift;
    typedef typename gs::conditional<sizeof(T) == 1, unsigned char, unsigned short>::type S;
    unsigned old = *word, assumed;
    do {
      assumed = old;
      const T cur = from_bits<T>(S((assumed & mask) >> shift));
      const T next = gs::store<T>(gs::combine(op, A(gs::to_compute(cur)), A(gs::to_compute(v))));
      old = atomicCAS(word, assumed, (assumed & ~mask) | (unsigned(to_bits<S>(next)) << shift));
    } while (old != assumed);
  }
}

template <class T>
__global__ void scatter_combine_kernel(const int64_t* __restrict__ indices, const T* __restrict__ updates,
                                       T* __restrict__ out, int op, IndexMap m, gs::ErrorRecord* errors) {
  GS_GRID_LOOP(i, m.count) {
    int64_t b;
    const int64_t off = operand_offset(indices, m, i, &b, errors);
    if (off >= 0) atomic_combine(out + off, updates[i], op);
  }
}

// Replace, deterministically "last index vector wins": first every element's destination records the
// largest vector writing it, then only that vector's element writes.
__global__ void scatter_claim_kernel(const int64_t* __restrict__ indices, int* __restrict__ winners, IndexMap m,
                                     gs::ErrorRecord* errors) {
  GS_GRID_LOOP(i, m.count) {
    int64_t b;
    const int64_t off = operand_offset(indices, m, i, &b, errors);
    if (off >= 0) atomicMax(winners + off, int(b));
  }
}

template <class T>
__global__ void scatter_replace_kernel(const int64_t* __restrict__ indices, const T* __restrict__ updates,
                                       T* __restrict__ out, const int* __restrict__ winners, IndexMap m) {
  GS_GRID_LOOP(i, m.count) {
    int64_t b;
    const int64_t off = operand_offset(indices, m, i, &b, nullptr);
    if (off >= 0 && winners[off] == int(b)) out[off] = updates[i];
  }
}

}  // namespace

cudaError_t launch_gather(const void* operand, const int64_t* indices, void* out, int elem_size, const IndexMap& m,
                          gs::ErrorRecord* errors, cudaStream_t stream) {
  if (m.count == 0) return cudaSuccess;
  bool ok = dispatch_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    gather_kernel<T><<<blocks_for(m.count), kThreads, 0, stream>>>(static_cast<const T*>(operand), indices,
                                                                    static_cast<T*>(out), m, errors);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

size_t scatter_workspace_bytes(int combiner, int64_t operand_elems) {
  return combiner == kScatterReplace ? size_t(operand_elems) * sizeof(int) : 0;
}

cudaError_t launch_scatter(const int64_t* indices, const void* updates, void* out, int64_t operand_elems, int dtype,
                           int combiner, const IndexMap& m, void* workspace, gs::ErrorRecord* errors,
                           cudaStream_t stream) {
  if (m.count == 0) return cudaSuccess;
  if (combiner == kScatterReplace) {
    int* winners = static_cast<int*>(workspace);
    cudaError_t e = cudaMemsetAsync(winners, 0xff, size_t(operand_elems) * sizeof(int), stream);  // all -1
    if (e != cudaSuccess) return e;
    scatter_claim_kernel<<<blocks_for(m.count), kThreads, 0, stream>>>(indices, winners, m, errors);
    e = launched();
    if (e != cudaSuccess) return e;
    bool ok = dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      scatter_replace_kernel<T><<<blocks_for(m.count), kThreads, 0, stream>>>(indices, static_cast<const T*>(updates),
                                                                               static_cast<T*>(out), winners, m);
    });
    return ok ? launched() : cudaErrorInvalidValue;
  }
  bool ok = dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_combine_kernel<T><<<blocks_for(m.count), kThreads, 0, stream>>>(indices, static_cast<const T*>(updates),
                                                                             static_cast<T*>(out), combiner, m, errors);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

}  // namespace graft::cuda
