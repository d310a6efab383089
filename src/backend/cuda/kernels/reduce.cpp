// Reduce, ArgMinMax, Cumulative and ReduceWindow: shapes are viewed as [outer, axis, inner] here, once.
#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

namespace {

// The kernels' combiner for a ReduceOp, or -1 where there is none (Mean and Replace are not reductions
// at this level: the builder turns Mean into Sum / n).
int reduce_kind(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return gs::kSum;
    case ReduceOp::Prod: return gs::kProd;
    case ReduceOp::Max: return gs::kMax;
    case ReduceOp::Min: return gs::kMin;
    case ReduceOp::And: return gs::kAnd;
    case ReduceOp::Or: return gs::kOr;
    default: return -1;
  }
}

void axis_view(const Shape& s, int axis, int64_t* outer, int64_t* len, int64_t* inner) {
  *outer = 1, *inner = 1, *len = s[axis];
  for (int i = 0; i < axis; ++i) *outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) *inner *= s[i];
}

class Reduce final : public Kernel {
 public:
  explicit Reduce(const KernelArgs& a) : name_(a.describe()) {
    const auto& at = std::get<ReduceAttrs>(a.op.attrs);
    const Shape& in = a.inputs[0].shape;
    p_.op = reduce_kind(at.op);
    GRAFT_CHECK(p_.op >= 0, name_, ": '", reduce_op_name(at.op), "' is not a reduction the CUDA backend runs");
    p_.dtype = int(a.inputs[0].dtype);
    const std::vector<int64_t>& axes = at.axes;
    bool block = true;
    for (size_t i = 1; i < axes.size(); ++i) block &= axes[i] == axes[i - 1] + 1;
    const int r = in.rank();
    if (block && !axes.empty()) {
      for (int i = 0; i < r; ++i) {
        if (i < axes.front()) p_.outer *= in[i];
        else if (i <= axes.back()) p_.red *= in[i];
        else p_.inner *= in[i];
      }
      return;
    }
    // Reduced axes that are not adjacent: move them to the end first (a strided copy into the workspace).
    std::vector<int64_t> perm, dims, src;
    const std::vector<int64_t> own = in.strides();
    for (int i = 0; i < r; ++i)
      if (!std::binary_search(axes.begin(), axes.end(), int64_t(i))) perm.push_back(i);
    for (int64_t ax : axes) perm.push_back(ax);
    for (int64_t p : perm) {
      dims.push_back(in[int(p)]);
      src.push_back(own[size_t(p)]);
    }
    for (size_t i = 0; i < perm.size(); ++i) (i < perm.size() - axes.size() ? p_.outer : p_.red) *= dims[i];
    GRAFT_CHECK(r <= kMaxRank, name_, ": rank ", r, " exceeds the CUDA backend's ", kMaxRank);
    copy_.rank = r;
    copy_.count = in.size();
    const std::vector<int64_t> dst = strides_of(dims);
    for (int i = 0; i < r; ++i) {
      copy_.dims[i] = dims[size_t(i)];
      copy_.src_strides[i] = src[size_t(i)];
      copy_.dst_strides[i] = dst[size_t(i)];
    }
    scratch_ = size_t(in.size()) * dtype_size(a.inputs[0].dtype);
    es_ = int(dtype_size(a.inputs[0].dtype));
  }
  size_t workspace_bytes() const override { return scratch_; }
  void launch(const LaunchArgs& a) override {
    const void* x = a.in[0];
    if (scratch_) {
      check_launch(launch_strided_copy(x, a.workspace, es_, copy_, nullptr, a.stream), name_, "moving reduced axes");
      x = a.workspace;
    }
    check_launch(launch_reduce(x, a.out[0], p_, a.stream), name_, "a reduction");
  }

 private:
  std::string name_;
  ReduceParams p_;
  StridedCopy copy_;
  size_t scratch_ = 0;
  int es_ = 1;
};

