// Ops that build graft's activation composites: Softmax / LogSoftmax (and Hardmax, their one-hot cousin)
// and Gelu (opset 20). The element-wise activation functions (Relu, LeakyRelu, ...) are in elementwise.cpp.
#include <algorithm>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

// Softmax-like ops before opset 13 flatten the input to 2-D at `axis` and work on the second axis.
template <typename F>
Node coerced_2d(OpContext& c, Node x, F f) {
  if (c.opset() >= 13) return f(x, normalize_axis(c, c.attr_int("axis", -1), x.rank()));
  int axis = normalize_axis(c, c.attr_int("axis", 1), std::max(x.rank(), 1));
  if (axis == x.rank() - 1) return f(x, axis);
  int64_t a = 1, b = 1;
  for (int i = 0; i < x.rank(); ++i) (i < axis ? a : b) *= x.dim(i);
  return Reshape(f(Reshape(x, {a, b}), 1), x.shape().dims());
}

Node hardmax(Node x, int axis) {
  Node idx = ArgMax(x, axis, true);
  Node iota = Iota(*x.graph(), DType::I64, x.shape(), axis);
  return Convert(Equal(BroadcastTo(idx, x.shape()), iota), x.dtype());
}

}  // namespace

void register_activation_ops(Registry& r) {
  r.add("", "Softmax", 1, [](OpContext& c) {
    c.set_output(0, coerced_2d(c, c.input(0), [](Node x, int axis) { return Softmax(x, axis); }));
  });
  r.add("", "LogSoftmax", 1, [](OpContext& c) {
    c.set_output(0, coerced_2d(c, c.input(0), [](Node x, int axis) { return LogSoftmax(x, axis); }));
  });
  r.add("", "Hardmax", 1, [](OpContext& c) { c.set_output(0, coerced_2d(c, c.input(0), hardmax)); });
  r.add("", "Gelu", 20, [](OpContext& c) {
    std::string approx = c.attr_string("approximate", "none");
    if (approx != "none" && approx != "tanh") c.fail("approximate must be 'none' or 'tanh', got '", approx, "'");
    c.set_output(0, Gelu(c.input(0), approx == "tanh"));
  });
}

}  // namespace graft::onnx
