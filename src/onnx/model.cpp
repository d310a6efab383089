// Model: parsing a ModelProto, checking its structure, and describing it.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "onnx/converter.h"
#include "onnx/graph_order.h"
#include "onnx/model_impl.h"

namespace graft::onnx {

namespace fs = std::filesystem;

std::string Dim::str() const {
  if (is_fixed()) return std::to_string(value);
  return symbol.empty() ? "?" : symbol;
}

std::string ValueInfo::str() const {
  std::string s = name + ": ";
  if (!dtype) return s + type;
  s += std::string(dtype_name(*dtype));
  if (!dims) return s + "[...]";
  s += "[";
  for (size_t i = 0; i < dims->size(); ++i) s += (i ? ", " : "") + (*dims)[i].str();
  return s + "]";
}

std::string UnsupportedOp::str() const {
  std::string s = (domain.empty() ? "" : domain + "::") + op_type + " (opset " + std::to_string(opset) + ") at ";
  for (size_t i = 0; i < nodes.size() && i < 5; ++i) s += (i ? ", " : "") + ("\"" + nodes[i] + "\"");
  if (nodes.size() > 5) s += " and " + std::to_string(nodes.size() - 5) + " more";
  return s;
}

ValueInfo value_info_from_proto(const ::onnx::ValueInfoProto& v) {
  ValueInfo info;
  info.name = v.name();
  info.doc = v.doc_string();
  info.type = v.has_type() ? type_proto_str(v.type()) : "unknown";
  if (v.has_type() && v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    info.dtype = dtype_from_onnx(tt.elem_type());
    if (tt.has_shape()) {
      std::vector<Dim> dims;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        if (d.has_dim_param()) dim.symbol = d.dim_param();
        dims.push_back(dim);
      }
      info.dims = dims;
    }
  }
  return info;
}

std::string canonical_domain(const std::string& d) { return d == "ai.onnx" ? std::string() : d; }

namespace {

std::string node_label(const ::onnx::NodeProto& n, int index) {
  return n.name().empty() ? n.op_type() + "#" + std::to_string(index) : n.name();
}

// Checks the parsed protobuf in impl->proto and builds the indexes.
void index_model(Model::Impl& impl, fs::path base_dir, const LoadOptions& options) {
  const std::string& what = impl.source;
  const auto& m = impl.proto;
  GRAFT_CHECK(m.has_graph(), what, ": the model has no graph (truncated or not an ONNX file?)");
  GRAFT_CHECK(m.ir_version() > 0, what, ": no ir_version (not an ONNX model?)");
  for (const auto& op : m.opset_import()) {
    std::string d = canonical_domain(op.domain());
    impl.opsets.push_back({d, op.version()});
    impl.opset_map[d] = op.version();
  }
  if (m.opset_import_size() == 0) {  // IR version 2 models have no imports: opset 1
    impl.opsets.push_back({"", 1});
    impl.opset_map[""] = 1;
  }
  order_model_graphs(impl.proto, what);  // topological order, cycles and undefined names refused
  const auto& g = m.graph();
  for (int i = 0; i < g.initializer_size(); ++i) impl.initializer_index[g.initializer(i).name()] = i;
  for (const auto& v : g.input())
    if (!impl.initializer_index.count(v.name())) impl.inputs.push_back(value_info_from_proto(v));
  for (const auto& v : g.output()) impl.outputs.push_back(value_info_from_proto(v));
  for (const auto& f : m.functions()) impl.functions[canonical_domain(f.domain()) + ":" + f.name()] = &f;
  impl.base_dir = base_dir;
  if (!base_dir.empty()) impl.store = std::make_unique<ExternalDataStore>(base_dir, options.allow_external_symlinks);
}

std::shared_ptr<Model::Impl> parse(std::string_view bytes, fs::path base_dir, std::string what,
                                   const LoadOptions& options) {
  auto impl = std::make_shared<Model::Impl>();
  impl->source = what;
  GRAFT_CHECK(!bytes.empty(), what, ": empty file, not an ONNX model");
  GRAFT_CHECK(bytes.size() <= size_t(INT_MAX), what, ": ", bytes.size(),
              " bytes; protobuf cannot hold models over 2 GB (store the weights as external data)");
  google::protobuf::io::ArrayInputStream raw(bytes.data(), int(bytes.size()));
  google::protobuf::io::CodedInputStream in(&raw);
  in.SetTotalBytesLimit(INT_MAX);
  in.SetRecursionLimit(1024);
  bool ok = impl->proto.ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
  GRAFT_CHECK(ok, what, ": not a valid ONNX model (protobuf parsing failed: truncated or corrupted file)");
  index_model(*impl, std::move(base_dir), options);
  return impl;
}

void visit_nodes(const ::onnx::GraphProto& g, const std::function<void(const ::onnx::NodeProto&, int)>& f) {
  for (int k = 0; k < g.node_size(); ++k) {
    f(g.node(k), k);
    for (const auto& a : g.node(k).attribute()) {
      if (a.has_g()) visit_nodes(a.g(), f);
      for (const auto& sg : a.graphs()) visit_nodes(sg, f);
    }
  }
}

}  // namespace

