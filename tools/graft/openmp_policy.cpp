// The command line's OpenMP policy: how long idle threads spin, and whether they are bound to CPUs. GNU
// OpenMP (shared by oneDNN and graft's kernels) and every oneDNN primitive split work statically over the
// team, so each parallel region waits for its slowest thread; what the policy decides is what a thread does
// while it waits, and whether the scheduler may stack two of the team on one CPU.
//
// Measured on the 2-core development machine (docs/performance.md, "Under load"):
// - OpenMP's default, 300,000 polls (a few ms) of spinning, collapsed under other builds: MiniLM b1 76-515 ms
//   against 25-27 ms with 1,000 polls (session 17). Unbound, long spins still collapse now and then: two of
//   the team land on one CPU and the spinner burns the slice its partner needs (MiniLM b1 with four busy
//   loops: medians of 310 ms at 100,000 polls against 40 ms at 1,000; session 23).
// - Sleeping after 1,000 polls costs a wake-up per region, and on a loaded machine a woken thread waits for
//   the scheduler: MobileNetV2 b1, 90 regions of ~40 us, went from 3.7 ms quiet to 20.5 ms with four busy
//   loops on the 2 cores (5.5x; ONNX Runtime 3.8x in the same run).
// - Binding the team one thread per CPU (OMP_PROC_BIND=true) and spinning 20,000 polls: 11.9 ms loaded
//   (3.3x), MiniLM b1 34.6 vs 58.6 ms, ResNet-18 b1 unchanged, with no collapses in 30 runs; under four
//   loops of compilers instead of busy loops MobileNetV2 12.7 vs 21.9 ms, MiniLM 41 vs 51, ResNet-18 36 vs
//   38; alone on the machine the same or slightly faster (MobileNetV2 3.57 vs 3.74 ms, ResNet-50 b2 45 vs
//   50). Bound, the spin length matters little from 3,000 to 20,000 polls; at 1,000 bound threads sleep and
//   wake so often that MobileNetV2 took 6.6 ms alone.
// So: where the team has one thread for every CPU the process may use, bind it and spin 20,000 polls;
// otherwise (fewer threads than CPUs: then binding would keep the scheduler from moving a thread to an idle
// CPU, and two graft processes would stack on the same CPUs) spin 1,000 polls and leave threads free.
// `finetune` is never bound: training under MPI or with in-process replicas starts threads of its own,
// which would inherit the main thread's CPU.
//
// libgomp reads its environment once, while it is being loaded, before main() and before anything a program
// can run (even .preinit_array functions run before the C library has set up the environment), so the policy
// takes effect by restarting the program once with it in the environment (~0.1 s). A user who sets
// OMP_WAIT_POLICY or GOMP_SPINCOUNT keeps their waiting, one who sets OMP_PROC_BIND, OMP_PLACES or
// GOMP_CPU_AFFINITY their binding; programs that link graft as a library choose their own
// (docs/performance.md says how). Threads graft starts itself run on all of OpenMP's CPUs again
// (core/thread_affinity.h): bound, libgomp pins the main thread, and new threads inherit its one CPU.
#include <sched.h>
#include <strings.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "commands.h"

namespace graft::cli {

namespace {

// The thread count the command will compute with: --threads N when N > 0, else OpenMP's default
// (OMP_NUM_THREADS's first level, else one per CPU the process may use).
int team_size(int argc, char** argv, int cpus) {
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[i + 1]);
    else if (a.substr(0, 10) == "--threads=")
      threads = std::atoi(argv[i] + 10);
  }
  if (threads > 0) return threads;
  if (const char* n = std::getenv("OMP_NUM_THREADS"); n && std::atoi(n) > 0) return std::atoi(n);
  return cpus;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set);
}

// Whether libgomp will bind the team with this environment: OMP_PROC_BIND other than false, or places given
// without it (libgomp then binds as if OMP_PROC_BIND were true).
bool openmp_binds() {
  if (const char* proc_bind = std::getenv("OMP_PROC_BIND")) return ::strncasecmp(proc_bind, "false", 5) != 0;
  return std::getenv("OMP_PLACES") || std::getenv("GOMP_CPU_AFFINITY");
}

}  // namespace

void restart_with_openmp_policy(int argc, char** argv) {
  // Only the subcommands that run models pay for the restart; --help, info, ops, tokenize do not.
  static const std::set<std::string_view> computing = {"run", "bench", "embed", "finetune", "classify"};
  if (argc < 2 || !computing.count(argv[1])) return;
  const bool user_waits = std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT");
  const bool user_binds = std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES") || std::getenv("GOMP_CPU_AFFINITY");
  bool changed = false;
  const int cpus = usable_cpus();
  if (!user_binds && std::string_view(argv[1]) != "finetune" && cpus > 1 && team_size(argc, argv, cpus) == cpus) {
    if (::setenv("OMP_PROC_BIND", "true", 0) != 0) return;
    changed = true;
  }
  if (!user_waits) {
    if (::setenv("GOMP_SPINCOUNT", openmp_binds() ? "20000" : "1000", 0) != 0) return;
    changed = true;
  }
  if (!changed) return;
  ::execv("/proc/self/exe", argv);
  // execv returned: no /proc, say. Go on with OpenMP's defaults.
}

}  // namespace graft::cli
