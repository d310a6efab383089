// The built-in fine-tuning demo: model, tokenizer and data written by graft (graft/app/demo.h).
#include "graft/app/demo.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

#include "graft/app/sentence_embedder.h"
#include "graft/graph/ops.h"
#include "graft/onnx/export.h"
#include "graft/onnx/writeback.h"

namespace graft::app {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kLabels = {"sports", "food", "weather"};
const std::vector<std::vector<std::string>> kTopicWords = {
    {"team", "goal", "match", "player", "coach", "score", "league", "stadium", "referee", "season", "tournament", "fans"},
    {"recipe", "soup", "bread", "cheese", "dinner", "spicy", "chef", "kitchen", "baked", "flavor", "salad", "dessert"},
    {"rain", "storm", "sunny", "forecast", "cloud", "wind", "snow", "temperature", "cold", "humid", "thunder", "fog"},
};
const std::vector<std::string> kFillers = {"the", "a", "today", "was", "very", "we", "i", "think", "this", "really",
                                           "and", "about", "new", "big", "after", "before", "with", "of", "in", "it",
                                           "is", "so", "what", "all", "my", "our", "last", "night", "good", "bad"};

std::vector<std::string> vocabulary() {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
  for (const auto& t : kTopicWords) v.insert(v.end(), t.begin(), t.end());
  v.insert(v.end(), kFillers.begin(), kFillers.end());
  return v;
}

std::string tokenizer_json(const std::vector<std::string>& vocab) {
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (size_t i = 0; i < 4; ++i)
    added.push_back({{"id", i}, {"content", vocab[i]}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  nlohmann::ordered_json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "Lowercase"}}},
      {"pre_tokenizer", {{"type", "Whitespace"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"decoder", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", v}, {"unk_token", "[UNK]"}}},
  };
  return j.dump(1) + "\n";
}

// A sentence about topic `t`: 2-4 of its words among fillers, sometimes one word of another topic.
std::string sentence(std::mt19937_64& rng, size_t t) {
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> words;
  size_t topical = 2 + rng() % 3, fillers = 3 + rng() % 5;
  for (size_t i = 0; i < topical; ++i) words.push_back(pick(kTopicWords[t]));
  for (size_t i = 0; i < fillers; ++i) words.push_back(pick(kFillers));
  if (rng() % 4 == 0) words.push_back(pick(kTopicWords[(t + 1 + rng() % 2) % 3]));
  for (size_t i = words.size() - 1; i > 0; --i) std::swap(words[i], words[rng() % (i + 1)]);
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
  return s + (rng() % 3 == 0 ? "!" : ".");
}

std::string dataset_csv(std::mt19937_64& rng, size_t rows) {
  std::string csv = "text,label\n";
  for (size_t i = 0; i < rows; ++i) {
    size_t t = rng() % kLabels.size();
    csv += "\"" + sentence(rng, t) + "\"," + kLabels[t] + "\n";
  }
  return csv;
}

Tensor random_normal(std::mt19937_64& rng, Shape shape, double stddev) {
  std::vector<float> v(size_t(shape.size()));
  for (float& x : v) {
    double u1 = (double(rng() >> 11) + 1.0) / 9007199254740993.0, u2 = double(rng() >> 11) / 9007199254740992.0;
    x = float(stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2));
  }
  return Tensor::from_vector(v, shape);
}

// The encoder: token embeddings, layer norm, a residual tanh MLP, layer norm: last_hidden_state [B, T, 32].
// No attention (so nothing in it depends on the sequence length, and its ONNX export has dynamic axes);
// the fine-tuned model pools its token states under the attention mask.
void write_encoder(const fs::path& path, int64_t vocab, std::mt19937_64& rng) {
  const int64_t D = 32, F = 64, B = 2, T = 8;
  Graph g("graft_demo_encoder");
  Node ids = g.parameter("input_ids", DType::I64, {B, T});
  g.parameter("attention_mask", DType::I64, {B, T});  // read by the pooling that fine-tuning appends
  std::map<std::string, Tensor> w = {
      {"embeddings.weight", random_normal(rng, {vocab, D}, 1.0)},
      {"norm1.weight", Tensor::full(DType::F32, {D}, 1.0)},
      {"norm1.bias", Tensor::zeros(DType::F32, {D})},
      {"mlp.in.weight", random_normal(rng, {D, F}, 1.0 / std::sqrt(double(D)))},
      {"mlp.in.bias", Tensor::zeros(DType::F32, {F})},
      {"mlp.out.weight", random_normal(rng, {F, D}, 1.0 / std::sqrt(double(F)))},
      {"mlp.out.bias", Tensor::zeros(DType::F32, {D})},
      {"norm2.weight", Tensor::full(DType::F32, {D}, 1.0)},
      {"norm2.bias", Tensor::zeros(DType::F32, {D})},
  };
  std::map<std::string, Node> p;
  for (const auto& [name, t] : w) p[name] = g.parameter(name, t.dtype(), t.shape());
  Node h = LayerNorm(Take(p["embeddings.weight"], ids, 0), p["norm1.weight"], p["norm1.bias"]);
  h = h + (MatMul(Tanh(MatMul(h, p["mlp.in.weight"]) + p["mlp.in.bias"]), p["mlp.out.weight"]) + p["mlp.out.bias"]);
  g.set_outputs({LayerNorm(h, p["norm2.weight"], p["norm2.bias"])});
  onnx::ExportOptions options;
  options.opset = 17;
  options.output_names = {"last_hidden_state"};
  options.weights = w;
  options.producer_name = "graft demo";
  onnx::Model exported = onnx::export_graph(g, options);
  // Exported for [2, 8]; nothing in the graph depends on those extents, so declare them dynamic.
  onnx::ModelWriter writer(exported);
  for (const char* name : {"input_ids", "attention_mask"})
    writer.declare_input({name, DType::I64, {onnx::Dim{-1, "batch"}, onnx::Dim{-1, "sequence"}}});
  writer.set_outputs({{"last_hidden_state", DType::F32, {onnx::Dim{-1, "batch"}, onnx::Dim{-1, "sequence"}, onnx::Dim{D, ""}}}});
  writer.save(path);
}

}  // namespace

DemoFiles write_demo(const fs::path& dir, uint64_t seed) {
  fs::create_directories(dir);
  std::mt19937_64 rng(seed);
  DemoFiles f{dir / "model.onnx", dir / "tokenizer.json", dir / "train.csv", dir / "eval.csv", kLabels, {}};
  std::vector<std::string> vocab = vocabulary();
  write_text_file(f.tokenizer, tokenizer_json(vocab));
  write_encoder(f.model, int64_t(vocab.size()), rng);
  write_text_file(f.train, dataset_csv(rng, 600));
  write_text_file(f.eval, dataset_csv(rng, 150));
  f.examples = {"The referee stopped the match after the goal", "A spicy soup with fresh bread for dinner",
                "Thunder and heavy rain in the forecast tonight"};
  return f;
}

}  // namespace graft::app
