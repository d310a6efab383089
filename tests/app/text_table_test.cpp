// graft/app/text_table.h: CSV / TSV / JSONL training data, and errors naming file, line and column.
// The tricky CSV is also parsed by Python's csv module (an independent reader) when /usr/bin/python3 runs.
#include "graft/app/text_table.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "graft/core/error.h"
#include "onnx/onnx_test_util.h"

namespace graft::app {
namespace {

using onnx::testing::TempDir;
using onnx::testing::write_file;
namespace fs = std::filesystem;

std::string error_of(const fs::path& p, const std::vector<std::string>& cols) {
  try {
    read_text_table(p, cols);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kTricky =
    "id,text,label\r\n"
    "1,\"Hello, world\",greeting\r\n"
    "2,\"two\nlines, and \"\"quotes\"\"\",quote\n"
    "\n"
    "3,,empty\n"
    "4,plain,\"last\"";  // no final newline

TEST(TextTable, CsvQuotesCommasNewlinesAndCrlf) {
  TempDir d;
  write_file(d.path / "t.csv", kTricky);
  TextTable t = read_text_table(d.path / "t.csv", {"text", "label"});
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0][0], "Hello, world");
  EXPECT_EQ(t.rows[1][0], "two\nlines, and \"quotes\"");
  EXPECT_EQ(t.rows[1][1], "quote");
  EXPECT_EQ(t.rows[2][0], "");
  EXPECT_EQ(t.rows[3][1], "last");
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 3, 6, 7}));  // the blank line 5 is skipped
  EXPECT_EQ(t.where(2, 1), (d.path / "t.csv").string() + ":6, column 3 (label)");
}

TEST(TextTable, CsvAgreesWithPythonsCsvModule) {
  if (std::system("/usr/bin/python3 -c 'import csv' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no /usr/bin/python3";
  TempDir d;
  write_file(d.path / "t.csv", kTricky);
  // Python's reader (newline='' as its documentation asks), rows without fields (blank lines) dropped.
  std::string cmd = "/usr/bin/python3 -c \"import csv,json,sys; r=[row for row in csv.reader(open(sys.argv[1], "
                    "newline='')) if row]; print(json.dumps([[x[1], x[2]] for x in r[1:]]))\" '" +
                    (d.path / "t.csv").string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0);
  TextTable t = read_text_table(d.path / "t.csv", {"text", "label"});
  std::string mine = "[";
  for (size_t i = 0; i < t.rows.size(); ++i) {
    auto q = [](const std::string& s) {
      std::string o = "\"";
      for (char c : s) o += c == '\n' ? std::string("\\n") : c == '"' ? std::string("\\\"") : std::string(1, c);
      return o + "\"";
    };
    mine += (i ? ", [" : "[") + q(t.rows[i][0]) + ", " + q(t.rows[i][1]) + "]";
  }
  mine += "]\n";
  EXPECT_EQ(mine, out);
}

TEST(TextTable, TsvAndJsonl) {
  TempDir d;
  write_file(d.path / "t.tsv", "text\tlabel\nA, b\t1\n\"tab\there\"\t0\n");
  TextTable t = read_text_table(d.path / "t.tsv", {"label", "text"});
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"1", "A, b"}));
  EXPECT_EQ(t.rows[1][1], "tab\there");
  write_file(d.path / "t.jsonl", "{\"text\": \"a\\nb\", \"label\": 3, \"x\": null}\n\n{\"label\": \"neg\", \"text\": \"c\"}\n");
  TextTable j = read_text_table(d.path / "t.jsonl", {"text", "label"});
  ASSERT_EQ(j.rows.size(), 2u);
  EXPECT_EQ(j.rows[0], (std::vector<std::string>{"a\nb", "3"}));
  EXPECT_EQ(j.rows[1], (std::vector<std::string>{"c", "neg"}));
  EXPECT_EQ(j.where(1, 1), (d.path / "t.jsonl").string() + ":3, key \"label\"");
}

TEST(TextTable, ErrorsNameFileLineAndColumn) {
  TempDir d;
  auto f = [&](const char* name, const std::string& text) {
    write_file(d.path / name, text);
    return d.path / name;
  };
  std::string e = error_of(f("missing.csv", "text,category\na,b\n"), {"text", "label"});
  EXPECT_NE(e.find("missing.csv:1: no column 'label' in the header (its columns: text, category)"), std::string::npos) << e;
  e = error_of(f("ragged.csv", "text,label\na,b\nc,d,e\n"), {"text", "label"});
  EXPECT_NE(e.find("ragged.csv:3, column 3"), std::string::npos) << e;
  EXPECT_NE(e.find("the row has 3 fields, the header has 2"), std::string::npos) << e;
  e = error_of(f("short.csv", "text,label\na\n"), {"text", "label"});
  EXPECT_NE(e.find("short.csv:2, column 1"), std::string::npos) << e;
  e = error_of(f("quote.csv", "text,label\n\"never closed,b\n"), {"text", "label"});
  EXPECT_NE(e.find("quote.csv:2, column 1: a quoted field is never closed"), std::string::npos) << e;
  e = error_of(f("empty.csv", ""), {"text"});
  EXPECT_NE(e.find("empty.csv: the file is empty"), std::string::npos) << e;
  e = error_of(f("header.csv", "text,label\n"), {"text"});
  EXPECT_NE(e.find("header.csv: no data rows"), std::string::npos) << e;
  e = error_of(f("bad.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": [1], \"label\": 2}\n"), {"text", "label"});
  EXPECT_NE(e.find("bad.jsonl:2, key \"text\": expected a string or an integer, got array"), std::string::npos) << e;
  e = error_of(f("nokey.jsonl", "{\"text\": \"a\"}\n"), {"text", "label"});
  EXPECT_NE(e.find("nokey.jsonl:1, key \"label\": missing"), std::string::npos) << e;
  e = error_of(f("broken.jsonl", "{\"text\": \"a\",}\n"), {"text"});
  EXPECT_NE(e.find("broken.jsonl:1, column"), std::string::npos) << e;
  e = error_of(f("data.parquet", "x"), {"text"});
  EXPECT_NE(e.find("unknown data format '.parquet'"), std::string::npos) << e;
}

}  // namespace
}  // namespace graft::app
