// The `graft` binary, run as a user would: `graft tokenize` against the graft::text API, `graft embed` on a
// Hub-like folder against the model run directly plus pooling computed here, and error messages.
// The binary is found next to this test's build folder: <build>/tests/test_tools -> <build>/tools/graft/graft
// (GRAFT_CLI overrides).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"
#include "graft/text/tokenizer.h"
#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace graft::clitest;

class GraftCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(graft_binary())) GTEST_SKIP() << "graft binary not built at " << graft_binary();
  }
};

class GraftTokenize : public GraftCli {
 protected:
  void SetUp() override {
    GraftCli::SetUp();
    if (IsSkipped()) return;
    if (!fs::exists(minilm_tokenizer())) GTEST_SKIP() << "shared tokenizers not found at " << shared_dir();
  }
};

// The JSON object graft tokenize prints for `e` (character offsets against the given texts).
json expected(const graft::text::Encoding& e, const std::string& a, const std::string* b = nullptr) {
  auto ca = graft::text::byte_to_char_offsets(a, e.offsets);
  std::vector<std::pair<size_t, size_t>> cb;
  if (b) cb = graft::text::byte_to_char_offsets(*b, e.offsets);
  json offs = json::array();
  for (size_t i = 0; i < e.offsets.size(); ++i) {
    auto o = (b && e.sequence_ids[i] == 1) ? cb[i] : ca[i];
    offs.push_back({o.first, o.second});
  }
  return json{{"ids", e.ids}, {"type_ids", e.type_ids}, {"tokens", e.tokens}, {"offsets", offs},
              {"attention_mask", e.attention_mask}};
}

void expect_line(const std::string& line, const json& want, const std::string& what) {
  json got;
  ASSERT_NO_THROW(got = json::parse(line)) << what << ": " << line;
  for (const char* key : {"ids", "type_ids", "tokens", "offsets", "attention_mask"})
    EXPECT_EQ(got.at(key), want.at(key)) << what << ": key " << key;
  // Keys come in the documented order.
  EXPECT_EQ(line.rfind("{\"ids\":", 0), 0u) << line.substr(0, 40);
}

const std::vector<std::string> kTexts = {
    "Hello, world!",
    "This is an example sentence",
    "Café naïve résumé — déjà vu",
    "日本語のテキストと中文",
    "emoji 🤗🚀 and  double  spaces",
    "",
    "unbelievably long wooooooooooooooooord",
};

TEST_F(GraftTokenize, PlainLinesMatchTheTextApi) {
  for (const fs::path& tok_path : {minilm_tokenizer(), gpt2_tokenizer()}) {
    auto tok = graft::text::Tokenizer::from_file(tok_path.string());
    std::string input;
    for (const auto& t : kTexts) input += t + "\n";
    Result r = run_graft("tokenize --tokenizer " + quote(tok_path.string()), input);
    ASSERT_EQ(r.status, 0) << r.err;
    auto lines = r.lines();
    ASSERT_EQ(lines.size(), kTexts.size());
    for (size_t i = 0; i < kTexts.size(); ++i)
      expect_line(lines[i], expected(tok.encode(kTexts[i]), kTexts[i]), tok_path.filename().string() + " #" + std::to_string(i));
  }
}

TEST_F(GraftTokenize, MiniLMPadsToTheConfiguredLength) {
  // minilm_tokenizer.json configures Fixed(128) padding and truncation at 128.
  Result r = run_graft("tokenize --tokenizer " + quote(minilm_tokenizer().string()), "hello\n");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.lines().at(0));
  EXPECT_EQ(j["ids"].size(), 128u);
  EXPECT_EQ(j["ids"][0], 101);
  EXPECT_EQ(j["attention_mask"][3], 0);
  EXPECT_EQ(j["tokens"][3], "[PAD]");
  std::string longline;
  for (int i = 0; i < 300; ++i) longline += "word ";
  r = run_graft("tokenize --tokenizer " + quote(minilm_tokenizer().string()), longline + "\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.lines().at(0))["ids"].size(), 128u);
}

