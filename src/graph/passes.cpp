// optimize(): dead-code elimination, composite lowering, algebraic simplification, constant folding
// and common-subexpression elimination, all done while copying the graph in topological order.
#include "graft/graph/passes.h"

#include <sstream>
#include <unordered_map>

#include "graft/graph/ops.h"

namespace graft {

namespace {

std::vector<bool> live_ops(const Graph& g) {
  std::vector<bool> live(size_t(g.num_ops()), false);
  std::vector<int> stack;
  for (const ValueRef& r : g.outputs()) stack.push_back(r.op);
  for (int p : g.parameters()) live[size_t(p)] = true;
  while (!stack.empty()) {
    int i = stack.back();
    stack.pop_back();
    if (live[size_t(i)] && g.op(i).kind != OpKind::Parameter) continue;
    live[size_t(i)] = true;
    for (const ValueRef& in : g.op(i).inputs)
      if (!live[size_t(in.op)]) stack.push_back(in.op);
  }
  return live;
}

void put_ints(std::ostream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (int64_t x : v) os << x << ',';
  os << ']';
}

// A key that is equal for two ops computing the same thing, or nullopt for ops never merged.
std::optional<std::string> cse_key(const Op& op, const std::vector<ValueRef>& inputs) {
  std::ostringstream os;
  os << int(op.kind) << '(';
  for (const ValueRef& r : inputs) os << r.op << ':' << r.output << ',';
  os << ')';
  for (const ValueType& t : op.outputs) os << t.str();
  bool ok = std::visit(
      [&](const auto& a) -> bool {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, NoAttrs>) {
          return true;
        } else if constexpr (std::is_same_v<A, ConstantAttrs>) {
          if (a.value.nbytes() > 64) return false;
          os << std::string(static_cast<const char*>(a.value.raw()), a.value.nbytes());
          return true;
        } else if constexpr (std::is_same_v<A, IotaAttrs>) {
          os << a.axis;
          return true;
        } else if constexpr (std::is_same_v<A, BroadcastInDimAttrs>) {
          put_ints(os, a.dims);
          return true;
        } else if constexpr (std::is_same_v<A, TransposeAttrs>) {
          put_ints(os, a.perm);
          return true;
        } else if constexpr (std::is_same_v<A, SliceAttrs>) {
          put_ints(os, a.starts), put_ints(os, a.limits), put_ints(os, a.strides);
          return true;
        } else if constexpr (std::is_same_v<A, ConcatenateAttrs>) {
          os << a.axis;
          return true;
        } else if constexpr (std::is_same_v<A, ReduceAttrs>) {
          os << int(a.op);
          put_ints(os, a.axes);
          return true;
        } else if constexpr (std::is_same_v<A, DotGeneralAttrs>) {
          put_ints(os, a.lhs_batch), put_ints(os, a.rhs_batch), put_ints(os, a.lhs_contract), put_ints(os, a.rhs_contract);
          return true;
        } else {
          return false;
        }
      },
      op.attrs);
  if (!ok) return std::nullopt;
  return os.str();
}

const Tensor* constant_value(const Node& n) {
  const Op& op = n.op();
  return op.kind == OpKind::Constant ? &std::get<ConstantAttrs>(op.attrs).value : nullptr;
}

// True when `n` is a constant whose every element equals v.
bool is_constant_equal(const Node& n, double v) {
  const Tensor* t = constant_value(n);
  if (!t || t->size() > 64) {
    // A broadcast scalar constant counts too.
    if (n.op().kind == OpKind::BroadcastInDim) return is_constant_equal(n.graph()->node(n.op().inputs[0]), v);
    return false;
  }
  for (int64_t i = 0; i < t->size(); ++i)
    if (t->value_as_double(i) != v) return false;
  return true;
}

class Rewriter {
 public:
  Rewriter(const Graph& src, const PassOptions& o) : src_(src), opt_(o), dst_(src.name()) {}

  Graph run() {
    std::vector<bool> live = live_ops(src_);
    map_.resize(size_t(src_.num_ops()));
    for (int i = 0; i < src_.num_ops(); ++i)
      if (live[size_t(i)]) visit(i);
    std::vector<Node> outs;
    for (const ValueRef& r : src_.outputs()) outs.push_back(map_[size_t(r.op)][size_t(r.output)]);
    dst_.set_outputs(outs);
    return std::move(dst_);
  }

  bool changed() const { return changed_; }

 private:
  void visit(int i) {
    const Op& op = src_.op(i);
    dst_.set_current_name(op.name);
    std::vector<Node> in;
    for (const ValueRef& r : op.inputs) in.push_back(map_[size_t(r.op)][size_t(r.output)]);
    map_[size_t(i)] = rewrite(op, in);
  }

