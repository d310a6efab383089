// The CUDA backend's lowering (fusion groups) without a GPU: which ops share a generated kernel, what a
// group stores, how axes collapse, and that a group never waits on a value computed after it starts.
#include <gtest/gtest.h>

#include <set>

#include "backend/cuda/executable.h"
#include "backend/cuda/lowering.h"
#include "graft/graph/ops.h"

using namespace graft;

namespace {
cuda::Lowered lower_optimized(const Graph& g, bool fuse = true) {
  return cuda::lower(cuda::optimize_for_cuda(g, CompileOptions{}), fuse);
}
}  // namespace

TEST(CudaLowering, AChainOfElementWiseOpsIsOneGroupStoringOnlyWhatEscapes) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {4, 8});
  Node b = g.parameter("b", DType::F32, {8});
  Node h = Tanh(x * 2.0 + b);
  Node y = Exp(h) - h;
  g.set_outputs({y});
  cuda::Lowered l = lower_optimized(g);
  ASSERT_EQ(l.steps.size(), 1u);
  const auto& s = l.steps[0];
  ASSERT_TRUE(s.group);
  EXPECT_EQ(s.members.size(), 5u);  // mul, add, tanh, exp, sub
  EXPECT_EQ(s.group->outputs.size(), 1u);
  ASSERT_EQ(s.group->inputs.size(), 3u);  // x, b, and the literal 2
  EXPECT_EQ(s.inputs.size(), 2u);        // literals are not read from memory
  int literals = 0;
  for (const auto& in : s.group->inputs) literals += in.literal;
  EXPECT_EQ(literals, 1);
  // x walks the output contiguously; b is broadcast along axis 0 (stride 0) and keeps two axes.
  EXPECT_EQ(s.group->dims, (std::vector<int64_t>{4, 8}));
}

TEST(CudaLowering, NonElementWiseOpsSplitGroupsAndValuesReadOutsideAreStored) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {4, 8});
  Node e = Exp(x);
  Node s = ReduceSum(e, {1});                   // reads e outside the group
  Node y = e / Reshape(s, {4, 1});             // a second group
  g.set_outputs({y});
  cuda::Lowered l = lower_optimized(g);
  ASSERT_EQ(l.steps.size(), 3u);
  EXPECT_TRUE(l.steps[0].group);
  EXPECT_EQ(l.steps[0].group->outputs.size(), 1u);  // e escapes
  EXPECT_FALSE(l.steps[1].group);  // the reduction
  EXPECT_TRUE(l.steps[2].group);
  (void)s;
}

TEST(CudaLowering, AnOpDoesNotJoinAGroupThatWouldWaitOnALaterValue) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {16});
  Node a = Exp(x);                        // group A starts here
  Node r = ReduceMax(x, {0}, true);       // a non-element-wise op after A starts
  Node y = a - BroadcastTo(r, {16});      // would make A wait on r: must start a group of its own
  g.set_outputs({y});
  cuda::Lowered l = lower_optimized(g);
  int groups = 0;
  for (const auto& s : l.steps) groups += s.group != nullptr;
  EXPECT_EQ(groups, 2);
  // Steps come in an order where every value is written before it is read.
  std::set<std::pair<int, int>> written;
  cuda::Lowered raw = l;
  Graph opt = cuda::optimize_for_cuda(g, {});
  for (int i = 0; i < opt.num_ops(); ++i)
    if (opt.op(i).inputs.empty()) written.insert({i, 0});
  for (const auto& s : raw.steps) {
    for (const ValueRef& r : s.inputs) {
      ValueRef v = r;
      while (opt.op(v.op).kind == OpKind::Reshape) v = opt.op(v.op).inputs[0];
      EXPECT_TRUE(written.count({v.op, v.output})) << "step of op " << s.op << " reads op " << v.op << " before it is written";
    }
    for (const ValueRef& r : s.outputs) written.insert({r.op, r.output});
  }
}

TEST(CudaLowering, WithoutFusionEveryElementWiseOpIsItsOwnKernel) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {4});
  g.set_outputs({Sqrt(Abs(x) + 1.0)});
  EXPECT_EQ(lower_optimized(g, false).steps.size(), 3u);
  EXPECT_EQ(lower_optimized(g, true).steps.size(), 1u);
}

TEST(CudaLowering, AxesCollapseWhereEveryInputWalksThemAlike) {
  cuda::EwGroup grp;
  grp.dims = {2, 3, 4, 1, 5};
  cuda::EwGroup::Input full{DType::F32, {60, 20, 5, 5, 1}};
  cuda::EwGroup::Input row{DType::F32, {0, 0, 0, 0, 1}};   // broadcast over the leading axes
  grp.inputs = {full, row};
  grp.collapse_axes();
  EXPECT_EQ(grp.dims, (std::vector<int64_t>{24, 5}));
  EXPECT_EQ(grp.inputs[0].strides, (std::vector<int64_t>{5, 1}));
  EXPECT_EQ(grp.inputs[1].strides, (std::vector<int64_t>{0, 1}));
  // An iota along axis 1 keeps that axis apart.
  cuda::EwGroup g2;
  g2.dims = {2, 3, 4};
  g2.inputs = {cuda::EwGroup::Input{DType::F32, {12, 4, 1}}};
  cuda::EwInstr iota;
  iota.kind = OpKind::Iota;
  iota.dtype = DType::I32;
  iota.iota_strides = {0, 1, 0};
  g2.code = {iota};
  g2.collapse_axes();
  EXPECT_EQ(g2.dims, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(g2.code[0].iota_strides, (std::vector<int64_t>{0, 1, 0}));
}
