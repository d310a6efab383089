// Convolution. Ungrouped, non-transposed f16/bf16/f32 convolutions run as cuBLASLt products over im2col
// columns (1x1 convolutions with unit strides read the input directly), a chunk of images at a time so
// the columns stay under kMaxColumnBytes; everything else (groups, transposed, f64, and any product
// cuBLASLt declines) runs the direct kernel, which accumulates in double like the CPU's direct loops.
#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/plans.h"

namespace graft::cuda {

ConvGeometry conv_geometry(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output) {
  const auto& at = std::get<ConvolutionAttrs>(op.attrs);
  const std::string name = describe_op(op);
  const Shape& x = inputs[0].shape;
  const Shape& w = inputs[1].shape;
  const Shape& y = output.shape;
  ConvGeometry g;
  g.spatial = x.rank() - 2;
  GRAFT_CHECK(g.spatial >= 1 && g.spatial <= kMaxSpatial, name, ": ", g.spatial, " spatial axes; the CUDA backend handles 1 to ",
              kMaxSpatial);
  g.n = x[0], g.c = x[1], g.o = y[1], g.groups = at.groups, g.transposed = at.transposed;
  for (int i = 0; i < g.spatial; ++i) {
    g.in[i] = x[i + 2], g.out[i] = y[i + 2], g.k[i] = w[i + 2];
    g.stride[i] = at.strides[size_t(i)], g.dil[i] = at.dilations[size_t(i)], g.pad[i] = at.pad_low[size_t(i)];
  }
  return g;
}

namespace {

constexpr size_t kMaxColumnBytes = size_t(256) << 20;

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// The largest power of two (at most 256) dividing n.
int alignment_of(size_t n) {
  int a = 1;
  while (a < 256 && n % size_t(a * 2) == 0) a *= 2;
  return a;
}

class Convolution final : public Kernel {
 public:
  explicit Convolution(const KernelArgs& a) : name_(a.describe()), dtype_(a.inputs[0].dtype) {
    g_ = conv_geometry(a.op, a.inputs, a.outputs[0]);
    const Shape& y = a.outputs[0].shape;
    variant_ = "direct";
    if (y.size() == 0) return;
    const bool gemm_able = !g_.transposed && g_.groups == 1 &&
                           (dtype_ == DType::F32 || dtype_ == DType::F16 || dtype_ == DType::BF16) && g_.c * g_.k_size() > 0;
    if (gemm_able) plan_gemm(a);
  }

  size_t workspace_bytes() const override { return ws_; }
  std::string variant() const override { return variant_; }

  void launch(const LaunchArgs& a) override {
    if (!gemm_) {
      check_launch(launch_conv_direct(a.in[0], a.in[1], a.out[0], int(dtype_), g_, a.stream), name_, "a convolution");
      return;
    }
    char* ws = static_cast<char*>(a.workspace);
    const void* x = a.in[0];
    const void* w = a.in[1];
    if (autocast_) {
      check_launch(launch_convert_float(x, int(DType::F32), ws + x16_, int(ab_), g_.n * g_.c * g_.in_size(), a.stream), name_,
                   "rounding the input");
      x = ws + x16_;
      if (w_converted_) {
        w = w_converted_;
      } else {
        check_launch(launch_convert_float(w, int(DType::F32), ws + w16_, int(ab_), g_.o * g_.c * g_.k_size(), a.stream),
                     name_, "rounding the weights");
        w = ws + w16_;
      }
    }
    const size_t in_es = dtype_size(ab_), out_es = dtype_size(dtype_);
    const int64_t P = g_.out_size();
    for (int64_t i0 = 0; i0 < g_.n; i0 += chunk_) {
      const int64_t images = std::min(chunk_, g_.n - i0);
      const Gemm& gemm = images == chunk_ ? *gemm_ : *tail_;
      const void* cols;
      if (pointwise_) {
        cols = static_cast<const char*>(x) + size_t(i0 * g_.c * g_.in_size()) * in_es;
      } else {
        check_launch(launch_im2col(x, ws + col_, int(ab_), g_, i0, images, a.stream), name_, "im2col");
        cols = ws + col_;
      }
      void* out = static_cast<char*>(a.out[0]) + size_t(i0 * g_.o * P) * out_es;
      gemm.run(w, cols, out, ws + gemm_ws_, a.stream, name_);
    }
  }

