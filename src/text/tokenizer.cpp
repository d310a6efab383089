// Tokenizer: loads tokenizer.json and runs the pipeline
//   added tokens -> normalizer -> pre-tokenizer -> model -> truncation -> post-processor -> padding
// exactly in the order (and with the edge cases) of Hugging Face `tokenizers`.
#include "graft/text/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>

#include "graft/core/error.h"
#include "graft/core/limits.h"
#include "core/thread_affinity.h"
#include "text/added_vocabulary.h"
#include "text/components.h"
#include "text/unicode.h"

namespace graft::text {

struct Tokenizer::Impl {
  std::shared_ptr<Normalizer> normalizer;
  std::shared_ptr<PreTokenizer> pre_tokenizer;
  std::shared_ptr<Model> model;
  std::shared_ptr<PostProcessor> post_processor;
  std::shared_ptr<Decoder> decoder;
  std::shared_ptr<AddedVocabulary> added;
  std::optional<TruncationParams> truncation;
  std::optional<PaddingParams> padding;
  InvalidUtf8 invalid_utf8 = InvalidUtf8::Error;
  size_t num_threads = 0;

  Encoding encode_single(std::string_view text, uint32_t type_id) const;
  Encoding encode(std::string_view a, const std::string_view* b, bool add_special) const;
  Encoding post_process(Encoding a, std::optional<Encoding> b, bool add_special) const;
  void pad_all(std::vector<Encoding>& encs) const;
};

namespace {

Direction parse_direction(const json& j, const char* key) {
  std::string d = jstr(j, key, "Right");
  if (d == "Right") return Direction::Right;
  if (d == "Left") return Direction::Left;
  fail("tokenizer: unknown ", key, " \"", d, "\"");
}

std::optional<TruncationParams> parse_truncation(const json& j) {
  if (j.is_null()) return std::nullopt;
  TruncationParams t;
  t.max_length = jnum<size_t>(j, "max_length", 512);
  t.stride = jnum<size_t>(j, "stride", 0);
  std::string s = jstr(j, "strategy", "LongestFirst");
  if (s == "LongestFirst") t.strategy = TruncationStrategy::LongestFirst;
  else if (s == "OnlyFirst") t.strategy = TruncationStrategy::OnlyFirst;
  else if (s == "OnlySecond") t.strategy = TruncationStrategy::OnlySecond;
  else fail("tokenizer: unknown truncation strategy \"", s, "\"");
  t.direction = parse_direction(j, "direction");
  return t;
}

// Padding makes every encoding this long: a bound keeps a hostile "Fixed": 1e15 from allocating without end.
constexpr size_t kMaxPaddedLength = size_t(1) << 20;

void check_padding(const PaddingParams& p) {
  GRAFT_CHECK(!p.fixed_length || *p.fixed_length <= kMaxPaddedLength, "tokenizer: padding length ", *p.fixed_length,
              " is over the limit of ", kMaxPaddedLength, " tokens");
  GRAFT_CHECK(!p.pad_to_multiple_of || *p.pad_to_multiple_of <= kMaxPaddedLength, "tokenizer: pad_to_multiple_of ",
              *p.pad_to_multiple_of, " is over the limit of ", kMaxPaddedLength, " tokens");
}

std::optional<PaddingParams> parse_padding(const json& j) {
  if (j.is_null()) return std::nullopt;
  PaddingParams p;
  if (j.contains("strategy")) {
    const auto& s = j["strategy"];
    if (s.is_object() && s.contains("Fixed")) p.fixed_length = jint<size_t>(s["Fixed"], "padding length");
    else if (!(s.is_string() && s.get<std::string>() == "BatchLongest"))
      fail("tokenizer: unknown padding strategy ", s.dump());
  }
  if (j.contains("pad_to_multiple_of") && j["pad_to_multiple_of"].is_number())
    p.pad_to_multiple_of = jint<size_t>(j["pad_to_multiple_of"], "pad_to_multiple_of");
  p.direction = parse_direction(j, "direction");
  p.pad_id = jnum<uint32_t>(j, "pad_id", 0);
  p.pad_type_id = jnum<uint32_t>(j, "pad_type_id", 0);
  p.pad_token = jstr(j, "pad_token", "[PAD]");
  check_padding(p);
  return p;
}

void truncate_encodings(Encoding& a, std::optional<Encoding>& b, const TruncationParams& p) {
  if (p.max_length == 0) {
    encoding_truncate(a, 0, p.stride, p.direction);
    if (b) encoding_truncate(*b, 0, p.stride, p.direction);
    return;
  }
  const size_t total = a.size() + (b ? b->size() : 0);
  if (total <= p.max_length) return;
  const size_t to_remove = total - p.max_length;
  if (p.strategy == TruncationStrategy::LongestFirst) {
    if (b) {
      size_t n1 = a.size(), n2 = b->size();
      bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      if (n1 > p.max_length) n2 = n1;
      else n2 = std::max(n1, p.max_length - n1);
      if (n1 + n2 > p.max_length) {
        n1 = p.max_length / 2;
        n2 = n1 + p.max_length % 2;
      }
      if (swap) std::swap(n1, n2);
      encoding_truncate(a, n1, p.stride, p.direction);
      encoding_truncate(*b, n2, p.stride, p.direction);
    } else {
      encoding_truncate(a, total - to_remove, p.stride, p.direction);
    }
    return;
  }
  Encoding* target = &a;
  if (p.strategy == TruncationStrategy::OnlySecond) {
    GRAFT_CHECK(b, "tokenizer: truncation strategy OnlySecond needs a pair of sequences");
    target = &*b;
  }
  GRAFT_CHECK(target->size() > to_remove, "tokenizer: cannot truncate: the sequence to truncate has ", target->size(),
              " tokens but ", to_remove, " must go (max_length ", p.max_length, ")");
  encoding_truncate(*target, target->size() - to_remove, p.stride, p.direction);
}

}  // namespace

Encoding Tokenizer::Impl::encode_single(std::string_view text, uint32_t type_id) const {
  std::string repaired;
  size_t bad = unicode::find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    GRAFT_CHECK(invalid_utf8 == InvalidUtf8::Replace, "tokenizer: input is not valid UTF-8 (invalid byte 0x", std::hex,
                static_cast<unsigned>(static_cast<unsigned char>(text[bad])), std::dec, " at byte offset ", bad, ")");
    repaired = unicode::to_valid_utf8_lossy(text);
    text = repaired;
  }
  GRAFT_CHECK(text.size() < (size_t{1} << 32), "tokenizer: input of ", text.size(), " bytes exceeds the 4 GiB limit");
  PreTokenizedString p = added->extract_and_normalize(normalizer.get(), text);
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(p);
  Encoding e;
  for (size_t idx = 0; idx < p.splits.size(); ++idx) {
    Split& s = p.splits[idx];
    if (!s.tokens) s.tokens = model->tokenize(s.normalized.get());
    for (auto& t : *s.tokens) {
      e.ids.push_back(t.id);
      e.tokens.push_back(std::move(t.value));
      e.offsets.push_back(s.normalized.convert_offsets(t.offsets.first, t.offsets.second));
      e.word_ids.push_back(static_cast<int64_t>(idx));
    }
  }
  const size_t n = e.ids.size();
  e.type_ids.assign(n, type_id);
  e.special_tokens_mask.assign(n, 0);
  e.attention_mask.assign(n, 1);
  e.sequence_ids.assign(n, -1);
  return e;
}

