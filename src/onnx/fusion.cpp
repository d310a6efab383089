// ONNX-level pattern fusion (see fusion.h) and the converters of the internal "graft.fused" domain.
#include "onnx/fusion.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "onnx/converter.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

namespace {

bool is_default_domain(const ::onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

bool near(double v, double want) { return std::abs(v - want) <= 1e-4 * std::abs(want); }

// Names read by nested sub-graphs (implicit captures), recursively.
void collect_subgraph_reads(const ::onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) out.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_subgraph_reads(a.g(), out);
      for (const auto& sg : a.graphs()) collect_subgraph_reads(sg, out);
    }
  }
}

class Matcher {
 public:
  Matcher(const ::onnx::GraphProto& g, const FusionConstantLookup& constant) : g_(g), constant_(constant) {
    for (int k = 0; k < g.node_size(); ++k) {
      const auto& n = g.node(k);
      for (const auto& i : n.input())
        if (!i.empty()) consumers_[i].push_back(k);
      for (const auto& o : n.output())
        if (!o.empty()) producer_[o] = k;
      for (const auto& a : n.attribute()) {
        if (a.has_g()) collect_subgraph_reads(a.g(), pinned_);
        for (const auto& sg : a.graphs()) collect_subgraph_reads(sg, pinned_);
      }
    }
    for (const auto& o : g.output()) pinned_.insert(o.name());
  }

  std::optional<::onnx::GraphProto> run() {
    std::vector<std::optional<::onnx::NodeProto>> replacement(size_t(g_.node_size()));
    bool any = false;
    for (int k = 0; k < g_.node_size(); ++k) {
      if (used_[k]) continue;
      const auto& n = g_.node(k);
      if (!is_default_domain(n)) continue;
      Match m;
      if (n.op_type() == "ReduceMean")
        m = match_layer_norm(k);
      else if (n.op_type() == "Erf")
        m = match_gelu(k);
      if (m.nodes.empty()) continue;
      int last = *std::max_element(m.nodes.begin(), m.nodes.end());
      for (int i : m.nodes) used_[i] = true;
      replacement[size_t(last)] = std::move(m.fused);
      any = true;
    }
    if (!any) return std::nullopt;
    ::onnx::GraphProto out;
    out.set_name(g_.name());
    for (int k = 0; k < g_.node_size(); ++k) {
      if (replacement[size_t(k)])
        *out.add_node() = std::move(*replacement[size_t(k)]);
      else if (!used_[k])
        *out.add_node() = g_.node(k);
    }
    return out;
  }

 private:
  struct Match {
    std::vector<int> nodes;
    ::onnx::NodeProto fused;
  };

  const ::onnx::GraphProto& g_;
  const FusionConstantLookup& constant_;
  std::unordered_map<std::string, std::vector<int>> consumers_;  // one entry per input occurrence
  std::unordered_map<std::string, int> producer_;
  std::set<std::string> pinned_;  // graph outputs and names read by sub-graphs
  std::map<int, bool> used_;

  const ::onnx::NodeProto& node(int k) const { return g_.node(k); }

  // A plain single-output ai.onnx node of type `op`, not claimed by another match.
  bool is_op(int k, const char* op) const {
    if (k < 0 || (used_.count(k) && used_.at(k))) return false;
    const auto& n = node(k);
    return is_default_domain(n) && n.op_type() == op && n.output_size() == 1 && !n.output(0).empty();
  }

  // The only consumer node of `name` (which must not be pinned), or -1. A node reading it twice counts once.
  int sole_consumer(const std::string& name) const {
    if (pinned_.count(name)) return -1;
    auto it = consumers_.find(name);
    if (it == consumers_.end() || it->second.empty()) return -1;
    int k = it->second.front();
    for (int c : it->second)
      if (c != k) return -1;
    return k;
  }

