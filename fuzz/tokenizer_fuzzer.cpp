// tokenizer.json bytes, a NUL byte, then text: graft::text::Tokenizer::from_json -> encode (single and pair,
// with the file's truncation/padding and with graft's own) -> decode of the ids it gave and of ids taken
// from the text's bytes. Invalid UTF-8 must be an error or replaced, never read past.
#include "fuzz_util.h"
#include "graft/text/tokenizer.h"

using graft::text::Tokenizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [json, text] = graft::fuzz::split_once(graft::fuzz::as_view(data, size), std::string_view("\0", 1));
  std::optional<Tokenizer> tok;
  try {
    tok.emplace(Tokenizer::from_json(json));
  } catch (const graft::Error&) {
    return 0;
  }
  // The text's last byte picks options; the rest is split in two for pair encoding.
  unsigned char knobs = text.empty() ? 0 : static_cast<unsigned char>(text.back());
  tok->set_invalid_utf8(knobs & 1 ? graft::text::InvalidUtf8::Replace : graft::text::InvalidUtf8::Error);
  if (knobs & 2) {
    graft::text::TruncationParams tp;
    tp.max_length = 1 + (knobs >> 4);
    tp.stride = (knobs >> 2) & 3;
    tok->set_truncation(tp);
  }
  if (knobs & 4) {
    graft::text::PaddingParams pp;
    pp.fixed_length = size_t(knobs >> 3);
    tok->set_padding(pp);
  }
  std::string_view first = text.substr(0, text.size() / 2), second = text.substr(text.size() / 2);
  try {
    graft::text::Encoding e = tok->encode(text, (knobs & 8) != 0);
    (void)tok->decode(e.ids, true);
    (void)tok->decode(e.ids, false);
    for (const auto& o : e.overflowing) (void)tok->decode(o.ids);
    (void)graft::text::byte_to_char_offsets(text, e.offsets);
  } catch (const graft::Error&) {
  }
  try {
    graft::text::Encoding e = tok->encode(first, second, true);
    (void)tok->decode(e.ids, false);
  } catch (const graft::Error&) {
  }
  try {
    std::vector<uint32_t> ids;
    for (size_t i = 0; i + 1 < text.size(); i += 2)
      ids.push_back(uint32_t(uint8_t(text[i])) | (uint32_t(uint8_t(text[i + 1])) << 8));
    (void)tok->decode(ids, (knobs & 16) != 0);
    for (uint32_t id : ids) (void)tok->id_to_token(id);
    (void)tok->token_to_id(first);
    (void)tok->vocab_size();
  } catch (const graft::Error&) {
  }
  return 0;
}
