#pragma once
// Context: the named, scoped variables of a model (weights, optimizer state) and its hyper-parameters.
//
//   graft::Context ctx;
//   auto layer = ctx.in("encoder").in("layer.0");
//   layer.variable("weight", graft::Tensor::zeros(graft::DType::F32, {4, 4}));  // "/encoder/layer.0/weight"
//   ctx.freeze("/encoder/*");                  // glob over full names ("re:" prefix for a regex)
//   ctx.set_hparam("learning_rate", 1e-3);
//
// Copies of a Context (and every scope made with `in`) share one store, so a sub-scope handed to a layer
// builder sees and creates the same variables. Variables keep creation order, which is also the order
// they are bound into graphs and written to checkpoints.
//
// Binding into graphs: `GraphVariables` records, for one Graph, each variable a builder uses as a
// Parameter node; the compiled graph then takes the variables' current tensors as inputs
// (see ContextExec).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "graft/backend/backend.h"
#include "graft/core/tensor.h"
#include "graft/graph/graph.h"

namespace graft {

struct Variable {
  std::string name;      // full scoped name, "/encoder/layer.0/weight"
  Tensor value;          // the current value (replaced, not mutated, by a train step's double buffer)
  bool trainable = true;
  std::string origin;    // e.g. the ONNX initializer it was imported from ("" when none)
};

using HParam = std::variant<bool, int64_t, double, std::string>;

class Context {
 public:
  Context();

  // A sub-scope sharing this context's store: ctx.in("encoder").in("layer.0").
  Context in(const std::string& scope) const;
  const std::string& scope() const { return scope_; }  // "/" or "/encoder/layer.0"
  // The full name of `name` in this scope; names starting with "/" are already absolute.
  std::string full_name(const std::string& name) const;

  // Returns the variable, creating it with `initial` when it does not exist. Existing variables must have
  // the dtype and shape of `initial` (the error names both).
  Variable& variable(const std::string& name, const Tensor& initial, bool trainable = true);
  // Creates from an initializer function of the full name (called only on creation).
  Variable& variable(const std::string& name, DType dtype, Shape shape,
                     const std::function<Tensor(const std::string&, DType, const Shape&)>& init,
                     bool trainable = true);
  bool has(const std::string& name) const;
  Variable* find(const std::string& name);
  const Variable* find(const std::string& name) const;
  Variable& at(const std::string& name);  // throws naming the variable (and this scope) when missing
  const Variable& at(const std::string& name) const;
  Tensor value(const std::string& name) const { return at(name).value; }
  // Replaces a variable's value (same dtype and shape).
  void set_value(const std::string& name, const Tensor& value);
  bool remove(const std::string& name);

  // Variables whose full name matches `pattern`: a glob ('*' any run of characters, '?' one, "**" same
  // as '*') matched against the full name, or a regex (ECMAScript, full match) when prefixed "re:".
  // Relative globs are taken inside this scope. Returns how many changed or matched.
  int freeze(const std::string& pattern);
  int unfreeze(const std::string& pattern);
  std::vector<Variable*> match(const std::string& pattern);

  // Every variable under this scope, in creation order.
  std::vector<Variable*> variables();
  std::vector<const Variable*> variables() const;
  std::vector<Variable*> trainable_variables();
  size_t size() const;  // number of variables under this scope
  int64_t num_elements(bool trainable_only = false) const;

  // Hyper-parameters: one typed map shared by all scopes (names are not scoped).
  void set_hparam(const std::string& name, HParam value);
  bool has_hparam(const std::string& name) const;
  template <typename T> T hparam(const std::string& name) const;
  template <typename T> T hparam(const std::string& name, T fallback) const {
    return has_hparam(name) ? hparam<T>(name) : fallback;
  }
  const std::map<std::string, HParam>& hparams() const;

  // A deep copy (new store, cloned tensors): what a snapshot or an independent run starts from.
  Context clone() const;

  struct Store;

 private:
  std::shared_ptr<Store> store_;
  std::string scope_ = "/";
};

// True when `name` matches the glob or "re:" regex `pattern` (the same rules as Context::freeze).
bool name_matches(const std::string& pattern, const std::string& name);

// The variables one graph uses: each becomes a Parameter node named after the variable, in first-use
// order; values() gives the tensors to bind, in that order.
class GraphVariables {
 public:
  GraphVariables(Context ctx, Graph& graph) : ctx_(std::move(ctx)), graph_(&graph) {}
  // The node for variable `name` (relative to the context's scope), which must exist.
  Node operator()(const std::string& name);
  // The node for a variable created with `initial` when missing.
  Node get(const std::string& name, const Tensor& initial, bool trainable = true);
  // Binds a scope: a GraphVariables whose relative names resolve inside ctx.in(scope).
  GraphVariables in(const std::string& scope);
  Context& context() { return ctx_; }
  Graph& graph() { return *graph_; }
  const std::vector<std::string>& names() const { return *names_; }
  std::vector<Tensor> values() const;
  bool bound(const std::string& full_name) const { return nodes_->count(full_name) > 0; }
  Node node_of(const std::string& full_name) const { return nodes_->at(full_name); }

 private:
  Context ctx_;
  Graph* graph_;
  std::shared_ptr<std::vector<std::string>> names_ = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::map<std::string, Node>> nodes_ = std::make_shared<std::map<std::string, Node>>();
};

// An Exec that binds context variables: fn(vars, inputs) builds the graph, using vars("name") for
// variables; call(inputs) appends the variables' current tensors to the inputs. Compiled per input
// signature (variables' shapes are fixed once created).
class ContextExec {
 public:
  using BuildFn = std::function<std::vector<Node>(GraphVariables& vars, const std::vector<Node>& inputs)>;
  ContextExec(Context ctx, BuildFn fn, std::shared_ptr<Backend> backend = nullptr, CompileOptions options = {});
  std::vector<Tensor> call(const std::vector<Tensor>& inputs);
  int num_compilations() const { return compilations_; }

 private:
  struct Entry {
    std::unique_ptr<Executable> exe;
    std::vector<std::string> variable_names;
  };
  Context ctx_;
  BuildFn fn_;
  std::shared_ptr<Backend> backend_;
  CompileOptions options_;
  std::map<std::string, Entry> cache_;
  int compilations_ = 0;
};

// ---- template implementation ------------------------------------------------------------------------
namespace detail {
[[noreturn]] void hparam_type_error(const std::string& name, const HParam& v, const char* want);
}
template <typename T>
T Context::hparam(const std::string& name) const {
  const HParam& v = hparams().count(name) ? hparams().at(name) : throw Error("Context: no hyper-parameter \"" + name + "\"");
  if constexpr (std::is_same_v<T, bool>) {
    if (auto* p = std::get_if<bool>(&v)) return *p;
    detail::hparam_type_error(name, v, "bool");
  } else if constexpr (std::is_integral_v<T>) {
    if (auto* p = std::get_if<int64_t>(&v)) return T(*p);
    detail::hparam_type_error(name, v, "int");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto* p = std::get_if<double>(&v)) return T(*p);
    if (auto* p = std::get_if<int64_t>(&v)) return T(*p);
    detail::hparam_type_error(name, v, "float");
  } else {
    if (auto* p = std::get_if<std::string>(&v)) return *p;
    detail::hparam_type_error(name, v, "string");
  }
}

}  // namespace graft
