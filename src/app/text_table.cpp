// CSV / TSV / JSONL training data (graft/app/text_table.h).
#include "graft/app/text_table.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "graft/core/error.h"

namespace graft::app {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read_file(const fs::path& p) {
  std::error_code ec;
  GRAFT_CHECK(fs::is_regular_file(p, ec), p.string(), ": no such file");
  std::ifstream f(p, std::ios::binary);
  GRAFT_CHECK(f.good(), p.string(), ": cannot read it");
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.rfind("\xEF\xBB\xBF", 0) == 0) s.erase(0, 3);  // a UTF-8 byte order mark (Excel writes one)
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One record of a delimited file: its fields, the line it starts on, and the line and byte column where
// each field starts.
struct Record {
  std::vector<std::string> fields;
  std::vector<std::pair<int64_t, int64_t>> starts;  // (line, column), 1-based
  int64_t line = 0;
};

// RFC 4180 records: fields separated by `delim`, records by \n or \r\n; a field that starts with '"' is
// quoted until the next lone '"' (a doubled "" is a quote) and may hold delimiters and newlines.
std::vector<Record> parse_delimited(const std::string& s, char delim, const fs::path& path) {
  std::vector<Record> out;
  size_t i = 0, n = s.size();
  int64_t line = 1, line_start = 0;  // byte offset where the current line starts
  auto col = [&](size_t at) { return int64_t(at) - line_start + 1; };
  while (i < n) {
    // A blank line (or one holding only '\r') is no record.
    if (s[i] == '\n' || (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')) {
      i += s[i] == '\r' ? 2 : 1;
      ++line, line_start = int64_t(i);
      continue;
    }
    Record r;
    r.line = line;
    while (true) {
      std::string field;
      r.starts.emplace_back(line, col(i));
      if (i < n && s[i] == '"') {
        int64_t qline = line, qcol = col(i);
        ++i;
        while (true) {
          GRAFT_CHECK(i < n, path.string(), ":", qline, ", column ", qcol,
                      ": a quoted field is never closed (a '\"' is missing)");
          if (s[i] == '"') {
            if (i + 1 < n && s[i + 1] == '"') {
              field += '"', i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (s[i] == '\n') ++line, line_start = int64_t(i) + 1;
          field += s[i++];
        }
        GRAFT_CHECK(i >= n || s[i] == delim || s[i] == '\n' || (s[i] == '\r' && (i + 1 >= n || s[i + 1] == '\n')),
                    path.string(), ":", line, ", column ", col(i), ": unexpected text after a closing quote (a quote "
                    "inside a quoted field must be doubled: \"\")");
      } else {
        while (i < n && s[i] != delim && s[i] != '\n' && !(s[i] == '\r' && (i + 1 >= n || s[i + 1] == '\n')))
          field += s[i++];
      }
      r.fields.push_back(std::move(field));
      if (i < n && s[i] == delim) {
        ++i;
        continue;
      }
      if (i < n && s[i] == '\r') ++i;
      if (i < n && s[i] == '\n') ++i, ++line, line_start = int64_t(i);
      break;
    }
    out.push_back(std::move(r));
  }
  return out;
}

TextTable read_delimited(const fs::path& path, TextTable::Format format, const std::vector<std::string>& columns) {
  std::string text = read_file(path);
  std::vector<Record> records = parse_delimited(text, format == TextTable::Format::Tsv ? '\t' : ',', path);
  GRAFT_CHECK(!records.empty(), path.string(), ": the file is empty (expected a header row naming the columns)");
  const Record& header = records[0];
  TextTable t;
  t.path = path;
  t.format = format;
  t.columns = columns;
  std::string names;
  for (const auto& h : header.fields) names += (names.empty() ? "" : ", ") + h;
  for (size_t i = 0; i < header.fields.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      GRAFT_CHECK(header.fields[i] != header.fields[j], path.string(), ":", header.line, ", column ", i + 1,
                  ": the header names column '", header.fields[i], "' twice");
  for (const auto& c : columns) {
    auto it = std::find(header.fields.begin(), header.fields.end(), c);
    GRAFT_CHECK(it != header.fields.end(), path.string(), ":", header.line, ": no column '", c,
                "' in the header (its columns: ", names, ")");
    t.file_columns.push_back(int(it - header.fields.begin()) + 1);
  }
  for (size_t r = 1; r < records.size(); ++r) {
    const Record& rec = records[r];
    if (rec.fields.size() != header.fields.size()) {
      bool more = rec.fields.size() > header.fields.size();
      auto [l, c] = more ? rec.starts[header.fields.size()] : rec.starts.back();
      fail(path.string(), ":", l, ", column ", more ? header.fields.size() + 1 : rec.fields.size(), " (byte ", c,
           "): the row has ", rec.fields.size(), " field", rec.fields.size() == 1 ? "" : "s", ", the header has ",
           header.fields.size(), more ? "" : " (a field is missing)");
    }
    std::vector<std::string> row;
    for (int fc : t.file_columns) row.push_back(rec.fields[size_t(fc - 1)]);
    t.rows.push_back(std::move(row));
    t.lines.push_back(rec.line);
  }
  GRAFT_CHECK(!t.rows.empty(), path.string(), ": no data rows after the header");
  return t;
}

TextTable read_jsonl(const fs::path& path, const std::vector<std::string>& columns) {
  std::string text = read_file(path);
  TextTable t;
  t.path = path;
  t.format = TextTable::Format::Jsonl;
  t.columns = columns;
  std::istringstream in(text);
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      fail(path.string(), ":", number, ", column ", e.byte, ": not valid JSON: ", e.what());
    }
    GRAFT_CHECK(j.is_object(), path.string(), ":", number, ", column 1: expected a JSON object, got ", j.type_name());
    std::vector<std::string> row;
    for (const auto& c : columns) {
      auto it = j.find(c);
      if (it == j.end()) {
        std::string keys;
        for (auto& [k, v] : j.items()) keys += (keys.empty() ? "" : ", ") + k;
        fail(path.string(), ":", number, ", key \"", c, "\": missing (the object has: ", keys, ")");
      }
      if (it->is_string()) row.push_back(it->get<std::string>());
      else if (it->is_number_integer()) row.push_back(it->dump());
      else fail(path.string(), ":", number, ", key \"", c, "\": expected a string or an integer, got ", it->type_name(),
                " ", it->dump());
    }
    t.rows.push_back(std::move(row));
    t.lines.push_back(number);
  }
  GRAFT_CHECK(!t.rows.empty(), path.string(), ": the file is empty (expected one JSON object per line)");
  return t;
}

}  // namespace

TextTable::Format text_table_format(const fs::path& path) {
  std::string ext = lower(path.extension().string());
  if (ext == ".csv") return TextTable::Format::Csv;
  if (ext == ".tsv" || ext == ".tab") return TextTable::Format::Tsv;
  if (ext == ".jsonl" || ext == ".ndjson") return TextTable::Format::Jsonl;
  fail(path.string(), ": unknown data format '", ext, "' (expected .csv, .tsv or .jsonl)");
}

TextTable read_text_table(const fs::path& path, const std::vector<std::string>& columns) {
  TextTable::Format f = text_table_format(path);
  return f == TextTable::Format::Jsonl ? read_jsonl(path, columns) : read_delimited(path, f, columns);
}

std::string TextTable::where(size_t row, size_t column) const {
  std::string s = path.string() + ":" + std::to_string(lines.at(row));
  if (format == Format::Jsonl) return s + ", key \"" + columns.at(column) + "\"";
  return s + ", column " + std::to_string(file_columns.at(column)) + " (" + columns.at(column) + ")";
}

}  // namespace graft::app
