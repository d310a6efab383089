// The compiled, double-buffered train step.
#include "graft/train/train_step.h"

#include <cmath>

#include "graft/autodiff/gradient.h"

namespace graft::train {

namespace {
constexpr const char* kStepVar = "/optimizer/step";
constexpr const char* kMicroVar = "/optimizer/micro_step";

std::string signature(const std::vector<Tensor>& batch) {
  std::string key;
  for (const Tensor& t : batch) key += std::string(dtype_name(t.dtype())) + t.shape().str() + ";";
  return key;
}

thread_local StepGraph* current_step_graph = nullptr;
// Makes `sg` current while a LossFn builds its graph (restoring the previous one: builds may nest).
struct StepGraphScope {
  StepGraph* saved;
  explicit StepGraphScope(StepGraph* sg) : saved(current_step_graph) { current_step_graph = sg; }
  ~StepGraphScope() { current_step_graph = saved; }
};

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

StepGraph* step_graph(const Graph& graph) {
  return current_step_graph && &current_step_graph->graph() == &graph ? current_step_graph : nullptr;
}

uint64_t step_seed(uint64_t seed, int64_t counter) {
  return mix64(mix64(seed + 0x9e3779b97f4a7c15ull) + uint64_t(counter) * 0x9e3779b97f4a7c15ull);
}

Node StepGraph::seed() {
  if (!seed_) seed_ = make_seed ? make_seed() : graph_->scalar(uint64_t(0));
  return *seed_;
}

void StepGraph::update_state(const std::string& variable, Node value) {
  GRAFT_CHECK(value.valid() && value.graph() == graph_, "StepGraph::update_state(\"", variable,
              "\"): the value must be a node of the graph being built");
  for (auto& [name, node] : updates_)
    if (name == variable) {
      node = value;
      return;
    }
  updates_.emplace_back(variable, value);
}

std::optional<Node> StepGraph::pending_update(const std::string& variable) const {
  for (const auto& [name, node] : updates_)
    if (name == variable) return node;
  return std::nullopt;
}

// One compiled graph and the buffers it reads and writes.
struct Compiled {
  std::unique_ptr<Executable> exe;
  // What feeds each executable input: a batch column, a variable, or a step scalar.
  struct Source {
    enum Kind { Batch, Var, Scalar, Seed } kind;
    int index = 0;
    Variable* var = nullptr;
  };
  std::vector<Source> inputs;
  std::vector<Variable*> out_vars;  // outputs[first_var_output + i] is the new value of out_vars[i]
  int first_var_output = 1;
  bool has_loss = true;           // output 0 is the loss (all but the data-parallel update graph)
  int grad_norm_output = -1;      // the global gradient norm before clipping, when clipping
  std::vector<std::string> trainable;  // the variables the graph computes gradients for
  std::vector<Tensor> in_buf, out_buf;
  std::vector<Tensor> scalars;  // f64 scalars, rewritten each step
  Tensor seed = Tensor::scalar<uint64_t>(0);  // StepGraph::seed(), rewritten each micro-batch
};

struct TrainStep::Impl {
  LossFn loss;
  std::shared_ptr<Optimizer> opt;
  Schedule schedule;
  TrainStepOptions options;
  std::shared_ptr<Backend> backend;
  std::map<std::string, Compiled> apply, accumulate;
  std::unique_ptr<Compiled> update;  // data parallelism: the update graph
  bool synced = false;               // data parallelism: variables broadcast from rank 0
  double examples = 0;               // data parallelism: this member's examples since the last update
  std::map<std::string, std::unique_ptr<Executable>> eval;
  std::map<std::string, std::vector<std::string>> eval_vars;
  int compilations = 0;
  double last_norm = NAN;

  bool data_parallel() const { return options.communicator && options.communicator->size() > 1; }
  static std::string grad_accum_name(const Variable& v) { return "/optimizer/grad_accum" + v.name; }

