#pragma once
// Inputs for running a model from the command line (`graft run`, `graft bench`): tensors read from .npy
// files by name, and seeded random values for the inputs not given, shaped by the model's declared dims.
// Symbolic dimensions ("batch", "sequence") take their extent from the inputs given, then from --dims,
// then 1. Every value the user gave is checked here and named in errors (app::UsageError).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/onnx/model.h"

namespace graft::app {

// "NAME=FILE.npy" specs -> tensors by input name.
std::map<std::string, Tensor> read_named_inputs(const std::vector<std::string>& specs);
// "batch=2,sequence=128" specs (each may hold several, comma-separated) -> extents (at least 1) by symbol.
std::map<std::string, int64_t> parse_dims(const std::vector<std::string>& specs);

// The symbolic dimension names of the model's inputs, in order of first appearance.
std::vector<std::string> input_symbols(const onnx::Model& model);

struct CompletedInputs {
  std::map<std::string, Tensor> inputs;  // every input of the model
  std::vector<std::string> notes;        // what was generated, and how
};

// The given inputs plus seeded random values for the others, of the declared dtype and shape (floats in
// [-1, 1), masks all ones, type/position ids zeros, other integers in [0, 100)). A symbolic dimension
// takes its extent from the given inputs that have it, else from `dims`, else 1 (with a note). Given
// inputs must be inputs of the model with its dtype, rank and fixed extents, and agree with each other
// and with `dims`; `dims` may only name the model's symbols.
CompletedInputs complete_inputs(const onnx::Model& model, std::map<std::string, Tensor> given,
                                const std::map<std::string, int64_t>& dims);

}  // namespace graft::app
