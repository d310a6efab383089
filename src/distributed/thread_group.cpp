// thread_group(): members that are threads of one process. Each collective posts the members' operands,
// waits for all of them, lets every member compute the same result in rank order (so all members see
// bit-identical sums, as they must for their copies of the model to stay equal), and waits again before
// anyone may overwrite or free its operands.
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "graft/distributed/communicator.h"

namespace graft::distributed {

namespace {

struct Shared {
  explicit Shared(int n) : n(n), tensors(size_t(n)), values(size_t(n)) {}
  const int n;
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  std::vector<std::span<Tensor>> tensors;  // per member: its operands of the current collective
  std::vector<std::span<double>> values;

  void barrier() {
    std::unique_lock<std::mutex> lock(mu);
    uint64_t g = generation;
    if (++arrived == n) {
      arrived = 0;
      ++generation;
      cv.notify_all();
    } else {
      cv.wait(lock, [&] { return generation != g; });
    }
  }
};

template <typename T>
void sum_in_rank_order(const std::vector<std::span<Tensor>>& all, size_t t, Tensor& out) {
  T* o = out.data<T>();
  const int64_t n = out.size();
  for (size_t m = 0; m < all.size(); ++m) {
    const T* x = static_cast<const Tensor&>(all[m][t]).data<T>();
    if (m == 0) std::memcpy(o, x, size_t(n) * sizeof(T));
    else
      for (int64_t i = 0; i < n; ++i) o[i] += x[i];
  }
}

class ThreadMember final : public Communicator {
 public:
  ThreadMember(std::shared_ptr<Shared> s, int rank) : s_(std::move(s)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return s_->n; }

  // Every collective: post the operands, barrier, check every member's operands (each member checks all of
  // them the same way, so a mismatch is seen by every member), compute, barrier — only then may a member
  // that found a mismatch throw, since the others may still be reading its operands, and since all of them
  // throw there, none is left waiting at the last barrier —, write the results, barrier.
  void all_reduce_sum(std::span<Tensor> tensors) override {
    s_->tensors[size_t(rank_)] = tensors;
    s_->barrier();
    std::string error = check_tensors(rank_, "all_reduce_sum", [](const Tensor& t) {
      return t.dtype() == DType::F32 || t.dtype() == DType::F64;
    });
    std::vector<Tensor> sums;
    for (size_t t = 0; error.empty() && t < tensors.size(); ++t) {
      Tensor sum = Tensor::uninitialized(tensors[t].dtype(), tensors[t].shape());
      if (sum.dtype() == DType::F32) sum_in_rank_order<float>(s_->tensors, t, sum);
      else sum_in_rank_order<double>(s_->tensors, t, sum);
      sums.push_back(sum);
    }
    s_->barrier();  // everyone has read everyone's operands
    if (!error.empty()) fail(error);
    for (size_t t = 0; t < tensors.size(); ++t)
      std::memcpy(tensors[t].raw(), static_cast<const Tensor&>(sums[t]).raw(), sums[t].nbytes());
    s_->barrier();
  }

  void all_reduce_sum(std::span<double> values) override {
    s_->values[size_t(rank_)] = values;
    s_->barrier();
    std::string error;
    for (int m = 0; m < s_->n && error.empty(); ++m)
      if (s_->values[size_t(m)].size() != values.size())
        error = "all_reduce_sum: members pass " + std::to_string(s_->values[size_t(m)].size()) + " and " +
                std::to_string(values.size()) + " values";
    std::vector<double> sums(values.size(), 0.0);
    for (int m = 0; m < s_->n && error.empty(); ++m)
      for (size_t i = 0; i < values.size(); ++i) sums[i] += s_->values[size_t(m)][i];
    s_->barrier();
    if (!error.empty()) fail(error);
    std::copy(sums.begin(), sums.end(), values.begin());
    s_->barrier();
  }

  void broadcast(std::span<Tensor> tensors, int root) override {
    GRAFT_CHECK(root >= 0 && root < s_->n, "broadcast: root ", root, " is not a member of a group of ", s_->n);
    s_->tensors[size_t(rank_)] = tensors;
    s_->barrier();
    // Checked against the root's operands by every member, the root too, so all fail together.
    std::string error = check_tensors(root, "broadcast", [](const Tensor&) { return true; });
    s_->barrier();  // (the checks read every member's operands)
    if (!error.empty()) fail(error);
    if (rank_ != root) {
      std::span<Tensor> from = s_->tensors[size_t(root)];
      for (size_t t = 0; t < tensors.size(); ++t)
        std::memcpy(tensors[t].raw(), static_cast<const Tensor&>(from[t]).raw(), from[t].nbytes());
    }
    s_->barrier();
  }

 private:
  // Every member's posted operands against member `ref`'s: the same count, and per tensor the same dtype and
  // shape, of a dtype `allowed` accepts. "" when they all match, else what differs (the same verdict on every
  // member, which all read the same posted operands).
  template <typename Allowed>
  std::string check_tensors(int ref, const char* what, Allowed allowed) const {
    const std::span<Tensor> mine = s_->tensors[size_t(ref)];
    for (int m = 0; m < s_->n; ++m) {
      const std::span<Tensor> theirs = s_->tensors[size_t(m)];
      if (theirs.size() != mine.size())
        return std::string(what) + ": member " + std::to_string(m) + " passes " + std::to_string(theirs.size()) +
               " tensors, member " + std::to_string(ref) + " " + std::to_string(mine.size());
      for (size_t t = 0; t < mine.size(); ++t) {
        const Tensor& a = theirs[t];
        const Tensor& b = mine[t];
        if (!allowed(a))
          return std::string(what) + ": member " + std::to_string(m) + "'s tensor " + std::to_string(t) + " is " +
                 std::string(dtype_name(a.dtype())) + " (f32 or f64 only)";
        if (a.dtype() != b.dtype() || a.shape() != b.shape())
          return std::string(what) + ": member " + std::to_string(m) + "'s tensor " + std::to_string(t) + " (" +
                 std::string(dtype_name(a.dtype())) + a.shape().str() + ") differs from member " +
                 std::to_string(ref) + "'s (" + std::string(dtype_name(b.dtype())) + b.shape().str() + ")";
      }
    }
    return "";
  }

  std::shared_ptr<Shared> s_;
  int rank_;
};

}  // namespace

std::vector<std::shared_ptr<Communicator>> thread_group(int n) {
  GRAFT_CHECK(n >= 1, "thread_group: needs at least one member, got ", n);
  auto shared = std::make_shared<Shared>(n);
  std::vector<std::shared_ptr<Communicator>> members;
  for (int i = 0; i < n; ++i) members.push_back(std::make_shared<ThreadMember>(shared, i));
  return members;
}

}  // namespace graft::distributed
