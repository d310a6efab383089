// onnx.matmul_nbits: Y = A · W (+ bias) where W [K, N] is stored as blockwise-quantized 2-, 4- or 8-bit fields
// (layout and parameters: src/onnx/ops/contrib/quantization.cpp, kMatMulNBitsName). The whole f32 W never
// exists: the product runs over panels of W — `panel_n` columns by `chunk_k` rows, sized to stay in L2 — each
// dequantized into per-thread scratch just before a oneDNN matmul multiplies the rows of A by it.
//
// Arithmetic. A weight is (f32(q) - zero_point) · scale in f32, one subtraction (exact: small integers, or an f32
// zero point) and one rounded multiplication, as ONNX Runtime's MLAS dequantizes for its fp32 path and as the
// composite's decomposition does; the products then accumulate in oneDNN's order, K chunk by K chunk (a sum
// post-op after the first), and the bias is added last.
//
// Work split: items are (block of rows of A) x (panel of N), a fixed grid chosen from the shape and the thread
// count, each item computed whole by one thread (all its K chunks in order), so the results depend on the
// thread count at most, never on scheduling. Each item dequantizes its panels again; the grid keeps item rows
// large (that overhead is chunk_k · panel_n dequantizations against rows · chunk_k · panel_n multiply-adds)
// and splits rows or narrows panels only as far as needed to give every thread work.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>

#include "backend/cpu/kernels/matmul_nbits.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vector_math.h"

namespace graft::cpu {

namespace {

constexpr const char* kMatMulNBitsName = "onnx.matmul_nbits";

struct NBitsPlan {
  int64_t k = 0, n = 0, bits = 4, block = 32, blocks = 0, blob = 0;
  int zp_form = 0;        // 0: none (2^(bits-1)), 1: packed u8, 2: f32 per block
  int64_t zp_row = 0;     // bytes per row of packed zero points
  bool bias = false;
  int64_t rows = 0;       // rows of A (every axis but the last)
  int64_t chunk_k = 0;    // rows of W per panel, a multiple of block (the last chunk may be shorter)
  int64_t panel_ld = 0;   // floats per panel row: chunk_k (whole blocks are written)
  int64_t panel_n = 0;    // columns of W per panel
  int64_t rows_per_item = 0;
  int64_t n_panels = 0, row_blocks = 0;
};

// The zero points of row n, blocks [j0, j1), as f32 into z.
void row_zero_points(const NBitsPlan& p, const void* zp, int64_t n, int64_t j0, int64_t j1, float* z) {
  if (p.zp_form == 1) {
    const uint8_t* bytes = static_cast<const uint8_t*>(zp) + n * p.zp_row;
    const unsigned mask = (1u << p.bits) - 1;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t bit = j * p.bits;
      z[j - j0] = float((bytes[bit / 8] >> (bit % 8)) & mask);
    }
  } else if (p.zp_form == 2) {
    std::copy_n(static_cast<const float*>(zp) + n * p.blocks + j0, j1 - j0, z);
  } else {
    std::fill_n(z, j1 - j0, float(1 << (p.bits - 1)));
  }
}

// Blocks [0, count) of one row of B (`bits`-bit fields, lowest bits first, blob bytes a block) as
// (f32(q) - z[j]) · s[j] into out[j · block, (j + 1) · block).
template <int Bits>
GRAFT_INLINE void dequantize_row(const uint8_t* __restrict src, const float* __restrict s, const float* __restrict z,
                                 int64_t count, int64_t blob, float* __restrict out) {
  constexpr int per_byte = 8 / Bits;
  constexpr unsigned mask = (1u << Bits) - 1;
  for (int64_t j = 0; j < count; ++j) {
    const float zj = z[j], sj = s[j];
    const uint8_t* __restrict in = src + j * blob;
    float* __restrict dst = out + j * blob * per_byte;
    for (int64_t i = 0; i < blob; ++i) {
      const unsigned byte = in[i];
      for (int f = 0; f < per_byte; ++f) dst[i * per_byte + f] = (float((byte >> (f * Bits)) & mask) - zj) * sj;
    }
  }
}
GRAFT_CLONES void dequantize_row_2(const uint8_t* src, const float* s, const float* z, int64_t count, int64_t blob,
                                   float* out) {
  dequantize_row<2>(src, s, z, count, blob, out);
}
GRAFT_CLONES void dequantize_row_4(const uint8_t* src, const float* s, const float* z, int64_t count, int64_t blob,
                                   float* out) {
  dequantize_row<4>(src, s, z, count, blob, out);
}
GRAFT_CLONES void dequantize_row_8(const uint8_t* src, const float* s, const float* z, int64_t count, int64_t blob,
                                   float* out) {
  dequantize_row<8>(src, s, z, count, blob, out);
}

// Dequantizes W[k0 : k0 + kc, n0 : n0 + nc] into panel, transposed: panel[c * panel_ld + r] = W[k0 + r, n0 + c].
// k0 is a multiple of block; whole blocks are written (panel_ld leaves room for the last, partial one). z is
// scratch for one row's zero points (chunk_k / block floats).
void dequantize_panel(const NBitsPlan& p, const uint8_t* b, const float* scales, const void* zp, int64_t k0,
                      int64_t kc, int64_t n0, int64_t nc, float* panel, float* z) {
  const int64_t j0 = k0 / p.block, j1 = (k0 + kc + p.block - 1) / p.block;
  auto* row = p.bits == 4 ? dequantize_row_4 : p.bits == 8 ? dequantize_row_8 : dequantize_row_2;
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t n = n0 + c;
    row_zero_points(p, zp, n, j0, j1, z);
    row(b + (n * p.blocks + j0) * p.blob, scales + n * p.blocks + j0, z, j1 - j0, p.blob, panel + c * p.panel_ld);
  }
}

