// The model commands of the `graft` binary — info, run, bench, ops — run as a user (or another tool)
// would, on small models built here; outputs are read back and checked against values computed here.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_test_util.h"
#include "onnx/onnx_test_util.h"

namespace graft::onnx {
namespace {

namespace fs = std::filesystem;
using testing::ModelBuilder;

using clitest::graft_binary;
using clitest::read_all;
using clitest::Result;

// Runs `command_line` with stdout and stderr captured in files of `dir`.
Result run_command(const std::string& command_line, const fs::path& dir) {
  std::string cmd = command_line + " > '" + (dir / "stdout").string() + "' 2> '" + (dir / "stderr").string() + "'";
  int rc = std::system(cmd.c_str());
  Result r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_all(dir / "stdout");
  r.err = read_all(dir / "stderr");
  return r;
}

Result run(const std::string& args, const fs::path& dir) {
  return run_command("'" + graft_binary().string() + "' " + args, dir);
}

class GraftModelCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(graft_binary())) GTEST_SKIP() << "graft binary not built at " << graft_binary();
  }
  testing::TempDir dir;
  std::string path(const std::string& name) const { return "'" + (dir.path / name).string() + "'"; }
};

// y = x + w (w an initializer of 6 floats), "out/0:z" = Relu(x): a name that needs sanitizing.
fs::path write_add_model(const fs::path& dir) {
  ModelBuilder b(17);
  b.input("x", DType::F32, {std::string("batch"), int64_t(6)});
  b.output("y", DType::F32);
  b.output("out/0:z", DType::F32);
  b.initializer("w", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{6}));
  b.node("Add", {"x", "w"}, {"y"});
  b.node("Relu", {"x"}, {"out/0:z"});
  fs::path p = dir / "add.onnx";
  testing::write_file(p, b.bytes());
  return p;
}

