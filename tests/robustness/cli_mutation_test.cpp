// Mutated models, tokenizers and inputs fed through the `graft` command line, as a user with a damaged
// download would: whatever the bytes, graft exits with 0 or with 1 and a `graft: error: ...` naming the
// file, never with a signal and never hanging. A few hundred deterministic mutations (bit flips, byte
// overwrites, truncations, duplicated and deleted spans, interesting integers) of small generated files.
// The binary is <build>/tools/graft/graft (GRAFT_CLI overrides).
#include <sys/wait.h>

#include <cstdio>
#include <random>

#include "onnx/onnx_test_util.h"

namespace graft {
namespace {

namespace fs = std::filesystem;
using onnx::testing::ModelBuilder;
using onnx::testing::TempDir;

fs::path graft_binary() {
  if (const char* env = std::getenv("GRAFT_CLI")) return env;
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "graft" / "graft";
}

struct Outcome {
  int exit_code = -1;  // -1: killed by a signal or timed out
  int signal = 0;
  std::string err;
};

// Runs the CLI with `args` (already quoted), stdin from `in`, under a 60 s timeout.
Outcome run_cli(const std::string& args, const fs::path& dir, const std::string& stdin_file = "/dev/null") {
  fs::path err = dir / "stderr.txt";
  std::string cmd = "timeout -s KILL 60 '" + graft_binary().string() + "' " + args + " < '" + stdin_file +
                    "' > /dev/null 2> '" + err.string() + "'";
  int status = std::system(cmd.c_str());
  Outcome o;
  if (WIFEXITED(status)) {
    o.exit_code = WEXITSTATUS(status);
    if (o.exit_code == 137 || o.exit_code >= 128) {  // timeout -s KILL, or the shell's 128+signal
      o.signal = o.exit_code - 128;
      o.exit_code = -1;
    }
  } else if (WIFSIGNALED(status)) {
    o.signal = WTERMSIG(status);
  }
  std::ifstream in(err);
  o.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return o;
}

// One mutation of `bytes`, chosen by `rng`.
std::string mutate(std::string bytes, std::mt19937& rng) {
  auto pick = [&](size_t n) { return n ? size_t(rng() % n) : 0; };
  int kind = int(rng() % 7);
  size_t n = bytes.size();
  switch (kind) {
    case 0:  // flip 1-4 bits
      for (int k = 0, m = 1 + int(rng() % 4); k < m && n; ++k) bytes[pick(n)] ^= char(1 << (rng() % 8));
      break;
    case 1:  // overwrite a byte
      if (n) bytes[pick(n)] = char(rng());
      break;
    case 2:  // truncate
      bytes.resize(pick(n + 1));
      break;
    case 3: {  // duplicate a span
      size_t at = pick(n), len = std::min(n - at, size_t(1 + rng() % 64));
      bytes.insert(at, bytes.substr(at, len));
      break;
    }
    case 4: {  // delete a span
      size_t at = pick(n), len = std::min(n - at, size_t(1 + rng() % 16));
      bytes.erase(at, len);
      break;
    }
    case 5: {  // an interesting integer (little-endian) somewhere: protobuf lengths, npy/safetensors sizes
      static const uint64_t values[] = {0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff, ~0ull, 1ull << 40};
      uint64_t v = values[rng() % 10];
      size_t at = pick(n);
      for (int b = 0; b < 8 && at + size_t(b) < n; ++b) bytes[at + size_t(b)] = char(v >> (8 * b));
      break;
    }
    default: {  // insert random bytes
      std::string junk(1 + rng() % 8, '\0');
      for (char& c : junk) c = char(rng());
      bytes.insert(pick(n + 1), junk);
    }
  }
  return bytes;
}

// Asserts the contract for one run on a mutated `file` (models: errors may also name the model).
void expect_clean(const Outcome& o, const fs::path& file, const fs::path& also, const std::string& what) {
  ASSERT_NE(o.exit_code, -1) << what << ": killed by signal " << o.signal << " or timed out; stderr:\n" << o.err;
  ASSERT_TRUE(o.exit_code == 0 || o.exit_code == 1) << what << ": exit code " << o.exit_code << "\n" << o.err;
  if (o.exit_code == 0) return;
  size_t at = o.err.find("graft: error: ");
  ASSERT_NE(at, std::string::npos) << what << ": no 'graft: error:' line in\n" << o.err;
  std::string line = o.err.substr(at, o.err.find('\n', at) - at);
  EXPECT_TRUE(line.find(file.string()) != std::string::npos || line.find(also.string()) != std::string::npos)
      << what << ": the error names neither " << file << " nor " << also << ":\n" << line;
}

std::string model_bytes() {
  // Enough structure for mutations to land in interesting places: initializers, a Reshape target computed
  // from a shape, a sub-graph, attributes.
  ModelBuilder b;
  b.input("x", DType::F32, {"batch", 4});
  b.output("y", DType::F32, {});
  b.initializer("w", onnx::testing::random_tensor({4, 3}, 5));
  b.initializer("bias", onnx::testing::random_tensor({3}, 6));
  b.node("MatMul", {"x", "w"}, {"h"});
  b.node("Add", {"h", "bias"}, {"a"});
  b.node("Shape", {"a"}, {"s"});
  b.constant("neg", Tensor::from_vector(std::vector<int64_t>{-1}));
  b.node("Reshape", {"a", "neg"}, {"flat"});
  auto& sm = b.node("Softmax", {"flat"}, {"p"});
  ModelBuilder::attr(sm, "axis", int64_t(0));
  b.node("ReduceSum", {"p"}, {"r"});
  b.node("Sigmoid", {"r"}, {"y"});
  return b.bytes();
}

std::string npy_bytes(const fs::path& dir) {
  write_npy(dir / "tmp.npy", onnx::testing::random_tensor({2, 4}, 7));
  std::ifstream in(dir / "tmp.npy", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const char* kTokenizer = R"({"version":"1.0","truncation":null,"padding":null,
"added_tokens":[{"id":0,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
"normalizer":{"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"Lowercase"},{"type":"StripAccents"}]},
"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Whitespace"},{"type":"Digits","individual_digits":true}]},
"post_processor":{"type":"TemplateProcessing","single":[{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[UNK]","type_id":0}}],
 "pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
 "special_tokens":{"[UNK]":{"id":"[UNK]","ids":[0],"tokens":["[UNK]"]}}},
"decoder":{"type":"WordPiece","prefix":"##","cleanup":true},
"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
 "vocab":{"[UNK]":0,"hello":1,"world":2,"##s":3,"1":4,"2":5,"!":6}}})";

TEST(CliMutations, MutatedModelsInputsAndTokenizers) {
  TempDir dir;
  const fs::path model = dir.path / "model.onnx", input = dir.path / "x.npy", tok = dir.path / "tokenizer.json";
  const fs::path text = dir.path / "text.txt";
  onnx::testing::write_file(text, "Hello worlds 12!\nhello\n");
  const std::string good_model = model_bytes(), good_npy = npy_bytes(dir.path), good_tok = kTokenizer;
  // The unmutated files work.
  onnx::testing::write_file(model, good_model);
  onnx::testing::write_file(input, good_npy);
  onnx::testing::write_file(tok, good_tok);
  ASSERT_EQ(run_cli("run '" + model.string() + "' --input x='" + input.string() + "'", dir.path).exit_code, 0);
  ASSERT_EQ(run_cli("tokenize --tokenizer '" + tok.string() + "'", dir.path, text.string()).exit_code, 0);
  ASSERT_EQ(run_cli("quantize '" + model.string() + "' '" + (dir.path / "quantized.onnx").string() + "'", dir.path).exit_code, 0);

  std::mt19937 rng(20240613);
  int runs = 0, failures = 0;
  for (int i = 0; i < 120; ++i) {  // models: `graft info`, `graft run` and `graft quantize`
    onnx::testing::write_file(model, mutate(good_model, rng));
    onnx::testing::write_file(input, good_npy);
    for (const char* cmd : {"info", "run", "quantize"}) {
      std::string args = std::string(cmd) + " '" + model.string() + "'";
      if (std::string(cmd) == "run") args += " --input x='" + input.string() + "'";
      if (std::string(cmd) == "quantize") args += " '" + (dir.path / "quantized.onnx").string() + "'";
      Outcome o = run_cli(args, dir.path);
      expect_clean(o, model, model, "model mutation " + std::to_string(i) + " (" + cmd + ")");
      ++runs;
      failures += o.exit_code != 0;
    }
  }
  onnx::testing::write_file(model, good_model);
  for (int i = 0; i < 100; ++i) {  // .npy inputs
    onnx::testing::write_file(input, mutate(good_npy, rng));
    Outcome o = run_cli("run '" + model.string() + "' --input x='" + input.string() + "'", dir.path);
    expect_clean(o, input, model, "npy mutation " + std::to_string(i));
    ++runs;
    failures += o.exit_code != 0;
  }
  for (int i = 0; i < 100; ++i) {  // tokenizer.json
    onnx::testing::write_file(tok, mutate(good_tok, rng));
    Outcome o = run_cli("tokenize --tokenizer '" + tok.string() + "'", dir.path, text.string());
    expect_clean(o, tok, tok, "tokenizer mutation " + std::to_string(i));
    ++runs;
    failures += o.exit_code != 0;
  }
  std::printf("%d CLI runs on mutated files, %d refused with an error, none crashed or hung\n", runs, failures);
}

}  // namespace
}  // namespace graft