Tensor Model::Impl::initializer(const std::string& name) const {
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = initializer_cache.find(name);
    if (it != initializer_cache.end()) return it->second;
  }
  auto it = initializer_index.find(name);
  GRAFT_CHECK(it != initializer_index.end(), source, ": no initializer named '", name, "'");
  const auto& t = proto.graph().initializer(it->second);
  Tensor v = tensor_from_proto(t, store.get(), source + ": initializer '" + name + "'");
  std::lock_guard<std::mutex> lock(mutex);
  initializer_cache[name] = v;
  return v;
}

Model Model::load(const fs::path& path, const LoadOptions& options) {
  std::error_code ec;
  GRAFT_CHECK(fs::exists(path, ec), "ONNX model ", path.string(), ": file does not exist");
  GRAFT_CHECK(!fs::is_directory(path, ec), "ONNX model ", path.string(), ": is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  GRAFT_CHECK(f.good(), "ONNX model ", path.string(), ": cannot open file");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  GRAFT_CHECK(!f.bad(), "ONNX model ", path.string(), ": read error");
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  return Model(parse(bytes, dir, path.string(), options));
}

Model Model::from_bytes(std::string_view bytes, fs::path base_dir, std::string what, const LoadOptions& options) {
  return Model(parse(bytes, std::move(base_dir), std::move(what), options));
}

Model model_from_impl(std::shared_ptr<Model::Impl> impl) { return Model(std::move(impl)); }

Model model_from_proto(::onnx::ModelProto proto, fs::path base_dir, std::string what) {
  auto impl = std::make_shared<Model::Impl>();
  impl->source = std::move(what);
  impl->proto = std::move(proto);
  index_model(*impl, std::move(base_dir), LoadOptions{});
  return model_from_impl(std::move(impl));
}

const std::string& Model::source() const { return impl_->source; }
const std::vector<ValueInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<ValueInfo>& Model::outputs() const { return impl_->outputs; }
const std::vector<OpsetImport>& Model::opsets() const { return impl_->opsets; }
int64_t Model::opset(std::string_view domain) const {
  auto it = impl_->opset_map.find(canonical_domain(std::string(domain)));
  return it == impl_->opset_map.end() ? 0 : it->second;
}
int64_t Model::ir_version() const { return impl_->proto.ir_version(); }
std::string Model::producer() const {
  std::string s = impl_->proto.producer_name();
  if (!impl_->proto.producer_version().empty()) s += " " + impl_->proto.producer_version();
  return s;
}
std::map<std::string, std::string> Model::metadata() const {
  std::map<std::string, std::string> m;
  for (const auto& kv : impl_->proto.metadata_props()) m[kv.key()] = kv.value();
  return m;
}

std::vector<std::string> Model::initializer_names() const {
  std::vector<std::string> names;
  for (const auto& t : impl_->proto.graph().initializer()) names.push_back(t.name());
  return names;
}

Tensor Model::initializer(const std::string& name) const { return impl_->initializer(name); }

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& t : impl_->proto.graph().initializer()) {
    auto d = dtype_from_onnx(t.data_type());
    if (d && is_floating(*d) && __builtin_add_overflow(n, proto_num_elements(t), &n)) return INT64_MAX;
  }
  return n;
}