  // Appends gradient clipping and the optimizer update of `trainable` (current values `wrt`, gradients
  // `grads`) to `outputs`, with the variables they replace in c.out_vars: the new values and optimizer
  // slots, zeroed accumulators when `acc` is given, then the model-state updates `state`.
  void append_update(Graph& g, GraphVariables& vars, Context& ctx, const std::vector<Variable*>& trainable,
                     const std::vector<Node>& wrt, std::vector<Node> grads, const std::vector<Node>& acc, Compiled& c,
                     std::map<int, Compiled::Source>& sources, std::vector<Node>& outputs,
                     const std::vector<std::pair<Node, Variable*>>& state) {
    if (options.clip_norm > 0) {
      Node sq;
      for (Node gr : grads) {
        Node gf = Convert(gr, DType::F32);
        Node s = ReduceSum(gf * gf);
        sq = sq.valid() ? sq + s : s;
      }
      Node norm = Sqrt(sq);
      Node coef = Min(options.clip_norm / (norm + 1e-6), ScalarLike(norm, 1.0));
      for (Node& gr : grads) gr = gr * Convert(coef, gr.dtype());
      c.grad_norm_output = int(outputs.size());
      outputs.push_back(norm);
    }
    std::vector<double> sc0 = opt->step_scalars(1, 0.0);
    std::vector<Node> scalars;
    for (size_t i = 0; i < sc0.size(); ++i) {
      scalars.push_back(g.parameter("step_scalar" + std::to_string(i), DType::F64, Shape{}));
      sources[scalars.back().op_index()] = {Compiled::Source::Scalar, int(c.scalars.size()), nullptr};
      c.scalars.push_back(Tensor::scalar<double>(0.0));
    }
    std::vector<std::string> slot_names = opt->slots();
    std::vector<std::pair<Node, Variable*>> new_vals;
    for (size_t i = 0; i < trainable.size(); ++i) {
      Variable* v = trainable[i];
      std::vector<Node> slots;
      for (const auto& s : slot_names)
        slots.push_back(vars.get("/optimizer/" + s + v->name, Tensor::zeros(v->value.dtype(), v->value.shape()), false));
      std::vector<Node> cast_scalars;
      for (Node s : scalars) cast_scalars.push_back(v->value.dtype() == DType::F64 ? s : Convert(s, v->value.dtype()));
      std::vector<Node> upd = opt->update(v->name, wrt[i], grads[i], slots, cast_scalars);
      GRAFT_CHECK(upd.size() == slots.size() + 1, "optimizer ", opt->name(), " returned ", upd.size(), " values for ",
                  slots.size(), " slots");
      new_vals.emplace_back(upd[0], v);
      for (size_t s = 0; s < slot_names.size(); ++s)
        new_vals.emplace_back(upd[s + 1], &ctx.at("/optimizer/" + slot_names[s] + v->name));
    }
    if (!acc.empty())
      for (Variable* v : trainable) new_vals.emplace_back(ZerosLikeNode(&g, v), &ctx.at(grad_accum_name(*v)));
    for (auto& sv : state) new_vals.push_back(sv);
    for (auto& [n, v] : new_vals) {
      outputs.push_back(n);
      c.out_vars.push_back(v);
    }
  }

  // Data parallelism: the update alone, from the all-reduced accumulators. Its last scalar input is the
  // factor that turns the accumulated sums into the mean gradient of the global batch.
  Compiled build_update(Context& ctx, const std::vector<std::string>& names) {
    Graph g("train_update");
    GraphVariables vars(ctx, g);
    std::map<int, Compiled::Source> sources;
    Compiled c;
    c.has_loss = false;
    c.trainable = names;
    Node grad_scale = g.parameter("grad_scale", DType::F64, Shape{});
    std::vector<Variable*> trainable;
    std::vector<Node> wrt, grads, acc;
    for (const std::string& n : names) {
      Variable& v = ctx.at(n);
      trainable.push_back(&v);
      wrt.push_back(vars(n));
      acc.push_back(vars(grad_accum_name(v)));
      grads.push_back(acc.back() * Convert(grad_scale, v.value.dtype()));
    }
    std::vector<Node> outputs;
    append_update(g, vars, ctx, trainable, wrt, grads, acc, c, sources, outputs, {});
    sources[grad_scale.op_index()] = {Compiled::Source::Scalar, int(c.scalars.size()), nullptr};
    c.scalars.push_back(Tensor::scalar<double>(0.0));
    finish(g, vars, ctx, c, sources, outputs);
    return c;
  }

