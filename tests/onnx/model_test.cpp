// Loading: parsing, description, malformed files, external data confinement, unknown ops, write-back.
#include <unistd.h>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using testing::TempDir;
using testing::write_file;
namespace fs = std::filesystem;

ModelBuilder add_model() {
  ModelBuilder b;
  b.input("x", DType::F32, {std::string("batch"), int64_t(3)});
  b.input("y", DType::F32, {std::string("batch"), int64_t(3)});
  b.output("z", DType::F32, {std::string("batch"), int64_t(3)});
  b.node("Add", {"x", "y"}, {"z"}, "the_add");
  return b;
}

TEST(OnnxModel, DescribesInputsOutputsAndOpsets) {
  ModelBuilder b = add_model();
  b.import("com.microsoft", 1);
  Model m = b.model();
  ASSERT_EQ(m.inputs().size(), 2u);
  EXPECT_EQ(m.inputs()[0].str(), "x: float32[batch, 3]");
  EXPECT_EQ(m.inputs()[0].type, "tensor(float)");
  ASSERT_TRUE(m.inputs()[0].dims.has_value());
  EXPECT_EQ((*m.inputs()[0].dims)[0].symbol, "batch");
  EXPECT_EQ((*m.inputs()[0].dims)[1].value, 3);
  EXPECT_EQ(m.outputs()[0].name, "z");
  EXPECT_EQ(m.opset(), 17);
  EXPECT_EQ(m.opset("ai.onnx"), 17);
  EXPECT_EQ(m.opset("com.microsoft"), 1);
  EXPECT_EQ(m.opset("org.other"), 0);
  EXPECT_EQ(m.op_histogram().at("Add"), 1);
  EXPECT_EQ(m.producer(), "graft-test");
}

TEST(OnnxModel, RunsAndChecksInputs) {
  Model m = add_model().model();
  InferenceSession s(m);
  Tensor x({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}}), y({{10.f, 20.f, 30.f}, {40.f, 50.f, 60.f}});
  auto out = s.run({{"x", x}, {"y", y}});
  EXPECT_TRUE(allclose(out.at("z"), Tensor({{11.f, 22.f, 33.f}, {44.f, 55.f, 66.f}})));
  EXPECT_THROW_WITH(s.run({{"x", x}}), "missing", "'y'" /* the missing input is named */);
  EXPECT_THROW_WITH(s.run({{"x", x}, {"y", y}, {"w", y}}), "no input named 'w'");
  EXPECT_THROW_WITH(s.run({{"x", x.cast(DType::F64)}, {"y", y}}), "input 'x' must be float32", "float64");
  EXPECT_THROW_WITH(s.run({{"x", Tensor({1.f, 2.f, 3.f})}, {"y", y}}), "input 'x' must have rank 2");
  EXPECT_THROW_WITH(s.run({{"x", Tensor({{1.f, 2.f}, {3.f, 4.f}})}, {"y", y}}), "input 'x' axis 1 must be 3");
  // The same symbol must have one extent across inputs.
  Tensor y3 = Tensor::zeros(DType::F32, Shape{3, 3});
  EXPECT_THROW_WITH(s.run({{"x", x}, {"y", y3}}), "'batch'");
}

TEST(OnnxModel, CachesPerSignatureWithBoundedLru) {
  SessionOptions opts;
  opts.cache_capacity = 2;
  InferenceSession s(add_model().model(), opts);
  auto run = [&](int64_t n) {
    Tensor t = Tensor::full(DType::F32, Shape{n, 3}, 1.0);
    return s.run({{"x", t}, {"y", t}}).at("z");
  };
  run(1);
  run(1);
  EXPECT_EQ(s.stats().compiles, 1);
  EXPECT_EQ(s.stats().cache_hits, 1);
  run(2);
  run(3);
  EXPECT_EQ(s.cache_size(), 2u);
  run(1);  // evicted: compiled again
  EXPECT_EQ(s.stats().compiles, 4);
  EXPECT_TRUE(allclose(run(3), Tensor::full(DType::F32, Shape{3, 3}, 2.0)));
  EXPECT_EQ(s.stats().compiles, 4);
}

