#include "text/byte_level.h"

#include <utf8proc.h>

#include "text/unicode.h"

namespace graft::text::byte_level {

const std::array<char32_t, 256>& byte_to_char() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[b] = printable ? static_cast<char32_t>(b) : 256 + n++;
    }
    return t;
  }();
  return table;
}

std::optional<uint8_t> char_to_byte(char32_t c) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv;
    inv.fill(-1);
    const auto& t = byte_to_char();
    for (int b = 0; b < 256; ++b) inv[t[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  if (c >= inverse.size() || inverse[c] < 0) return std::nullopt;
  return static_cast<uint8_t>(inverse[c]);
}

namespace {
enum Class { Letter, Number, Space, Other };
Class classify(char32_t c) {
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return Letter;
    if (c >= '0' && c <= '9') return Number;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return Space;
    return Other;
  }
  if (unicode::is_whitespace(c)) return Space;
  switch (utf8proc_category(static_cast<int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return Letter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return Number;
    default:
      return Other;
  }
}
}  // namespace

std::vector<PatternPiece> gpt2_split(std::string_view s) {
  std::vector<PatternPiece> out;
  if (s.empty()) return {{0, 0, false}};
  size_t prev = 0;  // end of the last match
  auto emit = [&](size_t b, size_t e) {
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  };
  auto cls_at = [&](size_t i, size_t& next) {
    next = i;
    return classify(unicode::next_char(s, next));
  };
  size_t i = 0;
  while (i < s.size()) {
    // contractions
    if (s[i] == '\'' && i + 1 < s.size()) {
      char a = s[i + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        emit(i, i + 2);
        i += 2;
        continue;
      }
      if (i + 2 < s.size()) {
        char b = s[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
          emit(i, i + 3);
          i += 3;
          continue;
        }
      }
    }
    // ` ?X+` for X in letters, numbers, other
    size_t j = i;
    if (s[j] == ' ' && j + 1 < s.size()) ++j;
    size_t nx;
    Class c = cls_at(j, nx);
    if (j > i || c != Space) {
      if (c != Space) {
        size_t e = nx;
        while (e < s.size()) {
          size_t n2;
          if (cls_at(e, n2) != c) break;
          e = n2;
        }
        emit(i, e);
        i = e;
        continue;
      }
      // a space followed by whitespace: fall through to the whitespace rules with j = i
    }
    c = cls_at(i, nx);
    if (c == Space) {
      size_t e = nx, last_start = i;
      while (e < s.size()) {
        size_t n2;
        if (cls_at(e, n2) != Space) break;
        last_start = e;
        e = n2;
      }
      if (e == s.size() || last_start == i) {
        // \s+(?!\S) matches the whole run at the end of the text; otherwise a single whitespace char
        // followed by non-space falls to \s+
        emit(i, e);
        i = e;
      } else {
        emit(i, last_start);  // leave the last whitespace char to go with the next word
        i = last_start;
      }
      continue;
    }
    i = nx;  // cannot happen (every char is in some class), kept for safety
  }
  if (prev != s.size()) out.push_back({prev, s.size(), false});
  return out;
}

}  // namespace graft::text::byte_level
