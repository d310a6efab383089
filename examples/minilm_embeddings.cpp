// all-MiniLM-L6-v2 token embeddings: load the ONNX model, make its weights context variables, call it
// on two tokenized sentences, print `Embeddings: [2][7][384]float32{...}`.
//
//   minilm_embeddings [MODEL]
//
// MODEL is a .onnx file or a folder holding one (minilm_l6_opset14.onnx, onnx/model.onnx or model.onnx).
// Without it the example looks for build/minilm_l6 (run from the repository root), which the shared test
// models' script creates:
//
//   /usr/bin/python3 ../shared/models/materialize.py build     # writes build/minilm_l6/
//
// The token ids come from input_ids.npy / attention_mask.npy / token_type_ids.npy next to the model when
// present, else from the ids hard-coded below (the same ones: "This is an example sentence" and "Each
// sentence is converted", padded to 7). For text in, embeddings out, see `graft embed` (docs/cli.md).
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/onnx/model.h"
#include "graft/context/context.h"
#include "graft/train/onnx_bridge.h"

namespace fs = std::filesystem;

namespace {

const char* kDefaultFolder = "build/minilm_l6";

// The .onnx file of `arg` (a file, or the first model found in a folder); empty when there is none.
fs::path find_model(const fs::path& arg) {
  if (fs::is_regular_file(arg)) return arg;
  if (!fs::is_directory(arg)) return {};
  for (const char* name : {"minilm_l6_opset14.onnx", "onnx/model.onnx", "model.onnx"})
    if (fs::is_regular_file(arg / name)) return arg / name;
  for (const auto& e : fs::directory_iterator(arg))
    if (e.path().extension() == ".onnx") return e.path();
  return {};
}

std::map<std::string, graft::Tensor> example_inputs(const fs::path& folder) {
  std::map<std::string, graft::Tensor> in;
  const char* names[] = {"input_ids", "attention_mask", "token_type_ids"};
  bool have_npy = true;
  for (const char* n : names) have_npy = have_npy && fs::is_regular_file(folder / (std::string(n) + ".npy"));
  if (have_npy) {
    for (const char* n : names) in[n] = graft::read_npy(folder / (std::string(n) + ".npy"));
    return in;
  }
  in["input_ids"] = graft::Tensor::from_vector<int64_t>(
      {101, 2023, 2003, 2019, 2742, 6251, 102,  //
       101, 2169, 6251, 2003, 4991, 102, 0},
      graft::Shape{2, 7});
  in["attention_mask"] = graft::Tensor::from_vector<int64_t>(
      {1, 1, 1, 1, 1, 1, 1,  //
       1, 1, 1, 1, 1, 1, 0},
      graft::Shape{2, 7});
  in["token_type_ids"] = graft::Tensor::zeros(graft::DType::I64, graft::Shape{2, 7});
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
    std::cout << "usage: " << argv[0] << " [MODEL.onnx | MODEL_FOLDER]   (default: " << kDefaultFolder << ")\n";
    return argc > 2 ? 2 : 0;
  }
  fs::path arg = argc == 2 ? fs::path(argv[1]) : fs::path(kDefaultFolder);
  fs::path model_path = find_model(arg);
  if (model_path.empty()) {
    if (argc == 2) {
      std::cerr << "minilm_embeddings: no .onnx model at " << arg << "\n";
      return 1;
    }
    std::cout << "No model given and none at " << kDefaultFolder << ".\n"
              << "Create it from the repository root with:\n"
              << "  /usr/bin/python3 ../shared/models/materialize.py build\n"
              << "or pass a model: " << argv[0] << " PATH/TO/model.onnx\n";
    return 0;
  }
  try {
    // Load the model, make its weights variables of a Context, and call it inside a graph built by a
    // ContextExec (which compiles it once per input signature and feeds the variables).
    graft::onnx::Model model = graft::onnx::Model::load(model_path);
    graft::Context ctx;
    graft::train::variables_to_context(model, ctx);
    auto inputs = example_inputs(model_path.parent_path());
    // Feed only what the model declares (some exports have no token_type_ids).
    std::vector<std::string> names;
    std::vector<graft::Tensor> feed;
    for (const auto& in : model.inputs()) {
      auto it = inputs.find(in.name);
      if (it == inputs.end()) {
        std::cerr << "minilm_embeddings: the model wants input '" << in.name << "', which this example lacks\n";
        return 1;
      }
      names.push_back(in.name);
      feed.push_back(in.dtype ? it->second.cast(*in.dtype) : it->second);
    }
    std::string output = model.outputs().front().name;
    for (const auto& o : model.outputs())
      if (o.name == "last_hidden_state") output = o.name;
    graft::ContextExec embed(ctx, [&](graft::GraphVariables& vars, const std::vector<graft::Node>& in) {
      std::map<std::string, graft::Node> bound;
      for (size_t i = 0; i < names.size(); ++i) bound[names[i]] = in[i];
      return std::vector<graft::Node>{graft::train::call_with_variables(model, vars, bound, {output}).at(output)};
    });
    graft::Tensor embeddings = embed.call(feed).at(0);
    std::cout << "Embeddings: " << embeddings.str() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "minilm_embeddings: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
