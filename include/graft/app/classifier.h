#pragma once
// Text classification with a model folder `graft finetune --task classify` wrote (model.onnx with a
// `logits` output, tokenizer.json, labels.json, sentence_bert_config.json), or any folder laid out that way.
//
//   auto c = graft::app::TextClassifier::load("OUT");
//   auto p = c.classify({"what a great film"});   // p[0].label, p[0].probabilities (labels() order)
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "graft/app/sentence_embedder.h"

namespace graft::app {

struct Classification {
  size_t label = 0;                  // index into TextClassifier::labels()
  std::vector<double> probabilities;  // softmax of the logits, in labels() order
  std::vector<float> logits;
};

struct TextClassifierOptions {
  size_t batch_size = 32;
  std::optional<size_t> max_length;  // default: sentence_bert_config.json's max_seq_length
  SessionOptions session;
  onnx::LoadOptions load;
};

class TextClassifier {
 public:
  // `model`: a folder (or Hub repo) holding model.onnx (or onnx/model.onnx), tokenizer.json and labels.json.
  static TextClassifier load(const std::string& model, TextClassifierOptions options = {});

  // A text that is not valid UTF-8 is an error naming it ("text 2: ...").
  std::vector<Classification> classify(const std::vector<std::string>& texts);
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  TextClassifier(std::unique_ptr<SentenceEmbedder> logits, std::vector<std::string> labels);
  std::unique_ptr<SentenceEmbedder> logits_;  // reads the `logits` output: one row per text
  std::vector<std::string> labels_;
};

// One JSON object per classification: {"text": ..., "label": ..., "probabilities": {label: p, ...}}.
std::string classification_json(const std::string& text, const Classification& c, const std::vector<std::string>& labels);

}  // namespace graft::app
