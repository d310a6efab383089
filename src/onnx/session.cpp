// InferenceSession: trace + compile per input signature, cached in a bounded LRU.
#include "graft/onnx/session.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

namespace {

// A stage boundary of a trace: a staged op (run on the host, its results inputs of the next stage) or a
// guard (a value whose contents the trace assumed), in trace order, with the stage it leads into.
struct Boundary {
  const StagedOp* op = nullptr;
  const StageGuard* guard = nullptr;
  int first_op = 0, end_op = 0;  // ops [first_op, end_op) are the staged op's results
  int level = 0;
  std::vector<Node> sources() const { return op ? op->operands : std::vector<Node>{guard->node}; }
};

std::string dtype_and_shape(const Tensor& t) {
  std::ostringstream s;
  s << dtype_name(t.dtype()) << t.shape();
  return s.str();
}

// The key of the stage a boundary crossing leads to: the dtypes and shapes of the host ops' results, and
// the guards' dtypes, shapes and bytes.
std::string crossing_key(const std::vector<std::vector<Tensor>>& results, const std::vector<Tensor>& guards) {
  std::string key;
  for (const auto& rs : results)
    for (const Tensor& t : rs) key += dtype_and_shape(t) + ";";
  for (const Tensor& t : guards) {
    key += "|" + dtype_and_shape(t) + "=";
    key.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
  return key;
}

}  // namespace

std::shared_ptr<InferenceSession::Stage> InferenceSession::build(const FlatInputs& inputs,
                                                                 const std::vector<std::string>& outputs,
                                                                 const RunValues& seen, const Stage* from,
                                                                 Entry& entry, RunValues* traced) {
  auto t0 = std::chrono::steady_clock::now();
  Graph g(proto_of(model_).graph().name().empty() ? "onnx" : proto_of(model_).graph().name());
  std::map<std::string, Node> params;  // graph inputs bound as tensors; sequence elements move out below
  std::vector<std::pair<std::string, ValueKey>> param_keys;
  for (const auto& [name, t] : inputs.tensors) {
    params[name] = g.parameter(name, t.dtype(), t.shape());
    param_keys.push_back({name, {params[name].op_index(), 0}});
  }
  TraceOptions topts;
  topts.evaluate = options_.evaluate;
  if (random_) {
    // Unseeded random ops draw fresh values on every run: they mix in this counter (see run_values).
    topts.run_counter = g.parameter(kRunCounter, DType::U64, {});
    param_keys.push_back({kRunCounter, {topts.run_counter->op_index(), 0}});
  }
  for (const auto& [name, elems] : inputs.sequences) {
    auto& nodes = topts.sequence_inputs[name];
    for (const auto& el : elems) {
      nodes.push_back(params.at(el));
      params.erase(el);
    }
  }
  topts.absent_inputs = inputs.absent;
  // Staged: values the trace needs that are computed from the inputs are computed from this run's inputs,
  // starting from the values this run has computed already (a trace for new stage shapes).
  topts.runtime_inputs = &inputs.tensors;
  std::map<int, std::vector<Tensor>> stage_values;
  for (const auto& [k, t] : seen) {
    auto& outs = stage_values[k.first];
    if (outs.size() <= size_t(k.second)) outs.resize(size_t(k.second) + 1);
    outs[size_t(k.second)] = t;
  }
  if (!stage_values.empty()) topts.stage_values = &stage_values;
  TraceResult tr = model_.trace(g, params, outputs, topts);
  const double trace_ms = ms_since(t0);
  if (!from) entry.params = param_keys;

  // Boundaries in trace order, and the stage (level) of every op: ops traced after a boundary belong to a
  // later stage than its sources, and a boundary met after ops of the current stage starts a new one, so
  // that what a stage holds was traced knowing exactly the boundaries crossed before it.
  std::vector<Boundary> bounds;
  for (const StagedOp& op : tr.staged_ops)
    bounds.push_back({&op, nullptr, op.first_op, op.first_op + int(op.results.size())});
  for (const StageGuard& gd : tr.guards) bounds.push_back({nullptr, &gd, gd.first_op, gd.first_op});
  std::sort(bounds.begin(), bounds.end(), [](const Boundary& a, const Boundary& b) {
    return (a.op ? a.op->sequence : a.guard->sequence) < (b.op ? b.op->sequence : b.guard->sequence);
  });
  const int n = g.num_ops();
  std::vector<int> level(size_t(n), 0);
  int cur = 0, cut_end = 0;
  size_t bi = 0;
  for (int i = 0; i <= n; ++i) {
    for (; bi < bounds.size() && bounds[bi].first_op <= i; ++bi) {
      Boundary& b = bounds[bi];
      int src = 0;
      for (const Node& s : b.sources()) src = std::max(src, level[size_t(s.op_index())]);
      b.level = std::max(src + 1, b.first_op > cut_end ? cur + 1 : cur);
      cur = b.level;
      cut_end = b.end_op;
    }
    if (i < n) level[size_t(i)] = cur;
  }
  const int max_level = cur;
  const int first_level = from ? from->level + 1 : 0;
  auto key_of = [](const Node& nd) { return ValueKey{nd.op_index(), nd.ref().output}; };

  // A trace for new stage shapes must number the stages before them as the cached path does.
  if (from) {
    std::vector<const Boundary*> crossing;
    for (const Boundary& b : bounds)
      if (b.level == first_level) crossing.push_back(&b);
    bool same = crossing.size() == from->host_ops.size() + from->guards.size();
    size_t h = 0, q = 0;
    for (const Boundary* b : crossing) {
      if (!same) break;
      if (b->op) {
        std::vector<ValueKey> ops, res;
        for (const Node& o : b->op->operands) ops.push_back(key_of(o));
        for (const Node& r : b->op->results) res.push_back(key_of(r));
        same = h < from->host_ops.size() && from->host_ops[h].operands == ops && from->host_ops[h].results == res;
        ++h;
      } else {
        same = q < from->guards.size() && from->guards[q].value == key_of(b->guard->node);
        ++q;
      }
    }
    GRAFT_CHECK(same, model_.source(), ": internal: tracing again for new staged shapes gave different stages");
  }

  // The graph outputs.
  std::vector<Node> outs;
  std::vector<OutputSlot> slots;
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
    slots.push_back(slot);
  }

