#pragma once
// The `graft tokenize` pipeline: one text (or pair) per input line in, one JSON encoding per line out,
// as Python's `tokenizers` reports it.
#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graft/text/tokenizer.h"

namespace graft::app {

enum class OffsetUnit {
  Chars,  // Unicode code points, as Python's tokenizers reports Encoding.offsets
  Bytes,  // UTF-8 bytes, as the Rust library (and graft::text::Encoding) does
};

// The offsets of `e` in `unit`, each token's against its own sequence's text (`second` for tokens of the
// second sequence of a pair). Special tokens and padding keep [0, 0].
std::vector<std::pair<size_t, size_t>> encoding_offsets(const text::Encoding& e, const std::string& first,
                                                        const std::optional<std::string>& second, OffsetUnit unit);

struct TokenizeLinesOptions {
  bool pair = false;   // each line holds two texts separated by the first TAB
  bool jsonl = false;  // each line is a JSON string, or (a pair) a JSON array of two strings
  bool add_special_tokens = true;
  OffsetUnit offsets = OffsetUnit::Chars;
  size_t threads = 1;  // lines encoded at once (each line alone, so the output does not depend on it)
};

// Reads `in` to its end and writes one JSON object per input line to `out`, keys in the order ids,
// type_ids, tokens, offsets, attention_mask. A line that cannot be encoded (not UTF-8, not JSON under
// jsonl, no TAB under pair) gives {"error": ..., "line": N} in its place and the message on `err`, so that
// output line N answers input line N. Returns 0, or 1 when any line failed.
int tokenize_lines(const text::Tokenizer& tokenizer, const TokenizeLinesOptions& options, std::istream& in,
                   std::ostream& out, std::ostream& err);
// The same over lines already read (command-line arguments, say).
int tokenize_lines(const text::Tokenizer& tokenizer, const TokenizeLinesOptions& options,
                   const std::vector<std::string>& lines, std::ostream& out, std::ostream& err);

}  // namespace graft::app
