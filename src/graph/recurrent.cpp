// The recurrent composite rnn_scan (RnnScanParams in graft/graph/composites.h): the recurrences of one
// RNN/GRU/LSTM layer. Its decomposition is the recurrence unrolled over the static sequence length (one
// small product per step), which autodiff and backends without a recurrence kernel use; UnrollRecurrence
// is the same unrolling with any activations (ONNX allows others than the defaults).
#include "graft/graph/ops.h"
#include "graph/composite_defs.h"

namespace graft {

namespace {

Node slice_axis(Node x, int axis, int64_t start, int64_t limit) {
  Axes s(size_t(x.rank()), 0), l = x.shape().dims();
  s[size_t(axis)] = start;
  l[size_t(axis)] = limit;
  return Slice(x, s, l);
}

// The default activations: sigmoid for gates, tanh for candidates and the LSTM output.
std::vector<RecurrenceActivation> default_activations(RnnCell cell) {
  RecurrenceActivation sigmoid = [](Node x) { return Logistic(x); };
  RecurrenceActivation tanh = [](Node x) { return Tanh(x); };
  if (cell == RnnCell::Rnn) return {tanh};
  if (cell == RnnCell::Gru) return {sigmoid, tanh};
  return {sigmoid, tanh, tanh};
}

}  // namespace

std::vector<Node> UnrollRecurrence(const RnnScanParams& p, bool reverse, std::span<const RecurrenceActivation> f,
                                   Node xp, Node rt, Node h, Node cst, std::optional<Node> lens,
                                   std::optional<Node> peep, std::optional<Node> rbh) {
  Graph& g = *xp.graph();
  const int64_t seq = xp.dim(0), batch = xp.dim(1), hidden = rt.dim(0);
  const int gates = p.gates();
  GRAFT_CHECK(xp.rank() == 3 && xp.dim(2) == gates * hidden && (rt.shape() == Shape{hidden, gates * hidden}),
              "rnn_scan: xp ", xp.shape(), " and rt ", rt.shape(), " do not fit ", gates, " gates");
  GRAFT_CHECK(f.size() == size_t(p.cell == RnnCell::Rnn ? 1 : p.cell == RnnCell::Gru ? 2 : 3),
              "rnn_scan: wrong number of activations (", f.size(), ")");
  auto clipped = [&](Node v) { return p.clip ? Clamp(v, ScalarLike(v, -*p.clip), ScalarLike(v, *p.clip)) : v; };
  std::optional<Node> lens_b;
  if (lens) lens_b = Reshape(*lens, {batch, 1});
  std::optional<Node> pi, po, pf;
  if (peep) {
    pi = slice_axis(*peep, 0, 0, hidden);
    po = slice_axis(*peep, 0, hidden, 2 * hidden);
    pf = slice_axis(*peep, 0, 2 * hidden, 3 * hidden);
  }
  std::vector<Node> y(static_cast<size_t>(seq));
  for (int64_t k = 0; k < seq; ++k) {
    int64_t t = reverse ? seq - 1 - k : k;
    Node xt = Reshape(slice_axis(xp, 0, t, t + 1), {batch, gates * hidden});
    auto gate = [&](Node v, int gi) { return slice_axis(v, 1, gi * hidden, (gi + 1) * hidden); };
    Node h_new, c_new = cst;
    if (p.cell == RnnCell::Rnn) {
      h_new = f[0](clipped(xt + MatMul(h, rt)));
    } else if (p.cell == RnnCell::Gru) {
      Node rz = gate(rt, 0), rr = gate(rt, 1), rh = gate(rt, 2);
      Node z = f[0](clipped(gate(xt, 0) + MatMul(h, rz)));
      Node rs = f[0](clipped(gate(xt, 1) + MatMul(h, rr)));
      Node hh;
      if (p.linear_before_reset) {
        Node rec = MatMul(h, rh);
        if (rbh) rec = rec + *rbh;
        hh = f[1](clipped(gate(xt, 2) + rs * rec));
      } else {
        hh = f[1](clipped(gate(xt, 2) + MatMul(rs * h, rh)));
      }
      h_new = (1.0 - z) * hh + z * h;
    } else {
      Node pre = xt + MatMul(h, rt);  // gates i, o, f, c
      Node pi_ = gate(pre, 0), po_ = gate(pre, 1), pf_ = gate(pre, 2), pc_ = gate(pre, 3);
      if (pi) pi_ = pi_ + *pi * cst;
      if (pf) pf_ = pf_ + *pf * cst;
      Node i = f[0](clipped(pi_));
      Node fg = p.input_forget ? 1.0 - i : f[0](clipped(pf_));
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

namespace detail {

std::vector<Node> decompose(const RnnScanParams& p, std::span<const Node> x) {
  const size_t n = size_t(p.directions);
  size_t k = 4 * n;
  std::optional<Node> lens;
  if (p.has_lens) lens = x[k++];
  const std::vector<RecurrenceActivation> acts = default_activations(p.cell);
  std::vector<Node> ys, hs, cs;
  for (size_t d = 0; d < n; ++d) {
    std::optional<Node> peep, rbh;
    if (p.has_peepholes) peep = x[k + d];
    if (p.has_recurrent_bias) rbh = x[k + (p.has_peepholes ? n : 0) + d];
    const bool reverse = d == 0 ? p.reverse : true;
    auto o = UnrollRecurrence(p, reverse, acts, x[d], x[n + d], x[2 * n + d], x[3 * n + d], lens, peep, rbh);
    ys.push_back(o[0]);
    hs.push_back(o[1]);
    cs.push_back(o[2]);
  }
  std::vector<Node> all = ys;
  all.insert(all.end(), hs.begin(), hs.end());
  all.insert(all.end(), cs.begin(), cs.end());
  return all;
}

}  // namespace detail

std::vector<Node> RnnScan(const RnnScanParams& p, std::vector<Node> operands) {
  const std::string what = "RnnScan";
  GRAFT_CHECK(p.directions == 1 || p.directions == 2, what, ": directions must be 1 or 2, got ", p.directions);
  const size_t n = size_t(p.directions);
  const size_t want = 4 * n + (p.has_lens ? 1 : 0) + (p.has_peepholes ? n : 0) + (p.has_recurrent_bias ? n : 0);
  GRAFT_CHECK(operands.size() == want, what, ": expected ", want, " operands for these parameters, got ",
              operands.size());
  GRAFT_CHECK(!p.has_peepholes || p.cell == RnnCell::Lstm, what, ": peepholes need an LSTM cell");
  GRAFT_CHECK(!p.has_recurrent_bias || (p.cell == RnnCell::Gru && p.linear_before_reset), what,
              ": a separate recurrent bias needs a GRU cell with linear_before_reset");
  Node xp = operands[0];
  GRAFT_CHECK(xp.rank() == 3 && is_floating(xp.dtype()), what, ": xp must be a floating [seq, batch, gates*hidden], got ",
              xp.type().str());
  const int64_t seq = xp.dim(0), batch = xp.dim(1), hidden = xp.dim(2) / p.gates();
  const DType dt = xp.dtype();
  auto expect = [&](size_t i, const Shape& s, DType t, const char* role) {
    GRAFT_CHECK((operands[i].shape() == s && operands[i].dtype() == t), what, ": operand ", i, " (", role, ") must be ",
                ValueType{t, s}.str(), ", got ", operands[i].type().str());
  };
  for (size_t d = 0; d < n; ++d) {
    expect(d, Shape{seq, batch, p.gates() * hidden}, dt, "xp");
    expect(n + d, Shape{hidden, p.gates() * hidden}, dt, "rt");
    expect(2 * n + d, Shape{batch, hidden}, dt, "h0");
    expect(3 * n + d, Shape{batch, hidden}, dt, "c0");
  }
  size_t k = 4 * n;
  if (p.has_lens) expect(k++, Shape{batch}, DType::I64, "lens");
  if (p.has_peepholes)
    for (size_t d = 0; d < n; ++d) expect(k++, Shape{3 * hidden}, dt, "peepholes");
  if (p.has_recurrent_bias)
    for (size_t d = 0; d < n; ++d) expect(k++, Shape{hidden}, dt, "recurrent bias");
  // The types are known without building the (large) unrolled decomposition.
  std::vector<ValueType> types(n, ValueType{dt, Shape{seq, batch, hidden}});
  for (size_t i = 0; i < 2 * n; ++i) types.push_back(ValueType{dt, Shape{batch, hidden}});
  return detail::record_composite(p, std::move(operands), {}, std::move(types));
}

}  // namespace graft
