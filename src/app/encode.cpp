// Texts -> input tensors with per-call padding and truncation (graft/app/encode.h).
#include "graft/app/encode.h"

#include <algorithm>

#include "graft/app/errors.h"

namespace graft::app {

TokenizedText TokenizedText::from(const text::Encoding& e) {
  TokenizedText t;
  t.ids.assign(e.ids.begin(), e.ids.end());
  t.type_ids.assign(e.type_ids.begin(), e.type_ids.end());
  t.attention_mask.assign(e.attention_mask.begin(), e.attention_mask.end());
  return t;
}

PadSpec pad_spec(const text::Tokenizer& tok) {
  PadSpec p;
  if (const auto& pad = tok.padding()) {
    p.pad_id = pad->pad_id;
    p.pad_type_id = pad->pad_type_id;
    p.left = pad->direction == text::Direction::Left;
    return p;
  }
  for (const char* name : {"[PAD]", "<pad>"})
    if (auto id = tok.token_to_id(name)) {
      p.pad_id = *id;
      break;
    }
  return p;
}

PaddedBatch pad_batch(const std::vector<const TokenizedText*>& rows, size_t T, const PadSpec& pad) {
  for (const TokenizedText* t : rows) T = std::max(T, t->ids.size());
  const size_t N = rows.size();
  std::vector<int64_t> ids(N * T, pad.pad_id), types(N * T, pad.pad_type_id), mask(N * T, 0);
  for (size_t r = 0; r < N; ++r) {
    const TokenizedText& t = *rows[r];
    const size_t len = t.ids.size(), base = r * T + (pad.left ? T - len : 0);
    for (size_t k = 0; k < len; ++k) {
      ids[base + k] = t.ids[k];
      types[base + k] = t.type_ids.empty() ? 0 : t.type_ids[k];
      mask[base + k] = t.attention_mask.empty() ? 1 : t.attention_mask[k];
    }
  }
  Shape s{int64_t(N), int64_t(T)};
  return {Tensor::from_vector(ids, s), Tensor::from_vector(mask, s), Tensor::from_vector(types, s)};
}

EncodedBatch encode_to_tensors(const text::Tokenizer& tokenizer, const std::vector<std::string>& texts,
                               const EncodeOptions& options) {
  return TextEncoder(tokenizer).encode(texts, options);
}

std::map<std::string, Tensor> EncodedBatch::inputs(const std::vector<std::string>& names) const {
  std::map<std::string, Tensor> all = {
      {"input_ids", input_ids}, {"attention_mask", attention_mask}, {"token_type_ids", token_type_ids}};
  if (names.empty()) return all;
  std::map<std::string, Tensor> out;
  for (const auto& n : names) {
    auto it = all.find(n);
    GRAFT_CHECK(it != all.end(), "EncodedBatch::inputs: no tensor named '", n,
                "' (input_ids, attention_mask, token_type_ids)");
    out.insert(*it);
  }
  return out;
}

TextEncoder::TextEncoder(text::Tokenizer tokenizer)
    : tokenizer_(std::move(tokenizer)), file_truncation_(tokenizer_.truncation()), pad_(pad_spec(tokenizer_)) {
  tokenizer_.set_padding(std::nullopt);  // padding is done here, per call
}

void TextEncoder::configure(const EncodeOptions& o) {
  if (o.max_length && *o.max_length == 0) usage_error("max_length must be at least 1");
  if (o.pad_to_multiple_of && *o.pad_to_multiple_of == 0) usage_error("pad_to_multiple_of must be at least 1");
  if (o.padding == Padding::MaxLength && !o.max_length) usage_error("Padding::MaxLength needs max_length");
  if (!o.truncation) {
    tokenizer_.set_truncation(std::nullopt);
  } else if (o.max_length) {
    text::TruncationParams t = file_truncation_.value_or(text::TruncationParams{});
    t.max_length = *o.max_length;
    tokenizer_.set_truncation(t);
  } else {
    tokenizer_.set_truncation(file_truncation_);
  }
}

EncodedBatch TextEncoder::encode(const std::vector<std::string>& texts, const EncodeOptions& o) {
  configure(o);
  return to_tensors(tokenizer_.encode_batch(texts, o.add_special_tokens), o);
}

EncodedBatch TextEncoder::encode_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                       const EncodeOptions& o) {
  configure(o);
  return to_tensors(tokenizer_.encode_batch(pairs, o.add_special_tokens), o);
}

EncodedBatch TextEncoder::to_tensors(std::vector<text::Encoding> enc, const EncodeOptions& o) const {
  size_t longest = 0, shortest = SIZE_MAX;
  for (const auto& e : enc) {
    longest = std::max(longest, e.size());
    shortest = std::min(shortest, e.size());
  }
  size_t T = longest;
  if (o.padding == Padding::None) {
    if (!enc.empty() && shortest != longest)
      usage_error("Padding::None, but the texts encode to different lengths (", shortest, " to ", longest,
                  " tokens); pad them (Padding::Longest)");
  } else if (o.padding == Padding::MaxLength) {
    T = std::max(T, *o.max_length);
  }
  if (o.padding != Padding::None && o.pad_to_multiple_of) {
    const size_t m = *o.pad_to_multiple_of;
    T = (T + m - 1) / m * m;
  }
  std::vector<TokenizedText> rows;
  std::vector<const TokenizedText*> ptrs;
  rows.reserve(enc.size());
  for (const auto& e : enc) rows.push_back(TokenizedText::from(e));
  for (const auto& r : rows) ptrs.push_back(&r);
  EncodedBatch b;
  static_cast<PaddedBatch&>(b) = pad_batch(ptrs, T, pad_);
  b.encodings = std::move(enc);
  return b;
}

}  // namespace graft::app
