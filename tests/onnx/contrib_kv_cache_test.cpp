// com.microsoft attention ops with a key/value cache (GroupQueryAttention, MultiHeadAttention, Attention),
// compared against ONNX Runtime itself (onnxruntime-node through bench/ort/run_model.js; skipped with a note
// when node or the package is missing). Each case runs a prompt and then decodes token by token, feeding
// every implementation its own present state back as the next past state.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <functional>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using testing::TempDir;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Feeds = std::map<std::string, Tensor>;

constexpr double kTol = 1e-4;

bool ort_available() {
  static int state = -1;
  if (state < 0) {
    fs::path dir = fs::path(GRAFT_SOURCE_DIR) / "bench" / "ort";
    state = fs::exists(dir / "node_modules" / "onnxruntime-node") && std::system("node --version > /dev/null 2>&1") == 0;
  }
  return state == 1;
}

#define REQUIRE_ORT()                                                                                      \
  if (!ort_available())                                                                                    \
  GTEST_SKIP() << "ONNX Runtime comparison skipped: node or bench/ort/node_modules/onnxruntime-node missing " \
                  "(cd bench/ort && npm install --no-audit --no-fund --ignore-scripts)"

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Runs `model` once under ONNX Runtime; float32 outputs come back as tensors.
Feeds run_ort(const fs::path& model, const Feeds& inputs) {
  json in = json::object();
  for (const auto& [name, t] : inputs) {
    json data = json::array();
    for (double v : t.to_vector<double>()) data.push_back(v);
    in[name] = {{"dims", t.shape().dims()}, {"data", data}, {"type", std::string(dtype_name(t.dtype()))}};
  }
  fs::path in_file = model.string() + ".inputs.json", err_file = model.string() + ".stderr";
  testing::write_file(in_file, in.dump());
  std::string cmd = "node '" + (fs::path(GRAFT_SOURCE_DIR) / "bench" / "ort" / "run_model.js").string() + "' '" +
                    model.string() + "' @'" + in_file.string() + "' 2>'" + err_file.string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string text;
  char buf[65536];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  if (pclose(pipe) != 0) {
    std::ifstream err(err_file);
    std::string e((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    throw std::runtime_error("onnxruntime failed on " + model.string() + ": " + text + e);
  }
  Feeds out;
  json result = json::parse(text);
  for (auto& [name, v] : result.items()) {
    std::vector<float> data;
    for (auto& x : v["data"]) data.push_back(x.is_string() ? NAN : x.get<float>());
    out[name] = Tensor::from_vector(data, Shape(v["dims"].get<std::vector<int64_t>>()));
  }
  return out;
}

// Compares `got` against `want` where `keep(index)` holds (all elements by default).
void expect_close(const Tensor& got, const Tensor& want, const std::string& what,
                  const std::function<bool(const std::vector<int64_t>&)>& keep = {}) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  auto g = values(got), w = values(want);
  const auto& dims = want.shape().dims();
  std::vector<int64_t> idx(dims.size(), 0);
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!keep || keep(idx)) {
      double d = std::abs(g[i] - w[i]);
      if (!(d <= kTol) && bad++ < 5) ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", ONNX Runtime " << w[i];
      if (d > worst) worst = d;
    }
    for (int a = int(dims.size()) - 1; a >= 0 && ++idx[size_t(a)] == dims[size_t(a)]; --a) idx[size_t(a)] = 0;
  }
  EXPECT_LE(worst, kTol) << what;
}

Tensor i32(std::vector<int32_t> v, Shape s) { return Tensor::from_vector(v, s); }
Tensor i32_scalar(int32_t v) { return Tensor::from_vector(std::vector<int32_t>{v}, Shape{}); }

// Holds one model, a graft session over it (reused across steps) and the model file ONNX Runtime reads.
struct Harness {
  TempDir dir;
  fs::path file;
  std::unique_ptr<InferenceSession> session;
  explicit Harness(const ModelBuilder& b) : file(dir.path / "model.onnx") {
    testing::write_file(file, b.bytes());
    session = std::make_unique<InferenceSession>(b.model());
  }
  Feeds graft(const Feeds& in) { return session->run(in); }
  Feeds ort(const Feeds& in) { return run_ort(file, in); }
};

// ---- GroupQueryAttention ------------------------------------------------------------------------------