Encoding Tokenizer::Impl::post_process(Encoding a, std::optional<Encoding> b, bool add_special) const {
  if (truncation) {
    TruncationParams p = *truncation;
    size_t added_n = add_special && post_processor ? post_processor->added_tokens(b.has_value()) : 0;
    if (add_special && added_n > 0) p.max_length = p.max_length > added_n ? p.max_length - added_n : 0;
    truncate_encodings(a, b, p);
  }
  Encoding out;
  if (post_processor) {
    std::vector<Encoding> encs;
    encs.push_back(std::move(a));
    if (b) encs.push_back(std::move(*b));
    for (size_t i = 0; i < encs.size(); ++i) encoding_set_sequence_id(encs[i], i);
    post_processor->process_encodings(encs, add_special);
    out = encoding_merge(std::move(encs), false);
  } else if (b) {
    encoding_set_sequence_id(a, 0);
    encoding_set_sequence_id(*b, 1);
    out = encoding_merge({std::move(a), std::move(*b)}, false);
  } else {
    out = std::move(a);
  }
  if (padding) {
    std::vector<Encoding> one;
    one.push_back(std::move(out));
    pad_all(one);
    out = std::move(one[0]);
  }
  return out;
}

void Tokenizer::Impl::pad_all(std::vector<Encoding>& encs) const {
  if (!padding || encs.empty()) return;
  size_t len = 0;
  if (padding->fixed_length) {
    len = *padding->fixed_length;
  } else {
    for (auto& e : encs) len = std::max(len, e.size());
  }
  if (padding->pad_to_multiple_of && *padding->pad_to_multiple_of > 0 && len % *padding->pad_to_multiple_of)
    len += *padding->pad_to_multiple_of - len % *padding->pad_to_multiple_of;
  for (auto& e : encs)
    encoding_pad(e, len, padding->pad_id, padding->pad_type_id, padding->pad_token, padding->direction);
}

