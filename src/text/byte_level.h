#pragma once
// GPT-2's reversible byte <-> printable-character map used by the ByteLevel pre-tokenizer, decoder
// and post-processor, and GPT-2's pre-tokenization regex (hand-written, no backtracking engine).
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "text/normalized_string.h"

namespace graft::text::byte_level {

const std::array<char32_t, 256>& byte_to_char();
std::optional<uint8_t> char_to_byte(char32_t c);

// Matches of 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ over s.
std::vector<PatternPiece> gpt2_split(std::string_view s);

}  // namespace graft::text::byte_level
