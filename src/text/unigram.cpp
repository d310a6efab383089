// Unigram: the best-scoring segmentation of a pre-token (Viterbi over the piece lattice, as
// SentencePiece), unknown characters scored min_score - 10 and fused, optional byte fallback.
#include <limits>

#include "graft/core/error.h"
#include "text/models.h"
#include "text/unicode.h"

namespace graft::text {

Unigram::Unigram(const json& j) {
  const auto& vocab = j.at("vocab");
  GRAFT_CHECK(vocab.is_array(), "tokenizer: Unigram vocab must be an array of [piece, score]");
  GRAFT_CHECK(!vocab.empty(), "tokenizer: Unigram vocab is empty");
  pieces_.reserve(vocab.size());
  min_score_ = std::numeric_limits<double>::infinity();
  node_piece_.push_back(-1);
  for (const auto& p : vocab) {
    GRAFT_CHECK(p.is_array() && p.size() == 2, "tokenizer: Unigram vocab entry ", p.dump(), " is not [piece, score]");
    std::string piece = p[0].get<std::string>();
    double score = p[1].get<double>();
    uint32_t id = static_cast<uint32_t>(pieces_.size());
    min_score_ = std::min(min_score_, score);
    ids_[piece] = id;
    uint32_t node = 0;
    for (unsigned char c : piece) {
      uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
      auto it = trie_.find(key);
      if (it == trie_.end()) {
        uint32_t n = static_cast<uint32_t>(node_piece_.size());
        node_piece_.push_back(-1);
        trie_.emplace(key, n);
        node = n;
      } else {
        node = it->second;
      }
    }
    if (!piece.empty()) node_piece_[node] = id;
    pieces_.emplace_back(std::move(piece), score);
  }
  if (j.contains("unk_id") && j["unk_id"].is_number()) {
    unk_id_ = jint<uint32_t>(j["unk_id"], "Unigram unk_id");
    GRAFT_CHECK(*unk_id_ < pieces_.size(), "tokenizer: Unigram unk_id ", *unk_id_, " is outside the vocabulary (",
                pieces_.size(), " pieces)");
  }
  byte_fallback_ = jbool(j, "byte_fallback", false);
}

std::optional<uint32_t> Unigram::token_to_id(std::string_view t) const {
  auto it = ids_.find(t);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Unigram::id_to_token(uint32_t id) const {
  if (id >= pieces_.size()) return std::nullopt;
  return pieces_[id].first;
}

std::vector<std::string> Unigram::encode(std::string_view s) const {
  struct Node {
    uint32_t id = 0;
    double score = 0;
    std::optional<size_t> starts_at;
  };
  const size_t size = s.size();
  const double unk_score = min_score_ - 10.0;
  std::vector<Node> best(size + 1);
  for (size_t start = 0; start < size;) {
    const double here = best[start].score;
    bool has_single = false;
    const size_t mblen = std::min(unicode::utf8_len(static_cast<unsigned char>(s[start])), size - start);
    uint32_t node = 0;
    for (size_t k = start; k < size; ++k) {
      auto it = trie_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(s[k]));
      if (it == trie_.end()) break;
      node = it->second;
      int64_t piece = node_piece_[node];
      if (piece < 0) continue;
      // The trie and the map both hold the last id of a duplicated piece (both are assigned in vocabulary
      // order), so the node's id is the map's: no hashing of the piece per lattice edge, which made long
      // pieces cost O(length^2) per start position.
      const uint32_t id = static_cast<uint32_t>(piece);
      size_t key_pos = k + 1;
      double cand = pieces_[id].second + here;
      Node& target = best[key_pos];
      if (!target.starts_at || cand > target.score) {
        target.score = cand;
        target.starts_at = start;
        target.id = id;
      }
      if (!has_single && key_pos - start == mblen) has_single = true;
    }
    if (!has_single) {
      GRAFT_CHECK(unk_id_, "tokenizer: Unigram model has no unk_id but the input has unknown characters");
      Node& target = best[start + mblen];
      double cand = unk_score + here;
      if (!target.starts_at || cand > target.score) {
        target.score = cand;
        target.starts_at = start;
        target.id = *unk_id_;
      }
    }
    start += mblen;
  }
  std::vector<std::string> results;
  std::vector<std::string_view> unk_run;
  auto flush = [&] {
    if (unk_run.empty()) return;
    std::string t;
    for (auto it = unk_run.rbegin(); it != unk_run.rend(); ++it) t.append(*it);
    results.push_back(std::move(t));
    unk_run.clear();
  };
  for (size_t end = size; end > 0;) {
    const Node& n = best[end];
    size_t start = *n.starts_at;
    std::string_view piece = s.substr(start, end - start);
    if (fuse_unk_ && unk_id_ && n.id == *unk_id_) {
      unk_run.push_back(piece);
    } else {
      flush();
      results.emplace_back(piece);
    }
    end = start;
  }
  flush();
  std::reverse(results.begin(), results.end());
  return results;
}

std::vector<Token> Unigram::tokenize(std::string_view word) const {
  if (word.empty()) return {};
  std::vector<Token> out;
  size_t offset = 0;
  char hex[8];
  for (auto& str : encode(word)) {
    size_t len = str.size();
    Offsets off{offset, offset + len};
    auto it = ids_.find(str);
    if (it != ids_.end()) {
      out.push_back(Token{it->second, std::move(str), off});
    } else {
      if (byte_fallback_) {
        std::vector<Token> bytes;
        bool all = true;
        for (unsigned char c : str) {
          std::snprintf(hex, sizeof hex, "<0x%02X>", c);
          auto b = ids_.find(std::string_view(hex));
          if (b == ids_.end()) {
            all = false;
            break;
          }
          bytes.push_back(Token{b->second, hex, off});
        }
        if (all) {
          for (auto& t : bytes) out.push_back(std::move(t));
          offset += len;
          continue;
        }
      }
      GRAFT_CHECK(unk_id_, "tokenizer: Unigram model has no unk_id but the input has unknown pieces");
      out.push_back(Token{*unk_id_, std::move(str), off});
    }
    offset += len;
  }
  return out;
}

}  // namespace graft::text
