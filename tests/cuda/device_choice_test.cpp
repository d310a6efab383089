// Choosing a backend by device spec, and what asking for CUDA says on a machine that cannot run it (the
// CI machines have the CUDA toolkit but no driver and no GPU): a graft::Error naming the missing piece,
// never a crash. On a machine with a GPU the same tests check that it is found instead.
#include <gtest/gtest.h>

#include <cstdlib>

#include "graft/backend/cuda.h"
#include "graft/graph/ops.h"

using namespace graft;

TEST(DeviceChoice, CpuSpecsAndTheEnvironment) {
  EXPECT_EQ(backend_for_device("cpu")->name(), "cpu");
  ::unsetenv("GRAFT_DEVICE");
  EXPECT_EQ(backend_for_device("")->name(), "cpu");
  ::setenv("GRAFT_DEVICE", "cpu", 1);
  EXPECT_EQ(backend_for_device()->name(), "cpu");
  ::setenv("GRAFT_DEVICE", "tpu", 1);
  try {
    backend_for_device();
    FAIL() << "GRAFT_DEVICE=tpu accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GRAFT_DEVICE 'tpu' is not a device"), std::string::npos) << e.what();
  }
  ::unsetenv("GRAFT_DEVICE");
  for (const char* bad : {"cuda:", "cuda:x", "cuda:-1", "gpu0", "CPU"}) {
    try {
      backend_for_device(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(DeviceChoice, CudaIsAClearErrorWithoutAGpu) {
  std::string why;
  if (cuda_available(&why)) {
    EXPECT_TRUE(built_with_cuda());
    EXPECT_EQ(backend_for_device("cuda")->name(), "cuda:0");
    EXPECT_EQ(backend_for_device("cuda:0"), cuda_backend(0));
    GTEST_SKIP() << "a GPU is available here; the no-GPU errors cannot be observed";
  }
  EXPECT_FALSE(why.empty());
  // Either the driver library, or the GPU itself, or CUDA support in this build is named.
  const bool names_it = why.find("libcuda.so.1") != std::string::npos || why.find("no GPU") != std::string::npos ||
                        why.find("built without CUDA") != std::string::npos;
  EXPECT_TRUE(names_it) << why;
  for (const char* spec : {"cuda", "cuda:0", "cuda:3"}) {
    try {
      backend_for_device(spec);
      ADD_FAILURE() << spec << " gave a backend";
    } catch (const Error& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
  // Asking twice gives the same answer (no half-initialized state left behind).
  std::string again;
  EXPECT_FALSE(cuda_available(&again));
  EXPECT_EQ(again, why);
  std::printf("[no GPU] %s\n", why.c_str());
}

TEST(DeviceChoice, TensorsCannotMoveToAnUnregisteredDevice) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is available here";
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3});
  EXPECT_THROW(t.to_device("cuda"), Error);
  EXPECT_TRUE(t.is_on_host());
}
