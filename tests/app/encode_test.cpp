// graft/app/encode.h (texts -> int64 input tensors with per-call padding and truncation, as HF's
// tokenizer(..., return_tensors=...)), graft/app/tokenize_lines.h's offsets in both units, and
// SentenceEmbedder's option checks. References: the tokenizer's own encode() of each text alone, and the
// offsets Python's `tokenizers` reports (docs/cli.md).
#include "graft/app/encode.h"

#include <gtest/gtest.h>

#include "graft/app/errors.h"
#include "graft/app/sentence_embedder.h"
#include "graft/app/tokenize_lines.h"
#include "onnx/onnx_test_util.h"

namespace graft::app {
namespace {

namespace fs = std::filesystem;
using onnx::testing::ModelBuilder;
using onnx::testing::TempDir;
using onnx::testing::write_file;

fs::path tokenizer_path(const char* name) { return fs::path(GRAFT_SHARED_DIR) / "tokenizers" / name; }

class Encode : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(tokenizer_path("minilm_tokenizer.json"))) GTEST_SKIP() << "shared tokenizers not found";
    tok_ = std::make_unique<text::Tokenizer>(text::Tokenizer::from_file(tokenizer_path("minilm_tokenizer.json").string()));
  }
  // The reference encoding of one text: the tokenizer alone, no padding, truncated at `max_length` (or
  // not at all when 0).
  text::Encoding alone(const std::string& t, size_t max_length) const {
    text::Tokenizer tok = *tok_;
    tok.set_padding(std::nullopt);
    if (max_length) {
      text::TruncationParams p;
      p.max_length = max_length;
      tok.set_truncation(p);
    } else {
      tok.set_truncation(std::nullopt);
    }
    return tok.encode(t);
  }
  std::unique_ptr<text::Tokenizer> tok_;
};

std::string long_text() {
  std::string s;
  for (int i = 0; i < 150; ++i) s += "word ";
  return s;
}

void expect_rows(const EncodedBatch& b, const std::vector<text::Encoding>& want, int64_t T) {
  ASSERT_EQ(b.input_ids.shape(), (Shape{int64_t(want.size()), T}));
  EXPECT_EQ(b.input_ids.dtype(), DType::I64);
  for (size_t r = 0; r < want.size(); ++r)
    for (int64_t k = 0; k < T; ++k) {
      bool token = size_t(k) < want[r].ids.size();
      EXPECT_EQ(b.input_ids.at<int64_t>({int64_t(r), k}), token ? int64_t(want[r].ids[size_t(k)]) : 0) << r << "," << k;
      EXPECT_EQ(b.attention_mask.at<int64_t>({int64_t(r), k}), token ? 1 : 0) << r << "," << k;
    }
}

TEST_F(Encode, PaddingAndTruncationPerCall) {
  TextEncoder enc(*tok_);
  std::vector<std::string> texts = {"Hello world!", "A somewhat longer sentence, with punctuation.", long_text()};
  // Default: pad to the longest; truncate as the file says (MiniLM: 128).
  EncodedBatch b = enc.encode(texts);
  expect_rows(b, {alone(texts[0], 128), alone(texts[1], 128), alone(texts[2], 128)}, 128);
  // max_length 10, padded to the longest (10).
  b = enc.encode(texts, {.max_length = 10});
  expect_rows(b, {alone(texts[0], 10), alone(texts[1], 10), alone(texts[2], 10)}, 10);
  // No truncation: the long text keeps its 152 tokens, though the file truncates.
  b = enc.encode(texts, {.truncation = false});
  expect_rows(b, {alone(texts[0], 0), alone(texts[1], 0), alone(texts[2], 0)}, 152);
  // Padding::MaxLength and pad_to_multiple_of.
  b = enc.encode({texts[0]}, {.padding = Padding::MaxLength, .max_length = 20});
  expect_rows(b, {alone(texts[0], 20)}, 20);
  b = enc.encode({texts[0], texts[1]}, {.pad_to_multiple_of = 8});
  EXPECT_EQ(b.input_ids.shape()[1] % 8, 0);
  // Padding::None: equal lengths only.
  EXPECT_EQ(enc.encode({texts[0], texts[0]}, {.padding = Padding::None}).input_ids.shape(), (Shape{2, 5}));
  EXPECT_THROW(enc.encode(texts, {.padding = Padding::None}), UsageError);
  EXPECT_THROW(enc.encode(texts, {.max_length = 0}), UsageError);
  EXPECT_THROW(enc.encode(texts, {.padding = Padding::MaxLength}), UsageError);
  // The caller's tokenizer keeps its own settings.
  ASSERT_TRUE(tok_->padding().has_value());
  EXPECT_EQ(tok_->encode("Hello").ids.size(), 128u);
  // inputs(): the names a session takes, selectable.
  auto in = b.inputs({"input_ids", "attention_mask"});
  EXPECT_EQ(in.size(), 2u);
  EXPECT_EQ(b.inputs().size(), 3u);
}

