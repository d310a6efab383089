// onnx.matmul_nbits: Y = A · W (+ bias) where W [K, N] is stored as blockwise-quantized 2-, 4- or 8-bit fields
// (layout and parameters: src/onnx/ops/contrib/quantization.cpp, kMatMulNBitsName). The whole f32 W never
// exists: the product runs over panels of W — `panel_n` columns by `chunk_k` rows, sized to stay in L2 — each
// dequantized into per-thread scratch just before oneDNN's sgemm multiplies the rows of A by it.
//
// Arithmetic. A weight is (f32(q) - zero_point) · scale in f32, one subtraction (exact: small integers, or an f32
// zero point) and one rounded multiplication, as ONNX Runtime's MLAS dequantizes for its fp32 path and as the
// composite's decomposition does; the products then accumulate in sgemm's order, K chunk by K chunk (beta = 1),
// and the bias is added last.
//
// Work split: items are (block of rows of A) x (panel of N), a fixed grid chosen from the shape and the thread
// count, each item computed whole by one thread (all its K chunks in order), so the results depend on the
// thread count at most, never on scheduling. Each item dequantizes its panels again; the grid keeps item rows
// large (that overhead is chunk_k · panel_n dequantizations against rows · chunk_k · panel_n multiply-adds)
// and splits rows or narrows panels only as far as needed to give every thread work.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
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

// Per-thread scratch for one panel, reused by every MatMulNBits a thread runs (they run one at a time).
float* panel_scratch(size_t floats) {
  struct Buffer {
    float* data = nullptr;
    size_t floats = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer b;
  if (b.floats < floats) {
    std::free(b.data);
    b.floats = (floats + 15) / 16 * 16;
    b.data = static_cast<float*>(std::aligned_alloc(64, b.floats * sizeof(float)));
    if (!b.data) {
      b.floats = 0;
      fail(kMatMulNBitsName, ": cannot allocate ", floats * sizeof(float), " bytes of scratch");
    }
  }
  return b.data;
}

// One block of `bits`-bit fields (blob bytes, lowest bits first) as (f32(q) - z) · s into dst[0, block).
template <int Bits>
GRAFT_INLINE void dequantize_block(const uint8_t* src, int64_t blob, float z, float s, float* dst) {
  constexpr int per_byte = 8 / Bits;
  constexpr unsigned mask = (1u << Bits) - 1;
  for (int64_t i = 0; i < blob; ++i) {
    const unsigned byte = src[i];
    for (int f = 0; f < per_byte; ++f) dst[i * per_byte + f] = (float((byte >> (f * Bits)) & mask) - z) * s;
  }
}

// The zero point of row n, block j.
GRAFT_INLINE float zero_point(const NBitsPlan& p, const void* zp, int64_t n, int64_t j) {
  if (p.zp_form == 1) {
    const int64_t bit = j * p.bits;
    const uint8_t byte = static_cast<const uint8_t*>(zp)[n * p.zp_row + bit / 8];
    return float((byte >> (bit % 8)) & ((1u << p.bits) - 1));
  }
  if (p.zp_form == 2) return static_cast<const float*>(zp)[n * p.blocks + j];
  return float(1 << (p.bits - 1));
}

// Dequantizes W[k0 : k0 + kc, n0 : n0 + nc] into panel, transposed: panel[c * panel_ld + r] = W[k0 + r, n0 + c].
// k0 is a multiple of block; whole blocks are written (panel_ld leaves room for the last, partial one).
GRAFT_CLONES void dequantize_panel(const NBitsPlan& p, const uint8_t* b, const float* scales, const void* zp,
                                   int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* panel) {
  const int64_t j0 = k0 / p.block, j1 = (k0 + kc + p.block - 1) / p.block;
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t n = n0 + c;
    float* out = panel + c * p.panel_ld;
    for (int64_t j = j0; j < j1; ++j) {
      const uint8_t* src = b + (n * p.blocks + j) * p.blob;
      const float z = zero_point(p, zp, n, j), s = scales[n * p.blocks + j];
      float* dst = out + (j - j0) * p.block;
      if (p.bits == 4)
        dequantize_block<4>(src, p.blob, z, s, dst);
      else if (p.bits == 8)
        dequantize_block<8>(src, p.blob, z, s, dst);
      else
        dequantize_block<2>(src, p.blob, z, s, dst);
    }
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
  // Panels of 128 columns (64 for the longest chunks): at most 512 KiB of f32 panel, half an L2.
  int64_t panel_n = p.chunk_k > 512 ? 64 : 128;
  // Enough items for every thread: split rows (down to 64 per item), then narrow panels (down to 16 columns).
  const int64_t want = 4 * int64_t(std::max(1, omp_get_max_threads()));
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int64_t rows_per_item = std::max<int64_t>(p.rows, 1);
  while (ceil_div(p.n, panel_n) * ceil_div(p.rows, rows_per_item) < want && rows_per_item > 64)
    rows_per_item = ceil_div(rows_per_item, 2);
  while (ceil_div(p.n, panel_n) * ceil_div(p.rows, rows_per_item) < want && panel_n > 16) panel_n /= 2;
  p.panel_n = std::min(panel_n, p.n);
  p.rows_per_item = rows_per_item;
  p.n_panels = ceil_div(p.n, p.panel_n);
  p.row_blocks = ceil_div(p.rows, rows_per_item);
  return p;
}

void run_matmul_nbits(const NBitsPlan& p, const float* a, const uint8_t* b, const float* scales, const void* zp,
                      const float* bias, float* y) {
  if (p.rows == 0) return;
  const int64_t items = p.n_panels * p.row_blocks;
  bool failed = false;
  parallel_for(items, p.rows * p.n * p.k, [&](int64_t begin, int64_t end) {
    float* panel = panel_scratch(size_t(p.panel_n * p.panel_ld));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n0 = (item % p.n_panels) * p.panel_n, nc = std::min(p.panel_n, p.n - n0);
      const int64_t m0 = (item / p.n_panels) * p.rows_per_item, mc = std::min(p.rows_per_item, p.rows - m0);
      float* c = y + m0 * p.n + n0;
      for (int64_t k0 = 0; k0 < p.k; k0 += p.chunk_k) {
        const int64_t kc = std::min(p.chunk_k, p.k - k0);
        dequantize_panel(p, b, scales, zp, k0, kc, n0, nc, panel);
        // Row-major: C[mc, nc] (+)= A[mc, kc] · panel^T, panel stored [nc, panel_ld].
        if (dnnl_sgemm('N', 'T', mc, nc, kc, 1.0f, a + m0 * p.k + k0, p.k, panel, p.panel_ld, k0 == 0 ? 0.0f : 1.0f,
                       c, p.n) != dnnl_success)
          failed = true;
      }
      if (bias)
        for (int64_t r = 0; r < mc; ++r)
          for (int64_t j = 0; j < nc; ++j) c[r * p.n + j] += bias[n0 + j];
    }
  });
  if (failed) fail(kMatMulNBitsName, ": oneDNN's sgemm failed");
}

