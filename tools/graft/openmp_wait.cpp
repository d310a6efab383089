// The command line's OpenMP waiting policy. GNU OpenMP (shared by oneDNN and graft's kernels) keeps idle
// threads spinning for the next parallel region, 300,000 polls by default (a few milliseconds). Alone on
// the machine that saves a wake-up per region; with other processes competing for the cores the spinners
// take CPU time from the threads that have work and every region waits for its slowest thread. Measured
// on the 2-core development machine while other builds ran, same minutes (docs/performance.md):
//   MiniLM b1 x s128:  default 76-515 ms, 1,000 polls 25-27 ms, passive 20-40 ms
//   ResNet-18 b1:      default 127-661 ms, 1,000 polls 24-29 ms
// and alone (real-time priority): MiniLM b1 11.4 ms default, 12.1-12.8 ms at 1,000 polls, 16-18 ms
// passive; MiniLM b32 and ResNet-18 unchanged. So the CLI waits 1,000 polls, then sleeps.
//
// libgomp reads GOMP_SPINCOUNT once, while it is being loaded, before main() and before anything a
// program can run (even .preinit_array functions run before the C library has set up the environment),
// so the setting takes effect by restarting the program once with it in the environment. A user who
// sets OMP_WAIT_POLICY or GOMP_SPINCOUNT keeps their choice; programs that link graft as a library choose
// their own (docs/performance.md says how).
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string_view>

#include "commands.h"

namespace graft::cli {

void restart_with_bounded_openmp_spinning(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  // Only the subcommands that run models pay for the restart (~0.1 s); --help, info, ops, tokenize do not.
  static const std::set<std::string_view> computing = {"run", "bench", "embed", "finetune", "classify"};
  if (argc < 2 || !computing.count(argv[1])) return;
  if (::setenv("GOMP_SPINCOUNT", "1000", 0) != 0) return;
  ::execv("/proc/self/exe", argv);
  // execv returned: no /proc, say. Go on with OpenMP's default.
}

}  // namespace graft::cli
