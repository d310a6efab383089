// Normalizers: BertNormalizer, NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Strip, Replace, Prepend,
// Precompiled (SentencePiece charsmap) and Sequence.
#include <utf8proc.h>

#include "graft/core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace graft::text {

namespace {

namespace u = unicode;

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, std::optional<bool> strip, bool lower)
      : clean_(clean), chinese_(chinese), strip_(strip), lower_(lower) {}
  void normalize(NormalizedString& s) const override {
    if (clean_) {
      s.filter([](char32_t c) {
        bool control = !(c == '\t' || c == '\n' || c == '\r') && u::is_other(c);
        return !(c == 0 || c == 0xFFFD || control);
      });
      s.map([](char32_t c) { return (c == '\t' || c == '\n' || c == '\r' || u::is_whitespace(c)) ? U' ' : c; });
    }
    if (chinese_) {
      const std::string& str = s.get();
      bool any = false;
      for (size_t i = 0; i < str.size() && !any;) any = u::is_chinese_char(u::next_char(str, i));
      if (any) {
        std::vector<CharChange> dest;
        dest.reserve(str.size() + 16);
        for (size_t i = 0; i < str.size();) {
          char32_t c = u::next_char(str, i);
          if (u::is_chinese_char(c)) {
            dest.push_back({U' ', 0});
            dest.push_back({c, 1});
            dest.push_back({U' ', 1});
          } else {
            dest.push_back({c, 0});
          }
        }
        s.transform(dest, 0);
      }
    }
    if (strip_.value_or(lower_)) {
      s.unicode_normalize(NormalizedString::Form::NFD);
      s.filter([](char32_t c) { return !u::is_mark_nonspacing(c); });
    }
    if (lower_) s.lowercase();
  }

 private:
  bool clean_, chinese_;
  std::optional<bool> strip_;
  bool lower_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalizedString::Form f) : form_(f) {}
  void normalize(NormalizedString& s) const override { s.unicode_normalize(form_); }

 private:
  NormalizedString::Form form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override { s.lowercase(); }
};

class StripAccents : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) { return !u::is_mark_nonspacing(c); });
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool l, bool r) : left_(l), right_(r) {}
  void normalize(NormalizedString& s) const override { s.strip(left_, right_); }

 private:
  bool left_, right_;
};