struct GqaConfig {
  int64_t batch = 2, heads = 4, kv_heads = 2, head = 16;
  bool rotary = false, interleaved = false, packed = false;
  int64_t max_len = 0;  // > 0: past/present share one buffer of this length
  int64_t window = -1;
  double softcap = 0;
  bool smooth = false, head_sink = false;
  bool attention_bias = false;  // an additive [B, 1, S, total] input
  std::vector<int32_t> prompt_lens = {5, 3};  // real tokens per entry (the prompt is right-padded)
  int decode_steps = 3;
};

// cos/sin caches [positions, head/2] for rotary base 10000.
std::pair<Tensor, Tensor> rope_caches(int64_t positions, int64_t half) {
  std::vector<float> c, s;
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < half; ++i) {
      double ang = double(p) * std::pow(10000.0, -double(i) / double(half));
      c.push_back(float(std::cos(ang)));
      s.push_back(float(std::sin(ang)));
    }
  return {Tensor::from_vector(c, Shape{positions, half}), Tensor::from_vector(s, Shape{positions, half})};
}

ModelBuilder gqa_model(const GqaConfig& cfg) {
  ModelBuilder b(17);
  b.import("com.microsoft", 1);
  int64_t qw = cfg.heads * cfg.head, kw = cfg.kv_heads * cfg.head;
  std::vector<std::string> ins;
  if (cfg.packed) {
    b.input("query", DType::F32, {cfg.batch, "S", qw + 2 * kw});
    ins = {"query", "", ""};
  } else {
    b.input("query", DType::F32, {cfg.batch, "S", qw});
    b.input("key", DType::F32, {cfg.batch, "S", kw});
    b.input("value", DType::F32, {cfg.batch, "S", kw});
    ins = {"query", "key", "value"};
  }
  b.input("past_key", DType::F32, {cfg.batch, cfg.kv_heads, "P", cfg.head});
  b.input("past_value", DType::F32, {cfg.batch, cfg.kv_heads, "P", cfg.head});
  b.input("seqlens_k", DType::I32, {cfg.batch});
  b.input("total_sequence_length", DType::I32, {});
  for (const char* n : {"past_key", "past_value", "seqlens_k", "total_sequence_length"}) ins.push_back(n);
  if (cfg.rotary) {
    auto [c, s] = rope_caches(32, cfg.head / 2);
    b.initializer("cos_cache", c);
    b.initializer("sin_cache", s);
    ins.push_back("cos_cache");
    ins.push_back("sin_cache");
  } else {
    ins.push_back("");
    ins.push_back("");
  }
  if (cfg.head_sink || cfg.attention_bias) {
    ins.push_back("");  // position_ids
    if (cfg.attention_bias) b.input("attention_bias", DType::F32, {cfg.batch, 1, "S", "T"});
    ins.push_back(cfg.attention_bias ? "attention_bias" : "");
  }
  if (cfg.head_sink) {
    b.initializer("head_sink", testing::random_tensor({cfg.heads}, 99));
    ins.push_back("head_sink");
  }
  b.output_untyped("output");
  b.output_untyped("present_key");
  b.output_untyped("present_value");
  auto& n = b.node("GroupQueryAttention", ins, {"output", "present_key", "present_value"}, "gqa", "com.microsoft");
  ModelBuilder::attr(n, "num_heads", cfg.heads);
  ModelBuilder::attr(n, "kv_num_heads", cfg.kv_heads);
  if (cfg.rotary) {
    ModelBuilder::attr(n, "do_rotary", int64_t(1));
    ModelBuilder::attr(n, "rotary_interleaved", int64_t(cfg.interleaved));
  }
  if (cfg.window >= 0) ModelBuilder::attr(n, "local_window_size", cfg.window);
  if (cfg.softcap > 0) ModelBuilder::attr(n, "softcap", cfg.softcap);
  if (cfg.smooth) ModelBuilder::attr(n, "smooth_softmax", int64_t(1));
  return b;
}

