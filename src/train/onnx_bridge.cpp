// Initializers <-> context variables.
#include "graft/train/onnx_bridge.h"

#include "graft/train/lora.h"
#include "graft/train/train_step.h"

#include <algorithm>
#include <regex>

namespace graft::train {

namespace {
// initializer name -> full variable name, for variables imported from an initializer
std::map<std::string, std::string> variables_by_origin(const Context& ctx) {
  std::map<std::string, std::string> by_origin;
  for (const Variable* v : ctx.variables())
    if (!v->origin.empty()) by_origin[v->origin] = v->name;
  return by_origin;
}
}  // namespace

std::set<std::string> state_initializers(const onnx::Model& model) {
  std::set<std::string> names = model.inputs_of("BatchNormalization", {3, 4});
  std::set<std::string> inits;
  for (const std::string& n : model.initializer_names())
    if (names.count(n)) inits.insert(n);
  return inits;
}

std::set<std::string> fixed_values(const onnx::Model& model) {
  std::set<std::string> fixed = model.shape_only_values();
  fixed.merge(model.inputs_of("BatchNormalization", {3, 4}));  // running statistics: state
  fixed.merge(model.inputs_of("Dropout", {1}));                // ratios: settings
  return fixed;
}

int variables_to_context(const onnx::Model& model, Context& ctx, const ImportOptions& options) {
  GRAFT_CHECK(options.lift_constants >= 0, "ImportOptions::lift_constants must be >= 0, got ", options.lift_constants);
  int made = 0;
  std::set<std::string> fixed = fixed_values(model);
  auto add = [&](const std::string& name, const Tensor& t, bool weight) {
    std::string vname = ctx.full_name(name.empty() || name[0] != '/' ? name : name.substr(1));
    if (ctx.has(vname)) {
      ctx.at(vname).origin = name;
      return;
    }
    Variable& v = ctx.variable(vname, t.clone(), weight);
    v.origin = name;
    ++made;
  };
  for (const std::string& name : model.initializer_names()) {
    Tensor t = model.initializer(name);
    // Weights are float tensors of rank >= 1 read as data; float scalars are constants exporters store as
    // initializers (epsilons, scales), and stay constant.
    add(name, t, is_floating(t.dtype()) && t.rank() >= 1 && !fixed.count(name));
  }
  if (options.lift_constants > 0)
    for (const std::string& name : model.constant_node_outputs()) {
      if (fixed.count(name)) continue;  // a shape, or unused: not a weight
      Tensor t = model.constant_node_value(name);
      if (is_floating(t.dtype()) && t.rank() >= 1 && t.size() >= options.lift_constants) add(name, t, true);
    }
  return made;
}

namespace {
int select_trainable_among(Context& ctx, const std::vector<std::string>& train, const std::vector<std::string>& freeze,
                           const std::set<std::string>& fixed) {
  auto compile = [](const std::vector<std::string>& patterns) {
    std::vector<std::regex> out;
    for (const auto& p : patterns) {
      try {
        out.emplace_back(p, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        fail("'", p, "' is not a valid regular expression: ", e.what());
      }
    }
    return out;
  };
  auto train_re = compile(train), freeze_re = compile(freeze);
  auto any = [](const std::vector<std::regex>& res, const std::string& s) {
    return std::any_of(res.begin(), res.end(), [&](const std::regex& r) { return std::regex_match(s, r); });
  };
  int n = 0;
  for (Variable* v : ctx.variables()) {
    if (v->origin.empty() || !is_floating(v->value.dtype())) continue;
    if (!train_re.empty()) v->trainable = v->value.rank() >= 1 && !fixed.count(v->origin) && any(train_re, v->origin);
    if (any(freeze_re, v->origin)) v->trainable = false;
    n += v->trainable;
  }
  return n;
}
}  // namespace

int select_trainable(Context& ctx, const std::vector<std::string>& train, const std::vector<std::string>& freeze) {
  return select_trainable_among(ctx, train, freeze, {});
}

int select_trainable(const onnx::Model& model, Context& ctx, const std::vector<std::string>& train,
                     const std::vector<std::string>& freeze) {
  return select_trainable_among(ctx, train, freeze, fixed_values(model));
}

onnx::InitializerHook variables_hook(GraphVariables& vars) {
  return [by_origin = variables_by_origin(vars.context()), vars](Graph& g, const std::string& name,
                                                                 const Tensor& value) mutable -> Node {
    auto it = by_origin.find(name);
    if (it == by_origin.end()) return g.constant(value);
    const Variable& v = vars.context().at(it->second);
    // Constant variables stay constants: shape computations may need their values while tracing.
    // So do frozen scalars, which the compiler may then fold.
    if (!v.trainable && (!is_floating(v.value.dtype()) || v.value.rank() == 0)) return g.constant(v.value);
    Node w = vars(it->second);
    // LoRA (graft/train/lora.h): the weight the model computes with is W + (alpha / r) A @ B.
    if (vars.context().has(v.name + ".lora_A")) {
      Node a = vars(v.name + ".lora_A"), b = vars(v.name + ".lora_B");
      w = w + MatMul(a, b) * ScalarLike(w, lora_scale(vars.context()));
    }
    return w;
  };
}

std::map<std::string, Node> call_with_variables(const onnx::Model& model, GraphVariables& vars,
                                                const std::map<std::string, Node>& inputs,
                                                const std::vector<std::string>& outputs,
                                                onnx::TraceOptions options,
                                                std::map<std::string, Node>* state_updates) {
  StepGraph* sg = step_graph(vars.graph());
  if (sg && sg->set_model_mode()) {
    options.training = sg->training();
    if (options.training && !options.seed_node) options.seed_node = sg->seed();
  }
  std::map<std::string, std::string> by_origin = variables_by_origin(vars.context());
  // Constant nodes lifted into variables (ImportOptions::lift_constants) are traced as initializers.
  for (const std::string& c : model.constant_node_outputs())
    if (by_origin.count(c)) options.lifted_constants.insert(c);
  std::set<std::string> shape_only = model.shape_only_values();
  onnx::InitializerHook base = variables_hook(vars);
  // A state variable already updated earlier in this step graph (the model called twice) reads its
  // updated value, so the updates chain as consecutive forward passes do in PyTorch.
  options.initializer = [&](Graph& g, const std::string& name, const Tensor& value) -> Node {
    auto it = by_origin.find(name);
    if (sg && it != by_origin.end())
      if (auto pending = sg->pending_update(it->second)) return *pending;
    // Only shapes depend on it: a constant, so that the tracer can read it (a float Reshape target).
    if (shape_only.count(name))
      return g.constant(it != by_origin.end() ? vars.context().value(it->second) : value);
    return base(g, name, value);
  };
  onnx::TraceResult r = model.trace(vars.graph(), inputs, outputs, options);
  for (const auto& [init, node] : r.state_updates) {
    auto it = by_origin.find(init);
    if (it == by_origin.end()) continue;  // a constant: nothing to write back
    if (sg) sg->update_state(it->second, node);
    if (state_updates) (*state_updates)[it->second] = node;
  }
  return r.outputs;
}

onnx::ModelWriter context_to_onnx(const onnx::Model& model, const Context& ctx) {
  onnx::ModelWriter w(model);
  std::set<std::string> names, constants;
  for (const std::string& n : model.initializer_names()) names.insert(n);
  for (const std::string& n : model.constant_node_outputs()) constants.insert(n);
  for (const Variable* v : ctx.variables()) {
    if (v->origin.empty() || !is_floating(v->value.dtype())) continue;
    if (names.count(v->origin)) w.set_initializer(v->origin, lora_merged(ctx, *v));  // adapters merged, if any
    else if (constants.count(v->origin)) w.set_constant(v->origin, lora_merged(ctx, *v));
  }
  return w;
}

}  // namespace graft::train
