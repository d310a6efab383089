#pragma once
// Texts in, sentence embeddings out, as sentence-transformers computes them: the model files from a local
// folder or the Hub (graft/app/model_source.h), the tokenizer from its tokenizer.json, the encoder run
// batched by length (graft/app/embedder.h), pooled and optionally normalized.
//
//   auto emb = graft::app::SentenceEmbedder::load("sentence-transformers/all-MiniLM-L6-v2");
//   graft::Tensor v = emb.embed({"A sentence.", "Another one."});   // float32 [2, 384]
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "graft/app/embedder.h"
#include "graft/app/model_source.h"
#include "graft/text/tokenizer.h"

namespace graft::app {

struct SentenceEmbedderOptions {
  std::string revision = "main";   // of a Hub repo
  std::optional<Pooling> pooling;  // overrides the model's pooling config
  bool normalize = false;          // L2-normalize (also done when modules.json lists a Normalize module)
  size_t batch_size = 32;          // texts per model run (at least 1)
  // Truncation length in tokens, at least 1 and at most what the model takes. Unset, as
  // sentence-transformers does: sentence_bert_config.json's max_seq_length, else the model's position
  // limit (EmbeddingModel::max_positions), else tokenizer.json's own truncation.
  std::optional<size_t> max_length;
  // The model output to read; empty: last_hidden_state, token_embeddings, else the first (EmbedderOptions).
  // An output of rank 2 is taken as one row per text (a pooled embedding, or a classifier's logits).
  std::string output_name;
  SessionOptions session;    // backend, threads, ...
  onnx::LoadOptions load;    // how the ONNX model is loaded (symlinked external data)
};

class SentenceEmbedder {
 public:
  // `model`: a local folder laid out like a Hub repo, or a Hub repo id (open_model_source).
  static SentenceEmbedder load(const std::string& model, SentenceEmbedderOptions options = {});
  SentenceEmbedder(EmbeddingModel model, SentenceEmbedderOptions options = {});

  // float32 [texts, hidden], row i for texts[i]. A text that is not valid UTF-8 is an error naming it
  // ("text 2: ...", counted from 1). Bad option values (max_length 0 or past the model's positions,
  // batch_size 0) are app::UsageErrors, thrown by the constructor.
  Tensor embed(const std::vector<std::string>& texts);

  const EmbeddingModel& model() const { return model_; }
  const text::Tokenizer& tokenizer() const { return tokenizer_; }
  const Embedder& embedder() const { return embedder_; }

 private:
  struct Prepared;
  explicit SentenceEmbedder(Prepared prepared);
  EmbeddingModel model_;
  text::Tokenizer tokenizer_;
  Embedder embedder_;
};

// Embeddings [N, H] as a JSON array with one array of floats per row, each float in the shortest form that
// reads back as the same float32 (NaN and Inf, which JSON lacks, as null).
std::string embeddings_to_json(const Tensor& embeddings);

// Writes text to `path` atomically (a temporary file in the same folder, renamed over it).
void write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace graft::app
