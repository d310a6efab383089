// mpi_world(): MPI_COMM_WORLD as a Communicator. Built against MPI when CMake finds it (GRAFT_HAS_MPI);
// otherwise mpi_world() says how to get it. MPI is initialized lazily — only a process that asks for the
// world pays MPI_Init's start-up (~0.5 s for Open MPI) — and finalized at exit.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

#include "graft/distributed/communicator.h"

#if GRAFT_HAS_MPI
#include <mpi.h>
#endif

namespace graft::distributed {

bool launched_by_mpi() {
  // Open MPI, MPICH/Hydra and Slurm's PMI set one of these in every process they start.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(var);
    if (v && std::atoi(v) > 1) return true;
  }
  return false;
}

int default_threads_per_member() {
  int local = 1;
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* v = std::getenv(var); v && std::atoi(v) > 0) {
      local = std::atoi(v);
      break;
    }
  int cores = int(std::thread::hardware_concurrency());
  return std::max(1, (cores > 0 ? cores : 1) / local);
}

bool mpi_available() { return GRAFT_HAS_MPI != 0; }

#if GRAFT_HAS_MPI

namespace {

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string(call) + " failed: " + std::string(msg, size_t(len)));
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    default: return MPI_DATATYPE_NULL;
  }
}

// MPI counts are ints: large tensors go in chunks.
template <typename F>
void in_chunks(void* data, int64_t count, size_t elem, F&& f) {
  constexpr int64_t kChunk = std::numeric_limits<int>::max() / 2;
  for (int64_t off = 0; off < count; off += kChunk)
    f(static_cast<char*>(data) + size_t(off) * elem, int(std::min(kChunk, count - off)));
}

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
      int provided = 0;
      // Collectives are called from one thread at a time (the training loop's).
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(std::span<Tensor> tensors) override {
    for (Tensor& t : tensors) {
      MPI_Datatype type = mpi_type(t.dtype());
      GRAFT_CHECK(type != MPI_DATATYPE_NULL, "all_reduce_sum: ", dtype_name(t.dtype()),
                  " tensors are not supported (f32 or f64)");
      in_chunks(t.raw(), t.size(), dtype_size(t.dtype()), [&](void* p, int n) {
        check(MPI_Allreduce(MPI_IN_PLACE, p, n, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
      });
    }
  }
  void all_reduce_sum(std::span<double> values) override {
    if (values.empty()) return;
    check(MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  void broadcast(std::span<Tensor> tensors, int root) override {
    GRAFT_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of a world of ", size_);
    for (Tensor& t : tensors)
      in_chunks(t.raw(), int64_t(t.nbytes()), 1, [&](void* p, int n) {
        check(MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      });
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::shared_ptr<Communicator> mpi_world() {
  static std::mutex mu;
  static std::shared_ptr<Communicator> world;
  std::lock_guard<std::mutex> lock(mu);
  if (!world) world = std::make_shared<MpiWorld>();
  return world;
}

#else

std::shared_ptr<Communicator> mpi_world() {
  throw Error(
      "mpi_world: this graft was built without MPI (install Open MPI's development files — Debian: "
      "libopenmpi-dev — and configure again)");
}

#endif

}  // namespace graft::distributed
