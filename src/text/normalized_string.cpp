#include "text/normalized_string.h"

#include <utf8proc.h>

#include <algorithm>

#include "graft/core/error.h"
#include "text/unicode.h"

namespace graft::text {

using unicode::next_char;

// ---- patterns ------------------------------------------------------------------------------------

Pattern char_pattern(std::function<bool(char32_t)> pred) {
  return [pred = std::move(pred)](std::string_view s) {
    std::vector<PatternPiece> out;
    if (s.empty()) return std::vector<PatternPiece>{{0, 0, false}};
    size_t last = 0;
    for (size_t i = 0; i < s.size();) {
      size_t b = i;
      char32_t c = next_char(s, i);
      if (pred(c)) {
        if (last < b) out.push_back({last, b, false});
        out.push_back({b, i, true});
        last = i;
      }
    }
    if (last < s.size()) out.push_back({last, s.size(), false});
    return out;
  };
}

Pattern literal_pattern(std::string lit) {
  return [lit = std::move(lit)](std::string_view s) {
    std::vector<PatternPiece> out;
    if (lit.empty()) return std::vector<PatternPiece>{{0, s.size(), false}};
    if (s.empty()) return std::vector<PatternPiece>{{0, 0, false}};
    size_t prev = 0;
    for (size_t pos = s.find(lit); pos != std::string_view::npos; pos = s.find(lit, pos + lit.size())) {
      if (prev != pos) out.push_back({prev, pos, false});
      out.push_back({pos, pos + lit.size(), true});
      prev = pos + lit.size();
    }
    if (prev != s.size()) out.push_back({prev, s.size(), false});
    return out;
  };
}

Pattern regex_pattern(std::shared_ptr<const Regex> re) {
  return [re = std::move(re)](std::string_view s) {
    std::vector<PatternPiece> out;
    if (s.empty()) return std::vector<PatternPiece>{{0, 0, false}};
    size_t prev = 0;
    re->find_iter(s, [&](size_t b, size_t e) {
      if (prev != b) out.push_back({prev, b, false});
      out.push_back({b, e, true});
      prev = e;
    });
    if (prev != s.size()) out.push_back({prev, s.size(), false});
    return out;
  };
}

Pattern invert_pattern(Pattern p) {
  return [p = std::move(p)](std::string_view s) {
    auto v = p(s);
    for (auto& piece : v) piece.is_match = !piece.is_match;
    return v;
  };
}

SplitBehavior parse_split_behavior(const std::string& name) {
  if (name == "Removed" || name == "removed") return SplitBehavior::Removed;
  if (name == "Isolated" || name == "isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious" || name == "merged_with_previous") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext" || name == "merged_with_next") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous" || name == "contiguous") return SplitBehavior::Contiguous;
  fail("tokenizer: unknown split behavior \"", name, "\"");
}

// ---- NormalizedString ----------------------------------------------------------------------------

NormalizedString::NormalizedString(std::string_view text, size_t shift)
    : normalized_(text), orig_start_(shift), orig_end_(shift + text.size()) {
  align_.resize(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = unicode::utf8_len(static_cast<unsigned char>(text[i]));
    if (i + n > text.size()) n = text.size() - i;
    for (size_t k = 0; k < n; ++k)
      align_[i + k] = {static_cast<uint32_t>(shift + i), static_cast<uint32_t>(shift + i + n)};
    i += n;
  }
}

Offsets NormalizedString::convert_offsets(size_t start, size_t end) const {
  if (start == end) return {orig_start_ + start, orig_start_ + end};
  if (start > end) return {orig_start_ + start, orig_start_ + start};
  if (normalized_.empty()) return {orig_start_, orig_end_};
  if (end > align_.size()) return {start, end};
  return {align_[start].first, align_[end - 1].second};
}

