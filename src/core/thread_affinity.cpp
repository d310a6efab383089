#include "core/thread_affinity.h"

#include <omp.h>
#include <sched.h>

#include <vector>

namespace graft {

void run_on_all_openmp_cpus() {
  if (omp_get_proc_bind() == omp_proc_bind_false) return;
  // The places together are the CPUs libgomp found the process allowed to use when it started.
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> ids;
  for (int p = 0; p < omp_get_num_places(); ++p) {
    ids.assign(size_t(omp_get_place_num_procs(p)), -1);
    omp_get_place_proc_ids(p, ids.data());
    for (int id : ids)
      if (id >= 0 && id < CPU_SETSIZE) CPU_SET(id, &set);
  }
  if (CPU_COUNT(&set) > 0) ::sched_setaffinity(0, sizeof set, &set);
}

}  // namespace graft
