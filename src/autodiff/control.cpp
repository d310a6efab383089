// Gradient rules of If and While.
//
// If: the gradient is another If on the same predicate, whose branches are the gradient graphs of the
// forward branches (each takes the operands and the cotangents, and returns the operands' gradients).
//
// While: no tape is kept. The backward loop runs t = T-1 .. 0 and, in each step, recomputes the state
// s_t by running the body t times from the initial state, then pulls the cotangent back through one
// body application. This needs no memory beyond the state but evaluates the body O(T^2) times, so it
// suits short loops; T is found by running the forward loop once more with a counter.
#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

// "s3", "ct0": parameter names (appending avoids a GCC 12 -Wrestrict false positive on operator+).
std::string numbered(const char* prefix, size_t k) {
  std::string s(prefix);
  s.append(std::to_string(k));
  return s;
}

// Records the ops of `src` into `dst`, with src's parameters bound to `args`; returns src's outputs.
std::vector<Node> inline_graph(const Graph& src, Graph& dst, const std::vector<Node>& args) {
  GRAFT_CHECK(args.size() == src.parameters().size(), "autodiff: sub-graph '", src.name(), "' takes ",
              src.parameters().size(), " parameters, given ", args.size());
  std::vector<std::vector<Node>> mapped(size_t(src.num_ops()));
  for (int i = 0; i < src.num_ops(); ++i) {
    const Op& op = src.op(i);
    if (op.kind == OpKind::Parameter) {
      mapped[size_t(i)] = {args[size_t(std::get<ParameterAttrs>(op.attrs).index)]};
      continue;
    }
    std::vector<Node> ins;
    for (const ValueRef& r : op.inputs) ins.push_back(mapped[size_t(r.op)][size_t(r.output)]);
    std::string saved = dst.current_name();
    dst.set_current_name(op.name);
    mapped[size_t(i)] = dst.add_op(op.kind, ins, op.attrs, op.outputs);
    dst.set_current_name(saved);
  }
  std::vector<Node> outs;
  for (const ValueRef& r : src.outputs()) outs.push_back(mapped[size_t(r.op)][size_t(r.output)]);
  return outs;
}

// The gradient graph of one If branch: parameters (operands..., cotangents of the float outputs...),
// outputs the gradients of the operands listed in `grad_operands`.
Graph branch_gradient(const Graph& branch, const std::vector<int>& float_outputs,
                      const std::vector<int>& grad_operands) {
  Graph g(branch.name() + "_grad");
  std::vector<Node> args;
  for (int p : branch.parameters()) {
    const Op& op = branch.op(p);
    args.push_back(g.parameter(op.name, op.outputs[0].dtype, op.outputs[0].shape));
  }
  std::vector<Node> outs = inline_graph(branch, g, args);
  std::vector<Node> y, cts, wrt;
  for (int o : float_outputs) {
    y.push_back(outs[size_t(o)]);
    cts.push_back(g.parameter(numbered("ct", o), outs[size_t(o)].dtype(), outs[size_t(o)].shape()));
  }
  for (int k : grad_operands) wrt.push_back(args[size_t(k)]);
  g.set_outputs(backprop(y, cts, wrt, /*stop_at_wrt=*/true));
  return g;
}

std::vector<Node> if_rule(const GradContext& c) {
  const auto& a = c.attrs<IfAttrs>();
  std::vector<int> float_outputs, grad_operands;
  for (size_t o = 0; o < c.out.size(); ++o)
    if (c.ct[o].valid()) float_outputs.push_back(int(o));
  for (size_t k = 1; k < c.in.size(); ++k)
    if (c.need[k]) grad_operands.push_back(int(k - 1));
  Graph then_grad = branch_gradient(*a.then_branch, float_outputs, grad_operands);
  Graph else_grad = branch_gradient(*a.else_branch, float_outputs, grad_operands);
  std::vector<Node> operands(c.in.begin() + 1, c.in.end());
  for (int o : float_outputs) operands.push_back(c.ct[size_t(o)]);
  std::vector<Node> g = If(c.in[0], then_grad, else_grad, operands);
  std::vector<Node> grads(c.in.size());
  for (size_t j = 0; j < grad_operands.size(); ++j) grads[size_t(grad_operands[j] + 1)] = g[j];
  return grads;
}

