// Recurrent layers: RNN, GRU, LSTM (opset 7+, layout from 14). The input projection of every step is
// one product; the recurrence of each direction is an "rnn_scan" composite (f32, default activations)
// that the CPU backend runs as one kernel, and whose decomposition is the recurrence unrolled over the
// static sequence length (one small product per step); other activations or dtypes are unrolled right
// away. sequence_lens masks steps past each batch entry's length (the state is carried through, the
// output is zero), which also gives the per-entry reversal of the reverse direction.
#include <cctype>
#include <span>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

using Activation = std::function<Node(Node)>;

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

enum class Cell { Rnn, Gru, Lstm };

Node slice_axis(Node x, int axis, int64_t start, int64_t limit) {
  Axes s(size_t(x.rank()), 0), l = x.shape().dims();
  s[size_t(axis)] = start;
  l[size_t(axis)] = limit;
  return Slice(x, s, l);
}

// Row `d` of a [num_directions, ...] tensor, without the leading axis.
Node direction_row(Node x, int64_t d) { return Squeeze(slice_axis(x, 0, d, d + 1), {0}); }

// One direction's recurrence, unrolled: the per-step graph. Inputs: xp [seq, batch, gates*hidden] (the
// input projection with biases folded in), rd_t [hidden, gates*hidden] (R transposed), the initial h and c
// [batch, hidden], optionally lens [batch, 1] int64, peepholes [3*hidden] (i, o, f) and, for GRU with
// linear_before_reset, the h gate's recurrent bias [hidden]. Returns Y [seq, batch, hidden], last h, last c.
struct Recurrence {
  Cell cell = Cell::Lstm;
  bool reverse = false, linear_before_reset = false, input_forget = false;
  std::optional<double> clip;
  std::vector<Activation> f;  // this direction's activations
  int64_t seq = 0, batch = 0, hidden = 0;

  std::vector<Node> unroll(Node xp, Node rd_t, Node h, Node cst, std::optional<Node> lens_b,
                           std::optional<Node> peep, std::optional<Node> rbh) const {
    Graph& g = *xp.graph();
    auto clipped = [&](Node v) { return clip ? Clamp(v, ScalarLike(v, -*clip), ScalarLike(v, *clip)) : v; };
    std::optional<Node> pi, po, pf;
    if (peep) {
      pi = slice_axis(*peep, 0, 0, hidden);
      po = slice_axis(*peep, 0, hidden, 2 * hidden);
      pf = slice_axis(*peep, 0, 2 * hidden, 3 * hidden);
    }
    const int gates = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
    std::vector<Node> y(static_cast<size_t>(seq));
    for (int64_t k = 0; k < seq; ++k) {
      int64_t t = reverse ? seq - 1 - k : k;
      Node xt = Reshape(slice_axis(xp, 0, t, t + 1), {batch, gates * hidden});
      auto gate = [&](Node v, int gi) { return slice_axis(v, 1, gi * hidden, (gi + 1) * hidden); };
      Node h_new, c_new = cst;
      if (cell == Cell::Rnn) {
        h_new = f[0](clipped(xt + MatMul(h, rd_t)));
      } else if (cell == Cell::Gru) {
        Node rz = gate(rd_t, 0), rr = gate(rd_t, 1), rh = gate(rd_t, 2);
        Node z = f[0](clipped(gate(xt, 0) + MatMul(h, rz)));
        Node rs = f[0](clipped(gate(xt, 1) + MatMul(h, rr)));
        Node hh;
        if (linear_before_reset) {
          Node rec = MatMul(h, rh);
          if (rbh) rec = rec + *rbh;
          hh = f[1](clipped(gate(xt, 2) + rs * rec));
        } else {
          hh = f[1](clipped(gate(xt, 2) + MatMul(rs * h, rh)));
        }
        h_new = (1.0 - z) * hh + z * h;
      } else {
        Node pre = xt + MatMul(h, rd_t);  // gates i, o, f, c
        Node pi_ = gate(pre, 0), po_ = gate(pre, 1), pf_ = gate(pre, 2), pc_ = gate(pre, 3);
        if (pi) pi_ = pi_ + *pi * cst;
        if (pf) pf_ = pf_ + *pf * cst;
        Node i = f[0](clipped(pi_));
        Node fg = input_forget ? 1.0 - i : f[0](clipped(pf_));
        Node cc = f[1](clipped(pc_));
        c_new = fg * cst + i * cc;
        if (po) po_ = po_ + *po * c_new;
        Node o = f[0](clipped(po_));
        h_new = o * f[2](c_new);
      }
      if (lens_b) {
        Node active = Less(Full(g, DType::I64, {batch, 1}, double(t)), *lens_b);
        h = Select(active, h_new, h);
        cst = Select(active, c_new, cst);
        y[size_t(t)] = Select(active, h_new, ScalarLike(h_new, 0));
      } else {
        h = h_new;
        cst = c_new;
        y[size_t(t)] = h_new;
      }
    }
    std::vector<Node> steps;
    for (auto& v : y) steps.push_back(ExpandDims(v, 0));
    Node Y = seq ? Concatenate(steps, 0) : Zeros(g, xp.dtype(), {0, batch, hidden});
    return {Y, h, cst};
  }
};

