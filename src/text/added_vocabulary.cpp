#include "text/added_vocabulary.h"

#include "text/unicode.h"

namespace graft::text {

namespace u = unicode;

void AddedVocabulary::Trie::add(std::string_view key, size_t token_index) {
  if (token.empty()) token.push_back(-1);
  uint32_t node = 0;
  for (unsigned char c : key) {
    uint64_t k = (static_cast<uint64_t>(node) << 8) | c;
    auto it = next.find(k);
    if (it == next.end()) {
      uint32_t n = static_cast<uint32_t>(token.size());
      token.push_back(-1);
      next.emplace(k, n);
      node = n;
    } else {
      node = it->second;
    }
  }
  if (node != 0 && token[node] < 0) token[node] = static_cast<int64_t>(token_index);
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const auto& t = tokens_[i];
    if (t.content.empty()) continue;
    by_content_[t.content] = t.id;
    by_id_[t.id] = t.content;
    if (t.special) special_.insert(t.content);
    if (t.normalized) {
      NormalizedString n(t.content);
      if (normalizer) normalizer->normalize(n);
      if (!n.empty()) normalized_.add(n.get(), i);
    } else {
      raw_.add(t.content, i);
    }
  }
}

std::optional<uint32_t> AddedVocabulary::token_to_id(std::string_view t) const {
  auto it = by_content_.find(std::string(t));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> AddedVocabulary::id_to_token(uint32_t id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

static bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s.size();
  char32_t c = u::prev_char(s, i);
  return u::is_alphanumeric(c) || c == '_';
}

static bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  char32_t c = u::next_char(s, i);
  return u::is_alphanumeric(c) || c == '_';
}

std::vector<Split> AddedVocabulary::split_with(NormalizedString&& s, const Trie& trie) const {
  const std::string& str = s.get();
  std::vector<Split> out;
  if (trie.empty() || str.empty()) {
    out.push_back({std::move(s), std::nullopt});
    return out;
  }
  std::vector<std::pair<int64_t, Offsets>> pieces;  // (token index or -1, range)
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < str.size()) {
    // longest token starting at pos
    uint32_t node = 0;
    int64_t found = -1;
    size_t found_end = 0;
    for (size_t k = pos; k < str.size(); ++k) {
      auto it = trie.next.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(str[k]));
      if (it == trie.next.end()) break;
      node = it->second;
      if (trie.token[node] >= 0) {
        found = trie.token[node];
        found_end = k + 1;
      }
    }
    if (found < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = found_end;
    pos = found_end;
    const AddedToken& t = tokens_[static_cast<size_t>(found)];
    if (t.single_word) {
      bool start_space = start == 0 || !ends_with_word(std::string_view(str).substr(0, start));
      bool stop_space = stop == str.size() || !starts_with_word(std::string_view(str).substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      size_t ns = start;
      while (ns > 0) {
        size_t p = ns;
        char32_t c = u::prev_char(str, p);
        if (!u::is_whitespace(c)) break;
        ns = p;
      }
      start = std::max(ns, start_offset);
    }
    if (t.rstrip) {
      while (stop < str.size()) {
        size_t p = stop;
        char32_t c = u::next_char(str, p);
        if (!u::is_whitespace(c)) break;
        stop = p;
      }
    }
    if (start_offset < start) pieces.push_back({-1, {start_offset, start}});
    pieces.push_back({found, {start, stop}});
    start_offset = stop;
  }
  if (start_offset != str.size()) pieces.push_back({-1, {start_offset, str.size()}});
  for (auto& [idx, r] : pieces) {
    NormalizedString slice = s.slice(r.first, r.second);
    if (idx >= 0) {
      std::vector<Token> toks{Token{tokens_[static_cast<size_t>(idx)].id, slice.get(), {0, slice.size()}}};
      out.push_back({std::move(slice), std::move(toks)});
    } else {
      out.push_back({std::move(slice), std::nullopt});
    }
  }
  return out;
}

PreTokenizedString AddedVocabulary::extract_and_normalize(const Normalizer* normalizer, std::string_view text) const {
  PreTokenizedString p(text);
  p.split_tokens([&](size_t, NormalizedString&& s) { return split_with(std::move(s), raw_); });
  p.split_tokens([&](size_t, NormalizedString&& s) {
    if (normalizer) normalizer->normalize(s);
    return split_with(std::move(s), normalized_);
  });
  return p;
}

}  // namespace graft::text
