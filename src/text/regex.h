#pragma once
// A thin Oniguruma wrapper: Hugging Face `tokenizers` compiles its Split / Replace regexes with
// Oniguruma, so using the same engine keeps the (sometimes surprising) match semantics identical.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace graft::text {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  // Calls f(start, end) for each successive non-overlapping match (byte offsets), with the empty-match
  // stepping rule of the Rust `onig` crate's find_iter.
  void find_iter(std::string_view s, const std::function<void(size_t, size_t)>& f) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<void> re_;  // OnigRegex
};

}  // namespace graft::text
