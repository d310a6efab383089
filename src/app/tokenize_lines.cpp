// graft tokenize's pipeline: lines in, JSON encodings out (graft/app/tokenize_lines.h).
#include "graft/app/tokenize_lines.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <thread>

#include "graft/core/error.h"
#include "core/thread_affinity.h"

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

namespace {

// Encodes a chunk of lines (numbered from `first_line`) on up to o.threads threads and writes their JSON
// lines in order; errors go to `err` in order too. Returns 1 when any line failed.
int tokenize_chunk(const text::Tokenizer& tok, const TokenizeLinesOptions& o, std::vector<std::string>& lines,
                   size_t first_line, std::ostream& out, std::ostream& err) {
  std::vector<std::string> rendered(lines.size()), errors(lines.size());
  auto work = [&](size_t i) {
    try {
      rendered[i] = encode_line(tok, o, parse_line(o, std::move(lines[i])))
                        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception& e) {
      errors[i] = e.what();
      ordered_json j;
      j["error"] = e.what();
      j["line"] = first_line + i;
      rendered[i] = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  };
  const size_t nthreads = std::min(std::max<size_t>(o.threads, 1), lines.size());
  if (nthreads <= 1) {
    for (size_t i = 0; i < lines.size(); ++i) work(i);
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 0; t < nthreads; ++t)
      pool.emplace_back([&, t] {
        run_on_all_openmp_cpus();  // not on the one CPU a bound OpenMP gave the thread that started this
        for (size_t i = t; i < lines.size(); i += nthreads) work(i);
      });
    for (auto& th : pool) th.join();
  }
  int status = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!errors[i].empty()) {
      status = 1;
      err << "graft: error: line " << first_line + i << ": " << errors[i] << "\n";
    }
    out << rendered[i] << '\n';
  }
  out.flush();
  return status;
}

// With one thread each line is answered as soon as it is read (a caller may feed lines one at a time and
// wait for each answer); with more, lines are taken in chunks to encode them together.
size_t chunk_lines(const TokenizeLinesOptions& o) { return o.threads > 1 ? 1024 : 1; }

}  // namespace

int tokenize_lines(const text::Tokenizer& tok, const TokenizeLinesOptions& o, std::istream& in, std::ostream& out,
                   std::ostream& err) {
  std::vector<std::string> chunk;
  std::string line;
  size_t next = 1;
  int status = 0;
  while (std::getline(in, line)) {
    chunk.push_back(std::move(line));
    if (chunk.size() == chunk_lines(o)) {
      status |= tokenize_chunk(tok, o, chunk, next, out, err);
      next += chunk.size();
      chunk.clear();
    }
  }
  if (!chunk.empty()) status |= tokenize_chunk(tok, o, chunk, next, out, err);
  out.flush();
  return status;
}

int tokenize_lines(const text::Tokenizer& tok, const TokenizeLinesOptions& o, const std::vector<std::string>& lines,
                   std::ostream& out, std::ostream& err) {
  int status = 0;
  for (size_t at = 0; at < lines.size(); at += chunk_lines(o)) {
    std::vector<std::string> chunk(lines.begin() + std::ptrdiff_t(at),
                                   lines.begin() + std::ptrdiff_t(std::min(lines.size(), at + chunk_lines(o))));
    status |= tokenize_chunk(tok, o, chunk, at + 1, out, err);
  }
  out.flush();
  return status;
}

}  // namespace graft::app