  // Binds the graph's parameters to their sources, compiles it and allocates its output buffers.
  void finish(Graph& g, GraphVariables& vars, Context& ctx, Compiled& c, std::map<int, Compiled::Source>& sources,
              const std::vector<Node>& outputs) {
    c.first_var_output = int(outputs.size() - c.out_vars.size());
    for (const std::string& n : vars.names())
      sources[vars.node_of(n).op_index()] = {Compiled::Source::Var, 0, &ctx.at(n)};
    g.set_outputs(outputs);
    c.exe = backend->compile(g, options.compile);
    ++compilations;
    for (int p : g.parameters()) c.inputs.push_back(sources.at(p));
    c.in_buf.resize(c.inputs.size());
    for (const ValueType& t : c.exe->output_types()) c.out_buf.push_back(Tensor::uninitialized(t.dtype, t.shape));
  }

  Compiled build(Context& ctx, const std::vector<Tensor>& batch, bool apply_update) {
    Graph g(apply_update ? "train_step" : "train_accumulate");
    std::map<int, Compiled::Source> sources;  // parameter op index -> source
    std::vector<Node> bnodes;
    for (size_t i = 0; i < batch.size(); ++i) {
      bnodes.push_back(g.parameter("batch" + std::to_string(i), batch[i].dtype(), batch[i].shape()));
      sources[bnodes.back().op_index()] = {Compiled::Source::Batch, int(i), nullptr};
    }
    GraphVariables vars(ctx, g);
    StepGraph sg(g, true, options.set_model_mode);
    sg.make_seed = [&] {
      Node p = g.parameter("step_seed", DType::U64, Shape{});
      sources[p.op_index()] = {Compiled::Source::Seed, 0, nullptr};
      return p;
    };
    std::vector<Node> outs;
    {
      StepGraphScope scope(&sg);
      outs = loss(vars, bnodes);
    }
    GRAFT_CHECK(!outs.empty() && is_floating(outs[0].dtype()) && outs[0].shape().size() == 1,
                "TrainStep: the loss function must return a floating scalar first, got ",
                outs.empty() ? std::string("nothing") : outs[0].type().str());
    Node loss_node = outs[0];
    std::vector<std::string> used = vars.names();
    std::vector<Variable*> trainable;
    std::vector<Node> wrt;
    for (const std::string& n : used) {
      Variable& v = ctx.at(n);
      if (v.trainable) trainable.push_back(&v), wrt.push_back(vars.node_of(n));
    }
    GRAFT_CHECK(!trainable.empty(), "TrainStep: the loss uses no trainable variable (", used.size(), " frozen)");
    std::vector<Node> grads = Gradient(loss_node, wrt);

    // State updates (BatchNormalization running statistics): non-trainable variables written every micro-batch.
    std::vector<std::pair<Node, Variable*>> state;
    for (const auto& [name, node] : sg.state_updates()) {
      Variable& v = ctx.at(name);
      GRAFT_CHECK(!v.trainable, "TrainStep: state update for \"", v.name,
                  "\", which is trainable (the optimizer updates it); freeze it or drop the update");
      GRAFT_CHECK(node.dtype() == v.value.dtype() && node.shape() == v.value.shape(), "TrainStep: state update for \"",
                  v.name, "\" is ", node.type().str(), ", the variable is ", dtype_name(v.value.dtype()),
                  v.value.shape().str());
      state.emplace_back(node, &v);
    }

    Compiled c;
    for (Variable* v : trainable) c.trainable.push_back(v->name);
    std::vector<Node> outputs{loss_node};
    const int k = options.accumulation_steps;
    // Gradients are summed into accumulators when several micro-batches make one update, and always in
    // data-parallel training, where the update runs as its own graph after the accumulators are all-reduced.
    const bool accumulate = k > 1 || data_parallel();
    std::vector<Node> acc;
    if (accumulate)
      for (Variable* v : trainable)
        acc.push_back(vars.get(grad_accum_name(*v), Tensor::zeros(v->value.dtype(), v->value.shape()), false));
    if (!apply_update) {
      for (size_t i = 0; i < trainable.size(); ++i) {
        outputs.push_back(acc[i] + grads[i]);
        c.out_vars.push_back(&ctx.at(grad_accum_name(*trainable[i])));
      }
      for (auto& [n, v] : state) {
        outputs.push_back(n);
        c.out_vars.push_back(v);
      }
    } else {
      if (k > 1)
        for (size_t i = 0; i < grads.size(); ++i) grads[i] = (acc[i] + grads[i]) * (1.0 / k);
      append_update(g, vars, ctx, trainable, wrt, grads, acc, c, sources, outputs, state);
    }
    finish(g, vars, ctx, c, sources, outputs);
    return c;
  }

