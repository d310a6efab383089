// Decoders: WordPiece, ByteLevel, Metaspace, BPEDecoder, ByteFallback, Fuse, Strip, Replace, CTC and
// Sequence. Each rewrites the list of token strings; the results are concatenated.
#include "graft/core/error.h"
#include "text/byte_level.h"
#include "text/components.h"
#include "text/unicode.h"

namespace graft::text {

namespace {

namespace u = unicode;

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, i)) {
    out.append(s, i, p - i);
    out.append(to);
    i = p + from.size();
  }
  out.append(s, i, std::string::npos);
  return out;
}

std::string cleanup(std::string s) {
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},           {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [a, b] : rules) s = replace_all(std::move(s), a, b);
  return s;
}

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) {
          t.erase(0, prefix_.size());
        } else if (prefix_.empty()) {
          // replacen("", "", 1) is a no-op: every token "starts with" the empty prefix
        } else {
          t = " " + t;
        }
      }
      if (cleanup_) t = cleanup(std::move(t));
    }
    return tokens;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string tb;
      bool ok = true;
      for (size_t i = 0; i < t.size() && ok;) {
        auto b = byte_level::char_to_byte(u::next_char(t, i));
        if (b) tb.push_back(static_cast<char>(*b));
        else ok = false;
      }
      bytes += ok ? tb : t;
    }
    return {u::to_valid_utf8_lossy(bytes)};
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t rep, bool prepend) : rep_(rep), prepend_(prepend) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const auto& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        char32_t c = u::next_char(t, k);
        if (c == rep_) {
          if (!(i == 0 && prepend_)) out.push_back(' ');
        } else {
          u::append_utf8(out, c);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t rep_;
  bool prepend_;
};

class BPEDecoder : public Decoder {
 public:
  explicit BPEDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_all(std::move(tokens[i]), suffix_, i + 1 == tokens.size() ? "" : " ");
    return tokens;
  }

 private:
  std::string suffix_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (u::find_invalid_utf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending.size(); ++k) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      std::optional<uint8_t> byte;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        std::string h = t.substr(3, 2);
        size_t start = h[0] == '+' ? 1 : 0;  // Rust from_str_radix accepts a leading '+'
        bool ok = start < h.size();
        unsigned v = 0;
        for (size_t k = start; k < h.size() && ok; ++k) {
          char c = h[k];
          int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
          if (d < 0) ok = false;
          else v = v * 16 + static_cast<unsigned>(d);
        }
        if (ok) byte = static_cast<uint8_t>(v);
      }
      if (byte) {
        pending.push_back(static_cast<char>(*byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    return {all};
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      auto chars = u::to_chars(t);
      size_t start_cut = 0;
      for (size_t i = 0; i < start_ && i < chars.size(); ++i) {
        if (chars[i] != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < stop_ && i < chars.size(); ++i) {
        size_t index = chars.size() - i - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (size_t i = start_cut; i < stop_cut; ++i) u::append_utf8(out, chars[i]);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      for (const auto& piece : pattern_(t)) {
        if (piece.is_match) out += content_;
        else out.append(t, piece.start, piece.end - piece.start);
      }
      t = std::move(out);
    }
    return tokens;
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class CTCDecoder : public Decoder {
 public:
  CTCDecoder(std::string pad, std::string delim, bool cleanup)
      : pad_(std::move(pad)), delim_(std::move(delim)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;  // dedup consecutive repeats
      std::string r = replace_all(tokens[i], pad_, "");
      if (cleanup_) r = replace_all(cleanup(std::move(r)), delim_, " ");
      if (!r.empty()) out.push_back(std::move(r));
    }
    return out;
  }

 private:
  std::string pad_, delim_;
  bool cleanup_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::shared_ptr<Decoder>> v) : items_(std::move(v)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& d : items_) tokens = d->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::shared_ptr<Decoder>> items_;
};

char32_t one_char(const std::string& s, const char* what) {
  GRAFT_CHECK(!s.empty(), "tokenizer: ", what, " must be one character");
  size_t i = 0;
  return u::next_char(s, i);
}

}  // namespace

std::shared_ptr<Decoder> make_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  std::string type = jstr(j, "type");
  if (type == "WordPiece") return std::make_shared<WordPieceDecoder>(jstr(j, "prefix", "##"), jbool(j, "cleanup", true));
  if (type == "ByteLevel") return std::make_shared<ByteLevelDecoder>();
  if (type == "Metaspace") {
    bool prepend = true;
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) prepend = j["prepend_scheme"] != "never";
    else if (j.contains("add_prefix_space")) prepend = jbool(j, "add_prefix_space", true);
    return std::make_shared<MetaspaceDecoder>(one_char(jstr(j, "replacement", "\xE2\x96\x81"), "Metaspace replacement"),
                                              prepend);
  }
  if (type == "BPEDecoder") return std::make_shared<BPEDecoder>(jstr(j, "suffix", "</w>"));
  if (type == "ByteFallback") return std::make_shared<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_shared<FuseDecoder>();
  if (type == "Strip")
    return std::make_shared<StripDecoder>(one_char(jstr(j, "content", " "), "Strip content"), jnum<size_t>(j, "start", 0),
                                          jnum<size_t>(j, "stop", 0));
  if (type == "Replace") return std::make_shared<ReplaceDecoder>(parse_pattern(j.at("pattern"), "Replace"), jstr(j, "content"));
  if (type == "CTC")
    return std::make_shared<CTCDecoder>(jstr(j, "pad_token", "<pad>"), jstr(j, "word_delimiter_token", "|"),
                                        jbool(j, "cleanup", true));
  if (type == "Sequence") {
    std::vector<std::shared_ptr<Decoder>> v;
    for (const auto& d : j.at("decoders"))
      if (auto p = make_decoder(d)) v.push_back(p);
    return std::make_shared<SequenceDecoder>(std::move(v));
  }
  fail("tokenizer: unsupported decoder type \"", type, "\"");
}

}  // namespace graft::text