Encoding Tokenizer::Impl::encode(std::string_view a, const std::string_view* b, bool add_special) const {
  Encoding ea = encode_single(a, 0);
  std::optional<Encoding> eb;
  if (b) eb = encode_single(*b, 1);
  return post_process(std::move(ea), std::move(eb), add_special);
}

// ---- Tokenizer ---------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::Tokenizer(const Tokenizer& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Tokenizer& Tokenizer::operator=(const Tokenizer& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GRAFT_CHECK(f, "tokenizer: cannot open \"", path, "\"");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return from_json(ss.str());
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

Tokenizer Tokenizer::from_json(std::string_view text) {
  json j;
  try {
    // Components nest (a Sequence of normalizers may hold Sequences) and are built recursively: bound the
    // depth while parsing, before a hostile file can exhaust the stack.
    j = json::parse(text, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonNesting)
        fail("tokenizer: JSON nested more than ", kMaxJsonNesting, " levels deep (a corrupted or hostile file?)");
      return true;
    });
  } catch (const json::exception& e) {
    fail("tokenizer: invalid JSON: ", e.what());
  }
  GRAFT_CHECK(j.is_object(), "tokenizer: tokenizer.json must hold an object");
  GRAFT_CHECK(j.contains("model"), "tokenizer: tokenizer.json has no \"model\"");
  auto impl = std::make_unique<Impl>();
  try {
    auto get = [&](const char* k) -> json { return j.contains(k) ? j[k] : json(nullptr); };
    impl->normalizer = make_normalizer(get("normalizer"));
    impl->pre_tokenizer = make_pre_tokenizer(get("pre_tokenizer"));
    impl->model = make_model(j["model"]);
    impl->post_processor = make_post_processor(get("post_processor"));
    impl->decoder = make_decoder(get("decoder"));
    impl->truncation = parse_truncation(get("truncation"));
    impl->padding = parse_padding(get("padding"));
    std::vector<AddedToken> added;
    for (const auto& t : get("added_tokens").is_array() ? j["added_tokens"] : json::array()) {
      AddedToken a;
      a.content = jstr(t, "content");
      a.special = jbool(t, "special", false);
      a.single_word = jbool(t, "single_word", false);
      a.lstrip = jbool(t, "lstrip", false);
      a.rstrip = jbool(t, "rstrip", false);
      a.normalized = jbool(t, "normalized", !a.special);
      if (t.contains("id") && t["id"].is_number()) {
        a.id = jint<uint32_t>(t["id"], "id of added token \"" + a.content.substr(0, 40) + "\"");
      } else {
        auto id = impl->model->token_to_id(a.content);
        GRAFT_CHECK(id, "tokenizer: added token \"", a.content, "\" has no id");
        a.id = *id;
      }
      added.push_back(std::move(a));
    }
    impl->added = std::make_shared<AddedVocabulary>(std::move(added), impl->normalizer.get());
  } catch (const json::exception& e) {
    fail("tokenizer: malformed tokenizer.json: ", e.what());
  }
  return Tokenizer(std::move(impl));
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, nullptr, add_special_tokens);
}

