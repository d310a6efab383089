// Recurrent layers: RNN, GRU, LSTM (opset 7+, layout from 14). The input projection of every step is
// one product; the recurrences of all directions are one rnn_scan composite (graft::RnnScan, with the
// default activations), which backends may run as one kernel and whose decomposition is the recurrence
// unrolled over the static sequence length; other activations are unrolled right away
// (graft::UnrollRecurrence). sequence_lens masks steps past each batch entry's length (the state is
// carried through, the output is zero), which also gives the per-entry reversal of the reverse direction.
#include <cctype>
#include <span>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

using Activation = RecurrenceActivation;

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// The activation functions the RNN ops name, with alpha/beta consumed in order by those that take them.
Activation make_activation(OpContext& c, const std::string& name, const std::vector<float>& alphas,
                           const std::vector<float>& betas, size_t& ai, size_t& bi) {
  std::string n = lower(name);
  auto take = [](const std::vector<float>& v, size_t& i, double def) { return i < v.size() ? double(v[i++]) : def; };
  if (n == "sigmoid") return [](Node x) { return Logistic(x); };
  if (n == "tanh") return [](Node x) { return Tanh(x); };
  if (n == "relu") return [](Node x) { return Max(x, ScalarLike(x, 0)); };
  if (n == "softsign") return [](Node x) { return x / (Abs(x) + 1.0); };
  if (n == "softplus") return [](Node x) { return Log1p(Exp(x)); };
  if (n == "affine") {
    double a = take(alphas, ai, 1.0), b = take(betas, bi, 0.0);
    return [a, b](Node x) { return x * a + b; };
  }
  if (n == "leakyrelu") {
    double a = take(alphas, ai, 0.01);
    return [a](Node x) { return Select(GreaterEqual(x, ScalarLike(x, 0)), x, x * a); };
  }
  if (n == "thresholdedrelu") {
    double a = take(alphas, ai, 1.0);
    return [a](Node x) { return Select(Greater(x, ScalarLike(x, a)), x, ScalarLike(x, 0)); };
  }
  if (n == "scaledtanh") {
    double a = take(alphas, ai, 1.0), b = take(betas, bi, 1.0);
    return [a, b](Node x) { return Tanh(x * b) * a; };
  }
  if (n == "hardsigmoid") {
    double a = take(alphas, ai, 0.2), b = take(betas, bi, 0.5);
    return [a, b](Node x) { return Clamp(x * a + b, ScalarLike(x, 0), ScalarLike(x, 1)); };
  }
  if (n == "elu") {
    double a = take(alphas, ai, 1.0);
    return [a](Node x) { return Select(GreaterEqual(x, ScalarLike(x, 0)), x, Expm1(x) * a); };
  }
  c.fail("unknown activation '", name, "'");
}

Node slice_axis(Node x, int axis, int64_t start, int64_t limit) {
  Axes s(size_t(x.rank()), 0), l = x.shape().dims();
  s[size_t(axis)] = start;
  l[size_t(axis)] = limit;
  return Slice(x, s, l);
}

// Row `d` of a [num_directions, ...] tensor, without the leading axis.
Node direction_row(Node x, int64_t d) { return Squeeze(slice_axis(x, 0, d, d + 1), {0}); }

// The default activations (sigmoid, tanh[, tanh]) are what rnn_scan computes.
bool default_activations(const std::vector<std::string>& names, RnnCell cell) {
  std::vector<std::string> want = cell == RnnCell::Rnn   ? std::vector<std::string>{"tanh"}
                                  : cell == RnnCell::Gru ? std::vector<std::string>{"sigmoid", "tanh"}
                                                      : std::vector<std::string>{"sigmoid", "tanh", "tanh"};
  for (size_t i = 0; i < names.size(); ++i)
    if (lower(names[i]) != want[i % want.size()]) return false;
  return true;
}

