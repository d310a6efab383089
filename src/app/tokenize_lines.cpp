// graft tokenize's pipeline: lines in, JSON encodings out (graft/app/tokenize_lines.h).
#include "graft/app/tokenize_lines.h"

#include <nlohmann/json.hpp>

#include <iostream>

#include "graft/core/error.h"

namespace graft::app {

namespace {

using ordered_json = nlohmann::ordered_json;

struct Input {
  std::string first;
  std::optional<std::string> second;
};

// One input line as a text or a pair; throws graft::Error when it does not fit the mode.
Input parse_line(const TokenizeLinesOptions& o, std::string line) {
  if (o.jsonl) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("not a JSON string or array of two strings: ", e.what());
    }
    if (j.is_string()) {
      GRAFT_CHECK(!o.pair, "--pair expects a JSON array of two strings, got a single string");
      return {j.get<std::string>(), std::nullopt};
    }
    GRAFT_CHECK(j.is_array() && j.size() == 2 && j[0].is_string() && j[1].is_string(),
                "expected a JSON string or an array of two strings, got ",
                j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).substr(0, 80));
    return {j[0].get<std::string>(), j[1].get<std::string>()};
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF input
  if (!o.pair) return {std::move(line), std::nullopt};
  auto tab = line.find('\t');
  GRAFT_CHECK(tab != std::string::npos, "--pair expects two texts separated by a TAB");
  return {line.substr(0, tab), line.substr(tab + 1)};
}

ordered_json encode_line(const text::Tokenizer& tok, const TokenizeLinesOptions& o, const Input& in) {
  text::Encoding e = in.second ? tok.encode(in.first, *in.second, o.add_special_tokens)
                               : tok.encode(in.first, o.add_special_tokens);
  ordered_json j;
  j["ids"] = e.ids;
  j["type_ids"] = e.type_ids;
  j["tokens"] = e.tokens;
  ordered_json offs = ordered_json::array();
  for (auto [s, t] : encoding_offsets(e, in.first, in.second, o.offsets)) offs.push_back({s, t});
  j["offsets"] = std::move(offs);
  j["attention_mask"] = e.attention_mask;
  return j;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> encoding_offsets(const text::Encoding& e, const std::string& first,
                                                        const std::optional<std::string>& second, OffsetUnit unit) {
  if (unit == OffsetUnit::Bytes) return e.offsets;
  std::vector<std::pair<size_t, size_t>> offsets = e.offsets;
  std::vector<std::pair<size_t, size_t>> from_first = text::byte_to_char_offsets(first, e.offsets);
  std::vector<std::pair<size_t, size_t>> from_second;
  if (second) from_second = text::byte_to_char_offsets(*second, e.offsets);
  for (size_t i = 0; i < offsets.size(); ++i) {
    bool in_second = second && i < e.sequence_ids.size() && e.sequence_ids[i] == 1;
    offsets[i] = in_second ? from_second[i] : from_first[i];
  }
  return offsets;
}

int tokenize_lines(const text::Tokenizer& tok, const TokenizeLinesOptions& o, std::istream& in, std::ostream& out,
                   std::ostream& err) {
  std::string line;
  size_t n = 0;
  int status = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string rendered;
    try {
      rendered = encode_line(tok, o, parse_line(o, std::move(line)))
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception& e) {
      status = 1;
      err << "graft: error: line " << n << ": " << e.what() << "\n";
      ordered_json j;
      j["error"] = e.what();
      j["line"] = n;
      rendered = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    out << rendered << '\n';
  }
  out.flush();
  return status;
}

}  // namespace graft::app
