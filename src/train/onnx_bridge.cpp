// Initializers <-> context variables.
#include "graft/train/onnx_bridge.h"

#include <set>

namespace graft::train {

int variables_to_context(const onnx::Model& model, Context& ctx) {
  int made = 0;
  for (const std::string& name : model.initializer_names()) {
    std::string vname = ctx.full_name(name.empty() || name[0] != '/' ? name : name.substr(1));
    if (ctx.has(vname)) {
      ctx.at(vname).origin = name;
      continue;
    }
    Tensor t = model.initializer(name);
    Variable& v = ctx.variable(vname, t.clone(), is_floating(t.dtype()));
    v.origin = name;
    ++made;
  }
  return made;
}

onnx::InitializerHook variables_hook(GraphVariables& vars) {
  std::map<std::string, std::string> by_origin;
  for (const Variable* v : static_cast<const Context&>(vars.context()).variables())
    if (!v->origin.empty()) by_origin[v->origin] = v->name;
  return [by_origin, vars](Graph& g, const std::string& name, const Tensor& value) mutable -> Node {
    auto it = by_origin.find(name);
    if (it == by_origin.end()) return g.constant(value);
    const Variable& v = vars.context().at(it->second);
    // Constant variables stay constants: shape computations may need their values while tracing.
    if (!v.trainable && !is_floating(v.value.dtype())) return g.constant(v.value);
    return vars(it->second);
  };
}

std::map<std::string, Node> call_with_variables(const onnx::Model& model, GraphVariables& vars,
                                                const std::map<std::string, Node>& inputs,
                                                const std::vector<std::string>& outputs,
                                                onnx::TraceOptions options) {
  options.initializer = variables_hook(vars);
  return model.call(vars.graph(), inputs, outputs, options);
}

onnx::ModelWriter context_to_onnx(const onnx::Model& model, const Context& ctx) {
  onnx::ModelWriter w(model);
  std::set<std::string> names;
  for (const std::string& n : model.initializer_names()) names.insert(n);
  for (const Variable* v : ctx.variables())
    if (!v->origin.empty() && names.count(v->origin) && is_floating(v->value.dtype()))
      w.set_initializer(v->origin, v->value);
  return w;
}

}  // namespace graft::train
