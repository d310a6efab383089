#pragma once
// The CUDA backend's lowered form of a graph (private to the backend: nothing here reaches the public
// IR). After graft::optimize, element-wise ops are grouped into fusion groups, each compiled into one
// generated kernel (codegen.h); every other op stays a step of its own with a hand-written kernel.
// Reshapes (and StopGradient) are aliases: their value is their operand's buffer.
//
// Grouping is greedy in topological order: an element-wise op joins the group of one of its operands'
// producers when it has the group's output shape and every other operand is a source or computed before
// the group starts (the group runs where its first member was, so it waits on nothing later). Values
// read outside their group, or returned, are stored by the group.
#include <memory>
#include <string>
#include <vector>

#include "graft/graph/graph.h"

namespace graft::cuda {

// One element-wise op inside a group, reading registers (inputs first, then earlier instructions).
struct EwInstr {
  OpKind kind = OpKind::Add;
  DType dtype = DType::F32;          // result dtype
  DType operand_dtype = DType::F32;  // dtype of operand a (of b for Select)
  int a = -1, b = -1, c = -1;
  std::vector<int64_t> iota_strides;  // Iota: its value is sum c_k * iota_strides[k] over output coordinates
  int op_id = 0;                      // the op in the executable's graph (errors name it)
};

struct EwGroup {
  std::vector<int64_t> dims;  // the output shape every member has
  struct Input {
    DType dtype = DType::F32;
    std::vector<int64_t> strides;  // element strides per output axis; 0 where broadcast
    // A rank-0 or single-element constant is written into the source as a literal instead of read.
    bool literal = false;
    Tensor value;
  };
  std::vector<Input> inputs;  // registers 0..inputs.size()-1
  std::vector<EwInstr> code;  // register inputs.size() + k
  struct Output {
    int reg = 0;
    DType dtype = DType::F32;
  };
  std::vector<Output> outputs;

  int64_t count() const;  // output elements
  // Merges adjacent axes that every input (and iota) walks alike, dropping axes of extent 1.
  void collapse_axes();
  // True when some instruction can report an error at run time (integer division).
  bool may_fail() const;
};

struct LoweredStep {
  int op = -1;  // the op (for a group: its first member)
  std::shared_ptr<EwGroup> group;    // set for fusion groups
  std::vector<ValueRef> inputs;      // values read (a group's external inputs, literals excluded)
  std::vector<ValueRef> outputs;     // values written
  std::vector<int> members;          // ops of a group
};

struct Lowered {
  std::vector<LoweredStep> steps;
  int num_groups = 0;       // groups of more than one op
  int num_fused_ops = 0;    // ops inside those groups
};

bool is_fusible(const Op& op);
// `fuse`: false puts every element-wise op in a group of its own (CompileOptions::fuse_elementwise).
Lowered lower(const Graph& g, bool fuse);

}  // namespace graft::cuda
