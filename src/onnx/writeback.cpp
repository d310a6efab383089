// Initializers back into an ONNX model: inline raw_data or patches in external-data files.
#include "graft/onnx/writeback.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include "core/atomic_file.h"
#include "onnx/converter.h"
#include "onnx/external_data_writer.h"
#include "onnx/model_impl.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

namespace {
std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  GRAFT_CHECK(in, "ModelWriter: cannot read external data file ", p.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
struct ExternalRef {
  std::string location;
  int64_t offset = 0, length = -1;
};
ExternalRef external_ref(const ::onnx::TensorProto& t) {
  ExternalRef r;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") r.location = kv.value();
    else if (kv.key() == "offset") r.offset = std::stoll(kv.value());
    else if (kv.key() == "length") r.length = std::stoll(kv.value());
  }
  return r;
}
}  // namespace

ModelWriter::ModelWriter(const Model& model) : model_(model) {}

void ModelWriter::set_initializer(const std::string& name, const Tensor& value) {
  Tensor cur = model_.initializer(name);  // throws for unknown names
  GRAFT_CHECK(value.dtype() == cur.dtype() && value.shape() == cur.shape(), "ModelWriter: initializer \"", name,
              "\" of ", model_.source(), " is ", dtype_name(cur.dtype()), cur.shape(), ", the new value ",
              dtype_name(value.dtype()), value.shape());
  values_[name] = value.clone();
}

void ModelWriter::set_constant(const std::string& output, const Tensor& value) {
  Tensor cur = model_.constant_node_value(output);  // throws for names no Constant node outputs
  GRAFT_CHECK(value.dtype() == cur.dtype() && value.shape() == cur.shape(), "ModelWriter: the Constant node output \"",
              output, "\" of ", model_.source(), " is ", dtype_name(cur.dtype()), cur.shape(), ", the new value ",
              dtype_name(value.dtype()), value.shape());
  constants_[output] = value.clone();
}

void ModelWriter::add_initializer(const std::string& name, const Tensor& value) {
  auto names = model_.initializer_names();
  bool taken = std::find(names.begin(), names.end(), name) != names.end();
  for (const auto& [n, v] : added_) taken = taken || n == name;
  GRAFT_CHECK(!taken, "ModelWriter: ", model_.source(), " already has an initializer named \"", name, "\"");
  added_.emplace_back(name, value.clone());
}

void ModelWriter::add_node(NodeSpec node) {
  GRAFT_CHECK(!node.op_type.empty() && !node.outputs.empty(), "ModelWriter::add_node: a node needs an op type and an output");
  nodes_.push_back(std::move(node));
}

void ModelWriter::set_outputs(std::vector<TensorDeclaration> outputs) { outputs_ = std::move(outputs); }

void ModelWriter::declare_input(TensorDeclaration input) {
  bool found = false;
  for (const auto& i : model_.inputs()) found = found || i.name == input.name;
  GRAFT_CHECK(found, "ModelWriter: ", model_.source(), " has no input named \"", input.name, "\"");
  inputs_.push_back(std::move(input));
}

namespace {
void declare(::onnx::ValueInfoProto& v, const TensorDeclaration& d) {
  v.Clear();
  v.set_name(d.name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_to_onnx(d.dtype));
  auto* shape = tt->mutable_shape();
  for (const Dim& dim : d.dims) {
    auto* sd = shape->add_dim();
    if (dim.is_fixed()) sd->set_dim_value(dim.value);
    else if (!dim.symbol.empty()) sd->set_dim_param(dim.symbol);
  }
}

void add_node_proto(::onnx::GraphProto& g, const NodeSpec& spec) {
  ::onnx::NodeProto& n = *g.add_node();
  n.set_op_type(spec.op_type);
  n.set_name(spec.name.empty() ? spec.outputs.front() : spec.name);
  for (const auto& i : spec.inputs) n.add_input(i);
  for (const auto& o : spec.outputs) n.add_output(o);
  for (const auto& [name, value] : spec.attributes) {
    ::onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    if (auto* i = std::get_if<int64_t>(&value)) {
      a.set_type(::onnx::AttributeProto::INT);
      a.set_i(*i);
    } else if (auto* f = std::get_if<float>(&value)) {
      a.set_type(::onnx::AttributeProto::FLOAT);
      a.set_f(*f);
    } else if (auto* is = std::get_if<std::vector<int64_t>>(&value)) {
      a.set_type(::onnx::AttributeProto::INTS);
      for (int64_t v : *is) a.add_ints(v);
    } else {
      a.set_type(::onnx::AttributeProto::STRING);
      a.set_s(std::get<std::string>(value));
    }
  }
}
}  // namespace