std::vector<ExternalDataFile> Model::external_data_files() const {
  std::vector<ExternalDataFile> files;
  std::map<std::string, size_t> index;  // location -> position in files
  auto add = [&](const ::onnx::TensorProto& t) {
    if (t.data_location() != ::onnx::TensorProto::EXTERNAL) return;
    std::string location;
    uint64_t offset = 0, length = 0;
    if (auto d = dtype_from_onnx(t.data_type())) length = uint64_t(proto_num_elements(t)) * dtype_size(*d);
    for (const auto& kv : t.external_data()) {
      // Unparsable numbers are reported when the tensor is loaded; here they count as 0.
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::strtoull(kv.value().c_str(), nullptr, 10);
      else if (kv.key() == "length") length = std::strtoull(kv.value().c_str(), nullptr, 10);
    }
    if (location.empty()) return;
    auto [it, fresh] = index.try_emplace(location, files.size());
    if (fresh) {
      ExternalDataFile f;
      f.location = location;
      if (!impl_->base_dir.empty()) {
        f.path = impl_->base_dir / location;
        std::error_code ec;
        f.present = fs::is_regular_file(f.path, ec);
        if (f.present) f.size = fs::file_size(f.path, ec);
      }
      files.push_back(f);
    }
    ExternalDataFile& f = files[it->second];
    f.tensors += 1;
    f.bytes_needed = std::max(f.bytes_needed, offset + length);
  };
  std::function<void(const ::onnx::GraphProto&)> visit = [&](const ::onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) add(t);
    for (const auto& n : g.node())
      for (const auto& a : n.attribute()) {
        if (a.has_g()) visit(a.g());
        for (const auto& sg : a.graphs()) visit(sg);
      }
  };
  visit(impl_->proto.graph());
  return files;
}

std::map<std::string, int> Model::op_histogram() const {
  std::map<std::string, int> h;
  visit_nodes(impl_->proto.graph(), [&](const ::onnx::NodeProto& n, int) {
    std::string d = canonical_domain(n.domain());
    h[(d.empty() ? "" : d + "::") + n.op_type()]++;
  });
  return h;
}

std::vector<UnsupportedOp> Model::unsupported_ops() const {
  std::map<std::pair<std::string, std::string>, UnsupportedOp> found;
  const Registry& reg = Registry::get();
  visit_nodes(impl_->proto.graph(), [&](const ::onnx::NodeProto& n, int k) {
    std::string d = canonical_domain(n.domain());
    if (impl_->functions.count(d + ":" + n.op_type())) return;  // model-local function
    auto it = impl_->opset_map.find(d);
    int64_t v = it == impl_->opset_map.end() ? 0 : it->second;
    if (v > 0 && reg.find(d, n.op_type(), v)) return;
    auto& u = found[{d, n.op_type()}];
    u.domain = d;
    u.op_type = n.op_type();
    u.opset = v;
    u.nodes.push_back(node_label(n, k));
  });
  std::vector<UnsupportedOp> out;
  for (auto& [k, u] : found) out.push_back(std::move(u));
  return out;
}

std::set<std::string> Model::inputs_of(std::string_view op_type, std::initializer_list<int> positions) const {
  std::set<std::string> names;
  visit_nodes(impl_->proto.graph(), [&](const ::onnx::NodeProto& n, int) {
    if (!canonical_domain(n.domain()).empty() || n.op_type() != op_type) return;
    for (int i : positions)
      if (i < n.input_size() && !n.input(i).empty()) names.insert(n.input(i));
  });
  return names;
}

std::string Model::serialize() const {
  std::string s;
  GRAFT_CHECK(impl_->proto.SerializeToString(&s), impl_->source, ": cannot serialize the model");
  return s;
}

std::map<std::string, Node> Model::call(Graph& graph, const std::map<std::string, Node>& inputs,
                                        const std::vector<std::string>& output_names,
                                        const TraceOptions& options) const {
  return trace(graph, inputs, output_names, options).outputs;
}

}  // namespace graft::onnx
