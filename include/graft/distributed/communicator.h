#pragma once
// Data-parallel training: a group of processes (or threads) that each hold a copy of the model, run their
// share of every global batch, and sum their gradients before one identical update. A TrainStep given a
// Communicator (TrainStepOptions::communicator) does the summing; Trainer::fit gives each member its shard
// of every batch.
//
//   // mpirun -np 2 ./my_trainer
//   auto world = graft::distributed::mpi_world();     // rank 0 and 1 of the MPI job
//   graft::train::Trainer t(ctx, loss, AdamW(), schedule, {.communicator = world});
//
// Collective calls must be made by every member, in the same order, with tensors of the same dtypes and
// shapes; a member that stops calling leaves the others waiting (as with MPI itself).
#include <memory>
#include <span>

#include "graft/core/tensor.h"

namespace graft::distributed {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  // 0 .. size()-1
  virtual int size() const = 0;
  // Replaces each tensor (f32 or f64, host) by its element-wise sum over the group.
  virtual void all_reduce_sum(std::span<Tensor> tensors) = 0;
  // The same for plain numbers.
  virtual void all_reduce_sum(std::span<double> values) = 0;
  // Every member's tensors take the values of member `root`'s (any dtype; same shapes everywhere).
  virtual void broadcast(std::span<Tensor> tensors, int root) = 0;
};

// The processes of the MPI job this one belongs to (MPI_COMM_WORLD). MPI is initialized on the first call
// and finalized at exit. An error when graft was built without MPI (Debian: libopenmpi-dev).
std::shared_ptr<Communicator> mpi_world();
// Whether this process was started by mpirun/mpiexec with more than one process (Open MPI, MPICH and
// PMI-based launchers set the environment variables this reads); cheap, initializes nothing.
bool launched_by_mpi();
// The threads each process started on this machine by the same launcher should use so that together they
// fill its cores once: hardware threads / local processes (from the launcher's environment), at least 1.
int default_threads_per_member();
// Whether this build of graft can use MPI.
bool mpi_available();

// `n` members that are threads of this process, sharing memory: member i is result[i], to be used from its
// own thread. For tests and for data parallelism across devices of one machine.
std::vector<std::shared_ptr<Communicator>> thread_group(int n);

}  // namespace graft::distributed
