// Gather and Scatter: the XLA dimension numbers become an IndexMap (kernels/launch.h) here, once.
#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

namespace {

// window_axes[d]: the small-side axis that operand axis d maps to (-1: collapsed / inserted);
// window_sizes[d]: the window's extent on operand axis d; small_batch_axes: the small side's axes that
// enumerate index vectors, in order.
IndexMap make_index_map(const Shape& operand, const Shape& indices, int64_t index_vector_dim,
                        const std::vector<int64_t>& start_map, const Shape& small, const std::vector<int64_t>& window_sizes,
                        const std::vector<int64_t>& window_axes, const std::vector<int64_t>& small_batch_axes,
                        const std::string& op) {
  GRAFT_CHECK(small.rank() <= kMaxRank && int(start_map.size()) <= kMaxRank, op, ": rank exceeds the CUDA backend's ",
              kMaxRank);
  IndexMap m;
  m.rank = small.rank();
  m.count = small.size();
  const std::vector<int64_t> ost = operand.strides();
  for (int k = 0; k < small.rank(); ++k) m.dims[k] = small[k];
  int64_t mul = 1;
  for (size_t j = small_batch_axes.size(); j-- > 0;) {
    m.batch_mul[small_batch_axes[j]] = mul;
    mul *= small[int(small_batch_axes[j])];
  }
  for (size_t d = 0; d < window_axes.size(); ++d)
    if (window_axes[d] >= 0) m.window_stride[window_axes[d]] = ost[d];
  m.nstart = int(start_map.size());
  for (size_t j = 0; j < start_map.size(); ++j) {
    const int ax = int(start_map[j]);
    m.start_axis[j] = ax;
    m.start_stride[j] = ost[size_t(ax)];
    m.start_extent[j] = operand[ax];
    m.start_limit[j] = operand[ax] - window_sizes[size_t(ax)];
  }
  const int ir = indices.rank();
  m.len = index_vector_dim == ir ? 1 : indices[int(index_vector_dim)];
  m.post = 1;
  for (int i = int(index_vector_dim) + 1; i < ir; ++i) m.post *= indices[i];
  m.num_vectors = 1;
  for (int i = 0; i < ir; ++i)
    if (i != index_vector_dim) m.num_vectors *= indices[i];
  if (m.post == 0) m.post = 1;  // no vectors at all then; keeps the divisions defined
  return m;
}

std::string index_error(const gs::ErrorRecord& e, const IndexMap& m, const char* verb) {
  int64_t window = 1;
  for (int j = 0; j < m.nstart; ++j)
    if (m.start_axis[j] == int(e.b)) window = m.start_extent[j] - m.start_limit[j];
  return "index " + std::to_string(e.a) + " is out of range for axis " + std::to_string(e.b) + " of extent " +
         std::to_string(e.c) + (window == 1 ? std::string() : " (window of " + std::to_string(window) + " from there)") +
         " (index vector " + std::to_string(e.d) + " of " + std::to_string(m.num_vectors) + ", " + verb + ")";
}

class Gather final : public Kernel {
 public:
  explicit Gather(const KernelArgs& a) : name_(a.describe()), es_(int(dtype_size(a.outputs[0].dtype))) {
    const auto& at = std::get<GatherAttrs>(a.op.attrs);
    const Shape& operand = a.inputs[0].shape;
    const Shape& out = a.outputs[0].shape;
    GRAFT_CHECK(a.inputs[1].dtype == DType::I64, name_, ": indices are ", a.inputs[1].str(), ", expected int64");
    std::vector<int64_t> offset_dims = at.offset_dims;
    std::sort(offset_dims.begin(), offset_dims.end());
    std::vector<int64_t> window_axes(size_t(operand.rank()), -1);
    size_t j = 0;
    for (int d = 0; d < operand.rank(); ++d) {
      const bool collapsed =
          std::find(at.collapsed_slice_dims.begin(), at.collapsed_slice_dims.end(), d) != at.collapsed_slice_dims.end();
      if (!collapsed) window_axes[size_t(d)] = offset_dims[j++];
    }
    std::vector<int64_t> batch_axes;
    for (int i = 0; i < out.rank(); ++i)
      if (!std::binary_search(offset_dims.begin(), offset_dims.end(), int64_t(i))) batch_axes.push_back(i);
    m_ = make_index_map(operand, a.inputs[1].shape, at.index_vector_dim, at.start_index_map, out, at.slice_sizes,
                        window_axes, batch_axes, name_);
    m_.op_id = a.op_id;
  }
  void launch(const LaunchArgs& a) override {
    check_launch(launch_gather(a.in[0], static_cast<const int64_t*>(a.in[1]), a.out[0], es_, m_, a.errors, a.stream), name_,
                 "a gather");
  }
  std::string describe_error(const gs::ErrorRecord& e) const override {
    return e.code == gs::kIndexOutOfRange ? index_error(e, m_, "gathering") : Kernel::describe_error(e);
  }

