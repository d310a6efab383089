// Export of the control family: If (its branches as sub-graphs) and While (a Loop whose body computes the
// next state and the condition on it; the initial condition is computed before the loop).
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void if_op(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<IfAttrs>(op.attrs);
  Names operands(in.begin() + 1, in.end());
  auto branch = [&](const Graph& b, const char* which) {
    return e.subgraph(e.node_base() + "/" + which, [&] {
      Names outs;
      for (size_t k = 0; k < b.outputs().size(); ++k) {
        outs.push_back(e.fresh(e.node_base() + "/" + which + "/out" + std::to_string(k)));
        set_value_info(e.cur().add_output(), outs.back(), op.outputs[k]);
      }
      e.emit_graph(b, operands, outs, e.node_base() + "/" + which);
    });
  };
  ::onnx::GraphProto then_g = branch(*a.then_branch, "then"), else_g = branch(*a.else_branch, "else");
  e.node("If", {in[0]}, out).g("then_branch", std::move(then_g)).g("else_branch", std::move(else_g));
}

void while_op(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<WhileAttrs>(op.attrs);
  std::string base = e.node_base();
  const ValueRef& cr = a.cond->outputs()[0];
  bool scalar_cond = a.cond->op(cr.op).outputs[size_t(cr.output)].shape.rank() == 0;
  auto cond_scalar = [&](const Names& state, const std::string& name) {  // Loop wants a rank-0 condition
    std::string c = scalar_cond ? name : e.fresh(name + "_value");
    e.emit_graph(*a.cond, state, {c}, base + "/cond");
    e.set_node_base(base, 1);
    if (!scalar_cond) e.reshape(c, {}, name);
  };
  std::string init_cond = e.fresh(base + "/cond_init");
  cond_scalar(in, init_cond);
  ::onnx::GraphProto body = e.subgraph(base + "/body", [&] {
    ::onnx::GraphProto& gp = e.cur();
    std::string iter = e.fresh(base + "/iteration"), cond_in = e.fresh(base + "/cond_in");
    set_value_info(gp.add_input(), iter, ValueType{DType::I64, Shape{}});
    set_value_info(gp.add_input(), cond_in, ValueType{DType::Bool, Shape{}});
    Names state, next;
    for (size_t k = 0; k < in.size(); ++k) {
      state.push_back(e.fresh(base + "/state" + std::to_string(k)));
      set_value_info(gp.add_input(), state.back(), op.outputs[k]);
    }
    std::string cond_out = e.fresh(base + "/cond_out");
    set_value_info(gp.add_output(), cond_out, ValueType{DType::Bool, Shape{}});
    for (size_t k = 0; k < in.size(); ++k) {
      next.push_back(e.fresh(base + "/next" + std::to_string(k)));
      set_value_info(gp.add_output(), next.back(), op.outputs[k]);
    }
    e.emit_graph(*a.body, state, next, base + "/body");
    cond_scalar(next, cond_out);
  });
  e.set_node_base(base, 0);
  Names ins{"", init_cond};
  ins.insert(ins.end(), in.begin(), in.end());
  e.node("Loop", ins, out).g("body", std::move(body));
}

}  // namespace

void register_control_emitters(EmitterTable& t) {
  t.add(OpKind::If, if_op);
  t.add(OpKind::While, while_op);
}

}  // namespace graft::onnx