TEST(OnnxModel, CallInsideALargerGraph) {
  Model m = add_model().model();
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3});
  auto out = m.call(g, {{"x", a}, {"y", a * 2.0}});
  g.set_outputs({out.at("z") + 1.0});
  auto exe = cpu_backend()->compile(g);
  Tensor a_val({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  auto res = exe->run({a_val});
  EXPECT_TRUE(allclose(res[0], Tensor({{4.f, 7.f, 10.f}, {13.f, 16.f, 19.f}})));
}

TEST(OnnxModel, RejectsMalformedFiles) {
  EXPECT_THROW_WITH(Model::from_bytes("", {}, "empty.onnx"), "empty.onnx", "empty");
  EXPECT_THROW_WITH(Model::from_bytes("this is not a protobuf at all \xff\xff\xff", {}, "garbage.onnx"),
                    "garbage.onnx", "not a valid ONNX model");
  std::string bytes = add_model().bytes();
  // Every truncation is refused with an error naming the file (never a crash or a silent success).
  for (size_t cut : {bytes.size() - 1, bytes.size() - 7, bytes.size() / 2, size_t(5)}) {
    EXPECT_THROW_WITH(Model::from_bytes(std::string_view(bytes).substr(0, cut), {}, "cut.onnx"), "cut.onnx");
  }
  // A protobuf that parses but has no graph.
  ::onnx::ModelProto no_graph;
  no_graph.set_ir_version(8);
  std::string ng;
  no_graph.SerializeToString(&ng);
  EXPECT_THROW_WITH(Model::from_bytes(ng, {}, "nograph.onnx"), "nograph.onnx", "no graph");
  EXPECT_THROW_WITH(Model::load("/nonexistent/dir/model.onnx"), "/nonexistent/dir/model.onnx", "does not exist");
  TempDir d;
  write_file(d.path / "trunc.onnx", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW_WITH(Model::load(d.path / "trunc.onnx"), "trunc.onnx");
}

TEST(OnnxModel, ReferencesToUndefinedValuesAreReported) {
  ModelBuilder b;
  b.input("x", DType::F32, {int64_t(2)});
  b.output("z", DType::F32, {int64_t(2)});
  b.node("Relu", {"nowhere"}, {"z"}, "relu_node");
  EXPECT_THROW_WITH(b.model(), "relu_node", "'nowhere'");
}

TEST(OnnxModel, UnknownOpsAreListedWithTheirNodes) {
  ModelBuilder b;
  b.input("x", DType::F32, {int64_t(2)});
  b.output("z", DType::F32, {int64_t(2)});
  b.node("FrobnicateV2", {"x"}, {"y"}, "frob_1");
  b.node("FrobnicateV2", {"y"}, {"w"}, "frob_2");
  b.node("Relu", {"w"}, {"z"}, "relu");
  Model m = b.model();
  auto u = m.unsupported_ops();
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].op_type, "FrobnicateV2");
  EXPECT_EQ(u[0].nodes, (std::vector<std::string>{"frob_1", "frob_2"}));
  EXPECT_THROW_WITH(testing::run_model(m, {{"x", Tensor({1.f, 2.f})}}), "FrobnicateV2", "frob_1", "frob_2");
  // An op newer than the model's opset is unsupported at that opset.
  ModelBuilder old(9);
  old.input("x", DType::F32, {int64_t(2)});
  old.output("z", DType::F32, {int64_t(2)});
  old.node("Gelu", {"x"}, {"z"}, "gelu");
  EXPECT_THROW_WITH(testing::run_model(old.model(), {{"x", Tensor({1.f, 2.f})}}), "Gelu", "opset 9", "gelu");
}

TEST(OnnxModel, ConverterErrorsNameTheNode) {
  ModelBuilder b;
  b.input("x", DType::F32, {int64_t(2), int64_t(3)});
  b.output("z", DType::F32);
  b.constant("shape", Tensor::from_vector(std::vector<int64_t>{4, 4}));
  b.node("Reshape", {"x", "shape"}, {"z"}, "/encoder/Reshape_7");
  EXPECT_THROW_WITH(testing::run_model(b.model(), {{"x", Tensor::zeros(DType::F32, Shape{2, 3})}}),
                    "Reshape \"/encoder/Reshape_7\"", "[2, 3]", "[4, 4]");
}

TEST(OnnxModel, KeepsMetadataDocStringsAndUnknownFields) {
  ModelBuilder b = add_model();
  b.proto().set_doc_string("a model doc");
  auto* kv = b.proto().add_metadata_props();
  kv->set_key("author");
  kv->set_value("graft");
  b.proto().mutable_graph()->mutable_node(0)->set_doc_string("node doc");
  std::string bytes = b.bytes();
  // An unknown field (number 999, length-delimited) appended to the top-level message.
  std::string unknown = "\xba\x3e\x05hello";
  bytes += unknown;
  Model m = Model::from_bytes(bytes, {}, "meta.onnx");
  EXPECT_EQ(m.metadata().at("author"), "graft");
  std::string out = m.serialize();
  EXPECT_NE(out.find("a model doc"), std::string::npos);
  EXPECT_NE(out.find("node doc"), std::string::npos);
  EXPECT_NE(out.find(unknown), std::string::npos);
  EXPECT_EQ(Model::from_bytes(out).metadata().at("author"), "graft");
}