  // The distinct consumer nodes of `name` (empty when pinned).
  std::set<int> consumer_set(const std::string& name) const {
    if (pinned_.count(name)) return {};
    auto it = consumers_.find(name);
    if (it == consumers_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  // The value of `name` when it is a one-element floating constant (initializer, outer known value, or a
  // Constant node of this graph).
  std::optional<double> scalar(const std::string& name) const {
    std::optional<Tensor> t;
    auto p = producer_.find(name);
    if (p != producer_.end()) {
      const auto& n = node(p->second);
      if (!is_default_domain(n) || n.op_type() != "Constant") return std::nullopt;
      for (const auto& a : n.attribute()) {
        if (a.name() == "value_float") return double(a.f());
        if (a.name() == "value" && a.has_t()) {
          try {
            t = tensor_from_proto(a.t(), nullptr, "Constant");
          } catch (const Error&) {
            return std::nullopt;
          }
        }
      }
    } else if (constant_) {
      try {
        t = constant_(name);
      } catch (const Error&) {
        return std::nullopt;
      }
    }
    if (!t || t->size() != 1 || t->dtype() == DType::Bool) return std::nullopt;
    return t->value_as_double(0);
  }
  bool scalar_near(const std::string& name, double want) const {
    auto v = scalar(name);
    return v && near(*v, want);
  }

  // ReduceMean over the last axis only, keepdims.
  bool reduce_last_axis(const ::onnx::NodeProto& n) const {
    std::optional<std::vector<int64_t>> axes;
    for (const auto& a : n.attribute()) {
      if (a.name() == "keepdims" && a.i() != 1) return false;
      if (a.name() == "noop_with_empty_axes" && a.i() != 0) return false;
      if (a.name() == "axes") axes = std::vector<int64_t>(a.ints().begin(), a.ints().end());
    }
    if (n.input_size() > 1 && !n.input(1).empty()) {
      if (axes) return false;
      auto p = producer_.find(n.input(1));
      std::optional<Tensor> t;
      try {
        if (p != producer_.end()) {
          const auto& c = node(p->second);
          if (!is_default_domain(c) || c.op_type() != "Constant") return false;
          for (const auto& a : c.attribute())
            if (a.name() == "value" && a.has_t()) t = tensor_from_proto(a.t(), nullptr, "Constant");
            else if (a.name() == "value_ints") t = Tensor::full(DType::I64, Shape{1}, a.ints_size() == 1 ? double(a.ints(0)) : 0.0);
        } else if (constant_) {
          t = constant_(n.input(1));
        }
      } catch (const Error&) {
        return false;
      }
      if (!t || t->size() != 1 || is_floating(t->dtype())) return false;
      return t->value_as_double(0) == -1;
    }
    return axes && axes->size() == 1 && (*axes)[0] == -1;
  }

  // For a two-input node, the operand that is not `name` (when exactly one of them is `name`).
  static std::optional<std::string> other_operand(const ::onnx::NodeProto& n, const std::string& name) {
    if (n.input_size() != 2) return std::nullopt;
    if (n.input(0) == name && n.input(1) != name) return n.input(1);
    if (n.input(1) == name && n.input(0) != name) return n.input(0);
    return std::nullopt;
  }

  Match match_layer_norm(int r1) {
    Match none;
    const auto& rm = node(r1);
    if (!is_op(r1, "ReduceMean") || rm.input_size() < 1 || !reduce_last_axis(rm)) return none;
    const std::string& x = rm.input(0);
    const std::string& mean = rm.output(0);
    int s = sole_consumer(mean);
    if (!is_op(s, "Sub") || node(s).input_size() != 2 || node(s).input(0) != x || node(s).input(1) != mean) return none;
    const std::string& d = node(s).output(0);
    std::set<int> dc = consumer_set(d);
    if (dc.size() != 2) return none;
    int sq = -1, dv = -1;
    for (int k : dc) {
      const auto& n = node(k);
      if (is_op(k, "Div") && n.input_size() == 2 && n.input(0) == d && n.input(1) != d)
        dv = k;
      else if (is_op(k, "Pow") && n.input_size() == 2 && n.input(0) == d && n.input(1) != d && scalar_near(n.input(1), 2.0))
        sq = k;
      else if (is_op(k, "Mul") && n.input_size() == 2 && n.input(0) == d && n.input(1) == d)
        sq = k;
    }
    if (sq < 0 || dv < 0) return none;
    int r2 = sole_consumer(node(sq).output(0));
    if (!is_op(r2, "ReduceMean") || node(r2).input(0) != node(sq).output(0) || !reduce_last_axis(node(r2))) return none;
    const std::string& var = node(r2).output(0);
    int ae = sole_consumer(var);
    if (!is_op(ae, "Add")) return none;
    auto eps_name = other_operand(node(ae), var);
    if (!eps_name) return none;
    auto eps = scalar(*eps_name);
    if (!eps || !(*eps >= 0)) return none;
    int sqrt_k = sole_consumer(node(ae).output(0));
    if (!is_op(sqrt_k, "Sqrt") || node(sqrt_k).input(0) != node(ae).output(0)) return none;
    if (sole_consumer(node(sqrt_k).output(0)) != dv || node(dv).input(1) != node(sqrt_k).output(0)) return none;
    const std::string& normed = node(dv).output(0);
    int mg = sole_consumer(normed);
    if (!is_op(mg, "Mul")) return none;
    auto gamma = other_operand(node(mg), normed);
    if (!gamma) return none;
    const std::string& scaled = node(mg).output(0);
    int ab = sole_consumer(scaled);
    if (!is_op(ab, "Add")) return none;
    auto beta = other_operand(node(ab), scaled);
    if (!beta) return none;

    Match m;
    m.nodes = {r1, s, sq, r2, ae, sqrt_k, dv, mg, ab};
    auto& f = m.fused;
    f.set_op_type("LayerNorm");
    f.set_domain(kFusedDomain);
    f.set_name(node(ab).name());
    f.add_input(x);
    f.add_input(*gamma);
    f.add_input(*beta);
    f.add_output(node(ab).output(0));
    auto* a = f.add_attribute();
    a->set_name("axis");
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(-1);
    a = f.add_attribute();
    a->set_name("epsilon");
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(float(*eps));
    return m;
  }

  Match match_gelu(int e) {
    Match none;
    if (!is_op(e, "Erf") || node(e).input_size() != 1) return none;
    // x / sqrt(2) or x * (1 / sqrt(2))
    const std::string& t = node(e).input(0);
    auto pt = producer_.find(t);
    if (pt == producer_.end()) return none;
    int p = pt->second;
    if (sole_consumer(t) != e) return none;
    std::string x;
    if (is_op(p, "Div") && node(p).input_size() == 2 && scalar_near(node(p).input(1), M_SQRT2)) {
      x = node(p).input(0);
    } else if (is_op(p, "Mul") && node(p).input_size() == 2) {
      if (scalar_near(node(p).input(1), M_SQRT1_2))
        x = node(p).input(0);
      else if (scalar_near(node(p).input(0), M_SQRT1_2))
        x = node(p).input(1);
    }
    if (x.empty()) return none;
    // erf + 1
    const std::string& erf_out = node(e).output(0);
    int a1 = sole_consumer(erf_out);
    if (!is_op(a1, "Add")) return none;
    auto one = other_operand(node(a1), erf_out);
    if (!one || !scalar_near(*one, 1.0)) return none;
    const std::string& plus1 = node(a1).output(0);
    int m1 = sole_consumer(plus1);
    if (!is_op(m1, "Mul")) return none;
    auto o1 = other_operand(node(m1), plus1);
    if (!o1) return none;
    std::vector<int> nodes{p, e, a1, m1};
    int out_k = -1;
    if (*o1 == x) {
      // (x * (erf + 1)) * 0.5
      int m2 = sole_consumer(node(m1).output(0));
      if (!is_op(m2, "Mul")) return none;
      auto half = other_operand(node(m2), node(m1).output(0));
      if (!half || !scalar_near(*half, 0.5)) return none;
      nodes.push_back(m2);
      out_k = m2;
    } else if (scalar_near(*o1, 0.5)) {
      // x * ((erf + 1) * 0.5)
      int m2 = sole_consumer(node(m1).output(0));
      if (!is_op(m2, "Mul")) return none;
      auto xo = other_operand(node(m2), node(m1).output(0));
      if (!xo || *xo != x) return none;
      nodes.push_back(m2);
      out_k = m2;
    } else {
      // (x * 0.5) * (erf + 1)
      auto ph = producer_.find(*o1);
      if (ph == producer_.end()) return none;
      int h = ph->second;
      if (!is_op(h, "Mul") || sole_consumer(*o1) != m1 || h == p) return none;
      auto half = other_operand(node(h), x);
      if (!half || !scalar_near(*half, 0.5)) return none;
      nodes.push_back(h);
      out_k = m1;
    }
    Match m;
    m.nodes = nodes;
    auto& f = m.fused;
    f.set_op_type("Gelu");
    f.set_domain(kFusedDomain);
    f.set_name(node(out_k).name());
    f.add_input(x);
    f.add_output(node(out_k).output(0));
    return m;
  }
};

// ---- converters --------------------------------------------------------------------------------------------

void fused_layer_norm(OpContext& c) {
  Node x = c.input(0), gamma = c.input(1), beta = c.input(2);
  double eps = c.attr_float("epsilon", 1e-5);
  GRAFT_CHECK(c.attr_int("axis", -1) == -1, c.describe(), ": only axis -1 is produced by the fusion pass");
  GRAFT_CHECK(x.rank() >= 1, c.describe(), ": input must have rank >= 1");
  int64_t h = x.shape()[-1];
  auto per_feature = [&](Node v) { return v.dtype() == x.dtype() && v.rank() == 1 && v.shape()[0] == h; };
  if (is_floating(x.dtype()) && per_feature(gamma) && per_feature(beta)) {
    c.set_output(0, LayerNorm(x, gamma, beta, -1, eps));
    return;
  }
  // Shapes the composite does not cover (e.g. a broadcast gamma): the original chain.
  Axes axes{x.rank() - 1};
  Node d = x - ReduceMean(x, axes, true);
  Node var = ReduceMean(d * d, axes, true);
  c.set_output(0, d / Sqrt(var + eps) * gamma + beta);
}

void fused_gelu(OpContext& c) {
  Node x = c.input(0);
  GRAFT_CHECK(is_floating(x.dtype()), c.describe(), ": input must be floating-point");
  c.set_output(0, Gelu(x, false));
}

}  // namespace

std::optional<::onnx::GraphProto> fuse_onnx_patterns(const ::onnx::GraphProto& g, const FusionConstantLookup& constant) {
  return Matcher(g, constant).run();
}

void register_fused_ops(Registry& r) {
  r.add(kFusedDomain, "LayerNorm", 1, fused_layer_norm).note =
      "internal: ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add chain fused before tracing";
  r.add(kFusedDomain, "Gelu", 1, fused_gelu).note = "internal: exact Div/Erf/Add/Mul/Mul GELU chain fused before tracing";
}

}  // namespace graft::onnx
