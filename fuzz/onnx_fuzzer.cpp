// ONNX model bytes -> Model::from_bytes -> what `graft info` shows -> InferenceSession: trace with small
// concrete input shapes (fixed axes as declared, symbolic ones 2), compile with the CPU backend, run twice
// with different values (the second run goes through the compile cache and its guards).
#include "fuzz_util.h"
#include "graft/backend/backend.h"
#include "graft/core/limits.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"

namespace {

using graft::DType;
using graft::Tensor;

constexpr int64_t kMaxInputElements = 1 << 12;  // larger declared inputs are not run (slow, not deeper)

Tensor make_input(DType dtype, const graft::Shape& shape, graft::fuzz::Rng& rng) {
  std::vector<double> v(size_t(shape.size()));
  for (auto& x : v) {
    uint64_t r = rng.next();
    if (graft::is_floating(dtype))
      x = double(int64_t(r % 4001) - 2000) / 1000.0;  // [-2, 2]
    else if (dtype == DType::Bool)
      x = double(r & 1);
    else
      x = double(r % 4);  // small: valid as indices, axes, counts of most models
  }
  return Tensor::from_vector(v, shape).cast(dtype);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  graft::set_num_threads(1);
  graft::set_memory_limit(size_t(256) << 20);  // tensors beyond this must be refused, not allocated
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<graft::onnx::Model> model;
  try {
    model.emplace(graft::onnx::Model::from_bytes(graft::fuzz::as_view(data, size), {}, "fuzz.onnx"));
  } catch (const graft::Error&) {
    return 0;
  }
  // What `graft info` prints.
  try {
    (void)model->op_histogram();
    (void)model->unsupported_ops();
    (void)model->parameter_count();
    (void)model->metadata();
    for (const auto& in : model->inputs()) (void)in.str();
    for (const auto& out : model->outputs()) (void)out.str();
  } catch (const graft::Error&) {
  }
  for (const auto& name : model->initializer_names()) {
    try {
      (void)model->initializer(name);
    } catch (const graft::Error&) {
    }
  }
  // Inputs: tensors of declared dtype, fixed axes as declared, other axes 2.
  std::map<std::string, graft::onnx::IoValue> inputs[2];
  int64_t total = 0;
  for (const auto& in : model->inputs()) {
    if (in.type.rfind("optional(", 0) == 0 && !in.dtype) continue;  // left out: absent
    if (!in.dtype) return 0;  // sequences, strings, maps: not generated
    std::vector<int64_t> dims;
    if (in.dims)
      for (const auto& d : *in.dims) dims.push_back(d.is_fixed() ? d.value : 2);
    else
      dims = {2};
    for (int64_t d : dims)
      if (d > kMaxInputElements) return 0;
    graft::Shape shape;
    try {
      shape = graft::Shape(dims);
    } catch (const graft::Error&) {
      return 0;
    }
    total += shape.size();
    if (total > kMaxInputElements) return 0;
    for (int k = 0; k < 2; ++k) {
      graft::fuzz::Rng rng(uint64_t(total) * 31 + uint64_t(k));
      inputs[k][in.name] = graft::onnx::IoValue::of(make_input(*in.dtype, shape, rng));
    }
  }
  try {
    graft::onnx::InferenceSession session(*model);
    for (int k = 0; k < 2; ++k) {
      auto out = session.run_values(inputs[k]);
      for (auto& [name, v] : out) {
        if (v.kind == graft::onnx::IoValue::Kind::Tensor) (void)v.tensor.str(2);
        for (const auto& t : v.sequence) (void)t.str(2);
      }
    }
  } catch (const graft::Error&) {
  }
  return 0;
}
