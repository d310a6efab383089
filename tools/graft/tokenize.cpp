// graft tokenize: one text (or pair) per stdin line in, one JSON encoding per line out.
#include <nlohmann/json.hpp>

#include <iostream>
#include <optional>
#include <string>

#include "commands.h"
#include "graft/core/error.h"
#include "graft/text/tokenizer.h"

namespace graft::cli {

namespace {

using ordered_json = nlohmann::ordered_json;

struct Input {
  std::string first;
  std::optional<std::string> second;
};

// One line of stdin as a text or a pair; throws graft::Error when it does not fit the mode.
Input parse_line(const TokenizeArgs& a, std::string line) {
  if (a.jsonl) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("not a JSON string or array of two strings: ", e.what());
    }
    if (j.is_string()) {
      GRAFT_CHECK(!a.pair, "--pair expects a JSON array of two strings, got a single string");
      return {j.get<std::string>(), std::nullopt};
    }
    GRAFT_CHECK(j.is_array() && j.size() == 2 && j[0].is_string() && j[1].is_string(),
                "expected a JSON string or an array of two strings, got ", j.dump(-1, ' ', false,
                nlohmann::json::error_handler_t::replace).substr(0, 80));
    return {j[0].get<std::string>(), j[1].get<std::string>()};
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF input
  if (!a.pair) return {std::move(line), std::nullopt};
  auto tab = line.find('\t');
  GRAFT_CHECK(tab != std::string::npos, "--pair expects two texts separated by a TAB");
  return {line.substr(0, tab), line.substr(tab + 1)};
}

ordered_json encode_line(const text::Tokenizer& tok, const TokenizeArgs& a, const Input& in) {
  text::Encoding e = in.second ? tok.encode(in.first, *in.second, !a.no_special) : tok.encode(in.first, !a.no_special);
  std::vector<std::pair<size_t, size_t>> offsets = e.offsets;
  if (!a.byte_offsets) {
    // Character offsets as the Python API reports them: each token against its own sequence's text.
    std::vector<std::pair<size_t, size_t>> from_first = text::byte_to_char_offsets(in.first, e.offsets);
    std::vector<std::pair<size_t, size_t>> from_second;
    if (in.second) from_second = text::byte_to_char_offsets(*in.second, e.offsets);
    for (size_t i = 0; i < offsets.size(); ++i) {
      bool second = in.second && i < e.sequence_ids.size() && e.sequence_ids[i] == 1;
      offsets[i] = second ? from_second[i] : from_first[i];
    }
  }
  ordered_json j;
  j["ids"] = e.ids;
  j["type_ids"] = e.type_ids;
  j["tokens"] = e.tokens;
  ordered_json offs = ordered_json::array();
  for (auto [s, t] : offsets) offs.push_back({s, t});
  j["offsets"] = std::move(offs);
  j["attention_mask"] = e.attention_mask;
  return j;
}

}  // namespace

CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& a) {
  auto* c = app.add_subcommand("tokenize", "encode stdin lines with a tokenizer.json; one JSON object per line");
  c->add_option("--tokenizer", a.tokenizer, "the tokenizer.json file")->required();
  c->add_flag("--pair", a.pair, "each line is two texts separated by a TAB (with --jsonl: an array of two strings)");
  c->add_flag("--jsonl", a.jsonl, "each line is a JSON string, or a JSON array of two strings for a pair");
  c->add_flag("--no-special", a.no_special, "do not add the post-processor's special tokens");
  c->add_flag("--byte-offsets", a.byte_offsets, "UTF-8 byte offsets instead of character offsets");
  return c;
}

int run_tokenize(const TokenizeArgs& a, std::istream& in, std::ostream& out) {
  text::Tokenizer tok = text::Tokenizer::from_file(a.tokenizer);
  std::string line;
  size_t n = 0;
  int status = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string rendered;
    try {
      rendered = encode_line(tok, a, parse_line(a, std::move(line)))
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception& e) {
      status = 1;
      std::cerr << "graft: error: line " << n << ": " << e.what() << "\n";
      ordered_json err;
      err["error"] = e.what();
      err["line"] = n;
      rendered = err.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    out << rendered << '\n';
  }
  out.flush();
  return status;
}

}  // namespace graft::cli
