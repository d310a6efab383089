// Staged execution keyed by shapes: NonMaxSuppression and NonZero computed from the inputs run between
// compiled stages, and their results are inputs of the next stage, so new inputs whose staged results have
// the same shapes reuse the compiled stages. Results are compared with ONNX Runtime's on the same model.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

Tensor i64s(std::vector<int64_t> v) {
  Shape s{int64_t(v.size())};
  return Tensor::from_vector(v, s);
}

// A toy detector on an 8x8 image: per-pixel scores and box offsets from 1x1 convolutions, NMS over the 64
// boxes (3x3 anchors around each pixel), the kept scores' top k (k = min(3, kept) from the NMS row count),
// and the kept boxes whose score passes a second threshold (NonZero of a mask over the kept scores).
ModelBuilder toy_detector() {
  ModelBuilder b(17);
  b.input("image", DType::F32, {int64_t(1), int64_t(3), int64_t(8), int64_t(8)});
  b.output("selected", DType::I64);
  b.output("top_scores", DType::F32);
  b.output("top_index", DType::I64);
  b.output("strong_boxes", DType::F32);
  b.initializer("w_score", testing::random_tensor({1, 3, 1, 1}, 11, -2, 2));
  b.initializer("w_box", testing::random_tensor({4, 3, 1, 1}, 12, -1, 1));
  std::vector<float> anchors;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) anchors.insert(anchors.end(), {y - 1.5f, x - 1.5f, y + 1.5f, x + 1.5f});
  b.initializer("anchors", Tensor::from_vector(anchors, Shape{1, 64, 4}));
  b.node("Conv", {"image", "w_score"}, {"s"});
  b.node("Sigmoid", {"s"}, {"s2"});
  b.constant("scores_shape", i64s({1, 1, 64}));
  b.node("Reshape", {"s2", "scores_shape"}, {"scores"});
  b.node("Conv", {"image", "w_box"}, {"d"});
  b.node("Tanh", {"d"}, {"d2"});
  b.constant("d_shape", i64s({1, 4, 64}));
  b.node("Reshape", {"d2", "d_shape"}, {"d3"});
  ModelBuilder::attr(b.node("Transpose", {"d3"}, {"offsets"}), "perm", std::vector<int64_t>{0, 2, 1});
  b.node("Add", {"anchors", "offsets"}, {"boxes"});
  b.constant("max_out", i64s({4}));
  b.constant("iou", Tensor::from_vector(std::vector<float>{0.3f}, Shape{1}));
  b.constant("score_th", Tensor::from_vector(std::vector<float>{0.55f}, Shape{1}));
  b.node("NonMaxSuppression", {"boxes", "scores", "max_out", "iou", "score_th"}, {"selected"});
  b.constant("two", Tensor::scalar(int64_t(2)));
  ModelBuilder::attr(b.node("Gather", {"selected", "two"}, {"box_index"}), "axis", int64_t(1));
  b.constant("flat", i64s({64}));
  b.node("Reshape", {"scores", "flat"}, {"flat_scores"});
  b.node("Gather", {"flat_scores", "box_index"}, {"kept"});
  b.node("Shape", {"kept"}, {"kept_count"});
  b.constant("three", i64s({3}));
  b.node("Min", {"kept_count", "three"}, {"k"});
  b.node("TopK", {"kept", "k"}, {"top_scores", "top_index"});
  b.constant("strong_th", Tensor::scalar(0.7f));
  b.node("Greater", {"kept", "strong_th"}, {"mask"});
  b.node("NonZero", {"mask"}, {"nz"});
  b.constant("minus1", i64s({-1}));
  b.node("Reshape", {"nz", "minus1"}, {"strong"});
  b.node("Gather", {"box_index", "strong"}, {"strong_index"});
  b.constant("box_rows", i64s({64, 4}));
  b.node("Reshape", {"boxes", "box_rows"}, {"flat_boxes"});
  b.node("Gather", {"flat_boxes", "strong_index"}, {"strong_boxes"});
  return b;
}

void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-5 * (1 + std::abs(w[i]))) << what << " [" << i << "]";
}

// The toy detector in a file for ONNX Runtime and in one session under test: compare() runs an image through
// both, expects the named outputs to agree and returns ONNX Runtime's results.
struct ToyDetectorVsOrt {
  ModelBuilder builder = toy_detector();
  testing::TempDir dir;
  std::filesystem::path file = dir.path / "detector.onnx";
  InferenceSession session{builder.model()};
  int runs = 0;

  ToyDetectorVsOrt() { testing::write_file(file, builder.bytes()); }

