// Control flow with sub-graphs: If, Loop, Scan. Sub-graphs read outer-scope values by name.
// - If with a condition known while tracing inlines the taken branch; otherwise both branches become graft
//   sub-graphs of an If op (outer values they read are passed as operands).
// - Loop and Scan with trip counts known while tracing are unrolled (up to kMaxUnroll iterations), which
//   keeps shape computations inside them known and lets every iteration's shapes differ.
#include "onnx/converter.h"
#include "onnx/model_impl.h"

namespace graft::onnx {

namespace {

constexpr int64_t kMaxUnroll = 4096;

void if_op(OpContext& c) {
  const ::onnx::GraphProto* then_g = c.attr_graph("then_branch");
  const ::onnx::GraphProto* else_g = c.attr_graph("else_branch");
  if (!then_g || !else_g) c.fail("missing then_branch or else_branch");
  if (const Tensor* k = c.known(0)) {
    if (k->size() != 1) c.fail("condition must hold one element, got ", k->shape());
    bool cond = k->value_as_double(0) != 0;
    auto outs = c.tracer().inline_subgraph(cond ? *then_g : *else_g, c.scope(), {});
    if (int(outs.size()) < c.num_outputs()) c.fail("branch produces ", outs.size(), " outputs, the node has ", c.num_outputs());
    for (int i = 0; i < c.num_outputs(); ++i) c.set_value(i, outs[size_t(i)]);
    return;
  }
  Node cond = c.input(0);
  if (cond.shape().size() != 1) c.fail("condition must hold one element, got ", cond.shape());
  if (cond.dtype() != DType::Bool) cond = NotEqual(cond, ScalarLike(cond, 0));
  auto then_graph = std::make_shared<Graph>("then_branch"), else_graph = std::make_shared<Graph>("else_branch");
  std::vector<Value> cap_then, cap_else;
  std::vector<std::string> names_then, names_else;
  auto then_outs = c.tracer().build_subgraph(*then_g, c.scope(), *then_graph, {}, cap_then, {}, &names_then);
  auto else_outs = c.tracer().build_subgraph(*else_g, c.scope(), *else_graph, {}, cap_else, names_then, &names_else);
  // The else branch declared then's captures first; give the then branch the else-only ones too.
  for (size_t i = names_then.size(); i < names_else.size(); ++i) {
    Node on = cap_else[i].node;
    then_graph->parameter(names_else[i], on.dtype(), on.shape());
  }
  if (then_outs.size() != else_outs.size()) c.fail("branches produce ", then_outs.size(), " and ", else_outs.size(), " outputs");
  std::vector<Node> t, e;
  for (size_t i = 0; i < then_outs.size(); ++i) {
    if (!then_outs[i].is_tensor() || !else_outs[i].is_tensor()) c.fail("sequence outputs of a run-time If are not supported");
    t.push_back(then_outs[i].node);
    e.push_back(else_outs[i].node);
    if (t.back().type() != e.back().type())
      c.fail("branch output ", i, " is ", t.back().type().str(), " in then_branch but ", e.back().type().str(),
             " in else_branch; a run-time condition needs both branches to agree");
  }
  then_graph->set_outputs(t);
  else_graph->set_outputs(e);
  std::vector<Node> operands;
  for (size_t i = 0; i < cap_else.size(); ++i) operands.push_back(c.scope().node(cap_else[i], names_else[i]));
  auto outs = If(cond, *then_graph, *else_graph, operands);
  for (int i = 0; i < c.num_outputs() && size_t(i) < outs.size(); ++i) c.set_output(i, outs[size_t(i)]);
}

// Stacks per-iteration values along a new axis 0.
Node stack(OpContext& c, const std::vector<Value>& items, int64_t fallback_index) {
  std::vector<Node> xs;
  for (const auto& v : items) {
    Value copy = v;
    xs.push_back(ExpandDims(c.scope().node(copy, "scan output"), 0));
  }
  if (xs.empty()) c.fail("scan output ", fallback_index, " of a loop that ran zero times has an unknown shape");
  return Concatenate(xs, 0);
}

void loop_op(OpContext& c) {
  const ::onnx::GraphProto* body = c.attr_graph("body");
  if (!body) c.fail("missing body");
  std::optional<int64_t> trip;
  if (c.has_input(0)) trip = int64_t(c.require_known(0, "the trip count M").value_as_double(0));
  bool cond = true;
  if (c.has_input(1)) cond = c.require_known(1, "the initial condition").value_as_double(0) != 0;
  int n_state = c.num_inputs() - 2;
  std::vector<Value> state;
  for (int i = 0; i < n_state; ++i) state.push_back(c.has_input(i + 2) ? c.value(i + 2) : Value{Value::Kind::None});
  int n_scan = body->output_size() - 1 - n_state;
  if (n_scan < 0) c.fail("body has ", body->output_size(), " outputs for ", n_state, " loop-carried values");
  std::vector<std::vector<Value>> scans(static_cast<size_t>(n_scan));
  int64_t i = 0;
  for (; cond && (!trip || i < *trip); ++i) {
    if (i >= kMaxUnroll) c.fail("more than ", kMaxUnroll, " iterations: loops this long are not supported yet");
    std::vector<Value> args{Value::of_known(Tensor::scalar(i)), Value::of_known(Tensor::scalar(cond))};
    args.insert(args.end(), state.begin(), state.end());
    auto outs = c.tracer().inline_subgraph(*body, c.scope(), args);
    Value& cond_out = outs[0];
    if (!cond_out.known) {
      Value tmp = cond_out;
      if (tmp.node.valid())
        if (auto t = c.tracer().evaluate(tmp.node, nullptr)) cond_out.known = *t;
    }
    if (!cond_out.known)
      c.fail("the loop condition depends on run-time values (iteration ", i,
             "); data-dependent loops are not supported yet");
    cond = cond_out.known->value_as_double(0) != 0;
    for (int k = 0; k < n_state; ++k) state[size_t(k)] = outs[size_t(1 + k)];
    for (int k = 0; k < n_scan; ++k) scans[size_t(k)].push_back(outs[size_t(1 + n_state + k)]);
  }
  for (int k = 0; k < n_state; ++k) c.set_value(k, state[size_t(k)]);
  for (int k = 0; k < n_scan; ++k) {
    if (!c.has_output(n_state + k)) continue;
    if (scans[size_t(k)].empty()) {
      const auto& vi = body->output(1 + n_state + k);
      ValueInfo info = value_info_from_proto(vi);
      if (!info.dtype || !info.dims) c.fail("scan output ", k, " of a loop that ran zero times has an unknown shape");
      std::vector<int64_t> d{0};
      for (const Dim& dim : *info.dims) {
        if (!dim.is_fixed()) c.fail("scan output ", k, " of a loop that ran zero times has a symbolic shape");
        d.push_back(dim.value);
      }
      c.set_known(n_state + k, Tensor(*info.dtype, Shape(d)));
      continue;
    }
    c.set_output(n_state + k, stack(c, scans[size_t(k)], k));
  }
}

void scan_op(OpContext& c) {
  const ::onnx::GraphProto* body = c.attr_graph("body");
  if (!body) c.fail("missing body");
  if (c.opset() < 9) c.fail("Scan before opset 9 (with sequence_lens) is not supported");
  int n_scan_in = int(c.attr_int("num_scan_inputs", 0));
  int n_state = c.num_inputs() - n_scan_in;
  int n_scan_out = body->output_size() - n_state;
  std::vector<int64_t> in_axes = c.attr_ints("scan_input_axes", std::vector<int64_t>(size_t(n_scan_in), 0));
  std::vector<int64_t> in_dirs = c.attr_ints("scan_input_directions", std::vector<int64_t>(size_t(n_scan_in), 0));
  std::vector<int64_t> out_axes = c.attr_ints("scan_output_axes", std::vector<int64_t>(size_t(n_scan_out), 0));
  std::vector<int64_t> out_dirs = c.attr_ints("scan_output_directions", std::vector<int64_t>(size_t(n_scan_out), 0));
  std::vector<Value> state;
  for (int i = 0; i < n_state; ++i) state.push_back(c.value(i));
  std::vector<Node> xs;
  int64_t len = -1;
  for (int k = 0; k < n_scan_in; ++k) {
    Node x = c.input(n_state + k);
    in_axes[size_t(k)] = normalize_axis(c, in_axes[size_t(k)], x.rank());
    int64_t l = x.dim(int(in_axes[size_t(k)]));
    if (len >= 0 && l != len) c.fail("scan inputs have different lengths ", len, " and ", l);
    len = l;
    xs.push_back(x);
  }
  if (len < 0) c.fail("no scan inputs");
  if (len > kMaxUnroll) c.fail("sequence length ", len, " exceeds the unrolling limit ", kMaxUnroll);
  std::vector<std::vector<Value>> scans(static_cast<size_t>(n_scan_out));
  for (int64_t t = 0; t < len; ++t) {
    std::vector<Value> args = state;
    for (int k = 0; k < n_scan_in; ++k) {
      int a = int(in_axes[size_t(k)]);
      int64_t pos = in_dirs[size_t(k)] ? len - 1 - t : t;
      args.push_back(Value::of(Squeeze(SliceAxis(xs[size_t(k)], a, pos, pos + 1), {a})));
    }
    auto outs = c.tracer().inline_subgraph(*body, c.scope(), args);
    for (int k = 0; k < n_state; ++k) state[size_t(k)] = outs[size_t(k)];
    for (int k = 0; k < n_scan_out; ++k) scans[size_t(k)].push_back(outs[size_t(n_state + k)]);
  }
  for (int k = 0; k < n_state; ++k) c.set_value(k, state[size_t(k)]);
  for (int k = 0; k < n_scan_out; ++k) {
    auto items = scans[size_t(k)];
    if (out_dirs[size_t(k)]) std::reverse(items.begin(), items.end());
    Node s = stack(c, items, k);
    int a = normalize_axis(c, out_axes[size_t(k)], s.rank());
    if (a != 0) {
      Axes perm;
      for (int d = 1; d < s.rank(); ++d) perm.push_back(d);
      perm.insert(perm.begin() + a, 0);
      s = Transpose(s, perm);
    }
    c.set_output(n_state + k, s);
  }
}

}  // namespace

void register_control_flow_ops(Registry& r) {
  r.add("", "If", 1, if_op);
  r.add("", "Loop", 1, loop_op).note = "unrolled; trip count and condition known while tracing";
  r.add("", "Scan", 9, scan_op).note = "unrolled";
}

}  // namespace graft::onnx
