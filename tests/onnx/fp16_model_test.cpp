// float16 models (f16 initializers, a Cast of the f32 input to f16, f16 ops, Casts of the results) on the
// CPU backend, against ONNX Runtime on the same file. ORT 1.30 computes such graphs in f32 on x86 (it
// removes the Cast pairs it puts around each f16 op), and so does graft with CompileOptions::widen_f16 (the
// default, backend/cpu/widen_f16.h): the f32 outputs agree to f32 rounding (where ORT itself rounds
// nothing to f16 on the way), the f16 outputs to one f16 unit in the last place. Run as written (widen_f16 off), every op rounds to f16 and the difference is
// that of f16 arithmetic. The models are written by a script at test time (python3-onnx).
#include <cmath>
#include <cstdio>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ort_available;
using testing::run_ort;
using testing::TempDir;

// Conv -> Relu -> Resize -> Reshape -> MatMul -> Sigmoid -> Concat -> Add, then a Cast of the sum to f32
// ("y") and Mul (f16, "y16"); and a second model: Conv -> BatchNormalization -> MaxPool -> ConvTranspose ->
// HardSigmoid -> Cast ("z").
constexpr const char* kScript = R"PY(
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
rng = np.random.default_rng(0)
f16 = lambda a, name: nh.from_array(np.asarray(a).astype(np.float16), name)
init = [f16(rng.standard_normal((4, 3, 3, 3)) * 0.5, 'W'), f16(rng.standard_normal(4), 'B'),
        f16(rng.standard_normal((16, 16)) * 0.3, 'M'), nh.from_array(np.array([1, 1, 2, 2], np.float32), 'sc'),
        nh.from_array(np.array([1, 4, 16, 16], np.int64), 'shp')]
nodes = [h.make_node('Cast', ['x'], ['xh'], to=T.FLOAT16),
         h.make_node('Conv', ['xh', 'W', 'B'], ['c'], pads=[1, 1, 1, 1]),
         h.make_node('Relu', ['c'], ['r']),
         h.make_node('Resize', ['r', '', 'sc'], ['u'], mode='linear'),
         h.make_node('Reshape', ['u', 'shp'], ['u2']),
         h.make_node('MatMul', ['u2', 'M'], ['mm']),
         h.make_node('Sigmoid', ['mm'], ['s']),
         h.make_node('Concat', ['s', 'mm'], ['cc'], axis=1),
         h.make_node('Add', ['cc', 'cc'], ['a']),
         h.make_node('Cast', ['a'], ['y'], to=T.FLOAT),
         h.make_node('Mul', ['a', 'a'], ['y16'])]
g = h.make_graph(nodes, 'chain', [h.make_tensor_value_info('x', T.FLOAT, [1, 3, 8, 8])],
                 [h.make_tensor_value_info('y', T.FLOAT, None), h.make_tensor_value_info('y16', T.FLOAT16, None)], init)
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)]), sys.argv[1] + '/chain.onnx')
init = [f16(rng.standard_normal((8, 3, 3, 3)) * 0.5, 'W'), f16(rng.standard_normal(8), 'B'),
        f16(rng.random(8) + 0.5, 'g'), f16(rng.standard_normal(8) * 0.1, 'be'), f16(rng.standard_normal(8) * 0.1, 'mu'),
        f16(rng.random(8) + 0.5, 'va'), f16(rng.standard_normal((8, 4, 2, 2)) * 0.5, 'WT')]
nodes = [h.make_node('Cast', ['x'], ['xh'], to=T.FLOAT16),
         h.make_node('Conv', ['xh', 'W', 'B'], ['c'], pads=[1, 1, 1, 1]),
         h.make_node('BatchNormalization', ['c', 'g', 'be', 'mu', 'va'], ['bn']),
         h.make_node('MaxPool', ['bn'], ['p'], kernel_shape=[2, 2], strides=[2, 2]),
         h.make_node('ConvTranspose', ['p', 'WT'], ['t'], strides=[2, 2]),
         h.make_node('HardSigmoid', ['t'], ['hs']),
         h.make_node('Cast', ['hs'], ['z'], to=T.FLOAT)]
