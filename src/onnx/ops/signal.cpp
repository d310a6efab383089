// Signal processing: HannWindow / HammingWindow / BlackmanWindow, DFT, STFT and MelWeightMatrix (opset 17+).
// Windows are computed on the host (their size must be known while tracing). DFT/STFT multiply by
// host-computed cosine/sine matrices, so any length works (not only powers of two) and the product runs
// on the backend's matrix kernels. Complex values are a trailing axis of 2 (real, imaginary).
#include <cmath>
#include <numbers>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

enum class WindowKind { Hann, Hamming, Blackman };

void window_op(OpContext& c, WindowKind kind) {
  std::vector<int64_t> size = c.require_ints(0, "size");
  if (size.size() != 1 || size[0] < 0) c.fail("size must be a non-negative scalar");
  int64_t n = size[0];
  bool periodic = c.attr_int("periodic", 1) != 0;
  DType out = onnx_dtype_attr(c, c.attr_int("output_datatype", 1));
  double denom = periodic ? double(n) : double(n - 1);
  std::vector<double> v(static_cast<size_t>(n));
  const double pi = std::numbers::pi;
  for (int64_t i = 0; i < n; ++i) {
    double x = denom > 0 ? 2 * pi * double(i) / denom : 0;
    switch (kind) {
      case WindowKind::Hann: v[size_t(i)] = 0.5 - 0.5 * std::cos(x); break;
      case WindowKind::Hamming: v[size_t(i)] = 25.0 / 46.0 - (21.0 / 46.0) * std::cos(x); break;
      case WindowKind::Blackman: v[size_t(i)] = 0.42 - 0.5 * std::cos(x) + 0.08 * std::cos(2 * x); break;
    }
  }
  c.set_known(0, Tensor::from_vector(v, Shape{n}).cast(out));
}

// DFT of the last axis of re/im ([..., L]) into K bins, as [..., K, 2]. `im` may be absent (real input).
// One product with a host-computed matrix: [re | im] x [[C, sS], [-sS, C]] = [out_re | out_im], where
// C = cos(2 pi jk / L), S = sin(2 pi jk / L), s = -1 forward and +1 inverse (which also scales by 1/L).
Node dft_last_axis(Graph& g, Node re, std::optional<Node> im, int64_t K, bool inverse) {
  int64_t L = re.dim(-1);
  int64_t rows = im ? 2 * L : L;
  double s = inverse ? 1.0 : -1.0, scale = inverse ? 1.0 / double(L) : 1.0;
  std::vector<double> m(static_cast<size_t>(rows * 2 * K));
  for (int64_t j = 0; j < L; ++j)
    for (int64_t k = 0; k < K; ++k) {
      // Reduce j*k mod L first so large products keep their precision.
      double a = 2 * std::numbers::pi * double((j * k) % L) / double(L);
      double cs = std::cos(a) * scale, sn = std::sin(a) * scale * s;
      m[size_t(j * 2 * K + k)] = cs;
      m[size_t(j * 2 * K + K + k)] = sn;
      if (im) {
        m[size_t((L + j) * 2 * K + k)] = -sn;
        m[size_t((L + j) * 2 * K + K + k)] = cs;
      }
    }
  Node M = g.constant(Tensor::from_vector(m, Shape{rows, 2 * K}).cast(re.dtype()));
  Node in = im ? Concatenate({re, *im}, -1) : re;
  Node y = MatMul(in, M);  // [..., 2K]
  std::vector<int64_t> dims = y.shape().dims();
  dims.back() = 2;
  dims.push_back(K);
  y = Reshape(y, dims);  // [..., 2, K]
  Axes perm;
  for (int i = 0; i < y.rank() - 2; ++i) perm.push_back(i);
  perm.push_back(y.rank() - 1);
  perm.push_back(y.rank() - 2);
  return Transpose(y, perm);
}

