// The reverse sweep: finds the values that depend on `wrt`, walks the forward ops from the outputs back
// in reverse recording order (ops only ever read earlier ops, so that order is topological), asks each
// op's rule for its operands' cotangents and sums them per value. The backward ops are recorded into
// the same graph with the ordinary builders.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autodiff/rules.h"

namespace graft {
namespace autodiff {

const RuleTable& rule_table() {
  static const RuleTable table = [] {
    RuleTable t;
    register_elementwise_rules(t);
    register_layout_rules(t);
    register_indexing_rules(t);
    register_reduction_rules(t);
    register_sort_rules(t);
    register_pooling_rules(t);
    register_linalg_rules(t);
    register_convolution_rules(t);
    register_control_rules(t);
    register_activation_rules(t);
    register_normalization_rules(t);
    register_composite_rules(t);
    return t;
  }();
  return table;
}

namespace {

struct RefHash {
  size_t operator()(const ValueRef& r) const { return std::hash<int64_t>()((int64_t(r.op) << 20) ^ r.output); }
};

// Restores the graph's current op name when a rule is done (rules name their ops "<forward op>/grad").
struct NameScope {
  Graph& g;
  std::string saved;
  NameScope(Graph& graph, const std::string& name) : g(graph), saved(graph.current_name()) { g.set_current_name(name); }
  ~NameScope() { g.set_current_name(saved); }
};

}  // namespace

std::vector<Node> backprop(const std::vector<Node>& outputs, const std::vector<Node>& cotangents,
                           const std::vector<Node>& wrt, bool stop_at_wrt) {
  GRAFT_CHECK(!outputs.empty(), "autodiff: no outputs to differentiate");
  GRAFT_CHECK(outputs.size() == cotangents.size(), "autodiff: ", outputs.size(), " outputs but ", cotangents.size(),
              " cotangents");
  Graph* g = outputs[0].graph();
  GRAFT_CHECK(g, "autodiff: output 0 is an empty Node");
  for (size_t i = 0; i < outputs.size(); ++i) {
    GRAFT_CHECK(outputs[i].graph() == g, "autodiff: output ", outputs[i].describe(), " belongs to another graph");
    if (cotangents[i].valid()) {
      GRAFT_CHECK(cotangents[i].graph() == g, "autodiff: cotangent ", cotangents[i].describe(),
                  " belongs to another graph");
      GRAFT_CHECK(cotangents[i].type() == outputs[i].type(), "autodiff: cotangent ", cotangents[i].describe(), " is ",
                  cotangents[i].type().str(), " but output ", outputs[i].describe(), " is ", outputs[i].type().str());
    }
  }
  for (const Node& w : wrt)
    GRAFT_CHECK(w.graph() == g, "autodiff: wrt node ", w.describe(), " belongs to another graph (or is empty)");

  // Values that depend (differentiably) on some wrt node: the only ones that carry cotangents.
  std::unordered_set<ValueRef, RefHash> wrt_set;
  int lo = g->num_ops(), hi = -1;
  for (const Node& w : wrt)
    if (is_floating(w.dtype())) {
      wrt_set.insert(w.ref());
      lo = std::min(lo, w.op_index());
    }
  for (const Node& o : outputs) hi = std::max(hi, o.op_index());
  std::vector<std::vector<char>> active(size_t(std::max(hi + 1, 0)));
  for (int i = lo; i <= hi; ++i) {
    const Op& op = g->op(i);
    bool from_input = false;
    if (op.kind != OpKind::StopGradient)
      for (const ValueRef& r : op.inputs)
        if (r.op >= lo && active[size_t(r.op)][size_t(r.output)]) from_input = true;
    active[size_t(i)].assign(op.outputs.size(), 0);
    for (size_t o = 0; o < op.outputs.size(); ++o)
      active[size_t(i)][o] = is_floating(op.outputs[o].dtype) && (from_input || wrt_set.count(ValueRef{i, int(o)}));
  }
  auto is_active = [&](const ValueRef& r) { return r.op >= lo && r.op <= hi && active[size_t(r.op)][size_t(r.output)]; };

  std::unordered_map<ValueRef, Node, RefHash> cts;
  auto accumulate = [&](const ValueRef& r, Node c) {
    auto it = cts.find(r);
    if (it == cts.end())
      cts.emplace(r, c);
    else
      it->second = it->second + c;
  };
  for (size_t i = 0; i < outputs.size(); ++i)
    if (cotangents[i].valid() && is_active(outputs[i].ref())) accumulate(outputs[i].ref(), cotangents[i]);

  const RuleTable& table = rule_table();
  for (int i = hi; i >= lo; --i) {
    const Op& op = g->op(i);
    std::vector<Node> ct(op.outputs.size());
    bool any = false;
    for (size_t o = 0; o < op.outputs.size(); ++o) {
      ValueRef r{i, int(o)};
      if (stop_at_wrt && wrt_set.count(r)) continue;
      auto it = cts.find(r);
      if (it != cts.end()) {
        ct[o] = it->second;
        any = true;
      }
    }
    if (!any) continue;
    GradContext ctx{*g, op, i, {}, {}, {}, {}};
    for (const ValueRef& r : op.inputs) {
      ctx.in.push_back(g->node(r));
      ctx.need.push_back(is_active(r));
    }
    if (std::none_of(ctx.need.begin(), ctx.need.end(), [](bool b) { return b; })) continue;
    for (size_t o = 0; o < op.outputs.size(); ++o) {
      ctx.out.push_back(g->node(ValueRef{i, int(o)}));
      if (!ct[o].valid() && is_floating(op.outputs[o].dtype)) ct[o] = zeros_like(ctx.out.back());
    }
    ctx.ct = std::move(ct);
    const RuleFn* rule = table.find(op);
    std::string what = ctx.describe();
    GRAFT_CHECK(rule, "autodiff: no gradient rule for ", what);
    std::vector<Node> grads;
    {
      NameScope scope(*g, op.name.empty() ? std::string() : op.name + "/grad");
      try {
        grads = (*rule)(ctx);
      } catch (const Error& e) {
        std::string msg = e.what();
        if (msg.rfind("autodiff", 0) == 0) throw;
        fail("autodiff: differentiating ", what, ": ", msg);
      }
    }
    GRAFT_CHECK(grads.size() == op.inputs.size(), "autodiff: the rule for ", what, " returned ", grads.size(),
                " gradients for ", op.inputs.size(), " operands");
    for (size_t k = 0; k < grads.size(); ++k) {
      if (!grads[k].valid() || !ctx.need[k]) continue;
      GRAFT_CHECK(grads[k].type() == ctx.in[k].type(), "autodiff: the rule for ", what, " produced a gradient of type ",
                  grads[k].type().str(), " for operand ", k, " of type ", ctx.in[k].type().str());
      accumulate(op.inputs[k], grads[k]);
    }
  }

  std::vector<Node> result;
  for (const Node& w : wrt) {
    auto it = cts.find(w.ref());
    result.push_back(it != cts.end() ? it->second : zeros_like(w));
  }
  return result;
}

}  // namespace autodiff

std::vector<Node> VJP(std::vector<Node> outputs, std::vector<Node> cotangents, std::vector<Node> wrt) {
  return autodiff::backprop(outputs, cotangents, wrt, /*stop_at_wrt=*/false);
}

std::vector<Node> Gradient(Node loss, const std::vector<Node>& wrt) {
  GRAFT_CHECK(loss.valid(), "Gradient: empty loss node");
  GRAFT_CHECK(is_floating(loss.dtype()) && loss.shape().size() == 1, "Gradient: loss ", loss.describe(), " is ",
              loss.type().str(), ", expected a floating-point scalar");
  Node one = Full(*loss.graph(), loss.dtype(), loss.shape(), 1.0);
  return autodiff::backprop({loss}, {one}, wrt, /*stop_at_wrt=*/false);
}

Node Gradient(Node loss, Node wrt) { return Gradient(loss, std::vector<Node>{wrt})[0]; }

}  // namespace graft