// Prompt, then `decode_steps` single tokens; compares output (real tokens only) and the present state.
void run_gqa(const GqaConfig& cfg) {
  Harness hx(gqa_model(cfg));
  int64_t B = cfg.batch, Nkv = cfg.kv_heads, H = cfg.head;
  int64_t qw = cfg.heads * H, kw = Nkv * H;
  std::vector<int32_t> lens = cfg.prompt_lens;
  int64_t S = *std::max_element(lens.begin(), lens.end());
  int64_t past_len = cfg.max_len > 0 ? cfg.max_len : 0;
  Tensor empty_past = Tensor::zeros(DType::F32, Shape{B, Nkv, past_len, H});
  Feeds past_g = {{"past_key", empty_past}, {"past_value", empty_past}}, past_o = past_g;
  int64_t total = S;
  for (int step = 0; step <= cfg.decode_steps; ++step) {
    int64_t s = step == 0 ? S : 1;
    Feeds in;
    uint32_t seed = uint32_t(100 + 10 * step);
    if (cfg.packed) {
      in["query"] = testing::random_tensor({B, s, qw + 2 * kw}, seed);
    } else {
      in["query"] = testing::random_tensor({B, s, qw}, seed);
      in["key"] = testing::random_tensor({B, s, kw}, seed + 1);
      in["value"] = testing::random_tensor({B, s, kw}, seed + 2);
    }
    if (step > 0) {
      for (auto& l : lens) ++l;
      ++total;
    }
    std::vector<int32_t> sk;
    for (int32_t l : lens) sk.push_back(l - 1);
    in["seqlens_k"] = i32(sk, {B});
    in["total_sequence_length"] = i32_scalar(int32_t(total));
    if (cfg.attention_bias) in["attention_bias"] = testing::random_tensor({B, 1, s, total}, seed + 3, -2, 2);
    Feeds in_g = in, in_o = in;
    for (const char* n : {"past_key", "past_value"}) {
      in_g[n] = past_g.at(n);
      in_o[n] = past_o.at(n);
    }
    Feeds got = hx.graft(in_g), want = hx.ort(in_o);
    std::string at = "step " + std::to_string(step);
    // Padding rows of the prompt are not compared: they attend to nothing meaningful.
    expect_close(got.at("output"), want.at("output"), at + " output",
                 [&](const std::vector<int64_t>& i) { return step > 0 || i[1] < lens[size_t(i[0])]; });
    for (const char* n : {"present_key", "present_value"}) expect_close(got.at(n), want.at(n), at + " " + n);
    past_g = {{"past_key", got.at("present_key")}, {"past_value", got.at("present_value")}};
    past_o = {{"past_key", want.at("present_key")}, {"past_value", want.at("present_value")}};
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(ContribKvGqa, SeparateBuffersPaddedBatchGroupedHeads) {
  REQUIRE_ORT();
  run_gqa({});
}

TEST(ContribKvGqa, SeparateBuffersRotary) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.rotary = true;
  run_gqa(cfg);
  cfg.interleaved = true;
  run_gqa(cfg);
}

TEST(ContribKvGqa, SharedBufferPaddedBatch) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.max_len = 10;
  run_gqa(cfg);
}

TEST(ContribKvGqa, SharedBufferRotaryPackedQkv) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.max_len = 12;
  cfg.rotary = true;
  cfg.packed = true;
  cfg.decode_steps = 4;
  run_gqa(cfg);
}

TEST(ContribKvGqa, LocalWindowAndSoftcap) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.window = 3;
  cfg.softcap = 0.5;
  cfg.rotary = true;
  run_gqa(cfg);
  cfg.max_len = 10;
  run_gqa(cfg);
}

TEST(ContribKvGqa, SmoothSoftmaxAndHeadSink) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.smooth = true;
  cfg.decode_steps = 2;
  run_gqa(cfg);
  cfg.smooth = false;
  cfg.head_sink = true;
  run_gqa(cfg);
}

TEST(ContribKvGqa, AttentionBiasWithSoftcap) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.attention_bias = true;
  run_gqa(cfg);
  cfg.softcap = 0.5;
  run_gqa(cfg);
}

TEST(ContribKvGqa, SingleEntryBatch) {
  REQUIRE_ORT();
  GqaConfig cfg;
  cfg.batch = 1;
  cfg.heads = 2;
  cfg.kv_heads = 2;
  cfg.prompt_lens = {4};
  cfg.rotary = true;
  run_gqa(cfg);
}

// ---- MultiHeadAttention -------------------------------------------------------------------------------

