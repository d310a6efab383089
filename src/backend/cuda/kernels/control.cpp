// If and While. Each sub-graph is compiled once, when the kernel is built, into a CUDA executable of its
// own. A run waits for the operands, reads the predicate on the host, runs the chosen sub-graph on device
// tensors that wrap the operands' memory (no copy: sub-executables copy their inputs into their own
// arena), and copies the results into this kernel's outputs. Reading the predicate makes the enclosing
// executable uncapturable as a CUDA graph (Kernel::capturable).
#include "backend/cuda/check.h"
#include "backend/cuda/executable.h"
#include "backend/cuda/kernel.h"

namespace graft::cuda {

namespace {

std::vector<Tensor> wrap_all(const std::shared_ptr<CudaDevice>& dev, std::span<const void* const> ptrs, size_t first,
                             const std::vector<ValueType>& types) {
  std::vector<Tensor> out;
  for (size_t i = first; i < types.size(); ++i)
    out.push_back(Tensor::wrap_device(dev, types[i].dtype, types[i].shape, const_cast<void*>(ptrs[i]), nullptr));
  return out;
}

void copy_out(const std::shared_ptr<CudaDevice>& dev, const std::vector<Tensor>& values, std::span<void* const> out,
              cudaStream_t stream, const std::string& op) {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].nbytes() > 0)
      GRAFT_CUDA(cudaMemcpyAsync(out[i], values[i].device_data(dev), values[i].nbytes(), cudaMemcpyDeviceToDevice, stream),
                 op, ": copying result ", i);
  // The results are freed when `values` goes: the copies must be done by then.
  GRAFT_CUDA(cudaStreamSynchronize(stream), op, ": copying the results");
}

std::unique_ptr<Executable> compile_sub_graph(const Graph& g, const KernelArgs& a, const char* role) {
  try {
    return compile_cuda(a.ctx.device_ptr(), g, a.ctx.options());
  } catch (const Error& e) {
    fail(a.describe(), ": compiling ", role, " '", g.name(), "': ", e.what());
  }
}

bool read_predicate(const std::shared_ptr<CudaDevice>& dev, const void* p, cudaStream_t stream, const std::string& op) {
  GRAFT_CUDA(cudaStreamSynchronize(stream), op, ": waiting for the predicate");
  bool v = false;
  dev->copy_to_host(&v, p, 1);
  count_transfer(false, 1);
  return v;
}

class IfKernel final : public Kernel {
 public:
  explicit IfKernel(const KernelArgs& a) : name_(a.describe()), device_(a.ctx.device_ptr()), types_(a.inputs) {
    const auto& attrs = std::get<IfAttrs>(a.op.attrs);
    then_name_ = attrs.then_branch->name();
    else_name_ = attrs.else_branch->name();
    then_ = compile_sub_graph(*attrs.then_branch, a, "then branch");
    else_ = compile_sub_graph(*attrs.else_branch, a, "else branch");
  }
  bool capturable() const override { return false; }

  void launch(const LaunchArgs& a) override {
    const bool pred = read_predicate(device_, a.in[0], a.stream, name_);
    std::vector<Tensor> operands = wrap_all(device_, a.in, 1, types_);
    std::vector<Tensor> results;
    try {
      results = (pred ? *then_ : *else_).run(operands);
    } catch (const Error& e) {
      fail(pred ? "then branch '" : "else branch '", pred ? then_name_ : else_name_, "': ", e.what());
    }
    copy_out(device_, results, a.out, a.stream, name_);
  }

 private:
  std::string name_;
  std::shared_ptr<CudaDevice> device_;
  std::vector<ValueType> types_;
  std::string then_name_, else_name_;
  std::unique_ptr<Executable> then_, else_;
};

class WhileKernel final : public Kernel {
 public:
  explicit WhileKernel(const KernelArgs& a) : name_(a.describe()), device_(a.ctx.device_ptr()), types_(a.inputs) {
    const auto& attrs = std::get<WhileAttrs>(a.op.attrs);
    cond_name_ = attrs.cond->name();
    body_name_ = attrs.body->name();
    cond_ = compile_sub_graph(*attrs.cond, a, "cond");
    body_ = compile_sub_graph(*attrs.body, a, "body");
  }
  bool capturable() const override { return false; }

  void launch(const LaunchArgs& a) override {
    GRAFT_CUDA(cudaStreamSynchronize(a.stream), name_, ": waiting for the initial state");
    std::vector<Tensor> state = wrap_all(device_, a.in, 0, types_);  // read by the first runs, never written
    for (int64_t iteration = 0;; ++iteration) {
      bool go;
      try {
        const Tensor p = cond_->run(state)[0];
        go = static_cast<const bool*>(p.raw())[0];
      } catch (const Error& e) {
        fail("cond '", cond_name_, "' at iteration ", iteration, ": ", e.what());
      }
      if (!go) break;
      try {
        state = body_->run(state);
      } catch (const Error& e) {
        fail("body '", body_name_, "' at iteration ", iteration, ": ", e.what());
      }
    }
    copy_out(device_, state, a.out, a.stream, name_);
  }

 private:
  std::string name_;
  std::shared_ptr<CudaDevice> device_;
  std::vector<ValueType> types_;
  std::string cond_name_, body_name_;
  std::unique_ptr<Executable> cond_, body_;
};

std::unique_ptr<Kernel> make_if(const KernelArgs& a) { return std::make_unique<IfKernel>(a); }
std::unique_ptr<Kernel> make_while(const KernelArgs& a) { return std::make_unique<WhileKernel>(a); }

}  // namespace

void register_control_kernels(KernelRegistry& r) {
  r.add(OpKind::If, make_if);
  r.add(OpKind::While, make_while);
}

}  // namespace graft::cuda
