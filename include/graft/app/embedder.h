#pragma once
// Sentence embeddings from an ONNX encoder: the model-folder layout of sentence-transformers repos on the
// Hub, pooling of token states into one vector per text, and batching by length to cut padding.
//
// This is the token-level half of the pipeline: callers hand it TokenizedText (ids, type ids, attention
// mask). graft/app/sentence_embedder.h adds the tokenizer and the Hub on top (texts in, vectors out).
//
//   auto src = graft::app::load_embedding_model("all-MiniLM-L6-v2/");   // a folder laid out like the Hub
//   graft::app::Embedder emb(src.model, {.pooling = src.pooling.mode, .normalize = src.normalize});
//   graft::Tensor vecs = emb.embed(tokenized);   // float32 [N, hidden], rows in input order
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graft/app/encode.h"
#include "graft/app/model_source.h"
#include "graft/core/tensor.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"

namespace graft::app {

using onnx::Model;
using onnx::SessionOptions;
using onnx::InferenceSession;
using onnx::ValueInfo;

// How token states become one vector (sentence-transformers' Pooling module).
enum class Pooling {
  Mean,         // mean over tokens whose attention mask is 1 (the default)
  Cls,          // the first token
  Max,          // element-wise max over unmasked tokens
  MeanSqrtLen,  // sum over unmasked tokens / sqrt(count)
  LastToken,    // the last unmasked token
};
const char* to_string(Pooling p);  // "mean", "cls", "max", "mean_sqrt_len", "lasttoken"
Pooling parse_pooling(std::string_view name);  // the names above; throws on anything else

struct PoolingConfig {
  Pooling mode = Pooling::Mean;
  int64_t dimension = 0;  // word_embedding_dimension when given (0: unknown)
};
// Parses a sentence-transformers 1_Pooling/config.json. Exactly one pooling_mode_* key may be true
// (several at once means concatenated vectors, which is refused); none true means mean.
PoolingConfig parse_pooling_config(std::string_view json, const std::string& what = "pooling config");

// ---- model folder -------------------------------------------------------------------------------------

// A sentence-embedding model resolved from a Hub-like layout:
//   onnx/model.onnx, else model.onnx          the encoder (external-data files next to it are fetched too)
//   tokenizer.json                            (required; the caller loads it)
//   modules.json                              (optional) names the Pooling folder and a Normalize module
//   1_Pooling/config.json                     (optional; the folder modules.json names) pooling mode
//   sentence_bert_config.json                 (optional) max_seq_length
//   config.json, tokenizer_config.json        (optional) max_position_embeddings, model_max_length
struct EmbeddingModel {
  Model model;
  std::filesystem::path model_path;
  std::filesystem::path tokenizer_path;
  PoolingConfig pooling;
  std::optional<std::filesystem::path> pooling_config_path;  // where `pooling` came from, if anywhere
  bool normalize = false;                // modules.json lists a Normalize module
  std::optional<size_t> max_seq_length;  // from sentence_bert_config.json
  // The most tokens the encoder takes: config.json's max_position_embeddings, else the rows of its
  // position-embedding table (an initializer named *position_embeddings*), lowered to tokenizer_config.json's
  // model_max_length when that is smaller; unset when none is known. `max_positions_source` says which.
  std::optional<size_t> max_positions;
  std::string max_positions_source;
};

// Files are read through `source` (a local folder or a Hub repo, graft/app/model_source.h); `load` applies
// to the ONNX model (LoadOptions::allow_external_symlinks).
EmbeddingModel load_embedding_model(const ModelSource& source, const onnx::LoadOptions& load = {});
// `what` names the source in error messages ("folder /x/y", "Hub repo org/name@main").
EmbeddingModel load_embedding_model(const RepoFileFetcher& fetch, const std::string& what);
// A local folder laid out like the Hub repository.
EmbeddingModel load_embedding_model(const std::filesystem::path& folder);

// ---- batching and pooling -----------------------------------------------------------------------------

// Groups item indices into batches of at most `batch_size`, longest first (ties keep input order), so that
// each batch pads to a similar length. Every index appears exactly once.
std::vector<std::vector<size_t>> plan_batches(const std::vector<size_t>& lengths, size_t batch_size);

// Pools float token states [B, T, H] under an attention mask [B, T] (any numeric dtype; nonzero = token)
// into float32 [B, H]. A row without any unmasked token pools to zeros (Mean, MeanSqrtLen, Max,
// LastToken) or to token 0 (Cls).
Tensor pool_tokens(const Tensor& token_states, const Tensor& attention_mask, Pooling mode);
// Each row of a float32 [N, H] tensor divided by max(L2 norm, 1e-12), as torch.nn.functional.normalize.
Tensor l2_normalize_rows(const Tensor& x);

struct EmbedderOptions {
  Pooling pooling = Pooling::Mean;
  bool normalize = false;
  size_t batch_size = 32;
  PadSpec pad;  // what padding positions hold (masked out, so any id works) and on which side
  // The model output holding token states; empty: last_hidden_state, token_embeddings, else the first
  // output. An output of rank 2 is taken as already pooled.
  std::string output_name;
  SessionOptions session;
};

// Runs an encoder over tokenized texts: sorts them by length, pads each batch to its longest text, feeds
// input_ids, attention_mask, token_type_ids (only those the model declares; position_ids as 0..T-1 when
// declared), pools and optionally normalizes. Other required inputs are an error naming them.
class Embedder {
 public:
  explicit Embedder(Model model, EmbedderOptions options = {});

  // float32 [N, H], row i for inputs[i]. N == 0 gives [0, dimension_hint].
  Tensor embed(const std::vector<TokenizedText>& inputs);

  const EmbedderOptions& options() const { return options_; }
  const std::string& output_name() const { return output_; }
  bool feeds_token_type_ids() const { return has_types_; }
  const InferenceSession& session() const { return session_; }
  void set_dimension_hint(int64_t d) { dimension_hint_ = d; }

 private:
  EmbedderOptions options_;
  InferenceSession session_;
  std::string output_;
  std::string ids_name_ = "input_ids";
  bool has_mask_ = false, has_types_ = false, has_positions_ = false;
  int64_t dimension_hint_ = 0;
};

}  // namespace graft::app
