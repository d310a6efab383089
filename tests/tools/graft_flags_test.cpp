// The `graft` command line as a new user meets it (issue #14): one flag vocabulary across subcommands,
// values checked where they enter and named in errors (exit status 2), symbolic dims inferred from the
// inputs given, external data listed by `info`, the symlink opt-in, tokenizers named like models, and
// sentence-transformers' truncation rules in `embed`. Expected values are computed here (the text API, the
// tiny models' own arithmetic), not taken from graft's output.
#include <gtest/gtest.h>
#include <sched.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <thread>

#include "cli_test_util.h"
#include "graft/text/tokenizer.h"
#include "onnx/onnx_test_util.h"

namespace graft::onnx {
namespace {

using nlohmann::json;
using testing::ModelBuilder;
using namespace clitest;

class GraftFlags : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(graft_binary())) GTEST_SKIP() << "graft binary not built at " << graft_binary();
  }
  clitest::TempDir dir;
  std::string at(const std::string& name) const { return quote(dir.path / name); }
};

// y = a + b over [batch, sequence] floats; z = a * 2.
fs::path write_pair_model(const fs::path& dir) {
  ModelBuilder b(17);
  b.input("a", DType::F32, {std::string("batch"), std::string("sequence")});
  b.input("b", DType::F32, {std::string("batch"), std::string("sequence")});
  b.output("y", DType::F32);
  b.node("Add", {"a", "b"}, {"y"});
  fs::path p = dir / "pair.onnx";
  testing::write_file(p, b.bytes());
  return p;
}

// ---- graft run: symbolic dims from the inputs given ---------------------------------------------------------

