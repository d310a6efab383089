// The CPU backend: optimize the graph, fuse element-wise chains, build one kernel per remaining op,
// plan the intermediates into one arena, and run the kernels in order.
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <algorithm>
#include <chrono>
#include <mutex>

#include "backend/cpu/fusion.h"
#include "backend/run_into_checks.h"
#include "backend/cpu/kernel.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/attention_fusion.h"
#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/matmul_epilogue.h"
#include "backend/cpu/memory_plan.h"
#include "backend/cpu/nbits_dequantize.h"
#include "backend/cpu/optimize.h"
#include "backend/cpu/quantized_conv.h"
#include "backend/cpu/quantized_product.h"
#include "backend/cpu/widen_f16.h"
#include "graft/core/limits.h"
#include "graft/graph/passes.h"

namespace graft::cpu {

namespace {

enum class BufferKind { Arena, Param, Const, Output };

struct Buffer {
  BufferKind kind = BufferKind::Arena;
  size_t bytes = 0;
  size_t offset = 0;  // Arena
  int index = 0;      // Param: parameter index; Output: output index
  const void* constant = nullptr;
  int first_step = 0, last_step = 0;
};

struct Step {
  std::unique_ptr<Kernel> kernel;
  std::vector<int> in, out;  // buffer ids
  std::vector<const void*> in_ptrs;
  std::vector<void*> out_ptrs;
  int op = 0;
  double seconds = 0;  // accumulated when profiling
};

bool is_alias(OpKind k) { return k == OpKind::Reshape || k == OpKind::StopGradient; }

// What a step runs, for errors and profiles: the op kind, or a composite's name (cpu.product, layer_norm, ...).
std::string step_kind(const Op& op) {
  if (op.kind == OpKind::Composite) return std::string(std::get<CompositeAttrs>(op.attrs).name());
  return std::string(op_name(op.kind));
}

class CpuExecutable final : public Executable {
 public:
  CpuExecutable(const Graph& source, const CompileOptions& options) {
    auto t0 = std::chrono::steady_clock::now();
    for (int p : source.parameters()) input_types_.push_back(source.op(p).outputs[0]);
    for (const ValueRef& r : source.outputs()) output_types_.push_back(source.op(r.op).outputs[size_t(r.output)]);
    CpuPassCounts counts;
    graph_ = optimize_for_cpu(source, options, &counts);
    stats_.num_fused_groups = counts.fused_groups;
    // int8 products that took a bias / GELU / residual count with the f32 ones
    stats_.num_fused_epilogues = counts.fused_epilogues + counts.quantized_epilogues;
    stats_.num_fused_attention = counts.fused_attention;
    stats_.num_fused_conv_epilogues = counts.fused_conv_epilogues;
    stats_.num_quantized_products = counts.quantized_products + counts.quantized_convolutions;
    stats_.num_f16_values_widened = counts.widened_f16;
    build(options);
    const char* p = std::getenv("GRAFT_PROFILE");
    profile_ = p && *p && std::string(p) != "0";
    profile_level_ = profile_ ? std::max(1, std::atoi(p)) : 0;
    stats_.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
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
  // Runs the steps. Output tensors that are defined on entry are written in place; the others are allocated.
  void execute(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
    std::lock_guard<std::mutex> lock(mu_);  // the arena is shared by calls: one run at a time
    GRAFT_CHECK(inputs.size() == input_types_.size(), "graph '", graph_.name(), "' takes ", input_types_.size(),
                " inputs, given ", inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const ValueType& want = input_types_[i];
      GRAFT_CHECK(inputs[i].defined(), "input ", i, " ('", param_name(int(i)), "') is undefined");
      GRAFT_CHECK(inputs[i].dtype() == want.dtype && inputs[i].shape() == want.shape, "input ", i, " ('",
                  param_name(int(i)), "') is ", dtype_name(inputs[i].dtype()), inputs[i].shape(), ", expected ",
                  want.str());
    }
    std::vector<bool> given(outputs.size());
    for (size_t j = 0; j < outputs.size(); ++j) given[j] = outputs[j].defined();
    for (size_t b = 0; b < buffers_.size(); ++b) {
      const Buffer& buf = buffers_[b];
      switch (buf.kind) {
        case BufferKind::Arena: ptrs_[b] = static_cast<char*>(arena_->data()) + buf.offset; break;
        case BufferKind::Param: ptrs_[b] = const_cast<void*>(inputs[size_t(buf.index)].raw()); break;
        case BufferKind::Const: ptrs_[b] = const_cast<void*>(buf.constant); break;
        case BufferKind::Output: {
          Tensor& o = outputs[size_t(buf.index)];
          if (!o.defined()) o = Tensor::uninitialized(output_types_[size_t(buf.index)].dtype, output_types_[size_t(buf.index)].shape);
          ptrs_[b] = o.raw();
          break;
        }
      }
    }
    for (Step& s : steps_) {
      for (size_t i = 0; i < s.in.size(); ++i) s.in_ptrs[i] = ptrs_[size_t(s.in[i])];
      for (size_t i = 0; i < s.out.size(); ++i) s.out_ptrs[i] = ptrs_[size_t(s.out[i])];
      try {
        if (profile_) {
          auto t0 = std::chrono::steady_clock::now();
          s.kernel->run(s.in_ptrs, s.out_ptrs);
          s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } else {
          s.kernel->run(s.in_ptrs, s.out_ptrs);
        }
      } catch (const Error& e) {
        const Op& op = graph_.op(s.op);
        fail(step_kind(op), op.name.empty() ? "" : " \"" + op.name + "\"", ": ", e.what());
      }
    }
    for (size_t j = 0; j < output_types_.size(); ++j) {
      const Buffer& buf = buffers_[size_t(output_buffer_[j])];
      if (buf.kind == BufferKind::Output && buf.index == int(j)) continue;  // written in place
      // An output that is an input, a constant, or another output's buffer: copy it out.
      const ValueType& t = output_types_[j];
      size_t bytes = size_t(t.shape.size()) * dtype_size(t.dtype);
      const void* src = ptrs_[size_t(output_buffer_[j])];
      if (given[j])
        std::memmove(outputs[j].raw(), src, bytes);
      else
        outputs[j] = Tensor::from_bytes(t.dtype, t.shape, src, bytes);
    }
  }

  std::string param_name(int i) const {
    return std::get<ParameterAttrs>(graph_.op(graph_.parameters()[size_t(i)]).attrs).name;
  }

  int find(int b) {
    while (forward_[size_t(b)] != b) b = forward_[size_t(b)];
    return b;
  }

  void build(const CompileOptions& options) {
    const int n = graph_.num_ops();
    std::vector<std::vector<int>> value_buffer(static_cast<size_t>(n));
    auto new_buffer = [&](Buffer b) {
      buffers_.push_back(b);
      forward_.push_back(int(forward_.size()));
      return int(buffers_.size() - 1);
    };
    const std::vector<char> channels_last = options.conv_channels_last ? channels_last_values() : std::vector<char>(size_t(n), 0);
    stats_.num_channels_last_values = int(std::count(channels_last.begin(), channels_last.end(), 1));
    // 1. One buffer per value; aliases (reshape) share their operand's; kernels built on the way.
    for (int i = 0; i < n; ++i) {
      const Op& op = graph_.op(i);
      auto bytes_of = [](const ValueType& t) { return size_t(t.shape.size()) * dtype_size(t.dtype); };
      if (op.kind == OpKind::Parameter) {
        Buffer b{BufferKind::Param, bytes_of(op.outputs[0])};
        b.index = std::get<ParameterAttrs>(op.attrs).index;
        value_buffer[size_t(i)] = {new_buffer(b)};
        continue;
      }
      if (op.kind == OpKind::Constant) {
        Buffer b{BufferKind::Const, bytes_of(op.outputs[0])};
        b.constant = std::get<ConstantAttrs>(op.attrs).value.raw();
        stats_.constant_bytes += b.bytes;
        value_buffer[size_t(i)] = {new_buffer(b)};
        continue;
      }
      if (is_alias(op.kind)) {
        value_buffer[size_t(i)] = {value_buffer[size_t(op.inputs[0].op)][size_t(op.inputs[0].output)]};
        continue;
      }
      Step s;
      s.op = i;
      int step_index = int(steps_.size());
      std::vector<ValueType> in_types;
      std::vector<const void*> constants;  // per operand: its data when it is a compile-time constant
      for (const ValueRef& r : op.inputs) {
        s.in.push_back(value_buffer[size_t(r.op)][size_t(r.output)]);
        in_types.push_back(graph_.op(r.op).outputs[size_t(r.output)]);
        const Buffer& src = buffers_[size_t(s.in.back())];
        constants.push_back(src.kind == BufferKind::Const ? src.constant : nullptr);
      }
      for (const ValueType& t : op.outputs) {
        Buffer b{BufferKind::Arena, bytes_of(t)};
        b.first_step = b.last_step = step_index;
        s.out.push_back(new_buffer(b));
      }
      value_buffer[size_t(i)] = s.out;
      KernelArgs args{op, in_types, op.outputs, options, constants};
      for (size_t k = 0; k < op.inputs.size() && k < 32; ++k)
        if (op.inputs[k].output == 0 && channels_last[size_t(op.inputs[k].op)]) args.channels_last_inputs |= 1u << k;
      args.channels_last_output = channels_last[size_t(i)] != 0;
      s.kernel = make_kernel(args);
      stats_.num_bf16_kernels += s.kernel->runs_bf16() ? 1 : 0;
      s.in_ptrs.resize(s.in.size());
      s.out_ptrs.resize(s.out.size());
      steps_.push_back(std::move(s));
    }
    // 2. Live ranges. Graph outputs live to the end; each becomes an Output buffer written in place by
    // its producer, unless it is an input, a constant, or already another output.
    const int end = int(steps_.size());
    for (int si = 0; si < end; ++si)
      for (int b : steps_[size_t(si)].in) buffers_[size_t(b)].last_step = std::max(buffers_[size_t(b)].last_step, si);
    output_buffer_.clear();
    for (size_t j = 0; j < graph_.outputs().size(); ++j) {
      const ValueRef& r = graph_.outputs()[j];
      int b = value_buffer[size_t(r.op)][size_t(r.output)];
      output_buffer_.push_back(b);
      Buffer& buf = buffers_[size_t(b)];
      buf.last_step = end;
      if (buf.kind == BufferKind::Arena) {
        buf.kind = BufferKind::Output;
        buf.index = int(j);
      }
    }
    // 3. In place: an element-wise step may write into an operand that dies at that step.
    for (int si = 0; si < end; ++si) {
      Step& s = steps_[size_t(si)];
      if (s.out.size() != 1 || buffers_[size_t(s.out[0])].kind != BufferKind::Arena) continue;
      for (size_t k = 0; k < s.in.size(); ++k) {
        int b = find(s.in[k]);
        Buffer& in = buffers_[size_t(b)];
        if (!s.kernel->can_run_in_place(int(k)) || in.kind != BufferKind::Arena || in.last_step != si ||
            in.bytes != buffers_[size_t(s.out[0])].bytes)
          continue;
        bool used_twice = false;  // the same buffer read through another operand too
        for (size_t k2 = 0; k2 < s.in.size(); ++k2) used_twice |= k2 != k && find(s.in[k2]) == b;
        if (used_twice) continue;
        forward_[size_t(s.out[0])] = b;
        in.last_step = buffers_[size_t(s.out[0])].last_step;
        break;
      }
    }
    for (Step& s : steps_) {
      for (int& b : s.in) b = find(b);
      for (int& b : s.out) b = find(b);
    }
    for (int& b : output_buffer_) b = find(b);
    // 4. Arena offsets for the remaining intermediates.
    std::vector<BufferRequest> reqs;
    std::vector<int> ids;
    for (size_t b = 0; b < buffers_.size(); ++b) {
      if (find(int(b)) != int(b) || buffers_[b].kind != BufferKind::Arena) continue;
      reqs.push_back({buffers_[b].bytes, buffers_[b].first_step, buffers_[b].last_step});
      ids.push_back(int(b));
    }
    MemoryPlan plan = plan_memory(reqs);
    for (size_t i = 0; i < ids.size(); ++i) buffers_[size_t(ids[i])].offset = plan.offsets[i];
    check_memory(plan.arena_bytes, "the intermediate values of graph '" + graph_.name() + "' (one arena)");
    arena_ = Storage::allocate(plan.arena_bytes, /*zero=*/false);
    ptrs_.assign(buffers_.size(), nullptr);
    stats_.num_kernels = int(steps_.size());
    stats_.arena_bytes = plan.arena_bytes;
    stats_.naive_bytes = plan.naive_bytes;
  }

  // The values stored channels-last ([N, spatial..., C], same bytes as NCHW). oneDNN's fast convolutions
  // work in channels-last (or blocked) layouts; keeping the values between them channels-last saves the
  // reorders from and back to NCHW around every convolution. Candidates are the outputs of f32 (and int8)
  // convolutions, 2-d poolings (ResNet's max pool pools channels in SIMD lanes) and element-wise kernels
  // (a squeeze-excitation block's Mul, activations the convolution did not absorb), never graph outputs.
  // A value stays a candidate only if every reader takes it channels-last: a convolution as its activation
  // or residual, a pooling, a Reduce over every spatial axis (global pooling), or an element-wise kernel that
  // itself runs channels-last and reads it at the result's shape. An element-wise kernel runs channels-last
  // only if every operand of the result's shape is channels-last (others are broadcast, [N, C, 1, 1] and the
  // like, read through strides), and a pooling only if its input is. Flags are only ever cleared, so the loop
  // below reaches its fixed point.
  std::vector<char> channels_last_values() const {
    const int n = graph_.num_ops();
    // Plain convolutions and cpu.convolution ops with an epilogue alike.
    auto conv_form = [](const Op& op) -> std::optional<ConvolutionEpilogue> {
      if (op.kind == OpKind::Convolution) return ConvolutionEpilogue{std::get<ConvolutionAttrs>(op.attrs)};
      if (const ConvolutionEpilogue* f = lowered_form<ConvolutionEpilogue>(op)) return *f;
      return std::nullopt;
    };
    // int8 convolutions (cpu.quantized_conv) alike, with f32 or 8-bit results.
    auto eligible = [&](const Op& op) {
      const int r = op.outputs[0].shape.rank();
      if (lowered_form<QuantizedConvolution>(op)) return op.outputs[0].dtype != DType::I32 && r >= 3 && r <= 5;
      auto f = conv_form(op);
      if (!f || op.outputs[0].dtype != DType::F32) return false;
      return !f->conv.transposed && r >= 3 && r <= 5;
    };
    auto residual_of = [&](const Op& op) {
      if (const QuantizedConvolution* q = lowered_form<QuantizedConvolution>(op)) return q->residual_input();
      return conv_form(op)->residual_input();
    };
    auto type_of = [&](const ValueRef& r) -> const ValueType& { return graph_.op(r.op).outputs[size_t(r.output)]; };
    enum class Reader : char { None, Conv, Pool, Reduce, Elementwise };
    std::vector<Reader> kind(static_cast<size_t>(n), Reader::None);
    std::vector<int> residual(static_cast<size_t>(n), -1);
    std::vector<char> cl(static_cast<size_t>(n), 0);
    for (int i = 0; i < n; ++i) {
      const Op& op = graph_.op(i);
      if (op.outputs.empty()) continue;
      std::vector<ValueType> in_types;
      for (const ValueRef& r : op.inputs) in_types.push_back(type_of(r));
      if (eligible(op)) {
        kind[size_t(i)] = Reader::Conv;
        residual[size_t(i)] = residual_of(op);
      } else if (pooling_takes_channels_last(op)) {
        kind[size_t(i)] = Reader::Pool;
      } else if (!in_types.empty() && reduce_takes_channels_last(op, in_types[0])) {
        kind[size_t(i)] = Reader::Reduce;
      } else if (elementwise_takes_channels_last(op, in_types)) {
        kind[size_t(i)] = Reader::Elementwise;
      }
      cl[size_t(i)] = kind[size_t(i)] != Reader::None && kind[size_t(i)] != Reader::Reduce &&
                      op.outputs[0].shape.size() > 0;
    }
    for (const ValueRef& r : graph_.outputs()) cl[size_t(r.op)] = 0;
    for (bool changed = true; changed;) {
      changed = false;
      auto clear = [&](int i) {
        if (cl[size_t(i)]) cl[size_t(i)] = 0, changed = true;
      };
      for (int j = 0; j < n; ++j) {
        const Op& op = graph_.op(j);
        const Reader k_j = kind[size_t(j)];
        for (size_t k = 0; k < op.inputs.size(); ++k) {
          const ValueRef& in = op.inputs[k];
          bool takes = false;
          switch (k_j) {
            case Reader::Conv: takes = k == 0 || int(k) == residual[size_t(j)]; break;
            case Reader::Pool:
            case Reader::Reduce: takes = k == 0; break;
            case Reader::Elementwise: takes = cl[size_t(j)] && type_of(in).shape == op.outputs[0].shape; break;
            case Reader::None: break;
          }
          if (!takes || in.output != 0) clear(in.op);
        }
        // A pooling of an NCHW value would read channels strided by H*W, and an element-wise kernel would
        // read such an operand strided: both then run in NCHW (the convolution after them reorders, as before).
        if (cl[size_t(j)] && (k_j == Reader::Pool || k_j == Reader::Elementwise))
          for (size_t k = 0; k < op.inputs.size(); ++k) {
            const ValueRef& in = op.inputs[k];
            if ((k_j == Reader::Pool ? k == 0 : type_of(in).shape == op.outputs[0].shape) &&
                (in.output != 0 || !cl[size_t(in.op)]))
              clear(j);
          }
      }
    }
    return cl;
  }

  // GRAFT_PROFILE=1: time every step, print the totals by kind when the executable is destroyed (=2: and
  // the slowest kernels one by one).
  void print_profile() const {
    std::map<std::string, std::pair<double, int>> by_kind;
    double total = 0;
    for (const Step& s : steps_) {
      const Op& op = graph_.op(s.op);
      std::string k = step_kind(op);
      by_kind[k].first += s.seconds;
      by_kind[k].second += 1;
      total += s.seconds;
    }
    std::vector<std::pair<double, std::string>> rows;
    for (auto& [k, v] : by_kind) rows.emplace_back(v.first, k);
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "graft profile of '%s' (%d kernels): %.3f s in kernels\n", graph_.name().c_str(),
                 int(steps_.size()), total);
    for (auto& [t, k] : rows)
      std::fprintf(stderr, "  %-28s %8.3f s  %5.1f%%  (%d kernels)\n", k.c_str(), t, total > 0 ? 100 * t / total : 0.0,
                   by_kind[k].second);
    if (profile_level_ < 2) return;
    // GRAFT_PROFILE=2: also the 15 slowest kernels, with the op (ONNX node) they came from and their shape;
    // GRAFT_PROFILE=3: every kernel, in the order they run.
    std::vector<const Step*> slow;
    for (const Step& s : steps_) slow.push_back(&s);
    const bool every = profile_level_ >= 3;
    if (!every)
      std::sort(slow.begin(), slow.end(), [](const Step* a, const Step* b) { return a->seconds > b->seconds; });
    std::fprintf(stderr, every ? "  every kernel, in order:\n" : "  slowest kernels:\n");
    for (size_t i = 0; i < slow.size() && (every || i < 15); ++i) {
      const Op& op = graph_.op(slow[i]->op);
      std::fprintf(stderr, "  %8.3f s  %-12s %-24s \"%s\"\n", slow[i]->seconds, step_kind(op).c_str(),
                   op.outputs.empty() ? "" : op.outputs[0].str().c_str(), op.name.c_str());
    }
  }