void recurrent_op(OpContext& c, RnnCell cell) {
  const int gates = cell == RnnCell::Rnn ? 1 : cell == RnnCell::Gru ? 3 : 4;
  Node x = c.input(0), w = c.input(1), r = c.input(2);
  if (x.rank() != 3) c.fail("X must have rank 3, got ", x.shape());
  const int64_t layout = c.attr_int("layout", 0);
  if (layout) x = Transpose(x, {1, 0, 2});  // -> [seq, batch, input]
  const int64_t seq = x.dim(0), batch = x.dim(1);
  std::string direction = c.attr_string("direction", "forward");
  const int64_t nd = direction == "bidirectional" ? 2 : 1;
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    c.fail("unknown direction '", direction, "'");
  if (w.rank() != 3 || w.dim(0) != nd) c.fail("W must be [", nd, ", ", gates, "*hidden, input], got ", w.shape());
  const int64_t hidden = c.attr_int("hidden_size", w.dim(1) / gates);
  if (w.dim(1) != gates * hidden || w.dim(2) != x.dim(2))
    c.fail("W ", w.shape(), " does not match hidden_size ", hidden, " and input size ", x.dim(2));
  if (r.shape() != Shape{nd, gates * hidden, hidden}) c.fail("R must be [", nd, ", ", gates * hidden, ", ", hidden, "], got ", r.shape());
  const DType dt = x.dtype();
  w = Convert(w, dt);
  r = Convert(r, dt);

  // Activations: RNN f; GRU f, g; LSTM f, g, h; one list per direction.
  const size_t per_dir = cell == RnnCell::Rnn ? 1 : cell == RnnCell::Gru ? 2 : 3;
  std::vector<std::string> names = c.attr_strings("activations");
  if (names.empty()) {
    std::vector<std::string> def = cell == RnnCell::Rnn   ? std::vector<std::string>{"Tanh"}
                                   : cell == RnnCell::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                       : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    for (int64_t d = 0; d < nd; ++d) names.insert(names.end(), def.begin(), def.end());
  }
  if (names.size() != per_dir * size_t(nd))
    c.fail("expected ", per_dir * size_t(nd), " activations, got ", names.size());
  std::vector<float> alphas = c.attr_floats("activation_alpha"), betas = c.attr_floats("activation_beta");
  std::vector<Activation> acts;
  size_t ai = 0, bi = 0;
  for (const auto& n : names) acts.push_back(make_activation(c, n, alphas, betas, ai, bi));
  std::optional<double> clip;
  if (c.has_attr("clip")) clip = c.attr_float("clip", 0);
  const bool linear_before_reset = cell == RnnCell::Gru && c.attr_int("linear_before_reset", 0) != 0;
  const bool input_forget = cell == RnnCell::Lstm && c.attr_int("input_forget", 0) != 0;

  std::optional<Node> bias = c.optional_input(3);
  std::optional<Node> lens = c.optional_input(4);
  std::optional<Node> h0 = c.optional_input(5);
  std::optional<Node> c0 = cell == RnnCell::Lstm ? c.optional_input(6) : std::nullopt;
  std::optional<Node> peep = cell == RnnCell::Lstm ? c.optional_input(7) : std::nullopt;
  auto state_in = [&](std::optional<Node>& s, const char* what) {
    if (!s) return;
    s = Convert(*s, dt);
    if (layout) s = Transpose(*s, {1, 0, 2});
    if (s->shape() != Shape{nd, batch, hidden}) c.fail(what, " must be [", nd, ", ", batch, ", ", hidden, "], got ", s->shape());
  };
  state_in(h0, "initial_h");
  state_in(c0, "initial_c");
  if (bias) {
    bias = Convert(*bias, dt);
    if (bias->shape() != Shape{nd, 2 * gates * hidden}) c.fail("B must be [", nd, ", ", 2 * gates * hidden, "], got ", bias->shape());
  }
  if (peep) peep = Convert(*peep, dt);
  std::optional<Node> lens_i64;  // [batch] int64
  if (lens) lens_i64 = Convert(*lens, DType::I64);

  RnnScanParams params;
  params.cell = cell;
  params.directions = int(nd);
  params.reverse = direction == "reverse";
  params.has_lens = lens.has_value();
  params.has_peepholes = peep.has_value();
  params.has_recurrent_bias = linear_before_reset && bias.has_value();
  params.linear_before_reset = linear_before_reset;
  params.input_forget = input_forget;
  params.clip = clip;
  struct DirectionOperands {
    Node xp, rd_t, h, c;
    std::optional<Node> peep, rbh;
  };
  std::vector<DirectionOperands> dirs;
  for (int64_t d = 0; d < nd; ++d) {
    Node wd = direction_row(w, d), rd_t = Transpose(direction_row(r, d), {1, 0});
    // Input projection of every step at once: [seq, batch, gates*hidden].
    Node xp = MatMul(x, Transpose(wd, {1, 0}));
    std::optional<Node> wb, rb;
    if (bias) {
      Node bd = direction_row(*bias, d);
      wb = slice_axis(bd, 0, 0, gates * hidden);
      rb = slice_axis(bd, 0, gates * hidden, 2 * gates * hidden);
      if (!linear_before_reset) {
        xp = xp + *wb + *rb;
      } else {  // the h gate's recurrent bias goes inside the reset product
        xp = xp + *wb + Concatenate({slice_axis(*rb, 0, 0, 2 * hidden), Zeros(c.graph(), dt, {hidden})}, 0);
      }
    }
    Node h = h0 ? direction_row(*h0, d) : Zeros(c.graph(), dt, {batch, hidden});
    Node cst = c0 ? direction_row(*c0, d) : Zeros(c.graph(), dt, {batch, hidden});
    std::optional<Node> peep_d, rbh;
    if (peep) peep_d = direction_row(*peep, d);
    if (params.has_recurrent_bias) rbh = slice_axis(*rb, 0, 2 * hidden, 3 * hidden);
    dirs.push_back(DirectionOperands{xp, rd_t, h, cst, peep_d, rbh});
  }
  std::vector<std::vector<Node>> outs;  // per direction: Y [seq, batch, hidden], last h, last c
  // rnn_scan covers the default activations; backends with a recurrence kernel for the dtype run it as
  // one (the CPU backend: f32, both directions at once), others expand it.
  if (default_activations(names, cell) && dt == DType::F32 && seq > 0 && batch > 0) {
    const size_t n = dirs.size();
    std::vector<Node> in;
    for (Node DirectionOperands::*field : {&DirectionOperands::xp, &DirectionOperands::rd_t, &DirectionOperands::h,
                                           &DirectionOperands::c})
      for (const auto& op : dirs) in.push_back(op.*field);
    if (lens_i64) in.push_back(*lens_i64);
    if (params.has_peepholes)
      for (const auto& op : dirs) in.push_back(*op.peep);
    if (params.has_recurrent_bias)
      for (const auto& op : dirs) in.push_back(*op.rbh);
    std::vector<Node> res = RnnScan(params, in);
    for (size_t d = 0; d < n; ++d) outs.push_back({res[d], res[n + d], res[2 * n + d]});
  } else {
    for (int64_t d = 0; d < nd; ++d) {
      const auto& op = dirs[size_t(d)];
      std::span<const Activation> f(acts.data() + size_t(d) * per_dir, per_dir);
      outs.push_back(UnrollRecurrence(params, d == 0 ? params.reverse : true, f, op.xp, op.rd_t, op.h, op.c, lens_i64,
                                      op.peep, op.rbh));
    }
  }
  std::vector<Node> ys, hs, cs;  // per direction: Y [seq, batch, hidden], Y_h, Y_c [batch, hidden]
  for (const auto& out : outs) {
    ys.push_back(out[0]);
    Node h = out[1], cst = out[2];
    hs.push_back(ExpandDims(h, 0));
    cs.push_back(ExpandDims(cst, 0));
  }
  std::vector<Node> ysd;
  for (auto& v : ys) ysd.push_back(ExpandDims(v, 1));
  Node Y = Concatenate(ysd, 1);  // [seq, nd, batch, hidden]
  Node Yh = Concatenate(hs, 0), Yc = Concatenate(cs, 0);
  if (layout) {
    Y = Transpose(Y, {2, 0, 1, 3});
    Yh = Transpose(Yh, {1, 0, 2});
    Yc = Transpose(Yc, {1, 0, 2});
  }
  c.set_output(0, Y);
  c.set_output(1, Yh);
  if (cell == RnnCell::Lstm) c.set_output(2, Yc);
}

}  // namespace

void register_recurrent_ops(Registry& r) {
  r.add("", "RNN", 7, [](OpContext& c) { recurrent_op(c, RnnCell::Rnn); });
  r.add("", "GRU", 7, [](OpContext& c) { recurrent_op(c, RnnCell::Gru); });
  r.add("", "LSTM", 7, [](OpContext& c) { recurrent_op(c, RnnCell::Lstm); });
}

}  // namespace graft::onnx