TEST_F(Encode, PairsGetTypeIdsAndOneShotHelper) {
  TextEncoder enc(*tok_);
  EncodedBatch b = enc.encode_pairs({{"What is it?", "A library."}});
  text::Tokenizer ref = *tok_;
  ref.set_padding(std::nullopt);
  text::Encoding want = ref.encode("What is it?", "A library.");
  ASSERT_EQ(b.token_type_ids.shape(), (Shape{1, int64_t(want.size())}));
  for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(b.token_type_ids.at<int64_t>({0, int64_t(k)}), want.type_ids[k]);
  EncodedBatch one = encode_to_tensors(*tok_, {"Hello world!"}, {.max_length = 6});
  expect_rows(one, {alone("Hello world!", 6)}, 5);
  TokenizedText t = TokenizedText::from(want);
  EXPECT_EQ(t.ids, std::vector<int64_t>(want.ids.begin(), want.ids.end()));
  EXPECT_EQ(t.type_ids, std::vector<int64_t>(want.type_ids.begin(), want.type_ids.end()));
}

TEST(EncodingOffsets, BytesOrCharactersAsPythonReportsThem) {
  fs::path gpt2 = tokenizer_path("gpt2_tokenizer.json");
  if (!fs::exists(gpt2)) GTEST_SKIP() << "shared tokenizers not found";
  auto tok = text::Tokenizer::from_file(gpt2.string());
  const std::string s = "h\xc3\xa9llo w\xc3\xb6rld";  // héllo wörld
  text::Encoding e = tok.encode(s, false);
  using Offsets = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(encoding_offsets(e, s, std::nullopt, OffsetUnit::Chars),
            (Offsets{{0, 1}, {1, 2}, {2, 5}, {5, 7}, {7, 9}, {9, 11}}));
  EXPECT_EQ(encoding_offsets(e, s, std::nullopt, OffsetUnit::Bytes),
            (Offsets{{0, 1}, {1, 3}, {3, 6}, {6, 8}, {8, 11}, {11, 13}}));
  EXPECT_EQ(encoding_offsets(e, s, std::nullopt, OffsetUnit::Bytes), e.offsets);  // C++ Encoding: bytes
}

// ---- SentenceEmbedder's options --------------------------------------------------------------------------

// A tiny encoder over MiniLM's vocabulary: token states = word_table[ids]; a 16-row position table (unused
// by the graph, but it says how many tokens the model takes).
std::string tiny_bert() {
  const int64_t vocab = 30522, hidden = 3;
  std::vector<float> w(size_t(vocab * hidden));
  for (size_t i = 0; i < w.size(); ++i) w[i] = float((i * 7919) % 1000) / 1000.f;
  ModelBuilder b(14);
  b.input("input_ids", DType::I64, {std::string("batch"), std::string("sequence")});
  b.input("attention_mask", DType::I64, {std::string("batch"), std::string("sequence")});
  b.initializer("embeddings.word_embeddings.weight", Tensor::from_vector(w, Shape{vocab, hidden}));
  b.initializer("embeddings.position_embeddings.weight", Tensor::zeros(DType::F32, {16, hidden}));
  b.node("Gather", {"embeddings.word_embeddings.weight", "input_ids"}, {"last_hidden_state"});
  b.output("last_hidden_state", DType::F32, {std::string("batch"), std::string("sequence"), hidden});
  return b.bytes();
}