  static Node ZerosLikeNode(Graph* g, Variable* v) { return Zeros(*g, v->value.dtype(), v->value.shape()); }

  float run(Compiled& c, const std::vector<Tensor>& batch) {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const auto& s = c.inputs[i];
      switch (s.kind) {
        case Compiled::Source::Batch: c.in_buf[i] = batch[size_t(s.index)]; break;
        case Compiled::Source::Var: c.in_buf[i] = s.var->value; break;
        case Compiled::Source::Scalar: c.in_buf[i] = c.scalars[size_t(s.index)]; break;
        case Compiled::Source::Seed: c.in_buf[i] = c.seed; break;
      }
    }
    c.exe->run_into(std::span<const Tensor>(c.in_buf), std::span<Tensor>(c.out_buf));
    for (size_t i = 0; i < c.out_vars.size(); ++i) std::swap(c.out_vars[i]->value, c.out_buf[c.first_var_output + i]);
    for (Tensor& t : c.in_buf) t = Tensor();  // hold no references between steps
    if (c.grad_norm_output >= 0) last_norm = c.out_buf[size_t(c.grad_norm_output)].value_as_double(0);
    return c.has_loss ? float(c.out_buf[0].value_as_double(0)) : NAN;
  }
};

TrainStep::TrainStep(Context ctx, LossFn loss, std::shared_ptr<Optimizer> optimizer, Schedule schedule,
                     TrainStepOptions options)
    : ctx_(std::move(ctx)), impl_(std::make_unique<Impl>()) {
  GRAFT_CHECK(optimizer != nullptr, "TrainStep: no optimizer");
  GRAFT_CHECK(options.accumulation_steps >= 1, "TrainStep: accumulation_steps must be >= 1");
  impl_->loss = std::move(loss);
  impl_->opt = std::move(optimizer);
  impl_->schedule = schedule ? std::move(schedule) : ConstantLR(1e-3);
  impl_->options = options;
  impl_->backend = options.backend ? options.backend : cpu_backend();
  ctx_.variable(kStepVar, Tensor::scalar<int64_t>(0), false);
  ctx_.variable(kMicroVar, Tensor::scalar<int64_t>(0), false);
}
TrainStep::~TrainStep() = default;
TrainStep::TrainStep(TrainStep&&) noexcept = default;

int64_t TrainStep::updates() const { return ctx_.value(kStepVar).item<int64_t>(); }
int64_t TrainStep::micro_step() const { return ctx_.value(kMicroVar).item<int64_t>(); }
double TrainStep::last_grad_norm() const { return impl_->last_norm; }
int TrainStep::num_compilations() const { return impl_->compilations; }

float TrainStep::step(const std::vector<Tensor>& batch) {
  Impl& m = *impl_;
  if (m.data_parallel()) return step_data_parallel(batch);
  std::string key = signature(batch);
  int64_t micro = micro_step();
  bool apply = micro + 1 >= m.options.accumulation_steps;
  auto& cache = apply ? m.apply : m.accumulate;
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, m.build(ctx_, batch, apply)).first;
  Compiled& c = it->second;
  int64_t u = updates();
  if (apply) {
    last_lr_ = m.schedule(u);
    std::vector<double> sc = m.opt->step_scalars(u + 1, last_lr_);
    for (size_t i = 0; i < sc.size(); ++i) c.scalars[i].data<double>()[0] = sc[i];
  }
  c.seed.data<uint64_t>()[0] = step_seed(m.options.seed, u * m.options.accumulation_steps + micro);
  float loss = m.run(c, batch);
  // Fresh scalar tensors: a checkpoint may share the old ones.
  ctx_.at(kMicroVar).value = Tensor::scalar<int64_t>(apply ? 0 : micro + 1);
  if (apply) ctx_.at(kStepVar).value = Tensor::scalar<int64_t>(u + 1);
  return loss;
}

