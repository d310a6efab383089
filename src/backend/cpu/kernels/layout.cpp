// Data-movement kernels: broadcast, transpose, slice, reverse, concatenate, pad, dynamic slices.
// All but pad are one strided_copy with views computed at compile time.
#include <algorithm>

#include "backend/cpu/kernel.h"
#include "backend/cpu/strided_copy.h"

namespace graft::cpu {

namespace {

// A kernel that copies a fixed strided view of input 0 into the contiguous output.
std::unique_ptr<Kernel> view_copy(StridedView src, std::vector<int64_t> dims, size_t es) {
  StridedView dst{0, contiguous_strides(dims)};
  return lambda_kernel([=](std::span<const void* const> in, std::span<void* const> out) {
    strided_copy(in[0], src, out[0], dst, dims, es);
  });
}

std::unique_ptr<Kernel> broadcast_in_dim(const KernelArgs& a) {
  const auto& bd = std::get<BroadcastInDimAttrs>(a.op.attrs).dims;
  const Shape& in = a.inputs[0].shape;
  const Shape& out = a.outputs[0].shape;
  std::vector<int64_t> own = in.strides();
  StridedView src{0, std::vector<int64_t>(size_t(out.rank()), 0)};
  for (int i = 0; i < in.rank(); ++i)
    if (in[i] != 1) src.strides[size_t(bd[size_t(i)])] = own[size_t(i)];
  return view_copy(src, out.dims(), dtype_size(a.outputs[0].dtype));
}

std::unique_ptr<Kernel> transpose(const KernelArgs& a) {
  const auto& perm = std::get<TransposeAttrs>(a.op.attrs).perm;
  std::vector<int64_t> own = a.inputs[0].shape.strides();
  StridedView src{0, {}};
  for (int64_t p : perm) src.strides.push_back(own[size_t(p)]);
  return view_copy(src, a.outputs[0].shape.dims(), dtype_size(a.outputs[0].dtype));
}

std::unique_ptr<Kernel> slice(const KernelArgs& a) {
  const auto& s = std::get<SliceAttrs>(a.op.attrs);
  std::vector<int64_t> own = a.inputs[0].shape.strides();
  StridedView src{0, {}};
  for (size_t i = 0; i < own.size(); ++i) {
    src.offset += s.starts[i] * own[i];
    src.strides.push_back(own[i] * s.strides[i]);
  }
  return view_copy(src, a.outputs[0].shape.dims(), dtype_size(a.outputs[0].dtype));
}

std::unique_ptr<Kernel> reverse(const KernelArgs& a) {
  const auto& axes = std::get<ReverseAttrs>(a.op.attrs).axes;
  const Shape& sh = a.inputs[0].shape;
  StridedView src{0, sh.strides()};
  for (int64_t ax : axes) {
    if (sh[int(ax)] == 0) continue;
    src.offset += (sh[int(ax)] - 1) * src.strides[size_t(ax)];
    src.strides[size_t(ax)] = -src.strides[size_t(ax)];
  }
  return view_copy(src, sh.dims(), dtype_size(a.outputs[0].dtype));
}

std::unique_ptr<Kernel> concatenate(const KernelArgs& a) {
  int axis = std::get<ConcatenateAttrs>(a.op.attrs).axis;
  const Shape& out = a.outputs[0].shape;
  std::vector<int64_t> ostrides = out.strides();
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (const ValueType& t : a.inputs) {
    offsets.push_back(at * ostrides[size_t(axis)]);
    at += t.shape[axis];
  }
  std::vector<ValueType> ins = a.inputs;
  size_t es = dtype_size(a.outputs[0].dtype);
  return lambda_kernel([=](std::span<const void* const> in, std::span<void* const> o) {
    for (size_t k = 0; k < ins.size(); ++k)
      strided_copy(in[k], StridedView{0, ins[k].shape.strides()}, o[0], StridedView{offsets[k], ostrides},
                   ins[k].shape.dims(), es);
  });
}

std::unique_ptr<Kernel> pad(const KernelArgs& a) {
  const auto& p = std::get<PadAttrs>(a.op.attrs);
  const Shape& in = a.inputs[0].shape;
  const Shape& out = a.outputs[0].shape;
  int r = in.rank();
  std::vector<std::vector<int64_t>> maps;
  for (int i = 0; i < r; ++i) maps.push_back(pad_source_map(in[i], p.low[size_t(i)], p.high[size_t(i)], p.mode));
  std::vector<int64_t> istr = in.strides();
  size_t es = dtype_size(a.outputs[0].dtype);
  int64_t total = out.size();
  std::vector<int64_t> odims = out.dims();
  return lambda_kernel([=](std::span<const void* const> ins, std::span<void* const> o) {
    const char* src = static_cast<const char*>(ins[0]);
    const char* value = static_cast<const char*>(ins[1]);
    char* dst = static_cast<char*>(o[0]);
    std::vector<int64_t> idx(size_t(r), 0);
    for (int64_t i = 0; i < total; ++i) {
      int64_t off = 0;
      bool padded = false;
      for (int ax = 0; ax < r; ++ax) {
        int64_t m = maps[size_t(ax)][size_t(idx[size_t(ax)])];
        if (m < 0) {
          padded = true;
          break;
        }
        off += m * istr[size_t(ax)];
      }
      std::memcpy(dst + i * int64_t(es), padded ? value : src + off * int64_t(es), es);
      for (int ax = r - 1; ax >= 0; --ax) {
        if (++idx[size_t(ax)] < odims[size_t(ax)]) break;
        idx[size_t(ax)] = 0;
      }
    }
  });
}

// Reads the run-time start indices (int64 scalars in inputs first..) and clamps them like XLA.
std::vector<int64_t> read_starts(std::span<const void* const> in, size_t first, const Shape& operand,
                                 const std::vector<int64_t>& sizes) {
  std::vector<int64_t> starts(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    int64_t s = *static_cast<const int64_t*>(in[first + i]);
    starts[i] = std::clamp<int64_t>(s, 0, operand[int(i)] - sizes[i]);
  }
  return starts;
}

std::unique_ptr<Kernel> dynamic_slice(const KernelArgs& a) {
  Shape in = a.inputs[0].shape;
  std::vector<int64_t> sizes = a.outputs[0].shape.dims();
  std::vector<int64_t> istr = in.strides(), ostr = contiguous_strides(sizes);
  size_t es = dtype_size(a.outputs[0].dtype);
  return lambda_kernel([=](std::span<const void* const> ins, std::span<void* const> o) {
    std::vector<int64_t> starts = read_starts(ins, 1, in, sizes);
    int64_t off = 0;
    for (size_t i = 0; i < starts.size(); ++i) off += starts[i] * istr[i];
    strided_copy(ins[0], StridedView{off, istr}, o[0], StridedView{0, ostr}, sizes, es);
  });
}

std::unique_ptr<Kernel> dynamic_update_slice(const KernelArgs& a) {
  Shape in = a.inputs[0].shape;
  std::vector<int64_t> sizes = a.inputs[1].shape.dims();
  std::vector<int64_t> istr = in.strides(), ustr = contiguous_strides(sizes);
  size_t es = dtype_size(a.outputs[0].dtype);
  size_t bytes = size_t(in.size()) * es;
  return lambda_kernel(
      [=](std::span<const void* const> ins, std::span<void* const> o) {
        if (ins[0] != o[0]) std::memcpy(o[0], ins[0], bytes);
        std::vector<int64_t> starts = read_starts(ins, 2, in, sizes);
        int64_t off = 0;
        for (size_t i = 0; i < starts.size(); ++i) off += starts[i] * istr[i];
        strided_copy(ins[1], StridedView{0, ustr}, o[0], StridedView{off, istr}, sizes, es);
      },
      /*in_place_inputs=*/1u);
}

}  // namespace

void register_layout_kernels(KernelRegistry& r) {
  r.add(OpKind::BroadcastInDim, broadcast_in_dim);
  r.add(OpKind::Transpose, transpose);
  r.add(OpKind::Slice, slice);
  r.add(OpKind::Reverse, reverse);
  r.add(OpKind::Concatenate, concatenate);
  r.add(OpKind::Pad, pad);
  r.add(OpKind::DynamicSlice, dynamic_slice);
  r.add(OpKind::DynamicUpdateSlice, dynamic_update_slice);
}

}  // namespace graft::cpu
