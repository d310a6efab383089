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

// Values that are never weights, whatever a regex says: BatchNormalization running statistics (state,
// which train steps update themselves), Dropout ratios, and values no node reads as data
// (onnx::Model::shape_only_values: read only by shape computations, or unused). They stay
// constants of the traced graph, so the tracer can read values that decide shapes.
std::set<std::string> fixed_values(const onnx::Model& model);

// How variables_to_context imports a model.
struct ImportOptions {
  // Weights that exporters (Paddle2ONNX, some TensorFlow converters) keep in Constant nodes: float tensors
  // of main-graph Constant nodes with at least this many elements, read as data, become trainable
  // variables too (origin = the Constant's output name), and context_to_onnx writes them back into the
  // nodes in place. 0: off (Constant nodes stay constants).
  int64_t lift_constants = 0;
};
// The `graft finetune --lift-constants` threshold when the flag has no value.
inline constexpr int64_t kDefaultLiftConstantsMinElements = 16;

// One variable per initializer of the main graph (and per lifted Constant node), named
// "<scope>/<initializer name>" with origin = the initializer name. Trainable: float initializers of
// rank >= 1 read as data. Constant (trainable = false): float scalars (epsilons, scales exporters store as
// initializers), integers, and fixed_values (BatchNormalization statistics, values only shapes depend on).
// Existing variables of the same name are kept (so a restored checkpoint wins). Returns how many were made.
int variables_to_context(const onnx::Model& model, Context& ctx, const ImportOptions& options = {});
// Chooses which imported weights train, by ECMAScript regexes (full match) over initializer names (the
// variables' origins): with `train` non-empty only float variables of rank >= 1 matching one of them train;
// then those matching a `freeze` regex do not. Variables without an origin (a new head) are left as they
// are. Returns the number of trainable imported variables. A bad regex is an Error naming it.
int select_trainable(Context& ctx, const std::vector<std::string>& train, const std::vector<std::string>& freeze = {});
// The same for variables imported from `model`, where a `train` regex never makes one of the model's
// fixed_values trainable (a BatchNormalization mean, a Reshape target stored as float): they have no
// gradient, and tracing needs their values.
int select_trainable(const onnx::Model& model, Context& ctx, const std::vector<std::string>& train,
                     const std::vector<std::string>& freeze = {});
// The TraceOptions hook that makes the model's initializers the context's variables (Parameter nodes in
// `vars`' graph); initializers without a variable stay constants.
onnx::InitializerHook variables_hook(GraphVariables& vars);
// Calls the model inside a graph with its weights bound to context variables (lifted Constant nodes too);
// its initializer hook is replaced. Values only shapes depend on (Model::shape_only_values) are traced as
// constants holding their variables' values. `options` selects training mode (Dropout masks, BatchNormalization batch statistics) and its
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
// graft/train/lora.h, merged into their weights); variables lifted from Constant nodes
// (ImportOptions::lift_constants) as the nodes' new values, written in place.
onnx::ModelWriter context_to_onnx(const onnx::Model& model, const Context& ctx);

}  // namespace graft::train
