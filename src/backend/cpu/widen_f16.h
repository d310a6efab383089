#pragma once
// f16 models computed in f32 (CompileOptions::widen_f16).
//
// Models exported "in float16" for browsers and small devices (f16 initializers, a Cast of each f32 graph
// input to f16, f16 ops, a Cast of the results back to f32) would otherwise run every op on f16 data,
// each kernel widening its operands to f32 and rounding its result back: two extra passes over memory per
// op, and oneDNN's products fed through f32 copies. x86 CPUs have no f16 arithmetic that would pay for it
// (oneDNN's f16 needs AVX512-FP16).
//
// ONNX Runtime 1.30 on x86 does the same thing this pass does: it has no f16 kernels for these ops on the
// CPU, so it inserts a Cast to f32 before and a Cast to f16 after each of them, then removes every
// f32 -> f16 -> f32 Cast pair (its "precision-free" casts), the model's own input and output Casts
// included. What is left computes everything in f32, rounding to f16 only at graph outputs declared f16
// (checked with its optimizedModelFilePath output: bench/fp16_cnn_vs_ort.sh's notes). So graft does the
// same, and its results match ORT's within f32 rounding, not only within f16's.
//
// Every f16 value of the graph is replaced by an f32 one: f16 constants become Convert(constant, f32)
// (folded once at compile time), f16 parameters are converted on entry, each op over f16 values is rebuilt
// over their f32 counterparts (Rebuild infers the f32 types), Converts between f16 and f32 become the f32
// value itself, and graph outputs declared f16 are rounded to f16 at the end. Ops that cannot be rebuilt
// over f32 operands (control flow with f16 subgraph parameters, say) keep their f16 operands.
#include <optional>

#include "graft/graph/graph.h"

namespace graft::cpu {

// Returns the rewritten graph (nullopt when `g` has no f16 value); `*widened` counts the ops now
// computing in f32 instead of f16.
std::optional<Graph> widen_f16(const Graph& g, int* widened);

}  // namespace graft::cpu
