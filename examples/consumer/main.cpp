// Checks that an installed graft works from a project of its own the way a new user writes it: one include,
// `using namespace graft;`, then graft's names unqualified or by layer (`onnx::Model`, `text::Tokenizer`)
// with no clash with the libraries graft uses inside. Computes (1 2; 3 4) x (1 1; 1 1) summed (20), exports
// a graph to ONNX, loads it back with onnx::Model::load and runs it.
#include <graft/graft.h>

#include <cstdio>
#include <filesystem>

// graft's headers show graft's own types only: none of its dependencies' headers or compile definitions
// reach a consumer.
#if defined(ONNX_NAMESPACE) || defined(ONNX_ML) || defined(UTF8PROC_EXPORTS)
#error "graft leaked libonnx's or utf8proc's compile definitions into a consumer"
#endif
#if defined(GOOGLE_PROTOBUF_VERSION) || defined(NLOHMANN_JSON_VERSION_MAJOR) || defined(CURLINC_CURL_H)
#error "a graft header included protobuf, nlohmann-json or libcurl"
#endif

using namespace graft;

int main() {
  auto f = Exec(cpu_backend(), [](Node a, Node b) { return ReduceSum(MatMul(a, b)); });
  float s = f(Tensor{{1.f, 2.f}, {3.f, 4.f}}, Tensor{{1.f, 1.f}, {1.f, 1.f}}).item<float>();
  std::printf("consumer: sum = %g\n", s);

  // Graph -> ONNX file -> onnx::Model -> InferenceSession.
  Graph g("double_plus_one");
  Node x = g.parameter("x", DType::F32, {2});
  g.set_outputs({x * 2.0 + 1.0});
  std::filesystem::path file = std::filesystem::temp_directory_path() / "graft_consumer_model.onnx";
  onnx::save_graph(g, file, {.output_names = {"y"}});
  onnx::InferenceSession session(onnx::Model::load(file));
  Tensor y = session.run({{"x", Tensor::from_vector<float>({1.f, 2.f})}}).at("y");
  std::filesystem::remove(file);
  std::printf("consumer: onnx round trip = [%g, %g]\n", y.to_vector<float>()[0], y.to_vector<float>()[1]);
  return s == 20.f && y.to_vector<float>() == std::vector<float>{3.f, 5.f} ? 0 : 1;
}