TEST_F(GraftTokenize, Pairs) {
  auto tok = graft::text::Tokenizer::from_file(minilm_tokenizer().string());
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"What is graft?", "A C++ ML library."}, {"Café", "naïve 日本"}, {"", "only second"}};
  std::string input;
  for (const auto& [a, b] : pairs) input += a + "\t" + b + "\n";
  Result r = run_graft("tokenize --pair --tokenizer " + quote(minilm_tokenizer().string()), input);
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& [a, b] = pairs[i];
    expect_line(lines[i], expected(tok.encode(a, b), a, &b), "pair " + std::to_string(i));
  }
  // type ids: 1 for the second sequence
  json j = json::parse(lines[0]);
  EXPECT_EQ(j["type_ids"][0], 0);
  EXPECT_NE(std::find(j["type_ids"].begin(), j["type_ids"].end(), 1), j["type_ids"].end());
}

TEST_F(GraftTokenize, JsonlWithTabsAndNewlinesInside) {
  auto tok = graft::text::Tokenizer::from_file(minilm_tokenizer().string());
  std::string a = "first line\nsecond\tcolumn", b = "pair\twith tab\r\nand crlf";
  std::string input = json(a).dump() + "\n" + json::array({a, b}).dump() + "\n" + json("plain").dump() + "\n";
  Result r = run_graft("tokenize --jsonl --tokenizer " + quote(minilm_tokenizer().string()), input);
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 3u);
  expect_line(lines[0], expected(tok.encode(a), a), "jsonl single");
  expect_line(lines[1], expected(tok.encode(a, b), a, &b), "jsonl pair");
  expect_line(lines[2], expected(tok.encode("plain"), "plain"), "jsonl plain");
}

TEST_F(GraftTokenize, NoSpecialTokens) {
  auto tok = graft::text::Tokenizer::from_file(minilm_tokenizer().string());
  Result r = run_graft("tokenize --no-special --tokenizer " + quote(minilm_tokenizer().string()), "Hello there\n");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.lines().at(0));
  expect_line(r.lines().at(0), expected(tok.encode("Hello there", false), "Hello there"), "no-special");
  EXPECT_NE(j["ids"][0], 101);  // no [CLS]
  r = run_graft("tokenize --no-special --pair --jsonl --tokenizer " + quote(minilm_tokenizer().string()),
                R"(["a b", "c"])" "\n");
  ASSERT_EQ(r.status, 0) << r.err;
  std::string a = "a b", b = "c";
  expect_line(r.lines().at(0), expected(tok.encode(a, b, false), a, &b), "no-special pair");
}

