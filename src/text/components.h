#pragma once
// The five pluggable stages of a tokenizer (as in Hugging Face `tokenizers`), each built from its
// tokenizer.json object by a make_* factory.
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "graft/core/error.h"
#include "graft/text/tokenizer.h"
#include "text/normalized_string.h"

namespace graft::text {

using json = nlohmann::json;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& s) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Tokens of one pre-token; offsets are byte offsets within `word`.
  virtual std::vector<Token> tokenize(std::string_view word) const = 0;
  virtual std::optional<uint32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(uint32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual size_t added_tokens(bool is_pair) const = 0;
  // Rewrites the per-sequence encodings (adding special tokens ...); they are merged afterwards.
  virtual void process_encodings(std::vector<Encoding>& encodings, bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
};

std::shared_ptr<Normalizer> make_normalizer(const json& j);      // nullptr for null
std::shared_ptr<PreTokenizer> make_pre_tokenizer(const json& j);  // nullptr for null
std::shared_ptr<Model> make_model(const json& j);
std::shared_ptr<PostProcessor> make_post_processor(const json& j);  // nullptr for null
std::shared_ptr<Decoder> make_decoder(const json& j);               // nullptr for null

// Encoding operations shared by the post-processors and the tokenizer (encoding.cpp).
void encoding_set_sequence_id(Encoding& e, size_t id);
void encoding_merge_with(Encoding& self, Encoding pair, bool growing_offsets);
Encoding encoding_merge(std::vector<Encoding> encodings, bool growing_offsets);
void encoding_truncate(Encoding& e, size_t max_len, size_t stride, Direction dir);
void encoding_pad(Encoding& e, size_t target, uint32_t pad_id, uint32_t pad_type_id, const std::string& pad_token,
                  Direction dir);
void trim_byte_level_offsets(Encoding& e, bool add_prefix_space);

// JSON helpers
inline std::string jstr(const json& j, const char* key, const std::string& def = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}
inline bool jbool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : def;
}
// A non-negative JSON integer that fits T. nlohmann's get<T>() converts any number (a float out of T's
// range is undefined behaviour; a negative integer wraps), and tokenizer.json files come from strangers.
template <typename T>
T jint(const json& v, const std::string& what) {
  static_assert(std::is_unsigned_v<T>);
  uint64_t x = 0;
  if (v.is_number_unsigned()) {
    x = v.get<uint64_t>();
  } else {
    GRAFT_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, "tokenizer: ", what,
                " must be a non-negative integer, got ", v.dump().substr(0, 60));
    x = uint64_t(v.get<int64_t>());
  }
  GRAFT_CHECK(x <= std::numeric_limits<T>::max(), "tokenizer: ", what, " ", x, " is out of range (at most ",
              uint64_t(std::numeric_limits<T>::max()), ")");
  return T(x);
}
template <typename T>
T jnum(const json& j, const char* key, T def) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? jint<T>(*it, key) : def;
}
// A Split / Replace "pattern": {"String": s} or {"Regex": r}.
Pattern parse_pattern(const json& j, const char* what);

}  // namespace graft::text