void NormalizedString::transform_range(size_t start, size_t end, const std::vector<CharChange>& dest,
                                       size_t initial_offset) {
  std::string_view old(normalized_);
  size_t rp = start;
  for (size_t k = 0; k < initial_offset && rp < end; ++k) next_char(old, rp);
  std::string out;
  std::vector<std::pair<uint32_t, uint32_t>> aligns;
  out.reserve(end - start + dest.size());
  aligns.reserve(end - start + dest.size());
  const std::pair<uint32_t, uint32_t> zero{static_cast<uint32_t>(orig_start_), static_cast<uint32_t>(orig_start_)};
  for (const auto& d : dest) {
    std::pair<uint32_t, uint32_t> a;
    if (d.change > 0) {
      a = rp < 1 ? zero : align_[std::min(rp, align_.size()) - 1];
    } else {
      a = rp < align_.size() ? align_[rp] : (align_.empty() ? zero : align_.back());
      if (rp < end) next_char(old, rp);
      for (int k = 0; k < -d.change && rp < end; ++k) next_char(old, rp);
    }
    size_t before = out.size();
    unicode::append_utf8(out, d.c);
    aligns.insert(aligns.end(), out.size() - before, a);
  }
  if (start == 0 && end == normalized_.size()) {
    normalized_ = std::move(out);
    align_ = std::move(aligns);
  } else {
    normalized_.replace(start, end - start, out);
    align_.erase(align_.begin() + static_cast<std::ptrdiff_t>(start), align_.begin() + static_cast<std::ptrdiff_t>(end));
    align_.insert(align_.begin() + static_cast<std::ptrdiff_t>(start), aligns.begin(), aligns.end());
  }
}

NormalizedString NormalizedString::slice(size_t start, size_t end) const {
  NormalizedString r;
  r.normalized_ = normalized_.substr(start, end - start);
  r.align_.assign(align_.begin() + static_cast<std::ptrdiff_t>(start), align_.begin() + static_cast<std::ptrdiff_t>(end));
  Offsets o = convert_offsets(start, end);
  r.orig_start_ = o.first;
  r.orig_end_ = o.second;
  return r;
}

std::vector<NormalizedString> NormalizedString::split(const Pattern& pattern, SplitBehavior behavior) const {
  std::vector<PatternPiece> matches = pattern(normalized_);
  std::vector<std::pair<Offsets, bool>> splits;  // (range, remove)
  splits.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (auto& m : matches) splits.push_back({{m.start, m.end}, false});
      break;
    case SplitBehavior::Removed:
      for (auto& m : matches) splits.push_back({{m.start, m.end}, m.is_match});
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool prev_match = false;
      for (auto& m : matches) {
        if (m.is_match && !prev_match && !splits.empty()) splits.back().first.second = m.end;
        else splits.push_back({{m.start, m.end}, false});
        prev_match = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev_match = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !prev_match && !splits.empty()) splits.back().first.first = it->start;
        else splits.push_back({{it->start, it->end}, false});
        prev_match = it->is_match;
      }
      std::reverse(splits.begin(), splits.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool prev_match = false;
      for (auto& m : matches) {
        if (m.is_match == prev_match && !splits.empty()) splits.back().first.second = m.end;
        else splits.push_back({{m.start, m.end}, false});
        prev_match = m.is_match;
      }
      break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(splits.size());
  for (auto& [r, remove] : splits)
    if (!remove) out.push_back(slice(r.first, r.second));
  return out;
}

void NormalizedString::prepend(std::string_view s) {
  if (normalized_.empty() || s.empty()) return;
  size_t i = 0;
  char32_t next = next_char(normalized_, i);
  std::vector<CharChange> dest;
  size_t k = 0;
  for (size_t j = 0; j < s.size(); ++k) dest.push_back({next_char(s, j), k != 0 ? 1 : 0});
  dest.push_back({next, 1});
  transform_range(0, i, dest, 0);
}

