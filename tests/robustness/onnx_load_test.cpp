// ONNX models from strangers: node order, structure, nesting, sizes and external data.
// Every refusal is a graft::Error naming the file and what is wrong, raised before anything large is
// allocated; graphs that are merely out of order are sorted and run.
#include <fcntl.h>
#include <unistd.h>

#include "graft/core/limits.h"
#include "onnx/model_impl.h"  // proto_of: the sorted protobuf, to inspect
#include "onnx/onnx_test_util.h"

namespace graft::onnx {
namespace {

namespace fs = std::filesystem;
using testing::ModelBuilder;
using testing::TempDir;

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

// Restores the memory limit when a test changes it.
struct MemoryLimit {
  explicit MemoryLimit(size_t bytes) { set_memory_limit(bytes); }
  ~MemoryLimit() { set_memory_limit(0); }
};

// ---- node order ------------------------------------------------------------------------------------------

// y = Relu(Cast(x)) + Cast(x), with the Cast (the first node to run) listed last, as a float16 converter
// writes it.
ModelBuilder unsorted_model() {
  ModelBuilder b;
  b.input("x", DType::F16, {2, 2});
  b.output("y", DType::F32, {2, 2});
  b.node("Relu", {"xc"}, {"r"});
  b.node("Add", {"r", "xc"}, {"y"});
  auto& cast = b.node("Cast", {"x"}, {"xc"}, "graph_input_cast");
  ModelBuilder::attr(cast, "to", int64_t(::onnx::TensorProto::FLOAT));
  return b;
}

TEST(OnnxLoad, NodesOutOfTopologicalOrderAreSorted) {
  Tensor x = f32({-1, 2, -3, 4}, {2, 2}).cast(DType::F16);
  auto out = testing::run_model(unsorted_model().model(), {{"x", x}});
  EXPECT_EQ(out.at("y").to_vector<float>(), std::vector<float>({-1, 4, -3, 8}));
}

TEST(OnnxLoad, SubgraphsAreSortedAndOrderedAfterWhatTheyRead) {
  // The If reads 'v' from the enclosing graph inside its branches only (an implicit input), and is
  // listed before the node computing 'v'; its branches are out of order too.
  ModelBuilder b;
  b.input("x", DType::F32, {2});
  b.input("c", DType::Bool, {});
  b.output("y", DType::F32, {2});
  ::onnx::GraphProto then_g, else_g;
  then_g.set_name("then");
  ModelBuilder::add_node(&then_g, "Neg", {"t1"}, {"t2"});
  ModelBuilder::add_node(&then_g, "Abs", {"v"}, {"t1"});
  ModelBuilder::fill_value_info(then_g.add_output(), "t2", DType::F32, {2});
  else_g.set_name("else");
  ModelBuilder::add_node(&else_g, "Identity", {"v"}, {"e"});
  ModelBuilder::fill_value_info(else_g.add_output(), "e", DType::F32, {2});
  auto& n = b.node("If", {"c"}, {"y"});
  ModelBuilder::attr(n, "then_branch", then_g);
  ModelBuilder::attr(n, "else_branch", else_g);
  b.node("Mul", {"x", "x"}, {"v"});
  Model m = b.model();
  auto yes = testing::run_model(m, {{"x", f32({-2, 3}, {2})}, {"c", Tensor::scalar(true)}});
  EXPECT_EQ(yes.at("y").to_vector<float>(), std::vector<float>({-4, -9}));
  auto no = testing::run_model(m, {{"x", f32({-2, 3}, {2})}, {"c", Tensor::scalar(false)}});
  EXPECT_EQ(no.at("y").to_vector<float>(), std::vector<float>({4, 9}));
  // The sorted order is what write-back serializes: the producer of 'v' now comes first.
  EXPECT_EQ(proto_of(m).graph().node(0).op_type(), "Mul");
}

TEST(OnnxLoad, CyclesAndUndefinedNamesAreRefused) {
  ModelBuilder cyc;
  cyc.input("x", DType::F32, {2});
  cyc.output("y", DType::F32, {2});
  cyc.node("Add", {"x", "b"}, {"a"}, "first");
  cyc.node("Neg", {"a"}, {"b"}, "second");
  cyc.node("Identity", {"a"}, {"y"});
  EXPECT_THROW_WITH(cyc.model(), "test.onnx", "cycle", "Add \"first\"", "Neg \"second\"");

  ModelBuilder undefined;
  undefined.input("x", DType::F32, {2});
  undefined.output("y", DType::F32, {2});
  undefined.node("Add", {"x", "nowhere"}, {"y"}, "adder");
  EXPECT_THROW_WITH(undefined.model(), "test.onnx", "Add \"adder\" reads 'nowhere'", "no graph input");

  ModelBuilder twice;
  twice.input("x", DType::F32, {2});
  twice.output("y", DType::F32, {2});
  twice.node("Neg", {"x"}, {"y"}, "one");
  twice.node("Abs", {"x"}, {"y"}, "two");
  EXPECT_THROW_WITH(twice.model(), "test.onnx", "Abs \"two\" defines 'y'", "Neg \"one\" defines too");

  ModelBuilder self;
  self.input("x", DType::F32, {2});
  self.output("y", DType::F32, {2});
  self.node("Add", {"x", "y"}, {"y"}, "loop");
  EXPECT_THROW_WITH(self.model(), "test.onnx", "reads its own output 'y'");
}

// ---- nesting ----------------------------------------------------------------------------------------------

::onnx::GraphProto nested_ifs(int depth) {
  ::onnx::GraphProto g;
  g.set_name("level" + std::to_string(depth));
  if (depth == 0) {
    ModelBuilder::add_node(&g, "Identity", {"x"}, {"o0"});
    ModelBuilder::fill_value_info(g.add_output(), "o0", DType::F32, {2});
    return g;
  }
  std::string o = "o" + std::to_string(depth);
  auto& n = ModelBuilder::add_node(&g, "If", {"c"}, {o});
  ModelBuilder::attr(n, "then_branch", nested_ifs(depth - 1));
  ModelBuilder::attr(n, "else_branch", nested_ifs(depth - 1 > 0 ? 0 : 0));
  ModelBuilder::fill_value_info(g.add_output(), o, DType::F32, {2});
  return g;
}

TEST(OnnxLoad, SubgraphNestingIsBounded) {
  auto build = [](int depth) {
    ModelBuilder b;
    b.input("x", DType::F32, {2});
    b.input("c", DType::Bool, {});
    b.output("y", DType::F32, {2});
    ::onnx::GraphProto g = nested_ifs(depth);
    *b.proto().mutable_graph()->mutable_node() = g.node();
    b.proto().mutable_graph()->mutable_node(0)->set_output(0, "y");
    return b;
  };
  // 10 levels run; more than kMaxGraphNesting are refused at load with the limit named.
  auto out = testing::run_model(build(10).model(), {{"x", f32({1, 2}, {2})}, {"c", Tensor::scalar(true)}});
  EXPECT_EQ(out.at("y").to_vector<float>(), std::vector<float>({1, 2}));
  EXPECT_THROW_WITH(build(kMaxGraphNesting + 5).model(), "test.onnx", "nested more than 64 levels");
}

TEST(OnnxLoad, RecursiveFunctionsAreRefused) {
  ModelBuilder b;
  b.import("local", 1);
  b.input("x", DType::F32, {2});
  b.output("y", DType::F32, {2});
  b.node("F", {"x"}, {"y"}, "call", "local");
  auto make = [&](const std::string& name, const std::string& calls) {
    auto* f = b.proto().add_functions();
    f->set_name(name);
    f->set_domain("local");
    f->add_input("a");
    f->add_output("b");
    auto* op = f->add_opset_import();
    op->set_domain("local");
    op->set_version(1);
    auto* n = f->add_node();
    n->set_op_type(calls);
    n->set_domain("local");
    n->add_input("a");
    n->add_output("b");
  };
  make("F", "G");
  make("G", "F");
  EXPECT_THROW_WITH(b.model(), "test.onnx", "recursive functions cannot be inlined");
}

// ---- sizes ------------------------------------------------------------------------------------------------

TEST(OnnxLoad, ShapesOverTheMemoryLimitFailWhileTracing) {
  MemoryLimit limit(size_t(64) << 20);  // 64 MiB
  // ConstantOfShape [4096, 4096, 4] float32 = 256 MiB, computed from constants while tracing.
  ModelBuilder b;
  b.input("x", DType::F32, {1});
  b.output("y", DType::F32, {});
  b.constant("shape", Tensor::from_vector(std::vector<int64_t>{4096, 4096, 4}));
  auto& c = b.node("ConstantOfShape", {"shape"}, {"big"}, "huge_fill");
  ModelBuilder::attr(c, "value", f32({1}, {1}));
  b.node("Add", {"big", "x"}, {"sum"});
  b.node("ReduceSum", {"sum"}, {"y"});
  try {
    testing::run_model(b.model(), {{"x", f32({1}, {1})}});
    FAIL() << "a 256 MiB tensor was accepted under a 64 MiB limit";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("test.onnx"), std::string::npos) << msg;
    EXPECT_NE(msg.find("268435456 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("memory limit of 67108864"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GRAFT_MEMORY_LIMIT"), std::string::npos) << msg;
  }
  // Expand and Tile whose targets come from the model grow past the limit the same way.
  ModelBuilder e;
  e.input("x", DType::F32, {1, 1});
  e.output("y", DType::F32, {});
  e.constant("to", Tensor::from_vector(std::vector<int64_t>{100000, 1000}));
  e.node("Expand", {"x", "to"}, {"wide"}, "expand_node");
  e.node("ReduceMax", {"wide"}, {"y"});
  EXPECT_THROW_WITH(testing::run_model(e.model(), {{"x", f32({1}, {1, 1})}}), "test.onnx", "Expand",
                    "400000000 bytes", "memory limit");
}

TEST(OnnxLoad, ShapeExtentsThatOverflowAreRefused) {
  // An initializer whose dims multiply past 2^63 (the product would wrap to a small number).
  ModelBuilder b;
  b.output("y", DType::F32, {});
  ::onnx::TensorProto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : {int64_t(1) << 32, int64_t(1) << 32, int64_t(16)}) t->add_dims(d);
  b.node("ReduceSum", {"w"}, {"y"});
  Model m = b.model();
  EXPECT_GE(m.parameter_count(), 0);  // saturates, never overflows
  EXPECT_THROW_WITH(m.initializer("w"), "initializer 'w'", "more than 2^56 elements");
}

