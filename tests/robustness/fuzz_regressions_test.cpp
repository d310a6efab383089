// One test per fuzzer finding (docs/robustness.md lists them): the input the fuzzer produced, from
// tests/robustness/fuzz_findings/<harness>/, and a hand-made minimal case of the same fault, each checked
// for the error message (or the now-defined behaviour) that replaced the crash.
#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>

#include "graft/context/checkpoint.h"
#include "graft/core/limits.h"
#include "graft/text/tokenizer.h"
#include "onnx/onnx_test_util.h"

namespace graft {
namespace {

namespace fs = std::filesystem;
using onnx::testing::ModelBuilder;

std::string finding(const std::string& harness, const std::string& name) {
  fs::path p = fs::path(GRAFT_SOURCE_DIR) / "tests" / "robustness" / "fuzz_findings" / harness / name;
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << p;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `op` (node name in lower case) applied to the constant [[1, 2, 3], [4, 5, 6]] with a second constant
// int64 operand, e.g. Tile's repeats or Pad's pads; returns the output.
Tensor run_on_2x3(const std::string& op, const std::string& operand, std::vector<int64_t> values) {
  ModelBuilder b;
  b.output_untyped("y");
  b.constant("x", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{2, 3}));
  b.constant(operand, Tensor::from_vector(values));
  std::string name = op;
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  b.node(op, {"x", operand}, {"y"}, name);
  return onnx::testing::run_model(b.model(), {}).at("y");
}

// ---- onnx ---------------------------------------------------------------------------------------------------

// TfIdfVectorizer took ngram_counts as offsets into the pool without checking them: an offset past the
// pool (here the pool attribute's name was mutated away, leaving an empty pool) read out of bounds.
TEST(FuzzRegressions, OnnxTfIdfPoolOffsetsAreChecked) {
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "tfidf_pool_offset_out_of_range"), {}, "finding.onnx");
  onnx::InferenceSession s(m);
  EXPECT_THROW_WITH(s.run({{"X", Tensor::from_vector(std::vector<int32_t>(12, 2))}}), "finding.onnx", "TfIdfVectorizer",
                    "ngram_counts 4 at 1 is not a non-decreasing offset into the pool of 0");
  auto tfidf = [](std::vector<int64_t> counts, std::vector<int64_t> indexes, std::vector<float> weights) {
    ModelBuilder b;
    b.input("X", DType::I64, {4});
    b.output("Y", DType::F32, {});
    auto& n = b.node("TfIdfVectorizer", {"X"}, {"Y"}, "tfidf");
    ModelBuilder::attr(n, "mode", "TFIDF");
    ModelBuilder::attr(n, "min_gram_length", int64_t(1));
    ModelBuilder::attr(n, "max_gram_length", int64_t(1));
    ModelBuilder::attr(n, "ngram_counts", counts);
    ModelBuilder::attr(n, "ngram_indexes", indexes);
    ModelBuilder::attr(n, "pool_int64s", std::vector<int64_t>{1, 2, 3});
    if (!weights.empty()) ModelBuilder::attr(n, "weights", weights);
    return onnx::testing::run_model(b.model(), {{"X", Tensor::from_vector(std::vector<int64_t>{1, 2, 2, 3})}});
  };
  EXPECT_EQ(tfidf({0}, {0, 1, 2}, {1, 1, 1}).at("Y").to_vector<float>(), std::vector<float>({1, 2, 1}));
  EXPECT_THROW_WITH(tfidf({-1}, {0, 1, 2}, {}), "tfidf", "ngram_counts -1");
  EXPECT_THROW_WITH(tfidf({0}, {0, 1, int64_t(1) << 40}, {}), "tfidf", "ngram_indexes holds 1099511627776");
  EXPECT_THROW_WITH(tfidf({0}, {0, 1, 2}, {1}), "tfidf", "weights has 1 entries for 3 n-grams");
}