NBitsPlan make_plan(const CustomCompositeParams& params, const Shape& a_shape) {
  GRAFT_CHECK(params.ints.size() == 6, kMatMulNBitsName, ": malformed parameters");
  NBitsPlan p;
  p.k = params.ints[0], p.n = params.ints[1], p.bits = params.ints[2], p.block = params.ints[3];
  p.zp_form = int(params.ints[4]);
  p.bias = params.ints[5] != 0;
  GRAFT_CHECK((p.bits == 2 || p.bits == 4 || p.bits == 8) && p.block >= 16 && (p.block & (p.block - 1)) == 0,
              kMatMulNBitsName, ": bits ", p.bits, ", block_size ", p.block);
  p.blocks = (p.k + p.block - 1) / p.block;
  p.blob = p.block * p.bits / 8;
  p.zp_row = (p.blocks * p.bits + 7) / 8;
  p.rows = a_shape.size() / p.k;
  // K in one chunk up to 1024 (no accumulation passes); beyond, 512-row chunks (whole blocks).
  p.chunk_k = p.k <= 1024 ? p.blocks * p.block : std::max<int64_t>(p.block, 512);
  p.panel_ld = p.chunk_k;
  // Panels of 128 columns (64 for chunks over 512 rows): 256 KiB of f32 panel (more only for blocks over 512
  // values, which make a chunk), a quarter of this machine's L2 per core, leaving room for rows of A.
  int64_t panel_n = p.chunk_k > 512 ? 64 : 128;
  // Enough items for every thread: split rows (down to 256 per item: each row block dequantizes every panel
  // again), then narrow panels (down to 16 columns).
  const int64_t want = 4 * int64_t(std::max(1, omp_get_max_threads()));
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int64_t rows_per_item = std::max<int64_t>(p.rows, 1);
  while (ceil_div(p.n, panel_n) * ceil_div(p.rows, rows_per_item) < want && rows_per_item > 256)
    rows_per_item = ceil_div(rows_per_item, 2);
  while (ceil_div(p.n, panel_n) * ceil_div(p.rows, rows_per_item) < want && panel_n > 16) panel_n /= 2;
  p.panel_n = std::min(panel_n, p.n);
  p.rows_per_item = rows_per_item;
  p.n_panels = ceil_div(p.n, p.panel_n);
  p.row_blocks = ceil_div(p.rows, rows_per_item);
  return p;
}

