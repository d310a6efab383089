// Calibration: the fp32 model, with the activations to be quantized made graph outputs, runs in graft over
// the input sets. Static quantization records each activation's range; weight-only int4 the Gram matrix
// X^T X of each MatMul's activation (computed by the probe model itself, so oneDNN does the products).
#include <algorithm>
#include <cmath>
#include <random>

#include "graft/onnx/session.h"
#include "onnx/model_impl.h"
#include "onnx/quantize/rewrite.h"

namespace graft::onnx {

std::vector<CalibrationSet> calibration_sets_from_dir(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  GRAFT_CHECK(fs::is_directory(dir), "calibration: ", dir.string(), " is not a folder");
  std::vector<fs::path> folders;
  bool npy_here = false;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) folders.push_back(e.path());
    else if (e.path().extension() == ".npy") npy_here = true;
  }
  GRAFT_CHECK(!(npy_here && !folders.empty()), "calibration: ", dir.string(),
              " holds both .npy files and sub-folders; put every input set in a sub-folder of its own");
  if (folders.empty()) folders.push_back(dir);
  std::sort(folders.begin(), folders.end());
  std::vector<CalibrationSet> sets;
  for (const fs::path& f : folders) {
    CalibrationSet set{f.string(), {}};
    for (const auto& e : fs::directory_iterator(f))
      if (e.path().extension() == ".npy") set.inputs[e.path().stem().string()] = read_npy(e.path());
    GRAFT_CHECK(!set.inputs.empty(), "calibration: ", f.string(), " holds no .npy input file");
    sets.push_back(std::move(set));
  }
  return sets;
}

