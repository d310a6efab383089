#pragma once
// Exec: turns a C++ callable that builds a graph into a function on tensors.
//
//   auto f = Exec(cpu_backend(), [](Node x, Node y) { return MatMul(x, y) + 1.0; });
//   Tensor out = f(a, b);
//
// The first call with a given input signature (dtypes + shapes) traces the callable into a Graph and
// compiles it; later calls with that signature reuse the executable. Executables live in an LRU cache
// of bounded size.
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>

#include "graft/backend/backend.h"
#include "graft/graph/ops.h"

namespace graft {

class Exec {
 public:
  using BuildFn = std::function<std::vector<Node>(Graph&, const std::vector<Node>& inputs)>;

  template <typename F>
  Exec(std::shared_ptr<Backend> backend, F fn, size_t cache_capacity = 32, CompileOptions options = {})
      : backend_(std::move(backend)), build_(adapt(std::move(fn))), capacity_(cache_capacity), options_(options) {}

  // Runs on the inputs and returns the first output.
  template <typename... Ts>
  Tensor operator()(const Ts&... inputs) {
    return call({Tensor(inputs)...}).at(0);
  }
  // Runs and returns every output.
  std::vector<Tensor> call(const std::vector<Tensor>& inputs);

  // The executable for this input signature (compiled if new).
  Executable& executable_for(const std::vector<Tensor>& inputs);
  size_t cache_size() const { return lru_.size(); }
  int num_compilations() const { return compilations_; }

 private:
  template <typename F, size_t... I>
  static std::vector<Node> invoke_n(F& fn, const std::vector<Node>& in, std::index_sequence<I...>) {
    return as_nodes(fn(in[I]...));
  }
  static std::vector<Node> as_nodes(Node n) { return {n}; }
  static std::vector<Node> as_nodes(std::vector<Node> v) { return v; }
  template <typename... N>
  static std::vector<Node> as_nodes(std::tuple<N...> t) {
    return std::apply([](auto... n) { return std::vector<Node>{Node(n)...}; }, t);
  }
  static std::vector<Node> as_nodes(std::pair<Node, Node> p) { return {p.first, p.second}; }

  template <typename F>
  static BuildFn adapt(F fn) {
    return [fn = std::move(fn)](Graph&, const std::vector<Node>& in) mutable -> std::vector<Node> {
      if constexpr (std::is_invocable_v<F&, const std::vector<Node>&>) {
        return as_nodes(fn(in));
      } else {
        std::vector<Node> out;
        bool done = dispatch(fn, in, out, std::make_index_sequence<9>{});
        GRAFT_CHECK(done, "Exec: the function does not take ", in.size(), " Node arguments");
        return out;
      }
    };
  }

  template <typename F, size_t... N>
  static bool dispatch(F& fn, const std::vector<Node>& in, std::vector<Node>& out, std::index_sequence<N...>) {
    return (try_call<N>(fn, in, out) || ...);
  }

  template <size_t N, typename F>
  static bool try_call(F& fn, const std::vector<Node>& in, std::vector<Node>& out) {
    if constexpr (invocable_n<F, std::make_index_sequence<N>>::value) {
      if (in.size() != N) return false;
      out = invoke_n(fn, in, std::make_index_sequence<N>{});
      return true;
    } else {
      return false;
    }
  }

  template <typename F, typename Seq>
  struct invocable_n;
  template <typename F, size_t... I>
  struct invocable_n<F, std::index_sequence<I...>>
      : std::is_invocable<F&, std::conditional_t<true, Node, std::integral_constant<size_t, I>>...> {};

  std::shared_ptr<Backend> backend_;
  BuildFn build_;
  size_t capacity_;
  CompileOptions options_;
  std::mutex mu_;
  std::list<std::pair<std::string, std::unique_ptr<Executable>>> lru_;  // most recent first
  std::map<std::string, decltype(lru_)::iterator> index_;
  int compilations_ = 0;
};

}  // namespace graft
