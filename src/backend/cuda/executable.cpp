// The CUDA executable: optimize, lower (element-wise fusion groups + one step per other op), generate
// and compile the groups' kernels with NVRTC, plan every intermediate, input and output into one device
// arena, and run the steps on the executable's stream; from the second run on, the steps are replayed as
// a CUDA graph captured on that run. Inputs are copied into their arena slots at the start of a run
// (host-to-device or device-to-device) and results out of theirs at the end, so the captured graph's
// pointers never change. A run ends with the stream synchronized: results are ready when it returns, and
// errors the kernels recorded (out-of-range indices, integer division by zero) are thrown then.
#include "backend/cuda/executable.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "backend/cuda/check.h"
#include "backend/run_into_checks.h"
#include "backend/cuda/codegen.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/lowering.h"
#include "backend/cuda/nvrtc.h"
#include "graft/graph/passes.h"

namespace graft::cuda {

namespace {

constexpr int kBlock = 256;

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// ---- memory plan ----------------------------------------------------------------------------------------

struct Lifetime {
  size_t bytes = 0;
  int first = 0, last = 0;  // steps writing first and reading last (inclusive)
};

// Offsets in one arena for buffers whose lifetimes overlap only where their bytes do not: biggest first,
// each at the lowest offset free over its whole lifetime.
std::vector<size_t> plan_arena(const std::vector<Lifetime>& bufs, size_t* arena_bytes, size_t* naive_bytes) {
  std::vector<size_t> order(bufs.size()), offset(bufs.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bufs[a].bytes > bufs[b].bytes; });
  std::vector<size_t> placed;
  *arena_bytes = 0, *naive_bytes = 0;
  for (size_t id : order) {
    const Lifetime& b = bufs[id];
    const size_t need = align256(b.bytes);
    *naive_bytes += need;
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t p : placed)
      if (!(bufs[p].last < b.first || b.last < bufs[p].first)) busy.emplace_back(offset[p], offset[p] + align256(bufs[p].bytes));
    std::sort(busy.begin(), busy.end());
    size_t at = 0;
    for (auto [lo, hi] : busy) {
      if (lo >= at + need) break;  // fits in the gap before this one
      at = std::max(at, hi);
    }
    offset[id] = at;
    *arena_bytes = std::max(*arena_bytes, at + need);
    placed.push_back(id);
  }
  return offset;
}

// ---- generated element-wise kernels ------------------------------------------------------------------

class GroupKernel final : public Kernel {
 public:
  GroupKernel(std::shared_ptr<const EwGroup> group, std::string name, std::string label, int sm_count)
      : group_(std::move(group)), name_(std::move(name)), label_(std::move(label)) {
    const int64_t n = group_->count();
    int64_t blocks = (n + kBlock - 1) / kBlock;
    blocks = std::min<int64_t>(blocks, int64_t(sm_count) * 32);
    blocks_ = unsigned(std::max<int64_t>(blocks, 1));
  }
  void set_function(cudaKernel_t f) { fn_ = f; }
  const std::string& name() const { return name_; }
  void launch(const LaunchArgs& a) override {
    if (group_->count() == 0) return;
    // Parameters: non-literal inputs, outputs, the error record (codegen.h).
    std::vector<void*> values, args;
    for (const void* p : a.in) values.push_back(const_cast<void*>(p));
    for (void* p : a.out) values.push_back(p);
    values.push_back(a.errors);
    for (void*& v : values) args.push_back(&v);
    GRAFT_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(fn_), dim3(blocks_), dim3(kBlock), args.data(), 0, a.stream),
               label_, ": launching generated kernel ", name_);
  }

 private:
  std::shared_ptr<const EwGroup> group_;
  std::string name_, label_;  // the kernel's name in the module; the op(s) it runs, for errors
  cudaKernel_t fn_ = nullptr;
  unsigned blocks_ = 1;
};

// ---- the executable -------------------------------------------------------------------------------------

enum class BufferKind { Arena, Const };

struct Buffer {
  BufferKind kind = BufferKind::Arena;
  size_t bytes = 0;
  size_t offset = 0;  // Arena
  std::shared_ptr<DeviceBuffer> constant;  // Const
  const Tensor* value = nullptr;           // Const: the constant (for kernels that precompute from it)
  Lifetime life;
};