TEST_F(GraftFlags, RunSizesGeneratedInputsFromTheGivenOnes) {
  write_pair_model(dir.path);
  Tensor a = testing::random_tensor(Shape{2, 7}, 3);
  write_npy(dir.path / "a.npy", a);
  Result r = run_graft("run " + at("pair.onnx") + " --input a=" + at("a.npy") + " --output-dir " + at("out"));
  ASSERT_EQ(r.status, 0) << r.err;
  Tensor y = read_npy(dir.path / "out" / "y.npy");
  ASSERT_EQ(y.shape(), (Shape{2, 7}));
  // b was generated [2, 7] in [-1, 1): y - a is in that range.
  for (int64_t i = 0; i < y.size(); ++i) {
    double b = y.value_as_double(i) - a.value_as_double(i);
    EXPECT_GE(b, -1.0 - 1e-6);
    EXPECT_LT(b, 1.0 + 1e-6);
  }
  EXPECT_NE(r.err.find("'b' filled with seeded random values [2, 7]"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("set to 1"), std::string::npos) << r.err;

  // --dims that agrees is fine; one that contradicts a given input is a usage error naming both.
  r = run_graft("run " + at("pair.onnx") + " --input a=" + at("a.npy") + " --dims batch=2");
  EXPECT_EQ(r.status, 0) << r.err;
  r = run_graft("run " + at("pair.onnx") + " --input a=" + at("a.npy") + " --dims batch=3");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--dims 'batch=3'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("input 'a' has batch = 2"), std::string::npos) << r.err;
  // Two given inputs that disagree.
  write_npy(dir.path / "b.npy", testing::random_tensor(Shape{3, 7}, 4));
  r = run_graft("run " + at("pair.onnx") + " --input a=" + at("a.npy") + " --input b=" + at("b.npy"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("batch"), std::string::npos) << r.err;
}

TEST_F(GraftFlags, RunChecksDimsAndInputsWhereTheyEnter) {
  write_pair_model(dir.path);
  struct Case {
    std::string args, says;
  } cases[] = {
      {"--dims batch=0", "--dims 'batch=0': the extent must be at least 1"},
      {"--dims batch=-2", "at least 1"},
      {"--dims batch=x", "must be an integer"},
      {"--dims batch", "expected SYMBOL=N"},
      {"--dims foo=3", "no symbolic dimension 'foo' (its inputs have: batch, sequence)"},
      {"--input a", "expected NAME=FILE.npy"},
      {"--input a=" + at("missing.npy"), "does not exist"},
      {"--threads -1", "--threads -1: must be 0"},
  };
  for (const auto& c : cases) {
    Result r = run_graft("run " + at("pair.onnx") + " " + c.args);
    EXPECT_EQ(r.status, 2) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(r.err.find("note:"), std::string::npos) << c.args << ": notes before an error: " << r.err;
    EXPECT_LT(r.err.size(), 400u) << c.args << ": " << r.err;
  }
  // A file of the wrong dtype names the input and both types.
  write_npy(dir.path / "i.npy", Tensor::from_vector(std::vector<int64_t>{1, 2}, Shape{1, 2}));
  Result r = run_graft("run " + at("pair.onnx") + " --input a=" + at("i.npy"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--input 'a'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("int64[1, 2]"), std::string::npos) << r.err;
  // --output-dir where a file is.
  testing::write_file(dir.path / "file", "x");
  r = run_graft("run " + at("pair.onnx") + " --output-dir " + at("file"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--output-dir"), std::string::npos) << r.err;
}

TEST_F(GraftFlags, NotesDoNotPrecedeAnUnrelatedError) {
  // A Reshape to a target the data cannot take: the run fails; no notes about generated inputs first.
  ModelBuilder b(17);
  b.input("x", DType::F32, {std::string("batch"), int64_t(6)});
  b.output("y", DType::F32);
  b.initializer("shape", Tensor::from_vector(std::vector<int64_t>{5, 5}, Shape{2}));
  b.node("Reshape", {"x", "shape"}, {"y"}, "bad_reshape");
  testing::write_file(dir.path / "bad.onnx", b.bytes());
  Result r = run_graft("run " + at("bad.onnx"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("bad_reshape"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("note:"), std::string::npos) << r.err;
}

TEST_F(GraftFlags, ThreadsAboveTheCoreCountWarnButRun) {
  write_pair_model(dir.path);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  Result r = run_graft("run " + at("pair.onnx") + " --dims batch=2,sequence=3 --threads " + std::to_string(cores + 3));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --threads " + std::to_string(cores + 3) + " is more than the"), std::string::npos)
      << r.err;
  r = run_graft("bench " + at("pair.onnx") + " --dims batch=2,sequence=3 --threads 1 --runs 2 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["threads"], 1);
}

// --precision (CompileOptions::precision): checked where it enters; bench reports what ran in bf16.
TEST_F(GraftFlags, PrecisionIsCheckedAndReported) {
  ModelBuilder b(17);
  b.input("a", DType::F32, {int64_t(4), int64_t(8)});
  b.output("y", DType::F32);
  b.initializer("w", testing::random_tensor(Shape{8, 3}, 5));
  b.node("MatMul", {"a", "w"}, {"y"});
  testing::write_file(dir.path / "mm.onnx", b.bytes());
  Result r = run_graft("bench " + at("mm.onnx") + " --precision fp8");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--precision"), std::string::npos) << r.err;
  r = run_graft("bench " + at("mm.onnx") + " --runs 2 --json --precision bf16");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["bf16_kernels"], __builtin_cpu_supports("avx512bf16") ? 1 : 0);
  r = run_graft("bench " + at("mm.onnx") + " --runs 2 --json --precision f16");  // no f16 products here: f32
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["bf16_kernels"], 0);
  EXPECT_NE(r.err.find("note: f16 precision is not available"), std::string::npos) << r.err;
  for (const char* cmd : {"run", "embed", "classify"}) {
    Result h = run_graft(std::string(cmd) + " --help");
    EXPECT_NE(h.out.find("--precision"), std::string::npos) << cmd;
  }
}

// ---- one vocabulary ------------------------------------------------------------------------------------------

TEST_F(GraftFlags, VersionHelpAndOneFlagVocabulary) {
  Result r = run_graft("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("graft ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find('.'), std::string::npos) << r.out;

  std::map<std::string, std::string> help;
  for (const char* cmd : {"info", "run", "bench", "ops", "embed", "tokenize"}) {
    Result h = run_graft(std::string(cmd) + " --help");
    EXPECT_EQ(h.status, 0) << cmd << ": " << h.err;
    help[cmd] = h.out;
  }
  // Flags with a value when given bare are listed as "--flag [=N]", not with CLI11's "--flag{16}".
  Result f = run_graft("finetune --help");
  EXPECT_NE(f.out.find("--lift-constants [=N]"), std::string::npos) << f.out;
  EXPECT_EQ(f.out.find("--lift-constants{"), std::string::npos) << f.out;
  auto has = [&](const std::string& cmd, const std::string& flag) { return help[cmd].find(flag + " ") != std::string::npos || help[cmd].find(flag + "\n") != std::string::npos; };
  for (const char* cmd : {"run", "bench", "embed", "tokenize"}) EXPECT_TRUE(has(cmd, "--threads")) << cmd;
  for (const char* cmd : {"run", "bench", "embed"}) EXPECT_TRUE(has(cmd, "--device")) << cmd;
  for (const char* cmd : {"info", "run", "bench", "embed"}) EXPECT_TRUE(has(cmd, "--allow-external-symlinks")) << cmd;
  for (const char* cmd : {"info", "bench", "ops", "embed"}) {
    EXPECT_TRUE(has(cmd, "--format")) << cmd;
    EXPECT_TRUE(has(cmd, "--json")) << cmd;
  }
  // --input is a model input (NAME=FILE.npy) wherever it exists; text commands read texts with --text-file.
  for (const char* cmd : {"run", "bench"}) EXPECT_NE(help[cmd].find("NAME=FILE.npy"), std::string::npos) << cmd;
  for (const char* cmd : {"embed", "tokenize"}) {
    EXPECT_TRUE(has(cmd, "--text-file")) << cmd;
    EXPECT_FALSE(has(cmd, "--input")) << cmd;
    EXPECT_TRUE(has(cmd, "--output")) << cmd;
    EXPECT_TRUE(has(cmd, "--max-length")) << cmd;
  }
  EXPECT_TRUE(has("run", "--output-dir"));  // several files: a folder
  for (const char* cmd : {"info", "bench", "ops", "embed", "tokenize"}) EXPECT_FALSE(has(cmd, "--output-dir")) << cmd;

  // --json is --format json everywhere it exists.
  write_pair_model(dir.path);
  Result a = run_graft("info --json " + at("pair.onnx")), b = run_graft("info --format json " + at("pair.onnx"));
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(json::parse(a.out)["inputs"][0]["name"], "a");
  Result o = run_graft("ops --json");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_GT(json::parse(o.out).size(), 100u);
  EXPECT_EQ(run_graft("ops --markdown").out, run_graft("ops --format markdown").out);
}

TEST_F(GraftFlags, DeviceChoice) {
  write_pair_model(dir.path);
  std::string base = "run " + at("pair.onnx") + " --dims batch=1,sequence=2";
  EXPECT_EQ(run_graft(base + " --device cpu").status, 0);
  Result r = run_graft(base + " --device tpu");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--device tpu"), std::string::npos) << r.err;
  r = run_graft(base, "", "GRAFT_DEVICE=cuda:x");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("GRAFT_DEVICE=cuda:x"), std::string::npos) << r.err;
  EXPECT_EQ(run_graft(base, "", "GRAFT_DEVICE=cpu").status, 0);
  // CUDA: runs where the build and the machine have it; otherwise a runtime error saying which.
  r = run_graft(base + " --device cuda:0");
  if (r.status != 0) {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("--device cuda:0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("CUDA"), std::string::npos) << r.err;
  }
}

// The GPU libraries (cuBLASLt: 600 MB, a second of relocations) are opened by the CUDA backend when it
// first needs them, never by a command that runs on the CPU. The dynamic loader itself lists what it opens.
TEST_F(GraftFlags, CpuCommandsDoNotLoadTheGpuLibraries) {
  write_pair_model(dir.path);
  Result r = run_graft("run " + at("pair.onnx") + " --dims batch=1,sequence=2 --device cpu", "", "LD_DEBUG=files");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_NE(r.err.find("file=libdnnl"), std::string::npos) << "LD_DEBUG lists no libraries:\n" << r.err.substr(0, 2000);
  EXPECT_EQ(r.err.find("libcublasLt"), std::string::npos);
  EXPECT_EQ(r.err.find("libnvrtc"), std::string::npos);
}

// Commands that run models bound OpenMP's waiting and, where the team has a thread for every CPU, bind it one
// thread per CPU (tools/graft/openmp_policy.cpp) unless the user chose: libgomp itself reports the setting
// it runs with (OMP_DISPLAY_ENV).
TEST_F(GraftFlags, ModelCommandsSetTheOpenMpPolicyUnlessTheUserChose) {
  write_pair_model(dir.path);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  const int cpus = CPU_COUNT(&set);
  const std::string run = "run " + at("pair.onnx") + " --dims batch=1,sequence=2";
  const std::string clean =
      "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u OMP_PROC_BIND -u OMP_PLACES -u GOMP_CPU_AFFINITY -u OMP_NUM_THREADS "
      "OMP_DISPLAY_ENV=verbose";
  auto has = [](const Result& r, const std::string& line) { return r.err.find(line) != std::string::npos; };
  // Fewer threads than CPUs (or one CPU): free threads, 1,000 polls.
  Result one = run_graft(run + " --threads 1", "", clean);
  ASSERT_EQ(one.status, 0) << one.err;
  EXPECT_TRUE(has(one, "GOMP_SPINCOUNT = '1000'")) << one.err.substr(0, 3000);
  EXPECT_TRUE(has(one, "OMP_PROC_BIND = 'FALSE'")) << one.err.substr(0, 3000);
  Result mine = run_graft(run + " --threads 1", "", clean + " GOMP_SPINCOUNT=77");
  ASSERT_EQ(mine.status, 0) << mine.err;
  EXPECT_TRUE(has(mine, "GOMP_SPINCOUNT = '77'")) << mine.err.substr(0, 3000);
  Result passive = run_graft(run, "", clean + " OMP_WAIT_POLICY=passive");
  ASSERT_EQ(passive.status, 0) << passive.err;
  EXPECT_TRUE(has(passive, "GOMP_SPINCOUNT = '0'")) << passive.err.substr(0, 3000);
  // Commands that run nothing are not restarted: OpenMP keeps its defaults there.
  Result ops = run_graft("ops", "", clean);
  ASSERT_EQ(ops.status, 0) << ops.err;
  EXPECT_FALSE(has(ops, "GOMP_SPINCOUNT = '1000'") || has(ops, "GOMP_SPINCOUNT = '20000'")) << ops.err.substr(0, 3000);
  EXPECT_TRUE(has(ops, "OMP_PROC_BIND = 'FALSE'")) << ops.err.substr(0, 3000);
  // Places without OMP_PROC_BIND bind the team too (libgomp's rule): then the bound spin length.
  Result places = run_graft(run + " --threads 1", "", clean + " OMP_PLACES=threads");
  ASSERT_EQ(places.status, 0) << places.err;
  EXPECT_TRUE(has(places, "OMP_PROC_BIND = 'TRUE'")) << places.err.substr(0, 3000);
  EXPECT_TRUE(has(places, "GOMP_SPINCOUNT = '20000'")) << places.err.substr(0, 3000);
  if (cpus < 2) GTEST_SKIP() << "one CPU: the bound policy needs a team of 2 or more";
  // A thread for every CPU (given, or by default): bound, 20,000 polls.
  const std::string all = " --threads " + std::to_string(cpus);
  Result bound = run_graft(run + all, "", clean);
  ASSERT_EQ(bound.status, 0) << bound.err;
  EXPECT_TRUE(has(bound, "OMP_PROC_BIND = 'TRUE'")) << bound.err.substr(0, 3000);
  EXPECT_TRUE(has(bound, "GOMP_SPINCOUNT = '20000'")) << bound.err.substr(0, 3000);
  Result by_default = run_graft(run, "", clean);  // --threads 0: one per CPU
  ASSERT_EQ(by_default.status, 0) << by_default.err;
  EXPECT_TRUE(has(by_default, "OMP_PROC_BIND = 'TRUE'")) << by_default.err.substr(0, 3000);
  Result user_free = run_graft(run + all, "", clean + " OMP_PROC_BIND=false");
  ASSERT_EQ(user_free.status, 0) << user_free.err;
  EXPECT_TRUE(has(user_free, "OMP_PROC_BIND = 'FALSE'")) << user_free.err.substr(0, 3000);
  EXPECT_TRUE(has(user_free, "GOMP_SPINCOUNT = '1000'")) << user_free.err.substr(0, 3000);
  Result user_spin = run_graft(run + all, "", clean + " GOMP_SPINCOUNT=77");
  ASSERT_EQ(user_spin.status, 0) << user_spin.err;
  EXPECT_TRUE(has(user_spin, "OMP_PROC_BIND = 'TRUE'")) << user_spin.err.substr(0, 3000);
  EXPECT_TRUE(has(user_spin, "GOMP_SPINCOUNT = '77'")) << user_spin.err.substr(0, 3000);
  // Training starts threads of its own (replicas, MPI): never bound.
  Result train = run_graft("finetune --help" + all, "", clean);
  EXPECT_TRUE(has(train, "OMP_PROC_BIND = 'FALSE'")) << train.err.substr(0, 3000);
  EXPECT_TRUE(has(train, "GOMP_SPINCOUNT = '1000'")) << train.err.substr(0, 3000);
}

// ---- info and external data ----------------------------------------------------------------------------------

// z = x + w with w's 4 floats in `location` (64 bytes in).
std::string external_model(const std::string& location) {
  ModelBuilder b;
  b.input("x", DType::F32, {int64_t(4)});
  b.output("z", DType::F32, {int64_t(4)});
  auto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(::onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(::onnx::TensorProto::EXTERNAL);
  for (auto [k, v] : {std::pair<const char*, std::string>{"location", location}, {"offset", "64"}, {"length", "16"}}) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  b.node("Add", {"x", "w"}, {"z"});
  return b.bytes();
}

std::string weights_file() {
  std::vector<float> w = {1, 2, 3, 4};
  return std::string(64, '\0') + std::string(reinterpret_cast<const char*>(w.data()), 16);
}

TEST_F(GraftFlags, InfoListsExternalDataWithSizesAndPresence) {
  testing::write_file(dir.path / "m.onnx", external_model("m.weights"));
  Result r = run_graft("info " + at("m.onnx"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("external data: 1 file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("m.weights  1 tensor, MISSING (needs 80 B"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  testing::write_file(dir.path / "m.weights", weights_file());
  r = run_graft("info " + at("m.onnx"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("m.weights  1 tensor, 80 B"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
  json j = json::parse(run_graft("info --json " + at("m.onnx")).out);
  ASSERT_EQ(j["external_data"].size(), 1u);
  EXPECT_EQ(j["external_data"][0]["location"], "m.weights");
  EXPECT_EQ(j["external_data"][0]["present"], true);
  EXPECT_EQ(j["external_data"][0]["size"], 80);
  EXPECT_EQ(j["external_data"][0]["bytes_needed"], 80);
}

TEST_F(GraftFlags, SymlinkedExternalDataNeedsTheOptIn) {
  // The model folder holds a symlink to weights kept elsewhere (as ONNX Runtime allows).
  fs::create_directories(dir.path / "elsewhere");
  fs::create_directories(dir.path / "model");
  testing::write_file(dir.path / "elsewhere" / "w.bin", weights_file());
  fs::create_symlink(dir.path / "elsewhere" / "w.bin", dir.path / "model" / "w.bin");
  testing::write_file(dir.path / "model" / "m.onnx", external_model("w.bin"));
  write_npy(dir.path / "x.npy", Tensor::from_vector(std::vector<float>{10, 20, 30, 40}, Shape{4}));
  std::string args = "run " + at("model/m.onnx") + " --input x=" + at("x.npy") + " --output-dir " + at("out");
  Result r = run_graft(args);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("outside the model's folder"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-external-symlinks"), std::string::npos) << r.err;
  r = run_graft(args + " --allow-external-symlinks");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_npy(dir.path / "out" / "z.npy").to_vector<float>(), (std::vector<float>{11, 22, 33, 44}));
  // A location that names a path outside the folder stays refused, opt-in or not.
  testing::write_file(dir.path / "model" / "up.onnx", external_model("../elsewhere/w.bin"));
  r = run_graft("run " + at("model/up.onnx") + " --input x=" + at("x.npy") + " --allow-external-symlinks");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("escapes"), std::string::npos) << r.err;
}

// ---- tokenize ----------------------------------------------------------------------------------------------

class GraftTokenizerSpec : public GraftFlags {
 protected:
  void SetUp() override {
    GraftFlags::SetUp();
    if (IsSkipped()) return;
    if (!fs::exists(minilm_tokenizer())) GTEST_SKIP() << "shared tokenizers not found at " << shared_dir();
  }
};

TEST_F(GraftTokenizerSpec, FileFolderOrHubRepoAlike) {
  fs::create_directories(dir.path / "folder");
  fs::copy_file(minilm_tokenizer(), dir.path / "folder" / "tokenizer.json");
  const std::string commit = "89abcdef0123456789abcdef0123456789abcdef";
  fs::path repo = dir.path / "cache" / "models--org--tok";
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "snapshots" / commit);
  write_all(repo / "refs" / "main", commit);
  fs::copy_file(minilm_tokenizer(), repo / "blobs" / "t");
  fs::create_symlink("../../blobs/t", repo / "snapshots" / commit / "tokenizer.json");
  std::string env = "HF_HUB_OFFLINE=1 HF_HUB_CACHE=" + quote(dir.path / "cache");
  Result file = run_graft("tokenize --tokenizer " + quote(minilm_tokenizer()), "Hello world\n");
  ASSERT_EQ(file.status, 0) << file.err;
  Result folder = run_graft("tokenize --tokenizer " + at("folder"), "Hello world\n");
  Result hub = run_graft("tokenize --tokenizer org/tok", "Hello world\n", env);
  EXPECT_EQ(folder.status, 0) << folder.err;
  EXPECT_EQ(hub.status, 0) << hub.err;
  EXPECT_EQ(folder.out, file.out);
  EXPECT_EQ(hub.out, file.out);
  Result missing = run_graft("tokenize --tokenizer org/other", "x\n", env);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("not in the cache"), std::string::npos) << missing.err;
}

TEST_F(GraftTokenizerSpec, NoPaddingNoTruncationAndMaxLengthOverrideTheFile) {
  // The MiniLM file pads every line to 128 and truncates at 128.
  auto tok = text::Tokenizer::from_file(minilm_tokenizer().string());
  std::string longtext;
  for (int i = 0; i < 200; ++i) longtext += "word ";
  Result plain = run_graft("tokenize --tokenizer " + quote(minilm_tokenizer()), "Hello world\n" + longtext + "\n");
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(json::parse(plain.lines()[0])["ids"].size(), 128u);
  EXPECT_EQ(json::parse(plain.lines()[1])["ids"].size(), 128u);

  Result r = run_graft("tokenize --tokenizer " + quote(minilm_tokenizer()) + " --no-padding --no-truncation",
                       "Hello world\n" + longtext + "\n");
  ASSERT_EQ(r.status, 0) << r.err;
  tok.set_padding(std::nullopt);
  tok.set_truncation(std::nullopt);
  EXPECT_EQ(json::parse(r.lines()[0])["ids"], json(tok.encode("Hello world").ids));
  EXPECT_EQ(json::parse(r.lines()[1])["ids"], json(tok.encode(longtext).ids));
  EXPECT_EQ(json::parse(r.lines()[1])["ids"].size(), 202u);

  r = run_graft("tokenize --tokenizer " + quote(minilm_tokenizer()) + " --no-padding --max-length 9", longtext + "\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.lines()[0])["ids"].size(), 9u);
  EXPECT_EQ(run_graft("tokenize --tokenizer " + quote(minilm_tokenizer()) + " --max-length 0", "x\n").status, 2);
}

TEST_F(GraftTokenizerSpec, TextsFromArgumentsFileOrStdinAndThreadsAlike) {
  std::string lines;
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    texts.push_back("line " + std::to_string(i) + std::string(size_t(i % 7), '!'));
    lines += texts.back() + "\n";
  }
  lines += "bad \xff byte\n";
  write_all(dir.path / "texts.txt", lines);
  std::string base = "tokenize --tokenizer " + quote(minilm_tokenizer()) + " --no-padding";
  Result one = run_graft(base + " --threads 1", lines);
  Result four = run_graft(base + " --threads 4 --text-file " + at("texts.txt"));
  EXPECT_EQ(one.status, 1);  // the bad line
  EXPECT_EQ(four.status, 1);
  EXPECT_EQ(one.out, four.out);
  ASSERT_EQ(four.lines().size(), 301u);
  EXPECT_NE(four.lines()[300].find("\"line\":301"), std::string::npos) << four.lines()[300];
  Result args = run_graft(base + " " + quote(texts[0]) + " " + quote(texts[1]));
  ASSERT_EQ(args.status, 0) << args.err;
  EXPECT_EQ(args.lines()[0], one.lines()[0]);
  EXPECT_EQ(args.lines()[1], one.lines()[1]);
  // To a file, atomically; into a folder that does not exist, a usage error.
  Result to_file = run_graft(base + " --output " + at("t.jsonl") + " " + quote(texts[0]));
  ASSERT_EQ(to_file.status, 0) << to_file.err;
  EXPECT_EQ(read_all(dir.path / "t.jsonl"), one.lines()[0] + "\n");
  Result bad = run_graft(base + " --output " + at("no/such/dir/t.jsonl") + " x");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--output"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("does not exist"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace graft::onnx
