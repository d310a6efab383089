#pragma once
// Helpers for backend tests: run a graph built by a lambda on host tensors, make seeded random inputs.
#include <functional>
#include <random>

#include "graft/graft.h"

namespace graft::testing {

// Builds a graph whose parameters match `inputs`, compiles it on the CPU backend and runs it.
inline std::vector<Tensor> run_graph(const std::function<std::vector<Node>(std::vector<Node>)>& build,
                                     const std::vector<Tensor>& inputs, CompileOptions options = {}) {
  Graph g("test");
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(g.parameter("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  g.set_outputs(build(params));
  auto exe = cpu_backend()->compile(g, options);
  return exe->run(std::span<const Tensor>(inputs));
}

inline Tensor run1(const std::function<Node(std::vector<Node>)>& build, const std::vector<Tensor>& inputs,
                   CompileOptions options = {}) {
  return run_graph([&](std::vector<Node> in) { return std::vector<Node>{build(in)}; }, inputs, options)[0];
}

// Multi-index <-> flat row-major index, for references written as plain loops.
using Idx = std::vector<int64_t>;

inline int64_t product(const Idx& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

inline Idx unravel(int64_t flat, const Idx& dims) {
  Idx idx(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    idx[k] = dims[k] ? flat % dims[k] : 0;
    flat = dims[k] ? flat / dims[k] : 0;
  }
  return idx;
}

inline int64_t ravel(const Idx& idx, const Idx& dims) {
  int64_t f = 0;
  for (size_t k = 0; k < dims.size(); ++k) f = f * dims[k] + idx[k];
  return f;
}

inline Tensor random_tensor(DType dtype, Shape shape, uint32_t seed, double lo = -2, double hi = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor t(DType::F64, shape);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.size(); ++i) p[i] = u(rng);
  if (is_integer(dtype)) {
    for (int64_t i = 0; i < t.size(); ++i) p[i] = std::floor(p[i]);
  }
  return t.cast(dtype);
}

}  // namespace graft::testing
