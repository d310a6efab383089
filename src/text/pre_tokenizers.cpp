// Pre-tokenizers: BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel, Metaspace, Split,
// Punctuation, Digits, CharDelimiterSplit and Sequence.
#include "graft/core/error.h"
#include "text/byte_level.h"
#include "text/components.h"
#include "text/unicode.h"

namespace graft::text {

namespace {

namespace u = unicode;

std::vector<NormalizedString> one(NormalizedString&& n) {
  std::vector<NormalizedString> v;
  v.push_back(std::move(n));
  return v;
}

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    static const Pattern ws = char_pattern(u::is_whitespace);
    static const Pattern punct = char_pattern(u::is_bert_punctuation);
    s.split([](size_t, NormalizedString&& n) { return n.split(ws, SplitBehavior::Removed); });
    s.split([](size_t, NormalizedString&& n) { return n.split(punct, SplitBehavior::Isolated); });
  }
};

// \w+|[^\w\s]+, as Rust's regex crate evaluates it (Unicode classes).
std::vector<PatternPiece> whitespace_matches(std::string_view s) {
  std::vector<PatternPiece> out;
  if (s.empty()) return {{0, 0, false}};
  size_t prev = 0;
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    char32_t c = u::next_char(s, i);
    int cls = u::is_word_char(c) ? 1 : u::is_whitespace(c) ? 0 : 2;
    if (cls == 0) continue;
    size_t e = i;
    while (e < s.size()) {
      size_t n = e;
      char32_t d = u::next_char(s, n);
      int dc = u::is_word_char(d) ? 1 : u::is_whitespace(d) ? 0 : 2;
      if (dc != cls) break;
      e = n;
    }
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
    i = e;
  }
  if (prev != s.size()) out.push_back({prev, s.size(), false});
  return out;
}

class WhitespacePreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    static const Pattern p = invert_pattern(whitespace_matches);
    s.split([](size_t, NormalizedString&& n) { return n.split(p, SplitBehavior::Removed); });
  }
};

class PatternSplit : public PreTokenizer {
 public:
  PatternSplit(Pattern p, SplitBehavior b) : pattern_(std::move(p)), behavior_(b) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split([this](size_t, NormalizedString&& n) { return n.split(pattern_, behavior_); });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    static const Pattern re = byte_level::gpt2_split;
    s.split([this](size_t, NormalizedString&& n) {
      if (add_prefix_space_ && (n.empty() || n.get()[0] != ' ')) n.prepend(" ");
      if (use_regex_) return n.split(re, SplitBehavior::Isolated);
      return one(std::move(n));
    });
    const auto& table = byte_level::byte_to_char();
    s.normalize([&](NormalizedString& n) {
      const std::string& str = n.get();
      std::vector<CharChange> dest;
      dest.reserve(str.size());
      for (size_t i = 0; i < str.size();) {
        size_t len = u::utf8_len(static_cast<unsigned char>(str[i]));
        for (size_t k = 0; k < len && i + k < str.size(); ++k)
          dest.push_back({table[static_cast<unsigned char>(str[i + k])], k > 0 ? 1 : 0});
        i += len;
      }
      n.transform(dest, 0);
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
};

enum class PrependScheme { First, Never, Always };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : rep_(u::to_utf8(replacement)), scheme_(scheme), split_(split), split_pattern_(literal_pattern(rep_)) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    static const Pattern space = literal_pattern(" ");
    s.split([this](size_t, NormalizedString&& n) {
      n.replace(space, rep_);
      bool starts = n.get().compare(0, rep_.size(), rep_) == 0;
      if (scheme_ == PrependScheme::Always && !starts) n.prepend(rep_);
      if (scheme_ == PrependScheme::First && !starts && n.original_offsets().first == 0) n.prepend(rep_);
      if (split_) return n.split(split_pattern_, SplitBehavior::MergedWithNext);
      return one(std::move(n));
    });
  }

 private:
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
  Pattern split_pattern_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::shared_ptr<PreTokenizer>> v) : items_(std::move(v)) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    for (auto& p : items_) p->pre_tokenize(s);
  }

 private:
  std::vector<std::shared_ptr<PreTokenizer>> items_;
};

char32_t single_char(const std::string& s, const char* what) {
  GRAFT_CHECK(!s.empty(), "tokenizer: ", what, " must be one character");
  size_t i = 0;
  char32_t c = u::next_char(s, i);
  return c;
}

}  // namespace

std::shared_ptr<PreTokenizer> make_pre_tokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  std::string type = jstr(j, "type");
  if (type == "BertPreTokenizer") return std::make_shared<BertPreTokenizer>();
  if (type == "Whitespace") return std::make_shared<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_shared<PatternSplit>(char_pattern(u::is_whitespace), SplitBehavior::Removed);
  if (type == "ByteLevel")
    return std::make_shared<ByteLevelPreTokenizer>(jbool(j, "add_prefix_space", true), jbool(j, "use_regex", true));
  if (type == "Metaspace") {
    char32_t rep = single_char(jstr(j, "replacement", "\xE2\x96\x81"), "Metaspace replacement");
    PrependScheme scheme = PrependScheme::Always;
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      std::string ps = j["prepend_scheme"];
      if (ps == "first") scheme = PrependScheme::First;
      else if (ps == "never") scheme = PrependScheme::Never;
      else if (ps == "always") scheme = PrependScheme::Always;
      else fail("tokenizer: unknown Metaspace prepend_scheme \"", ps, "\"");
    } else if (j.contains("add_prefix_space")) {
      scheme = jbool(j, "add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
    }
    return std::make_shared<MetaspacePreTokenizer>(rep, scheme, jbool(j, "split", true));
  }
  if (type == "Split") {
    Pattern p = parse_pattern(j.at("pattern"), "Split");
    if (jbool(j, "invert", false)) p = invert_pattern(std::move(p));
    return std::make_shared<PatternSplit>(std::move(p), parse_split_behavior(jstr(j, "behavior", "Isolated")));
  }
  if (type == "Punctuation")
    return std::make_shared<PatternSplit>(char_pattern(u::is_bert_punctuation),
                                          parse_split_behavior(jstr(j, "behavior", "Isolated")));
  if (type == "Digits")
    return std::make_shared<PatternSplit>(char_pattern(u::is_numeric), jbool(j, "individual_digits", false)
                                                                           ? SplitBehavior::Isolated
                                                                           : SplitBehavior::Contiguous);
  if (type == "CharDelimiterSplit") {
    char32_t d = single_char(jstr(j, "delimiter"), "CharDelimiterSplit delimiter");
    return std::make_shared<PatternSplit>(char_pattern([d](char32_t c) { return c == d; }), SplitBehavior::Removed);
  }
  if (type == "Sequence") {
    std::vector<std::shared_ptr<PreTokenizer>> v;
    for (const auto& p : j.at("pretokenizers"))
      if (auto q = make_pre_tokenizer(p)) v.push_back(q);
    return std::make_shared<SequencePreTokenizer>(std::move(v));
  }
  fail("tokenizer: unsupported pre_tokenizer type \"", type, "\"");
}

}  // namespace graft::text
