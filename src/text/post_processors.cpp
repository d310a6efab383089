// Post-processors: BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel and Sequence.
#include <map>

#include "graft/core/error.h"
#include "text/components.h"

namespace graft::text {

namespace {

std::pair<std::string, uint32_t> token_pair(const json& j, const char* what) {
  GRAFT_CHECK(j.is_array() && j.size() == 2, "tokenizer: ", what, " must be [token, id]");
  return {j[0].get<std::string>(), jint<uint32_t>(j[1], std::string(what) + " id")};
}

// [a..] + e + [b..] with the given fields; sequence ids of e are `seq`, the added ones -1.
Encoding wrap(const Encoding& e, const std::vector<std::pair<std::string, uint32_t>>& before,
              const std::vector<std::pair<std::string, uint32_t>>& after, uint32_t before_type,
              uint32_t after_type, const std::vector<uint32_t>* type_override, int64_t seq) {
  Encoding r;
  auto add_special = [&](const std::pair<std::string, uint32_t>& t, uint32_t type) {
    r.ids.push_back(t.second);
    r.type_ids.push_back(type);
    r.tokens.push_back(t.first);
    r.word_ids.push_back(-1);
    r.offsets.push_back({0, 0});
    r.special_tokens_mask.push_back(1);
    r.attention_mask.push_back(1);
    r.sequence_ids.push_back(-1);
  };
  for (auto& t : before) add_special(t, before_type);
  r.ids.insert(r.ids.end(), e.ids.begin(), e.ids.end());
  if (type_override) r.type_ids.insert(r.type_ids.end(), type_override->begin(), type_override->end());
  else r.type_ids.insert(r.type_ids.end(), e.type_ids.begin(), e.type_ids.end());
  r.tokens.insert(r.tokens.end(), e.tokens.begin(), e.tokens.end());
  r.word_ids.insert(r.word_ids.end(), e.word_ids.begin(), e.word_ids.end());
  r.offsets.insert(r.offsets.end(), e.offsets.begin(), e.offsets.end());
  r.special_tokens_mask.insert(r.special_tokens_mask.end(), e.ids.size(), 0);
  r.attention_mask.insert(r.attention_mask.end(), e.ids.size(), 1);
  r.sequence_ids.insert(r.sequence_ids.end(), e.ids.size(), seq);
  for (auto& t : after) add_special(t, after_type);
  return r;
}

class BertProcessing : public PostProcessor {
 public:
  BertProcessing(std::pair<std::string, uint32_t> sep, std::pair<std::string, uint32_t> cls)
      : sep_(std::move(sep)), cls_(std::move(cls)) {}
  size_t added_tokens(bool is_pair) const override { return is_pair ? 3 : 2; }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    if (!add_special) return;
    for (size_t i = 0; i < encs.size(); ++i) {
      auto one = [&](const Encoding& e) {
        return i == 0 ? wrap(e, {cls_}, {sep_}, 0, 0, nullptr, 0) : wrap(e, {}, {sep_}, 1, 1, nullptr, 1);
      };
      Encoding r = one(encs[i]);
      for (const auto& o : encs[i].overflowing) r.overflowing.push_back(one(o));
      encs[i] = std::move(r);
    }
  }

 private:
  std::pair<std::string, uint32_t> sep_, cls_;
};

class RobertaProcessing : public PostProcessor {
 public:
  RobertaProcessing(std::pair<std::string, uint32_t> sep, std::pair<std::string, uint32_t> cls, bool trim,
                    bool add_prefix_space)
      : sep_(std::move(sep)), cls_(std::move(cls)), trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool is_pair) const override { return is_pair ? 4 : 2; }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    if (trim_)
      for (auto& e : encs) trim_byte_level_offsets(e, add_prefix_space_);
    if (!add_special) return;
    for (size_t i = 0; i < encs.size(); ++i) {
      auto one = [&](const Encoding& e) {
        if (i == 0) return wrap(e, {cls_}, {sep_}, 0, 0, nullptr, 0);
        std::vector<uint32_t> zeros(e.ids.size(), 0);  // RoBERTa has no segment embeddings
        return wrap(e, {sep_}, {sep_}, 0, 0, &zeros, 1);
      };
      Encoding r = one(encs[i]);
      for (const auto& o : encs[i].overflowing) r.overflowing.push_back(one(o));
      encs[i] = std::move(r);
    }
  }

 private:
  std::pair<std::string, uint32_t> sep_, cls_;
  bool trim_, add_prefix_space_;
};

class TemplateProcessing : public PostProcessor {
 public:
  struct Piece {
    bool is_sequence;
    std::string id;  // "A"/"B" or the special token name
    uint32_t type_id;
  };
  struct Special {
    std::vector<uint32_t> ids;
    std::vector<std::string> tokens;
  };
  TemplateProcessing(std::vector<Piece> single, std::vector<Piece> pair, std::map<std::string, Special> specials)
      : single_(std::move(single)), pair_(std::move(pair)), specials_(std::move(specials)) {
    for (const auto* t : {&single_, &pair_})
      for (const auto& p : *t)
        GRAFT_CHECK(p.is_sequence || specials_.count(p.id), "tokenizer: TemplateProcessing uses special token \"",
                    p.id, "\" that is missing from special_tokens");
  }
  size_t added_tokens(bool is_pair) const override {
    size_t n = 0;
    for (const auto& p : is_pair ? pair_ : single_)
      if (!p.is_sequence) n += specials_.at(p.id).ids.size();
    return n;
  }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    const auto& tmpl = encs.size() == 2 ? pair_ : single_;
    std::vector<Encoding> out;
    for (const auto& p : tmpl) {
      if (p.is_sequence) {
        size_t i = p.id == "A" ? 0 : 1;
        GRAFT_CHECK(i < encs.size(), "tokenizer: TemplateProcessing template uses $B without a pair");
        Encoding& e = encs[i];
        e.type_ids.assign(e.ids.size(), p.type_id);
        encoding_set_sequence_id(e, i);
        out.push_back(e);
      } else if (add_special) {
        const Special& s = specials_.at(p.id);
        Encoding e;
        size_t n = s.ids.size();
        e.ids = s.ids;
        e.type_ids.assign(n, p.type_id);
        e.tokens = s.tokens;
        e.tokens.resize(n);
        e.word_ids.assign(n, -1);
        e.offsets.assign(n, {0, 0});
        e.special_tokens_mask.assign(n, 1);
        e.attention_mask.assign(n, 1);
        e.sequence_ids.assign(n, -1);
        out.push_back(std::move(e));
      }
    }
    encs = std::move(out);
  }

 private:
  std::vector<Piece> single_, pair_;
  std::map<std::string, Special> specials_;
};

