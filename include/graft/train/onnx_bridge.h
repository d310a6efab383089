#pragma once
// Imported ONNX models as trainable graft models: initializers <-> context variables.
#include "graft/context/context.h"
#include "graft/onnx/model.h"
#include "graft/onnx/writeback.h"

namespace graft::train {

// One variable per initializer of the main graph, named "<scope>/<initializer name>" with origin = the
// initializer name; float initializers are trainable, all others constant (trainable = false).
// Existing variables of the same name are kept (so a restored checkpoint wins). Returns how many were made.
int variables_to_context(const onnx::Model& model, Context& ctx);
// The TraceOptions hook that makes the model's initializers the context's variables (Parameter nodes in
// `vars`' graph); initializers without a variable stay constants.
onnx::InitializerHook variables_hook(GraphVariables& vars);
// Calls the model inside a graph with its weights bound to context variables. `options` selects training
// mode (Dropout masks, BatchNormalization batch statistics) and its seed; its initializer hook is replaced.
std::map<std::string, Node> call_with_variables(const onnx::Model& model, GraphVariables& vars,
                                                const std::map<std::string, Node>& inputs,
                                                const std::vector<std::string>& outputs = {},
                                                onnx::TraceOptions options = {});
// A writer holding every variable with an origin in `model` as the initializer's new value.
onnx::ModelWriter context_to_onnx(const onnx::Model& model, const Context& ctx);

}  // namespace graft::train
