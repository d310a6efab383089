// The ai.onnx.preview.training ops (opset 1). Gradient(xs, zs; attributes xs, zs, y): the derivatives of
// the tensor named y with respect to the tensors named xs, by graft's autodiff over the traced graph.
// The optimizers Adagrad, Adam and Momentum: one update step of the optimizer as element-wise graft ops.
// Each optimizer node takes R (learning rate) and T (update count, int64), both scalars, then its tensors by kind: X1..Xn, G1..Gn, then each state's n tensors (Adagrad: H;
// Adam: V then H; Momentum: V). It returns the new X1..Xn, then the new states in the same order.
// graft trains through its own autodiff and optimizers (src/train/); these converters let a model that
// holds an ONNX training step run as ONNX defines it.
#include "graft/autodiff/gradient.h"
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

// One optimizer node's operands, with R and T as rank-0 values of the parameters' dtype (T also as given,
// for the "T > 0" tests) and the tensors as groups[k][i]: kind k (0: X, 1: G, 2...: states), tensor i.
struct OptimizerInputs {
  Node r, t, t_count;
  std::vector<std::vector<Node>> groups;
  size_t n = 0;  // tensors optimized
};

Node scalar_input(OpContext& c, int i, const char* what) {
  Node v = c.input(i);
  if (v.shape().size() != 1) c.fail(what, " must be a scalar, got ", v.shape());
  return Reshape(v, {});
}

OptimizerInputs read_inputs(OpContext& c, int kinds, const char* kind_names) {
  int tensors = c.num_inputs() - 2;
  if (tensors < kinds || tensors % kinds != 0)
    c.fail("takes R, T, then n tensors of each of ", kind_names, "; got ", tensors, " tensors after R and T");
  OptimizerInputs in;
  in.n = size_t(tensors / kinds);
  int expected_outputs = int(in.n) * (kinds - 1);
  if (c.num_outputs() > expected_outputs)
    c.fail("has ", c.num_outputs(), " outputs; ", in.n, " tensors of ", kind_names, " give at most ", expected_outputs);
  in.groups.assign(size_t(kinds), {});
  for (int k = 0; k < kinds; ++k)
    for (size_t i = 0; i < in.n; ++i) in.groups[size_t(k)].push_back(c.input(2 + k * int(in.n) + int(i)));
  for (size_t i = 0; i < in.n; ++i) {
    Node x = in.groups[0][i];
    if (!is_floating(x.dtype())) c.fail("X", i + 1, " must be floating point, got ", dtype_name(x.dtype()));
    for (int k = 1; k < kinds; ++k) {
      Node other = in.groups[size_t(k)][i];
      if (other.dtype() != x.dtype() || other.shape() != x.shape())
        c.fail("input ", 2 + k * int(in.n) + int(i), " is ", dtype_name(other.dtype()), " ", other.shape(),
               "; it must match X", i + 1, ", ", dtype_name(x.dtype()), " ", x.shape());
    }
  }
  DType dtype = in.groups[0][0].dtype();
  Node r = scalar_input(c, 0, "R");
  if (!is_floating(r.dtype())) c.fail("R must be floating point, got ", dtype_name(r.dtype()));
  in.t_count = scalar_input(c, 1, "T");
  if (!is_integer(in.t_count.dtype())) c.fail("T must be an integer, got ", dtype_name(in.t_count.dtype()));
  in.r = Convert(r, dtype);
  in.t = Convert(in.t_count, dtype);
  return in;
}

// Output `kind` (0: new X, 1...: new states) of tensor i, where the node has it.
void set_result(OpContext& c, const OptimizerInputs& in, int kind, size_t i, Node value) {
  int index = kind * int(in.n) + int(i);
  if (c.has_output(index)) c.set_output(index, value);
}

// T > 0: a step after the first (ONNX starts T at 0).
Node after_first_step(const OptimizerInputs& in) { return Greater(in.t_count, ScalarLike(in.t_count, 0)); }

// r = R / (1 + T * decay_factor); g = norm_coefficient * X + G; H' = H + g²; X' = X - r * g / (sqrt(H') + eps)
void adagrad_op(OpContext& c) {
  OptimizerInputs in = read_inputs(c, 3, "X, G, H");
  double decay = c.attr_float("decay_factor", 0.0);
  double epsilon = c.attr_float("epsilon", 1e-6);
  double norm = c.attr_float("norm_coefficient", 0.0);
  Node rate = in.r / (in.t * decay + 1.0);
  for (size_t i = 0; i < in.n; ++i) {
    Node x = in.groups[0][i], g = norm * x + in.groups[1][i], h = in.groups[2][i];
    Node h_new = h + g * g;
    set_result(c, in, 0, i, x - rate * g / (Sqrt(h_new) + epsilon));
    set_result(c, in, 1, i, h_new);
  }
}

