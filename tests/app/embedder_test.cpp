// graft/app/embedder.h: pooling config, Hub-like model folders, batching by length, pooling, Embedder.
#include "graft/app/embedder.h"

#include <cmath>

#include "onnx/onnx_test_util.h"

namespace graft::app {
namespace {

using onnx::testing::ModelBuilder;
using onnx::testing::TempDir;
using onnx::testing::write_file;
namespace fs = std::filesystem;

// ---- pooling config ---------------------------------------------------------------------------------------

TEST(EmbedPoolingConfig, ReadsTheSentenceTransformersKeys) {
  auto cfg = parse_pooling_config(R"({"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
      "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
      "pooling_mode_mean_sqrt_len_tokens": false})");
  EXPECT_EQ(cfg.mode, Pooling::Mean);
  EXPECT_EQ(cfg.dimension, 384);
  EXPECT_EQ(parse_pooling_config(R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})").mode,
            Pooling::Cls);
  EXPECT_EQ(parse_pooling_config(R"({"pooling_mode_max_tokens": true})").mode, Pooling::Max);
  EXPECT_EQ(parse_pooling_config(R"({"pooling_mode_mean_sqrt_len_tokens": true})").mode, Pooling::MeanSqrtLen);
  EXPECT_EQ(parse_pooling_config(R"({"pooling_mode_lasttoken": true})").mode, Pooling::LastToken);
  EXPECT_EQ(parse_pooling_config("{}").mode, Pooling::Mean);  // nothing set: mean
}

TEST(EmbedPoolingConfig, RefusesWhatItCannotDo) {
  EXPECT_THROW_WITH(parse_pooling_config(R"({"pooling_mode_cls_token": true, "pooling_mode_max_tokens": true})",
                                         "x/config.json"),
                    "x/config.json", "pooling_mode_cls_token", "pooling_mode_max_tokens");
  EXPECT_THROW_WITH(parse_pooling_config(R"({"pooling_mode_weightedmean_tokens": true})"), "weightedmean");
  EXPECT_THROW_WITH(parse_pooling_config("{not json", "p.json"), "p.json", "not valid JSON");
  EXPECT_THROW_WITH(parse_pooling_config("[1]", "p.json"), "p.json", "object");
  EXPECT_THROW_WITH(parse_pooling("median"), "median", "mean");
  for (Pooling p : {Pooling::Mean, Pooling::Cls, Pooling::Max, Pooling::MeanSqrtLen, Pooling::LastToken})
    EXPECT_EQ(parse_pooling(to_string(p)), p);
}

// ---- batching ---------------------------------------------------------------------------------------------

TEST(EmbedBatches, LongestFirstEveryIndexOnce) {
  auto b = plan_batches({3, 7, 7, 1, 5}, 2);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0], (std::vector<size_t>{1, 2}));
  EXPECT_EQ(b[1], (std::vector<size_t>{4, 0}));
  EXPECT_EQ(b[2], (std::vector<size_t>{3}));
  EXPECT_TRUE(plan_batches({}, 4).empty());
  EXPECT_EQ(plan_batches({1, 2, 3}, 100).size(), 1u);
  EXPECT_THROW_WITH(plan_batches({1}, 0), "batch size");

  std::vector<size_t> lengths;
  for (size_t i = 0; i < 103; ++i) lengths.push_back((i * 37) % 19);
  std::vector<int> seen(lengths.size());
  size_t prev_max = SIZE_MAX;
  for (const auto& batch : plan_batches(lengths, 8)) {
    EXPECT_LE(batch.size(), 8u);
    size_t mx = 0;
    for (size_t i : batch) {
      ++seen[i];
      mx = std::max(mx, lengths[i]);
    }
    EXPECT_LE(mx, prev_max);
    prev_max = mx;
  }
  for (int s : seen) EXPECT_EQ(s, 1);
}

// ---- pooling ----------------------------------------------------------------------------------------------