// ---- external data ---------------------------------------------------------------------------------------

// A model computing z = x + w with w stored externally at `location` (offset/length as given).
std::string external_model(const std::string& location, int64_t offset, int64_t length, int64_t n = 4) {
  ModelBuilder b;
  b.input("x", DType::F32, {n});
  b.output("z", DType::F32, {n});
  auto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(::onnx::TensorProto::FLOAT);
  t->add_dims(n);
  t->set_data_location(::onnx::TensorProto::EXTERNAL);
  auto add_kv = [&](const char* k, const std::string& v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add_kv("location", location);
  if (offset != -1) add_kv("offset", std::to_string(offset));
  if (length != -1) add_kv("length", std::to_string(length));
  b.node("Add", {"x", "w"}, {"z"});
  return b.bytes();
}

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

TEST(OnnxExternalData, LoadsTensorsFromSideFiles) {
  TempDir d;
  fs::create_directories(d.path / "weights");
  std::string pad(64, '\0');
  write_file(d.path / "weights" / "w.bin", pad + float_bytes({1, 2, 3, 4}) + float_bytes({9, 9}));
  write_file(d.path / "m.onnx", external_model("weights/w.bin", 64, 16));
  Model m = Model::load(d.path / "m.onnx");
  EXPECT_TRUE(allclose(m.initializer("w"), Tensor({1.f, 2.f, 3.f, 4.f})));
  auto out = testing::run_model(m, {{"x", Tensor({10.f, 20.f, 30.f, 40.f})}});
  EXPECT_TRUE(allclose(out.at("z"), Tensor({11.f, 22.f, 33.f, 44.f})));
  // Unaligned offsets are copied, not mapped; the values are the same.
  write_file(d.path / "m2.onnx", external_model("weights/w.bin", 68, 16));
  EXPECT_TRUE(allclose(Model::load(d.path / "m2.onnx").initializer("w"), Tensor({2.f, 3.f, 4.f, 9.f})));
}

TEST(OnnxExternalData, ListsTheFilesWithSizesAndPresence) {
  TempDir d;
  fs::create_directories(d.path / "weights");
  write_file(d.path / "weights" / "w.bin", std::string(64, '\0') + float_bytes({1, 2, 3, 4}));
  write_file(d.path / "m.onnx", external_model("weights/w.bin", 64, 16));
  auto files = Model::load(d.path / "m.onnx").external_data_files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].location, "weights/w.bin");
  EXPECT_EQ(files[0].path, d.path / "weights" / "w.bin");
  EXPECT_EQ(files[0].tensors, 1);
  EXPECT_EQ(files[0].bytes_needed, 80u);
  EXPECT_TRUE(files[0].present);
  EXPECT_EQ(files[0].size, 80u);
  // Missing, and without a length entry: the need comes from the tensor's dims (4 floats).
  write_file(d.path / "m2.onnx", external_model("gone.bin", 8, -1));
  files = Model::load(d.path / "m2.onnx").external_data_files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_FALSE(files[0].present);
  EXPECT_EQ(files[0].size, 0u);
  EXPECT_EQ(files[0].bytes_needed, 24u);
  // Inline weights: none.
  ModelBuilder b;
  b.input("x", DType::F32, {2});
  b.initializer("w", Tensor({1.f, 2.f}));
  b.node("Add", {"x", "w"}, {"z"});
  b.output("z", DType::F32, {2});
  EXPECT_TRUE(Model::from_bytes(b.bytes()).external_data_files().empty());
}

