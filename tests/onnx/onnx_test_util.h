#pragma once
// Builds small ModelProtos in C++ for the ONNX front-end tests, and runs them.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graft/backend/backend.h"
#include "graft/graph/ops.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx::testing {

using DimSpec = std::variant<int64_t, std::string>;

inline ::onnx::TensorProto make_tensor_proto(const std::string& name, const Tensor& t) {
  ::onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape().dims()) p.add_dims(d);
  p.set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  return p;
}

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17) {
    m_.set_ir_version(8);
    m_.set_producer_name("graft-test");
    auto* o = m_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    m_.mutable_graph()->set_name("test");
  }
  void import(const std::string& domain, int64_t version) {
    auto* o = m_.add_opset_import();
    o->set_domain(domain);
    o->set_version(version);
  }

  static void fill_value_info(::onnx::ValueInfoProto* v, const std::string& name, DType dtype,
                              const std::vector<DimSpec>& dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(dtype_to_onnx(dtype));
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* dim = shape->add_dim();
      if (std::holds_alternative<int64_t>(d))
        dim->set_dim_value(std::get<int64_t>(d));
      else
        dim->set_dim_param(std::get<std::string>(d));
    }
  }
  void input(const std::string& name, DType dtype, const std::vector<DimSpec>& dims) {
    fill_value_info(m_.mutable_graph()->add_input(), name, dtype, dims);
  }
  void output(const std::string& name, DType dtype, const std::vector<DimSpec>& dims = {}) {
    fill_value_info(m_.mutable_graph()->add_output(), name, dtype, dims);
  }
  void output_untyped(const std::string& name) { m_.mutable_graph()->add_output()->set_name(name); }
  void initializer(const std::string& name, const Tensor& t) {
    *m_.mutable_graph()->add_initializer() = make_tensor_proto(name, t);
  }
  ::onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name = "",
                          const std::string& domain = "") {
    return add_node(m_.mutable_graph(), op, inputs, outputs, name, domain);
  }
  static ::onnx::NodeProto& add_node(::onnx::GraphProto* g, const std::string& op,
                                     const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                                     const std::string& name = "", const std::string& domain = "") {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(g->node_size()) : name);
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
  }
  // A Constant node producing `t`.
  void constant(const std::string& out, const Tensor& t) {
    auto& n = node("Constant", {}, {out});
    attr(n, "value", t);
  }

  static void attr(::onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(::onnx::NodeProto& n, const std::string& name, int v) { attr(n, name, int64_t(v)); }
  static void attr(::onnx::NodeProto& n, const std::string& name, double v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(float(v));
  }
  static void attr(::onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(::onnx::NodeProto& n, const std::string& name, const char* v) { attr(n, name, std::string(v)); }
  static void attr(::onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  static void attr(::onnx::NodeProto& n, const std::string& name, const std::vector<float>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOATS);
    for (auto x : v) a->add_floats(x);
  }
  static void attr(::onnx::NodeProto& n, const std::string& name, const Tensor& t) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::TENSOR);
    *a->mutable_t() = make_tensor_proto("", t);
  }
  static void attr(::onnx::NodeProto& n, const std::string& name, const ::onnx::GraphProto& g) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::GRAPH);
    *a->mutable_g() = g;
  }

  ::onnx::ModelProto& proto() { return m_; }
  std::string bytes() const {
    std::string s;
    m_.SerializeToString(&s);
    return s;
  }
  Model model(const std::filesystem::path& dir = {}) const { return Model::from_bytes(bytes(), dir, "test.onnx"); }

 private:
  ::onnx::ModelProto m_;
};

// Runs a one-shot session.
inline std::map<std::string, Tensor> run_model(const Model& m, const std::map<std::string, Tensor>& inputs) {
  InferenceSession s(m);
  return s.run(inputs);
}