TEST_F(GraftModelCommands, InfoListsInputsParametersOpsAndEveryUnsupportedOp) {
  write_add_model(dir.path);
  Result r = run("info " + path("add.onnx"), dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ai.onnx=17"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("x: float32[batch, 6]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: 6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Relu"), std::string::npos) << r.out;
  // Two unknown ops: both are listed, with their nodes.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(2)});
  b.output("z", DType::F32);
  b.node("FrobnicateA", {"x"}, {"y"}, "first");
  b.node("FrobnicateB", {"y"}, {"z"}, "second");
  testing::write_file(dir.path / "bad.onnx", b.bytes());
  r = run("info " + path("bad.onnx"), dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("unsupported ops (2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FrobnicateA"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("second"), std::string::npos) << r.out;
  // Running it fails with both named.
  r = run("run " + path("bad.onnx"), dir.path);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("FrobnicateA"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("FrobnicateB"), std::string::npos) << r.err;
}

TEST_F(GraftModelCommands, RunWritesEachOutputWithASanitizedName) {
  write_add_model(dir.path);
  Tensor x = testing::random_tensor(Shape{3, 6}, 7);
  write_npy(dir.path / "x.npy", x);
  Result r = run("run " + path("add.onnx") + " --input x=" + path("x.npy") + " --output-dir " + path("out"), dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  Tensor y = read_npy(dir.path / "out" / "y.npy");
  Tensor z = read_npy(dir.path / "out" / "out_0_z.npy");
  ASSERT_EQ(y.shape(), (Shape{3, 6}));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 6; ++j) {
      EXPECT_FLOAT_EQ(y.at<float>({i, j}), x.at<float>({i, j}) + float(j + 1));
      EXPECT_FLOAT_EQ(z.at<float>({i, j}), std::max(0.f, x.at<float>({i, j})));
    }
  EXPECT_NE(r.out.find("y: float32[3, 6]"), std::string::npos) << r.out;
}

TEST_F(GraftModelCommands, RunFillsMissingInputsFromDims) {
  write_add_model(dir.path);
  Result r = run("run " + path("add.onnx") + " --dims batch=5 --output-dir " + path("out"), dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("filled with seeded random values"), std::string::npos) << r.err;
  Tensor y = read_npy(dir.path / "out" / "y.npy");
  EXPECT_EQ(y.shape(), (Shape{5, 6}));
  // Seeded: a second run writes the same values.
  r = run("run " + path("add.onnx") + " --dims batch=5 --output-dir " + path("out2"), dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  Tensor y2 = read_npy(dir.path / "out2" / "y.npy");
  for (int64_t i = 0; i < y.size(); ++i) EXPECT_EQ(y.value_as_double(i), y2.value_as_double(i));
}

TEST_F(GraftModelCommands, RunWritesSequenceOutputsElementByElement) {
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(3)});
  auto* o = b.proto().mutable_graph()->add_output();
  o->set_name("parts");
  o->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
  b.node("SplitToSequence", {"x"}, {"parts"});
  testing::write_file(dir.path / "split.onnx", b.bytes());
  write_npy(dir.path / "x.npy", Tensor::from_vector(std::vector<float>{4, 5, 6}, Shape{3}));
  Result r = run("run " + path("split.onnx") + " --input x=" + path("x.npy") + " --output-dir " + path("out"), dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  for (int k = 0; k < 3; ++k) {
    Tensor part = read_npy(dir.path / "out" / ("parts_" + std::to_string(k) + ".npy"));
    ASSERT_EQ(part.size(), 1);
    EXPECT_EQ(part.value_as_double(0), 4.0 + k);
  }
}

TEST_F(GraftModelCommands, RunRejectsABadInputClearly) {
  write_add_model(dir.path);
  write_npy(dir.path / "x.npy", Tensor::from_vector(std::vector<int64_t>{1, 2}, Shape{2}));
  Result r = run("run " + path("add.onnx") + " --input x=" + path("x.npy"), dir.path);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("'x'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("float32"), std::string::npos) << r.err;
  r = run("run " + path("add.onnx") + " --input nope=" + path("x.npy"), dir.path);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}

TEST_F(GraftModelCommands, BenchJsonIsOneObjectWithTheTimings) {
  write_add_model(dir.path);
  Result r = run("bench " + path("add.onnx") + " --dims batch=2 --warmup 1 --runs 5 --json", dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"compile_ms", "first_run_ms", "min_ms", "median_ms", "p90_ms"})
    ASSERT_TRUE(j.contains(key)) << key << " missing in " << r.out;
  EXPECT_EQ(j["runs"], 5);
  EXPECT_LE(j["min_ms"].get<double>(), j["median_ms"].get<double>());
  EXPECT_LE(j["median_ms"].get<double>(), j["p90_ms"].get<double>());
  EXPECT_EQ(j["inputs"]["x"], nlohmann::json::array({2, 6}));
}

TEST_F(GraftModelCommands, OpsListsOpsetRanges) {
  Result r = run("ops", dir.path);
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  bool add = false;
  while (std::getline(lines, line))
    if (line.find(" Add ") != std::string::npos && line.find("7-23") != std::string::npos) add = true;
  EXPECT_TRUE(add) << r.out.substr(0, 500);
}

// examples/minilm_embeddings (the seed's README example: load, variables to context, call) prints the
// embeddings of the model's own inputs; its leading numbers must be PyTorch's last_hidden_state.
class MiniLMExample : public testing::SharedMiniLM {};

TEST_F(MiniLMExample, PrintsThePyTorchEmbeddings) {
  fs::path example = graft_binary().parent_path().parent_path().parent_path() / "examples" / "minilm_embeddings";
  if (!fs::exists(example)) GTEST_SKIP() << "example not built at " << example;
  testing::TempDir tmp;
  Result r = run_command("'" + example.string() + "' '" + model_dir_.string() + "'", tmp.path);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string head = "Embeddings: [2][7][384]float32{ {{{";
  ASSERT_EQ(r.out.rfind(head, 0), 0u) << r.out.substr(0, 200);
  std::istringstream nums(r.out.substr(head.size()));
  Tensor want = read_npy(model_dir_ / "last_hidden_state.npy");
  for (int64_t i = 0; i < 3; ++i) {
    double v = 0;
    char comma = 0;
    nums >> v >> comma;
    // Printed with 4 significant digits.
    EXPECT_NEAR(v, want.value_as_double(i), 1e-3 * std::max(1.0, std::fabs(want.value_as_double(i)))) << "element " << i;
  }
}

}  // namespace
}  // namespace graft::onnx