  std::map<std::string, Tensor> compare(const Tensor& image, const std::vector<std::string>& outputs) {
    auto work = dir.path / ("ort" + std::to_string(runs));
    std::filesystem::create_directories(work);
    auto want = testing::run_ort(file, {{"image", image}}, work);
    auto got = session.run({{"image", image}}, outputs);
    for (const auto& name : outputs) expect_same(got.at(name), want.at(name), name + ", run " + std::to_string(runs));
    ++runs;
    return want;
  }
};

const std::vector<std::string> kDetectorOutputs = {"selected", "top_scores", "top_index", "strong_boxes"};

TEST(OnnxStagedShapes, NewInputsWithTheSameStagedShapesReuseTheCompiledStages) {
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime (bench/ort) not available";
  ToyDetectorVsOrt d;
  InferenceSession& s = d.session;
  const int runs = 16;
  std::set<std::pair<int64_t, int64_t>> shapes;  // (NMS rows, NonZero hits) as ONNX Runtime gives them
  for (int r = 0; r < runs; ++r) {
    auto want = d.compare(testing::random_tensor({1, 3, 8, 8}, uint32_t(100 + r)), kDetectorOutputs);
    shapes.insert({want.at("selected").shape()[0], want.at("strong_boxes").shape()[0]});
  }
  // One trace per distinct pair of staged shapes, not per image; every other run reused compiled stages.
  EXPECT_EQ(s.stats().traces, int(shapes.size()));
  EXPECT_LT(int(shapes.size()), runs) << "the inputs should repeat some staged shapes";
  EXPECT_EQ(s.stats().cache_hits, runs - int(shapes.size()));
  // Two crossings per run (after the NMS operands, after NonZero's): each stage ran once per run.
  EXPECT_EQ(s.stats().stage_crossings, 2 * runs);
  EXPECT_EQ(s.stats().guard_runs, 0);
  // The first stage (convolutions, boxes, scores) was compiled once; later traces compiled only the
  // stages after the boundary whose shapes were new.
  std::set<int64_t> nms_rows;
  for (const auto& p : shapes) nms_rows.insert(p.first);
  EXPECT_EQ(s.stats().stage_compiles, 1 + int(nms_rows.size()) + int(shapes.size()));
}

// An image where NMS keeps nothing (every score 0.5, below the 0.55 threshold): zero rows flow through the
// Gathers, TopK with k = 0 and NonZero of an empty mask, as in ONNX Runtime, then a normal image after it.
TEST(OnnxStagedShapes, NmsKeepingNothingGivesEmptyResultsAsOnnxRuntime) {
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime (bench/ort) not available";
  ToyDetectorVsOrt d;
  const Tensor empty = Tensor::zeros(DType::F32, Shape{1, 3, 8, 8});
  auto want = d.compare(empty, kDetectorOutputs);
  ASSERT_EQ(want.at("selected").shape()[0], 0) << "the zero image should keep no box";
  d.compare(testing::random_tensor({1, 3, 8, 8}, 101), kDetectorOutputs);
}

TEST(OnnxStagedShapes, ANewStagedShapeTakesItsValuesFromTheTraceAndCompilesWhenMetAgain) {
  // Only the NMS selection and the strong boxes: every value of the stage between NMS and NonZero is
  // computed by the trace of a new NMS row count (NonZero's operand and the kept boxes' indices), so that
  // stage is not compiled on the run that traced it, only when a later run reaches it.
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime (bench/ort) not available";
  ToyDetectorVsOrt d;
  InferenceSession& s = d.session;
  auto check = [&](const Tensor& image) {
    return d.compare(image, {"selected", "strong_boxes"}).at("selected").shape()[0];
  };
  Tensor a = testing::random_tensor({1, 3, 8, 8}, 100);
  const int64_t rows_a = check(a);
  const int first_compiles = s.stats().stage_compiles;  // a new signature: every stage compiled
  EXPECT_EQ(first_compiles, 3);
  // An image whose NMS keeps another number of rows: a new key after stage 0.
  Tensor img;
  // Found with a session of its own (the one under test must not see it first); checked against ONNX
  // Runtime below like every other run.
  InferenceSession probe(d.builder.model());
  // Dim images (scores near sigmoid(0) = 0.5, NMS's threshold 0.55) keep fewer than max_out = 4 boxes.
  for (uint32_t seed = 101; seed < 300 && !img.defined(); ++seed) {
    Tensor c = testing::random_tensor({1, 3, 8, 8}, seed, -0.1f, 0.1f);
    int64_t rows = probe.run({{"image", c}}, {"selected"}).at("selected").shape()[0];
    if (rows != rows_a && rows > 0) img = c;
  }
  ASSERT_TRUE(img.defined()) << "no image with another NMS row count";
  check(img);
  EXPECT_EQ(s.stats().traces, 2);
  // Traced again from stage 1: stage 1's values came from the trace (not compiled); the last stage, whose
  // outputs the trace did not compute, was compiled.
  EXPECT_EQ(s.stats().stage_compiles, first_compiles + 1);
  check(img);  // the same image again: no trace; stage 1 compiled now
  EXPECT_EQ(s.stats().traces, 2);
  EXPECT_EQ(s.stats().cache_hits, 1);
  EXPECT_EQ(s.stats().stage_compiles, first_compiles + 2);
  check(img);
  check(a);
  EXPECT_EQ(s.stats().traces, 2);
  EXPECT_EQ(s.stats().stage_compiles, first_compiles + 2);
  EXPECT_EQ(s.stats().stage_crossings, 2 * 5);
}

