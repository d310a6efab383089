#pragma once
// The CUDA backend's hand-written kernels, as host functions that enqueue them on a stream. Parameters
// are plain structs with everything shape-dependent precomputed by the kernel factories (which are
// ordinary C++, compiled by the host compiler); the .cu files that implement these stay small and
// include nothing of graft but this header and scalar.cuh, which keeps nvcc's share of the build short.
//
// Every function returns the launch's cudaError_t (cudaGetLastError after the launch); the caller turns
// a failure into a graft::Error naming the op. Element counts of 0 launch nothing. `dtype` arguments are
// graft::DType values (as int); `elem_size` is 1, 2, 4 or 8.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace gs {
struct ErrorRecord;
}

#ifdef __CUDACC__
#define GRAFT_HOST_DEVICE __host__ __device__
#else
#define GRAFT_HOST_DEVICE
#endif

namespace graft::cuda {

// Axes a kernel can index after adjacent axes have been merged (shapes of higher rank that cannot be
// merged down to this are rejected at compile time with an error naming the op).
inline constexpr int kMaxRank = 16;

// Whether this process's kernel images can run on the current device.
cudaError_t check_kernel_image();

// ---- data movement (layout.cu) -------------------------------------------------------------------------

// dst[dst_offset + sum c_k * dst_strides[k]] = src[src_offset + sum c_k * src_strides[k]] for every
// coordinate c of `dims`. Strides may be 0 (broadcast) or negative (reverse).
struct StridedCopy {
  int rank = 0;
  int64_t count = 0;  // product of dims
  int64_t dims[kMaxRank] = {};
  int64_t src_strides[kMaxRank] = {}, dst_strides[kMaxRank] = {};
  int64_t src_offset = 0, dst_offset = 0;
};
// Start indices read on the device (DynamicSlice / DynamicUpdateSlice): each int64 scalar is clamped to
// [0, limit] and times `stride` added to the source offset (or the destination offset, when to_dst).
struct DynamicStarts {
  int n = 0;
  bool to_dst = false;
  const int64_t* starts[kMaxRank] = {};
  int64_t limit[kMaxRank] = {}, stride[kMaxRank] = {};
};
cudaError_t launch_strided_copy(const void* src, void* dst, int elem_size, const StridedCopy& p,
                                const DynamicStarts* starts, cudaStream_t stream);

// Pad: out coordinate c reads the operand at sum maps[k][c_k] * in_strides[k], or the pad value (a device
// scalar) where any map entry is -1. maps[k] are device tables (graft::pad_source_map per axis).
struct PadParams {
  int rank = 0;
  int64_t count = 0;
  int64_t out_dims[kMaxRank] = {}, in_strides[kMaxRank] = {};
  const int64_t* maps[kMaxRank] = {};
};
cudaError_t launch_pad(const void* src, const void* value, void* dst, int elem_size, const PadParams& p,
                       cudaStream_t stream);

// Element-wise conversion between f16 / bf16 / f32 (products' autocast and their f32 fallbacks).
cudaError_t launch_convert_float(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n,
                                 cudaStream_t stream);

// ---- reductions and scans (reduce.cu) ------------------------------------------------------------------

// x viewed as [outer, red, inner], reduced over the middle axis into [outer, inner]. op: gs::ReduceKind.
struct ReduceParams {
  int64_t outer = 1, red = 1, inner = 1;
  int op = 0;
  int dtype = 0;
};
cudaError_t launch_reduce(const void* x, void* y, const ReduceParams& p, cudaStream_t stream);

// Index (int64) of the first (or last, select_last) min/max along the middle axis; the first NaN wins.
struct ArgMinMaxParams {
  int64_t outer = 1, red = 1, inner = 1;
  bool is_min = false, select_last = false;
  int dtype = 0;
};
cudaError_t launch_arg_min_max(const void* x, int64_t* y, const ArgMinMaxParams& p, cudaStream_t stream);

struct ScanParams {
  int64_t outer = 1, len = 1, inner = 1;
  int op = 0;
  bool exclusive = false, reverse = false;
  int dtype = 0;
};
cudaError_t launch_cumulative(const void* x, void* y, const ScanParams& p, cudaStream_t stream);

// Window reductions over every axis (ReduceWindow): op is gs::kMax / kMin / kSum, or kMean (below).
inline constexpr int kWindowMean = 100;
struct WindowParams {
  int rank = 0;
  int64_t count = 0;  // output elements
  int64_t in_dims[kMaxRank] = {}, out_dims[kMaxRank] = {}, window[kMaxRank] = {}, stride[kMaxRank] = {},
          dilation[kMaxRank] = {}, pad_low[kMaxRank] = {};
  int64_t taps = 1;  // product of window
  int op = 0;
  bool count_include_pad = false;
  int dtype = 0;
};
cudaError_t launch_reduce_window(const void* x, void* y, const WindowParams& p, cudaStream_t stream);

// ---- gather / scatter (indexing.cu) --------------------------------------------------------------------

// The "small side" of a gather (its output) or scatter (its updates), element by element: coordinate c
// belongs to index vector b = sum c_k * batch_mul[k] and to the operand offset sum c_k * window_stride[k]
// inside that vector's window. Index vector b's components are at indices[(b / post) * len * post +
// b % post + j * post]; component j is a start on operand axis start_axis[j] (stride start_stride[j]),
// valid in [0, start_limit[j]] (extent - window size).
struct IndexMap {
  int rank = 0;
  int64_t count = 0;  // small-side elements
  int64_t dims[kMaxRank] = {}, batch_mul[kMaxRank] = {}, window_stride[kMaxRank] = {};
  int nstart = 0;
  int start_axis[kMaxRank] = {};
  int64_t start_stride[kMaxRank] = {}, start_limit[kMaxRank] = {}, start_extent[kMaxRank] = {};
  int64_t len = 1, post = 1, num_vectors = 0;
  int op_id = 0;  // for errors
  bool scattering = false;
};
cudaError_t launch_gather(const void* operand, const int64_t* indices, void* out, int elem_size, const IndexMap& m,
                          gs::ErrorRecord* errors, cudaStream_t stream);
// out (already holding the operand) combined with the updates; combiner: gs::ReduceKind, or
// kScatterReplace (the last index vector wins, as the CPU applies them in order). Replace needs
// `winners`: an int32 per operand element (scatter_workspace_bytes).
inline constexpr int kScatterReplace = 100;
size_t scatter_workspace_bytes(int combiner, int64_t operand_elems);
cudaError_t launch_scatter(const int64_t* indices, const void* updates, void* out, int64_t operand_elems,
                           int dtype, int combiner, const IndexMap& m, void* workspace, gs::ErrorRecord* errors,
                           cudaStream_t stream);

// ---- sort / top-k (sort.cu) -----------------------------------------------------------------------------

// Lines along one axis of a shape viewed as [outer, len, inner].
struct SortLines {
  int64_t outer = 1, len = 1, inner = 1;
};
// Workspace for sorting the keys of every line (with the line positions as values). Asks CUB, which
// needs the current device.
cudaError_t sort_workspace_bytes(const SortLines& l, int key_dtype, size_t* bytes);
// Sorts each line by key (stable; NaN largest; -0 == +0), writing each line's source positions in
// sorted order into `order` ([outer * inner lines][len] int32, inside the workspace).
cudaError_t launch_sort_positions(const void* keys, int key_dtype, bool descending, const SortLines& l,
                                  void* workspace, const int32_t** order, cudaStream_t stream);
// out[line, t] = in[line, order[line][t]] for t < k (positions along the axis, strided by inner).
cudaError_t launch_permute_lines(const void* in, void* out, int elem_size, const SortLines& l, int64_t k,
                                 const int32_t* order, cudaStream_t stream);
// indices[line, t] = order[line][t] as int64, t < k.
cudaError_t launch_positions_to_indices(const int32_t* order, int64_t* indices, const SortLines& l, int64_t k,
                                        cudaStream_t stream);

// ---- products and convolutions (linalg.cu) -------------------------------------------------------------

// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n] with element strides, accumulating in double (floats) or
// wrapping 64-bit integers; for f64 and integer products (cuBLASLt does the 16/32-bit float ones).
struct DotParams {
  int64_t B = 1, M = 1, N = 1, K = 1;
  int64_t a_b = 0, a_m = 0, a_k = 0, b_b = 0, b_k = 0, b_n = 0;
  int lhs_dtype = 0, rhs_dtype = 0, out_dtype = 0;
};
cudaError_t launch_dot(const void* a, const void* b, void* c, const DotParams& p, cudaStream_t stream);

// Convolution geometry (ONNX layout) with up to kMaxSpatial spatial axes.
inline constexpr int kMaxSpatial = 6;
struct ConvGeometry {
  int spatial = 0;
  int64_t n = 1, c = 1, o = 1, groups = 1;
  int64_t in[kMaxSpatial] = {}, out[kMaxSpatial] = {}, k[kMaxSpatial] = {}, stride[kMaxSpatial] = {},
          dil[kMaxSpatial] = {}, pad[kMaxSpatial] = {};
  bool transposed = false;
  GRAFT_HOST_DEVICE int64_t in_size() const { return product(in); }
  GRAFT_HOST_DEVICE int64_t out_size() const { return product(out); }
  GRAFT_HOST_DEVICE int64_t k_size() const { return product(k); }

 private:
  GRAFT_HOST_DEVICE int64_t product(const int64_t* v) const {
    int64_t p = 1;
    for (int i = 0; i < spatial; ++i) p *= v[i];
    return p;
  }
};
// Direct convolution (any dtype the builder allows, any geometry, transposed too), one thread per
// output element, accumulating in f32 (f64 for f64).
cudaError_t launch_conv_direct(const void* x, const void* w, void* y, int dtype, const ConvGeometry& g,
                               cudaStream_t stream);
// im2col for images [image0, image0 + images): col[(i * groups + grp) * (C/groups * k_size) + ck][p] with p
// over the output positions; padding reads as 0.
cudaError_t launch_im2col(const void* x, void* col, int dtype, const ConvGeometry& g, int64_t image0, int64_t images,
                          cudaStream_t stream);

}  // namespace graft::cuda