class Replace : public Normalizer {
 public:
  Replace(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override { s.replace(pattern_, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(NormalizedString& s) const override {
    if (!s.empty()) s.prepend(prepend_);
  }

 private:
  std::string prepend_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::shared_ptr<Normalizer>> v) : items_(std::move(v)) {}
  void normalize(NormalizedString& s) const override {
    for (auto& n : items_) n->normalize(s);
  }

 private:
  std::vector<std::shared_ptr<Normalizer>> items_;
};

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    int v = val(c);
    GRAFT_CHECK(v >= 0, "tokenizer: Precompiled charsmap is not valid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// SentencePiece's precompiled character map: a darts-clone double-array trie over UTF-8 byte strings
// whose values index a pool of NUL-terminated replacement strings.
class Precompiled : public Normalizer {
 public:
  explicit Precompiled(const std::string& b64) {
    std::string blob = base64_decode(b64);
    GRAFT_CHECK(blob.size() >= 4, "tokenizer: Precompiled charsmap too short");
    uint32_t trie_size = static_cast<uint8_t>(blob[0]) | (static_cast<uint8_t>(blob[1]) << 8) |
                         (static_cast<uint8_t>(blob[2]) << 16) | (static_cast<uint32_t>(static_cast<uint8_t>(blob[3])) << 24);
    GRAFT_CHECK(4 + static_cast<size_t>(trie_size) <= blob.size(), "tokenizer: Precompiled charsmap trie size ",
                trie_size, " exceeds the blob (", blob.size(), " bytes)");
    units_.resize(trie_size / 4);
    for (size_t i = 0; i < units_.size(); ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(blob.data() + 4 + i * 4);
      units_[i] = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
    }
    pool_ = blob.substr(4 + trie_size);
  }

  void normalize(NormalizedString& s) const override {
    const std::string& str = s.get();
    if (str.empty() || units_.empty()) return;
    std::vector<CharChange> dest;
    dest.reserve(str.size());
    auto emit = [&](std::string_view norm, size_t old_count) {
      auto chars = u::to_chars(norm);
      for (size_t k = 0; k < chars.size(); ++k)
        dest.push_back({chars[k], k == 0 ? static_cast<int>(chars.size()) - static_cast<int>(old_count) : 0});
    };
    // iterate extended grapheme clusters
    size_t g_start = 0, i = 0;
    utf8proc_int32_t state = 0;
    char32_t prev = u::next_char(str, i);
    auto process = [&](size_t gs, size_t ge) {
      std::string_view g(str.data() + gs, ge - gs);
      if (g.size() < 6) {
        if (auto norm = lookup(g)) {
          emit(*norm, u::count_chars(g));
          return;
        }
      }
      for (size_t k = 0; k < g.size();) {
        size_t b = k;
        char32_t c = u::next_char(g, k);
        if (auto norm = lookup(g.substr(b, k - b))) emit(*norm, 1);
        else dest.push_back({c, 0});
      }
    };
    while (i < str.size()) {
      size_t b = i;
      char32_t c = u::next_char(str, i);
      if (utf8proc_grapheme_break_stateful(static_cast<int32_t>(prev), static_cast<int32_t>(c), &state)) {
        process(g_start, b);
        g_start = b;
      }
      prev = c;
    }
    process(g_start, str.size());
    s.transform(dest, 0);
  }

 private:
  static bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
  static uint32_t value(uint32_t u) { return u & ((1u << 31) - 1); }
  static uint32_t label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
  static uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

  // The replacement of the SHORTEST key that is a prefix of `chunk` (as spm_precompiled does).
  std::optional<std::string_view> lookup(std::string_view chunk) const {
    size_t pos = 0;
    uint32_t unit = units_[pos];
    pos ^= offset(unit);
    for (unsigned char c : chunk) {
      if (c == 0) break;
      pos ^= c;
      if (pos >= units_.size()) return std::nullopt;
      unit = units_[pos];
      if (label(unit) != c) return std::nullopt;
      pos ^= offset(unit);
      if (has_leaf(unit)) {
        if (pos >= units_.size()) return std::nullopt;
        size_t v = value(units_[pos]);
        if (v >= pool_.size()) return std::nullopt;
        size_t e = pool_.find('\0', v);
        if (e == std::string::npos) e = pool_.size();
        return std::string_view(pool_).substr(v, e - v);
      }
    }
    return std::nullopt;
  }

  std::vector<uint32_t> units_;
  std::string pool_;
};

}  // namespace

Pattern parse_pattern(const json& j, const char* what) {
  GRAFT_CHECK(j.is_object(), "tokenizer: ", what, ": pattern must be {\"String\": ...} or {\"Regex\": ...}");
  if (j.contains("String")) return literal_pattern(j["String"].get<std::string>());
  if (j.contains("Regex")) return regex_pattern(std::make_shared<const Regex>(j["Regex"].get<std::string>()));
  fail("tokenizer: ", what, ": pattern must be {\"String\": ...} or {\"Regex\": ...}, got ", j.dump());
}

std::shared_ptr<Normalizer> make_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  std::string type = jstr(j, "type");
  if (type == "BertNormalizer") {
    std::optional<bool> strip;
    if (j.contains("strip_accents") && j["strip_accents"].is_boolean()) strip = j["strip_accents"].get<bool>();
    return std::make_shared<BertNormalizer>(jbool(j, "clean_text", true), jbool(j, "handle_chinese_chars", true),
                                            strip, jbool(j, "lowercase", true));
  }
  if (type == "NFC") return std::make_shared<UnicodeNormalizer>(NormalizedString::Form::NFC);
  if (type == "NFD") return std::make_shared<UnicodeNormalizer>(NormalizedString::Form::NFD);
  if (type == "NFKC") return std::make_shared<UnicodeNormalizer>(NormalizedString::Form::NFKC);
  if (type == "NFKD") return std::make_shared<UnicodeNormalizer>(NormalizedString::Form::NFKD);
  if (type == "Lowercase") return std::make_shared<Lowercase>();
  if (type == "StripAccents") return std::make_shared<StripAccents>();
  if (type == "Strip") return std::make_shared<Strip>(jbool(j, "strip_left", true), jbool(j, "strip_right", true));
  if (type == "Replace") return std::make_shared<Replace>(parse_pattern(j.at("pattern"), "Replace"), jstr(j, "content"));
  if (type == "Prepend") return std::make_shared<Prepend>(jstr(j, "prepend"));
  if (type == "Precompiled") {
    auto it = j.find("precompiled_charsmap");
    if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) return nullptr;
    return std::make_shared<Precompiled>(it->get<std::string>());
  }
  if (type == "Sequence") {
    std::vector<std::shared_ptr<Normalizer>> v;
    for (const auto& n : j.at("normalizers"))
      if (auto p = make_normalizer(n)) v.push_back(p);
    return std::make_shared<SequenceNormalizer>(std::move(v));
  }
  fail("tokenizer: unsupported normalizer type \"", type, "\"");
}

}  // namespace graft::text
