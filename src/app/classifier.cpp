// Text classification with a fine-tuned model folder (graft/app/classifier.h).
#include "graft/app/classifier.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "graft/app/errors.h"
#include "graft/app/model_source.h"

namespace graft::app {

using json = nlohmann::json;

namespace {
std::vector<std::string> read_labels(const ModelSource& src) {
  auto path = src.fetch("labels.json");
  GRAFT_CHECK(path, src.what, ": no labels.json (the label names in logit order, which graft finetune writes)",
              src.missing_reason("labels.json"));
  std::ifstream f(*path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  GRAFT_CHECK(j.is_array() && !j.empty() && std::all_of(j.begin(), j.end(), [](const json& v) { return v.is_string(); }),
              path->string(), ": expected a JSON array of label names");
  return j.get<std::vector<std::string>>();
}
}  // namespace

TextClassifier TextClassifier::load(const std::string& model, TextClassifierOptions o) {
  ModelSource src = open_model_source(model);
  std::vector<std::string> labels = read_labels(src);
  EmbeddingModel em = load_embedding_model(src, o.load);
  bool has_logits = std::any_of(em.model.outputs().begin(), em.model.outputs().end(),
                                [](const ValueInfo& v) { return v.name == "logits"; });
  GRAFT_CHECK(has_logits, em.model_path.string(), ": no output named 'logits' (a model from graft finetune --task classify has one)");
  SentenceEmbedderOptions so;
  so.batch_size = o.batch_size;
  so.max_length = o.max_length;
  so.session = o.session;
  so.output_name = "logits";
  return TextClassifier(std::make_unique<SentenceEmbedder>(std::move(em), so), std::move(labels));
}

TextClassifier::TextClassifier(std::unique_ptr<SentenceEmbedder> logits, std::vector<std::string> labels)
    : logits_(std::move(logits)), labels_(std::move(labels)) {}

std::vector<Classification> TextClassifier::classify(const std::vector<std::string>& texts) {
  Tensor logits = logits_->embed(texts);
  const int64_t n = logits.shape()[0], k = logits.rank() == 2 ? logits.shape()[1] : 0;
  GRAFT_CHECK(n == 0 || k == int64_t(labels_.size()), "the model gives ", k, " logits per text, labels.json names ",
              labels_.size(), " labels");
  std::vector<float> v = logits.to_vector<float>();
  std::vector<Classification> out;
  for (int64_t i = 0; i < n; ++i) {
    Classification c;
    c.logits.assign(v.begin() + i * k, v.begin() + (i + 1) * k);
    double top = *std::max_element(c.logits.begin(), c.logits.end()), sum = 0;
    for (float x : c.logits) sum += std::exp(double(x) - top);
    for (float x : c.logits) c.probabilities.push_back(std::exp(double(x) - top) / sum);
    c.label = size_t(std::max_element(c.logits.begin(), c.logits.end()) - c.logits.begin());
    out.push_back(std::move(c));
  }
  return out;
}

std::string classification_json(const std::string& text, const Classification& c, const std::vector<std::string>& labels) {
  nlohmann::ordered_json probs = nlohmann::ordered_json::object();  // in logit order
  for (size_t i = 0; i < labels.size(); ++i) probs[labels[i]] = c.probabilities[i];
  // Invalid UTF-8 never gets here (the tokenizer refuses it first); replace rather than throw regardless.
  nlohmann::ordered_json j{{"text", text}, {"label", labels[c.label]}, {"probabilities", probs}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace graft::app
