// How the main graph uses its values: which are read as data and which only decide shapes
// (Model::shape_only_values), and the tensors held by Constant nodes (Model::constant_node_outputs).
// Training uses both: a weight that only decides a shape has no gradient and must stay a constant the
// tracer can read, and weights some exporters keep in Constant nodes can be lifted into variables.
#include <map>
#include <set>
#include <string_view>

#include "onnx/converter.h"
#include "onnx/graph_order.h"
#include "onnx/model_impl.h"

namespace graft::onnx {

namespace {

// Input positions of default-domain ops whose *value* only decides shapes, indices or control flow: the
// op's result is not a differentiable function of them.
const std::map<std::string_view, std::set<int>>& shape_positions() {
  static const std::map<std::string_view, std::set<int>> table = [] {
    std::map<std::string_view, std::set<int>> t = {
        {"Reshape", {1}},     {"Expand", {1}},    {"Tile", {1}},        {"ConstantOfShape", {0}},
        {"Slice", {1, 2, 3, 4}}, {"Pad", {1, 3}}, {"Resize", {1, 2, 3}}, {"Upsample", {1}},
        {"Squeeze", {1}},     {"Unsqueeze", {1}}, {"Split", {1}},       {"TopK", {1}},
        {"OneHot", {1}},      {"Trilu", {1}},     {"CumSum", {1}},      {"Range", {0, 1, 2}},
        {"If", {0}},          {"Loop", {0, 1}},   {"Dropout", {1, 2}},  {"Gather", {1}},
        {"GatherElements", {1}}, {"GatherND", {1}}, {"ScatterElements", {1}}, {"ScatterND", {1}},
        {"Scatter", {1}},     {"RandomNormalLike", {0}}, {"RandomUniformLike", {0}}};
    for (std::string_view r : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                               "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
      t[r] = {1};
    return t;
  }();
  return table;
}

// Default-domain ops whose results say something about their operands (a shape, positions, a truth
// value) without being differentiable functions of them: no operand of theirs is read as data.
bool result_is_not_data(const ::onnx::NodeProto& n) {
  static const std::set<std::string_view> ops = {"Shape",   "Size",   "EyeLike", "NonZero",       "ArgMax",
                                                 "ArgMin",  "Equal",  "Less",    "LessOrEqual",   "Greater",
                                                 "GreaterOrEqual", "IsNaN", "IsInf", "Not", "And", "Or", "Xor"};
  if (ops.count(n.op_type())) return true;
  if (n.op_type() == "Cast")  // to an integer or bool type: the value is used, but not differentiably
    for (const auto& a : n.attribute())
      if (a.name() == "to")
        return a.i() != ::onnx::TensorProto::FLOAT && a.i() != ::onnx::TensorProto::DOUBLE &&
               a.i() != ::onnx::TensorProto::FLOAT16 && a.i() != ::onnx::TensorProto::BFLOAT16;
  return false;
}

bool has_subgraph(const ::onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return true;
  return false;
}

// Every name a sub-graph (at any depth) reads.
void names_read_by_subgraphs(const ::onnx::NodeProto& n, std::set<std::string>& out) {
  for (const auto& a : n.attribute()) {
    if (a.has_g()) collect_names_read(a.g(), out);
    for (const auto& sg : a.graphs()) collect_names_read(sg, out);
  }
}

}  // namespace

std::set<std::string> Model::shape_only_values() const {
  const ::onnx::GraphProto& g = impl_->proto.graph();
  // Values read as data: graph outputs, names read inside sub-graphs (conservatively), then backwards
  // through the nodes: an operand at a data position of a node with a data result is data.
  std::set<std::string> data;
  for (const auto& o : g.output()) data.insert(o.name());
  for (const auto& n : g.node())
    if (has_subgraph(n)) names_read_by_subgraphs(n, data);
  const auto& positions = shape_positions();
  for (bool changed = true; changed;) {  // nodes are in any order (graph_order.cpp sorts them at trace time)
    changed = false;
    for (int k = g.node_size() - 1; k >= 0; --k) {
      const ::onnx::NodeProto& n = g.node(k);
      bool result_is_data = false;
      for (const auto& o : n.output()) result_is_data = result_is_data || (!o.empty() && data.count(o));
      if (!result_is_data || result_is_not_data(n)) continue;
      const std::set<int>* shape_only = nullptr;
      if (canonical_domain(n.domain()).empty())
        if (auto it = positions.find(n.op_type()); it != positions.end()) shape_only = &it->second;
      for (int i = 0; i < n.input_size(); ++i) {
        if (n.input(i).empty() || (shape_only && shape_only->count(i))) continue;
        changed = data.insert(n.input(i)).second || changed;
      }
    }
  }
  // Everything the main graph defines or declares that is not data.
  std::set<std::string> out;
  auto consider = [&](const std::string& name) {
    if (!name.empty() && !data.count(name)) out.insert(name);
  };
  for (const auto& t : g.initializer()) consider(t.name());
  for (const auto& i : g.input()) consider(i.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) consider(o);
  return out;
}

namespace {
const ::onnx::TensorProto* constant_tensor(const ::onnx::NodeProto& n) {
  if (!canonical_domain(n.domain()).empty() || n.op_type() != "Constant" || n.output_size() != 1) return nullptr;
  for (const auto& a : n.attribute())
    if (a.name() == "value" && a.has_t()) return &a.t();
  return nullptr;
}
}  // namespace

std::vector<std::string> Model::constant_node_outputs() const {
  std::vector<std::string> names;
  for (const auto& n : impl_->proto.graph().node())
    if (constant_tensor(n)) names.push_back(n.output(0));
  return names;
}

Tensor Model::constant_node_value(const std::string& output) const {
  for (const auto& n : impl_->proto.graph().node())
    if (const ::onnx::TensorProto* t = constant_tensor(n); t && n.output(0) == output)
      return tensor_from_proto(*t, impl_->store.get(), "Constant \"" + n.name() + "\"");
  fail(impl_->source, ": no Constant node of the main graph outputs '", output, "'");
}

}  // namespace graft::onnx