  // Which ops are needed, and the latest stage that reads each value: a graph output is read after the
  // last stage, a boundary's source when its crossing runs.
  std::vector<char> needed(size_t(n), 0);
  std::map<ValueKey, int> read_at;
  auto read = [&](ValueKey k, int lvl) {
    needed[size_t(k.first)] = 1;
    int& r = read_at[k];
    r = std::max(r, lvl);
  };
  for (const Node& o : outs) read(key_of(o), max_level + 1);
  for (const Boundary& b : bounds)
    for (const Node& s : b.sources()) read(key_of(s), b.level);
  for (int i = n - 1; i >= 0; --i)
    if (needed[size_t(i)])
      for (const ValueRef& r : g.op(i).inputs) read({r.op, r.output}, level[size_t(i)]);

  // What stages already on this run's path give (the values `seen`) and what stages compiled here give.
  std::set<ValueKey> available;
  for (const auto& [k, t] : seen) available.insert(k);
  auto is_param = [&](int op) { return g.op(op).kind == OpKind::Parameter; };
  auto is_const = [&](int op) { return g.op(op).kind == OpKind::Constant; };

  std::shared_ptr<Stage> head;
  Stage* prev = nullptr;
  double compile_ms = 0;
  int compiled = 0;
  for (int k = first_level; k <= max_level; ++k) {
    auto st = std::make_shared<Stage>();
    st->level = k;
    // This stage's outputs: its values read by later stages (all outputs of such an op, so that a later
    // trace can start from them), and values of earlier stages that no stage on the path gave but a
    // crossing after this stage or the graph outputs need (computed again here).
    std::set<ValueKey> out_set;
    auto give = [&](ValueKey v) {
      for (int o = 0; o < int(g.op(v.first).outputs.size()); ++o) out_set.insert({v.first, o});
    };
    auto missing = [&](ValueKey v) {
      return !is_param(v.first) && !is_const(v.first) && level[size_t(v.first)] < k && !available.count(v);
    };
    for (const auto& [v, lvl] : read_at)
      if (!is_param(v.first) && !is_const(v.first) && level[size_t(v.first)] == k && lvl > k) give(v);
    for (const Boundary& b : bounds)
      if (b.level == k + 1)
        for (const Node& src : b.sources())
          if (missing(key_of(src))) give(key_of(src));
    if (k == max_level)
      for (const Node& o : outs)
        if (missing(key_of(o))) give(key_of(o));
    // The ops to compile: backwards from the outputs, through this stage's ops and values no earlier
    // stage gave; parameters and given values are the stage's inputs, constants are copied in.
    std::vector<char> take(size_t(n), 0);
    std::set<ValueKey> in_set;
    std::vector<int> stack;
    for (const ValueKey& v : out_set)
      if (!take[size_t(v.first)]) take[size_t(v.first)] = 1, stack.push_back(v.first);
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      for (const ValueRef& r : g.op(i).inputs) {
        ValueKey v{r.op, r.output};
        bool given = is_param(r.op) || (level[size_t(r.op)] < k && available.count(v));
        if (given) {
          in_set.insert(v);
        } else if (!take[size_t(r.op)]) {
          take[size_t(r.op)] = 1;
          stack.push_back(r.op);
        }
      }
    }
    if (!out_set.empty()) {
      Graph sg(g.name() + ".stage" + std::to_string(k));
      std::map<ValueKey, Node> map;
      for (const ValueKey& v : in_set) {
        const ValueType& t = g.op(v.first).outputs[size_t(v.second)];
        // Graph inputs keep their names (errors name them); values from earlier stages are named by position.
        const Op& src = g.op(v.first);
        std::string name = src.kind == OpKind::Parameter ? std::get<ParameterAttrs>(src.attrs).name
                                                         : "stage." + std::to_string(v.first) + "." + std::to_string(v.second);
        map[v] = sg.parameter(name, t.dtype, t.shape);
        st->inputs.push_back(v);
      }
      for (int i = 0; i < n; ++i) {
        if (!take[size_t(i)]) continue;
        const Op& op = g.op(i);
        std::vector<Node> ins;
        for (const ValueRef& r : op.inputs) ins.push_back(map.at({r.op, r.output}));
        sg.set_current_name(op.name);
        auto res = sg.add_op(op.kind, ins, op.attrs, op.outputs);
        for (size_t o = 0; o < res.size(); ++o) map[{i, int(o)}] = res[o];
      }
      std::vector<Node> roots;
      for (const ValueKey& v : out_set) {
        roots.push_back(map.at(v));
        st->outputs.push_back(v);
      }
      sg.set_outputs(roots);
      // A stage after new staged shapes whose outputs this trace computed already: this run takes them
      // from the trace, and a later run that reaches the stage compiles it. A detector's new image usually
      // meets new row counts that no later image repeats, so its later stages are never compiled.
      bool computed = traced != nullptr;
      for (const ValueKey& v : out_set) {
        auto m = tr.stage_values.find(v.first);
        computed = computed && m != tr.stage_values.end() && size_t(v.second) < m->second.size() &&
                   m->second[size_t(v.second)].defined();
      }
      if (computed) {
        st->pending = std::make_shared<const Graph>(std::move(sg));
      } else {
        auto t1 = std::chrono::steady_clock::now();
        st->exe = options_.backend->compile(sg, options_.compile);
        compile_ms += ms_since(t1);
        ++compiled;
      }
    }
    available.insert(out_set.begin(), out_set.end());
    // Leaving it: the boundaries of the next stage.
    for (const Boundary& b : bounds) {
      if (b.level != k + 1) continue;
      if (b.op) {
        Stage::HostOp h;
        for (const Node& o : b.op->operands) h.operands.push_back(key_of(o));
        for (const Node& r : b.op->results) h.results.push_back(key_of(r));
        h.compute = b.op->compute;
        h.what = b.op->what;
        st->host_ops.push_back(std::move(h));
      } else {
        st->guards.push_back({key_of(b.guard->node), b.guard->what});
      }
    }
    if (k == max_level) {
      st->last = true;
      st->slots = slots;
      for (size_t j = 0; j < outs.size(); ++j) {
        st->output_values.push_back(key_of(outs[j]));
        if (is_const(outs[j].op_index()))
          st->constant_outputs[j] = std::get<ConstantAttrs>(outs[j].op().attrs).value;
      }
    }
    // The key that leads into this stage: what the crossing before it gave on the traced run.
    if (k > 0) {
      std::vector<std::vector<Tensor>> results;
      std::vector<Tensor> guards;
      for (const Boundary& b : bounds) {
        if (b.level != k) continue;
        if (b.op) results.push_back(b.op->values);
        else guards.push_back(b.guard->value);
      }
      st->key = crossing_key(results, guards);
    }
    if (prev) {
      st->parent = prev;
      prev->next[st->key] = st;
    } else {
      head = st;
    }
    prev = st.get();
  }
  if (traced)
    for (const auto& [op, vs] : tr.stage_values)
      for (size_t o = 0; o < vs.size(); ++o)
        if (vs[o].defined()) (*traced)[{op, int(o)}] = vs[o];
  std::lock_guard<std::mutex> lock(mu_);
  stats_.traces++;
  stats_.compiles++;
  stats_.stage_compiles += compiled;
  stats_.last_trace_ms = trace_ms;
  stats_.last_compile_ms = compile_ms;
  return head;
}