 public:
  ~CpuExecutable() override {
    if (profile_ && !steps_.empty()) print_profile();
  }

 private:
  bool profile_ = false;
  int profile_level_ = 0;  // GRAFT_PROFILE=2 adds the slowest kernels by name, =3 every kernel
  Graph graph_;
  std::vector<Step> steps_;
  std::vector<Buffer> buffers_;
  std::vector<int> forward_;  // in-place merges: buffer -> the buffer it writes into
  std::vector<int> output_buffer_;
  std::vector<void*> ptrs_;
  std::shared_ptr<Storage> arena_;
  std::mutex mu_;
};

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options) override {
    return std::make_unique<CpuExecutable>(graph, options);
  }
};

}  // namespace

std::optional<std::vector<Tensor>> evaluate_op(const Op& op, const std::vector<ValueType>& input_types,
                                               const std::vector<Tensor>& inputs, const CompileOptions& options) {
  std::unique_ptr<Kernel> k;
  try {
    k = make_kernel(KernelArgs{op, input_types, op.outputs, options});
  } catch (const Error&) {
    return std::nullopt;  // no kernel yet: leave the op for compile() to report
  }
  std::vector<Tensor> outs;
  std::vector<const void*> in;
  std::vector<void*> out;
  for (const Tensor& t : inputs) in.push_back(t.raw());
  for (const ValueType& t : op.outputs) {
    outs.push_back(Tensor::uninitialized(t.dtype, t.shape));
    out.push_back(outs.back().raw());
  }
  k->run(in, out);
  return outs;
}

