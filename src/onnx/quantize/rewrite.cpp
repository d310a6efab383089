// The shared state of a quantization rewrite (rewrite.h).
#include "onnx/quantize/rewrite.h"

#include <algorithm>
#include <cmath>

#include "onnx/model_impl.h"

namespace graft::onnx::quantize_impl {

namespace {
void collect_names(const ::onnx::GraphProto& g, std::set<std::string>& names) {
  for (const auto& v : g.input()) names.insert(v.name());
  for (const auto& v : g.output()) names.insert(v.name());
  for (const auto& t : g.initializer()) names.insert(t.name());
  for (const auto& n : g.node()) {
    names.insert(n.name());
    for (const auto& s : n.input()) names.insert(s);
    for (const auto& s : n.output()) names.insert(s);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_names(a.g(), names);
      for (const auto& sub : a.graphs()) collect_names(sub, names);
    }
  }
}
}  // namespace

Rewrite::Rewrite(const Model& model, const QuantizeOptions& options) : model_(model), options_(options) {
  const ::onnx::GraphProto& g = proto_of(model).graph();
  collect_names(g, names_);
  for (const auto& v : g.input()) graph_inputs_.insert(v.name());
  opset_ = model.opset();
}

std::optional<Tensor> Rewrite::constant_float(const std::string& name, int rank) const {
  const auto& index = model_.impl()->initializer_index;
  if (name.empty() || !index.count(name) || graph_inputs_.count(name)) return std::nullopt;
  const ::onnx::TensorProto& t = proto_of(model_).graph().initializer(index.at(name));
  if (t.data_type() != ::onnx::TensorProto::FLOAT || (rank >= 0 && t.dims_size() != rank)) return std::nullopt;
  return model_.initializer(name);
}

std::string Rewrite::fresh(const std::string& base) {
  std::string name = base;
  for (int i = 1; names_.count(name); ++i) name = base + "_" + std::to_string(i);
  names_.insert(name);
  return name;
}

std::string Rewrite::add_initializer(const std::string& base, const Tensor& value) {
  std::string name = fresh(base);
  added_.emplace_back(name, value);
  return name;
}

::onnx::NodeProto& Rewrite::add_node(const std::string& op_type, const std::vector<std::string>& inputs,
                                     const std::vector<std::string>& outputs, const std::string& name,
                                     const std::string& domain) {
  ::onnx::NodeProto& n = *nodes_.Add();
  n.set_op_type(op_type);
  n.set_name(fresh(name));
  if (!domain.empty()) n.set_domain(domain);
  for (const auto& s : inputs) n.add_input(s);
  for (const auto& s : outputs) n.add_output(s);
  return n;
}

void set_attr(::onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}

int64_t int_attr(const ::onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

float float_attr(const ::onnx::NodeProto& n, const std::string& name, float fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return fallback;
}

std::string describe(const ::onnx::NodeProto& n) {
  std::string name = !n.name().empty() ? n.name() : n.output_size() ? n.output(0) : std::string("?");
  return "\"" + name + "\" (" + n.op_type() + ")";
}

Tensor quantize_symmetric_int8(const Tensor& w, int axis, std::vector<float>& scales) {
  const auto& dims = w.shape().dims();
  const float* src = static_cast<const float*>(w.raw());
  int64_t n = w.shape().size();
  // Element i lies in channel (i / inner) % channels along `axis`.
  int64_t channels = 1, inner = 1;
  if (axis >= 0) {
    channels = dims[size_t(axis)];
    for (size_t d = size_t(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  }
  auto channel = [&](int64_t i) { return axis < 0 ? int64_t(0) : (i / inner) % channels; };
  std::vector<float> absmax(size_t(channels), 0.f);
  for (int64_t i = 0; i < n; ++i) absmax[size_t(channel(i))] = std::max(absmax[size_t(channel(i))], std::abs(src[i]));
  scales.resize(size_t(channels));
  for (int64_t c = 0; c < channels; ++c) scales[size_t(c)] = quant::symmetric_scale(absmax[size_t(c)]);
  Tensor q = Tensor::zeros(DType::I8, w.shape());
  auto* dst = static_cast<int8_t*>(q.raw());
  for (int64_t i = 0; i < n; ++i) dst[i] = int8_t(quant::quantize_value(src[i], scales[size_t(channel(i))], 0, -127, 127));
  return q;
}

}  // namespace graft::onnx::quantize_impl
