// Encoding operations: merging sequences (with their overflowing windows), truncation with stride,
// padding, and byte-level offset trimming. Semantics follow Hugging Face `tokenizers`' Encoding.
#include <algorithm>

#include "graft/core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace graft::text {

std::vector<std::pair<size_t, size_t>> byte_to_char_offsets(std::string_view text,
                                                            const std::vector<std::pair<size_t, size_t>>& offsets) {
  // char index of every byte position (positions inside a char map to that char)
  std::vector<size_t> idx(text.size() + 1);
  size_t c = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    idx[i] = c;
    if (i + 1 >= text.size() || (static_cast<unsigned char>(text[i + 1]) & 0xC0) != 0x80) ++c;
  }
  idx[text.size()] = c;
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(offsets.size());
  // (as the Python binding's converter: a start past the text keeps its byte offsets)
  for (auto [s, e] : offsets) {
    if (s >= text.size() || e > text.size()) {
      out.push_back({s, e});
      continue;
    }
    size_t ce = e < text.size() ? idx[e] : (e == 0 ? idx[s] + 1 : idx[e - 1] + 1);
    out.push_back({idx[s], ce});
  }
  return out;
}

void encoding_set_sequence_id(Encoding& e, size_t id) {
  e.sequence_ids.assign(e.ids.size(), static_cast<int64_t>(id));
}

template <typename T>
static void append(std::vector<T>& a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
}

// Encodings in `e`'s tree: itself and its overflowing windows, theirs in turn.
static size_t encodings_in(const Encoding& e) {
  size_t n = 1;
  for (const Encoding& o : e.overflowing) n += encodings_in(o);
  return n;
}

// Merging combines every overflowing window of one side with every window of the other (as Hugging Face's
// merge_with does), and merged windows keep the other side's windows as their own: a pair whose sides
// both overflow many times (a small max_length with a small stride over long texts) grows as the product,
// and the fuzzer found 1.4 KB of text taking 3 s. Beyond this many encodings it is an error instead.
constexpr size_t kMaxMergedEncodings = size_t(1) << 16;

void encoding_merge_with(Encoding& self, Encoding pair, bool growing_offsets) {
  const size_t a = encodings_in(self), b = encodings_in(pair);
  GRAFT_CHECK(a * b <= kMaxMergedEncodings, "tokenizer: merging sequences with ", a - 1, " and ", b - 1,
              " overflowing windows would make about ", a * b, " encodings (more than ", kMaxMergedEncodings,
              "): use a larger truncation max_length or stride");
  std::vector<Encoding> overflowings;
  for (const auto& self_o : self.overflowing) {
    Encoding n = self_o;
    encoding_merge_with(n, pair, growing_offsets);
    overflowings.push_back(std::move(n));
    for (const auto& other_o : pair.overflowing) {
      Encoding m = self_o;
      encoding_merge_with(m, other_o, growing_offsets);
      overflowings.push_back(std::move(m));
    }
  }
  for (const auto& other_o : pair.overflowing) {
    Encoding n = self;
    encoding_merge_with(n, other_o, growing_offsets);
    overflowings.push_back(std::move(n));
  }
  append(self.ids, pair.ids);
  append(self.type_ids, pair.type_ids);
  append(self.tokens, pair.tokens);
  append(self.word_ids, pair.word_ids);
  size_t start = growing_offsets && !self.offsets.empty() ? self.offsets.back().second : 0;
  for (auto [s, e] : pair.offsets) self.offsets.push_back({s + start, e + start});
  append(self.special_tokens_mask, pair.special_tokens_mask);
  append(self.attention_mask, pair.attention_mask);
  append(self.sequence_ids, pair.sequence_ids);
  self.overflowing = std::move(overflowings);
}

Encoding encoding_merge(std::vector<Encoding> encodings, bool growing_offsets) {
  Encoding out;
  for (auto& e : encodings) encoding_merge_with(out, std::move(e), growing_offsets);
  return out;
}