// g = norm_coefficient * X + G; V' = alpha V + (1 - alpha) g; H' = beta H + (1 - beta) g²;
// r = R * sqrt(1 - beta^T) / (1 - alpha^T) when T > 0 (bias correction), else R;
// X' = (1 - norm_coefficient_post) * (X - r * V' / (sqrt(H') + eps)).
void adam_op(OpContext& c) {
  OptimizerInputs in = read_inputs(c, 4, "X, G, V, H");
  double alpha = c.attr_float("alpha", 0.9);
  double beta = c.attr_float("beta", 0.999);
  double epsilon = c.attr_float("epsilon", 1e-6);
  double norm = c.attr_float("norm_coefficient", 0.0);
  double norm_post = c.attr_float("norm_coefficient_post", 0.0);
  Node corrected = in.r * Sqrt(1.0 - Pow(ScalarLike(in.t, beta), in.t)) / (1.0 - Pow(ScalarLike(in.t, alpha), in.t));
  Node rate = Select(after_first_step(in), corrected, in.r);
  for (size_t i = 0; i < in.n; ++i) {
    Node x = in.groups[0][i], g = norm * x + in.groups[1][i], v = in.groups[2][i], h = in.groups[3][i];
    Node v_new = alpha * v + (1.0 - alpha) * g;
    Node h_new = beta * h + (1.0 - beta) * (g * g);
    Node x_new = x - rate * (v_new / (Sqrt(h_new) + epsilon));
    set_result(c, in, 0, i, (1.0 - norm_post) * x_new);
    set_result(c, in, 1, i, v_new);
    set_result(c, in, 2, i, h_new);
  }
}

// g = norm_coefficient * X + G; V' = alpha V + b g, with b = beta when T > 0 and 1 at the first step;
// standard: X' = X - R V'; nesterov: X' = X - R (g + alpha V').
void momentum_op(OpContext& c) {
  for (const char* name : {"alpha", "beta", "mode", "norm_coefficient"})
    if (!c.has_attr(name)) c.fail("attribute '", name, "' is required");
  double alpha = c.attr_float("alpha", 0.0);
  double beta = c.attr_float("beta", 0.0);
  double norm = c.attr_float("norm_coefficient", 0.0);
  std::string mode = c.attr_string("mode");
  if (mode != "standard" && mode != "nesterov") c.fail("mode must be 'standard' or 'nesterov', got '", mode, "'");
  OptimizerInputs in = read_inputs(c, 3, "X, G, V");
  Node gradient_scale = Select(after_first_step(in), ScalarLike(in.t, beta), ScalarLike(in.t, 1.0));
  for (size_t i = 0; i < in.n; ++i) {
    Node x = in.groups[0][i], g = norm * x + in.groups[1][i], v = in.groups[2][i];
    Node v_new = alpha * v + gradient_scale * g;
    Node step = mode == "standard" ? v_new : g + alpha * v_new;
    set_result(c, in, 0, i, x - in.r * step);
    set_result(c, in, 1, i, v_new);
  }
}

// Gradient: its inputs are the values of xs then zs (which only say what the gradient graph reads);
// outputs are dY/dX_i, one per name of xs, each of X_i's type. Y need not be a scalar: the gradient is that
// of the sum of Y's elements (a cotangent of ones), which for a scalar loss is the usual derivative.
// The names are looked up in the traced scope, so Y and every X must be values the graph computes; a value
// folded while tracing (computed from constants only) has no path back to its inputs and is refused.
void gradient_op(OpContext& c) {
  std::vector<std::string> xs = c.attr_strings("xs"), zs = c.attr_strings("zs");
  std::string y_name = c.attr_string("y");
  if (xs.empty()) c.fail("attribute 'xs' (the tensors to differentiate by) is required");
  if (y_name.empty()) c.fail("attribute 'y' (the tensor to differentiate) is required");
  if (c.num_inputs() != int(xs.size() + zs.size()))
    c.fail("takes the ", xs.size(), " tensors of xs and the ", zs.size(), " of zs as inputs, got ", c.num_inputs());
  if (c.num_outputs() > int(xs.size())) c.fail("has ", c.num_outputs(), " outputs for ", xs.size(), " names in xs");
  auto traced = [&](const std::string& name, const char* role) {
    Value* v = c.scope().lookup(name);
    if (!v) c.fail(role, " '", name, "' is not a value of the graph");
    if (!v->is_tensor()) c.fail(role, " '", name, "' is not a tensor");
    if (v->known && !v->node.valid())
      c.fail(role, " '", name, "' was computed from constants while tracing, so graft cannot differentiate it");
    Node n = c.scope().node(*v, name);
    if (!is_floating(n.dtype())) c.fail(role, " '", name, "' must be floating point, got ", dtype_name(n.dtype()));
    return n;
  };
  Node y = traced(y_name, "y");
  std::vector<Node> wrt;
  for (const std::string& x : xs) wrt.push_back(traced(x, "xs"));
  std::vector<Node> grads = VJP({y}, {BroadcastTo(ScalarLike(y, 1.0), y.shape())}, wrt);
  for (size_t i = 0; i < xs.size(); ++i)
    if (c.has_output(int(i))) c.set_output(int(i), grads[i]);
}

}  // namespace

void register_training_ops(Registry& r) {
  // Not folded while tracing: with every input known the derivative would be taken of constants.
  ConverterEntry& gradient = r.add("ai.onnx.preview.training", "Gradient", 1, gradient_op);
  gradient.fold = false;
  gradient.note = "graft's autodiff over the traced graph; a non-scalar y is differentiated as the sum of its elements";
  r.add("ai.onnx.preview.training", "Adagrad", 1, adagrad_op);
  // ONNX 1.12's test_adam_multiple leaves epsilon unset yet computes its expected outputs with 1e-2; graft
  // follows the schema's default, so that one conformance case fails.
  r.add("ai.onnx.preview.training", "Adam", 1, adam_op).note =
      "epsilon defaults to 1e-6 as the schema says (ONNX 1.12's test_adam_multiple expects 1e-2 without setting it)";
  r.add("ai.onnx.preview.training", "Momentum", 1, momentum_op);
}

}  // namespace graft::onnx
