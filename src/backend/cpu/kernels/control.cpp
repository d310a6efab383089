// If and While. Each sub-graph is compiled once, when the kernel is built, into an Executable of its
// own; a run wraps the kernel's raw buffers as Tensors (no copy) and runs the chosen sub-graph on them.
// Sub-graph runs return freshly allocated tensors and never write into their inputs, so the loop state
// can start as views of the kernel's inputs and the inputs stay untouched.
#include <cstring>

#include "backend/cpu/kernel.h"

namespace graft::cpu {

namespace {

std::vector<Tensor> wrap_all(std::span<const void* const> ptrs, size_t first, const std::vector<ValueType>& types) {
  std::vector<Tensor> out;
  out.reserve(types.size() - first);
  for (size_t i = first; i < types.size(); ++i)
    out.push_back(Tensor::wrap(types[i].dtype, types[i].shape, const_cast<void*>(ptrs[i]), nullptr));
  return out;
}

void copy_out(const std::vector<Tensor>& values, std::span<void* const> out) {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].nbytes() > 0) std::memcpy(out[i], values[i].raw(), values[i].nbytes());
}

std::unique_ptr<Executable> compile_sub_graph(const Graph& g, const KernelArgs& a, const char* role) {
  try {
    return cpu_backend()->compile(g, a.options);
  } catch (const Error& e) {
    fail(a.describe(), ": compiling ", role, " '", g.name(), "': ", e.what());
  }
}

bool read_predicate(const Tensor& t) {
  return static_cast<const bool*>(t.raw())[0];
}

class IfKernel final : public Kernel {
 public:
  explicit IfKernel(const KernelArgs& a) : types_(a.inputs) {
    const auto& attrs = std::get<IfAttrs>(a.op.attrs);
    then_name_ = attrs.then_branch->name();
    else_name_ = attrs.else_branch->name();
    then_ = compile_sub_graph(*attrs.then_branch, a, "then branch");
    else_ = compile_sub_graph(*attrs.else_branch, a, "else branch");
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    bool pred = *static_cast<const bool*>(in[0]);
    std::vector<Tensor> operands = wrap_all(in, 1, types_);
    Executable& branch = pred ? *then_ : *else_;
    std::vector<Tensor> results;
    try {
      results = branch.run(operands);
    } catch (const Error& e) {
      fail(pred ? "then branch '" : "else branch '", pred ? then_name_ : else_name_, "': ", e.what());
    }
    copy_out(results, out);
  }

 private:
  std::vector<ValueType> types_;
  std::string then_name_, else_name_;
  std::unique_ptr<Executable> then_, else_;
};

class WhileKernel final : public Kernel {
 public:
  explicit WhileKernel(const KernelArgs& a) : types_(a.inputs) {
    const auto& attrs = std::get<WhileAttrs>(a.op.attrs);
    cond_name_ = attrs.cond->name();
    body_name_ = attrs.body->name();
    cond_ = compile_sub_graph(*attrs.cond, a, "cond");
    body_ = compile_sub_graph(*attrs.body, a, "body");
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    // Views of the inputs: read by the first cond/body run, never written.
    std::vector<Tensor> state = wrap_all(in, 0, types_);
    int64_t iteration = 0;
    for (;; ++iteration) {
      bool go;
      try {
        go = read_predicate(cond_->run(state)[0]);
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
    copy_out(state, out);
  }

 private:
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

}  // namespace graft::cpu