static Encoding sub_encoding(const Encoding& e, size_t start, size_t stop) {
  Encoding r;
  auto cut = [&](auto& dst, const auto& src) { dst.assign(src.begin() + start, src.begin() + stop); };
  cut(r.ids, e.ids);
  cut(r.type_ids, e.type_ids);
  cut(r.tokens, e.tokens);
  cut(r.word_ids, e.word_ids);
  cut(r.offsets, e.offsets);
  cut(r.special_tokens_mask, e.special_tokens_mask);
  cut(r.attention_mask, e.attention_mask);
  r.sequence_ids.assign(stop - start, -1);  // truncation drops the sequence ranges
  return r;
}

void encoding_truncate(Encoding& e, size_t max_len, size_t stride, Direction dir) {
  const size_t len = e.ids.size();
  if (max_len >= len) return;
  if (max_len == 0) {
    Encoding old = std::move(e);
    e = Encoding{};
    e.overflowing.push_back(std::move(old));
    return;
  }
  GRAFT_CHECK(stride < max_len, "tokenizer: truncation stride (", stride, ") must be smaller than the maximum length (",
              max_len, ", after removing the post-processor's special tokens)");
  const size_t step = max_len - stride;
  std::vector<std::pair<size_t, size_t>> parts;
  if (dir == Direction::Right) {
    for (size_t start = 0; start < len; start += step) {
      size_t stop = std::min(start + max_len, len);
      parts.push_back({start, stop});
      if (stop == len) break;
    }
  } else {
    for (size_t k = 0;; k += step) {
      if (k >= len) break;
      size_t stop = len - k;  // (0..len).rev().step_by(step) gives len-1-k, then +1
      size_t start = stop < max_len ? 0 : stop - max_len;
      if (start < stop) parts.push_back({start, stop});
      if (start == 0) break;
    }
  }
  Encoding result = sub_encoding(e, parts[0].first, parts[0].second);
  for (size_t i = 1; i < parts.size(); ++i) result.overflowing.push_back(sub_encoding(e, parts[i].first, parts[i].second));
  e = std::move(result);
}

void encoding_pad(Encoding& e, size_t target, uint32_t pad_id, uint32_t pad_type_id, const std::string& pad_token,
                  Direction dir) {
  for (auto& o : e.overflowing) encoding_pad(o, target, pad_id, pad_type_id, pad_token, dir);
  if (e.ids.size() >= target) return;
  const size_t n = target - e.ids.size();
  auto pad = [&](auto& v, auto value) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    if (dir == Direction::Left) v.insert(v.begin(), n, T(value));
    else v.insert(v.end(), n, T(value));
  };
  pad(e.ids, pad_id);
  pad(e.type_ids, pad_type_id);
  pad(e.tokens, pad_token);
  pad(e.word_ids, int64_t{-1});
  pad(e.attention_mask, 0u);
  pad(e.special_tokens_mask, 1u);
  pad(e.offsets, std::pair<size_t, size_t>{0, 0});
  pad(e.sequence_ids, int64_t{-1});
}

void trim_byte_level_offsets(Encoding& e, bool add_prefix_space) {
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    const std::string& tok = e.tokens[i];
    auto& off = e.offsets[i];
    auto chars = unicode::to_chars(tok);
    auto is_space = [](char32_t c) { return c == 0x120 || unicode::is_whitespace(c); };
    size_t lead = 0, trail = 0;
    while (lead < chars.size() && is_space(chars[lead])) ++lead;
    while (trail < chars.size() && is_space(chars[chars.size() - 1 - trail])) ++trail;
    if (lead == 0 && trail == 0) continue;
    if (lead > 0) {
      bool is_first = i == 0 || off.first == 0;
      if (is_first && add_prefix_space && lead == 1) lead = 0;
      off.first = std::min(off.first + lead, off.second);
    }
    if (trail > 0 && off.second >= trail) off.second = std::max(off.second - trail, off.first);
  }
  for (auto& o : e.overflowing) trim_byte_level_offsets(o, add_prefix_space);
}

}  // namespace graft::text
