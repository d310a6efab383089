#pragma once
// Added tokens (special or not): found in the input before the model runs, so that "[MASK]" or
// "<|endoftext|>" are never split. Non-normalized tokens are matched on the raw text, normalized ones
// on the normalized pieces in between, leftmost-longest, honouring single_word / lstrip / rstrip.
#include <unordered_map>
#include <unordered_set>

#include "text/components.h"

namespace graft::text {

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  PreTokenizedString extract_and_normalize(const Normalizer* normalizer, std::string_view text) const;

  std::optional<uint32_t> token_to_id(std::string_view t) const;
  std::optional<std::string> id_to_token(uint32_t id) const;
  bool is_special(const std::string& token) const { return special_.count(token) > 0; }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Trie {
    std::unordered_map<uint64_t, uint32_t> next;  // (node << 8 | byte) -> node
    std::vector<int64_t> token;                   // index into tokens_ ending at node, or -1
    void add(std::string_view key, size_t token_index);
    bool empty() const { return next.empty(); }
  };
  std::vector<Split> split_with(NormalizedString&& s, const Trie& trie) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, uint32_t> by_content_;
  std::unordered_map<uint32_t, std::string> by_id_;
  std::unordered_set<std::string> special_;
  Trie raw_, normalized_;
};

}  // namespace graft::text
