// InferenceSession: trace + compile per input signature, cached in a bounded LRU.
#include "graft/onnx/session.h"

#include <chrono>
#include <cmath>
#include <set>
#include <sstream>

#include "onnx/model_impl.h"

namespace graft::onnx {

namespace {
// The executable input that carries the run counter for random ops (not a name ONNX models can use).
constexpr const char* kRunCounter = "graft.run_counter";
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// SessionOptions::threads for the duration of one run: the thread count is per calling thread (OpenMP's
// nthreads ICV), so the previous value comes back after it and other threads are not affected.
class ThreadsForRun {
 public:
  explicit ThreadsForRun(int threads) : previous_(threads > 0 ? num_threads() : 0) {
    if (threads > 0) set_num_threads(threads);
  }
  ~ThreadsForRun() {
    if (previous_ > 0) set_num_threads(previous_);
  }
  ThreadsForRun(const ThreadsForRun&) = delete;
  ThreadsForRun& operator=(const ThreadsForRun&) = delete;

 private:
  int previous_;
};
}  // namespace

InferenceSession::InferenceSession(Model model, SessionOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  if (!options_.backend) options_.backend = cpu_backend();
  if (options_.cache_capacity == 0) options_.cache_capacity = 1;
  GRAFT_CHECK(options_.threads >= 0, model_.source(), ": SessionOptions::threads is ", options_.threads,
              "; it must be 0 (the process-wide setting) or more");
  for (const auto& [op, n] : model_.op_histogram())
    if (op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" || op == "RandomUniformLike" ||
        op == "Bernoulli" || op == "Multinomial")
      random_ = true;
}

InferenceSession::FlatInputs InferenceSession::flatten(const std::map<std::string, IoValue>& inputs) const {
  std::set<std::string> declared;
  std::vector<std::string> missing;
  for (const auto& in : model_.inputs()) {
    declared.insert(in.name);
    bool optional = in.type.rfind("optional(", 0) == 0;
    if (!inputs.count(in.name) && !optional)
      missing.push_back("'" + in.name + "' (" + in.str().substr(in.name.size() + 2) + ")");
  }
  FlatInputs flat;
  for (const auto& [name, v] : inputs) {
    bool is_init_input = false;
    for (const auto& vi : proto_of(model_).graph().input())
      if (vi.name() == name) is_init_input = true;
    if (!declared.count(name) && !is_init_input) {
      std::string list;
      for (const auto& in : model_.inputs()) list += "\n  " + in.str();
      fail(model_.source(), ": the model has no input named '", name, "'; its inputs are:", list);
    }
    switch (v.kind) {
      case IoValue::Kind::Tensor:
        GRAFT_CHECK(v.tensor.defined(), model_.source(), ": input '", name, "' is an undefined tensor");
        flat.tensors[name] = v.tensor;
        break;
      case IoValue::Kind::Sequence: {
        auto& names = flat.sequences[name];
        for (size_t i = 0; i < v.sequence.size(); ++i) {
          GRAFT_CHECK(v.sequence[i].defined(), model_.source(), ": element ", i, " of input '", name,
                      "' is an undefined tensor");
          names.push_back(name + "[" + std::to_string(i) + "]");
          flat.tensors[names.back()] = v.sequence[i];
        }
        break;
      }
      case IoValue::Kind::None:
        flat.absent.push_back(name);
        break;
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    fail(model_.source(), ": missing ", missing.size(), " input(s):", list);
  }
  return flat;
}

std::string InferenceSession::signature(const FlatInputs& inputs, const std::vector<std::string>& outputs) const {
  std::ostringstream key;
  for (const auto& [name, t] : inputs.tensors) key << name << ':' << dtype_name(t.dtype()) << t.shape() << ';';
  for (const auto& [name, elems] : inputs.sequences) key << name << ":seq" << elems.size() << ';';
  for (const auto& name : inputs.absent) key << name << ":none;";
  key << "->";
  for (const auto& o : outputs) key << o << ';';
  return key.str();
}

InferenceSession::Entry InferenceSession::build(const FlatInputs& inputs, const std::vector<std::string>& outputs,
                                                std::string key) {
  auto t0 = std::chrono::steady_clock::now();
  Graph g(proto_of(model_).graph().name().empty() ? "onnx" : proto_of(model_).graph().name());
  Entry e;
  e.key = std::move(key);
  std::map<std::string, Node> params;  // graph inputs bound as tensors; sequence elements move out below
  for (const auto& [name, t] : inputs.tensors) {
    params[name] = g.parameter(name, t.dtype(), t.shape());
    e.param_names.push_back(name);
  }
  TraceOptions topts;
  topts.evaluate = options_.evaluate;
  if (random_) {
    // Unseeded random ops draw fresh values on every run: they mix in this counter (see run_values).
    topts.run_counter = g.parameter(kRunCounter, DType::U64, {});
    e.param_names.push_back(kRunCounter);
  }
  for (const auto& [name, elems] : inputs.sequences) {
    auto& nodes = topts.sequence_inputs[name];
    for (const auto& el : elems) {
      nodes.push_back(params.at(el));
      params.erase(el);
    }
  }
  topts.absent_inputs = inputs.absent;
  // Staged: values the trace needs that are computed from the inputs (a Reshape target fed as an input,
  // NonZero's operand) are computed from this run's inputs; each becomes a guard of the entry.
  topts.runtime_inputs = &inputs.tensors;
  TraceResult tr = model_.trace(g, params, outputs, topts);
  e.trace_ms = ms_since(t0);
  e.guards = std::move(tr.guards);
  if (!e.guards.empty()) {
    // One graph computing every staged value from the inputs: the ancestors of the guard nodes.
    int last = 0;
    for (const StageGuard& gd : e.guards) last = std::max(last, gd.node.op_index());
    std::vector<char> mark(size_t(last) + 1, 0);
    for (const StageGuard& gd : e.guards) mark[size_t(gd.node.op_index())] = 1;
    for (int i = last; i >= 0; --i)
      if (mark[size_t(i)])
        for (const ValueRef& r : g.op(i).inputs) mark[size_t(r.op)] = 1;
    Graph gg("guards");
    std::vector<int> map(size_t(last) + 1, -1);
    for (int i = 0; i <= last; ++i) {
      if (!mark[size_t(i)]) continue;
      const Op& op = g.op(i);
      if (op.kind == OpKind::Parameter) {
        const std::string& name = std::get<ParameterAttrs>(op.attrs).name;
        map[size_t(i)] = gg.parameter(name, op.outputs[0].dtype, op.outputs[0].shape).op_index();
        e.guard_inputs.push_back(name);
        continue;
      }
      std::vector<Node> ins;
      for (const ValueRef& r : op.inputs) ins.push_back(gg.node({map[size_t(r.op)], r.output}));
      auto outs = gg.add_op(op.kind, ins, op.attrs, op.outputs);
      map[size_t(i)] = outs.empty() ? -1 : outs[0].op_index();
    }
    std::vector<Node> roots;
    for (const StageGuard& gd : e.guards) roots.push_back(gg.node({map[size_t(gd.node.op_index())], gd.node.ref().output}));
    gg.set_outputs(roots);
    e.guard_exe = options_.backend->compile(gg, options_.compile);
    for (StageGuard& gd : e.guards) gd.node = Node();  // the traced graph goes away with this function
  }
  std::vector<Node> outs;
  std::vector<std::string> names = outputs;
  if (names.empty())
    for (const auto& o : proto_of(model_).graph().output()) names.push_back(o.name());
  for (const auto& name : names) {
    OutputSlot slot;
    slot.name = name;
    slot.first = outs.size();
    if (auto it = tr.outputs.find(name); it != tr.outputs.end()) {
      outs.push_back(it->second);
    } else if (auto sq = tr.sequence_outputs.find(name); sq != tr.sequence_outputs.end()) {
      slot.kind = IoValue::Kind::Sequence;
      outs.insert(outs.end(), sq->second.begin(), sq->second.end());
    } else {
      slot.kind = IoValue::Kind::None;
    }
    slot.count = outs.size() - slot.first;
    e.outputs.push_back(slot);
  }
  g.set_outputs(outs);
  auto t1 = std::chrono::steady_clock::now();
  e.exe = options_.backend->compile(g, options_.compile);
  e.compile_ms = ms_since(t1);
  return e;
}

bool InferenceSession::guards_hold(Entry& e, const std::map<std::string, Tensor>& inputs) {
  if (!e.guard_exe) return true;
  std::vector<Tensor> args;
  for (const auto& name : e.guard_inputs)
    args.push_back(name == kRunCounter ? Tensor::scalar(uint64_t(runs_)) : inputs.at(name));
  std::vector<Tensor> now = e.guard_exe->run(std::span<const Tensor>(args));
  stats_.guard_runs++;
  for (size_t k = 0; k < e.guards.size(); ++k) {
    const Tensor& want = e.guards[k].value;
    if (now[k].dtype() != want.dtype() || now[k].shape() != want.shape()) return false;
    for (int64_t i = 0; i < want.size(); ++i) {
      double a = now[k].value_as_double(i), b = want.value_as_double(i);
      if (a != b && !(std::isnan(a) && std::isnan(b))) return false;
    }
  }
  return true;
}

std::shared_ptr<InferenceSession::Entry> InferenceSession::lookup(const std::string& key, const FlatInputs& inputs) {
  // Several entries may share a signature when their traces assumed different staged values; the first
  // whose guards hold on these inputs is used.
  for (auto it = lru_.begin(); it != lru_.end(); ++it)
    if ((*it)->key == key && guards_hold(**it, inputs.tensors)) {
      stats_.cache_hits++;
      lru_.splice(lru_.begin(), lru_, it);
      return lru_.front();
    }
  return nullptr;
}

std::map<std::string, IoValue> InferenceSession::run_values(const std::map<std::string, IoValue>& inputs,
                                                             const std::vector<std::string>& output_names) {
  ThreadsForRun threads(options_.threads);
  FlatInputs flat = flatten(inputs);
  std::string key = signature(flat, output_names);
  std::unique_lock<std::mutex> lock(mu_);
  std::shared_ptr<Entry> entry = lookup(key, flat);
  if (!entry) {
    // Trace and compile outside mu_ (runs of other signatures go on), one build at a time: a thread that
    // waited for another's build of the same signature finds it in the cache.
    lock.unlock();
    std::lock_guard<std::mutex> building(build_mu_);
    lock.lock();
    entry = lookup(key, flat);
    if (!entry) {
      lock.unlock();
      auto built = std::make_shared<Entry>(build(flat, output_names, key));
      lock.lock();
      stats_.traces++;
      stats_.compiles++;
      stats_.last_trace_ms = built->trace_ms;
      stats_.last_compile_ms = built->compile_ms;
      lru_.push_front(built);
      while (lru_.size() > options_.cache_capacity) lru_.pop_back();
      entry = built;
    }
  }
  const Entry& e = *entry;
  const uint64_t run_number = runs_++;
  last_entry_ = entry;
  last_stats_ = &e.exe->stats();
  lock.unlock();
  std::vector<Tensor> args;
  for (const auto& name : e.param_names)
    args.push_back(name == kRunCounter ? Tensor::scalar(run_number) : flat.tensors.at(name));
  std::vector<Tensor> outs;
  try {
    outs = e.exe->run(std::span<const Tensor>(args));  // one run at a time per executable
  } catch (const Error& err) {
    std::string msg = err.what();
    if (msg.rfind(model_.source(), 0) == 0) throw;
    throw Error(model_.source() + ": " + msg);  // a kernel's run-time error, named with the model
  }
  std::map<std::string, IoValue> result;
  for (const OutputSlot& slot : e.outputs) {
    IoValue v;
    v.kind = slot.kind;
    if (slot.kind == IoValue::Kind::Tensor) v.tensor = outs[slot.first];
    if (slot.kind == IoValue::Kind::Sequence)
      v.sequence.assign(outs.begin() + std::ptrdiff_t(slot.first), outs.begin() + std::ptrdiff_t(slot.first + slot.count));
    result[slot.name] = std::move(v);
  }
  return result;
}

std::map<std::string, Tensor> InferenceSession::run(const std::map<std::string, Tensor>& inputs,
                                                     const std::vector<std::string>& output_names) {
  std::map<std::string, IoValue> in;
  for (const auto& [name, t] : inputs) in[name] = IoValue::of(t);
  std::map<std::string, Tensor> result;
  for (auto& [name, v] : run_values(in, output_names)) {
    GRAFT_CHECK(v.kind == IoValue::Kind::Tensor, model_.source(), ": output '", name, "' is ",
                v.kind == IoValue::Kind::Sequence ? "a sequence" : "an absent optional",
                "; use InferenceSession::run_values for non-tensor outputs");
    result[name] = std::move(v.tensor);
  }
  return result;
}

}  // namespace graft::onnx
