// Datasets and the training loop.
#include "graft/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "graft/context/checkpoint.h"

namespace graft::train {

Dataset::Dataset(std::vector<Tensor> columns) : columns_(std::move(columns)) {
  GRAFT_CHECK(!columns_.empty(), "Dataset: no columns");
  n_ = columns_[0].rank() ? columns_[0].shape()[0] : 0;
  for (size_t i = 0; i < columns_.size(); ++i)
    GRAFT_CHECK(columns_[i].rank() >= 1 && columns_[i].shape()[0] == n_, "Dataset: column ", i, " has shape ",
                columns_[i].shape(), ", expected ", n_, " examples on axis 0");
}

std::vector<Tensor> Dataset::gather(const std::vector<int64_t>& idx) const {
  std::vector<Tensor> out;
  for (const Tensor& c : columns_) {
    std::vector<int64_t> dims = c.shape().dims();
    dims[0] = int64_t(idx.size());
    Tensor b = Tensor::uninitialized(c.dtype(), Shape(dims));
    size_t row = c.nbytes() / size_t(std::max<int64_t>(1, n_));
    for (size_t i = 0; i < idx.size(); ++i) {
      GRAFT_CHECK(idx[i] >= 0 && idx[i] < n_, "Dataset: index ", idx[i], " out of range [0, ", n_, ")");
      std::memcpy(static_cast<char*>(b.raw()) + i * row, static_cast<const char*>(c.raw()) + size_t(idx[i]) * row, row);
    }
    out.push_back(b);
  }
  return out;
}

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  GRAFT_CHECK(0 <= begin && begin <= end && end <= n_, "Dataset::slice: [", begin, ", ", end, ") of ", n_);
  std::vector<int64_t> idx;
  for (int64_t i = begin; i < end; ++i) idx.push_back(i);
  return Dataset(gather(idx));
}

int64_t batches_per_epoch(int64_t n, const BatchOptions& o) {
  GRAFT_CHECK(o.batch_size > 0, "BatchOptions: batch_size must be positive");
  return o.drop_remainder ? n / o.batch_size : (n + o.batch_size - 1) / o.batch_size;
}

namespace {
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

std::vector<int64_t> epoch_order(int64_t n, const BatchOptions& o, int64_t epoch) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
  if (!o.shuffle) return idx;
  uint64_t state = o.seed * 0x100000001b3ull + uint64_t(epoch) * 0x9e3779b97f4a7c15ull + 1;
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with our own generator: the same on every platform
    int64_t j = int64_t(splitmix64(state) % uint64_t(i + 1));
    std::swap(idx[size_t(i)], idx[size_t(j)]);
  }
  return idx;
}

std::vector<Tensor> batch_at(const Dataset& d, const BatchOptions& o, int64_t epoch, int64_t index) {
  std::vector<int64_t> order = epoch_order(d.size(), o, epoch);
  int64_t b = index * o.batch_size, e = std::min(d.size(), b + o.batch_size);
  return d.gather(std::vector<int64_t>(order.begin() + b, order.begin() + e));
}

Trainer::Trainer(Context ctx, LossFn loss, std::shared_ptr<Optimizer> optimizer, Schedule schedule,
                 TrainStepOptions options)
    : ctx_(ctx),
      step_(ctx, std::move(loss), std::move(optimizer), std::move(schedule), options),
      comm_(options.communicator && options.communicator->size() > 1 ? options.communicator : nullptr) {}

namespace {
// Member `rank`'s rows of a batch: [rank*n/size, (rank+1)*n/size).
std::vector<Tensor> shard_of(const std::vector<Tensor>& batch, int rank, int size) {
  std::vector<Tensor> out;
  for (const Tensor& t : batch) {
    int64_t n = t.shape()[0], b = n * rank / size, e = n * (rank + 1) / size;
    std::vector<int64_t> dims = t.shape().dims();
    dims[0] = e - b;
    size_t row = t.nbytes() / size_t(std::max<int64_t>(1, n));
    out.push_back(Tensor::from_bytes(t.dtype(), Shape(dims), static_cast<const char*>(t.raw()) + size_t(b) * row,
                                     size_t(e - b) * row));
  }
  return out;
}
}  // namespace

EvalResult Trainer::evaluate(const Dataset& data, int64_t batch_size, const CollateFn& collate) {
  EvalResult r;
  double loss = 0, acc = 0;
  bool has_acc = false;
  BatchOptions o{.batch_size = batch_size, .shuffle = false};
  for (int64_t b = 0; b < batches_per_epoch(data.size(), o); ++b) {
    std::vector<Tensor> batch = batch_at(data, o, 0, b);
    if (collate) batch = collate(std::move(batch));
    int64_t n = batch[0].shape()[0];
    std::vector<Tensor> out = step_.evaluate(batch);
    loss += out[0].value_as_double(0) * double(n);
    if (out.size() > 1 && out[1].size() == 1) has_acc = true, acc += out[1].value_as_double(0) * double(n);
    r.examples += n;
  }
  if (r.examples) {
    r.loss = loss / double(r.examples);
    if (has_acc) r.accuracy = acc / double(r.examples);
  }
  return r;
}