TEST(EmbedPooling, MaskedModes) {
  // [2, 3, 2]: row 0 has tokens 0,1 (token 2 padding), row 1 has no tokens at all.
  Tensor h = Tensor::from_vector<float>({1, 10, 3, -20, 100, 100,  //
                                         5, 6, 7, 8, 9, 10},
                                        Shape{2, 3, 2});
  Tensor mask = Tensor::from_vector<int64_t>({1, 1, 0, 0, 0, 0}, Shape{2, 3});
  auto mean = pool_tokens(h, mask, Pooling::Mean).to_vector<float>();
  EXPECT_EQ(mean, (std::vector<float>{2, -5, 0, 0}));
  auto sq = pool_tokens(h, mask, Pooling::MeanSqrtLen).to_vector<float>();
  EXPECT_FLOAT_EQ(sq[0], float(4 / std::sqrt(2.0)));
  EXPECT_FLOAT_EQ(sq[1], float(-10 / std::sqrt(2.0)));
  EXPECT_EQ(pool_tokens(h, mask, Pooling::Max).to_vector<float>(), (std::vector<float>{3, 10, 0, 0}));
  EXPECT_EQ(pool_tokens(h, mask, Pooling::Cls).to_vector<float>(), (std::vector<float>{1, 10, 5, 6}));
  EXPECT_EQ(pool_tokens(h, mask, Pooling::LastToken).to_vector<float>(), (std::vector<float>{3, -20, 0, 0}));
  // Left padding: the last real token is still found.
  Tensor left = Tensor::from_vector<int64_t>({0, 1, 1, 1, 0, 0}, Shape{2, 3});
  EXPECT_EQ(pool_tokens(h, left, Pooling::LastToken).to_vector<float>(), (std::vector<float>{100, 100, 5, 6}));
  EXPECT_EQ(pool_tokens(h, left, Pooling::Max).to_vector<float>(), (std::vector<float>{100, 100, 5, 6}));
  EXPECT_THROW_WITH(pool_tokens(h, Tensor::from_vector<int64_t>({1, 1}, Shape{1, 2}), Pooling::Mean), "[1, 2]");
  EXPECT_THROW_WITH(pool_tokens(Tensor(DType::F32, Shape{2, 3}), mask, Pooling::Mean), "[batch, tokens, hidden]");
}

TEST(EmbedPooling, L2Normalize) {
  auto v = l2_normalize_rows(Tensor::from_vector<float>({3, 4, 0, 0}, Shape{2, 2})).to_vector<float>();
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  EXPECT_EQ(v[2], 0.0f);  // a zero row stays zero (eps), no NaN
  EXPECT_EQ(v[3], 0.0f);
}

// ---- a tiny encoder: token states = word_table[ids] + type_table[types] (+ pos_table[positions]) --------

constexpr int64_t kVocab = 20, kHidden = 4;

Tensor word_table() {
  std::vector<float> v(size_t(kVocab * kHidden));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(double(i) * 0.7) * 3);
  return Tensor::from_vector(v, Shape{kVocab, kHidden});
}
Tensor type_table() { return Tensor::from_vector<float>({0, 0, 0, 0, 100, 200, 300, 400}, Shape{2, kHidden}); }

std::string tiny_encoder(bool with_types, bool with_mask = true, const std::string& extra_input = "") {
  ModelBuilder b(14);
  b.input("input_ids", DType::I64, {"batch", "sequence"});
  if (with_mask) b.input("attention_mask", DType::I64, {"batch", "sequence"});
  if (with_types) b.input("token_type_ids", DType::I64, {"batch", "sequence"});
  if (!extra_input.empty()) b.input(extra_input, DType::F32, {"batch"});
  b.initializer("words", word_table());
  b.node("Gather", {"words", "input_ids"}, {with_types ? "w" : "last_hidden_state"});
  if (with_types) {
    b.initializer("types", type_table());
    b.node("Gather", {"types", "token_type_ids"}, {"t"});
    b.node("Add", {"w", "t"}, {"last_hidden_state"});
  }
  b.output("last_hidden_state", DType::F32, {"batch", "sequence", kHidden});
  return b.bytes();
}