 private:
  std::string name_;
  int es_;
  IndexMap m_;
};

class Scatter final : public Kernel {
 public:
  explicit Scatter(const KernelArgs& a) : name_(a.describe()), dtype_(int(a.inputs[0].dtype)) {
    const auto& at = std::get<ScatterAttrs>(a.op.attrs);
    const Shape& operand = a.inputs[0].shape;
    const Shape& updates = a.inputs[2].shape;
    GRAFT_CHECK(a.inputs[1].dtype == DType::I64, name_, ": indices are ", a.inputs[1].str(), ", expected int64");
    switch (at.combiner) {
      case ReduceOp::Replace: combiner_ = kScatterReplace; break;
      case ReduceOp::Sum: combiner_ = gs::kSum; break;
      case ReduceOp::Prod: combiner_ = gs::kProd; break;
      case ReduceOp::Max: combiner_ = gs::kMax; break;
      case ReduceOp::Min: combiner_ = gs::kMin; break;
      default: fail(name_, ": '", reduce_op_name(at.combiner), "' is no scatter combiner");
    }
    std::vector<int64_t> window_dims = at.update_window_dims;
    std::sort(window_dims.begin(), window_dims.end());
    std::vector<int64_t> window_axes(size_t(operand.rank()), -1), window_sizes(size_t(operand.rank()), 1);
    size_t j = 0;
    for (int d = 0; d < operand.rank(); ++d) {
      const bool inserted = std::find(at.inserted_window_dims.begin(), at.inserted_window_dims.end(), d) !=
                            at.inserted_window_dims.end();
      if (inserted) continue;
      GRAFT_CHECK(j < window_dims.size(), name_, ": update_window_dims do not cover operand axis ", d);
      window_axes[size_t(d)] = window_dims[j];
      window_sizes[size_t(d)] = updates[int(window_dims[j])];
      GRAFT_CHECK(window_sizes[size_t(d)] <= operand[d], name_, ": update window of ", window_sizes[size_t(d)],
                  " on operand axis ", d, " exceeds its extent ", operand[d]);
      ++j;
    }
    std::vector<int64_t> batch_axes;
    for (int i = 0; i < updates.rank(); ++i)
      if (!std::binary_search(window_dims.begin(), window_dims.end(), int64_t(i))) batch_axes.push_back(i);
    m_ = make_index_map(operand, a.inputs[1].shape, at.index_vector_dim, at.scatter_dims_to_operand_dims, updates,
                        window_sizes, window_axes, batch_axes, name_);
    m_.op_id = a.op_id;
    m_.scattering = true;
    GRAFT_CHECK(combiner_ != kScatterReplace || m_.num_vectors < (int64_t(1) << 31), name_, ": ", m_.num_vectors,
                " index vectors; the CUDA backend's replacing scatter handles fewer than 2^31");
    operand_elems_ = operand.size();
    bytes_ = size_t(operand_elems_) * dtype_size(a.inputs[0].dtype);
  }
  size_t workspace_bytes() const override { return scatter_workspace_bytes(combiner_, operand_elems_); }
  void launch(const LaunchArgs& a) override {
    if (bytes_)
      GRAFT_CUDA(cudaMemcpyAsync(a.out[0], a.in[0], bytes_, cudaMemcpyDeviceToDevice, a.stream), name_,
                 ": copying the operand");
    check_launch(launch_scatter(static_cast<const int64_t*>(a.in[1]), a.in[2], a.out[0], operand_elems_, dtype_, combiner_,
                                m_, a.workspace, a.errors, a.stream),
                 name_, "a scatter");
  }
  std::string describe_error(const gs::ErrorRecord& e) const override {
    return e.code == gs::kIndexOutOfRange ? index_error(e, m_, "scattering") : Kernel::describe_error(e);
  }

 private:
  std::string name_;
  int dtype_;
  int combiner_ = 0;
  IndexMap m_;
  int64_t operand_elems_ = 0;
  size_t bytes_ = 0;
};

}  // namespace

void register_indexing_kernels(KernelRegistry& r) {
  r.add(OpKind::Gather, factory<Gather>);
  r.add(OpKind::Scatter, factory<Scatter>);
}

}  // namespace graft::cuda