void NormalizedString::append(std::string_view s) {
  if (normalized_.empty() || s.empty()) return;
  size_t b = normalized_.size();
  char32_t prev = unicode::prev_char(normalized_, b);
  std::vector<CharChange> dest{{prev, 0}};
  for (size_t j = 0; j < s.size();) dest.push_back({next_char(s, j), 1});
  transform_range(b, normalized_.size(), dest, 0);
}

void NormalizedString::replace(const Pattern& pattern, std::string_view content) {
  auto pieces = pattern(normalized_);
  std::string out;
  std::vector<std::pair<uint32_t, uint32_t>> aligns;
  out.reserve(normalized_.size());
  aligns.reserve(normalized_.size());
  const std::pair<uint32_t, uint32_t> zero{static_cast<uint32_t>(orig_start_), static_cast<uint32_t>(orig_start_)};
  for (const auto& p : pieces) {
    if (!p.is_match) {
      out.append(normalized_, p.start, p.end - p.start);
      aligns.insert(aligns.end(), align_.begin() + static_cast<std::ptrdiff_t>(p.start),
                    align_.begin() + static_cast<std::ptrdiff_t>(p.end));
    } else {
      auto a = p.end < 1 ? zero : align_[p.end - 1];
      out.append(content);
      aligns.insert(aligns.end(), content.size(), a);
    }
  }
  normalized_ = std::move(out);
  align_ = std::move(aligns);
}

void NormalizedString::filter(const std::function<bool(char32_t)>& keep) {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  int removed = 0;
  size_t removed_start = 0;
  std::optional<char32_t> last;
  for (size_t i = 0; i < normalized_.size();) {
    char32_t c = next_char(normalized_, i);
    if (keep(c)) {
      if (last) dest.push_back({*last, -removed});
      else removed_start = static_cast<size_t>(removed);
      last = c;
      removed = 0;
    } else {
      ++removed;
    }
  }
  if (last) dest.push_back({*last, -removed});
  else removed_start = static_cast<size_t>(removed);
  transform(dest, removed_start);
}

void NormalizedString::map(const std::function<char32_t(char32_t)>& f) {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  for (size_t i = 0; i < normalized_.size();) dest.push_back({f(next_char(normalized_, i)), 0});
  transform(dest, 0);
}

void NormalizedString::lowercase() {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  std::u32string buf;
  for (size_t i = 0; i < normalized_.size();) {
    buf.clear();
    unicode::to_lowercase(next_char(normalized_, i), buf);
    for (size_t k = 0; k < buf.size(); ++k) dest.push_back({buf[k], k > 0 ? 1 : 0});
  }
  transform(dest, 0);
}

void NormalizedString::strip(bool left, bool right) {
  auto chars = unicode::to_chars(normalized_);
  size_t lead = 0, trail = 0;
  if (left)
    while (lead < chars.size() && unicode::is_whitespace(chars[lead])) ++lead;
  if (right)
    while (trail < chars.size() - lead && unicode::is_whitespace(chars[chars.size() - 1 - trail])) ++trail;
  if (lead == 0 && trail == 0) return;
  std::vector<CharChange> dest;
  for (size_t i = lead; i + trail < chars.size(); ++i)
    dest.push_back({chars[i], i + trail + 1 == chars.size() ? -static_cast<int>(trail) : 0});
  transform(dest, lead);
}

// Unicode normalization, one "segment" (a starter and the characters that may combine or reorder with
// it) at a time, so that each output character can be attributed to the input characters it came from.
static bool is_hangul_vt(char32_t c) { return (c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2); }

static bool composes_as_second(char32_t c) {
  if (c < 0x300 || c > 0x10FFFF) return false;
  auto idx = utf8proc_get_property(static_cast<int32_t>(c))->comb_index;
  return idx != 0xFFFF && (idx & 0x8000);
}