class SentenceEmbedderOptionsTest : public Encode {
 protected:
  void SetUp() override {
    Encode::SetUp();
    if (IsSkipped()) return;
    write_file(dir_.path / "model.onnx", tiny_bert());
    fs::copy_file(tokenizer_path("minilm_tokenizer.json"), dir_.path / "tokenizer.json");
  }
  // The embedding of `text` truncated at `n` tokens: the mean of its word-table rows.
  std::vector<float> mean_of_first(const std::string& text, size_t n) {
    Model m = Model::load(dir_.path / "model.onnx");
    Tensor w = m.initializer("embeddings.word_embeddings.weight");
    text::Encoding e = alone(text, n);
    std::vector<float> out(3, 0.f);
    for (uint32_t id : e.ids)
      for (int64_t h = 0; h < 3; ++h) out[size_t(h)] += w.at<float>({int64_t(id), h}) / float(e.ids.size());
    return out;
  }
  TempDir dir_;
};

TEST_F(SentenceEmbedderOptionsTest, TruncatesAsSentenceTransformersAndChecksMaxLength) {
  const std::string text = long_text();
  // No sentence_bert_config.json: the 16 positions the model has.
  auto got = SentenceEmbedder::load(dir_.path.string()).embed({text}).to_vector<float>();
  auto want = mean_of_first(text, 16);
  for (int h = 0; h < 3; ++h) EXPECT_NEAR(got[size_t(h)], want[size_t(h)], 1e-5);
  // sentence_bert_config.json's max_seq_length wins over the tokenizer file's 128.
  write_file(dir_.path / "sentence_bert_config.json", R"({"max_seq_length": 7})");
  SentenceEmbedder e = SentenceEmbedder::load(dir_.path.string());
  EXPECT_EQ(e.model().max_positions, 16u);
  got = e.embed({text}).to_vector<float>();
  want = mean_of_first(text, 7);
  for (int h = 0; h < 3; ++h) EXPECT_NEAR(got[size_t(h)], want[size_t(h)], 1e-5);
  // max_length overrides it, within the model's positions.
  got = SentenceEmbedder::load(dir_.path.string(), {.max_length = 12}).embed({text}).to_vector<float>();
  want = mean_of_first(text, 12);
  for (int h = 0; h < 3; ++h) EXPECT_NEAR(got[size_t(h)], want[size_t(h)], 1e-5);
  EXPECT_THROW_WITH(SentenceEmbedder::load(dir_.path.string(), {.max_length = 17}), "max length 17", "16 tokens",
                    "embeddings.position_embeddings.weight");
  EXPECT_THROW(SentenceEmbedder::load(dir_.path.string(), {.max_length = 0}), UsageError);
  EXPECT_THROW(SentenceEmbedder::load(dir_.path.string(), {.batch_size = 0}), UsageError);
  // config.json's max_position_embeddings and tokenizer_config.json's model_max_length, the smaller wins.
  write_file(dir_.path / "config.json", R"({"max_position_embeddings": 14})");
  EXPECT_EQ(SentenceEmbedder::load(dir_.path.string()).model().max_positions, 14u);
  write_file(dir_.path / "tokenizer_config.json", R"({"model_max_length": 11})");
  EXPECT_THROW_WITH(SentenceEmbedder::load(dir_.path.string(), {.max_length = 12}), "11 tokens", "model_max_length");
}

}  // namespace
}  // namespace graft::app
