// Data-movement kernels: broadcast, transpose, slice, reverse, concatenate, pad and the dynamic slices.
// All but pad are strided copies whose views are computed here, once.
#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

namespace {

// A copy of the dims-shaped view (src strides, dst strides) with axes of extent 1 dropped and adjacent axes
// merged where both views walk them contiguously, so the kernel does as little index arithmetic as it can.
StridedCopy make_copy(const std::vector<int64_t>& dims, const std::vector<int64_t>& src_strides, int64_t src_offset,
                      const std::vector<int64_t>& dst_strides, int64_t dst_offset, const std::string& op) {
  std::vector<int64_t> d, s, t;
  int64_t count = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    count *= dims[i];
    if (dims[i] == 1) continue;
    if (!d.empty() && s.back() == src_strides[i] * dims[i] && t.back() == dst_strides[i] * dims[i]) {
      d.back() *= dims[i];
      s.back() = src_strides[i];
      t.back() = dst_strides[i];
    } else {
      d.push_back(dims[i]);
      s.push_back(src_strides[i]);
      t.push_back(dst_strides[i]);
    }
  }
  GRAFT_CHECK(int(d.size()) <= kMaxRank, op, ": a copy over ", d.size(), " axes that cannot be merged; the CUDA backend handles ",
              kMaxRank);
  StridedCopy p;
  p.rank = int(d.size());
  p.count = count;
  for (size_t i = 0; i < d.size(); ++i) {
    p.dims[i] = d[i];
    p.src_strides[i] = s[i];
    p.dst_strides[i] = t[i];
  }
  p.src_offset = src_offset;
  p.dst_offset = dst_offset;
  return p;
}

// Copies a fixed view of input 0 into the (contiguous) output.
class ViewCopy final : public Kernel {
 public:
  ViewCopy(const KernelArgs& a, const std::vector<int64_t>& src_strides, int64_t src_offset)
      : name_(a.describe()), es_(int(dtype_size(a.outputs[0].dtype))) {
    const std::vector<int64_t>& dims = a.outputs[0].shape.dims();
    p_ = make_copy(dims, src_strides, src_offset, strides_of(dims), 0, name_);
  }
  void launch(const LaunchArgs& a) override {
    check_launch(launch_strided_copy(a.in[0], a.out[0], es_, p_, nullptr, a.stream), name_, "a strided copy");
  }

 private:
  std::string name_;
  int es_;
  StridedCopy p_;
};

std::unique_ptr<Kernel> broadcast_in_dim(const KernelArgs& a) {
  const auto& bd = std::get<BroadcastInDimAttrs>(a.op.attrs).dims;
  const Shape& in = a.inputs[0].shape;
  const std::vector<int64_t> own = in.strides();
  std::vector<int64_t> src(size_t(a.outputs[0].shape.rank()), 0);
  for (int i = 0; i < in.rank(); ++i)
    if (in[i] != 1) src[size_t(bd[size_t(i)])] = own[size_t(i)];
  return std::make_unique<ViewCopy>(a, src, 0);
}

std::unique_ptr<Kernel> transpose(const KernelArgs& a) {
  const auto& perm = std::get<TransposeAttrs>(a.op.attrs).perm;
  const std::vector<int64_t> own = a.inputs[0].shape.strides();
  std::vector<int64_t> src;
  for (int64_t p : perm) src.push_back(own[size_t(p)]);
  return std::make_unique<ViewCopy>(a, src, 0);
}

std::unique_ptr<Kernel> slice(const KernelArgs& a) {
  const auto& s = std::get<SliceAttrs>(a.op.attrs);
  const std::vector<int64_t> own = a.inputs[0].shape.strides();
  std::vector<int64_t> src;
  int64_t offset = 0;
  for (size_t i = 0; i < own.size(); ++i) {
    offset += s.starts[i] * own[i];
    src.push_back(own[i] * (s.strides.empty() ? 1 : s.strides[i]));
  }
  return std::make_unique<ViewCopy>(a, src, offset);
}

std::unique_ptr<Kernel> reverse(const KernelArgs& a) {
  const auto& axes = std::get<ReverseAttrs>(a.op.attrs).axes;
  const Shape& sh = a.inputs[0].shape;
  std::vector<int64_t> src = sh.strides();
  int64_t offset = 0;
  for (int64_t ax : axes) {
    if (sh[int(ax)] == 0) continue;
    offset += (sh[int(ax)] - 1) * src[size_t(ax)];
    src[size_t(ax)] = -src[size_t(ax)];
  }
  return std::make_unique<ViewCopy>(a, src, offset);
}

class Concatenate final : public Kernel {
 public:
  explicit Concatenate(const KernelArgs& a) : name_(a.describe()), es_(int(dtype_size(a.outputs[0].dtype))) {
    const int axis = std::get<ConcatenateAttrs>(a.op.attrs).axis;
    const std::vector<int64_t> ostrides = a.outputs[0].shape.strides();
    int64_t at = 0;
    for (const ValueType& t : a.inputs) {
      parts_.push_back(make_copy(t.shape.dims(), t.shape.strides(), 0, ostrides, at * ostrides[size_t(axis)], name_));
      at += t.shape[axis];
    }
  }
  void launch(const LaunchArgs& a) override {
    for (size_t k = 0; k < parts_.size(); ++k)
      check_launch(launch_strided_copy(a.in[k], a.out[0], es_, parts_[k], nullptr, a.stream), name_, "a concatenation");
  }