// The products: one oneDNN matmul primitive per distinct item shape (rows x chunk x panel width, the last ones
// shorter) and per "first chunk / accumulate" (a sum post-op adds to what the earlier chunks wrote), built once.
// A is read in place (row stride K), the panel as [K chunk, panel width] with strides (1, panel_ld), the result
// written in place (row stride N). Several threads run them at once, each with its own stream, memory objects
// and scratchpad.
class MatMulNBitsKernel final : public Kernel {
 public:
  explicit MatMulNBitsKernel(const NBitsPlan& p) : p_(p), threads_(std::max(1, omp_get_max_threads())) {
    using dnnl::memory;
    for (int64_t mc : {p.rows_per_item, p.rows - (p.row_blocks - 1) * p.rows_per_item})
      for (int64_t nc : {p.panel_n, p.n - (p.n_panels - 1) * p.panel_n})
        for (int64_t k0 = 0; k0 < p.k; k0 += p.chunk_k) {
          const int64_t kc = std::min(p.chunk_k, p.k - k0);
          const bool acc = k0 > 0;
          if (find(mc, nc, kc, acc) >= 0) continue;
          Shape s;
          s.mc = mc, s.nc = nc, s.kc = kc, s.acc = acc;
          s.src = memory::desc({mc, kc}, memory::data_type::f32, memory::dims{p.k, 1});
          s.wei = memory::desc({kc, nc}, memory::data_type::f32, memory::dims{1, p.panel_ld});
          s.dst = memory::desc({mc, nc}, memory::data_type::f32, memory::dims{p.n, 1});
          dnnl::primitive_attr attr;
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          if (acc) {
            dnnl::post_ops po;
            po.append_sum(1.0f);
            attr.set_post_ops(po);
          }
          dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(s.src, s.wei, s.dst), attr, onednn_engine());
          s.pad = pd.scratchpad_desc();
          s.prim = dnnl::matmul(pd);
          shapes_.push_back(std::move(s));
        }
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    const float* a = static_cast<const float*>(in[0]);
    const uint8_t* b = static_cast<const uint8_t*>(in[1]);
    const float* scales = static_cast<const float*>(in[2]);
    const void* zp = p_.zp_form != 0 ? in[3] : nullptr;
    const float* bias = p_.bias ? static_cast<const float*>(in[p_.zp_form != 0 ? 4 : 3]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    if (p_.rows == 0) return;
    // Scratch is made on the first run and reused: later runs allocate nothing.
    if (scratch_.empty())
      for (int t = 0; t < threads_; ++t) scratch_.push_back(std::make_unique<Scratch>(*this));
    const int64_t items = p_.n_panels * p_.row_blocks;
    parallel_for(items, p_.rows * p_.n * p_.k, [&](int64_t begin, int64_t end) {
      Scratch& sc = *scratch_[size_t(omp_get_thread_num())];
      for (int64_t item = begin; item < end; ++item) run_item(item, a, b, scales, zp, bias, y, sc);
    }, kParallelWork, threads_);
  }

 private:
  struct Shape {
    int64_t mc = 0, nc = 0, kc = 0;
    bool acc = false;
    dnnl::memory::desc src, wei, dst, pad;
    dnnl::matmul prim;
  };
  struct Scratch {
    explicit Scratch(const MatMulNBitsKernel& k) : stream(onednn_engine()) {
      size_t pad_bytes = 0;
      for (const Shape& s : k.shapes_) pad_bytes = std::max(pad_bytes, s.pad.get_size());
      panel.assign(size_t(k.p_.panel_n * k.p_.panel_ld), 0.0f);
      zero_points.assign(size_t(k.p_.panel_ld / k.p_.block), 0.0f);
      pad.assign(pad_bytes, 0);
      for (const Shape& s : k.shapes_) {
        mems.push_back({dnnl::memory(s.src, onednn_engine(), DNNL_MEMORY_NONE),
                        dnnl::memory(s.wei, onednn_engine(), panel.data()),
                        dnnl::memory(s.dst, onednn_engine(), DNNL_MEMORY_NONE),
                        dnnl::memory(s.pad, onednn_engine(), pad.data())});
      }
    }
    dnnl::stream stream;
    std::vector<float> panel, zero_points;
    std::vector<uint8_t> pad;
    std::vector<std::array<dnnl::memory, 4>> mems;  // per shape: src, weights (the panel), dst, scratchpad
  };

  int find(int64_t mc, int64_t nc, int64_t kc, bool acc) const {
    for (size_t i = 0; i < shapes_.size(); ++i)
      if (shapes_[i].mc == mc && shapes_[i].nc == nc && shapes_[i].kc == kc && shapes_[i].acc == acc) return int(i);
    return -1;
  }

