// BPE: characters of a pre-token merged pairwise by merge rank (lowest rank first, leftmost on ties),
// with optional continuation prefix / end-of-word suffix, byte fallback and unknown-token fusing.
#include <queue>

#include "graft/core/error.h"
#include "text/models.h"
#include "text/unicode.h"

namespace graft::text {

namespace {
std::optional<std::string> opt_str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}
uint64_t pair_key(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }
}  // namespace

BPE::BPE(const json& j) {
  vocab_.load_object(j.at("vocab"), "BPE");
  unk_ = opt_str(j, "unk_token");
  prefix_ = opt_str(j, "continuing_subword_prefix");
  suffix_ = opt_str(j, "end_of_word_suffix");
  fuse_unk_ = jbool(j, "fuse_unk", false);
  byte_fallback_ = jbool(j, "byte_fallback", false);
  ignore_merges_ = jbool(j, "ignore_merges", false);
  const size_t prefix_len = prefix_ ? prefix_->size() : 0;
  uint32_t rank = 0;
  if (j.contains("merges") && j["merges"].is_array()) {
    const auto& merges = j["merges"];
    merges_.reserve(merges.size());
    for (const auto& m : merges) {
      std::string a, b;
      if (m.is_string()) {
        const std::string& line = m.get_ref<const std::string&>();
        size_t sp = line.find(' ');
        GRAFT_CHECK(sp != std::string::npos, "tokenizer: BPE merge \"", line, "\" is not of the form \"a b\"");
        a = line.substr(0, sp);
        b = line.substr(sp + 1);
      } else {
        GRAFT_CHECK(m.is_array() && m.size() == 2, "tokenizer: BPE merge ", m.dump(), " is not a pair");
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      }
      auto ia = vocab_.find(a), ib = vocab_.find(b);
      GRAFT_CHECK(ia, "tokenizer: BPE merge token \"", a, "\" (merge ", rank, ") is not in the vocabulary");
      GRAFT_CHECK(ib, "tokenizer: BPE merge token \"", b, "\" (merge ", rank, ") is not in the vocabulary");
      std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : std::string());
      auto in = vocab_.find(merged);
      GRAFT_CHECK(in, "tokenizer: BPE merge result \"", merged, "\" (merge ", rank, ") is not in the vocabulary");
      merges_[pair_key(*ia, *ib)] = {rank, *in};
      ++rank;
    }
  }
}

void BPE::merge_all(std::vector<Symbol>& symbols) const {
  struct Merge {
    size_t pos;
    uint32_t rank, new_id;
    bool operator<(const Merge& o) const {  // max-heap on "smaller rank, then smaller pos"
      if (rank != o.rank) return rank > o.rank;
      return pos > o.pos;
    }
  };
  std::priority_queue<Merge> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    auto it = merges_.find(pair_key(symbols[i].id, symbols[i + 1].id));
    if (it != merges_.end()) queue.push({i, it->second.first, it->second.second});
  }
  while (!queue.empty()) {
    Merge top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    size_t next_pos = static_cast<size_t>(cur.next);
    Symbol right = symbols[next_pos];
    auto it = merges_.find(pair_key(cur.id, right.id));
    if (it == merges_.end() || it->second.second != top.new_id) continue;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next > -1 && static_cast<size_t>(right.next) < symbols.size())
      symbols[static_cast<size_t>(right.next)].prev = static_cast<int>(top.pos);
    if (cur.prev >= 0) {
      auto p = merges_.find(pair_key(symbols[static_cast<size_t>(cur.prev)].id, cur.id));
      if (p != merges_.end()) queue.push({static_cast<size_t>(cur.prev), p->second.first, p->second.second});
    }
    if (cur.next >= 0 && static_cast<size_t>(cur.next) < symbols.size()) {
      auto n = merges_.find(pair_key(cur.id, symbols[static_cast<size_t>(cur.next)].id));
      if (n != merges_.end()) queue.push({top.pos, n->second.first, n->second.second});
    }
  }
}

std::vector<Token> BPE::tokenize(std::string_view w) const {
  if (w.empty()) return {};
  if (ignore_merges_) {
    if (auto id = vocab_.find(w)) return {Token{*id, std::string(w), {0, w.size()}}};
  }
  std::vector<Symbol> symbols;
  symbols.reserve(w.size());
  auto add = [&](uint32_t id, size_t len) {
    int idx = static_cast<int>(symbols.size());
    symbols.push_back({id, idx - 1, idx + 1, len});
  };
  bool has_unk = false;
  std::pair<uint32_t, size_t> unk{0, 0};
  std::string s;
  char hex[8];
  for (size_t i = 0; i < w.size();) {
    size_t b = i;
    unicode::next_char(w, i);
    const bool is_first = b == 0, is_last = i >= w.size();
    const size_t byte_len = i - b;
    s.clear();
    if (!is_first && prefix_) s += *prefix_;
    s.append(w.substr(b, byte_len));
    if (is_last && suffix_) s += *suffix_;
    if (auto id = vocab_.find(s)) {
      if (has_unk) {
        add(unk.first, unk.second);
        has_unk = false;
      }
      add(*id, byte_len);
      continue;
    }
    if (byte_fallback_) {
      std::vector<uint32_t> ids;
      bool all = true;
      for (unsigned char c : s) {
        std::snprintf(hex, sizeof hex, "<0x%02X>", c);
        auto id = vocab_.find(hex);
        if (!id) {
          all = false;
          break;
        }
        ids.push_back(*id);
      }
      if (all) {
        for (uint32_t id : ids) add(id, 1);
        continue;
      }
    }
    if (unk_) {
      auto unk_id = vocab_.find(*unk_);
      GRAFT_CHECK(unk_id, "tokenizer: BPE unk_token \"", *unk_, "\" is not in the vocabulary");
      if (has_unk && fuse_unk_) {
        unk.second += byte_len;
      } else {
        if (has_unk) add(unk.first, unk.second);
        unk = {*unk_id, byte_len};
        has_unk = true;
      }
    }
  }
  if (has_unk) add(unk.first, unk.second);
  if (!symbols.empty()) symbols.back().next = -1;
  merge_all(symbols);
  std::vector<Token> out;
  size_t pos = 0;
  for (const auto& sym : symbols) {
    if (sym.len == 0) continue;
    out.push_back(Token{sym.id, vocab_.token(sym.id).value_or(""), {pos, pos + sym.len}});
    pos += sym.len;
  }
  return out;
}

}  // namespace graft::text
