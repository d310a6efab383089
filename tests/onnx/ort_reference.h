#pragma once
// ONNX Runtime as the independent reference of the ONNX tests: runs a model file through
// bench/ort/run_model.js (npm onnxruntime-node; tests skip with a note when node or the package is missing).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "onnx_test_util.h"

namespace graft::onnx::testing {

inline std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out(size_t(t.shape().size()));
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.raw());
    for (size_t i = 0; i < out.size(); ++i) out[i] = double(to_compute(p[i]));
  });
  return out;
}

inline bool ort_available() {
  static int state = -1;
  if (state < 0) {
    std::filesystem::path dir = std::filesystem::path(GRAFT_SOURCE_DIR) / "bench" / "ort";
    state = std::filesystem::exists(dir / "node_modules" / "onnxruntime-node") && std::system("node --version > /dev/null 2>&1") == 0;
    if (!state)
      std::printf("[ note ] ONNX Runtime comparisons skipped: node or bench/ort/node_modules/onnxruntime-node missing "
                  "(npm install --ignore-scripts in bench/ort)\n");
  }
  return state == 1;
}

inline nlohmann::json ort_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

// Runs `model` under ONNX Runtime; outputs by name as (dtype, shape, values).
struct OrtOut {
  DType dtype;
  Shape shape;
  std::vector<double> data;
};
inline std::map<std::string, OrtOut> run_ort(const std::filesystem::path& model, const std::map<std::string, Tensor>& inputs) {
  nlohmann::json in = nlohmann::json::object();
  for (const auto& [name, t] : inputs) {
    nlohmann::json data = nlohmann::json::array();
    for (double v : to_doubles(t)) data.push_back(ort_number(v));
    in[name] = {{"dims", t.shape().dims()}, {"data", data}, {"type", std::string(dtype_name(t.dtype()))}};
  }
  std::filesystem::path in_file = model.string() + ".inputs.json";
  write_file(in_file, in.dump());
  std::filesystem::path err_file = model.string() + ".stderr";
  std::string cmd = "node " + (std::filesystem::path(GRAFT_SOURCE_DIR) / "bench" / "ort" / "run_model.js").string() + " '" +
                    model.string() + "' @'" + in_file.string() + "' 2>'" + err_file.string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string text;
  char buf[65536];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  int rc = pclose(pipe);
  if (rc != 0) {
    std::ifstream err(err_file);
    std::string e((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    throw std::runtime_error("onnxruntime failed on " + model.string() + ": " + text + e);
  }
  nlohmann::json j = nlohmann::json::parse(text);
  std::map<std::string, OrtOut> out;
  for (auto& [name, v] : j.items()) {
    OrtOut o{dtype_from_name(v["type"].get<std::string>()), Shape(v["dims"].get<std::vector<int64_t>>()), {}};
    for (auto& x : v["data"]) {
      if (x.is_string()) {
        std::string s = x.get<std::string>();
        o.data.push_back(s == "NaN" ? NAN : s == "Infinity" ? INFINITY : -INFINITY);
      } else {
        o.data.push_back(x.get<double>());
      }
    }
    out[name] = std::move(o);
  }
  return out;
}

}  // namespace graft::onnx::testing