// A Loop node with one input (the fuzzer dropped M and cond): loop_op counts its loop-carried values as
// inputs - 2 = -1 and asked for output -1 (protobuf's out-of-bounds index, undefined behaviour). Every node
// of a standard domain now has its input and output counts checked against the ONNX schema of its opset
// before a converter runs, as ONNX Runtime checks them.
TEST(FuzzRegressions, OnnxNodeArityIsCheckedAgainstTheSchema) {
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "loop_with_one_input"), {}, "finding.onnx");
  onnx::InferenceSession s(m);
  std::vector<float> three{1, 2, 3};
  EXPECT_THROW_WITH(s.run({{"M", Tensor::scalar(int64_t(0))},
                           {"x", Tensor::from_vector(three)},
                           {"a0", Tensor::from_vector(three)}}),
                    "finding.onnx", "Loop", "has 1 inputs; Loop (opset 17) takes at least 2");
  auto one_node = [](const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs) {
    ModelBuilder b;
    b.input("X", DType::F32, {4});
    b.input("K", DType::I64, {1});
    for (const auto& o : outputs) b.output(o, DType::F32, {});
    b.node(op, std::move(inputs), std::move(outputs), "n");
    return onnx::testing::run_model(b.model(), {{"X", Tensor::from_vector(std::vector<float>{4, 3, 2, 1})},
                                                {"K", Tensor::from_vector(std::vector<int64_t>{2})}});
  };
  EXPECT_THROW_WITH(one_node("Relu", {"X", "X"}, {"Y"}), "Relu \"n\": has 2 inputs; Relu (opset 17) takes 1");
  EXPECT_THROW_WITH(one_node("TopK", {"X", "K"}, {"V"}), "TopK \"n\": has 1 outputs; TopK (opset 17) has 2");
  EXPECT_THROW_WITH(one_node("Loop", {}, {"Y"}), "Loop \"n\": has 0 inputs; Loop (opset 17) takes at least 2");
  // Optional trailing inputs and outputs may be left out, as before.
  EXPECT_EQ(one_node("Relu", {"X"}, {"Y"}).at("Y").to_vector<float>(), std::vector<float>({4, 3, 2, 1}));
}

// ---- tokenizer ----------------------------------------------------------------------------------------------

std::string wordlevel(const std::string& vocab, const std::string& extra = "") {
  return R"({"version":"1.0",)" + extra +
         R"("model":{"type":"WordLevel","unk_token":"[UNK]","vocab":)" + vocab + "}}";
}

// Token ids were read with nlohmann's get<uint32_t>(), which converts a float out of range with undefined
// behaviour (the fuzzer's 4.2e41) and wraps negative integers; the id -> token table was a vector indexed
// by id, so an id of 4294967295 wrote out of bounds (id + 1 wrapped to 0).
// An LSTM whose weights the fuzzer filled with NaN: the vectorized exp behind tanh/sigmoid converted NaN to
// int32 (undefined behaviour, reported by UBSan) before selecting NaN as the result. NaN now takes a finite
// path; the results are unchanged: NaN in, NaN out, through every activation built on that exp. (The
// finding itself is replayed by fuzz_replay_onnx; under scripts/sanitize.sh it is UBSan that checks it.)
TEST(FuzzRegressions, NanThroughTheVectorizedExpIsDefined) {
  (void)finding("onnx", "lstm_nan_into_exp");
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x(64, 0.5f);  // long enough for the vector loops
  x[1] = nan, x[17] = nan, x[33] = inf, x[34] = -inf, x[63] = nan;
  for (const char* op : {"Exp", "Tanh", "Sigmoid"}) {
    ModelBuilder b;
    b.input("x", DType::F32, {64});
    b.output("y", DType::F32, {64});
    b.node(op, {"x"}, {"y"}, "act");
    std::vector<float> y = onnx::testing::run_model(b.model(), {{"x", Tensor::from_vector(x, Shape{64})}}).at("y").to_vector<float>();
    for (int i : {1, 17, 63}) EXPECT_TRUE(std::isnan(y[size_t(i)])) << op << " at " << i << ": " << y[size_t(i)];
    EXPECT_FALSE(std::isnan(y[0])) << op;
    EXPECT_FALSE(std::isnan(y[33])) << op;
    EXPECT_FALSE(std::isnan(y[34])) << op;
  }
}

