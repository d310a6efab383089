// Imported model -> context variables -> modify -> write back -> reload: same outputs; untouched bytes kept.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "graft/onnx/session.h"
#include "graft/train/onnx_bridge.h"

using graft::Context; using graft::ContextExec; using graft::GraphVariables; using graft::Node; using graft::Tensor; using graft::Error;
namespace train = graft::train;
namespace gonnx = graft::onnx;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
// y = x @ W + B, W [3, 2] inline, B [2] external in "w.data" at offset 8 (bytes 0..7 and 16.. are other data).
fs::path write_model(const fs::path& dir) {
  fs::create_directories(dir);
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(14);
  m.set_producer_name("graft-test");
  auto* g = m.mutable_graph();
  g->set_name("lin");
  auto* mm = g->add_node();
  mm->set_op_type("MatMul");
  mm->add_input("x"), mm->add_input("W"), mm->add_output("xw");
  auto* add = g->add_node();
  add->set_op_type("Add");
  add->add_input("xw"), add->add_input("B"), add->add_output("y");
  auto* W = g->add_initializer();
  W->set_name("W");
  W->set_data_type(::onnx::TensorProto::FLOAT);
  W->add_dims(3), W->add_dims(2);
  for (float f : {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}) W->add_float_data(f);
  auto* B = g->add_initializer();
  B->set_name("B");
  B->set_data_type(::onnx::TensorProto::FLOAT);
  B->add_dims(2);
  B->set_data_location(::onnx::TensorProto::EXTERNAL);
  auto kv = [&](const char* k, const char* v) {
    auto* e = B->add_external_data();
    e->set_key(k), e->set_value(v);
  };
  kv("location", "w.data"), kv("offset", "8"), kv("length", "8");
  std::string data = "HEADER!!";
  float b[2] = {0.5f, -0.5f};
  data.append(reinterpret_cast<char*>(b), 8);
  data += "TRAILER";
  std::ofstream(dir / "w.data", std::ios::binary) << data;
  auto vi = [](::onnx::ValueInfoProto* v, const char* n) {
    v->set_name(n);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_value(1);
    t->mutable_shape()->add_dim()->set_dim_value(std::string(n) == "x" ? 3 : 2);
  };
  vi(g->add_input(), "x");
  vi(g->add_output(), "y");
  std::string s;
  m.SerializeToString(&s);
  std::ofstream(dir / "m.onnx", std::ios::binary) << s;
  return dir / "m.onnx";
}
}  // namespace