Executable* InferenceSession::executable(Stage& stage) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stage.exe || !stage.pending) return stage.exe.get();
  }
  std::lock_guard<std::mutex> building(build_mu_);  // one compile at a time; another thread may have done it
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stage.exe) return stage.exe.get();
  }
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> exe = options_.backend->compile(*stage.pending, options_.compile);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.stage_compiles++;
  stats_.last_compile_ms = ms_since(t0);
  stage.exe = std::move(exe);
  return stage.exe.get();
}

std::shared_ptr<InferenceSession::Entry> InferenceSession::find_entry(const std::string& key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if ((*it)->key == key) {
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front();
    }
  return nullptr;
}

void InferenceSession::evict() {
  while (paths_ > options_.cache_capacity) {
    // The least recently used last stage, and its stages that no other path uses.
    Stage* victim = nullptr;
    std::vector<Stage*> todo;
    for (const auto& e : entries_) todo.push_back(e->first.get());
    while (!todo.empty()) {
      Stage* s = todo.back();
      todo.pop_back();
      if (s->last && (!victim || s->last_use < victim->last_use)) victim = s;
      for (const auto& [k, c] : s->next) todo.push_back(c.get());
    }
    if (!victim) return;
    paths_--;
    Stage* s = victim;
    while (true) {
      s->evicted = true;
      Stage* parent = s->parent;
      if (!parent) {
        entries_.remove_if([s](const std::shared_ptr<Entry>& e) { return e->first.get() == s; });
        break;
      }
      parent->next.erase(s->key);  // may free s
      if (!parent->next.empty()) break;
      s = parent;
    }
  }
}