void NormalizedString::unicode_normalize(Form form) {
  const bool compose = form == Form::NFC || form == Form::NFKC;
  const bool compat = form == Form::NFKC || form == Form::NFKD;
  auto chars = unicode::to_chars(normalized_);
  std::vector<CharChange> dest;
  dest.reserve(chars.size() + 8);
  std::vector<int32_t> buf;
  const auto opts = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0));
  auto is_boundary = [&](char32_t c) {
    if (c < 0x300) return true;
    if (unicode::combining_class(c) != 0) return false;
    if (compose && (is_hangul_vt(c) || composes_as_second(c))) return false;
    return true;
  };
  for (size_t i = 0; i < chars.size();) {
    size_t j = i + 1;
    while (j < chars.size() && !is_boundary(chars[j])) ++j;
    if (j == i + 1 && chars[i] < 0xC0) {
      dest.push_back({chars[i], 0});
      i = j;
      continue;
    }
    buf.clear();
    for (size_t k = i; k < j; ++k) {
      int32_t tmp[64];
      int bc = 0;
      auto n = utf8proc_decompose_char(static_cast<int32_t>(chars[k]), tmp, 64, opts, &bc);
      if (n < 0 || n > 64) {
        buf.push_back(static_cast<int32_t>(chars[k]));
      } else {
        buf.insert(buf.end(), tmp, tmp + n);
      }
    }
    // canonical ordering: stable sort of each run of non-starters by combining class
    for (size_t a = 0; a < buf.size();) {
      if (unicode::combining_class(static_cast<char32_t>(buf[a])) == 0) {
        ++a;
        continue;
      }
      size_t b = a;
      while (b < buf.size() && unicode::combining_class(static_cast<char32_t>(buf[b])) != 0) ++b;
      std::stable_sort(buf.begin() + static_cast<std::ptrdiff_t>(a), buf.begin() + static_cast<std::ptrdiff_t>(b),
                       [](int32_t x, int32_t y) {
                         return unicode::combining_class(static_cast<char32_t>(x)) <
                                unicode::combining_class(static_cast<char32_t>(y));
                       });
      a = b;
    }
    size_t len = buf.size();
    if (compose && len > 1) {
      auto r = utf8proc_normalize_utf32(buf.data(), static_cast<utf8proc_ssize_t>(len),
                                        static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE));
      if (r > 0) len = static_cast<size_t>(r);
    }
    size_t n_old = j - i;
    if (len >= n_old) {
      for (size_t k = 0; k < len; ++k) dest.push_back({static_cast<char32_t>(buf[k]), k < n_old ? 0 : 1});
    } else {
      for (size_t k = 0; k < len; ++k)
        dest.push_back({static_cast<char32_t>(buf[k]), k + 1 < len ? 0 : -static_cast<int>(n_old - len)});
    }
    i = j;
  }
  transform(dest, 0);
}

// ---- PreTokenizedString --------------------------------------------------------------------------

void PreTokenizedString::split(const std::function<std::vector<NormalizedString>(size_t, NormalizedString&&)>& f) {
  std::vector<Split> out;
  out.reserve(splits.size());
  for (size_t i = 0; i < splits.size(); ++i) {
    if (splits[i].tokens) {
      out.push_back(std::move(splits[i]));
      continue;
    }
    for (auto& n : f(i, std::move(splits[i].normalized)))
      if (!n.empty()) out.push_back({std::move(n), std::nullopt});
  }
  splits = std::move(out);
}

void PreTokenizedString::split_tokens(const std::function<std::vector<Split>(size_t, NormalizedString&&)>& f) {
  std::vector<Split> out;
  out.reserve(splits.size());
  for (size_t i = 0; i < splits.size(); ++i) {
    if (splits[i].tokens) {
      out.push_back(std::move(splits[i]));
      continue;
    }
    for (auto& s : f(i, std::move(splits[i].normalized)))
      if (!s.normalized.empty()) out.push_back(std::move(s));
  }
  splits = std::move(out);
}

void PreTokenizedString::normalize(const std::function<void(NormalizedString&)>& f) {
  for (auto& s : splits)
    if (!s.tokens) f(s.normalized);
}

}  // namespace graft::text
