// Control flow with sub-graphs: If, Loop, Scan. Sub-graphs read outer-scope values by name.
// - If with a condition known while tracing inlines the taken branch; otherwise both branches become graft
//   sub-graphs of an If op (outer values they read are passed as operands). When the branches cannot be one
//   graft If (different types, sequences, or a branch that cannot be traced for these shapes), the
//   condition is computed from the run's inputs (staged) and the taken branch is inlined.
// - Loop and Scan with trip counts known while tracing are unrolled (up to kMaxUnroll iterations), which
//   keeps shape computations inside them known and lets every iteration's shapes differ.
// - Loop with a run-time trip count or condition (or more than kMaxUnroll iterations) becomes a graft While.
//   Its state is [iteration, condition, loop-carried values..., captured outer values..., trip count?,
//   scan buffers...]. Scan outputs need a trip count known while tracing and a condition that stays true:
//   each is a preallocated [M, ...] buffer written by DynamicUpdateSlice in the body.
#include "onnx/converter.h"
#include "onnx/model_impl.h"

namespace graft::onnx {

namespace {

constexpr int64_t kMaxUnroll = 4096;

void if_op(OpContext& c) {
  const ::onnx::GraphProto* then_g = c.attr_graph("then_branch");
  const ::onnx::GraphProto* else_g = c.attr_graph("else_branch");
  if (!then_g || !else_g) c.fail("missing then_branch or else_branch");
  // A condition known while tracing (or, in a session, computed from the run's inputs when the branches
  // cannot become one graft If) selects a branch, which is traced inline.
  auto inline_branch = [&](const Tensor& k) {
    if (k.size() != 1) c.fail("condition must hold one element, got ", k.shape());
    bool cond = k.value_as_double(0) != 0;
    auto outs = c.tracer().inline_subgraph(cond ? *then_g : *else_g, c.scope(), {});
    if (int(outs.size()) < c.num_outputs()) c.fail("branch produces ", outs.size(), " outputs, the node has ", c.num_outputs());
    for (int i = 0; i < c.num_outputs(); ++i) c.set_value(i, outs[size_t(i)]);
  };
  if (const Tensor* k = c.known(0)) return inline_branch(*k);
  Node cond = c.input(0);
  if (cond.shape().size() != 1) c.fail("condition must hold one element, got ", cond.shape());
  if (cond.dtype() != DType::Bool) cond = NotEqual(cond, ScalarLike(cond, 0));
  auto then_graph = std::make_shared<Graph>("then_branch"), else_graph = std::make_shared<Graph>("else_branch");
  std::vector<Value> cap_then, cap_else;
  std::vector<std::string> names_then, names_else;
  // Both branches are traced for the shapes at hand. A branch may be valid only for other shapes (Silero
  // VAD's If on the sample rate: the 8 kHz branch fails on a 16 kHz chunk); such an If is specialized on
  // its condition like one whose branches disagree on types: the condition is computed from this run's
  // inputs (staged, with a guard) and only the branch taken is traced. When the taken branch is the one
  // that failed, tracing it inline reports that error.
  std::vector<Value> then_outs, else_outs;
  try {
    then_outs = c.tracer().build_subgraph(*then_g, c.scope(), *then_graph, {}, cap_then, {}, &names_then);
    else_outs = c.tracer().build_subgraph(*else_g, c.scope(), *else_graph, {}, cap_else, names_then, &names_else);
  } catch (const NeedsInputValue&) {
    throw;
  } catch (const Error& e) {
    std::string why = e.what();
    return inline_branch(c.require_known(
        0, "the condition (a branch cannot be traced for these shapes: " + why.substr(0, why.find('\n')) + ")"));
  }
  // The else branch declared then's captures first; give the then branch the else-only ones too.
  for (size_t i = names_then.size(); i < names_else.size(); ++i) {
    Node on = cap_else[i].node;
    then_graph->parameter(names_else[i], on.dtype(), on.shape());
  }
  if (then_outs.size() != else_outs.size()) c.fail("branches produce ", then_outs.size(), " and ", else_outs.size(), " outputs");
  std::vector<Node> t, e;
  for (size_t i = 0; i < then_outs.size(); ++i) {
    if (!then_outs[i].is_tensor() || !else_outs[i].is_tensor())
      return inline_branch(c.require_known(0, "the condition (a branch outputs a sequence or an optional)"));
    t.push_back(then_outs[i].node);
    e.push_back(else_outs[i].node);
    if (t.back().type() != e.back().type())
      return inline_branch(c.require_known(0, "the condition (branch output " + std::to_string(i) + " is " +
                                                  t.back().type().str() + " in then_branch but " +
                                                  e.back().type().str() + " in else_branch)"));
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

// A rank-0 view of a one-element tensor (ONNX trip counts and conditions may be [1]).
Node to_scalar(Node n) { return n.rank() == 0 ? n : Reshape(n, {}); }

// Loop as a graft While (see the file comment). `trip` is the trip count when known while tracing.
void loop_as_while(OpContext& c, const ::onnx::GraphProto& body, std::optional<int64_t> trip) {
  int n_state = c.num_inputs() - 2;
  int n_scan = body.output_size() - 1 - n_state;
  // (The unrolled path checks the same; a body without outputs once reached outs[0] here.)
  if (n_scan < 0) c.fail("body has ", body.output_size(), " outputs for ", n_state, " loop-carried values");
  if (body.input_size() != 2 + n_state)
    c.fail("body takes ", body.input_size(), " inputs for ", n_state, " loop-carried values");
  // Initial state.
  Graph& g = c.graph();
  std::optional<Node> trip_node;
  if (c.has_input(0)) {
    trip_node = trip ? g.scalar(*trip) : to_scalar(c.input(0));
    if (trip_node->dtype() != DType::I64) trip_node = Convert(*trip_node, DType::I64);
  }
  Node cond0;
  if (c.has_input(1)) {
    cond0 = to_scalar(c.input(1));
    if (cond0.dtype() != DType::Bool) cond0 = NotEqual(cond0, ScalarLike(cond0, 0));
  } else {
    cond0 = g.scalar(true);
  }
  std::vector<Node> init{g.scalar(int64_t(0)), cond0};
  std::vector<ValueType> in_types{ValueType{DType::I64, Shape{}}, ValueType{DType::Bool, Shape{}}};
  for (int k = 0; k < n_state; ++k) {
    if (!c.has_input(2 + k)) c.fail("loop-carried value ", k, " is missing; a run-time loop needs every initial value");
    Value& v = c.value(2 + k);
    if (!v.is_tensor()) c.fail("loop-carried value ", k, " is not a tensor; a run-time loop carries tensors only");
    init.push_back(c.input(2 + k));
    in_types.push_back(init.back().type());
  }
  // The body, with captured outer values as extra parameters after the formal inputs.
  auto body_graph = std::make_shared<Graph>(body.name().empty() ? "loop_body" : body.name());
  std::vector<Value> captured;
  std::vector<std::string> cap_names;
  auto outs = c.tracer().build_subgraph(body, c.scope(), *body_graph, in_types, captured, {}, &cap_names);
  if (int(outs.size()) != 1 + n_state + n_scan) c.fail("body produces ", outs.size(), " outputs");
  Graph& bg = *body_graph;
  auto param = [&](size_t k) { return bg.node(ValueRef{bg.parameters()[k], 0}); };
  std::vector<Node> next;
  Node i_param = param(0);
  next.push_back(i_param + bg.scalar(int64_t(1)));
  for (size_t k = 0; k < outs.size(); ++k)
    if (!outs[k].is_tensor()) c.fail("body output ", k, " is not a tensor; a run-time loop supports tensors only");
  Node cond_out = to_scalar(outs[0].node);
  if (cond_out.dtype() != DType::Bool) cond_out = NotEqual(cond_out, ScalarLike(cond_out, 0));
  // Whether the body's condition is its condition input passed through (a for-loop).
  bool cond_passthrough = cond_out.ref() == param(1).ref();
  next.push_back(cond_out);
  for (int k = 0; k < n_state; ++k) {
    Node o = outs[size_t(1 + k)].node;
    if (o.type() != in_types[size_t(2 + k)])
      c.fail("loop-carried value ", k, " enters the body as ", in_types[size_t(2 + k)].str(), " but leaves it as ",
             o.type().str(), "; a loop with a run-time trip count or condition (or more than ", kMaxUnroll,
             " iterations) needs loop-carried values of a fixed type");
    next.push_back(o);
  }
  for (size_t k = 0; k < captured.size(); ++k) {
    init.push_back(c.scope().node(captured[k], cap_names[k]));
    next.push_back(param(size_t(2 + n_state) + k));
  }
  size_t trip_index = init.size();
  if (trip_node) {
    init.push_back(*trip_node);
    next.push_back(bg.parameter("trip_count", DType::I64, {}));
  }
  // Scan outputs: preallocated buffers.
  size_t scan_index = init.size();
  if (n_scan > 0) {
    bool cond_always_true = (!c.has_input(1) || (c.known(1) && c.known(1)->value_as_double(0) != 0)) &&
                            (cond_passthrough || (outs[0].known && outs[0].known->value_as_double(0) != 0));
    if (!trip || !cond_always_true)
      c.fail("scan outputs of a loop with ", !trip ? "a run-time trip count" : "a condition computed at run time",
             " are not supported (their length is only known when the loop has run); ",
             "only a loop whose trip count is known while tracing and whose condition stays true can have them");
    for (int k = 0; k < n_scan; ++k) {
      Node item = outs[size_t(1 + n_state + k)].node;
      std::vector<int64_t> dims{*trip};
      for (int64_t d : item.shape().dims()) dims.push_back(d);
      init.push_back(Zeros(g, item.dtype(), Shape(dims)));
      Node buf = bg.parameter("scan_" + std::to_string(k), item.dtype(), Shape(dims));
      std::vector<Node> starts{i_param};
      for (int d = 0; d < item.rank(); ++d) starts.push_back(bg.scalar(int64_t(0)));
      next.push_back(DynamicUpdateSlice(buf, ExpandDims(item, 0), starts));
    }
  }
  bg.set_outputs(next);
  // The condition: cond && (no trip count || i < M).
  Graph cond_graph("loop_cond");
  std::vector<Node> cps;
  for (size_t k = 0; k < init.size(); ++k)
    cps.push_back(cond_graph.parameter("s" + std::to_string(k), init[k].dtype(), init[k].shape()));
  Node keep = cps[1];
  if (trip_node) keep = And(keep, Less(cps[0], cps[trip_index]));
  cond_graph.set_outputs({keep});
  auto res = While(cond_graph, bg, init);
  for (int k = 0; k < n_state; ++k) c.set_output(k, res[size_t(2 + k)]);
  for (int k = 0; k < n_scan; ++k) c.set_output(n_state + k, res[scan_index + size_t(k)]);
}

void loop_op(OpContext& c) {
  const ::onnx::GraphProto* body = c.attr_graph("body");
  if (!body) c.fail("missing body");
  // (The tracer checks arities against the ONNX schema only up to the opsets the installed ONNX knows.)
  if (c.num_inputs() < 2) c.fail("Loop takes M and cond (either may be empty) before its loop-carried values; got ", c.num_inputs(), " input(s)");
  std::optional<int64_t> trip;
  if (c.has_input(0))
    if (const Tensor* t = c.known(0)) trip = int64_t(t->value_as_double(0));
  bool cond = true;
  bool cond_known = true;
  if (c.has_input(1)) {
    if (const Tensor* t = c.known(1))
      cond = t->value_as_double(0) != 0;
    else
      cond_known = false;
  }
  // Run-time trip count or condition, or a long loop: a graft While. When the body cannot be a While (it
  // needs the iteration number's value, e.g. for a Slice bound) and the trip count or condition comes from a
  // graph input, the trace specializes on that input's value instead (NeedsInputValue) and unrolls.
  if ((c.has_input(0) && !trip) || !cond_known || (trip && *trip > kMaxUnroll)) {
    try {
      return loop_as_while(c, *body, trip);
    } catch (const NeedsInputValue&) {
      throw;
    } catch (const Error& as_while) {
      // Staged tracing (InferenceSession) computes the trip count and condition from this run's inputs;
      // the loop is then unrolled (or a While with a known trip count).
      bool staged = false;
      try {
        if (c.has_input(0) && !trip) trip = int64_t(c.require_known(0, "the trip count M").value_as_double(0));
        if (!cond_known) cond = c.require_known(1, "the initial condition").value_as_double(0) != 0;
        staged = true;
      } catch (const NeedsInputValue& e) {
        throw NeedsInputValue(e.input(), std::string(e.what()) + " (as a While: " + as_while.what() + ")");
      } catch (const Error&) {
      }
      if (!staged) throw;
      if (trip && *trip > kMaxUnroll) return loop_as_while(c, *body, trip);
    }
  }
  int n_state = c.num_inputs() - 2;
  std::vector<Value> state;
  Value absent;
  absent.kind = Value::Kind::None;
  for (int i = 0; i < n_state; ++i) state.push_back(c.has_input(i + 2) ? c.value(i + 2) : absent);
  int n_scan = body->output_size() - 1 - n_state;
  if (n_scan < 0) c.fail("body has ", body->output_size(), " outputs for ", n_state, " loop-carried values");
  std::vector<std::vector<Value>> scans(static_cast<size_t>(n_scan));
  int64_t i = 0;
  for (; cond && (!trip || i < *trip); ++i) {
    // A loop that turns out to be long or to depend on run-time values is traced again as a While (the
    // unrolled iterations recorded so far are left unused).
    if (i >= kMaxUnroll) return loop_as_while(c, *body, trip);
    std::vector<Value> args{Value::of_known(Tensor::scalar(i)), Value::of_known(Tensor::scalar(cond))};
    args.insert(args.end(), state.begin(), state.end());
    auto outs = c.tracer().inline_subgraph(*body, c.scope(), args);
    Value& cond_out = outs[0];
    if (!cond_out.known) {
      Value tmp = cond_out;
      if (tmp.node.valid())
        if (auto t = c.tracer().evaluate(tmp.node, nullptr)) cond_out.known = *t;
    }
    if (!cond_out.known) return loop_as_while(c, *body, trip);
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
  int n_scan_in = int(c.attr_int("num_scan_inputs", 0));
  int n_state = c.num_inputs() - n_scan_in;
  int n_scan_out = body->output_size() - n_state;
  if (n_scan_in < 1 || n_state < 0) c.fail("num_scan_inputs ", n_scan_in, " does not fit ", c.num_inputs(), " inputs");
  if (n_scan_out < 0) c.fail("body has ", body->output_size(), " outputs for ", n_state, " loop-carried values");
  std::vector<int64_t> in_axes = c.attr_ints("scan_input_axes", std::vector<int64_t>(size_t(n_scan_in), 0));
  std::vector<int64_t> in_dirs = c.attr_ints("scan_input_directions", std::vector<int64_t>(size_t(n_scan_in), 0));
  std::vector<int64_t> out_axes = c.attr_ints("scan_output_axes", std::vector<int64_t>(size_t(n_scan_out), 0));
  std::vector<int64_t> out_dirs = c.attr_ints("scan_output_directions", std::vector<int64_t>(size_t(n_scan_out), 0));
  auto one_per = [&c](const char* attr, const std::vector<int64_t>& v, int n, const char* what) {
    if (int(v.size()) != n) c.fail(attr, " has ", v.size(), " entries for ", n, " ", what);
  };
  one_per("scan_input_axes", in_axes, n_scan_in, "scan inputs");
  one_per("scan_input_directions", in_dirs, n_scan_in, "scan inputs");
  one_per("scan_output_axes", out_axes, n_scan_out, "scan outputs");
  one_per("scan_output_directions", out_dirs, n_scan_out, "scan outputs");
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

// Scan-8: every state and scan input carries a leading batch axis (scan inputs are [batch, sequence, ...]),
// and the optional first input `sequence_lens` gives each batch element's length. The body sees one batch
// element at a time, so the scan is unrolled per element and step; scan outputs are zero past an element's
// length, and its final state is the one after its last step.
void scan8_op(OpContext& c) {
  const ::onnx::GraphProto* body = c.attr_graph("body");
  if (!body) c.fail("missing body");
  int n_scan_in = int(c.attr_int("num_scan_inputs", 0));
  int n_state = c.num_inputs() - 1 - n_scan_in;
  if (n_scan_in < 1 || n_state < 0) c.fail("num_scan_inputs ", n_scan_in, " does not fit ", c.num_inputs(), " inputs");
  int n_scan_out = body->output_size() - n_state;
  std::vector<int64_t> dirs = c.attr_ints("directions", std::vector<int64_t>(size_t(n_scan_in), 0));
  if (int(dirs.size()) != n_scan_in) c.fail("directions has ", dirs.size(), " entries for ", n_scan_in, " scan inputs");
  std::vector<Node> states, xs;
  for (int i = 0; i < n_state; ++i) states.push_back(c.input(1 + i));
  for (int k = 0; k < n_scan_in; ++k) {
    Node x = c.input(1 + n_state + k);
    if (x.rank() < 2) c.fail("scan input ", k, " must be [batch, sequence, ...], got ", x.shape());
    xs.push_back(x);
  }
  int64_t batch = xs[0].dim(0), len = xs[0].dim(1);
  for (const Node& x : xs)
    if (x.dim(0) != batch || x.dim(1) != len) c.fail("scan inputs disagree on [batch, sequence]: ", xs[0].shape(), " vs ", x.shape());
  for (const Node& s : states)
    if (s.rank() < 1 || s.dim(0) != batch) c.fail("state ", s.shape(), " lacks the batch axis of size ", batch);
  if (len > kMaxUnroll) c.fail("sequence length ", len, " exceeds the unrolling limit ", kMaxUnroll);
  std::vector<int64_t> lens(size_t(batch), len);
  if (c.has_input(0)) {
    lens = c.require_ints(0, "sequence_lens");
    if (int64_t(lens.size()) != batch) c.fail("sequence_lens has ", lens.size(), " entries for batch ", batch);
    for (int64_t l : lens)
      if (l < 0 || l > len) c.fail("sequence length ", l, " is outside [0, ", len, "]");
  }
  std::vector<std::vector<Node>> finals(static_cast<size_t>(n_state));
  std::vector<std::vector<std::optional<Node>>> scans(static_cast<size_t>(n_scan_out));  // per output, per batch element
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<Value> st;
    for (const Node& s : states) st.push_back(Value::of(Squeeze(SliceAxis(s, 0, b, b + 1), {0})));
    std::vector<std::vector<Value>> items(static_cast<size_t>(n_scan_out));
    int64_t lb = lens[size_t(b)];
    for (int64_t t = 0; t < lb; ++t) {
      std::vector<Value> args = st;
      for (int k = 0; k < n_scan_in; ++k) {
        int64_t pos = dirs[size_t(k)] ? lb - 1 - t : t;
        Node row = SliceAxis(SliceAxis(xs[size_t(k)], 0, b, b + 1), 1, pos, pos + 1);
        args.push_back(Value::of(Squeeze(row, {0, 1})));
      }
      auto outs = c.tracer().inline_subgraph(*body, c.scope(), args);
      if (int(outs.size()) != n_state + n_scan_out) c.fail("body produced ", outs.size(), " outputs");
      for (int i = 0; i < n_state; ++i) st[size_t(i)] = outs[size_t(i)];
      for (int k = 0; k < n_scan_out; ++k) items[size_t(k)].push_back(outs[size_t(n_state + k)]);
    }
    for (int i = 0; i < n_state; ++i) finals[size_t(i)].push_back(ExpandDims(c.scope().node(st[size_t(i)], "scan state"), 0));
    for (int k = 0; k < n_scan_out; ++k)
      scans[size_t(k)].push_back(items[size_t(k)].empty() ? std::nullopt : std::optional<Node>(stack(c, items[size_t(k)], k)));
  }
  for (int i = 0; i < n_state; ++i) c.set_output(i, Concatenate(finals[size_t(i)], 0));
  for (int k = 0; k < n_scan_out; ++k) {
    std::optional<Node> proto;
    for (const auto& s : scans[size_t(k)])
      if (s) proto = s;
    if (!proto) c.fail("scan output ", k, " of a scan that ran zero steps has an unknown shape");
    std::vector<Node> per_batch;
    for (const auto& s : scans[size_t(k)]) {
      int64_t have = s ? s->dim(0) : 0;
      std::vector<Node> parts;
      if (s) parts.push_back(*s);
      if (have < len) {
        std::vector<int64_t> d = proto->shape().dims();
        d[0] = len - have;
        parts.push_back(Zeros(c.graph(), proto->dtype(), Shape(d)));
      }
      per_batch.push_back(ExpandDims(parts.size() == 1 ? parts[0] : Concatenate(parts, 0), 0));
    }
    c.set_output(n_state + k, Concatenate(per_batch, 0));
  }
}

}  // namespace

void register_control_ops(Registry& r) {
  r.add("", "If", 1, if_op);
  r.add("", "Loop", 1, loop_op).note = "unrolled when the trip count and condition are known while tracing (<= 4096 iterations), else a While";
  r.add("", "Scan", 8, scan8_op).note = "unrolled";
  r.add("", "Scan", 9, scan_op).note = "unrolled";
}

}  // namespace graft::onnx
