#pragma once
// graft::text — Hugging Face `tokenizer.json` tokenizers, bit-exact with the `tokenizers` library.
//
//   auto tok = graft::text::Tokenizer::from_file("tokenizer.json");
//   graft::text::Encoding e = tok.encode("Hello, world!");
//   e.ids, e.tokens, e.offsets ...; tok.decode(e.ids);
//
// Offsets are BYTE offsets [start, end) into the UTF-8 input (the Rust library's native unit). The
// Python `tokenizers` API reports character offsets instead; `byte_to_char_offsets` converts.
// Special tokens added by the post-processor and padding have offsets (0, 0).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace graft::text {

struct Encoding {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<size_t, size_t>> offsets;  // byte offsets into the input of its sequence
  std::vector<int64_t> word_ids;                   // -1 where none (special tokens, padding)
  std::vector<uint32_t> special_tokens_mask;
  std::vector<uint32_t> attention_mask;
  std::vector<Encoding> overflowing;  // the windows truncation cut off (with stride), processed alike
  // For every token, which input sequence it belongs to (0 or 1), -1 for special tokens / padding.
  std::vector<int64_t> sequence_ids;

  size_t size() const { return ids.size(); }
};

// Converts byte offsets into `text` to character (code point) offsets, as the Python API reports them.
std::vector<std::pair<size_t, size_t>> byte_to_char_offsets(std::string_view text,
                                                            const std::vector<std::pair<size_t, size_t>>& offsets);

enum class TruncationStrategy { LongestFirst, OnlyFirst, OnlySecond };
enum class Direction { Left, Right };

struct TruncationParams {
  size_t max_length = 512;
  size_t stride = 0;
  TruncationStrategy strategy = TruncationStrategy::LongestFirst;
  Direction direction = Direction::Right;
};

struct PaddingParams {
  std::optional<size_t> fixed_length;  // empty: pad to the longest encoding of the batch
  std::optional<size_t> pad_to_multiple_of;
  Direction direction = Direction::Right;
  uint32_t pad_id = 0;
  uint32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

// What to do with input that is not valid UTF-8.
enum class InvalidUtf8 { Error, Replace };

class Tokenizer {
 public:
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_json(std::string_view json);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&);
  Tokenizer& operator=(const Tokenizer&);
  ~Tokenizer();

  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode(std::string_view text, std::string_view pair, bool add_special_tokens = true) const;
  // (without this, encode("a", "b") would pick the bool overload: const char* -> bool is a standard conversion)
  Encoding encode(std::string_view text, const char* pair, bool add_special_tokens = true) const {
    return encode(text, std::string_view(pair), add_special_tokens);
  }
  // Encodes every input on a pool of threads; the result does not depend on the thread count.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                     bool add_special_tokens = true) const;

  std::string decode(const std::vector<uint32_t>& ids, bool skip_special_tokens = true) const;
  std::vector<std::string> decode_batch(const std::vector<std::vector<uint32_t>>& ids,
                                        bool skip_special_tokens = true) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(uint32_t id) const;
  // Model vocabulary plus added tokens (HF get_vocab_size(with_added_tokens=true)).
  size_t vocab_size() const;

  const std::optional<TruncationParams>& truncation() const;
  const std::optional<PaddingParams>& padding() const;
  void set_truncation(std::optional<TruncationParams> params);
  void set_padding(std::optional<PaddingParams> params);
  void set_invalid_utf8(InvalidUtf8 policy);
  // Threads used by encode_batch (0 = hardware concurrency).
  void set_num_threads(size_t n);

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace graft::text
