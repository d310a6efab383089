#pragma once
// What the CPU backend's fusion passes (attention, matmul and convolution epilogues) share: who uses
// each op, and a copy of the graph in which some ops are replaced or dropped.
#include <functional>
#include <optional>
#include <vector>

#include "graft/graph/graph.h"

namespace graft::cpu {

// The type of the value `r` refers to.
inline const ValueType& type_of(const Graph& g, const ValueRef& r) { return g.op(r.op).outputs[size_t(r.output)]; }

// The value of a one-element constant — of dtype `only`, or of any floating-point dtype without it — or nullopt
// where `r` is not one (the fusion passes match scales, clamp bounds and zero points this way).
std::optional<double> scalar_constant(const Graph& g, const ValueRef& r, std::optional<DType> only = std::nullopt);

// Per op: how many operands read its outputs (graph outputs count twice, so they never look
// single-use and stay as they are) and the last op that reads one.
struct Uses {
  std::vector<int> count, user;
  explicit Uses(const Graph& g);
  bool single(int op) const { return count[size_t(op)] == 1; }
};

// The value an op of the source graph maps to in the rewritten one.
using Mapped = std::function<Node(const ValueRef&)>;
// For op i: its replacement outputs (built in `out`, reading source values through `mapped`), an
// empty vector to drop it (nothing may read it later), or nullopt to copy it unchanged.
using Replace = std::function<std::optional<std::vector<Node>>(int i, const Mapped& mapped, Graph& out)>;

// Copies `g` op by op in order — parameters unchanged (same names, order and types), every other op
// after asking `replace` — with the graph's outputs mapped to the copies.
Graph rewrite(const Graph& g, const Replace& replace);

// Which ops are still read once every match of a fusion pass is replaced, walking back from the graph's
// outputs: a live op that ends a match reads only what `match_reads(i)` lists (the values the fused op takes;
// nullopt where op i ends no match), any other live op all its inputs. The ops inside a match that nothing
// else reads come out dead, and the pass drops them.
using MatchReads = std::function<std::optional<std::vector<ValueRef>>(int i)>;
std::vector<bool> live_after_fusion(const Graph& g, const MatchReads& match_reads);

}  // namespace graft::cpu
