// Calibration for static quantization: the fp32 model, with the activations to be quantized made graph
// outputs, runs in graft over the input sets, and each activation's range is recorded.
#include <algorithm>
#include <cmath>

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

}  // namespace quantize_impl
}  // namespace graft::onnx