// The default activations (sigmoid, tanh[, tanh]) are what the fused CPU kernel computes.
bool default_activations(const std::vector<std::string>& names, Cell cell) {
  std::vector<std::string> want = cell == Cell::Rnn   ? std::vector<std::string>{"tanh"}
                                  : cell == Cell::Gru ? std::vector<std::string>{"sigmoid", "tanh"}
                                                      : std::vector<std::string>{"sigmoid", "tanh", "tanh"};
  for (size_t i = 0; i < names.size(); ++i)
    if (lower(names[i]) != want[i % want.size()]) return false;
  return true;
}

void recurrent_op(OpContext& c, Cell cell) {
  const int gates = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
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
  const size_t per_dir = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 2 : 3;
  std::vector<std::string> names = c.attr_strings("activations");
  if (names.empty()) {
    std::vector<std::string> def = cell == Cell::Rnn   ? std::vector<std::string>{"Tanh"}
                                   : cell == Cell::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
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
  const bool linear_before_reset = cell == Cell::Gru && c.attr_int("linear_before_reset", 0) != 0;
  const bool input_forget = cell == Cell::Lstm && c.attr_int("input_forget", 0) != 0;

  std::optional<Node> bias = c.optional_input(3);
  std::optional<Node> lens = c.optional_input(4);
  std::optional<Node> h0 = c.optional_input(5);
  std::optional<Node> c0 = cell == Cell::Lstm ? c.optional_input(6) : std::nullopt;
  std::optional<Node> peep = cell == Cell::Lstm ? c.optional_input(7) : std::nullopt;
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
  std::optional<Node> lens_b;  // [batch, 1] int64
  if (lens) lens_b = Reshape(Convert(*lens, DType::I64), {batch, 1});

  // The fused recurrence kernel covers f32 with the default activations.
  const bool fusable = dt == DType::F32 && default_activations(names, cell);
  std::vector<Node> ys, hs, cs;  // per direction: Y [seq, batch, hidden], Y_h, Y_c [batch, hidden]
  struct DirectionOperands {
    Recurrence rec;
    Node xp, rd_t, h, c;
    std::optional<Node> peep, rbh;
  };
  std::vector<DirectionOperands> dirs;
  for (int64_t d = 0; d < nd; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
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
    if (linear_before_reset && rb) rbh = slice_axis(*rb, 0, 2 * hidden, 3 * hidden);
    Recurrence rec;
    rec.cell = cell;
    rec.reverse = reverse;
    rec.linear_before_reset = linear_before_reset;
    rec.input_forget = input_forget;
    rec.clip = clip;
    rec.f.assign(acts.begin() + std::ptrdiff_t(size_t(d) * per_dir), acts.begin() + std::ptrdiff_t(size_t(d + 1) * per_dir));
    rec.seq = seq, rec.batch = batch, rec.hidden = hidden;
    dirs.push_back(DirectionOperands{rec, xp, rd_t, h, cst, peep_d, rbh});
  }
  std::vector<std::vector<Node>> outs;  // per direction: Y [seq, batch, hidden], last h, last c
  if (fusable && seq > 0 && batch > 0) {
    // One "rnn_scan" composite for all directions: the CPU backend runs the recurrences in one kernel
    // (both directions at once on two threads); its decomposition is the unrolled graph (for autodiff and
    // other backends). Operands come in per-direction blocks: xp..., rt..., h0..., c0..., [lens],
    // [peep...], [rbh...].
    const size_t n = dirs.size();
    std::vector<Node> in;
    for (Node DirectionOperands::*field : {&DirectionOperands::xp, &DirectionOperands::rd_t, &DirectionOperands::h,
                                           &DirectionOperands::c})
      for (const auto& op : dirs) in.push_back(op.*field);
    if (lens) in.push_back(Convert(*lens, DType::I64));
    const bool has_peep = dirs[0].peep.has_value(), has_rbh = dirs[0].rbh.has_value();
    if (has_peep)
      for (const auto& op : dirs) in.push_back(*op.peep);
    if (has_rbh)
      for (const auto& op : dirs) in.push_back(*op.rbh);
    CompositeAttrs attrs;
    attrs.name = "rnn_scan";
    attrs.ints = {int64_t(cell), dirs[0].rec.reverse, lens.has_value(), has_peep, has_rbh, linear_before_reset,
                  input_forget, clip.has_value(), int64_t(n)};
    attrs.floats = {clip.value_or(0.0)};
    const bool has_lens = lens.has_value();
    const int64_t nb = batch;
    std::vector<Recurrence> recs;
    for (const auto& op : dirs) recs.push_back(op.rec);
    attrs.decompose = [recs, has_lens, has_peep, has_rbh, nb](std::span<const Node> x) {
      const size_t n = recs.size();
      size_t k = 4 * n;
      std::optional<Node> l;
      if (has_lens) l = Reshape(x[k++], {nb, 1});
      std::vector<Node> ys, hs, cs;
      for (size_t d = 0; d < n; ++d) {
        std::optional<Node> p, b;
        if (has_peep) p = x[k + d];
        if (has_rbh) b = x[k + (has_peep ? n : 0) + d];
        auto o = recs[d].unroll(x[d], x[n + d], x[2 * n + d], x[3 * n + d], l, p, b);
        ys.push_back(o[0]);
        hs.push_back(o[1]);
        cs.push_back(o[2]);
      }
      std::vector<Node> all = ys;
      all.insert(all.end(), hs.begin(), hs.end());
      all.insert(all.end(), cs.begin(), cs.end());
      return all;
    };
    ValueType step{dt, Shape{batch, hidden}};
    std::vector<ValueType> types(n, ValueType{dt, Shape{seq, batch, hidden}});
    for (size_t i = 0; i < 2 * n; ++i) types.push_back(step);
    std::vector<Node> res = c.graph().add_op(OpKind::Composite, in, attrs, types);
    for (size_t d = 0; d < n; ++d) outs.push_back({res[d], res[n + d], res[2 * n + d]});
  } else {
    for (const auto& op : dirs)
      outs.push_back(op.rec.unroll(op.xp, op.rd_t, op.h, op.c, lens_b, op.peep, op.rbh));
  }
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
  if (cell == Cell::Lstm) c.set_output(2, Yc);
}

}  // namespace

void register_recurrent_ops(Registry& r) {
  r.add("", "RNN", 7, [](OpContext& c) { recurrent_op(c, Cell::Rnn); });
  r.add("", "GRU", 7, [](OpContext& c) { recurrent_op(c, Cell::Gru); });
  r.add("", "LSTM", 7, [](OpContext& c) { recurrent_op(c, Cell::Lstm); });
}

}  // namespace graft::onnx