TEST(OnnxStagedShapes, NmsOverManyClusteredBoxesMatchesOnnxRuntime) {
  // NonMaxSuppression over 600 boxes in 12 clusters far apart (torchvision's batched NMS offsets each class
  // this way), two classes, corner and center box formats: the selection skips boxes proven disjoint from a
  // candidate, which must select exactly what ONNX Runtime selects.
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime (bench/ort) not available";
  for (int64_t center : {0, 1}) {
    ModelBuilder b(17);
    b.input("boxes", DType::F32, {int64_t(1), int64_t(600), int64_t(4)});
    b.input("scores", DType::F32, {int64_t(1), int64_t(2), int64_t(600)});
    b.output("selected", DType::I64);
    b.constant("max_out", i64s({1000}));
    b.constant("iou", Tensor::from_vector(std::vector<float>{0.5f}, Shape{1}));
    b.constant("score_th", Tensor::from_vector(std::vector<float>{0.05f}, Shape{1}));
    ModelBuilder::attr(b.node("NonMaxSuppression", {"boxes", "scores", "max_out", "iou", "score_th"}, {"selected"}),
                       "center_point_box", center);
    Tensor u = testing::random_tensor({600, 4}, uint32_t(900 + center), 0, 1);
    auto uv = u.to_vector<float>();
    std::vector<float> boxes;
    for (int i = 0; i < 600; ++i) {
      float off = float(i % 12) * 100.f;  // cluster
      float y = off + 40 * uv[size_t(i * 4)], x = off + 40 * uv[size_t(i * 4 + 1)];
      float h = 2 + 20 * uv[size_t(i * 4 + 2)], w = 2 + 20 * uv[size_t(i * 4 + 3)];
      if (center) boxes.insert(boxes.end(), {x, y, w, h});
      else if (i % 2) boxes.insert(boxes.end(), {y + h, x + w, y, x});  // corners in either order
      else boxes.insert(boxes.end(), {y, x, y + h, x + w});
    }
    std::map<std::string, Tensor> in = {{"boxes", Tensor::from_vector(boxes, Shape{1, 600, 4})},
                                        {"scores", testing::random_tensor({1, 2, 600}, uint32_t(950 + center), 0, 1)}};
    testing::TempDir dir;
    auto file = dir.path / "nms.onnx";
    testing::write_file(file, b.bytes());
    auto want = testing::run_ort(file, in, dir.path);
    InferenceSession s(b.model());
    Tensor got = s.run(in).at("selected");
    ASSERT_EQ(got.shape(), want.at("selected").shape()) << "center_point_box " << center;
    EXPECT_GT(got.shape()[0], 300) << "most boxes should survive";
    EXPECT_EQ(got.to_vector<int64_t>(), want.at("selected").to_vector<int64_t>()) << "center_point_box " << center;
  }
}

TEST(OnnxStagedShapes, BoundedCacheEvictsWholePathsAndStaysCorrect) {
  ModelBuilder b = toy_detector();
  SessionOptions small;
  small.cache_capacity = 2;
  InferenceSession bounded(b.model(), small), unbounded(b.model());
  for (int r = 0; r < 24; ++r) {
    Tensor image = testing::random_tensor({1, 3, 8, 8}, uint32_t(300 + r % 12));
    auto got = bounded.run({{"image", image}});
    auto want = unbounded.run({{"image", image}});
    for (const char* name : {"selected", "top_scores", "top_index", "strong_boxes"})
      expect_same(got.at(name), want.at(name), std::string(name) + ", run " + std::to_string(r));
    EXPECT_LE(bounded.cache_size(), 2u);
  }
  EXPECT_GE(bounded.stats().traces, unbounded.stats().traces);
}