struct Step {
  std::unique_ptr<Kernel> kernel;
  std::vector<int> in, out;  // buffer ids
  std::vector<const void*> in_ptrs;
  std::vector<void*> out_ptrs;
  int op = 0;
  std::string label;  // for GRAFT_PROFILE
  double ms = 0;
  cudaEvent_t start = nullptr, stop = nullptr;
};

class CudaExecutable final : public Executable {
 public:
  CudaExecutable(std::shared_ptr<CudaDevice> device, const Graph& source, const CompileOptions& options)
      : device_(std::move(device)), options_(options), ctx_(device_, options_) {
    auto t0 = std::chrono::steady_clock::now();
    DeviceGuard guard(device_->index());
    for (int p : source.parameters()) input_types_.push_back(source.op(p).outputs[0]);
    for (const ValueRef& r : source.outputs()) output_types_.push_back(source.op(r.op).outputs[size_t(r.output)]);
    graph_ = optimize_for_cuda(source, options);
    lowered_ = lower(graph_, options.fuse_elementwise);
    stats_.num_fused_groups = lowered_.num_groups;
    const char* prof = std::getenv("GRAFT_PROFILE");
    profile_ = prof && *prof && std::string(prof) != "0";
    profile_level_ = profile_ ? std::max(1, std::atoi(prof)) : 0;
    const char* graphs = std::getenv("GRAFT_CUDA_GRAPHS");
    graphs_enabled_ = !(graphs && std::string(graphs) == "0") && !profile_;
    build();
    GRAFT_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the executable's stream");
    stats_.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  ~CudaExecutable() override {
    if (profile_ && !steps_.empty()) print_profile();
    try {
      DeviceGuard guard(device_->index());
      if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
      for (Step& s : steps_) {
        if (s.start) cudaEventDestroy(s.start);
        if (s.stop) cudaEventDestroy(s.stop);
      }
      if (stream_) cudaStreamDestroy(stream_);
      if (library_) cudaLibraryUnload(library_);
    } catch (...) {  // nothing to do about a failure while tearing down
    }
  }

  std::vector<Tensor> run(std::span<const Tensor> inputs) override {
    std::vector<Tensor> outputs(output_types_.size());
    execute(inputs, outputs);
    return outputs;
  }

  void run_into(std::span<const Tensor> inputs, std::span<Tensor> outputs) override {
    check_run_into_outputs(graph_.name(), output_types_, inputs, outputs);
    std::vector<Tensor> targets(outputs.begin(), outputs.end());
    execute(inputs, targets);
  }

 private:
  std::string param_name(int i) const {
    return std::get<ParameterAttrs>(graph_.op(graph_.parameters()[size_t(i)]).attrs).name;
  }

  static bool is_alias(OpKind k) { return k == OpKind::Reshape || k == OpKind::StopGradient; }

  void build() {
    const int n = graph_.num_ops();
    std::vector<std::vector<int>> value_buffer(static_cast<size_t>(n));
    auto new_buffer = [&](Buffer b) {
      buffers_.push_back(std::move(b));
      return int(buffers_.size() - 1);
    };
    auto bytes_of = [](const ValueType& t) { return size_t(t.shape.size()) * dtype_size(t.dtype); };
    // Values in op order: parameters get arena slots, constants device copies (made when first read),
    // aliases their operand's buffer; step outputs get buffers below.
    param_buffer_.assign(graph_.parameters().size(), -1);
    for (int i = 0; i < n; ++i) {
      const Op& op = graph_.op(i);
      if (op.kind == OpKind::Parameter) {
        Buffer b;
        b.bytes = bytes_of(op.outputs[0]);
        b.life = {b.bytes, 0, -1};
        const int id = new_buffer(std::move(b));
        value_buffer[size_t(i)] = {id};
        param_buffer_[size_t(std::get<ParameterAttrs>(op.attrs).index)] = id;
      } else if (op.kind == OpKind::Constant) {
        Buffer b;
        b.kind = BufferKind::Const;
        b.bytes = bytes_of(op.outputs[0]);
        b.value = &std::get<ConstantAttrs>(op.attrs).value;
        value_buffer[size_t(i)] = {new_buffer(std::move(b))};
      } else if (is_alias(op.kind)) {
        value_buffer[size_t(i)] = {value_buffer[size_t(op.inputs[0].op)][size_t(op.inputs[0].output)]};
      } else {
        for (const ValueType& t : op.outputs) {
          Buffer b;
          b.bytes = bytes_of(t);
          value_buffer[size_t(i)].push_back(new_buffer(std::move(b)));
        }
      }
    }
    auto buffer_of = [&](const ValueRef& r) { return value_buffer[size_t(r.op)][size_t(r.output)]; };
    auto device_ptr_of_constant = [&](int id) {
      Buffer& b = buffers_[size_t(id)];
      if (!b.constant && b.bytes) b.constant = device_->constant(*b.value);
    };
    // Steps and their kernels.
    std::vector<std::string> sources;
    std::map<std::string, std::string> kernel_of_body;
    std::vector<GroupKernel*> group_kernels;
    for (size_t si = 0; si < lowered_.steps.size(); ++si) {
      const LoweredStep& ls = lowered_.steps[si];
      Step s;
      s.op = ls.op;
      for (const ValueRef& r : ls.inputs) s.in.push_back(buffer_of(r));
      for (const ValueRef& r : ls.outputs) s.out.push_back(buffer_of(r));
      for (int b : s.in)
        if (buffers_[size_t(b)].kind == BufferKind::Const) device_ptr_of_constant(b);
      const Op& op = graph_.op(ls.op);
      if (ls.group) {
        // Groups that generate the same code (the same layer repeated) share one kernel.
        const std::string body = kernel_source(*ls.group, "GRAFT_KERNEL");
        auto [it, fresh] = kernel_of_body.emplace(body, "graft_g" + std::to_string(kernel_of_body.size()));
        const std::string& name = it->second;
        if (fresh) sources.push_back(kernel_source(*ls.group, name));
        auto k = std::make_unique<GroupKernel>(ls.group, name, describe(ls.op) + (ls.members.size() > 1 ? " (fused)" : ""),
                                               device_->sm_count());
        group_kernels.push_back(k.get());
        s.kernel = std::move(k);
        s.label = ls.members.size() > 1 ? "Fused(" + std::to_string(ls.members.size()) + " element-wise ops)"
                                        : std::string(op_name(op.kind));
        may_fail_ |= ls.group->may_fail();
      } else {
        std::vector<ValueType> in_types;
        std::vector<const Tensor*> constants;
        for (const ValueRef& r : op.inputs) {
          in_types.push_back(graph_.op(r.op).outputs[size_t(r.output)]);
          const Buffer& b = buffers_[size_t(buffer_of(r))];
          constants.push_back(b.kind == BufferKind::Const ? b.value : nullptr);
        }
        KernelArgs args{op, ls.op, in_types, op.outputs, ctx_, constants};
        s.kernel = make_kernel(args);
        s.label = std::string(op_name(op.kind));
        const std::string v = s.kernel->variant();
        if (!v.empty()) s.label += " [" + v + "]";
        may_fail_ |= op.kind == OpKind::Gather || op.kind == OpKind::Scatter || op.kind == OpKind::If ||
                     op.kind == OpKind::While;
      }
      capturable_ &= s.kernel->capturable();
      for (int m : ls.members) step_of_op_[m] = int(steps_.size());
      step_of_op_[ls.op] = int(steps_.size());
      workspace_bytes_ = std::max(workspace_bytes_, s.kernel->workspace_bytes());
      const int idx = int(steps_.size());
      for (int b : s.out) buffers_[size_t(b)].life = {buffers_[size_t(b)].bytes, idx, idx};
      for (int b : s.in) buffers_[size_t(b)].life.last = std::max(buffers_[size_t(b)].life.last, idx);
      steps_.push_back(std::move(s));
    }
    // Graph outputs live to the end (they are copied out after the last step).
    const int end = int(steps_.size());
    for (const ValueRef& r : graph_.outputs()) {
      const int b = buffer_of(r);
      output_buffer_.push_back(b);
      if (buffers_[size_t(b)].kind == BufferKind::Const)
        device_ptr_of_constant(b);
      else
        buffers_[size_t(b)].life.last = end;
    }
    // Arena: parameter slots, intermediates and outputs, then the shared workspace.
    std::vector<Lifetime> lives;
    std::vector<int> ids;
    for (size_t b = 0; b < buffers_.size(); ++b) {
      if (buffers_[b].kind != BufferKind::Arena) continue;
      Lifetime l = buffers_[b].life;
      if (l.last < l.first) l.last = l.first;  // written, never read: lives for its own step
      lives.push_back(l);
      ids.push_back(int(b));
    }
    size_t planned = 0;
    const std::vector<size_t> offsets = plan_arena(lives, &planned, &stats_.naive_bytes);
    for (size_t i = 0; i < ids.size(); ++i) buffers_[size_t(ids[i])].offset = offsets[i];
    workspace_offset_ = align256(planned);
    stats_.arena_bytes = workspace_offset_ + align256(workspace_bytes_);
    arena_ = device_->buffer(stats_.arena_bytes);
    errors_ = device_->buffer(sizeof(gs::ErrorRecord));
    GRAFT_CUDA(cudaMemset(errors_->data(), 0, sizeof(gs::ErrorRecord)), "clearing the error record");
    stats_.num_kernels = int(steps_.size());
    // Fixed device pointers of every step.
    for (Step& s : steps_) {
      for (int b : s.in) s.in_ptrs.push_back(pointer(b));
      for (int b : s.out) s.out_ptrs.push_back(pointer(b));
    }
    // One NVRTC module for all generated kernels.
    if (!sources.empty()) {
      const std::string module = module_source(sources);
      auto cubin = compile_to_cubin(module, device_->arch(), &nvrtc_stats_);
      cubin_ = cubin;
      GRAFT_CUDA(cudaLibraryLoadData(&library_, cubin_->data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
                 "loading the generated kernels of graph '", graph_.name(), "'");
      for (GroupKernel* k : group_kernels) {
        cudaKernel_t fn;
        GRAFT_CUDA(cudaLibraryGetKernel(&fn, library_, k->name().c_str()), "finding generated kernel ", k->name());
        k->set_function(fn);
      }
    }
  }

  void* pointer(int b) const {
    const Buffer& buf = buffers_[size_t(b)];
    if (buf.kind == BufferKind::Const) return buf.constant ? buf.constant->data() : arena_->data();
    return static_cast<char*>(arena_->data()) + buf.offset;
  }

  void launch_steps() {
    LaunchArgs la;
    la.stream = stream_;
    la.workspace = static_cast<char*>(arena_->data()) + workspace_offset_;
    la.errors = static_cast<gs::ErrorRecord*>(errors_->data());
    for (Step& s : steps_) {
      la.in = s.in_ptrs;
      la.out = s.out_ptrs;
      if (profile_) {
        if (!s.start) {
          GRAFT_CUDA(cudaEventCreate(&s.start), "creating a profiling event");
          GRAFT_CUDA(cudaEventCreate(&s.stop), "creating a profiling event");
        }
        GRAFT_CUDA(cudaEventRecord(s.start, stream_), "recording a profiling event");
      }
      s.kernel->launch(la);  // its errors name the op
      if (profile_) GRAFT_CUDA(cudaEventRecord(s.stop, stream_), "recording a profiling event");
    }
  }

  std::string describe(int op_id) const {
    const Op& op = graph_.op(op_id);
    return std::string(op_name(op.kind)) + (op.name.empty() ? "" : " \"" + op.name + "\"");
  }

  void run_steps() {
    if (graph_exec_) {
      GRAFT_CUDA(cudaGraphLaunch(graph_exec_, stream_), "replaying the CUDA graph of '", graph_.name(), "'");
      return;
    }
    if (runs_ >= 1 && graphs_enabled_ && capturable_) {
      // Capture this run's launches (the first run went eagerly: modules are loaded and libraries have
      // made their plans by now) and replay the graph from now on.
      if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
        bool launched = true;
        try {
          launch_steps();
        } catch (const Error&) {
          launched = false;
        }
        cudaGraph_t g = nullptr;
        const cudaError_t e = cudaStreamEndCapture(stream_, &g);
        if (launched && e == cudaSuccess && g && cudaGraphInstantiate(&graph_exec_, g, 0) == cudaSuccess) {
          cudaGraphDestroy(g);
          GRAFT_CUDA(cudaGraphLaunch(graph_exec_, stream_), "replaying the CUDA graph of '", graph_.name(), "'");
          return;
        }
        if (g) cudaGraphDestroy(g);
        graph_exec_ = nullptr;
      }
      cudaGetLastError();
      graphs_enabled_ = false;  // run eagerly from now on (and now: nothing ran during the capture)
    }
    launch_steps();
  }

  // Runs the steps. Output tensors defined on entry are written in place; the others are allocated.
  void execute(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
    std::lock_guard<std::mutex> lock(mu_);  // the arena is shared by calls: one run at a time
    DeviceGuard guard(device_->index());
    GRAFT_CHECK(inputs.size() == input_types_.size(), "graph '", graph_.name(), "' takes ", input_types_.size(),
                " inputs, given ", inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const ValueType& want = input_types_[i];
      GRAFT_CHECK(inputs[i].defined(), "input ", i, " ('", param_name(int(i)), "') is undefined");
      GRAFT_CHECK(inputs[i].dtype() == want.dtype && inputs[i].shape() == want.shape, "input ", i, " ('",
                  param_name(int(i)), "') is ", dtype_name(inputs[i].dtype()), inputs[i].shape(), ", expected ",
                  want.str());
    }
    // Inputs into their slots: device tensors on this GPU device-to-device, anything else from the host.
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int b = param_buffer_[i];
      if (b < 0 || buffers_[size_t(b)].bytes == 0) continue;
      const Tensor& t = inputs[i];
      const size_t bytes = buffers_[size_t(b)].bytes;
      if (t.is_on_device() && t.storage()->device_ptr() == std::static_pointer_cast<Device>(device_)) {
        GRAFT_CUDA(cudaMemcpyAsync(pointer(b), t.device_data(device_), bytes, cudaMemcpyDeviceToDevice, stream_),
                   "copying input ", i, " ('", param_name(int(i)), "')");
      } else {
        GRAFT_CUDA(cudaMemcpyAsync(pointer(b), t.raw(), bytes, cudaMemcpyHostToDevice, stream_), "copying input ", i,
                   " ('", param_name(int(i)), "') to ", device_->name());
        count_transfer(true, bytes);
      }
    }
    run_steps();
    ++runs_;
    for (size_t j = 0; j < output_types_.size(); ++j) {
      const ValueType& t = output_types_[j];
      if (!outputs[j].defined()) outputs[j] = Tensor::empty_on(device_, t.dtype, t.shape);
      const size_t bytes = size_t(t.shape.size()) * dtype_size(t.dtype);
      void* dst = outputs[j].device_data_for_overwrite(device_);
      if (bytes)
        GRAFT_CUDA(cudaMemcpyAsync(dst, pointer(output_buffer_[j]), bytes, cudaMemcpyDeviceToDevice, stream_),
                   "copying output ", j);
    }
    gs::ErrorRecord record{};
    if (may_fail_)
      GRAFT_CUDA(cudaMemcpyAsync(&record, errors_->data(), sizeof record, cudaMemcpyDeviceToHost, stream_),
                 "reading the error record");
    GRAFT_CUDA(cudaStreamSynchronize(stream_), "running graph '", graph_.name(), "' on ", device_->name());
    if (profile_)
      for (Step& s : steps_) {
        float ms = 0;
        if (s.start && cudaEventElapsedTime(&ms, s.start, s.stop) == cudaSuccess) s.ms += ms;
      }
    if (record.code != 0) {
      GRAFT_CUDA(cudaMemset(errors_->data(), 0, sizeof(gs::ErrorRecord)), "clearing the error record");
      throw_recorded(record);
    }
  }

