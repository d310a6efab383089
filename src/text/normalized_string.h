#pragma once
// NormalizedString: a piece of text being normalized, with, for every byte of the normalized text,
// the byte range of the original input it came from. This is how token offsets survive lower-casing,
// accent stripping, Unicode normalization and byte-level remapping. The alignment rules (which
// original range an inserted or replaced character inherits) follow Hugging Face `tokenizers` so
// that offsets agree exactly. Alignments are absolute byte offsets into the caller's input.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/regex.h"

namespace graft::text {

using Offsets = std::pair<size_t, size_t>;

// One piece of a pattern search: [start, end) and whether it is a match.
struct PatternPiece {
  size_t start, end;
  bool is_match;
};

// Finds the pieces of a string: matches and the gaps between them, covering the whole string.
using Pattern = std::function<std::vector<PatternPiece>(std::string_view)>;
Pattern char_pattern(std::function<bool(char32_t)> pred);  // each matching char is its own match
Pattern literal_pattern(std::string literal);
Pattern regex_pattern(std::shared_ptr<const Regex> re);
Pattern invert_pattern(Pattern p);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_split_behavior(const std::string& name);

// One change of a transformation: the new char and how it relates to the old ones:
// 0 = replaces one char, +n = inserted, -n = replaces one char and removes n more.
struct CharChange {
  char32_t c;
  int change;
};

class NormalizedString {
 public:
  NormalizedString() = default;
  // The whole of `text`, whose first byte is at absolute offset `shift` of the input.
  explicit NormalizedString(std::string_view text, size_t shift = 0);

  const std::string& get() const { return normalized_; }
  bool empty() const { return normalized_.empty(); }
  size_t size() const { return normalized_.size(); }
  Offsets original_offsets() const { return {orig_start_, orig_end_}; }

  // Absolute original byte range of the normalized range [start, end) (HF convert_offsets).
  Offsets convert_offsets(size_t start, size_t end) const;

  void transform_range(size_t start, size_t end, const std::vector<CharChange>& dest, size_t initial_offset);
  void transform(const std::vector<CharChange>& dest, size_t initial_offset) {
    transform_range(0, normalized_.size(), dest, initial_offset);
  }
  NormalizedString slice(size_t start, size_t end) const;
  std::vector<NormalizedString> split(const Pattern& pattern, SplitBehavior behavior) const;

  void prepend(std::string_view s);
  void append(std::string_view s);
  void replace(const Pattern& pattern, std::string_view content);
  void filter(const std::function<bool(char32_t)>& keep);
  void map(const std::function<char32_t(char32_t)>& f);
  void lowercase();
  void strip(bool left, bool right);
  enum class Form { NFC, NFD, NFKC, NFKD };
  void unicode_normalize(Form form);

 private:
  std::string normalized_;
  std::vector<std::pair<uint32_t, uint32_t>> align_;  // per normalized byte
  size_t orig_start_ = 0, orig_end_ = 0;
};

struct Token {
  uint32_t id;
  std::string value;
  Offsets offsets;  // within the split's normalized string
};

struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;
};

class PreTokenizedString {
 public:
  explicit PreTokenizedString(std::string_view text) { splits.push_back({NormalizedString(text), std::nullopt}); }
  PreTokenizedString() = default;

  // Replaces every not-yet-tokenized split with the pieces f returns (empty pieces are dropped).
  void split(const std::function<std::vector<NormalizedString>(size_t, NormalizedString&&)>& f);
  // Same, but the pieces may already carry their tokens (added tokens).
  void split_tokens(const std::function<std::vector<Split>(size_t, NormalizedString&&)>& f);
  void normalize(const std::function<void(NormalizedString&)>& f);

  std::vector<Split> splits;
};

}  // namespace graft::text
