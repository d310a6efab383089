// run_on_all_openmp_cpus (core/thread_affinity.h): with OMP_PROC_BIND on, libgomp binds the initial thread to
// one CPU before main() and threads started from it inherit that CPU; the function gives a thread back every
// CPU the process was allowed when it started. Checked in a child process started with OMP_PROC_BIND=true
// (the OpenMP runtimes read it only while starting), against the parent's own CPU mask.
#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "core/thread_affinity.h"

namespace graft {
namespace {

int cpus_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

// Binds the calling thread to the first CPU it may use, as libgomp binds the initial thread.
bool bind_to_first_cpu() {
  cpu_set_t one;
  CPU_ZERO(&one);
  if (::sched_getaffinity(0, sizeof one, &one) != 0) return false;
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &one)) ++first;
  if (first == CPU_SETSIZE) return false;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  return ::sched_setaffinity(0, sizeof one, &one) == 0;
}

constexpr const char* kChildVar = "GRAFT_AFFINITY_TEST_CPUS";

TEST(ThreadAffinity, ThreadsStartedUnderBoundOpenMpGetEveryCpuBack) {
  const int cpus = cpus_of_this_thread();
  if (cpus < 2) GTEST_SKIP() << "needs at least 2 CPUs to tell one CPU from all (this process may use " << cpus << ")";
  const std::string cmd = "env OMP_PROC_BIND=true " + std::string(kChildVar) + "=" + std::to_string(cpus) +
                          " /proc/" + std::to_string(::getpid()) +
                          "/exe --gtest_filter=ThreadAffinity.ChildUnderBoundOpenMp --gtest_brief=1";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(status, 0) << "the child (" << cmd << ") failed; its output is above";
}

// Runs only as the child of the test above.
TEST(ThreadAffinity, ChildUnderBoundOpenMp) {
  const char* expected = std::getenv(kChildVar);
  if (!expected) GTEST_SKIP() << "runs as a child of ThreadAffinity.ThreadsStartedUnderBoundOpenMpGetEveryCpuBack";
  // GNU's libgomp binds the initial thread to one CPU while it loads; LLVM's libomp (the sanitizer builds)
  // only once its runtime starts. Start it (the places are read from the CPUs allowed now), then bind this
  // thread the way libgomp does if the runtime has not.
  ASSERT_GT(omp_get_num_places(), 0) << "OMP_PROC_BIND=true gave OpenMP no places";
  if (cpus_of_this_thread() > 1) ASSERT_TRUE(bind_to_first_cpu());
  ASSERT_EQ(cpus_of_this_thread(), 1);
  int inherited = 0, widened = 0;
  std::thread t([&] {
    inherited = cpus_of_this_thread();
    run_on_all_openmp_cpus();
    widened = cpus_of_this_thread();
  });
  t.join();
  EXPECT_EQ(inherited, 1);
  EXPECT_EQ(widened, std::atoi(expected));
  // The calling thread's own binding is not touched.
  EXPECT_EQ(cpus_of_this_thread(), 1);
}

// Unbound, the function leaves a thread's CPUs alone: here, one CPU chosen by the test.
TEST(ThreadAffinity, LeavesThreadsAloneWhenOpenMpBindsNothing) {
  if (std::getenv("OMP_PROC_BIND") || std::getenv(kChildVar)) GTEST_SKIP() << "OMP_PROC_BIND is set for this process";
  int before = 0, after = 0;
  std::thread t([&] {
    ASSERT_TRUE(bind_to_first_cpu());
    before = cpus_of_this_thread();
    run_on_all_openmp_cpus();
    after = cpus_of_this_thread();
  });
  t.join();
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 1);
}

}  // namespace
}  // namespace graft