class ByteLevelProcessing : public PostProcessor {
 public:
  ByteLevelProcessing(bool trim, bool add_prefix_space) : trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool) const override { return 0; }
  void process_encodings(std::vector<Encoding>& encs, bool) const override {
    if (trim_)
      for (auto& e : encs) trim_byte_level_offsets(e, add_prefix_space_);
    for (size_t i = 0; i < encs.size(); ++i) encoding_set_sequence_id(encs[i], i);
  }

 private:
  bool trim_, add_prefix_space_;
};

class SequenceProcessing : public PostProcessor {
 public:
  explicit SequenceProcessing(std::vector<std::shared_ptr<PostProcessor>> v) : items_(std::move(v)) {}
  size_t added_tokens(bool is_pair) const override {
    size_t n = 0;
    for (auto& p : items_) n += p->added_tokens(is_pair);
    return n;
  }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    for (auto& p : items_) p->process_encodings(encs, add_special);
  }

 private:
  std::vector<std::shared_ptr<PostProcessor>> items_;
};

// "[CLS]:0 $A:0 [SEP]:0" (the string form of a template)
std::vector<TemplateProcessing::Piece> parse_template_string(const std::string& s) {
  std::vector<TemplateProcessing::Piece> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size()) break;
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    i = j;
    uint32_t type = 0;
    size_t colon = item.rfind(':');
    if (colon != std::string::npos && colon + 1 < item.size() &&
        item.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
      type = static_cast<uint32_t>(std::stoul(item.substr(colon + 1)));
      item = item.substr(0, colon);
    }
    if (item.size() >= 1 && item[0] == '$') {
      std::string id = item.substr(1);
      if (id.empty() || id == "A" || id == "a") out.push_back({true, "A", type});
      else if (id == "B" || id == "b") out.push_back({true, "B", type});
      else out.push_back({true, "A", static_cast<uint32_t>(std::stoul(id))});  // "$1" = $A:1
    } else {
      out.push_back({false, item, type});
    }
  }
  return out;
}

std::vector<TemplateProcessing::Piece> parse_template(const json& j) {
  if (j.is_string()) return parse_template_string(j.get<std::string>());
  std::vector<TemplateProcessing::Piece> out;
  for (const auto& p : j) {
    if (p.contains("Sequence")) {
      const auto& s = p["Sequence"];
      out.push_back({true, jstr(s, "id", "A"), jnum<uint32_t>(s, "type_id", 0)});
    } else if (p.contains("SpecialToken")) {
      const auto& s = p["SpecialToken"];
      out.push_back({false, jstr(s, "id"), jnum<uint32_t>(s, "type_id", 0)});
    } else {
      fail("tokenizer: TemplateProcessing piece ", p.dump(), " is neither Sequence nor SpecialToken");
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<PostProcessor> make_post_processor(const json& j) {
  if (j.is_null()) return nullptr;
  std::string type = jstr(j, "type");
  if (type == "BertProcessing")
    return std::make_shared<BertProcessing>(token_pair(j.at("sep"), "sep"), token_pair(j.at("cls"), "cls"));
  if (type == "RobertaProcessing")
    return std::make_shared<RobertaProcessing>(token_pair(j.at("sep"), "sep"), token_pair(j.at("cls"), "cls"),
                                               jbool(j, "trim_offsets", true), jbool(j, "add_prefix_space", true));
  if (type == "ByteLevel")
    return std::make_shared<ByteLevelProcessing>(jbool(j, "trim_offsets", true), jbool(j, "add_prefix_space", true));
  if (type == "TemplateProcessing") {
    std::map<std::string, TemplateProcessing::Special> specials;
    if (j.contains("special_tokens")) {
      for (auto it = j["special_tokens"].begin(); it != j["special_tokens"].end(); ++it) {
        TemplateProcessing::Special s;
        s.ids = it.value().at("ids").get<std::vector<uint32_t>>();
        s.tokens = it.value().at("tokens").get<std::vector<std::string>>();
        GRAFT_CHECK(s.ids.size() == s.tokens.size(), "tokenizer: special token \"", it.key(),
                    "\" has different numbers of ids and tokens");
        specials[jstr(it.value(), "id", it.key())] = std::move(s);
      }
    }
    return std::make_shared<TemplateProcessing>(parse_template(j.at("single")), parse_template(j.at("pair")),
                                                std::move(specials));
  }
  if (type == "Sequence") {
    std::vector<std::shared_ptr<PostProcessor>> v;
    for (const auto& p : j.at("processors"))
      if (auto q = make_post_processor(p)) v.push_back(q);
    return std::make_shared<SequenceProcessing>(std::move(v));
  }
  fail("tokenizer: unsupported post_processor type \"", type, "\"");
}

}  // namespace graft::text