 private:
  std::string name_;
  int es_;
  std::vector<StridedCopy> parts_;
};

class Pad final : public Kernel {
 public:
  explicit Pad(const KernelArgs& a) : name_(a.describe()), es_(int(dtype_size(a.outputs[0].dtype))) {
    const auto& at = std::get<PadAttrs>(a.op.attrs);
    const Shape& in = a.inputs[0].shape;
    const Shape& out = a.outputs[0].shape;
    GRAFT_CHECK(in.rank() <= kMaxRank, name_, ": rank ", in.rank(), " exceeds the CUDA backend's ", kMaxRank);
    p_.rank = in.rank();
    p_.count = out.size();
    const std::vector<int64_t> istr = in.strides();
    for (int i = 0; i < in.rank(); ++i) {
      p_.out_dims[i] = out[i];
      p_.in_strides[i] = istr[size_t(i)];
      p_.maps[i] = out[i] > 0 ? a.ctx.upload(pad_source_map(in[i], at.low[size_t(i)], at.high[size_t(i)], at.mode)) : nullptr;
    }
  }
  void launch(const LaunchArgs& a) override {
    check_launch(launch_pad(a.in[0], a.in[1], a.out[0], es_, p_, a.stream), name_, "a pad");
  }

 private:
  std::string name_;
  int es_;
  PadParams p_;
};

// Start indices (int64 device scalars from input `first` on) clamped so the window stays inside `operand`.
DynamicStarts dynamic_starts(const Shape& operand, const std::vector<int64_t>& window, bool to_dst, const std::string& op) {
  GRAFT_CHECK(operand.rank() <= kMaxRank, op, ": rank ", operand.rank(), " exceeds the CUDA backend's ", kMaxRank);
  DynamicStarts d;
  d.n = operand.rank();
  d.to_dst = to_dst;
  const std::vector<int64_t> st = operand.strides();
  for (int i = 0; i < operand.rank(); ++i) {
    d.limit[i] = operand[i] - window[size_t(i)];
    d.stride[i] = st[size_t(i)];
  }
  return d;
}

class DynamicSlice final : public Kernel {
 public:
  explicit DynamicSlice(const KernelArgs& a) : name_(a.describe()), es_(int(dtype_size(a.outputs[0].dtype))) {
    const Shape& in = a.inputs[0].shape;
    const std::vector<int64_t>& sizes = a.outputs[0].shape.dims();
    p_ = make_copy(sizes, in.strides(), 0, strides_of(sizes), 0, name_);
    starts_ = dynamic_starts(in, sizes, false, name_);
  }
  void launch(const LaunchArgs& a) override {
    DynamicStarts d = starts_;
    for (int i = 0; i < d.n; ++i) d.starts[i] = static_cast<const int64_t*>(a.in[size_t(1 + i)]);
    check_launch(launch_strided_copy(a.in[0], a.out[0], es_, p_, &d, a.stream), name_, "a dynamic slice");
  }

 private:
  std::string name_;
  int es_;
  StridedCopy p_;
  DynamicStarts starts_;
};

class DynamicUpdateSlice final : public Kernel {
 public:
  explicit DynamicUpdateSlice(const KernelArgs& a)
      : name_(a.describe()), es_(int(dtype_size(a.outputs[0].dtype))), bytes_(size_t(a.outputs[0].shape.size()) * size_t(es_)) {
    const Shape& in = a.inputs[0].shape;
    const std::vector<int64_t>& sizes = a.inputs[1].shape.dims();
    p_ = make_copy(sizes, strides_of(sizes), 0, in.strides(), 0, name_);
    starts_ = dynamic_starts(in, sizes, true, name_);
  }
  void launch(const LaunchArgs& a) override {
    if (bytes_)
      GRAFT_CUDA(cudaMemcpyAsync(a.out[0], a.in[0], bytes_, cudaMemcpyDeviceToDevice, a.stream), name_,
                 ": copying the operand");
    DynamicStarts d = starts_;
    for (int i = 0; i < d.n; ++i) d.starts[i] = static_cast<const int64_t*>(a.in[size_t(2 + i)]);
    check_launch(launch_strided_copy(a.in[1], a.out[0], es_, p_, &d, a.stream), name_, "a dynamic update slice");
  }

 private:
  std::string name_;
  int es_;
  size_t bytes_;
  StridedCopy p_;
  DynamicStarts starts_;
};

}  // namespace

void register_layout_kernels(KernelRegistry& r) {
  r.add(OpKind::BroadcastInDim, broadcast_in_dim);
  r.add(OpKind::Transpose, transpose);
  r.add(OpKind::Slice, slice);
  r.add(OpKind::Reverse, reverse);
  r.add(OpKind::Concatenate, factory<Concatenate>);
  r.add(OpKind::Pad, factory<Pad>);
  r.add(OpKind::DynamicSlice, factory<DynamicSlice>);
  r.add(OpKind::DynamicUpdateSlice, factory<DynamicUpdateSlice>);
}

}  // namespace graft::cuda