std::map<std::string, IoValue> InferenceSession::run_values(const std::map<std::string, IoValue>& inputs,
                                                             const std::vector<std::string>& output_names) {
  ThreadsForRun threads(options_.threads);
  FlatInputs flat = flatten(inputs);
  std::string key = signature(flat, output_names);
  bool built = false;
  std::unique_lock<std::mutex> lock(mu_);
  std::shared_ptr<Entry> entry = find_entry(key);
  if (!entry) {
    // Trace and compile outside mu_ (runs of other signatures go on), one build at a time: a thread that
    // waited for another's build of the same signature finds it in the cache.
    lock.unlock();
    std::lock_guard<std::mutex> building(build_mu_);
    lock.lock();
    entry = find_entry(key);
    if (!entry) {
      lock.unlock();
      auto fresh = std::make_shared<Entry>();
      fresh->key = key;
      fresh->first = build(flat, output_names, {}, nullptr, *fresh);
      lock.lock();
      entries_.push_front(fresh);
      paths_++;
      built = true;
      entry = fresh;
    }
  }
  const uint64_t run_number = runs_++;
  RunValues values;
  for (const auto& [name, k] : entry->params)
    values[k] = name == kRunCounter ? Tensor::scalar(run_number) : flat.tensors.at(name);
  std::shared_ptr<Stage> stage = entry->first;
  stage->last_use = ++use_clock_;
  lock.unlock();

  // A value of this run by its key; a missing one is a bug in how the stages were cut, said as such.
  auto value_of = [&](const ValueKey& k, const char* role) -> const Tensor& {
    auto it = values.find(k);
    GRAFT_CHECK(it != values.end(), model_.source(), ": internal: the ", role, " value of op ", k.first, " output ",
                k.second, " was not computed by an earlier stage");
    return it->second;
  };
  std::shared_ptr<Stage> ran;  // the last stage that ran an executable
  while (true) {
    // A pending stage whose values this run's trace computed needs no executable on this run.
    bool traced = stage->pending != nullptr;
    for (const ValueKey& k : stage->outputs) traced = traced && values.count(k);
    if (Executable* exe = traced ? nullptr : executable(*stage)) {
      ran = stage;
      std::vector<Tensor> args;
      for (const ValueKey& k : stage->inputs) args.push_back(value_of(k, "stage input"));
      std::vector<Tensor> outs;
      try {
        outs = exe->run(std::span<const Tensor>(args));  // one run at a time per executable
      } catch (const Error& err) {
        std::string msg = err.what();
        if (msg.rfind(model_.source(), 0) == 0) throw;
        throw Error(model_.source() + ": " + msg);  // a kernel's run-time error, named with the model
      }
      for (size_t j = 0; j < outs.size(); ++j) values[stage->outputs[j]] = std::move(outs[j]);
    }
    if (stage->last) break;
    // Leave the stage: the host ops on this run's values, then the key of the next stage.
    std::vector<std::vector<Tensor>> results;
    std::vector<Tensor> guards;
    for (const Stage::HostOp& h : stage->host_ops) {
      // Results this run's trace computed (a new image's final NMS) are not computed again.
      bool computed = true;
      for (const ValueKey& k : h.results) computed = computed && values.count(k);
      if (computed) {
        results.emplace_back();
        for (const ValueKey& k : h.results) results.back().push_back(values.at(k));
        continue;
      }
      std::vector<Tensor> operands;
      for (const ValueKey& k : h.operands) operands.push_back(value_of(k, "host op operand"));
      results.push_back(h.compute(operands));
      GRAFT_CHECK(results.back().size() == h.results.size(), model_.source(), ": internal: ", h.what, " gave ",
                  results.back().size(), " results, expected ", h.results.size());
      for (size_t j = 0; j < h.results.size(); ++j) values[h.results[j]] = results.back()[j];
    }
    for (const Stage::Guard& gd : stage->guards) guards.push_back(value_of(gd.value, "guard"));
    std::string next_key = crossing_key(results, guards);
    lock.lock();
    stats_.stage_crossings++;
    if (!guards.empty()) stats_.guard_runs++;
    auto it = stage->next.find(next_key);
    std::shared_ptr<Stage> next = it == stage->next.end() ? nullptr : it->second;
    if (!next) {
      // New shapes or guard values: trace again from this run's values and compile the stages from here.
      lock.unlock();
      std::lock_guard<std::mutex> building(build_mu_);
      lock.lock();
      it = stage->next.find(next_key);
      if (it != stage->next.end()) {
        next = it->second;
      } else {
        if (std::getenv("GRAFT_STAGE_LOG")) {
          // Which boundary met new shapes or values (docs/performance.md, detectors).
          std::string printable;
          for (char ch : next_key) printable += (ch >= 32 && ch < 127) ? ch : '.';
          std::fprintf(stderr, "graft: stage %d of '%s': new key %s after", stage->level + 1, model_.source().c_str(),
                       printable.substr(0, 200).c_str());
          for (const auto& h : stage->host_ops) std::fprintf(stderr, " %s;", h.what.c_str());
          for (const auto& gd : stage->guards) std::fprintf(stderr, " %s;", gd.what.c_str());
          std::fprintf(stderr, "\n");
        }
        lock.unlock();
        RunValues traced_values;
        std::shared_ptr<Stage> chain = build(flat, output_names, values, stage.get(), *entry, &traced_values);
        values.merge(traced_values);  // keeps the values this run computed before
        GRAFT_CHECK(chain && chain->key == next_key, model_.source(),
                    ": internal: tracing again for new staged shapes gave a different stage key");
        lock.lock();
        chain->parent = stage.get();
        stage->next[next_key] = chain;
        if (!stage->evicted) paths_++;  // a stage evicted while this run held it: the chain serves this run only
        built = true;
        next = chain;
      }
    }
    next->last_use = ++use_clock_;
    lock.unlock();
    stage = next;
  }

  lock.lock();
  if (!built) stats_.cache_hits++;
  last_stage_ = ran;
  last_stats_ = ran ? &ran->exe->stats() : nullptr;
  evict();
  lock.unlock();

  std::map<std::string, IoValue> result;
  auto output = [&](size_t j) {
    auto c = stage->constant_outputs.find(j);
    return c != stage->constant_outputs.end() ? c->second.clone() : value_of(stage->output_values[j], "graph output");
  };
  for (const OutputSlot& slot : stage->slots) {
    IoValue v;
    v.kind = slot.kind;
    if (slot.kind == IoValue::Kind::Tensor) v.tensor = output(slot.first);
    if (slot.kind == IoValue::Kind::Sequence)
      for (size_t j = slot.first; j < slot.first + slot.count; ++j) v.sequence.push_back(output(j));
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