Encoding Tokenizer::encode(std::string_view text, std::string_view pair, bool add_special_tokens) const {
  return impl_->encode(text, &pair, add_special_tokens);
}

namespace {
// Runs f(i) for i in [0, n) on up to `threads` threads; rethrows the exception of the lowest index.
template <typename F>
void parallel_for(size_t n, size_t threads, F f) {
  if (threads == 0) threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  threads = std::min(threads, n);
  std::vector<std::exception_ptr> errors(n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) {
      try {
        f(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        run_on_all_openmp_cpus();  // not on the one CPU a bound OpenMP gave the thread that started this
        for (size_t i = next++; i < n; i = next++) {
          try {
            f(i);
          } catch (...) {
            errors[i] = std::current_exception();
          }
        }
      });
    for (auto& th : pool) th.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}
}  // namespace

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts, bool add_special_tokens) const {
  std::vector<Encoding> out(texts.size());
  parallel_for(texts.size(), impl_->num_threads,
               [&](size_t i) { out[i] = impl_->encode(texts[i], nullptr, add_special_tokens); });
  impl_->pad_all(out);
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                              bool add_special_tokens) const {
  std::vector<Encoding> out(pairs.size());
  parallel_for(pairs.size(), impl_->num_threads, [&](size_t i) {
    std::string_view b = pairs[i].second;
    out[i] = impl_->encode(pairs[i].first, &b, add_special_tokens);
  });
  impl_->pad_all(out);
  return out;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (uint32_t id : ids) {
    std::optional<std::string> t = impl_->added->id_to_token(id);
    if (!t) t = impl_->model->id_to_token(id);
    if (!t) continue;
    if (skip_special_tokens && impl_->added->is_special(*t)) continue;
    tokens.push_back(std::move(*t));
  }
  if (impl_->decoder) {
    std::string out;
    for (auto& s : impl_->decoder->decode_chain(std::move(tokens))) out += s;
    return out;
  }
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i];
  }
  return out;
}

std::vector<std::string> Tokenizer::decode_batch(const std::vector<std::vector<uint32_t>>& ids,
                                                 bool skip_special_tokens) const {
  std::vector<std::string> out(ids.size());
  parallel_for(ids.size(), impl_->num_threads, [&](size_t i) { out[i] = decode(ids[i], skip_special_tokens); });
  return out;
}

std::optional<uint32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added->token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(uint32_t id) const {
  if (auto t = impl_->added->id_to_token(id)) return t;
  return impl_->model->id_to_token(id);
}

size_t Tokenizer::vocab_size() const {
  size_t n = impl_->model->vocab_size();
  for (const auto& t : impl_->added->tokens())
    if (!t.content.empty() && !impl_->model->token_to_id(t.content)) ++n;
  return n;
}

const std::optional<TruncationParams>& Tokenizer::truncation() const { return impl_->truncation; }
const std::optional<PaddingParams>& Tokenizer::padding() const { return impl_->padding; }
void Tokenizer::set_truncation(std::optional<TruncationParams> p) { impl_->truncation = std::move(p); }
void Tokenizer::set_padding(std::optional<PaddingParams> p) {
  if (p) check_padding(*p);
  impl_->padding = std::move(p);
}
void Tokenizer::set_invalid_utf8(InvalidUtf8 policy) { impl_->invalid_utf8 = policy; }
void Tokenizer::set_num_threads(size_t n) { impl_->num_threads = n; }

}  // namespace graft::text
