#pragma once
// ONNX Runtime as a test reference: runs a model file under onnxruntime-node (bench/ort/run_model.js) and
// returns its outputs as tensors (float32, int32, int64 or uint8/int8 as ORT typed them). Tests skip with a
// note when node or the package is missing.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "graft/core/tensor.h"

namespace graft::onnx::testing {

inline bool ort_available() {
  static int state = -1;
  if (state < 0) {
    std::filesystem::path dir = std::filesystem::path(GRAFT_SOURCE_DIR) / "bench" / "ort";
    state = std::filesystem::exists(dir / "node_modules" / "onnxruntime-node") &&
            std::system("node --version > /dev/null 2>&1") == 0;
  }
  return state == 1;
}

#define GRAFT_REQUIRE_ORT()                                                                                   \
  if (!::graft::onnx::testing::ort_available())                                                               \
  GTEST_SKIP() << "ONNX Runtime comparison skipped: node or bench/ort/node_modules/onnxruntime-node missing " \
                  "(cd bench/ort && npm install --no-audit --no-fund --ignore-scripts)"

inline std::map<std::string, Tensor> run_ort(const std::filesystem::path& model,
                                             const std::map<std::string, Tensor>& inputs) {
  using json = nlohmann::json;
  json in = json::object();
  for (const auto& [name, t] : inputs)
    in[name] = {{"dims", t.shape().dims()}, {"data", t.to_vector<double>()}, {"type", std::string(dtype_name(t.dtype()))}};
  std::filesystem::path in_file = model.string() + ".inputs.json", err_file = model.string() + ".stderr";
  {
    std::ofstream f(in_file);
    f << in.dump();
  }
  std::string cmd = "node '" + (std::filesystem::path(GRAFT_SOURCE_DIR) / "bench" / "ort" / "run_model.js").string() +
                    "' '" + model.string() + "' @'" + in_file.string() + "' 2>'" + err_file.string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string text;
  char buf[65536];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  if (pclose(pipe) != 0) {
    std::ifstream err(err_file);
    std::string e((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    throw std::runtime_error("onnxruntime failed on " + model.string() + ": " + text + e);
  }
  std::map<std::string, Tensor> out;
  json result = json::parse(text);  // kept alive: items() refers into it
  for (auto& [name, v] : result.items()) {
    Shape shape(v["dims"].get<std::vector<int64_t>>());
    std::string type = v["type"];
    std::vector<double> data;
    for (auto& x : v["data"]) data.push_back(x.is_string() ? NAN : x.get<double>());
    DType d = type == "int32" ? DType::I32 : type == "int64" ? DType::I64 : type == "uint8" ? DType::U8
            : type == "int8" ? DType::I8 : DType::F32;
    out[name] = Tensor::from_vector(data, shape).cast(d);
  }
  return out;
}

}  // namespace graft::onnx::testing