// A Range whose start, limit and delta gave a count beyond what std::vector can hold: the converter
// allocated it while tracing (std::length_error, not a graft::Error). The count is now computed without
// overflow (integers in 128 bits) and checked against 2^56 and the memory limit before anything is allocated.
TEST(FuzzRegressions, RangeLengthIsBoundedBeforeAllocating) {
  (void)finding("onnx", "range_length_beyond_memory");  // (both replayed through the harness by fuzz_replay_onnx)
  (void)finding("onnx", "range_step_product_overflow");
  auto range = [](Tensor start, Tensor limit, Tensor delta) {
    ModelBuilder b;
    b.output_untyped("y");
    b.constant("s", start);
    b.constant("l", limit);
    b.constant("d", delta);
    b.node("Range", {"s", "l", "d"}, {"y"}, "range");
    return onnx::testing::run_model(b.model(), {}).at("y");
  };
  auto i64 = [](int64_t v) { return Tensor::scalar(v); };
  EXPECT_EQ(range(i64(0), i64(10), i64(3)).to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(range(i64(10), i64(0), i64(-3)).to_vector<int64_t>(), (std::vector<int64_t>{10, 7, 4, 1}));
  EXPECT_EQ(range(i64(1), i64(2), i64(5)).to_vector<int64_t>(), (std::vector<int64_t>{1}));
  EXPECT_EQ(range(i64(5), i64(1), i64(1)).shape(), Shape{0});
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(range(i64(big - 2), i64(big), i64(1)).to_vector<int64_t>(), (std::vector<int64_t>{big - 2, big - 1}));
  // Every element fits int64 but i·delta does not (3 · 2^62; finding range_step_product_overflow, start
  // INT64_MIN and delta 2.1e16: UBSan's signed overflow, which the sanitizer run of this test reports).
  const int64_t q = int64_t(1) << 62;
  EXPECT_EQ(range(i64(small), i64(big), i64(q)).to_vector<int64_t>(), (std::vector<int64_t>{small, -q, 0, q}));
  EXPECT_EQ(range(i64(big), i64(small), i64(-q)).to_vector<int64_t>(), (std::vector<int64_t>{big, big - q, big - q - q, big - q - q - q}));
  EXPECT_THROW_WITH(range(i64(small), i64(big), i64(1)), "range", "more than 2^56");
  EXPECT_THROW_WITH(range(i64(0), i64(int64_t(1) << 50), i64(1)), "range", "memory limit");
  EXPECT_THROW_WITH(range(Tensor::scalar(0.f), Tensor::scalar(1e30f), Tensor::scalar(1.f)), "range", "more than 2^56");
  EXPECT_THROW_WITH(range(Tensor::scalar(0.f), Tensor::scalar(std::numeric_limits<float>::quiet_NaN()),
                          Tensor::scalar(1.f)),
                    "range", "no element count");
}

// Resize built its per-axis tap tables (an index and a weight per output position and tap) before anything
// checked the output's size: a scale of 1.58e7 on the channel axis of [1, 1, 3, 4] spent 11 s and 1.6 GB on
// a 15.7-million-entry table for a 3 GB output. The output and each table are now checked against the memory
// limit first, and scales that give no int64 length at all are refused.
TEST(FuzzRegressions, ResizeOutputIsBoundedBeforeItsTapTables) {
  struct Limit {
    Limit() { set_memory_limit(size_t(256) << 20); }  // the harness's limit
    ~Limit() { set_memory_limit(0); }
  } limit;
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "resize_huge_scale_tap_tables"), {}, "finding.onnx");
  onnx::InferenceSession s(m);
  EXPECT_THROW_WITH(s.run({{"x", Tensor::from_vector(std::vector<float>(12, 1.f), Shape{1, 1, 3, 4})}}), "finding.onnx",
                    "Resize", "the output [1, 15757140, 6, 8]", "memory limit");

  auto resize = [](std::vector<float> scales, std::string mode) {
    ModelBuilder b(18);
    b.output_untyped("y");
    b.constant("x", Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, Shape{1, 1, 1, 4}));
    b.constant("roi", Tensor::from_vector(std::vector<float>{}, Shape{0}));
    b.constant("scales", Tensor::from_vector(scales, Shape{4}));
    auto& n = b.node("Resize", {"x", "roi", "scales"}, {"y"}, "resize");
    ModelBuilder::attr(n, "mode", mode);
    return onnx::testing::run_model(b.model(), {}).at("y");
  };
  // Within bounds it still resizes: nearest doubling repeats every element (the ONNX definition).
  EXPECT_EQ(resize({1, 1, 1, 2}, "nearest").to_vector<float>(), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_THROW_WITH(resize({1, 1.58e7f, 2, 2}, "linear"), "resize", "the output [1, 15800000, 2, 8]", "memory limit");
  EXPECT_THROW_WITH(resize({1, 1, 1, 1e30f}, "nearest"), "resize", "beyond 2^56");
  EXPECT_THROW_WITH(resize({1, 1, 1, std::numeric_limits<float>::infinity()}, "nearest"), "resize",
                    "must be positive and finite");
}

