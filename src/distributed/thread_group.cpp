// thread_group(): members that are threads of one process. Each collective posts the members' operands,
// waits for all of them, lets every member compute the same result in rank order (so all members see
// bit-identical sums, as they must for their copies of the model to stay equal), and waits again before
// anyone may overwrite or free its operands.
#include <condition_variable>
#include <cstring>
#include <mutex>
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

  void all_reduce_sum(std::span<Tensor> tensors) override {
    s_->tensors[size_t(rank_)] = tensors;
    s_->barrier();
    std::vector<Tensor> sums;
    for (size_t t = 0; t < tensors.size(); ++t) {
      for (int m = 0; m < s_->n; ++m) {
        const Tensor& other = s_->tensors[size_t(m)][t];
        // Every member checks every member's operands, so a mismatch fails all of them (none is left waiting).
        GRAFT_CHECK(other.dtype() == DType::F32 || other.dtype() == DType::F64, "all_reduce_sum: member ", m,
                    "'s tensor ", t, " is ", dtype_name(other.dtype()), " (f32 or f64 only)");
        GRAFT_CHECK(s_->tensors[size_t(m)].size() == tensors.size() && other.dtype() == tensors[t].dtype() &&
                        other.shape() == tensors[t].shape(),
                    "all_reduce_sum: member ", m, "'s tensor ", t, " differs from member ", rank_, "'s");
      }
      Tensor sum = Tensor::uninitialized(tensors[t].dtype(), tensors[t].shape());
      if (sum.dtype() == DType::F32) sum_in_rank_order<float>(s_->tensors, t, sum);
      else sum_in_rank_order<double>(s_->tensors, t, sum);
      sums.push_back(sum);
    }
    s_->barrier();  // everyone has read everyone's operands
    for (size_t t = 0; t < tensors.size(); ++t)
      std::memcpy(tensors[t].raw(), static_cast<const Tensor&>(sums[t]).raw(), sums[t].nbytes());
    s_->barrier();
  }

  void all_reduce_sum(std::span<double> values) override {
    s_->values[size_t(rank_)] = values;
    s_->barrier();
    std::vector<double> sums(values.size(), 0.0);
    for (int m = 0; m < s_->n; ++m) {
      GRAFT_CHECK(s_->values[size_t(m)].size() == values.size(), "all_reduce_sum: members pass ",
                  s_->values[size_t(m)].size(), " and ", values.size(), " values");
      for (size_t i = 0; i < values.size(); ++i) sums[i] += s_->values[size_t(m)][i];
    }
    s_->barrier();
    std::copy(sums.begin(), sums.end(), values.begin());
    s_->barrier();
  }

  void broadcast(std::span<Tensor> tensors, int root) override {
    GRAFT_CHECK(root >= 0 && root < s_->n, "broadcast: root ", root, " is not a member of a group of ", s_->n);
    s_->tensors[size_t(rank_)] = tensors;
    s_->barrier();
    if (rank_ != root) {
      std::span<Tensor> from = s_->tensors[size_t(root)];
      GRAFT_CHECK(from.size() == tensors.size(), "broadcast: root passes ", from.size(), " tensors, member ", rank_,
                  " ", tensors.size());
      for (size_t t = 0; t < tensors.size(); ++t) {
        GRAFT_CHECK(from[t].dtype() == tensors[t].dtype() && from[t].shape() == tensors[t].shape(), "broadcast: tensor ",
                    t, " is ", dtype_name(from[t].dtype()), from[t].shape(), " at the root, ",
                    dtype_name(tensors[t].dtype()), tensors[t].shape(), " at member ", rank_);
        std::memcpy(tensors[t].raw(), static_cast<const Tensor&>(from[t]).raw(), from[t].nbytes());
      }
    }
    s_->barrier();
  }

 private:
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
