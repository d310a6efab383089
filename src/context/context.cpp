// Context: a store of named variables shared by every scope made from it.
#include "graft/context/context.h"

#include <regex>
#include <unordered_map>

namespace graft {

struct Context::Store {
  std::vector<std::unique_ptr<Variable>> order;  // creation order
  std::unordered_map<std::string, Variable*> by_name;
  std::map<std::string, HParam> hparams;
};

namespace {

std::string join_scope(const std::string& scope, const std::string& name) {
  if (!name.empty() && name[0] == '/') return name;
  return scope == "/" ? "/" + name : scope + "/" + name;
}

bool under_scope(const std::string& scope, const std::string& full) {
  if (scope == "/") return true;
  return full.size() > scope.size() && full.compare(0, scope.size(), scope) == 0 && full[scope.size()] == '/';
}

bool glob_match(const char* p, const char* s) {
  // Iterative glob with backtracking on the last '*'.
  const char* star = nullptr;
  const char* retry = nullptr;
  while (*s) {
    if (*p == '*') {
      while (*p == '*') ++p;
      star = p;
      retry = s;
    } else if (*p == '?' || *p == *s) {
      ++p;
      ++s;
    } else if (star) {
      p = star;
      s = ++retry;
    } else {
      return false;
    }
  }
  while (*p == '*') ++p;
  return *p == 0;
}

std::string hparam_str(const HParam& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) return x ? "bool true" : "bool false";
        else if constexpr (std::is_same_v<T, int64_t>) return "int " + std::to_string(x);
        else if constexpr (std::is_same_v<T, double>) return "float " + std::to_string(x);
        else return "string \"" + x + "\"";
      },
      v);
}

}  // namespace

namespace detail {
void hparam_type_error(const std::string& name, const HParam& v, const char* want) {
  fail("Context: hyper-parameter \"", name, "\" is a ", hparam_str(v), ", not a ", want);
}
}  // namespace detail