void dft_op(OpContext& c) {
  Node x = c.input(0);
  int r = x.rank();
  if (r < 2 || (x.dim(-1) != 1 && x.dim(-1) != 2)) c.fail("input must be [..., 1 or 2], got ", x.shape());
  int64_t axis_raw = c.opset() >= 20 ? (c.has_input(2) ? c.require_int(2, "axis") : -2) : c.attr_int("axis", 1);
  int axis = normalize_axis(c, axis_raw, r);
  if (axis == r - 1) c.fail("axis may not be the complex axis");
  bool inverse = c.attr_int("inverse", 0) != 0, onesided = c.attr_int("onesided", 0) != 0;
  int64_t n = x.dim(axis);
  int64_t L = n;
  if (c.has_input(1)) {
    auto len = c.require_ints(1, "dft_length");
    if (len.size() != 1 || len[0] < 1) c.fail("dft_length must be a positive scalar");
    L = len[0];
  }
  // Move the transformed axis last, split real/imaginary.
  Axes perm;
  for (int i = 0; i < r - 1; ++i)
    if (i != axis) perm.push_back(i);
  perm.push_back(axis);
  perm.push_back(r - 1);
  Node t = Transpose(x, perm);  // [..., n, c]
  if (L < n) t = SliceAxis(t, r - 2, 0, L);
  if (L > n) {
    Axes lo(size_t(r), 0), hi(size_t(r), 0);
    hi[size_t(r - 2)] = L - n;
    t = Pad(t, lo, hi);
  }
  Node re = Squeeze(SliceAxis(t, r - 1, 0, 1), {r - 1});
  std::optional<Node> im;
  if (x.dim(-1) == 2) im = Squeeze(SliceAxis(t, r - 1, 1, 2), {r - 1});
  int64_t K = onesided ? L / 2 + 1 : L;
  Node y = dft_last_axis(c.graph(), re, im, K, inverse);  // [..., K, 2]
  Axes back(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) back[size_t(perm[size_t(i)])] = i;
  c.set_output(0, Transpose(y, back));
}

void stft_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2)) c.fail("signal must be [batch, length, 1 or 2], got ", x.shape());
  auto step = c.require_ints(1, "frame_step");
  if (step.size() != 1 || step[0] < 1) c.fail("frame_step must be a positive scalar");
  std::optional<Node> window = c.optional_input(2);
  int64_t flen = 0;
  if (c.has_input(3)) flen = c.require_int(3, "frame_length");
  else if (window) flen = window->dim(0);
  else c.fail("either window or frame_length must be given");
  if (window && window->dim(0) != flen) c.fail("window length ", window->dim(0), " differs from frame_length ", flen);
  int64_t len = x.dim(1);
  if (flen < 1 || flen > len) c.fail("frame_length ", flen, " does not fit the signal length ", len);
  int64_t frames = (len - flen) / step[0] + 1;
  std::vector<int64_t> idx(static_cast<size_t>(frames * flen));
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t j = 0; j < flen; ++j) idx[size_t(f * flen + j)] = f * step[0] + j;
  Node fr = Take(x, c.graph().constant(Tensor::from_vector(idx, Shape{frames, flen})), 1);  // [b, frames, flen, c]
  Node re = Squeeze(SliceAxis(fr, 3, 0, 1), {3});
  std::optional<Node> im;
  if (x.dim(2) == 2) im = Squeeze(SliceAxis(fr, 3, 1, 2), {3});
  if (window) {
    Node w = Convert(*window, x.dtype());
    re = re * w;
    if (im) im = *im * w;
  }
  bool onesided = c.attr_int("onesided", 1) != 0;
  int64_t K = onesided ? flen / 2 + 1 : flen;
  c.set_output(0, dft_last_axis(c.graph(), re, im, K, false));
}

