// The composite mechanism: recording a composite node (its types from its decomposition), expanding one
// (Decompose), and user composites that carry their own decomposition. The built-in kinds are defined
// by family in activation.cpp, normalization.cpp, attention.cpp and recurrent.cpp.
#include <array>
#include <numeric>

#include "graft/graph/ops.h"
#include "graph/builder_util.h"
#include "graph/composite_defs.h"

namespace graft {

#define GRAFT_CHECK_ALTERNATIVE(kind, name, params)                                                   \
  static_assert(std::is_same_v<std::variant_alternative_t<size_t(CompositeKind::kind), CompositeParams>, \
                               params>,                                                                 \
                "CompositeParams alternative out of order: " #kind);
GRAFT_COMPOSITES(GRAFT_CHECK_ALTERNATIVE)
#undef GRAFT_CHECK_ALTERNATIVE

std::string_view composite_name(CompositeKind k) {
  static constexpr std::array<std::string_view, size_t(CompositeKind::kCount)> kNames = {
#define GRAFT_COMPOSITE_NAME(kind, name, params) name,
      GRAFT_COMPOSITES(GRAFT_COMPOSITE_NAME)
#undef GRAFT_COMPOSITE_NAME
  };
  return size_t(k) < kNames.size() ? kNames[size_t(k)] : "?";
}

std::string_view CompositeAttrs::name() const {
  if (const auto* c = get_if<CustomCompositeParams>()) return c->name;
  return composite_name(kind());
}

std::optional<CompositeKind> composite_kind(const Op& op) {
  if (op.kind != OpKind::Composite) return std::nullopt;
  return std::get<CompositeAttrs>(op.attrs).kind();
}

void throw_composite_mismatch(const Op& op, CompositeKind wanted) {
  std::string what(op_name(op.kind));
  if (op.kind == OpKind::Composite) what += "(" + std::string(std::get<CompositeAttrs>(op.attrs).name()) + ")";
  if (!op.name.empty()) what += " \"" + op.name + "\"";
  fail(what, " is not a ", composite_name(wanted), " composite");
}

namespace detail {

std::vector<Node> record_composite(CompositeParams params, std::vector<Node> inputs, CompositeAttrs::Decompose custom,
                                   std::optional<std::vector<ValueType>> types) {
  CompositeAttrs attrs{std::move(params), std::move(custom)};
  GRAFT_CHECK(!inputs.empty(), "Composite ", attrs.name(), ": no inputs");
  GRAFT_CHECK((attrs.kind() == CompositeKind::Custom) == bool(attrs.decompose), "Composite ", attrs.name(),
              ": only user composites carry a decomposition function");
  Graph* g = inputs[0].graph();
  if (!types) {
    // Infer the output types (and check the operands) by building the decomposition in a scratch graph.
    Graph scratch(std::string(attrs.name()));
    std::vector<Node> params_in;
    for (size_t i = 0; i < inputs.size(); ++i)
      params_in.push_back(scratch.parameter("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
    std::vector<Node> outs;
    if (attrs.decompose)
      outs = attrs.decompose(params_in);
    else
      outs = std::visit([&](const auto& p) -> std::vector<Node> {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, CustomCompositeParams>)
          return {};
        else
          return decompose(p, params_in);
      }, attrs.params);
    GRAFT_CHECK(!outs.empty(), "Composite ", attrs.name(), ": the decomposition returns no outputs");
    types.emplace();
    for (const Node& o : outs) types->push_back(o.type());
  }
  return g->add_op(OpKind::Composite, std::move(inputs), std::move(attrs), std::move(*types));
}

int normalize_axis(Node x, int axis, const char* what) {
  return int(normalize_axes({axis}, x.rank(), std::string(what) + " of " + x.describe())[0]);
}

Axes trailing_axes(int from, int rank) {
  Axes a(size_t(rank - from));
  std::iota(a.begin(), a.end(), from);
  return a;
}

void check_floating(Node x, const char* what) {
  GRAFT_CHECK(is_floating(x.dtype()), what, " of ", x.describe(), ": operand is ", x.type().str(),
              ", expected floating point");
}

Node per_channel(Node v, int rank) {
  std::vector<int64_t> dims(size_t(rank), 1);
  dims[1] = v.shape().size();
  return Reshape(v, dims);
}

}  // namespace detail

Node Composite(std::string name, std::vector<Node> inputs, std::vector<int64_t> ints, std::vector<double> floats,
               CompositeAttrs::Decompose decompose) {
  GRAFT_CHECK(decompose, "Composite ", name, ": needs a decomposition");
  return detail::record_composite(CustomCompositeParams{std::move(name), std::move(ints), std::move(floats), {}},
                                  std::move(inputs), std::move(decompose))[0];
}

std::vector<Node> Composite(CustomCompositeParams params, std::vector<Node> inputs, CompositeAttrs::Decompose decompose,
                            std::optional<std::vector<ValueType>> types) {
  GRAFT_CHECK(decompose, "Composite ", params.name, ": needs a decomposition");
  return detail::record_composite(std::move(params), std::move(inputs), std::move(decompose), std::move(types));
}

std::vector<Node> Decompose(const CompositeAttrs& attrs, std::span<const Node> inputs) {
  if (attrs.decompose) {
    auto decompose = attrs.decompose;  // a copy: recording ops must not invalidate what we call
    return decompose(inputs);
  }
  const CompositeParams params = attrs.params;
  return std::visit([&](const auto& p) -> std::vector<Node> {
    if constexpr (std::is_same_v<std::decay_t<decltype(p)>, CustomCompositeParams>)
      fail("Decompose: user composite ", p.name, " has no decomposition");
    else
      return detail::decompose(p, inputs);
  }, params);
}

std::vector<Node> Decompose(Node composite) {
  const Op& op = composite.op();
  GRAFT_CHECK(op.kind == OpKind::Composite, "Decompose: ", composite.describe(), " is not a composite");
  std::vector<Node> inputs;
  for (const ValueRef& r : op.inputs) inputs.push_back(composite.graph()->node(r));
  return Decompose(std::get<CompositeAttrs>(op.attrs), inputs);
}

}  // namespace graft
