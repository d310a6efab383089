#pragma once
// Where threads that graft starts itself may run.

namespace graft {

// Lets the calling thread run on every CPU OpenMP may use. With OMP_PROC_BIND on (the graft command line
// sets it where its team has a thread for every CPU, tools/graft/openmp_policy.cpp), libgomp binds the
// initial thread to one CPU before main(), and threads started from it inherit that one CPU; graft's own
// pools (the tokenizer's batch encoding) call this first so that their threads spread over the machine.
// Does nothing when OpenMP binds nothing; best effort otherwise (a refusal leaves the thread where it was).
void run_on_all_openmp_cpus();

}  // namespace graft