// MelWeightMatrix (opset 17): [dft_length / 2 + 1, num_mel_bins] triangular filters, computed on the host
// (every input must be known while tracing) as the ONNX reference does: num_mel_bins + 2 points evenly
// spaced on the mel scale (2595 log10(1 + f / 700)) from lower to upper edge, with the step
// (high - low) / (num_mel_bins + 2); each point mapped to the spectrogram bin floor((dft_length + 1) * f /
// sample_rate); filter i rises linearly from point i to point i + 1 and falls to point i + 2. The edge mels
// are computed in the edges' own precision (f32 edges give f32 mels), as the reference's NumPy arithmetic.
void mel_weight_matrix_op(OpContext& c) {
  auto scalar_int = [&](int i, const char* what) {
    std::vector<int64_t> v = c.require_ints(i, what);
    if (v.size() != 1) c.fail(what, " must be a scalar");
    return v[0];
  };
  int64_t mels = scalar_int(0, "num_mel_bins"), dft = scalar_int(1, "dft_length"), rate = scalar_int(2, "sample_rate");
  const Tensor& lo_t = c.require_known(3, "lower_edge_hertz");
  const Tensor& hi_t = c.require_known(4, "upper_edge_hertz");
  if (lo_t.size() != 1 || hi_t.size() != 1) c.fail("lower_edge_hertz and upper_edge_hertz must be scalars");
  if (mels < 1 || dft < 1 || rate < 1) c.fail("num_mel_bins, dft_length and sample_rate must be positive");
  double lo = lo_t.value_as_double(0), hi = hi_t.value_as_double(0);
  double lo_mel, hi_mel;
  if (lo_t.dtype() == DType::F64) {
    lo_mel = 2595 * std::log10(1 + lo / 700);
    hi_mel = 2595 * std::log10(1 + hi / 700);
  } else {
    lo_mel = double(2595.0f * std::log10(1.0f + float(lo) / 700.0f));
    hi_mel = double(2595.0f * std::log10(1.0f + float(hi) / 700.0f));
  }
  int64_t points = mels + 2, bins = dft / 2 + 1;
  double step = (hi_mel - lo_mel) / double(points);
  if (lo_t.dtype() != DType::F64) step = double(float(hi_mel - lo_mel) / float(points));
  std::vector<int64_t> f(static_cast<size_t>(points));
  for (int64_t i = 0; i < points; ++i) {
    double hz = 700 * (std::pow(10.0, (double(i) * step + lo_mel) / 2595) - 1);
    f[size_t(i)] = int64_t(std::floor(double(dft + 1) * hz / double(rate)));
  }
  std::vector<double> m(static_cast<size_t>(bins * mels), 0.0);
  auto set = [&](int64_t j, int64_t i, double v) {
    if (j >= 0 && j < bins) m[size_t(j * mels + i)] = v;
  };
  for (int64_t i = 0; i < mels; ++i) {
    int64_t left = f[size_t(i)], center = f[size_t(i + 1)], right = f[size_t(i + 2)];
    if (center == left) {
      set(center, i, 1.0);
    } else {
      for (int64_t j = left; j <= center; ++j) set(j, i, double(j - left) / double(center - left));
    }
    for (int64_t j = center; j < right; ++j) set(j, i, double(right - j) / double(right - center));
  }
  DType out = onnx_dtype_attr(c, c.attr_int("output_datatype", 1));
  c.set_known(0, Tensor::from_vector(m, Shape{bins, mels}).cast(out));
}

}  // namespace

void register_signal_ops(Registry& r) {
  r.add("", "HannWindow", 17, [](OpContext& c) { window_op(c, WindowKind::Hann); });
  r.add("", "HammingWindow", 17, [](OpContext& c) { window_op(c, WindowKind::Hamming); });
  r.add("", "BlackmanWindow", 17, [](OpContext& c) { window_op(c, WindowKind::Blackman); });
  r.add("", "DFT", 17, dft_op);
  r.add("", "STFT", 17, stft_op);
  r.add("", "MelWeightMatrix", 17, mel_weight_matrix_op).note =
      "computed on the host (inputs known while tracing), bin edges as the ONNX reference";
}

}  // namespace graft::onnx