  [[noreturn]] void throw_recorded(const gs::ErrorRecord& e) const {
    auto it = step_of_op_.find(e.op);
    if (it == step_of_op_.end()) fail("graph '", graph_.name(), "': a kernel reported error ", e.code, " for op ", e.op);
    fail(describe(e.op), ": ", steps_[size_t(it->second)].kernel->describe_error(e));
  }

  // GRAFT_PROFILE=1: GPU time of every step (CUDA events; graphs are off while profiling), printed by kind
  // when the executable is destroyed; =2 adds the slowest steps one by one.
  void print_profile() const {
    std::map<std::string, std::pair<double, int>> by_kind;
    double total = 0;
    for (const Step& s : steps_) {
      by_kind[s.label].first += s.ms;
      by_kind[s.label].second += 1;
      total += s.ms;
    }
    std::vector<std::pair<double, std::string>> rows;
    for (auto& [k, v] : by_kind) rows.emplace_back(v.first, k);
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "graft profile of '%s' on %s (%d kernels, %d runs, arena %.1f MB): %.3f ms on the GPU\n",
                 graph_.name().c_str(), device_->name().c_str(), int(steps_.size()), runs_,
                 double(stats_.arena_bytes) / 1e6, total);
    for (auto& [t, k] : rows)
      std::fprintf(stderr, "  %-44s %9.3f ms  %5.1f%%  (%d kernels)\n", k.c_str(), t, total > 0 ? 100 * t / total : 0.0,
                   by_kind.at(k).second);
    if (profile_level_ < 2) return;
    std::vector<const Step*> slow;
    for (const Step& s : steps_) slow.push_back(&s);
    std::sort(slow.begin(), slow.end(), [](const Step* a, const Step* b) { return a->ms > b->ms; });
    std::fprintf(stderr, "  slowest kernels:\n");
    for (size_t i = 0; i < slow.size() && i < 15; ++i) {
      const Op& op = graph_.op(slow[i]->op);
      std::fprintf(stderr, "  %9.3f ms  %-36s %-24s \"%s\"\n", slow[i]->ms, slow[i]->label.c_str(),
                   op.outputs.empty() ? "" : op.outputs[0].str().c_str(), op.name.c_str());
    }
  }

  std::shared_ptr<CudaDevice> device_;
  CompileOptions options_;
  BuildContext ctx_;  // after options_, which it refers to
  Graph graph_;
  Lowered lowered_;
  std::vector<Buffer> buffers_;
  std::vector<Step> steps_;
  std::vector<int> param_buffer_, output_buffer_;
  std::map<int, int> step_of_op_;  // op id (group members too) -> step, for recorded errors
  size_t workspace_bytes_ = 0, workspace_offset_ = 0;
  std::shared_ptr<DeviceBuffer> arena_, errors_;
  std::shared_ptr<const std::vector<char>> cubin_;
  cudaLibrary_t library_ = nullptr;
  CompileStats nvrtc_stats_;
  cudaStream_t stream_ = nullptr;
  cudaGraphExec_t graph_exec_ = nullptr;
  bool may_fail_ = false, capturable_ = true, graphs_enabled_ = true, profile_ = false;
  int profile_level_ = 0, runs_ = 0;
  std::mutex mu_;
};

}  // namespace