TEST(OnnxStagedShapes, AContentGuardAfterAStagedOpKeysOnTheValue) {
  // TopK whose k is computed from data (the number of scores above 0.5, a value the trace needs): a guard.
  // NonZero before it is a staged op keyed by its shape.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(6)});
  b.output("top", DType::F32);
  b.output("nz", DType::I64);
  b.constant("zero", Tensor::scalar(0.f));
  b.node("Greater", {"x", "zero"}, {"pos"});
  b.node("NonZero", {"pos"}, {"nz"});
  b.constant("half", Tensor::scalar(0.5f));
  b.node("Greater", {"x", "half"}, {"big"});
  ModelBuilder::attr(b.node("Cast", {"big"}, {"big_i"}), "to", int64_t(7));
  ModelBuilder::attr(b.node("ReduceSum", {"big_i"}, {"k"}), "keepdims", int64_t(1));
  b.node("TopK", {"x", "k"}, {"top", "top_i"});
  InferenceSession s(b.model());
  auto run = [&](std::vector<float> x) {
    auto out = s.run({{"x", Tensor::from_vector(x, Shape{6})}});
    std::vector<float> sorted = x, want;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    for (float v : sorted)
      if (v > 0.5f) want.push_back(v);
    EXPECT_EQ(out.at("top").to_vector<float>(), want);
    int64_t pos = 0;
    for (float v : x) pos += v > 0;
    EXPECT_EQ(out.at("nz").shape(), (Shape{1, pos}));
  };
  run({0.9f, -1, 0.2f, 0.7f, -3, 0.1f});   // 4 positive, k = 2
  run({0.6f, -1, 0.8f, 0.1f, -2, 0.3f});   // 4 positive, k = 2: reused
  run({0.6f, -1, 0.8f, 0.9f, -2, 0.3f});   // k = 3: a new guard value
  run({0.6f, 1, 0.8f, 0.9f, -2, 0.3f});    // 5 positive, k = 4
  EXPECT_EQ(s.stats().traces, 3);
  EXPECT_EQ(s.stats().cache_hits, 1);
  EXPECT_EQ(s.stats().guard_runs, 4);
}

}  // namespace
}  // namespace graft::onnx

namespace graft::onnx {
namespace {

TEST(OnnxStagedShapes, FasterRcnnOnNewImagesMatchesOnnxRuntime) {
  // torchvision's Faster R-CNN from the torchvision zoo (CTest's onnx_torchvision_zoo_data writes it into
  // the build folder): one session, new images, each compared with ONNX Runtime on the same file. Later
  // images reuse the stages before the first boundary whose shapes differ and trace only the rest.
  auto file = std::filesystem::path(GRAFT_SOURCE_DIR) / "build" / "torchvision-zoo" / "zoo" /
              "tv_fasterrcnn_mobilenet" / "model.onnx";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " not generated (tests/zoo/gen_torchvision_zoo.py)";
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime (bench/ort) not available";
  InferenceSession s(Model::load(file), {.threads = 2});
  testing::TempDir dir;
  for (int r = 0; r < 3; ++r) {
    Tensor image = testing::random_tensor({3, 160, 160}, uint32_t(700 + r), 0, 1);
    auto work = dir.path / ("ort" + std::to_string(r));
    std::filesystem::create_directories(work);
    auto want = testing::run_ort(file, {{"image", image}}, work);
    auto got = s.run({{"image", image}});
    for (const char* name : {"boxes", "labels", "scores"}) {
      const Tensor &g = got.at(name), &w = want.at(name);
      ASSERT_EQ(g.shape(), w.shape()) << name << ", image " << r;
      auto gv = g.to_vector<double>(), wv = w.to_vector<double>();
      for (size_t i = 0; i < wv.size(); ++i)
        ASSERT_NEAR(gv[i], wv[i], 1e-4 + 1e-3 * std::abs(wv[i])) << name << " [" << i << "], image " << r;
    }
  }
  EXPECT_EQ(s.stats().stage_crossings, 3 * 8);  // 8 boundaries, each stage once per run
  // The first image compiled its 9 stages; each later one met new row counts after the RPN's NMS and took
  // the values of the stages after it from its trace, compiling only the last stage (after the final NMS).
  EXPECT_EQ(s.stats().traces, 3);
  EXPECT_EQ(s.stats().stage_compiles, 9 + 2 * 1);
}

}  // namespace
}  // namespace graft::onnx