// Independent reference: pool one unpadded text by hand.
std::vector<float> reference(const TokenizedText& t, Pooling mode, bool with_types) {
  auto w = word_table().to_vector<float>(), ty = type_table().to_vector<float>();
  auto state = [&](size_t k, int64_t h) {
    float v = w[size_t(t.ids[k] * kHidden + h)];
    if (with_types) v += ty[size_t((t.type_ids.empty() ? 0 : t.type_ids[k]) * kHidden + h)];
    return v;
  };
  std::vector<float> out(kHidden, 0);
  size_t n = t.ids.size();
  for (int64_t h = 0; h < kHidden; ++h) {
    if (mode == Pooling::Cls) out[size_t(h)] = state(0, h);
    if (mode == Pooling::LastToken) out[size_t(h)] = state(n - 1, h);
    if (mode == Pooling::Mean) {
      double s = 0;
      for (size_t k = 0; k < n; ++k) s += state(k, h);
      out[size_t(h)] = float(s / double(n));
    }
    if (mode == Pooling::Max) {
      float m = state(0, h);
      for (size_t k = 1; k < n; ++k) m = std::max(m, state(k, h));
      out[size_t(h)] = m;
    }
  }
  return out;
}

std::vector<TokenizedText> sample_texts() {
  std::vector<TokenizedText> v;
  for (size_t n : {3u, 7u, 1u, 5u, 7u, 2u}) {
    TokenizedText t;
    for (size_t k = 0; k < n; ++k) {
      t.ids.push_back(int64_t((n * 3 + k * 5) % kVocab));
      t.type_ids.push_back(k >= n / 2 ? 1 : 0);
    }
    v.push_back(t);
  }
  return v;
}

TEST(Embedder, BatchesPadsAndRestoresOrder) {
  Model m = Model::from_bytes(tiny_encoder(true));
  auto texts = sample_texts();
  for (Pooling mode : {Pooling::Mean, Pooling::Cls, Pooling::Max, Pooling::LastToken}) {
    for (size_t batch : {1u, 2u, 4u, 64u}) {
      EmbedderOptions opt;
      opt.pooling = mode;
      opt.batch_size = batch;
      opt.pad.pad_id = 7;  // any id: padding is masked out
      Embedder e(m, opt);
      EXPECT_TRUE(e.feeds_token_type_ids());
      EXPECT_EQ(e.output_name(), "last_hidden_state");
      Tensor got = e.embed(texts);
      ASSERT_EQ(got.shape(), (Shape{int64_t(texts.size()), kHidden}));
      auto g = got.to_vector<float>();
      for (size_t i = 0; i < texts.size(); ++i) {
        auto want = reference(texts[i], mode, true);
        for (int64_t h = 0; h < kHidden; ++h)
          EXPECT_NEAR(g[i * kHidden + size_t(h)], want[size_t(h)], 1e-5)
              << to_string(mode) << " batch " << batch << " text " << i;
      }
    }
  }
}

TEST(Embedder, LeftPaddingAndNormalize) {
  Model m = Model::from_bytes(tiny_encoder(true));
  auto texts = sample_texts();
  EmbedderOptions opt;
  opt.pad.left = true;
  opt.batch_size = 3;
  opt.normalize = true;
  opt.pooling = Pooling::LastToken;
  Tensor got = Embedder(m, opt).embed(texts);
  auto g = got.to_vector<float>();
  for (size_t i = 0; i < texts.size(); ++i) {
    auto want = reference(texts[i], Pooling::LastToken, true);
    double norm = 0;
    for (float x : want) norm += double(x) * x;
    norm = std::sqrt(norm);
    for (int64_t h = 0; h < kHidden; ++h) EXPECT_NEAR(g[i * kHidden + size_t(h)], want[size_t(h)] / norm, 1e-5);
  }
}

TEST(Embedder, FeedsOnlyDeclaredInputs) {
  // No token_type_ids and no attention_mask declared: the embedder must not feed them (the session
  // would refuse unknown inputs).
  Model m = Model::from_bytes(tiny_encoder(false, false));
  Embedder e(m);
  EXPECT_FALSE(e.feeds_token_type_ids());
  auto texts = sample_texts();
  auto g = e.embed(texts).to_vector<float>();
  for (size_t i = 0; i < texts.size(); ++i) {
    auto want = reference(texts[i], Pooling::Mean, false);
    for (int64_t h = 0; h < kHidden; ++h) EXPECT_NEAR(g[i * kHidden + size_t(h)], want[size_t(h)], 1e-5);
  }
}