// Data parallelism. Every member runs its shard of the micro-batch into its gradient accumulators; the
// returned loss is the global batch's (the members' mean losses weighted by their example counts). At the
// last micro-batch of an update the accumulators are summed over the group and one update graph applies
// the optimizer to the mean gradient, identically on every member. Members whose shards differ in size
// are weighted by their example counts, so the result is the gradient of the global batch's mean loss.
float TrainStep::step_data_parallel(const std::vector<Tensor>& batch) {
  Impl& m = *impl_;
  distributed::Communicator& comm = *m.options.communicator;
  std::string key = signature(batch);
  auto it = m.accumulate.find(key);
  if (it == m.accumulate.end()) it = m.accumulate.emplace(key, m.build(ctx_, batch, false)).first;
  Compiled& c = it->second;
  if (!m.synced) {
    // Start from rank 0's variables (a new head initialized differently elsewhere, say).
    std::vector<Tensor> values;
    for (const Compiled::Source& s : c.inputs)
      if (s.kind == Compiled::Source::Var) values.push_back(s.var->value);
    comm.broadcast(std::span<Tensor>(values), 0);
    m.synced = true;
  }
  const int k = m.options.accumulation_steps;
  int64_t micro = micro_step(), u = updates();
  c.seed.data<uint64_t>()[0] = step_seed(m.options.seed + uint64_t(comm.rank()) * 0x9e3779b97f4a7c15ull,
                                         u * k + micro);
  const double n = batch.empty() || batch[0].rank() == 0 ? 1.0 : double(batch[0].shape()[0]);
  float local = m.run(c, batch);
  double sums[2] = {double(local) * n, n};
  comm.all_reduce_sum(std::span<double>(sums, 2));
  float loss = float(sums[0] / sums[1]);
  m.examples += n;
  bool apply = micro + 1 >= k;
  if (apply) {
    if (!m.update) m.update = std::make_unique<Compiled>(m.build_update(ctx_, c.trainable));
    GRAFT_CHECK(m.update->trainable == c.trainable, "TrainStep: batches of different shapes train different variables");
    std::vector<Tensor> acc;
    for (const std::string& name : c.trainable) acc.push_back(ctx_.at(Impl::grad_accum_name(ctx_.at(name))).value);
    // Equal shards: the mean of the members' mean gradients. Unequal ones: each weighted by its examples.
    double counts[2] = {m.examples, m.examples * m.examples};
    comm.all_reduce_sum(std::span<double>(counts, 2));
    const double members = double(comm.size());
    bool equal = std::abs(counts[1] * members - counts[0] * counts[0]) <= 1e-9 * counts[0] * counts[0];
    double scale = 1.0 / (double(k) * members);
    if (!equal) {
      for (Tensor& a : acc) {
        double w = m.examples / double(k);
        if (a.dtype() == DType::F32)
          for (float& x : std::span<float>(a.data<float>(), size_t(a.size()))) x = float(x * w);
        else
          for (double& x : std::span<double>(a.data<double>(), size_t(a.size()))) x *= w;
      }
      scale = 1.0 / counts[0];  // sum_r E_r (acc_r / k) / sum_r E_r, with acc_r pre-scaled by E_r / k
    }
    comm.all_reduce_sum(std::span<Tensor>(acc));
    last_lr_ = m.schedule(u);
    std::vector<double> sc = m.opt->step_scalars(u + 1, last_lr_);
    Compiled& up = *m.update;
    for (size_t i = 0; i < sc.size(); ++i) up.scalars[i].data<double>()[0] = sc[i];
    up.scalars.back().data<double>()[0] = scale;
    m.run(up, {});
    m.examples = 0;
  }
  ctx_.at(kMicroVar).value = Tensor::scalar<int64_t>(apply ? 0 : micro + 1);
  if (apply) ctx_.at(kStepVar).value = Tensor::scalar<int64_t>(u + 1);
  return loss;
}

std::vector<Tensor> TrainStep::evaluate(const std::vector<Tensor>& batch) {
  Impl& m = *impl_;
  std::string key = signature(batch);
  auto it = m.eval.find(key);
  if (it == m.eval.end()) {
    Graph g("eval");
    std::vector<Node> bnodes;
    for (size_t i = 0; i < batch.size(); ++i)
      bnodes.push_back(g.parameter("batch" + std::to_string(i), batch[i].dtype(), batch[i].shape()));
    GraphVariables vars(ctx_, g);
    StepGraph sg(g, false, m.options.set_model_mode);
    {
      StepGraphScope scope(&sg);
      g.set_outputs(m.loss(vars, bnodes));
    }
    m.eval_vars[key] = vars.names();
    it = m.eval.emplace(key, m.backend->compile(g, m.options.compile)).first;
    ++m.compilations;
  }
  std::vector<Tensor> in = batch;
  for (const std::string& n : m.eval_vars[key]) in.push_back(ctx_.at(n).value);
  return it->second->run(std::span<const Tensor>(in));
}

}  // namespace graft::train
