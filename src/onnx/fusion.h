#pragma once
// ONNX-level pattern fusion, run on each GraphProto just before it is traced (Tracer::run_graph).
// Recognizes the primitive chains exporters emit for LayerNorm (before opset 17) and exact GELU, and
// replaces each with one node of the internal domain "graft.fused" whose converter builds graft's fused
// composite. The model's own proto is never changed: `graft info`, unsupported_ops() and write-back see
// the original ops.
#include <functional>
#include <optional>
#include <string>

#include <onnx/onnx_pb.h>

#include "graft/core/tensor.h"

namespace graft::onnx {

inline constexpr const char* kFusedDomain = "graft.fused";

// The value of a name the graph does not produce itself (an initializer or an outer-scope value), when it
// is a small constant known before tracing; nullopt otherwise.
using FusionConstantLookup = std::function<std::optional<Tensor>(const std::string&)>;

// Returns a copy of `g`'s node list (only the nodes: no initializers, inputs or outputs) with every
// recognized pattern replaced by a "graft.fused" node, or nullopt when nothing was fused.
//   LayerNorm(x, gamma, beta) {axis = -1, epsilon}:
//     ReduceMean(x, axes=[-1]) -> Sub(x, mean) -> Pow(d, 2) | Mul(d, d) -> ReduceMean -> Add(var, eps)
//     -> Sqrt -> Div(d, sqrt) -> Mul(., gamma) -> Add(., beta)
//   Gelu(x):
//     Div(x, sqrt 2) | Mul(x, 1/sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5)
//     (or with the 0.5 applied first to x or to the Erf term)
// A pattern fires only when its intermediate values have no consumer outside it (nor are graph outputs or
// read by a nested sub-graph), and its constants match within 1e-4 relative.
std::optional<::onnx::GraphProto> fuse_onnx_patterns(const ::onnx::GraphProto& g, const FusionConstantLookup& constant);

}  // namespace graft::onnx
