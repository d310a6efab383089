// Sort and TopK along one axis with CUB's radix sort. Each line's keys are turned into unsigned integers
// whose order is graft's order (NaN largest, -0 == +0; flipped bitwise for descending), sorted together
// with their positions in the line (radix sort is stable, so equal keys keep their order, descending
// too), and the operands are then permuted by the sorted positions.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "backend/cuda/kernels/common.cuh"

namespace graft::cuda {

namespace {

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

bool wide_keys(int dtype) { return dtype == 4 || dtype == 8 || dtype == 12; }  // i64, u64, f64

// Bytes of the sort key of storage type T: 8 for 64-bit types, else 4 (16-bit floats compare as f32).
template <class T>
constexpr size_t key_bytes() {
  return sizeof(T) == 8 ? 8 : 4;
}

template <class K, class T>
__device__ __forceinline__ K sort_key(T v) {
  if constexpr (gs::traits<T>::is_float) {
    typedef typename gs::compute<T>::type C;  // f32, or f64 for f64
    C f = gs::to_compute(v);
    if (f != f) return ~K(0);  // every NaN is the largest key
    if (f == C(0)) f = C(0);   // -0 sorts with +0
    K bits;
    memcpy(&bits, &f, sizeof(K));
    const K sign = K(1) << (sizeof(K) * 8 - 1);
    return (bits & sign) ? ~bits : (bits | sign);
  } else if constexpr (gs::is_signed_int<T>::value) {
    typedef typename gs::conditional<sizeof(K) == 8, long long, int>::type S;
    return K(S(v)) ^ (K(1) << (sizeof(K) * 8 - 1));
  } else {
    return K(v);
  }
}

template <class K, class T>
__global__ void make_keys_kernel(const T* __restrict__ x, K* __restrict__ keys, int* __restrict__ positions,
                                 SortLines l, bool descending) {
  GS_GRID_LOOP(i, l.outer * l.inner * l.len) {
    const int64_t line = i / l.len, t = i % l.len;
    const int64_t src = (line / l.inner) * l.len * l.inner + line % l.inner + t * l.inner;
    const K k = sort_key<K>(x[src]);
    keys[i] = descending ? ~k : k;
    positions[i] = int(t);
  }
}

__global__ void offsets_kernel(int* __restrict__ offsets, int64_t lines, int64_t len) {
  GS_GRID_LOOP(i, lines + 1) offsets[i] = int(i * len);
}

template <class T>
__global__ void permute_kernel(const T* __restrict__ in, T* __restrict__ out, SortLines l, int64_t k,
                               const int* __restrict__ order) {
  GS_GRID_LOOP(i, l.outer * l.inner * k) {
    const int64_t line = i / k, t = i % k;
    const int64_t o = line / l.inner, in_ = line % l.inner;
    const int64_t src = o * l.len * l.inner + in_ + int64_t(order[line * l.len + t]) * l.inner;
    out[o * k * l.inner + in_ + t * l.inner] = in[src];
  }
}

__global__ void indices_kernel(const int* __restrict__ order, int64_t* __restrict__ indices, SortLines l, int64_t k) {
  GS_GRID_LOOP(i, l.outer * l.inner * k) {
    const int64_t line = i / k, t = i % k;
    const int64_t o = line / l.inner, in_ = line % l.inner;
    indices[o * k * l.inner + in_ + t * l.inner] = order[line * l.len + t];
  }
}

// The workspace: keys in/out, positions in/out, segment offsets, CUB's temporary storage.
struct Layout {
  size_t keys_in = 0, keys_out = 0, pos_in = 0, pos_out = 0, offsets = 0, temp = 0, temp_bytes = 0, total = 0;
};

template <class K>
Layout layout(const SortLines& l, cudaError_t* error = nullptr) {
  const int64_t lines = l.outer * l.inner, n = lines * l.len;
  Layout w;
  size_t at = 0;
  auto take = [&](size_t bytes) {
    size_t p = at;
    at += align256(bytes);
    return p;
  };
  w.keys_in = take(size_t(n) * sizeof(K));
  w.keys_out = take(size_t(n) * sizeof(K));
  w.pos_in = take(size_t(n) * sizeof(int));
  w.pos_out = take(size_t(n) * sizeof(int));
  w.offsets = take(size_t(lines + 1) * sizeof(int));
  cudaError_t e;
  if (lines == 1) {
    e = cub::DeviceRadixSort::SortPairs(nullptr, w.temp_bytes, (K*)nullptr, (K*)nullptr, (int*)nullptr, (int*)nullptr,
                                        int(n));
  } else {
    e = cub::DeviceSegmentedRadixSort::SortPairs(nullptr, w.temp_bytes, (K*)nullptr, (K*)nullptr, (int*)nullptr,
                                                 (int*)nullptr, int(n), int(lines), (int*)nullptr, (int*)nullptr);
  }
  if (error) *error = e;
  w.temp = take(w.temp_bytes);
  w.total = at;
  return w;
}

template <class K>
cudaError_t sort_lines(const void* keys, int dtype, bool descending, const SortLines& l, void* workspace,
                       const int32_t** order, cudaStream_t stream) {
  const Layout w = layout<K>(l);
  char* base = static_cast<char*>(workspace);
  K* keys_in = reinterpret_cast<K*>(base + w.keys_in);
  K* keys_out = reinterpret_cast<K*>(base + w.keys_out);
  int* pos_in = reinterpret_cast<int*>(base + w.pos_in);
  int* pos_out = reinterpret_cast<int*>(base + w.pos_out);
  int* offsets = reinterpret_cast<int*>(base + w.offsets);
  const int64_t lines = l.outer * l.inner, n = lines * l.len;
  bool ok = dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (key_bytes<T>() == sizeof(K))
      make_keys_kernel<K, T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(keys), keys_in, pos_in, l,
                                                                    descending);
  });
  if (!ok) return cudaErrorInvalidValue;
  cudaError_t e = launched();
  if (e != cudaSuccess) return e;
  size_t temp_bytes = w.temp_bytes;
  if (lines == 1) {
    e = cub::DeviceRadixSort::SortPairs(base + w.temp, temp_bytes, keys_in, keys_out, pos_in, pos_out, int(n), 0,
                                        int(sizeof(K) * 8), stream);
  } else {
    offsets_kernel<<<blocks_for(lines + 1), kThreads, 0, stream>>>(offsets, lines, l.len);
    e = launched();
    if (e != cudaSuccess) return e;
    e = cub::DeviceSegmentedRadixSort::SortPairs(base + w.temp, temp_bytes, keys_in, keys_out, pos_in, pos_out, int(n),
                                                 int(lines), offsets, offsets + 1, 0, int(sizeof(K) * 8), stream);
  }
  *order = pos_out;
  return e != cudaSuccess ? e : launched();
}

}  // namespace

