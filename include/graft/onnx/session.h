#pragma once
// InferenceSession: the plain object for users who only want to run a model. Each distinct input
// signature (dtypes and shapes) is traced and compiled once; the executables are kept in a bounded LRU
// cache. Models whose shapes depend on values (a Reshape target fed as an input, NonZero, Compress,
// Unique, NonMaxSuppression, a Loop trip count) are traced in stages: the prefix that computes such a
// value runs on the actual inputs, the rest is traced with the result, and the compiled entry keeps a
// guard (the prefix, compiled) that later runs check before reusing it.
//
// Thread safety: run() and run_values() may be called from several threads at once on one session; the
// cache is locked, compiles of a new signature happen once (other threads wait for it), and runs of one
// compiled entry are serialized by its Executable (docs/robustness.md). stats() and last_executable_stats()
// are for reading when no run is in flight.
//
//   graft::onnx::InferenceSession s(graft::onnx::Model::load("model.onnx"));
//   auto out = s.run({{"input_ids", ids}, {"attention_mask", mask}});
//   graft::Tensor h = out.at("last_hidden_state");
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "graft/backend/backend.h"
#include "graft/onnx/model.h"

namespace graft::onnx {

struct SessionOptions {
  size_t cache_capacity = 16;  // compiled signatures kept
  CompileOptions compile;
  std::shared_ptr<Backend> backend;  // cpu_backend() when unset
  // Threads this session's runs use (graft's kernels and oneDNN), as ONNX Runtime's intra-op threads;
  // 0: the process-wide setting (graft::set_num_threads, all cores by default).
  int threads = 0;
  // Evaluates single ops on the host while tracing (TraceOptions::evaluate): known shapes and values, and
  // the prefixes of staged traces. Values known while tracing are host tensors whatever the backend.
  OpEvaluator evaluate = host_evaluator();
};

struct SessionStats {
  int traces = 0, compiles = 0, cache_hits = 0;
  int guard_runs = 0;  // staged-value checks run on cache lookups
  double last_trace_ms = 0, last_compile_ms = 0;
};

// A graph input or output of any kind graft runs: a tensor, a sequence of tensors, or an absent optional
// (a present optional is simply its tensor or sequence).
struct IoValue {
  enum class Kind { Tensor, Sequence, None };
  Kind kind = Kind::Tensor;
  Tensor tensor;                  // Kind::Tensor
  std::vector<Tensor> sequence;   // Kind::Sequence
  static IoValue of(Tensor t) { IoValue v; v.tensor = std::move(t); return v; }
  static IoValue of_sequence(std::vector<Tensor> elems) {
    IoValue v;
    v.kind = Kind::Sequence;
    v.sequence = std::move(elems);
    return v;
  }
  static IoValue none() { IoValue v; v.kind = Kind::None; return v; }
};

class InferenceSession {
 public:
  explicit InferenceSession(Model model, SessionOptions options = {});

  // Runs the model. Every declared input must be given, with its declared dtype and rank; the result
  // holds `output_names` (all graph outputs when empty).
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs,
                                    const std::vector<std::string>& output_names = {});
  // The same for models with sequence or optional inputs and outputs. Optional inputs may be left out
  // (they are absent then).
  std::map<std::string, IoValue> run_values(const std::map<std::string, IoValue>& inputs,
                                            const std::vector<std::string>& output_names = {});

  const Model& model() const { return model_; }
  const SessionStats& stats() const { return stats_; }
  size_t cache_size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }
  // Statistics of the executable the last run used.
  const ExecutableStats* last_executable_stats() const { return last_stats_; }

 private:
  // Inputs flattened to tensors: a sequence input "s" contributes elements "s[0]", "s[1]", ...
  struct FlatInputs {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::vector<std::string>> sequences;  // input -> its element names
    std::vector<std::string> absent;
  };
  struct OutputSlot {
    std::string name;
    IoValue::Kind kind = IoValue::Kind::Tensor;
    size_t first = 0, count = 0;  // executable outputs [first, first + count)
  };
  struct Entry {
    std::string key;
    std::vector<std::string> param_names;  // executable inputs, in order
    std::vector<OutputSlot> outputs;
    std::unique_ptr<Executable> exe;
    std::vector<StageGuard> guards;  // staged values this entry's trace assumed
    // The prefixes of all guards as one executable (shared ops computed once), its inputs by name, and
    // the values it must give again for the entry to be reused.
    std::unique_ptr<Executable> guard_exe;
    std::vector<std::string> guard_inputs;
    double trace_ms = 0, compile_ms = 0;
  };
  bool guards_hold(Entry& e, const std::map<std::string, Tensor>& inputs);
  FlatInputs flatten(const std::map<std::string, IoValue>& inputs) const;
  std::string signature(const FlatInputs& inputs, const std::vector<std::string>& outputs) const;
  Entry build(const FlatInputs& inputs, const std::vector<std::string>& outputs, std::string key);

  std::shared_ptr<Entry> lookup(const std::string& key, const FlatInputs& inputs);  // under mu_

  Model model_;
  SessionOptions options_;
  mutable std::mutex mu_;               // guards everything below
  std::mutex build_mu_;                 // one trace + compile at a time (a signature is compiled once)
  std::list<std::shared_ptr<Entry>> lru_;  // most recently used first; runs in flight hold their entry
  bool random_ = false;                 // the model has random ops: feed them a run counter
  uint64_t runs_ = 0;
  SessionStats stats_;
  std::shared_ptr<Entry> last_entry_;   // keeps last_stats_ valid after eviction
  const ExecutableStats* last_stats_ = nullptr;
};

}  // namespace graft::onnx