Graph optimize_for_cpu(const Graph& g, const CompileOptions& options, CpuPassCounts* counts) {
  CpuPassCounts c;
  // First, so that the f16 constants' f32 copies are folded by optimize() below.
  const std::optional<Graph> widened_graph = options.widen_f16 ? widen_f16(g, &c.widened_f16) : std::nullopt;
  PassOptions p;
  p.simplify = options.simplify;
  p.cse = options.eliminate_common_subexpressions;
  if (options.use_fused_composites)
    p.keep_composite = [](const Op& op) { return KernelRegistry::get().find(op) != nullptr; };
  if (options.fold_constants)
    // Folded values are exact f32, whatever the products' precision at run time.
    p.fold = [fold_options = [&] { CompileOptions f = options; f.precision = Precision::F32; return f; }()](
                 const Op& op, const std::vector<ValueType>& types, const std::vector<Tensor>& values) {
      return evaluate_op(op, types, values, fold_options);
    };
  Graph out = optimize(widened_graph ? *widened_graph : g, p);
  if (int dequantized = 0; options.nbits_dequantize_max_bytes > 0) {
    Graph small = dequantize_small_matmul_nbits(out, options.nbits_dequantize_max_bytes, &dequantized);
    if (dequantized > 0) out = optimize(small, p);  // (the products' reshapes, as for any MatMul)
  }
  if (options.fuse_attention && options.use_fused_composites) out = fuse_attention(out, &c.fused_attention);
  if (options.int8_products) {
    int qdq_products = 0, min_max = 0;
    out = canonicalize_qdq_products(out, &qdq_products);
    out = fuse_quantized_products(out, options.fuse_matmul_epilogues, &c.quantized_products, &c.quantized_epilogues);
    out = fuse_min_max(out, &min_max);
    if (options.fuse_elementwise) out = fuse_quantize(out, &c.quantize);
  }
  if (options.fuse_matmul_epilogues) out = fuse_matmul_epilogues(out, &c.fused_epilogues);
  if (options.fuse_conv_epilogues) out = fuse_conv_epilogues(out, &c.fused_conv_epilogues);
  if (options.int8_products) out = fuse_quantized_convolutions(out, &c.quantized_convolutions);
  if (options.fuse_elementwise) out = fuse_elementwise(out, &c.fused_groups);
  if (counts) *counts = c;
  return out;
}

}  // namespace graft::cpu

namespace graft {

std::shared_ptr<Backend> cpu_backend() {
  static std::shared_ptr<Backend> backend = std::make_shared<cpu::CpuBackend>();
  return backend;
}

OpEvaluator host_evaluator() {
  return [](const Op& op, const std::vector<ValueType>& types, const std::vector<Tensor>& values) {
    return cpu::evaluate_op(op, types, values, CompileOptions{});
  };
}

void set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : omp_get_num_procs()); }
int num_threads() { return omp_get_max_threads(); }

}  // namespace graft
