#pragma once
// InferenceSession: the plain object for users who only want to run a model. Each distinct input
// signature (dtypes and shapes) is traced and compiled once; the executables are kept in a bounded LRU
// cache.
//
// Staged execution. Models whose shapes depend on values are traced in stages (docs/design.md). An op whose
// output *shape* depends on its operands' values (NonZero, Compress, NonMaxSuppression) runs on the host
// between compiled stages, on every run, and its results are inputs of the next stage: a compiled stage is
// reused by any later run whose staged results have the same dtypes and shapes (a detector's new image
// with as many boxes). A value whose *contents* the trace needs (a Reshape target, a trip count, TopK's k, an
// If condition that picks a branch) is a guard: the next stage is reused only for the same contents. So a
// compiled entry is a tree: the first stage per input signature, and below each stage the next stages by
// the shapes and guard values met when leaving it. Each stage runs once per run; a run that meets a new key
// traces again (reusing the values so far), takes the values that trace computed, and compiles a new stage
// only when the trace did not compute its values or a later run reaches it.
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
  // traces and compiles: one each per trace (of a new input signature, or of a staged run that met new
  // stage shapes or guard values); cache_hits: runs that needed neither.
  int traces = 0, compiles = 0, cache_hits = 0;
  int stage_compiles = 0;    // executables compiled: one per stage of each trace, from the stage it met anew
  int stage_crossings = 0;   // stage boundaries crossed by runs (host ops run, guards compared)
  int guard_runs = 0;        // crossings that compared guard values
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
  // Compiled paths kept: one per input signature, or per sequence of stage keys for staged models
  // (SessionOptions::cache_capacity bounds it; the least recently used path goes first).
  size_t cache_size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return paths_;
  }
  // Statistics of the executable the last run used (of a staged model: its last stage that computed
  // something; null when none did).
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
  // A run's values: executable inputs and outputs by their op and output index in the traced graph. The
  // traces of one input signature number their ops alike up to the stage where their keys differ.
  using ValueKey = std::pair<int, int>;
  using RunValues = std::map<ValueKey, Tensor>;
  // One compiled stage, and what leaving it takes.
  struct Stage {
    int level = 0;
    std::unique_ptr<Executable> exe;  // null when the stage computes nothing or is not compiled yet
    // A stage first met by a run that traced it for new staged shapes: that run took its values from the
    // trace, which had computed them already (a detector's new image: the box head and the final NMS's
    // operands); its graph is compiled when a later run reaches the stage (compile_pending).
    std::shared_ptr<const Graph> pending;
    std::vector<ValueKey> inputs, outputs;
    // Leaving the stage (nothing when it is the last): host ops, then guards, in trace order; the dtypes
    // and shapes of the results and the guards' values make the key of the next stage.
    struct HostOp {
      std::vector<ValueKey> operands, results;
      StagedFunction compute;
      std::string what;
    };
    struct Guard {
      ValueKey value;
      std::string what;
    };
    std::vector<HostOp> host_ops;
    std::vector<Guard> guards;
    std::map<std::string, std::shared_ptr<Stage>> next;
    Stage* parent = nullptr;
    std::string key;  // in parent->next
    // The last stage: the graph outputs (values of the run, or constants of the trace).
    bool last = false;
    std::vector<OutputSlot> slots;
    std::vector<ValueKey> output_values;
    std::map<size_t, Tensor> constant_outputs;  // by position in output_values
    uint64_t last_use = 0;
    bool evicted = false;  // no longer in the cache (a run in flight may still hold it)
  };
  struct Entry {
    std::string key;
    std::vector<std::pair<std::string, ValueKey>> params;  // graph inputs (and the run counter)
    std::shared_ptr<Stage> first;
  };
  FlatInputs flatten(const std::map<std::string, IoValue>& inputs) const;
  std::string signature(const FlatInputs& inputs, const std::vector<std::string>& outputs) const;
  // Traces for these inputs and compiles the stages after `from` (all of them for a new signature, with
  // `entry.params`); `seen` holds the values this run computed so far. Returns the first stage compiled,
  // its `key` the key that leads to it from `from`. Called under build_mu_, without mu_.
  // With `traced` (a trace for new staged shapes), stages whose outputs the trace computed are left pending
  // and the values the trace computed go to `traced`, for this run.
  std::shared_ptr<Stage> build(const FlatInputs& inputs, const std::vector<std::string>& outputs,
                               const RunValues& seen, const Stage* from, Entry& entry, RunValues* traced = nullptr);
  // The executable of a stage (compiling a pending one now); null when it computes nothing. Without mu_.
  Executable* executable(Stage& stage);
  std::shared_ptr<Entry> find_entry(const std::string& key);  // under mu_
  void evict();                                                 // under mu_: down to cache_capacity paths

  Model model_;
  SessionOptions options_;
  mutable std::mutex mu_;               // guards everything below
  std::mutex build_mu_;                 // one trace + compile at a time (a signature is compiled once)
  std::list<std::shared_ptr<Entry>> entries_;  // runs in flight hold their entry and stages
  size_t paths_ = 0;                    // last stages in the cache
  uint64_t use_clock_ = 0;              // Stage::last_use
  bool random_ = false;                 // the model has random ops: feed them a run counter
  uint64_t runs_ = 0;
  SessionStats stats_;
  std::shared_ptr<Stage> last_stage_;   // keeps last_stats_ valid after eviction
  const ExecutableStats* last_stats_ = nullptr;
};

}  // namespace graft::onnx