TEST(ContribKvMha, DecodeWithPastAndCausalMask) {
  REQUIRE_ORT();
  const int64_t B = 2, N = 2, H = 8, D = N * H, S0 = 4;
  for (int causal = 0; causal < 2; ++causal) {
    ModelBuilder b(17);
    b.import("com.microsoft", 1);
    b.input("q", DType::F32, {B, "S", D});
    b.input("k", DType::F32, {B, "S", D});
    b.input("v", DType::F32, {B, "S", D});
    b.input("past_key", DType::F32, {B, N, "P", H});
    b.input("past_value", DType::F32, {B, N, "P", H});
    b.initializer("bias", testing::random_tensor({3 * D}, 7));
    for (const char* o : {"y", "present_key", "present_value"}) b.output_untyped(o);
    auto& n = b.node("MultiHeadAttention", {"q", "k", "v", "bias", "", "", "past_key", "past_value"},
                     {"y", "present_key", "present_value"}, "mha", "com.microsoft");
    ModelBuilder::attr(n, "num_heads", N);
    ModelBuilder::attr(n, "unidirectional", int64_t(causal));
    Harness hx(b);
    Tensor empty = Tensor::zeros(DType::F32, Shape{B, N, 0, H});
    Feeds past_g = {{"past_key", empty}, {"past_value", empty}}, past_o = past_g;
    for (int step = 0; step < 4; ++step) {
      int64_t s = step == 0 ? S0 : 1;
      uint32_t seed = uint32_t(200 + 10 * step);
      Feeds in = {{"q", testing::random_tensor({B, s, D}, seed)},
                  {"k", testing::random_tensor({B, s, D}, seed + 1)},
                  {"v", testing::random_tensor({B, s, D}, seed + 2)}};
      Feeds in_g = in, in_o = in;
      for (const char* p : {"past_key", "past_value"}) {
        in_g[p] = past_g.at(p);
        in_o[p] = past_o.at(p);
      }
      Feeds got = hx.graft(in_g), want = hx.ort(in_o);
      std::string at = "causal " + std::to_string(causal) + " step " + std::to_string(step);
      for (const char* o : {"y", "present_key", "present_value"}) expect_close(got.at(o), want.at(o), at + " " + o);
      ASSERT_FALSE(::testing::Test::HasFailure());
      past_g = {{"past_key", got.at("present_key")}, {"past_value", got.at("present_value")}};
      past_o = {{"past_key", want.at("present_key")}, {"past_value", want.at("present_value")}};
    }
  }
}

TEST(ContribKvMha, DecodeWithPastAndKeyPaddingMask) {
  REQUIRE_ORT();
  const int64_t B = 2, N = 2, H = 8, D = N * H, P = 3;
  ModelBuilder b(17);
  b.import("com.microsoft", 1);
  b.input("q", DType::F32, {B, 1, D});
  b.input("k", DType::F32, {B, 1, D});
  b.input("v", DType::F32, {B, 1, D});
  b.input("mask", DType::I32, {B, P + 1});
  b.input("past_key", DType::F32, {B, N, P, H});
  b.input("past_value", DType::F32, {B, N, P, H});
  for (const char* o : {"y", "present_key", "present_value"}) b.output_untyped(o);
  auto& n = b.node("MultiHeadAttention", {"q", "k", "v", "", "mask", "", "past_key", "past_value"},
                   {"y", "present_key", "present_value"}, "mha", "com.microsoft");
  ModelBuilder::attr(n, "num_heads", N);
  Harness hx(b);
  Feeds in = {{"q", testing::random_tensor({B, 1, D}, 1)},
              {"k", testing::random_tensor({B, 1, D}, 2)},
              {"v", testing::random_tensor({B, 1, D}, 3)},
              {"mask", i32({1, 1, 1, 1, 0, 1, 1, 1}, {B, P + 1})},
              {"past_key", testing::random_tensor({B, N, P, H}, 4)},
              {"past_value", testing::random_tensor({B, N, P, H}, 5)}};
  Feeds got = hx.graft(in), want = hx.ort(in);
  for (const char* o : {"y", "present_key", "present_value"}) expect_close(got.at(o), want.at(o), o);
}

// ---- Attention (packed weights, past [2, B, N, P, H]) -------------------------------------------------

