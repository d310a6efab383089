// Texts -> sentence embeddings: tokenizer + Embedder (graft/app/sentence_embedder.h).
#include "graft/app/sentence_embedder.h"

#include <charconv>
#include <cmath>

#include "core/atomic_file.h"
#include "graft/app/errors.h"

namespace graft::app {

namespace {

// The tokenizer as sentence-transformers drives it: truncation "longest_first" to one length, chosen as
// `max_length` if given, else sentence_bert_config.json's max_seq_length, else the most tokens the model
// takes (ST's min(max_position_embeddings, model_max_length)), else what tokenizer.json configures.
// Padding is the embedder's (each batch to its longest text), so the tokenizer's own is turned off; its
// pad id, type id and side are kept for the embedder.
text::Tokenizer pipeline_tokenizer(const EmbeddingModel& m, const SentenceEmbedderOptions& o, EmbedderOptions& eo) {
  if (o.max_length && *o.max_length == 0) usage_error("max length 0: it must be at least 1 token");
  if (o.max_length && m.max_positions && *o.max_length > *m.max_positions)
    usage_error("max length ", *o.max_length, " is more than this model takes: ", *m.max_positions, " tokens (",
                m.max_positions_source, ")");
  if (o.batch_size == 0) usage_error("batch size 0: it must be at least 1");
  text::Tokenizer tok = text::Tokenizer::from_file(m.tokenizer_path.string());
  std::optional<size_t> length = o.max_length ? o.max_length : m.max_seq_length ? m.max_seq_length : m.max_positions;
  if (length) {
    text::TruncationParams t;
    t.max_length = *length;
    t.strategy = text::TruncationStrategy::LongestFirst;
    if (tok.truncation()) t.direction = tok.truncation()->direction;
    tok.set_truncation(t);
  }
  eo.pad = pad_spec(tok);
  tok.set_padding(std::nullopt);
  return tok;
}

EmbedderOptions embedder_options(const EmbeddingModel& m, const SentenceEmbedderOptions& o) {
  EmbedderOptions eo;
  eo.pooling = o.pooling.value_or(m.pooling.mode);
  eo.normalize = o.normalize || m.normalize;
  eo.batch_size = o.batch_size;
  eo.session = o.session;
  eo.output_name = o.output_name;
  return eo;
}

}  // namespace

SentenceEmbedder SentenceEmbedder::load(const std::string& model, SentenceEmbedderOptions options) {
  ModelSource src = open_model_source(model, options.revision);
  return SentenceEmbedder(load_embedding_model(src, options.load), std::move(options));
}

struct SentenceEmbedder::Prepared {
  EmbeddingModel model;
  text::Tokenizer tokenizer;
  EmbedderOptions options;
};

SentenceEmbedder::SentenceEmbedder(EmbeddingModel model, SentenceEmbedderOptions options)
    : SentenceEmbedder([&] {
        EmbedderOptions eo = embedder_options(model, options);
        text::Tokenizer tok = pipeline_tokenizer(model, options, eo);
        return Prepared{std::move(model), std::move(tok), std::move(eo)};
      }()) {}

SentenceEmbedder::SentenceEmbedder(Prepared p)
    : model_(std::move(p.model)), tokenizer_(std::move(p.tokenizer)), embedder_(model_.model, std::move(p.options)) {
  embedder_.set_dimension_hint(model_.pooling.dimension);
}

Tensor SentenceEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<text::Encoding> enc;
  try {
    enc = tokenizer_.encode_batch(texts);
  } catch (const Error&) {
    // encode_batch does not say which text failed; find it for the message.
    for (size_t i = 0; i < texts.size(); ++i) {
      try {
        tokenizer_.encode(texts[i]);
      } catch (const Error& e) {
        fail("text ", i + 1, ": ", e.what());
      }
    }
    throw;
  }
  std::vector<TokenizedText> tokenized;
  tokenized.reserve(enc.size());
  for (const auto& e : enc) tokenized.push_back(TokenizedText::from(e));
  return embedder_.embed(tokenized);
}

namespace {
void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";  // JSON has no NaN/Inf
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back as the same float
  out.append(buf, r.ptr);
}
}  // namespace

std::string embeddings_to_json(const Tensor& emb) {
  GRAFT_CHECK(emb.rank() == 2, "embeddings_to_json: expected [N, H], got ", emb.shape());
  const int64_t n = emb.shape()[0], h = emb.shape()[1];
  auto v = emb.to_vector<float>();
  std::string s = "[";
  for (int64_t i = 0; i < n; ++i) {
    s += i ? ",\n[" : "\n[";
    for (int64_t k = 0; k < h; ++k) {
      if (k) s += ',';
      append_float(s, v[size_t(i * h + k)]);
    }
    s += ']';
  }
  s += n ? "\n]\n" : "]\n";
  return s;
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& os) { os.write(text.data(), std::streamsize(text.size())); });
}

}  // namespace graft::app