Graph optimize_for_cuda(const Graph& g, const CompileOptions& options) {
  PassOptions p;
  p.simplify = options.simplify;
  p.cse = options.eliminate_common_subexpressions;
  // Fused composite kernels come later (docs/gpu.md): until then every composite is expanded.
  p.keep_composite = [](const Op&) { return false; };
  if (options.fold_constants) p.fold = host_evaluator();
  return optimize(g, p);
}

std::unique_ptr<Executable> compile_cuda(std::shared_ptr<CudaDevice> device, const Graph& g, const CompileOptions& options) {
  return std::make_unique<CudaExecutable>(std::move(device), g, options);
}

std::string generated_source(const Graph& g, const CompileOptions& options, int* num_kernels) {
  const Graph opt = optimize_for_cuda(g, options);
  const Lowered low = lower(opt, options.fuse_elementwise);
  std::vector<std::string> kernels;
  std::map<std::string, int> seen;
  for (const LoweredStep& s : low.steps)
    if (s.group && seen.emplace(kernel_source(*s.group, "GRAFT_KERNEL"), 0).second)
      kernels.push_back(kernel_source(*s.group, "graft_g" + std::to_string(kernels.size())));
  if (num_kernels) *num_kernels = int(kernels.size());
  return module_source(kernels);
}

}  // namespace graft::cuda