TEST(Embedder, EdgeCasesAndErrors) {
  Model m = Model::from_bytes(tiny_encoder(true));
  Embedder e(m);
  e.set_dimension_hint(kHidden);
  EXPECT_EQ(e.embed({}).shape(), (Shape{0, kHidden}));
  // An empty text (no tokens at all) pools to zeros rather than failing.
  auto z = e.embed({TokenizedText{}}).to_vector<float>();
  EXPECT_EQ(z, std::vector<float>(kHidden, 0.0f));
  TokenizedText bad;
  bad.ids = {1, 2};
  bad.type_ids = {0};
  EXPECT_THROW_WITH(e.embed({bad}), "2 ids", "1 type ids");
  EXPECT_THROW_WITH(Embedder(Model::from_bytes(tiny_encoder(true, true, "pixel_values"))), "pixel_values",
                    "cannot be fed");
  EmbedderOptions opt;
  opt.output_name = "nope";
  EXPECT_THROW_WITH(Embedder(m, opt), "no output named 'nope'");
  opt.output_name.clear();
  opt.batch_size = 0;
  EXPECT_THROW_WITH(Embedder(m, opt), "batch size");
}

// ---- the Hub-like folder ------------------------------------------------------------------------------------

TEST(EmbeddingFolder, FindsTheFilesOfAHubRepo) {
  TempDir d;
  fs::create_directories(d.path / "onnx");
  fs::create_directories(d.path / "pool");
  write_file(d.path / "onnx" / "model.onnx", tiny_encoder(true));
  write_file(d.path / "tokenizer.json", "{}");
  write_file(d.path / "modules.json",
             R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                 {"idx":1,"name":"1","path":"pool","type":"sentence_transformers.models.Pooling"},
                 {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
  write_file(d.path / "pool" / "config.json", R"({"word_embedding_dimension": 4, "pooling_mode_cls_token": true})");
  write_file(d.path / "sentence_bert_config.json", R"({"max_seq_length": 256, "do_lower_case": false})");
  auto src = load_embedding_model(d.path);
  EXPECT_EQ(src.model_path, d.path / "onnx" / "model.onnx");
  EXPECT_EQ(src.tokenizer_path, d.path / "tokenizer.json");
  EXPECT_EQ(src.pooling.mode, Pooling::Cls);
  EXPECT_EQ(src.pooling.dimension, 4);
  EXPECT_TRUE(src.normalize);
  ASSERT_TRUE(src.max_seq_length);
  EXPECT_EQ(*src.max_seq_length, 256u);
  EXPECT_EQ(src.model.inputs().size(), 3u);
}

TEST(EmbeddingFolder, DefaultsAndRootModel) {
  TempDir d;
  write_file(d.path / "model.onnx", tiny_encoder(false));
  write_file(d.path / "tokenizer.json", "{}");
  auto src = load_embedding_model(d.path);
  EXPECT_EQ(src.model_path, d.path / "model.onnx");
  EXPECT_EQ(src.pooling.mode, Pooling::Mean);
  EXPECT_FALSE(src.pooling_config_path);
  EXPECT_FALSE(src.normalize);
  EXPECT_FALSE(src.max_seq_length);
}

TEST(EmbeddingFolder, ClearErrors) {
  TempDir d;
  EXPECT_THROW_WITH(load_embedding_model(d.path / "missing"), "missing", "does not exist");
  EXPECT_THROW_WITH(load_embedding_model(d.path), "no ONNX model", "onnx/model.onnx", "model.onnx");
  write_file(d.path / "model.onnx", tiny_encoder(false));
  const std::string folder = d.path.string();
  EXPECT_THROW_WITH(load_embedding_model(d.path), "no tokenizer.json", folder.c_str());
  write_file(d.path / "tokenizer.json", "{}");
  fs::create_directories(d.path / "1_Pooling");
  write_file(d.path / "1_Pooling" / "config.json", R"({"pooling_mode_weightedmean_tokens": true})");
  EXPECT_THROW_WITH(load_embedding_model(d.path), "1_Pooling", "weightedmean");
  write_file(d.path / "1_Pooling" / "config.json", "{}");
  write_file(d.path / "modules.json", "{broken");
  EXPECT_THROW_WITH(load_embedding_model(d.path), "modules.json", "not valid JSON");
}

TEST(EmbeddingFolder, FetchesExternalDataThroughTheFetcher) {
  // A model whose weights live in a side file: the fetcher must be asked for it (as the Hub needs).
  TempDir d;
  ModelBuilder b(14);
  b.input("input_ids", DType::I64, {"batch", "sequence"});
  ::onnx::TensorProto w = onnx::testing::make_tensor_proto("words", word_table());
  w.clear_raw_data();
  w.set_data_location(::onnx::TensorProto::EXTERNAL);
  auto* kv = w.add_external_data();
  kv->set_key("location");
  kv->set_value("weights.bin");
  *b.proto().mutable_graph()->add_initializer() = w;
  b.node("Gather", {"words", "input_ids"}, {"last_hidden_state"});
  b.output("last_hidden_state", DType::F32, {"batch", "sequence", kHidden});
  fs::create_directories(d.path / "onnx");
  write_file(d.path / "onnx" / "model.onnx", b.bytes());
  Tensor wt = word_table();
  write_file(d.path / "onnx" / "weights.bin", std::string(static_cast<const char*>(wt.raw()), wt.nbytes()));
  write_file(d.path / "tokenizer.json", "{}");
  std::vector<std::string> asked;
  auto fetch = [&](const std::string& rel) -> std::optional<fs::path> {
    asked.push_back(rel);
    fs::path p = d.path / rel;
    return fs::exists(p) ? std::optional<fs::path>(p) : std::nullopt;
  };
  auto src = load_embedding_model(fetch, "test repo");
  EXPECT_NE(std::find(asked.begin(), asked.end(), "onnx/weights.bin"), asked.end());
  TokenizedText t;
  t.ids = {3, 4};
  auto got = Embedder(src.model).embed({t}).to_vector<float>();
  auto want = reference(t, Pooling::Mean, false);
  for (int64_t h = 0; h < kHidden; ++h) EXPECT_NEAR(got[size_t(h)], want[size_t(h)], 1e-6);

  fs::remove(d.path / "onnx" / "weights.bin");
  EXPECT_THROW_WITH(load_embedding_model(fetch, "test repo"), "test repo", "weights.bin", "missing");
}

// ---- MiniLM (shared model) ----------------------------------------------------------------------------------

class EmbedMiniLM : public onnx::testing::SharedMiniLM {};

TEST_F(EmbedMiniLM, MatchesTheSessionPlusIndependentPooling) {
  Model m = Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  Tensor ids = read_npy(model_dir_ / "input_ids.npy"), mask = read_npy(model_dir_ / "attention_mask.npy");
  // Reference: the stored PyTorch hidden states, mean-pooled by hand over the mask.
  Tensor hidden = read_npy(model_dir_ / "last_hidden_state.npy");
  const int64_t B = hidden.shape()[0], T = hidden.shape()[1], H = hidden.shape()[2];
  auto hv = hidden.to_vector<float>();
  auto mv = mask.to_vector<int64_t>();
  auto iv = ids.to_vector<int64_t>();
  std::vector<TokenizedText> texts(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      if (mv[size_t(b * T + t)]) texts[size_t(b)].ids.push_back(iv[size_t(b * T + t)]);
  EmbedderOptions opt;
  opt.batch_size = 1;  // each text unpadded
  Tensor got = Embedder(m, opt).embed(texts);
  ASSERT_EQ(got.shape(), (Shape{B, H}));
  auto g = got.to_vector<float>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      double s = 0, n = 0;
      for (int64_t t = 0; t < T; ++t)
        if (mv[size_t(b * T + t)]) {
          s += hv[size_t((b * T + t) * H + h)];
          n += 1;
        }
      ASSERT_NEAR(g[size_t(b * H + h)], s / n, 1e-4) << "text " << b << " dim " << h;
    }
  }
  // Batched together (padding the shorter text) gives the same vectors.
  opt.batch_size = 8;
  Tensor batched = Embedder(m, opt).embed(texts);
  EXPECT_LT(max_abs_diff(batched, got), 1e-5);
}

}  // namespace
}  // namespace graft::app