namespace quantize_impl {

namespace {
// Checks a set against the model's declared inputs: every input present, with its dtype and rank and
// fixed extents; names unknown to the model are errors too (a misspelt file would silently be ignored).
void check_set(const Model& model, const CalibrationSet& set) {
  for (const ValueInfo& in : model.inputs()) {
    auto it = set.inputs.find(in.name);
    GRAFT_CHECK(it != set.inputs.end(), "calibration set ", set.source, ": no value for the model's input \"",
                in.name, "\" (", in.str(), "; expected ", in.name, ".npy)");
    const Tensor& t = it->second;
    GRAFT_CHECK(!in.dtype || *in.dtype == t.dtype(), "calibration set ", set.source, ": ", in.name, ".npy is ",
                dtype_name(t.dtype()), t.shape(), ", the model's input is ", in.str());
    if (in.dims) {
      bool fits = int64_t(in.dims->size()) == t.shape().rank();
      for (size_t d = 0; fits && d < in.dims->size(); ++d)
        fits = !(*in.dims)[d].is_fixed() || (*in.dims)[d].value == t.shape().dims()[d];
      GRAFT_CHECK(fits, "calibration set ", set.source, ": ", in.name, ".npy is ", dtype_name(t.dtype()), t.shape(),
                  ", the model's input is ", in.str());
    }
  }
  for (const auto& [name, t] : set.inputs) {
    bool known = false;
    for (const ValueInfo& in : model.inputs()) known = known || in.name == name;
    GRAFT_CHECK(known, "calibration set ", set.source, ": ", name, ".npy names no input of ", model.source());
  }
}

struct Observed {
  float lo = INFINITY, hi = -INFINITY;
  std::vector<float> values;  // kept for percentile calibration only
};

void observe(Observed& o, const Tensor& t, bool keep) {
  if (t.dtype() != DType::F32) return;  // only float activations are quantized
  const float* p = static_cast<const float*>(t.raw());
  for (int64_t i = 0; i < t.shape().size(); ++i) {
    if (!std::isfinite(p[i])) continue;
    o.lo = std::min(o.lo, p[i]);
    o.hi = std::max(o.hi, p[i]);
  }
  if (keep) o.values.insert(o.values.end(), p, p + t.shape().size());
}

// The q-th percentile (0..100) of `v` by the nearest rank below (v is reordered).
float percentile(std::vector<float>& v, double q) {
  size_t k = size_t(std::floor(q / 100.0 * double(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
  return v[k];
}
}  // namespace

std::map<std::string, Range> calibrate(const Model& model, const std::set<std::string>& values,
                                       const QuantizeOptions& options) {
  GRAFT_CHECK(!options.calibration.empty(), "quantize ", model.source(),
              ": static quantization needs calibration input sets (--calibration DIR)");
  GRAFT_CHECK(options.method != CalibrationMethod::Percentile || (options.percentile > 50 && options.percentile <= 100),
              "quantize: the calibration percentile must lie in (50, 100], not ", options.percentile);
  for (const CalibrationSet& set : options.calibration) check_set(model, set);

  // The model again, with every activation that is not a graph input as an extra output.
  ::onnx::ModelProto proto = proto_of(model);
  std::set<std::string> outputs;
  for (const auto& o : proto.graph().output()) outputs.insert(o.name());
  std::vector<std::string> wanted;
  for (const std::string& v : values) {
    bool is_input = false;
    for (const ValueInfo& in : model.inputs()) is_input = is_input || in.name == v;
    if (is_input) continue;
    wanted.push_back(v);
    if (!outputs.count(v)) proto.mutable_graph()->add_output()->set_name(v);
  }
  Model probe = model_from_proto(std::move(proto), model.impl()->base_dir, model.source() + " (calibration)");
  SessionOptions so;
  so.threads = options.threads;
  InferenceSession session(probe, so);

  bool keep = options.method == CalibrationMethod::Percentile;
  std::map<std::string, Observed> seen;
  for (const CalibrationSet& set : options.calibration) {
    auto out = wanted.empty() ? std::map<std::string, Tensor>{} : session.run(set.inputs, wanted);
    for (const std::string& v : values) {
      auto in = set.inputs.find(v);
      observe(seen[v], in != set.inputs.end() ? in->second : out.at(v), keep);
    }
  }
  std::map<std::string, Range> ranges;
  for (auto& [name, o] : seen) {
    if (!(o.lo <= o.hi)) continue;  // not float, or no finite value: left unquantized
    if (keep && !o.values.empty())
      ranges[name] = {percentile(o.values, 100.0 - options.percentile), percentile(o.values, options.percentile)};
    else
      ranges[name] = {o.lo, o.hi};
  }
  return ranges;
}

std::map<std::string, std::vector<double>> activation_grams(const Model& model,
                                                           const std::map<std::string, int64_t>& values,
                                                           const QuantizeOptions& options) {
  for (const CalibrationSet& set : options.calibration) check_set(model, set);
  // The model again, with X^T X of every activation X [..., K] (seen as [rows, K]) as an extra output.
  ::onnx::ModelProto proto = proto_of(model);
  ::onnx::GraphProto& g = *proto.mutable_graph();
  std::map<std::string, std::string> gram_of;  // activation -> output name
  int index = 0;
  for (const auto& [v, k] : values) {
    std::string p = "graft_calibration_gram_" + std::to_string(index++) + "_";
    ::onnx::TensorProto& shape = *g.add_initializer();
    shape.set_name(p + "shape");
    shape.set_data_type(::onnx::TensorProto::INT64);
    shape.add_dims(2);
    shape.add_int64_data(-1);
    shape.add_int64_data(k);
    auto node = [&](const char* op, std::vector<std::string> in, const std::string& out) -> ::onnx::NodeProto& {
      ::onnx::NodeProto& n = *g.add_node();
      n.set_op_type(op);
      n.set_name(out);
      for (auto& i : in) n.add_input(i);
      n.add_output(out);
      return n;
    };
    node("Reshape", {v, p + "shape"}, p + "rows");
    auto& t = node("Transpose", {p + "rows"}, p + "cols");
    auto* perm = t.add_attribute();
    perm->set_name("perm");
    perm->set_type(::onnx::AttributeProto::INTS);
    perm->add_ints(1);
    perm->add_ints(0);
    node("MatMul", {p + "cols", p + "rows"}, p + "gram");
    g.add_output()->set_name(p + "gram");
    gram_of[v] = p + "gram";
  }
  Model probe = model_from_proto(std::move(proto), model.impl()->base_dir, model.source() + " (calibration)");
  SessionOptions so;
  so.threads = options.threads;
  InferenceSession session(probe, so);
  std::vector<std::string> wanted;
  for (const auto& [v, out] : gram_of) wanted.push_back(out);
  std::map<std::string, std::vector<double>> grams;
  for (const CalibrationSet& set : options.calibration) {
    auto out = session.run(set.inputs, wanted);
    for (const auto& [v, name] : gram_of) {
      const Tensor& t = out.at(name);
      const float* p = static_cast<const float*>(t.raw());
      std::vector<double>& sum = grams[v];
      sum.resize(size_t(t.shape().size()));
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += double(p[i]);
    }
  }
  return grams;
}

std::vector<CalibrationSet> synthetic_calibration_sets(const Model& model, int64_t rows, int64_t extent) {
  // Integer inputs read by a Gather as indices into a constant table (token ids, token types) index its
  // rows; other integer inputs (attention masks) are ones; float inputs are standard normal. Enough sets
  // that X^T X is estimated from many more rows than it has columns: from a few rows the compensation
  // would fit their noise (a small MLP with 16 made-up rows for K = 64 came out worse than rounding to
  // nearest on real inputs). A set's rows: the first input's elements (token ids), or for a float input its
  // elements divided by the last extent (features).
  const ::onnx::GraphProto& g = proto_of(model).graph();
  std::map<std::string, int64_t> table_rows;
  for (const auto& n : g.node()) {
    if (n.op_type() != "Gather" || !n.domain().empty() || n.input_size() != 2) continue;
    int64_t axis = int_attr(n, "axis", 0);
    for (const auto& t : g.initializer())
      if (t.name() == n.input(0) && axis >= 0 && axis < t.dims_size()) {
        auto it = table_rows.find(n.input(1));
        table_rows[n.input(1)] = it == table_rows.end() ? t.dims(int(axis)) : std::min(it->second, t.dims(int(axis)));
      }
  }
  int64_t set_rows = 1;
  if (!model.inputs().empty() && model.inputs()[0].dims) {
    const ValueInfo& first = model.inputs()[0];
    for (const Dim& d : *first.dims) set_rows *= d.is_fixed() ? std::max<int64_t>(d.value, 1) : extent;
    if (first.dtype == DType::F32 && !first.dims->empty())
      set_rows /= std::max<int64_t>(first.dims->back().is_fixed() ? first.dims->back().value : extent, 1);
  }
  const int64_t count = std::clamp<int64_t>((rows + set_rows - 1) / std::max<int64_t>(set_rows, 1), 4, 256);
  std::mt19937_64 rng(20261206);
  std::vector<CalibrationSet> sets;
  for (int64_t s = 0; s < count; ++s) {
    CalibrationSet set{"synthetic input set " + std::to_string(s + 1), {}};
    for (const ValueInfo& in : model.inputs()) {
      GRAFT_CHECK(in.dtype && in.dims, "quantize ", model.source(), ": cannot make up calibration inputs for ",
                  in.str(), " (unknown type or rank); give input sets (--calibration DIR)");
      std::vector<int64_t> dims;
      for (const Dim& d : *in.dims) dims.push_back(d.is_fixed() ? d.value : extent);
      Shape shape(dims);
      DType dt = *in.dtype;
      Tensor t;
      if (dt == DType::F32) {
        std::normal_distribution<float> normal;
        std::vector<float> v(size_t(shape.size()));
        for (float& x : v) x = normal(rng);
        t = Tensor::from_vector(v, shape);
      } else if ((dt == DType::I64 || dt == DType::I32) && table_rows.count(in.name) && table_rows[in.name] > 0) {
        std::uniform_int_distribution<int64_t> index(0, table_rows[in.name] - 1);
        t = Tensor::zeros(dt, shape);
        for (int64_t i = 0; i < shape.size(); ++i) {
          if (dt == DType::I64) static_cast<int64_t*>(t.raw())[i] = index(rng);
          else static_cast<int32_t*>(t.raw())[i] = int32_t(index(rng));
        }
      } else {
        t = Tensor::full(dt, shape, 1.0);
      }
      set.inputs[in.name] = t;
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

}  // namespace quantize_impl
}  // namespace graft::onnx