namespace {
std::string hms(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  int t = int(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
  return buf;
}
}  // namespace

FitResult Trainer::fit(const Dataset& train, const Dataset* eval, LoopOptions o) {
  std::ostream& out = o.out ? *o.out : std::cout;
  Progress mode = o.progress;
  if (mode == Progress::Auto) mode = (o.out == nullptr && ::isatty(STDOUT_FILENO)) ? Progress::Bar : Progress::Lines;
  const bool lead = !comm_ || comm_->rank() == 0;  // the member that prints and writes checkpoints
  if (!lead) mode = Progress::Off;
  const int64_t bpe = batches_per_epoch(train.size(), o.batching);
  GRAFT_CHECK(bpe > 0, "Trainer::fit: ", train.size(), " examples give no batch of ", o.batching.batch_size);
  GRAFT_CHECK(!comm_ || o.batching.batch_size >= comm_->size(), "Trainer::fit: a batch of ", o.batching.batch_size,
              " examples cannot be shared by the ", comm_ ? comm_->size() : 1, " members of the data-parallel group");
  FitResult res;
  // Resume: the checkpoint holds variables, optimizer state and counters; early-stopping state is in its JSON.
  double best = std::numeric_limits<double>::infinity();
  int bad = 0;
  std::unique_ptr<CheckpointManager> mgr;
  if (!o.checkpoint_dir.empty()) {
    mgr = std::make_unique<CheckpointManager>(o.checkpoint_dir, o.keep_last);
    if (o.resume) {
      if (auto extra = mgr->restore(ctx_)) {
        if (auto it = extra->find("best_eval_loss"); it != extra->end() && std::holds_alternative<double>(it->second))
          best = std::get<double>(it->second);
        if (auto it = extra->find("bad_evals"); it != extra->end() && std::holds_alternative<int64_t>(it->second))
          bad = int(std::get<int64_t>(it->second));
      }
    }
  }
  const int64_t total_updates = o.max_steps > 0 ? o.max_steps : o.epochs * bpe;  // accumulation 1 assumed for epochs
  auto start = std::chrono::steady_clock::now();
  int64_t updates_at_start = step_.updates();
  // Position in the data: the number of micro-batches consumed = updates * k + micro (tracked in the ctx).
  int64_t consumed = ctx_.hparam<int64_t>("_micro_batches_consumed", 0);
  auto save = [&] {
    if (!mgr || !lead) return;
    ctx_.set_hparam("_micro_batches_consumed", consumed);
    CheckpointExtra extra = {{"bad_evals", int64_t(bad)}};
    if (std::isfinite(best)) extra["best_eval_loss"] = best;
    mgr->save(ctx_, step_.updates(), extra);
  };
  auto do_eval = [&]() -> bool {
    if (!eval) return true;
    EvalResult r = o.evaluate ? o.evaluate(*eval) : evaluate(*eval, o.eval_batch_size, o.collate);
    res.evals.push_back(r);
    if (mode != Progress::Off) {
      if (mode == Progress::Bar) out << "\n";
      out << "eval step " << step_.updates() << ": loss " << r.loss;
      if (!std::isnan(r.accuracy) && !r.metrics.count("accuracy")) out << ", accuracy " << r.accuracy;
      for (const auto& [name, value] : r.metrics) out << ", " << name << " " << value;
      out << " (" << r.examples << " examples)" << std::endl;
    }
    bool go = true;
    for (auto& h : eval_hooks_) go = h(step_.updates(), r) && go;
    if (o.early_stopping_patience > 0) {
      if (r.loss < best - o.min_delta) best = r.loss, bad = 0;
      else if (++bad >= o.early_stopping_patience) go = false;
    }
    return go;
  };
  while (step_.updates() < total_updates) {
    int64_t epoch = consumed / bpe, index = consumed % bpe;
    std::vector<Tensor> batch = batch_at(train, o.batching, epoch, index);
    if (comm_) {
      if (batch[0].shape()[0] < comm_->size()) {  // every member sees the same batch size: all skip it
        ++consumed;
        continue;
      }
      batch = shard_of(batch, comm_->rank(), comm_->size());
    }
    if (o.collate) batch = o.collate(std::move(batch));
    int64_t before = step_.updates();
    float loss = step_.step(batch);
    ++consumed;
    res.losses.push_back(loss);
    if (step_.updates() == before) continue;  // accumulating
    int64_t u = step_.updates();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    StepInfo info{u, epoch, loss, step_.last_lr(), double(u - updates_at_start) / std::max(secs, 1e-9)};
    for (auto& h : step_hooks_) h(info);
    double eta = double(total_updates - u) / info.steps_per_second;
    if (mode == Progress::Bar) {
      int width = 30, filled = int(double(width) * double(u) / double(total_updates));
      out << "\r[" << std::string(size_t(filled), '=') << std::string(size_t(width - filled), ' ') << "] step " << u
          << "/" << total_updates << " loss " << loss << " " << info.steps_per_second << " steps/s ETA " << hms(eta)
          << "   " << std::flush;
    } else if (mode == Progress::Lines && (u % std::max<int64_t>(1, o.log_every) == 0 || u == total_updates)) {
      out << "step " << u << "/" << total_updates << " epoch " << epoch << " loss " << loss << " lr " << info.lr << " "
          << info.steps_per_second << " steps/s ETA " << hms(eta) << std::endl;
    }
    bool go = true;
    if (o.eval_every > 0 && u % o.eval_every == 0) go = do_eval();
    if (mgr && o.checkpoint_every > 0 && u % o.checkpoint_every == 0) save();
    if (!go) {
      res.stopped_early = true;
      break;
    }
  }
  if (mode == Progress::Bar) out << "\n";
  if (!res.stopped_early && eval && (o.eval_every == 0 || step_.updates() % o.eval_every != 0)) do_eval();
  if (mgr && (o.checkpoint_every == 0 || step_.updates() % o.checkpoint_every != 0)) save();
  res.steps = step_.updates();
  return res;
}

}  // namespace graft::train