void ModelWriter::save(const std::filesystem::path& path, const ExternalDataOptions& options) const {
  using Placement = ExternalDataOptions::Placement;
  const Model::Impl& m = *model_.impl();
  ::onnx::ModelProto proto = m.proto;
  std::filesystem::path out_dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::map<std::string, std::string> files;  // location -> bytes (copied, then patched)
  std::vector<InlineTensor> inline_tensors;   // after the pass below: every tensor that is inline
  auto* graph = proto.mutable_graph();
  for (int i = 0; i < graph->initializer_size(); ++i) {
    ::onnx::TensorProto& t = *graph->mutable_initializer(i);
    auto it = values_.find(t.name());
    bool external = t.data_location() == ::onnx::TensorProto::EXTERNAL;
    if (external && options.placement != Placement::Inline) {
      // Stays external: a copy of its file, patched at its offset when the value changed.
      ExternalRef r = external_ref(t);
      if (!files.count(r.location)) files[r.location] = read_all(m.base_dir / r.location);
      if (it == values_.end()) continue;
      std::string& bytes = files[r.location];
      size_t n = it->second.nbytes();
      GRAFT_CHECK(r.offset >= 0 && size_t(r.offset) + n <= bytes.size() && (r.length < 0 || size_t(r.length) == n),
                  "ModelWriter: external data of \"", t.name(), "\" (", r.location, " at ", r.offset, ") does not fit ", n,
                  " bytes");
      std::memcpy(bytes.data() + r.offset, it->second.raw(), n);
      continue;
    }
    InlineTensor entry{&t, {}, true, [this, name = t.name()] { return model_.initializer(name); }};
    if (it != values_.end()) entry.value = it->second;
    else if (external) entry.value = model_.initializer(t.name());
    if (entry.value.defined()) set_inline_data(t, entry.value);  // changed, or brought inline
    inline_tensors.push_back(std::move(entry));
  }
  // Constant nodes' tensors, replaced in place (always inline: an attribute's tensor stays in the node).
  for (auto& n : *graph->mutable_node()) {
    if (!canonical_domain(n.domain()).empty() || n.op_type() != "Constant" || n.output_size() != 1 ||
        !constants_.count(n.output(0)))
      continue;
    for (auto& a : *n.mutable_attribute())
      if (a.name() == "value" && a.has_t()) set_inline_data(*a.mutable_t(), constants_.at(n.output(0)));
  }
  // Graph edits: new initializers get their data placed like the others.
  for (const auto& [name, value] : added_) {
    ::onnx::TensorProto& t = *graph->add_initializer();  // element addresses stay valid as the field grows
    t.set_name(name);
    t.set_data_type(dtype_to_onnx(value.dtype()));
    for (int64_t d : value.shape().dims()) t.add_dims(d);
    inline_tensors.push_back(InlineTensor{&t, value, false, {}});
  }
  for (const NodeSpec& n : nodes_) add_node_proto(*graph, n);
  if (outputs_) {
    graph->clear_output();
    for (const TensorDeclaration& d : *outputs_) declare(*graph->add_output(), d);
  }
  for (const TensorDeclaration& d : inputs_)
    for (auto& v : *graph->mutable_input())
      if (v.name() == d.name) declare(v, d);
  std::set<std::string> taken;
  for (const auto& [loc, bytes] : files) taken.insert(loc);
  place_tensor_data(proto, inline_tensors, path, options, "ModelWriter", taken);
  for (const auto& [loc, bytes] : files) {
    std::filesystem::path dst = out_dir / loc;
    std::filesystem::create_directories(dst.parent_path());
    write_file_atomically(dst, [&data = bytes](std::ostream& os) {  // (clang 14 cannot capture a structured binding)
      os.write(data.data(), std::streamsize(data.size()));
    });
  }
  std::string s;
  GRAFT_CHECK(proto.SerializeToString(&s), "ModelWriter: cannot serialize the model for ", path.string());
  write_file_atomically(path, [&](std::ostream& os) { os.write(s.data(), std::streamsize(s.size())); });
}

}  // namespace graft::onnx