bool name_matches(const std::string& pattern, const std::string& name) {
  if (pattern.rfind("re:", 0) == 0) {
    std::regex re;
    try {
      re = std::regex(pattern.substr(3), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      fail("Context: bad regex \"", pattern.substr(3), "\": ", e.what());
    }
    return std::regex_match(name, re);
  }
  return glob_match(pattern.c_str(), name.c_str());
}

Context::Context() : store_(std::make_shared<Store>()) {}

Context Context::in(const std::string& scope) const {
  GRAFT_CHECK(!scope.empty() && scope.find('/') == std::string::npos, "Context::in: scope \"", scope,
              "\" must be a non-empty name without '/'");
  Context c = *this;
  c.scope_ = join_scope(scope_, scope);
  return c;
}

std::string Context::full_name(const std::string& name) const {
  GRAFT_CHECK(!name.empty(), "Context: empty variable name in scope ", scope_);
  return join_scope(scope_, name);
}

Variable& Context::variable(const std::string& name, const Tensor& initial, bool trainable) {
  GRAFT_CHECK(initial.defined(), "Context: variable \"", full_name(name), "\" created from an undefined tensor");
  return variable(name, initial.dtype(), initial.shape(),
                  [&](const std::string&, DType, const Shape&) { return initial; }, trainable);
}

Variable& Context::variable(const std::string& name, DType dtype, Shape shape,
                            const std::function<Tensor(const std::string&, DType, const Shape&)>& init,
                            bool trainable) {
  std::string full = full_name(name);
  auto it = store_->by_name.find(full);
  if (it != store_->by_name.end()) {
    Variable& v = *it->second;
    GRAFT_CHECK(v.value.dtype() == dtype && v.value.shape() == shape, "Context: variable \"", full, "\" exists as ",
                dtype_name(v.value.dtype()), v.value.shape(), ", requested as ", dtype_name(dtype), shape);
    return v;
  }
  Tensor value = init(full, dtype, shape);
  GRAFT_CHECK(value.dtype() == dtype && value.shape() == shape, "Context: initializer of \"", full, "\" gave ",
              dtype_name(value.dtype()), value.shape(), ", expected ", dtype_name(dtype), shape);
  auto v = std::make_unique<Variable>();
  v->name = full;
  v->value = value;
  v->trainable = trainable && is_floating(dtype);
  Variable* raw = v.get();
  store_->order.push_back(std::move(v));
  store_->by_name[full] = raw;
  return *raw;
}

bool Context::has(const std::string& name) const { return find(name) != nullptr; }

Variable* Context::find(const std::string& name) {
  auto it = store_->by_name.find(full_name(name));
  return it == store_->by_name.end() ? nullptr : it->second;
}
const Variable* Context::find(const std::string& name) const {
  return const_cast<Context*>(this)->find(name);
}

Variable& Context::at(const std::string& name) {
  Variable* v = find(name);
  if (!v) fail("Context: no variable \"", full_name(name), "\" (scope ", scope_, ", ", store_->order.size(),
               " variables in the context)");
  return *v;
}
const Variable& Context::at(const std::string& name) const { return const_cast<Context*>(this)->at(name); }

void Context::set_value(const std::string& name, const Tensor& value) {
  Variable& v = at(name);
  GRAFT_CHECK(value.dtype() == v.value.dtype() && value.shape() == v.value.shape(), "Context: set_value(\"", v.name,
              "\"): ", dtype_name(value.dtype()), value.shape(), " vs the variable's ", dtype_name(v.value.dtype()),
              v.value.shape());
  v.value = value;
}

bool Context::remove(const std::string& name) {
  std::string full = full_name(name);
  auto it = store_->by_name.find(full);
  if (it == store_->by_name.end()) return false;
  Variable* p = it->second;
  store_->by_name.erase(it);
  for (auto i = store_->order.begin(); i != store_->order.end(); ++i)
    if (i->get() == p) {
      store_->order.erase(i);
      break;
    }
  return true;
}

std::vector<Variable*> Context::match(const std::string& pattern) {
  std::string pat = pattern;
  if (pat.rfind("re:", 0) != 0 && (pat.empty() || pat[0] != '/')) pat = join_scope(scope_, pat);
  std::vector<Variable*> out;
  for (auto& v : store_->order)
    if (under_scope(scope_, v->name) && name_matches(pat, v->name)) out.push_back(v.get());
  return out;
}

int Context::freeze(const std::string& pattern) {
  int n = 0;
  for (Variable* v : match(pattern)) n += v->trainable ? 1 : 0, v->trainable = false;
  return n;
}
int Context::unfreeze(const std::string& pattern) {
  int n = 0;
  for (Variable* v : match(pattern))
    if (is_floating(v->value.dtype())) n += v->trainable ? 0 : 1, v->trainable = true;
  return n;
}

std::vector<Variable*> Context::variables() {
  std::vector<Variable*> out;
  for (auto& v : store_->order)
    if (under_scope(scope_, v->name)) out.push_back(v.get());
  return out;
}
std::vector<const Variable*> Context::variables() const {
  std::vector<const Variable*> out;
  for (auto& v : store_->order)
    if (under_scope(scope_, v->name)) out.push_back(v.get());
  return out;
}
std::vector<Variable*> Context::trainable_variables() {
  std::vector<Variable*> out;
  for (Variable* v : variables())
    if (v->trainable) out.push_back(v);
  return out;
}
size_t Context::size() const { return variables().size(); }
int64_t Context::num_elements(bool trainable_only) const {
  int64_t n = 0;
  for (const Variable* v : variables())
    if (!trainable_only || v->trainable) n += v->value.size();
  return n;
}

void Context::set_hparam(const std::string& name, HParam value) { store_->hparams[name] = std::move(value); }
bool Context::has_hparam(const std::string& name) const { return store_->hparams.count(name) > 0; }
const std::map<std::string, HParam>& Context::hparams() const { return store_->hparams; }

Context Context::clone() const {
  Context c;
  c.scope_ = scope_;
  for (auto& v : store_->order) {
    auto n = std::make_unique<Variable>(*v);
    n->value = v->value.clone();
    c.store_->by_name[n->name] = n.get();
    c.store_->order.push_back(std::move(n));
  }
  c.store_->hparams = store_->hparams;
  return c;
}

// ---- GraphVariables ------------------------------------------------------------------------------------

Node GraphVariables::operator()(const std::string& name) {
  Variable& v = ctx_.at(name);
  auto it = nodes_->find(v.name);
  if (it != nodes_->end()) return it->second;
  Node n = graph_->parameter(v.name, v.value.dtype(), v.value.shape());
  nodes_->emplace(v.name, n);
  names_->push_back(v.name);
  return n;
}

Node GraphVariables::get(const std::string& name, const Tensor& initial, bool trainable) {
  ctx_.variable(name, initial, trainable);
  return (*this)(name);
}

GraphVariables GraphVariables::in(const std::string& scope) {
  GraphVariables g = *this;  // shares the node map and order
  g.ctx_ = ctx_.in(scope);
  return g;
}

std::vector<Tensor> GraphVariables::values() const {
  std::vector<Tensor> out;
  out.reserve(names_->size());
  for (const std::string& n : *names_) out.push_back(ctx_.at(n).value);
  return out;
}

// ---- ContextExec ---------------------------------------------------------------------------------------

ContextExec::ContextExec(Context ctx, BuildFn fn, std::shared_ptr<Backend> backend, CompileOptions options)
    : ctx_(std::move(ctx)), fn_(std::move(fn)), backend_(backend ? std::move(backend) : cpu_backend()),
      options_(options) {}

std::vector<Tensor> ContextExec::call(const std::vector<Tensor>& inputs) {
  std::string key;
  for (const Tensor& t : inputs) key += std::string(dtype_name(t.dtype())) + t.shape().str() + ";";
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    Graph g("context_exec");
    std::vector<Node> params;
    for (size_t i = 0; i < inputs.size(); ++i)
      params.push_back(g.parameter("arg" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
    GraphVariables vars(ctx_, g);
    g.set_outputs(fn_(vars, params));
    Entry e{backend_->compile(g, options_), vars.names()};
    ++compilations_;
    it = cache_.emplace(key, std::move(e)).first;
  }
  std::vector<Tensor> all = inputs;
  for (const std::string& n : it->second.variable_names) all.push_back(ctx_.at(n).value);
  return it->second.exe->run(std::span<const Tensor>(all));
}

}  // namespace graft