 private:
  void plan_gemm(const KernelArgs& a) {
    const Precision prec = a.ctx.options().precision;
    ab_ = dtype_;
    if (dtype_ == DType::F32 && prec != Precision::F32) {
      ab_ = prec == Precision::BF16 ? DType::BF16 : DType::F16;
      autocast_ = true;
    }
    pointwise_ = true;
    for (int i = 0; i < g_.spatial; ++i)
      pointwise_ &= g_.k[i] == 1 && g_.stride[i] == 1 && g_.pad[i] == 0 && g_.out[i] == g_.in[i];
    const int64_t P = g_.out_size(), CK = g_.c * g_.k_size();
    const size_t es = dtype_size(ab_);
    const size_t per_image = size_t(CK * P) * es;
    chunk_ = pointwise_ ? g_.n : std::max<int64_t>(1, std::min<int64_t>(g_.n, int64_t(kMaxColumnBytes / std::max<size_t>(per_image, 1))));
    auto spec = [&](int64_t images) {
      GemmSpec s;
      s.batch = images, s.m = g_.o, s.n = P, s.k = CK;
      s.a_b = 0, s.a_m = CK, s.a_k = 1;   // weights [O, C*k], shared by every image
      s.b_b = CK * P, s.b_k = P, s.b_n = 1;  // columns [C*k, P] per image
      s.c_b = g_.o * P;
      s.ab = ab_, s.c = dtype_;
      s.tf32 = a.ctx.options().allow_tf32;
      // Chunks start at image multiples: the pointers are as aligned as those offsets.
      s.align_b = pointwise_ ? alignment_of(size_t(g_.c * g_.in_size()) * es) : 256;
      s.align_c = alignment_of(size_t(g_.o * P) * dtype_size(dtype_));
      return s;
    };
    std::string why;
    gemm_ = Gemm::plan(a.ctx.device(), spec(chunk_), &why);
    if (gemm_ && g_.n % chunk_) tail_ = Gemm::plan(a.ctx.device(), spec(g_.n % chunk_), &why);
    if (!gemm_ || (g_.n % chunk_ && !tail_)) {
      gemm_.reset();
      tail_.reset();
      autocast_ = false;
      ab_ = dtype_;
      variant_ = "direct (" + why + ")";
      return;
    }
    if (autocast_) {
      x16_ = take(size_t(g_.n * g_.c * g_.in_size()) * es);
      if (const Tensor* w = a.constant(1)) {
        const void* src = a.ctx.device().constant(*w)->data();
        void* dst = a.ctx.allocate(size_t(g_.o * CK) * es);
        check_launch(launch_convert_float(src, int(DType::F32), dst, int(ab_), g_.o * CK, nullptr), name_,
                     "rounding constant weights");
        GRAFT_CUDA(cudaStreamSynchronize(nullptr), name_, ": rounding constant weights");
        w_converted_ = dst;
      } else {
        w16_ = take(size_t(g_.o * CK) * es);
      }
    }
    if (!pointwise_) col_ = take(size_t(chunk_) * per_image);
    gemm_ws_ = take(std::max(gemm_->workspace_bytes(), tail_ ? tail_->workspace_bytes() : 0));
    variant_ = pointwise_ ? "cuBLASLt (1x1)" : "im2col + cuBLASLt";
  }

  size_t take(size_t bytes) {
    size_t at = ws_;
    ws_ += align256(bytes);
    return at;
  }

  std::string name_, variant_;
  DType dtype_, ab_ = DType::F32;
  ConvGeometry g_;
  std::unique_ptr<Gemm> gemm_, tail_;
  int64_t chunk_ = 1;
  bool pointwise_ = false, autocast_ = false;
  size_t ws_ = 0, x16_ = 0, w16_ = 0, col_ = 0, gemm_ws_ = 0;
  const void* w_converted_ = nullptr;
};

std::unique_ptr<Kernel> convolution(const KernelArgs& a) { return std::make_unique<Convolution>(a); }

}  // namespace

void register_convolution_kernels(KernelRegistry& r) { r.add(OpKind::Convolution, convolution); }

}  // namespace graft::cuda
