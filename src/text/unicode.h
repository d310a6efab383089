#pragma once
// UTF-8 and Unicode character-property helpers for the tokenizer layer. The predicates mirror the
// Rust standard library / unicode crates that Hugging Face `tokenizers` uses, so that splitting
// decisions agree code point for code point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace graft::text::unicode {

// Decodes the code point starting at s[i] (which must be valid UTF-8) and advances i.
char32_t next_char(std::string_view s, size_t& i);
// Decodes the code point that ends just before s[i] and moves i back to its first byte.
char32_t prev_char(std::string_view s, size_t& i);
// Number of bytes of the UTF-8 sequence introduced by lead byte b (1 for malformed bytes).
inline size_t utf8_len(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b >> 5) == 0x6) return 2;
  if ((b >> 4) == 0xE) return 3;
  if ((b >> 3) == 0x1E) return 4;
  return 1;
}
inline size_t char_len(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
void append_utf8(std::string& out, char32_t c);
std::string to_utf8(char32_t c);
std::vector<char32_t> to_chars(std::string_view s);
size_t count_chars(std::string_view s);

// Byte offset of the first invalid UTF-8 sequence, or npos when s is valid.
size_t find_invalid_utf8(std::string_view s);
// Replaces every maximal invalid subsequence with U+FFFD (the WHATWG / Rust from_utf8_lossy rule).
std::string to_valid_utf8_lossy(std::string_view bytes);

// ---- properties --------------------------------------------------------------------------------
int category(char32_t c);         // utf8proc category
int combining_class(char32_t c);
bool is_whitespace(char32_t c);   // Unicode White_Space (Rust char::is_whitespace)
bool is_alphabetic(char32_t c);   // approximates Rust char::is_alphabetic
bool is_numeric(char32_t c);      // Nd | Nl | No (Rust char::is_numeric)
bool is_alphanumeric(char32_t c);
bool is_punctuation(char32_t c);  // P* (unicode_categories is_punctuation)
bool is_ascii_punctuation(char32_t c);
bool is_bert_punctuation(char32_t c);  // ascii punctuation or P*
bool is_mark_nonspacing(char32_t c);   // Mn
bool is_other(char32_t c);             // Cc | Cf | Co (unicode_categories is_other)
bool is_word_char(char32_t c);         // regex \w (Unicode)
bool is_chinese_char(char32_t c);      // the CJK blocks BERT pads with spaces

// Full lower-case mapping of one code point (Rust char::to_lowercase; may yield several chars).
void to_lowercase(char32_t c, std::u32string& out);

}  // namespace graft::text::unicode
