#pragma once
// Token <-> id maps with string_view lookup.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/components.h"

namespace graft::text {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Vocab {
 public:
  void add(std::string token, uint32_t id) {
    by_id_[id] = token;
    if (token.size() > max_len_) max_len_ = token.size();
    by_token_[std::move(token)] = id;
  }
  std::optional<uint32_t> find(std::string_view t) const {
    auto it = by_token_.find(t);
    if (it == by_token_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> token(uint32_t id) const {
    auto t = by_id_.find(id);
    if (t == by_id_.end()) return std::nullopt;
    auto it = by_token_.find(t->second);
    if (it == by_token_.end() || it->second != id) return std::nullopt;
    return t->second;
  }
  size_t size() const { return by_token_.size(); }
  size_t max_token_len() const { return max_len_; }
  // vocab as a {"token": id} JSON object
  void load_object(const json& j, const char* what);

 private:
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> by_token_;
  // Sparse: ids are any uint32 (a dense vector let one id of 4e9 in a hostile file allocate 4e9 strings).
  std::unordered_map<uint32_t, std::string> by_id_;
  size_t max_len_ = 0;
};

}  // namespace graft::text
