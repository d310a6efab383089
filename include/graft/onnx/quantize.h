#pragma once
// Quantizing an ONNX model: graft's C++ counterpart of ONNX Runtime's Python quantizer (`graft quantize`).
//
//   graft::onnx::QuantizeOptions o;                       // dynamic: int8 weights, activations at run time
//   graft::onnx::QuantizeReport r = graft::onnx::quantize_model("model.onnx", "model_int8.onnx", o);
//
// Three forms, each a standard ONNX model that ONNX Runtime loads:
//  - Dynamic (the layout of ORT's quantize_dynamic): every MatMul whose B is a constant 2-D float
//    initializer, and every Gemm (transA = 0) with a constant B, becomes
//    DynamicQuantizeLinear(A) -> MatMulInteger(A_q, W_q, A_zp, W_zp) -> Cast(float) -> Mul(A_scale * W_scale)
//    [-> Add(bias) for Gemm]; W int8 symmetric (zero point 0, range [-127, 127]), one scale per tensor or,
//    with per_channel, per output column. Needs opset >= 11 (DynamicQuantizeLinear): an older model is an
//    error (raising the opset would need every other node checked against the newer schemas).
//  - Static (QDQ): the fp32 model is run by graft over calibration input sets; each quantized op's
//    activation input gets QuantizeLinear -> DequantizeLinear with a uint8 asymmetric scale from the
//    recorded range (min-max, or a percentile of the values); weights are int8 symmetric behind a
//    DequantizeLinear (per output channel for Conv, and for MatMul/Gemm with per_channel); Conv and Gemm
//    biases become int32 with scale a_scale * w_scale, zero point 0. Ops: MatMul, Gemm, Conv.
//  - Weight-only: MatMul weights become com.microsoft MatMulNBits (bits 8 or 4, block_size along K,
//    per-block scales and uint8 zero points, asymmetric); everything else is unchanged. 4 bits are rounded
//    with error compensation over the activations' statistics (error_compensation, below).
// Nodes keep their order (replacements take the place of the node they replace), new names are unique,
// initializers no longer read are removed, and the file is written like graft's other writers (temp file +
// rename, external data past 2 GB: ExternalDataOptions).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/onnx/external_data.h"

namespace graft::onnx {

enum class QuantizeMode { Dynamic, Static, WeightOnly };
enum class CalibrationMethod { MinMax, Percentile };

// One calibration input set: graph input name -> value; `source` (its folder) names it in errors.
struct CalibrationSet {
  std::string source;
  std::map<std::string, Tensor> inputs;
};

struct QuantizeOptions {
  QuantizeMode mode = QuantizeMode::Dynamic;
  bool per_channel = false;  // MatMul/Gemm weights: one scale per output column (Conv is always per channel)
  int weight_bits = 8;       // weight-only: 8 or 4
  int64_t block_size = 32;   // weight-only: a power of two >= 16
  // Weight-only int4: round each weight compensating the rounding errors of those before it in its column,
  // weighted by the activations' second moments X^T X (GPTQ's rounding), measured by running the fp32 model
  // over `calibration` or, when that is empty, over made-up inputs (integer inputs that index a Gather's
  // constant table: uniform row indices; other integer inputs: ones; float inputs: standard normal; every
  // symbolic axis 32 long; 4 sets). false: every block rounded to nearest on its own.
  bool error_compensation = true;
  // Static, and weight-only int4: the input sets the fp32 model runs on (calibration_sets_from_dir reads
  // them from a folder).
  std::vector<CalibrationSet> calibration;
  CalibrationMethod method = CalibrationMethod::MinMax;
  double percentile = 99.99;  // Percentile: the range is [p(100 - percentile), p(percentile)] of the values
  std::string exclude;        // an ECMAScript regex; nodes whose name matches (anywhere) are left fp32
  int threads = 0;            // calibration runs (SessionOptions::threads)
  ExternalDataOptions data;
};

struct QuantizeReport {
  std::vector<std::string> quantized;  // names of the nodes replaced, in graph order
  std::vector<std::string> skipped;    // "name (op): why" for MatMul/Gemm/Conv nodes left as they were
  int64_t removed_initializers = 0;    // fp32 initializers no longer read
};

// Quantizes the model at `in` and writes the result to `out`. Errors (graft::Error) name the file, node or
// input at fault: not a model, no quantizable op, opset too old, missing or ill-fitting calibration data.
QuantizeReport quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                              const QuantizeOptions& options = {});

// Calibration sets from a folder: every sub-folder (sorted by name) is one set holding INPUT.npy per graph
// input; a folder with .npy files and no sub-folders is itself one set. Errors name the folder.
std::vector<CalibrationSet> calibration_sets_from_dir(const std::filesystem::path& dir);

// The quantization arithmetic, public so that tests and tools can check written tensors against it.
namespace quant {
// Round half to even (NumPy's np.rint), as QuantizeLinear rounds.
float round_half_even(float x);
// Symmetric int8 scale for values of largest magnitude `absmax`: absmax / 127 (1 when absmax is 0).
float symmetric_scale(float absmax);
// Asymmetric scale and zero point for the range [lo, hi] extended to contain 0, over [qmin, qmax].
struct ScaleZeroPoint {
  float scale;
  int32_t zero_point;
};
ScaleZeroPoint asymmetric(float lo, float hi, int32_t qmin, int32_t qmax);
// clamp(round_half_even(x / scale) + zero_point, qmin, qmax)
int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax);
}  // namespace quant

}  // namespace graft::onnx
