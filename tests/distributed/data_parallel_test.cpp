// Data parallelism with in-process groups (graft::distributed::thread_group): the collectives, and training
// by a group equal to one process training on the whole global batch. The MPI world is tested the same way
// by tests/distributed/mpi/two_ranks.cpp under mpirun (CTest: distributed.mpi_two_ranks).
#include <gtest/gtest.h>

#include <atomic>

#include <thread>

#include "data_parallel_model.h"

using namespace graft;
using graft::dptest::DpRun;

namespace {
// Runs f(member) on one thread per member of a new group of n; rethrows a member's error.
template <typename F>
void on_group(int n, F f) {
  auto group = distributed::thread_group(n);
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        f(group[size_t(i)]);
      } catch (...) {
        errors[size_t(i)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}
}  // namespace

TEST(ThreadGroup, AllReduceSumsAndBroadcastCopies) {
  on_group(3, [](std::shared_ptr<distributed::Communicator> c) {
    const int r = c->rank();
    std::vector<Tensor> t{Tensor::from_vector(std::vector<float>{float(r), 1.f, float(10 * r)}, Shape{3}),
                          Tensor::from_vector(std::vector<double>{0.5 * r}, Shape{1})};
    c->all_reduce_sum(std::span<Tensor>(t));
    EXPECT_EQ(t[0].to_vector<float>(), (std::vector<float>{3.f, 3.f, 30.f}));  // 0+1+2, 1+1+1, 0+10+20
    EXPECT_DOUBLE_EQ(t[1].data<double>()[0], 1.5);
    double v[2] = {double(r), 1.0};
    c->all_reduce_sum(std::span<double>(v, 2));
    EXPECT_EQ(v[0], 3.0);
    EXPECT_EQ(v[1], 3.0);
    std::vector<Tensor> b{Tensor::from_vector(std::vector<int64_t>{r, r + 100}, Shape{2})};
    c->broadcast(std::span<Tensor>(b), 2);
    EXPECT_EQ(b[0].to_vector<int64_t>(), (std::vector<int64_t>{2, 102}));
  });
}

TEST(ThreadGroup, MismatchedOperandsFailEveryMemberInsteadOfHanging) {
  int failures = 0;
  std::mutex mu;
  on_group(2, [&](std::shared_ptr<distributed::Communicator> c) {
    std::vector<Tensor> t{Tensor::zeros(DType::F32, {c->rank() + 1})};
    try {
      c->all_reduce_sum(std::span<Tensor>(t));
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("differs"), std::string::npos) << e.what();
      std::lock_guard<std::mutex> lock(mu);
      ++failures;
    }
  });
  EXPECT_EQ(failures, 2);
  EXPECT_THROW(distributed::thread_group(0), Error);
}

// Found by AddressSanitizer: a member that found a mismatch threw at once and freed its operands while the
// others were still reading them (and, in broadcast, left the root waiting at the last barrier). Now every
// member checks every member's operands, and all throw together after the barrier that ends the reading.
TEST(ThreadGroup, EveryKindOfMismatchFailsEveryMemberTogether) {
  for (int kind = 0; kind < 4; ++kind) {
    SCOPED_TRACE(kind);
    std::atomic<int> failures{0};
    on_group(3, [&](std::shared_ptr<distributed::Communicator> c) {
      const int r = c->rank();
      // 0: member 2 passes one tensor fewer; 1: an int64 tensor; 2: a broadcast whose root's shape differs;
      // 3: members pass different numbers of values.
      std::vector<Tensor> t{Tensor::zeros(DType::F32, {4}), Tensor::zeros(kind == 1 && r == 1 ? DType::I64 : DType::F32, {2})};
      if (kind == 0 && r == 2) t.pop_back();
      if (kind == 2 && r == 1) t[0] = Tensor::zeros(DType::F32, {5});
      std::vector<double> v(size_t(r == 0 && kind == 3 ? 1 : 2), 1.0);
      try {
        if (kind == 2) c->broadcast(std::span<Tensor>(t), 1);
        else if (kind == 3) c->all_reduce_sum(std::span<double>(v));
        else c->all_reduce_sum(std::span<Tensor>(t));
      } catch (const Error&) {
        ++failures;
      }
      // The group is usable afterwards: a matching collective by everyone.
      std::vector<Tensor> ok{Tensor::from_vector(std::vector<float>{float(r)}, Shape{1})};
      c->all_reduce_sum(std::span<Tensor>(ok));
      EXPECT_EQ(ok[0].to_vector<float>()[0], 3.f);
    });
    EXPECT_EQ(failures.load(), 3);
  }
}

// Two members on shards of 8-example batches = one process on the 8-example batches: the same losses
// (each the global batch's) and the same weights after 6 AdamW updates with clipping.
TEST(DataParallel, TwoMembersEqualOneProcessOnTheGlobalBatch) {
  DpRun single = dptest::dp_train(nullptr, 40, 8, 6);
  std::vector<DpRun> runs(2);
  on_group(2, [&](std::shared_ptr<distributed::Communicator> c) { runs[size_t(c->rank())] = dptest::dp_train(c, 40, 8, 6); });
  ASSERT_EQ(single.losses.size(), 6u);
  EXPECT_LT(single.losses.back(), single.losses.front());  // it trains
  for (const DpRun& r : runs) EXPECT_LE(dptest::dp_max_rel_diff(r, single), 1e-5);
  // Members end bit-identical: they applied the same update to the same values.
  EXPECT_EQ(runs[0].weights, runs[1].weights);
}

// With SGD (updates proportional to the gradient): batches of 7 split 3/4 (unequal shards are weighted by
// their example counts), and three members with gradient accumulation over 2 micro-batches of 9 (3/3/3).
TEST(DataParallel, UnequalShardsAndAccumulationMatchOneProcess) {
  DpRun single7 = dptest::dp_train(nullptr, 35, 7, 5, 1, false);
  EXPECT_LT(single7.losses.back(), single7.losses.front());
  std::vector<DpRun> runs(2);
  on_group(2, [&](std::shared_ptr<distributed::Communicator> c) {
    runs[size_t(c->rank())] = dptest::dp_train(c, 35, 7, 5, 1, false);
  });
  for (const DpRun& r : runs) EXPECT_LE(dptest::dp_max_rel_diff(r, single7), 1e-5);

  DpRun single9 = dptest::dp_train(nullptr, 54, 9, 3, 2, false);
  std::vector<DpRun> runs3(3);
  on_group(3, [&](std::shared_ptr<distributed::Communicator> c) {
    runs3[size_t(c->rank())] = dptest::dp_train(c, 54, 9, 3, 2, false);
  });
  ASSERT_EQ(single9.losses.size(), 6u);  // micro-batch losses
  for (const DpRun& r : runs3) EXPECT_LE(dptest::dp_max_rel_diff(r, single9), 1e-5);
}

TEST(DataParallel, ABatchSmallerThanTheGroupIsAnError) {
  on_group(2, [](std::shared_ptr<distributed::Communicator> c) {
    EXPECT_THROW(dptest::dp_train(c, 10, 1, 2), Error);
  });
}

TEST(DataParallel, MpiWorldWithoutMpiSaysSo) {
  if (distributed::mpi_available()) GTEST_SKIP() << "built with MPI: tested by distributed.mpi_two_ranks";
  EXPECT_THROW(distributed::mpi_world(), Error);
}
