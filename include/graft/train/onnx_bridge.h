#pragma once
// Imported ONNX models as trainable graft models: initializers <-> context variables.
#include <set>

#include "graft/context/context.h"
#include "graft/onnx/model.h"
#include "graft/onnx/writeback.h"

namespace graft::train {

// Initializers that are model state rather than weights: the running mean and variance inputs of
// BatchNormalization nodes (sub-graphs included). Training updates them from batch statistics instead of
// gradients.
std::set<std::string> state_initializers(const onnx::Model& model);

// One variable per initializer of the main graph, named "<scope>/<initializer name>" with origin = the
// initializer name. Float initializers of rank >= 1 are trainable (float scalars are constants: epsilons,
// scales), except state (state_initializers: BatchNormalization
// running statistics, which train steps update themselves) and Dropout ratios; all others are constant
// (trainable = false).
// Existing variables of the same name are kept (so a restored checkpoint wins). Returns how many were made.
int variables_to_context(const onnx::Model& model, Context& ctx);
// Chooses which imported weights train, by ECMAScript regexes (full match) over initializer names (the
// variables' origins): with `train` non-empty only float variables of rank >= 1 matching one of them train;
// then those matching a `freeze` regex do not. Variables without an origin (a new head) are left as they
// are. Returns the number of trainable imported variables. A bad regex is an Error naming it.
int select_trainable(Context& ctx, const std::vector<std::string>& train, const std::vector<std::string>& freeze = {});
// The TraceOptions hook that makes the model's initializers the context's variables (Parameter nodes in
// `vars`' graph); initializers without a variable stay constants.
onnx::InitializerHook variables_hook(GraphVariables& vars);
// Calls the model inside a graph with its weights bound to context variables; its initializer hook is
// replaced. `options` selects training mode (Dropout masks, BatchNormalization batch statistics) and its
// seed, except inside a TrainStep's graphs, where the step decides (TrainStepOptions::set_model_mode):
// training with StepGraph::seed() in step(), inference in evaluate().
// State updates of the trace (BatchNormalization running statistics in training mode) are reported as
// variable full name -> new value: to the TrainStep building the graph (which applies them), and to
// `state_updates` when given.
std::map<std::string, Node> call_with_variables(const onnx::Model& model, GraphVariables& vars,
                                                const std::map<std::string, Node>& inputs,
                                                const std::vector<std::string>& outputs = {},
                                                onnx::TraceOptions options = {},
                                                std::map<std::string, Node>* state_updates = nullptr);
// A writer holding every variable with an origin in `model` as the initializer's new value (LoRA adapters,
// graft/train/lora.h, merged into their weights).
onnx::ModelWriter context_to_onnx(const onnx::Model& model, const Context& ctx);

}  // namespace graft::train
