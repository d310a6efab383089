#pragma once
// Texts -> model input tensors, as Hugging Face's `tokenizer(texts, padding=..., truncation=...,
// max_length=..., return_tensors="pt")` does: padding and truncation chosen per call, int64 tensors out.
//
//   graft::app::TextEncoder enc(graft::text::Tokenizer::from_file("tokenizer.json"));
//   graft::app::EncodedBatch b = enc.encode({"A sentence.", "Another, longer sentence."});
//   session.run(b.inputs());   // input_ids, attention_mask, token_type_ids: int64 [2, T]
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/text/tokenizer.h"

namespace graft::app {

// One tokenized text in the int64 ids models take (the attention mask is all ones when empty).
struct TokenizedText {
  std::vector<int64_t> ids;
  std::vector<int64_t> type_ids;  // zeros when empty
  std::vector<int64_t> attention_mask;
  // A tokenizer's encoding (uint32 ids) as int64 vectors.
  static TokenizedText from(const text::Encoding& e);
};

// What padding positions hold, and on which side they go.
struct PadSpec {
  int64_t pad_id = 0;
  int64_t pad_type_id = 0;
  bool left = false;
};
// A tokenizer's padding: the pad id, type id and side its file configures; without padding in the file,
// the id of [PAD] or <pad> (else 0), on the right.
PadSpec pad_spec(const text::Tokenizer& tokenizer);

// int64 [rows, length] tensors of rows padded to `length` (at least the longest row).
struct PaddedBatch {
  Tensor input_ids, attention_mask, token_type_ids;
};
PaddedBatch pad_batch(const std::vector<const TokenizedText*>& rows, size_t length, const PadSpec& pad);

enum class Padding {
  None,       // no padding: every text must encode to the same length
  Longest,    // to the longest text of the call (HF padding=True / "longest")
  MaxLength,  // to max_length (HF padding="max_length")
};

struct EncodeOptions {
  bool add_special_tokens = true;
  Padding padding = Padding::Longest;
  // Truncate to max_length (or, without max_length, to the tokenizer file's own truncation length, if it
  // has one). HF truncation=True, strategy longest_first for pairs.
  bool truncation = true;
  std::optional<size_t> max_length;          // at least 1 when set
  std::optional<size_t> pad_to_multiple_of;  // the padded length is rounded up to a multiple of this
};

// One call's encodings and the tensors made from them, all int64 [texts, T].
struct EncodedBatch : PaddedBatch {
  std::vector<text::Encoding> encodings;  // per text, before padding (offsets in bytes, see tokenizer.h)
  // {"input_ids", ...} as InferenceSession::run takes them; `names` selects and orders (default: all three).
  std::map<std::string, Tensor> inputs(const std::vector<std::string>& names = {}) const;
};

// Holds its own copy of the tokenizer, so each call can set padding and truncation without touching the
// caller's. Not thread-safe: one encoder per thread.
class TextEncoder {
 public:
  explicit TextEncoder(text::Tokenizer tokenizer);
  EncodedBatch encode(const std::vector<std::string>& texts, const EncodeOptions& options = {});
  EncodedBatch encode_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                            const EncodeOptions& options = {});
  const text::Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  void configure(const EncodeOptions& options);
  EncodedBatch to_tensors(std::vector<text::Encoding> encodings, const EncodeOptions& options) const;
  text::Tokenizer tokenizer_;
  std::optional<text::TruncationParams> file_truncation_;
  PadSpec pad_;
};

// One-off: TextEncoder(tokenizer).encode(texts, options) (copies the tokenizer; keep a TextEncoder to
// encode many batches).
EncodedBatch encode_to_tensors(const text::Tokenizer& tokenizer, const std::vector<std::string>& texts,
                               const EncodeOptions& options = {});

}  // namespace graft::app