// Tile multiplied each repeat count by its axis's extent in int64 unchecked: a repeat of 7.2e16 over an axis
// of 226,463 overflowed (undefined behaviour) before any shape check could refuse the result.
TEST(FuzzRegressions, TileRepeatTimesExtentIsChecked) {
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "tile_repeat_extent_overflow"), {}, "finding.onnx");
  onnx::InferenceSession s(m);
  EXPECT_THROW_WITH(s.run({{"x", Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{1, 3})}}), "finding.onnx",
                    "Tile", "overflows int64");
  auto tile = [](std::vector<int64_t> reps) { return run_on_2x3("Tile", "reps", std::move(reps)); };
  // The ONNX definition: the whole input repeated along each axis.
  EXPECT_EQ(tile({2, 1}).to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(tile({1, 2}).to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  EXPECT_THROW_WITH(tile({int64_t(1) << 62, 1}), "tile", "repeat 4611686018427387904 of axis 0", "overflows int64");
  EXPECT_THROW_WITH(tile({int64_t(1) << 60, 1}), "tile");  // no overflow, but far beyond any memory
  EXPECT_THROW_WITH(tile({-1, 1}), "tile", "negative repeat -1");
}

// A Loop with a run-time trip count whose body has no outputs at all: the unrolled path checked the body's
// output count, the run-time (While) path computed -2 scan outputs, accepted the empty list and read its
// first element (UBSan: reference binding to null). Both paths now refuse it alike.
TEST(FuzzRegressions, LoopBodyWithoutOutputsIsAnError) {
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "loop_body_without_outputs"), {}, "finding.onnx");
  onnx::InferenceSession s(m);
  const Tensor v = Tensor::from_vector(std::vector<float>{1, 2, 3});
  EXPECT_THROW_WITH(s.run({{"M", Tensor::scalar(int64_t(3))}, {"x", v}, {"a0", v}}), "finding.onnx", "Loop",
                    "body has 0 outputs for 1 loop-carried values");
}