cudaError_t sort_workspace_bytes(const SortLines& l, int key_dtype, size_t* bytes) {
  cudaError_t e = cudaSuccess;
  *bytes = wide_keys(key_dtype) ? layout<unsigned long long>(l, &e).total : layout<unsigned int>(l, &e).total;
  return e;
}

cudaError_t launch_sort_positions(const void* keys, int key_dtype, bool descending, const SortLines& l,
                                  void* workspace, const int32_t** order, cudaStream_t stream) {
  if (l.outer * l.inner * l.len == 0) return cudaSuccess;
  if (wide_keys(key_dtype))
    return sort_lines<unsigned long long>(keys, key_dtype, descending, l, workspace, order, stream);
  return sort_lines<unsigned int>(keys, key_dtype, descending, l, workspace, order, stream);
}

cudaError_t launch_permute_lines(const void* in, void* out, int elem_size, const SortLines& l, int64_t k,
                                 const int32_t* order, cudaStream_t stream) {
  const int64_t n = l.outer * l.inner * k;
  if (n == 0) return cudaSuccess;
  bool ok = dispatch_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    permute_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(in), static_cast<T*>(out), l, k,
                                                              order);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_positions_to_indices(const int32_t* order, int64_t* indices, const SortLines& l, int64_t k,
                                        cudaStream_t stream) {
  const int64_t n = l.outer * l.inner * k;
  if (n == 0) return cudaSuccess;
  indices_kernel<<<blocks_for(n), kThreads, 0, stream>>>(order, indices, l, k);
  return launched();
}

}  // namespace graft::cuda
