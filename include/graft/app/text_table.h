#pragma once
// Training data as people keep it: CSV, TSV (a header row, RFC 4180 quoting: fields in double quotes may
// hold the delimiter, newlines and "" for a quote) and JSONL (one JSON object per line). The format comes
// from the file's extension (.csv, .tsv / .tab, .jsonl / .ndjson).
//
//   graft::app::TextTable t = graft::app::read_text_table("train.csv", {"text", "label"});
//   t.rows[0][1];          // the label of the first row
//   t.where(0, 1);         // "train.csv:2, column 2 (label)": for messages about that cell
//
// Every error names the file, the line and the column at fault: a missing column, a ragged row, an
// unterminated quote, a JSON value that is not a string or an integer, an empty file.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace graft::app {

struct TextTable {
  std::filesystem::path path;
  enum class Format { Csv, Tsv, Jsonl } format = Format::Csv;
  std::vector<std::string> columns;          // the columns asked for, in that order
  std::vector<int> file_columns;             // CSV/TSV: each one's 1-based position in the header
  std::vector<std::vector<std::string>> rows;  // rows[i][c]: column c of data row i
  std::vector<int64_t> lines;                // the 1-based line on which row i starts

  // "FILE:LINE, column N (NAME)" for CSV/TSV, "FILE:LINE, key \"NAME\"" for JSONL: where cell (row, column)
  // is, for messages.
  std::string where(size_t row, size_t column) const;
};

// Reads `path`, keeping `columns` (each must be in the header / in every JSON object). JSON values may be
// strings or integers (an integer keeps its decimal text). Blank lines are skipped; a UTF-8 byte order mark
// is ignored. A file without data rows is an error.
TextTable read_text_table(const std::filesystem::path& path, const std::vector<std::string>& columns);

// The format of `path` from its extension; an error naming the file for any other.
TextTable::Format text_table_format(const std::filesystem::path& path);

}  // namespace graft::app