// ---- external data ------------------------------------------------------------------------------------------

// A model reading initializer 'w' (float32[4]) from `location` at `offset`/`length`, written to dir/model.onnx.
fs::path external_model(const fs::path& dir, const std::string& location, std::optional<int64_t> offset = {},
                        std::optional<int64_t> length = {}) {
  ModelBuilder b;
  b.input("x", DType::F32, {4});
  b.output("y", DType::F32, {4});
  ::onnx::TensorProto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(::onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(::onnx::TensorProto::EXTERNAL);
  auto kv = [&](const std::string& k, const std::string& v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", location);
  if (offset) kv("offset", std::to_string(*offset));
  if (length) kv("length", std::to_string(*length));
  b.node("Add", {"x", "w"}, {"y"});
  fs::path p = dir / "model.onnx";
  testing::write_file(p, b.bytes());
  return p;
}

std::string floats(std::vector<float> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

TEST(OnnxExternalData, ReadsWhatIsThereAndRefusesWhatIsNot) {
  TempDir dir;
  testing::write_file(dir.path / "w.bin", std::string(8, 'x') + floats({1, 2, 3, 4}));
  Model ok = Model::load(external_model(dir.path, "w.bin", 8, 16));
  EXPECT_EQ(ok.initializer("w").to_vector<float>(), std::vector<float>({1, 2, 3, 4}));

  auto refused = [&](const std::string& location, std::optional<int64_t> offset, std::optional<int64_t> length,
                     const char* part) {
    Model m = Model::load(external_model(dir.path, location, offset, length));
    EXPECT_THROW_WITH(m.initializer("w"), "tensor 'w'", part);
  };
  refused("w.bin", 20, 16, "is outside");
  refused("w.bin", int64_t(1) << 62, 16, "is outside");
  refused("w.bin", 8, int64_t(1) << 61, "is outside");
  refused("w.bin", 0, 12, "needs 16");
  refused("w.bin", -8, 16, "not a non-negative integer");
  refused("../w.bin", 8, 16, "escapes the model's folder");
  refused("/etc/passwd", {}, {}, "absolute path");
  refused("missing.bin", {}, {}, "does not exist");
  // A symlink inside the folder pointing out of it.
  TempDir outside;
  testing::write_file(outside.path / "secret.bin", floats({9, 9, 9, 9}));
  fs::create_symlink(outside.path / "secret.bin", dir.path / "link.bin");
  refused("link.bin", {}, {}, "outside the model's folder");
}

TEST(OnnxExternalData, FileTruncatedAfterLoadingIsAnErrorNotASignal) {
  // External data used to be mapped; a file truncated while mapped killed the process with SIGBUS when
  // the weights were touched. It is read now, and a file that shrank gives an error naming it.
  TempDir dir;
  testing::write_file(dir.path / "w.bin", floats({1, 2, 3, 4}));
  Model m = Model::load(external_model(dir.path, "w.bin", 0, 16));
  ASSERT_EQ(::truncate((dir.path / "w.bin").c_str(), 4), 0);
  EXPECT_THROW_WITH(m.initializer("w"), "tensor 'w'", "w.bin");
  // Values read before the file changed stay valid (they are copies).
  TempDir dir2;
  testing::write_file(dir2.path / "w.bin", floats({1, 2, 3, 4}));
  Model m2 = Model::load(external_model(dir2.path, "w.bin", 0, 16));
  Tensor w = m2.initializer("w");
  ASSERT_EQ(::truncate((dir2.path / "w.bin").c_str(), 0), 0);
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>({1, 2, 3, 4}));
  auto out = testing::run_model(m2, {{"x", f32({1, 1, 1, 1}, {4})}});
  EXPECT_EQ(out.at("y").to_vector<float>(), std::vector<float>({2, 3, 4, 5}));
}

}  // namespace
}  // namespace graft::onnx
