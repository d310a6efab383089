#pragma once
// The embedded default of `graft finetune --demo` (and the README's first command): a small text encoder
// that graft builds with its own graph API and exports as ONNX, its tokenizer, and a generated topic
// classification dataset, all written to a folder. No network, no third-party data.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace graft::app {

struct DemoFiles {
  std::filesystem::path model;      // model.onnx: input_ids, attention_mask [batch, sequence] -> last_hidden_state
  std::filesystem::path tokenizer;  // tokenizer.json: WordLevel, lowercase, whitespace split, [CLS] ... [SEP]
  std::filesystem::path train, eval;  // train.csv, eval.csv: text,label (sports, food, weather)
  std::vector<std::string> labels;
  std::vector<std::string> examples;  // a few new texts to classify afterwards
};

// Writes the demo files into `dir` (created when missing). The same seed writes the same bytes.
DemoFiles write_demo(const std::filesystem::path& dir, uint64_t seed = 1);

}  // namespace graft::app