g = h.make_graph(nodes, 'cnn', [h.make_tensor_value_info('x', T.FLOAT, [2, 3, 16, 16])],
                 [h.make_tensor_value_info('z', T.FLOAT, None)], init)
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)]), sys.argv[1] + '/cnn.onnx')
)PY";

struct Errors {
  double f32 = 0, f16_ulps = 0;  // max relative error of f32 outputs; of f16 outputs, in units of 2^-10
};

Errors compare(const std::map<std::string, Tensor>& got, const std::map<std::string, Tensor>& want) {
  Errors e;
  for (const auto& [name, w] : want) {
    SCOPED_TRACE(name);
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << "graft has no output " << name;
      continue;
    }
    const Tensor& g = it->second;
    EXPECT_EQ(g.dtype(), w.dtype());
    EXPECT_EQ(g.shape(), w.shape());
    if (g.shape() != w.shape()) continue;
    double scale = 0;
    for (int64_t i = 0; i < w.size(); ++i) scale = std::max(scale, std::fabs(w.value_as_double(i)));
    for (int64_t i = 0; i < w.size(); ++i) {
      const double d = std::fabs(g.value_as_double(i) - w.value_as_double(i));
      if (w.dtype() == DType::F16)
        e.f16_ulps = std::max(e.f16_ulps, d / (std::max(std::fabs(w.value_as_double(i)), 6.1e-5) * 0x1p-10));
      else
        e.f32 = std::max(e.f32, d / std::max(scale, 1e-30));
    }
  }
  return e;
}

TEST(Fp16Models, ComputedInF32AsOnnxRuntimeDoes) {
  if (std::system("/usr/bin/python3 -c 'import onnx' > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3-onnx missing";
  if (!ort_available()) GTEST_SKIP() << "ONNX Runtime missing";
  TempDir dir;
  const std::string cmd = "/usr/bin/python3 - '" + dir.path.string() + "' <<'EOF'\n" + kScript + "\nEOF";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  struct Case {
    const char* file;
    Shape x;
    double f32_tolerance;  // of the f32 outputs, relative to their largest value
  };
  // cnn.onnx: ORT differs from the f32 computation by ~8e-4 (of the largest output) here. Its optimized model
  // has the BatchNormalization folded into the convolution's weights; that fold apparently happens while
  // they are still f16 (an f16 rounding graft does not make; not verified further), so the tolerance is
  // f16-sized for this model.
  for (const Case& c : {Case{"chain.onnx", {1, 3, 8, 8}, 1e-5}, Case{"cnn.onnx", {2, 3, 16, 16}, 2e-3}}) {
    SCOPED_TRACE(c.file);
    const auto model = dir.path / c.file;
    Tensor x = testing::random_tensor(c.x, 7, -2, 2);
    const auto work = dir.path / (std::string(c.file) + ".ort");
    std::filesystem::create_directories(work);
    std::map<std::string, Tensor> want = run_ort(model, {{"x", x}}, work);
    ASSERT_FALSE(want.empty());
    InferenceSession widened(Model::load(model));
    SessionOptions as_written_options;
    as_written_options.compile.widen_f16 = false;
    InferenceSession as_written(Model::load(model), as_written_options);
    Errors on = compare(widened.run({{"x", x}}), want);
    Errors off = compare(as_written.run({{"x", x}}), want);
    EXPECT_GT(widened.last_executable_stats()->num_f16_values_widened, 0);
    EXPECT_EQ(as_written.last_executable_stats()->num_f16_values_widened, 0);
    EXPECT_LT(on.f32, c.f32_tolerance);
    EXPECT_LE(on.f16_ulps, 1.0);
    std::printf("[ info ] %s vs ORT: widened %.2g (f32 outputs) %.2g f16 ulps; as written %.2g, %.2g ulps\n", c.file,
                on.f32, on.f16_ulps, off.f32, off.f16_ulps);
    if (c.f32_tolerance < 1e-4) EXPECT_GT(off.f32, 1e-4);  // f16 arithmetic differs visibly: the comparison can tell
  }
}

}  // namespace
}  // namespace graft::onnx
