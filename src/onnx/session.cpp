// InferenceSession: trace + compile per input signature, cached in a bounded LRU.
#include "graft/onnx/session.h"

#include <chrono>
#include <cmath>
#include <set>
#include <sstream>

#include "onnx/model_impl.h"

namespace graft::onnx {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

InferenceSession::InferenceSession(Model model, SessionOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  if (!options_.backend) options_.backend = cpu_backend();
  if (options_.cache_capacity == 0) options_.cache_capacity = 1;
}

void InferenceSession::check_inputs(const std::map<std::string, Tensor>& inputs) const {
  std::set<std::string> declared;
  std::vector<std::string> missing;
  for (const auto& in : model_.inputs()) {
    declared.insert(in.name);
    if (!inputs.count(in.name)) missing.push_back("'" + in.name + "' (" + in.str().substr(in.name.size() + 2) + ")");
  }
  for (const auto& [name, t] : inputs) {
    bool is_init_input = false;
    for (const auto& vi : model_.proto().graph().input())
      if (vi.name() == name) is_init_input = true;
    if (!declared.count(name) && !is_init_input) {
      std::string list;
      for (const auto& in : model_.inputs()) list += "\n  " + in.str();
      fail(model_.source(), ": the model has no input named '", name, "'; its inputs are:", list);
    }
    GRAFT_CHECK(t.defined(), model_.source(), ": input '", name, "' is an undefined tensor");
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    fail(model_.source(), ": missing ", missing.size(), " input(s):", list);
  }
}

std::string InferenceSession::signature(const std::map<std::string, Tensor>& inputs,
                                        const std::vector<std::string>& outputs) const {
  std::ostringstream key;
  for (const auto& [name, t] : inputs) key << name << ':' << dtype_name(t.dtype()) << t.shape() << ';';
  key << "->";
  for (const auto& o : outputs) key << o << ';';
  return key.str();
}

InferenceSession::Entry InferenceSession::build(const std::map<std::string, Tensor>& inputs,
                                                const std::vector<std::string>& outputs, std::string key) {
  auto t0 = std::chrono::steady_clock::now();
  Graph g(model_.proto().graph().name().empty() ? "onnx" : model_.proto().graph().name());
  Entry e;
  e.key = std::move(key);
  std::map<std::string, Node> params;
  for (const auto& [name, t] : inputs) {
    params[name] = g.parameter(name, t.dtype(), t.shape());
    e.param_names.push_back(name);
  }
  // Staged: values the trace needs that are computed from the inputs (a Reshape target fed as an input,
  // NonZero's operand) are computed from this run's inputs; each becomes a guard of the entry.
  TraceOptions topts;
  topts.runtime_inputs = &inputs;
  TraceResult tr = model_.trace(g, params, outputs, topts);
  stats_.traces++;
  stats_.last_trace_ms = ms_since(t0);
  e.guards = std::move(tr.guards);
  std::vector<Node> outs;
  for (const auto& [name, node] : tr.outputs) {
    e.output_names.push_back(name);
    outs.push_back(node);
  }
  g.set_outputs(outs);
  auto t1 = std::chrono::steady_clock::now();
  e.exe = options_.backend->compile(g, options_.compile);
  stats_.compiles++;
  stats_.last_compile_ms = ms_since(t1);
  return e;
}

bool InferenceSession::guards_hold(Entry& e, const std::map<std::string, Tensor>& inputs) {
  for (const StageGuard& guard : e.guards) {
    std::vector<Tensor> args;
    for (const auto& name : guard.inputs) args.push_back(inputs.at(name));
    Tensor now = guard.exe->run(std::span<const Tensor>(args)).at(0);
    stats_.guard_runs++;
    if (now.dtype() != guard.value.dtype() || now.shape() != guard.value.shape()) return false;
    for (int64_t i = 0; i < now.size(); ++i)
      if (now.value_as_double(i) != guard.value.value_as_double(i) &&
          !(std::isnan(now.value_as_double(i)) && std::isnan(guard.value.value_as_double(i))))
        return false;
  }
  return true;
}

std::map<std::string, Tensor> InferenceSession::run(const std::map<std::string, Tensor>& inputs,
                                                     const std::vector<std::string>& output_names) {
  check_inputs(inputs);
  std::string key = signature(inputs, output_names);
  // Several entries may share a signature when their traces assumed different staged values; the first
  // whose guards hold on these inputs is used.
  auto it = lru_.begin();
  for (; it != lru_.end(); ++it)
    if (it->key == key && guards_hold(*it, inputs)) break;
  if (it != lru_.end()) {
    stats_.cache_hits++;
    lru_.splice(lru_.begin(), lru_, it);
  } else {
    lru_.push_front(build(inputs, output_names, key));
    while (lru_.size() > options_.cache_capacity) lru_.pop_back();
  }
  Entry& e = lru_.front();
  std::vector<Tensor> args;
  for (const auto& name : e.param_names) args.push_back(inputs.at(name));
  std::vector<Tensor> outs = e.exe->run(std::span<const Tensor>(args));
  last_stats_ = &e.exe->stats();
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < outs.size(); ++i) result[e.output_names[i]] = outs[i];
  return result;
}

}  // namespace graft::onnx
