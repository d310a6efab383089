#pragma once
// The definitions of the built-in composites (graft/graph/composites.h), one family per file:
// activation.cpp, normalization.cpp, attention.cpp, recurrent.cpp. Each kind's decomposition into
// primitives is a function of its parameters and operands, so a composite node needs nothing but its
// typed parameters to be expanded, differentiated, exported or compiled by any backend.
#include <span>
#include <vector>

#include "graft/graph/ops.h"

namespace graft::detail {

std::vector<Node> decompose(const SoftmaxParams& p, std::span<const Node> in);
std::vector<Node> decompose(const LogSoftmaxParams& p, std::span<const Node> in);
std::vector<Node> decompose(const GeluParams& p, std::span<const Node> in);
std::vector<Node> decompose(const SiluParams& p, std::span<const Node> in);
std::vector<Node> decompose(const LayerNormParams& p, std::span<const Node> in);
std::vector<Node> decompose(const RmsNormParams& p, std::span<const Node> in);
std::vector<Node> decompose(const GroupNormParams& p, std::span<const Node> in);
std::vector<Node> decompose(const BatchNormParams& p, std::span<const Node> in);
std::vector<Node> decompose(const AttentionParams& p, std::span<const Node> in);
std::vector<Node> decompose(const RnnScanParams& p, std::span<const Node> in);

// Records a composite node with `params` over `inputs`. Its output types are those of its decomposition
// (built once in a scratch graph, so a composite can never disagree with its definition) unless `types`
// gives them (kinds whose decomposition is large to build, such as rnn_scan, compute them directly).
std::vector<Node> record_composite(CompositeParams params, std::vector<Node> inputs,
                                   CompositeAttrs::Decompose custom = {},
                                   std::optional<std::vector<ValueType>> types = std::nullopt);

// Axis helpers shared by the composite builders.
int normalize_axis(Node x, int axis, const char* what);
Axes trailing_axes(int from, int rank);
void check_floating(Node x, const char* what);
// A [C] per-channel vector reshaped to [1, C, 1, ...] to broadcast against [N, C, spatial...].
Node per_channel(Node v, int rank);

}  // namespace graft::detail
