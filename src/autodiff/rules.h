#pragma once
// Internal interface between the reverse-mode driver (gradient.cpp) and the gradient rules, which live
// one file per op family. A rule sees one forward op, its operands and outputs, and the
// cotangent of each output, and returns the cotangent contribution for each operand.
#include <array>
#include <string>
#include <vector>

#include "graft/autodiff/gradient.h"
#include "graft/graph/op_table.h"
#include "graft/graph/ops.h"

namespace graft::autodiff {

struct GradContext {
  Graph& g;
  const Op& op;                 // the forward op (ops live in a deque, so this stays valid)
  int op_index = 0;
  std::vector<Node> in;         // the op's operands
  std::vector<Node> out;        // the op's outputs
  std::vector<Node> ct;         // cotangent of each output: zeros where none arrived; invalid for
                                // outputs that are not floating point
  std::vector<bool> need;       // which operands want a gradient (floating point and depending on wrt)

  template <typename A> const A& attrs() const { return std::get<A>(op.attrs); }
  // `Add #12` or `Add "encoder/add"`, for errors.
  std::string describe() const { return out.empty() ? std::string(op_name(op.kind)) : out[0].describe(); }
};

// Returns one entry per operand: the gradient contribution, or an invalid Node for none.
using RuleFn = std::vector<Node> (*)(const GradContext&);

// One rule per primitive op kind and one per composite kind (a composite without a closed-form rule
// registers the rule that differentiates its decomposition). Ops whose outputs carry no gradient (Iota,
// comparisons, ArgMinMax, ...) register a rule that returns none: that is their declaration.
using RuleTable = OpTable<RuleFn>;

// The table every rule file registers into (built once).
const RuleTable& rule_table();

// One file per op family, named as the family's builders, kernels, converters and exporters are.
void register_elementwise_rules(RuleTable& t);    // elementwise.cpp
void register_layout_rules(RuleTable& t);         // layout.cpp
void register_indexing_rules(RuleTable& t);       // indexing.cpp
void register_reduction_rules(RuleTable& t);      // reduction.cpp (Reduce, ArgMinMax, Cumulative)
void register_sort_rules(RuleTable& t);           // sort.cpp (Sort, TopK)
void register_pooling_rules(RuleTable& t);        // pooling.cpp (ReduceWindow)
void register_linalg_rules(RuleTable& t);         // linalg.cpp (DotGeneral)
void register_convolution_rules(RuleTable& t);    // convolution.cpp
void register_control_rules(RuleTable& t);        // control.cpp (If, While)
void register_activation_rules(RuleTable& t);     // activation.cpp (softmax, log_softmax, gelu, silu)
void register_normalization_rules(RuleTable& t);  // normalization.cpp
void register_composite_rules(RuleTable& t);      // composite.cpp (attention, rnn_scan, user composites)

// The rule of composites without a closed form: differentiate their decomposition (composite.cpp).
std::vector<Node> through_decomposition(const GradContext& c);

// The reverse sweep itself. With `stop_at_wrt`, cotangents do not flow past the wrt nodes into whatever
// computed them (used to differentiate one composite's decomposition in isolation); otherwise the result
// is the total derivative.
std::vector<Node> backprop(const std::vector<Node>& outputs, const std::vector<Node>& cotangents,
                           const std::vector<Node>& wrt, bool stop_at_wrt);

// ---- helpers shared by the rules (autodiff_util.cpp) ----------------------------------------------------

Node zeros_like(Node x);
Node ones_like(Node x);
// Sums `t` (a NumPy broadcast of something of shape `s`) back down to `s`.
Node sum_to_shape(Node t, const Shape& s);
// Inverse of a permutation.
Axes inverse_permutation(const Axes& perm);
// Inserts factor-1 zeros between the elements of `t` along `axis`: n -> (n-1)*factor + 1.
Node dilate(Node t, int axis, int64_t factor);
// The adjoint of Slice(x, starts, limits, strides) for x of shape `x_shape`: scatters `ct` back.
Node slice_transpose(Node ct, const Shape& x_shape, const Axes& starts, const Axes& limits, const Axes& strides);
// Pads (positive) or crops (negative) every axis of `t` with zeros.
Node pad_or_crop(Node t, const Axes& low, const Axes& high);
bool is_float(Node n);

}  // namespace graft::autodiff