// CumSum read its axis input with std::vector::at(0): an empty axis tensor ([1, 0, 0, ...] in the finding)
// threw std::out_of_range, not a graft::Error. Every input that must hold one value (CumSum's axis, TopK's
// k, DFT's axis, STFT's frame length, NonMaxSuppression's limits) is now read by OpContext::require_int /
// require_double, which names the input and the count.
TEST(FuzzRegressions, SingleValueInputsMustHoldOneValue) {
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "cumsum_empty_axis"), {}, "finding.onnx");
  onnx::InferenceSession s(m);
  EXPECT_THROW_WITH(s.run({{"x", Tensor::from_vector(std::vector<float>(6, 1.f), Shape{3, 2})}}), "finding.onnx",
                    "CumSum", "axis must hold one value, got 0");
  auto cumsum = [](Tensor axis) {
    ModelBuilder b;
    b.output_untyped("y");
    b.constant("x", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{2, 3}));
    b.constant("axis", axis);
    b.node("CumSum", {"x", "axis"}, {"y"}, "cumsum");
    return onnx::testing::run_model(b.model(), {}).at("y");
  };
  // The ONNX definition: running sums along the axis, for a scalar or a one-element axis.
  EXPECT_EQ(cumsum(Tensor::scalar(int64_t(1))).to_vector<float>(), (std::vector<float>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(cumsum(Tensor::from_vector(std::vector<int64_t>{0})).to_vector<float>(), (std::vector<float>{1, 2, 3, 5, 7, 9}));
  EXPECT_THROW_WITH(cumsum(Tensor::from_vector(std::vector<int64_t>{})), "cumsum", "axis must hold one value, got 0");
  EXPECT_THROW_WITH(cumsum(Tensor::from_vector(std::vector<int64_t>{0, 1})), "cumsum", "axis must hold one value, got 2");
  auto topk = [](Tensor k) {
    ModelBuilder b;
    b.output_untyped("v");
    b.output_untyped("i");
    b.constant("x", Tensor::from_vector(std::vector<float>{3, 1, 2}));
    b.constant("k", k);
    b.node("TopK", {"x", "k"}, {"v", "i"}, "topk");
    return onnx::testing::run_model(b.model(), {}).at("v");
  };
  EXPECT_EQ(topk(Tensor::from_vector(std::vector<int64_t>{2})).to_vector<float>(), (std::vector<float>{3, 2}));
  EXPECT_THROW_WITH(topk(Tensor::from_vector(std::vector<int64_t>{})), "topk", "k must hold one value, got 0");
}

TEST(FuzzRegressions, TokenizerIdsAreCheckedIntegers) {
  EXPECT_THROW_WITH(text::Tokenizer::from_json(finding("tokenizer", "vocab_id_float_out_of_range").substr(
                        0, finding("tokenizer", "vocab_id_float_out_of_range").find('\0'))),
                    "must be a non-negative integer");
  EXPECT_THROW_WITH(text::Tokenizer::from_json(wordlevel(R"({"[UNK]":0,"a":4.5e41})")), "WordLevel id of \"a\"",
                    "non-negative integer");
  EXPECT_THROW_WITH(text::Tokenizer::from_json(wordlevel(R"({"[UNK]":0,"a":-3})")), "non-negative integer");
  EXPECT_THROW_WITH(text::Tokenizer::from_json(wordlevel(R"({"[UNK]":0,"a":4294967296})")), "out of range");
  // The largest id is fine and costs nothing.
  text::Tokenizer t = text::Tokenizer::from_json(wordlevel(R"({"[UNK]":0,"a":4294967295})"));
  EXPECT_EQ(t.id_to_token(4294967295u), "a");
  EXPECT_EQ(t.token_to_id("a"), 4294967295u);
  // Padding lengths are bounded.
  EXPECT_THROW_WITH(text::Tokenizer::from_json(wordlevel(R"({"[UNK]":0})",
                                                         R"("padding":{"strategy":{"Fixed":1000000000000000},)"
                                                         R"("direction":"Right","pad_id":0,"pad_token":"[UNK]"},)")),
                    "padding length 1000000000000000 is over the limit");
}

// A pair whose sides both overflow many windows (truncation max_length 16, stride 2, 1.4 KB of text): merging
// combines every window of one side with every window of the other, and merged windows keep the other side's
// windows as their own, so the work grew as the product — 3 s for the finding (77 s under ASan, which
// libFuzzer reported as a timeout). Beyond 2^16 merged encodings it is now an error; ordinary overflow still
// works.
TEST(FuzzRegressions, OverflowingPairWindowsAreBounded) {
  const std::string json = wordlevel(R"({"[UNK]":0,"a":1,"b":2})",
                                     R"("truncation":{"direction":"Right","max_length":4,"strategy":"LongestFirst",)"
                                     R"("stride":1},"pre_tokenizer":{"type":"WhitespaceSplit"},)");
  text::Tokenizer t = text::Tokenizer::from_json(json);
  auto words = [](const char* w, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += std::string(w) + " ";
    return s;
  };
  // 40 + 40 words in windows of 2 per side (max_length 4 over a pair), stride 1: dozens of windows each.
  text::Encoding e = t.encode(words("a", 40), words("b", 40), false);
  EXPECT_EQ(e.ids.size(), 4u);
  EXPECT_GT(e.overflowing.size(), 100u);
  EXPECT_THROW_WITH(t.encode(words("a", 3000), words("b", 3000), false), "overflowing windows", "max_length");
  // (The finding itself, tests/robustness/fuzz_findings/tokenizer/overflowing_pair_windows_product, is
  // replayed by fuzz_replay_tokenizer.)
}

// ---- npy ------------------------------------------------------------------------------------------------------

// An empty shape passed the 2^56-element bound whatever its other extents ([0, 77712077, 27702777, 7750]
// from a fuzzed header), and Shape::size() / strides() multiplied those extents before meeting the zero:
// signed overflow (found by fuzz_npy; reported then as a timeout at nice 19). The non-zero extents are now
// bounded too.
TEST(FuzzRegressions, NpyEmptyShapeWithHugeExtentsIsRefused) {
  const std::string bytes = finding("npy", "empty_shape_extents_overflow");
  EXPECT_THROW_WITH(parse_npy(bytes.data(), bytes.size(), "finding.npy"), "finding.npy",
                    "non-zero extents whose product is more than 2^56");
  EXPECT_THROW_WITH(Shape({214696521750, 77712077, 0}), "non-zero extents whose product is more than 2^56");
  // Empty shapes with large extents that stay under the bound are fine.
  Shape s({0, int64_t(1) << 40, 1 << 10});
  EXPECT_EQ(s.size(), 0);
  EXPECT_EQ(s.strides(), std::vector<int64_t>({int64_t(1) << 50, 1 << 10, 1}));
}

// ---- checkpoint / npy / ONNX: booleans --------------------------------------------------------------------

// A BOOL tensor's byte 94 was loaded as a C++ bool (undefined behaviour: only 0 and 1 are bools). Readers
// now map non-zero bytes to true, as NumPy does.
TEST(FuzzRegressions, BoolBytesOtherThanZeroOrOneReadAsTrue) {
  std::string f = finding("checkpoint", "bool_byte_not_0_or_1");
  std::string tensors = f.substr(0, f.find("\n#graft-checkpoint-json#\n"));
  SafetensorsFile st = parse_safetensors(tensors.data(), tensors.size(), "finding.safetensors");
  bool any_bool = false;
  for (const auto& [name, t] : st.tensors)
    if (t.dtype() == DType::Bool) {
      any_bool = true;
      for (uint8_t b : std::vector<uint8_t>(static_cast<const uint8_t*>(t.raw()),
                                            static_cast<const uint8_t*>(t.raw()) + t.nbytes()))
        EXPECT_LE(b, 1);
    }
  EXPECT_TRUE(any_bool);
  // By hand: safetensors, .npy and ONNX raw data holding bytes 0, 2, 255.
  std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  std::string st_bytes = std::string(1, char(header.size())) + std::string(7, '\0') + header + std::string("\0\x02\xff", 3);
  Tensor a = parse_safetensors(st_bytes.data(), st_bytes.size(), "x").tensors.at(0).second;
  EXPECT_EQ(a.to_vector<uint8_t>(), std::vector<uint8_t>({0, 1, 1}));
  std::string npy = std::string("\x93NUMPY\x01\x00", 8) + char(58) + '\0' +
                    "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }\n" + std::string("\0\x02\xff", 3);
  ASSERT_EQ(npy.size(), 10u + 58u + 3u);
  EXPECT_EQ(parse_npy(npy.data(), npy.size(), "x").to_vector<uint8_t>(), std::vector<uint8_t>({0, 1, 1}));
  ::onnx::TensorProto tp;
  tp.set_data_type(::onnx::TensorProto::BOOL);
  tp.add_dims(3);
  tp.set_raw_data(std::string("\0\x02\xff", 3));
  EXPECT_EQ(onnx::tensor_from_proto(tp, nullptr, "x").to_vector<uint8_t>(), std::vector<uint8_t>({0, 1, 1}));
}

// Pad with a pad of INT64_MIN (fuzz_onnx, session 21): `d + low + high` overflowed int64 (UBSan) before the
// "crops below zero" check could see it. Pad now adds with overflow checks, so every caller is covered.
TEST(FuzzRegressions, PadLengthOverflowIsAnError) {
  onnx::Model m = onnx::Model::from_bytes(finding("onnx", "pad_int64_min"), {}, "finding.onnx");
  auto run_finding = [&] {
    onnx::InferenceSession s(m);
    s.run({{"x", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{3, 2})}});
  };
  EXPECT_THROW_WITH(run_finding(), "finding.onnx", "Pad", "overflow a 64-bit length");
  auto pad = [](std::vector<int64_t> pads) { return run_on_2x3("Pad", "pads", std::move(pads)); };
  // The ONNX definition (constant mode, zeros): begins of every axis, then ends; negative pads crop.
  EXPECT_EQ(pad({0, 1, 0, 0}).to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 0, 4, 5, 6}));
  EXPECT_EQ(pad({0, -1, 0, 0}).to_vector<float>(), (std::vector<float>{2, 3, 5, 6}));
  constexpr int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  EXPECT_THROW_WITH(pad({0, lo, 0, 0}), "pad", "below zero");  // 3 + INT64_MIN is representable
  EXPECT_THROW_WITH(pad({0, lo, 0, -5}), "pad", "overflow a 64-bit length");
  EXPECT_THROW_WITH(pad({0, hi, 0, hi}), "pad", "overflow a 64-bit length");
  EXPECT_THROW_WITH(pad({0, -4, 0, 0}), "pad", "below zero");
}

}  // namespace
}  // namespace graft