TEST(OnnxBridge, VariablesWriteBackAndReload) {
  fs::path dir = fs::temp_directory_path() / ("graft_wb_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto model = gonnx::Model::load(write_model(dir / "in"));
  Context ctx;
  Context scoped = ctx.in("model");
  EXPECT_EQ(train::variables_to_context(model, scoped), 2);
  EXPECT_EQ(ctx.at("/model/W").origin, "W");
  EXPECT_TRUE(ctx.at("/model/B").trainable);
  // modify the weights through the context
  ctx.set_value("/model/W", Tensor({{1.f, 0.f}, {0.f, 1.f}, {1.f, 1.f}}));
  ctx.set_value("/model/B", Tensor({10.f, 20.f}));
  ContextExec run(ctx, [&](GraphVariables& vars, const std::vector<Node>& in) {
    auto out = train::call_with_variables(model, vars, {{"x", in[0]}});
    EXPECT_EQ(vars.names().size(), 2u);  // the weights are bound as variables, not constants
    return std::vector<Node>{out.at("y")};
  });
  Tensor x({{1.f, 2.f, 3.f}});
  Tensor expect = run.call({x})[0];
  EXPECT_EQ(expect.to_vector<float>(), (std::vector<float>{14.f, 25.f}));
  // write back (inline W, external B patched in a copy of w.data), reload, same outputs
  train::context_to_onnx(model, ctx).save(dir / "out" / "m.onnx");
  std::string data = slurp(dir / "out" / "w.data");
  ASSERT_EQ(data.size(), 8u + 8u + 7u);
  EXPECT_EQ(data.substr(0, 8), "HEADER!!");
  EXPECT_EQ(data.substr(16), "TRAILER");
  EXPECT_EQ(slurp(dir / "in" / "w.data").substr(8, 8), std::string(reinterpret_cast<const char*>(std::array<float, 2>{0.5f, -0.5f}.data()), 8));
  gonnx::InferenceSession s(gonnx::Model::load(dir / "out" / "m.onnx"));
  EXPECT_TRUE(graft::allclose(s.run({{"x", x}}).at("y"), expect, 0, 0));
  // inline save: no external file needed
  train::context_to_onnx(model, ctx).save(dir / "inline" / "m.onnx", {.placement = gonnx::ExternalDataOptions::Placement::Inline});
  EXPECT_FALSE(fs::exists(dir / "inline" / "w.data"));
  gonnx::InferenceSession s2(gonnx::Model::load(dir / "inline" / "m.onnx"));
  EXPECT_TRUE(graft::allclose(s2.run({{"x", x}}).at("y"), expect, 0, 0));
  // External on request: W (inline in the source) moves to "<name>.data"; B stays in its own file.
  train::context_to_onnx(model, ctx).save(dir / "ext" / "m.onnx", {.placement = gonnx::ExternalDataOptions::Placement::External,
                                                                     .min_bytes = 0});
  ASSERT_TRUE(fs::exists(dir / "ext" / "m.onnx.data"));
  EXPECT_EQ(fs::file_size(dir / "ext" / "m.onnx.data"), 24u);  // W's 6 floats
  gonnx::InferenceSession s3(gonnx::Model::load(dir / "ext" / "m.onnx"));
  EXPECT_TRUE(graft::allclose(s3.run({{"x", x}}).at("y"), expect, 0, 0));
  // Keep, but over the (here tiny) inline limit: large tensors move out by themselves.
  train::context_to_onnx(model, ctx).save(dir / "big" / "m.onnx", {.min_bytes = 16, .inline_limit = 64});
  EXPECT_TRUE(fs::exists(dir / "big" / "m.onnx.data"));
  gonnx::InferenceSession s4(gonnx::Model::load(dir / "big" / "m.onnx"));
  EXPECT_TRUE(graft::allclose(s4.run({{"x", x}}).at("y"), expect, 0, 0));
  // ONNX Runtime (npm onnxruntime-node, installed by .ci/run into bench/ort) reads the written-back
  // model and computes the same outputs.
  fs::path ort_dir = fs::path(GRAFT_SOURCE_DIR) / "bench" / "ort";
  if (fs::exists(ort_dir / "node_modules" / "onnxruntime-node") && std::system("node --version > /dev/null 2>&1") == 0) {
    for (const char* variant : {"out", "ext"}) {
      std::string cmd = "node " + (ort_dir / "run_model.js").string() + " " + (dir / variant / "m.onnx").string() +
                        " '{\"x\": {\"dims\": [1, 3], \"data\": [1, 2, 3]}}'";
      FILE* pipe = popen(cmd.c_str(), "r");
      ASSERT_NE(pipe, nullptr);
      std::string json;
      char buf[4096];
      while (size_t n = fread(buf, 1, sizeof buf, pipe)) json.append(buf, n);
      ASSERT_EQ(pclose(pipe), 0) << cmd << "\n" << json;
      // {"y":{"dims":[1,2],"data":[14,25]}}
      auto at = json.find("\"data\":[");
      ASSERT_NE(at, std::string::npos) << json;
      std::vector<float> got;
      for (size_t i = at + 8; i < json.size() && json[i] != ']';) {
        size_t used = 0;
        got.push_back(std::stof(json.substr(i), &used));
        i += used;
        if (json[i] == ',') ++i;
      }
      EXPECT_EQ(got, expect.to_vector<float>()) << "onnxruntime on " << variant;
    }
  } else {
    std::printf("[ note ] ONNX Runtime comparison skipped: run `npm install --ignore-scripts` in bench/ort\n");
  }
  // the original model is untouched
  gonnx::InferenceSession s0(gonnx::Model::load(dir / "in" / "m.onnx"));
  EXPECT_EQ(s0.run({{"x", x}}).at("y").to_vector<float>(), (std::vector<float>{22.5f, 27.5f}));
  // shape mismatch is refused
  gonnx::ModelWriter w(model);
  EXPECT_THROW(w.set_initializer("W", Tensor({1.f})), Error);
  fs::remove_all(dir);
}

// Training mode reaches imported Dropout through call_with_variables: identity in eval, a mask scaled by
// 1/(1-ratio) in training, a different mask for a different seed.
TEST(OnnxBridge, DropoutFollowsTrainingMode) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(14);
  auto* g = m.mutable_graph();
  g->set_name("drop");
  auto* d = g->add_node();
  d->set_op_type("Dropout");
  d->set_name("drop");
  d->add_input("x"), d->add_input("ratio"), d->add_output("y");
  auto* r = g->add_initializer();
  r->set_name("ratio");
  r->set_data_type(::onnx::TensorProto::FLOAT);
  r->add_float_data(0.5f);
  auto declare = [](::onnx::ValueInfoProto* v, const char* name) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_value(4096);
  };
  declare(g->add_input(), "x");
  declare(g->add_output(), "y");
  std::string bytes;
  m.SerializeToString(&bytes);
  auto model = gonnx::Model::from_bytes(bytes, {}, "drop.onnx");
  Tensor x = Tensor::full(graft::DType::F32, {4096}, 1.0);
  auto run = [&](bool training, uint64_t seed) {
    Context ctx;
    ContextExec exec(ctx, [&](GraphVariables& vars, const std::vector<Node>& in) {
      gonnx::TraceOptions o;
      o.training = training;
      o.seed = seed;
      return std::vector<Node>{train::call_with_variables(model, vars, {{"x", in[0]}}, {}, o).at("y")};
    });
    return exec.call({x})[0].to_vector<float>();
  };
  EXPECT_EQ(run(false, 1), x.to_vector<float>());
  std::vector<float> a = run(true, 1), b = run(true, 2);
  int kept = 0;
  for (float v : a) {
    EXPECT_TRUE(v == 0.f || v == 2.f) << v;
    kept += v != 0.f;
  }
  EXPECT_NEAR(kept, 2048, 5 * 32);  // binomial(4096, 0.5): sd 32
  EXPECT_NE(a, b);
  EXPECT_EQ(a, run(true, 1));
}
