// quantize_model: picks the nodes to quantize, lets the form's rewriter replace them (rewrite.h), then
// removes the initializers nothing reads any more, fixes the opset imports and writes the model.
#include <regex>
#include <sstream>

#include "core/atomic_file.h"
#include "onnx/external_data_writer.h"
#include "onnx/graph_order.h"
#include "onnx/model_impl.h"
#include "onnx/quantize/rewrite.h"

namespace graft::onnx {

namespace {
using namespace quantize_impl;

const char* mode_name(QuantizeMode m) {
  return m == QuantizeMode::Dynamic ? "dynamic" : m == QuantizeMode::Static ? "static" : "weight-only";
}

void check_options(const QuantizeOptions& o) {
  if (o.mode == QuantizeMode::WeightOnly) {
    GRAFT_CHECK(o.weight_bits == 4 || o.weight_bits == 8, "quantize: weight-only bits must be 4 or 8, not ",
                o.weight_bits);
    GRAFT_CHECK(o.block_size >= 16 && (o.block_size & (o.block_size - 1)) == 0,
                "quantize: the block size must be a power of two >= 16 (MatMulNBits), not ", o.block_size);
  }
}

bool quantizable_op(const ::onnx::NodeProto& n, QuantizeMode mode) {
  if (!n.domain().empty()) return false;
  if (n.op_type() == "MatMul") return true;
  if (n.op_type() == "Gemm") return mode != QuantizeMode::WeightOnly;
  return n.op_type() == "Conv" && mode == QuantizeMode::Static;
}

void require_import(::onnx::ModelProto& m, const std::string& domain, int64_t version) {
  for (const auto& o : m.opset_import())
    if (o.domain() == domain) return;
  auto* o = m.add_opset_import();
  o->set_domain(domain);
  o->set_version(version);
}
}  // namespace

QuantizeReport quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                              const QuantizeOptions& options) {
  check_options(options);
  Model model = Model::load(in);
  const QuantizeMode mode = options.mode;
  // DynamicQuantizeLinear exists from opset 11, per-axis DequantizeLinear from 13. Raising a model's
  // opset is not done here: every other node would have to be checked against the newer schemas.
  int64_t need = mode == QuantizeMode::Dynamic ? 11 : mode == QuantizeMode::Static ? 13 : 1;
  GRAFT_CHECK(model.opset() >= need, "quantize ", in.string(), ": ", mode_name(mode), " quantization needs ai.onnx opset >= ",
              need, " (", mode == QuantizeMode::Dynamic ? "DynamicQuantizeLinear" : "per-axis DequantizeLinear",
              "); the model imports opset ", model.opset(), ". Convert it to a newer opset first");
  std::regex exclude;
  try {
    exclude = std::regex(options.exclude.empty() ? std::string("$^") : options.exclude);
  } catch (const std::regex_error& e) {
    GRAFT_CHECK(false, "quantize: --exclude \"", options.exclude, "\" is not a valid regular expression: ", e.what());
  }
  auto excluded = [&](const ::onnx::NodeProto& n) { return !options.exclude.empty() && std::regex_search(n.name(), exclude); };

  Rewrite rw(model, options);
  const ::onnx::GraphProto& graph = proto_of(model).graph();
  if (mode == QuantizeMode::Static) {
    std::set<std::string> activations;
    for (const auto& n : graph.node())
      if (!excluded(n))
        if (std::string a = qdq_activation(rw, n); !a.empty()) activations.insert(a);
    GRAFT_CHECK(!activations.empty(), "quantize ", in.string(),
                ": no quantizable op for static quantization (MatMul, Gemm, Conv with a constant float32 weight)");
    rw.ranges = calibrate(model, activations, options);
  }
  if (mode == QuantizeMode::WeightOnly && options.weight_bits == 4 && options.error_compensation) {
    // The activations' X^T X for error-compensated rounding (weight_only.cpp), over the given input sets
    // or, without any, over made-up ones (synthetic_calibration_sets).
    std::map<std::string, int64_t> activations;  // MatMul input A -> K
    for (const auto& n : graph.node())
      if (quantizable_op(n, mode) && n.op_type() == "MatMul" && n.input_size() == 2 && !excluded(n))
        if (std::optional<Tensor> w = rw.constant_float(n.input(1), 2)) activations[n.input(0)] = w->shape().dims()[0];
    if (!activations.empty()) {
      QuantizeOptions with_sets = options;
      if (with_sets.calibration.empty()) with_sets.calibration = synthetic_calibration_sets(model, 4096, 32);
      rw.grams = activation_grams(model, activations, with_sets);
    }
  }

  QuantizeReport report;
  for (const auto& n : graph.node()) {
    if (!quantizable_op(n, mode)) {
      rw.keep(n);
      continue;
    }
    std::string why = excluded(n) ? "excluded" : mode == QuantizeMode::Dynamic ? rewrite_dynamic(rw, n)
                                             : mode == QuantizeMode::Static  ? rewrite_qdq(rw, n)
                                                                             : rewrite_weight_only(rw, n);
    if (why.empty()) {
      report.quantized.push_back(n.name().empty() ? n.output(0) : n.name());
    } else {
      rw.keep(n);
      report.skipped.push_back(describe(n) + ": " + why);
    }
  }
  if (report.quantized.empty()) {
    std::ostringstream os;
    for (size_t i = 0; i < report.skipped.size() && i < 5; ++i) os << (i ? "; " : "") << report.skipped[i];
    GRAFT_CHECK(false, "quantize ", in.string(), ": no quantizable op for ", mode_name(mode), " quantization (",
               mode == QuantizeMode::WeightOnly ? "MatMul" : mode == QuantizeMode::Dynamic ? "MatMul, Gemm" : "MatMul, Gemm, Conv",
               " with a constant float32 weight)", report.skipped.empty() ? "" : ": ", os.str());
  }

  // The new model: nodes replaced, initializers added, the unread ones removed.
  ::onnx::ModelProto proto = proto_of(model);
  ::onnx::GraphProto& g = *proto.mutable_graph();
  g.mutable_node()->Swap(&rw.nodes());
  std::set<std::string> used, inputs;
  collect_names_read(g, used);
  for (const auto& v : g.input()) inputs.insert(v.name());
  auto* inits = g.mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i) {
    const std::string& name = inits->Get(i).name();
    if (used.count(name) || inputs.count(name)) continue;
    inits->DeleteSubrange(i, 1);
    ++report.removed_initializers;
  }
  std::set<std::string> initializer_names;
  for (const auto& t : g.initializer()) initializer_names.insert(t.name());
  std::set<std::string> produced;
  for (const auto& n : g.node()) produced.insert(n.output().begin(), n.output().end());
  auto* vinfo = g.mutable_value_info();  // declarations of values that no longer exist would mislead checkers
  for (int i = vinfo->size() - 1; i >= 0; --i) {
    const std::string& name = vinfo->Get(i).name();
    if (!used.count(name) && !initializer_names.count(name) && !produced.count(name)) vinfo->DeleteSubrange(i, 1);
  }
  if (mode == QuantizeMode::WeightOnly) require_import(proto, "com.microsoft", 1);

  // Initializer data: kept ones as they were (external ones read, then placed like new ones), new ones
  // from their values; ExternalDataOptions decides what goes to the data file.
  std::vector<InlineTensor> tensors;
  for (auto& t : *g.mutable_initializer()) {
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
      Tensor value = model.initializer(t.name());
      t.clear_external_data();
      t.clear_raw_data();
      t.set_data_location(::onnx::TensorProto::DEFAULT);
      tensors.push_back(InlineTensor{&t, value, false, {}});
    } else {
      tensors.push_back(InlineTensor{&t, {}, true, [&model, name = t.name()] { return model.initializer(name); }});
    }
  }
  for (const auto& [name, value] : rw.new_initializers()) {
    ::onnx::TensorProto& t = *g.add_initializer();
    t.set_name(name);
    t.set_data_type(dtype_to_onnx(value.dtype()));
    for (int64_t d : value.shape().dims()) t.add_dims(d);
    tensors.push_back(InlineTensor{&t, value, false, {}});
  }
  place_tensor_data(proto, tensors, out, options.data, "quantize");
  std::string bytes;
  GRAFT_CHECK(proto.SerializeToString(&bytes), "quantize: cannot serialize the model for ", out.string());
  write_file_atomically(out, [&](std::ostream& os) { os.write(bytes.data(), std::streamsize(bytes.size())); });
  return report;
}

}  // namespace graft::onnx