TEST_F(GraftTokenize, CharacterVersusByteOffsets) {
  Result r = run_graft("tokenize --no-special --tokenizer " + quote(gpt2_tokenizer().string()), "héllo wörld\n");
  ASSERT_EQ(r.status, 0) << r.err;
  json chars = json::parse(r.lines().at(0));
  // tokens h, é, llo, " w", "ör", ld: "ör" is characters 7..9, bytes 8..11
  EXPECT_EQ(chars["offsets"], json::parse("[[0,1],[1,2],[2,5],[5,7],[7,9],[9,11]]"));
  r = run_graft("tokenize --no-special --byte-offsets --tokenizer " + quote(gpt2_tokenizer().string()), "héllo wörld\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.lines().at(0))["offsets"], json::parse("[[0,1],[1,3],[3,6],[6,8],[8,11],[11,13]]"));
}

TEST_F(GraftTokenize, BadLinesGiveErrorLinesAndKeepGoing) {
  std::string tokp = quote(minilm_tokenizer().string());
  // Invalid UTF-8 between two good lines.
  Result r = run_graft("tokenize --tokenizer " + tokp, "good\n\xff\xfe bad \xc3\n\nalso good\n");
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.status, 1);
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(json::parse(lines[0]).contains("ids"));
  json err = json::parse(lines[1]);
  EXPECT_EQ(err["line"], 2);
  EXPECT_NE(err["error"].get<std::string>().find("UTF-8"), std::string::npos) << lines[1];
  EXPECT_TRUE(json::parse(lines[2]).contains("ids"));  // the empty line is an empty text
  EXPECT_TRUE(json::parse(lines[3]).contains("ids"));
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  // --pair without a TAB, --jsonl with junk and with the wrong shapes.
  r = run_graft("tokenize --pair --tokenizer " + tokp, "no tab here\na\tb\n");
  EXPECT_EQ(r.status, 1);
  ASSERT_EQ(r.lines().size(), 2u);
  EXPECT_NE(r.lines()[0].find("TAB"), std::string::npos);
  r = run_graft("tokenize --jsonl --tokenizer " + tokp, "not json\n[1,2]\n[\"a\",\"b\",\"c\"]\n{\"a\":1}\n\"ok\"\n\n");
  EXPECT_EQ(r.status, 1);
  lines = r.lines();
  ASSERT_EQ(lines.size(), 6u);
  for (size_t i : {0u, 1u, 2u, 3u, 5u}) EXPECT_TRUE(json::parse(lines[i]).contains("error")) << lines[i];
  EXPECT_TRUE(json::parse(lines[4]).contains("ids"));
  r = run_graft("tokenize --jsonl --pair --tokenizer " + tokp, "\"single\"\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.lines().at(0).find("two strings"), std::string::npos);
}

TEST_F(GraftTokenize, FuzzedBytesNeverCrash) {
  std::mt19937 rng(1234);
  for (const fs::path& tok_path : {minilm_tokenizer(), gpt2_tokenizer()}) {
    for (const char* mode : {"", "--pair", "--jsonl"}) {
      std::string input;
      size_t nlines = 0;
      for (int i = 0; i < 150; ++i) {
        size_t len = rng() % 60;
        std::string line;
        for (size_t k = 0; k < len; ++k) {
          unsigned char c = static_cast<unsigned char>(rng() % 256);
          if (c == '\n') c = 'n';
          // Mix in plausible pieces so some lines are valid.
          if (rng() % 4 == 0) c = static_cast<unsigned char>("ab\t\"[],\\ \xc3\xa9"[rng() % 12]);
          line += static_cast<char>(c);
        }
        input += line + "\n";
        ++nlines;
      }
      Result r = run_graft(std::string("tokenize ") + mode + " --tokenizer " + quote(tok_path.string()), input);
      EXPECT_EQ(r.signal, 0) << mode;
      EXPECT_TRUE(r.status == 0 || r.status == 1) << mode << " status " << r.status << "\n" << r.err.substr(0, 500);
      auto lines = r.lines();
      EXPECT_EQ(lines.size(), nlines) << mode;
      for (const auto& l : lines) {
        json j;
        ASSERT_NO_THROW(j = json::parse(l)) << l;
        EXPECT_TRUE(j.contains("ids") || j.contains("error")) << l;
      }
    }
  }
}

TEST_F(GraftTokenize, HugeLine) {
  std::string big(2'000'000, 'a');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = ' ';
  Result r = run_graft("tokenize --tokenizer " + quote(gpt2_tokenizer().string()), big + "\n");
  EXPECT_EQ(r.status, 0) << r.err.substr(0, 300);
  ASSERT_EQ(r.lines().size(), 1u);
  EXPECT_EQ(json::parse(r.lines()[0])["ids"].size(), 50u);  // gpt2_tokenizer.json truncates at 50
}

// Exit status 2 for usage errors (bad flags, paths that do not exist, missing arguments), 1 for errors
// while working; messages name what the user gave.
TEST_F(GraftCli, ErrorMessagesAndExitStatuses) {
  TempDir d;
  Result r = run_graft("embed --model " + quote((d.path / "no_such_model").string()) + " hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no_such_model"), std::string::npos) << r.err;

  r = run_graft("embed --model " + quote(d.path.string()) + " hello");  // a folder without a model
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no ONNX model"), std::string::npos) << r.err;

  r = run_graft("embed --model " + quote(d.path.string()) + " --format xml hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--format"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("xml"), std::string::npos) << r.err;

  r = run_graft("embed --model " + quote(d.path.string()) + " --format npy hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--output"), std::string::npos) << r.err;

  r = run_graft("embed --model " + quote(d.path.string()));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no texts"), std::string::npos) << r.err;

  r = run_graft("embed --model " + quote(d.path.string()) + " --text-file " + quote((d.path / "x").string()) + " hi");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;

  r = run_graft("embed hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;

  r = run_graft("embed --model x --no-such-flag hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;

  r = run_graft("tokenize --tokenizer " + quote((d.path / "missing.json").string()), "x\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r.err;

  // A runtime failure: a file that is not an ONNX model.
  write_all(d.path / "junk.onnx", "not a model");
  r = run_graft("info " + quote((d.path / "junk.onnx").string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("junk.onnx"), std::string::npos) << r.err;

  // Offline, a repo id that is not cached fails clearly (and makes no network request).
  r = run_graft("embed --model graft-test/not-cached hello", "",
                "HF_HUB_OFFLINE=1 HF_HUB_CACHE=" + quote((d.path / "cache").string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("graft-test/not-cached"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not in the cache"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("offline"), std::string::npos) << r.err;
}

// ---- graft embed on a Hub-like folder ------------------------------------------------------------------------

class GraftEmbed : public GraftCli {
 protected:
  static void SetUpTestSuite() {
    fs::path script = shared_dir() / "models" / "materialize.py";
    if (!fs::exists(script) || !fs::exists(minilm_tokenizer())) return;
    dir_ = new TempDir();
    std::string cmd = "/usr/bin/python3 " + quote(script.string()) + " " + quote(dir_->path.string()) + " > /dev/null";
    if (std::system(cmd.c_str()) != 0) {
      error_ = "materialize.py failed: " + cmd;
      return;
    }
    // Lay it out like the Hub repo: <repo>/onnx/model.onnx (+ its external data), <repo>/tokenizer.json.
    repo_ = dir_->path / "repo";
    fs::create_directories(repo_);
    fs::rename(dir_->path / "minilm_l6", repo_ / "onnx");
    fs::rename(repo_ / "onnx" / "minilm_l6_opset14.onnx", repo_ / "onnx" / "model.onnx");
    fs::copy_file(minilm_tokenizer(), repo_ / "tokenizer.json");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    GraftCli::SetUp();
    if (IsSkipped()) return;
    if (repo_.empty() && error_.empty()) GTEST_SKIP() << "shared models/tokenizers not found at " << shared_dir();
    ASSERT_TRUE(error_.empty()) << error_;
  }

  // Reference: tokenize each text alone with the text API (truncation as configured, no padding), run the
  // model on [1, T], pool here.
  static std::vector<std::vector<float>> reference(const std::vector<std::string>& texts, const std::string& mode,
                                                   bool normalize, size_t max_length = 0) {
    auto tok = graft::text::Tokenizer::from_file(minilm_tokenizer().string());
    tok.set_padding(std::nullopt);
    if (max_length) {
      graft::text::TruncationParams t;
      t.max_length = max_length;
      tok.set_truncation(t);
    }
    graft::onnx::InferenceSession s(graft::onnx::Model::load(repo_ / "onnx" / "model.onnx"));
    std::vector<std::vector<float>> out;
    for (const auto& text : texts) {
      auto e = tok.encode(text);
      int64_t T = int64_t(e.ids.size());
      std::vector<int64_t> ids(e.ids.begin(), e.ids.end()), types(e.type_ids.begin(), e.type_ids.end()),
          mask(e.attention_mask.begin(), e.attention_mask.end());
      auto res = s.run({{"input_ids", graft::Tensor::from_vector(ids, graft::Shape{1, T})},
                        {"attention_mask", graft::Tensor::from_vector(mask, graft::Shape{1, T})},
                        {"token_type_ids", graft::Tensor::from_vector(types, graft::Shape{1, T})}});
      const graft::Tensor& h = res.at("last_hidden_state");
      int64_t H = h.shape()[2];
      auto hv = h.to_vector<float>();
      std::vector<float> v(size_t(H), 0.0f);
      for (int64_t k = 0; k < H; ++k) {
        if (mode == "cls") {
          v[size_t(k)] = hv[size_t(k)];
        } else if (mode == "max") {
          float m = -INFINITY;
          for (int64_t t = 0; t < T; ++t) m = std::max(m, hv[size_t(t * H + k)]);
          v[size_t(k)] = m;
        } else {
          double sum = 0;
          for (int64_t t = 0; t < T; ++t) sum += hv[size_t(t * H + k)];
          v[size_t(k)] = float(sum / double(T));
        }
      }
      if (normalize) {
        double n = 0;
        for (float x : v) n += double(x) * x;
        n = std::sqrt(n);
        for (float& x : v) x = float(x / n);
      }
      out.push_back(v);
    }
    return out;
  }

  static void expect_close(const json& got, const std::vector<std::vector<float>>& want, const std::string& what) {
    ASSERT_TRUE(got.is_array()) << what;
    ASSERT_EQ(got.size(), want.size()) << what;
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].size(), want[i].size()) << what;
      for (size_t k = 0; k < want[i].size(); ++k)
        worst = std::max(worst, std::abs(got[i][k].get<double>() - double(want[i][k])));
    }
    EXPECT_LT(worst, 1e-4) << what << ": max abs difference";
  }

  static inline TempDir* dir_ = nullptr;
  static inline fs::path repo_;
  static inline std::string error_;
};

const std::vector<std::string> kSentences = {
    "This is an example sentence",
    "Each sentence is converted",
    "A",
    "graft runs ONNX models on CPU and GPU, fine-tunes them, and writes them back to ONNX again.",
    "",
    "Café naïve 日本語 🤗",
};

std::string args_for(const std::vector<std::string>& texts) {
  std::string s;
  for (const auto& t : texts) s += " " + quote(t);
  return s;
}

TEST_F(GraftEmbed, MeanByDefaultMatchesIndependentPooling) {
  auto want = reference(kSentences, "mean", false);
  for (int batch : {1, 2, 32}) {
    Result r = run_graft("embed --model " + quote(repo_.string()) + " --batch " + std::to_string(batch) +
                         args_for(kSentences));
    ASSERT_EQ(r.status, 0) << r.err;
    expect_close(json::parse(r.out), want, "batch " + std::to_string(batch));
  }
}

TEST_F(GraftEmbed, PoolingConfigNormalizeAndNpy) {
  fs::create_directories(repo_ / "1_Pooling");
  write_all(repo_ / "1_Pooling" / "config.json", R"({"word_embedding_dimension": 384, "pooling_mode_cls_token": true,
      "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": false})");
  TempDir d;
  Result r = run_graft("embed --model " + quote(repo_.string()) + " --normalize --batch 4 --format npy --output " +
                       quote((d.path / "e.npy").string()) + args_for(kSentences));
  ASSERT_EQ(r.status, 0) << r.err;
  graft::Tensor t = graft::read_npy(d.path / "e.npy");
  ASSERT_EQ(t.shape(), (graft::Shape{int64_t(kSentences.size()), 384}));
  auto v = t.to_vector<float>();
  json got = json::array();
  for (size_t i = 0; i < kSentences.size(); ++i) got.push_back(std::vector<float>(v.begin() + i * 384, v.begin() + (i + 1) * 384));
  expect_close(got, reference(kSentences, "cls", true), "cls + normalize (npy)");

  write_all(repo_ / "1_Pooling" / "config.json", R"({"pooling_mode_max_tokens": true})");
  r = run_graft("embed --model " + quote(repo_.string()) + args_for(kSentences));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_close(json::parse(r.out), reference(kSentences, "max", false), "max");
  fs::remove_all(repo_ / "1_Pooling");
}

TEST_F(GraftEmbed, InputFileStdinAndOutputFile) {
  TempDir d;
  std::string lines;
  for (const auto& s : kSentences) lines += s + "\n";
  write_all(d.path / "texts.txt", lines);
  Result r = run_graft("embed --model " + quote(repo_.string()) + " --text-file " +
                       quote((d.path / "texts.txt").string()) + " --output " + quote((d.path / "e.json").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  auto want = reference(kSentences, "mean", false);
  expect_close(json::parse(read_all(d.path / "e.json")), want, "--text-file file");
  r = run_graft("embed --model " + quote(repo_.string()) + " --text-file -", lines);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_close(json::parse(r.out), want, "--text-file -");
}

// A Hub cache as huggingface_hub lays it out: refs/main -> commit, snapshots/<commit>/<path> -> symlinks into
// blobs/ (the ONNX loader follows the external-data link there). With `modules`, modules.json adds a
// Normalize module; without it the repo has no modules.json in the cache.
fs::path make_hub_cache(const fs::path& cache, const fs::path& model_dir, bool modules) {
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  fs::path repo = cache / "models--graft-test--minilm";
  fs::path snap = repo / "snapshots" / commit;
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  fs::create_directories(snap / "onnx");
  write_all(repo / "refs" / "main", commit);
  if (modules) {
    write_all(repo / "blobs" / "modules", R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
        {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
        {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
    fs::create_symlink("../../blobs/modules", snap / "modules.json");
  }
  fs::copy_file(minilm_tokenizer(), repo / "blobs" / "tokenizer");
  fs::create_symlink("../../blobs/tokenizer", snap / "tokenizer.json");
  fs::create_hard_link(model_dir / "model.onnx", repo / "blobs" / "model");
  fs::create_hard_link(model_dir / "minilm_l6_opset14.data", repo / "blobs" / "data");
  fs::create_symlink("../../../blobs/model", snap / "onnx" / "model.onnx");
  fs::create_symlink("../../../blobs/data", snap / "onnx" / "minilm_l6_opset14.data");
  return repo;
}

TEST_F(GraftEmbed, FromTheHubCacheOffline) {
  // HF_HUB_OFFLINE=1: no request at all; modules.json's Normalize module applies.
  TempDir d;
  make_hub_cache(d.path / "cache", repo_ / "onnx", true);
  Result r = run_graft("embed --model graft-test/minilm" + args_for(kSentences), "",
                       "HF_HUB_OFFLINE=1 HF_HUB_CACHE=" + quote(d.path / "cache"));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_close(json::parse(r.out), reference(kSentences, "mean", true), "hub cache, normalized");
}

TEST_F(GraftEmbed, FromTheHubCacheWithTheNetworkDown) {
  // As huggingface_hub: without HF_HUB_OFFLINE but with the Hub unreachable (a closed local port), cached
  // files are used and optional files the cache lacks (modules.json, 1_Pooling/config.json,
  // sentence_bert_config.json) count as absent: mean pooling, no normalization.
  TempDir d;
  make_hub_cache(d.path / "cache", repo_ / "onnx", false);
  std::string env = "HF_ENDPOINT=http://127.0.0.1:9 HF_HUB_ETAG_TIMEOUT=5 HF_HUB_CACHE=" + quote(d.path / "cache");
  Result r = run_graft("embed --model graft-test/minilm" + args_for(kSentences), "", env);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_close(json::parse(r.out), reference(kSentences, "mean", false), "hub cache, network down");
  // A required file missing from the cache: the message says the Hub could not be reached.
  fs::remove(d.path / "cache" / "models--graft-test--minilm" / "snapshots" / "0123456789abcdef0123456789abcdef01234567" /
             "tokenizer.json");
  r = run_graft("embed --model graft-test/minilm hello", "", env);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no tokenizer.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot reach"), std::string::npos) << r.err;
}

// sentence-transformers truncates to sentence_bert_config.json's max_seq_length (not tokenizer.json's own
// length); --max-length overrides it, up to the model's position table.
TEST_F(GraftEmbed, TruncationAsSentenceTransformers) {
  std::string longtext;
  for (int i = 0; i < 40; ++i) longtext += "token" + std::to_string(i) + " ";
  const std::vector<std::string> texts = {longtext, "short one"};
  write_all(repo_ / "sentence_bert_config.json", R"({"max_seq_length": 6, "do_lower_case": false})");
  Result r = run_graft("embed --model " + quote(repo_.string()) + args_for(texts));
  fs::remove(repo_ / "sentence_bert_config.json");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_close(json::parse(r.out), reference(texts, "mean", false, 6), "max_seq_length 6");

  r = run_graft("embed --model " + quote(repo_.string()) + " --max-length 9" + args_for(texts));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_close(json::parse(r.out), reference(texts, "mean", false, 9), "--max-length 9");

  // Past the 512 rows of MiniLM's position table: an error that says so, at the user's level.
  r = run_graft("embed --model " + quote(repo_.string()) + " --max-length 600 hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--max-length"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("512"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("position"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("/m/"), std::string::npos) << "names an internal node: " << r.err;
  for (const char* bad : {"0", "-3"}) {
    r = run_graft("embed --model " + quote(repo_.string()) + " --max-length " + bad + " hello");
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.err.find("--max-length " + std::string(bad) + ": must be at least 1"), std::string::npos) << r.err;
  }
  r = run_graft("embed --model " + quote(repo_.string()) + " --batch 0 hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--batch 0: must be at least 1"), std::string::npos) << r.err;
  EXPECT_LT(r.err.size(), 200u) << r.err;
  r = run_graft("embed --model " + quote(repo_.string()) + " --output " + quote(std::string("/nonexistent/dir/x.json")) + " hello");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("folder /nonexistent/dir does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(".tmp"), std::string::npos) << r.err;
}

TEST_F(GraftEmbed, InvalidUtf8TextIsAnError) {
  Result r = run_graft("embed --model " + quote(repo_.string()) + " --text-file -", "fine\nbad \xff byte\n");
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("text 2"), std::string::npos) << r.err;
}

}  // namespace
