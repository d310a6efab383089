// Sort (every operand permuted by the keys of operand 0) and TopK, along one axis, through CUB's radix
// sort (kernels/sort.cu). Order as the CPU backend has it: NaN largest, -0 == +0, stable (also when
// descending); TopK breaks ties by the lower index.
#include "backend/cuda/check.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

namespace {

SortLines lines_of(const Shape& s, int axis) {
  SortLines l;
  l.len = s[axis];
  for (int i = 0; i < axis; ++i) l.outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) l.inner *= s[i];
  return l;
}

void check_sort_size(const SortLines& l, const std::string& op) {
  GRAFT_CHECK(l.outer * l.inner * l.len < (int64_t(1) << 31), op, ": sorting ", l.outer * l.inner * l.len,
              " elements at once; the CUDA backend sorts fewer than 2^31");
}

class Sort final : public Kernel {
 public:
  explicit Sort(const KernelArgs& a) : name_(a.describe()), key_dtype_(int(a.inputs[0].dtype)) {
    const auto& at = std::get<SortAttrs>(a.op.attrs);
    lines_ = lines_of(a.inputs[0].shape, at.axis);
    check_sort_size(lines_, name_);
    descending_ = at.descending;
    for (const ValueType& t : a.inputs) sizes_.push_back(int(dtype_size(t.dtype)));
    check_launch(sort_workspace_bytes(lines_, key_dtype_, &workspace_), name_, "sizing the sort's workspace");
  }
  size_t workspace_bytes() const override { return workspace_; }
  void launch(const LaunchArgs& a) override {
    const int32_t* order = nullptr;
    check_launch(launch_sort_positions(a.in[0], key_dtype_, descending_, lines_, a.workspace, &order, a.stream), name_,
                 "sorting");
    for (size_t k = 0; k < sizes_.size(); ++k)
      check_launch(launch_permute_lines(a.in[k], a.out[k], sizes_[k], lines_, lines_.len, order, a.stream), name_,
                   "permuting a sorted operand");
  }

 private:
  std::string name_;
  int key_dtype_;
  SortLines lines_;
  bool descending_ = false;
  std::vector<int> sizes_;
  size_t workspace_ = 0;
};

class TopK final : public Kernel {
 public:
  explicit TopK(const KernelArgs& a) : name_(a.describe()), dtype_(int(a.inputs[0].dtype)) {
    const auto& at = std::get<TopKAttrs>(a.op.attrs);
    lines_ = lines_of(a.inputs[0].shape, at.axis);
    check_sort_size(lines_, name_);
    k_ = at.k;
    GRAFT_CHECK(k_ >= 0 && k_ <= lines_.len, name_, ": k=", k_, " exceeds the axis extent ", lines_.len);
    largest_ = at.largest;
    check_launch(sort_workspace_bytes(lines_, dtype_, &workspace_), name_, "sizing the sort's workspace");
  }
  size_t workspace_bytes() const override { return workspace_; }
  void launch(const LaunchArgs& a) override {
    if (k_ == 0) return;
    const int32_t* order = nullptr;
    // Largest first is a descending sort (NaN first); smallest first ascending (NaN last).
    check_launch(launch_sort_positions(a.in[0], dtype_, largest_, lines_, a.workspace, &order, a.stream), name_, "sorting");
    check_launch(launch_permute_lines(a.in[0], a.out[0], int(dtype_size(DType(dtype_))), lines_, k_, order, a.stream),
                 name_, "gathering the top values");
    check_launch(launch_positions_to_indices(order, static_cast<int64_t*>(a.out[1]), lines_, k_, a.stream), name_,
                 "writing the top indices");
  }

 private:
  std::string name_;
  int dtype_;
  SortLines lines_;
  int64_t k_ = 0;
  bool largest_ = true;
  size_t workspace_ = 0;
};

}  // namespace

void register_sort_kernels(KernelRegistry& r) {
  r.add(OpKind::Sort, factory<Sort>);
  r.add(OpKind::TopK, factory<TopK>);
}

}  // namespace graft::cuda
