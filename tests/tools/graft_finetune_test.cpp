// graft finetune and graft classify as a user runs them: the README's first command (the built-in demo, then
// classify), exit status 2 for usage errors and 1 for bad data, with messages naming flag, file, line, column.
#include <gtest/gtest.h>

#include "cli_test_util.h"

namespace graft::clitest {
namespace {

TEST(GraftFinetune, DemoThenClassifyAsInTheReadme) {
  TempDir d;
  fs::path out = d.path / "demo";
  Result r = run_graft("finetune --demo --output-dir " + quote(out) + " --threads 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + (out / "model.onnx").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("best eval at update"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("eval step"), std::string::npos) << r.err;  // progress goes to stderr
  for (const char* f : {"model.onnx", "tokenizer.json", "labels.json", "metrics.jsonl", "training.svg"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  Result c = run_graft("classify --model " + quote(out) + " 'The referee stopped the match after the goal' "
                       "'A spicy soup with fresh bread for dinner' 'Thunder and heavy rain in the forecast tonight'");
  ASSERT_EQ(c.status, 0) << c.err;
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 3u) << c.out;
  EXPECT_EQ(lines[0].rfind("sports ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("food ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("weather ", 0), 0u) << lines[2];
  Result j = run_graft("classify --model " + quote(out) + " --json --text-file -", "the goal of the season\n");
  ASSERT_EQ(j.status, 0) << j.err;
  EXPECT_EQ(j.out.rfind("{\"text\":\"the goal of the season\",\"label\":\"sports\",\"probabilities\":{\"food\":", 0), 0u)
      << j.out;
}

TEST(GraftFinetune, UsageErrorsExitWithStatus2) {
  TempDir d;
  Result r = run_graft("finetune --model nowhere/x/model.onnx --train t.csv --output-dir " + quote(d.path / "o"));
  EXPECT_EQ(r.status, 2) << r.err;
  r = run_graft("finetune --demo --output-dir " + quote(d.path / "o") + " --batch 0");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--batch 0: must be at least 1"), std::string::npos) << r.err;
  r = run_graft("finetune --demo --output-dir " + quote(d.path / "o") + " --task embed");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--text-pair-column"), std::string::npos) << r.err;
  r = run_graft("classify --model " + quote(d.path));
  EXPECT_EQ(r.status, 2);
}

TEST(GraftFinetune, BadDataExitsWithStatus1NamingFileLineAndColumn) {
  TempDir d;
  Result r = run_graft("finetune --demo --output-dir " + quote(d.path / "demo") + " --max-steps 1");
  ASSERT_EQ(r.status, 0) << r.err;
  fs::path model = d.path / "demo" / "demo" / "model.onnx";
  write_all(d.path / "ragged.csv", "text,label\nthe goal,sports\nrain,weather,extra\n");
  r = run_graft("finetune --model " + quote(model) + " --train " + quote(d.path / "ragged.csv") + " --output-dir " +
                quote(d.path / "o"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("ragged.csv:3, column 3"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace graft::clitest
