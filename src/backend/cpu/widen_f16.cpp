#include "backend/cpu/widen_f16.h"

#include <optional>
#include <vector>

#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

bool has_f16(const std::vector<ValueType>& types) {
  for (const ValueType& t : types)
    if (t.dtype == DType::F16) return true;
  return false;
}

// Per value of the source graph: its node in the rewritten graph as the source typed it (`narrow`), and
// for f16 values their f32 counterpart (`wide`); each made on first use.
struct Value {
  std::optional<Node> narrow, wide;
};

class Widener {
 public:
  Widener(const Graph& g) : g_(g), out_(g.name()), values_(size_t(g.num_ops())) {}

  Graph run(int* widened) {
    for (int i = 0; i < g_.num_ops(); ++i) {
      const Op& op = g_.op(i);
      out_.set_current_name(op.name);
      values_[size_t(i)].resize(op.outputs.size());
      visit(i, op);
    }
    std::vector<Node> outs;
    for (const ValueRef& r : g_.outputs()) outs.push_back(narrow(r));  // f16 outputs rounded here
    out_.set_outputs(outs);
    *widened = widened_;
    return std::move(out_);
  }

 private:
  const ValueType& type_of(const ValueRef& r) const { return g_.op(r.op).outputs[size_t(r.output)]; }
  Value& value(const ValueRef& r) { return values_[size_t(r.op)][size_t(r.output)]; }

  Node narrow(const ValueRef& r) {
    Value& v = value(r);
    if (!v.narrow) v.narrow = Convert(*v.wide, DType::F16);
    return *v.narrow;
  }
  // The f32 counterpart of an f16 value; any other value as it is.
  Node wide(const ValueRef& r) {
    Value& v = value(r);
    if (type_of(r).dtype != DType::F16) return *v.narrow;
    if (!v.wide) v.wide = Convert(*v.narrow, DType::F32);
    return *v.wide;
  }

  void visit(int i, const Op& op) {
    std::vector<Value>& vals = values_[size_t(i)];
    if (op.kind == OpKind::Parameter) {
      vals[0].narrow = out_.parameter(std::get<ParameterAttrs>(op.attrs).name, op.outputs[0].dtype, op.outputs[0].shape);
      return;
    }
    if (op.kind == OpKind::Constant) {  // an f16 constant's f32 copy is made on first use, and folded
      vals[0].narrow = out_.constant(std::get<ConstantAttrs>(op.attrs).value);
      return;
    }
    std::vector<ValueType> in_types;
    for (const ValueRef& r : op.inputs) in_types.push_back(type_of(r));
    if (op.kind == OpKind::Convert) {
      const DType from = in_types[0].dtype, to = op.outputs[0].dtype;
      if (to == DType::F16 && (from == DType::F32 || from == DType::F16)) {  // the f32 -> f16 -> f32 pair goes
        vals[0].wide = wide(op.inputs[0]);
        return;
      }
      if (from == DType::F16 && to == DType::F32) {
        vals[0].narrow = wide(op.inputs[0]);
        return;
      }
      if (to == DType::F16) {  // from f64, bf16 or an integer: straight to f32
        vals[0].wide = Convert(wide(op.inputs[0]), DType::F32);
        ++widened_;
        return;
      }
      // f16 to another type: from the f16 value, as the model says
    }
    if ((has_f16(in_types) || has_f16(op.outputs)) && !op.inputs.empty() && try_rebuild(op, vals)) {
      ++widened_;
      return;
    }
    std::vector<Node> in;
    for (const ValueRef& r : op.inputs) in.push_back(type_of(r).dtype == DType::F16 ? narrow(r) : wide(r));
    std::vector<Node> res = out_.add_op(op.kind, in, op.attrs, op.outputs);
    for (size_t k = 0; k < res.size(); ++k) vals[k].narrow = res[k];
  }

  // The op over the f32 counterparts of its f16 operands, when its rule accepts them and gives f32
  // where the source had f16 (and the same types elsewhere).
  bool try_rebuild(const Op& op, std::vector<Value>& vals) {
    std::vector<Node> in;
    for (const ValueRef& r : op.inputs) in.push_back(wide(r));
    // Rules that take a result type from the op (DotGeneral's, Convert's) are asked for f32.
    Op as_f32 = op;
    for (ValueType& t : as_f32.outputs)
      if (t.dtype == DType::F16) t.dtype = DType::F32;
    std::vector<Node> res;
    try {
      res = Rebuild(out_, as_f32, in);
    } catch (const Error&) {
      return false;  // (what it recorded before failing is never read: dead ops, dropped later)
    }
    if (res.size() != op.outputs.size()) return false;
    for (size_t k = 0; k < res.size(); ++k) {
      const ValueType& want = op.outputs[k];
      const DType d = want.dtype == DType::F16 ? DType::F32 : want.dtype;
      if (res[k].dtype() != d || res[k].shape() != want.shape) return false;
    }
    for (size_t k = 0; k < res.size(); ++k) {
      if (op.outputs[k].dtype == DType::F16)
        vals[k].wide = res[k];
      else
        vals[k].narrow = res[k];
    }
    return true;
  }

  const Graph& g_;
  Graph out_;
  std::vector<std::vector<Value>> values_;
  int widened_ = 0;
};

}  // namespace

std::optional<Graph> widen_f16(const Graph& g, int* widened) {
  *widened = 0;
  bool any = false;
  for (const Op& op : g.ops()) any |= has_f16(op.outputs);
  if (!any) return std::nullopt;
  return Widener(g).run(widened);
}

}  // namespace graft::cpu