  std::vector<Node> copy(const Op& op, const std::vector<Node>& in) {
    std::vector<ValueRef> refs;
    for (const Node& n : in) refs.push_back(n.ref());
    std::optional<std::string> key;
    if (opt_.cse) {
      key = cse_key(op, refs);
      if (key) {
        auto it = cse_.find(*key);
        if (it != cse_.end()) {
          changed_ = true;
          return it->second;
        }
      }
    }
    std::vector<Node> out = dst_.add_op(op.kind, in, op.attrs, op.outputs);
    if (key) cse_.emplace(*key, out);
    return out;
  }

  std::vector<Node> rewrite(const Op& op, const std::vector<Node>& in) {
    switch (op.kind) {
      case OpKind::Parameter: {
        const auto& a = std::get<ParameterAttrs>(op.attrs);
        return {dst_.parameter(a.name, op.outputs[0].dtype, op.outputs[0].shape)};
      }
      case OpKind::StopGradient:
        if (opt_.drop_stop_gradient) return {in[0]};
        break;
      case OpKind::Composite: {
        if (!opt_.keep_composite || !opt_.keep_composite(op)) {
          changed_ = true;
          return Decompose(std::get<CompositeAttrs>(op.attrs), in);
        }
        break;
      }
      default:
        break;
    }
    if (opt_.simplify) {
      if (auto s = simplify(op, in)) {
        changed_ = true;
        return {*s};
      }
    }
    if (opt_.fold && !in.empty() && op.kind != OpKind::If && op.kind != OpKind::While) {
      bool all_const = true;
      std::vector<Tensor> values;
      std::vector<ValueType> types;
      for (const Node& n : in) {
        const Tensor* t = constant_value(n);
        if (!t) {
          all_const = false;
          break;
        }
        values.push_back(*t);
        types.push_back(n.type());
      }
      // Folding must not blow small constants up into big ones (a broadcast scalar stays a broadcast).
      int64_t out_elems = 0, in_elems = 0;
      for (const ValueType& t : op.outputs) out_elems += t.shape.size();
      for (const Tensor& t : values) in_elems += t.size();
      if (all_const && out_elems <= std::max<int64_t>(in_elems, 1 << 12)) {
        if (auto folded = opt_.fold(op, types, values)) {
          changed_ = true;
          std::vector<Node> out;
          for (Tensor& t : *folded) out.push_back(dst_.constant(std::move(t)));
          return out;
        }
      }
    }
    return copy(op, in);
  }

  std::optional<Node> simplify(const Op& op, const std::vector<Node>& in) {
    const Shape& out_shape = op.outputs[0].shape;
    switch (op.kind) {
      case OpKind::Reshape:
        if (in[0].shape() == out_shape) return in[0];
        if (in[0].op().kind == OpKind::Reshape) return Reshape(dst_.node(in[0].op().inputs[0]), out_shape.dims());
        break;
      case OpKind::Transpose: {
        const auto& p2 = std::get<TransposeAttrs>(op.attrs).perm;
        if (in[0].op().kind == OpKind::Transpose) {
          const auto& p1 = std::get<TransposeAttrs>(in[0].op().attrs).perm;
          Axes p(p2.size());
          for (size_t i = 0; i < p.size(); ++i) p[i] = p1[size_t(p2[i])];
          return Transpose(dst_.node(in[0].op().inputs[0]), p);
        }
        break;
      }
      case OpKind::Neg:
        if (in[0].op().kind == OpKind::Neg) return dst_.node(in[0].op().inputs[0]);
        break;
      case OpKind::Add:
        if (is_constant_equal(in[1], 0) && in[0].shape() == out_shape) return in[0];
        if (is_constant_equal(in[0], 0) && in[1].shape() == out_shape) return in[1];
        break;
      case OpKind::Sub:
        if (is_constant_equal(in[1], 0) && in[0].shape() == out_shape) return in[0];
        break;
      case OpKind::Mul:
        if (is_constant_equal(in[1], 1) && in[0].shape() == out_shape) return in[0];
        if (is_constant_equal(in[0], 1) && in[1].shape() == out_shape) return in[1];
        break;
      case OpKind::Div:
        if (is_constant_equal(in[1], 1) && in[0].shape() == out_shape) return in[0];
        break;
      case OpKind::Convert:
        if (in[0].dtype() == op.outputs[0].dtype) return in[0];
        break;
      default:
        break;
    }
    return std::nullopt;
  }

  const Graph& src_;
  const PassOptions& opt_;
  Graph dst_;
  std::vector<std::vector<Node>> map_;
  std::unordered_map<std::string, std::vector<Node>> cse_;
  bool changed_ = false;
};

}  // namespace

Graph optimize(const Graph& g, const PassOptions& options) {
  Graph cur = g;
  for (int round = 0; round < 4; ++round) {
    Rewriter rw(cur, options);
    Graph next = rw.run();
    cur = std::move(next);
    if (!rw.changed()) break;
  }
  return cur;
}

Graph eliminate_dead_code(const Graph& g) {
  PassOptions o;
  o.simplify = false;
  o.cse = false;
  o.keep_composite = [](const Op&) { return true; };
  o.drop_stop_gradient = false;
  return optimize(g, o);
}

}  // namespace graft
