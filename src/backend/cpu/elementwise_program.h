#pragma once
// A straight-line program of floating-point element-wise ops over one output shape: what a fused chain
// of element-wise ops (or a single one) compiles to. It runs chunk by chunk: each instruction sweeps a
// small register array that stays in L1, so a chain of N ops reads its inputs and writes its outputs
// once instead of N times.
#include <memory>
#include <vector>

#include "graft/graph/graph.h"

namespace graft::cpu {

struct EwInput {
  DType dtype;                   // storage type (bool, f16, bf16, f32, f64); converted to the compute type
  std::vector<int64_t> strides;  // element strides per output axis; 0 where the input is broadcast
};

struct EwInstr {
  OpKind op;
  int dst = 0, a = -1, b = -1, c = -1;  // registers
  DType convert_to = DType::F32;        // for Convert: round the value through this type
};

struct EwOutput {
  int reg = 0;
  DType dtype;  // storage type
};

struct EwProgram {
  DType compute = DType::F32;  // F32 or F64
  std::vector<int64_t> dims;   // output shape, with compatible adjacent axes merged
  std::vector<EwInput> inputs;  // register i holds input i
  std::vector<EwInstr> code;
  std::vector<EwOutput> outputs;
  int num_regs = 0;

  // Merges adjacent axes that every input walks contiguously (or broadcasts) alike; call once built.
  void collapse_axes();
  void run(std::span<const void* const> in, std::span<void* const> out) const;
};

// Which ops and storage types a program can hold.
bool ew_program_supports_op(OpKind k);
bool ew_program_supports_dtype(DType t);
// Integer types a program may load, converting as Convert does (static_cast to the compute type), but only
// as the operand of a Convert to f32 or f64 (ew_program_converts_on_load): 8-, 16- and 32-bit integers,
// whose conversion through f64 and then f32 rounds exactly as the direct one does.
bool ew_program_loads_integer(DType t);
bool ew_program_converts_on_load(DType from, DType to);

// Strides of an input of shape `in` broadcast NumPy-style against output shape `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

}  // namespace graft::cpu