TEST(OnnxExternalData, RefusesLocationsOutsideTheModelFolder) {
  TempDir outer;
  fs::path dir = outer.path / "model";
  fs::create_directories(dir);
  write_file(outer.path / "secret.bin", float_bytes({1, 2, 3, 4}));
  write_file(dir / "ok.bin", float_bytes({1, 2, 3, 4}));

  write_file(dir / "abs.onnx", external_model((outer.path / "secret.bin").string(), 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "abs.onnx").initializer("w"), "tensor 'w'", "absolute", "secret.bin");

  write_file(dir / "dotdot.onnx", external_model("../secret.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "dotdot.onnx").initializer("w"), "tensor 'w'", "escapes", "../secret.bin");

  write_file(dir / "sneaky.onnx", external_model("sub/../../secret.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "sneaky.onnx").initializer("w"), "tensor 'w'", "escapes");

  fs::create_symlink(outer.path / "secret.bin", dir / "link.bin");
  write_file(dir / "link.onnx", external_model("link.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "link.onnx").initializer("w"), "tensor 'w'", "outside the model's folder");

  write_file(dir / "missing.onnx", external_model("nope.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "missing.onnx").initializer("w"), "tensor 'w'", "nope.bin", "does not exist");

  write_file(dir / "past_end.onnx", external_model("ok.bin", 8, 16));
  EXPECT_THROW_WITH(Model::load(dir / "past_end.onnx").initializer("w"), "tensor 'w'", "outside", "ok.bin");

  write_file(dir / "bad_len.onnx", external_model("ok.bin", 0, 12));
  EXPECT_THROW_WITH(Model::load(dir / "bad_len.onnx").initializer("w"), "tensor 'w'", "length 12");

  write_file(dir / "neg.onnx", external_model("ok.bin", -8, 16));
  EXPECT_THROW_WITH(Model::load(dir / "neg.onnx").initializer("w"), "tensor 'w'", "offset -8");

  // Tracing reports the same error, naming the model.
  EXPECT_THROW_WITH(testing::run_model(Model::load(dir / "dotdot.onnx"), {{"x", Tensor({1.f, 2.f, 3.f, 4.f})}}),
                    "dotdot.onnx", "escapes");
  // From memory with no folder, external data cannot be resolved.
  EXPECT_THROW_WITH(Model::from_bytes(external_model("ok.bin", 0, 16)).initializer("w"), "tensor 'w'", "folder");
}

// The opt-in for symlinked external data (a folder of links to weights kept elsewhere, which ONNX Runtime
// runs): links may then point anywhere, but locations that name a path outside the folder stay refused.
TEST(OnnxExternalData, SymlinksAnywhereOnlyWhenAllowed) {
  TempDir outer;
  fs::path dir = outer.path / "model";
  fs::create_directories(dir);
  write_file(outer.path / "weights.bin", float_bytes({5, 6, 7, 8}));
  fs::create_symlink(outer.path / "weights.bin", dir / "link.bin");
  write_file(dir / "link.onnx", external_model("link.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "link.onnx").initializer("w"), "outside the model's folder",
                    "allow_external_symlinks", "--allow-external-symlinks");
  LoadOptions allow{.allow_external_symlinks = true};
  EXPECT_TRUE(allclose(Model::load(dir / "link.onnx", allow).initializer("w"), Tensor({5.f, 6.f, 7.f, 8.f})));
  write_file(dir / "abs.onnx", external_model((outer.path / "weights.bin").string(), 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "abs.onnx", allow).initializer("w"), "absolute");
  write_file(dir / "dotdot.onnx", external_model("../weights.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(dir / "dotdot.onnx", allow).initializer("w"), "escapes");
}

// In a Hugging Face cache, snapshot files are symlinks into the repo's blobs/ folder: allowed there, and
// only there.
TEST(OnnxExternalData, FollowsHubCacheSymlinksIntoBlobsOnly) {
  TempDir cache;
  fs::path repo = cache.path / "models--org--name";
  fs::path snap = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567" / "onnx";
  fs::create_directories(snap);
  fs::create_directories(repo / "blobs");
  write_file(repo / "blobs" / "aaaa", float_bytes({1, 2, 3, 4}));
  write_file(repo / "blobs" / "bbbb", external_model("model.onnx_data", 0, 16));
  fs::create_symlink(fs::path("../../../blobs/aaaa"), snap / "model.onnx_data");
  fs::create_symlink(fs::path("../../../blobs/bbbb"), snap / "model.onnx");
  Model m = Model::load(snap / "model.onnx");
  EXPECT_TRUE(allclose(m.initializer("w"), Tensor({1.f, 2.f, 3.f, 4.f})));
  // A link from the snapshot to anywhere else is still refused.
  write_file(cache.path / "secret.bin", float_bytes({1, 2, 3, 4}));
  fs::create_symlink(cache.path / "secret.bin", snap / "evil.bin");
  write_file(snap / "evil.onnx", external_model("evil.bin", 0, 16));
  EXPECT_THROW_WITH(Model::load(snap / "evil.onnx").initializer("w"), "tensor 'w'", "outside the model's folder");
}

}  // namespace
}  // namespace graft::onnx