// One-node models: runs `op` (of `domain`) on `inputs` (graph inputs, or initializers when `constant`; an
// empty name leaves an optional input out) with attributes set by `attrs`, at `opset`, and returns its
// outputs.
namespace ops {
using Attrs = std::function<void(::onnx::NodeProto&)>;

struct In {
  std::string name;
  Tensor value;
  bool constant = false;  // an initializer (known while tracing) rather than a graph input
};

inline std::vector<Tensor> run_op(const std::string& op, const std::vector<In>& inputs, Attrs attrs = {},
                                  int64_t opset = 17, int num_outputs = 1, const std::string& domain = "") {
  ModelBuilder b(opset);
  if (!domain.empty()) b.import(domain, 1);
  std::map<std::string, Tensor> feeds;
  std::vector<std::string> names;
  for (const auto& in : inputs) {
    names.push_back(in.name);
    if (in.name.empty()) continue;
    if (in.constant) {
      b.initializer(in.name, in.value);
    } else {
      std::vector<DimSpec> dims(in.value.shape().dims().begin(), in.value.shape().dims().end());
      b.input(in.name, in.value.dtype(), dims);
      feeds[in.name] = in.value;
    }
  }
  std::vector<std::string> outs;
  for (int i = 0; i < num_outputs; ++i) {
    outs.push_back("out" + std::to_string(i));
    b.output_untyped(outs.back());
  }
  auto& n = b.node(op, names, outs, "node_under_test", domain);
  if (attrs) attrs(n);
  auto res = run_model(b.model(), feeds);
  std::vector<Tensor> v;
  for (const auto& o : outs) v.push_back(res.at(o));
  return v;
}

inline Tensor run1(const std::string& op, const std::vector<In>& inputs, Attrs attrs = {}, int64_t opset = 17) {
  return run_op(op, inputs, std::move(attrs), opset)[0];
}
}  // namespace ops

inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(size_t(shape.size()));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

// A fresh temporary folder, removed at destruction.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "graft_onnx_XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

#ifdef GRAFT_SOURCE_DIR
// ONNX Runtime (onnxruntime-node in bench/ort/node_modules) as a reference; absent: tests skip with a note.
inline bool ort_available() {
  static int state = -1;
  if (state < 0) {
    std::filesystem::path dir = std::filesystem::path(GRAFT_SOURCE_DIR) / "bench" / "ort";
    state = std::filesystem::exists(dir / "node_modules" / "onnxruntime-node") &&
            std::system("node --version > /dev/null 2>&1") == 0;
    if (!state)
      std::printf("[ note ] ONNX Runtime comparisons skipped: node or bench/ort/node_modules/onnxruntime-node missing\n");
  }
  return state == 1;
}

// `model` under ONNX Runtime (bench/ort/run_npy.js) on .npy inputs written to the empty folder `work`;
// its outputs by name.
inline std::map<std::string, Tensor> run_ort(const std::filesystem::path& model,
                                             const std::map<std::string, Tensor>& inputs,
                                             const std::filesystem::path& work) {
  std::string cmd = "node '" + (std::filesystem::path(GRAFT_SOURCE_DIR) / "bench" / "ort" / "run_npy.js").string() +
                    "' '" + model.string() + "' '" + work.string() + "'";
  for (const auto& [name, t] : inputs) {
    std::filesystem::path f = work / ("in_" + name + ".npy");
    write_npy(f, t);
    cmd += " '" + name + "=" + f.string() + "'";
  }
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::map<std::string, Tensor> out;
  for (const auto& e : std::filesystem::directory_iterator(work))
    if (e.path().extension() == ".npy" && e.path().filename().string().rfind("in_", 0) != 0)
      out[e.path().stem().string()] = read_npy(e.path());
  return out;
}
#endif

#define EXPECT_THROW_WITH(stmt, ...)                                                  \
  do {                                                                                \
    try {                                                                             \
      stmt;                                                                           \
      ADD_FAILURE() << "expected an exception from " #stmt;                           \
    } catch (const std::exception& e) {                                               \
      std::string msg = e.what();                                                     \
      for (const char* want : {__VA_ARGS__})                                          \
        EXPECT_NE(msg.find(want), std::string::npos) << "message lacks '" << want     \
                                                     << "': " << msg;                 \
    }                                                                                 \
  } while (0)

// A test suite over the shared all-MiniLM-L6-v2 model: materializes ../shared/models into a temporary
// folder once per suite (model_dir_), and skips with a message when ../shared is absent.
class SharedMiniLM : public ::testing::Test {
 protected:
  using path = std::filesystem::path;
  static void SetUpTestSuite() {
    path shared = GRAFT_SHARED_DIR;
    error_.clear();
    model_dir_.clear();
    if (!std::filesystem::exists(shared / "models" / "materialize.py")) return;
    dir_ = new TempDir();
    std::string cmd = "/usr/bin/python3 '" + (shared / "models" / "materialize.py").string() + "' '" +
                      dir_->path.string() + "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) {
      error_ = "materialize.py failed: " + cmd;
      return;
    }
    model_dir_ = dir_->path / "minilm_l6";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (model_dir_.empty() && error_.empty())
      GTEST_SKIP() << "shared models not found at " << GRAFT_SHARED_DIR << "/models";
    ASSERT_TRUE(error_.empty()) << error_;
  }
  static inline TempDir* dir_ = nullptr;
  static inline path model_dir_;
  static inline std::string error_;
};

}  // namespace graft::onnx::testing
