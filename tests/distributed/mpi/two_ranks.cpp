// Run by CTest as `mpirun -np 2 test_mpi_two_ranks` (distributed.mpi_two_ranks): the ranks of an MPI job
// train the model of data_parallel_model.h on shards of each global batch, and every rank also trains it
// alone on the whole batches; the losses and weights must agree within 1e-5 relative, and the two ranks'
// weights must be identical. Exit status 0 on success; each rank prints what it found.
#include <cstdio>

#include "../data_parallel_model.h"

using namespace graft;

int main() {
  try {
    if (!distributed::launched_by_mpi()) {
      std::fprintf(stderr, "two_ranks: start me with mpirun -np 2\n");
      return 2;
    }
    auto world = distributed::mpi_world();
    if (world->size() != 2) {
      std::fprintf(stderr, "two_ranks: expected 2 ranks, got %d\n", world->size());
      return 2;
    }
    graft::dptest::DpRun single = graft::dptest::dp_train(nullptr, 40, 8, 6);
    graft::dptest::DpRun parallel = graft::dptest::dp_train(world, 40, 8, 6);
    double diff = graft::dptest::dp_max_rel_diff(parallel, single);
    // The other rank's weights, to check the two copies stayed identical.
    std::vector<Tensor> mine, theirs;
    for (const auto& w : parallel.weights) mine.push_back(Tensor::from_vector(w, Shape{int64_t(w.size())}));
    for (const auto& w : parallel.weights) theirs.push_back(Tensor::from_vector(w, Shape{int64_t(w.size())}));
    // Every rank receives rank 1's weights: rank 0 compares its own with them.
    world->broadcast(std::span<Tensor>(theirs), 1);
    bool identical = true;
    for (size_t i = 0; i < mine.size(); ++i) identical = identical && mine[i].to_vector<float>() == theirs[i].to_vector<float>();
    bool ok = diff <= 1e-5 && identical && parallel.losses.size() == 6 && single.losses.back() < single.losses.front();
    std::printf("rank %d: %zu updates, loss %.6f -> %.6f (one process: %.6f -> %.6f), max relative difference %.3g, "
                "ranks identical: %s: %s\n",
                world->rank(), parallel.losses.size(), parallel.losses.front(), parallel.losses.back(),
                single.losses.front(), single.losses.back(), diff, identical ? "yes" : "no", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "two_ranks: %s\n", e.what());
    return 1;
  }
}