std::unique_ptr<Kernel> matmul_nbits(const KernelArgs& a) {
  const auto* params = std::get<CompositeAttrs>(a.op.attrs).get_if<CustomCompositeParams>();
  GRAFT_CHECK(params && a.inputs.size() >= 3 && a.outputs.size() == 1, a.describe(), ": not a MatMulNBits");
  if (a.inputs[0].dtype != DType::F32 || a.outputs[0].dtype != DType::F32 || a.inputs[1].dtype != DType::U8)
    return nullptr;
  auto plan = std::make_shared<const NBitsPlan>(make_plan(*params, a.inputs[0].shape));
  const size_t zp_index = plan->zp_form != 0 ? 3 : 0, bias_index = plan->bias ? (plan->zp_form != 0 ? 4 : 3) : 0;
  GRAFT_CHECK(a.inputs.size() == size_t(3 + (zp_index ? 1 : 0) + (bias_index ? 1 : 0)), a.describe(), ": ", a.inputs.size(),
              " operands");
  return lambda_kernel([plan, zp_index, bias_index](std::span<const void* const> in, std::span<void* const> out) {
    run_matmul_nbits(*plan, static_cast<const float*>(in[0]), static_cast<const uint8_t*>(in[1]),
                     static_cast<const float*>(in[2]), zp_index ? in[zp_index] : nullptr,
                     bias_index ? static_cast<const float*>(in[bias_index]) : nullptr, static_cast<float*>(out[0]));
  });
}

}  // namespace

void register_matmul_nbits_kernels(KernelRegistry& r) { r.add_custom_composite(kMatMulNBitsName, matmul_nbits); }

}  // namespace graft::cpu