TEST(ContribKvAttention, DecodeWithPastUnidirectional) {
  REQUIRE_ORT();
  const int64_t B = 2, Din = 12, N = 2, D = 16, H = D / N, S0 = 4;
  // with_mask: 0 none, 1 raw [B, T] (entry 1's first key masked), 2 lengths [B] (entry 1's newest key masked).
  for (int with_mask = 0; with_mask < 3; ++with_mask) {
    ModelBuilder b(17);
    b.import("com.microsoft", 1);
    b.input("x", DType::F32, {B, "S", Din});
    b.input("past", DType::F32, {2, B, N, "P", H});
    std::vector<std::string> ins = {"x", "w", "bias", "", "past"};
    if (with_mask == 1) b.input("mask", DType::I32, {B, "T"});
    if (with_mask == 2) b.input("mask", DType::I32, {B});
    if (with_mask) ins[3] = "mask";
    b.initializer("w", testing::random_tensor({Din, 3 * D}, 11));
    b.initializer("bias", testing::random_tensor({3 * D}, 12));
    b.output_untyped("y");
    b.output_untyped("present");
    auto& n = b.node("Attention", ins, {"y", "present"}, "attn", "com.microsoft");
    ModelBuilder::attr(n, "num_heads", N);
    ModelBuilder::attr(n, "unidirectional", int64_t(1));
    Harness hx(b);
    Tensor past_g = Tensor::zeros(DType::F32, Shape{2, B, N, 0, H}), past_o = past_g;
    int64_t total = 0;
    for (int step = 0; step < 4; ++step) {
      int64_t s = step == 0 ? S0 : 1;
      total += s;
      Feeds in = {{"x", testing::random_tensor({B, s, Din}, uint32_t(300 + step))}};
      if (with_mask == 1) {
        // Entry 1 has its first key masked out (a left-padded prompt).
        std::vector<int32_t> m(size_t(B * total), 1);
        m[size_t(total)] = 0;
        in["mask"] = i32(m, {B, total});
      } else if (with_mask == 2) {
        in["mask"] = i32({int32_t(total), int32_t(total - 1)}, {B});
      }
      Feeds in_g = in, in_o = in;
      in_g["past"] = past_g;
      in_o["past"] = past_o;
      Feeds got = hx.graft(in_g), want = hx.ort(in_o);
      std::string at = "mask " + std::to_string(with_mask) + " step " + std::to_string(step);
      expect_close(got.at("y"), want.at("y"), at + " y");
      expect_close(got.at("present"), want.at("present"), at + " present");
      ASSERT_FALSE(::testing::Test::HasFailure());
      past_g = got.at("present");
      past_o = want.at("present");
    }
  }
}

// ---- errors ------------------------------------------------------------------------------------------

TEST(ContribKvErrors, GqaCacheNeedsLengthsAndSingleEntryContinuation) {
  GqaConfig cfg;
  ModelBuilder b(17);
  b.import("com.microsoft", 1);
  b.input("q", DType::F32, {1, 1, 32});
  b.input("k", DType::F32, {1, 1, 16});
  b.input("pk", DType::F32, {1, 1, 3, 16});
  b.output_untyped("y");
  auto& n = b.node("GroupQueryAttention", {"q", "k", "k", "pk", "pk"}, {"y"}, "gqa_node", "com.microsoft");
  ModelBuilder::attr(n, "num_heads", int64_t(2));
  ModelBuilder::attr(n, "kv_num_heads", int64_t(1));
  EXPECT_THROW_WITH(testing::run_model(b.model(), {{"q", testing::random_tensor({1, 1, 32}, 1)},
                                                   {"k", testing::random_tensor({1, 1, 16}, 2)},
                                                   {"pk", testing::random_tensor({1, 1, 3, 16}, 3)}}),
                    "gqa_node", "seqlens_k", "total_sequence_length");

  // A continued prompt (several new tokens after a past) needs batch size 1, as in ONNX Runtime.
  cfg.batch = 2;
  ModelBuilder m = gqa_model(cfg);
  Feeds in = {{"query", testing::random_tensor({2, 2, 64}, 4)},
              {"key", testing::random_tensor({2, 2, 32}, 5)},
              {"value", testing::random_tensor({2, 2, 32}, 6)},
              {"past_key", testing::random_tensor({2, 2, 3, 16}, 7)},
              {"past_value", testing::random_tensor({2, 2, 3, 16}, 8)},
              {"seqlens_k", i32({4, 4}, {2})},
              {"total_sequence_length", i32_scalar(5)}};
  EXPECT_THROW_WITH(testing::run_model(m.model(), in), "gqa", "batch size 1");
}

TEST(ContribKvErrors, MhaCrossAttentionKeysTakeNoPast) {
  ModelBuilder b(17);
  b.import("com.microsoft", 1);
  b.input("q", DType::F32, {1, 1, 16});
  b.input("k", DType::F32, {1, 2, 3, 8});
  b.input("pk", DType::F32, {1, 2, 2, 8});
  b.output_untyped("y");
  auto& n = b.node("MultiHeadAttention", {"q", "k", "k", "", "", "", "pk", "pk"}, {"y"}, "mha_node", "com.microsoft");
  ModelBuilder::attr(n, "num_heads", int64_t(2));
  EXPECT_THROW_WITH(testing::run_model(b.model(), {{"q", testing::random_tensor({1, 1, 16}, 1)},
                                                   {"k", testing::random_tensor({1, 2, 3, 8}, 2)},
                                                   {"pk", testing::random_tensor({1, 2, 2, 8}, 3)}}),
                    "mha_node", "past_key");
}

}  // namespace
}  // namespace graft::onnx
