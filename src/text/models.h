#pragma once
// The three subword models: WordPiece, BPE and Unigram.
#include <unordered_map>

#include "text/components.h"
#include "text/vocab.h"

namespace graft::text {

class WordPiece : public Model {
 public:
  explicit WordPiece(const json& j);
  std::vector<Token> tokenize(std::string_view word) const override;
  std::optional<uint32_t> token_to_id(std::string_view t) const override { return vocab_.find(t); }
  std::optional<std::string> id_to_token(uint32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  uint32_t unk_id() const;
  Vocab vocab_;
  std::string unk_, prefix_;
  size_t max_chars_;
};

class WordLevel : public Model {
 public:
  explicit WordLevel(const json& j);
  std::vector<Token> tokenize(std::string_view word) const override;
  std::optional<uint32_t> token_to_id(std::string_view t) const override { return vocab_.find(t); }
  std::optional<std::string> id_to_token(uint32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  Vocab vocab_;
  std::string unk_;
};

class BPE : public Model {
 public:
  explicit BPE(const json& j);
  std::vector<Token> tokenize(std::string_view word) const override;
  std::optional<uint32_t> token_to_id(std::string_view t) const override { return vocab_.find(t); }
  std::optional<std::string> id_to_token(uint32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  struct Symbol {
    uint32_t id;
    int prev, next;
    size_t len;
  };
  void merge_all(std::vector<Symbol>& symbols) const;

  Vocab vocab_;
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> merges_;  // (a,b) -> (rank, new id)
  std::optional<std::string> unk_, prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
};

class Unigram : public Model {
 public:
  explicit Unigram(const json& j);
  std::vector<Token> tokenize(std::string_view word) const override;
  std::optional<uint32_t> token_to_id(std::string_view t) const override;
  std::optional<std::string> id_to_token(uint32_t id) const override;
  size_t vocab_size() const override { return pieces_.size(); }

 private:
  std::vector<std::string> encode(std::string_view s) const;
  // trie over the UTF-8 bytes of the pieces
  std::unordered_map<uint64_t, uint32_t> trie_;  // (node << 8 | byte) -> child node
  std::vector<int64_t> node_piece_;              // piece id ending at the node, or -1
  std::vector<std::pair<std::string, double>> pieces_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
  std::optional<uint32_t> unk_id_;
  double min_score_ = 0;
  bool byte_fallback_ = false;
  bool fuse_unk_ = true;
};

}  // namespace graft::text
