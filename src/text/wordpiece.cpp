// WordPiece: greedy longest-match-first subwords with a continuation prefix (BERT); and WordLevel,
// the whole pre-token or the unknown token.
#include "graft/core/error.h"
#include "text/models.h"
#include "text/vocab.h"
#include "text/unicode.h"

namespace graft::text {

void Vocab::load_object(const json& j, const char* what) {
  GRAFT_CHECK(j.is_object(), "tokenizer: ", what, " vocab must be an object of token -> id");
  for (auto it = j.begin(); it != j.end(); ++it)
    add(it.key(), jint<uint32_t>(it.value(), std::string(what) + " id of \"" + it.key().substr(0, 40) + "\""));
}

WordPiece::WordPiece(const json& j) {
  vocab_.load_object(j.at("vocab"), "WordPiece");
  unk_ = jstr(j, "unk_token", "[UNK]");
  prefix_ = jstr(j, "continuing_subword_prefix", "##");
  max_chars_ = jnum<size_t>(j, "max_input_chars_per_word", 100);
}

uint32_t WordPiece::unk_id() const {
  auto id = vocab_.find(unk_);
  GRAFT_CHECK(id, "tokenizer: WordPiece unk_token \"", unk_, "\" is not in the vocabulary");
  return *id;
}

std::vector<Token> WordPiece::tokenize(std::string_view word) const {
  if (unicode::count_chars(word) > max_chars_) return {Token{unk_id(), unk_, {0, word.size()}}};
  std::vector<Token> out;
  std::string buf;
  // No key is longer than the longest vocabulary entry: start the search there (same result, linear).
  const size_t max_len = vocab_.max_token_len();
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    size_t limit = start + max_len;
    while (end > limit) {
      size_t e = end;
      unicode::prev_char(word, e);
      end = e;
    }
    bool found = false;
    while (start < end) {
      std::string_view sub = word.substr(start, end - start);
      std::optional<uint32_t> id;
      if (start > 0) {
        buf.assign(prefix_);
        buf.append(sub);
        id = vocab_.find(buf);
      } else {
        id = vocab_.find(sub);
      }
      if (id) {
        out.push_back(Token{*id, start > 0 ? buf : std::string(sub), {start, end}});
        found = true;
        break;
      }
      size_t e = end;
      unicode::prev_char(word, e);
      end = e;
    }
    if (!found) return {Token{unk_id(), unk_, {0, word.size()}}};
    start = end;
  }
  return out;
}

WordLevel::WordLevel(const json& j) {
  vocab_.load_object(j.at("vocab"), "WordLevel");
  unk_ = jstr(j, "unk_token", "<unk>");
}

std::vector<Token> WordLevel::tokenize(std::string_view word) const {
  if (auto id = vocab_.find(word)) return {Token{*id, std::string(word), {0, word.size()}}};
  auto unk = vocab_.find(unk_);
  GRAFT_CHECK(unk, "tokenizer: WordLevel: \"", word, "\" is not in the vocabulary and unk_token \"", unk_,
              "\" is missing too");
  return {Token{*unk, unk_, {0, word.size()}}};
}

}  // namespace graft::text