class ArgMinMax final : public Kernel {
 public:
  explicit ArgMinMax(const KernelArgs& a) : name_(a.describe()) {
    const auto& at = std::get<ArgMinMaxAttrs>(a.op.attrs);
    axis_view(a.inputs[0].shape, at.axis, &p_.outer, &p_.red, &p_.inner);
    p_.is_min = at.is_min;
    p_.select_last = at.select_last;
    p_.dtype = int(a.inputs[0].dtype);
  }
  void launch(const LaunchArgs& a) override {
    check_launch(launch_arg_min_max(a.in[0], static_cast<int64_t*>(a.out[0]), p_, a.stream), name_, "arg-min/max");
  }

 private:
  std::string name_;
  ArgMinMaxParams p_;
};

class Cumulative final : public Kernel {
 public:
  explicit Cumulative(const KernelArgs& a) : name_(a.describe()) {
    const auto& at = std::get<CumulativeAttrs>(a.op.attrs);
    axis_view(a.inputs[0].shape, at.axis, &p_.outer, &p_.len, &p_.inner);
    p_.op = reduce_kind(at.op);
    GRAFT_CHECK(p_.op >= 0, name_, ": '", reduce_op_name(at.op), "' is not a scan the CUDA backend runs");
    p_.exclusive = at.exclusive;
    p_.reverse = at.reverse;
    p_.dtype = int(a.inputs[0].dtype);
  }
  void launch(const LaunchArgs& a) override {
    check_launch(launch_cumulative(a.in[0], a.out[0], p_, a.stream), name_, "a cumulative scan");
  }

 private:
  std::string name_;
  ScanParams p_;
};

class ReduceWindow final : public Kernel {
 public:
  explicit ReduceWindow(const KernelArgs& a) : name_(a.describe()) {
    const auto& at = std::get<ReduceWindowAttrs>(a.op.attrs);
    const Shape& in = a.inputs[0].shape;
    const Shape& out = a.outputs[0].shape;
    const int r = in.rank();
    GRAFT_CHECK(int(at.window.size()) == r && int(at.strides.size()) == r && int(at.dilations.size()) == r &&
                    int(at.pad_low.size()) == r && int(at.pad_high.size()) == r,
                name_, ": window attributes must have the operand's rank ", r);
    GRAFT_CHECK(r <= kMaxRank, name_, ": rank ", r, " exceeds the CUDA backend's ", kMaxRank);
    const DType t = a.inputs[0].dtype;
    switch (at.op) {
      case ReduceOp::Max: p_.op = gs::kMax; break;
      case ReduceOp::Min: p_.op = gs::kMin; break;
      case ReduceOp::Sum: p_.op = gs::kSum; break;
      case ReduceOp::Mean: p_.op = kWindowMean; break;
      default: fail(name_, ": unsupported window combiner ", reduce_op_name(at.op));
    }
    GRAFT_CHECK(t != DType::Bool || at.op == ReduceOp::Max || at.op == ReduceOp::Min, name_, ": ",
                reduce_op_name(at.op), " of bool");
    p_.rank = r;
    p_.count = out.size();
    p_.taps = 1;
    for (int i = 0; i < r; ++i) {
      p_.in_dims[i] = in[i];
      p_.out_dims[i] = out[i];
      p_.window[i] = at.window[size_t(i)];
      p_.stride[i] = at.strides[size_t(i)];
      p_.dilation[i] = at.dilations[size_t(i)];
      p_.pad_low[i] = at.pad_low[size_t(i)];
      p_.taps *= at.window[size_t(i)];
    }
    p_.count_include_pad = at.count_include_pad;
    p_.dtype = int(t);
  }
  void launch(const LaunchArgs& a) override {
    check_launch(launch_reduce_window(a.in[0], a.out[0], p_, a.stream), name_, "a window reduction");
  }

 private:
  std::string name_;
  WindowParams p_;
};

}  // namespace

void register_reduce_kernels(KernelRegistry& r) {
  r.add(OpKind::Reduce, factory<Reduce>);
  r.add(OpKind::ArgMinMax, factory<ArgMinMax>);
  r.add(OpKind::Cumulative, factory<Cumulative>);
  r.add(OpKind::ReduceWindow, factory<ReduceWindow>);
}

}  // namespace graft::cuda