std::vector<Node> while_rule(const GradContext& c) {
  const auto& a = c.attrs<WhileAttrs>();
  const Graph& cond = *a.cond;
  const Graph& body = *a.body;
  size_t n = c.in.size();
  std::vector<ValueType> state;
  for (const Node& s : c.in) state.push_back(s.type());
  std::vector<size_t> fl;  // floating-point state slots: the ones that carry cotangents
  for (size_t k = 0; k < n; ++k)
    if (is_float(c.in[k])) fl.push_back(k);
  auto add_state_params = [&](Graph& g) {
    std::vector<Node> s;
    for (size_t k = 0; k < n; ++k) s.push_back(g.parameter(numbered("s", k), state[k].dtype, state[k].shape));
    return s;
  };

  // 1. The trip count T: the forward loop again, with a counter.
  Graph count_cond("while_count_cond"), count_body("while_count_body");
  {
    std::vector<Node> s = add_state_params(count_cond);
    count_cond.parameter("i", DType::I64, {});
    count_cond.set_outputs(inline_graph(cond, count_cond, s));
    s = add_state_params(count_body);
    Node i = count_body.parameter("i", DType::I64, {});
    std::vector<Node> next = inline_graph(body, count_body, s);
    next.push_back(i + ScalarLike(i, 1.0));
    count_body.set_outputs(next);
  }
  std::vector<Node> init = c.in;
  init.push_back(c.g.scalar<int64_t>(0));
  Node trips = While(count_cond, count_body, init).back();

  // 2. s_t from s_0: the body applied t times (state s..., i, t).
  Graph replay_cond("while_replay_cond"), replay_body("while_replay_body");
  {
    add_state_params(replay_cond);
    Node i = replay_cond.parameter("i", DType::I64, {});
    Node t = replay_cond.parameter("t", DType::I64, {});
    replay_cond.set_outputs({Less(i, t)});
    std::vector<Node> s = add_state_params(replay_body);
    Node i2 = replay_body.parameter("i", DType::I64, {});
    Node t2 = replay_body.parameter("t", DType::I64, {});
    std::vector<Node> next = inline_graph(body, replay_body, s);
    next.push_back(i2 + ScalarLike(i2, 1.0));
    next.push_back(t2);
    replay_body.set_outputs(next);
  }

  // 3. The backward loop: state (t, cotangents of the float slots..., s_0...), while t > 0.
  Graph back_cond("while_grad_cond"), back_body("while_grad_body");
  auto add_back_params = [&](Graph& g) {
    std::vector<Node> p{g.parameter("t", DType::I64, {})};
    for (size_t k : fl) p.push_back(g.parameter(numbered("ct", k), state[k].dtype, state[k].shape));
    std::vector<Node> s = add_state_params(g);
    p.insert(p.end(), s.begin(), s.end());
    return p;
  };
  {
    std::vector<Node> p = add_back_params(back_cond);
    back_cond.set_outputs({Greater(p[0], ScalarLike(p[0], 0.0))});
  }
  {
    Graph& g = back_body;
    std::vector<Node> p = add_back_params(g);
    Node t1 = p[0] - ScalarLike(p[0], 1.0);
    std::vector<Node> cts(p.begin() + 1, p.begin() + 1 + long(fl.size()));
    std::vector<Node> s0(p.begin() + 1 + long(fl.size()), p.end());
    std::vector<Node> replay_init = s0;
    replay_init.push_back(g.scalar<int64_t>(0));
    replay_init.push_back(t1);
    std::vector<Node> st = While(replay_cond, replay_body, replay_init);
    st.resize(n);
    std::vector<Node> next = inline_graph(body, g, st);
    std::vector<Node> y, wrt;
    for (size_t k : fl) {
      y.push_back(next[k]);
      wrt.push_back(st[k]);
    }
    std::vector<Node> pulled = backprop(y, cts, wrt, /*stop_at_wrt=*/true);
    std::vector<Node> outs{t1};
    outs.insert(outs.end(), pulled.begin(), pulled.end());
    outs.insert(outs.end(), s0.begin(), s0.end());
    g.set_outputs(outs);
  }
  std::vector<Node> back_init{trips};
  for (size_t k : fl) back_init.push_back(c.ct[k]);
  back_init.insert(back_init.end(), c.in.begin(), c.in.end());
  std::vector<Node> res = While(back_cond, back_body, back_init);
  std::vector<Node> grads(n);
  for (size_t j = 0; j < fl.size(); ++j) grads[fl[j]] = res[1 + j];
  return grads;
}

}  // namespace

void register_control_rules(RuleTable& t) {
  t.add(OpKind::If, if_rule);
  t.add(OpKind::While, while_rule);
}

}  // namespace graft::autodiff