  void run_item(int64_t item, const float* a, const uint8_t* b, const float* scales, const void* zp,
                const float* bias, float* y, Scratch& sc) const {
    const int64_t n0 = (item % p_.n_panels) * p_.panel_n, nc = std::min(p_.panel_n, p_.n - n0);
    const int64_t m0 = (item / p_.n_panels) * p_.rows_per_item, mc = std::min(p_.rows_per_item, p_.rows - m0);
    float* c = y + m0 * p_.n + n0;
    for (int64_t k0 = 0; k0 < p_.k; k0 += p_.chunk_k) {
      const int64_t kc = std::min(p_.chunk_k, p_.k - k0);
      dequantize_panel(p_, b, scales, zp, k0, kc, n0, nc, sc.panel.data(), sc.zero_points.data());
      const int i = find(mc, nc, kc, k0 > 0);
      auto& m = sc.mems[size_t(i)];
      m[0].set_data_handle(const_cast<float*>(a + m0 * p_.k + k0));
      m[2].set_data_handle(c);
      shapes_[size_t(i)].prim.execute(sc.stream, {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, m[1]}, {DNNL_ARG_DST, m[2]},
                                                  {DNNL_ARG_SCRATCHPAD, m[3]}});
      sc.stream.wait();
    }
    if (bias)
      for (int64_t r = 0; r < mc; ++r)
        for (int64_t j = 0; j < nc; ++j) c[r * p_.n + j] += bias[n0 + j];
  }

  NBitsPlan p_;
  int threads_;
  std::vector<Shape> shapes_;
  std::vector<std::unique_ptr<Scratch>> scratch_;  // one per thread
};

std::unique_ptr<Kernel> matmul_nbits(const KernelArgs& a) {
  const auto* params = std::get<CompositeAttrs>(a.op.attrs).get_if<CustomCompositeParams>();
  GRAFT_CHECK(params && a.inputs.size() >= 3 && a.outputs.size() == 1, a.describe(), ": not a MatMulNBits");
  if (a.inputs[0].dtype != DType::F32 || a.outputs[0].dtype != DType::F32 || a.inputs[1].dtype != DType::U8)
    return nullptr;
  const NBitsPlan plan = make_plan(*params, a.inputs[0].shape);
  const size_t expected = 3 + (plan.zp_form != 0 ? 1 : 0) + (plan.bias ? 1 : 0);
  GRAFT_CHECK(a.inputs.size() == expected, a.describe(), ": ", a.inputs.size(), " operands, want ", expected);
  return std::make_unique<MatMulNBitsKernel>(plan);
}

}  // namespace

Tensor dequantize_matmul_nbits(const CustomCompositeParams& params, const Tensor& b, const Tensor& scales,
                               const Tensor* zero_points) {
  const NBitsPlan p = make_plan(params, Shape{1, params.ints.at(0)});
  GRAFT_CHECK(b.dtype() == DType::U8 && b.size() == p.n * p.blocks * p.blob && scales.dtype() == DType::F32 &&
                  scales.size() == p.n * p.blocks && (p.zp_form == 0) == (zero_points == nullptr),
              kMatMulNBitsName, ": operands do not match the parameters");
  std::vector<float> row(size_t(p.blocks * p.block)), z(size_t(p.blocks)), w(size_t(p.k * p.n));
  auto* dequantize = p.bits == 4 ? dequantize_row_4 : p.bits == 8 ? dequantize_row_8 : dequantize_row_2;
  for (int64_t n = 0; n < p.n; ++n) {
    row_zero_points(p, zero_points ? zero_points->raw() : nullptr, n, 0, p.blocks, z.data());
    dequantize(b.data<uint8_t>() + n * p.blocks * p.blob, scales.data<float>() + n * p.blocks, z.data(), p.blocks,
               p.blob, row.data());
    for (int64_t k = 0; k < p.k; ++k) w[size_t(k * p.n + n)] = row[size_t(k)];
  }
  return Tensor::from_vector(w, Shape{p.k, p.n});
}

void register_matmul_nbits_kernels(KernelRegistry& r) { r.add_custom_composite(kMatMulNBitsName, matmul_nbits); }

}  // namespace graft::cpu
